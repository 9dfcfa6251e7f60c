"""The review file: where a data source's decisions live, reading them, deleting them.

One CSV per data source, :func:`review_path` (``<data_dir>/reviews/<source>.csv``),
never in the image folder.  :func:`read` reads it whole and checks every line;
:func:`clear` deletes it, which undoes the whole review.  Writing decisions is
:func:`nbhelpers.review.record`'s job; the file's header is :data:`COLUMNS`.
Taught in ``13_improving_your_data``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .. import artifacts, data
from ..config import Config, current
from ..data import DataError, Prepared

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

__all__ = ["COLUMNS", "DECISIONS", "ReviewError", "review_path", "read", "clear"]

#: The CSV's columns, in order (its header line).
COLUMNS: tuple[str, ...] = ("path", "sha1", "decision", "label", "reason", "when")
#: What can be decided about an image.
DECISIONS: tuple[str, ...] = ("relabel", "drop", "keep")
_SHA1 = re.compile(r"[0-9a-f]{40}")


class ReviewError(DataError):
    """A review file that cannot be used, or a decision that cannot be recorded; says what to do.

    A :class:`~nbhelpers.data.DataError`: raised by :func:`read` (so by
    ``nbh.data.prepare``) for a damaged file, and by
    :func:`~nbhelpers.review.record` for an image that is not in the data.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "faces.csv"; _ = f.write_text("name,decision\\n")
        >>> read(f)
        Traceback (most recent call last):
        ...
        nbhelpers.review.files.ReviewError: The review file ...faces.csv is damaged: its first line is 'name,decision', ...
    """


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
    downloaded.  :func:`~nbhelpers.review.record` writes this file and
    ``nbh.data.prepare(cfg)`` applies it; notebook 13 points learners to it.

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


def target_file(prepared: Prepared, cfg: Config | None) -> Path:
    """The file ``record`` writes for ``prepared``: where its review came from, else its own.

    ``prepared.review.path`` when ``prepare`` read a review file or took one as
    ``prepare(review=path)``, else :func:`review_path` of ``prepared``.

    Example:
        >>> import tempfile
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", review=None, verbose=False)   # no review read
        >>> target_file(p, None).relative_to(current().data_dir).as_posix()
        'reviews/faces.csv'
        >>> mine = Path(tempfile.mkdtemp()) / "my_review.csv"
        >>> target_file(prepare(source="faces", review=mine, verbose=False), None) == mine
        True
    """
    if prepared.review is not None and prepared.review.path is not None:
        return Path(prepared.review.path)
    return review_path(cfg, prepared)


def lock_file(path: Path) -> Path:
    """The lock file that one writer of the review file ``path`` holds at a time.

    Beside the review file, its name and ``.lock``; ``record`` holds it
    (:func:`nbhelpers.artifacts.lock`) while it reads and rewrites the file.

    Example:
        >>> lock_file(Path("reviews/faces.csv")).as_posix()
        'reviews/faces.csv.lock'
    """
    return path.with_name(f"{path.name}.lock")


# --------------------------------------------------------------------------- reading
def _empty() -> pd.DataFrame:
    """A table of no decisions, with the columns :data:`COLUMNS`."""
    import pandas as pd

    return pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})


def _damaged(path: Path, what: str) -> ReviewError:
    """The error for a review file that cannot be used: what is wrong, and how to fix it."""
    return ReviewError(
        f"The review file {path} is damaged: {what}. Its decisions are not used until it is "
        f"fixed: correct it in a text editor (header {','.join(COLUMNS)}; one line per image), "
        f"or delete it ({path}) and review again.")


def _read_text(path: Path) -> str:
    """The text of a review file (UTF-8, a spreadsheet's BOM dropped)."""
    try:
        return path.read_bytes().decode("utf-8-sig")  # a spreadsheet may add a BOM
    except UnicodeDecodeError as err:
        raise _damaged(path, f"it is not UTF-8 text ({err})") from err
    except OSError as err:
        raise ReviewError(f"The review file {path} cannot be read ({err.strerror or err}). "
                          f"Make it readable, or delete it and review again.") from err


def _csv_lines(path: Path, text: str) -> list[list[str]]:
    """The CSV lines of a review file's text, the first one checked to be the header."""
    try:
        lines = [row for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as err:
        raise _damaged(path, f"it is not CSV ({err})") from err
    if not lines:
        raise _damaged(path, "it is empty (not even the header line)")
    if tuple(c.strip() for c in lines[0]) != COLUMNS:
        raise _damaged(path, f"its first line is {','.join(lines[0])!r}, not the header "
                             f"{','.join(COLUMNS)!r}")
    return lines


def _row_problem(number: int, row: list[str]) -> str | None:
    """What is wrong with line ``number`` of a review file, or None when it is a decision."""
    if len(row) != len(COLUMNS):
        return f"line {number} has {len(row)} fields, not {len(COLUMNS)}"
    name, sha1, decision, label, _reason, _when = row
    if not name.strip():
        return f"line {number} names no image"
    if decision not in DECISIONS:
        return f"line {number} has the decision {decision!r}, not one of {', '.join(DECISIONS)}"
    if not _SHA1.fullmatch(sha1):
        return f"line {number} has {sha1!r} for its sha1, not 40 hex digits"
    if decision == "relabel" and not label.strip():
        return f"line {number} relabels {name} without naming the class"
    return None


def _decisions(lines: list[list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """The decisions of the lines after the header, by image, and what is wrong with them."""
    rows: dict[str, list[str]] = {}
    problems = []
    for number, row in enumerate(lines[1:], start=2):
        if not row or not "".join(row).strip():
            continue  # a blank line
        problem = _row_problem(number, row)
        if problem is not None:
            problems.append(problem)
            continue
        name, sha1, decision, label, reason, when = row
        rows.pop(name, None)  # a later line replaces an earlier one (and comes last)
        rows[name] = [name, sha1, decision, label if decision == "relabel" else "", reason, when]
    return rows, problems


def read(path: str | Path) -> pd.DataFrame:
    """The decisions in a review file: one row per image, columns :data:`COLUMNS` (all text).

    ``path`` is a review file (:func:`review_path`).  The columns are ``path``
    (the image, relative to the data's folder, with ``/``), ``sha1``,
    ``decision`` (``relabel``, ``drop`` or ``keep``), ``label`` (the new class;
    empty unless relabel), ``reason`` and ``when``.  A missing file means no
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
    rows, problems = _decisions(_csv_lines(path, _read_text(path)))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise _damaged(path, "; ".join(problems[:3]) + more)
    table = pd.DataFrame(list(rows.values()), columns=list(COLUMNS), dtype=object) \
        if rows else _empty()
    table.attrs["path"] = path
    return table


def csv_text(table: pd.DataFrame) -> str:
    """The text of a review file holding ``table``'s decisions, header first.

    ``table`` has the columns :data:`COLUMNS` (others are left out); None is
    written as an empty field.  :func:`read` reads the text back.

    Example:
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "faces.csv"
        >>> _ = f.write_text("path,sha1,decision,label,reason,when\\n"
        ...                  f"a/1.png,{'0' * 40},drop,,blurred,2025-01-01T00:00:00\\n")
        >>> print(csv_text(read(f)), end="")
        path,sha1,decision,label,reason,when
        a/1.png,0000000000000000000000000000000000000000,drop,,blurred,2025-01-01T00:00:00
        >>> csv_text(read(f)) == f.read_text()
        True
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in table[list(COLUMNS)].itertuples(index=False):
        writer.writerow(["" if v is None else str(v) for v in row])
    return out.getvalue()


# --------------------------------------------------------------------------- deleting
def clear(cfg: Config | None = None, source: str | Path | Prepared | None = None) -> bool:
    """Delete the review of a data source (:func:`review_path`); True when there was one.

    For a prepared data set, the file its review came from (``prepare(review=path)``),
    the one :func:`~nbhelpers.review.record` writes to.

    The next ``nbh.data.prepare(cfg)`` uses every image with its folder's label
    again.  Your image files are not touched (they never were).

    Example:
        >>> import dataclasses, tempfile
        >>> from nbhelpers.review import record
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", verbose=False)
        >>> _ = record(p, p.test[0][0], "drop", cfg=cfg)
        >>> clear(cfg, "faces"), clear(cfg, "faces")
        (True, False)
    """
    # A prepared data set: the file its review came from (what record writes), else its own.
    path = target_file(source, cfg) if isinstance(source, Prepared) else review_path(cfg, source)
    with artifacts.lock(lock_file(path), what=f"deleting the review {path.name}"):
        if not path.exists():
            return False
        path.unlink()
        return True
