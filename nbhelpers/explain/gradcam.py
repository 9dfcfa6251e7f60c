"""Grad-CAM: where in the last feature maps the evidence for a class lies.

Taught in ``09_explaining_with_shap``, which computes CAM and Grad-CAM by hand
first.  Read from top to bottom: :func:`explain_gradcam` is the method (one
forward and one backward pass, as in keras-io's ``grad_cam.py``),
:func:`class_score` the number it differentiates, :func:`upsample` the step from
the layer's grid to the image's pixels.

CAM (Zhou et al., 2016) needs a global-average-pooling head: the class's weights
of the last Dense layer, applied to the feature maps, give the map exactly.
Grad-CAM (Selvaraju et al., 2017) works on any layer of any network: it weighs
each feature map by the gradient of the class score, averaged over the grid.  On
the maps a GAP head averages, the two agree: Grad-CAM is ``ReLU(CAM) / (h w)``
(notebook 09 checks it).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Config
from ..predictions import logits_output
from .core import Explanation, check_image, default_layers, predicted_class

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras

__all__ = ["explain_gradcam"]


def explain_gradcam(
    model: keras.Model,
    image: np.ndarray,
    target: int | None = None,
    cfg: Config | None = None,
    *,
    layer: str | None = None,
) -> Explanation:
    """Grad-CAM (Selvaraju et al., 2017) on the last convolutional layer.

    What ``explain("gradcam", ...)`` runs, and ``nbh.deploy`` with ``gradcam=True``.
    The gradient of the class **score** with respect to the layer's
    feature maps, averaged over the grid, weights each map; their weighted sum,
    through a ReLU, is resized to the image.  ``layer`` defaults to
    ``default_layers(model)["gradcam"]`` (``block5_conv3`` in VGG16).
    ``extras["layer_map"]`` is the map on the layer's grid, ``settings["layer"]``
    and ``settings["layer_grid"]`` (its ``(h, w)``) say which, and
    ``settings["score"]`` is ``"logit"``.

    The score is taken *before* the sigmoid/softmax, as in the paper, from the
    model's ``"logits"`` layer (or its last Dense without its activation, see
    :func:`nbhelpers.predictions.logits_output`): for a softmax the logit of the
    class; for one sigmoid unit ``+z`` for class 1 and ``-z`` for class 0
    (:func:`class_score`).  Why not the probability: ``dP/dA = sigmoid'(z) dz/dA``,
    and for a confident prediction (``|z|`` above about 17, normal with ImageNet
    features) ``sigmoid(z)`` is exactly 1.0 in float32, ``sigmoid'(z)`` is 0 and the
    map is empty.  (For one sigmoid unit the two give the same map up to the
    positive factor ``sigmoid'(z)`` wherever that factor is not lost to rounding.)

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> e = explain_gradcam(left_half_model(16), toy_images(1, 16)[0])
        >>> e.attribution.shape, bool(e.attribution.min() >= 0), e.settings["score"]
        ((16, 16), True, 'logit')
    """
    import keras
    import tensorflow as tf

    img = check_image(image)
    t0 = time.perf_counter()
    target = predicted_class(model, img, target)
    layer = layer or default_layers(model)["gradcam"]

    # A model from the image to two outputs: the layer's feature maps and the class scores.
    grad_model = keras.Model(model.input, [model.get_layer(layer).output, logits_output(model)])

    # Record the forward pass, then take the gradient of the class's score with
    # respect to every value of the feature maps.
    x = tf.convert_to_tensor(img[None])
    with tf.GradientTape() as tape:
        maps, logits = grad_model(x, training=False)
        score = class_score(logits, target)
    grads = tape.gradient(score, maps)

    # One weight per feature map: how much the score rises with that map, on average.
    weights = tf.reduce_mean(grads, axis=(1, 2))

    # The feature maps summed with those weights; the ReLU keeps what speaks for the class.
    cam = tf.nn.relu(tf.reduce_sum(maps * weights[:, None, None, :], axis=-1))[0]
    layer_map = np.asarray(cam, dtype="float32")

    # From the layer's coarse grid to the image's pixels.
    attribution = upsample(layer_map, img.shape[:2])
    seconds = time.perf_counter() - t0
    settings = {"layer": layer, "layer_grid": tuple(layer_map.shape), "score": "logit"}
    return Explanation("gradcam", attribution, target, seconds, settings, {"layer_map": layer_map})


def class_score(logits: Any, target: int) -> Any:
    """The score of class ``target`` from a batch of logits: what gradients are taken of.

    Softmax logits ``(N, C)``: the logit of the class, ``z[:, target]`` (Grad-CAM's
    ``y^c``, taken before the softmax).  One sigmoid unit ``(N, 1)``: ``z`` is the
    log-odds of class 1, ``log P(1) / P(0)``, so the score of class 1 is ``+z`` and the
    score of class 0 is ``-z`` (its log-odds, ``log P(0) / P(1)``).  The SHAP
    GradientExplainer explains the same score.

    Example:
        >>> z = np.array([[2.0]])
        >>> class_score(z, 1).tolist(), class_score(z, 0).tolist()
        ([2.0], [-2.0])
    """
    if logits.shape[-1] == 1:
        if int(target) not in (0, 1):
            raise ValueError(f"a one-unit sigmoid model has classes 0 and 1, not {target}")
        return logits[:, 0] if int(target) == 1 else -logits[:, 0]
    if not 0 <= int(target) < logits.shape[-1]:
        raise ValueError(f"target {target} is not a class of a {logits.shape[-1]}-class model")
    return logits[:, int(target)]


def upsample(layer_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``shape``: a layer's grid -> the image's pixels.

    Example:
        >>> upsample(np.eye(2), (4, 4)).shape
        (4, 4)
    """
    import tensorflow as tf

    a = np.asarray(layer_map, dtype="float32")
    if a.shape == tuple(shape):
        return a
    r = tf.image.resize(a[None, :, :, None], shape, method="bilinear")
    return np.asarray(r)[0, :, :, 0].astype("float32")
