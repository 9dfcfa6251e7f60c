"""Checking the maths: gradients by central differences, and Keras computing in float64.

Taught in ``04_training_by_hand``.  :func:`numerical_gradient` and
:func:`gradient_check` test an analytic gradient against finite differences;
:func:`keras_precision` lets a Keras model compute in float64, so that its
numbers can be compared with the NumPy ones to 1e-5 and better.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._kit import as_float

__all__ = ["numerical_gradient", "gradient_check", "keras_precision"]


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
    a, n = as_float(analytic), as_float(numerical)
    if a.shape != n.shape:
        raise ValueError(f"gradients of different shapes: {a.shape} and {n.shape}")
    denom = float(np.linalg.norm(a) + np.linalg.norm(n))
    return 0.0 if denom == 0 else float(np.linalg.norm(a - n) / denom)



@contextlib.contextmanager
def keras_precision(dtype: str = "float64") -> Iterator[None]:
    """Build and train Keras models in ``dtype`` inside a ``with`` block; restore afterwards.

    Keras computes in float32 by default.  To compare its numbers with
    float64 NumPy to 1e-5 and better, both Keras settings must change:
    ``keras.config.set_floatx`` (losses, metrics, new variables) **and** the
    global dtype policy (which layers use; once read, it stays as it is whatever
    ``floatx`` becomes).  Both are put back when the block ends, even after an error.
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
