"""The folder scan: every file below a folder, checked, and the report of what can be used.

:func:`scan` walks ``root/<class>/...`` (:func:`list_files`: links to files are
followed; links to folders, broken or looping links, hidden files and the
clutter operating systems leave behind are reported and never read), checks
each file in parallel threads (:func:`nbhelpers.data.files.inspect`), marks
images too small to be useful and duplicates (the same image in two classes is
a *label conflict*: no copy is used), and returns a :class:`ValidationReport`:
one row per file, by path, saying what is wrong and what happens to it.
A scan cache (:mod:`nbhelpers.data.scan_cache`) spares re-opening unchanged files.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import files, scan_cache
from .errors import MissingFolderError
from .splits import class_counts, imbalance_ratio

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

__all__ = [
    "CLUTTER_FILES",
    "CLUTTER_DIRS",
    "MIN_SIDE",
    "min_useful_side",
    "is_hidden",
    "list_files",
    "ValidationReport",
    "scan",
    "mark_duplicates",
]

#: Files that operating systems and tools leave in folders: name -> what it is.
CLUTTER_FILES = {
    ".DS_Store": "macOS Finder's folder settings",
    "Thumbs.db": "Windows' thumbnail cache",
    "ehthumbs.db": "Windows Media Center's thumbnail cache",
    "desktop.ini": "Windows' folder settings",
    ".localized": "macOS's folder-name translation marker",
    "Icon\r": "macOS's custom folder icon",
    ".picasa.ini": "Picasa's photo settings",
}
#: Folders of the same kind: name -> what it is.  They are reported and never entered.
CLUTTER_DIRS = {
    ".ipynb_checkpoints": "Jupyter's checkpoint copies",
    "__MACOSX": "macOS metadata left in a zip archive",
    ".Trashes": "macOS's trash on a removable disk",
    ".Spotlight-V100": "macOS's search index",
    ".fseventsd": "macOS's file-event log",
    "$RECYCLE.BIN": "Windows' recycle bin",
    "System Volume Information": "Windows' system folder",
    "@eaDir": "a Synology NAS's thumbnails",
    ".thumbnails": "a thumbnail cache",
    ".git": "a git repository's internals",
}

#: Below this many pixels on the shorter side an image holds little to learn from
#: (CIFAR's 32 x 32 is about the smallest images classifiers are trained on).
MIN_SIDE = 32


def min_useful_side(image_size: int) -> int:
    """The shorter side (pixels) below which :func:`scan` warns that an image is too small.

    An image is flagged when it is *both* smaller than :data:`MIN_SIDE` (32 px)
    on a side *and* would be stretched more than four times to reach the
    model's input (``image_size``): ``min(32, image_size // 4)``.  So at 224 px
    (``full``) a 30 x 30 thumbnail is flagged; at 64 px (``offline``) the bundled
    25 x 25 faces are not (stretched 2.6 times), a 12 x 12 icon is.  Small
    images are a warning, not an error: they are kept.  (:func:`~nbhelpers.data.prepare`
    uses it; no notebook calls it directly.)

    Example:
        >>> min_useful_side(224), min_useful_side(160), min_useful_side(64)
        (32, 32, 16)
    """
    return max(1, min(MIN_SIDE, int(image_size) // 4))


# --------------------------------------------------------------------------- walking the folder
def is_hidden(name: str) -> bool:
    """A hidden file or folder's name (it starts with a dot).

    :func:`list_files` reports such a file as a ``"hidden file"`` and never reads
    it, and does not enter such a folder; :func:`~nbhelpers.data.folder_layout`
    does not take one for a class.  Only the name is looked at, not the disk.

    Example:
        >>> is_hidden(".thumbnails"), is_hidden(".DS_Store"), is_hidden("cat.jpg")
        (True, True, False)
    """
    return name.startswith(".")


def _describe_link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _folder_not_read(p: Path, root: Path) -> dict[str, Any] | None:
    """The report row of a sub-folder that is not entered (a link, clutter, hidden); else None."""
    name = p.name
    if p.is_symlink():
        target = _describe_link(p)
        real = Path(os.path.realpath(p))
        here = Path(os.path.realpath(p.parent))
        loops = real == here or here.is_relative_to(real)
        why = ("it points to a folder above it, so following it would loop forever"
               if loops else "links to folders can loop or pull in a whole drive")
        return files.report_row(p, root, "skipped", "link to a folder",
                                f"symbolic link to the folder {target}: not followed ({why}); "
                                f"copy the images in, or link each file")
    if name in CLUTTER_DIRS:
        return files.report_row(p, root, "skipped", "OS clutter",
                                f"{CLUTTER_DIRS[name]} ({name}/): folder not read")
    if is_hidden(name) or name.startswith("_"):
        return files.report_row(p, root, "skipped", "hidden folder",
                                f"{name}/ starts with '{name[0]}': hidden folders are not read; "
                                "rename it to use its images")
    return None


def _file_not_read(p: Path, root: Path) -> dict[str, Any] | None:
    """The report row of a file that is not opened (clutter, hidden); else None."""
    name = p.name
    if name in CLUTTER_FILES:
        return files.report_row(p, root, "skipped", "OS clutter",
                                f"{CLUTTER_FILES[name]} ({name!r}), not an image")
    if name.startswith("._"):
        return files.report_row(p, root, "skipped", "OS clutter",
                                f"macOS AppleDouble file (the metadata of {name[2:]!r}, left by "
                                "copying from a Mac to another disk), not an image")
    if is_hidden(name):
        return files.report_row(p, root, "skipped", "hidden file",
                                f"{name} starts with '.': hidden files are not read; rename it "
                                "to use it")
    return None


def _stat_or_skip(p: Path, root: Path) -> tuple[os.stat_result | None, dict[str, Any] | None]:
    """``(stat, None)`` for a regular file (a link to one is followed), else ``(None, its row)``."""
    link = _describe_link(p) if p.is_symlink() else None
    try:
        st = os.stat(p)
    except OSError as err:
        if link is None:
            return None, files.report_row(p, root, "skipped", "unreadable",
                                          f"cannot read the file: {err.strerror or err}")
        if err.errno == errno.ELOOP:
            return None, files.report_row(p, root, "skipped", "link loop",
                                          f"symbolic link to {link}, which leads (through "
                                          "links) back to itself")
        return None, files.report_row(p, root, "skipped", "broken link",
                                      f"symbolic link to {link}, which does not exist (moved, "
                                      "deleted, or on a disk that is not mounted)")
    if not stat_mod.S_ISREG(st.st_mode):
        kind = ("a named pipe" if stat_mod.S_ISFIFO(st.st_mode) else
                "a socket" if stat_mod.S_ISSOCK(st.st_mode) else "a device")
        return None, files.report_row(p, root, "skipped", "not a file",
                                      f"{kind}, not a regular file")
    return st, None


def list_files(root: Path) -> tuple[list[tuple[Path, os.stat_result]], list[str], list[dict]]:
    """Files to open (with their ``stat``), the class folders, and rows for what is not opened.

    Links to files (inside or outside ``root``) are followed; links to folders,
    broken links and links that loop are reported, never followed.  Hidden files
    and folders, and the clutter operating systems leave behind, are reported
    and skipped (clutter folders are never entered).

    Example:
        >>> from nbhelpers.data import write_faces
        >>> found, classes, not_opened = list_files(write_faces())
        >>> len(found), classes, not_opened
        (200, ['face', 'non_face'], [])
    """
    found: list[tuple[Path, os.stat_result]] = []
    rows: list[dict[str, Any]] = []
    classes: list[str] = []

    def unreadable_folder(err: OSError) -> None:
        where = Path(err.filename) if err.filename else root
        if where == root:
            raise err
        rows.append(files.report_row(where, root, "skipped", "unreadable",
                                     f"cannot list the folder: {err.strerror or err} "
                                     "(check its permissions)"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_folder):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            row = _folder_not_read(here / name, root)
            if row is None:
                keep.append(name)
            else:
                rows.append(row)
        dirnames[:] = keep
        if here == root:
            classes = list(keep)
        for name in sorted(filenames):
            row = _file_not_read(here / name, root)
            if row is None:
                st, row = _stat_or_skip(here / name, root)
            if row is None:
                found.append((here / name, st))
            else:
                rows.append(row)
    return found, classes, rows


# --------------------------------------------------------------------------- the report
@dataclass
class ValidationReport:
    """What :func:`scan` found: one row per file, class counts, and what will be skipped.

    ``files`` has a row for every file or folder looked at (the columns of
    :data:`nbhelpers.data.files.COLUMNS`: ``path``, ``file`` (relative to
    ``root``), ``class``, ``status``, ``problem``, ``detail``, ``format``,
    ``mode``, ``width``, ``height``, ``bytes``, ``sha1``, ``tf_decodes``,
    ``link``).  ``status`` is ``ok``; ``converted`` (read, then turned into
    RGB or read through a PNG copy: other colour modes, formats TensorFlow
    does not read, animations, EXIF rotation); ``kept`` (used as it is, with a
    warning: misnamed, no extension, too small); or ``skipped`` (never used:
    ``problem`` says why, ``detail`` says what to do).  :attr:`table` shows
    only the rows worth a look; :attr:`conflicts` the images found in two
    classes at once.

    Example:
        >>> from nbhelpers.data import write_faces
        >>> rep = scan(write_faces())
        >>> rep.class_counts, rep.imbalance_ratio, len(rep.skipped)
        ({'face': 100, 'non_face': 100}, 1.0, 0)
    """

    root: Path
    files: pd.DataFrame
    classes: list[str]
    seconds: float = 0.0

    @property
    def table(self) -> pd.DataFrame:
        """The files that are skipped, converted or kept with a warning, with the reason."""
        cols = ["file", "class", "status", "problem", "detail"]
        bad = self.files[self.files["status"] != "ok"]
        return bad[cols].reset_index(drop=True)

    @property
    def usable(self) -> pd.DataFrame:
        """Rows of the files that will be used (everything not skipped)."""
        return self.files[self.files["status"] != "skipped"]

    @property
    def skipped(self) -> list[Path]:
        """Paths of the files that will not be used."""
        return list(self.files.loc[self.files["status"] == "skipped", "path"])

    @property
    def converted(self) -> list[Path]:
        """Paths of the files that are read but converted to RGB."""
        return list(self.files.loc[self.files["status"] == "converted", "path"])

    @property
    def conflicts(self) -> list[list[str]]:
        """Label conflicts: each is the relative paths of one image found in several classes.

        None of the copies is used (which class would be right is for you to say).
        """
        rows = self.files[self.files["problem"] == "label conflict"]
        groups: dict[str, list[str]] = {}
        for sha1, file in zip(rows["sha1"], rows["file"], strict=True):
            groups.setdefault(sha1, []).append(file)
        return sorted(sorted(g) for g in groups.values())

    @property
    def class_counts(self) -> dict[str, int]:
        """Usable images per class (classes without any usable image count 0)."""
        index = {c: i for i, c in enumerate(self.classes)}
        labels = [index[c] for c in self.usable["class"].dropna() if c in index]
        counts = class_counts(labels, num_classes=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts, strict=True)}

    @property
    def imbalance_ratio(self) -> float:
        """Largest class count / smallest (1.0 = balanced; inf when a class is empty)."""
        counts = list(self.class_counts.values())
        if not counts:
            return float("nan")
        return imbalance_ratio(np.repeat(np.arange(len(counts)), counts), len(counts))

    def problems(self, problem: str) -> list[str]:
        """Relative paths of the files whose ``problem`` contains ``problem``."""
        mask = self.files["problem"].str.contains(problem, regex=False)
        return sorted(self.files.loc[mask, "file"])

    def summary(self, limit: int = 20) -> str:
        """A few lines: how many files, what happens to them, classes and balance.

        Then one line per label conflict, per skipped file and per small image
        (at most ``limit`` of each kind; :attr:`table` has them all).
        """
        status = Counter(self.files["status"])
        lines = [
            f"{len(self.files)} files in {self.root} scanned in {self.seconds:.2f} s: "
            f"{status.get('ok', 0)} ok, {status.get('converted', 0)} converted to RGB, "
            f"{status.get('kept', 0)} kept with a warning, {status.get('skipped', 0)} skipped",
            "usable images per class: "
            + ", ".join(f"{c}={n}" for c, n in self.class_counts.items()),
            f"imbalance ratio (largest/smallest class): {self.imbalance_ratio:.2f}",
        ]
        lines += self._file_lines(limit)
        # A name that is not UTF-8 must not break printing the report.
        return "\n".join(line.encode("utf-8", "backslashreplace").decode("utf-8")
                         for line in lines)

    def _file_lines(self, limit: int) -> list[str]:
        """The summary's lines about single files: conflicts, skipped files, small images."""
        classes = dict(zip(self.files["file"], self.files["class"], strict=True))

        def capped(kind: str, entries: list[str]) -> list[str]:
            more = len(entries) - limit
            return entries[:limit] + ([f"  ... and {more} more {kind} (see report.table)"]
                                      if more > 0 else [])

        lines = capped("label conflicts", [
            "  label conflict: " + " = ".join(f"{f} ({classes[f]!r})" for f in group)
            + ": the same image in different classes; none of the copies is used"
            for group in self.conflicts])
        skipped = self.files[(self.files["status"] == "skipped")
                             & (self.files["problem"] != "label conflict")]
        lines += capped("skipped files", [
            f"  skipped {f}: {p} ({d})"
            for f, p, d in zip(skipped["file"], skipped["problem"], skipped["detail"], strict=True)])
        small = self.files[(self.files["status"] != "skipped")
                           & self.files["problem"].str.contains("small", regex=False)]
        lines += capped("small images", [
            f"  warning {f}: {int(w)}x{int(h)} px, too small to be useful"
            for f, w, h in zip(small["file"], small["width"], small["height"], strict=True)])
        return lines

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        head = "<br>".join(self.summary().splitlines()[:3])
        return f"<p>{head}</p>" + (self.table.to_html(index=False) if len(self.table) else "")


# --------------------------------------------------------------------------- the scan
def scan(
    root: str | Path,
    workers: int | None = None,
    cache_file: str | Path | None = None,
    duplicates: bool = True,
    min_side: int = MIN_SIDE,
) -> ValidationReport:
    """Open every file below ``root`` with PIL and report what can be used.

    ``root`` holds one folder per class (files in sub-folders of a class folder
    belong to that class).  Nothing is raised for bad files: each is reported,
    by path, with what is wrong, and skipped -- or read correctly:

    - every format PIL reads is used; those TensorFlow does not decode itself
      (TIFF, WebP, HEIC with pillow-heif, 16-bit, palette BMP, animations,
      EXIF-rotated photos) are read through an RGB PNG copy (``converted``);
      the extension does not matter (upper case, wrong or none);
    - skipped: empty, truncated, corrupt, unreadable and non-image files, HEIC
      without pillow-heif (the message says how to read it), hidden files and
      OS clutter (``.DS_Store``, ``._*``, ``Thumbs.db``, ``.ipynb_checkpoints/``),
      broken links, links that loop and links to folders (links to files are
      followed, wherever they point);
    - duplicates (same bytes): one copy is kept per class; the same image in two
      *different* classes is a **label conflict**, reported once, and no copy
      is used (see :attr:`ValidationReport.conflicts`);
    - images whose shorter side is below ``min_side`` pixels (default 32; what
      ``prepare`` passes is :func:`min_useful_side`) are kept with a warning.

    Files are checked in parallel threads (PIL releases the GIL while decoding);
    JPEGs are decoded at 1/8 scale, which still reads every byte, so a few
    thousand photos take seconds.  With ``cache_file`` (what ``prepare``
    passes: a file in ``cfg.cache_dir`` per resolved folder), files whose size,
    modification and change times and inode are unchanged since the last scan
    are not opened again.  ``duplicates=False`` leaves files with the same
    content unmarked (``prepare`` marks them across the halves of a data set).

    Raises:
        MissingFolderError: ``root`` does not exist or is not a folder.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> from nbhelpers.data import write_faces
        >>> rep = scan(write_faces())
        >>> len(rep.files), rep.classes
        (200, ['face', 'non_face'])
    """
    import pandas as pd

    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingFolderError(
            f"The data folder {root} does not exist (or is not a folder). Expected one "
            f"folder per class inside it: {root}/<class name>/<image files>."
        )
    t0 = time.perf_counter()
    found, classes, not_opened = list_files(root)
    cache_path = Path(cache_file) if cache_file is not None else None
    rows = _inspect_all(root, found, workers or min(8, 2 * (os.cpu_count() or 1)), cache_path)
    rows = sorted(rows + not_opened, key=lambda r: r["file"])
    for row in rows:
        if row["class"] is None and row["status"] != "skipped":
            row.update(status="skipped", problem="outside a class folder",
                       detail=f"put it in {root}/<class name>/")
    _mark_small(rows, min_side)
    if duplicates:
        mark_duplicates(rows)
    frame = pd.DataFrame(rows, columns=files.COLUMNS)
    return ValidationReport(root=root, files=frame, classes=classes,
                            seconds=time.perf_counter() - t0)


def _inspect_all(root: Path, found: list[tuple[Path, os.stat_result]], workers: int,
                 cache_path: Path | None) -> list[dict[str, Any]]:
    """A row per file: from the scan cache when the file is unchanged, else inspected (in threads)."""
    settings = scan_cache.settings(root)
    cached = scan_cache.load(cache_path, settings)
    rows: list[dict[str, Any]] = []
    stamps, todo = [], []
    for i, (path, st) in enumerate(found):
        stamps.append(scan_cache.stamp(st))
        hit = cached.get(path.relative_to(root).as_posix())
        if hit is not None and hit["stamp"] == stamps[-1]:
            rows.append({**hit["row"], "path": path})
        else:
            rows.append({})
            todo.append(i)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, row in zip(todo, pool.map(lambda p: files.inspect(p, root),
                                         [found[i][0] for i in todo]), strict=True):
            rows[i] = row
    if cache_path is not None and (todo or len(cached) != len(found)):
        scan_cache.save(cache_path, settings, {
            row["file"]: {"stamp": stamp, "row": {k: v for k, v in row.items() if k != "path"}}
            for row, stamp in zip(rows, stamps, strict=True)
        })
    for row, (path, _) in zip(rows, found, strict=True):
        if path.is_symlink():
            row["link"] = os.path.realpath(path)
    return rows


def _mark_small(rows: list[dict[str, Any]], min_side: int) -> None:
    """Warn about usable images whose shorter side is below ``min_side`` pixels."""
    for row in rows:
        if row["status"] == "skipped" or row["width"] is None:
            continue
        w, h = int(row["width"]), int(row["height"])
        if min(w, h) >= min_side:
            continue
        row["problem"] = "; ".join(p for p in (row["problem"], "small") if p)
        row["detail"] = "; ".join(d for d in (row["detail"], (
            f"{w}x{h} px, smaller than {min_side} px on a side: too little detail to learn "
            f"from (it is stretched to the model's input size); kept")) if d)
        if row["status"] == "ok":
            row["status"] = "kept"


def mark_duplicates(rows: list[dict[str, Any]]) -> None:
    """Files with the same content: one copy per class is kept, a label conflict keeps none.

    ``rows`` are in priority order (for a data set with halves: training first):
    of copies in one class, the first is kept and the others are skipped as
    ``duplicate``.  Copies in *different* classes are a ``label conflict``: all
    of them are skipped, since which label is right cannot be known here (and
    keeping the one whose class sorts first would be a coin toss).

    Example:
        >>> rows = [{"file": f, "class": c, "status": "ok", "sha1": "s"}
        ...         for f, c in [("a/1.png", "a"), ("a/2.png", "a")]]
        >>> mark_duplicates(rows); rows[1]["problem"]
        'duplicate'
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] != "skipped" and row["sha1"] is not None:
            groups.setdefault(row["sha1"], []).append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        classes = sorted({str(r["class"]) for r in group})
        if len(classes) > 1:
            where = " and ".join(f"{r['file']} (class {r['class']!r})" for r in group)
            none = "neither copy is used" if len(group) == 2 else "none of the copies is used"
            for r in group:
                r.update(status="skipped", problem="label conflict",
                         detail=f"the same image is in {len(classes)} classes: {where}; {none}. "
                                f"Delete the copy in the wrong class (or both) and run again")
            continue
        first = group[0]
        for r in group[1:]:
            r.update(status="skipped", problem="duplicate",
                     detail=f"same content as {first['file']} (same class): one copy is used")
