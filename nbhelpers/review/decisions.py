"""Which image a decision is about, and recording decisions: :func:`record`.

A review names each image as its CSV does: the path relative to the data's
root folder, with ``/`` (``face/face_003.png``, as
:func:`nbhelpers.data.fingerprint` names it).  :func:`index_images` lists the
images of a prepared data set under those names, with the split, label and
SHA-1 of each; :func:`image_names` turns what a learner passes (paths from
``prepared.train``, items ``(path, label)``, names) into them.
Taught in ``13_improving_your_data``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import artifacts, data
from ..config import Config
from ..data import Prepared
from .files import COLUMNS, DECISIONS, ReviewError, csv_text, lock_file, read, target_file

__all__ = ["record"]

#: The splits a review knows, in the order ``prepared.split`` names them.
SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------- which image
@dataclass(frozen=True)
class Entry:
    """One image as a review sees it: its name, split, place in the split, file, label, SHA-1.

    ``name`` is the review's name of the image (relative to the data's folder, with
    ``/``); ``split`` is ``"train"``, ``"val"`` or ``"test"``; ``position`` its index
    in ``prepared.split(split)`` (-1: dropped by the review already applied);
    ``file`` its path; ``label`` its class index (-1: a class not in
    ``prepared.class_names``); ``sha1`` the hex SHA-1 of its bytes.

    Example:
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", verbose=False)
        >>> e = next(iter(index_images(p).values()))   # the first image of the training split
        >>> e.split, e.position, e.file == p.train[0][0], e.label == p.train[0][1], len(e.sha1)
        ('train', 0, True, True, 40)
    """

    name: str
    split: str
    position: int  # in the split's list (-1: dropped by the review already applied)
    file: Path
    label: int
    sha1: str


def index_images(prepared: Prepared, with_dropped: bool = False) -> dict[str, Entry]:
    """Every image of ``prepared``'s splits by its name; with the review's dropped ones too.

    ``{name: Entry}``, names as the review file writes them (``face/face_003.png``),
    in the order train, val, test; ``with_dropped=True`` adds the images the
    applied review dropped (``position`` -1).

    Example:
        >>> from nbhelpers.data import prepare
        >>> index = index_images(prepare(source="faces", verbose=False))
        >>> len(index), sorted({e.split for e in index.values()})
        (200, ['test', 'train', 'val'])
        >>> index["face/face_003.png"].file.name
        'face_003.png'
    """
    known = dict(zip(prepared.report.files["path"], prepared.report.files["sha1"], strict=True))
    root = Path(prepared.root).resolve() if prepared.root is not None else None

    def sha1(path: Path) -> str:
        return known.get(path) or hashlib.sha1(path.read_bytes()).hexdigest()

    out: dict[str, Entry] = {}
    for split in SPLITS:
        for position, (path, label) in enumerate(prepared.split(split)):
            path = Path(path)
            name = data.entry_name(path, root)
            out[name] = Entry(name, split, position, path, int(label), sha1(path))
    table = prepared.review.table if prepared.review is not None else None
    if with_dropped and table is not None and len(table):
        for row in table[table["effect"] == "dropped"].itertuples(index=False):
            file = Path(row.file)
            given = prepared.class_names.index(row.given) if row.given in prepared.class_names \
                else -1
            out.setdefault(row.path, Entry(row.path, row.split, -1, file, given, sha1(file)))
    return out


def _given(path_or_paths: Any) -> list[Any]:
    """``path_or_paths`` as a list: one path, one item ``(path, label)`` of a split, or many."""
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
    return given


def image_names(prepared: Prepared, path_or_paths: Any, index: Mapping[str, Entry]) -> list[str]:
    """The review names of ``path_or_paths`` (paths or names), each checked to be in ``index``.

    ``path_or_paths`` is one path, one item ``(path, label)`` of a split, a name
    relative to the data's folder, or a list of these; the names come back in
    order, each once.  One that is not in ``index`` (:func:`index_images`) raises
    :class:`~nbhelpers.review.ReviewError` naming it.

    Example:
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", verbose=False); index = index_images(p)
        >>> image_names(p, [p.root / "face" / "face_003.png", "face/face_003.png",
        ...                 "non_face/non_face_000.png"], index)
        ['face/face_003.png', 'non_face/non_face_000.png']
        >>> image_names(p, "/elsewhere/cat.jpg", index)
        Traceback (most recent call last):
        ...
        nbhelpers.review.files.ReviewError: Not an image of this data (...): /elsewhere/cat.jpg. ...
    """
    root = Path(prepared.root).resolve() if prepared.root is not None else None
    out, missing = [], []
    for p in _given(path_or_paths):
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
    """The class name a decision records: the new class for relabel, else empty."""
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
    """The time of a decision, ISO with the local offset (``2025-05-04T10:31:07+02:00``)."""
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
    :func:`~nbhelpers.review.review_path` ``(cfg, prepared)``; it is rewritten
    whole (never half) under a lock, so two kernels recording at once lose
    nothing.  Your image files are not touched: ``nbh.data.prepare(cfg)``
    applies the decisions.

    Raises:
        ReviewError: an image that is in none of ``prepared``'s splits.
        ValueError: an unknown decision or class, a label given for drop or keep.

    Taught in ``13_improving_your_data``.

    Example:
        >>> import dataclasses, tempfile
        >>> from nbhelpers.config import current
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", verbose=False)
        >>> f = record(p, p.train[0][0], "relabel", "non_face", reason="no face", cfg=cfg)
        >>> f = record(p, [p.train[1][0], p.train[2][0]], "drop", cfg=cfg)
        >>> read(f)[["path", "decision", "label"]].values.tolist()
        [['face/face_000.png', 'relabel', 'non_face'], ['face/face_001.png', 'drop', ''], ['face/face_003.png', 'drop', '']]
    """
    index = index_images(prepared, with_dropped=True)
    names = image_names(prepared, path_or_paths, index)
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
    target = target_file(prepared, cfg)
    with artifacts.lock(lock_file(target), what=f"recording review decisions in {target.name}"):
        old = read(target)
        kept = old[~old["path"].isin(names)]
        table = pd.concat([kept, new], ignore_index=True) if len(kept) else new
        artifacts.write_bytes(target, csv_text(table))
    return target
