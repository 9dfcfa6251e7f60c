"""The linear classifier itself: ``logits = x @ W + b``, its predictions and its evaluation.

Taught in ``04_training_by_hand``.  With two classes the model has **one**
output (logistic regression: ``sigmoid(logit)`` is P(class 1)); with ``k > 2``
classes it has ``k`` outputs (softmax regression).  That is the convention of
``nbh.training.compile_model`` and of the heads in ``nbh.models``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._kit import Params, as_float, is_binary
from .losses import cross_entropy, cross_entropy_grad, sigmoid, softmax

__all__ = [
    "n_outputs",
    "init_params",
    "logits",
    "loss_and_grads",
    "predict_proba",
    "predict",
    "evaluate",
    "standardize",
]


def n_outputs(num_classes: int) -> int:
    """Outputs of the linear layer: 1 (a sigmoid) for two classes, else one per class (softmax).

    Example:
        >>> n_outputs(2), n_outputs(5)
        (1, 5)
    """
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    return 1 if num_classes == 2 else int(num_classes)


def init_params(n_features: int, num_outputs: int, seed: int = 0,
                dtype: Any = np.float64) -> Params:
    """Initial weights like a Keras ``Dense`` layer: Glorot-uniform ``W``, zero ``b``.

    ``W`` has shape ``(n_features, num_outputs)``, drawn uniformly from
    ``±sqrt(6 / (n_features + num_outputs))``; ``b`` has shape ``(num_outputs,)``.

    Example:
        >>> p = init_params(4, 1, seed=0)
        >>> p["W"].shape, p["b"].tolist(), bool(np.abs(p["W"]).max() <= (6 / 5) ** 0.5)
        ((4, 1), [0.0], True)
    """
    if n_features < 1 or num_outputs < 1:
        raise ValueError(f"need n_features >= 1 and num_outputs >= 1, got {n_features}, "
                         f"{num_outputs}")
    limit = math.sqrt(6.0 / (n_features + num_outputs))
    rng = np.random.default_rng(seed)
    return {"W": rng.uniform(-limit, limit, size=(n_features, num_outputs)).astype(dtype),
            "b": np.zeros(num_outputs, dtype=dtype)}


def check_features(params: Params, x: ArrayLike) -> NDArray[np.floating]:
    """``x`` as an array of examples by features, checked to fit ``W``.

    Returns ``x`` as a 2-D array ``(examples, features)``; a ``ValueError`` says
    what is wrong when it is not 2-D or its feature count is not ``W``'s rows.

    Example:
        >>> p = {"W": np.zeros((3, 1)), "b": np.zeros(1)}
        >>> check_features(p, [[1.0, 2.0, 3.0]]).shape
        (1, 3)
        >>> check_features(p, [[1.0, 2.0]])
        Traceback (most recent call last):
        ...
        ValueError: 2 features per example, but W expects 3
    """
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"features must be a 2-D array (examples, features), got shape "
                         f"{arr.shape}; pool or flatten feature maps first")
    if arr.shape[1] != params["W"].shape[0]:
        raise ValueError(f"{arr.shape[1]} features per example, but W expects "
                         f"{params['W'].shape[0]}")
    return arr


def logits(params: Params, x: ArrayLike) -> NDArray[np.floating]:
    """The scores ``x @ W + b``, one row per example, one column per output.

    Example:
        >>> logits({"W": np.array([[2.0]]), "b": np.array([-1.0])}, [[0.0], [1.0]]).tolist()
        [[-1.0], [1.0]]
    """
    arr = check_features(params, x)
    return arr @ params["W"] + params["b"]


def loss_and_grads(params: Params, x: ArrayLike, y: ArrayLike) -> tuple[float, Params]:
    """The mean cross-entropy on ``(x, y)`` and its gradient for ``W`` and ``b``.

    The chain rule through ``z = x @ W + b``: with ``g = dL/dz``
    (:func:`cross_entropy_grad`), ``dL/dW = x.T @ g`` and ``dL/db = sum of g``.

    Example:
        >>> p = {"W": np.zeros((2, 1)), "b": np.zeros(1)}
        >>> loss, g = loss_and_grads(p, [[1.0, 0.0], [0.0, 1.0]], [1, 0])
        >>> round(loss, 4), g["W"].ravel().tolist(), g["b"].tolist()
        (0.6931, [-0.25, 0.25], [0.0])
    """
    arr = check_features(params, x)
    z = arr @ params["W"] + params["b"]
    g = cross_entropy_grad(y, z)
    return cross_entropy(y, z), {"W": arr.T @ g, "b": g.sum(axis=0)}


def _proba(z: NDArray[np.floating]) -> NDArray[np.floating]:
    """Class probabilities from logits; two columns for one sigmoid."""
    if is_binary(z):
        p = sigmoid(z.reshape(-1))
        return np.stack([1.0 - p, p], axis=1)
    return softmax(z)


def predict_proba(params: Params, x: ArrayLike) -> NDArray[np.floating]:
    """Class probabilities ``(n, num_classes)``; rows sum to 1 (two columns for one sigmoid).

    Example:
        >>> predict_proba({"W": np.zeros((1, 1)), "b": np.zeros(1)}, [[3.0]]).tolist()
        [[0.5, 0.5]]
    """
    return _proba(logits(params, x))


def predict(params: Params, x: ArrayLike) -> NDArray[np.int64]:
    """The most probable class of each example (for one sigmoid: logit > 0 means class 1).

    Example:
        >>> predict({"W": np.array([[1.0]]), "b": np.zeros(1)}, [[-2.0], [2.0]]).tolist()
        [0, 1]
    """
    return predict_from_logits(logits(params, x))


def predict_from_logits(z: NDArray[np.floating]) -> NDArray[np.int64]:
    """The class of each row of logits (for one sigmoid: logit > 0 means class 1).

    ``z`` is ``(n,)`` or ``(n, 1)`` for two classes, ``(n, k)`` for ``k``; returns
    ``(n,)`` int64 class indices.

    Example:
        >>> predict_from_logits(np.array([[-0.5], [2.0]])).tolist()
        [0, 1]
        >>> predict_from_logits(np.array([[1.0, 3.0, 2.0], [0.0, -1.0, -2.0]])).tolist()
        [1, 0]
    """
    if is_binary(z):
        return (z.reshape(-1) > 0).astype(np.int64)
    return np.argmax(z, axis=1).astype(np.int64)


def evaluate(params: Params, x: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy)`` on ``(x, y)``, like ``model.evaluate``.

    Example:
        >>> p = {"W": np.array([[1.0]]), "b": np.zeros(1)}
        >>> loss, acc = evaluate(p, [[-2.0], [2.0]], [0, 1])
        >>> round(loss, 4), acc
        (0.1269, 1.0)
    """
    z = logits(params, x)
    labels = np.asarray(y)
    return cross_entropy(labels, z), float(np.mean(predict_from_logits(z) == labels))


def standardize(train: ArrayLike, *others: ArrayLike) -> tuple[NDArray[np.floating], ...]:
    """Centre and scale every feature by the **training** set's mean and standard deviation.

    Returns the standardised ``train`` followed by each of ``others`` (the
    validation and test features), all scaled with the training statistics:
    computing them on validation data would leak it into training.  A
    feature that is constant in the training set is only centred.  Features
    of similar scale let one learning rate suit every weight.

    Example:
        >>> tr, va = standardize([[0.0, 5.0], [2.0, 5.0]], [[4.0, 6.0]])
        >>> tr.tolist(), va.tolist()
        ([[-1.0, 0.0], [1.0, 0.0]], [[3.0, 1.0]])
    """
    t = as_float(train)
    if t.ndim != 2 or t.shape[0] < 1:
        raise ValueError(f"train must be (examples, features) with at least one row, got {t.shape}")
    mean = t.mean(axis=0)
    std = t.std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(t.dtype)
    out = [(t - mean) / std]
    for o in others:
        a = as_float(o)
        if a.ndim != 2 or a.shape[1] != t.shape[1]:
            raise ValueError(f"every array needs {t.shape[1]} features like train, got {a.shape}")
        out.append((a - mean) / std)
    return tuple(out)
