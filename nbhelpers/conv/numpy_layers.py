"""What a Conv2D and the pooling layers compute, written in NumPy.

``conv2d_loop`` writes cross-correlation out with one loop per index, for reading;
``conv2d`` computes the same numbers with sliding windows and one tensor
contraction, for use; ``convolve2d_true`` flips the kernel (the mathematicians'
convolution); ``max_pool2d`` and ``avg_pool2d`` pool each channel.  Arrays are NHWC,
as in TensorFlow (see :mod:`nbhelpers.conv`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._kit import Padding, Pair, check_padding, pair
from .sizes import padding_amounts

# --------------------------------------------------------------------------- checks


def _as_nhwc(x: Any, kernel: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Both arrays in TF layout; the flag says the caller passed 2-D ones."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    if x.ndim == 2 and kernel.ndim == 2:
        return x[None, :, :, None], kernel[:, :, None, None], True
    if x.ndim != 4:
        hint = " For one image add a batch axis: x[None]." if x.ndim == 3 else ""
        raise ValueError(
            f"x must be 4-D (batch, height, width, channels), got shape {x.shape}.{hint} "
            "(Or pass a 2-D image together with a 2-D kernel.)"
        )
    if kernel.ndim != 4:
        hint = (" For one filter on one channel use k[:, :, None, None]."
                if kernel.ndim == 2 else "")
        raise ValueError(
            "kernel must be 4-D (kernel_h, kernel_w, in_channels, filters) like "
            f"tf.nn.conv2d's, got shape {kernel.shape}.{hint}"
        )
    if x.shape[-1] != kernel.shape[2]:
        raise ValueError(
            f"channel mismatch: x has {x.shape[-1]} channels (last axis of {x.shape}) but the "
            f"kernel expects {kernel.shape[2]} (third axis of {kernel.shape}). Arrays are NHWC: "
            "channels go last (for channels-first data use x.transpose(0, 2, 3, 1)), and the "
            "kernel's third axis must equal the input's channel count."
        )
    return x, kernel, False


def _geometry(
    hw: Pair, k: Pair, stride: Any, padding: Padding, dilation: Any, what: str = "kernel"
) -> tuple[Pair, Pair, tuple[Pair, Pair], Pair]:
    """Strides, dilations, paddings ((top, bottom), (left, right)) and output size."""
    s = pair(stride, "stride")
    d = pair(dilation, "dilation")
    padding = check_padding(padding)
    pads = tuple(padding_amounts(hw[a], k[a], s[a], d[a], padding) for a in (0, 1))
    out = []
    for a, axis in enumerate(("height", "width")):
        k_eff = (k[a] - 1) * d[a] + 1
        padded = hw[a] + sum(pads[a])
        if k_eff > padded:
            dil = f", dilation {d[a]}" if d[a] > 1 else ""
            raise ValueError(
                f"the {what} is larger than the padded input along the {axis}: {what} "
                f"{k[a]}{dil} covers {k_eff} px, the input has {hw[a]} px + padding "
                f"{pads[a][0]}+{pads[a][1]} = {padded} px. Use padding='same', a smaller "
                f"{what}{' or dilation' if d[a] > 1 else ''}, or a larger input."
            )
        out.append((padded - k_eff) // s[a] + 1)
    return s, d, pads, (out[0], out[1])  # type: ignore[return-value]


def _check_bias(bias: Any, filters: int) -> np.ndarray | None:
    if bias is None:
        return None
    b = np.asarray(bias)
    if b.shape not in ((filters,), ()):
        raise ValueError(
            f"bias must have one value per filter, shape ({filters},), got shape {b.shape}"
        )
    return b


# --------------------------------------------------------------------------- convolution


def conv2d_loop(
    x: Any,
    kernel: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = "valid",
    dilation: int | Sequence[int] = 1,
) -> np.ndarray:
    """Cross-correlation written as the formula, one loop per index (slow; for reading).

    ``y[b, i, j, f] = bias[f] + sum over m, n, c of
    xp[b, i*s + m*d, j*s + n*d, c] * kernel[m, n, c, f]``, where ``xp`` is the
    zero-padded input, ``s`` the stride and ``d`` the dilation.  Same arguments
    and result as ``conv2d``.

    Example:
        >>> x = np.arange(16.0).reshape(4, 4)
        >>> conv2d_loop(x, np.ones((3, 3)))
        array([[45., 54.],
               [81., 90.]])
    """
    x4, k4, flat = _as_nhwc(x, kernel)
    kh, kw, channels, filters = k4.shape
    batch, h, w, _ = x4.shape
    (sh, sw), (dh, dw), pads, (oh, ow) = _geometry((h, w), (kh, kw), stride, padding, dilation)
    b = _check_bias(bias, filters)
    xp = np.pad(x4, ((0, 0), pads[0], pads[1], (0, 0)))
    dtype = np.result_type(x4.dtype, k4.dtype, b.dtype if b is not None else x4.dtype)
    y = np.zeros((batch, oh, ow, filters), dtype=dtype)
    for bi in range(batch):
        for i in range(oh):
            for j in range(ow):
                for f in range(filters):
                    total = 0
                    for m in range(kh):
                        for n in range(kw):
                            for c in range(channels):
                                total += xp[bi, i * sh + m * dh, j * sw + n * dw, c] * k4[m, n, c, f]
                    y[bi, i, j, f] = total
    if b is not None:
        y = y + b
    return y[0, :, :, 0] if flat else y


def _windows(xp: np.ndarray, k: Pair, s: Pair, d: Pair, out: Pair) -> np.ndarray:
    """View of shape (batch, out_h, out_w, channels, kh, kw): the taps of each position."""
    k_eff = ((k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1)
    win = sliding_window_view(xp, k_eff, axis=(1, 2))
    return win[:, : (out[0] - 1) * s[0] + 1 : s[0], : (out[1] - 1) * s[1] + 1 : s[1], :,
               :: d[0], :: d[1]]


def conv2d(
    x: Any,
    kernel: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = "valid",
    dilation: int | Sequence[int] = 1,
) -> np.ndarray:
    """2-D cross-correlation, vectorized, with TensorFlow's conventions (what a Conv2D computes).

    Args:
        x: ``(batch, height, width, channels)``, or a 2-D image with a 2-D kernel.
        kernel: ``(kernel_h, kernel_w, channels, filters)``, as ``tf.nn.conv2d`` takes it.
        bias: optional ``(filters,)``, added to every position.
        stride: step between output positions, an int or ``(rows, cols)``.
        padding: ``"valid"`` (none), ``"same"`` (TensorFlow's rule, see
            ``same_padding``) or an integer number of zero rows/columns on each side.
        dilation: spacing between kernel taps, an int or ``(rows, cols)``.  Unlike
            ``tf.nn.conv2d``, stride > 1 together with dilation > 1 is allowed.

    Returns:
        ``(batch, out_h, out_w, filters)`` (2-D for 2-D inputs), sizes from ``output_size``.

    Raises:
        ValueError: wrong rank, channel mismatch, non-positive stride or dilation, a
            kernel larger than the padded input, or a bias of the wrong shape.

    Example:
        >>> x = np.arange(16.0).reshape(4, 4)
        >>> conv2d(x, np.ones((3, 3)))
        array([[45., 54.],
               [81., 90.]])
        >>> conv2d(np.ones((2, 8, 8, 3)), np.ones((3, 3, 3, 5)), stride=2, padding="same").shape
        (2, 4, 4, 5)
    """
    x4, k4, flat = _as_nhwc(x, kernel)
    kh, kw, channels, filters = k4.shape
    s, d, pads, out = _geometry(x4.shape[1:3], (kh, kw), stride, padding, dilation)
    b = _check_bias(bias, filters)
    xp = np.pad(x4, ((0, 0), pads[0], pads[1], (0, 0)))
    win = _windows(xp, (kh, kw), s, d, out)  # (b, oh, ow, c, kh, kw)
    y = np.tensordot(win, k4, axes=([3, 4, 5], [2, 0, 1]))
    if b is not None:
        y = y + b
    return y[0, :, :, 0] if flat else y


def convolve2d_true(
    x: Any,
    kernel: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = "valid",
    dilation: int | Sequence[int] = 1,
) -> np.ndarray:
    """True (mathematical) convolution: cross-correlation with the kernel flipped.

    ``y(i, j) = sum over m, n of x(i - m, j - n) k(m, n)``, which is ``conv2d``
    with ``kernel[::-1, ::-1]``.  For a symmetric kernel the two agree; a CNN
    learns its kernels, so it does not matter which one a framework computes.
    ``padding=k - 1`` gives scipy's ``mode="full"``.

    Example:
        >>> k = np.array([[1.0, 0.0, -1.0]])
        >>> conv2d(np.array([[1.0, 2.0, 4.0]]), k), convolve2d_true(np.array([[1.0, 2.0, 4.0]]), k)
        (array([[-3.]]), array([[3.]]))
    """
    k = np.asarray(kernel)
    if k.ndim not in (2, 4):
        raise ValueError(
            f"kernel must be 2-D or 4-D (kernel_h, kernel_w, in_channels, filters), "
            f"got shape {k.shape}"
        )
    return conv2d(x, k[::-1, ::-1], bias=bias, stride=stride, padding=padding, dilation=dilation)


# --------------------------------------------------------------------------- pooling


def _pool(x: Any, pool_size: Any, stride: Any, padding: Padding, kind: str) -> np.ndarray:
    a = np.asarray(x)
    flat = a.ndim == 2
    if flat:
        a = a[None, :, :, None]
    if a.ndim != 4:
        hint = " For one image add a batch axis: x[None]." if a.ndim == 3 else ""
        raise ValueError(
            f"x must be 4-D (batch, height, width, channels) or 2-D (height, width), "
            f"got shape {a.shape}.{hint}"
        )
    k = pair(pool_size, "pool_size")
    stride = k if stride is None else stride
    s, d, pads, out = _geometry(a.shape[1:3], k, stride, padding, 1, what="pool window")
    widths = ((0, 0), pads[0], pads[1], (0, 0))
    if kind == "max":
        if np.issubdtype(a.dtype, np.integer):
            fill = np.iinfo(a.dtype).min
        else:
            a = a.astype(np.result_type(a.dtype, np.float32), copy=False)
            fill = -np.inf
        win = _windows(np.pad(a, widths, constant_values=fill), k, s, d, out)
        y = win.max(axis=(4, 5))
    else:
        a = a.astype(np.result_type(a.dtype, np.float32), copy=False)
        total = _windows(np.pad(a, widths), k, s, d, out).sum(axis=(4, 5))
        # Padding is not averaged in (tf.nn.avg_pool2d): divide by the real pixels only.
        ones = np.pad(np.ones((1, *a.shape[1:3], 1), dtype=a.dtype), widths)
        count = _windows(ones, k, s, d, out).sum(axis=(4, 5))
        y = total / count
    return y[0, :, :, 0] if flat else y


def max_pool2d(
    x: Any,
    pool_size: int | Sequence[int] = 2,
    stride: int | Sequence[int] | None = None,
    padding: Padding = "valid",
) -> np.ndarray:
    """Max pooling: ``y(i, j) = max of x over the pool window at (i*s, j*s)``, per channel.

    ``stride`` defaults to ``pool_size`` (non-overlapping windows, as in Keras).
    With ``"same"`` the padding is ignored (it never wins the max), as in
    ``tf.nn.max_pool2d``.

    Example:
        >>> max_pool2d(np.arange(16).reshape(4, 4))
        array([[ 5,  7],
               [13, 15]])
    """
    return _pool(x, pool_size, stride, padding, "max")


def avg_pool2d(
    x: Any,
    pool_size: int | Sequence[int] = 2,
    stride: int | Sequence[int] | None = None,
    padding: Padding = "valid",
) -> np.ndarray:
    """Average pooling over each window, per channel; ``stride`` defaults to ``pool_size``.

    With ``"same"``, windows that overlap the padding average only the real
    pixels (``tf.nn.avg_pool2d`` does the same), so borders are not darkened.

    Example:
        >>> avg_pool2d(np.arange(16.0).reshape(4, 4))
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
        >>> avg_pool2d(np.ones((3, 3)), padding="same")   # no zeros averaged in
        array([[1., 1.],
               [1., 1.]])
    """
    return _pool(x, pool_size, stride, padding, "avg")
