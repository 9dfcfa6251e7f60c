"""Training: the feature cache, head training, fine-tuning, resumable runs, ``get_model(stage)``.

Taught in ``04_adding_a_head`` (cached features, the frozen end-to-end model,
callbacks) and ``05_fine_tuning`` (unfreeze block5, recompile, low learning rate).

Two ways to train a head on a frozen base:

* **fast path** -- run the frozen base *once* over the images
  (:func:`extract_features`, cached on disk as ``.npz``) and train the small
  head on those features.  No augmentation is possible: the features of an
  image are computed once.
* **accurate path** -- the whole model (frozen base + head) sees freshly
  augmented images each epoch (:func:`fit` on ``make_datasets(...,
  augment=True)``).  Every epoch pays for a forward pass through the base.

Every run goes through :func:`fit`, which adds the course's callbacks
(:func:`training_callbacks`): early stopping that restores the best weights,
a ``.keras`` checkpoint of the best epoch, and ``BackupAndRestore``, so a run
interrupted by a Colab disconnect or Ctrl-C continues from its last finished
epoch when the cell is run again.

Later notebooks call :func:`get_model` (``"head"`` or ``"finetuned"``): the model
is loaded from ``cfg.artifacts_dir`` (``keras.models.load_model(...,
safe_mode=True)``; nothing is ever unpickled), or trained with the profile's
recipe (:data:`RECIPES`) and saved there with a JSON record
(:func:`load_record`).  Models are built and trained inside
``nbhelpers.env.strategy()``'s scope, so the same code uses one CPU, several
GPUs (``MirroredStrategy``) or a TPU.

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

import hashlib
import json
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from . import config as _config
from .config import Config

__all__ = [
    "STAGES",
    "TOP_BLOCK",
    "Recipe",
    "RECIPES",
    "recipe",
    "Features",
    "feature_key",
    "feature_cache_path",
    "extract_features",
    "compile_model",
    "count_params",
    "EpochLog",
    "read_history",
    "training_callbacks",
    "fit",
    "train_head_on_features",
    "prepare_finetuning",
    "artifact_paths",
    "save_artifact",
    "save_stage",
    "load_record",
    "load_saved_model",
    "train_stage",
    "get_model",
    "default_strategy",
]

#: The stages :func:`get_model` knows: a head on the frozen base, then fine-tuned.
STAGES = ("head", "finetuned")

#: The block fine-tuning unfreezes, per backbone (VGG16: its last conv block).
TOP_BLOCK = {"vgg16": "block5", "resnet50": "conv5", "mobilenetv2": "block_16",
             "efficientnetb0": "block7"}


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """How :func:`train_stage` trains each stage in a profile (epochs and rates come from cfg).

    ``head_method``: ``"features"`` (fast path: head on cached features) or
    ``"end_to_end"`` (accurate path: frozen base + head on augmented images).
    ``finetune_augment``: augment the images while fine-tuning.

    Example:
        >>> RECIPES["full"].head_method, RECIPES["offline"].head_method
        ('end_to_end', 'features')
    """

    backbone: str = "vgg16"
    head: str = "gap"
    dropout: float = 0.5
    head_method: str = "features"
    head_augment: bool = True
    finetune_augment: bool = True
    patience: int = 3


#: One recipe per profile.  ``full`` follows the published recipes that reach
#: about 97-98 % on cats vs dogs: frozen base with augmentation, then block5 at 1e-5.
RECIPES: dict[str, Recipe] = {
    "full": Recipe(head_method="end_to_end"),
    "cpu": Recipe(head_method="features"),
    "offline": Recipe(head_method="features", finetune_augment=False),
}


def recipe(cfg: Config | None = None) -> Recipe:
    """The :class:`Recipe` of ``cfg``'s profile.

    Example:
        >>> recipe(_config.setup("offline", quiet=True)).backbone
        'vgg16'
    """
    cfg = cfg or _config.current()
    return RECIPES.get(cfg.name, Recipe())


def _settings(stage: str, cfg: Config) -> dict[str, Any]:
    """What a saved artifact must match to be reused (else it is retrained)."""
    p = cfg.profile
    out = {
        "stage": stage,
        "profile": p.name,
        "dataset": p.dataset,
        "weights": p.weights,
        "image_size": p.image_size,
        "batch_size": p.batch_size,
        "max_images_per_class": p.max_images_per_class,
        "head_epochs": p.head_epochs,
        "head_learning_rate": p.head_learning_rate,
        "seed": cfg.seed,
        "recipe": asdict(recipe(cfg)),
    }
    if stage == "finetuned":
        out.update(finetune_epochs=p.finetune_epochs,
                   finetune_learning_rate=p.finetune_learning_rate)
    return out


# --------------------------------------------------------------------------- feature cache


class Features(NamedTuple):
    """Features of a frozen base and their labels (``x[i]`` belongs to ``y[i]``)."""

    x: np.ndarray
    y: np.ndarray


def _weights_id(model: keras.Model) -> str:
    """A short fingerprint of a model's weights (first and last weight tensors)."""
    weights = model.weights
    h = hashlib.sha1()
    for w in (weights[0], weights[-1]) if weights else ():
        h.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return h.hexdigest()[:10]


def feature_key(
    split: str,
    cfg: Config | None = None,
    *,
    backbone: str = "vgg16",
    image_size: int | None = None,
    dataset: str | None = None,
    weights_id: str | None = None,
) -> str:
    """The cache key: backbone, image size, data set, split, profile (and a weights fingerprint).

    Example:
        >>> feature_key("train", _config.setup("offline", quiet=True))
        'vgg16-64px-faces-train-offline'
    """
    cfg = cfg or _config.current()
    parts = [
        backbone,
        f"{int(image_size or cfg.image_size)}px",
        dataset or cfg.profile.dataset,
        split,
        cfg.name,
    ]
    if weights_id:
        parts.append(weights_id)
    return "-".join(str(p).replace("/", "_").replace(" ", "_") for p in parts)


def feature_cache_path(key: str, cfg: Config | None = None) -> Path:
    """Where the features for ``key`` are cached: ``cfg.cache_dir/features/<key>.npz``.

    Example:
        >>> feature_cache_path("k", _config.setup("offline", quiet=True)).name
        'k.npz'
    """
    cfg = cfg or _config.current()
    return Path(cfg.cache_dir) / "features" / f"{key}.npz"


def _backbone_name(model: keras.Model) -> str:
    names = {layer.name for layer in model.layers}
    from . import models

    for key, last in models.LAST_CONV.items():
        if last in names:
            return key
    return model.name


def extract_features(
    base_model: keras.Model,
    ds: Any,
    key: str = "train",
    cfg: Config | None = None,
    *,
    dataset: str | None = None,
    refresh: bool = False,
    batch_size: int | None = None,
) -> Features:
    """Run the frozen base once over ``ds`` and cache ``(features, labels)`` on disk.

    ``ds`` yields ``(images, labels)`` batches (a ``tf.data.Dataset`` from
    ``nbh.data.make_datasets``) or is an ``(x, y)`` pair of arrays.  ``key``
    names the split; the file name adds the backbone, image size, data set,
    profile and a fingerprint of the base's weights (:func:`feature_key`), so
    another backbone, size, data set or set of weights never reads stale
    features.  The file is a plain ``.npz`` read with ``allow_pickle=False``.
    ``refresh=True`` recomputes.  Images and labels are taken from the same
    batch, so a shuffled ``ds`` is fine: the pairs stay together.

    Taught in ``04_adding_a_head`` (the fast path).

    Example:
        >>> import numpy as np
        >>> cfg = _config.setup("offline", quiet=True)
        >>> inp = keras.Input((4, 4, 3)); base = keras.Model(inp, keras.layers.Conv2D(2, 3)(inp))
        >>> x, y = np.zeros((5, 4, 4, 3), "float32"), np.arange(5)
        >>> f = extract_features(base, (x, y), key="doctest", cfg=cfg, refresh=True)
        >>> f.x.shape, f.y.tolist()
        ((5, 2, 2, 2), [0, 1, 2, 3, 4])
    """
    cfg = cfg or _config.current()
    image_size = base_model.input_shape[1] or cfg.image_size
    path = feature_cache_path(
        feature_key(key, cfg, backbone=_backbone_name(base_model), image_size=image_size,
                    dataset=dataset, weights_id=_weights_id(base_model)),
        cfg,
    )
    if path.exists() and not refresh:
        with np.load(path, allow_pickle=False) as z:
            return Features(z["x"], z["y"])
    xs, ys = [], []
    if isinstance(ds, tuple | list) and len(ds) == 2:
        x_all, y_all = np.asarray(ds[0]), np.asarray(ds[1])
        bs = int(batch_size or cfg.batch_size)
        batches: Iterable = ((x_all[i:i + bs], y_all[i:i + bs]) for i in range(0, len(x_all), bs))
    else:
        batches = ds
    for xb, yb in batches:
        xs.append(np.asarray(base_model(xb, training=False)))
        ys.append(np.asarray(yb))
    features = Features(np.concatenate(xs).astype("float32"), np.concatenate(ys))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, x=features.x, y=features.y)
    tmp.replace(path)  # atomic: a half-written cache file is never read
    return features


# --------------------------------------------------------------------------- compile / callbacks


def compile_model(model: keras.Model, learning_rate: float, optimizer: str = "adam") -> keras.Model:
    """Compile for classification: binary cross-entropy for one sigmoid unit, else sparse CE.

    A *new* optimizer each call (Adam, or SGD with momentum 0.9 for
    ``optimizer="sgd"``), created with ``learning_rate=`` (Keras 3 rejects the
    old ``lr=``).  Call it again after changing any layer's ``trainable``.

    Example:
        >>> inp = keras.Input((3,)); m = keras.Model(inp, keras.layers.Dense(1, "sigmoid")(inp))
        >>> compile_model(m, 1e-3).loss
        'binary_crossentropy'
    """
    opt: keras.optimizers.Optimizer
    if optimizer == "adam":
        opt = keras.optimizers.Adam(learning_rate=learning_rate)
    elif optimizer == "sgd":
        opt = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    binary = model.output_shape[-1] == 1
    model.compile(
        optimizer=opt,
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def count_params(model: keras.Model, trainable: bool = True) -> int:
    """Number of trainable (or, with ``trainable=False``, frozen) parameters.

    Example:
        >>> inp = keras.Input((3,)); m = keras.Model(inp, keras.layers.Dense(2)(inp))
        >>> count_params(m), count_params(m, trainable=False)
        (8, 0)
    """
    weights = model.trainable_weights if trainable else model.non_trainable_weights
    return int(sum(int(np.prod(w.shape)) for w in weights))


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

    Example:
        >>> read_history("/no/such/file.jsonl")
        {}
    """
    path = Path(path)
    if not path.exists():
        return {}
    rows: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[int(row["epoch"])] = row
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
    patience: int | None = 3,
    checkpoint: bool = True,
    backup: bool = True,
) -> list[keras.callbacks.Callback]:
    """The course's callbacks for the run ``name`` (files under ``cfg.artifacts_dir/runs/name``).

    In order: ``BackupAndRestore`` (state after every epoch; the next ``fit``
    of the same run resumes from it, and it is deleted when a run finishes),
    :class:`EpochLog`, ``ModelCheckpoint`` (the best epoch so far as a
    ``.keras`` file) and ``EarlyStopping`` (stop after ``patience`` epochs
    without improvement and restore the best weights; ``patience=None``: off).
    Taught in ``04_adding_a_head``.

    Example:
        >>> cbs = training_callbacks("doc", _config.setup("offline", quiet=True))
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
    validation: Any = None,
    *,
    epochs: int,
    name: str,
    cfg: Config | None = None,
    initial_epoch: int = 0,
    monitor: str = "val_loss",
    patience: int | None = 3,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    checkpoint: bool = True,
    verbose: int = 0,
    **fit_kwargs: Any,
) -> dict[str, list]:
    """``model.fit`` with the course's callbacks; resumable; returns the run's whole history.

    ``name`` identifies the run: if an earlier ``fit`` of the same run was
    interrupted (Ctrl-C, a Colab disconnect), ``BackupAndRestore`` restores
    its weights and optimizer state and training continues at the next epoch;
    the returned history then covers the epochs of both attempts.  Epochs are
    numbered from ``initial_epoch`` (fine-tuning continues the head's count:
    ``initial_epoch=head_epochs, epochs=head_epochs + finetune_epochs``).
    ``train``/``validation``: datasets, or ``(x, y)`` tuples of arrays.
    Extra ``callbacks`` run after the course's.  Taught in ``04_adding_a_head``.

    Example:
        >>> import numpy as np
        >>> cfg = _config.setup("offline", quiet=True)
        >>> inp = keras.Input((2,)); m = keras.Model(inp, keras.layers.Dense(1, "sigmoid")(inp))
        >>> _ = compile_model(m, 0.1)
        >>> x, y = np.random.rand(8, 2), np.arange(8) % 2
        >>> h = fit(m, (x, y), (x, y), epochs=2, name="doctest", cfg=cfg, checkpoint=False)
        >>> h["epoch"], sorted(k for k in h if k != "epoch")
        ([0, 1], ['accuracy', 'loss', 'val_accuracy', 'val_loss'])
    """
    cfg = cfg or _config.current()
    run = _run_dir(name, cfg)
    log = run / "history.jsonl"
    if not (run / "backup" / "training_metadata.json").exists():
        log.unlink(missing_ok=True)  # a fresh run, not a resumed one
    run.mkdir(parents=True, exist_ok=True)
    cbs = training_callbacks(name, cfg, monitor=monitor, patience=patience,
                             checkpoint=checkpoint) + list(callbacks)
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


# --------------------------------------------------------------------------- recipes in code


def train_head_on_features(
    train: Features,
    val: Features,
    *,
    num_classes: int = 2,
    head: str = "gap",
    dropout: float = 0.5,
    epochs: int | None = None,
    learning_rate: float | None = None,
    name: str = "head_features",
    cfg: Config | None = None,
    patience: int | None = 3,
) -> tuple[keras.Model, dict[str, list]]:
    """The fast path: a standalone head (``nbh.models.build_head``) trained on cached features.

    Returns ``(head, history)``; put the head onto a classifier with
    ``nbh.models.copy_head_weights(head, model)``.  Taught in ``04_adding_a_head``.

    Example:
        >>> import numpy as np
        >>> cfg = _config.setup("offline", quiet=True)
        >>> f = Features(np.random.rand(8, 1, 1, 4).astype("float32"), np.arange(8) % 2)
        >>> head, h = train_head_on_features(f, f, epochs=1, cfg=cfg, name="doctest")
        >>> head.output.shape, len(h["loss"])
        ((None, 1), 1)
    """
    from . import models

    cfg = cfg or _config.current()
    head_model = models.build_head(train.x.shape[1:], head=head, num_classes=num_classes,
                                   dropout=dropout)
    compile_model(head_model, learning_rate or cfg.head_learning_rate)
    history = fit(head_model, (train.x, train.y), (val.x, val.y),
                  epochs=epochs or cfg.head_epochs, name=name, cfg=cfg, patience=patience,
                  shuffle=True)
    return head_model, history


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
    Taught in ``05_fine_tuning``.

    Example:
        >>> from nbhelpers import models
        >>> cfg = _config.setup("offline", quiet=True)
        >>> model = models.build_classifier(models.load_backbone("vgg16", None, (32, 32, 3)))
        >>> prepare_finetuning(model, cfg)
        ['block5_conv1', 'block5_conv2', 'block5_conv3', 'predictions']
        >>> bool(np.isclose(float(model.optimizer.learning_rate), cfg.finetune_learning_rate))
        True
    """
    from . import models

    cfg = cfg or _config.current()
    backbone = _backbone_name(model)
    names = models.unfreeze_from(model, block or TOP_BLOCK.get(backbone, "block5"))
    compile_model(model, learning_rate or cfg.finetune_learning_rate)
    return names


# --------------------------------------------------------------------------- artifacts


def artifact_paths(stage: str, cfg: Config | None = None) -> tuple[Path, Path]:
    """``(model.keras, record.json)`` of a stage in ``cfg.artifacts_dir``.

    Example:
        >>> [p.name for p in artifact_paths("head", _config.setup("offline", quiet=True))]
        ['head.keras', 'head.json']
    """
    cfg = cfg or _config.current()
    folder = Path(cfg.artifacts_dir)
    return folder / f"{stage}.keras", folder / f"{stage}.json"


def save_artifact(model: keras.Model, stage: str, record: dict[str, Any],
                  cfg: Config | None = None) -> Path:
    """Save ``model`` as ``<stage>.keras`` and its JSON record beside it; return the model's path.

    The record gets the profile, data set, versions and a timestamp added.

    Example:
        >>> import tempfile, dataclasses
        >>> cfg = dataclasses.replace(_config.setup("offline", quiet=True),
        ...                           artifacts_dir=Path(tempfile.mkdtemp()))
        >>> inp = keras.Input((2,)); m = keras.Model(inp, keras.layers.Dense(1)(inp))
        >>> save_artifact(m, "demo", {"epochs": 0}, cfg).name, load_record("demo", cfg)["profile"]
        ('demo.keras', 'offline')
    """
    from . import env

    cfg = cfg or _config.current()
    model_path, record_path = artifact_paths(stage, cfg)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    if getattr(model, "optimizer", None) is not None and not model.optimizer.built:
        with model.distribute_strategy.scope():  # the strategy the model was compiled under
            model.optimizer.build(model.trainable_variables)  # so its state reloads cleanly
    tmp = model_path.with_name(model_path.stem + ".tmp.keras")
    model.save(tmp)
    tmp.replace(model_path)
    full = {
        "stage": stage,
        "profile": cfg.name,
        "dataset": cfg.profile.dataset,
        "label": cfg.label(),
        "versions": env.versions(),
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **record,
    }
    record_path.write_text(json.dumps(full, indent=1, default=_json_default))
    return model_path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_record(stage: str, cfg: Config | None = None) -> dict[str, Any]:
    """The JSON record of a trained stage: history, metrics, epochs, wall time, versions, ...

    Raises ``FileNotFoundError`` if the stage has not been trained in this
    profile (``get_model(stage)`` trains and saves it).  Taught in ``05_fine_tuning``.

    Example:
        >>> load_record("no-such-stage", _config.setup("offline", quiet=True))
        Traceback (most recent call last):
        ...
        FileNotFoundError: No record of stage 'no-such-stage' in ...
    """
    cfg = cfg or _config.current()
    _, record_path = artifact_paths(stage, cfg)
    if not record_path.exists():
        raise FileNotFoundError(
            f"No record of stage {stage!r} in {record_path.parent}; "
            f"nbh.training.get_model({stage!r}) trains and saves it."
        )
    return json.loads(record_path.read_text())


def load_saved_model(path: str | Path) -> keras.Model:
    """``keras.models.load_model(path, safe_mode=True)``: no pickled or Lambda code is run.

    Importing ``nbhelpers.models`` first registers its custom layers.

    Example:
        >>> import tempfile
        >>> inp = keras.Input((2,)); m = keras.Model(inp, keras.layers.Dense(1)(inp))
        >>> p = Path(tempfile.mkdtemp()) / "m.keras"; m.save(p)
        >>> load_saved_model(p).output_shape
        (None, 1)
    """
    from . import models  # noqa: F401  (registers Preprocess for deserialisation)

    return keras.models.load_model(path, safe_mode=True)


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
    from . import env

    if not _STRATEGY:
        _STRATEGY.append(env.strategy())
    return _STRATEGY[0]



def _data(cfg: Config, augment: bool) -> tuple[Any, Any, Any, list[str]]:
    from . import data

    prepared = data.prepare(cfg, verbose=False)
    train_ds, val_ds, test_ds = data.make_datasets(prepared, cfg, augment=augment)
    return train_ds, val_ds, test_ds, prepared.class_names


def _metrics(model: keras.Model, val: Any) -> dict[str, float]:
    x, y = val if isinstance(val, tuple) else (val, None)
    loss, acc = model.evaluate(x, y, verbose=0, return_dict=False)[:2]
    return {"val_loss": float(loss), "val_accuracy": float(acc)}


def _clear_run(name: str, cfg: Config) -> None:
    shutil.rmtree(_run_dir(name, cfg) / "backup", ignore_errors=True)


def train_stage(stage: str, cfg: Config | None = None, *, strategy: Any = None,
                verbose: bool = True) -> tuple[keras.Model, dict[str, Any]]:
    """Train ``"head"`` or ``"finetuned"`` with the profile's :class:`Recipe`, save, return it.

    ``head``: VGG16 (``cfg.profile.weights``) frozen, a GAP head trained for
    ``cfg.head_epochs`` at ``cfg.head_learning_rate``, on cached features
    (fast path) or end to end with augmentation, as the recipe says.
    ``finetuned``: the head model (from :func:`get_model`), block5 unfrozen,
    recompiled, trained ``cfg.finetune_epochs`` more at
    ``cfg.finetune_learning_rate``.  Interrupted? Run it again: it resumes.
    """
    from . import models

    cfg = cfg or _config.current()
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    rec = recipe(cfg)
    strategy = strategy or default_strategy()
    _config.seed_everything(cfg.seed)  # the same model whatever ran before in the notebook
    t0 = time.perf_counter()
    if stage == "head":
        augment = rec.head_method == "end_to_end" and rec.head_augment
        train_ds, val_ds, _, class_names = _data(cfg, augment=augment)
        with strategy.scope():
            base_model = models.load_backbone(rec.backbone, weights=cfg.profile.weights,
                                              input_shape=cfg.input_shape)
            model = models.build_classifier(base_model, head=rec.head,
                                            num_classes=len(class_names), dropout=rec.dropout)
            if rec.head_method == "features":
                train_f = extract_features(base_model, train_ds, "train", cfg)
                val_f = extract_features(base_model, val_ds, "val", cfg)
                head, history = train_head_on_features(
                    train_f, val_f, num_classes=len(class_names), head=rec.head,
                    dropout=rec.dropout, name="head", cfg=cfg, patience=rec.patience)
                models.copy_head_weights(head, model)
                compile_model(model, cfg.head_learning_rate)
                metrics = _metrics(head, (val_f.x, val_f.y))
            else:
                compile_model(model, cfg.head_learning_rate)
                history = fit(model, train_ds, val_ds, epochs=cfg.head_epochs, name="head",
                              cfg=cfg, patience=rec.patience)
                metrics = _metrics(model, val_ds)
        initial_epoch = 0
    else:
        model = get_model("head", cfg, strategy=strategy, verbose=verbose)  # built in scope
        initial_epoch = len(load_record("head", cfg)["history"].get("loss", []))
        train_ds, val_ds, _, class_names = _data(cfg, augment=rec.finetune_augment)
        with strategy.scope():
            prepare_finetuning(model, cfg)
            history = fit(model, train_ds, val_ds, name="finetuned", cfg=cfg,
                          initial_epoch=initial_epoch,
                          epochs=initial_epoch + cfg.finetune_epochs, patience=rec.patience)
            metrics = _metrics(model, val_ds)
    record = save_stage(model, stage, history, cfg, wall_time_s=time.perf_counter() - t0,
                        metrics=metrics, initial_epoch=initial_epoch, class_names=class_names,
                        method=rec.head_method if stage == "head" else None, strategy=strategy)
    if verbose:
        print(f"Trained {stage!r} in {record['wall_time_s']:.1f} s; val accuracy "
              f"{record['metrics']['val_accuracy']:.3f} {cfg.label()}")
    return model, record


def save_stage(
    model: keras.Model,
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

    The record: stages, method, epochs, initial epoch, learning rate,
    trainable/total parameters, ``metrics`` (validation), wall time, the
    history (``{"loss": [...], "val_accuracy": [...], ...}``), the settings it
    was trained with and the strategy (plus profile, data set, versions: see
    :func:`save_artifact`).  Notebook 05 fine-tunes by hand, then calls this.

    Example:
        >>> import tempfile, dataclasses
        >>> cfg = dataclasses.replace(_config.setup("offline", quiet=True),
        ...                           artifacts_dir=Path(tempfile.mkdtemp()))
        >>> inp = keras.Input((2,)); m = keras.Model(inp, keras.layers.Dense(1)(inp))
        >>> r = save_stage(m, "head", {"epoch": [0], "loss": [0.7]}, cfg, wall_time_s=1.0,
        ...                metrics={"val_accuracy": 0.5})
        >>> r["epochs"], r["history"], r["stages"]
        (1, {'loss': [0.7]}, ['head'])
    """

    cfg = cfg or _config.current()
    strategy = strategy or default_strategy()
    rec = recipe(cfg)
    record = {
        "stages": list(STAGES[: STAGES.index(stage) + 1]) if stage in STAGES else [stage],
        "method": method or ("unfreeze " + TOP_BLOCK.get(rec.backbone, "block5")),
        "backbone": rec.backbone,
        "head": rec.head,
        "class_names": list(class_names),
        "epochs": len(history.get("loss", [])),
        "initial_epoch": int(initial_epoch),
        "learning_rate": cfg.head_learning_rate if stage == "head" else cfg.finetune_learning_rate,
        "trainable_params": count_params(model),
        "total_params": count_params(model) + count_params(model, trainable=False),
        "metrics": dict(metrics),
        "wall_time_s": round(float(wall_time_s), 3),
        "history": {k: v for k, v in history.items() if k != "epoch"},
        "history_epochs": history.get("epoch", []),
        "settings": _settings(stage, cfg),
        "strategy": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
    }
    save_artifact(model, stage, record, cfg)
    return load_record(stage, cfg)


def get_model(stage: str = "finetuned", cfg: Config | None = None, *, retrain: bool = False,
              strategy: Any = None, verbose: bool = True) -> keras.Model:
    """The trained model of a stage: loaded from ``cfg.artifacts_dir``, else trained and saved.

    ``stage``: ``"head"`` (notebook 04's result) or ``"finetuned"`` (notebook
    05's).  A saved model is reused only if its record was made with the
    current profile's settings; otherwise (or with ``retrain=True``) the
    profile's recipe trains it (``"finetuned"`` trains the head first when it
    is missing).  Loading uses ``safe_mode=True``.  This is what lets notebooks
    06-10 run on their own in a fresh Colab VM.  Taught in ``05_fine_tuning``.

    Example:
        >>> get_model("best")
        Traceback (most recent call last):
        ...
        ValueError: stage must be one of ('head', 'finetuned'), got 'best'
    """

    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    cfg = cfg or _config.current()
    strategy = strategy or default_strategy()
    model_path, record_path = artifact_paths(stage, cfg)
    if model_path.exists() and record_path.exists() and not retrain:
        record = json.loads(record_path.read_text())
        if record.get("settings") == json.loads(json.dumps(_settings(stage, cfg))):
            try:
                with strategy.scope():
                    model = load_saved_model(model_path)
            except (TypeError, ValueError) as exc:
                # A model saved by a newer Keras (another environment sharing the folder)
                # may not deserialize here: retrain rather than stop the notebook.
                saved = record.get("versions", {}).get("keras", "another version")
                print(f"The saved {stage!r} model ({model_path}) could not be loaded by Keras "
                      f"{keras.__version__} (it was saved with Keras {saved}): retraining. "
                      f"[{type(exc).__name__}]")
            else:
                if verbose:
                    print(f"Loaded {stage!r} from {model_path} {cfg.label()}")
                return model
        elif verbose:
            print(f"The saved {stage!r} model was made with other settings: retraining.")
        retrain = True  # and do not resume a backup made with the old settings
    if retrain:
        _clear_run(stage, cfg)
    model, _ = train_stage(stage, cfg, strategy=strategy, verbose=verbose)
    return model
