"""Receptive fields: how much of the input one output position sees, layer after layer.

:func:`receptive_field` follows a chain of conv, pool and padding layers -- a list of
:class:`LayerSpec`, or a Keras model such as VGG16 -- and gives, after each layer, the
receptive field, the jump between neighbouring positions (in input pixels), where
position 0 is centred, and the output size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._kit import Padding, Pair, check_padding, pair
from .sizes import output_size, padding_amounts


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
    pair(spec.stride, "stride")
    pair(spec.dilation, "dilation")
    name = spec.name or f"{spec.kind}{index + 1}"
    if spec.kind == "pad":
        before, after = _pad_pair(spec.padding, index)
        padding: Any = before if before == after else (before, after)
    else:
        padding = check_padding(spec.padding)
    return LayerSpec(spec.kind, spec.kernel, spec.stride, padding, spec.dilation, name)


def _pad_pair(padding: Any, index: int) -> Pair:
    values = (padding, padding) if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(values) != 2 or min(values) < 0:
        raise ValueError(f"layer {index}: a 'pad' layer needs padding as a non-negative int or "
                         f"a pair (before, after), got {padding!r}")
    return int(values[0]), int(values[1])


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


@dataclass(frozen=True)
class _Field:
    """Where the stack stands after a layer: the four numbers of one row of the table."""

    output_size: int | None
    receptive_field: int
    jump: int
    start: float


def _specs(layers: Any, input_size: int | None) -> tuple[list[LayerSpec], int | None]:
    """The layers as checked LayerSpec, and the input size (a Keras model knows its own)."""
    if hasattr(layers, "layers") and not isinstance(layers, (list, tuple)):
        specs, model_size = _keras_specs(layers)
        return specs, input_size if input_size is not None else model_size
    return [_as_spec(item, i) for i, item in enumerate(layers)], input_size


def _before_and_size(spec: LayerSpec, size: int | None, k: int, s: int, d: int
                     ) -> tuple[int | None, int | None]:
    """Padding before the first tap, and the output size (None where they cannot be known)."""
    if size is not None:
        before, _ = padding_amounts(int(size), k, s, d, spec.padding)
        return before, output_size(int(size), k, s, spec.padding, d)
    if spec.padding == "same":  # 'same' padding depends on the input size
        return None, None
    return (0 if spec.padding == "valid" else int(spec.padding)), None


def _through(spec: LayerSpec, at: _Field) -> _Field:
    """One layer's recurrences: the field before it (``at``) -> the field after it."""
    if spec.kind == "pad":
        before, after = _pad_pair(spec.padding, 0)
        size = None if at.output_size is None else at.output_size + before + after
        return _Field(size, at.receptive_field, at.jump, at.start - before * at.jump)
    k, s, d = spec.kernel, _first(spec.stride), _first(spec.dilation)
    k_eff = (k - 1) * d + 1
    before, size = _before_and_size(spec, at.output_size, k, s, d)
    start = math.nan if before is None else at.start + ((k_eff - 1) / 2 - before) * at.jump
    return _Field(size, at.receptive_field + (k_eff - 1) * at.jump, at.jump * s, start)


def _row(spec: LayerSpec, at: _Field) -> dict[str, Any]:
    """One row of the table: the layer's geometry, then the field after it."""
    return dict(layer=spec.name, kind=spec.kind,
                kernel=spec.kernel if spec.kind != "pad" else None,
                stride=spec.stride if spec.kind != "pad" else None,
                dilation=spec.dilation if spec.kind == "conv" else None,
                padding=spec.padding, **asdict(at))


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

    specs, input_size = _specs(layers, input_size)
    at = _Field(input_size, 1, 1, 0.0)
    rows = [dict(layer="input", kind="input", kernel=None, stride=None, dilation=None,
                 padding=None, **asdict(at))]
    for spec in specs:
        at = _through(spec, at)
        rows.append(_row(spec, at))
    table = pd.DataFrame(rows)
    for column in ("kernel", "stride", "dilation", "output_size"):
        table[column] = table[column].astype("Int64")
    return table
