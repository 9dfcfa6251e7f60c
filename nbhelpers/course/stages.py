"""Stages saved between notebooks: what a saved stage must match, where it lives, its record.

A *stage* is a trained model that later notebooks reuse: ``"head"`` (a head
on the frozen base, notebook 05's result) and ``"finetuned"`` (the top block
unfrozen, notebook 06's).  Each is saved in ``cfg.artifacts_dir`` as
``<stage>.keras`` with a JSON record ``<stage>.json`` (:func:`artifact_paths`):
:func:`save_stage` writes both, :func:`load_record` reads the record, and
:func:`stage_settings` is what a saved stage must match to be reused by
:func:`~nbhelpers.course.get_model`.  Taught in ``06_fine_tuning``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import artifacts, env
from .. import config as _config
from ..config import Config
from .machine import default_strategy
from .recipes import recipe

__all__ = [
    "STAGES",
    "ARTIFACT_FORMAT",
    "stage_settings",
    "artifact_paths",
    "load_record",
    "save_stage",
]

#: The stages :func:`~nbhelpers.course.get_model` knows, in order: a head on the frozen base,
#: then fine-tuned.
STAGES = ("head", "finetuned")

#: The format of the saved models (2: heads end in logits and an activation, the article's
#: head is called "flatten"); part of :func:`stage_settings`, so a stage saved in another
#: format is retrained.
ARTIFACT_FORMAT = 2


# --------------------------------------------------------------------------- settings


def _data_identity(cfg: Config) -> dict[str, Any]:
    """What data a stage is trained on: the resolved source and a fingerprint of its files."""
    from .. import data

    prepared = data.prepare(cfg, verbose=False)
    return {"source": str(prepared.source), "fingerprint": prepared.fingerprint,
            "class_names": list(prepared.class_names)}


def stage_settings(stage: str, cfg: Config | None = None) -> dict[str, Any]:
    """What a saved stage must match to be reused (else it is retrained).

    A dict: ``"stage"``, ``"format"`` (:data:`ARTIFACT_FORMAT`), ``"profile"``,
    ``"weights"``, ``"precision"`` (``cfg.precision``: a stage trained under
    ``mixed_float16`` is not reused by a float32 run), ``"budgets"`` (the
    profile's, overrides included; for the head stage without the fine-tuning
    ones, and never the explanation budgets, which do not change a model),
    ``"data"`` (``{"source", "fingerprint", "class_names"}``: the resolved source
    and a fingerprint of every file in every split), ``"seed"`` and
    ``"recipe"`` (the :class:`~nbhelpers.course.Recipe` as a dict; for the
    head stage without its ``finetune_*`` fields).

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
    # what is computed from a trained model (explanations, intervals) does not change it
    budgets = {k: v for k, v in budgets.items() if k not in _config.ANALYSIS_BUDGETS}
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


def settings_as_saved(stage: str, cfg: Config) -> dict[str, Any]:
    """:func:`stage_settings` as a saved record holds them (through JSON: lists, no tuples).

    The same keys (``"stage"``, ``"format"``, ``"profile"``, ``"weights"``,
    ``"precision"``, ``"budgets"``, ``"data"``, ``"seed"``, ``"recipe"``), with
    the values JSON gives back, so ``record["settings"] == settings_as_saved(stage,
    cfg)`` says whether a saved stage may be reused.

    Example:
        >>> saved = settings_as_saved("head", _config.make_config("offline"))
        >>> saved == json.loads(json.dumps(saved)), saved["data"]["class_names"]
        (True, ['face', 'non_face'])
        >>> sorted(saved) == sorted(stage_settings("head", _config.make_config("offline")))
        True
    """
    return json.loads(json.dumps(stage_settings(stage, cfg), default=_json_default))


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

    A dict with the keys :func:`save_stage` lists; notebooks 05 and 06 read
    ``record["method"]`` (``"features"`` or ``"end_to_end"`` for the head),
    ``record["epochs"]``, ``record["wall_time_s"]``,
    ``record["metrics"]["val_accuracy"]`` and ``record["trainable_params"]``.
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


def _build_optimizer(model: Any) -> None:
    """Build a compiled model's optimizer, so that its state is saved and reloads cleanly."""
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        with model.distribute_strategy.scope():  # the strategy the model was compiled under
            model.optimizer.build(model.trainable_variables)  # so its state reloads cleanly


def _stage_record(model: Any, stage: str, history: dict[str, list], cfg: Config, *,
                  model_path: Path, wall_time_s: float, metrics: dict[str, float],
                  initial_epoch: int, class_names: Sequence[str], method: str | None,
                  strategy: Any) -> dict[str, Any]:
    """The JSON record of a stage whose model was just saved to ``model_path``."""
    from .. import models, profiling

    rec = recipe(cfg)
    params = profiling.parameter_counts(model)
    return {
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
        "trainable_params": params["trainable"],
        "total_params": params["total"],
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
    """Save a trained stage the way :func:`~nbhelpers.course.get_model` will find it; return its record.

    The model goes to ``<stage>.keras`` (written to a temporary name, then
    renamed, so a half-written file is never read) and its record to
    ``<stage>.json``.  The record (what :func:`load_record` returns) holds:

    * ``"method"`` -- how the stage was trained: ``method`` when given (for the
      head stage ``get_model`` passes the recipe's ``head_method``,
      ``"features"`` for a head on cached features or ``"end_to_end"``; notebook
      06 asks ``record["method"] == "features"``), else ``"unfreeze <top block>
      (<finetune_method>)"``, e.g. ``"unfreeze block5 (features)"``;
    * ``"epochs"`` (epochs in ``history``), ``"initial_epoch"``,
      ``"learning_rate"``, ``"trainable_params"``, ``"total_params"``,
      ``"metrics"`` (validation, as given: ``{"val_loss", "val_accuracy"}``),
      ``"wall_time_s"``, ``"history"`` (per-epoch lists without ``"epoch"``) and
      ``"history_epochs"``;
    * ``"stages"`` (this stage and those before it), ``"profile"``,
      ``"dataset"``, ``"label"``, ``"backbone"``, ``"head"``, ``"class_names"``;
    * ``"settings"`` -- :func:`stage_settings`, what a later run must match to
      reuse the stage; its ``"precision"`` is ``cfg.precision``: the policy
      ``nbh.setup()`` chose, while a Config made by ``nbh.config.make_config``
      has ``"float32"`` again (setup's choice does not carry over);
    * ``"strategy"``, ``"replicas"``, ``"versions"``, ``"saved"`` (a timestamp)
      and ``"files"`` (the model's size and SHA-256, which vouch for it).

    Notebook 06 fine-tunes by hand, then calls this.

    Example:
        >>> import keras, tempfile, dataclasses
        >>> cfg = dataclasses.replace(_config.make_config("offline"),
        ...                           artifacts_dir=Path(tempfile.mkdtemp()))
        >>> inp = keras.Input((2,)); m = keras.Model(inp, keras.layers.Dense(1)(inp))
        >>> r = save_stage(m, "head", {"epoch": [0], "loss": [0.7]}, cfg, wall_time_s=1.0,
        ...                metrics={"val_accuracy": 0.5})
        >>> r["epochs"], r["history"], r["stages"], r["profile"]
        (1, {'loss': [0.7]}, ['head'], 'offline')
        >>> r["method"], r["settings"]["precision"]
        ('unfreeze block5 (features)', 'float32')
    """
    cfg = cfg or _config.current()
    strategy = strategy or default_strategy()
    model_path, record_path = artifact_paths(stage, cfg)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    _build_optimizer(model)
    # The record goes first (a stale one must never vouch for the new model), then the
    # model (whole or not at all), then the record naming the model's size and hash.
    record_path.unlink(missing_ok=True)
    artifacts.write_with(model_path, model.save)
    record = _stage_record(model, stage, history, cfg, model_path=model_path,
                           wall_time_s=wall_time_s, metrics=metrics, initial_epoch=initial_epoch,
                           class_names=class_names, method=method, strategy=strategy)
    artifacts.write_json(record_path, record, indent=1, default=_json_default)
    return load_record(stage, cfg)
