"""Where are we running?  Versions, Colab, GPUs/TPUs, and the distribution strategy.

Taught in ``00_start_here``; ``nbhelpers.course`` trains inside
:func:`strategy`'s scope so the same code uses one CPU, several GPUs or a TPU.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata as md
import logging
import os
import platform
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from .config import in_colab

__all__ = ["in_colab", "versions", "devices", "gpus", "gpu_compute_capability", "report",
           "strategy", "require_tensorflow", "use_drive", "NATIVE_NOISE", "native_noise_filtered",
           "load_tensorflow", "where_to_find"]

#: The extra that installs what Colab has preinstalled (TensorFlow, OpenCV) elsewhere.
LOCAL_EXTRA = "local"

#: Packages whose versions the course reports (distribution name -> import name).
PACKAGES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "numpy": "numpy",
    "shap": "shap",
    "lime": "lime",
    "scikit-learn": "sklearn",
    "scikit-image": "skimage",
    "matplotlib": "matplotlib",
    "seaborn": "seaborn",
}


def _dist_version(dist: str) -> str | None:
    for name in (dist, f"{dist}-cpu", f"{dist}-macos"):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str]:
    """Python and the course's packages, ``"missing"`` for those not installed.

    Example:
        >>> v = versions()
        >>> v["python"] == platform.python_version()
        True
    """
    out = {"python": platform.python_version()}
    for dist in PACKAGES:
        out[dist] = _dist_version(dist) or "missing"
    return out


def require_tensorflow() -> Any:
    """Import TensorFlow, or fail with what to install.

    Example:
        >>> require_tensorflow().__name__
        'tensorflow'
    """
    try:
        return importlib.import_module("tensorflow")
    except ImportError as exc:
        raise ImportError(
            "TensorFlow is not installed. Locally: `make run` or `make lab` create .venv "
            f"with it; by hand: `pip install 'nbhelpers[{LOCAL_EXTRA}]'` (TensorFlow and "
            "OpenCV). On Colab it is preinstalled."
        ) from exc


#: Notices TensorFlow's C++ layer writes to the process's stderr on every machine when it
#: loads: information for its developers, not errors, and
#: shown in red under a notebook's setup cell.  ``TF_CPP_MIN_LOG_LEVEL`` does not silence
#: the absl ones (tensorflow/tensorflow#79029).  Any other line is passed through.
NATIVE_NOISE: tuple[re.Pattern[str], ...] = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"oneDNN custom operations are on",
    r"Unable to register (cuDNN|cuFFT|cuBLAS) factory",
    r"computation placer already registered",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"TF-TRT Warning: Could not find TensorRT",
))


@contextlib.contextmanager
def native_noise_filtered(noise: tuple[re.Pattern[str], ...] = NATIVE_NOISE) -> Iterator[None]:
    """Hold back, inside the block, the C++ notices in :data:`NATIVE_NOISE`; pass the rest on.

    The C++ layer writes to file descriptor 2, below Python's ``sys.stderr``, so
    the block sends descriptor 2 to a temporary file, and at its end writes
    every line that is not a known notice to ``sys.stderr`` (a real warning or
    error is never lost).  Plumbing used by :func:`load_tensorflow`.

    Example:
        >>> with native_noise_filtered():
        ...     _ = os.write(2, b"oneDNN custom operations are on.\\n")
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (an embedded interpreter): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", errors="replace").splitlines()
            kept = [line for line in lines
                    if line.strip() and not any(p.search(line) for p in noise)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


class _QuietRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning, passes every other record.

    Each new model, ``compile`` or input shape traces its functions anew: the
    course builds many small models on purpose, and the warning's advice
    (``reduce_retracing``, moving a function out of a loop) does not apply to
    a learner's cell.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def load_tensorflow() -> Any:
    """Import TensorFlow and list its devices, without its start-up notices (:data:`NATIVE_NOISE`).

    Called by ``nbh.setup()`` before anything else touches TensorFlow, so a
    notebook's first output is the course's banner rather than red C++ log
    lines; whatever else TensorFlow prints (a CUDA library it cannot load,
    say) still shows.  It also drops TensorFlow's "triggered tf.function
    retracing" warning, which every new model in a notebook would set off.

    Example:
        >>> load_tensorflow().__name__
        'tensorflow'
    """
    if "tensorflow" not in sys.modules:
        with native_noise_filtered():
            require_tensorflow().config.list_physical_devices()
    tf = sys.modules["tensorflow"]
    logger = tf.get_logger()
    if not any(isinstance(f, _QuietRetracing) for f in logger.filters):
        logger.addFilter(_QuietRetracing())
    return tf


def devices() -> dict[str, list[str]]:
    """Physical devices TensorFlow sees, by type (``CPU``, ``GPU``, ``TPU``).

    Example:
        >>> "CPU" in devices()
        True
    """
    tf = require_tensorflow()
    out: dict[str, list[str]] = {}
    for d in tf.config.list_physical_devices():
        out.setdefault(d.device_type, []).append(d.name)
    return out


def gpus() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty without TensorFlow or without a GPU).

    Example:
        >>> isinstance(gpus(), list)
        True
    """
    try:
        tf = importlib.import_module("tensorflow")
        return [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001 - TensorFlow missing or broken: no GPU to speak of
        return []


def gpu_compute_capability() -> tuple[int, int] | None:
    """The (major, minor) CUDA compute capability of the first GPU, or None without one.

    Tensor cores, which make float16 maths fast, start at 7.0 (V100, T4 is 7.5).

    Example:
        >>> gpu_compute_capability() is None or len(gpu_compute_capability()) == 2
        True
    """
    try:
        tf = importlib.import_module("tensorflow")
        devices = tf.config.list_physical_devices("GPU")
        if not devices:
            return None
        cc = tf.config.experimental.get_device_details(devices[0]).get("compute_capability")
        return (int(cc[0]), int(cc[1])) if cc else None
    except Exception:  # noqa: BLE001 - no TensorFlow, or a GPU that does not say
        return None


def report(print_it: bool = True) -> dict[str, Any]:
    """A short environment report: platform, versions, Colab, devices.

    Example:
        >>> r = report(print_it=False)
        >>> sorted(r)
        ['colab', 'cpus', 'devices', 'platform', 'versions']
    """
    info: dict[str, Any] = {
        "platform": f"{platform.system()} {platform.machine()}",
        "colab": in_colab(),
        "versions": versions(),
        "devices": devices(),
        "cpus": os.cpu_count(),
    }
    if print_it:
        print(f"Platform: {info['platform']}, {info['cpus']} CPU cores, Colab: {info['colab']}")
        for k, v in info["versions"].items():
            print(f"  {k:<13} {v}")
        print("TensorFlow's devices (all CPU cores count as one CPU device):")
        for kind, names in info["devices"].items():
            print(f"  {kind}: {len(names)} ({', '.join(names)})")
    return info


def strategy() -> Any:
    """The ``tf.distribute`` strategy for this machine.

    A TPU (Colab's TPU runtime) gives ``TPUStrategy``; several GPUs give
    ``MirroredStrategy``; otherwise the default strategy (one device).
    ``nbh.course.default_strategy()`` creates it once per process.

    Example:
        >>> type(strategy()).__name__ in {"_DefaultDistributionStrategy", "MirroredStrategy"}
        True
    """
    tf = require_tensorflow()
    if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"):
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except Exception as exc:  # pragma: no cover - only on a TPU runtime
            print(f"TPU detected but could not be initialised ({exc}); using the default.")
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def where_to_find(path: str | Path, colab: bool | None = None) -> str:
    """One line that tells a learner where a file is and how to get it onto their computer.

    On Google Colab (``colab=None`` asks :func:`in_colab`): its place in the Files
    pane (the folder icon on the left, which shows ``/content``) and the line that
    downloads it, ``google.colab.files.download``; a folder cannot be downloaded
    whole, so its line names its files instead.  Elsewhere: the path, relative to
    the working folder when it is inside it.  Taught in ``12_using_your_model``.

    Example:
        >>> where_to_find("/content/nbhelpers_data/export/model_int8.tflite", colab=True)
        "Files pane (folder icon, left): content/nbhelpers_data/export/model_int8.tflite; to download: from google.colab import files; files.download('/content/nbhelpers_data/export/model_int8.tflite')"
        >>> where_to_find("/tmp/x/model.keras", colab=False)
        '/tmp/x/model.keras'
    """
    path = Path(path)
    if colab is None:
        colab = in_colab()
    if not colab:
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)
    shown = str(path).lstrip("/")
    if not str(path).startswith("/content"):
        shown = f"{path} (outside /content: the Files pane does not show it)"
    if path.is_dir():
        return (f"Files pane (folder icon, left): {shown}; a folder downloads file by file: "
                f"files.download('{path}/<file>')")
    return (f"Files pane (folder icon, left): {shown}; to download: "
            f"from google.colab import files; files.download('{path}')")


def use_drive(folder: str = "nbhelpers_data", mount_point: str = "/content/drive") -> Path:
    """On Colab: keep downloads, caches, artifacts and backups on Google Drive.

    Colab recycles its VM after a disconnect or a few idle hours, and with it
    ``/content/nbhelpers_data`` (the data folder on Colab, :data:`config.COLAB_DATA_DIR`).  This mounts your Drive (Colab asks you to allow it, once
    per VM), creates ``MyDrive/<folder>`` and points ``NBH_DATA_DIR`` there, so a
    trained model, cached features and training backups survive and a resumed run
    continues.  Run ``cfg = nbh.setup()`` again afterwards: setup reads the folder.
    Call it in every new VM (the mount and the variable do not outlive it).

    Elsewhere nothing is mounted and nothing changes: it says so and returns the
    data folder in use.  Nothing happens unless you call it.

    Example:
        >>> from nbhelpers.config import data_dir
        >>> path = use_drive()  # doctest: +ELLIPSIS
        Not on Google Colab: Drive not mounted; data stays in ...
        >>> path == data_dir()
        True
    """
    rel = PurePosixPath(folder)
    if not folder or rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"folder must be a relative path inside MyDrive, like "
                         f"'nbhelpers_data' or 'courses/vgg16', not {folder!r}")
    from . import config

    if not in_colab():
        here = config.data_dir()
        print(f"Not on Google Colab: Drive not mounted; data stays in {here} "
              "(set NBH_DATA_DIR to keep it elsewhere).")
        return here
    root = Path(mount_point)
    if not (root / "MyDrive").is_dir():
        from google.colab import drive  # only on Colab

        drive.mount(str(root))
    target = root / "MyDrive" / rel
    target.mkdir(parents=True, exist_ok=True)
    os.environ["NBH_DATA_DIR"] = str(target)
    print(f"NBH_DATA_DIR={target}: downloads, artifacts and backups now survive a new VM. "
          "Run `cfg = nbh.setup()` again so the course uses it.")
    return target
