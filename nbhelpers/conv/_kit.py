"""The argument checks every function of :mod:`nbhelpers.conv` shares (private toolkit).

:func:`pair` reads a size, stride or dilation given as one int or ``(rows, cols)``;
:func:`check_padding` reads a padding (``"valid"``, ``"same"`` or pixels per side).
Both raise a ``ValueError`` that names the argument and a value that works.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Pair = tuple[int, int]
Padding = str | int


def pair(value: int | Sequence[int], name: str) -> Pair:
    """An int or a pair of ints, checked to be positive, as ``(rows, cols)``.

    Example:
        >>> pair(3, "stride"), pair((1, 2), "dilation")
        ((3, 3), (1, 2))
    """
    if isinstance(value, (int, np.integer)):
        result = (int(value), int(value))
    else:
        try:
            result = tuple(int(v) for v in value)
        except TypeError:
            raise ValueError(
                f"{name} must be a positive integer or a pair of them, got {value!r}"
            ) from None
        if len(result) != 2:
            raise ValueError(
                f"{name} must be a positive integer or a pair (rows, cols), got {value!r}"
            )
    if min(result) < 1:
        fix = "1 (no subsampling)" if name == "stride" else "1 (adjacent taps)"
        raise ValueError(
            f"{name} must be positive, got {value!r}: use {name}={fix} or a larger integer"
        )
    return result  # type: ignore[return-value]


def check_padding(padding: Padding) -> Padding:
    """``"valid"`` or ``"same"`` (any case, returned lower-case), or a non-negative int.

    Example:
        >>> check_padding("SAME"), check_padding(2)
        ('same', 2)
    """
    if isinstance(padding, str):
        p = padding.lower()
        if p in ("valid", "same"):
            return p
    elif isinstance(padding, (int, np.integer)) and padding >= 0:
        return int(padding)
    raise ValueError(
        f"padding must be 'valid', 'same' or a non-negative integer, got {padding!r}"
    )
