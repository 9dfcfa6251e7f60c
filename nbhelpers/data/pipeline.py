"""Tensors: ``tf.data`` pipelines over the prepared splits, augmentation, and one split in memory.

:func:`dataset` builds one split's pipeline -- parallel decoding and resizing
(:func:`~nbhelpers.data.decode_and_resize`), a cache of the decoded images
*before* any random augmentation, shuffling, batching and prefetching;
:func:`make_datasets` the three of them.  :func:`load_split` gives one split as
NumPy arrays, :func:`augmentation` the Keras layers that randomly flip, rotate,
zoom and change contrast (training only).

A pipeline made by :func:`dataset` carries ``ds.split_identity``, a
:class:`SplitIdentity`: which files it holds, in which order.  The feature
cache (``nbh.training.extract_features``) keys on it, so features of another
folder, or of a changed image, are never read.  A pipeline derived from it
(``ds.map(...)``, ``ds.take(...)``) is another object and carries none, nor
does an augmented training pipeline (each epoch holds other images).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Config, current
from .errors import DataError
from .files import decode_and_resize
from .resizing import DEFAULT_RESIZE, check_policy
from .splits import Item, fingerprint, split_field

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras
    import tensorflow as tf

    from .preparation import Prepared

__all__ = [
    "augmentation",
    "dataset",
    "SplitIdentity",
    "make_datasets",
    "load_split",
    "throughput",
]


def augmentation(cfg: Config | None = None, *, rotation: float = 0.1, zoom: float = 0.1,
                 contrast: float = 0.1, seed: int | None = None) -> keras.Sequential:
    """Random flip, rotation, zoom and contrast as Keras preprocessing layers.

    The layers change images only when called with ``training=True`` (as
    ``model.fit`` does, or :func:`make_datasets` for the training split); in
    inference they pass images through unchanged.  Inputs and outputs are
    float32 RGB in ``[0, 255]``.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> aug = augmentation(seed=1)
        >>> x = np.full((1, 8, 8, 3), 100.0, "float32")
        >>> bool((aug(x, training=False) == x).numpy().all())
        True
    """
    import keras

    cfg = cfg or current()
    seed = cfg.seed if seed is None else seed
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed + 3),
        ],
        name="augmentation",
    )


@dataclass(frozen=True)
class SplitIdentity:
    """Which images a pipeline made by :func:`dataset` holds: ``ds.split_identity``.

    ``fingerprint`` is the split's data fingerprint
    (:func:`~nbhelpers.data.fingerprint`), the image size and a hash of the
    order of its list, ``<16 hex digits><size>o<8 hex digits>``, then the resize
    policy when it is not the default (``-crop``, ``-pad``): two pipelines with the
    same one hold the same images, at the same size, from the same list, made
    square the same way (the feature cache keys on it).  ``prepared`` and ``split`` are the
    split as it was when the pipeline was made (a list edited later is another
    pipeline's business); :meth:`in_order` reads it back in the list's order.

    Example:
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", verbose=False)
        >>> ident = dataset(p, "val").split_identity
        >>> ident.split, len(ident.fingerprint), ident == dataset(p, "val").split_identity
        ('val', 27, True)
    """

    fingerprint: str
    prepared: Prepared = field(repr=False, compare=False)
    split: str
    cfg: Config = field(repr=False, compare=False)
    resize_policy: str = DEFAULT_RESIZE

    def in_order(self, batch_size: int = 64) -> tf.data.Dataset:
        """The split's images in the order of its list: unshuffled, unaugmented, uncached.

        The same ``(float32 images, int32 labels)`` as :func:`load_split` holds, batch by batch.
        """
        return dataset(self.prepared, self.split, self.cfg, training=False, cache=False,
                       batch_size=batch_size, resize_policy=self.resize_policy)


def dataset(
    prepared: Prepared,
    split: str,
    cfg: Config | None = None,
    *,
    training: bool | None = None,
    augment: bool | keras.Layer = False,
    cache: bool = True,
    prefetch: bool = True,
    parallel: bool = True,
    batch_size: int | None = None,
    resize_policy: str = DEFAULT_RESIZE,
) -> tf.data.Dataset:
    """One split as a ``tf.data.Dataset`` of ``(float32 images (B, S, S, 3), int32 labels (B,))``.

    The order of the steps matters: decode and resize in parallel -> cache the
    decoded ``uint8`` images (the expensive part is done once) -> shuffle
    (training only, seeded) -> batch -> convert to float32 -> random
    augmentation (training only, *after* the cache, so each epoch sees new
    variants) -> prefetch (the next batch is prepared while the model trains
    on this one).  ``cache``, ``prefetch`` and ``parallel`` can be switched off
    to measure what each one buys.  ``resize_policy``: how a photo is made square
    (``"squash"``, ``"crop"``, ``"pad"``: :mod:`nbhelpers.data.resizing`).  The pipeline carries ``split_identity``
    (a :class:`SplitIdentity`; None on an augmented training pipeline).

    Taught in ``03_preparing_the_data``.

    Example:
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", verbose=False)
        >>> x, y = next(iter(dataset(p, "val", batch_size=4)))
        >>> tuple(x.shape), x.dtype.name, y.dtype.name
        ((4, 64, 64, 3), 'float32', 'int32')
    """
    import tensorflow as tf

    cfg = cfg or current()
    items = prepared.split(split)
    if not items:
        raise DataError(f"the {split!r} split is empty")
    training = (split == "train") if training is None else training
    paths = [str(prepared.readable.get(Path(p), p)) for p, _ in items]
    size, policy = int(cfg.image_size), check_policy(resize_policy)
    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(paths, tf.string), tf.constant([int(y) for _, y in items], tf.int32))
    )
    par = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True} if parallel else {}
    ds = ds.map(lambda p, y: (decode_and_resize(p, size, policy), y), **par)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(len(items), seed=int(cfg.seed), reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size or cfg.batch_size))
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), **par)
    augmenting = augment is not False and training
    if augmenting:
        layer = augmentation(cfg) if augment is True else augment
        # Sequential on purpose: the layers' seeded random state then advances
        # in the same order every run, so a seed gives the same augmentations.
        ds = ds.map(lambda x, y: (layer(x, training=True), y))
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    # Fresh augmentation: no two epochs hold the same images, so nothing to key a cache on.
    ds.split_identity = None if augmenting else _identity(prepared, split, items, paths, cfg, policy)
    return ds


def _identity(prepared: Prepared, split: str, items: list[Item], paths: list[str],
              cfg: Config, policy: str = DEFAULT_RESIZE) -> SplitIdentity:
    """The :class:`SplitIdentity` of ``items``, the list ``prepared.<split>`` holds now."""
    # The fingerprint is of the files whatever their order, the features are not: the order's hash.
    order = hashlib.sha1("\n".join(paths).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    frozen = dataclasses.replace(prepared, **{split_field(split): list(items)})
    made = "" if policy == DEFAULT_RESIZE else f"-{policy}"  # the default's keys as before
    return SplitIdentity(f"{fingerprint(prepared, split)}{int(cfg.image_size)}o{order}{made}",
                         frozen, split, cfg, policy)


def make_datasets(
    prepared: Prepared,
    cfg: Config | None = None,
    augment: bool = False,
    **kwargs: Any,
) -> tuple[tf.data.Dataset, tf.data.Dataset, tf.data.Dataset]:
    """``train_ds, val_ds, test_ds`` for :class:`~nbhelpers.data.Prepared` lists (see :func:`dataset`).

    Images are float32 RGB in ``[0, 255]`` of shape ``(B, S, S, 3)`` with
    ``S = cfg.image_size``; labels int32 ``(B,)``.  ``train_ds`` is shuffled
    (seeded by ``cfg.seed``, a new order each epoch) and, with ``augment=True``,
    randomly augmented; ``val_ds`` and ``test_ds`` keep the order of
    ``prepared.val`` / ``prepared.test`` and are never augmented.  Other keyword
    arguments go to :func:`dataset` (``resize_policy="crop"``, ...).  No backbone
    preprocessing happens here: the model does it (its ``"preprocess"`` layer).

    Taught in ``03_preparing_the_data``.

    Example:
        >>> from nbhelpers.data import prepare
        >>> p = prepare(source="faces", verbose=False)
        >>> train_ds, val_ds, test_ds = make_datasets(p)
        >>> [tuple(t.shape) for t in train_ds.element_spec]
        [(None, 64, 64, 3), (None,)]
    """
    cfg = cfg or current()
    return (
        dataset(prepared, "train", cfg, augment=augment, **kwargs),
        dataset(prepared, "val", cfg, **kwargs),
        dataset(prepared, "test", cfg, **kwargs),
    )


def load_split(
    prepared: Prepared, split: str, cfg: Config | None = None, *, resize_policy: str = DEFAULT_RESIZE
) -> tuple[np.ndarray, np.ndarray]:
    """One split in memory: ``x`` float32 ``(N, S, S, 3)`` in ``[0, 255]``, ``y`` int ``(N,)``.

    In the order of ``prepared.<split>``, never shuffled or augmented: what
    evaluation and the explanation notebooks index into.  ``resize_policy`` as in :func:`dataset`.

    Taught in notebooks 07, 08, 09, 10, 11 and 12.

    Example:
        >>> from nbhelpers.data import prepare
        >>> x, y = load_split(prepare(source="faces", verbose=False), "test")
        >>> x.shape, x.dtype.name, y.shape, float(x.max()) <= 255.0
        ((30, 64, 64, 3), 'float32', (30,), True)
    """
    cfg = cfg or current()
    ds = dataset(prepared, split, cfg, training=False, cache=False, batch_size=64,
                 resize_policy=resize_policy)
    n = len(prepared.split(split))
    # Filled in place: gathering the batches and joining them held every image twice.
    x_all = np.empty((n, cfg.image_size, cfg.image_size, 3), dtype=np.float32)
    y_all = np.empty(n, dtype=np.int64)
    filled = 0
    for x, y in ds:
        k = len(y)
        x_all[filled:filled + k], y_all[filled:filled + k] = x.numpy(), y.numpy()
        filled += k
    return x_all[:filled], y_all[:filled]


def throughput(ds: tf.data.Dataset, epochs: int = 2) -> list[float]:
    """Images per second for each of ``epochs`` full passes over ``ds``.

    The first pass of a cached pipeline decodes and fills the cache; later
    passes read from it, which is what the difference shows.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> from nbhelpers.data import prepare
        >>> rates = throughput(dataset(prepare(source="faces", verbose=False), "val"), epochs=1)
        >>> len(rates), rates[0] > 0
        (1, True)
    """
    rates = []
    for _ in range(epochs):
        n = 0
        t0 = time.perf_counter()
        for x, _y in ds:
            n += int(x.shape[0])
        rates.append(n / max(time.perf_counter() - t0, 1e-9))
    return rates
