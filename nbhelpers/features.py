"""The feature cache: a frozen base run once over the images, its output kept on disk as ``.npz``.

Notebook 05's fast path calls it as ``nbh.training.extract_features`` (re-exported
by :mod:`nbhelpers.training`, whose :func:`~nbhelpers.training.fit_above` uses it
too).  A cache file is named by what decides its content (:func:`feature_key`):

* the backbone, the image size and the profile;
* the fingerprint of what the images and labels hold, in order (``data``);
* the fingerprint of the base's weights and its output shape.

Where the data's fingerprint comes from is explicit: an ``(x, y)`` pair of arrays
is hashed; a pipeline made by ``nbh.data.dataset`` / ``make_datasets`` carries
``ds.split_identity`` (a :class:`nbhelpers.data.SplitIdentity`: which files, in
which order), and the content fingerprint found for those files the first time is
kept in a small note beside the cache, so a later call finds the file without
decoding an image.  Any other pipeline (an augmented one, ``ds.map(...)``) is run
but not cached: what it holds cannot be known without running it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from . import artifacts, models, progress
from . import config as _config
from .config import INFERENCE_BATCH_SIZE, Config
from .data import SplitIdentity

__all__ = ["Features", "feature_key", "feature_cache_path", "extract_features", "feature_batches"]


class Features(NamedTuple):
    """Features of a frozen base and their labels (``x[i]`` belongs to ``y[i]``).

    ``x`` is ``(images, *base output shape)``, ``y`` the labels ``(images,)``;
    a named tuple, so ``x, y = extract_features(...)`` unpacks it.

    Example:
        >>> x, y = Features(np.zeros((3, 2, 2, 8), "float32"), np.array([0, 1, 1]))
        >>> x.shape, y.tolist()
        ((3, 2, 2, 8), [0, 1, 1])
    """

    x: np.ndarray
    y: np.ndarray


def feature_key(
    split: str,
    cfg: Config | None = None,
    *,
    backbone: str = "vgg16",
    image_size: int | None = None,
    data_id: str | None = None,
    weights_id: str | None = None,
) -> str:
    """The cache key: backbone, image size, split, profile, the data's and the weights' fingerprints.

    ``data_id`` is the fingerprint of what the images and labels hold
    (:func:`extract_features` computes it): another folder, or an image added,
    removed, changed or moved in the order, gives another key, so stale features
    are never read.  ``weights_id`` fingerprints the base's weights.

    Example:
        >>> feature_key("train", _config.make_config("offline"), data_id="3f2a")
        'vgg16-64px-train-offline-data3f2a'
    """
    cfg = cfg or _config.current()
    parts = [backbone, f"{int(image_size or cfg.image_size)}px", split, cfg.name]
    if data_id:
        parts.append(f"data{data_id}")
    if weights_id:
        parts.append(weights_id)
    return "-".join(str(p).replace("/", "_").replace(" ", "_") for p in parts)


def feature_cache_path(key: str, cfg: Config | None = None) -> Path:
    """Where the features for ``key`` are cached: ``cfg.cache_dir/features/<key>.npz``.

    Example:
        >>> feature_cache_path("k", _config.make_config("offline")).name
        'k.npz'
    """
    cfg = cfg or _config.current()
    return Path(cfg.cache_dir) / "features" / f"{key}.npz"


def extract_features(
    base_model: keras.Model,
    ds: Any,
    key: str = "train",
    cfg: Config | None = None,
    *,
    refresh: bool = False,
    batch_size: int | None = None,
) -> Features:
    """Run the frozen base once over ``ds`` and cache ``(features, labels)`` on disk.

    ``ds`` yields ``(images, labels)`` batches (a ``tf.data.Dataset`` from
    ``nbh.data.make_datasets``) or is an ``(x, y)`` pair of arrays.  The cache
    file is named by the backbone, image size, profile and fingerprints of what
    the images and labels hold (their values, in order) and of the base's
    weights and output shape (:func:`feature_key`), so another backbone, size,
    folder, changed image or set of weights never reads stale features, and
    two notebooks that ask for the features of the same images through the
    same base share one file, whether they pass a pipeline or the arrays of
    ``nbh.data.load_split``.  A pipeline made by ``make_datasets`` carries
    ``ds.split_identity`` and is read in the order of its split's list
    (``ds.split_identity.in_order``: a shuffled training pipeline gives its
    features in ``load_split``'s order, labels with them); the content
    fingerprint of its files is kept beside the cache, so a later call finds
    the file without reading an image.  ``key`` only names the split in the
    progress bar.  A pipeline without a split identity (not made by
    ``make_datasets``, or augmented) is run in its own order but not cached.
    The file is a plain ``.npz`` read with ``allow_pickle=False``.
    ``refresh=True`` recomputes.  Batches of ``batch_size`` (default: the
    profile's, at most ``nbh.config.INFERENCE_BATCH_SIZE``).

    Taught in ``05_adding_a_head`` (the fast path).

    Example:
        >>> import numpy as np
        >>> cfg = _config.make_config("offline")
        >>> inp = keras.Input((4, 4, 3)); base = keras.Model(inp, keras.layers.Conv2D(2, 3)(inp))
        >>> x, y = np.zeros((5, 4, 4, 3), "float32"), np.arange(5)
        >>> f = extract_features(base, (x, y), key="doctest", cfg=cfg, refresh=True)
        >>> f.x.shape, f.y.tolist()
        ((5, 2, 2, 2), [0, 1, 2, 3, 4])
    """
    cfg = cfg or _config.current()
    bs = int(batch_size or min(cfg.batch_size, INFERENCE_BATCH_SIZE))
    path_for = _cache_paths(base_model, cfg)
    # A pipeline made by nbh.data.dataset says which files it holds, in which order (None: unknown).
    identity = None if _is_arrays(ds) else getattr(ds, "split_identity", None)
    identity = identity if isinstance(identity, SplitIdentity) else None
    # 1. what the data are: the arrays' hash, the note kept for a split's files, or unknown
    batches, total, content_id = _batches(ds, bs, identity, cfg)
    # 2. read the cache when it holds them
    if content_id is not None and not refresh and path_for(content_id).exists():
        cached = _read_features(path_for(content_id), tuple(base_model.output_shape[1:]))
        if cached is not None:
            return cached
    # 3. run the base (a split: in its list's order, hashing what it reads)
    if identity is not None:
        batches = identity.in_order(bs)
    features, seen_id = _run_base(base_model, batches, key, total, hash_content=identity is not None)
    content_id = seen_id if identity is not None else content_id
    if content_id is None:  # a pipeline whose files cannot be known: not cached
        return features
    # 4. write the file, whole or not at all, under a name of this write's own (two kernels may race)
    artifacts.write_with(path_for(content_id),
                         lambda tmp: np.savez(tmp, x=features.x, y=features.y))
    if identity is not None:  # the note last: it never points at a file not yet written
        artifacts.write_with(_link_path(identity.fingerprint, cfg),
                             lambda tmp: tmp.write_text(content_id, encoding="ascii"))
    return features


def _cache_paths(base_model: keras.Model, cfg: Config) -> Callable[[str], Path]:
    """``content_id -> the cache file`` for this base: its backbone, input size, weights and output."""
    image_size = base_model.input_shape[1] or cfg.image_size
    # The weights' fingerprint reads every weight; the output shape keeps apart two models
    # that share them (a base, and the same base with a pooling layer on top).
    shape = "x".join(str(d) for d in base_model.output_shape[1:])
    weights_id = f"{_weights_id(base_model)}-out{shape}"

    def path_for(content_id: str) -> Path:
        return feature_cache_path(feature_key(
            "images", cfg, backbone=_backbone_name(base_model), image_size=image_size,
            data_id=content_id, weights_id=weights_id), cfg)

    return path_for


def _batches(ds: Any, bs: int, identity: SplitIdentity | None,
             cfg: Config) -> tuple[Iterable | None, int | None, str | None]:
    """``(batches, how many, content fingerprint)`` for ``ds``; the fingerprint None when unknown."""
    if _is_arrays(ds):
        x_all, y_all = np.asarray(ds[0]), np.asarray(ds[1])
        batches = ((x_all[i:i + bs], y_all[i:i + bs]) for i in range(0, len(x_all), bs))
        return batches, -(-len(x_all) // bs), _arrays_id(x_all, y_all)
    if identity is not None:  # read in the split's order on a miss
        return None, None, _read_link(identity.fingerprint, cfg)  # None: not read before
    return ds, None, None


def _run_base(base_model: keras.Model, batches: Iterable, key: str, total: int | None, *,
              hash_content: bool) -> tuple[Features, str | None]:
    """The base's output for every batch, and (``hash_content``) the fingerprint of what it read."""
    xs, ys, seen = [], [], _ContentId()
    step = models.forward(base_model)  # compiled: far less memory than base_model(xb)
    for xb, yb in progress.bar(batches, desc=f"features: {key}", total=total):
        if hash_content:
            seen.add(xb, yb)
        xs.append(np.asarray(step(xb)))
        ys.append(np.asarray(yb))
    features = Features(np.concatenate(xs).astype("float32"), np.concatenate(ys))
    return features, seen.hexdigest() if hash_content else None


def feature_batches(f: Features, batch_size: int, shuffle_seed: int | None = None) -> Any:
    """Features as a batched ``tf.data`` pipeline: cheaper per epoch than NumPy arrays in ``fit``.

    Shuffled (a new order every epoch, the same orders for one seed) when
    ``shuffle_seed`` is given.  ``nbh.training.train_head_on_features`` trains on them.

    Example:
        >>> f = Features(np.zeros((5, 2), "float32"), np.arange(5))
        >>> [len(y) for _, y in feature_batches(f, 2)]
        [2, 2, 1]
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((f.x, np.asarray(f.y)))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(f.y), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(2)


# --------------------------------------------------------------------------- fingerprints
def _weights_id(model: keras.Model) -> str:
    """A short fingerprint of every weight of a model (about 0.1 s for VGG16's base).

    Every tensor, not a sample: a model fine-tuned below a cut changes tensors in
    the middle, while its first and last (ResNet50's last is a frozen
    BatchNormalization statistic) stay as they were.
    """
    h = hashlib.sha1()
    for w in model.weights:
        h.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    return h.hexdigest()[:10]


def _backbone_name(model: keras.Model) -> str:
    try:
        return models.backbone_of(model)
    except ValueError:  # a model of the reader's own: its name stands for it
        return model.name


class _ContentId:
    """The fingerprint of images and labels, fed batch by batch in order.

    The same images and labels give the same fingerprint whether they arrive as
    one ``(x, y)`` pair of arrays or as the batches of a pipeline (images as float32,
    integer labels as int64: the dtypes of ``nbh.data.load_split``; the labels' shape
    counts, ``(N,)`` and ``(N, 1)`` differ).
    """

    def __init__(self) -> None:
        self._h, self._n, self._shape, self._y = hashlib.sha1(), 0, (), []

    def add(self, x: Any, y: Any) -> None:
        x = np.asarray(x)
        for i in range(0, len(x), 256):  # a float32 copy of a slice at a time, not of all
            self._h.update(np.ascontiguousarray(x[i:i + 256], dtype=np.float32).tobytes())
        self._n, self._shape = self._n + len(x), x.shape[1:]
        y = np.asarray(y)
        self._y.append(y.astype(np.int64) if np.issubdtype(y.dtype, np.integer) else y)

    def hexdigest(self) -> str:
        y = np.concatenate(self._y) if self._y else np.zeros(0, np.int64)
        self._h.update(str(((self._n, *self._shape), "<f4", y.shape, y.dtype.str)).encode())
        self._h.update(np.ascontiguousarray(y).tobytes())
        return self._h.hexdigest()[:12]


def _arrays_id(x: np.ndarray, y: np.ndarray) -> str:
    ident = _ContentId()
    ident.add(x, y)
    return ident.hexdigest()


def _is_arrays(ds: Any) -> bool:
    """True for an ``(x, y)`` pair of arrays, False for a pipeline of batches."""
    return isinstance(ds, tuple | list) and len(ds) == 2


def _link_path(split_fingerprint: str, cfg: Config) -> Path:
    """Where the content fingerprint of the files a split identity names is kept."""
    return Path(cfg.cache_dir) / "features" / "splits" / f"{split_fingerprint}.txt"


def _read_link(split_fingerprint: str, cfg: Config) -> str | None:
    """The content fingerprint a split's files were found to hold, or None (unknown, damaged)."""
    try:
        text = _link_path(split_fingerprint, cfg).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == 12 and all(c in "0123456789abcdef" for c in text) else None


def _read_features(path: Path, shape: tuple[int | None, ...]) -> Features | None:
    """The cached features in ``path``, or None (said in one line) when the file is damaged.

    ``shape`` is one image's feature shape (``None`` for a size the model leaves open).
    """
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            x, y = np.asarray(z["x"]), np.asarray(z["y"])
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        # Truncated (BadZipFile, EOFError), not an .npz at all (ValueError about pickles),
        # or an .npz without our arrays (KeyError): computed again and rewritten.
        print(f"The cached features {path.name} are damaged ({type(err).__name__}): "
              "computing them again.")
        return None
    fits = (x.dtype == np.float32 and y.ndim == 1 and np.issubdtype(y.dtype, np.number)
            and x.ndim == len(shape) + 1 and len(x) == len(y)
            and all(want is None or want == have for want, have in zip(shape, x.shape[1:],
                                                                       strict=True)))
    if not fits:
        print(f"The cached features {path.name} are damaged (features {x.dtype} {x.shape}, "
              f"labels {y.dtype} {y.shape}, expected float32 (n, {', '.join(map(str, shape))}) "
              "and n numeric labels): computing them again.")
        return None
    return Features(x, y)
