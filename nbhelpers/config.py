"""Profiles, paths, seeds and the on-screen banner.

Every notebook starts with ``cfg = nbh.setup()`` (taught in ``00_start_here``).
``setup`` decides *how big* this run is -- the profile -- and says so on screen:

========  ======================  =====================================  ==================
profile   backbone weights        data                                   meant for
========  ======================  =====================================  ==================
full      ImageNet (downloaded)   cats vs dogs, all of it, 224 px        a Colab GPU
cpu       ImageNet (downloaded)   cats vs dogs, 160 px, cached features  a workshop laptop
offline   none (random init)      scikit-image faces vs non-faces, 64px  CI, no network
========  ======================  =====================================  ==================

``NBH_PROFILE`` picks one; ``auto`` (the default) picks ``full`` on a GPU and
``cpu`` otherwise, and falls back to ``offline`` only when the ImageNet weights
cannot be had -- printing why.  A profile named explicitly never falls back: it
fails with a message that says what is missing and how to fix it.

Environment variables:

``NBH_PROFILE``        ``auto`` | ``full`` | ``cpu`` | ``offline``
``NBH_DATA_DIR``       where downloads and artifacts live (default: ``data/`` of the
                       course checkout, else ``~/nbhelpers_data``)
``NBH_ARTIFACTS_DIR``  trained models and their records (default:
                       ``$NBH_DATA_DIR/artifacts/<profile>``)
``NBH_SEED``           the global seed (default 42)
``NBH_DATA_SOURCE``    a folder of your own images (``root/<class>/*``) that every
                       notebook's ``nbh.data.prepare(cfg)`` uses instead of the
                       profile's data set (see ``03_preparing_the_data``)
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PROFILES",
    "Profile",
    "Config",
    "ProfileError",
    "ProfileUnavailableError",
    "resolve_profile",
    "setup",
    "current",
    "seed_everything",
    "data_dir",
    "network_available",
    "weights_cached",
]

#: Host that serves Keras' ImageNet weights and the course data set.
DOWNLOAD_HOST = "storage.googleapis.com"
#: The file whose presence in the Keras cache means "ImageNet weights are here".
VGG16_NOTOP_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_NOTOP_FILE
)


class ProfileError(ValueError):
    """An unknown profile name."""


class ProfileUnavailableError(RuntimeError):
    """A profile was asked for explicitly, but what it needs cannot be had here."""


@dataclass(frozen=True)
class Profile:
    """The scale of one run: data, image size, weights and training budget.

    Example:
        >>> PROFILES["offline"].weights is None
        True
        >>> PROFILES["full"].image_size
        224
    """

    name: str
    description: str
    dataset: str  # name in nbhelpers.data's registry
    weights: str | None  # "imagenet" or None (random initialisation)
    image_size: int  # square images, pixels per side
    batch_size: int
    head_epochs: int  # notebook 04: head on a frozen base
    finetune_epochs: int  # notebook 05: top block unfrozen
    head_learning_rate: float
    finetune_learning_rate: float
    max_images_per_class: int | None  # None: all of them
    lime_samples: int  # perturbed images per LIME explanation
    shap_evals: int  # model evaluations per Partition-SHAP explanation
    shap_background: int  # background images for GradientExplainer
    bootstrap: int  # resamples for confidence intervals
    explain_images: int  # images explained side by side in 07/08

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(image_size, image_size, 3)``, what the backbone is built for."""
        return (self.image_size, self.image_size, 3)


PROFILES: dict[str, Profile] = {
    "full": Profile(
        name="full",
        description="ImageNet weights, the whole cats-vs-dogs data set at 224 px (a GPU)",
        dataset="cats_and_dogs",
        weights="imagenet",
        image_size=224,
        batch_size=32,
        head_epochs=10,
        finetune_epochs=10,
        head_learning_rate=1e-3,
        finetune_learning_rate=1e-5,
        max_images_per_class=None,
        lime_samples=1000,
        shap_evals=500,
        shap_background=50,
        bootstrap=2000,
        explain_images=4,
    ),
    "cpu": Profile(
        name="cpu",
        description="ImageNet weights, cats vs dogs at 160 px, cached features (a laptop)",
        dataset="cats_and_dogs",
        weights="imagenet",
        image_size=160,
        batch_size=32,
        head_epochs=5,
        finetune_epochs=2,
        head_learning_rate=1e-3,
        finetune_learning_rate=1e-5,
        max_images_per_class=300,
        lime_samples=300,
        shap_evals=200,
        shap_background=20,
        bootstrap=1000,
        explain_images=3,
    ),
    "offline": Profile(
        name="offline",
        description="UNTRAINED weights (random init), scikit-image faces vs non-faces at 64 px",
        dataset="faces",
        weights=None,
        image_size=64,
        batch_size=16,
        head_epochs=8,
        finetune_epochs=2,
        head_learning_rate=1e-2,  # random-weight features are small: a larger step
        finetune_learning_rate=1e-4,
        max_images_per_class=None,
        lime_samples=40,
        shap_evals=40,
        shap_background=8,
        bootstrap=200,
        explain_images=2,
    ),
}

_VALID = ("auto", *PROFILES)


def data_dir() -> Path:
    """Where downloads, caches and artifacts live.

    ``NBH_DATA_DIR`` when set; else the ``data/`` folder of the course
    checkout when nbhelpers is installed from one; else ``~/nbhelpers_data``.

    Example:
        >>> isinstance(data_dir(), Path)
        True
    """
    env = os.environ.get("NBH_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "notebooks").is_dir() and (checkout / "data").is_dir():
        return checkout / "data"
    return Path.home() / "nbhelpers_data"


def keras_cache_dir() -> Path:
    """Keras' download cache (``$KERAS_HOME`` or ``~/.keras``), where weights go.

    Example:
        >>> keras_cache_dir().name in {"models"}
        True
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def weights_cached(filename: str = VGG16_NOTOP_FILE) -> bool:
    """True when a Keras weights file is already in the Keras cache.

    Example:
        >>> weights_cached("no-such-file.h5")
        False
    """
    return (keras_cache_dir() / filename).is_file()


def network_available(host: str = DOWNLOAD_HOST, port: int = 443, timeout: float = 3.0) -> bool:
    """True when a TCP connection to ``host`` opens within ``timeout`` seconds.

    Offline machines usually fail at the name lookup, so this answers fast.

    Example:
        >>> network_available("host.invalid", timeout=0.5)
        False
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _gpu_available() -> bool:
    try:
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # TensorFlow missing or broken: no GPU to speak of
        return False


def _weights_obtainable() -> tuple[bool, str]:
    """Can the ImageNet weights be had?  ``(answer, reason)``."""
    if weights_cached():
        return True, f"ImageNet weights found in {keras_cache_dir()}"
    if network_available():
        return True, f"{DOWNLOAD_HOST} is reachable; weights will be downloaded once"
    return False, (
        f"no network ({DOWNLOAD_HOST} unreachable) and no {VGG16_NOTOP_FILE} "
        f"in {keras_cache_dir()}"
    )


@dataclass(frozen=True)
class Resolution:
    """Which profile was chosen, what was asked for, and why."""

    profile: Profile
    requested: str
    reason: str


def resolve_profile(
    requested: str | None = None,
    *,
    gpu: bool | None = None,
    weights: tuple[bool, str] | None = None,
) -> Resolution:
    """Choose the profile for this run.

    ``requested`` defaults to ``$NBH_PROFILE``, then ``"auto"``.  ``gpu`` and
    ``weights`` (``(obtainable, reason)``) are detected when not given; tests
    pass them to pin the situation down.

    Raises:
        ProfileError: the name is not one of auto, full, cpu, offline.
        ProfileUnavailableError: ``full``/``cpu`` was named, but the ImageNet
            weights cannot be had (an explicit profile never falls back).

    Example:
        >>> resolve_profile("auto", gpu=False, weights=(False, "no network")).profile.name
        'offline'
        >>> resolve_profile("auto", gpu=True, weights=(True, "cached")).profile.name
        'full'
    """
    raw = requested if requested is not None else os.environ.get("NBH_PROFILE", "auto")
    name = (raw or "auto").strip().lower()
    if name not in _VALID:
        raise ProfileError(
            f"Unknown profile {raw!r}. Choose one of: {', '.join(_VALID)} "
            f"(set NBH_PROFILE, e.g. `NBH_PROFILE=cpu make run`)."
        )
    if name == "offline":
        return Resolution(PROFILES["offline"], name, "asked for explicitly")

    if weights is None:
        weights = _weights_obtainable()
    ok, why = weights
    if name in ("full", "cpu"):
        if not ok:
            raise ProfileUnavailableError(
                f"Profile {name!r} needs the ImageNet weights, but {why}.\n"
                f"Fix: connect to the internet and run `make prefetch`, or copy "
                f"{VGG16_NOTOP_FILE} (from {VGG16_NOTOP_URL}) into {keras_cache_dir()}, "
                f"or choose NBH_PROFILE=offline (or auto)."
            )
        return Resolution(PROFILES[name], name, "asked for explicitly")

    # auto
    if not ok:
        return Resolution(
            PROFILES["offline"], name, f"auto fell back to offline: {why}"
        )
    if gpu is None:
        gpu = _gpu_available()
    if gpu:
        return Resolution(PROFILES["full"], name, f"auto: a GPU was found; {why}")
    return Resolution(PROFILES["cpu"], name, f"auto: no GPU, so the CPU profile; {why}")


@dataclass
class Config:
    """What ``setup()`` returns: the profile plus paths and seed.

    Profile fields can be read directly: ``cfg.image_size`` is
    ``cfg.profile.image_size``.
    """

    profile: Profile
    requested: str
    reason: str
    seed: int
    data_dir: Path
    cache_dir: Path
    artifacts_dir: Path
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The profile's name."""
        return self.profile.name

    @property
    def offline(self) -> bool:
        """True in the offline profile: untrained weights, smoke-scale numbers."""
        return self.profile.name == "offline"

    def label(self) -> str:
        """A short tag to print beside any number: ``[profile: offline, UNTRAINED weights]``."""
        if self.offline:
            return "[profile: offline, UNTRAINED weights: a smoke test, not a result]"
        return f"[profile: {self.profile.name}]"

    def __getattr__(self, item: str) -> Any:
        # Only reached when normal lookup fails: delegate to the profile.
        profile = self.__dict__.get("profile")
        if profile is not None and item in {f.name for f in dataclasses.fields(profile)}:
            return getattr(profile, item)
        if profile is not None and item == "input_shape":
            return profile.input_shape
        raise AttributeError(item)


_CURRENT: Config | None = None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend (``keras.utils.set_random_seed``).

    Example:
        >>> import numpy as np
        >>> seed_everything(1); a = np.random.rand()
        >>> seed_everything(1); a == np.random.rand()
        True
    """
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except ImportError:  # keras not installed: NumPy/Python seeding still holds
        pass


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TQDM_DISABLE", "1")


def banner(cfg: Config) -> str:
    """The text ``setup()`` prints at the top of every notebook.

    Example:
        >>> cfg = make_config(resolve_profile("offline"))
        >>> "OFFLINE" in banner(cfg)
        True
    """
    p = cfg.profile
    lines = [
        f"nbhelpers profile: {p.name}  ({p.description})",
        f"  why: {cfg.reason}",
        f"  data: {p.dataset} at {p.image_size}x{p.image_size} px, batch {p.batch_size}; "
        f"seed {cfg.seed}",
        f"  files: {cfg.data_dir}  (artifacts: {cfg.artifacts_dir})",
    ]
    if cfg.offline:
        bar = "!" * 78
        lines = [
            bar,
            "!! OFFLINE PROFILE: the backbone has UNTRAINED (random) weights and the",
            "!! data are tiny bundled images. Every number below is a smoke test that",
            "!! the code runs -- NOT a result. Run with the cpu or full profile for real ones.",
            bar,
            *lines,
        ]
    return "\n".join(lines)


def make_config(resolution: Resolution, seed: int | None = None) -> Config:
    """Turn a :class:`Resolution` into a :class:`Config` with paths and seed.

    Example:
        >>> make_config(resolve_profile("offline"), seed=7).seed
        7
    """
    if seed is None:
        seed = int(os.environ.get("NBH_SEED", "42"))
    root = data_dir()
    artifacts = os.environ.get("NBH_ARTIFACTS_DIR")
    art = Path(artifacts).expanduser() if artifacts else root / "artifacts" / resolution.profile.name
    return Config(
        profile=resolution.profile,
        requested=resolution.requested,
        reason=resolution.reason,
        seed=seed,
        data_dir=root,
        cache_dir=root / "cache",
        artifacts_dir=art,
    )


def setup(profile: str | None = None, seed: int | None = None, quiet: bool = False) -> Config:
    """Choose the profile, seed everything, set plotting defaults, print the banner.

    The first call in every notebook (taught in ``00_start_here``).

    Example:
        >>> cfg = setup("offline", quiet=True)
        >>> cfg.offline, cfg.image_size
        (True, 64)
    """
    global _CURRENT
    _quiet_tensorflow()
    cfg = make_config(resolve_profile(profile), seed)
    for d in (cfg.data_dir, cfg.cache_dir, cfg.artifacts_dir):
        d.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    try:
        from . import plots

        plots.set_style()
    except ImportError:  # plotting stack missing: nothing to style
        pass
    _CURRENT = cfg
    if not quiet:
        print(banner(cfg), file=sys.stdout)
    return cfg


def current() -> Config:
    """The Config of the last ``setup()``; runs a quiet ``setup()`` if there was none.

    Example:
        >>> current().profile.name in PROFILES
        True
    """
    if _CURRENT is None:
        return setup(quiet=True)
    return _CURRENT
