"""Which image goes where: counting, stratified splits and samples, and a fingerprint per split.

* **counting** -- :func:`labels_of`, :func:`class_counts`, :func:`imbalance_ratio`:
  the one definition the scan's report, ``prepare`` and ``nbhelpers.balance`` use;
* **splits** -- :func:`split_files` cuts ``(path, label)`` items into train /
  validation / test, stratified and seeded; :func:`check_splits` refuses an image
  that is in two splits;
* **samples** -- :func:`stratified_sample`, the one stratified, seeded subsample
  (``prepare``'s ``max_images_per_class``, ``nbhelpers.balance``'s subsets);
* **identity** -- :func:`fingerprint` hashes what a split holds, so a cache made
  from one folder is never read for another, nor after an image changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DuplicateImageError, TooFewImagesError

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    from .preparation import Prepared

__all__ = [
    "Item",
    "SPLITS",
    "labels_of",
    "class_counts",
    "imbalance_ratio",
    "sort_items",
    "split_field",
    "split_files",
    "sample_sizes",
    "stratified_sample",
    "check_splits",
    "digest",
    "entry_name",
    "fingerprint",
]

#: One image of a split: its path and its label (an index into ``class_names``).
Item = tuple[Path, int]

#: The three splits, by the names of :class:`~nbhelpers.data.Prepared`'s fields.
SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------- counting
def labels_of(items: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Integer labels of ``items``: a label array, or a list of ``(path, label)`` pairs.

    ``nbh.data.prepare(cfg).train`` is such a list; this lets the counting
    functions here and in ``nbhelpers.balance`` take either form.  Used in
    ``06_fine_tuning`` (as ``nbh.balance.labels_of``).

    Example:
        >>> labels_of([("a.png", 1), ("b.png", 0)])
        array([1, 0])
        >>> labels_of(np.array([0, 0, 1]))
        array([0, 0, 1])
    """
    if isinstance(items, np.ndarray):
        return items.astype(int).reshape(-1)
    items = list(items)
    if items and isinstance(items[0], (tuple, list)):
        return np.asarray([int(it[1]) for it in items], dtype=int)
    return np.asarray(items, dtype=int).reshape(-1)


def class_counts(labels: Sequence[Any] | np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """How many examples of each class: ``counts[c]`` for ``c = 0 .. num_classes-1``.

    ``labels`` is a label array or a list of ``(path, label)`` pairs (a split).
    The one definition of class counts: :attr:`ValidationReport.class_counts
    <nbhelpers.data.ValidationReport.class_counts>` and ``nbhelpers.balance`` use it.

    Taught in ``10_imbalance_and_overfitting``.

    Example:
        >>> class_counts([0, 1, 1, 1])
        array([1, 3])
        >>> class_counts([1, 1], num_classes=3)
        array([0, 2, 0])
    """
    y = labels_of(labels)
    n = num_classes if num_classes is not None else (int(y.max()) + 1 if y.size else 0)
    return np.bincount(y, minlength=n)


def imbalance_ratio(labels: Sequence[Any] | np.ndarray, num_classes: int | None = None) -> float:
    """Majority count / minority count (1.0 = balanced).

    Without ``num_classes`` only the classes present in ``labels`` count; with
    it, every class ``0 .. num_classes-1`` does, and an empty one makes the
    ratio infinite (what a folder with an empty class folder gets).

    Taught in ``10_imbalance_and_overfitting``.

    Example:
        >>> imbalance_ratio([0] * 10 + [1] * 2)
        5.0
        >>> imbalance_ratio([0, 0, 1], num_classes=3)
        inf
    """
    counts = class_counts(labels, num_classes)
    if num_classes is None:
        counts = counts[counts > 0]
    if counts.size == 0:
        raise ValueError("no labels (and no classes) to compute an imbalance ratio of")
    if counts.min() == 0:
        return float("inf")
    return float(counts.max() / counts.min())


# --------------------------------------------------------------------------- splits
def sort_items(items: Iterable[Item]) -> list[Item]:
    """Items in the order every split keeps: by label, then by path.

    ``prepare`` sorts its splits so; ``nbh.review.apply`` re-sorts a reviewed split.

    Example:
        >>> sort_items([(Path("b.png"), 1), (Path("z.png"), 0), (Path("a.png"), 1)])
        [(PosixPath('z.png'), 0), (PosixPath('a.png'), 1), (PosixPath('b.png'), 1)]
    """
    return sorted(items, key=lambda item: (item[1], str(item[0])))


def split_field(split: str) -> str:
    """``split`` itself if it names one of the course's splits, ``"train"``, ``"val"`` or
    ``"test"`` (one name each: the validation split is ``"val"`` everywhere), else a
    ValueError that says so.

    Example:
        >>> split_field("val")
        'val'
        >>> split_field("validation")
        Traceback (most recent call last):
        ...
        ValueError: unknown split 'validation': the course calls its splits 'train', 'val' and 'test'
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: the course calls its splits 'train', 'val' "
                         f"and 'test'")
    return split


def split_files(
    items: Sequence[Item],
    fractions: tuple[float, float] = (0.15, 0.15),
    seed: int = 0,
    *,
    class_names: Sequence[str] | None = None,
) -> tuple[list[Item], list[Item], list[Item]]:
    """Stratified, seeded split into train / validation / test.

    ``class_names`` (by label) name a class that has too few images in the error.

    Each class is shuffled with its own seeded generator, then cut so that
    about ``fractions[0]`` goes to validation and ``fractions[1]`` to test,
    with at least one image per class in each non-empty part.  A zero
    fraction leaves that part empty.

    Raises:
        TooFewImagesError: a class has fewer images than parts to fill.

    Example:
        >>> items = [(Path(f"{c}{i}.png"), c) for c in (0, 1) for i in range(10)]
        >>> tr, va, te = split_files(items, (0.2, 0.2), seed=1)
        >>> len(tr), len(va), len(te), sorted({y for _, y in va})
        (12, 4, 4, [0, 1])
    """
    val_f, test_f = fractions
    if val_f < 0 or test_f < 0 or val_f + test_f >= 1:
        raise ValueError(f"fractions {fractions} must be >= 0 and sum to less than 1")
    parts_needed = 1 + (val_f > 0) + (test_f > 0)
    by_class: dict[int, list[Item]] = {}
    for item in sort_items(items):
        by_class.setdefault(item[1], []).append(item)
    train: list[Item] = []
    val: list[Item] = []
    test: list[Item] = []
    for label, group in sorted(by_class.items()):
        n = len(group)
        if n < parts_needed:
            name = (f"class {class_names[label]!r}" if class_names and 0 <= label < len(class_names)
                    else f"class {label}")
            raise TooFewImagesError(
                f"The {name} has {n} usable image(s); at least {parts_needed} are needed to "
                f"put one in each of train, validation and test. Add images to its folder "
                f"or remove the class folder."
            )
        n_val, n_test = _part_sizes(n, val_f, test_f)
        order = np.random.default_rng([seed, label]).permutation(n)
        shuffled = [group[i] for i in order]
        val += shuffled[:n_val]
        test += shuffled[n_val:n_val + n_test]
        train += shuffled[n_val + n_test:]
    return train, val, test


def _part_sizes(n: int, val_f: float, test_f: float) -> tuple[int, int]:
    """Validation and test sizes for a class of ``n``: at least one each, one left to train."""
    n_val = max(1, round(n * val_f)) if val_f > 0 else 0
    n_test = max(1, round(n * test_f)) if test_f > 0 else 0
    while n - n_val - n_test < 1:  # keep at least one training image
        if n_val >= n_test and n_val > 1:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def check_splits(prepared: Prepared) -> None:
    """Raise :class:`DuplicateImageError` when one image (by content) is in two splits.

    ``prepare`` drops duplicates before splitting, so this guards lists
    built or edited by hand -- a leaked test image makes every test number a lie.

    Example:
        >>> from nbhelpers.data import prepare
        >>> check_splits(prepare(source="faces", verbose=False)) is None
        True
    """
    known = dict(zip(prepared.report.files["path"], prepared.report.files["sha1"], strict=True))
    where: dict[str, tuple[str, Path]] = {}
    for split in SPLITS:
        for path, _ in prepared.split(split):
            sha1 = known.get(Path(path)) or hashlib.sha1(Path(path).read_bytes()).hexdigest()
            if sha1 in where and where[sha1][0] != split:
                other_split, other = where[sha1]
                raise DuplicateImageError(
                    f"The same image is in two splits: {other} ({other_split}) and "
                    f"{path} ({split}). Evaluating on an image the model trained on "
                    f"inflates the score; remove one of the two files and prepare again."
                )
            where.setdefault(sha1, (split, Path(path)))


# --------------------------------------------------------------------------- samples
def sample_sizes(labels: Sequence[Any] | np.ndarray,
                 fraction: float | Mapping[int, float]) -> dict[int, int]:
    """How many examples of each class a stratified sample of ``fraction`` keeps.

    ``round(fraction * count)``, at least one and at most all; ``fraction`` is
    one number for every class, or one per class (a class it does not name keeps all).

    Example:
        >>> sample_sizes([0] * 40 + [1] * 3, 0.25)
        {0: 10, 1: 1}
        >>> sample_sizes([0] * 40 + [1] * 3, {0: 0.5})
        {0: 20, 1: 3}
    """
    counts = class_counts(labels)
    sizes = {}
    for c in np.flatnonzero(counts):
        frac = fraction.get(int(c), 1.0) if isinstance(fraction, Mapping) else fraction
        n = int(counts[c])
        sizes[int(c)] = n if frac >= 1 else max(1, round(n * frac))
    return sizes


def stratified_sample(labels: Sequence[Any] | np.ndarray, sizes: Mapping[int, int],
                      seed: int = 0, salt: int = 0) -> np.ndarray:
    """Indices of a seeded, stratified sample: ``sizes[c]`` examples of each class ``c``, sorted.

    The one stratified subsample of the course: ``prepare``'s
    ``max_images_per_class`` and ``nbhelpers.balance``'s subsets.  Each class
    is shuffled on its own, by a generator seeded with ``(seed, salt, c)``, and
    its first ``sizes[c]`` examples are kept (a class ``sizes`` does not name
    keeps all of them).  So for one seed a smaller sample of a class is part of
    a larger one: a learning curve over data size adds examples rather than
    swapping them.  The result is sorted: the original order is kept.

    Example:
        >>> y = np.array([0] * 6 + [1] * 4)
        >>> small, large = stratified_sample(y, {0: 2, 1: 1}), stratified_sample(y, {0: 4, 1: 2})
        >>> class_counts(y[small]).tolist(), bool(set(small) <= set(large))
        ([2, 1], True)
    """
    y = labels_of(labels)
    chosen = [np.zeros(0, dtype=int)]
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        order = np.random.default_rng([seed, salt, int(c)]).permutation(len(members))
        chosen.append(members[order[:sizes.get(int(c), len(members))]])
    return np.sort(np.concatenate(chosen))


# --------------------------------------------------------------------------- identity
def digest(obj: Any) -> str:
    """A short, stable hash (16 hex digits) of anything JSON can write: what fingerprints use.

    Used by :func:`fingerprint` and ``nbh.review`` (the digest of a review's decisions).

    Example:
        >>> digest({"b": 1, "a": [2]}) == digest({"a": [2], "b": 1}), len(digest([]))
        (True, 16)
    """
    text = json.dumps(obj, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def entry_name(path: str | Path, root: Path | None) -> str:
    """How fingerprints and review files name an image: relative to the *resolved* ``root``, POSIX.

    A file outside ``root`` (or with no root) keeps its absolute path.  Used by
    :func:`fingerprint` and ``nbh.review``.

    Example:
        >>> entry_name("/data/cats/a b.jpg", Path("/data"))
        'cats/a b.jpg'
    """
    path = Path(path)
    where = Path(os.path.abspath(path))
    if root is not None and where.is_relative_to(root):
        name = where.relative_to(root).as_posix()
    elif root is not None and path.resolve().is_relative_to(root):
        name = path.resolve().relative_to(root).as_posix()
    else:
        name = where.as_posix()
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def split_entries(prepared: Prepared, items: Sequence[Item]) -> list[list[Any]]:
    """``[relative path, content SHA-1, label]`` for each item, sorted: what a split's fingerprint hashes.

    Example:
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", verbose=False)
        >>> split_entries(p, p.test[:1])[0][0]
        'face/face_004.png'
    """
    known = dict(zip(prepared.report.files["path"], prepared.report.files["sha1"], strict=True))
    root = Path(prepared.root).resolve() if prepared.root is not None else None
    out = []
    for path, label in items:
        path = Path(path)
        sha1 = known.get(path) or hashlib.sha1(path.read_bytes()).hexdigest()
        out.append([entry_name(path, root), sha1, int(label)])
    return sorted(out)


def fingerprint(prepared: Prepared, split: str | None = None) -> str:
    """A short, stable hash of the data: what a cache made from ``prepared`` is keyed by.

    For one ``split`` (``"train"``, ``"val"``, ``"test"``): the hash of the
    resolved data-source root, the class names, and for every image of the
    split its path relative to the root, its label and the SHA-1 of its bytes.
    Without ``split``: the hash of the root, the class names and the three
    split fingerprints.  Adding, removing, changing, renaming or relabelling an
    image changes it, and so does another folder; nothing else does (not
    ``touch``, not re-running, not another profile: what else a cache depends
    on -- backbone, image size -- is the caller's part of the key).

    Why content hashes rather than size and modification time: the scan
    computes them anyway (to find duplicates) and re-reads only files whose
    size, times or inode changed, so they cost nothing here; and they do not
    change when a sync tool or a copy rewrites the times of unchanged files,
    which would throw away every cached feature for nothing.  (For the caches of
    features and trained stages; no notebook calls it directly.)

    A review (:mod:`nbhelpers.review`) that relabelled or dropped images changes
    the fingerprint of all three splits together (its ``digest`` is part of it),
    and the fingerprint of each split it touched (their labels and images
    changed); a split it did not touch keeps its fingerprint, and a review of
    only "keep" decisions changes nothing.

    Example:
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", verbose=False)
        >>> len(fingerprint(p)), fingerprint(p) == fingerprint(prepare(source="faces", verbose=False))
        (16, True)
        >>> fingerprint(p, "train") == p.split_fingerprints["train"] != fingerprint(p, "test")
        True
    """
    root = os.fsdecode(Path(prepared.root).resolve()) if prepared.root is not None else None
    head = {"root": root, "classes": list(prepared.class_names)}
    if split is not None:
        return digest({**head, "items": split_entries(prepared, prepared.split(split))})
    review = getattr(prepared, "review", None)
    if review is not None and review.changed:  # only then: a keep-only review changes nothing
        head["review"] = review.digest
    return digest({**head, "splits": {s: fingerprint(prepared, s) for s in SPLITS}})
