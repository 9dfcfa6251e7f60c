"""The scan cache: one JSON file per folder, so that a file unchanged since the last scan is not opened.

Each entry is a file's report row and its *stamp* (size, modification and change
times, inode: :func:`stamp`).  A cache is used only with the settings it was made
with (:func:`settings`: the folder, :data:`~nbhelpers.data.files.INSPECT_VERSION`,
Pillow's version, whether HEIC can be read), and an entry only when it has the
shape :func:`~nbhelpers.data.scan` writes: anything else is scanned afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .. import artifacts
from ..config import Config
from . import files

__all__ = ["scan_cache_file", "settings", "stamp", "load", "save"]

_STATUSES = ("ok", "kept", "converted", "skipped")


def scan_cache_file(cfg: Config, root: Path) -> Path:
    """Where :func:`~nbhelpers.data.prepare` keeps the scan of ``root``: one file per *resolved* folder.

    Example:
        >>> from nbhelpers.config import make_config
        >>> scan_cache_file(make_config("offline"), Path("photos")).parent.name
        'scans'
    """
    key = hashlib.sha1(str(Path(root).expanduser().resolve()).encode("utf-8",
                                                                     "surrogateescape"))
    return Path(cfg.cache_dir) / "scans" / f"{key.hexdigest()[:16]}.json"


def settings(root: Path) -> dict[str, Any]:
    """What a cached scan is valid for: the folder, the inspection's version, the decoders.

    A dict with the keys ``version`` (:data:`~nbhelpers.data.files.INSPECT_VERSION`),
    ``root`` (the resolved folder, as text), ``pillow`` (Pillow's version) and
    ``heif`` (whether HEIC can be read); :func:`load` uses a cache only when its
    settings equal these.

    Example:
        >>> s = settings(Path("photos"))
        >>> sorted(s), s["root"] == os.fsdecode(Path("photos").resolve())
        (['heif', 'pillow', 'root', 'version'], True)
    """
    import PIL

    return {"version": files.INSPECT_VERSION, "root": os.fsdecode(Path(root).resolve()),
            "pillow": PIL.__version__, "heif": files.heif_available()}


def stamp(st: os.stat_result) -> list[int]:
    """What tells a changed file from an unchanged one without reading it.

    Size and modification time, plus the inode (a file replaced by another) and,
    on POSIX, the change time, which every write updates and which, unlike the
    modification time, cannot be set back (``touch -d``, ``cp -p``, sync tools).
    ``[size, mtime_ns, ctime_ns, inode]`` (``ctime_ns`` is 0 on Windows): an entry
    of the cache is reused only while its stamp equals the file's.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); f = d / "a.jpg"; _ = f.write_bytes(b"abc")
        >>> before = stamp(f.stat()); before[0]
        3
        >>> _ = (d / "new.jpg").write_bytes(b"abd"); os.replace(d / "new.jpg", f)
        >>> stamp(f.stat()) != before   # same size, another file: the inode tells
        True
    """
    ctime = st.st_ctime_ns if os.name != "nt" else 0
    return [int(st.st_size), int(st.st_mtime_ns), int(ctime), int(st.st_ino)]


def load(path: Path | None, wanted: dict[str, Any]) -> dict[str, Any]:
    """The cache's entries by relative file name, when it was made with the ``wanted`` settings.

    Example:
        >>> load(None, {}), load(Path("/no/such/cache.json"), {})
        ({}, {})
    """
    if path is None or not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a damaged cache is only a slower scan
        return {}
    if not isinstance(saved, dict) or saved.get("settings") != wanted:
        return {}  # another folder, an older scan or other decoders: scan afresh
    entries = saved.get("files")
    if not isinstance(entries, dict):
        return {}
    # An entry that is not what save() writes is scanned afresh, not trusted.
    return {key: entry for key, entry in entries.items() if _entry_ok(key, entry)}


def _entry_ok(key: str, entry: Any) -> bool:
    """Whether a scan-cache entry has the shape the scan writes, for the file ``key``."""
    if not (isinstance(entry, dict) and isinstance(entry.get("stamp"), list)
            and isinstance(entry.get("row"), dict)):
        return False
    row = entry["row"]
    parts = key.split("/")
    return (set(row) >= set(files.COLUMNS) - {"path"} and row["file"] == key
            and row["class"] == (parts[0] if len(parts) > 1 else None)
            and row["status"] in _STATUSES
            and all(row[k] is None or (isinstance(row[k], int) and not isinstance(row[k], bool))
                    for k in ("width", "height"))
            and isinstance(row["bytes"], int) and isinstance(row["tf_decodes"], bool))


def save(path: Path | None, made_with: dict[str, Any], entries: dict[str, Any]) -> None:
    """Write the entries (``{file: {"stamp": ..., "row": ...}}``) and the settings they were made with.

    The JSON file holds ``{"settings": made_with, "files": entries}``, the shape
    :func:`load` reads back; ``path=None`` writes nothing.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "scan.json"
        >>> row = files.report_row(Path("/photos/cat/a.jpg"), Path("/photos"), "ok")
        >>> del row["path"]  # the cache keeps the name relative to the folder, ``file``
        >>> save(path, {"root": "/photos"}, {"cat/a.jpg": {"stamp": [3, 0, 0, 1], "row": row}})
        >>> sorted(json.loads(path.read_text()))
        ['files', 'settings']
        >>> list(load(path, {"root": "/photos"})), load(path, {"root": "/elsewhere"})
        (['cat/a.jpg'], {})
    """
    if path is None:
        return
    artifacts.write_json(path, {"settings": made_with, "files": entries})
