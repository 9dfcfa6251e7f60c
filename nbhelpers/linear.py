"""Training a linear classifier by hand, in NumPy: what ``compile`` and ``fit`` do.

Taught in ``04_training_by_hand``.  The model is one dense layer on top of
features: ``logits = x @ W + b``.  With two classes it has **one** output
(logistic regression: ``sigmoid(logit)`` is P(class 1)); with ``k > 2``
classes it has ``k`` outputs (softmax regression).  That is the convention of
``nbh.training.compile_model`` and of the heads in ``nbh.models``.

Everything here is the same maths as Keras 3, so a Keras model with the same
initial weights, batches and optimizer reproduces these numbers (the notebook
checks it to 1e-5):

* losses from logits, written the numerically stable way
  (``max(z, 0) - z*y + log(1 + exp(-|z|))`` as in
  ``tf.nn.sigmoid_cross_entropy_with_logits``; ``log_softmax`` with the
  maximum subtracted), averaged over the batch (Keras' ``"sum_over_batch_size"``);
* :class:`SGD` is ``keras.optimizers.SGD``: with ``momentum`` it keeps
  ``v <- momentum * v - learning_rate * g`` and adds ``v`` to the weights;
* :class:`Adam` is ``keras.optimizers.Adam``: the bias corrections are folded
  into the step size, ``alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``,
  and ``epsilon`` (default ``1e-7``) is added to ``sqrt(v)`` *before* the
  correction ("epsilon hat" in Kingma and Ba, not the epsilon of their
  Algorithm 1);
* :func:`train`'s per-epoch training loss is what ``fit`` reports: the mean
  of the per-example losses of each batch, computed *before* that batch's
  update (and with dropout on), weighted by batch size.  The validation loss
  is computed after the epoch, on the whole validation set.

Arrays keep their floating dtype: float64 arrays give float64 maths.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
    "numerical_gradient",
    "gradient_check",
    "n_outputs",
    "init_params",
    "logits",
    "loss_and_grads",
    "predict_proba",
    "predict",
    "evaluate",
    "standardize",
    "minibatches",
    "dropout",
    "SGD",
    "Adam",
    "train",
    "keras_precision",
]

Params = dict[str, NDArray[np.floating]]
History = dict[str, list[float]]


def _float(a: ArrayLike) -> NDArray[np.floating]:
    """``a`` as a floating array: its own float dtype, else float64."""
    arr = np.asarray(a)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


# --------------------------------------------------------------------------- activations


def sigmoid(z: ArrayLike) -> NDArray[np.floating]:
    """The logistic function ``1 / (1 + exp(-z))``, without overflow for any ``z``.

    Turns a score (logit) into a probability.  ``exp`` is only ever taken of
    ``-|z|``, so ``z = -1000`` gives 0 instead of an overflow warning.

    Example:
        >>> sigmoid([-1000.0, 0.0, 1000.0]).tolist()
        [0.0, 0.5, 1.0]
    """
    z = _float(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def log_softmax(z: ArrayLike, axis: int = -1) -> NDArray[np.floating]:
    """``log(softmax(z))`` computed as ``z - max - log(sum(exp(z - max)))``: stable.

    Example:
        >>> np.exp(log_softmax([[1000.0, 1000.0]])).tolist()
        [[0.5, 0.5]]
    """
    z = _float(z)
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
    z = _float(z)
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
    if reduction == "mean":
        return float(np.mean(per_example)) if per_example.size else 0.0
    if reduction == "none":
        return per_example
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _binary_inputs(y: ArrayLike, z: ArrayLike) -> tuple[NDArray, NDArray]:
    z = _float(z)
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
    z = _float(z)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (n, k), got {z.shape}")
    labels = _labels(y, z.shape[1])
    if labels.size != z.shape[0]:
        raise ValueError(f"{labels.size} labels for {z.shape[0]} rows of logits")
    per = -log_softmax(z)[np.arange(labels.size), labels]
    return _reduce(per, reduction)


def _is_binary(z: NDArray) -> bool:
    return z.ndim == 1 or z.shape[-1] == 1


def cross_entropy(y: ArrayLike, z: ArrayLike, reduction: str = "mean") -> Any:
    """Binary cross-entropy for one logit per example, categorical for ``k >= 2``.

    Example:
        >>> cross_entropy([1, 0], [[0.0], [0.0]]) == binary_cross_entropy([1, 0], [0.0, 0.0])
        True
    """
    z = _float(z)
    if _is_binary(z):
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
    z = _float(z)
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
    z = _float(z)
    if _is_binary(z):
        return binary_cross_entropy_grad(y, z)
    return categorical_cross_entropy_grad(y, z)


# --------------------------------------------------------------------------- gradient check


def numerical_gradient(f: Callable[[NDArray[np.floating]], float], x: NDArray[np.floating],
                       eps: float = 1e-6) -> NDArray[np.float64]:
    """The gradient of ``f`` at ``x`` by central differences: ``(f(x + eps) - f(x - eps)) / 2 eps``.

    One entry at a time, so it costs ``2 * x.size`` calls of ``f``: a check,
    not a way to train.  ``x`` is changed in place during the call and
    restored afterwards; it must be a floating array (float64 for a precise
    check: in float32, ``eps`` is drowned by rounding).

    Example:
        >>> x = np.array([1.0, 2.0])
        >>> numerical_gradient(lambda v: float(np.sum(v ** 2)), x).round(6).tolist()
        [2.0, 4.0]
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError("numerical_gradient needs a floating NumPy array to perturb in place, "
                        f"got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    if not x.flags.c_contiguous:
        raise ValueError("x must be a contiguous array (np.ascontiguousarray(x)) so it can be "
                         "perturbed in place")
    grad = np.zeros(x.shape, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: changing flat changes x
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def gradient_check(analytic: ArrayLike, numerical: ArrayLike) -> float:
    """Relative error ``|a - n| / (|a| + |n|)`` (Euclidean norms) of two gradients.

    About 1e-7 or less in float64 means the analytic gradient is right; 1e-2
    or more means it is wrong.  Two zero gradients agree exactly (0.0).

    Example:
        >>> gradient_check([1.0, 2.0], [1.0, 2.0])
        0.0
        >>> round(gradient_check([1.0, 0.0], [-1.0, 0.0]), 3)  # the sign is wrong
        1.0
    """
    a, n = _float(analytic), _float(numerical)
    if a.shape != n.shape:
        raise ValueError(f"gradients of different shapes: {a.shape} and {n.shape}")
    denom = float(np.linalg.norm(a) + np.linalg.norm(n))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - n) / denom)


# --------------------------------------------------------------------------- the model


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


def _check_features(params: Params, x: ArrayLike) -> NDArray[np.floating]:
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
    arr = _check_features(params, x)
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
    arr = _check_features(params, x)
    z = arr @ params["W"] + params["b"]
    g = cross_entropy_grad(y, z)
    return cross_entropy(y, z), {"W": arr.T @ g, "b": g.sum(axis=0)}


def _proba(z: NDArray[np.floating]) -> NDArray[np.floating]:
    if _is_binary(z):
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
    return _predict_from_logits(logits(params, x))


def _predict_from_logits(z: NDArray[np.floating]) -> NDArray[np.int64]:
    if _is_binary(z):
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
    return cross_entropy(labels, z), float(np.mean(_predict_from_logits(z) == labels))


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
    t = _float(train)
    if t.ndim != 2 or t.shape[0] < 1:
        raise ValueError(f"train must be (examples, features) with at least one row, got {t.shape}")
    mean = t.mean(axis=0)
    std = t.std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(t.dtype)
    out = [(t - mean) / std]
    for o in others:
        a = _float(o)
        if a.ndim != 2 or a.shape[1] != t.shape[1]:
            raise ValueError(f"every array needs {t.shape[1]} features like train, got {a.shape}")
        out.append((a - mean) / std)
    return tuple(out)


# --------------------------------------------------------------------------- batches, dropout


def minibatches(x: ArrayLike, y: ArrayLike, batch_size: int, *,
                rng: np.random.Generator | None = None) -> Iterator[tuple[NDArray, NDArray]]:
    """Yield ``(x_batch, y_batch)`` of ``batch_size`` examples; the last batch may be smaller.

    In order when ``rng`` is None (Keras' ``fit(..., shuffle=False)``), else in
    an order drawn from ``rng`` (a fresh one each call: each epoch).  One
    pass over all batches is one *epoch*.

    Example:
        >>> [yb.tolist() for _, yb in minibatches(np.zeros((5, 1)), np.arange(5), 2)]
        [[0, 1], [2, 3], [4]]
    """
    xa, ya = np.asarray(x), np.asarray(y)
    if len(xa) != len(ya):
        raise ValueError(f"{len(xa)} examples but {len(ya)} labels")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive whole number, got {batch_size}")
    order = np.arange(len(xa)) if rng is None else rng.permutation(len(xa))
    for start in range(0, len(xa), int(batch_size)):
        idx = order[start:start + int(batch_size)]
        yield xa[idx], ya[idx]


def dropout(x: ArrayLike, rate: float, rng: np.random.Generator) -> NDArray[np.floating]:
    """Inverted dropout: zero each entry with probability ``rate``, scale the rest by ``1/(1-rate)``.

    Applied during training only.  The scaling keeps every entry's expected
    value unchanged, so at prediction time nothing is dropped or rescaled
    (what ``keras.layers.Dropout`` does).

    Example:
        >>> out = dropout(np.ones((1, 8)), 0.5, np.random.default_rng(0))
        >>> sorted(set(out.ravel().tolist()))
        [0.0, 2.0]
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    arr = _float(x)
    if rate == 0.0:
        return arr
    keep = rng.random(arr.shape) >= rate
    return np.where(keep, arr / (1.0 - rate), 0.0).astype(arr.dtype, copy=False)


# --------------------------------------------------------------------------- update rules


class SGD:
    """Stochastic gradient descent, with optional momentum: ``keras.optimizers.SGD``'s maths.

    Without momentum: ``w <- w - learning_rate * g``.  With momentum each
    weight keeps a velocity ``v <- momentum * v - learning_rate * g`` and moves
    by it, ``w <- w + v``: steps that keep pointing the same way add up.

    Example:
        >>> p = {"w": np.array([1.0])}
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> opt.step(p, {"w": np.array([1.0])}); p["w"].round(2).tolist()
        [0.9]
        >>> opt.step(p, {"w": np.array([1.0])}); p["w"].round(2).tolist()  # v = -0.19
        [0.71]
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.velocity: dict[str, NDArray] = {}

    def step(self, params: Params, grads: Params) -> None:
        """Move every array of ``params`` (in place) against its gradient in ``grads``."""
        for name, g in grads.items():
            w = params[name]
            if self.momentum:
                v = self.velocity.setdefault(name, np.zeros_like(w))
                v *= self.momentum
                v -= self.learning_rate * g
                w += v
            else:
                w -= self.learning_rate * g

    def to_keras(self) -> Any:
        """The Keras optimizer with the same maths (``keras.optimizers.SGD``)."""
        import keras

        return keras.optimizers.SGD(learning_rate=np.float64(self.learning_rate),
                                    momentum=np.float64(self.momentum))

    def __repr__(self) -> str:
        return f"SGD(learning_rate={self.learning_rate:g}, momentum={self.momentum:g})"


class Adam:
    """Adam with ``keras.optimizers.Adam``'s maths (Keras 3), bias corrections included.

    For each weight: ``m <- m + (g - m)(1 - beta_1)`` (running mean of
    gradients), ``v <- v + (g**2 - v)(1 - beta_2)`` (of squared gradients),
    then with ``t`` the step number (from 1)
    ``w <- w - alpha_t * m / (sqrt(v) + epsilon)`` where
    ``alpha_t = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.
    Each weight gets its own step size; the first step is about
    ``learning_rate`` in size whatever the gradient's scale.

    Example:
        >>> p = {"w": np.array([1.0, 1.0])}
        >>> opt = Adam(learning_rate=0.1)
        >>> opt.step(p, {"w": np.array([100.0, 0.001])}); p["w"].round(3).tolist()
        [0.9, 0.9]
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        if not (0.0 <= beta_1 < 1.0 and 0.0 <= beta_2 < 1.0):
            raise ValueError(f"beta_1 and beta_2 must be in [0, 1), got {beta_1}, {beta_2}")
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.learning_rate = float(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.iterations = 0
        self.m: dict[str, NDArray] = {}
        self.v: dict[str, NDArray] = {}

    def step(self, params: Params, grads: Params) -> None:
        """One Adam step for every array of ``params`` (in place)."""
        self.iterations += 1
        t = self.iterations
        alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for name, g in grads.items():
            w = params[name]
            m = self.m.setdefault(name, np.zeros_like(w))
            v = self.v.setdefault(name, np.zeros_like(w))
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            w -= alpha * m / (np.sqrt(v) + self.epsilon)

    def to_keras(self) -> Any:
        """The Keras optimizer with the same maths (``keras.optimizers.Adam``)."""
        import keras

        return keras.optimizers.Adam(learning_rate=np.float64(self.learning_rate),
                                     beta_1=np.float64(self.beta_1),
                                     beta_2=np.float64(self.beta_2),
                                     epsilon=np.float64(self.epsilon))

    def __repr__(self) -> str:
        return f"Adam(learning_rate={self.learning_rate:g})"


# --------------------------------------------------------------------------- the train loop


def train(
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    *,
    optimizer: SGD | Adam,
    epochs: int,
    batch_size: int = 32,
    validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    dropout_rate: float = 0.0,
    shuffle: bool = False,
    seed: int = 0,
) -> tuple[Params, History]:
    """Mini-batch training of the linear classifier: what ``model.fit`` does.

    Starts from a **copy** of ``params`` (so several runs can start from the
    same weights) and returns ``(trained params, history)``; ``history`` is a
    Keras-style dict of per-epoch lists ``loss``, ``accuracy`` and, with
    ``validation_data``, ``val_loss``, ``val_accuracy`` (what
    ``nbh.plots.training_curves`` draws).  The training numbers are those
    ``fit`` reports: averaged over the epoch's batches, each computed before
    its update, with dropout on.  ``shuffle=False`` keeps the batches in order
    (Keras' ``fit(..., shuffle=False)``); ``dropout_rate`` drops input features
    (:func:`dropout`) during training.  ``seed`` seeds shuffling and dropout.

    Example:
        >>> x = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
        >>> p, h = train(init_params(1, 1), x, y, optimizer=SGD(0.5), epochs=20, batch_size=2)
        >>> h["loss"][-1] < h["loss"][0], h["accuracy"][-1]
        (True, 1.0)
    """
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a whole number >= 0, got {epochs}")
    p = {k: np.array(v, copy=True) for k, v in params.items()}
    xa, ya = _check_features(p, x), np.asarray(y)
    if len(xa) != len(ya):
        raise ValueError(f"{len(xa)} examples but {len(ya)} labels")
    if len(xa) == 0:
        raise ValueError("no training examples")
    rng = np.random.default_rng(seed)
    history: History = {"loss": [], "accuracy": []}
    if validation_data is not None:
        history.update(val_loss=[], val_accuracy=[])
    for _ in range(int(epochs)):
        total, correct, seen = 0.0, 0.0, 0
        for xb, yb in minibatches(xa, ya, batch_size, rng=rng if shuffle else None):
            inp = dropout(xb, dropout_rate, rng) if dropout_rate else xb
            z = inp @ p["W"] + p["b"]
            g = cross_entropy_grad(yb, z)
            total += cross_entropy(yb, z) * len(yb)
            correct += float(np.sum(_predict_from_logits(z) == yb))
            seen += len(yb)
            optimizer.step(p, {"W": inp.T @ g, "b": g.sum(axis=0)})
        history["loss"].append(total / seen)
        history["accuracy"].append(correct / seen)
        if validation_data is not None:
            vl, va = evaluate(p, *validation_data)
            history["val_loss"].append(vl)
            history["val_accuracy"].append(va)
    return p, history


# --------------------------------------------------------------------------- Keras, same maths


@contextlib.contextmanager
def keras_precision(dtype: str = "float64") -> Iterator[None]:
    """Build and train Keras models in ``dtype`` inside a ``with`` block; restore afterwards.

    Keras computes in float32 by default.  To compare its numbers with
    float64 NumPy to 1e-5 and better, both Keras settings must change:
    ``keras.config.set_floatx`` (losses, metrics, new variables) **and** the
    global dtype policy (which layers use; once read, it no longer follows
    ``floatx``).  Both are put back when the block ends, even after an error.
    Models built inside keep their dtype after the block.

    Example:
        >>> import keras
        >>> with keras_precision("float64"):
        ...     layer = keras.layers.Dense(1); layer.build((None, 3))
        >>> layer.kernel.dtype, keras.config.floatx()
        ('float64', 'float32')
    """
    import keras

    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"dtype must be one of float16, bfloat16, float32, float64; got {dtype!r}")
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)
