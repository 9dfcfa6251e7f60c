"""The errors of ``nbhelpers.data``: each one says what is wrong and what to do.

All of them are :class:`DataError` (a ``ValueError``), so ``except nbh.data.DataError``
catches every refusal of :func:`~nbhelpers.data.prepare`.  Their names are the ones to
catch: ``nbh.data.EmptyClassError`` (what a traceback shows, too).
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "MissingFolderError",
    "TooFewClassesError",
    "EmptyClassError",
    "TooFewImagesError",
    "DuplicateImageError",
    "DownloadError",
    "ChecksumError",
]


class DataError(ValueError):
    """Something about the data makes training impossible; the message says what to do."""


class MissingFolderError(DataError, FileNotFoundError):
    """The data folder does not exist (or is not a folder)."""


class TooFewClassesError(DataError):
    """Fewer than two class folders with usable images."""


class EmptyClassError(DataError):
    """A class folder without a single usable image."""


class TooFewImagesError(DataError):
    """A class has too few images to put at least one in each split."""


class DuplicateImageError(DataError):
    """The same image (by content hash) is in two splits: the test would be leaked."""


class DownloadError(DataError, OSError):
    """A download failed (no network, server error); the message says how to place the file by hand."""


class ChecksumError(DataError):
    """A downloaded or cached archive does not have the SHA-256 the registry expects."""


# Tracebacks and reprs name them as a reader catches them: nbhelpers.data.EmptyClassError.
for _error in (DataError, MissingFolderError, TooFewClassesError, EmptyClassError,
               TooFewImagesError, DuplicateImageError, DownloadError, ChecksumError):
    _error.__module__ = "nbhelpers.data"
del _error
