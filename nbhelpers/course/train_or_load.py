"""A stage's model, loaded when it was saved with today's settings, else trained: :func:`get_model`.

:func:`get_model` is what lets later notebooks run on their own, in a fresh
Colab VM too: it loads the newest stage saved in ``cfg.artifacts_dir`` with
today's :func:`~nbhelpers.course.stage_settings` (profile, budgets, data
fingerprint, recipe, seed), and trains each stage after it with the profile's
:class:`~nbhelpers.course.Recipe`, saving it with
:func:`~nbhelpers.course.save_stage`.  Loading uses ``safe_mode=True``.
Models are built and trained inside :func:`~nbhelpers.course.default_strategy`'s
scope.  Taught in ``05_adding_a_head``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from .. import artifacts
from .. import config as _config
from ..config import Config
from .machine import default_strategy
from .recipes import recipe
from .stages import STAGES, artifact_paths, load_record, save_stage, settings_as_saved

__all__ = ["get_model"]


# --------------------------------------------------------------------------- training a stage


def _datasets(cfg: Config, augment: bool) -> tuple[Any, Any, list[str]]:
    """The training and validation pipelines of ``cfg``'s data, and its class names."""
    from .. import data

    prepared = data.prepare(cfg, verbose=False)
    train_ds, val_ds, _ = data.make_datasets(prepared, cfg, augment=augment)
    return train_ds, val_ds, prepared.class_names


def _val_metrics(model: Any, val: Any) -> dict[str, float]:
    """``{"val_loss", "val_accuracy"}`` of ``model`` on a pipeline or on ``(x, y)``."""
    x, y = val if isinstance(val, tuple) else (val, None)
    loss, acc = model.evaluate(x, y, verbose=0, return_dict=False)[:2]
    return {"val_loss": float(loss), "val_accuracy": float(acc)}


def _train_head(cfg: Config, strategy: Any) -> tuple[Any, dict[str, Any]]:
    """The head stage trained with the recipe: the model, and what its record needs."""
    from .. import models, training

    rec = recipe(cfg)
    train_ds, val_ds, class_names = _datasets(cfg, augment=rec.head_augment)
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
    """The head stage fine-tuned with the recipe: the model, and what its record needs."""
    from .. import training

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

    from .. import models

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
    wanted = settings_as_saved(stage, cfg)
    if record.get("settings") != wanted:
        if verbose:
            old = record.get("settings") if isinstance(record.get("settings"), dict) else {}
            changed = sorted(k for k in set(old) | set(wanted) if old.get(k) != wanted.get(k))
            print(f"The saved {stage!r} model was made with other settings "
                  f"({', '.join(changed) or 'the record format'} differ): retraining.")
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
