"""A backbone's blocks: which block a layer is in; cutting and unfreezing from one (``06_fine_tuning``).

Every backbone of :data:`~nbhelpers.models.backbones.BACKBONES` names its blocks in
graph order (VGG16: ``block1`` ... ``block5``); :func:`block_of` finds a layer's block
from its name.  Fine-tuning unfreezes the top block (:func:`unfreeze_from`);
:func:`split_at` cuts the model where a block begins, so the part below can be
computed once (``nbh.training.extract_features``).
"""

from __future__ import annotations

import re

import keras

from .backbones import backbone_of, backbone_spec
from .heads import is_head


def block_of(layer_name: str, backbone: str = "vgg16") -> str | None:
    """The block a layer belongs to (``"block5_conv3"`` -> ``"block5"``), or None.

    Example:
        >>> block_of("block5_conv3"), block_of("conv4_block2_out", "resnet50")
        ('block5', 'conv4')
        >>> block_of("block_13_expand", "mobilenetv2"), block_of("block6a_se_excite", "efficientnetb0")
        ('block_13', 'block6')
    """
    spec = backbone_spec(backbone)
    if is_head(layer_name):
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


def layer_blocks(model: keras.Model, backbone: str) -> list[tuple[keras.layers.Layer, str]]:
    """Each layer of ``model`` with its block; a layer without one takes the previous layer's.

    Example:
        >>> from nbhelpers.models import build_classifier, load_backbone
        >>> model = build_classifier(load_backbone("vgg16", None, (32, 32, 3)))
        >>> [(layer.name, block) for layer, block in layer_blocks(model, "vgg16")][:3]
        [('image', 'input'), ('preprocess', 'preprocess'), ('block1_conv1', 'block1')]
    """
    out, current = [], "input"
    for layer in model.layers:
        block = block_of(layer.name, backbone)
        current = block or current
        out.append((layer, current))
    return out


def _first_index(layers: list[tuple[keras.layers.Layer, str]], start: str, backbone: str) -> int:
    """The index in ``layers`` (:func:`layer_blocks`) of the layer ``start`` names, or of its block's first."""
    names = [layer.name for layer, _ in layers]
    if start in names:
        return names.index(start)
    in_block = [i for i, (_, block) in enumerate(layers) if block == start]
    if not in_block:
        raise ValueError(
            f"{start!r} is neither a layer nor a block of this model; blocks: "
            f"{', '.join(backbone_spec(backbone).blocks)}."
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
        >>> from nbhelpers.models import build_classifier, load_backbone
        >>> model = build_classifier(load_backbone("vgg16", None, (64, 64, 3)), head="gap")
        >>> below, above = split_at(model, "block5")
        >>> below.output_shape, above.input_shape, above.layers[1].name
        ((None, 4, 4, 512), (None, 4, 4, 512), 'block5_conv1')
        >>> above.get_layer("block5_conv1") is model.get_layer("block5_conv1")
        True
    """
    backbone = backbone or backbone_of(model)
    layers = layer_blocks(model, backbone)
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
        >>> from nbhelpers.models import build_classifier, load_backbone
        >>> model = build_classifier(load_backbone("vgg16", None, (32, 32, 3)), head="gap")
        >>> unfreeze_from(model, "block5")
        ['block5_conv1', 'block5_conv2', 'block5_conv3', 'logits']
    """
    backbone = backbone or backbone_of(model)
    layers = layer_blocks(model, backbone)
    first = _first_index(layers, start, backbone)
    model.trainable = True
    for i, (layer, _) in enumerate(layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = i >= first and not (keep_batchnorm_frozen and is_bn)
    return [layer.name for layer, _ in layers if layer.trainable and layer.trainable_weights]
