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

Call any of them as ``nbh.models.<name>``; the submodules group them by job:

==================  ============================================================  =========
module              holds                                                         taught in
==================  ============================================================  =========
``backbones``       the registry: one :class:`Backbone` per backbone (its         02, 11
                    constructor, preprocessing, explained layers, blocks, weights
                    files); which backbone a model is built on
``preprocessing``   ``preprocess_input`` (NumPy) and the ``Preprocess`` layer     02
``loading``         ``load_backbone`` (ImageNet weights: cache, download, file,   02, 05
                    pip package), ``FrozenDropout``, ``forward``,
                    ``load_saved_model``
``imagenet``        the whole 1000-class classifier, its top loaded in slices,    02
                    ``decode_predictions`` offline
``heads``           ``build_head``, ``build_classifier``, ``copy_head_weights``,  05
                    ``freeze``
``blocks``          ``block_of``, ``split_at``, ``unfreeze_from``                 06
``report``          ``parameter_report``: parameters per block                    02, 06
==================  ============================================================  =========

Example:
    >>> import nbhelpers as nbh
    >>> nbh.models.build_classifier is nbh.models.heads.build_classifier
    True
"""

from __future__ import annotations

from ..predictions import forward  # running a model lives in nbhelpers.predictions
from .backbones import (
    BACKBONES,
    LAST_CONV,
    Backbone,
    backbone_of,
    explained_layers,
    weights_cached,
    weights_file,
    weights_url,
)
from .blocks import block_of, split_at, unfreeze_from
from .heads import HEADS, build_classifier, build_head, copy_head_weights, freeze, logits_layer
from .imagenet import decode_predictions, imagenet_class_index, load_imagenet_classifier
from .loading import FrozenDropout, WeightsUnavailableError, load_backbone, load_saved_model
from .preprocessing import CAFFE_MEAN_BGR, PREPROCESSING, Preprocess, preprocess_input
from .report import parameter_report

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
    "forward",
    "HEADS",
    "build_head",
    "logits_layer",
    "build_classifier",
    "copy_head_weights",
    "load_saved_model",
    "freeze",
    "unfreeze_from",
    "split_at",
    "block_of",
    "parameter_report",
]
