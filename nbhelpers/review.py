"""Reviewing single images -- relabel, drop or keep -- without ever touching your files.

Taught in ``13_improving_your_data``.  A model (and cleanlab) can point at
training images whose label looks wrong, and at near-duplicate photos; you
decide, image by image, what happens to each one:

* **relabel** -- the image belongs to another class;
* **drop** -- the image is left out (a duplicate, a photo of nothing);
* **keep** -- you looked, and it is right as it is.

Decisions go to a small CSV file of their own, :func:`review_path`
(``<data_dir>/reviews/<source>.csv``), never into your image folder: nothing is
moved, renamed or deleted there, and deleting the CSV (:func:`clear`) undoes
the whole review.  :func:`record` writes decisions (:func:`review_widget` is
buttons that call it), :func:`read` reads them back, and
``nbh.data.prepare(cfg)`` applies them (:func:`apply`) *after* the splits are
made: a relabelled image stays in the split it was in (the test set stays the
test set), a dropped one leaves it, and ``prepared.review`` (a
:class:`ReviewSummary`) says what changed.  A decision about a file whose bytes
changed since is *stale*: ignored, and reported.

The CSV has one line per image (a later decision replaces the earlier one),
under the header ``path,sha1,decision,label,reason,when``:

==========  ===================================================================
``path``    the image, relative to the data's root folder, with ``/``
            (``face/face_003.png``; as :func:`nbhelpers.data.fingerprint` names it)
``sha1``    SHA-1 of the image's bytes when it was reviewed
``decision`` ``relabel``, ``drop`` or ``keep``
``label``   the new class name (relabel only; else empty)
``reason``  free text (``cleanlab: label issue, suggested dog``)
``when``    ISO time of the decision (``2025-05-04T10:31:07+02:00``)
==========  ===================================================================
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import artifacts, data
from .config import Config, current
from .data import DataError, Prepared

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import ipywidgets
    import pandas as pd

__all__ = [
    "COLUMNS",
    "DECISIONS",
    "ReviewError",
    "ReviewSummary",
    "review_path",
    "record",
    "read",
    "apply",
    "clear",
    "review_widget",
]

#: The CSV's columns, in order (its header line).
COLUMNS: tuple[str, ...] = ("path", "sha1", "decision", "label", "reason", "when")
#: What can be decided about an image.
DECISIONS: tuple[str, ...] = ("relabel", "drop", "keep")
_SPLITS = ("train", "val", "test")
_EFFECTS = ("relabelled", "dropped", "kept", "stale")
_SHA1 = re.compile(r"[0-9a-f]{40}")


class ReviewError(DataError):
    """A review file that cannot be used, or a decision that cannot be recorded; says what to do."""


# --------------------------------------------------------------------------- where
def _slug(prepared_source: str, root: Path | None) -> str:
    """The file name (without ``.csv``) of a source's review."""
    if prepared_source != "folder":
        return re.sub(r"[^A-Za-z0-9._-]+", "_", prepared_source)
    where = Path(root).resolve() if root is not None else Path.cwd()
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", where.name).strip("._") or "folder"
    digest = hashlib.sha1(os.fsencode(where)).hexdigest()[:8]
    return f"{name[:40]}-{digest}"


def review_path(cfg: Config | None = None, source: str | Path | Prepared | None = None) -> Path:
    """Where the decisions about a data source live: ``<cfg.data_dir>/reviews/<slug>.csv``.

    ``source`` is what :func:`nbhelpers.data.prepare` takes (``None``: your
    ``$NBH_DATA_SOURCE``, else the profile's data set), or a
    :class:`~nbhelpers.data.Prepared`.  The slug is the registry name
    (``faces``, ``cats_and_dogs``) or, for a folder of your own, its name and
    a short hash of its resolved path (``my_photos-1a2b3c4d``), so two folders
    never share a file.  Nothing is written; a registered data set is not
    downloaded.

    Reached through the helpers that notebook 13 calls.

    Example:
        >>> from nbhelpers.config import make_config
        >>> cfg = make_config("offline")
        >>> review_path(cfg, "faces").relative_to(cfg.data_dir).as_posix()
        'reviews/faces.csv'
        >>> import tempfile
        >>> mine = Path(tempfile.mkdtemp()) / "my photos"
        >>> for c in ("cat", "dog"):
        ...     (mine / c).mkdir(parents=True)
        >>> review_path(cfg, mine).name[:10], len(review_path(cfg, mine).stem)
        ('my_photos-', 18)
    """
    cfg = cfg or current()
    if isinstance(source, Prepared):
        slug = _slug(source.source, source.root)
    else:
        name, what = data.resolve_source(cfg, source)
        slug = _slug(name, data.folder_layout(what, cfg).root if name == "folder" else None)
    return Path(cfg.data_dir) / "reviews" / f"{slug}.csv"


def _target(prepared: Prepared, cfg: Config | None) -> Path:
    """The file that ``record`` writes: where ``prepared``'s review came from, else its own."""
    if prepared.review is not None and prepared.review.path is not None:
        return Path(prepared.review.path)
    return review_path(cfg, prepared)


def _lock_file(path: Path) -> Path:
    return path.with_name(f"{path.name}.lock")


# --------------------------------------------------------------------------- reading
def _empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})


def _damaged(path: Path, what: str) -> ReviewError:
    return ReviewError(
        f"The review file {path} is damaged: {what}. Its decisions are not used until it is "
        f"fixed: correct it in a text editor (header {','.join(COLUMNS)}; one line per image), "
        f"or delete it ({path}) and review again.")


def read(path: str | Path) -> pd.DataFrame:
    """The decisions in a review file: one row per image, columns :data:`COLUMNS` (all text).

    ``path`` is a review file (:func:`review_path`).  A missing file means no
    decisions (an empty table).  When the file lists an image twice, the later
    line wins.  ``table.attrs["path"]`` is the file read.

    Raises:
        ReviewError: the file cannot be read or is damaged (not UTF-8 text, a wrong
            header, a line without six fields, an unknown decision, a relabel without a
            class, a SHA-1 that is not one); the message names the file and the line,
            and says to fix or delete it.  A review you made is never silently ignored.

    Taught in ``13_improving_your_data``.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "r.csv"
        >>> _ = f.write_text("path,sha1,decision,label,reason,when\\n"
        ...                  f"a/1.png,{'0' * 40},relabel,b,looks like b,2025-01-01T00:00:00\\n")
        >>> read(f)[["path", "decision", "label"]].values.tolist()
        [['a/1.png', 'relabel', 'b']]
        >>> len(read(f.with_name("none.csv")))
        0
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        table = _empty()
        table.attrs["path"] = path
        return table
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a spreadsheet may add a BOM
    except UnicodeDecodeError as err:
        raise _damaged(path, f"it is not UTF-8 text ({err})") from err
    except OSError as err:
        raise ReviewError(f"The review file {path} cannot be read ({err.strerror or err}). "
                          f"Make it readable, or delete it and review again.") from err
    try:
        lines = [row for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as err:
        raise _damaged(path, f"it is not CSV ({err})") from err
    if not lines:
        raise _damaged(path, "it is empty (not even the header line)")
    if tuple(c.strip() for c in lines[0]) != COLUMNS:
        raise _damaged(path, f"its first line is {','.join(lines[0])!r}, not the header "
                             f"{','.join(COLUMNS)!r}")
    rows: dict[str, list[str]] = {}
    problems = []
    for number, row in enumerate(lines[1:], start=2):
        if not row or not "".join(row).strip():
            continue  # a blank line
        if len(row) != len(COLUMNS):
            problems.append(f"line {number} has {len(row)} fields, not {len(COLUMNS)}")
            continue
        name, sha1, decision, label, reason, when = row
        if not name.strip():
            problems.append(f"line {number} names no image")
        elif decision not in DECISIONS:
            problems.append(f"line {number} has the decision {decision!r}, not one of "
                            f"{', '.join(DECISIONS)}")
        elif not _SHA1.fullmatch(sha1):
            problems.append(f"line {number} has {sha1!r} for its sha1, not 40 hex digits")
        elif decision == "relabel" and not label.strip():
            problems.append(f"line {number} relabels {name} without naming the class")
        else:
            rows.pop(name, None)  # a later line replaces an earlier one (and comes last)
            rows[name] = [name, sha1, decision, label if decision == "relabel" else "",
                          reason, when]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise _damaged(path, "; ".join(problems[:3]) + more)
    table = pd.DataFrame(list(rows.values()), columns=list(COLUMNS), dtype=object) \
        if rows else _empty()
    table.attrs["path"] = path
    return table


def _csv_text(table: pd.DataFrame) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in table[list(COLUMNS)].itertuples(index=False):
        writer.writerow(["" if v is None else str(v) for v in row])
    return out.getvalue()


# --------------------------------------------------------------------------- which image
@dataclass(frozen=True)
class _Entry:
    name: str
    split: str
    position: int  # in the split's list (-1: dropped by the review already applied)
    file: Path
    label: int
    sha1: str


def _index(prepared: Prepared, with_dropped: bool = False) -> dict[str, _Entry]:
    """Every image of ``prepared``'s splits by its name; with the review's dropped ones too."""
    known = dict(zip(prepared.report.files["path"], prepared.report.files["sha1"], strict=True))
    root = Path(prepared.root).resolve() if prepared.root is not None else None

    def sha1(path: Path) -> str:
        return known.get(path) or hashlib.sha1(path.read_bytes()).hexdigest()

    out: dict[str, _Entry] = {}
    for split in _SPLITS:
        for position, (path, label) in enumerate(prepared.split(split)):
            path = Path(path)
            name = data.entry_name(path, root)
            out[name] = _Entry(name, split, position, path, int(label), sha1(path))
    table = prepared.review.table if prepared.review is not None else None
    if with_dropped and table is not None and len(table):
        for row in table[table["effect"] == "dropped"].itertuples(index=False):
            file = Path(row.file)
            given = prepared.class_names.index(row.given) if row.given in prepared.class_names \
                else -1
            out.setdefault(row.path, _Entry(row.path, row.split, -1, file, given, sha1(file)))
    return out


def _names(prepared: Prepared, path_or_paths: Any, index: Mapping[str, _Entry]) -> list[str]:
    """The review names of ``path_or_paths`` (paths or names), each checked to be in ``index``."""
    if isinstance(path_or_paths, str | os.PathLike) or (  # one path, or one item of a split
            isinstance(path_or_paths, tuple) and len(path_or_paths) == 2
            and isinstance(path_or_paths[1], int | np.integer)):
        given = [path_or_paths]
    elif isinstance(path_or_paths, Iterable):
        given = list(path_or_paths)
    else:
        raise TypeError(f"expected an image path or a list of them, got "
                        f"{type(path_or_paths).__name__}")
    if not given:
        raise ValueError("no image given: pass a path (or a list of paths) from prepared.train, "
                         "prepared.val or prepared.test")
    root = Path(prepared.root).resolve() if prepared.root is not None else None
    out, missing = [], []
    for p in given:
        if isinstance(p, tuple) and len(p) == 2:  # an item (path, label) of a split
            p = p[0]
        if not isinstance(p, str | os.PathLike):
            raise TypeError(f"expected an image path, got {p!r}")
        relative = Path(p).as_posix()
        name = relative if (not Path(p).is_absolute() and relative in index) \
            else data.entry_name(Path(p), root)
        (out if name in index else missing).append(name if name in index else os.fspath(p))
    if missing:
        example = next(iter(index), "a/b.jpg")
        raise ReviewError(
            f"Not an image of this data ({prepared.root}, in none of its splits): "
            + ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5
                                        else "")
            + f". Pass a path from prepared.train / .val / .test, or its name relative to the "
            f"data's folder (e.g. {example!r}); an image left out of every split (a duplicate, "
            f"a skipped file, one of max_images_per_class) cannot be reviewed.")
    return list(dict.fromkeys(out))


def _check_label(prepared: Prepared, decision: str, label: Any, about: str) -> str:
    if decision != "relabel":
        if label is not None and str(label) != "":
            raise ValueError(f"nothing recorded for {about}: a label is for decision='relabel' "
                             f"only, not {decision!r}; leave out label={label!r}, or relabel")
        return ""
    names = list(prepared.class_names)
    if isinstance(label, int | np.integer) and not isinstance(label, bool) \
            and 0 <= int(label) < len(names):
        return names[int(label)]
    if label is None or str(label) not in names:
        raise ValueError(f"nothing recorded for {about}: relabel needs label= one of the "
                         f"classes {names} (or its index), got {label!r}")
    return str(label)


# --------------------------------------------------------------------------- writing
def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def record(prepared: Prepared, path_or_paths: str | Path | Iterable[str | Path],
           decision: str, label: str | int | None = None, reason: str = "",
           cfg: Config | None = None) -> Path:
    """Record one decision about one image or several; returns the review file written.

    ``path_or_paths`` are images of ``prepared`` (in any split; a path as in
    ``prepared.train``, or the name relative to the data's folder, as the CSV
    writes it); ``decision`` is ``"relabel"`` (then ``label`` is the new class
    name, or its index in ``prepared.class_names``), ``"drop"`` or ``"keep"``;
    ``reason`` is free text for the record.  A decision about an image replaces
    the earlier one.  The file is where ``prepared``'s review came from, else
    :func:`review_path` ``(cfg, prepared)``; it is rewritten whole (never half)
    under a lock, so two kernels recording at once lose nothing.  Your image
    files are not touched: ``nbh.data.prepare(cfg)`` applies the decisions.

    Raises:
        ReviewError: an image that is in none of ``prepared``'s splits.
        ValueError: an unknown decision or class, a label given for drop or keep.

    Taught in ``13_improving_your_data``.

    Example:
        >>> import dataclasses, tempfile
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", verbose=False)
        >>> f = record(p, p.train[0][0], "relabel", "non_face", reason="no face", cfg=cfg)
        >>> f = record(p, [p.train[1][0], p.train[2][0]], "drop", cfg=cfg)
        >>> read(f)[["path", "decision", "label"]].values.tolist()
        [['face/face_000.png', 'relabel', 'non_face'], ['face/face_001.png', 'drop', ''], ['face/face_003.png', 'drop', '']]
    """
    index = _index(prepared, with_dropped=True)
    names = _names(prepared, path_or_paths, index)
    about = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    key = str(decision).strip().lower()
    if key not in DECISIONS:
        raise ValueError(f"nothing recorded for {about}: decision must be one of "
                         f"{', '.join(DECISIONS)}, got {decision!r}")
    new_label = _check_label(prepared, key, label, about)
    in_test = [n for n in names if index[n].split == "test"]
    if in_test and key != "keep":
        import warnings

        warnings.warn(f"{len(in_test)} of these images are in the test split ({in_test[0]}...): "
                      f"changing test images because the model doubts them makes the test score "
                      f"flatter the model. Fix a test label only when you are sure it is wrong.",
                      stacklevel=2)
    import pandas as pd

    when = _now()
    new = pd.DataFrame([[n, index[n].sha1, key, new_label, str(reason or ""), when]
                        for n in names], columns=list(COLUMNS), dtype=object)
    target = _target(prepared, cfg)
    with artifacts.lock(_lock_file(target), what=f"recording review decisions in {target.name}"):
        old = read(target)
        kept = old[~old["path"].isin(names)]
        table = pd.concat([kept, new], ignore_index=True) if len(kept) else new
        artifacts.write_bytes(target, _csv_text(table))
    return target


def clear(cfg: Config | None = None, source: str | Path | Prepared | None = None) -> bool:
    """Delete the review of a data source (:func:`review_path`); True when there was one.

    For a prepared data set, the file its review came from (``prepare(review=path)``),
    the one :func:`record` writes to.

    The next ``nbh.data.prepare(cfg)`` uses every image with its folder's label
    again.  Your image files are not touched (they never were).

    Reached through the helpers that notebook 13 calls.

    Example:
        >>> import dataclasses, tempfile
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", verbose=False)
        >>> _ = record(p, p.test[0][0], "drop", cfg=cfg)
        >>> clear(cfg, "faces"), clear(cfg, "faces")
        (True, False)
    """
    # A prepared data set: the file its review came from (what record writes), else its own.
    path = _target(source, cfg) if isinstance(source, Prepared) else review_path(cfg, source)
    with artifacts.lock(_lock_file(path), what=f"deleting the review {path.name}"):
        if not path.exists():
            return False
        path.unlink()
        return True


# --------------------------------------------------------------------------- applying
@dataclass(frozen=True)
class ReviewSummary:
    """What a review did to the splits: ``prepared.review`` (None when no review was read).

    ``path`` is the review file; ``relabelled``, ``dropped``, ``kept`` count the
    decisions applied; ``stale`` those ignored because the image's bytes
    changed since it was reviewed (or its new class is gone); ``unknown`` those
    about images no longer in the data.  ``per_split`` is
    ``{"train": {"relabelled": 2, "dropped": 1, "kept": 0, "stale": 0}, "val":
    ..., "test": ...}``.  ``digest`` is a hash of the changes (relabels and
    drops): part of ``prepared.fingerprint`` when :attr:`changed` is not 0.
    ``problems`` says, one line each, which decisions were ignored and why.
    ``table`` has one row per decision: ``path``, ``split`` (None when
    unknown), ``decision``, ``label``, ``given`` (the folder's class),
    ``effect`` (``relabelled``, ``dropped``, ``kept``, ``stale``, ``unknown``)
    and ``file`` (the image's path).

    Reached through the helpers that notebook 13 calls.

    Example:
        >>> s = ReviewSummary(Path("data/reviews/faces.csv"), relabelled=3, dropped=2, kept=1)
        >>> s.summary(), s.changed
        ('review data/reviews/faces.csv: 3 relabelled, 2 dropped, 1 kept; 0 stale', 5)
    """

    path: Path | None
    relabelled: int = 0
    dropped: int = 0
    kept: int = 0
    stale: int = 0
    unknown: int = 0
    per_split: dict[str, dict[str, int]] = field(
        default_factory=lambda: {s: dict.fromkeys(_EFFECTS, 0) for s in _SPLITS})
    digest: str = ""
    problems: tuple[str, ...] = ()
    table: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def changed(self) -> int:
        """How many images the review changed (relabelled + dropped); 0 for keep-only."""
        return self.relabelled + self.dropped

    def summary(self) -> str:
        """One line: ``review <file>: 3 relabelled, 2 dropped, 1 kept; 0 stale``.

        Example:
            >>> ReviewSummary(Path("r.csv")).summary()
            'review r.csv: no decisions yet'
        """
        where = "(no file)"
        if self.path is not None:
            path = Path(self.path)
            try:
                where = Path(os.path.relpath(path)).as_posix() \
                    if path.resolve().is_relative_to(Path.cwd().resolve()) else path.as_posix()
            except ValueError:  # another drive (Windows)
                where = path.as_posix()
        if not (self.changed or self.kept or self.stale or self.unknown):
            return f"review {where}: no decisions yet"
        line = (f"review {where}: {self.relabelled} relabelled, {self.dropped} dropped, "
                f"{self.kept} kept; {self.stale} stale")
        if self.unknown:
            line += f", {self.unknown} about images not in this run's splits"
        return line

    def report(self, limit: int = 10) -> str:
        """:meth:`summary`, then one line per ignored decision (at most ``limit``).

        What ``nbh.data.prepare(cfg)`` prints about the review.

        Example:
            >>> s = ReviewSummary(Path("r.csv"), stale=1, problems=("a/1.png: changed since",))
            >>> print(s.report())
            review r.csv: 0 relabelled, 0 dropped, 0 kept; 1 stale
              a/1.png: changed since
        """
        lines = [self.summary(), *(f"  {p}" for p in self.problems[:limit])]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more "
                         f"(prepared.review.problems)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def apply(prepared: Prepared, decisions: pd.DataFrame | str | Path) -> tuple[Prepared,
                                                                             ReviewSummary]:
    """Apply review decisions to ``prepared``'s splits: ``(new Prepared, ReviewSummary)``.

    ``decisions`` is a review file or what :func:`read` returned.  Dropped
    images leave their split, relabelled ones get their new label; the splits
    are *not* recomputed, so every image stays in the split it was in and the
    test set stays the test set.  A decision about an image whose bytes changed
    since (its ``sha1``) is stale and ignored, as is a relabel to a class that
    no longer exists; one about an image no longer in the data is unknown; both
    are counted and said in ``summary.problems``.  A relabel to the class the
    image already has counts as kept.  ``prepared`` itself is not changed, nor
    any file.  ``nbh.data.prepare`` calls this (its ``review`` argument).

    Raises:
        ReviewError: a damaged review file (see :func:`read`); a review that would
            leave a split without any image; ``prepared`` already reviewed.

    Reached through the helpers that notebook 13 calls.

    Example:
        >>> import dataclasses, tempfile
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", review=None, verbose=False)
        >>> f = record(p, p.train[0][0], "drop", cfg=cfg)
        >>> q, summary = apply(p, f)
        >>> len(p.train) - len(q.train), q.test == p.test, summary.dropped, summary.changed
        (1, True, 1, 1)
    """
    import pandas as pd

    if prepared.review is not None:
        raise ReviewError(
            f"These splits already have a review applied ({prepared.review.summary()}). "
            f"Prepare the data again (nbh.data.prepare(cfg, review=...)) to apply another.")
    if isinstance(decisions, str | os.PathLike):
        path: Path | None = Path(decisions)
        table = read(decisions)
    else:
        table = decisions
        path = table.attrs.get("path")
    missing = [c for c in ("path", "sha1", "decision", "label") if c not in table.columns]
    if missing:
        raise ValueError(f"decisions lack the column(s) {missing}: pass a review file or what "
                         f"nbh.review.read returned")
    table = table.drop_duplicates("path", keep="last")
    index = _index(prepared)
    names = list(prepared.class_names)
    per_split = {s: dict.fromkeys(_EFFECTS, 0) for s in _SPLITS}
    dropped: dict[str, set[int]] = {s: set() for s in _SPLITS}
    relabel: dict[str, dict[int, int]] = {s: {} for s in _SPLITS}
    counts = dict.fromkeys((*_EFFECTS, "unknown"), 0)
    changes, problems, rows = [], [], []
    for row in table.itertuples(index=False):
        name, decision, label = str(row.path), str(row.decision), str(row.label or "")
        when = str(getattr(row, "when", "") or "")
        entry = index.get(name)
        if entry is None:
            effect = "unknown"
            problems.append(f"{name}: not in this run's splits -- removed, a duplicate, or left "
                            f"out by the profile's cap on images per class ({decision} ignored)")
        elif entry.sha1 != str(row.sha1):
            effect = "stale"
            problems.append(f"{name}: changed since it was reviewed{' on ' + when if when else ''}"
                            f" ({decision} ignored); look at it again and record anew")
        elif decision == "relabel" and label not in names:
            effect = "stale"
            problems.append(f"{name}: relabel to {label!r} ignored, no such class now "
                            f"({', '.join(names)})")
        elif decision == "relabel" and names.index(label) != entry.label:
            effect = "relabelled"
            relabel[entry.split][entry.position] = names.index(label)
            changes.append([name, entry.sha1, "relabel", label])
        elif decision == "drop":
            effect = "dropped"
            dropped[entry.split].add(entry.position)
            changes.append([name, entry.sha1, "drop", ""])
        else:
            effect = "kept"
        counts[effect] += 1
        if entry is not None:
            per_split[entry.split][effect] += 1
        rows.append({"path": name, "split": entry.split if entry else None,
                     "decision": decision, "label": label,
                     "given": names[entry.label] if entry else None, "effect": effect,
                     "file": entry.file if entry else None})
    splits = {}
    for split in _SPLITS:
        items = [(p, relabel[split].get(i, y)) for i, (p, y) in enumerate(prepared.split(split))
                 if i not in dropped[split]]
        if prepared.split(split) and not items:
            raise ReviewError(
                f"The review {path or '(decisions)'} drops every image of the {split} split. "
                f"Record 'keep' "
                f"for some of them (nbh.review.record), or delete the review file "
                f"({path or 'the file these decisions came from'}).")
        splits[split] = data.sort_items(items)
    for split in ("train",):
        have = {y for _, y in splits[split]}
        gone = [names[c] for c in range(len(names)) if c not in have and any(
            y == c for _, y in prepared.split(split))]
        if gone:
            problems.append(f"the review leaves no training image of {', '.join(gone)}: the "
                            f"model cannot learn it")
    summary = ReviewSummary(
        path=Path(path) if path is not None else None,
        relabelled=counts["relabelled"], dropped=counts["dropped"], kept=counts["kept"],
        stale=counts["stale"], unknown=counts["unknown"], per_split=per_split,
        digest=data.digest(sorted(changes)), problems=tuple(problems),
        table=pd.DataFrame(rows, columns=["path", "split", "decision", "label", "given",
                                          "effect", "file"]),
    )
    return dataclasses.replace(prepared, **splits, review=summary), summary


# --------------------------------------------------------------------------- the widget
def _candidates(prepared: Prepared, candidates: Any, suggested: Any, reasons: Any,
                index: Mapping[str, _Entry]) -> list[dict[str, Any]]:
    """``[{"name", "suggested", "reason"}]`` for each candidate, checked against ``prepared``."""
    import pandas as pd

    if isinstance(candidates, pd.DataFrame):
        if "path" not in candidates.columns:
            raise ValueError(f"candidates needs a 'path' column; it has {list(candidates.columns)}")
        paths = list(candidates["path"])
        suggested = list(candidates["suggested"]) if suggested is None and \
            "suggested" in candidates.columns else suggested
        reasons = list(candidates["reason"]) if reasons is None and \
            "reason" in candidates.columns else reasons
    elif isinstance(candidates, str | os.PathLike):
        paths = [candidates]
    else:
        paths = list(candidates)
    names = _names(prepared, paths, index) if paths else []
    if len(names) != len(paths):
        raise ValueError("candidates name an image twice: list each image once")

    def per_item(values: Any, what: str) -> list[Any]:
        if values is None:
            return [None] * len(paths)
        if isinstance(values, Mapping):
            by_name = {(data.entry_name(Path(k), Path(prepared.root).resolve())
                        if Path(k).is_absolute() else Path(k).as_posix()): v
                       for k, v in values.items()}
            return [by_name.get(n) for n in names]
        values = list(values)
        if len(values) != len(paths):
            raise ValueError(f"{what} has {len(values)} values for {len(paths)} candidates")
        return values

    out = []
    for name, sug, why in zip(names, per_item(suggested, "suggested"),
                              per_item(reasons, "reasons"), strict=True):
        if sug is not None and not (isinstance(sug, float) and sug != sug):  # NaN: none
            if not isinstance(sug, str) and 0 <= int(sug) < len(prepared.class_names):
                sug = prepared.class_names[int(sug)]
            sug = str(sug) if str(sug) in prepared.class_names else None
        else:
            sug = None
        why = "" if why is None or (isinstance(why, float) and why != why) else str(why)
        if reasons is None and sug is not None:  # nothing said why: the suggestion is why
            why = f"flagged, suggested {sug}"
        out.append({"name": name, "suggested": sug, "reason": why})
    return out


def _thumbnail(file: Path, side: int = 224) -> bytes:
    """A PNG of ``file`` (any format PIL reads, EXIF-rotated upright), fit into ``side`` px."""
    from PIL import Image

    rgb = data.read_image(file)
    im = Image.fromarray(rgb)
    scale = side / max(im.size)
    resample = Image.NEAREST if scale > 1 else Image.BILINEAR  # small images: crisp pixels
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), resample)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def review_widget(prepared: Prepared, candidates: Sequence[str | Path] | pd.DataFrame, *,
                  cfg: Config | None = None, suggested: Any = None,
                  reasons: Any = None) -> ipywidgets.Widget:
    """Buttons to go through flagged images and decide, one by one: keep, drop or relabel.

    ``candidates`` are images of ``prepared`` (paths or names, in any split), or
    a DataFrame with a ``path`` column and optional ``suggested`` (a class name
    or index, e.g. cleanlab's guess) and ``reason`` columns; ``suggested`` and
    ``reasons`` may also be given as lists (one per candidate) or as mappings
    from path to value (with no reasons at all, an image with a suggestion is
    recorded with the reason ``flagged, suggested <class>``).  Each image is shown with its split, its label, the
    suggested label and the reason; **Keep**, **Drop** and **Relabel as**
    (with a list of classes, preset to the suggestion) call :func:`record`
    and go on to the next image; **Previous** and **Next** only move.  The
    status line says what was written where.  Nothing happens to your files;
    ``nbh.data.prepare(cfg)`` applies the decisions.

    The returned box (ipywidgets 7 and 8) also has ``buttons`` (``{"keep",
    "drop", "relabel", "previous", "next"}``), ``relabel_as`` (the class
    list), ``status``, ``names`` (the candidates, as the CSV names them) and
    ``show(i)`` (go to the ``i``-th candidate).

    Taught in ``13_improving_your_data``.

    Example:
        >>> import dataclasses, tempfile
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", verbose=False)
        >>> w = review_widget(p, [p.train[0][0], p.train[1][0]], cfg=cfg, suggested=["non_face", None])
        >>> w.buttons["relabel"].click(); w.buttons["keep"].click()
        >>> read(review_path(cfg, p))[["path", "decision", "label"]].values.tolist()
        [['face/face_000.png', 'relabel', 'non_face'], ['face/face_001.png', 'keep', '']]
    """
    import html

    import ipywidgets as widgets

    index = _index(prepared, with_dropped=True)
    items = _candidates(prepared, candidates, suggested, reasons, index)
    target = _target(prepared, cfg)
    classes = list(prepared.class_names)

    header = widgets.HTML()
    picture = widgets.Image(format="png", width="224", height="224")
    info = widgets.HTML()
    status = widgets.HTML(value="<i>nothing recorded yet</i>")
    keep = widgets.Button(description="Keep", button_style="success",
                          tooltip="the label is right: keep the image as it is")
    drop = widgets.Button(description="Drop", button_style="danger",
                          tooltip="leave the image out of its split")
    relabel = widgets.Button(description="Relabel as", button_style="warning",
                             tooltip="give the image the class chosen on the right")
    relabel_as = widgets.Dropdown(options=classes, value=classes[0],
                                  layout=widgets.Layout(width="180px"))
    previous = widgets.Button(description="Previous", tooltip="the previous image")
    after = widgets.Button(description="Next", tooltip="the next image (nothing recorded)")
    at = [0]

    def decided(name: str) -> str:
        try:
            table = read(target)
        except ReviewError as err:
            return f"<b>cannot read the review:</b> {html.escape(str(err))}"
        row = table[table["path"] == name]
        if not len(row):
            return "not decided yet"
        r = row.iloc[-1]
        what = f"relabel as {r['label']}" if r["decision"] == "relabel" else r["decision"]
        return f"recorded: <b>{html.escape(what)}</b> ({html.escape(str(r['when']))})"

    def show(i: int) -> None:
        if not items:
            header.value = "<b>No images to review.</b>"
            for b in (keep, drop, relabel, previous, after):
                b.disabled = True
            return
        i = max(0, min(int(i), len(items) - 1))
        at[0] = i
        item = items[i]
        entry = index[item["name"]]
        header.value = (f"<b>{i + 1} of {len(items)}</b>: "
                        f"<code>{html.escape(item['name'])}</code>")
        try:
            picture.value = _thumbnail(prepared.readable.get(entry.file, entry.file))
            shown = ""
        except Exception as err:  # noqa: BLE001 - shown, never raised
            picture.value = b""
            shown = f"<br><b>cannot be shown:</b> {html.escape(f'{type(err).__name__}: {err}')}"
        given = classes[entry.label] if 0 <= entry.label < len(classes) else "?"
        sug = item["suggested"]
        info.value = (
            f"split: <b>{entry.split}</b>{' (dropped by the review)' if entry.position < 0 else ''}"
            f" &middot; label: <b>{html.escape(given)}</b>"
            f" &middot; suggested: <b>{html.escape(sug) if sug else '-'}</b>"
            + (f"<br>reason: {html.escape(item['reason'])}" if item["reason"] else "")
            + f"<br>{decided(item['name'])}{shown}")
        choice = sug if sug in classes and sug != given else next(
            (c for c in classes if c != given), classes[0])
        relabel_as.value = choice
        previous.disabled = i == 0
        after.disabled = i == len(items) - 1

    def decide(decision: str) -> None:
        if not items:
            return
        item = items[at[0]]
        label = relabel_as.value if decision == "relabel" else None
        try:
            written = record(prepared, item["name"], decision, label=label,
                             reason=item["reason"], cfg=cfg)
        except Exception as err:  # noqa: BLE001 - a callback's error would vanish: show it
            status.value = f"<b>not recorded:</b> {html.escape(f'{type(err).__name__}: {err}')}"
            return
        what = f"relabel as {label}" if decision == "relabel" else decision
        last = at[0] == len(items) - 1
        status.value = (f"wrote <b>{html.escape(what)}</b> for "
                        f"<code>{html.escape(item['name'])}</code> to "
                        f"<code>{html.escape(os.fspath(written))}</code>"
                        + (" &middot; that was the last one: nbh.data.prepare(cfg) applies the "
                           "review" if last else ""))
        show(at[0] if last else at[0] + 1)

    keep.on_click(lambda _b: decide("keep"))
    drop.on_click(lambda _b: decide("drop"))
    relabel.on_click(lambda _b: decide("relabel"))
    previous.on_click(lambda _b: show(at[0] - 1))
    after.on_click(lambda _b: show(at[0] + 1))

    box = widgets.VBox([
        header, picture, info,
        widgets.HBox([keep, drop, relabel, relabel_as]),
        widgets.HBox([previous, after]),
        status,
    ])
    box.buttons = {"keep": keep, "drop": drop, "relabel": relabel, "previous": previous,
                   "next": after}
    box.relabel_as = relabel_as
    box.status = status
    box.names = [it["name"] for it in items]
    box.show = show
    show(0)
    return box
