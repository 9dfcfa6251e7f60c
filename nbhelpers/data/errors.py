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
    """Something about the data makes training impossible; the message says what to do.

    Every other error of this module is one, so ``except nbh.data.DataError``
    catches every refusal of :func:`~nbhelpers.data.prepare`.

    Example:
        >>> from nbhelpers.data import prepare
        >>> try:
        ...     prepare(source="/no/such/folder", verbose=False)
        ... except DataError as err:
        ...     print(type(err).__name__, isinstance(err, ValueError))
        MissingFolderError True
    """


class MissingFolderError(DataError, FileNotFoundError):
    """The data folder does not exist (or is not a folder).

    Also a ``FileNotFoundError``, so code that catches that catches this too.

    Example:
        >>> from nbhelpers.data import folder_layout
        >>> try:
        ...     folder_layout("/no/such/folder")
        ... except FileNotFoundError as err:
        ...     print(type(err).__name__, str(err)[:42])
        MissingFolderError The data folder '/no/such/folder' does not
    """


class TooFewClassesError(DataError):
    """Fewer than two class folders with usable images.

    Example:
        >>> import shutil, tempfile
        >>> from pathlib import Path
        >>> from nbhelpers.data import prepare, write_faces
        >>> root = Path(tempfile.mkdtemp()) / "photos"; (root / "face").mkdir(parents=True)
        >>> _ = shutil.copy(write_faces() / "face" / "face_000.png", root / "face")
        >>> prepare(source=root, verbose=False)
        Traceback (most recent call last):
        ...
        nbhelpers.data.TooFewClassesError: ...photos has 1 class folder(s) with usable images (face); ...
    """


class EmptyClassError(DataError):
    """A class folder without a single usable image.

    Example:
        >>> import shutil, tempfile
        >>> from pathlib import Path
        >>> from nbhelpers.data import prepare, write_faces
        >>> root = Path(tempfile.mkdtemp()) / "photos"
        >>> (root / "face").mkdir(parents=True); (root / "non_face").mkdir()
        >>> _ = shutil.copy(write_faces() / "face" / "face_000.png", root / "face")
        >>> prepare(source=root, verbose=False)
        Traceback (most recent call last):
        ...
        nbhelpers.data.EmptyClassError: Class folder(s) without a usable image in ...: 'non_face'. ...
    """


class TooFewImagesError(DataError):
    """A class has too few images to put at least one in each split.

    Example:
        >>> from pathlib import Path
        >>> from nbhelpers.data import split_files
        >>> items = [(Path(f"cat_{i}.png"), 0) for i in range(5)] + [(Path("dog_0.png"), 1)]
        >>> split_files(items, (0.15, 0.15), seed=0, class_names=["cat", "dog"])
        Traceback (most recent call last):
        ...
        nbhelpers.data.TooFewImagesError: The class 'dog' has 1 usable image(s); at least 3 are needed ...
    """


class DuplicateImageError(DataError):
    """The same image (by content hash) is in two splits: the test would be leaked.

    Example:
        >>> import dataclasses
        >>> from nbhelpers.data import check_splits, prepare
        >>> p = prepare(source="faces", verbose=False)
        >>> check_splits(dataclasses.replace(p, test=p.test + p.train[:1]))  # edited by hand
        Traceback (most recent call last):
        ...
        nbhelpers.data.DuplicateImageError: The same image is in two splits: ... (train) and ... (test). ...
    """


class DownloadError(DataError, OSError):
    """A download failed (no network, server error); the message says how to place the file by hand.

    Also an ``OSError``.  Raised by :func:`~nbhelpers.data.fetch`.

    Example:
        >>> import dataclasses, tempfile
        >>> from pathlib import Path
        >>> from nbhelpers.config import make_config
        >>> from nbhelpers.data import DataSource, fetch
        >>> cfg = dataclasses.replace(make_config("offline"), cache_dir=Path(tempfile.mkdtemp()))
        >>> gone = DataSource("mine", "my photos", "class_folders", "CC0",
        ...                   url="file:///no/such/photos.zip")
        >>> fetch(gone, cfg, verbose=False)
        Traceback (most recent call last):
        ...
        nbhelpers.data.DownloadError: Downloading 'mine' failed: ...To place the file by hand...
    """


class ChecksumError(DataError):
    """A downloaded or cached archive does not have the SHA-256 the registry expects.

    Raised by :func:`~nbhelpers.data.fetch`; a download that fails the check is deleted.

    Example:
        >>> import dataclasses, tempfile, zipfile
        >>> from pathlib import Path
        >>> from nbhelpers.config import make_config
        >>> from nbhelpers.data import DataSource, fetch
        >>> d = Path(tempfile.mkdtemp())
        >>> cfg = dataclasses.replace(make_config("offline"), cache_dir=d / "cache")
        >>> with zipfile.ZipFile(d / "photos.zip", "w") as z:
        ...     z.writestr("cat/a.jpg", b"x")
        >>> wrong = DataSource("mine", "my photos", "class_folders", "CC0",
        ...                    url=(d / "photos.zip").as_uri(), sha256="0" * 64)
        >>> fetch(wrong, cfg, verbose=False)
        Traceback (most recent call last):
        ...
        nbhelpers.data.ChecksumError: The archive ...photos.zip (... bytes) has SHA-256...
    """


# Tracebacks and reprs name them as a reader catches them: nbhelpers.data.EmptyClassError.
for _error in (DataError, MissingFolderError, TooFewClassesError, EmptyClassError,
               TooFewImagesError, DuplicateImageError, DownloadError, ChecksumError):
    _error.__module__ = "nbhelpers.data"
del _error
