"""The training loop: mini-batches, dropout and :func:`train`, what ``model.fit`` does.

Taught in ``04_training_by_hand``.  :func:`train`'s per-epoch training loss is
what ``fit`` reports: the mean of the per-example losses of each batch,
computed *before* that batch's update (and with dropout on), weighted by batch
size.  The validation loss is computed after the epoch, on the whole
validation set.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._kit import History, Params, as_float
from .losses import cross_entropy, cross_entropy_grad
from .model import check_features, evaluate, predict_from_logits
from .optimizers import SGD, Adam

__all__ = ["minibatches", "dropout", "train"]


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
    arr = as_float(x)
    if rate == 0.0:
        return arr
    keep = rng.random(arr.shape) >= rate
    return np.where(keep, arr / (1.0 - rate), 0.0).astype(arr.dtype, copy=False)



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
        >>> from nbhelpers.linear import init_params
        >>> x = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
        >>> p, h = train(init_params(1, 1), x, y, optimizer=SGD(0.5), epochs=20, batch_size=2)
        >>> h["loss"][-1] < h["loss"][0], h["accuracy"][-1]
        (True, 1.0)
    """
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a whole number >= 0, got {epochs}")
    p = {k: np.array(v, copy=True) for k, v in params.items()}
    xa, ya = check_features(p, x), np.asarray(y)
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
            correct += float(np.sum(predict_from_logits(z) == yb))
            seen += len(yb)
            optimizer.step(p, {"W": inp.T @ g, "b": g.sum(axis=0)})
        history["loss"].append(total / seen)
        history["accuracy"].append(correct / seen)
        if validation_data is not None:
            vl, va = evaluate(p, *validation_data)
            history["val_loss"].append(vl)
            history["val_accuracy"].append(va)
    return p, history
