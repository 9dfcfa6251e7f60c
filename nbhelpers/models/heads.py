"""Classifier heads on a backbone, and freezing the backbone under them (``05_adding_a_head``).

A head is its ``head_*`` layers (``"gap"``: global average pooling and dropout;
``"flatten"``: the source article's Flatten -> Dense(256)), then the Dense layer
``"logits"`` (the class scores), then the activation ``"predictions"`` (sigmoid for
two classes, softmax for more).  :func:`build_head` builds it alone, on cached
feature maps; :func:`build_classifier` on the backbone's own graph, flat;
:func:`copy_head_weights` moves a head trained on features onto the classifier.
The defaults are :data:`nbhelpers.config.DEFAULT_HEAD` and
:data:`~nbhelpers.config.DEFAULT_DROPOUT`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from .. import config

#: The heads: the source article's Flatten -> Dense(256) head, and global average pooling.
HEADS = ("flatten", "gap")

#: Other names of a head, refused with the name to use (``nbh.get_model`` retrains
#: an artifact saved under one of them).
_HEAD_ALIASES = {"seed": "flatten"}


def _head_layers(
    head: str, num_classes: int, dropout: float, l2: float
) -> list[keras.layers.Layer]:
    """The head's layers, in order, new (not yet called): checked ``head`` and ``num_classes``."""
    if head in _HEAD_ALIASES:
        raise ValueError(
            f"head={head!r} is not a head name; the article's Flatten head is "
            f"head={_HEAD_ALIASES[head]!r}."
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


def is_head(layer_name: str) -> bool:
    """True for a layer of the classifier's head: ``head_*``, ``logits`` or ``predictions``.

    Example:
        >>> is_head("logits"), is_head("head_pool"), is_head("block5_conv3")
        (True, True, False)
    """
    return layer_name.startswith("head_") or layer_name in ("logits", "predictions")


def logits_layer(model: keras.Model) -> str:
    """The name of the layer whose output is the class scores (before sigmoid/softmax).

    ``nbh.ood.feature_extractor`` reads the input of this layer: the features the
    scores are computed from.  A ValueError for a model without one.

    Example:
        >>> logits_layer(build_head((2, 2, 8), num_classes=3))
        'logits'
    """
    names = [layer.name for layer in model.layers]
    if "logits" in names:
        return "logits"
    raise ValueError(
        f"Model {model.name!r} has no 'logits' layer (the class scores before the "
        f"activation). Build it with nbh.models.build_classifier / build_head."
    )


def build_head(
    feature_shape: Sequence[int],
    head: str = config.DEFAULT_HEAD,
    num_classes: int = 2,
    dropout: float = config.DEFAULT_DROPOUT,
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
    head: str = config.DEFAULT_HEAD,
    num_classes: int = 2,
    dropout: float = config.DEFAULT_DROPOUT,
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
        >>> from nbhelpers.models import load_backbone
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
        >>> from nbhelpers.models import load_backbone
        >>> import numpy as np
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


def freeze(model: keras.Model, include_head: bool = False) -> keras.Model:
    """Freeze every backbone layer (and the head too with ``include_head=True``).

    On a backbone from :func:`load_backbone` it freezes everything.  Frozen
    layers keep their weights in ``fit``; frozen BatchNormalization layers
    also use their moving statistics.  Taught in ``05_adding_a_head``.

    Example:
        >>> from nbhelpers.models import load_backbone
        >>> model = build_classifier(load_backbone("vgg16", None, (32, 32, 3)), freeze_backbone=False)
        >>> _ = freeze(model)
        >>> [layer.name for layer in model.layers if layer.trainable_weights]
        ['logits']
    """
    model.trainable = True  # Keras 3: a layer is trainable only if its parents are too
    for layer in model.layers:
        if include_head or not is_head(layer.name):
            layer.trainable = False
    return model
