"""Where the files come from: the registry of data sets, download + cache, and checking a source.

:data:`REGISTRY` names each data set once (URL, SHA-256, layout, licence).
:func:`fetch` downloads an archive into ``cfg.cache_dir`` with
``keras.utils.get_file`` (or reuses it), checks its size or SHA-256 and unpacks
it once; the ``faces`` entry writes scikit-image's bundled images as PNG files
instead.  Any other source is a folder of your own (:func:`resolve_source`
says which one ``prepare`` reads, :func:`check_source` refuses one that
cannot be read, with what was meant).
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import artifacts
from ..artifacts import file_hash
from ..config import Config, current, network_available
from .archives import unpack, unpacked_ok
from .errors import ChecksumError, DataError, DownloadError, MissingFolderError
from .faces import write_faces

__all__ = ["DataSource", "REGISTRY", "register", "fetch", "resolve_source", "check_source"]


@dataclass(frozen=True)
class DataSource:
    """One entry of the registry: where a data set comes from and how it is laid out.

    ``layout`` is ``"train_validation"`` (``<root>/train/<class>/*`` and
    ``<root>/validation/<class>/*``: the validation half is split, stratified and
    seeded, into validation and test) or ``"class_folders"`` (``<root>/<class>/*``:
    split three ways).  ``url=None`` with a ``builder`` means the files are
    written locally (no download).

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


#: Every data set the course knows.  Adding one is one entry (see :func:`register`).
REGISTRY: dict[str, DataSource] = {}


def register(source: DataSource) -> DataSource:
    """Add (or replace) a registry entry; returns it.

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
    done_marker = cache / f"{stem}.extracted-ok"
    root = _unpacked_before(src, cache, stem, done_marker)
    if root is not None:
        if verbose:
            print(f"Using cached {src.name!r}: {root}")
        return root
    archive, digest = _download(src, cfg, cache, verbose)
    # Unpacked where Keras >= 3.6's get_file(extract=True) would, but whole or not at
    # all and one kernel at a time (unpack); _find_layout_root also reads older layouts.
    start = unpack(archive, cache / f"{stem}_extracted", digest)
    root = _find_layout_root(start, src)
    if root is None:
        raise DataError(
            f"{archive} was extracted to {start}, but no folder there has the "
            f"{src.layout!r} layout ({src.folder or '<root>'}/train, /validation)."
        )
    artifacts.write_bytes(done_marker, digest + "\n")
    return root


def _unpacked_before(src: DataSource, cache: Path, stem: str, done_marker: Path) -> Path | None:
    """The layout's root when the archive was checked and unpacked whole before; else None."""
    archive = cache / str(src.archive_name)
    pinned = done_marker.read_text().strip() if done_marker.is_file() else None
    if pinned and archive.is_file() and (src.sha256 is None or src.sha256.lower() == pinned) \
            and unpacked_ok(cache / f"{stem}_extracted", pinned):
        return _find_layout_root(cache / f"{stem}_extracted", src)
    return None


def _download(src: DataSource, cfg: Config, cache: Path, verbose: bool) -> tuple[Path, str]:
    """The archive (downloaded unless cached) and its SHA-256, checked against the registry."""
    import keras

    archive = cache / str(src.archive_name)
    downloading = not archive.is_file()
    if not downloading:
        if verbose:
            print(f"Using cached archive {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    else:
        _check_reachable(src, cache)
        size = f"about {src.size_bytes / 1e6:.0f} MB" if src.size_bytes else "size unknown"
        if verbose:
            print(f"Downloading {src.name!r} ({size}) from {src.url}\n  into {cache}")
    t0 = time.perf_counter()
    try:
        # file_hash is checked by us, with a message that says what to do.
        returned = keras.utils.get_file(fname=src.archive_name, origin=src.url,
                                        cache_dir=str(cfg.cache_dir), cache_subdir="datasets",
                                        extract=False)
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
        print(f"  {archive.name}: {archive.stat().st_size / 1e6:.1f} MB in "
              f"{time.perf_counter() - t0:.1f} s; SHA-256 {digest}")
        if src.sha256 is None:
            print(f"  (no checksum in the registry for {src.name!r}: pin sha256={digest!r})")
    return archive, digest


def _check_reachable(src: DataSource, cache: Path) -> None:
    """Fail at once, saying what to do, when the download's host cannot be reached."""
    scheme = urllib.parse.urlsplit(src.url).scheme
    if scheme not in ("http", "https"):
        return
    host = urllib.parse.urlsplit(src.url).hostname or ""
    if not network_available(host):
        raise DownloadError(
            f"Cannot download {src.name!r}: {host} is unreachable (no network?).\n"
            f"    URL:          {src.url}\n    cache folder: {cache}\n" + _by_hand(src, cache)
        )


# --------------------------------------------------------------------------- which source
def resolve_source(cfg: Config | None = None,
                   source: str | Path | None = None) -> tuple[str, str | Path]:
    """Which data source ``prepare`` reads for ``source``: ``(name, source)``.

    ``source=None`` means ``$NBH_DATA_SOURCE`` when it is set (your folder, for
    every notebook), else the profile's data set (``cfg.dataset``).  ``name``
    is the registry name of a registered data set (``source`` is then that name
    too), else ``"folder"``: ``source`` is a folder or archive of your own, as
    given (``folder_layout`` finds its root).  Nothing is read or downloaded.

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


def check_source(source: str | Path) -> None:
    """Refuse, with what is meant or supported, a data source that cannot be read.

    A registered name passes; so does a folder or archive that exists.  A web
    address, a near miss of a registered name (``cats-and-dogs``) and a path
    that does not exist raise :class:`MissingFolderError`, naming
    ``NBH_DATA_SOURCE`` when the value came from it.  ``nbh.setup()`` calls
    this for ``NBH_DATA_SOURCE``, ``folder_layout`` for its argument.

    Example:
        >>> check_source("faces")
        >>> check_source("https://example.org/photos.zip")
        Traceback (most recent call last):
        ...
        nbhelpers.data.MissingFolderError: 'https://example.org/photos.zip' is a web address; ...
    """
    text = os.fspath(source)
    if text in REGISTRY:
        return
    via = " (NBH_DATA_SOURCE)" if os.environ.get("NBH_DATA_SOURCE") == text else ""
    _refuse_addresses(text, via)
    from ..config import expand_setting

    path = expand_setting(text, "NBH_DATA_SOURCE" if via else "the data source")
    if path.exists():
        return
    import difflib

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


def _refuse_addresses(text: str, via: str) -> None:
    """A ``file://`` or web address is not a folder: say what to pass instead."""
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
