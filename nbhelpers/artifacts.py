"""Writing a learner's work so that nothing half-written is ever read.

Everything the course keeps in the data folder (extracted archives, scans,
cached features, trained stages, exports) is written the same way:

* **whole or not at all** -- :func:`write_with` writes to a temporary file of
  its own in the same folder and renames it into place (a rename within one
  folder is atomic), so a reader sees the old file or the new one, never half;
* **a record written last** -- :func:`describe_files` gives each file's size
  and SHA-256; a record (a stage's JSON, an export's manifest) that lists them
  is written after its files, and :func:`check_files` tells a reader when the
  files are not the ones the record describes (an interrupted or a concurrent
  write), so the artifact is treated as absent and rebuilt;
* **one writer at a time** -- :func:`lock` is a plain lock file naming the
  process that holds it, for the long writes two kernels could race on
  (extracting an archive); a folder is built under a name of its own
  (:func:`staging_folder`) and published by one rename (:func:`publish_folder`).

Its callers: ``nbh.data.prepare`` (extracted archives, scans),
``nbh.training.extract_features`` (the feature cache), ``nbh.course.get_model``
and ``save_stage`` (trained stages and their records), ``nbh.deploy`` (exports
and their manifests) and ``nbh.review.record`` (review files, under a lock);
notebook 13 calls :func:`file_hash` itself.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "ArtifactError",
    "LockTimeout",
    "file_hash",
    "write_with",
    "write_bytes",
    "write_json",
    "read_json",
    "describe_files",
    "check_files",
    "staging_folder",
    "publish_folder",
    "lock",
    "is_disk_full",
    "remove_stale",
]


class ArtifactError(RuntimeError):
    """A saved artifact that cannot be used (damaged, or not what its record describes).

    Also what a write that leaves no file, or fills the disk, raises (a ``RuntimeError``).

    Example:
        >>> write_with(Path(tempfile.mkdtemp()) / "model.keras", lambda tmp: None)  # writes nothing
        Traceback (most recent call last):
        ...
        nbhelpers.artifacts.ArtifactError: writing ...model.keras produced no file
    """


class LockTimeout(ArtifactError, TimeoutError):
    """Another process held a lock for longer than the caller would wait.

    Raised by :func:`lock`, naming the holder and the file; also a ``TimeoutError``.

    Example:
        >>> p = Path(tempfile.mkdtemp()) / "x.lock"
        >>> with lock(p, what="a first kernel"):
        ...     with lock(p, timeout_s=0):   # a second holder, which will not wait
        ...         pass
        Traceback (most recent call last):
        ...
        nbhelpers.artifacts.LockTimeout: ...x.lock is held by process ... (a first kernel); waited 0 s. ...
    """


def file_hash(path: str | Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of a file's bytes (read in chunks: fine for big archives).

    Example:
        >>> p = Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_bytes(b"abc")
        >>> file_hash(p)[:16]
        'ba7816bf8f01cfea'
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) says the disk or the user's quota is full.

    Example:
        >>> is_disk_full(OSError(errno.ENOSPC, "No space left on device")), is_disk_full(OSError())
        (True, False)
    """
    while err is not None:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left on device" in str(err).lower():
            return True
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return False


def _disk_full_message(path: Path, err: BaseException) -> str:
    where = path.parent
    try:
        free = shutil.disk_usage(where).free / 1e6
        room = f" ({free:.0f} MB free)"
    except OSError:
        room = ""
    return (f"The disk holding {where} is full{room}: {path.name} could not be written "
            f"[{err}]. Free some space (or point NBH_DATA_DIR at a bigger disk) and run again; "
            "nothing half-written was kept.")


def write_with(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary path of its own beside ``path``, then rename it there.

    The temporary name keeps ``path``'s suffix (``model.save`` and ``np.savez``
    look at it) and is unique to this call, so two processes writing the same
    artifact never write into one file; whichever renames last wins, whole.
    A failure (including a full disk, said plainly) leaves ``path`` as it was.
    ``write`` may create a file or a folder.  Returns ``path``.

    Example:
        >>> d = Path(tempfile.mkdtemp())
        >>> write_with(d / "a.txt", lambda tmp: tmp.write_text("hello")).read_text()
        'hello'
        >>> sorted(p.name for p in d.iterdir())   # no temporary file left behind
        ['a.txt']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path.parent, path.name)  # what writers killed over an hour ago left
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    target = tmp / path.name
    try:
        write(target)
        if target.is_file():
            with open(target, "rb") as f:
                os.fsync(f.fileno())
        elif not target.exists():
            raise ArtifactError(f"writing {path} produced no file")
        if target.is_dir() and path.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)  # a folder cannot be renamed over a folder
            os.replace(target, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(target, path)
    except OSError as err:
        if is_disk_full(err):
            raise ArtifactError(_disk_full_message(path, err)) from err
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def write_bytes(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` whole or not at all (:func:`write_with`).

    Example:
        >>> write_bytes(Path(tempfile.mkdtemp()) / "b.bin", b"xy").read_bytes()
        b'xy'
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return write_with(path, lambda tmp: tmp.write_bytes(raw))


def write_json(path: str | Path, obj: Any, **dumps: Any) -> Path:
    """``json.dumps(obj, **dumps)`` written whole or not at all (:func:`write_with`).

    Example:
        >>> p = write_json(Path(tempfile.mkdtemp()) / "r.json", {"a": 1})
        >>> read_json(p)
        {'a': 1}
    """
    return write_bytes(path, json.dumps(obj, **dumps))


def read_json(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing, empty, truncated or not an object.

    A reader that gets None treats the artifact as absent (and rebuilds it).

    Example:
        >>> p = Path(tempfile.mkdtemp()) / "r.json"; _ = p.write_text('{"a": ')
        >>> read_json(p) is None, read_json(p.with_name("none.json")) is None
        (True, True)
    """
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable, empty, truncated, not UTF-8
        return None
    return obj if isinstance(obj, dict) else None


def _entry(path: Path) -> dict[str, Any]:
    if path.is_dir():  # a folder (a SavedModel): every file below it, in a fixed order
        h, size = hashlib.sha256(), 0
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(p.relative_to(path).as_posix().encode() + b"\0")
            h.update(file_hash(p).encode())
            size += p.stat().st_size
        return {"bytes": size, "sha256": h.hexdigest()}
    return {"bytes": path.stat().st_size, "sha256": file_hash(path)}


def describe_files(paths: Iterable[str | Path]) -> dict[str, dict[str, Any]]:
    """``{file name: {"bytes": size, "sha256": digest}}`` for files (or folders) in one folder.

    What a record lists so that :func:`check_files` can tell whether the files
    beside it are the ones it was written for.

    Example:
        >>> p = Path(tempfile.mkdtemp()) / "m.bin"; _ = p.write_bytes(b"abc")
        >>> describe_files([p])["m.bin"]["bytes"]
        3
    """
    return {Path(p).name: _entry(Path(p)) for p in paths}


def check_files(record: dict[str, Any] | None, folder: str | Path,
                required: Iterable[str] = ()) -> str | None:
    """Why the files ``record["files"]`` lists in ``folder`` cannot be used, or None when they can.

    Each listed file must exist with the recorded size and SHA-256, and every
    name in ``required`` must be listed (a record that lists nothing vouches for
    nothing).  A record without a ``"files"`` list cannot vouch for its files.

    Example:
        >>> d = Path(tempfile.mkdtemp()); p = d / "m.bin"; _ = p.write_bytes(b"abc")
        >>> rec = {"files": describe_files([p])}
        >>> check_files(rec, d) is None
        True
        >>> _ = p.write_bytes(b"abd"); check_files(rec, d)
        'm.bin is not the file its record describes (another write, or an interrupted one)'
    """
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict) \
            or not record["files"]:
        return "its record is missing, damaged or of another format"
    unlisted = [name for name in required if name not in record["files"]]
    if unlisted:
        return f"its record does not vouch for {', '.join(unlisted)}"
    folder = Path(folder)
    for name, want in record["files"].items():
        path = folder / name
        if not path.exists():
            return f"{name} is missing"
        try:
            have = _entry(path)
        except OSError as err:
            return f"{name} cannot be read ({err})"
        if not isinstance(want, dict) or have != {k: want.get(k) for k in have}:
            return f"{name} is not the file its record describes (another write, or an interrupted one)"
    return None


def staging_folder(dest: str | Path) -> Path:
    """A new empty folder beside ``dest``, unique to this call, to build ``dest`` in.

    Publish it with :func:`publish_folder`; a process killed while building
    leaves only this folder (named ``.<dest>.<random>.partial``), never a
    half-filled ``dest``.

    Example:
        >>> d = Path(tempfile.mkdtemp()); s = staging_folder(d / "out")
        >>> s.parent == d, s.name.startswith(".out."), list(s.iterdir())
        (True, True, [])
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))


def publish_folder(staged: str | Path, dest: str | Path) -> Path:
    """Rename the finished folder ``staged`` to ``dest`` in one step; an older ``dest`` is replaced.

    Example:
        >>> d = Path(tempfile.mkdtemp()); s = staging_folder(d / "out")
        >>> _ = (s / "f").write_text("1"); publish_folder(s, d / "out").name
        'out'
        >>> sorted(p.name for p in d.iterdir()), (d / "out" / "f").read_text()
        (['out'], '1')
    """
    staged, dest = Path(staged), Path(dest)
    if dest.exists():
        old = staging_folder(dest)
        os.replace(dest, old / dest.name)
        os.replace(staged, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, dest)
    return dest


def remove_stale(folder: str | Path, name: str, older_than_s: float = 3600) -> int:
    """Delete what killed writers left of ``name`` in ``folder`` (``.<name>.*.partial``/``.old``).

    Only leftovers older than ``older_than_s`` go, so a write in progress in
    another process is left alone.  Returns how many were removed.

    Example:
        >>> d = Path(tempfile.mkdtemp()); s = staging_folder(d / "out")
        >>> remove_stale(d, "out", older_than_s=0), s.exists()
        (1, False)
    """
    removed = 0
    now = time.time()
    for p in Path(folder).glob(f".{glob.escape(name)}.*"):
        if p.suffix in (".partial", ".old"):
            try:
                if now - p.stat().st_mtime < older_than_s:
                    continue
            except OSError:
                continue
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed += 1
    return removed


def _holder(path: Path) -> dict[str, Any]:
    return read_json(path) or {}


def _alive(pid: int) -> bool:
    if os.name == "nt":  # no cheap, safe liveness test: rely on the lock's age
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _stale(path: Path, stale_after_s: float) -> bool:
    """A lock whose process is gone (same machine) or that is older than ``stale_after_s``."""
    info = _holder(path)
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False  # released meanwhile
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        return not _alive(info["pid"]) or age > stale_after_s
    return age > stale_after_s


try:
    import fcntl
except ImportError:  # Windows: an exclusively created file stands for the lock
    fcntl = None  # type: ignore[assignment]


class _NoFlock(Exception):
    """The file system refuses ``flock`` (some network and FUSE mounts)."""


def _try_flock(path: Path) -> int | None:
    """The locked descriptor of ``path`` (POSIX ``flock``, released by the kernel if we die)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another process holds it
        os.close(fd)
        return None
    except OSError as err:  # not supported here (e.g. a Drive or NFS mount)
        os.close(fd)
        raise _NoFlock(str(err)) from err
    return fd


def _try_exclusive(path: Path, stale_after_s: float) -> int | None:
    """Create ``path`` exclusively (no ``flock``); a stale one is moved away first."""
    try:
        return os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    except FileExistsError:
        if _stale(path, stale_after_s):
            # Of two processes breaking the same stale lock, one rename succeeds.
            with contextlib.suppress(OSError):
                os.replace(path, f"{path}.stale-{os.getpid()}")
                os.unlink(f"{path}.stale-{os.getpid()}")
        return None


@contextlib.contextmanager
def lock(path: str | Path, *, what: str = "", timeout_s: float = 1800,
         stale_after_s: float = 6 * 3600, poll_s: float = 0.2) -> Iterator[Path]:
    """Hold the lock file ``path`` while the ``with`` block runs; one process at a time.

    The file names the holder (pid, host, start time, ``what``).  Another
    process waits up to ``timeout_s``, saying once whom it waits for, then
    raises :class:`LockTimeout` naming the holder and the file.  On Linux and
    macOS the lock is the kernel's (``flock``), so a killed holder releases it.
    Where there is no ``flock`` (Windows, and mounts that refuse it, such as
    some network drives) the lock is a file created exclusively,
    ``<path>.held``, taken over once its process is gone or it is older than
    ``stale_after_s``.

    Example:
        >>> p = Path(tempfile.mkdtemp()) / "x.lock"
        >>> with lock(p, what="a test"):
        ...     read_json(p)["what"]
        'a test'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
          "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    held = path if fcntl else Path(f"{path}.held")  # the file that names the holder
    t0, told = time.monotonic(), False
    while True:
        if held == path:
            try:
                fd = _try_flock(path)
            except _NoFlock:
                held = Path(f"{path}.held")
                continue
        else:
            fd = _try_exclusive(held, stale_after_s)
        if fd is not None:
            break
        other = _holder(held)
        who = (f"process {other.get('pid', '?')} on {other.get('host', '?')} since "
               f"{other.get('since', '?')} ({other.get('what') or 'another kernel'})")
        if time.monotonic() - t0 > timeout_s:
            raise LockTimeout(f"{held} is held by {who}; waited {timeout_s:.0f} s. Let that run "
                              f"finish (or stop it) and run again; if that process is gone, "
                              f"delete {held}.")
        if not told:
            print(f"Waiting for {who} to finish with {path.parent} ...")
            told = True
        time.sleep(poll_s)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(me).encode())
        yield held
    finally:
        if held == path:  # the file stays (unlinking a flock'ed file races); the lock goes
            os.ftruncate(fd, 0)
            os.close(fd)
        else:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(held)
