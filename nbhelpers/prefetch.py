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

__all__ = ["Item", "items", "status", "prefetch"]

_KA = "https://storage.googleapis.com/tensorflow/keras-applications"


@dataclass(frozen=True)
class Item:
    """One thing to download: what, from where, into which folder, and how."""

    label: str
    url: str
    filename: str
    folder: Path
    fetch: Callable[[], object]

    @property
    def path(self) -> Path:
        return self.folder / self.filename

    def cached(self) -> bool:
        return self.path.exists()


def _app(constructor: str, **kwargs) -> Callable[[], object]:
    def fetch() -> object:
        import keras

        return getattr(keras.applications, constructor)(weights="imagenet", **kwargs)

    return fetch


def items() -> list[Item]:
    """Everything the full and cpu profiles use: backbone weights, class names, data set.

    Example:
        >>> labels = [i.label for i in items()]
        >>> "VGG16 convolutional base" in labels and "cats vs dogs data set" in labels
        True
    """
    kc = config.keras_cache_dir()
    cpu_size = config.PROFILES["cpu"].image_size
    out = [
        Item("VGG16 convolutional base", f"{_KA}/vgg16/{config.VGG16_NOTOP_FILE}",
             config.VGG16_NOTOP_FILE, kc, _app("VGG16", include_top=False)),
        Item("VGG16 with its ImageNet classifier (notebook 02)",
             f"{_KA}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
             "vgg16_weights_tf_dim_ordering_tf_kernels.h5", kc, _app("VGG16", include_top=True)),
        Item("ResNet50 base (notebook 10)",
             f"{_KA}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
             "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", kc,
             _app("ResNet50", include_top=False)),
        Item("EfficientNetB0 base (notebook 10)",
             "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
             "efficientnetb0_notop.h5", kc, _app("EfficientNetB0", include_top=False)),
    ]
    for size in sorted({224, cpu_size}):
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5"
        out.append(Item(f"MobileNetV2 base at {size} px (notebook 10)", f"{_KA}/mobilenet_v2/{name}",
                        name, kc, _app("MobileNetV2", include_top=False,
                                       input_shape=(size, size, 3))))
    out.append(Item("ImageNet class names (notebook 02)",
                    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
                    "imagenet_class_index.json", kc, _class_index))
    out.append(_dataset_item())
    return out


def _class_index() -> object:
    import keras

    return keras.utils.get_file(
        "imagenet_class_index.json",
        "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json",
        cache_subdir="models",
    )


def _dataset_item() -> Item:
    from . import data  # imports TensorFlow: only when the list is built

    source = data.REGISTRY["cats_and_dogs"]
    cfg = config.make_config(config.Resolution(config.PROFILES["cpu"], "cpu", "make prefetch"))

    def fetch() -> object:
        return data.fetch(source, cfg)

    return Item("cats vs dogs data set", str(source.url), str(source.archive_name),
                cfg.cache_dir / "datasets", fetch)


def status(selected: list[Item] | None = None) -> list[tuple[Item, bool]]:
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
        >>> n == len(items()) and "MISSING" in out.getvalue()
        True
    """
    if online is None:
        online = config.network_available()
    missing = 0
    for item, cached in status():
        if cached:
            print(f"  cached   {item.label}: {item.path}")
            continue
        if dry_run or not online:
            missing += 1
            why = "dry run" if dry_run else f"no network ({config.DOWNLOAD_HOST} unreachable)"
            print(f"  MISSING  {item.label} [{why}]\n"
                  f"           download {item.url}\n"
                  f"           and put it in {item.folder}/")
            continue
        try:
            item.fetch()
            print(f"  fetched  {item.label}: {item.path}")
        except Exception as exc:  # keep going: report every item, then the total
            missing += 1
            print(f"  FAILED   {item.label}: {exc}\n"
                  f"           download {item.url} by hand into {item.folder}/")
    print("Everything is cached: the notebooks can run offline in the cpu and full profiles."
           if not missing else
           f"{missing} item(s) missing: the cpu/full profiles need them (offline still works).")
    return missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="only report, fetch nothing")
    args = ap.parse_args(argv)
    print(f"Keras cache: {config.keras_cache_dir()}\nData cache:  {config.data_dir() / 'cache'}")
    return 1 if prefetch(dry_run=args.dry_run) else 0


if __name__ == "__main__":
    sys.exit(main())
