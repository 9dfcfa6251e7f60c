"""Data: a registry of data sets, download + cache, validation, splits, tf.data pipelines.

Taught in ``03_preparing_the_data``.  The way through this module is one direction:

1. **where the files come from** -- :data:`REGISTRY` names each data set once
   (URL, SHA-256, layout, licence).  :func:`fetch` downloads an archive into
   ``cfg.cache_dir`` with ``keras.utils.get_file`` (or reuses it), the ``faces``
   entry writes scikit-image's bundled images as PNG files, and any other
   ``source`` is a folder of your own: ``root/<class>/*.jpg``;
2. **are they usable** -- :func:`scan` opens every file with PIL (verify, then
   decode) and returns a :class:`ValidationReport`: one row per file, by path,
   saying what is wrong and what happens to it.  Skipped: corrupt, truncated,
   empty, unreadable and non-image files, hidden files and OS clutter, broken or
   looping links and links to folders, duplicates, and *label conflicts* (the
   same image in two classes: no copy is kept).  Converted to RGB (read through
   a PNG copy when TensorFlow cannot decode them itself): grayscale, RGBA, CMYK,
   palette and 16-bit images, TIFF, WebP, animations, EXIF-rotated photos.
   Kept with a warning: misnamed files and images too small to be useful.
   Plus class counts and the imbalance ratio;
3. **which image goes where** -- :func:`prepare` turns the usable files into
   stratified, seeded train / validation / test lists (a :class:`Prepared`) and
   refuses, with a message saying what to do, when a folder is missing, there are
   fewer than two classes, a class is empty, a class is too small to split, or
   the same image would land in two splits.  :func:`fingerprint` (also
   ``prepared.fingerprint``) is a short hash of what is in each split: caches
   made from one folder are never used for another, or for the same folder
   after an image was added, removed or changed;
4. **tensors** -- :func:`make_datasets` builds ``tf.data`` pipelines: parallel
   decoding, resizing to ``cfg.image_size``, a cache of the decoded images
   *before* any random augmentation, batching and prefetching.  :func:`load_split`
   gives one split as NumPy arrays, :func:`augmentation` the Keras layers that
   randomly flip, rotate, zoom and change contrast (training only).

Your own images: ``prepare(cfg, "path/to/folder")``, or set ``NBH_DATA_SOURCE`` to the
folder so that every notebook's ``prepare(cfg)`` reads it instead of the profile's data set.

Images leave this module as float32 RGB in ``[0, 255]``.  The backbone's own
preprocessing (VGG16: RGB -> BGR and ImageNet mean subtraction) is *not* done
here: it is the first layer of the model (``nbhelpers.models``, layer
``"preprocess"``), so that a saved model carries it and nobody applies it twice.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import artifacts
from .artifacts import file_hash
from .config import Config, current, network_available

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras
    import pandas as pd
    import tensorflow as tf

    from .review import ReviewSummary

__all__ = [
    "NotAnImageError",
    "load_image_file",
    "REGISTRY",
    "DataSource",
    "register",
    "fetch",
    "write_faces",
    "scan",
    "ValidationReport",
    "Prepared",
    "prepare",
    "resolve_source",
    "folder_layout",
    "Layout",
    "SPLIT_FOLDER_NAMES",
    "ARCHIVE_EXTENSIONS",
    "split_files",
    "check_splits",
    "make_datasets",
    "origin",
    "ordered",
    "dataset",
    "throughput",
    "load_split",
    "decode_and_resize",
    "augmentation",
    "read_image",
    "file_hash",
    "check_source",
    "fingerprint",
    "entry_name",
    "sort_items",
    "digest",
    "min_useful_side",
    "MIN_SIDE",
    "Item",
    "labels_of",
    "class_counts",
    "imbalance_ratio",
    "DataError",
    "MissingFolderError",
    "TooFewClassesError",
    "EmptyClassError",
    "TooFewImagesError",
    "DuplicateImageError",
    "DownloadError",
    "ChecksumError",
    "SUPPORTED_EXTENSIONS",
]

#: File name endings of the formats TensorFlow decodes itself (case-insensitive).
#: Every other format PIL reads (TIFF, WebP, HEIC with pillow-heif, ...) is read
#: too, through an RGB PNG copy; files are always read by content, not by name.
SUPPORTED_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
#: What PIL calls the formats behind those endings.
SUPPORTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "BMP", "GIF", "MPO"})


# --------------------------------------------------------------------------- errors
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


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class DataSource:
    """One entry of the registry: where a data set comes from and how it is laid out.

    ``layout`` is ``"train_validation"`` (``<root>/train/<class>/*`` and
    ``<root>/validation/<class>/*``: the validation half is split, stratified and
    seeded, into validation and test) or ``"class_folders"`` (``<root>/<class>/*``:
    split three ways).  ``url=None`` with a ``builder`` means the files are
    written locally (no download).

    Reached through the helpers that notebook 03 calls.

    Example:
        >>> REGISTRY["cats_and_dogs"].layout
        'train_validation'
        >>> REGISTRY["faces"].url is None
        True
    """

    name: str
    description: str
    layout: str
    licence: str
    url: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    folder: str | None = None  # the folder inside the archive that holds the layout
    builder: Callable[[Config], Path] | None = None

    @property
    def archive_name(self) -> str | None:
        """The archive's file name in the download cache (the URL's last part)."""
        if self.url is None:
            return None
        return os.path.basename(urllib.parse.urlsplit(self.url).path)


_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _whole_png(path: Path) -> bool:
    """A PNG file the course wrote that is all there: its last bytes are the IEND chunk."""
    try:
        with open(path, "rb") as f:
            f.seek(-len(_PNG_END), os.SEEK_END)
            return f.read() == _PNG_END
    except OSError:  # missing, or shorter than the chunk
        return False


def write_faces(cfg: Config | None = None, force: bool = False) -> Path:
    """Write scikit-image's ``lfw_subset`` as PNG files: ``<data_dir>/faces/{face,non_face}``.

    The 200 images (25 x 25 grayscale) are bundled with scikit-image, so this
    works offline; the first 100 are faces, the last 100 are not.  They are
    written once (as RGB PNG files) so that the offline profile reads them
    through exactly the same folder code path as your own images.

    Reached through the helpers that notebook 03 calls.

    Example:
        >>> root = write_faces()
        >>> sorted(p.name for p in root.iterdir()), len(list((root / "face").glob("*.png")))
        (['face', 'non_face'], 100)
    """
    cfg = cfg or current()
    root = Path(cfg.data_dir) / "faces"
    names = [("face", i) for i in range(100)] + [("non_face", i) for i in range(100)]
    paths = [root / cls / f"{cls}_{i:03d}.png" for cls, i in names]
    if not force and all(_whole_png(p) for p in paths):
        return root
    from PIL import Image
    from skimage import data as skdata

    images = skdata.lfw_subset()  # (200, 25, 25) floats in [0, 1]
    for path, img in zip(paths, images, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        gray = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
        artifacts.write_with(path, lambda tmp, g=gray: Image.fromarray(g).convert("RGB").save(
            tmp, format="PNG"))
    return root


#: Every data set the course knows.  Adding one is one entry (see :func:`register`).
REGISTRY: dict[str, DataSource] = {}


def register(source: DataSource) -> DataSource:
    """Add (or replace) a registry entry; returns it.

    Reached through the helpers that notebook 03 calls.

    Example:
        >>> s = register(DataSource("mine", "my photos", "class_folders", "mine, CC0"))
        >>> REGISTRY.pop("mine") is s
        True
    """
    if source.layout not in ("train_validation", "class_folders"):
        raise ValueError(f"unknown layout {source.layout!r}")
    REGISTRY[source.name] = source
    return source


register(
    DataSource(
        name="cats_and_dogs",
        description="cats vs dogs, filtered: 1,000 + 1,000 training, 500 + 500 validation JPEGs",
        layout="train_validation",
        licence=(
            "A subset of the Kaggle 'Dogs vs. Cats' data (Asirra, Microsoft Research / "
            "Petfinder.com), redistributed by Google for TensorFlow's transfer-learning "
            "tutorial; for research and teaching use."
        ),
        url="https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip",
        # No SHA-256 for this archive is published anywhere we could find.  The
        # first successful download prints the file's hash: pin it here.  Until
        # then the size (68,606,236 bytes, as served since 2018) is checked.
        sha256=None,
        size_bytes=68_606_236,
        folder="cats_and_dogs_filtered",
    )
)
register(
    DataSource(
        name="faces",
        description="scikit-image lfw_subset: 100 faces and 100 non-faces, 25 x 25 grayscale",
        layout="class_folders",
        licence=(
            "Bundled with scikit-image (BSD-3-Clause); faces from Labeled Faces in the Wild "
            "(research use)."
        ),
        builder=write_faces,
    )
)


# --------------------------------------------------------------------------- download
def _by_hand(source: DataSource, cache: Path) -> str:
    return (
        f"To place the file by hand (e.g. from a workshop USB stick): download\n"
        f"    {source.url}\n"
        f"on a machine with internet and copy it, keeping its name, to\n"
        f"    {cache / str(source.archive_name)}\n"
        f"then run this cell again (or choose NBH_PROFILE=offline)."
    )


def _verify_archive(source: DataSource, archive: Path, cache: Path) -> str:
    """Check size and SHA-256 of ``archive``; return the SHA-256."""
    digest = file_hash(archive)
    size = archive.stat().st_size
    if source.sha256 is not None and digest.lower() != source.sha256.lower():
        raise ChecksumError(
            f"The archive {archive} ({size:,} bytes) has SHA-256\n    {digest}\n"
            f"but the registry entry {source.name!r} expects\n    {source.sha256}\n"
            f"It is incomplete, corrupted or not the right file. Delete it and run again "
            f"(it will be downloaded afresh).\n" + _by_hand(source, cache)
        )
    if source.sha256 is None and source.size_bytes is not None and size != source.size_bytes:
        raise ChecksumError(
            f"The archive {archive} has {size:,} bytes, but {source.name!r} should have "
            f"{source.size_bytes:,}. Delete it and run again.\n" + _by_hand(source, cache)
        )
    return digest


def _find_layout_root(start: Path, source: DataSource) -> Path | None:
    """Find the folder holding the layout below ``start`` (or ``start`` itself)."""
    wanted = ("train", "validation") if source.layout == "train_validation" else ()
    candidates = [start]
    if source.folder:
        candidates += [start / source.folder, start.parent / source.folder]
    candidates += [p for p in sorted(start.glob("*")) if p.is_dir()] if start.is_dir() else []
    for c in candidates:
        if c.is_dir() and all((c / w).is_dir() for w in wanted):
            if wanted or any(p.is_dir() for p in c.iterdir()):
                return c
    return None


def fetch(source: str | DataSource, cfg: Config | None = None, verbose: bool = True) -> Path:
    """Make a registered data set available on disk and return its layout's root folder.

    Archives go to ``cfg.cache_dir / "datasets"`` through ``keras.utils.get_file``;
    a cached archive (or its extracted folder) is reused and never downloaded
    again.  The archive's SHA-256 is checked when the registry has one.  With no
    network, this fails at once with a message naming the URL, the cache folder
    and how to put the file there by hand.

    Keras >= 3.6 returns the extraction folder (``<name>_extracted``), older
    versions the archive's path; both are handled by looking for the layout.

    Reached through the helpers that notebook 03 calls.

    Example:
        >>> fetch("faces").name
        'faces'
    """
    cfg = cfg or current()
    src = REGISTRY[source] if isinstance(source, str) else source
    if src.url is None:
        if src.builder is None:
            raise DataError(f"registry entry {src.name!r} has neither a URL nor a builder")
        return src.builder(cfg)

    cache = Path(cfg.cache_dir) / "datasets"
    cache.mkdir(parents=True, exist_ok=True)
    stem = str(src.archive_name).split(".")[0]
    # One kernel downloads and checks at a time; a second one waits, then reuses the cache.
    with artifacts.lock(cache / f"{stem}.lock", what=f"fetching {src.name!r}"):
        return _fetch_archive(src, cfg, cache, stem, verbose)


def _fetch_archive(src: DataSource, cfg: Config, cache: Path, stem: str, verbose: bool) -> Path:
    """:func:`fetch`'s work for a data set with a URL, under its lock."""
    archive = cache / str(src.archive_name)
    done_marker = cache / f"{stem}.extracted-ok"
    # Extracted before: look in both places Keras versions extract to.
    pinned = done_marker.read_text().strip() if done_marker.is_file() else None
    if pinned and archive.is_file() and (src.sha256 is None or src.sha256.lower() == pinned) \
            and _unpacked_ok(cache / f"{stem}_extracted", pinned):
        for where in (cache / f"{stem}_extracted",):
            root = _find_layout_root(where, src)
            if root is not None:
                if verbose:
                    print(f"Using cached {src.name!r}: {root}")
                return root

    downloading = not archive.is_file()
    if not downloading:
        if verbose:
            print(f"Using cached archive {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    else:
        scheme = urllib.parse.urlsplit(src.url).scheme
        if scheme in ("http", "https"):
            host = urllib.parse.urlsplit(src.url).hostname or ""
            if not network_available(host):
                raise DownloadError(
                    f"Cannot download {src.name!r}: {host} is unreachable (no network?).\n"
                    f"    URL:          {src.url}\n    cache folder: {cache}\n"
                    + _by_hand(src, cache)
                )
        size = f"about {src.size_bytes / 1e6:.0f} MB" if src.size_bytes else "size unknown"
        if verbose:
            print(f"Downloading {src.name!r} ({size}) from {src.url}\n  into {cache}")

    import keras

    t0 = time.perf_counter()
    try:
        # file_hash is checked by us, with a message that says what to do.
        returned = keras.utils.get_file(
            fname=src.archive_name,
            origin=src.url,
            cache_dir=str(cfg.cache_dir),
            cache_subdir="datasets",
            extract=False,
        )
    except Exception as err:  # urllib, HTTP and OS errors all end up here
        raise DownloadError(
            f"Downloading {src.name!r} failed: {err}\n"
            f"    URL:          {src.url}\n    cache folder: {cache}\n" + _by_hand(src, cache)
        ) from err
    archive = Path(returned)
    try:
        digest = _verify_archive(src, archive, cache)
    except ChecksumError:
        if downloading:  # a bad download is useless: do not leave it in the cache
            archive.unlink(missing_ok=True)
        raise
    if verbose:
        print(
            f"  {archive.name}: {archive.stat().st_size / 1e6:.1f} MB in "
            f"{time.perf_counter() - t0:.1f} s; SHA-256 {digest}"
        )
        if src.sha256 is None:
            print(f"  (no checksum in the registry for {src.name!r}: pin sha256={digest!r})")

    # Unpacked where Keras >= 3.6's get_file(extract=True) would, but whole or not at
    # all and one kernel at a time (_unpack); _find_layout_root also reads older layouts.
    start = _unpack(archive, cache / f"{stem}_extracted", digest)
    root = _find_layout_root(start, src)
    if root is None:
        raise DataError(
            f"{archive} was extracted to {start}, but no folder there has the "
            f"{src.layout!r} layout ({src.folder or '<root>'}/train, /validation)."
        )
    artifacts.write_bytes(done_marker, digest + "\n")
    return root


# --------------------------------------------------------------------------- validation
#: Image modes that are converted to RGB: mode -> (problem, what happens).
_CONVERSIONS: dict[str, tuple[str, str]] = {
    "L": ("grayscale", "one channel copied to R, G and B"),
    "1": ("grayscale", "1-bit black and white -> RGB"),
    "I": ("grayscale", "32-bit grayscale -> 8-bit RGB"),
    "I;16": ("grayscale", "16-bit grayscale -> 8-bit RGB"),
    "I;16B": ("grayscale", "16-bit grayscale -> 8-bit RGB"),
    "I;16L": ("grayscale", "16-bit grayscale -> 8-bit RGB"),
    "F": ("grayscale", "floating-point grayscale -> 8-bit RGB"),
    "LA": ("grayscale", "grayscale with transparency -> RGB, alpha dropped"),
    "RGBA": ("RGBA", "transparency channel dropped"),
    "RGBa": ("RGBA", "transparency channel dropped"),
    "P": ("palette", "palette (indexed colours) -> RGB"),
    "PA": ("palette", "palette with transparency -> RGB, alpha dropped"),
    "CMYK": ("CMYK", "print colours (cyan, magenta, yellow, black) -> RGB"),
    "YCbCr": ("YCbCr", "YCbCr -> RGB"),
    "LAB": ("Lab", "Lab -> RGB"),
    "HSV": ("HSV", "HSV -> RGB"),
}

_EXIF_ORIENTATION = 0x0112

#: Readable names of the formats PIL reports (for the report's "problem" column).
_FORMAT_NAMES = {"WEBP": "WebP", "HEIF": "HEIC", "AVIF": "AVIF", "JPEG2000": "JPEG 2000",
                 "ICO": "icon", "PPM": "PPM", "TGA": "TGA", "PCX": "PCX", "PSD": "Photoshop"}

#: Files that operating systems and tools leave in folders: name -> what it is.
_CLUTTER_FILES = {
    ".DS_Store": "macOS Finder's folder settings",
    "Thumbs.db": "Windows' thumbnail cache",
    "ehthumbs.db": "Windows Media Center's thumbnail cache",
    "desktop.ini": "Windows' folder settings",
    ".localized": "macOS's folder-name translation marker",
    "Icon\r": "macOS's custom folder icon",
    ".picasa.ini": "Picasa's photo settings",
}
#: Folders of the same kind: name -> what it is.  They are reported and never entered.
_CLUTTER_DIRS = {
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

#: First bytes of common files that are not images PIL reads -> what they are.
_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"<!DOCTYPE html", "a web page (HTML), often what a failed download saves"),
    (b"<html", "a web page (HTML), often what a failed download saves"),
    (b"<svg", "an SVG (vector) drawing: export it as PNG to use it"),
    (b"ID3", "an MP3 audio file"),
)
_VIDEO_BRANDS = (b"isom", b"iso2", b"mp41", b"mp42", b"qt  ", b"M4V ", b"3gp4", b"3gp5", b"avc1",
                 b"dash", b"MSNV")
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_RAW_EXTENSIONS = (".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".srw")

#: Bump when :func:`_inspect` changes what it writes: older scan caches are then ignored.
_SCAN_VERSION = 3

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
    images are a warning, not an error: they are kept.  (:func:`prepare` uses it;
    no notebook calls it directly.)

    Example:
        >>> min_useful_side(224), min_useful_side(160), min_useful_side(64)
        (32, 32, 16)
    """
    return max(1, min(MIN_SIDE, int(image_size) // 4))


def _tf_decodes(fmt: str, mode: str, frames: int = 1) -> bool:
    """Whether ``tf.io.decode_image(..., channels=3)`` reads this file as PIL does.

    Checked against PIL in ``tests/test_data.py`` (every other case is read
    through an RGB PNG copy made by PIL): TensorFlow reads a palette BMP's
    indices as gray levels and knows no TIFF; it shows only the first frame of
    an animation, which a copy makes explicit; WebP needs TensorFlow >= 2.21.
    """
    if frames > 1 and fmt != "MPO":  # MPO: a phone JPEG with a depth map; frame 0 is the photo
        return False
    if fmt in ("JPEG", "MPO"):
        return mode in ("RGB", "L", "CMYK")
    if fmt == "BMP":
        return mode in ("RGB", "L")
    return fmt in ("PNG", "GIF")


@functools.lru_cache(maxsize=1)
def _format_extensions() -> dict[str, set[str]]:
    from PIL import Image

    by_format: dict[str, set[str]] = {}
    for ext, fmt in Image.registered_extensions().items():
        by_format.setdefault(fmt, set()).add(ext.lower())
    by_format.setdefault("JPEG", set()).update({".jpg", ".jpeg"})
    by_format["MPO"] = by_format.get("MPO", set()) | by_format["JPEG"]
    by_format.setdefault("HEIF", set()).update({".heic", ".heif", ".hif"})
    return by_format


_HEIF: list[bool] = []


def _heif_available() -> bool:
    """Register pillow-heif's opener (once) when it is installed; whether HEIC can be read."""
    if not _HEIF:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _HEIF.append(True)
        except Exception:  # not installed (the usual case) or broken: HEIC is reported
            _HEIF.append(False)
    return _HEIF[0]


def _what_is(head: bytes, ext: str) -> tuple[str, str]:
    """``(problem, detail)`` for a file PIL cannot identify, from its first bytes and name."""
    named = f"named {ext}" if ext else "no extension"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return ("unsupported",
                "HEIC/HEIF photo (the iPhone's default format): PIL reads it only with the "
                "pillow-heif plugin. Install it (pip install pillow-heif) and scan again, or "
                "export the photo as JPEG (on an iPhone: Settings > Camera > Formats > Most "
                "Compatible)")
    if head[4:8] == b"ftyp" and (head[8:12] in _VIDEO_BRANDS or ext in (".mp4", ".mov", ".m4v")):
        return "not an image", f"a video (MP4/MOV, {named}), not a still image"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"WAVE"):
        return "not an image", f"a {'video' if head[8:12] == b'AVI ' else 'sound'} file ({named})"
    start = head.lstrip()[:64].lower()
    for magic, what in _SIGNATURES:
        if head.startswith(magic) or start.startswith(magic.lower()):
            return "not an image", f"{what} ({named})"
    if ext in _RAW_EXTENSIONS:
        return "unsupported", f"a camera RAW file ({ext}): export it as JPEG or PNG to use it"
    if ext in (".heic", ".heif", ".hif"):
        return "unsupported", (f"named {ext} (HEIC) but not a HEIC image PIL can read; install "
                               "pillow-heif or export the photo as JPEG")
    if ext in (".txt", ".md", ".csv", ".json", ".xml", ".py", ".html", ".htm", ".log"):
        return "not an image", f"a text file ({ext})"
    return "not an image", f"PIL cannot identify its content ({named})"


def _row(path: Path, root: Path, status: str = "ok", problem: str = "",
         detail: str = "") -> dict[str, Any]:
    """A report row with every column, for ``path`` below ``root``."""
    rel = path.relative_to(root)
    return {
        "path": path, "file": rel.as_posix(),
        "class": rel.parts[0] if len(rel.parts) > 1 else None,
        "status": status, "problem": problem, "detail": detail,
        "format": None, "mode": None, "width": None, "height": None, "bytes": 0,
        "sha1": None, "tf_decodes": True, "link": None,
    }


def _truncated(data: bytes) -> bool:
    """Formats whose header states their length: is the file shorter than that?"""
    if data[:4] == b"RIFF" and len(data) >= 8:  # WebP (and other RIFF files)
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    return False


def _tf_decode_problem(data: bytes) -> str:
    """TensorFlow's complaint about decoding ``data`` as :func:`decode_and_resize` does, or ''."""
    import re

    import tensorflow as tf

    try:
        tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    except (tf.errors.InvalidArgumentError, ValueError) as err:
        text = getattr(err, "message", str(err))
        return re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*$", "", text).strip() or type(err).__name__
    return ""


def _inspect(path: Path, root: Path) -> dict[str, Any]:
    """One row of the report: what this (regular) file is and what will happen to it."""
    from PIL import Image, UnidentifiedImageError

    row = _row(path, root)
    ext = path.suffix.lower()

    def skip(problem: str, detail: str) -> dict[str, Any]:
        row.update(status="skipped", problem=problem, detail=detail)
        return row

    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if not head:
                return skip("empty", "zero-byte file (an interrupted copy or download?)")
            f.seek(0)
            try:
                with Image.open(f) as im:  # reads the header only
                    fmt, mode = im.format, im.mode
            except UnidentifiedImageError:
                return skip(*_what_is(head, ext))
            except Image.DecompressionBombError as err:
                return skip("too large", f"{err} Resize it (or raise PIL's Image.MAX_IMAGE_PIXELS)")
            except Exception as err:  # PIL raises many kinds on damaged headers
                if _truncated(head + f.read()):
                    return skip("truncated", "the file is shorter than its header says")
                return skip("corrupt", f"{type(err).__name__}: {err}")
            f.seek(0)
            data = f.read()
    except OSError as err:
        return skip("unreadable", f"cannot read the file: {err.strerror or err} "
                    "(check its permissions, e.g. chmod u+r, or whether it is still syncing)")
    row["bytes"] = len(data)
    row["sha1"] = hashlib.sha1(data).hexdigest()
    row.update(format=fmt, mode=mode)
    if _truncated(data):
        return skip("truncated", f"{fmt} file shorter than its header says "
                    f"({len(data):,} bytes): an interrupted copy or download")
    frames = 1
    orientation = 1
    try:
        with Image.open(io.BytesIO(data)) as im:
            row.update(width=im.width, height=im.height)
            frames = int(getattr(im, "n_frames", 1) or 1)
            im.verify()
        with Image.open(io.BytesIO(data)) as im:
            try:
                orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            except Exception:  # a damaged EXIF block is no reason to drop the pixels
                orientation = 1
            if fmt == "JPEG":
                # Decode at 1/8 scale: every byte is still read (so truncation
                # is caught), but the inverse DCT is much cheaper.
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Image.DecompressionBombError as err:
        return skip("too large", f"{err} Resize it (or raise PIL's Image.MAX_IMAGE_PIXELS)")
    except OSError as err:
        msg = str(err)
        low = msg.lower()
        if "truncated" in low or "broken data stream" in low or "premature" in low:
            return skip("truncated", f"{msg}: an interrupted copy or download")
        return skip("corrupt", f"{type(err).__name__}: {msg}")
    except Exception as err:  # decoders raise ValueError, SyntaxError, ... on bad data
        return skip("corrupt", f"{type(err).__name__}: {err}")

    row["tf_decodes"] = _tf_decodes(fmt, mode, frames)
    if row["tf_decodes"] and fmt not in ("JPEG", "MPO"):
        # PIL pads a PNG whose pixel data ends early; TensorFlow stops training on it.
        # Decoded here as the pipeline will (PIL's JPEG decoder already read every byte).
        problem = _tf_decode_problem(data)
        if problem:
            return skip("truncated", f"TensorFlow cannot decode it ({problem}): an interrupted "
                        "copy or download, or a damaged file")
    notes: list[str] = []
    details: list[str] = []

    def note(problem: str, detail: str) -> None:
        notes.append(problem)
        details.append(detail)

    if mode != "RGB":
        note(*_CONVERSIONS.get(mode, (f"mode {mode}", f"{mode} -> RGB")))
    if fmt not in SUPPORTED_FORMATS:
        name = _FORMAT_NAMES.get(fmt, fmt)
        note(name, f"{name} is read by PIL, not by TensorFlow: an RGB PNG copy is used")
    if frames > 1 and fmt != "MPO":
        what = "pages" if fmt == "TIFF" else "frames"
        note("animated" if what == "frames" else "several pages",
             f"{_FORMAT_NAMES.get(fmt, fmt)} with {frames} {what}: the first one is used")
    if orientation not in (1, 0):
        # Phones store portrait photos sideways plus an EXIF "rotate me" tag, which
        # tf.io ignores: a PIL copy, turned upright, is read instead.
        row["tf_decodes"] = False
        note("EXIF rotation", f"EXIF orientation {orientation}: turned upright")
    if not row["tf_decodes"] or mode != "RGB":
        row["status"] = "converted"
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # TensorFlow takes file names as UTF-8 strings
        row["tf_decodes"] = False
        note("odd file name", "the name is not valid UTF-8 (an old zip archive?): read "
             "through a copy; renaming the file fixes it")
        row["status"] = "converted"
    expected = _format_extensions().get(fmt, set())
    if not ext or ext not in expected:
        if not ext:
            note("no extension", f"{fmt} content in a file without an extension (read by content)")
        else:
            note("wrong extension", f"{fmt} content in a {ext} file (read by content)")
        if row["status"] == "ok":
            row["status"] = "kept"
    row.update(problem="; ".join(notes), detail="; ".join(details))
    return row


def _describe_link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _list_files(root: Path) -> tuple[list[tuple[Path, os.stat_result]], list[str], list[dict]]:
    """Files to open (with their ``stat``), the class folders, and rows for what is not opened.

    Links to files (inside or outside ``root``) are followed; links to folders,
    broken links and links that loop are reported, never followed.  Hidden files
    and folders, and the clutter operating systems leave behind, are reported
    and skipped (clutter folders are never entered).
    """
    import errno
    import stat as stat_mod

    files: list[tuple[Path, os.stat_result]] = []
    rows: list[dict[str, Any]] = []
    classes: list[str] = []

    def unreadable_folder(err: OSError) -> None:
        where = Path(err.filename) if err.filename else root
        if where == root:
            raise err
        rows.append(_row(where, root, "skipped", "unreadable",
                         f"cannot list the folder: {err.strerror or err} (check its permissions)"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable_folder):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            p = here / name
            if p.is_symlink():
                target = _describe_link(p)
                real = Path(os.path.realpath(p))
                loops = real == Path(os.path.realpath(here)) or Path(os.path.realpath(here)) \
                    .is_relative_to(real)
                why = ("it points to a folder above it, so following it would loop forever"
                       if loops else "links to folders can loop or pull in a whole drive")
                rows.append(_row(p, root, "skipped", "link to a folder",
                                 f"symbolic link to the folder {target}: not followed ({why}); "
                                 f"copy the images in, or link each file"))
            elif name in _CLUTTER_DIRS:
                rows.append(_row(p, root, "skipped", "OS clutter",
                                 f"{_CLUTTER_DIRS[name]} ({name}/): folder not read"))
            elif _is_hidden(name) or name.startswith("_"):
                rows.append(_row(p, root, "skipped", "hidden folder",
                                 f"{name}/ starts with '{name[0]}': hidden folders are not read; "
                                 "rename it to use its images"))
            else:
                keep.append(name)
        dirnames[:] = keep
        if here == root:
            classes = list(keep)
        for name in sorted(filenames):
            p = here / name
            if name in _CLUTTER_FILES:
                rows.append(_row(p, root, "skipped", "OS clutter",
                                 f"{_CLUTTER_FILES[name]} ({name!r}), not an image"))
                continue
            if name.startswith("._"):
                rows.append(_row(p, root, "skipped", "OS clutter",
                                 f"macOS AppleDouble file (the metadata of {name[2:]!r}, left by "
                                 "copying from a Mac to another disk), not an image"))
                continue
            if _is_hidden(name):
                rows.append(_row(p, root, "skipped", "hidden file",
                                 f"{name} starts with '.': hidden files are not read; rename it "
                                 "to use it"))
                continue
            link = _describe_link(p) if p.is_symlink() else None
            try:
                st = os.stat(p)
            except OSError as err:
                if link is None:
                    rows.append(_row(p, root, "skipped", "unreadable",
                                     f"cannot read the file: {err.strerror or err}"))
                elif err.errno == errno.ELOOP:
                    rows.append(_row(p, root, "skipped", "link loop",
                                     f"symbolic link to {link}, which leads (through links) back "
                                     "to itself"))
                else:
                    rows.append(_row(p, root, "skipped", "broken link",
                                     f"symbolic link to {link}, which does not exist "
                                     "(moved, deleted, or on a disk that is not mounted)"))
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                kind = ("a named pipe" if stat_mod.S_ISFIFO(st.st_mode) else
                        "a socket" if stat_mod.S_ISSOCK(st.st_mode) else "a device")
                rows.append(_row(p, root, "skipped", "not a file",
                                 f"{kind}, not a regular file"))
                continue
            files.append((p, st))
    return files, classes, rows


@dataclass
class ValidationReport:
    """What :func:`scan` found: one row per file, class counts, and what will be skipped.

    ``files`` has a row for every file or folder looked at.  ``status`` is
    ``ok``; ``converted`` (read, then turned into RGB or read through a PNG
    copy: other colour modes, formats TensorFlow does not read, animations,
    EXIF rotation); ``kept`` (used as it is, with a warning: misnamed, no
    extension, too small); or ``skipped`` (never used: ``problem`` says why,
    ``detail`` says what to do).  :attr:`table` shows only the rows worth a
    look; :attr:`conflicts` the images found in two classes at once.

    Reached through the helpers that notebook 03 calls.

    Example:
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
        for digest, file in zip(rows["sha1"], rows["file"], strict=True):
            groups.setdefault(digest, []).append(file)
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
        classes = dict(zip(self.files["file"], self.files["class"], strict=True))

        def capped(kind: str, entries: list[str]) -> list[str]:
            more = len(entries) - limit
            return entries[:limit] + ([f"  ... and {more} more {kind} (see report.table)"]
                                      if more > 0 else [])

        lines += capped("label conflicts", [
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
        # A name that is not UTF-8 must not break printing the report.
        return "\n".join(line.encode("utf-8", "backslashreplace").decode("utf-8")
                         for line in lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        head = "<br>".join(self.summary().splitlines()[:3])
        return f"<p>{head}</p>" + (self.table.to_html(index=False) if len(self.table) else "")


def _scan_cache_file(cfg: Config, root: Path) -> Path:
    """Where :func:`prepare` keeps the scan of ``root``: one file per *resolved* folder."""
    key = hashlib.sha1(str(Path(root).expanduser().resolve()).encode("utf-8",
                                                                     "surrogateescape"))
    return Path(cfg.cache_dir) / "scans" / f"{key.hexdigest()[:16]}.json"


def _scan_settings(root: Path) -> dict[str, Any]:
    """What a cached scan is valid for: the folder, this code's version, the decoders."""
    import PIL

    return {"version": _SCAN_VERSION, "root": os.fsdecode(Path(root).resolve()),
            "pillow": PIL.__version__, "heif": _heif_available()}


def _stamp(st: os.stat_result) -> list[int]:
    """What tells a changed file from an unchanged one without reading it.

    Size and modification time, plus the inode (a file replaced by another) and,
    on POSIX, the change time, which every write updates and which, unlike the
    modification time, cannot be set back (``touch -d``, ``cp -p``, sync tools).
    """
    ctime = st.st_ctime_ns if os.name != "nt" else 0
    return [int(st.st_size), int(st.st_mtime_ns), int(ctime), int(st.st_ino)]


def _load_scan_cache(path: Path | None, settings: dict[str, Any]) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a damaged cache is only a slower scan
        return {}
    if not isinstance(saved, dict) or saved.get("settings") != settings:
        return {}  # another folder, an older scan or other decoders: scan afresh
    files = saved.get("files")
    if not isinstance(files, dict):
        return {}
    # An entry that is not what _save_scan_cache writes is scanned afresh, not trusted.
    return {key: entry for key, entry in files.items() if _cached_entry_ok(key, entry)}


_STATUSES = ("ok", "kept", "converted", "skipped")


def _cached_entry_ok(key: str, entry: Any) -> bool:
    """Whether a scan-cache entry has the shape :func:`scan` writes, for the file ``key``."""
    if not (isinstance(entry, dict) and isinstance(entry.get("stamp"), list)
            and isinstance(entry.get("row"), dict)):
        return False
    row = entry["row"]
    parts = key.split("/")
    return (set(row) >= set(_COLUMNS) - {"path"} and row["file"] == key
            and row["class"] == (parts[0] if len(parts) > 1 else None)
            and row["status"] in _STATUSES
            and all(row[k] is None or (isinstance(row[k], int) and not isinstance(row[k], bool))
                    for k in ("width", "height"))
            and isinstance(row["bytes"], int) and isinstance(row["tf_decodes"], bool))


def _save_scan_cache(path: Path | None, settings: dict[str, Any],
                     entries: dict[str, Any]) -> None:
    if path is None:
        return
    artifacts.write_json(path, {"settings": settings, "files": entries})


_COLUMNS = ["path", "file", "class", "status", "problem", "detail", "format", "mode",
            "width", "height", "bytes", "sha1", "tf_decodes", "link"]


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
      :func:`prepare` passes is :func:`min_useful_side`) are kept with a warning.

    Files are checked in parallel threads (PIL releases the GIL while decoding);
    JPEGs are decoded at 1/8 scale, which still reads every byte, so a few
    thousand photos take seconds.  With ``cache_file`` (what :func:`prepare`
    passes: a file in ``cfg.cache_dir`` per resolved folder), files whose size,
    modification and change times and inode are unchanged since the last scan
    are not opened again.  ``duplicates=False`` leaves files with the same
    content unmarked (``prepare`` marks them across the halves of a data set).

    Raises:
        MissingFolderError: ``root`` does not exist or is not a folder.

    Taught in ``03_preparing_the_data``.

    Example:
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
    files, classes, listed = _list_files(root)
    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    cache_path = Path(cache_file) if cache_file is not None else None
    settings = _scan_settings(root)
    cached = _load_scan_cache(cache_path, settings)
    rows: list[dict[str, Any]] = []
    stamps, todo = [], []
    for i, (path, st) in enumerate(files):
        stamps.append(_stamp(st))
        hit = cached.get(path.relative_to(root).as_posix())
        if hit is not None and hit["stamp"] == stamps[-1]:
            rows.append({**hit["row"], "path": path})
        else:
            rows.append({})
            todo.append(i)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, row in zip(todo, pool.map(lambda p: _inspect(p, root), [files[i][0] for i in todo]),
                          strict=True):
            rows[i] = row
    if cache_path is not None and (todo or len(cached) != len(files)):
        _save_scan_cache(cache_path, settings, {
            row["file"]: {"stamp": stamp, "row": {k: v for k, v in row.items() if k != "path"}}
            for row, stamp in zip(rows, stamps, strict=True)
        })
    for row, (path, _) in zip(rows, files, strict=True):
        if path.is_symlink():
            row["link"] = os.path.realpath(path)
    rows = sorted(rows + listed, key=lambda r: r["file"])
    for row in rows:
        if row["class"] is None and row["status"] != "skipped":
            row.update(status="skipped", problem="outside a class folder",
                       detail=f"put it in {root}/<class name>/")
    _mark_small(rows, min_side)
    if duplicates:
        _mark_duplicates(rows)
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    return ValidationReport(root=root, files=frame, classes=classes,
                            seconds=time.perf_counter() - t0)


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


def _mark_duplicates(rows: list[dict[str, Any]]) -> None:
    """Files with the same content: one copy per class is kept, a label conflict keeps none.

    ``rows`` are in priority order (for a data set with halves: training first):
    of copies in one class, the first is kept and the others are skipped as
    ``duplicate``.  Copies in *different* classes are a ``label conflict``: all
    of them are skipped, since which label is right cannot be known here (and
    keeping the one whose class sorts first would be a coin toss).
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


# --------------------------------------------------------------------------- splits
#: One image of a split: its path and its label (an index into ``class_names``).
Item = tuple[Path, int]


def labels_of(items: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Integer labels of ``items``: a label array, or a list of ``(path, label)`` pairs.

    ``nbh.data.prepare(cfg).train`` is such a list; this lets the counting
    functions here and in ``nbhelpers.balance`` take either form.

    Reached through the helpers that notebook 10 calls.

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
    The one definition of class counts: :attr:`ValidationReport.class_counts`
    and ``nbhelpers.balance`` use it.

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


def digest(obj: Any) -> str:
    """A short, stable hash (16 hex digits) of anything JSON can write: what fingerprints use.

    Reached through :func:`fingerprint` and ``nbh.review`` (the digest of a review's decisions).

    Example:
        >>> digest({"b": 1, "a": [2]}) == digest({"a": [2], "b": 1}), len(digest([]))
        (True, 16)
    """
    text = json.dumps(obj, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def entry_name(path: str | Path, root: Path | None) -> str:
    """How fingerprints and review files name an image: relative to the *resolved* ``root``, POSIX.

    A file outside ``root`` (or with no root) keeps its absolute path.  Reached through
    :func:`fingerprint` and ``nbh.review``, which notebook 13 uses.

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


def _split_entries(prepared: Prepared, items: Sequence[Item]) -> list[list[Any]]:
    """``[relative path, content SHA-1, label]`` for each item, sorted."""
    known = dict(zip(prepared.report.files["path"], prepared.report.files["sha1"], strict=True))
    root = Path(prepared.root).resolve() if prepared.root is not None else None
    out = []
    for path, label in items:
        path = Path(path)
        digest = known.get(path) or hashlib.sha1(path.read_bytes()).hexdigest()
        out.append([entry_name(path, root), digest, int(label)])
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
    features and trained stages; no notebook calls it directly yet.)

    A review (:mod:`nbhelpers.review`) that relabelled or dropped images changes
    the fingerprint of all three splits together (its ``digest`` is part of it),
    and the fingerprint of each split it touched (their labels and images
    changed); a split it did not touch keeps its fingerprint, and a review of
    only "keep" decisions changes nothing.

    Example:
        >>> p = prepare(source="faces", verbose=False)
        >>> len(fingerprint(p)), fingerprint(p) == fingerprint(prepare(source="faces", verbose=False))
        (16, True)
        >>> fingerprint(p, "train") == p.split_fingerprints["train"] != fingerprint(p, "test")
        True
    """
    root = os.fsdecode(Path(prepared.root).resolve()) if prepared.root is not None else None
    head = {"root": root, "classes": list(prepared.class_names)}
    if split is not None:
        return digest({**head, "items": _split_entries(prepared, prepared.split(split))})
    review = getattr(prepared, "review", None)
    if review is not None and review.changed:  # only then: a keep-only review changes nothing
        head["review"] = review.digest
    return digest({**head, "splits": {s: fingerprint(prepared, s)
                                       for s in ("train", "val", "test")}})


@dataclass
class Prepared:
    """Validated, split file lists: what :func:`make_datasets` and :func:`load_split` read.

    ``train``, ``val`` and ``test`` are lists of ``(path, label)``;
    ``class_names`` is sorted and ``label`` indexes it.  ``report`` is the
    :class:`ValidationReport` (``report.table`` is the table of skipped and
    converted files).  ``readable`` maps the files TensorFlow cannot decode
    (e.g. TIFF, 1-bit BMP, EXIF-rotated photos) to an RGB PNG copy in the cache.
    :attr:`fingerprint` and :attr:`split_fingerprints` identify the data (for
    cache keys).  ``review`` is the :class:`nbhelpers.review.ReviewSummary` of
    the decisions (relabel, drop, keep) applied to the splits, or None when no
    review file was read.

    Reached through the helpers that notebook 03 calls.

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
        """:func:`fingerprint` of all three splits: changes whenever the data do."""
        return fingerprint(self)

    @property
    def split_fingerprints(self) -> dict[str, str]:
        """``{"train": ..., "val": ..., "test": ...}``: :func:`fingerprint` of each split."""
        return {s: fingerprint(self, s) for s in ("train", "val", "test")}

    def split(self, name: str) -> list[Item]:
        """The list for ``"train"``, ``"val"`` (or ``"validation"``) or ``"test"``."""
        key = _split_field(name)
        if key not in ("train", "val", "test"):
            raise ValueError(f"unknown split {name!r}: use 'train', 'val' or 'test'")
        return getattr(self, key)

    def sizes(self) -> pd.DataFrame:
        """Images per split and class (rows: splits, columns: classes, plus a total)."""
        import pandas as pd

        data = {
            s: Counter(self.class_names[y] for _, y in self.split(s))
            for s in ("train", "val", "test")
        }
        frame = pd.DataFrame(data).T.reindex(columns=self.class_names).fillna(0).astype(int)
        frame["total"] = frame.sum(axis=1)
        return frame

    def __repr__(self) -> str:
        return (
            f"Prepared(source={self.source!r}, classes={self.class_names}, "
            f"train={len(self.train)}, val={len(self.val)}, test={len(self.test)})"
        )


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

    Reached through the helpers that notebook 03 calls.

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
    for item in sorted(items, key=lambda it: (it[1], str(it[0]))):
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
        rng = np.random.default_rng([seed, label])
        order = rng.permutation(n)
        n_val = max(1, round(n * val_f)) if val_f > 0 else 0
        n_test = max(1, round(n * test_f)) if test_f > 0 else 0
        while n - n_val - n_test < 1:  # keep at least one training image
            if n_val >= n_test and n_val > 1:
                n_val -= 1
            else:
                n_test -= 1
        shuffled = [group[i] for i in order]
        val += shuffled[:n_val]
        test += shuffled[n_val:n_val + n_test]
        train += shuffled[n_val + n_test:]
    return train, val, test


def _subsample(items: list[Item], fractions: dict[int, float], seed: int, salt: int) -> list[Item]:
    """Keep ``fractions[label]`` of each class (at least 1), chosen with a seeded generator."""
    out: list[Item] = []
    for label in sorted({y for _, y in items}):
        group = sorted((it for it in items if it[1] == label), key=lambda it: str(it[0]))
        frac = fractions.get(label, 1.0)
        if frac >= 1:
            out += group
            continue
        k = max(1, round(len(group) * frac))
        rng = np.random.default_rng([seed, salt, label])
        keep = sorted(rng.choice(len(group), size=k, replace=False))
        out += [group[i] for i in keep]
    return out


def _cap_fractions(items: Iterable[Item], cap: int) -> dict[int, float]:
    """Per class, the fraction that leaves at most ``cap`` images."""
    total = Counter(y for _, y in items)
    return {label: min(1.0, cap / n) for label, n in total.items()}


def check_splits(prepared: Prepared) -> None:
    """Raise :class:`DuplicateImageError` when one image (by content) is in two splits.

    :func:`prepare` drops duplicates before splitting, so this guards lists
    built or edited by hand -- a leaked test image makes every test number a lie.

    Reached through the helpers that notebook 03 calls.

    Example:
        >>> check_splits(prepare(source="faces", verbose=False)) is None
        True
    """
    known = dict(zip(prepared.report.files["path"], prepared.report.files["sha1"], strict=True))
    where: dict[str, tuple[str, Path]] = {}
    for split in ("train", "val", "test"):
        for path, _ in prepared.split(split):
            digest = known.get(Path(path)) or hashlib.sha1(Path(path).read_bytes()).hexdigest()
            if digest in where and where[digest][0] != split:
                other_split, other = where[digest]
                raise DuplicateImageError(
                    f"The same image is in two splits: {other} ({other_split}) and "
                    f"{path} ({split}). Evaluating on an image the model trained on "
                    f"inflates the score; remove one of the two files and prepare again."
                )
            where.setdefault(digest, (split, Path(path)))


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


def _to_rgb(im: Any) -> Any:
    """A PIL image as 8-bit RGB, upright: what TensorFlow would see, for every mode.

    ``convert("RGB")`` clips 16- and 32-bit grayscale at 255 (a white image);
    they are scaled instead: 16-bit values keep their high byte (as
    TensorFlow's PNG decoder does), 32-bit integers are treated as 16-bit when
    they fit, else scaled by their maximum, floats in [0, 1] are scaled by 255.
    """
    from PIL import Image, ImageOps

    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I") or im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        top = float(a.max()) if a.size else 0.0
        if im.mode.startswith("I;16") or (im.mode == "I" and 255 < top <= 65535):
            a = a / 257.0
        elif im.mode == "I" and top > 65535:
            a = a * (255.0 / top)
        elif im.mode == "F" and top <= 1.0:
            a = a * 255.0
        gray = np.clip(np.round(a), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    return im.convert("RGB")


def _pil_copies(report: ValidationReport, cache: Path) -> dict[Path, Path]:
    """RGB PNG copies, in ``cache``, of usable files TensorFlow cannot decode (or turn) itself.

    A file that cannot be converted after all (deleted or changed since the
    scan, disk full) is marked skipped in ``report`` with the reason, instead
    of stopping :func:`prepare`.
    """
    from PIL import Image

    _heif_available()  # register the HEIC opener, when installed, in this process too
    files = report.files
    need = files[(files["status"] != "skipped") & ~files["tf_decodes"].astype(bool)]
    out: dict[Path, Path] = {}
    for index, path, digest in zip(need.index, need["path"], need["sha1"], strict=True):
        # "v2": copies made before 16-bit images were scaled (not clipped) are not reused.
        target = cache / "converted" / f"{digest}-v2.png"
        try:
            if not _whole_png(target):  # absent, or cut short by something outside the course
                with Image.open(path) as im:
                    rgb = _to_rgb(im)
                artifacts.write_with(target, lambda tmp, im=rgb: im.save(tmp, format="PNG"))
        except Exception as err:  # noqa: BLE001 - reported, never raised
            files.loc[index, ["status", "problem", "detail"]] = [
                "skipped", "conversion failed",
                f"{type(err).__name__}: {err} (changed or deleted since the scan? run again)"]
            continue
        out[Path(path)] = target
    return out


def resolve_source(cfg: Config | None = None,
                   source: str | Path | None = None) -> tuple[str, str | Path]:
    """Which data source :func:`prepare` reads for ``source``: ``(name, source)``.

    ``source=None`` means ``$NBH_DATA_SOURCE`` when it is set (your folder, for
    every notebook), else the profile's data set (``cfg.dataset``).  ``name``
    is the registry name of a registered data set (``source`` is then that name
    too), else ``"folder"``: ``source`` is a folder or archive of your own, as
    given (:func:`folder_layout` finds its root).  Nothing is read or downloaded.

    Reached through the helpers that notebooks 03 and 13 call.

    Example:
        >>> resolve_source(source="faces")
        ('faces', 'faces')
        >>> resolve_source(source="~/my_photos")
        ('folder', '~/my_photos')
    """
    cfg = cfg or current()
    if source is None:
        source = (os.environ.get("NBH_DATA_SOURCE") or "").strip() or cfg.dataset
    if isinstance(source, str) and source in REGISTRY:
        return source, source
    return "folder", source


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
    :func:`folder_layout` says which it found); ``None`` means
    ``$NBH_DATA_SOURCE`` when set (so every notebook uses your folder), else
    the profile's data set.  Splits are stratified and seeded by ``cfg.seed``:
    one folder per class is split three ways (``val_fraction``,
    ``test_fraction``); data that come split keep their splits -- with no test
    folder the validation half is split evenly into validation and test (as for
    ``cats_and_dogs``), with no validation folder ``val_fraction`` of the
    training images validates.
    ``max_images_per_class`` (default: the profile's) keeps a stratified,
    seeded subset of each class before splitting.  Duplicate files (same
    bytes) are kept once, so no image is in two splits; an image found in two
    classes (a label conflict) is not used at all.  Odd files are reported and
    skipped, or read through a PNG copy (see :func:`scan`); images smaller than
    :func:`min_useful_side` of ``cfg.image_size`` get a warning.

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
    notes: list[str] = []
    if isinstance(source, str) and source in REGISTRY:
        entry = REGISTRY[name]
        root = fetch(entry, cfg, verbose=verbose)
        halves = ({"train": root / "train", "validation": root / "validation"}
                  if entry.layout == "train_validation" else {})
    else:
        layout = folder_layout(source, cfg)
        root, halves, notes = layout.root, layout.splits, layout.notes
    if verbose:
        for note in notes:
            print(f"note: {note}")

    min_side = min_useful_side(cfg.image_size)
    cache = Path(cfg.cache_dir)
    if halves:
        parts = {role: scan(folder, cache_file=_scan_cache_file(cfg, folder),
                            duplicates=False, min_side=min_side)
                 for role, folder in halves.items()}
        # Training copies come first, so a duplicate leaves the validation or test half.
        rows = {role: rep.files.to_dict("records") for role, rep in parts.items()}
        for role, part_rows in rows.items():
            for row in part_rows:
                row["file"] = f"{role}/{row['file']}"
        _mark_duplicates([row for part_rows in rows.values() for row in part_rows])
        for role, rep in parts.items():
            for row in rows[role]:
                row["file"] = row["file"].split("/", 1)[1]
            rep.files = type(rep.files)(rows[role], columns=rep.files.columns)
        readable = {k: v for rep in parts.values() for k, v in _pil_copies(rep, cache).items()}
        classes = _check_classes(parts["train"], allow_empty_classes)
        for role, rep in parts.items():
            if role != "train":
                _check_split_classes(rep, role, classes, halves)
        report = _merge_reports(root, {folder.relative_to(root).as_posix(): parts[role]
                                       for role, folder in halves.items()})
    else:
        report = scan(root, cache_file=_scan_cache_file(cfg, root), min_side=min_side)
        readable = _pil_copies(report, cache)
        classes = _check_classes(report, allow_empty_classes)
    label_of = {c: i for i, c in enumerate(classes)}

    def items(rep: ValidationReport) -> list[Item]:
        use = rep.usable[rep.usable["class"].isin(classes)]
        return [(Path(p), label_of[c]) for p, c in zip(use["path"], use["class"], strict=True)]

    seed = int(cfg.seed)
    if halves:
        pools = {role: items(rep) for role, rep in parts.items()}
        if cap is not None:  # the same fraction of every split: their ratio is kept
            frac = _cap_fractions([it for pool in pools.values() for it in pool], cap)
            pools = {role: _subsample(pool, frac, seed, salt)
                     for salt, (role, pool) in enumerate(pools.items(), start=1)}
        if "validation" in pools and "test" in pools:
            train, val, test = pools["train"], pools["validation"], pools["test"]
        elif "validation" in pools:
            # The validation half is cut in two, stratified: one half validates, one tests.
            train = pools["train"]
            test, val, _ = split_files(pools["validation"], (0.5, 0.0), seed,
                                       class_names=classes)
        else:
            # A test folder but no validation folder: validation comes out of training.
            train, val, _ = split_files(pools["train"], (val_fraction, 0.0), seed,
                                        class_names=classes)
            test = pools["test"]
        train, val, test = (sort_items(s) for s in (train, val, test))
    else:
        pool = items(report)
        if cap is not None:
            pool = _subsample(pool, _cap_fractions(pool, cap), seed, 0)
        train, val, test = split_files(pool, (val_fraction, test_fraction), seed,
                                       class_names=classes)
        train, val, test = (sort_items(s) for s in (train, val, test))

    prepared = Prepared(
        train=train, val=val, test=test, class_names=list(classes), report=report,
        source=name, root=root, seed=seed,
        readable=readable,
    )
    if review is not None:  # after the splits: each image keeps the split it had
        from . import review as reviews

        auto = isinstance(review, str) and review == "auto"
        file = reviews.review_path(cfg, prepared) if auto else Path(review).expanduser()
        if not auto or file.exists():  # a path of your own: no decisions in it yet is fine
            prepared = reviews.apply(prepared, file)[0]
    check_splits(prepared)
    if not verbose and prepared.review is not None and (
            prepared.review.changed or prepared.review.problems):
        # Even a quiet prepare says that a review changed the data (or ignored decisions).
        print(prepared.review.report())
    if verbose:
        print(report.summary())
        if prepared.review is not None:
            print(prepared.review.report())
        sizes = prepared.sizes()["total"]
        print(f"splits: train {sizes['train']}, validation {sizes['val']}, test {sizes['test']}"
              f" (stratified, seed {seed})")
    return prepared


def sort_items(items: Iterable[Item]) -> list[Item]:
    """Items in the order every split keeps: by label, then by path.

    Reached through :func:`prepare` and ``nbh.review.apply`` (which re-sorts a reviewed split).

    Example:
        >>> sort_items([(Path("b.png"), 1), (Path("z.png"), 0), (Path("a.png"), 1)])
        [(PosixPath('z.png'), 0), (PosixPath('a.png'), 1), (PosixPath('b.png'), 1)]
    """
    return sorted(items, key=lambda item: (item[1], str(item[0])))


def _merge_reports(root: Path, parts: dict[str, ValidationReport]) -> ValidationReport:
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


# --------------------------------------------------------------------------- your folder's layout
#: Folder names (lower case; spaces and dashes read as ``_``) that name a split, not a
#: class: ``root/train/<class>/...`` is a data set that comes already split.
SPLIT_FOLDER_NAMES: dict[str, str] = {
    **dict.fromkeys(("train", "training", "train_set", "training_set", "trainset",
                     "training_data", "train_data"), "train"),
    **dict.fromkeys(("val", "valid", "validation", "dev", "val_set", "valid_set",
                     "validation_set", "validation_data", "val_data"), "validation"),
    **dict.fromkeys(("test", "testing", "test_set", "testset", "test_data", "testing_data",
                     "testing_set"), "test"),
}
#: Endings of archives that :func:`folder_layout` extracts (your folder, zipped).
ARCHIVE_EXTENSIONS: tuple[str, ...] = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2",
                                       ".tbz2", ".tar.xz", ".txz")
_IMAGE_ENDINGS = (*SUPPORTED_EXTENSIONS, ".tif", ".tiff", ".webp", ".heic", ".heif", ".avif")


@dataclass
class Layout:
    """How a folder of your own is laid out, as :func:`folder_layout` found it.

    ``root`` is the folder that holds the data (after extracting an archive and
    stepping into a lone wrapper folder); ``splits`` is empty for one folder
    per class (``root/<class>/...``, split three ways by :func:`prepare`) and
    maps ``"train"``, ``"validation"``, ``"test"`` to their folders for a data
    set that comes already split (``root/train/<class>/...``); ``notes`` says,
    in words, each decision taken.

    Reached through the helpers that notebook 03 calls.

    Example:
        >>> Layout(Path("photos")).describe()
        'one folder per class in photos'
    """

    root: Path
    splits: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line: which layout, and where."""
        if not self.splits:
            return f"one folder per class in {self.root}"
        parts = ", ".join(f"{role} = {p.relative_to(self.root).as_posix()}/"
                          for role, p in self.splits.items())
        return f"already split in {self.root}: {parts}"


def _visible_folders(folder: Path) -> list[Path]:
    """Sub-folders :func:`scan` would read (no links, hidden folders or OS clutter)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.is_dir() and not p.is_symlink() and p.name not in _CLUTTER_DIRS
            and not _is_hidden(p.name) and not p.name.startswith("_")]


def _has_images(folder: Path) -> bool:
    """Whether image-looking files lie directly in ``folder`` (by their ending; cheap)."""
    try:
        return any(p.suffix.lower() in _IMAGE_ENDINGS and not _is_hidden(p.name)
                   for p in folder.iterdir() if p.is_file())
    except OSError:
        return False


def _step_into_wrappers(folder: Path, notes: list[str], what: str,
                        into_splits: bool = True) -> Path:
    """Step into a lone sub-folder while ``folder`` holds nothing else (an unzipped wrapper).

    With ``into_splits=False`` a lone folder named like a split (``train/``) is
    not stepped into: :func:`folder_layout` reads it as a split.
    """
    for _ in range(64):  # any depth a real folder has; a loop of links is never followed
        inner = _visible_folders(folder)
        if len(inner) != 1 or _has_images(folder) or not _visible_folders(inner[0]):
            break
        if not into_splits and _split_role(inner[0].name) is not None:
            break
        notes.append(f"{what} {folder} holds only the folder {inner[0].name!r} (and no images): "
                     f"reading {inner[0]} instead")
        folder = inner[0]
    return folder


def _split_role(name: str) -> str | None:
    return SPLIT_FOLDER_NAMES.get(name.strip().lower().replace("-", "_").replace(" ", "_"))


#: The most an archive may expand (declared size over archive size): beyond it, a "zip bomb".
MAX_EXPANSION = 100


def _declared_size(archive: Path) -> int:
    """Bytes the archive's members say they hold (a tar.gz is read through once for this)."""
    import tarfile
    import zipfile

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return sum(i.file_size for i in z.infolist())
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            return sum(m.size for m in t.getmembers() if m.isfile())
    raise DataError(
        f"{archive} ends like an archive but is neither a zip nor a tar file (damaged, or only "
        "partly downloaded?). Download it again, or unpack it yourself and pass the folder.")


def _check_room(archive: Path, dest: Path) -> None:
    """Refuse an archive that would fill the disk, or that expands suspiciously much."""
    import shutil

    declared = _declared_size(archive)
    packed = max(1, archive.stat().st_size)
    if declared > MAX_EXPANSION * packed + (1 << 20):
        raise DataError(
            f"{archive} says it unpacks to {declared / 1e6:,.0f} MB from {packed / 1e6:,.1f} MB "
            f"(over {MAX_EXPANSION}x: not a folder of photos, or a 'zip bomb'). Unpack it "
            "yourself if you trust it, and pass the folder.")
    free = shutil.disk_usage(dest.parent).free
    if declared * 1.05 + (16 << 20) > free:
        raise DataError(
            f"Not enough space to unpack {archive.name}: it needs about {declared / 1e6:,.0f} MB "
            f"and the disk holding {dest.parent} has {free / 1e6:,.0f} MB free. Free some space, "
            "or point NBH_DATA_DIR at a bigger disk, and run again.")


def _tree_size(folder: Path) -> tuple[int, int]:
    """(files, bytes) below ``folder``, the ``.extracted-ok`` marker left out."""
    n = size = 0
    for p in folder.rglob("*"):
        if p.name != ".extracted-ok" and p.is_file():
            n, size = n + 1, size + p.stat().st_size
    return n, size


def _unpacked_ok(dest: Path, digest: str) -> bool:
    """Whether ``dest`` holds, whole, what :func:`_unpack` extracted from the archive ``digest``."""
    marker = artifacts.read_json(dest / ".extracted-ok")
    if not marker or marker.get("digest") != digest:
        return False
    return [marker.get("files"), marker.get("bytes")] == list(_tree_size(dest))


def _unpack(archive: Path, dest: Path, digest: str) -> Path:
    """Extract ``archive`` to ``dest`` whole or not at all, one process at a time.

    Under a lock (``<dest>.lock``), into a staging folder of this process's own,
    with the ``.extracted-ok`` marker written inside before one rename publishes
    it: a killed run leaves only a staging folder (removed by the next run), and
    a second kernel waits, then uses the first one's folder.
    """
    import shutil
    import tarfile
    import zipfile

    with artifacts.lock(dest.with_name(dest.name + ".lock"), what=f"unpacking {archive.name}"):
        if _unpacked_ok(dest, digest):
            return dest  # another kernel unpacked it while we waited
        if dest.exists():
            print(f"The unpacked copy {dest} is not whole (files missing or changed): "
                  f"unpacking {archive.name} again.")
        artifacts.remove_stale(dest.parent, dest.name, older_than_s=0)  # killed runs' leftovers
        try:
            _check_room(archive, dest)
            staged = artifacts.staging_folder(dest)
        except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as err:
            raise DataError(f"Could not read {archive}: {type(err).__name__}: {err}. It is "
                            "damaged or only partly downloaded: download it again, or unpack it "
                            "yourself and pass the folder.") from err
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z:
                    z.extractall(staged)  # names with .. or absolute paths are made safe
            else:
                with tarfile.open(archive) as t:
                    t.extractall(staged, filter="data")  # no links out, no absolute paths
            files, size = _tree_size(staged)
            (staged / ".extracted-ok").write_text(json.dumps(
                {"digest": digest, "files": files, "bytes": size}))
            artifacts.publish_folder(staged, dest)
        except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as err:
            shutil.rmtree(staged, ignore_errors=True)
            if isinstance(err, tarfile.FilterError):
                raise DataError(f"{archive} holds a link or path that points outside it "
                                f"({err}): refused, for safety. Unpack it yourself if you trust "
                                "it, and pass the folder.") from err
            if artifacts.is_disk_full(err):
                raise DataError(f"The disk filled up while unpacking {archive.name} into "
                                f"{dest.parent}: free some space (or point NBH_DATA_DIR at a "
                                "bigger disk) and run again. Nothing half-unpacked was kept.") from err
            raise DataError(f"Could not unpack {archive}: {type(err).__name__}: {err}. It is "
                            "damaged or only partly downloaded: download it again, or unpack "
                            "it yourself and pass the folder.") from err
    return dest


def _extract_archive(archive: Path, cfg: Config) -> Path:
    """Extract an archive of your images once into the cache (keyed by its content's SHA-1)."""
    digest = file_hash(archive, "sha1")[:16]
    stem = archive.name
    for ext in ARCHIVE_EXTENSIONS:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    dest = Path(cfg.cache_dir) / "your_archives" / f"{stem}-{digest}"
    if _unpacked_ok(dest, digest):
        return dest
    return _unpack(archive, dest, digest)


def check_source(source: str | Path) -> None:
    """Refuse, with what is meant or supported, a data source that cannot be read.

    A registered name passes; so does a folder or archive that exists.  A web
    address, a near miss of a registered name (``cats-and-dogs``) and a path
    that does not exist raise :class:`MissingFolderError`, naming
    ``NBH_DATA_SOURCE`` when the value came from it.  ``nbh.setup()`` calls
    this for ``NBH_DATA_SOURCE``, :func:`folder_layout` for its argument.

    Example:
        >>> check_source("faces")
        >>> check_source("https://example.org/photos.zip")
        Traceback (most recent call last):
        ...
        nbhelpers.data.MissingFolderError: 'https://example.org/photos.zip' is a web address; ...
    """
    import difflib

    text = os.fspath(source)
    if text in REGISTRY:
        return
    via = " (NBH_DATA_SOURCE)" if os.environ.get("NBH_DATA_SOURCE") == text else ""
    scheme = urllib.parse.urlsplit(text).scheme
    if scheme == "file":
        raise MissingFolderError(
            f"{text!r}{via} is a file:// address; pass the path itself "
            f"({urllib.parse.unquote(urllib.parse.urlsplit(text).path)!r}).")
    if scheme in ("http", "https", "ftp", "s3", "gs"):
        raise MissingFolderError(
            f"{text!r}{via} is a web address; the course reads folders and archives on this "
            "computer. Download the archive, then pass its path (a .zip or .tar.gz works as "
            f"it is), or register it as a data set with its URL (nbh.data.register). "
            f"Registered: {', '.join(REGISTRY)}.")
    from .config import expand_setting

    path = expand_setting(text, "NBH_DATA_SOURCE" if via else "the data source")
    if path.exists():
        return
    near = difflib.get_close_matches(text.strip().lower(), list(REGISTRY), n=1, cutoff=0.75)
    if near:
        raise MissingFolderError(
            f"{text!r}{via} is neither a folder nor a registered data set; did you mean "
            f"{near[0]!r}? Registered: {', '.join(REGISTRY)}.")
    raise MissingFolderError(
        f"The data folder {str(path)!r}{via} does not exist. Expected one folder per class inside it "
        f"({path}/<class name>/<image files>), a folder already split into train/ and "
        f"validation/ (and test/), or a .zip of either; or a registered data set "
        f"({', '.join(REGISTRY)}).")


def folder_layout(source: str | Path, cfg: Config | None = None) -> Layout:
    """Find how a folder of your own images is laid out (what :func:`prepare` reads).

    Three things real folders do are recognised, each said in ``notes``:

    - **an archive** (``.zip``, ``.tar.gz``, ...): extracted once into
      ``cfg.cache_dir/your_archives/<name>-<SHA-1>/`` (a changed archive gets a
      new folder, so a stale copy is never read);
    - **a wrapper folder**: a folder that holds only one folder (what unzipping
      often gives) is stepped into;
    - **already split**: when every folder inside is a split's name (``train``,
      ``training_set``, ``val``, ``validation``, ``test``, ..., any case) and
      holds class folders, the splits are kept as given -- reading ``train`` and
      ``test`` as two *classes* would teach the model nothing but where a file
      was stored.

    Anything else is one folder per class: ``root/<class>/...``.

    Raises:
        MissingFolderError: ``source`` does not exist.
        DataError: an archive that cannot be read; two folders for one split;
            split folders whose images sit in no class folder (labels cannot be read).

    Reached through the helpers that notebook 03 calls.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for split, cls in [("train", "cat"), ("train", "dog"), ("val", "cat"), ("val", "dog")]:
        ...     (root / "photos" / split / cls).mkdir(parents=True)
        >>> layout = folder_layout(root)
        >>> layout.root.name, sorted(layout.splits)
        ('photos', ['train', 'validation'])
    """
    cfg = cfg or current()
    check_source(source)
    path = Path(source).expanduser()
    notes: list[str] = []
    if not path.exists():  # a registered name is no folder: prepare(cfg, name) reads it
        raise MissingFolderError(f"No folder {path}: for the registered data set {source!r}, "
                                 f"call nbh.data.prepare(cfg, {os.fspath(source)!r}).")
    if path.is_file():
        if not path.name.lower().endswith(ARCHIVE_EXTENSIONS):
            raise MissingFolderError(
                f"{path} is a file, not a folder. Pass the folder that holds one folder per "
                f"class, or a .zip / .tar.gz archive of it.")
        root = _extract_archive(path, cfg)
        notes.append(f"extracted the archive {path.name} into {root}")
    else:
        root = path
    root = _step_into_wrappers(root, notes, "the data folder", into_splits=False)
    top = _visible_folders(root)
    roles = {p: _split_role(p.name) for p in top}
    if not top or any(r is None for r in roles.values()) or "train" not in roles.values():
        return Layout(root, {}, notes)
    splits: dict[str, Path] = {}
    for folder, role in roles.items():
        assert role is not None
        inner = _step_into_wrappers(folder, notes, "the split folder")
        if role in splits:
            raise DataError(
                f"{root} has two folders for the {role} split: {splits[role].name}/ and "
                f"{folder.name}/. Merge them, or rename one so that its role is clear.")
        splits[role] = inner
    flat = [role for role, p in splits.items() if not _visible_folders(p)]
    if flat:
        # Reading them as classes would teach the model where a file was stored.
        names = ", ".join(f"{p.name}/" for p in splits.values())
        raise DataError(
            f"{root} holds {names}: folders named like splits, but "
            + ", ".join(f"{splits[r].name}/" for r in flat)
            + (" hold" if len(flat) > 1 else " holds")
            + " images without class folders. The course reads each image's label from "
            "the name of its folder: put the images in <split>/<class name>/ (for example "
            f"{splits[flat[0]]}/<class name>/), or, if the labels sit in a spreadsheet, sort the "
            "images into one folder per class first. If these folder names really are your "
            "class names, rename them (for example 'train' -> 'trains').")
    if list(splits) == ["train"]:
        notes.append(f"{root} holds only a training folder: it is split three ways as one "
                     "folder per class")
        return Layout(splits["train"], {}, notes)
    order = [r for r in ("train", "validation", "test") if r in splits]
    notes.append("the data come already split ("
                 + ", ".join(f"{splits[r].relative_to(root).as_posix()}/ -> {r}" for r in order)
                 + "): the splits are kept as given")
    return Layout(root, {r: splits[r] for r in order}, notes)


# --------------------------------------------------------------------------- pipelines
def read_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """Read one image with PIL as RGB ``uint8`` (optionally resized to ``size`` x ``size``).

    The plain, one-at-a-time way of loading: what the tf.data pipeline is
    compared with in notebook 03 and ``benchmarks/bench_pipeline.py``.  Reads
    every format PIL reads; EXIF-rotated photos come upright, 16-bit images
    are scaled to 8 bits (not clipped), an animation gives its first frame.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> read_image(write_faces() / "face" / "face_000.png", size=32).shape
        (32, 32, 3)
    """
    from PIL import Image

    _heif_available()
    with Image.open(path) as im:
        im = _to_rgb(im)
        if size is not None:
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def decode_and_resize(path: tf.Tensor | str, image_size: int) -> tf.Tensor:
    """Read, decode (JPEG, PNG, GIF, BMP by content) and resize one image: ``uint8 (S, S, 3)``.

    ``tf.io.decode_image`` with ``channels=3`` turns grayscale, RGBA, CMYK and
    palette images into RGB; an animated GIF gives its first frame.  The
    result is rounded back to ``uint8`` so that the cache holds a quarter of
    the bytes float32 would need.

    Taught in ``12_using_your_model``.

    Example:
        >>> p = str(write_faces() / "face" / "face_000.png")
        >>> x = decode_and_resize(p, 32); tuple(x.shape), x.dtype.name
        ((32, 32, 3), 'uint8')
    """
    import tensorflow as tf

    data = tf.io.read_file(path)
    img = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    img.set_shape([None, None, 3])
    img = tf.image.resize(img, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)


def augmentation(cfg: Config | None = None, *, rotation: float = 0.1, zoom: float = 0.1,
                 contrast: float = 0.1, seed: int | None = None) -> keras.Sequential:
    """Random flip, rotation, zoom and contrast as Keras preprocessing layers.

    The layers change images only when called with ``training=True`` (as
    ``model.fit`` does, or :func:`make_datasets` for the training split); in
    inference they pass images through unchanged.  Inputs and outputs are
    float32 RGB in ``[0, 255]``.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> aug = augmentation(seed=1)
        >>> x = np.full((1, 8, 8, 3), 100.0, "float32")
        >>> bool((aug(x, training=False) == x).numpy().all())
        True
    """
    import keras

    cfg = cfg or current()
    seed = cfg.seed if seed is None else seed
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed + 3),
        ],
        name="augmentation",
    )


def _paths_and_labels(prepared: Prepared, items: Sequence[Item]) -> tuple[list[str], list[int]]:
    paths = [str(prepared.readable.get(Path(p), p)) for p, _ in items]
    return paths, [int(y) for _, y in items]


def dataset(
    prepared: Prepared,
    split: str,
    cfg: Config | None = None,
    *,
    training: bool | None = None,
    augment: bool | keras.Layer = False,
    cache: bool = True,
    prefetch: bool = True,
    parallel: bool = True,
    batch_size: int | None = None,
) -> tf.data.Dataset:
    """One split as a ``tf.data.Dataset`` of ``(float32 images (B, S, S, 3), int32 labels (B,))``.

    The order of the steps matters: decode and resize in parallel -> cache the
    decoded ``uint8`` images (the expensive part is done once) -> shuffle
    (training only, seeded) -> batch -> convert to float32 -> random
    augmentation (training only, *after* the cache, so each epoch sees new
    variants) -> prefetch (the next batch is prepared while the model trains
    on this one).  ``cache``, ``prefetch`` and ``parallel`` can be switched off
    to measure what each one buys.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> p = prepare(source="faces", verbose=False)
        >>> x, y = next(iter(dataset(p, "val", batch_size=4)))
        >>> tuple(x.shape), x.dtype.name, y.dtype.name
        ((4, 64, 64, 3), 'float32', 'int32')
    """
    import tensorflow as tf

    cfg = cfg or current()
    items = prepared.split(split)
    if not items:
        raise DataError(f"the {split!r} split is empty")
    training = (split == "train") if training is None else training
    paths, labels = _paths_and_labels(prepared, items)
    size = int(cfg.image_size)
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(paths, tf.string), tf.constant(labels, tf.int32))
    )
    par = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True} if parallel else {}
    ds = ds.map(lambda p, y: (decode_and_resize(p, size), y), **par)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(len(items), seed=int(cfg.seed), reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size or cfg.batch_size))
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), **par)
    if augment is not False and training:
        layer = augmentation(cfg) if augment is True else augment
        # Sequential on purpose: the layers' seeded random state then advances
        # in the same order every run, so a seed gives the same augmentations.
        ds = ds.map(lambda x, y: (layer(x, training=True), y))
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    if augment is False or not training:  # fresh augmentation: no two epochs hold the same data
        # The split as it is now (a list edited later is another pipeline's business), and
        # its order: the fingerprint is of the files whatever their order, the features not.
        frozen = dataclasses.replace(prepared, **{_split_field(split): list(items)})
        order = hashlib.sha1("\n".join(paths).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        _remember_origin(ds, f"{fingerprint(prepared, split)}{size}o{order}",
                         lambda batch: _in_order(frozen, split, cfg, batch))
    return ds


def _split_field(split: str) -> str:
    """The :class:`Prepared` field a split's name means (``"validation"`` is ``val``)."""
    return {"validation": "val"}.get(split, split)


def _in_order(prepared: Prepared, split: str, cfg: Config, batch_size: int) -> tf.data.Dataset:
    """The split's images in the order of its list: unshuffled, unaugmented, uncached."""
    return dataset(prepared, split, cfg, training=False, cache=False, batch_size=batch_size)


_ORIGINS: dict[int, tuple[Any, str, Callable[[int], Any]]] = {}


def _remember_origin(ds: Any, ident: str, in_order: Callable[[int], Any]) -> None:
    import weakref

    key = id(ds)
    _ORIGINS[key] = (weakref.ref(ds, lambda _: _ORIGINS.pop(key, None)), ident, in_order)


def origin(ds: Any) -> str | None:
    """The fingerprint of the files a pipeline made by :func:`dataset` holds, else None.

    ``None`` for pipelines made otherwise, and for augmented training
    pipelines (each epoch holds other images).  The feature cache keys on it,
    so features of another folder, or of a changed image, are never read.

    Example:
        >>> p = prepare(source="faces", verbose=False)
        >>> origin(dataset(p, "val")) == origin(dataset(p, "val")) != origin(dataset(p, "test"))
        True
        >>> origin(dataset(p, "train", augment=True)) is None
        True
    """
    entry = _ORIGINS.get(id(ds))
    if entry is None or entry[0]() is not ds:
        return None
    return entry[1]


def ordered(ds: Any, batch_size: int = 64) -> tf.data.Dataset | None:
    """The images of a pipeline made by :func:`dataset`, in the order of the split's list; else None.

    Unshuffled, unaugmented and uncached, in batches of ``batch_size``: the same
    ``(float32 images, int32 labels)`` as :func:`load_split` holds, batch by batch.
    The feature cache reads a split this way, so its features line up with
    :func:`load_split`'s arrays whatever order the training pipeline shuffles them into.
    ``None`` where :func:`origin` is None.

    Example:
        >>> p = prepare(source="faces", verbose=False)
        >>> x, y = load_split(p, "val")
        >>> xb, yb = next(iter(ordered(dataset(p, "val"), batch_size=5)))
        >>> bool((xb.numpy() == x[:5]).all()), yb.numpy().tolist() == y[:5].tolist()
        (True, True)
    """
    entry = _ORIGINS.get(id(ds))
    if entry is None or entry[0]() is not ds:
        return None
    return entry[2](int(batch_size))


def make_datasets(
    prepared: Prepared,
    cfg: Config | None = None,
    augment: bool = False,
    **kwargs: Any,
) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset]:
    """``train_ds, val_ds, test_ds`` for :class:`Prepared` lists (see :func:`dataset`).

    Images are float32 RGB in ``[0, 255]`` of shape ``(B, S, S, 3)`` with
    ``S = cfg.image_size``; labels int32 ``(B,)``.  ``train_ds`` is shuffled
    (seeded by ``cfg.seed``, a new order each epoch) and, with ``augment=True``,
    randomly augmented; ``val_ds`` and ``test_ds`` keep the order of
    ``prepared.val`` / ``prepared.test`` and are never augmented.  No backbone
    preprocessing happens here: the model does it (its ``"preprocess"`` layer).

    Taught in ``03_preparing_the_data``.

    Example:
        >>> p = prepare(source="faces", verbose=False)
        >>> train_ds, val_ds, test_ds = make_datasets(p)
        >>> [tuple(t.shape) for t in train_ds.element_spec]
        [(None, 64, 64, 3), (None,)]
    """
    cfg = cfg or current()
    return (
        dataset(prepared, "train", cfg, augment=augment, **kwargs),
        dataset(prepared, "val", cfg, **kwargs),
        dataset(prepared, "test", cfg, **kwargs),
    )


def load_split(
    prepared: Prepared, split: str, cfg: Config | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One split in memory: ``x`` float32 ``(N, S, S, 3)`` in ``[0, 255]``, ``y`` int ``(N,)``.

    In the order of ``prepared.<split>``, never shuffled or augmented: what
    evaluation and the explanation notebooks index into.

    Taught in notebooks 07, 08, 09, 10, 11 and 12.

    Example:
        >>> x, y = load_split(prepare(source="faces", verbose=False), "test")
        >>> x.shape, x.dtype.name, y.shape, float(x.max()) <= 255.0
        ((30, 64, 64, 3), 'float32', (30,), True)
    """
    cfg = cfg or current()
    ds = _in_order(prepared, split, cfg, 64)
    n = len(getattr(prepared, split))
    # Filled in place: gathering the batches and joining them held every image twice.
    x_all = np.empty((n, cfg.image_size, cfg.image_size, 3), dtype=np.float32)
    y_all = np.empty(n, dtype=np.int64)
    filled = 0
    for x, y in ds:
        k = len(y)
        x_all[filled:filled + k], y_all[filled:filled + k] = x.numpy(), y.numpy()
        filled += k
    return x_all[:filled], y_all[:filled]


def throughput(ds: tf.data.Dataset, epochs: int = 2) -> list[float]:
    """Images per second for each of ``epochs`` full passes over ``ds``.

    The first pass of a cached pipeline decodes and fills the cache; later
    passes read from it, which is what the difference shows.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> rates = throughput(dataset(prepare(source="faces", verbose=False), "val"), epochs=1)
        >>> len(rates), rates[0] > 0
        (1, True)
    """
    rates = []
    for _ in range(epochs):
        n = 0
        t0 = time.perf_counter()
        for x, _y in ds:
            n += int(x.shape[0])
        rates.append(n / max(time.perf_counter() - t0, 1e-9))
    return rates


# --------------------------------------------------------------------------- one photo


class NotAnImageError(DataError):
    """A file that is not an image the course can read (the message says what it is)."""


def load_image_file(path: str | Path, image_size: int | None = None,
                    cfg: Config | None = None) -> np.ndarray:
    """One image file as the model sees it: float32 RGB ``(S, S, 3)`` in ``[0, 255]``.

    The same code path as training: the file is checked as ``nbh.data.scan`` checks
    every file (a non-image, an empty, truncated or unsupported file raises
    :class:`NotAnImageError` saying which); one TensorFlow cannot decode or turn upright
    (an EXIF orientation tag, CMYK, ...) is read through the same upright RGB PNG copy
    in ``cfg.cache_dir/converted`` that ``nbh.data.prepare`` makes; then
    ``nbh.data.decode_and_resize`` decodes and resizes it to ``image_size`` (default:
    ``cfg.image_size``).  Taught in ``12_using_your_model`` (as ``nbh.deploy.load_image_file``).

    Example:
        >>> x = load_image_file(write_faces() / "face" / "face_000.png", 32)
        >>> x.shape, x.dtype.name, bool(x.max() <= 255)
        ((32, 32, 3), 'float32', True)
    """
    import pandas as pd

    cfg = cfg or current()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No file at {path}: check the path (or upload the photo again).")
    row = _inspect(path, path.parent)
    if row["status"] == "skipped":
        raise NotAnImageError(
            f"{path.name} cannot be classified: {row['problem']} ({row['detail']}). "
            f"Use a photo in one of these formats: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    readable = path
    if not row["tf_decodes"]:
        report = ValidationReport(root=path.parent, files=pd.DataFrame([row]), classes=[])
        readable = _pil_copies(report, Path(cfg.cache_dir))[path]
    size = int(image_size or cfg.image_size)
    return np.asarray(decode_and_resize(str(readable), size), dtype="float32")
