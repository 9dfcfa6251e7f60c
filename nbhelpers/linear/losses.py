"""Activations and losses from logits, and the losses' gradients: the maths of ``compile``.

Taught in ``04_training_by_hand``.  Losses are written the numerically stable
way (``max(z, 0) - z*y + log(1 + exp(-|z|))`` as in
``tf.nn.sigmoid_cross_entropy_with_logits``; ``log_softmax`` with the maximum
subtracted) and averaged over the batch (Keras' ``"sum_over_batch_size"``).
One logit per example is binary (a sigmoid), ``k`` logits are ``k`` classes
(a softmax).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._kit import as_float, is_binary

__all__ = [
    "sigmoid",
    "softmax",
    "log_softmax",
    "one_hot",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "cross_entropy",
    "binary_cross_entropy_grad",
    "categorical_cross_entropy_grad",
    "cross_entropy_grad",
]


# --------------------------------------------------------------------------- activations


def sigmoid(z: ArrayLike) -> NDArray[np.floating]:
    """The logistic function ``1 / (1 + exp(-z))``, without overflow for any ``z``.

    Turns a score (logit) into a probability.  ``exp`` is only ever taken of
    ``-|z|``, so ``z = -1000`` gives 0 instead of an overflow warning.

    Example:
        >>> sigmoid([-1000.0, 0.0, 1000.0]).tolist()
        [0.0, 0.5, 1.0]
    """
    z = as_float(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def log_softmax(z: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    """``log(softmax(z))`` computed as ``z - max - log(sum(exp(z - max)))``: stable.

    Example:
        >>> np.exp(log_softmax([[1000.0, 1000.0]])).tolist()
        [[0.5, 0.5]]
    """
    z = as_float(z)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(z: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    """Scores to probabilities that sum to 1: ``exp(z_k) / sum_j exp(z_j)``.

    The maximum is subtracted first (which does not change the result), so
    large scores do not overflow.  With two classes, ``softmax([0, z])[1]`` is
    ``sigmoid(z)``.

    Example:
        >>> softmax([[1.0, 1.0, 1.0], [0.0, 1000.0, 0.0]]).round(3).tolist()
        [[0.333, 0.333, 0.333], [0.0, 1.0, 0.0]]
    """
    z = as_float(z)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def one_hot(y: ArrayLike, num_classes: int) -> NDArray[np.float64]:
    """Integer labels ``(n,)`` to rows of zeros with a one at the label ``(n, num_classes)``.

    Example:
        >>> one_hot([2, 0], 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    labels = _labels(y, num_classes)
    out = np.zeros((labels.size, num_classes))
    out[np.arange(labels.size), labels] = 1.0
    return out


def _labels(y: ArrayLike, num_classes: int) -> NDArray[np.int64]:
    """``y`` as integer class indices ``(n,)``, each checked to lie in ``0..num_classes - 1``."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices, got shape {arr.shape}")
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError("labels must be whole numbers (class indices 0, 1, ...), "
                         f"got e.g. {arr.ravel()[:3].tolist()}")
    labels = arr.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1} for {num_classes} classes, "
                         f"got {labels.min()}..{labels.max()}")
    return labels


# --------------------------------------------------------------------------- losses


def _reduce(per_example: NDArray[np.floating], reduction: str) -> Any:
    """The mean of per-example losses (a float), or the losses themselves (``"none"``)."""
    if reduction == "mean":
        return float(np.mean(per_example)) if per_example.size else 0.0
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _binary_inputs(y: ArrayLike, z: ArrayLike) -> tuple[NDArray, NDArray]:
    """Labels and logits of a binary loss as two matching ``(n,)`` arrays, checked."""
    z = as_float(z)
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if z.ndim != 1:
        raise ValueError(f"binary logits must have shape (n,) or (n, 1), got {z.shape}; "
                         "for k > 2 classes use categorical_cross_entropy")
    t = np.asarray(y, dtype=z.dtype)
    if t.shape != z.shape:
        raise ValueError(f"{t.size} labels for {z.size} logits: they must match one to one")
    if t.size and (t.min() < 0 or t.max() > 1):
        raise ValueError("binary labels must be 0 or 1 (or probabilities in [0, 1]), "
                         f"got values in {t.min()}..{t.max()}")
    return t, z


def binary_cross_entropy(y: ArrayLike, z: ArrayLike, reduction: str = "mean") -> Any:
    """``-[y log p + (1 - y) log(1 - p)]`` with ``p = sigmoid(z)``, from the logits ``z``.

    Written as ``max(z, 0) - z*y + log(1 + exp(-|z|))``, which never takes
    ``log(0)``: a confident wrong answer costs a large but finite loss.
    ``reduction="mean"`` (a float, as Keras averages over the batch) or
    ``"none"`` (one loss per example).

    Example:
        >>> round(binary_cross_entropy([1, 0], [0.0, 0.0]), 4)  # log 2: a coin toss
        0.6931
        >>> binary_cross_entropy([1], [-1000.0])  # finite, not inf
        1000.0
    """
    t, z = _binary_inputs(y, z)
    per = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return _reduce(per, reduction)


def categorical_cross_entropy(y: ArrayLike, z: ArrayLike, reduction: str = "mean") -> Any:
    """``-log softmax(z)[y]``: minus the log of the probability given to the true class.

    ``y``: integer labels ``(n,)`` (Keras' *sparse* categorical cross-entropy);
    ``z``: logits ``(n, k)``.  Uses :func:`log_softmax`, so it is stable.

    Example:
        >>> round(categorical_cross_entropy([0, 2], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), 4)
        1.0986
    """
    z = as_float(z)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n, k), got {z.shape}")
    labels = _labels(y, z.shape[1])
    if labels.size != z.shape[0]:
        raise ValueError(f"{labels.size} labels for {z.shape[0]} rows of logits")
    per = -log_softmax(z)[np.arange(labels.size), labels]
    return _reduce(per, reduction)


def cross_entropy(y: ArrayLike, z: ArrayLike, reduction: str = "mean") -> Any:
    """Binary cross-entropy for one logit per example, categorical for ``k >= 2``.

    Example:
        >>> cross_entropy([1, 0], [[0.0], [0.0]]) == binary_cross_entropy([1, 0], [0.0, 0.0])
        True
    """
    z = as_float(z)
    if is_binary(z):
        return binary_cross_entropy(y, z, reduction)
    return categorical_cross_entropy(y, z, reduction)


def binary_cross_entropy_grad(y: ArrayLike, z: ArrayLike) -> NDArray[np.floating]:
    """Gradient of the *mean* binary cross-entropy with respect to the logits: ``(p - y) / n``.

    Same shape as ``z``.  Derived in notebook 05: the sigmoid's derivative
    ``p (1 - p)`` cancels against the log's ``1 / p``.

    Example:
        >>> binary_cross_entropy_grad([1, 0], [0.0, 0.0]).tolist()
        [-0.25, 0.25]
    """
    shape = np.shape(z)
    t, zz = _binary_inputs(y, z)
    return ((sigmoid(zz) - t) / max(zz.size, 1)).reshape(shape)


def categorical_cross_entropy_grad(y: ArrayLike, z: ArrayLike) -> NDArray[np.floating]:
    """Gradient of the mean categorical cross-entropy w.r.t. the logits: ``(softmax(z) - onehot(y)) / n``.

    Example:
        >>> categorical_cross_entropy_grad([1], [[0.0, 0.0]]).tolist()
        [[0.5, -0.5]]
    """
    z = as_float(z)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n, k), got {z.shape}")
    labels = _labels(y, z.shape[1])
    if labels.size != z.shape[0]:
        raise ValueError(f"{labels.size} labels for {z.shape[0]} rows of logits")
    g = softmax(z)
    g[np.arange(labels.size), labels] -= 1.0
    return g / max(labels.size, 1)


def cross_entropy_grad(y: ArrayLike, z: ArrayLike) -> NDArray[np.floating]:
    """The gradient of :func:`cross_entropy` (mean) with respect to the logits.

    Example:
        >>> cross_entropy_grad([0], [[0.0]]).tolist()
        [[0.5]]
    """
    z = as_float(z)
    if is_binary(z):
        return binary_cross_entropy_grad(y, z)
    return categorical_cross_entropy_grad(y, z)
