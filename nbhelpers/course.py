"""The course's plumbing: ``setup()``, the profile's recipe, saved stages, ``get_model(stage)``.

This module is plumbing, not a lesson.  What notebooks *teach* lives in
:mod:`nbhelpers.training` (features, compiling, callbacks, ``fit``,
fine-tuning); this module strings those steps together so that every
notebook can run on its own, in a fresh Colab VM too:

* :func:`setup` -- the first call of every notebook: chooses the profile
  (:func:`resolve_profile`), seeds everything, sets the plot style and
  prints the banner.
* :data:`RECIPES` -- how each profile trains the two stages, ``"head"``
  (a head on the frozen base, notebook 05's result) and ``"finetuned"``
  (the top block unfrozen, notebook 06's result).
* :func:`get_model` -- a stage's model: loaded from ``cfg.artifacts_dir``
  when it was saved with the same settings (profile, budgets, data
  fingerprint, recipe, seed), else trained with the recipe and saved with a
  JSON record (:func:`load_record`).  Loading uses ``safe_mode=True``.

Models are built and trained inside :func:`default_strategy`'s scope, so the
same code uses one CPU, several GPUs (``MirroredStrategy``) or a TPU.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import artifacts, env
from . import config as _config
from .config import PROFILES, VALID_PROFILES, Config, ProfileError, ProfileUnavailableError

__all__ = [
    "Resolution",
    "resolve_profile",
    "setup",
    "banner",
    "choose_precision",
    "real_imagenet_weights",
    "STAGES",
    "Recipe",
    "RECIPES",
    "recipe",
    "stage_settings",
    "artifact_paths",
    "save_stage",
    "load_record",
    "default_strategy",
    "get_model",
]

#: The stages :func:`get_model` knows, in order: a head on the frozen base, then fine-tuned.
STAGES = ("head", "finetuned")

#: Bumped when the saved models' architecture changes (2: heads end in logits +
#: activation, the article's head is called "flatten"): older artifacts are retrained.
ARTIFACT_FORMAT = 2


# --------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class Resolution:
    """Which profile was chosen, what was asked for, and why."""

    name: str
    requested: str
    reason: str


def _gpu_available() -> bool:
    return bool(env.gpus())


def _weights_obtainable() -> tuple[bool, str]:
    """Can the ImageNet weights of the course's backbone be had?  ``(answer, reason)``."""
    from . import models

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
            from . import models

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


def real_imagenet_weights(cfg: Config) -> bool:
    """True when this run's ``keras.applications`` backbones have their real ImageNet weights.

    False in the ``offline`` profile (random weights) and in a rehearsal, whose ImageNet
    files are generated stand-ins (``NBH_REHEARSAL_STANDINS``).  EfficientNet-Lite0's
    weights (a pip package) are real in every case.

    Example:
        >>> real_imagenet_weights(_config.make_config("offline"))
        False
    """
    return not cfg.offline and not _config.standin_weights()


def banner(cfg: Config) -> str:
    """The text ``setup()`` prints at the top of every notebook.

    Example:
        >>> "OFFLINE" in banner(_config.make_config("offline"))
        True
    """
    mine = (os.environ.get("NBH_DATA_SOURCE") or "").strip()
    data = (f"your folder {mine} (NBH_DATA_SOURCE, instead of {cfg.dataset})" if mine
            else cfg.dataset)
    lines = [
        f"nbhelpers profile: {cfg.name}  ({cfg.description})",
        f"  why: {cfg.reason}",
        f"  data: {data} at {cfg.image_size}x{cfg.image_size} px, batch "
        f"{cfg.batch_size}; seed {cfg.seed}",
        f"  files: {cfg.data_dir}  (artifacts: {cfg.artifacts_dir})",
        f"  precision: {cfg.precision}",
    ]
    if _config.standin_weights():
        lines.append("  weights: REHEARSAL: the ImageNet files are generated stand-ins (random "
                     "numbers): predictions and accuracies are meaningless, timings are real; "
                     "EfficientNet-Lite0's weights (a pip package) are the real ones")
        if not mine and cfg.dataset == "cats_and_dogs":  # the archive scripts/standins.py draws
            lines.append(f"  data: REHEARSAL: the {cfg.dataset} archive is a generated stand-in too "
                         "(its 'cats' are warm-coloured ellipses, its 'dogs' cool rectangles: a "
                         "cue simple enough that a head can learn it even from random weights' "
                         "features, so accuracies can be high and still mean nothing)")
    if cfg.overrides:
        lines.append("  overrides (NBH_OVERRIDES): "
                     + ", ".join(f"{k}={v}" for k, v in cfg.overrides.items()))
    if cfg.offline:
        bar = "!" * 78
        lines = [
            bar,
            "!! OFFLINE PROFILE: the backbone has UNTRAINED (random) weights and the",
            "!! data are tiny bundled images. Accuracies and maps below are NOT a trained",
            "!! model's results; what holds on any weights is checked as everywhere, and",
            "!! EfficientNet-Lite0 is real. Run the cpu or full profile for trained results.",
            bar,
            *lines,
        ]
    return "\n".join(lines)


def setup(profile: str | None = None, seed: int | None = None, quiet: bool = False,
          overrides: str | dict[str, Any] | None = None) -> Config:
    """Choose the profile, seed everything, set plotting defaults, print the banner.

    The first call in every notebook (taught in ``00_start_here``).
    ``overrides`` (default ``$NBH_OVERRIDES``) changes budgets for this run,
    e.g. ``{"head_epochs": 2}``; see :data:`nbhelpers.config.BUDGETS`.

    Example:
        >>> cfg = setup("offline", quiet=True)
        >>> cfg.offline, cfg.image_size
        (True, 64)
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:  # first, so that TensorFlow's start-up notices do not bury the banner
        env.load_tensorflow()
    except ImportError:  # said clearly where TensorFlow is first needed
        pass
    res = resolve_profile(profile)
    cfg = _config.make_config(res.name, requested=res.requested, reason=res.reason, seed=seed,
                              overrides=overrides)
    precision, why = _forced_precision() or choose_precision(cfg.name,
                                                             env.gpu_compute_capability())
    cfg = dataclasses.replace(cfg, precision=precision)
    _apply_precision(precision)
    # A GPU's run simulated on this machine (NBH_PRECISION): XLA chosen as on the GPU.
    if compile_as_on_a_gpu(_forced_precision() is not None and precision != "float32"):
        why += "; Keras compiles with XLA, as it chooses on one GPU"
    if precision != "float32" and not quiet:
        print(f"Mixed precision: {why}.")
    _config.check_data_dir(cfg.data_dir)  # a read-only or missing NBH_DATA_DIR, said plainly
    if os.environ.get("NBH_DATA_SOURCE", "").strip():  # a URL or a typo, answered at once
        from . import data

        data.check_source(os.environ["NBH_DATA_SOURCE"])
    _config.check_data_dir(cfg.artifacts_dir, "NBH_ARTIFACTS_DIR")
    cfg.cache_dir.mkdir(parents=True, exist_ok=True)
    _config.seed_everything(cfg.seed)
    try:
        from . import plots

        plots.set_style()
    except ImportError:  # plotting stack missing: nothing to style
        pass
    _config.set_current(cfg)
    if not quiet:
        print(banner(cfg), file=sys.stdout)
    return cfg


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """How :func:`get_model` trains each stage in a profile (epochs and rates come from cfg).

    ``head_method``: ``"features"`` (fast path: head on cached features) or
    ``"end_to_end"`` (accurate path: frozen base + head on augmented images).
    ``finetune_method``: ``"end_to_end"`` (every epoch runs the whole model, on
    augmented images when ``finetune_augment``) or ``"features"`` (fast path, no
    augmentation: the frozen blocks below the top block run once, cached, and
    each epoch trains the top block and the head on their output:
    :func:`nbhelpers.training.fit_above`).
    ``finetune_augment``: augment the images while fine-tuning (end to end only).

    Example:
        >>> RECIPES["full"].head_method, RECIPES["offline"].head_method
        ('end_to_end', 'features')
        >>> RECIPES["full"].finetune_method, RECIPES["cpu"].finetune_method
        ('end_to_end', 'features')
    """

    backbone: str = "vgg16"
    head: str = "gap"
    dropout: float = 0.5
    head_method: str = "features"
    head_augment: bool = True
    finetune_method: str = "end_to_end"
    finetune_augment: bool = True
    patience: int = 3

    def __post_init__(self) -> None:
        for field, value in (("head_method", self.head_method),
                             ("finetune_method", self.finetune_method)):
            if value not in ("features", "end_to_end"):
                raise ValueError(f"Recipe.{field}={value!r}: 'features' or 'end_to_end'.")
        if self.finetune_method == "features" and self.finetune_augment:
            raise ValueError("Recipe: finetune_method='features' computes blocks below the top "
                             "block once, so it cannot augment; set finetune_augment=False, "
                             "or finetune_method='end_to_end'.")


#: One recipe per profile.  ``full`` follows the published recipes that reach
#: about 97-98 % on cats vs dogs: frozen base with augmentation, then block5 at 1e-5.
#: ``cpu`` takes the fast paths a workshop's laptops need (cached features for the head,
#: and for blocks 1-4 while block5 is fine-tuned), without augmentation.
RECIPES: dict[str, Recipe] = {
    "full": Recipe(head_method="end_to_end"),
    "cpu": Recipe(head_method="features", finetune_method="features", finetune_augment=False),
    "offline": Recipe(head_method="features", finetune_method="features",
                      finetune_augment=False),
}


def recipe(cfg: Config | None = None) -> Recipe:
    """The :class:`Recipe` of ``cfg``'s profile.

    Example:
        >>> recipe(_config.make_config("offline")).backbone
        'vgg16'
    """
    cfg = cfg or _config.current()
    return RECIPES.get(cfg.name, Recipe())


def _data_identity(cfg: Config) -> dict[str, Any]:
    """What data a stage is trained on: the resolved source and a fingerprint of its files."""
    from . import data

    prepared = data.prepare(cfg, verbose=False)
    return {"source": str(prepared.source), "fingerprint": prepared.fingerprint,
            "class_names": list(prepared.class_names)}


def stage_settings(stage: str, cfg: Config | None = None) -> dict[str, Any]:
    """What a saved stage must match to be reused (else it is retrained).

    The profile and its budgets (overrides included), the data (resolved
    source, class names and a fingerprint of every file in every split), the
    weights, the recipe, the seed and the artifact format.

    Example:
        >>> s = stage_settings("head", _config.make_config("offline"))
        >>> s["profile"], s["budgets"]["head_epochs"], s["data"]["class_names"]
        ('offline', 8, ['face', 'non_face'])
    """
    cfg = cfg or _config.current()
    budgets, how = cfg.budgets(), asdict(recipe(cfg))
    if stage == "head":  # the head does not depend on the fine-tuning budgets or recipe
        budgets = {k: v for k, v in budgets.items() if not k.startswith("finetune")}
        how = {k: v for k, v in how.items() if not k.startswith("finetune")}
    budgets = {k: v for k, v in budgets.items()
               if k not in ("lime_samples", "shap_evals", "shap_background", "bootstrap",
                            "explain_images")}  # explanation budgets do not change a model
    return {
        "stage": stage,
        "format": ARTIFACT_FORMAT,
        "profile": cfg.name,
        "weights": cfg.weights,
        "precision": cfg.precision,
        "budgets": budgets,
        "data": _data_identity(cfg),
        "seed": cfg.seed,
        "recipe": how,
    }


# --------------------------------------------------------------------------- artifacts


def artifact_paths(stage: str, cfg: Config | None = None) -> tuple[Path, Path]:
    """``(model.keras, record.json)`` of a stage in ``cfg.artifacts_dir``.

    Example:
        >>> [p.name for p in artifact_paths("head", _config.make_config("offline"))]
        ['head.keras', 'head.json']
    """
    cfg = cfg or _config.current()
    folder = Path(cfg.artifacts_dir)
    return folder / f"{stage}.keras", folder / f"{stage}.json"


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_record(stage: str, cfg: Config | None = None) -> dict[str, Any]:
    """The JSON record of a trained stage: history, metrics, epochs, wall time, versions, ...

    Raises ``FileNotFoundError`` if the stage has not been trained in this
    profile (``get_model(stage)`` trains and saves it).  Taught in ``06_fine_tuning``.

    Example:
        >>> load_record("no-such-stage", _config.make_config("offline"))
        Traceback (most recent call last):
        ...
        FileNotFoundError: No record of stage 'no-such-stage' in ...
    """
    cfg = cfg or _config.current()
    _, record_path = artifact_paths(stage, cfg)
    if not record_path.exists():
        raise FileNotFoundError(
            f"No record of stage {stage!r} in {record_path.parent}; "
            f"nbh.course.get_model({stage!r}) trains and saves it."
        )
    record = artifacts.read_json(record_path)
    if record is None:
        raise artifacts.ArtifactError(
            f"The record {record_path} is damaged (empty or cut short: an interrupted save?). "
            f"nbh.course.get_model({stage!r}, retrain=True) trains the stage again and "
            "rewrites it.")
    return record


def save_stage(
    model: Any,
    stage: str,
    history: dict[str, list],
    cfg: Config | None = None,
    *,
    wall_time_s: float,
    metrics: dict[str, float],
    initial_epoch: int = 0,
    class_names: Sequence[str] = (),
    method: str | None = None,
    strategy: Any = None,
) -> dict[str, Any]:
    """Save a trained stage the way :func:`get_model` will find it; return its record.

    The model goes to ``<stage>.keras`` (written to a temporary name, then
    renamed, so a half-written file is never read) and its record to
    ``<stage>.json``: stages, method, epochs, initial epoch, learning rate,
    trainable/total parameters, ``metrics`` (validation), wall time, the
    history, the settings it was trained with (:func:`stage_settings`), the
    strategy, versions and a timestamp.  Notebook 06 fine-tunes by hand,
    then calls this.

    Example:
        >>> import keras, tempfile, dataclasses
        >>> cfg = dataclasses.replace(_config.make_config("offline"),
        ...                           artifacts_dir=Path(tempfile.mkdtemp()))
        >>> inp = keras.Input((2,)); m = keras.Model(inp, keras.layers.Dense(1)(inp))
        >>> r = save_stage(m, "head", {"epoch": [0], "loss": [0.7]}, cfg, wall_time_s=1.0,
        ...                metrics={"val_accuracy": 0.5})
        >>> r["epochs"], r["history"], r["stages"], r["profile"]
        (1, {'loss': [0.7]}, ['head'], 'offline')
    """
    from . import models, training

    cfg = cfg or _config.current()
    strategy = strategy or default_strategy()
    rec = recipe(cfg)
    model_path, record_path = artifact_paths(stage, cfg)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        with model.distribute_strategy.scope():  # the strategy the model was compiled under
            model.optimizer.build(model.trainable_variables)  # so its state reloads cleanly
    # The record goes first (a stale one must never vouch for the new model), then the
    # model (whole or not at all), then the record naming the model's size and hash.
    record_path.unlink(missing_ok=True)
    artifacts.write_with(model_path, model.save)
    trainable = training.count_params(model)
    record = {
        "stage": stage,
        "profile": cfg.name,
        "dataset": cfg.dataset,
        "label": cfg.label(),
        "stages": list(STAGES[: STAGES.index(stage) + 1]) if stage in STAGES else [stage],
        "method": method or (f"unfreeze {models.BACKBONES[rec.backbone].top_block} "
                             f"({rec.finetune_method})"),
        "backbone": rec.backbone,
        "head": rec.head,
        "class_names": list(class_names),
        "epochs": len(history.get("loss", [])),
        "initial_epoch": int(initial_epoch),
        "learning_rate": cfg.head_learning_rate if stage == "head" else cfg.finetune_learning_rate,
        "trainable_params": trainable,
        "total_params": trainable + training.count_params(model, trainable=False),
        "metrics": dict(metrics),
        "wall_time_s": round(float(wall_time_s), 3),
        "history": {k: v for k, v in history.items() if k != "epoch"},
        "history_epochs": history.get("epoch", []),
        "settings": stage_settings(stage, cfg),
        "strategy": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "versions": env.versions(),
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": artifacts.describe_files([model_path]),
    }
    artifacts.write_json(record_path, record, indent=1, default=_json_default)
    return load_record(stage, cfg)


# --------------------------------------------------------------------------- get_model

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


def _datasets(cfg: Config, augment: bool) -> tuple[Any, Any, list[str]]:
    from . import data

    prepared = data.prepare(cfg, verbose=False)
    train_ds, val_ds, _ = data.make_datasets(prepared, cfg, augment=augment)
    return train_ds, val_ds, prepared.class_names


def _val_metrics(model: Any, val: Any) -> dict[str, float]:
    x, y = val if isinstance(val, tuple) else (val, None)
    loss, acc = model.evaluate(x, y, verbose=0, return_dict=False)[:2]
    return {"val_loss": float(loss), "val_accuracy": float(acc)}


def _train_head(cfg: Config, strategy: Any) -> tuple[Any, dict[str, Any]]:
    from . import models, training

    rec = recipe(cfg)
    augment = rec.head_method == "end_to_end" and rec.head_augment
    train_ds, val_ds, class_names = _datasets(cfg, augment=augment)
    with strategy.scope():
        base_model = models.load_backbone(rec.backbone, weights=cfg.weights,
                                          input_shape=cfg.input_shape)
        model = models.build_classifier(base_model, head=rec.head,
                                        num_classes=len(class_names), dropout=rec.dropout)
        if rec.head_method == "features":
            train_f = training.extract_features(base_model, train_ds, "train", cfg)
            val_f = training.extract_features(base_model, val_ds, "val", cfg)
            head, history = training.train_head_on_features(
                train_f, val_f, cfg, num_classes=len(class_names), head=rec.head,
                dropout=rec.dropout, name="head", patience=rec.patience)
            models.copy_head_weights(head, model)
            training.compile_model(model, cfg.head_learning_rate)
            metrics = _val_metrics(head, (val_f.x, val_f.y))
        else:
            training.compile_model(model, cfg.head_learning_rate)
            history = training.fit(model, train_ds, val_ds, cfg, epochs=cfg.head_epochs,
                                   name="head", patience=rec.patience)
            metrics = _val_metrics(model, val_ds)
    return model, {"history": history, "metrics": metrics, "initial_epoch": 0,
                   "class_names": class_names, "method": rec.head_method}


def _train_finetuned(head_model: Any, cfg: Config, strategy: Any) -> tuple[Any, dict[str, Any]]:
    from . import training

    rec = recipe(cfg)
    initial_epoch = len(load_record("head", cfg)["history"].get("loss", []))
    train_ds, val_ds, class_names = _datasets(cfg, augment=rec.finetune_augment)
    with strategy.scope():
        training.prepare_finetuning(head_model, cfg)
        train = training.fit_above if rec.finetune_method == "features" else training.fit
        history = train(head_model, train_ds, val_ds, cfg, name="finetuned",
                        initial_epoch=initial_epoch,
                        epochs=initial_epoch + cfg.finetune_epochs, patience=rec.patience)
        metrics = _val_metrics(head_model, val_ds)
    return head_model, {"history": history, "metrics": metrics, "initial_epoch": initial_epoch,
                        "class_names": class_names, "method": None}


def _load_if_current(stage: str, cfg: Config, strategy: Any, verbose: bool) -> Any | None:
    """The saved model of ``stage`` if it was made with today's settings, else None (says why)."""
    import keras

    from . import models

    model_path, record_path = artifact_paths(stage, cfg)
    if not (model_path.exists() or record_path.exists()):
        return None
    record = artifacts.read_json(record_path)
    # The record names the model's size and SHA-256: another model (a 3-class one under a
    # 2-class record), a cut-short file or a missing one all fail here.
    damage = artifacts.check_files(record, model_path.parent, required=[model_path.name])
    if damage is not None:
        print(f"The saved {stage!r} stage in {model_path.parent} cannot be used ({damage}): "
              "training it again.")
        return None
    assert record is not None
    wanted = json.loads(json.dumps(stage_settings(stage, cfg), default=_json_default))
    if record.get("settings") != wanted:
        if verbose:
            old = record.get("settings") if isinstance(record.get("settings"), dict) else {}
            changed = sorted(k for k in set(old) | set(wanted) if old.get(k) != wanted.get(k))
            print(f"The saved {stage!r} model was made with other settings "
                  f"({', '.join(changed) or 'an older format'} differ): retraining.")
        return None
    try:
        with strategy.scope():
            model = models.load_saved_model(model_path)
    except (TypeError, ValueError) as exc:
        # A model saved by a newer Keras (another environment sharing the folder)
        # may not deserialize here: retrain rather than stop the notebook.
        saved = record.get("versions", {}).get("keras", "another version")
        print(f"The saved {stage!r} model ({model_path}) could not be loaded by Keras "
              f"{keras.__version__} (it was saved with Keras {saved}): retraining. "
              f"[{type(exc).__name__}]")
        return None
    if verbose:
        print(f"Loaded {stage!r} from {model_path} {cfg.label()}")
    return model


def get_model(stage: str = "finetuned", cfg: Config | None = None, *, retrain: bool = False,
              verbose: bool = True) -> Any:
    """The trained model of a stage: loaded from ``cfg.artifacts_dir``, else trained and saved.

    ``stage``: ``"head"`` (notebook 05's result) or ``"finetuned"`` (notebook
    06's).  The newest stage up to the one asked for that was saved with
    today's settings (:func:`stage_settings`) is loaded; each stage after it
    is trained with the profile's recipe from the one before and saved.
    ``retrain=True`` retrains the stage asked for.  A stage retrained for
    changed settings never resumes a backup made with the old ones.  This is
    what lets notebooks 07-11 run on their own in a fresh Colab VM.

    Example:
        >>> get_model("best")
        Traceback (most recent call last):
        ...
        ValueError: stage must be one of ('head', 'finetuned'), got 'best'
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    cfg = cfg or _config.current()
    strategy = default_strategy()
    needed = STAGES[: STAGES.index(stage) + 1]
    # The newest stage that is saved with today's settings is where training starts.
    model, start = None, 0
    for i in reversed(range(len(needed))):
        if retrain and needed[i] == stage:
            continue
        model = _load_if_current(needed[i], cfg, strategy, verbose)
        if model is not None:
            start = i + 1
            break
    for i in range(start, len(needed)):
        name = needed[i]
        shutil.rmtree(Path(cfg.artifacts_dir) / "runs" / name / "backup", ignore_errors=True)
        _config.seed_everything(cfg.seed)  # the same model whatever ran before in the notebook
        t0 = time.perf_counter()
        if i == 0:
            model, out = _train_head(cfg, strategy)
        else:
            model, out = _train_finetuned(model, cfg, strategy)
        record = save_stage(model, name, out["history"], cfg,
                            wall_time_s=time.perf_counter() - t0, metrics=out["metrics"],
                            initial_epoch=out["initial_epoch"], class_names=out["class_names"],
                            method=out["method"], strategy=strategy)
        if verbose:
            print(f"Trained {name!r} in {record['wall_time_s']:.1f} s; val accuracy "
                  f"{record['metrics']['val_accuracy']:.3f} {cfg.label()}")
    return model
