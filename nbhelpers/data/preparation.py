"""``prepare``: the steps notebook 03 teaches, from a data source to checked train / validation / test lists.

1. **where the files are** -- a registered data set is fetched (downloaded
   once), a folder of your own is read as :func:`~nbhelpers.data.folder_layout`
   finds it;
2. **are they usable** -- every file is scanned (:func:`~nbhelpers.data.scan`);
   files TensorFlow cannot decode get an RGB PNG copy (:func:`readable_copies`);
   too few or empty classes are refused with what to do;
3. **which image goes where** -- one folder per class is split three ways
   (:func:`from_class_folders`), data that come split keep their splits
   (:func:`from_split_folders`); both stratified and seeded;
4. **your decisions** -- a review file (:mod:`nbhelpers.review`) is applied
   after the splits, and no image may be in two splits (:func:`~nbhelpers.data.check_splits`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config, current
from .errors import DataError, EmptyClassError, TooFewClassesError
from .files import readable_copy
from .layout import folder_layout
from .scan_cache import scan_cache_file
from .scanning import ValidationReport, mark_duplicates, min_useful_side, scan
from .sources import REGISTRY, fetch, resolve_source
from .splits import (
    SPLITS,
    Item,
    check_splits,
    fingerprint,
    labels_of,
    sample_sizes,
    sort_items,
    split_field,
    split_files,
    stratified_sample,
)

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

    from ..review import ReviewSummary

__all__ = ["Prepared", "prepare", "from_class_folders", "from_split_folders", "readable_copies"]


@dataclass
class Prepared:
    """Validated, split file lists: what ``make_datasets`` and ``load_split`` read.

    ``train``, ``val`` and ``test`` are lists of ``(path, label)``;
    ``class_names`` is sorted and ``label`` indexes it.  ``report`` is the
    :class:`~nbhelpers.data.ValidationReport` (``report.table`` is the table of
    skipped and converted files).  ``readable`` maps the files TensorFlow cannot
    decode (e.g. TIFF, 1-bit BMP, EXIF-rotated photos) to an RGB PNG copy in the
    cache.  :attr:`fingerprint` and :attr:`split_fingerprints` identify the data
    (for cache keys).  ``review`` is the :class:`nbhelpers.review.ReviewSummary`
    of the decisions (relabel, drop, keep) applied to the splits, or None when
    no review file was read.

    Example:
        >>> p = prepare(source="faces", verbose=False)
        >>> p.class_names, len(p.train) + len(p.val) + len(p.test)
        (['face', 'non_face'], 200)
    """

    train: list[Item]
    val: list[Item]
    test: list[Item]
    class_names: list[str]
    report: ValidationReport
    source: str = "folder"
    root: Path | None = None
    seed: int = 0
    readable: dict[Path, Path] = field(default_factory=dict)
    review: ReviewSummary | None = None

    @property
    def num_classes(self) -> int:
        """How many classes (2 means a binary problem)."""
        return len(self.class_names)

    @property
    def fingerprint(self) -> str:
        """:func:`~nbhelpers.data.fingerprint` of all three splits: changes whenever the data do."""
        return fingerprint(self)

    @property
    def split_fingerprints(self) -> dict[str, str]:
        """``{"train": ..., "val": ..., "test": ...}``: the fingerprint of each split."""
        return {s: fingerprint(self, s) for s in SPLITS}

    def split(self, name: str) -> list[Item]:
        """The list for ``"train"``, ``"val"`` or ``"test"``."""
        return getattr(self, split_field(name))

    def sizes(self) -> pd.DataFrame:
        """Images per split and class (rows: splits, columns: classes, plus a total)."""
        import pandas as pd

        data = {s: Counter(self.class_names[y] for _, y in self.split(s)) for s in SPLITS}
        frame = pd.DataFrame(data).T.reindex(columns=self.class_names).fillna(0).astype(int)
        frame["total"] = frame.sum(axis=1)
        return frame

    def __repr__(self) -> str:
        return (
            f"Prepared(source={self.source!r}, classes={self.class_names}, "
            f"train={len(self.train)}, val={len(self.val)}, test={len(self.test)})"
        )


def prepare(
    cfg: Config | None = None,
    source: str | Path | None = None,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    max_images_per_class: int | None | str = "profile",
    allow_empty_classes: bool = False,
    review: str | Path | None = "auto",
    verbose: bool = True,
) -> Prepared:
    """Fetch (if needed), validate and split a data set into train / validation / test.

    ``source`` is a registry name (``"cats_and_dogs"``, ``"faces"``) or the path
    of a folder of your own (``root/<class>/*.jpg``, a folder already split into
    ``train/``, ``validation/`` and perhaps ``test/``, or a ``.zip`` of either:
    ``folder_layout`` says which it found); ``None`` means
    ``$NBH_DATA_SOURCE`` when set (so every notebook uses your folder), else
    the profile's data set.  Splits are stratified and seeded by ``cfg.seed``:
    one folder per class is split three ways (``val_fraction``,
    ``test_fraction``); data that come split keep their splits -- with no test
    folder the validation half is split evenly into validation and test (as for
    ``cats_and_dogs``), with no validation folder ``val_fraction`` of the
    training images validates.
    ``max_images_per_class`` (default: the profile's) keeps a stratified,
    seeded subset of each class before splitting (``stratified_sample``: a
    larger cap keeps the images of a smaller one).  Duplicate files (same
    bytes) are kept once, so no image is in two splits; an image found in two
    classes (a label conflict) is not used at all.  Odd files are reported and
    skipped, or read through a PNG copy (see ``scan``); images smaller than
    ``min_useful_side`` of ``cfg.image_size`` get a warning.

    ``review`` applies the decisions you recorded about single images
    (relabel, drop, keep: :mod:`nbhelpers.review`) *after* the splits are made,
    so every image stays in the split it had without the review; your image
    files are never changed.  ``"auto"`` reads
    ``nbhelpers.review.review_path(cfg, source)`` when it exists, ``None``
    reads none, a path reads that file (not there yet: no decisions; it is
    where ``nbh.review.record(prepared, ...)`` then writes).  ``prepared.review``
    says what the review changed (and ``verbose`` prints its line); decisions
    about a file that changed since are ignored and counted as stale.

    Raises:
        MissingFolderError, TooFewClassesError, EmptyClassError,
        TooFewImagesError, DuplicateImageError, DownloadError, ChecksumError,
        nbhelpers.review.ReviewError (a damaged review file).

    Taught in ``03_preparing_the_data``.

    Example:
        >>> p = prepare(source="faces", verbose=False)
        >>> len(p.train), len(p.val), len(p.test)
        (140, 30, 30)
    """
    cfg = cfg or current()
    name, source = resolve_source(cfg, source)
    cap = cfg.max_images_per_class if max_images_per_class == "profile" else max_images_per_class
    # 1. where the files are
    root, halves = _locate(name, source, cfg, verbose)
    # 2. and 3. are they usable, and which image goes where: one function per folder shape
    if halves:
        prepared = from_split_folders(root, halves, cfg, source=name, cap=cap,
                                      val_fraction=val_fraction,
                                      allow_empty_classes=allow_empty_classes)
    else:
        prepared = from_class_folders(root, cfg, source=name, cap=cap,
                                      fractions=(val_fraction, test_fraction),
                                      allow_empty_classes=allow_empty_classes)
    # 4. your decisions, after the splits (each image keeps the split it had), then the check
    if review is not None:
        prepared = _apply_review(prepared, cfg, review)
    check_splits(prepared)
    _print_summary(prepared, verbose)
    return prepared


def _locate(name: str, source: str | Path, cfg: Config,
            verbose: bool) -> tuple[Path, dict[str, Path]]:
    """``(root, halves)``: ``halves`` maps each split to its folder for data that come split, else {}."""
    if isinstance(source, str) and source in REGISTRY:
        entry = REGISTRY[name]
        root = fetch(entry, cfg, verbose=verbose)
        if entry.layout == "train_validation":
            return root, {"train": root / "train", "validation": root / "validation"}
        return root, {}
    layout = folder_layout(source, cfg)
    if verbose:
        for note in layout.notes:
            print(f"note: {note}")
    return layout.root, layout.splits


def from_class_folders(root: Path, cfg: Config, *, source: str = "folder", cap: int | None = None,
                       fractions: tuple[float, float] = (0.15, 0.15),
                       allow_empty_classes: bool = False) -> Prepared:
    """Steps 2 and 3 of :func:`prepare` for one folder per class: scan, check, split three ways.

    What ``prepare`` does with ``root/<class>/...`` (``faces``, most folders of
    your own).  Step 2, are they usable: every file is scanned
    (:func:`~nbhelpers.data.scan`, its cache in ``cfg.cache_dir``), files
    TensorFlow cannot decode get copies (:func:`readable_copies`), too few or
    empty classes are refused (``allow_empty_classes=True`` leaves empty ones
    out).  Step 3, which image goes where: ``cap`` keeps at most that many
    images per class (a stratified sample seeded by ``cfg.seed``), and the
    rest is split, stratified and seeded, with ``fractions`` going to
    validation and test.  Returns a :class:`Prepared` (``train``, ``val``,
    ``test`` of ``(path, label)``, ``class_names``, ``report``, ``readable``)
    with no review applied: step 4 (the review, then the check that no image
    is in two splits) is ``prepare``'s.

    Example:
        >>> from nbhelpers.config import make_config
        >>> from nbhelpers.data import write_faces
        >>> p = from_class_folders(write_faces(), make_config("offline"), source="faces", cap=20)
        >>> p.class_names, len(p.train), len(p.val), len(p.test)   # 20 of each class's 100
        (['face', 'non_face'], 28, 6, 6)
    """
    report = scan(root, cache_file=scan_cache_file(cfg, root),
                  min_side=min_useful_side(cfg.image_size))
    readable = readable_copies(report, Path(cfg.cache_dir))
    classes = _check_classes(report, allow_empty_classes)
    seed = int(cfg.seed)
    pool = _usable_items(report, classes)
    if cap is not None:
        pool = _subsample(pool, _cap_fractions(pool, cap), seed, salt=0)
    train, val, test = split_files(pool, fractions, seed, class_names=classes)
    return Prepared(train=sort_items(train), val=sort_items(val), test=sort_items(test),
                    class_names=list(classes), report=report, source=source, root=root,
                    seed=seed, readable=readable)


def from_split_folders(root: Path, halves: dict[str, Path], cfg: Config, *,
                       source: str = "folder", cap: int | None = None,
                       val_fraction: float = 0.15,
                       allow_empty_classes: bool = False) -> Prepared:
    """Steps 2 and 3 of :func:`prepare` for data that come split: each split's folder kept.

    ``halves`` maps ``"train"`` and ``"validation"`` and/or ``"test"`` to their
    folders below ``root`` (what :func:`~nbhelpers.data.folder_layout` found, or
    a registered data set's ``train/`` and ``validation/``).  Step 2, are they
    usable: each folder is scanned; a file in two of them is kept in the first
    (training first); the classes are the training folder's, and a validation
    or test folder with a class the training folder lacks is refused.  Step 3,
    which image goes where: a cap keeps the same fraction of every split.  With
    no test folder the validation folder is cut in two, stratified (one half
    validates, one tests); with no validation folder ``val_fraction`` of the
    training images validates.  Returns a :class:`Prepared` whose
    ``report.files["file"]`` names start with the split's folder
    (``train/cat/a.jpg``), with no review applied (step 4 is ``prepare``'s).

    Example:
        >>> import shutil, tempfile
        >>> from nbhelpers.config import make_config
        >>> from nbhelpers.data import write_faces
        >>> faces, root = write_faces(), Path(tempfile.mkdtemp())
        >>> for role, numbers in (("train", range(10)), ("validation", range(10, 14))):
        ...     for c in ("face", "non_face"):
        ...         (root / role / c).mkdir(parents=True)
        ...         for i in numbers:
        ...             _ = shutil.copy(faces / c / f"{c}_{i:03d}.png", root / role / c)
        >>> halves = {"train": root / "train", "validation": root / "validation"}
        >>> p = from_split_folders(root, halves, make_config("offline"))
        >>> len(p.train), len(p.val), len(p.test)   # no test folder: validation cut in two
        (20, 4, 4)
        >>> p.report.files["file"][0]
        'train/face/face_000.png'
    """
    parts = _scan_halves(halves, cfg)
    readable = {k: v for rep in parts.values()
                for k, v in readable_copies(rep, Path(cfg.cache_dir)).items()}
    classes = _check_classes(parts["train"], allow_empty_classes)
    for role, rep in parts.items():
        if role != "train":
            _check_split_classes(rep, role, classes, halves)
    report = _merge_reports(root, {folder.relative_to(root).as_posix(): parts[role]
                                   for role, folder in halves.items()})
    seed = int(cfg.seed)
    pools = {role: _usable_items(rep, classes) for role, rep in parts.items()}
    if cap is not None:  # the same fraction of every split: their ratio is kept
        frac = _cap_fractions([it for pool in pools.values() for it in pool], cap)
        pools = {role: _subsample(pool, frac, seed, salt)
                 for salt, (role, pool) in enumerate(pools.items(), start=1)}
    if "validation" in pools and "test" in pools:
        train, val, test = pools["train"], pools["validation"], pools["test"]
    elif "validation" in pools:
        # The validation half is cut in two, stratified: one half validates, one tests.
        train = pools["train"]
        test, val, _ = split_files(pools["validation"], (0.5, 0.0), seed, class_names=classes)
    else:
        # A test folder but no validation folder: validation comes out of training.
        train, val, _ = split_files(pools["train"], (val_fraction, 0.0), seed,
                                    class_names=classes)
        test = pools["test"]
    return Prepared(train=sort_items(train), val=sort_items(val), test=sort_items(test),
                    class_names=list(classes), report=report, source=source, root=root,
                    seed=seed, readable=readable)


# --------------------------------------------------------------------------- the steps
def readable_copies(report: ValidationReport, cache: Path) -> dict[Path, Path]:
    """Step 2 of :func:`prepare`, its end: RGB PNG copies of files TensorFlow cannot read itself.

    For each usable file of ``report`` that TensorFlow cannot decode (or turn
    upright) itself (``report.files["tf_decodes"]`` False: TIFF, WebP, 16-bit,
    EXIF-rotated photos, ...), a copy in ``cache/converted/``
    (:func:`nbhelpers.data.files.readable_copy`).  Returns ``{original path:
    copy}``, what ``Prepared.readable`` holds and the pipelines read instead of
    the original.  A file that cannot be converted after all (deleted or
    changed since the scan, disk full) is marked skipped in ``report`` with
    the reason, instead of stopping ``prepare``.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> from nbhelpers.data import scan
        >>> root = Path(tempfile.mkdtemp()) / "photos"; (root / "cat").mkdir(parents=True)
        >>> Image.new("RGB", (40, 40), "orange").save(root / "cat" / "a.tiff")
        >>> Image.new("RGB", (40, 40), "grey").save(root / "cat" / "b.png")
        >>> copies = readable_copies(scan(root), root.parent / "cache")
        >>> [(original.name, copy.parent.name, copy.suffix) for original, copy in copies.items()]
        [('a.tiff', 'converted', '.png')]
    """
    table = report.files
    need = table[(table["status"] != "skipped") & ~table["tf_decodes"].astype(bool)]
    out: dict[Path, Path] = {}
    for index, path, sha1 in zip(need.index, need["path"], need["sha1"], strict=True):
        try:
            out[Path(path)] = readable_copy(Path(path), sha1, cache)
        except Exception as err:  # noqa: BLE001 - reported, never raised
            table.loc[index, ["status", "problem", "detail"]] = [
                "skipped", "conversion failed",
                f"{type(err).__name__}: {err} (changed or deleted since the scan? run again)"]
    return out


def _scan_halves(halves: dict[str, Path], cfg: Config) -> dict[str, ValidationReport]:
    """Scan each split's folder; a file in two of them is a duplicate in the later one."""
    parts = {role: scan(folder, cache_file=scan_cache_file(cfg, folder), duplicates=False,
                        min_side=min_useful_side(cfg.image_size))
             for role, folder in halves.items()}
    # Training copies come first, so a duplicate leaves the validation or test half.
    rows = {role: rep.files.to_dict("records") for role, rep in parts.items()}
    for role, part_rows in rows.items():
        for row in part_rows:
            row["file"] = f"{role}/{row['file']}"
    mark_duplicates([row for part_rows in rows.values() for row in part_rows])
    for role, rep in parts.items():
        for row in rows[role]:
            row["file"] = row["file"].split("/", 1)[1]
        rep.files = type(rep.files)(rows[role], columns=rep.files.columns)
    return parts


def _check_classes(report: ValidationReport, allow_empty_classes: bool) -> list[str]:
    """The classes to use; raise a clear error for too few or empty ones."""
    counts = report.class_counts
    empty = [c for c, n in counts.items() if n == 0]
    files = report.files
    unreadable = sorted({str(f).split("/")[0] for f in files.loc[files["problem"] == "unreadable",
                                                                   "file"]} & set(empty))
    if unreadable:  # its images may well be there: the folder cannot be listed or read
        raise EmptyClassError(
            f"Class folder(s) in {report.root} that cannot be read: "
            + ", ".join(repr(c) for c in unreadable)
            + " (permission denied, or a cloud folder not yet synced). Make them readable "
            f"(e.g. chmod -R u+rX {report.root}) or move them out, and run again.")
    if empty and not allow_empty_classes:
        raise EmptyClassError(
            f"Class folder(s) without a usable image in {report.root}: "
            + ", ".join(repr(c) for c in empty)
            + ". Add images there, delete the folder, or pass allow_empty_classes=True "
            "to leave it out. (See report.table for files that were skipped.)"
        )
    classes = [c for c, n in counts.items() if n > 0]
    if len(classes) < 2:
        raise TooFewClassesError(
            f"{report.root} has {len(classes)} class folder(s) with usable images "
            f"({', '.join(classes) or 'none'}); a classifier needs at least two. "
            f"Expected {report.root}/<class name>/<image files>, one folder per class."
        )
    return classes


def _check_split_classes(report: ValidationReport, role: str, classes: list[str],
                         halves: dict[str, Path]) -> None:
    """A validation or test folder must not hold classes the training folder lacks."""
    counts = report.class_counts
    unknown = [c for c, n in counts.items() if n > 0 and c not in classes]
    if unknown:
        raise DataError(
            f"{halves[role]} has class folder(s) that {halves['train']} lacks: "
            + ", ".join(repr(c) for c in unknown)
            + ". The model could never predict them. Add training images for them (a folder "
            "of the same name in the training folder), or leave those folders out. "
            f"Training classes: {', '.join(classes)}.")
    if not any(n > 0 for n in counts.values()):
        raise EmptyClassError(
            f"The {role} folder {halves[role]} has no usable image. Put images in "
            f"{halves[role]}/<class name>/, or remove the folder to have the {role} split "
            "taken from the training images.")


def _usable_items(report: ValidationReport, classes: list[str]) -> list[Item]:
    """``(path, label)`` of every usable file of ``classes`` (labels index ``classes``)."""
    label_of = {c: i for i, c in enumerate(classes)}
    use = report.usable[report.usable["class"].isin(classes)]
    return [(Path(p), label_of[c]) for p, c in zip(use["path"], use["class"], strict=True)]


def _cap_fractions(items: Iterable[Item], cap: int) -> dict[int, float]:
    """Per class, the fraction that leaves at most ``cap`` images."""
    total = Counter(y for _, y in items)
    return {label: min(1.0, cap / n) for label, n in total.items()}


def _subsample(items: list[Item], fractions: dict[int, float], seed: int, salt: int) -> list[Item]:
    """Keep ``fractions[label]`` of each class (at least 1): :func:`stratified_sample` of the items."""
    items = sort_items(items)
    labels = labels_of(items)
    keep = stratified_sample(labels, sample_sizes(labels, fractions), seed, salt)
    return [items[i] for i in keep]


def _merge_reports(root: Path, parts: dict[str, ValidationReport]) -> ValidationReport:
    """One report for the halves of a data set: file names relative to ``root``."""
    import pandas as pd

    frames = []
    for name, rep in parts.items():
        f = rep.files.copy()
        f["file"] = [f"{name}/{x}" for x in f["file"]]
        frames.append(f)
    classes = sorted(set().union(*(rep.classes for rep in parts.values())))
    return ValidationReport(
        root=root, files=pd.concat(frames, ignore_index=True), classes=classes,
        seconds=sum(rep.seconds for rep in parts.values()),
    )


def _apply_review(prepared: Prepared, cfg: Config, review: str | Path) -> Prepared:
    """The splits with the review's decisions applied (``"auto"``: the data's own review file)."""
    from .. import review as reviews

    auto = isinstance(review, str) and review == "auto"
    file = reviews.review_path(cfg, prepared) if auto else Path(review).expanduser()
    if not auto or file.exists():  # a path of your own: no decisions in it yet is fine
        prepared = reviews.apply(prepared, file)[0]
    return prepared


def _print_summary(prepared: Prepared, verbose: bool) -> None:
    """The report's summary, the review's line and the split sizes (quiet: only a review's changes)."""
    changed = prepared.review is not None and (prepared.review.changed
                                               or prepared.review.problems)
    if not verbose and changed:
        # Even a quiet prepare says that a review changed the data (or ignored decisions).
        print(prepared.review.report())
    if verbose:
        print(prepared.report.summary())
        if prepared.review is not None:
            print(prepared.review.report())
        sizes = prepared.sizes()["total"]
        print(f"splits: train {sizes['train']}, validation {sizes['val']}, "
              f"test {sizes['test']} (stratified, seed {prepared.seed})")
