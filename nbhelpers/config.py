"""A run's settings: its profile, budgets and their overrides, defaults, paths, seeds.

``cfg = nbh.setup()`` (in :mod:`nbhelpers.course`, taught in ``00_start_here``)
decides *how big* this run is -- the profile, one of
:data:`~nbhelpers.profiles.PROFILES` (``full``, ``cpu``, ``offline``: see
:mod:`nbhelpers.profiles`) -- and returns a :class:`Config`.  This module holds the
budgets, defaults and paths that decision is made from, and imports nothing else of
the course but the profiles: with them it is the bottom of the package.

Environment variables:

``NBH_PROFILE``        ``auto`` | ``full`` | ``cpu`` | ``offline``
``NBH_OVERRIDES``      budget overrides for a room, e.g.
                       ``"max_images_per_class=100,head_epochs=3"`` (see :data:`BUDGETS`);
                       recorded in every artifact's settings, so artifacts made with
                       other budgets are never reused
``NBH_DATA_DIR``       where downloads and artifacts live (default: on Colab
                       ``/content/nbhelpers_data``, which its file browser shows; else
                       ``data/`` of the course checkout, else ``~/nbhelpers_data``)
``NBH_ARTIFACTS_DIR``  trained models and their records (default:
                       ``$NBH_DATA_DIR/artifacts/<profile>``)
``NBH_SEED``           the global seed (default 42)
``NBH_PRECISION``      ``float32`` | ``mixed_float16``: force the Keras dtype policy that
                       ``setup()`` otherwise chooses (mixed_float16 on a GPU with tensor
                       cores in the ``full`` profile); CI's mixed-precision lane sets it
``NBH_DATA_SOURCE``    a folder of your own images (``root/<class>/*``, a folder
                       already split into ``train/`` ``validation/`` ``test/``, or
                       a ``.zip`` of either) that every
                       notebook's ``nbh.data.prepare(cfg)`` uses instead of the
                       profile's data set (see ``03_preparing_the_data``)
``NBH_OOD_PHOTOS``     a folder of your own photos of other kinds (not of your classes):
                       added to the "none of these" photos of notebooks 12 and 13
                       (``nbh.ood.reference_photos``)
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .profiles import PROFILES, Profile

__all__ = [
    "PROFILES",
    "BUDGETS",
    "MODEL_BUDGETS",
    "ANALYSIS_BUDGETS",
    "DEFAULT_HEAD",
    "DEFAULT_DROPOUT",
    "DEFAULT_PATIENCE",
    "Profile",
    "Config",
    "ProfileError",
    "OverrideError",
    "ProfileUnavailableError",
    "make_config",
    "parse_overrides",
    "current",
    "seed_everything",
    "data_dir",
    "in_colab",
    "COLAB_DATA_DIR",
    "standin_weights",
    "keras_cache_dir",
    "network_available",
    "SettingError",
    "MIN_IMAGE_SIZE",
    "parse_seed",
    "check_data_dir",
    "expand_setting",
    "MAX_IMAGE_SIZE",
]

#: Host that serves Keras' ImageNet weights and the course data set.
DOWNLOAD_HOST = "storage.googleapis.com"


class ProfileError(ValueError):
    """An unknown profile name (a ``ValueError``).

    Example:
        >>> make_config("huge")
        Traceback (most recent call last):
        nbhelpers.config.ProfileError: Unknown profile 'huge'. Choose one of: auto, full, ...
    """


class OverrideError(ValueError):
    """A budget override that names no budget or has a value of the wrong kind.

    Example:
        >>> make_config("offline", overrides={"head_epochs": "many"})
        Traceback (most recent call last):
        nbhelpers.config.OverrideError: Override head_epochs='many': the value must be a whole number.
    """


class SettingError(ValueError):
    """A setting (an environment variable or an argument) that cannot work; says which and why.

    Example:
        >>> parse_seed("lots")
        Traceback (most recent call last):
        nbhelpers.config.SettingError: NBH_SEED='lots' is not a seed: use a whole number from 0 ...
    """


class ProfileUnavailableError(RuntimeError):
    """A profile was asked for explicitly, but what it needs cannot be had here.

    Example:
        >>> import os, tempfile
        >>> from unittest import mock
        >>> from nbhelpers import config, course
        >>> with mock.patch.dict(os.environ, {"KERAS_HOME": tempfile.mkdtemp()}), \\
        ...         mock.patch.object(config, "network_available", return_value=False):
        ...     course.resolve_profile("cpu")   # as if offline, with an empty Keras cache
        Traceback (most recent call last):
        nbhelpers.config.ProfileUnavailableError: Profile 'cpu' needs the ImageNet weights, ...
    """


#: The budgets that change a trained model: a saved model is reused only where they match
#: (``nbh.get_model``); the fine-tuning ones (``finetune_*``) only for the fine-tuned stage.
MODEL_BUDGETS: tuple[str, ...] = (
    "image_size", "batch_size", "head_epochs", "finetune_epochs", "head_learning_rate",
    "finetune_learning_rate", "max_images_per_class",
)
#: The budgets of what is computed from a trained model (explanations, intervals):
#: changing them keeps the saved models.
ANALYSIS_BUDGETS: tuple[str, ...] = (
    "lime_samples", "shap_evals", "shap_background", "bootstrap", "explain_images",
)
#: The profile fields an instructor may override (``NBH_OVERRIDES`` or ``setup(overrides=)``).
BUDGETS: tuple[str, ...] = MODEL_BUDGETS + ANALYSIS_BUDGETS

VALID_PROFILES = ("auto", *PROFILES)

#: Images per forward pass where nothing is learned (features, predictions, explanations).
#: On a CPU a small batch is as fast as a large one and needs far less memory: VGG16 at
#: 160 px on 2 cores predicts 256 images in the same time in batches of 8 or 32, and
#: TensorFlow keeps 111 MB for the activations at 8, 213 MB at 16, 533 MB at 32 and 974 MB
#: at 64 (measured). A GPU would be faster with larger batches; 16 keeps one default for all.
INFERENCE_BATCH_SIZE = 16

#: The classifier head the course builds unless told otherwise (``"gap"``: global average
#: pooling, then dropout at ``DEFAULT_DROPOUT``, then the class scores), used by
#: ``nbh.models.build_classifier``, ``nbh.training`` and ``nbh.course``.
DEFAULT_HEAD = "gap"
DEFAULT_DROPOUT = 0.5
#: Epochs without a lower validation loss before early stopping ends a fit.
DEFAULT_PATIENCE = 3

#: The smallest square image the course's backbones accept: VGG16 halves it five times
#: (each backbone's own limit is checked when it is built, ``nbh.models.load_backbone``).
MIN_IMAGE_SIZE = 32
#: The largest: a batch of 32 float32 images of 1024 px is already 400 MB before any layer.
MAX_IMAGE_SIZE = 1024


def standin_weights() -> bool:
    """True in a rehearsal, whose ImageNet files are generated stand-ins (``NBH_REHEARSAL_STANDINS``).

    Example:
        >>> isinstance(standin_weights(), bool)
        True
    """
    return bool(os.environ.get("NBH_REHEARSAL_STANDINS"))


def in_colab() -> bool:
    """True inside Google Colab (its kernel imports ``google.colab`` at start).

    Also ``nbh.env.in_colab``.

    Example:
        >>> in_colab()
        False
    """
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


#: The data folder on Google Colab: where its file browser looks (not the home folder, /root).
COLAB_DATA_DIR = Path("/content/nbhelpers_data")


def data_dir() -> Path:
    """Where downloads, caches and artifacts live.

    ``NBH_DATA_DIR`` when set (``nbh.use_drive()`` sets it to a Drive folder); else,
    on Google Colab, :data:`COLAB_DATA_DIR` (under ``/content``, the folder Colab's
    file browser shows, so a learner finds the exported model there); else the
    ``data/`` folder of the course checkout when nbhelpers is installed from one;
    else ``~/nbhelpers_data``.

    Example:
        >>> isinstance(data_dir(), Path)
        True
    """
    env = os.environ.get("NBH_DATA_DIR", "").strip()
    if env:
        return expand_setting(env, "NBH_DATA_DIR").resolve()
    if in_colab():
        return COLAB_DATA_DIR
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "notebooks").is_dir() and (checkout / "data").is_dir():
        return checkout / "data"
    return Path.home() / "nbhelpers_data"


def expand_setting(value: str, variable: str) -> Path:
    """``value`` (a path from the environment variable ``variable``) with ``~`` expanded.

    Example:
        >>> expand_setting("~nosuchuser/x", "NBH_DATA_DIR")
        Traceback (most recent call last):
        ...
        nbhelpers.config.SettingError: NBH_DATA_DIR='~nosuchuser/x': ~nosuchuser names no user on this computer; write the folder's full path.
    """
    try:
        return Path(value).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        user = value.split("/", 1)[0]
        raise SettingError(f"{variable}={value!r}: {user} names no user on this computer; "
                           "write the folder's full path.") from None


def keras_cache_dir() -> Path:
    """Keras' download cache (``$KERAS_HOME/models`` or ``~/.keras/models``), where weights go.

    Example:
        >>> keras_cache_dir().name
        'models'
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


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


def _convert(name: str, raw: Any, default: Any) -> Any:
    """``raw`` (a string from NBH_OVERRIDES, or a value) as the type of the profile's field."""
    if not isinstance(raw, str):
        value = raw
    elif raw.strip().lower() in ("none", "all") and name == "max_images_per_class":
        value = None
    else:
        try:
            value = float(raw) if name.endswith("learning_rate") else int(raw)
        except ValueError:
            kind = "a number like 1e-4" if name.endswith("learning_rate") else "a whole number"
            raise OverrideError(f"Override {name}={raw!r}: the value must be {kind}.") from None
    if value is None and name == "max_images_per_class":
        return None
    if name.endswith("learning_rate"):
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value) and value > 0)
    elif name == "image_size" and isinstance(value, int) and 1 <= value < MIN_IMAGE_SIZE:
        raise OverrideError(f"Override image_size={raw!r} is too small: the backbones need at "
                            f"least {MIN_IMAGE_SIZE} pixels (VGG16 halves the image five times); "
                            f"the profile's value is {default!r}.")
    elif name == "image_size" and isinstance(value, int) and value > MAX_IMAGE_SIZE:
        raise OverrideError(f"Override image_size={raw!r} is too large: at most {MAX_IMAGE_SIZE} "
                            "pixels (memory grows with the square of the size; the backbones "
                            f"were trained at 224); the profile's value is {default!r}.")
    else:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if not ok:
        raise OverrideError(
            f"Override {name}={raw!r} is not valid: it must be a positive "
            f"{'finite number' if name.endswith('learning_rate') else 'whole number'} "
            f"(the profile's value is {default!r})."
        )
    return float(value) if name.endswith("learning_rate") else int(value)


def parse_overrides(spec: str | dict[str, Any] | None, profile: Profile | None = None
                    ) -> dict[str, Any]:
    """Budget overrides from ``"key=value,key=value"`` (``NBH_OVERRIDES``) or a dict, checked.

    Only the fields in :data:`BUDGETS` can be overridden; values get the
    field's type.  ``max_images_per_class=all`` means every image.

    Raises:
        OverrideError: a name that is no budget (the message lists them), or a bad value.

    Example:
        >>> parse_overrides("head_epochs=2, max_images_per_class=all")
        {'head_epochs': 2, 'max_images_per_class': None}
        >>> parse_overrides({"head_learning_rate": "3e-4"})
        {'head_learning_rate': 0.0003}
    """
    profile = profile or PROFILES["offline"]
    if not spec:
        return {}
    if isinstance(spec, str):
        pairs = {}
        for part in spec.replace(";", ",").split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise OverrideError(
                    f"Override {part.strip()!r} has no '='; write NBH_OVERRIDES like "
                    f"'head_epochs=2,max_images_per_class=100'."
                )
            pairs[key.strip()] = value.strip()
    else:
        pairs = dict(spec)
    out: dict[str, Any] = {}
    for key, raw in pairs.items():
        if key not in BUDGETS:
            raise OverrideError(
                f"{key!r} is not a budget that can be overridden; choose from: {', '.join(BUDGETS)}."
            )
        out[key] = _convert(key, raw, getattr(profile, key))
    return out


@dataclass(frozen=True)
class Config:
    """What ``nbh.setup()`` returns: the profile's fields (with overrides), paths and seed.

    Every value is a plain attribute: ``cfg.image_size``, ``cfg.head_epochs``,
    ``cfg.data_dir``; ``cfg.overrides`` says which budgets differ from the
    profile's.  A misspelt name fails with the list of names that exist.

    Example:
        >>> cfg = make_config("offline", overrides={"head_epochs": 1})
        >>> cfg.name, cfg.image_size, cfg.head_epochs, cfg.overrides
        ('offline', 64, 1, {'head_epochs': 1})
        >>> cfg.input_shape
        (64, 64, 3)
    """

    name: str
    description: str
    dataset: str
    weights: str | None
    image_size: int
    batch_size: int
    head_epochs: int
    finetune_epochs: int
    head_learning_rate: float
    finetune_learning_rate: float
    max_images_per_class: int | None
    lime_samples: int
    shap_evals: int
    shap_background: int
    bootstrap: int
    explain_images: int
    requested: str
    reason: str
    seed: int
    data_dir: Path
    cache_dir: Path
    artifacts_dir: Path
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    precision: str = "float32"  # Keras dtype policy; setup() picks mixed_float16 on a fit GPU

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(image_size, image_size, 3)``, what the backbone is built for."""
        return (self.image_size, self.image_size, 3)

    @property
    def offline(self) -> bool:
        """True in the offline profile: untrained weights, smoke-scale numbers."""
        return self.name == "offline"

    @property
    def overrides_text(self) -> str:
        """The budget overrides as NBH_OVERRIDES writes them (``""`` when none).

        Example:
            >>> make_config("offline").overrides_text
            ''
        """
        return ",".join(f"{k}={v}" for k, v in self.overrides.items())

    def label(self, weights: str | None = None) -> str:
        """A short tag to print beside any number: ``[profile: offline, UNTRAINED weights ...]``.

        It says when the backbone's weights are untrained (offline) or a rehearsal's
        stand-ins (``NBH_REHEARSAL_STANDINS``).  ``weights`` names the weights of a number
        that does not come from the profile's backbone (``"EfficientNet-Lite0, real
        ImageNet weights"``), instead of that warning.

        Example:
            >>> make_config("offline").label(weights="real weights")
            '[profile: offline; real weights]'
        """
        extra = f", overrides {self.overrides_text}" if self.overrides else ""
        if weights:
            return f"[profile: {self.name}{extra}; {weights}]"
        if self.offline:
            return f"[profile: offline{extra}, UNTRAINED base weights: not a trained model's results]"
        if standin_weights():
            return (f"[profile: {self.name}{extra}, STAND-IN ImageNet weights (a rehearsal): "
                    f"timings real, not a trained model's results]")
        return f"[profile: {self.name}{extra}]"

    def budgets(self) -> dict[str, Any]:
        """The profile's budget fields as they are in this run (overrides applied).

        Example:
            >>> make_config("offline").budgets()["lime_samples"]
            40
        """
        return {k: getattr(self, k) for k in BUDGETS}

    def __getattr__(self, item: str) -> Any:
        # Reached only when normal lookup fails: say which names exist.
        if item.startswith("__"):
            raise AttributeError(item)
        names = [f.name for f in dataclasses.fields(self)] + ["input_shape", "offline"]
        names += ["budgets", "label"]
        raise AttributeError(
            f"Config has no attribute {item!r}. Its attributes: {', '.join(sorted(names))}."
        )


def make_config(
    profile: str | Profile,
    *,
    requested: str | None = None,
    reason: str = "asked for explicitly",
    seed: int | None = None,
    overrides: str | dict[str, Any] | None = None,
) -> Config:
    """A :class:`Config` for a profile: its fields, overrides, paths and seed. Quiet, no I/O.

    ``seed`` defaults to ``$NBH_SEED`` (42); ``overrides`` to ``$NBH_OVERRIDES``.
    It neither creates folders nor seeds anything (``nbh.setup()`` does), and its
    ``precision`` is ``"float32"`` whatever ``setup()`` chose for this machine (notebook
    06's from-scratch run builds its Config here: a saved stage's ``settings["precision"]``
    is the Config's).  ``requested`` and ``reason`` say how the profile was chosen (the
    banner prints them).

    Example:
        >>> c = make_config("offline", seed=7); c.seed, c.precision
        (7, 'float32')
    """
    if isinstance(profile, str):
        key = profile.strip().lower()
        if key not in PROFILES:
            raise ProfileError(
                f"Unknown profile {profile!r}. Choose one of: {', '.join(VALID_PROFILES)} "
                f"(set NBH_PROFILE, e.g. `NBH_PROFILE=cpu make run`)."
            )
        profile = PROFILES[key]
    seed = parse_seed(os.environ.get("NBH_SEED", "42") if seed is None else seed)
    if overrides is None:
        overrides = os.environ.get("NBH_OVERRIDES", "")
    changed = parse_overrides(overrides, profile)
    changed = {k: v for k, v in changed.items() if v != getattr(profile, k)}
    root = data_dir()
    artifacts = os.environ.get("NBH_ARTIFACTS_DIR", "").strip()
    art = (expand_setting(artifacts, "NBH_ARTIFACTS_DIR") if artifacts
           else root / "artifacts" / profile.name)
    values = {**dataclasses.asdict(profile), **changed}
    return Config(
        **values,
        requested=requested or profile.name,
        reason=reason,
        seed=seed,
        data_dir=root,
        cache_dir=root / "cache",
        artifacts_dir=art,
        overrides=changed,
    )


def parse_seed(raw: Any, name: str = "NBH_SEED") -> int:
    """A seed NumPy, Python and Keras all accept (a whole number from 0 to 2**32 - 1).

    Example:
        >>> parse_seed("7")
        7
        >>> parse_seed("-1")
        Traceback (most recent call last):
        ...
        nbhelpers.config.SettingError: NBH_SEED='-1' is not a seed: use a whole number from 0 to 4294967295 (the course's default is 42).
    """
    try:
        seed = int(str(raw).strip()) if not isinstance(raw, bool) else -1
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**32:
        raise SettingError(f"{name}={raw!r} is not a seed: use a whole number from 0 to "
                           f"{2**32 - 1} (the course's default is 42).")
    return seed


def check_data_dir(path: Path, variable: str = "NBH_DATA_DIR") -> Path:
    """Create ``path`` (the data or artifacts folder) if needed; check that files can be written.

    Raises :class:`SettingError` naming ``variable`` (or saying to set it)
    when the folder is a file, read-only, or cannot be created.

    Example:
        >>> import tempfile
        >>> check_data_dir(Path(tempfile.mkdtemp()) / "new").is_dir()
        True
    """
    path = Path(path)
    where = (f"{variable}={os.environ[variable]!r}" if os.environ.get(variable, "").strip()
             else f"The folder {path} (the default)")
    fix = (f"Set {variable} to a folder you can write to (e.g. ~/nbhelpers_data) and run again.")
    if path.exists() and not path.is_dir():
        raise SettingError(f"{where} is a file, not a folder. {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise SettingError(f"{where} cannot be written to ({err.strerror or err}). {fix}") from err
    return path


_CURRENT: list[Config] = []


def set_current(cfg: Config) -> None:
    """Make ``cfg`` what :func:`current` returns (``nbh.setup()`` calls this).

    Example:
        >>> saved = list(_CURRENT)
        >>> set_current(make_config("offline", seed=7)); current().seed
        7
        >>> _CURRENT[:] = saved   # what current() returned before
    """
    _CURRENT[:] = [cfg]


def current() -> Config:
    """The Config of the last ``nbh.setup()``, for helpers called without ``cfg``.

    Without a ``setup()`` in this process it is a quiet Config of
    ``$NBH_PROFILE`` built without touching the network; ``auto`` then means
    ``offline`` (and says so in ``cfg.reason``): only ``setup()`` looks for
    weights and GPUs.

    Example:
        >>> current().name in PROFILES
        True
    """
    if _CURRENT:
        return _CURRENT[0]
    name = (os.environ.get("NBH_PROFILE") or "auto").strip().lower()
    if name == "auto":
        return make_config("offline", requested="auto",
                           reason="no nbh.setup() in this process: helpers default to offline")
    return make_config(name, reason="NBH_PROFILE, without nbh.setup()")


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
