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

Call any of them as ``nbh.review.<name>``; the submodules group them by job:

=============  ==============================================================
module         does
=============  ==============================================================
``files``      the review file: where it lives (``review_path``), its columns,
               reading it (``read``), deleting it (``clear``)
``decisions``  which image a decision is about (names, splits, SHA-1s), and
               recording decisions (``record``)
``applying``   applying the decisions to the splits (``apply``) and what they
               changed (``ReviewSummary``)
``widget``     buttons to go through flagged images (``review_widget``)
=============  ==============================================================

Example:
    >>> import nbhelpers as nbh
    >>> nbh.review.record is nbh.review.decisions.record
    True
"""

from __future__ import annotations

from .applying import ReviewSummary, apply
from .decisions import record
from .files import COLUMNS, DECISIONS, ReviewError, clear, read, review_path
from .widget import review_widget

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
