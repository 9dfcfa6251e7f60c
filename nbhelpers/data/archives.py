"""Archives: unpacked once into the cache, whole or not at all, refused when they would fill the disk.

:func:`unpack` is what both a registered data set's download
(:func:`nbhelpers.data.fetch`) and a ``.zip`` of your own photos
(:func:`extract_archive`, called by :func:`nbhelpers.data.folder_layout`) go
through: under a lock (two kernels may unpack at once), into a staging folder,
published by one rename with a marker that records what was unpacked.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from pathlib import Path

from .. import artifacts
from ..artifacts import file_hash
from ..config import Config
from .errors import DataError

__all__ = ["ARCHIVE_EXTENSIONS", "MAX_EXPANSION", "check_room", "unpacked_ok", "unpack",
           "extract_archive"]

#: Endings of archives that :func:`nbhelpers.data.folder_layout` extracts (your folder, zipped).
ARCHIVE_EXTENSIONS: tuple[str, ...] = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2",
                                       ".tbz2", ".tar.xz", ".txz")

#: The most an archive may expand (declared size over archive size): beyond it, a "zip bomb".
MAX_EXPANSION = 100

_ARCHIVE_ERRORS = (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError)


def _declared_size(archive: Path) -> int:
    """Bytes the archive's members say they hold (a tar.gz is read through once for this)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return sum(i.file_size for i in z.infolist())
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            return sum(m.size for m in t.getmembers() if m.isfile())
    raise DataError(
        f"{archive} ends like an archive but is neither a zip nor a tar file (damaged, or only "
        "partly downloaded?). Download it again, or unpack it yourself and pass the folder.")


def check_room(archive: Path, dest: Path) -> None:
    """Refuse an archive that would fill the disk, or that expands suspiciously much.

    Returns None when ``archive`` may be unpacked beside ``dest`` (into
    ``dest.parent``); raises :class:`~nbhelpers.data.DataError` saying why not:
    members that declare over :data:`MAX_EXPANSION` times the archive's size (a
    "zip bomb"), or more than the disk holding ``dest.parent`` has free.

    Example:
        >>> import tempfile, zipfile
        >>> d = Path(tempfile.mkdtemp())
        >>> with zipfile.ZipFile(d / "ok.zip", "w") as z:
        ...     z.writestr("cat/a.jpg", b"x" * 100)
        >>> check_room(d / "ok.zip", d / "ok") is None
        True
        >>> with zipfile.ZipFile(d / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        ...     z.writestr("cat/a.jpg", b"0" * 10_000_000)   # 10 MB that pack into 10 kB
        >>> check_room(d / "bomb.zip", d / "bomb")
        Traceback (most recent call last):
        ...
        nbhelpers.data.DataError: ...bomb.zip says it unpacks to 10 MB from 0.0 MB (over 100x: ...
    """
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


def unpacked_ok(dest: Path, digest: str) -> bool:
    """Whether ``dest`` holds, whole, what :func:`unpack` extracted from the archive ``digest``.

    Example:
        >>> unpacked_ok(Path("/no/such/folder"), "abc")
        False
    """
    marker = artifacts.read_json(dest / ".extracted-ok")
    if not marker or marker.get("digest") != digest:
        return False
    return [marker.get("files"), marker.get("bytes")] == list(_tree_size(dest))


def unpack(archive: Path, dest: Path, digest: str) -> Path:
    """Extract ``archive`` to ``dest`` whole or not at all, one process at a time.

    Under a lock (``<dest>.lock``), into a staging folder of this process's own,
    with the ``.extracted-ok`` marker written inside before one rename publishes
    it: a killed run leaves only a staging folder (removed by the next run), and
    a second kernel waits, then uses the first one's folder.  Returns ``dest``,
    which then holds the archive's members and passes :func:`unpacked_ok` for
    ``digest``; a damaged archive, one that :func:`check_room` refuses, or a full
    disk raises :class:`~nbhelpers.data.DataError`, and nothing half-unpacked is published.

    Example:
        >>> import tempfile, zipfile
        >>> d = Path(tempfile.mkdtemp())
        >>> with zipfile.ZipFile(d / "photos.zip", "w") as z:
        ...     z.writestr("cat/a.jpg", b"x"); z.writestr("dog/b.jpg", b"y")
        >>> dest = unpack(d / "photos.zip", d / "photos", "1a2b")
        >>> sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.jpg"))
        ['cat/a.jpg', 'dog/b.jpg']
        >>> unpacked_ok(dest, "1a2b"), unpacked_ok(dest, "another archive")
        (True, False)
    """
    with artifacts.lock(dest.with_name(dest.name + ".lock"), what=f"unpacking {archive.name}"):
        if unpacked_ok(dest, digest):
            return dest  # another kernel unpacked it while we waited
        if dest.exists():
            print(f"The unpacked copy {dest} is not whole (files missing or changed): "
                  f"unpacking {archive.name} again.")
        artifacts.remove_stale(dest.parent, dest.name, older_than_s=0)  # killed runs' leftovers
        try:
            check_room(archive, dest)
            staged = artifacts.staging_folder(dest)
        except _ARCHIVE_ERRORS as err:
            raise DataError(f"Could not read {archive}: {type(err).__name__}: {err}. It is "
                            "damaged or only partly downloaded: download it again, or unpack it "
                            "yourself and pass the folder.") from err
        try:
            _extract_into(archive, staged, digest)
            artifacts.publish_folder(staged, dest)
        except _ARCHIVE_ERRORS as err:
            shutil.rmtree(staged, ignore_errors=True)
            raise _unpack_error(archive, dest, err) from err
    return dest


def _extract_into(archive: Path, staged: Path, digest: str) -> None:
    """Extract every member into ``staged``, then write the marker that vouches for them."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(staged)  # names with .. or absolute paths are made safe
    else:
        with tarfile.open(archive) as t:
            t.extractall(staged, filter="data")  # no links out, no absolute paths
    files, size = _tree_size(staged)
    (staged / ".extracted-ok").write_text(json.dumps(
        {"digest": digest, "files": files, "bytes": size}))


def _unpack_error(archive: Path, dest: Path, err: BaseException) -> DataError:
    """The error to raise when unpacking failed: a link out of the archive, a full disk, damage."""
    if isinstance(err, tarfile.FilterError):
        return DataError(f"{archive} holds a link or path that points outside it ({err}): "
                         "refused, for safety. Unpack it yourself if you trust it, and pass "
                         "the folder.")
    if artifacts.is_disk_full(err):
        return DataError(f"The disk filled up while unpacking {archive.name} into "
                         f"{dest.parent}: free some space (or point NBH_DATA_DIR at a "
                         "bigger disk) and run again. Nothing half-unpacked was kept.")
    return DataError(f"Could not unpack {archive}: {type(err).__name__}: {err}. It is "
                     "damaged or only partly downloaded: download it again, or unpack "
                     "it yourself and pass the folder.")


def extract_archive(archive: Path, cfg: Config) -> Path:
    """Extract an archive of your images once into the cache (keyed by its content's SHA-1).

    The folder is ``cfg.cache_dir/your_archives/<name>-<SHA-1>/``: a changed
    archive gets a new one, so a stale copy is never read.  Returns that folder
    (the archive's members inside, as they were packed); a folder already whole
    is returned without unpacking again (:func:`unpacked_ok`).

    Example:
        >>> import dataclasses, tempfile, zipfile
        >>> from nbhelpers.config import make_config
        >>> d = Path(tempfile.mkdtemp())
        >>> cfg = dataclasses.replace(make_config("offline"), cache_dir=d / "cache")
        >>> with zipfile.ZipFile(d / "photos.zip", "w") as z:
        ...     z.writestr("cat/a.jpg", b"x")
        >>> folder = extract_archive(d / "photos.zip", cfg)
        >>> folder.parent.name, folder.name[:7], (folder / "cat" / "a.jpg").read_bytes()
        ('your_archives', 'photos-', b'x')
        >>> extract_archive(d / "photos.zip", cfg) == folder   # found whole: not unpacked again
        True
    """
    digest = file_hash(archive, "sha1")[:16]
    stem = archive.name
    for ext in ARCHIVE_EXTENSIONS:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    dest = Path(cfg.cache_dir) / "your_archives" / f"{stem}-{digest}"
    if unpacked_ok(dest, digest):
        return dest
    return unpack(archive, dest, digest)
