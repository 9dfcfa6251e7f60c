"""Training what notebooks 05 and 06 teach: cached features, compiling, callbacks, ``fit``, fine-tuning.

Taught in ``05_adding_a_head`` (cached features, the frozen end-to-end model,
callbacks) and ``06_fine_tuning`` (unfreeze block5, recompile, low learning rate).
The course's plumbing that strings these steps together for later notebooks
(``get_model(stage)``, the recipes, saved stages) is :mod:`nbhelpers.course`.

Two ways to train a head on a frozen base:

* **fast path** -- run the frozen base *once* over the images
  (:func:`extract_features`, cached on disk as ``.npz`` by :mod:`nbhelpers.features`)
  and train the small head on those features.  What is impossible here is *fresh* augmentation
  every epoch: each image's features are computed once (augmented copies can
  be cached too, but they stay the same copies every epoch).
* **accurate path** -- the whole model (frozen base + head) sees freshly
  augmented images each epoch (:func:`fit` on ``make_datasets(...,
  augment=True)``).  Every epoch pays for a forward pass through the base.

Every run goes through :func:`fit`, which adds the course's callbacks
(:func:`training_callbacks`): early stopping that restores the best weights,
a ``.keras`` checkpoint of the best epoch, and ``BackupAndRestore``, so a run
interrupted by a Colab disconnect or Ctrl-C continues from its last finished
epoch when the cell is run again.

Why recompile after changing ``trainable``?  Keras 3 (checked on 3.15) traces
``fit``'s train step the first time it runs and keeps it; that traced step
holds the list of trainable variables of that moment.  Change ``trainable``
afterwards and ``fit`` silently keeps updating the *old* list: newly unfrozen
layers do not move, newly frozen ones keep moving.  ``compile()`` throws the
traced step away (and gives a fresh optimizer, here with the low fine-tuning
learning rate), so the next ``fit`` sees the new list.  See
:func:`prepare_finetuning` and ``tests/test_training.py``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from . import config as _config
from . import losses, models, progress
from .config import DEFAULT_DROPOUT, DEFAULT_HEAD, DEFAULT_PATIENCE, Config

# The feature cache has its own module; notebooks reach it here, as nbh.training.extract_features.
from .features import Features, extract_features, feature_batches, feature_cache_path, feature_key

__all__ = [
    "Features",
    "feature_key",
    "feature_cache_path",
    "extract_features",
    "compile_model",
    "count_params",
    "EpochLog",
    "DataLoss",
    "read_history",
    "training_callbacks",
    "fit",
    "train_head_on_features",
    "prepare_finetuning",
    "fit_above",
]

# --------------------------------------------------------------------------- compile / callbacks
def compile_model(
    model: keras.Model,
    learning_rate: float,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    *,
    weight_decay: float | None = None,
    label_smoothing: float = 0.0,
) -> keras.Model:
    """Compile for classification: binary cross-entropy for one sigmoid unit, else sparse CE.

    A *new* optimizer each call (Adam, or SGD with momentum 0.9 for
    ``optimizer="sgd"``), created with ``learning_rate=`` (Keras 3 rejects the
    old ``lr=``); or pass a Keras optimizer of your own.  Call it again after
    changing any layer's ``trainable``.

    ``weight_decay`` is Keras 3's *decoupled* weight decay: after each step
    every trainable weight is multiplied by ``1 - learning_rate * weight_decay``
    (``Optimizer._apply_weight_decay``), whatever the optimizer, so
    ``optimizer="adam", weight_decay=...`` is AdamW (Loshchilov & Hutter).  An
    L2 penalty in the loss (``nbh.models.build_head(..., l2=)``) is not the
    same under Adam: Adam divides the penalty's gradient by its running size,
    so every weight shrinks by about the same step, large or small.  Taught in
    ``10_imbalance_and_overfitting``.  ``label_smoothing``: softened targets
    (:func:`nbhelpers.losses.classification_loss`; taught in ``07``).

    Example:
        >>> inp = keras.Input((3,)); m = keras.Model(inp, keras.layers.Dense(1, "sigmoid")(inp))
        >>> compile_model(m, 1e-3).loss
        'binary_crossentropy'
        >>> compile_model(m, 1e-3, "sgd", weight_decay=0.1).optimizer.weight_decay
        0.1
    """
    if weight_decay is not None and (isinstance(weight_decay, bool) or weight_decay < 0):
        raise ValueError(f"weight_decay must be a number >= 0 (or None), got {weight_decay!r}")
    opt: keras.optimizers.Optimizer
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if weight_decay is not None:
            raise ValueError(
                "weight_decay= is for optimizer='adam' or 'sgd'; an optimizer you built "
                "yourself takes it in its constructor, e.g. keras.optimizers.Adam("
                "learning_rate=1e-3, weight_decay=1e-2)."
            )
        opt = optimizer
    elif optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate=learning_rate, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9,
                                   weight_decay=weight_decay)
    else:
        raise ValueError(
            f"optimizer must be 'adam', 'sgd' or a keras.optimizers.Optimizer, got {optimizer!r}"
        )
    loss = losses.classification_loss(model.output_shape[-1], label_smoothing)
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return model


def count_params(model: keras.Model, trainable: bool = True) -> int:
    """Number of trainable (or, with ``trainable=False``, frozen) parameters.

    Counted by ``nbh.profiling.parameter_counts``, the one count of parameters.  Taught
    in notebook 06.

    Example:
        >>> inp = keras.Input((3,)); m = keras.Model(inp, keras.layers.Dense(2)(inp))
        >>> count_params(m), count_params(m, trainable=False)
        (8, 0)
    """
    from .profiling import parameter_counts

    return parameter_counts(model)["trainable" if trainable else "non_trainable"]


class EpochLog(keras.callbacks.Callback):
    """Append each finished epoch's logs to a JSON-lines file, so history survives a restart.

    ``keras.callbacks.History`` only knows the epochs of the current ``fit``
    call; after ``BackupAndRestore`` resumes a run, this file still has them all.
    :func:`read_history` turns it into a ``{"loss": [...], ...}`` dict.

    Example:
        >>> import tempfile
        >>> log = EpochLog(Path(tempfile.mkdtemp()) / "h.jsonl")
        >>> log.on_epoch_end(0, {"loss": 1.0}); log.on_epoch_end(1, {"loss": 0.5})
        >>> log.history()
        {'epoch': [0, 1], 'loss': [1.0, 0.5]}
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": int(epoch), **{k: float(v) for k, v in (logs or {}).items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def history(self) -> dict[str, list]:
        """The logged epochs as lists per metric (a re-run epoch counts once, its last run)."""
        return read_history(self.path)


def read_history(path: str | Path) -> dict[str, list]:
    """Read an :class:`EpochLog` file into ``{"epoch": [...], "loss": [...], ...}``.

    A line cut short (the process was killed while appending it) is left out:
    that epoch is re-run on resume.

    Example:
        >>> read_history("/no/such/file.jsonl")
        {}
    """
    path = Path(path)
    if not path.exists():
        return {}
    rows: dict[int, dict] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "\ufffd" in line:  # a byte that is not UTF-8: the line is damaged
            continue
        try:
            row = json.loads(line)
            rows[int(row["epoch"])] = row
        except (ValueError, KeyError, TypeError):  # a blank line, or one cut short by a kill
            continue
    out: dict[str, list] = {}
    for epoch in sorted(rows):
        for k, v in rows[epoch].items():
            out.setdefault(k, []).append(v)
    return out


def _run_dir(name: str, cfg: Config) -> Path:
    return Path(cfg.artifacts_dir) / "runs" / name


def training_callbacks(
    name: str,
    cfg: Config | None = None,
    *,
    monitor: str = "val_loss",
    patience: int | None = DEFAULT_PATIENCE,
    checkpoint: bool = True,
    backup: bool = True,
) -> list[keras.callbacks.Callback]:
    """The course's callbacks for the run ``name`` (files under ``cfg.artifacts_dir/runs/name``).

    In order: ``BackupAndRestore`` (state after every epoch; the next ``fit``
    of the same run resumes from it, and it is deleted when a run finishes),
    :class:`EpochLog`, ``ModelCheckpoint`` (the best epoch so far as a
    ``.keras`` file) and ``EarlyStopping`` (stop after ``patience`` epochs
    without improvement and restore the best weights; ``patience=None``: off).
    Taught in ``05_adding_a_head``.

    Example:
        >>> cbs = training_callbacks("doc", _config.make_config("offline"))
        >>> [type(c).__name__ for c in cbs]
        ['BackupAndRestore', 'EpochLog', 'ModelCheckpoint', 'EarlyStopping']
    """
    cfg = cfg or _config.current()
    run = _run_dir(name, cfg)
    cbs: list[keras.callbacks.Callback] = []
    if backup:
        cbs.append(keras.callbacks.BackupAndRestore(str(run / "backup")))
    cbs.append(EpochLog(run / "history.jsonl"))
    if checkpoint:
        cbs.append(keras.callbacks.ModelCheckpoint(
            str(run / "best.keras"), monitor=monitor, save_best_only=True, verbose=0))
    if patience is not None:
        cbs.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=patience, restore_best_weights=True))
    return cbs


def fit(
    model: keras.Model,
    train: Any,
    validation: Any,
    cfg: Config | None = None,
    *,
    epochs: int,
    name: str,
    initial_epoch: int = 0,
    monitor: str = "val_loss",
    patience: int | None = DEFAULT_PATIENCE,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    checkpoint: bool = True,
    backup: bool = True,
    verbose: int | None = None,
    **fit_kwargs: Any,
) -> dict[str, list]:
    """``model.fit`` with the course's callbacks; resumable; returns the run's whole history.

    ``name`` identifies the run: if an earlier ``fit`` of the same run was
    interrupted (Ctrl-C, a Colab disconnect), ``BackupAndRestore`` restores
    its weights and optimizer state and training continues at the next epoch;
    the returned history then covers the epochs of both attempts.  Epochs are
    numbered from ``initial_epoch`` (fine-tuning continues the head's count:
    ``initial_epoch=head_epochs, epochs=head_epochs + finetune_epochs``).
    ``train``/``validation``: datasets, or ``(x, y)`` tuples of arrays
    (``validation=None`` trains without one).
    Extra ``callbacks`` run after the course's.  ``backup=False`` leaves out
    ``BackupAndRestore`` (an interrupted run then starts again from its first
    epoch): for runs of seconds, where writing the weights after every epoch
    costs more than the epoch (measured: about half of a 40-epoch run of
    notebook 10's Flatten head).  ``verbose`` defaults to one
    line per epoch, or silence under tests (:mod:`nbhelpers.progress`).  Taught in ``05_adding_a_head``.

    Example:
        >>> import numpy as np
        >>> cfg = _config.make_config("offline")
        >>> inp = keras.Input((2,)); m = keras.Model(inp, keras.layers.Dense(1, "sigmoid")(inp))
        >>> _ = compile_model(m, 0.1)
        >>> x, y = np.random.rand(8, 2), np.arange(8) % 2
        >>> h = fit(m, (x, y), (x, y), epochs=2, name="doctest", cfg=cfg, checkpoint=False)
        >>> h["epoch"], sorted(k for k in h if k != "epoch")
        ([0, 1], ['accuracy', 'loss', 'val_accuracy', 'val_loss'])
    """
    cfg = cfg or _config.current()
    verbose = progress.keras_verbose() if verbose is None else verbose
    run = _run_dir(name, cfg)
    log = run / "history.jsonl"
    if backup:
        _drop_damaged_backup(run / "backup", name, model)
    else:  # an earlier run's backup would be resumed by the next fit that keeps one
        shutil.rmtree(run / "backup", ignore_errors=True)
    if not backup or not (run / "backup" / "training_metadata.json").exists():
        log.unlink(missing_ok=True)  # a fresh run, not a resumed one
    run.mkdir(parents=True, exist_ok=True)
    # A callback that rewrites an epoch's logs (``edits_logs = True``) runs before the course's,
    # so the history file and early stopping see what it wrote.
    first = [c for c in callbacks if getattr(c, "edits_logs", False)]
    cbs = first + training_callbacks(name, cfg, monitor=monitor, patience=patience,
                                     checkpoint=checkpoint, backup=backup) + [c for c in callbacks
                                                               if c not in first]
    x, y = (train if isinstance(train, tuple) else (train, None))
    if y is not None:
        fit_kwargs.setdefault("batch_size", cfg.batch_size)
    else:
        fit_kwargs.setdefault("shuffle", False)  # a tf.data pipeline shuffles itself
    if isinstance(validation, list):
        validation = tuple(validation)
    model.fit(x, y, validation_data=validation, epochs=epochs, initial_epoch=initial_epoch,
              callbacks=cbs, verbose=verbose, **fit_kwargs)
    return read_history(log)


def _backup_problem(backup: Path, model: keras.Model) -> str | None:
    """Why Keras could not resume from ``backup`` into ``model``, or None when it can."""
    from collections import Counter

    import h5py

    weights, meta = backup / "latest.weights.h5", backup / "training_metadata.json"
    if not meta.exists():
        return None if not weights.exists() else "weights without their epoch"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"training_metadata.json: {type(err).__name__}"
    if not (isinstance(info, dict) and isinstance(info.get("epoch"), int)
            and isinstance(info.get("batch", -1), int)):
        return "training_metadata.json has no epoch number"
    if not weights.exists():
        return "latest.weights.h5 is missing"
    shapes: Counter = Counter()
    try:
        with h5py.File(weights, "r") as h5:
            h5.visititems(lambda key, obj: shapes.update([tuple(obj.shape)])
                          if isinstance(obj, h5py.Dataset) and key.startswith("layers/")
                          else None)
    except OSError as err:
        return f"latest.weights.h5: {err}"
    if shapes != Counter(tuple(w.shape) for w in model.weights):
        return "latest.weights.h5 does not hold this model's weights"
    return None


def _drop_damaged_backup(backup: Path, name: str, model: keras.Model) -> None:
    """Delete a ``BackupAndRestore`` folder Keras could not resume from (said in one line).

    A kernel killed while Keras wrote it leaves a cut-short weights file or
    metadata, and a backup of another model cannot be restored; Keras would
    stop every later ``fit`` of the run on it.
    """

    problem = _backup_problem(backup, model) if backup.exists() else None
    if problem is not None:
        print(f"The backup of the interrupted run {name!r} cannot be resumed ({problem}): "
              "this run starts afresh.")
        shutil.rmtree(backup, ignore_errors=True)


# --------------------------------------------------------------------------- recipes in code
def train_head_on_features(
    train: Features,
    val: Features | None,
    cfg: Config | None = None,
    *,
    num_classes: int = 2,
    head: str = DEFAULT_HEAD,
    dropout: float = DEFAULT_DROPOUT,
    epochs: int | None = None,
    learning_rate: float | None = None,
    name: str = "head_features",
    patience: int | None = DEFAULT_PATIENCE,
    class_weight: dict[int, float] | None = None,
    l2: float = 0.0,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    weight_decay: float | None = None,
    label_smoothing: float = 0.0,
    seed: int | None = None,
    checkpoint: bool = True,
    backup: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int | None = None,
) -> tuple[keras.Model, dict[str, list]]:
    """The fast path: a standalone head (``nbh.models.build_head``) trained on cached features.

    Returns ``(head, history)``; put the head onto a classifier with
    ``nbh.models.copy_head_weights(head, model)``.  ``num_classes`` decides the
    output: one sigmoid unit for two classes, a softmax over ``num_classes``
    for more (and the loss that goes with it, :func:`compile_model`).

    The knobs notebook 10 turns, all optional: ``class_weight`` (Keras'
    per-class loss weights, e.g. ``nbh.balance.class_weights(y)``), ``l2`` (an
    L2 penalty on the head's kernels, added to the loss it minimises; the history's
    ``loss`` and ``val_loss`` stay the data's, comparable with runs without it, and
    ``penalised_loss``, ``val_penalised_loss`` what Keras reported: :class:`DataLoss`), ``optimizer`` and
    ``weight_decay`` (decoupled weight decay) and ``label_smoothing`` (see :func:`compile_model`),
    ``seed`` (seed everything first, so runs that differ in one knob start
    from the same weights), ``checkpoint``, ``backup``, extra ``callbacks`` and ``verbose``
    (``0``: no line per epoch; passed to :func:`fit`).  ``val=None`` trains without a validation set (then
    ``patience`` must be None: early stopping watches the validation loss).
    Taught in ``05_adding_a_head``; the knobs in ``10_imbalance_and_overfitting``.

    Example:
        >>> import numpy as np
        >>> cfg = _config.make_config("offline")
        >>> f = Features(np.random.rand(8, 1, 1, 4).astype("float32"), np.arange(8) % 2)
        >>> head, h = train_head_on_features(f, f, epochs=1, cfg=cfg, name="doctest")
        >>> head.output.shape, len(h["loss"])
        ((None, 1), 1)
        >>> f3 = Features(f.x, np.arange(8) % 3)
        >>> head, h = train_head_on_features(f3, f3, num_classes=3, epochs=1, cfg=cfg,
        ...                                  name="doctest3", class_weight={0: 1, 1: 2, 2: 1})
        >>> head.output.shape, head.loss
        ((None, 3), 'sparse_categorical_crossentropy')
    """
    cfg = cfg or _config.current()
    if val is None and patience is not None:
        raise ValueError(
            "Early stopping watches the validation loss: with val=None pass patience=None."
        )
    labels = np.unique(np.asarray(train.y))
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"The training labels go from {labels.min()} to {labels.max()}, but "
            f"num_classes={num_classes}: pass num_classes=len(class_names)."
        )
    if class_weight is not None:
        missing = sorted(set(int(c) for c in labels) - set(int(c) for c in class_weight))
        if missing:
            raise ValueError(
                f"class_weight has no weight for class(es) {missing}; give every class one "
                f"(nbh.balance.class_weights(y) does)."
            )
        class_weight = {int(c): float(w) for c, w in class_weight.items()}
    if seed is not None:
        _config.seed_everything(seed)
    head_model = models.build_head(train.x.shape[1:], head=head, num_classes=num_classes,
                                   dropout=dropout, l2=l2)
    compile_model(head_model, learning_rate or cfg.head_learning_rate, optimizer,
                  weight_decay=weight_decay, label_smoothing=label_smoothing)
    history = fit(head_model, feature_batches(train, cfg.batch_size,
                                              shuffle_seed=cfg.seed if seed is None else seed),
                  None if val is None else feature_batches(val, cfg.batch_size),
                  epochs=epochs or cfg.head_epochs, name=name, cfg=cfg, patience=patience,
                  checkpoint=checkpoint and val is not None, backup=backup,
                  callbacks=[*callbacks, DataLoss()] if l2 > 0 else callbacks,
                  class_weight=class_weight, verbose=verbose)
    return head_model, history


class DataLoss(keras.callbacks.Callback):
    """Keep ``loss`` and ``val_loss`` to the data's loss when the model has a penalty.

    Keras adds a layer's regularisation (an ``l2`` penalty) to the loss it reports, in
    training and in validation, so a run with a penalty cannot be compared with one
    without on ``loss``.  At each epoch's end this subtracts the penalty of the weights
    of that moment (exact for ``val_loss``, computed with those weights; about right for
    ``loss``, an average over the epoch's batches while the penalty moved) and keeps
    the reported values as ``penalised_loss`` and ``val_penalised_loss``.
    :func:`train_head_on_features` adds it whenever ``l2 > 0``.

    Example:
        >>> import numpy as np
        >>> inp = keras.Input((2,))
        >>> dense = keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L2(1.0))
        >>> m = keras.Model(inp, dense(inp)); m.compile(loss="mse")
        >>> logs = m.fit(np.ones((4, 2)), np.ones(4), epochs=1, verbose=0,
        ...              callbacks=[DataLoss()]).history
        >>> sorted(logs), bool(logs["penalised_loss"][0] > logs["loss"][0])
        (['loss', 'penalised_loss'], True)
    """

    edits_logs = True  # nbh.training.fit runs it before the callbacks that record the logs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not logs:
            return
        penalty = float(sum(float(keras.ops.convert_to_numpy(v)) for v in self.model.losses))
        for key in ("loss", "val_loss"):
            if key in logs:
                logs[key.replace("loss", "penalised_loss")] = float(logs[key])
                logs[key] = float(logs[key]) - penalty


def prepare_finetuning(
    model: keras.Model,
    cfg: Config | None = None,
    *,
    block: str | None = None,
    learning_rate: float | None = None,
) -> list[str]:
    """Unfreeze the top block (VGG16: ``block5``) and **recompile** with the low learning rate.

    Returns the names of the layers that are now trainable.  The recompile is
    not optional: in Keras 3 a model that has already been trained keeps
    training the variables that were trainable when its train step was first
    traced, until ``compile()`` is called again.  The low learning rate
    (``cfg.finetune_learning_rate``, about 1e-5 with ImageNet weights) keeps
    the large early updates from destroying the pretrained features.
    Taught in ``06_fine_tuning``.

    Example:
        >>> from nbhelpers import models
        >>> cfg = _config.make_config("offline")
        >>> model = models.build_classifier(models.load_backbone("vgg16", None, (32, 32, 3)))
        >>> prepare_finetuning(model, cfg)
        ['block5_conv1', 'block5_conv2', 'block5_conv3', 'logits']
        >>> bool(np.isclose(float(model.optimizer.learning_rate), cfg.finetune_learning_rate))
        True
    """
    cfg = cfg or _config.current()
    backbone = models.backbone_of(model)
    names = models.unfreeze_from(model, block or models.BACKBONES[backbone].top_block)
    compile_model(model, learning_rate or cfg.finetune_learning_rate)
    return names


def fit_above(
    model: keras.Model,
    train: Any,
    validation: Any,
    cfg: Config | None = None,
    *,
    epochs: int,
    name: str,
    initial_epoch: int = 0,
    block: str | None = None,
    patience: int | None = DEFAULT_PATIENCE,
    checkpoint: bool = True,
    verbose: int | None = None,
    **fit_kwargs: Any,
) -> dict[str, list]:
    """Fine-tune from ``block`` up on the output of the frozen layers below it, computed once.

    The fast path of fine-tuning when the images are not augmented: the frozen
    blocks below ``block`` (default: the backbone's top block, VGG16's
    ``block5``) give the same output every epoch, so :func:`extract_features`
    computes it once per split (cached on disk like the head's features) and
    each epoch runs only ``block`` and the head, forward and backward
    (:func:`nbhelpers.models.split_at`; VGG16's block5 is about a tenth of
    the base's multiply-adds).  Call :func:`prepare_finetuning` first: its
    learning rate is used here.  ``train``/``validation``: datasets from
    ``nbh.data.make_datasets(..., augment=False)`` or ``(x, y)`` arrays; an
    augmented pipeline would be computed once, augmentations frozen with it:
    use :func:`fit` for those.  It trains with Adam at the model's current
    learning rate and :func:`compile_model`'s loss (another optimizer, a
    schedule or weight decay: use :func:`fit`).  Other keyword arguments go to
    :func:`fit` (``backup=False``, ``steps_per_epoch=4`` for a few steps).  Returns the
    history as :func:`fit` does (same keys); ``model``'s own weights are the ones trained.
    Raises ValueError when ``model`` is not compiled, a layer below ``block``
    is trainable, or ``validation`` is None while early stopping or the
    checkpoint would watch it (pass ``patience=None, checkpoint=False``).
    Taught in ``06_fine_tuning``.

    Example:
        >>> from nbhelpers import models
        >>> cfg = _config.make_config("offline")
        >>> model = models.build_classifier(models.load_backbone("vgg16", None, (32, 32, 3)))
        >>> _ = prepare_finetuning(model, cfg)
        >>> x, y = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)), np.arange(8) % 2
        >>> before = model.get_layer("block5_conv1").get_weights()[0].copy()
        >>> h = fit_above(model, (x, y), (x, y), cfg, epochs=1, name="doctest", checkpoint=False)
        >>> sorted(h), bool((model.get_layer("block5_conv1").get_weights()[0] != before).any())
        (['accuracy', 'epoch', 'loss', 'val_accuracy', 'val_loss'], True)
    """
    cfg = cfg or _config.current()
    block = block or models.BACKBONES[models.backbone_of(model)].top_block
    if getattr(model, "optimizer", None) is None:
        raise ValueError("fit_above: the model is not compiled; call "
                         "nbh.training.prepare_finetuning(model, cfg) first.")
    if validation is None and (patience is not None or checkpoint):
        raise ValueError("fit_above: without validation data there is no val_loss for early "
                         "stopping or the checkpoint to watch; pass patience=None, "
                         "checkpoint=False.")
    below, above = models.split_at(model, block)
    trainable = [layer.name for layer in below.layers if layer.trainable_weights]
    if trainable:
        raise ValueError(f"fit_above: {', '.join(trainable[:3])} below {block!r} are trainable, "
                         f"and their output would be computed once as if frozen; call "
                         f"nbh.training.prepare_finetuning(model, cfg) (or "
                         f"nbh.models.unfreeze_from(model, {block!r})) first, or use fit().")
    train_f = extract_features(below, train, "train", cfg)
    val_f = None if validation is None else extract_features(below, validation, "val", cfg)
    compile_model(above, float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return fit(above, (train_f.x, train_f.y), None if val_f is None else (val_f.x, val_f.y),
               cfg, epochs=epochs, name=name, initial_epoch=initial_epoch, patience=patience,
               checkpoint=checkpoint, verbose=verbose, **fit_kwargs)
