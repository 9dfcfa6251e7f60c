"""What this machine gives a run: the profile, the precision, the distribution strategy.

* :func:`resolve_profile` -- which profile (``auto`` picks ``full`` on a GPU,
  ``cpu`` without one, ``offline`` when the ImageNet weights cannot be had);
* :func:`choose_precision` and :func:`set_precision` -- the Keras dtype policy
  (``mixed_float16`` for ``full`` on a GPU with tensor cores, else
  ``float32``; ``NBH_PRECISION`` forces one), and :func:`compile_as_on_a_gpu`
  for a GPU's run simulated on a CPU;
* :func:`default_strategy` -- the one ``tf.distribute`` strategy models are
  built and trained under (one CPU, several GPUs or a TPU).

:func:`nbhelpers.course.setup` calls them in that order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .. import config as _config
from .. import env
from ..config import PROFILES, VALID_PROFILES, Config, ProfileError, ProfileUnavailableError
from .recipes import RECIPES

__all__ = [
    "Resolution",
    "resolve_profile",
    "choose_precision",
    "PRECISIONS",
    "set_precision",
    "compile_as_on_a_gpu",
    "default_strategy",
]



@dataclass(frozen=True)
class Resolution:
    """Which profile was chosen, what was asked for, and why.

    ``name`` is the profile this run uses, ``requested`` the one requested
    (``auto`` or a profile's name), ``reason`` why, in words (``nbh.setup()``'s
    banner prints it).  What :func:`resolve_profile` returns.

    Example:
        >>> r = resolve_profile("offline")
        >>> r.name, r.requested, r.reason
        ('offline', 'offline', 'asked for explicitly')
    """

    name: str
    requested: str
    reason: str


def _gpu_available() -> bool:
    return bool(env.gpus())


def _weights_obtainable() -> tuple[bool, str]:
    """Can the ImageNet weights of the course's backbone be had?  ``(answer, reason)``."""
    from .. import models

    fname = models.weights_file(RECIPES["cpu"].backbone)
    if models.weights_cached(RECIPES["cpu"].backbone):
        return True, f"ImageNet weights found in {_config.keras_cache_dir()}"
    if _config.network_available():
        return True, f"{_config.DOWNLOAD_HOST} is reachable; weights will be downloaded once"
    return False, (
        f"no network ({_config.DOWNLOAD_HOST} unreachable) and no {fname} "
        f"in {_config.keras_cache_dir()}"
    )


def resolve_profile(requested: str | None = None) -> Resolution:
    """Choose the profile for this run (``requested`` defaults to ``$NBH_PROFILE``, then auto).

    ``auto`` picks ``full`` on a GPU and ``cpu`` otherwise, and falls back to
    ``offline`` only when the ImageNet weights can be neither found in Keras'
    cache nor downloaded.  A profile named explicitly never falls back.

    Raises:
        ProfileError: the name is not one of auto, full, cpu, offline.
        ProfileUnavailableError: ``full``/``cpu`` was named, but the ImageNet
            weights cannot be had.

    Example:
        >>> resolve_profile("offline").name
        'offline'
        >>> resolve_profile("huge")
        Traceback (most recent call last):
        ...
        nbhelpers.config.ProfileError: Unknown profile 'huge'. Choose one of: auto, full, cpu, offline (set NBH_PROFILE, e.g. `NBH_PROFILE=cpu make run`).
    """
    raw = requested if requested is not None else os.environ.get("NBH_PROFILE", "auto")
    name = (raw or "auto").strip().lower()
    if name not in VALID_PROFILES:
        raise ProfileError(
            f"Unknown profile {raw!r}. Choose one of: {', '.join(VALID_PROFILES)} "
            f"(set NBH_PROFILE, e.g. `NBH_PROFILE=cpu make run`)."
        )
    if name == "offline":
        return Resolution("offline", name, "asked for explicitly")
    ok, why = _weights_obtainable()
    if name in PROFILES:
        if not ok:
            from .. import models

            backbone = RECIPES[name].backbone
            raise ProfileUnavailableError(
                f"Profile {name!r} needs the ImageNet weights, but {why}.\n"
                f"Fix: connect to the internet and run `make prefetch`, or copy "
                f"{models.weights_file(backbone)} (from {models.weights_url(backbone)}) into "
                f"{_config.keras_cache_dir()}, or choose NBH_PROFILE=offline (or auto)."
            )
        return Resolution(name, name, "asked for explicitly")
    if not ok:
        return Resolution("offline", name, f"auto fell back to offline: {why}")
    if _gpu_available():
        return Resolution("full", name, f"auto: a GPU was found; {why}")
    return Resolution("cpu", name, f"auto: no GPU, so the CPU profile; {why}")


def choose_precision(profile: str, capability: tuple[int, int] | None) -> tuple[str, str]:
    """The Keras dtype policy for a run, and why: ``mixed_float16`` for ``full`` on a fit GPU.

    Mixed precision computes in float16 and keeps the weights (and the
    model's output layer, ``"predictions"``) in float32; it roughly doubles
    throughput on GPUs with tensor cores (compute capability 7.0 and up, a
    Colab T4 is 7.5).  Everywhere else the course computes in float32.

    Example:
        >>> choose_precision("full", (7, 5))[0], choose_precision("full", (6, 0))[0]
        ('mixed_float16', 'float32')
        >>> choose_precision("cpu", (8, 0))[0]
        'float32'
    """
    if profile != "full":
        return "float32", f"the {profile} profile computes in float32"
    if capability is None:
        return "float32", "no GPU: float32"
    if capability >= (7, 0):
        return "mixed_float16", (f"GPU compute capability {capability[0]}.{capability[1]} has "
                                 f"tensor cores: float16 maths, float32 weights and output")
    return "float32", (f"GPU compute capability {capability[0]}.{capability[1]} has no tensor "
                       f"cores: float32")


#: The Keras dtype policies ``NBH_PRECISION`` may force.
PRECISIONS = ("float32", "mixed_float16")


def _forced_precision() -> tuple[str, str] | None:
    """``NBH_PRECISION`` when set: a GPU's mixed precision run on any machine (CI's lane)."""
    forced = os.environ.get("NBH_PRECISION", "").strip()
    if not forced:
        return None
    if forced not in PRECISIONS:
        raise ValueError(f"NBH_PRECISION={forced!r} is not a precision the course knows; "
                         f"set it to one of {', '.join(PRECISIONS)}, or unset it.")
    return forced, f"{forced}, forced by NBH_PRECISION (as a GPU would run it)"


def _apply_precision(policy: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy(policy)


#: Keras' own rule for ``jit_compile="auto"``, kept so that :func:`compile_as_on_a_gpu` can put it back.
_KERAS_AUTO_JIT: list[Any] = []


def _resolve_as_on_one_gpu(model: Any) -> bool:
    import keras
    from keras.src.trainers import trainer

    if keras.backend.backend() == "torch":  # Keras: "auto" is eager with torch, GPU or not
        return False
    if getattr(model, "_distribute_strategy", None):  # Keras: no XLA under tf.distribute
        return False
    return bool(trainer.model_supports_jit(model))


def compile_as_on_a_gpu(on: bool = True) -> bool:
    """On a machine without a GPU, let Keras choose XLA as it does on one GPU (``on=False``: undo).

    Keras' ``jit_compile="auto"`` (what ``model.compile`` uses unless told) turns XLA on
    for a model on a GPU (one device, no distribution strategy) and off on a CPU-only
    machine.  ``NBH_PRECISION`` runs a GPU's dtype policy on a CPU (CI's mixed-precision
    lane); :func:`setup` then turns this on, so that the lane also takes the GPU's XLA
    choice: otherwise it checks a path a Colab T4 never takes, and runs float16 through a
    CPU's slow non-XLA kernels (measured on 2 cores: a small head's 20 epochs took 17 s, 3 s
    with XLA, 1.7 s in float32; CI's mixed lane 820 s, 468 s with XLA).  Returns True when
    Keras now chooses as on a GPU, False when it uses its own rule (``on=False`` puts that
    back; where a GPU is present Keras already chooses so, and nothing is changed).

    Keras' rule lives in a private method (the same from Keras 3.3 to 3.15: Colab's 3.13
    and the lock's); ``tests/test_mixed_precision.py`` fails if it is renamed.  An ordinary
    run (``on=False``, nothing patched before) never touches it, and a Keras without it
    gets a warning, not an error, so no learner's setup cell can break on it.

    Example:
        >>> import keras
        >>> def chosen():
        ...     m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        ...     m.compile("sgd", "mse")
        ...     return bool(m.jit_compile)
        >>> changed = compile_as_on_a_gpu()
        >>> chosen() == (changed or _gpu_available())
        True
        >>> compile_as_on_a_gpu(False), chosen() == _gpu_available()
        (False, True)
    """
    if not on and not _KERAS_AUTO_JIT:  # nothing was ever patched: nothing to put back
        return False
    if on and _gpu_available():
        return False
    from keras.src.trainers import trainer

    if not _KERAS_AUTO_JIT:
        rule = getattr(trainer.Trainer, "_resolve_auto_jit_compile", None)
        if rule is None:
            import warnings

            warnings.warn("This Keras has no Trainer._resolve_auto_jit_compile: the simulated "
                          "GPU run keeps Keras' CPU choice (no XLA), which is slower",
                          stacklevel=2)
            return False
        _KERAS_AUTO_JIT.append(rule)
    trainer.Trainer._resolve_auto_jit_compile = _resolve_as_on_one_gpu if on else _KERAS_AUTO_JIT[0]
    return on



def set_precision(cfg: Config) -> tuple[str, str]:
    """Choose this run's Keras dtype policy and set it: ``(policy, why)``.

    ``NBH_PRECISION`` when set, else :func:`choose_precision` for ``cfg``'s
    profile and this machine's GPU.  A GPU's run simulated here
    (``NBH_PRECISION=mixed_float16`` without a GPU) also compiles with XLA, as
    Keras chooses on one GPU (:func:`compile_as_on_a_gpu`).  ``cfg`` is not
    changed: :func:`~nbhelpers.course.setup` puts the policy in ``cfg.precision``.

    Example:
        >>> set_precision(_config.make_config("offline"))
        ('float32', 'the offline profile computes in float32')
    """
    precision, why = _forced_precision() or choose_precision(cfg.name,
                                                             env.gpu_compute_capability())
    _apply_precision(precision)
    # A GPU's run simulated on this machine (NBH_PRECISION): XLA chosen as on the GPU.
    if compile_as_on_a_gpu(_forced_precision() is not None and precision != "float32"):
        why += "; Keras compiles with XLA, as it chooses on one GPU"
    return precision, why


# --------------------------------------------------------------------------- the strategy

_STRATEGY: list[Any] = []


def default_strategy() -> Any:
    """``nbh.env.strategy()``, created once per process and then reused.

    Every ``MirroredStrategy`` numbers its collective operations from the
    same start, so two of them in one process can clash; one shared instance
    avoids that.

    Example:
        >>> default_strategy() is default_strategy()
        True
    """
    if not _STRATEGY:
        _STRATEGY.append(env.strategy())
    return _STRATEGY[0]
