"""SHAP: the GradientExplainer on an intermediate layer and the Partition explainer.

Taught in ``09_explaining_with_shap``.

* :func:`explain_shap_gradient` -- expected gradients (``shap.GradientExplainer``)
  of the class score with respect to a layer's features, as in SHAP's VGG16
  example, summed over channels and resized to the image.  Its steps:
  :func:`choose_background` (what "absent" means), :func:`gradient_shap_values`
  (shap asked a few samples at a time), :func:`normalise_shap_values` (shap's
  return forms, one array).
* :func:`explain_shap_partition` -- Owen values of a hierarchy of image regions
  (``shap.Explainer`` with ``shap.maskers.Image``), hidden by blurring.

This module is ``nbhelpers.explain.shap``; ``import shap`` inside it is the shap
package (absolute imports), not this module.  shap's ``DeepExplainer`` is
deliberately not used: when it fails on a model it cannot handle it leaves
TensorFlow's gradient registry patched, which breaks every later gradient in the
same Python process.
"""

from __future__ import annotations

import contextlib
import functools
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import progress
from ..config import INFERENCE_BATCH_SIZE, Config, current
from ..predictions import logits_output, predict_function
from .core import Explanation, blurred, check_image, default_layers, predicted_class
from .gradcam import class_score, upsample
from .outputs import answer_range, choose_output, recording

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras

__all__ = [
    "explain_shap_gradient",
    "explain_shap_partition",
    "choose_background",
    "gradient_shap_values",
    "normalise_shap_values",
    "SHAP_SAMPLES_AT_ONCE",
]

#: Samples SHAP's GradientExplainer is asked for at once (:func:`gradient_shap_values`).  It
#: keeps every sample of the explained layer in memory about seven times over (the points
#: between background and image, their differences, the gradients in batches and joined, their
#: products, the variance's temporaries): 200 samples of ``block4_conv3`` (20 x 20 x 512 at
#: 160 px) raised notebook 09's peak by 1083 MiB, over Binder's 2 GB.  50 at a time: a quarter.
SHAP_SAMPLES_AT_ONCE = 50


# --------------------------------------------------------------------------- GradientExplainer


def explain_shap_gradient(
    model: keras.Model,
    image: np.ndarray,
    target: int | None = None,
    cfg: Config | None = None,
    *,
    background: np.ndarray | None = None,
    layer: str | None = None,
    nsamples: int | None = None,
    seed: int | None = None,
    batch_size: int = 50,
) -> Explanation:
    """SHAP's GradientExplainer (expected gradients) on an intermediate layer.

    What ``explain("shap_gradient", ...)`` runs.  What is explained is the class
    **score** before the sigmoid/softmax (the logit;
    ``+z``/``-z`` for one sigmoid unit, as in Grad-CAM: :func:`class_score`), so the
    attributions add up to about ``score(image) - mean score(background)``, in
    log-odds, and a saturated probability does not flatten them.
    As in SHAP's VGG16 example, the explanation is of the *layer's* features
    (``block4_conv3`` by default, see :func:`~nbhelpers.explain.default_layers`),
    computed on a model from that layer to the output; the layer's attribution is
    summed over channels and resized to the image.  Written for TF 2 / Keras 3: the
    two halves are sub-models of the flat classifier (``keras.Model(layer.output,
    model.output)``).  ``background``: training images (see
    :func:`choose_background`); without it, two blurred copies of the image and a
    grey one are used, and ``settings["background"]`` says so.  ``nsamples``
    defaults to ``cfg.shap_evals``.  ``extras["layer_attribution"]`` is the map
    before resizing, ``settings["layer_grid"]`` its ``(h, w)``.

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> e = explain_shap_gradient(left_half_model(16), toy_images(1, 16)[0], nsamples=8,
        ...                           background=toy_images(2, 16, seed=1))
        >>> e.attribution.shape, e.settings["layer"]
        ((16, 16), 'conv1')
    """
    import shap

    from .. import models

    cfg = cfg or current()
    img = check_image(image)
    t0 = time.perf_counter()
    target = predicted_class(model, img, target)
    layer = layer or default_layers(model)["shap_gradient"]
    n = int(nsamples if nsamples is not None else cfg.shap_evals)
    seed = int(cfg.seed if seed is None else seed)
    background, bg_note = _background(img, background)
    feature_model, class_model = _split_at_layer(model, layer, target)
    to_layer = models.forward(feature_model)  # compiled: a direct call keeps every output
    bg_features, x_features = np.asarray(to_layer(background)), np.asarray(to_layer(img[None]))
    explainer = shap.GradientExplainer(class_model, bg_features, batch_size=batch_size)
    with _quiet_shap():
        values = gradient_shap_values(explainer, x_features, n, seed)
    per_feature = normalise_shap_values(values, 0, sample_ndim=x_features.ndim - 1)[0]
    layer_map = per_feature.sum(axis=-1).astype("float32")
    attribution = upsample(layer_map, img.shape[:2])
    seconds = time.perf_counter() - t0
    settings = {"layer": layer, "layer_grid": tuple(layer_map.shape), "nsamples": n,
                "background": bg_note, "background_size": int(len(background)), "seed": seed,
                "score": "logit"}
    return Explanation("shap_gradient", attribution, target, seconds, settings,
                       {"layer_attribution": layer_map})


def _background(img: np.ndarray, background: np.ndarray | None) -> tuple[np.ndarray, str]:
    """(background images, a note of what they are): ``background``, or blurred copies and grey."""
    if background is None:
        size = img.shape[0]
        background = np.stack([blurred(img, size / 8), blurred(img, size / 4),
                               np.full_like(img, 127.5)])
        return background, "blurred copies of the image + grey (pass background= from the training set)"
    background = np.asarray(background, dtype="float32")
    return background, f"{len(background)} images given"


def _split_at_layer(model: keras.Model, layer: str, target: int) -> tuple[Any, Any]:
    """(input -> layer) and (layer -> score of class ``target``) models of a flat functional model.

    The score is taken before the sigmoid/softmax (see :func:`class_score`).
    """
    import keras

    tensor = model.get_layer(layer).output
    feature_model = keras.Model(model.input, tensor)
    logits = logits_output(model)
    head = keras.Model(tensor, logits)
    class_score(np.zeros((1, logits.shape[-1])), target)  # a clear error for a bad target
    features = keras.Input(shape=tuple(tensor.shape[1:]))
    out = _class_score_layer()(target, logits.shape[-1] == 1, name="class_score")(head(features))
    return feature_model, keras.Model(features, out)


@functools.cache
def _class_score_layer() -> type:
    """The Keras layer ``ClassScore`` (defined once, on first use: Keras is imported then)."""
    import keras

    @keras.saving.register_keras_serializable(package="nbhelpers")
    class ClassScore(keras.layers.Layer):
        """The score of class ``index`` as an ``(N, 1)`` output, from logits.

        Softmax logits: the class's logit.  One sigmoid unit (``binary``): ``+z``
        for class 1, ``-z`` for class 0 (the log-odds of each; see ``class_score``).
        """

        def __init__(self, index: int = 1, binary: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.index, self.binary = int(index), bool(binary)

        def call(self, z: Any) -> Any:
            if self.binary:
                return z if self.index == 1 else -z
            return z[:, self.index:self.index + 1]

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return (input_shape[0], 1)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "index": self.index, "binary": self.binary}

    return ClassScore


@contextlib.contextmanager
def _quiet_shap() -> Iterator[None]:
    """Silence the notes TensorFlow and Keras print on every GradientExplainer run."""
    import tensorflow as tf

    tf_logger = tf.get_logger()
    level = tf_logger.level
    try:
        tf_logger.setLevel("ERROR")  # shap builds a new tf.function per explainer: retracing notes
        with warnings.catch_warnings():
            # shap hands the model a one-element list; Keras 3 warns and unwraps it.
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            yield
    finally:
        tf_logger.setLevel(level)


def gradient_shap_values(explainer: Any, x: np.ndarray, nsamples: int, seed: int,
                         at_once: int = SHAP_SAMPLES_AT_ONCE) -> Any:
    """``explainer.shap_values(x, nsamples=nsamples, rseed=seed)``, asked ``at_once`` samples at a time.

    SHAP's GradientExplainer (expected gradients) averages ``gradient x (image -
    background)`` over random points between a background image and the image:
    the size-weighted average of the averages of parts of the samples is the
    average of all of them, the same estimate, with a quarter of the memory
    (:data:`SHAP_SAMPLES_AT_ONCE`).  Part ``i`` draws its points with seed
    ``seed + i``; with ``nsamples <= at_once`` this is exactly one call of shap's.
    Returns what shap returns (an array, or a list of arrays, one per output).
    Taught in ``09_explaining_with_shap``.

    Example:
        >>> class Explainer:  # stands in for shap.GradientExplainer: its "values" are the seed
        ...     def shap_values(self, x, nsamples, rseed):
        ...         return np.full(x.shape, float(rseed))
        >>> gradient_shap_values(Explainer(), np.zeros((1, 2)), 150, seed=10, at_once=50)
        array([[11., 11.]])
        >>> gradient_shap_values(Explainer(), np.zeros((1, 2)), 60, seed=0, at_once=50)  # 50 + 10
        array([[0.16666667, 0.16666667]])
    """
    if nsamples < 1 or at_once < 1:
        raise ValueError(f"nsamples and at_once must be at least 1, got {nsamples} and {at_once}")
    total: Any = None
    for i, start in enumerate(range(0, nsamples, at_once)):
        n = min(at_once, nsamples - start)
        part = explainer.shap_values(x, nsamples=n, rseed=seed + i)
        weighted = ([np.asarray(v) * (n / nsamples) for v in part] if isinstance(part, list)
                    else np.asarray(part) * (n / nsamples))
        if total is None:
            total = weighted
        elif isinstance(total, list):
            total = [t + w for t, w in zip(total, weighted, strict=True)]
        else:
            total = total + weighted
    return total


def normalise_shap_values(values: Any, output: int = 0, sample_ndim: int = 3) -> np.ndarray:
    """shap's attributions for one output, as ``(N, *sample_shape)``, whatever the shap version.

    shap returns per-output attributions in two forms: older versions (and
    ``ranked_outputs``) give a *list* with one ``(N, *sample_shape)`` array per
    output; newer ones give *one array* ``(N, *sample_shape, n_outputs)``, or
    ``(N, *sample_shape)`` for a model with a single scalar output.  A
    ``shap.Explanation`` is unwrapped to its ``.values``.  ``sample_ndim`` is the
    number of axes of one sample (3 for an ``(h, w, c)`` image or feature map).
    Taught in ``09_explaining_with_shap``.

    Example:
        >>> one = np.arange(2 * 4 * 4 * 3 * 2).reshape(2, 4, 4, 3, 2)
        >>> as_list = [one[..., 0], one[..., 1]]
        >>> np.array_equal(normalise_shap_values(one, 1), normalise_shap_values(as_list, 1))
        True
        >>> normalise_shap_values(one[..., 0], 0).shape  # a single-output model
        (2, 4, 4, 3)
    """
    if hasattr(values, "values") and not isinstance(values, (dict, np.ndarray)):
        values = values.values  # shap.Explanation
    if isinstance(values, tuple):  # (values, ranks) from ranked_outputs
        values = values[0]
    if isinstance(values, list):
        if not values:
            raise ValueError("shap returned an empty list of attributions")
        arrays = [np.asarray(v) for v in values]
        if arrays[0].ndim == sample_ndim + 1:  # one array per output
            return arrays[output]
        values = np.stack(arrays, axis=0)  # a list of samples
    arr = np.asarray(values)
    if arr.ndim == sample_ndim + 2:  # (N, *sample, outputs)
        return arr[..., output]
    if arr.ndim == sample_ndim + 1:  # (N, *sample): one output only
        if output not in (0, -1):
            raise ValueError(f"shap values have a single output; cannot select output {output}")
        return arr
    raise ValueError(f"cannot read shap values of shape {arr.shape} for samples with {sample_ndim} axes")


def choose_background(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    n: int | None = None,
    seed: int | None = None,
    cfg: Config | None = None,
) -> np.ndarray:
    """``n`` training images (default ``cfg.shap_background``) as SHAP's background.

    The background is what "feature absent" means to the GradientExplainer:
    attributions explain the difference between this image's output and the
    average output over the background.  Chosen at random with a fixed seed,
    balanced over the classes when ``labels`` are given.  Returns ``(n, H, W, 3)``
    float32, in the images' order.
    Taught in ``09_explaining_with_shap``.

    Example:
        >>> from nbhelpers.explain import toy_images
        >>> x = toy_images(10, 8); y = np.array([0] * 5 + [1] * 5)
        >>> choose_background(x, y, n=4, seed=0).shape
        (4, 8, 8, 3)
    """
    cfg = cfg or current()
    n = int(n if n is not None else cfg.shap_background)
    seed = int(cfg.seed if seed is None else seed)
    rng = np.random.default_rng(seed)
    images = np.asarray(images, dtype="float32")
    n = min(n, len(images))
    if labels is None:
        idx = rng.choice(len(images), size=n, replace=False)
    else:
        idx = _balanced_choice(np.asarray(labels), n, rng)
    return images[np.sort(idx)]


def _balanced_choice(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices, taken from each class's shuffled indices in turn until ``n`` are taken."""
    classes = np.unique(labels)
    per = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    idx_list: list[int] = []
    i = 0
    while len(idx_list) < n:
        pool = per[i % len(classes)]
        k = i // len(classes)
        if k < len(pool):
            idx_list.append(int(pool[k]))
        i += 1
    return np.array(idx_list)


# --------------------------------------------------------------------------- Partition explainer


def explain_shap_partition(
    model: keras.Model,
    image: np.ndarray,
    target: int | None = None,
    cfg: Config | None = None,
    *,
    max_evals: int | None = None,
    mask_value: str | float | None = None,
    batch_size: int = INFERENCE_BATCH_SIZE,
    output: str = "auto",
) -> Explanation:
    """SHAP's Partition explainer with ``shap.maskers.Image``: Owen values of image regions.

    What ``explain("shap_partition", ...)`` runs.  The masker splits the image into
    a hierarchy of rectangles; hidden regions
    are replaced by ``mask_value`` (default a box blur of a quarter of the
    image's size, ``"blur(k,k)"``; ``"inpaint_telea"`` or a number also work).
    ``max_evals`` (default ``cfg.shap_evals``) is the budget of model calls:
    more evaluations, finer regions.  Deterministic.  ``output`` is what is
    explained, as for LIME: the probability, or the log-odds when
    the model is sure (``settings["output"]``); when hiding regions never moves it
    the map is zero and it warns; ``extras["p_range"]`` holds the lowest and
    highest answer it saw.

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> e = explain_shap_partition(left_half_model(16), toy_images(1, 16)[0], max_evals=20)
        >>> e.attribution.shape, e.settings["max_evals"]
        ((16, 16), 20)
    """
    import shap

    _cache_shap_jit()
    cfg = cfg or current()
    img = check_image(image)
    t0 = time.perf_counter()
    target = predicted_class(model, img, target)
    n = int(max_evals if max_evals is not None else cfg.shap_evals)
    if mask_value is None:
        k = max(3, img.shape[0] // 4)
        mask_value = f"blur({k},{k})"
    masker = shap.maskers.Image(mask_value, shape=img.shape)
    output = choose_output(model, img, target, output)
    seen: list[np.ndarray] = []  # every answer about target, to tell a flat run
    explainer = shap.Explainer(
        recording(predict_function(model, batch_size, output=output), target, seen), masker)
    # shap draws its own tqdm bar once a run passes 10 s; the course's switch governs it.
    result = explainer(img[None], max_evals=n, batch_size=batch_size, outputs=[target],
                       silent=not progress.enabled())
    values = normalise_shap_values(result, 0, sample_ndim=3)[0]
    attribution = values.sum(axis=-1).astype("float32")
    p_range = answer_range("shap_partition", seen, target, output)
    seconds = time.perf_counter() - t0
    settings = {"max_evals": n, "mask_value": mask_value, "batch_size": batch_size,
                "output": output}
    return Explanation("shap_partition", attribution, target, seconds, settings,
                       {"p_range": p_range})


@functools.cache
def _cache_shap_jit() -> None:
    """Let numba cache the compiled code of shap's image masker between sessions (once a session).

    shap's Partition explainer compiles several numba functions on first use
    (tens of seconds on a busy two-core machine).  The ones that are safe to
    cache (plain, non-recursive, no function arguments) are cached on disk, as
    ``@njit(cache=True)`` would; the rest are compiled once per session.
    """
    # shap declares these two without cache=True, and offers no public switch: reach them by
    # their private names, and compile as usual where a shap version lacks them.
    try:
        from shap.maskers import _image
        from shap.utils import _masked_model

        for fn in (_image._jit_build_partition_tree, _masked_model._init_masks):
            fn.enable_caching()
    except Exception:  # a shap without these functions, or a read-only install: compile as usual
        pass
