"""One image file: what it is, whether TensorFlow can read it, and reading it.

:func:`inspect` opens one file with PIL (the header, then the whole image) and
returns its row of the scan's report: the format and colour mode, whether it
is skipped (empty, truncated, corrupt, unreadable, not an image, HEIC without
pillow-heif) and why, or converted (grayscale, palette, CMYK, 16-bit, TIFF,
WebP, animations, EXIF-rotated photos, names that are not UTF-8), or kept with
a warning (a wrong or missing extension).  Files are read by content, never
by name.  What TensorFlow cannot decode (or turn upright) itself is read
through an upright RGB PNG copy (:func:`readable_copy`).

Three ways to read one image, all giving the same pixels:

* :func:`read_image` -- PIL, one at a time (what notebook 03 compares the
  pipeline with);
* :func:`decode_and_resize` -- TensorFlow, what the ``tf.data`` pipeline maps
  over every file;
* :func:`load_image_file` -- a photo of yours, checked as :func:`inspect`
  checks every file, then decoded as in training (notebook 12).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import artifacts
from ..config import Config, current
from .errors import DataError
from .resizing import DEFAULT_RESIZE, resize

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import tensorflow as tf

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "SUPPORTED_FORMATS",
    "COLUMNS",
    "NotAnImageError",
    "inspect",
    "report_row",
    "heif_available",
    "whole_png",
    "readable_copy",
    "read_image",
    "decode_and_resize",
    "load_image_file",
]

#: File name endings of the formats TensorFlow decodes itself (case-insensitive).
#: Every other format PIL reads (TIFF, WebP, HEIC with pillow-heif, ...) is read
#: too, through an RGB PNG copy; files are always read by content, not by name.
SUPPORTED_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
#: What PIL calls the formats behind those endings.
SUPPORTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "BMP", "GIF", "MPO"})

#: The columns of a report row (:func:`report_row`), in the order the report shows them.
COLUMNS = ["path", "file", "class", "status", "problem", "detail", "format", "mode",
           "width", "height", "bytes", "sha1", "tf_decodes", "link"]

#: Bump when :func:`inspect` changes what it writes: older scan caches are then ignored.
INSPECT_VERSION = 3

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


class NotAnImageError(DataError):
    """A file that is not an image the course can read (the message says what it is).

    Raised by :func:`load_image_file` (so by ``nbh.deploy.classify_file``); a
    :class:`~nbhelpers.data.DataError`.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from nbhelpers.data import load_image_file
        >>> page = Path(tempfile.mkdtemp()) / "cat.jpg"
        >>> _ = page.write_text("<!DOCTYPE html><p>Not found</p>")  # a failed download
        >>> load_image_file(page, 32)
        Traceback (most recent call last):
        ...
        nbhelpers.data.NotAnImageError: cat.jpg cannot be classified: not an image (a web page (HTML), ...
    """


NotAnImageError.__module__ = "nbhelpers.data"  # as a reader catches it: nbh.data.NotAnImageError


class _Skip(Exception):
    """Raised by the steps of :func:`inspect` for a file that cannot be used."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(problem, detail)
        self.problem, self.detail = problem, detail


# --------------------------------------------------------------------------- formats
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


def heif_available() -> bool:
    """Register pillow-heif's opener (once) when it is installed; whether HEIC can be read.

    Example:
        >>> heif_available() in (True, False)
        True
    """
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


# --------------------------------------------------------------------------- one file, checked
def report_row(path: Path, root: Path, status: str = "ok", problem: str = "",
               detail: str = "") -> dict[str, Any]:
    """A report row with every column (:data:`COLUMNS`), for ``path`` below ``root``.

    ``class`` is the first folder below ``root`` (None for a file directly in it).

    Example:
        >>> report_row(Path("/d/cat/a.jpg"), Path("/d"))["class"]
        'cat'
    """
    rel = path.relative_to(root)
    return {
        "path": path, "file": rel.as_posix(),
        "class": rel.parts[0] if len(rel.parts) > 1 else None,
        "status": status, "problem": problem, "detail": detail,
        "format": None, "mode": None, "width": None, "height": None, "bytes": 0,
        "sha1": None, "tf_decodes": True, "link": None,
    }


def inspect(path: Path, root: Path) -> dict[str, Any]:
    """One row of the report: what this (regular) file is and what will happen to it.

    The steps: read the header (PIL names the format; a file PIL cannot identify
    is named from its first bytes: HEIC, video, PDF, web page, ...), decode the
    whole image (a cut-short or damaged file is skipped), ask whether TensorFlow
    decodes it as PIL does, then note what is converted or only warned about.
    ``status`` ends as ``ok``, ``converted``, ``kept`` or ``skipped``.

    Example:
        >>> from nbhelpers.data import write_faces
        >>> root = write_faces()
        >>> row = inspect(root / "face" / "face_000.png", root)
        >>> row["class"], row["status"], row["format"], row["width"]
        ('face', 'ok', 'PNG', 25)
    """
    row = report_row(path, root)
    try:
        data, fmt, mode = _read_header(path)
        row.update(bytes=len(data), sha1=hashlib.sha1(data).hexdigest(), format=fmt, mode=mode)
        if _truncated(data):
            raise _Skip("truncated", f"{fmt} file shorter than its header says "
                        f"({len(data):,} bytes): an interrupted copy or download")
        frames, orientation = _decode(data, fmt, row)
        row["tf_decodes"] = _tf_decodes(fmt, mode, frames)
        if row["tf_decodes"] and fmt not in ("JPEG", "MPO"):
            # PIL pads a PNG whose pixel data ends early; TensorFlow stops training on it.
            # Decoded here as the pipeline will (PIL's JPEG decoder already read every byte).
            problem = _tf_decode_problem(data)
            if problem:
                raise _Skip("truncated", f"TensorFlow cannot decode it ({problem}): an "
                            "interrupted copy or download, or a damaged file")
    except _Skip as skip:
        row.update(status="skipped", problem=skip.problem, detail=skip.detail)
        return row
    _note_conversions(row, path, frames, orientation)
    return row


def _read_header(path: Path) -> tuple[bytes, str, str]:
    """The file's bytes, and the format and mode its header states (PIL reads only the header)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if not head:
                raise _Skip("empty", "zero-byte file (an interrupted copy or download?)")
            f.seek(0)
            try:
                with Image.open(f) as im:  # reads the header only
                    fmt, mode = im.format, im.mode
            except UnidentifiedImageError:
                raise _Skip(*_what_is(head, path.suffix.lower())) from None
            except Image.DecompressionBombError as err:
                raise _Skip("too large", f"{err} Resize it (or raise PIL's "
                            "Image.MAX_IMAGE_PIXELS)") from None
            except Exception as err:  # PIL raises many kinds on damaged headers
                if _truncated(head + f.read()):
                    raise _Skip("truncated", "the file is shorter than its header says") from None
                raise _Skip("corrupt", f"{type(err).__name__}: {err}") from None
            f.seek(0)
            return f.read(), fmt, mode
    except OSError as err:
        raise _Skip("unreadable", f"cannot read the file: {err.strerror or err} (check its "
                    "permissions, e.g. chmod u+r, or whether it is still syncing)") from None


def _decode(data: bytes, fmt: str, row: dict[str, Any]) -> tuple[int, int]:
    """Decode the whole image: ``(frames, EXIF orientation)``; sets ``row``'s width and height."""
    from PIL import Image

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
        raise _Skip("too large", f"{err} Resize it (or raise PIL's Image.MAX_IMAGE_PIXELS)") \
            from None
    except OSError as err:
        msg = str(err)
        low = msg.lower()
        if "truncated" in low or "broken data stream" in low or "premature" in low:
            raise _Skip("truncated", f"{msg}: an interrupted copy or download") from None
        raise _Skip("corrupt", f"{type(err).__name__}: {msg}") from None
    except Exception as err:  # decoders raise ValueError, SyntaxError, ... on bad data
        raise _Skip("corrupt", f"{type(err).__name__}: {err}") from None
    return frames, orientation


def _note_conversions(row: dict[str, Any], path: Path, frames: int, orientation: int) -> None:
    """Fill in ``status``, ``problem`` and ``detail`` of a usable file: what is converted, or warned."""
    fmt, mode = row["format"], row["mode"]
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
    ext = path.suffix.lower()
    if not ext or ext not in _format_extensions().get(fmt, set()):
        if not ext:
            note("no extension", f"{fmt} content in a file without an extension (read by content)")
        else:
            note("wrong extension", f"{fmt} content in a {ext} file (read by content)")
        if row["status"] == "ok":
            row["status"] = "kept"
    row.update(problem="; ".join(notes), detail="; ".join(details))


# --------------------------------------------------------------------------- an upright RGB copy
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def whole_png(path: Path) -> bool:
    """A PNG file the course wrote that is all there: its last bytes are the IEND chunk.

    Example:
        >>> whole_png(Path("/no/such/file.png"))
        False
    """
    try:
        with open(path, "rb") as f:
            f.seek(-len(_PNG_END), os.SEEK_END)
            return f.read() == _PNG_END
    except OSError:  # missing, or shorter than the chunk
        return False


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


def readable_copy(path: Path, sha1: str, cache: Path) -> Path:
    """An upright RGB PNG copy of ``path`` (content SHA-1 ``sha1``) in ``cache/converted``.

    For files TensorFlow cannot decode or turn upright itself; made once per
    content and reused.  Raises what PIL or the disk raises (a file deleted or
    changed since it was inspected, a full disk).

    Example:
        >>> import tempfile
        >>> from nbhelpers.data import write_faces
        >>> face = write_faces() / "face" / "face_000.png"
        >>> readable_copy(face, "abc", Path(tempfile.mkdtemp())).name
        'abc-v2.png'
    """
    from PIL import Image

    heif_available()  # register the HEIC opener, when installed, in this process too
    # "-v2" is the version of _to_rgb that wrote the copy (16-bit images scaled, not clipped).
    target = Path(cache) / "converted" / f"{sha1}-v2.png"
    if not whole_png(target):  # absent, or cut short by something outside the course
        with Image.open(path) as im:
            rgb = _to_rgb(im)
        artifacts.write_with(target, lambda tmp: rgb.save(tmp, format="PNG"))
    return target


# --------------------------------------------------------------------------- reading one image
def read_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """Read one image with PIL as RGB ``uint8`` (optionally resized to ``size`` x ``size``).

    The plain, one-at-a-time way of loading: what the tf.data pipeline is
    compared with in notebook 03 and ``benchmarks/bench_pipeline.py``.  Reads
    every format PIL reads; EXIF-rotated photos come upright, 16-bit images
    are scaled to 8 bits (not clipped), an animation gives its first frame.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> from nbhelpers.data import write_faces
        >>> read_image(write_faces() / "face" / "face_000.png", size=32).shape
        (32, 32, 3)
    """
    from PIL import Image

    heif_available()
    with Image.open(path) as im:
        im = _to_rgb(im)
        if size is not None:
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def decode_and_resize(path: tf.Tensor | str, image_size: int,
                      policy: str = DEFAULT_RESIZE) -> tf.Tensor:
    """Read, decode (JPEG, PNG, GIF, BMP by content) and resize one image: ``uint8 (S, S, 3)``.

    Made square by ``policy`` (:func:`~nbhelpers.data.resizing.resize`: squash, crop or pad).

    ``tf.io.decode_image`` with ``channels=3`` turns grayscale, RGBA, CMYK and
    palette images into RGB; an animated GIF gives its first frame.  The
    result is rounded back to ``uint8`` so that the cache holds a quarter of
    the bytes float32 would need.  The ``tf.data`` pipeline maps it over every file.

    Taught in ``12_using_your_model``.

    Example:
        >>> from nbhelpers.data import write_faces
        >>> p = str(write_faces() / "face" / "face_000.png")
        >>> x = decode_and_resize(p, 32); tuple(x.shape), x.dtype.name
        ((32, 32, 3), 'uint8')
    """
    import tensorflow as tf

    data = tf.io.read_file(path)
    img = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    img.set_shape([None, None, 3])
    img = resize(img, image_size, policy)
    return tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8)


def load_image_file(path: str | Path, image_size: int | None = None,
                    cfg: Config | None = None) -> np.ndarray:
    """One image file as the model sees it: float32 RGB ``(S, S, 3)`` in ``[0, 255]``.

    The same code path as training: the file is checked as ``nbh.data.scan`` checks
    every file (a non-image, an empty, truncated or unsupported file raises
    :class:`NotAnImageError` saying which); one TensorFlow cannot decode or turn upright
    (an EXIF orientation tag, CMYK, ...) is read through the same upright RGB PNG copy
    in ``cfg.cache_dir/converted`` that ``nbh.data.prepare`` makes; then
    :func:`decode_and_resize` decodes and resizes it to ``image_size`` (default:
    ``cfg.image_size``).  Taught in ``12_using_your_model`` (as ``nbh.deploy.load_image_file``).

    Example:
        >>> from nbhelpers.data import write_faces
        >>> x = load_image_file(write_faces() / "face" / "face_000.png", 32)
        >>> x.shape, x.dtype.name, bool(x.max() <= 255)
        ((32, 32, 3), 'float32', True)
    """
    cfg = cfg or current()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No file at {path}: check the path (or upload the photo again).")
    row = inspect(path, path.parent)
    if row["status"] == "skipped":
        raise NotAnImageError(
            f"{path.name} cannot be classified: {row['problem']} ({row['detail']}). "
            f"Use a photo in one of these formats: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    readable = path if row["tf_decodes"] else readable_copy(path, row["sha1"], cfg.cache_dir)
    size = int(image_size or cfg.image_size)
    return np.asarray(decode_and_resize(str(readable), size), dtype="float32")
