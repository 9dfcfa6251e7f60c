"""The shared kit of ``nbhelpers.linear``: array types and the small checks every part uses.

* ``Params`` -- the model's weights, ``{"W": (features, outputs), "b": (outputs,)}``;
* ``History`` -- per-epoch lists, as Keras' ``History.history``;
* ``as_float`` -- an array in its own floating dtype (else float64);
* ``is_binary`` -- one logit per example (a sigmoid), or one per class (a softmax).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__: list[str] = []

Params = dict[str, NDArray[np.floating]]
History = dict[str, list[float]]


def as_float(a: ArrayLike) -> NDArray[np.floating]:
    """``a`` as a floating array: its own float dtype, else float64.

    Example:
        >>> as_float([1, 2]).dtype.name, as_float(np.ones(2, "float32")).dtype.name
        ('float64', 'float32')
    """
    arr = np.asarray(a)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def is_binary(z: NDArray) -> bool:
    """True for one logit per example (shape ``(n,)`` or ``(n, 1)``): two classes, a sigmoid.

    Example:
        >>> is_binary(np.zeros(4)), is_binary(np.zeros((4, 1))), is_binary(np.zeros((4, 3)))
        (True, True, False)
    """
    return z.ndim == 1 or z.shape[-1] == 1
