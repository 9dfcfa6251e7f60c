"""How a folder of your own is laid out: one folder per class, or already split; archives and wrappers.

:func:`folder_layout` recognises three things real folders do -- an archive
(extracted once into the cache), a wrapper folder (stepped into), and a data
set that comes already split (``train/``, ``val/``, ``test/`` by any common
name) -- and says each decision in words (:class:`Layout`'s ``notes``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, current
from .archives import ARCHIVE_EXTENSIONS, extract_archive
from .errors import DataError, MissingFolderError
from .files import SUPPORTED_EXTENSIONS
from .scanning import CLUTTER_DIRS, is_hidden
from .sources import check_source

__all__ = ["SPLIT_FOLDER_NAMES", "Layout", "folder_layout"]

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
_IMAGE_ENDINGS = (*SUPPORTED_EXTENSIONS, ".tif", ".tiff", ".webp", ".heic", ".heif", ".avif")


@dataclass
class Layout:
    """How a folder of your own is laid out, as :func:`folder_layout` found it.

    ``root`` is the folder that holds the data (after extracting an archive and
    stepping into a lone wrapper folder); ``splits`` is empty for one folder
    per class (``root/<class>/...``, split three ways by ``prepare``) and
    maps ``"train"``, ``"validation"``, ``"test"`` to their folders for a data
    set that comes already split (``root/train/<class>/...``); ``notes`` says,
    in words, each decision taken.

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
    """Sub-folders the scan would read (no links, hidden folders or OS clutter)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.is_dir() and not p.is_symlink() and p.name not in CLUTTER_DIRS
            and not is_hidden(p.name) and not p.name.startswith("_")]


def _has_images(folder: Path) -> bool:
    """Whether image-looking files lie directly in ``folder`` (by their ending; cheap)."""
    try:
        return any(p.suffix.lower() in _IMAGE_ENDINGS and not is_hidden(p.name)
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


def folder_layout(source: str | Path, cfg: Config | None = None) -> Layout:
    """Find how a folder of your own images is laid out (what ``prepare`` reads).

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

    Taught in ``03_preparing_the_data``.

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
    notes: list[str] = []
    root = _step_into_wrappers(_data_folder(source, cfg, notes), notes, "the data folder",
                               into_splits=False)
    top = _visible_folders(root)
    roles = {p: _split_role(p.name) for p in top}
    if not top or any(r is None for r in roles.values()) or "train" not in roles.values():
        return Layout(root, {}, notes)
    splits = _split_folders(root, roles, notes)
    if list(splits) == ["train"]:
        notes.append(f"{root} holds only a training folder: it is split three ways as one "
                     "folder per class")
        return Layout(splits["train"], {}, notes)
    order = [r for r in ("train", "validation", "test") if r in splits]
    notes.append("the data come already split ("
                 + ", ".join(f"{splits[r].relative_to(root).as_posix()}/ -> {r}" for r in order)
                 + "): the splits are kept as given")
    return Layout(root, {r: splits[r] for r in order}, notes)


def _data_folder(source: str | Path, cfg: Config, notes: list[str]) -> Path:
    """The folder ``source`` names: itself, or where its archive was extracted (said in ``notes``)."""
    check_source(source)
    path = Path(source).expanduser()
    if not path.exists():  # a registered name is no folder: prepare(cfg, name) reads it
        raise MissingFolderError(f"No folder {path}: for the registered data set {source!r}, "
                                 f"call nbh.data.prepare(cfg, {os.fspath(source)!r}).")
    if not path.is_file():
        return path
    if not path.name.lower().endswith(ARCHIVE_EXTENSIONS):
        raise MissingFolderError(
            f"{path} is a file, not a folder. Pass the folder that holds one folder per "
            f"class, or a .zip / .tar.gz archive of it.")
    root = extract_archive(path, cfg)
    notes.append(f"extracted the archive {path.name} into {root}")
    return root


def _split_folders(root: Path, roles: dict[Path, str | None], notes: list[str]) -> dict[str, Path]:
    """Each split's folder (wrappers stepped into); refuse two folders for one split, or no classes."""
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
    return splits
