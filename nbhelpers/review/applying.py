"""Applying a review to the splits: :func:`apply` and the :class:`ReviewSummary` it returns.

``nbh.data.prepare(cfg)`` calls :func:`apply` *after* the splits are made: a
relabelled image stays in the split it was in (the test set stays the test
set), a dropped one leaves it, and ``prepared.review`` (a
:class:`ReviewSummary`) says what changed.  A decision about a file whose
bytes changed since is *stale*: ignored, and reported.
Taught in ``13_improving_your_data``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import data
from ..data import Prepared
from .decisions import SPLITS, Entry, index_images
from .files import ReviewError, read

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

__all__ = ["ReviewSummary", "apply"]

_EFFECTS = ("relabelled", "dropped", "kept", "stale")


@dataclass(frozen=True)
class ReviewSummary:
    """What a review did to the splits: ``prepared.review`` (None when no review was read).

    ``path`` is the review file; ``relabelled``, ``dropped``, ``kept`` count the
    decisions applied; ``stale`` those ignored because the image's bytes
    changed since it was reviewed (or its new class is not a class of the
    data); ``unknown`` those about images that are not in the data.
    ``per_split`` is ``{"train": {"relabelled": 2, "dropped": 1, "kept": 0,
    "stale": 0}, "val": ..., "test": ...}``.  ``digest`` is a hash of the
    changes (relabels and drops): part of ``prepared.fingerprint`` when
    :attr:`changed` is not 0.  ``problems`` says, one line each, which
    decisions were ignored and why.  ``table`` has one row per decision:
    ``path``, ``split`` (None when unknown), ``decision``, ``label``,
    ``given`` (the folder's class), ``effect`` (``relabelled``, ``dropped``,
    ``kept``, ``stale``, ``unknown``) and ``file`` (the image's path).
    ``nbh.data.prepare`` prints :meth:`report`.

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
        default_factory=lambda: {s: dict.fromkeys(_EFFECTS, 0) for s in SPLITS})
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


# --------------------------------------------------------------------------- the steps
def _decision_table(decisions: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, Path | None]:
    """The decisions to apply, one per image (the last one), and the file they came from."""
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
    return table.drop_duplicates("path", keep="last"), path


def _fields(row: Any) -> tuple[str, str, str, str]:
    """A decision's image name, decision, label and time, as text."""
    return (str(row.path), str(row.decision), str(row.label or ""),
            str(getattr(row, "when", "") or ""))


def _effect(row: Any, entry: Entry | None, names: list[str]) -> tuple[str, str | None]:
    """What one decision does to its image (an effect), and why when it is ignored."""
    name, decision, label, when = _fields(row)
    if entry is None:
        return "unknown", (f"{name}: not in this run's splits -- removed, a duplicate, or left "
                           f"out by the profile's cap on images per class ({decision} ignored)")
    if entry.sha1 != str(row.sha1):
        return "stale", (f"{name}: changed since it was reviewed{' on ' + when if when else ''}"
                         f" ({decision} ignored); look at it again and record anew")
    if decision == "relabel" and label not in names:
        return "stale", (f"{name}: relabel to {label!r} ignored, no such class now "
                         f"({', '.join(names)})")
    if decision == "relabel" and names.index(label) != entry.label:
        return "relabelled", None
    if decision == "drop":
        return "dropped", None
    return "kept", None


@dataclass
class _Tally:
    """The decisions of a review as they are applied: counts, changes per split, problems."""

    names: list[str]
    per_split: dict[str, dict[str, int]] = field(
        default_factory=lambda: {s: dict.fromkeys(_EFFECTS, 0) for s in SPLITS})
    dropped: dict[str, set[int]] = field(default_factory=lambda: {s: set() for s in SPLITS})
    relabel: dict[str, dict[int, int]] = field(default_factory=lambda: {s: {} for s in SPLITS})
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((*_EFFECTS, "unknown"), 0))
    changes: list[list[str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: Any, entry: Entry | None) -> None:
        """Count one decision, and note the change it makes to its split."""
        name, decision, label, _ = _fields(row)
        effect, problem = _effect(row, entry, self.names)
        if problem is not None:
            self.problems.append(problem)
        if effect == "relabelled":
            self.relabel[entry.split][entry.position] = self.names.index(label)
            self.changes.append([name, entry.sha1, "relabel", label])
        elif effect == "dropped":
            self.dropped[entry.split].add(entry.position)
            self.changes.append([name, entry.sha1, "drop", ""])
        self.counts[effect] += 1
        if entry is not None:
            self.per_split[entry.split][effect] += 1
        self.rows.append({"path": name, "split": entry.split if entry else None,
                          "decision": decision, "label": label,
                          "given": self.names[entry.label] if entry else None, "effect": effect,
                          "file": entry.file if entry else None})


def _reviewed_splits(prepared: Prepared, tally: _Tally,
                     path: Path | None) -> dict[str, list[tuple[Any, int]]]:
    """Each split without its dropped images and with the new labels, sorted as ``prepare`` sorts."""
    splits = {}
    for split in SPLITS:
        items = [(p, tally.relabel[split].get(i, y)) for i, (p, y) in enumerate(prepared.split(split))
                 if i not in tally.dropped[split]]
        if prepared.split(split) and not items:
            raise ReviewError(
                f"The review {path or '(decisions)'} drops every image of the {split} split. "
                f"Record 'keep' "
                f"for some of them (nbh.review.record), or delete the review file "
                f"({path or 'the file these decisions came from'}).")
        splits[split] = data.sort_items(items)
    return splits


def _classes_lost(prepared: Prepared, splits: dict[str, list[tuple[Any, int]]],
                  names: list[str]) -> list[str]:
    """A problem line when the review leaves a class without any training image."""
    have = {y for _, y in splits["train"]}
    gone = [names[c] for c in range(len(names)) if c not in have and any(
        y == c for _, y in prepared.split("train"))]
    if gone:
        return [f"the review leaves no training image of {', '.join(gone)}: the "
                f"model cannot learn it"]
    return []


def _summary(path: Path | None, tally: _Tally) -> ReviewSummary:
    """The :class:`ReviewSummary` of an applied review."""
    import pandas as pd

    counts = tally.counts
    return ReviewSummary(
        path=Path(path) if path is not None else None,
        relabelled=counts["relabelled"], dropped=counts["dropped"], kept=counts["kept"],
        stale=counts["stale"], unknown=counts["unknown"], per_split=tally.per_split,
        digest=data.digest(sorted(tally.changes)), problems=tuple(tally.problems),
        table=pd.DataFrame(tally.rows, columns=["path", "split", "decision", "label", "given",
                                                "effect", "file"]),
    )


# --------------------------------------------------------------------------- apply
def apply(prepared: Prepared, decisions: pd.DataFrame | str | Path) -> tuple[Prepared,
                                                                             ReviewSummary]:
    """Apply review decisions to ``prepared``'s splits: ``(new Prepared, ReviewSummary)``.

    ``decisions`` is a review file or what :func:`~nbhelpers.review.read`
    returned.  Dropped images leave their split, relabelled ones get their new
    label; the splits are *not* recomputed, so every image stays in the split
    it was in and the test set stays the test set.  A decision about an image
    whose bytes changed since (its ``sha1``) is stale and ignored, as is a
    relabel to a class that is not a class of the data; one about an image
    that is not in the data is unknown; both are counted and said in
    ``summary.problems``.  A relabel to the class the image already has counts
    as kept.  ``prepared`` itself is not changed, nor any file.  The new
    Prepared's ``review`` is the summary.  ``nbh.data.prepare`` calls this
    (its ``review`` argument).

    Raises:
        ReviewError: a damaged review file (see :func:`~nbhelpers.review.read`); a review
            that would leave a split without any image; ``prepared`` already reviewed.

    Example:
        >>> import dataclasses, tempfile
        >>> from nbhelpers.config import current
        >>> from nbhelpers.review import record
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", review=None, verbose=False)
        >>> f = record(p, p.train[0][0], "drop", cfg=cfg)
        >>> q, summary = apply(p, f)
        >>> len(p.train) - len(q.train), q.test == p.test, summary.dropped, summary.changed
        (1, True, 1, 1)
    """
    if prepared.review is not None:
        raise ReviewError(
            f"These splits already have a review applied ({prepared.review.summary()}). "
            f"Prepare the data again (nbh.data.prepare(cfg, review=...)) to apply another.")
    table, path = _decision_table(decisions)
    index = index_images(prepared)
    tally = _Tally(names=list(prepared.class_names))
    for row in table.itertuples(index=False):
        tally.add(row, index.get(str(row.path)))
    splits = _reviewed_splits(prepared, tally, path)
    tally.problems += _classes_lost(prepared, splits, tally.names)
    summary = _summary(path, tally)
    return dataclasses.replace(prepared, **splits, review=summary), summary
