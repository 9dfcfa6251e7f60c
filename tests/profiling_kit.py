"""What only the tests of ``nbhelpers.profiling`` use: floating-point operations per image."""

from __future__ import annotations

import keras

from nbhelpers import profiling


def flops(model: keras.Model, input_shape: tuple[int, ...] | None = None) -> int:
    """Floating-point operations per image, counting a multiply-add as two.

    Example:
        >>> m = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
        >>> flops(m)
        60
    """
    return 2 * profiling.multiply_adds(model, input_shape)
