"""Convolution and pooling from scratch, and the arithmetic of sizes and receptive fields.

Taught in ``01_convolution_and_pooling`` (the formulas, checked against TensorFlow)
and used again in ``02_inside_vgg16`` (VGG16's receptive fields).

What deep-learning frameworks call "convolution" is *cross-correlation*::

    y(i, j) = sum over m, n of x(i + m, j + n) * k(m, n)

``conv2d_loop`` writes that formula out with loops, for reading; ``conv2d`` computes
the same numbers with sliding windows and one tensor contraction, for use.  Both
follow TensorFlow's conventions exactly:

* arrays are NHWC: ``x`` has shape ``(batch, height, width, channels)`` and the
  kernel ``(kernel_h, kernel_w, in_channels, filters)``, as in ``tf.nn.conv2d``;
* ``padding="same"`` pads so that the output has ``ceil(n / stride)`` positions,
  and when the padding needed is odd the extra row/column goes at the bottom/right
  (``same_padding``);
* ``dilation`` spreads the kernel taps ``dilation`` pixels apart.

A 2-D image with a 2-D kernel is accepted as a shortcut for one image, one
channel and one filter, and gives a 2-D answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "output_size",
    "same_padding",
    "conv2d_loop",
    "conv2d",
    "convolve2d_true",
    "max_pool2d",
    "avg_pool2d",
    "conv_param_count",
    "LayerSpec",
    "receptive_field",
]

Pair = tuple[int, int]
Padding = str | int


# --------------------------------------------------------------------------- arithmetic


def _pair(value: int | Sequence[int], name: str) -> Pair:
    """An int or a pair of ints, checked to be positive, as ``(rows, cols)``."""
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    else:
        try:
            pair = tuple(int(v) for v in value)
        except TypeError:
            raise ValueError(
                f"{name} must be a positive integer or a pair of them, got {value!r}"
            ) from None
        if len(pair) != 2:
            raise ValueError(
                f"{name} must be a positive integer or a pair (rows, cols), got {value!r}"
            )
    if min(pair) < 1:
        fix = "1 (no subsampling)" if name == "stride" else "1 (adjacent taps)"
        raise ValueError(
            f"{name} must be positive, got {value!r}: use {name}={fix} or a larger integer"
        )
    return pair  # type: ignore[return-value]


def _check_padding(padding: Padding) -> Padding:
    if isinstance(padding, str):
        p = padding.lower()
        if p in ("valid", "same"):
            return p
    elif isinstance(padding, (int, np.integer)) and padding >= 0:
        return int(padding)
    raise ValueError(
        f"padding must be 'valid', 'same' or a non-negative integer, got {padding!r}"
    )


def same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> Pair:
    """TensorFlow's 'same' padding along one axis, as ``(before, after)``.

    The output gets ``ceil(n / stride)`` positions; the padding that needs is
    split in two, and an odd one out goes *after* (bottom or right).  PyTorch's
    ``padding="same"`` and some papers put it before: then the numbers differ.

    Example:
        >>> same_padding(5, 3)              # 1 each side
        (1, 1)
        >>> same_padding(6, 3, stride=2)    # total 1: the extra goes after
        (0, 1)
    """
    k_eff = (k - 1) * dilation + 1
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2


def _pads(n: int, k: int, stride: int, dilation: int, padding: Padding) -> Pair:
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_padding(n, k, stride, dilation)
    return int(padding), int(padding)


def output_size(
    n: int, k: int, stride: int = 1, padding: Padding = "valid", dilation: int = 1
) -> int:
    """Positions along one axis after a conv or pool layer.

    ``floor((n + pad_before + pad_after - k_eff) / stride) + 1`` with the
    effective kernel ``k_eff = (k - 1) * dilation + 1``; for 'same' that is
    ``ceil(n / stride)``.  ``padding`` may be an integer (pixels on each side).

    Example:
        >>> output_size(224, 3, padding="same"), output_size(224, 2, stride=2)
        (224, 112)
        >>> output_size(7, 3, dilation=2), output_size(5, 3, padding=1)
        (3, 5)
    """
    (s, _), (d, _) = _pair(stride, "stride"), _pair(dilation, "dilation")
    padding = _check_padding(padding)
    before, after = _pads(n, k, s, d, padding)
    k_eff = (k - 1) * d + 1
    padded = n + before + after
    if k_eff > padded:
        raise ValueError(
            f"the kernel ({k_eff} px with dilation) is larger than the padded input "
            f"({padded} px): use padding='same', a smaller kernel or dilation, or a larger input"
        )
    return (padded - k_eff) // s + 1


def conv_param_count(
    kernel_size: int | Sequence[int], in_channels: int, filters: int, bias: bool = True
) -> int:
    """Trainable parameters of a Conv2D layer: ``(kh * kw * in_channels + bias) * filters``.

    The count does not depend on the image size: that is weight sharing.

    Example:
        >>> conv_param_count(3, 3, 64)     # VGG16's block1_conv1
        1792
    """
    kh, kw = _pair(kernel_size, "kernel_size")
    return (kh * kw * in_channels + int(bias)) * filters


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
    s = _pair(stride, "stride")
    d = _pair(dilation, "dilation")
    padding = _check_padding(padding)
    pads = tuple(_pads(hw[a], k[a], s[a], d[a], padding) for a in (0, 1))
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
    k = _pair(pool_size, "pool_size")
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


# --------------------------------------------------------------------------- receptive field


@dataclass(frozen=True)
class LayerSpec:
    """The geometry of one layer for ``receptive_field``.

    ``kind`` is ``"conv"``, ``"pool"`` or ``"pad"`` (explicit zero padding, like
    ``keras.layers.ZeroPadding2D``: ``padding`` pixels on each side, or a pair
    ``(before, after)``, the same for rows and columns).

    Example:
        >>> LayerSpec("conv", 3, padding="same").kernel
        3
    """

    kind: str
    kernel: int = 1
    stride: int = 1
    padding: Padding = "valid"
    dilation: int = 1
    name: str = ""


def _as_spec(item: Any, index: int) -> LayerSpec:
    if isinstance(item, LayerSpec):
        spec = item
    elif isinstance(item, dict):
        spec = LayerSpec(**item)
    elif isinstance(item, (tuple, list)):
        spec = LayerSpec(*item)
    else:
        raise ValueError(
            f"layer {index}: expected a LayerSpec, a dict or a tuple (kind, kernel, stride, "
            f"padding, dilation, name), got {item!r}"
        )
    if spec.kind not in ("conv", "pool", "pad"):
        raise ValueError(f"layer {index}: kind must be 'conv', 'pool' or 'pad', got {spec.kind!r}")
    _pair(spec.stride, "stride")
    _pair(spec.dilation, "dilation")
    name = spec.name or f"{spec.kind}{index + 1}"
    if spec.kind == "pad":
        before, after = _pad_pair(spec.padding, index)
        padding: Any = before if before == after else (before, after)
    else:
        padding = _check_padding(spec.padding)
    return LayerSpec(spec.kind, spec.kernel, spec.stride, padding, spec.dilation, name)


def _pad_pair(padding: Any, index: int) -> Pair:
    pair = (padding, padding) if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(pair) != 2 or min(pair) < 0:
        raise ValueError(f"layer {index}: a 'pad' layer needs padding as a non-negative int or "
                         f"a pair (before, after), got {padding!r}")
    return int(pair[0]), int(pair[1])


def _first(v: Any) -> int:
    """Square layers only: the receptive field is computed along one axis."""
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ValueError(f"receptive_field handles square kernels/strides only, got {v}")
        return int(v[0])
    return int(v)


def _keras_specs(model: Any) -> tuple[list[LayerSpec], int | None]:
    import keras

    specs: list[LayerSpec] = []

    def walk(layers: Iterable[Any]) -> None:
        for layer in layers:
            if any(cls.__name__ == "Merge" for cls in type(layer).__mro__):
                raise ValueError(
                    f"receptive_field follows a chain of layers, but {model.name!r} branches "
                    f"and merges (layer {layer.name!r}, {type(layer).__name__}). Pass a list "
                    "of LayerSpec along the path you want instead (the longest path gives "
                    "the largest receptive field)."
                )
            if isinstance(layer, keras.Model):
                walk(layer.layers)
            elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                                    keras.layers.SeparableConv2D)):
                specs.append(LayerSpec("conv", _first(layer.kernel_size), _first(layer.strides),
                                       layer.padding, _first(layer.dilation_rate), layer.name))
            elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
                specs.append(LayerSpec("pool", _first(layer.pool_size), _first(layer.strides),
                                       layer.padding, 1, layer.name))
            elif isinstance(layer, keras.layers.ZeroPadding2D):
                pad = layer.padding
                (top, bottom), (left, right) = pad
                if (top, bottom) != (left, right):
                    raise ValueError(f"{layer.name}: receptive_field needs the same padding "
                                     f"for rows and columns, got {pad}")
                padding = int(top) if top == bottom else (int(top), int(bottom))
                specs.append(LayerSpec("pad", 1, 1, padding, 1, layer.name))

    walk(model.layers)
    shape = getattr(model, "input_shape", None)
    size = None
    if isinstance(shape, tuple) and len(shape) == 4 and shape[1] is not None:
        size = int(shape[1])
    return specs, size


def receptive_field(layers: Any, input_size: int | None = None) -> Any:
    """Receptive field, jump and output size after each layer of a conv/pool stack.

    ``layers`` is a list of ``LayerSpec`` (or dicts / tuples of its fields) or a
    Keras model, whose Conv2D, MaxPooling2D, AveragePooling2D and ZeroPadding2D
    layers are read (the others do not change the geometry).  The model must be a
    chain, like VGG16: a model with branches (ResNet, MobileNetV2) raises a ValueError.  The recurrences,
    with ``k_eff = (k - 1) * dilation + 1``::

        receptive_field_out = receptive_field_in + (k_eff - 1) * jump_in
        jump_out            = jump_in * stride
        start_out           = start_in + ((k_eff - 1) / 2 - pad_before) * jump_in

    ``jump`` is the distance in input pixels between neighbouring output positions
    and ``start`` the input coordinate of the centre of output position 0.  With
    ``input_size`` (taken from the model when it has one) ``output_size`` is filled
    in; ``start`` needs it for 'same' layers.  Taught in notebook 02 (VGG16).

    Returns:
        A pandas DataFrame, one row per layer after a first ``input`` row, with columns
        layer, kind, kernel, stride, dilation, padding, output_size, receptive_field,
        jump, start.

    Example:
        >>> t = receptive_field([("conv", 3), ("conv", 3), ("pool", 2, 2)], input_size=32)
        >>> t["receptive_field"].tolist(), t["jump"].tolist(), t["output_size"].tolist()
        ([1, 3, 5, 6], [1, 1, 1, 2], [32, 30, 28, 14])
    """
    import pandas as pd

    if hasattr(layers, "layers") and not isinstance(layers, (list, tuple)):
        specs, model_size = _keras_specs(layers)
        input_size = input_size if input_size is not None else model_size
    else:
        specs = [_as_spec(item, i) for i, item in enumerate(layers)]
    size: float | None = input_size
    rf, jump, start = 1, 1, 0.0
    rows: list[dict[str, Any]] = [dict(layer="input", kind="input", kernel=None, stride=None,
                                       dilation=None, padding=None, output_size=size,
                                       receptive_field=rf, jump=jump, start=start)]
    for spec in specs:
        if spec.kind == "pad":
            before, after = _pad_pair(spec.padding, 0)
            start = start - before * jump
            size = None if size is None else size + before + after
        else:
            k, s, d = spec.kernel, _first(spec.stride), _first(spec.dilation)
            k_eff = (k - 1) * d + 1
            if size is not None:
                before, _ = _pads(int(size), k, s, d, spec.padding)
                new_size: int | None = output_size(int(size), k, s, spec.padding, d)
            elif spec.padding == "same":
                before, new_size = None, None
            else:
                before = 0 if spec.padding == "valid" else int(spec.padding)
                new_size = None
            start = math.nan if before is None else start + ((k_eff - 1) / 2 - before) * jump
            rf += (k_eff - 1) * jump
            jump *= s
            size = new_size
        rows.append(dict(layer=spec.name, kind=spec.kind,
                         kernel=spec.kernel if spec.kind != "pad" else None,
                         stride=spec.stride if spec.kind != "pad" else None,
                         dilation=spec.dilation if spec.kind == "conv" else None,
                         padding=spec.padding, output_size=size,
                         receptive_field=rf, jump=jump, start=start))
    table = pd.DataFrame(rows)
    for column in ("kernel", "stride", "dilation", "output_size"):
        table[column] = table[column].astype("Int64")
    return table
