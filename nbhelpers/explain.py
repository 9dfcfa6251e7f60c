"""LIME, SHAP and Grad-CAM behind one interface, with sanity and faithfulness checks.

Taught in ``08_explaining_with_lime`` (LIME) and ``09_explaining_with_shap``
(SHAP, Grad-CAM, the checks).  Every method answers the same question -- *which
pixels made the model give class ``target`` to this image?* -- and returns the
same thing, an :class:`Explanation` whose ``attribution`` is an ``(H, W)`` map of
the image's size::

    exp = nbh.explain.explain("lime", model, image, cfg=cfg)
    exp.attribution.shape == image.shape[:2]; exp.seconds; exp.settings

=================  =====================================================  ==========
method             what it does                                           cost
=================  =====================================================  ==========
``lime``           perturbs superpixels, fits a weighted linear model     ``cfg.lime_samples`` forward passes
``shap_gradient``  expected gradients (SHAP's GradientExplainer) on an    ``nsamples`` gradients of the top
                   intermediate layer, mapped back to the image size      of the network
``shap_partition`` Owen values over a hierarchy of image regions          ``cfg.shap_evals`` forward passes
                   (``shap.Explainer`` with ``shap.maskers.Image``)
``gradcam``        gradient-weighted class activation map of the last     one forward and backward pass
                   convolutional layer (``tf.GradientTape``)
=================  =====================================================  ==========

Models are Keras models whose input is the raw image (float32 RGB in
``[0, 255]``) and whose output is either ``(N, 1)`` = P(class 1) (a sigmoid) or
``(N, C)`` class probabilities (a softmax).  Predictions follow the one
convention of :mod:`nbhelpers.evaluate`: ``(N, C)`` class probabilities,
``C >= 2``, two classes included (the same converter).  The methods that
*differentiate* (Grad-CAM, the GradientExplainer) differentiate the class
**score** before the sigmoid/softmax, read from the model's ``"logits"`` layer
(see :func:`nbhelpers.evaluate.logits_model`): a saturated probability has no
gradient.  The methods that only *query* the model (LIME, the Partition
explainer, deletion/insertion) explain the class probability.

Checks that an explanation means something:

* :func:`cascading_randomisation` -- the model-parameter randomisation test of
  Adebayo et al. (2018, "Sanity checks for saliency maps"): re-initialise the
  top layer, then more and more layers, and measure by Spearman rank
  correlation how much each explanation changes.  An explanation that does not
  change when the model is destroyed does not explain the model.
* :func:`deletion_insertion` -- the faithfulness curves of Petsiuk et al.
  (2018, RISE): delete (or insert) the pixels the explanation ranks highest and
  watch the class probability fall (or rise); the areas under the curves
  summarise them.

shap's ``DeepExplainer`` is deliberately not used: when it fails on a model it
cannot handle it leaves TensorFlow's gradient registry patched, which breaks
every later gradient in the same Python process.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import progress
from .config import INFERENCE_BATCH_SIZE, Config, current
from .predictions import class_log_odds, logits_output, predict_function

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras
    import pandas as pd

__all__ = [
    "METHODS",
    "Explanation",
    "explain",
    "explain_many",
    "explain_lime",
    "explain_shap_gradient",
    "explain_shap_partition",
    "explain_gradcam",
    "predict_function",
    "class_log_odds",
    "choose_output",
    "hidden_probes",
    "SURE_LOG_ODDS",
    "segment",
    "normalise_shap_values",
    "gradient_shap_values",
    "SHAP_SAMPLES_AT_ONCE",
    "choose_background",
    "default_layers",
    "settings_table",
    "timing_table",
    "rank_correlation",
    "randomised_copy",
    "randomisation_groups",
    "cascading_randomisation",
    "deletion_insertion",
    "faithfulness_table",
    "left_half_model",
    "toy_images",
]

#: The methods :func:`explain` knows, in the order notebooks show them.
METHODS: tuple[str, ...] = ("lime", "shap_gradient", "shap_partition", "gradcam")


@dataclass
class Explanation:
    """One explanation of one image for one class.

    ``attribution`` is ``(H, W)`` float32, the size of the image: positive
    values speak for ``target``, negative against it (Grad-CAM is never
    negative).  ``settings`` holds what was used (samples, segmentation, layer,
    ...), ``seconds`` the wall time, ``extras`` method-specific arrays such as
    LIME's ``segments``.

    Example:
        >>> e = Explanation("gradcam", np.ones((4, 4), "float32"), target=1, seconds=0.1)
        >>> e.attribution.shape, float(e.scaled().max())
        ((4, 4), 1.0)
    """

    method: str
    attribution: np.ndarray
    target: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def scaled(self) -> np.ndarray:
        """The attribution divided by its largest absolute value (so in [-1, 1])."""
        a = np.asarray(self.attribution, dtype="float32")
        m = float(np.abs(a).max(initial=0.0))
        return a / m if m > 0 else a

    def __repr__(self) -> str:
        return (f"Explanation(method={self.method!r}, target={self.target}, "
                f"attribution={self.attribution.shape}, seconds={self.seconds:.3f})")


# --------------------------------------------------------------------------- predictions


#: A class's log-odds beyond which ``output="auto"`` explains the log-odds, not the
#: probability: 4.6 is P above 0.99 (or below 0.01), where the sigmoid flattens.  There a
#: big change of the model's score moves the probability by little (log-odds 5 -> 10:
#: P 0.9933 -> 0.99995) or -- exactly 1.0 in float32 beyond about 17 -- not at all, so a
#: linear model of the probability (LIME) fits the bend, or rounding noise, instead of
#: what the model does.  Measured on ``left_half_model(160)``, whose perturbed answers
#: reach P 0.9999: LIME of the probability put 50 % of its map on the half the model
#: never sees, LIME of the log-odds 83 % on the half it does (tests/test_explain.py).
SURE_LOG_ODDS = 4.6


def choose_output(model: keras.Model, image: np.ndarray, target: int,
                  output: str = "auto", probes: np.ndarray | None = None) -> str:
    """What a perturbation method explains: ``"probability"`` or ``"log_odds"``.

    ``"auto"``: the probability, unless the model's answer about ``target`` lies
    in the flat ends of the sigmoid (``|log-odds| > SURE_LOG_ODDS``: P above 0.99
    or below 0.01) on the image or on any of ``probes`` -- copies of the image
    with parts hidden as the method will hide them (:func:`hidden_probes`), since
    an image the model is unsure of can still be pushed into the flat ends by the
    perturbations.  Then the log-odds, which keep moving.  ``"probability"`` and
    ``"log_odds"`` are returned as they are.
    Reached through the helpers that notebooks 08 and 09 call.

    Example:
        >>> m = left_half_model(16); x = toy_images(1, 16)[0]
        >>> choose_output(m, x, 1), choose_output(m, x, 1, "log_odds")
        ('probability', 'log_odds')
    """
    if output in ("probability", "log_odds"):
        return output
    if output != "auto":
        raise ValueError(f"output must be 'auto', 'probability' or 'log_odds', not {output!r}")
    batch = _check_image(image)[None]
    if probes is not None and len(probes):
        batch = np.concatenate([batch, np.asarray(probes, dtype="float32")])
    lo = predict_function(model, output="log_odds")(batch)[:, int(target)]
    return "log_odds" if float(np.abs(lo).max()) > SURE_LOG_ODDS else "probability"


def hidden_probes(image: np.ndarray, segments: np.ndarray, n: int = 16, seed: int = 0,
                  hide_color: float | None = None) -> np.ndarray:
    """``n`` copies of ``image`` with a random half of its ``segments`` hidden, ``(n, H, W, 3)``.

    Hidden as LIME hides them: each segment filled with its own mean colour
    (``hide_color=None``) or with ``hide_color``.  :func:`choose_output` looks at the
    model's answers on them before a perturbation method runs.

    Example:
        >>> x = toy_images(1, 16)[0]; seg = segment(x, "slic", n_segments=4)
        >>> p = hidden_probes(x, seg, n=3); p.shape, bool((p[0] != x).any())
        ((3, 16, 16, 3), True)
    """
    img = _check_image(image)
    fill = np.empty_like(img)
    for s in np.unique(segments):
        region = segments == s
        fill[region] = img[region].mean(axis=0) if hide_color is None else hide_color
    shown = np.random.default_rng([seed, 2]).integers(0, 2, (n, int(segments.max()) + 1))
    return np.stack([np.where(keep.astype(bool)[segments][..., None], img, fill)
                     for keep in shown]).astype("float32")


def _quantity(output: str, target: int) -> str:
    return f"P(class {target})" if output == "probability" else f"the log-odds of class {target}"


def _target(model: keras.Model, image: np.ndarray, target: int | None) -> int:
    if target is not None:
        return int(target)
    return int(np.argmax(predict_function(model)(image[None])[0]))


def _class_score(logits: Any, target: int) -> Any:
    """The score of class ``target`` from a batch of logits: what gradients are taken of.

    Softmax logits ``(N, C)``: the logit of the class, ``z[:, target]`` (Grad-CAM's
    ``y^c``, taken before the softmax).  One sigmoid unit ``(N, 1)``: ``z`` is the
    log-odds of class 1, ``log P(1) / P(0)``, so the score of class 1 is ``+z`` and the
    score of class 0 is ``-z`` (its log-odds, ``log P(0) / P(1)``).
    """
    if logits.shape[-1] == 1:
        if int(target) not in (0, 1):
            raise ValueError(f"a one-unit sigmoid model has classes 0 and 1, not {target}")
        return logits[:, 0] if int(target) == 1 else -logits[:, 0]
    if not 0 <= int(target) < logits.shape[-1]:
        raise ValueError(f"target {target} is not a class of a {logits.shape[-1]}-class model")
    return logits[:, int(target)]


#: Answers of the model that vary by no more than this many float32 rounding steps (of
#: their size) are *flat*: a saturated probability (exactly 1.0 in float32 for a logit
#: above about 17, where one step is 6e-8) that hiding parts of the image does not move,
#: so methods that only query the model see nothing to explain.  Near 0 the steps are
#: tiny, so probabilities of 1e-7 that move by 1e-7 still count as moving.
FLAT_STEPS = 16


def _is_flat(values: np.ndarray) -> bool:
    """True when ``values`` vary by no more than :data:`FLAT_STEPS` float32 steps."""
    v = np.asarray(values, dtype="float64")
    lo, hi = float(v.min()), float(v.max())
    return hi - lo <= FLAT_STEPS * float(np.spacing(np.float32(max(abs(lo), abs(hi)))))


def _recording(predict: Callable[[np.ndarray], np.ndarray], target: int,
               seen: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``predict``, keeping P(``target``) of every image it is asked about in ``seen``."""

    def f(images: np.ndarray) -> np.ndarray:
        p = predict(images)
        seen.append(np.asarray(p)[:, target])
        return p

    return f


def _answer_range(method: str, seen: list[np.ndarray], target: int,
                  output: str = "probability") -> tuple[float, float]:
    """(lowest, highest) answer about ``target`` the model gave; warns when they are flat."""
    p = np.concatenate(seen) if seen else np.zeros(0)
    if not len(p):
        return float("nan"), float("nan")
    lo, hi = float(p.min()), float(p.max())
    if _is_flat(p):
        cure = ("Pass output='log_odds' (or 'auto'), which does not saturate, or use 'gradcam' "
                "and 'shap_gradient'" if output == "probability" else
                "the model ignores what was hidden")
        warnings.warn(
            f"{method}: {_quantity(output, target)} was {hi:.7g} on all {len(p)} images it asked "
            f"the model about (it moved by {hi - lo:.1g}): hiding parts of the image did not "
            f"change it, and the map is empty (zero, or rounding noise). {cure}.",
            stacklevel=3)
    return lo, hi


def _check_image(image: Any) -> np.ndarray:
    img = np.asarray(image, dtype="float32")
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"explain wants one RGB image of shape (H, W, 3); got {img.shape}")
    return img


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``shape`` (a layer's grid -> image pixels)."""
    import tensorflow as tf

    a = np.asarray(a, dtype="float32")
    if a.shape == tuple(shape):
        return a
    r = tf.image.resize(a[None, :, :, None], shape, method="bilinear")
    return np.asarray(r)[0, :, :, 0].astype("float32")


# --------------------------------------------------------------------------- layers


def default_layers(model: keras.Model) -> dict[str, str]:
    """The layers the methods use by default: ``gradcam`` and ``shap_gradient``.

    For a model built on a backbone of ``nbh.models.BACKBONES``, the table's
    layers (:func:`nbhelpers.models.explained_layers`): Grad-CAM the last feature
    map (``block5_conv3`` in VGG16, ``conv5_block3_out`` in ResNet50), the
    GradientExplainer a block output one stage earlier (``block4_conv3`` in VGG16,
    as in SHAP's VGG16 example: fine enough to localise, deep enough to be
    semantic).  For any other model (the toy models), its last ``Conv2D`` and the
    one before.

    Example:
        >>> default_layers(left_half_model(16))
        {'gradcam': 'conv2', 'shap_gradient': 'conv1'}
    """
    import keras

    from . import models

    table = models.explained_layers(model)
    if table is not None:
        return table
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError("the model has no Conv2D layer to explain; pass layer=...")
    return {"gradcam": convs[-1], "shap_gradient": convs[-2] if len(convs) > 1 else convs[-1]}


# --------------------------------------------------------------------------- LIME

_SEGMENTATION_DEFAULTS: dict[str, dict[str, Any]] = {
    # Sizes for a 224-px image; scaled with the image in segment().
    "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2},
    "slic": {"n_segments": 50, "compactness": 30.0, "start_label": 0},
    "felzenszwalb": {"scale": 100, "sigma": 0.5, "min_size": 50},
}


def _segmentation_params(method: str, size: int, **kw: Any) -> dict[str, Any]:
    if method not in _SEGMENTATION_DEFAULTS:
        raise ValueError(f"unknown segmentation {method!r}; choose one of {sorted(_SEGMENTATION_DEFAULTS)}")
    params = dict(_SEGMENTATION_DEFAULTS[method])
    f = size / 224.0
    if method == "quickshift":
        params["kernel_size"] = max(1.0, round(4 * f, 1))
        params["max_dist"] = max(4.0, 200 * f)
    elif method == "felzenszwalb":
        params["scale"] = max(10.0, 100 * f)
        params["min_size"] = max(4, int(50 * f * f))
    params.update(kw)
    return params


def segment(image: np.ndarray, method: str = "quickshift", seed: int = 0, **kw: Any) -> np.ndarray:
    """Superpixels of ``image``: an ``(H, W)`` int array of labels 0..n-1.

    ``method`` is scikit-image's ``quickshift`` (LIME's default), ``slic`` or
    ``felzenszwalb``; their size parameters are scaled to the image's size
    (defaults are for 224 px), ``kw`` overrides them.  Labels are renumbered
    0..n-1, which LIME relies on (``slic`` starts at 1 unless told otherwise).
    Taught in ``08_explaining_with_lime``.

    Example:
        >>> seg = segment(toy_images(1, 32)[0], "slic", n_segments=8)
        >>> seg.shape, int(seg.min()), int(seg.max()) == len(np.unique(seg)) - 1
        ((32, 32), 0, True)
    """
    from skimage import segmentation as sk

    img = np.asarray(image, dtype="float64")
    if img.max(initial=0) > 1.0:
        img = img / 255.0
    params = _segmentation_params(method, img.shape[0], **kw)
    if method == "quickshift":
        seg = sk.quickshift(img, rng=seed, **params)
    elif method == "slic":
        seg = sk.slic(img, **params)
    else:
        seg = sk.felzenszwalb(img, **params)
    return np.unique(seg, return_inverse=True)[1].reshape(seg.shape).astype("int64")


@contextlib.contextmanager
def _no_lime_progress_bar(lime_image: Any) -> Iterator[None]:
    """Silence lime's per-sample tqdm bar (an empty "0%" line in every notebook cell)."""
    original = lime_image.tqdm
    lime_image.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        lime_image.tqdm = original


def explain_lime(
    model: keras.Model,
    image: np.ndarray,
    target: int | None = None,
    cfg: Config | None = None,
    *,
    num_samples: int | None = None,
    segmentation: str = "quickshift",
    segmentation_kw: dict[str, Any] | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    predict_batch: int = INFERENCE_BATCH_SIZE,
    hide_color: float | None = None,
    output: str = "auto",
) -> Explanation:
    """LIME: turn superpixels off at random, fit a weighted linear model to the answers.

    ``num_samples`` defaults to ``cfg.lime_samples``.  ``batch_size`` is how
    many perturbed images LIME hands the predict function at once: by default
    all of them, which the predict function runs in chunks of ``predict_batch``
    (lime's own default is 10 per call: where each call has a fixed cost -- a
    GPU, ``model.predict`` -- that is slower; on a CPU, where the model's
    arithmetic dominates, the two are close; ``benchmarks/bench_lime.py``
    measures it).  ``seed`` (default ``cfg.seed``) fixes the
    perturbations, so the same call gives the same explanation.  The
    attribution of a pixel is its superpixel's weight; ``extras`` holds the
    ``segments``, the ``weights`` per segment, the ``score`` (R^2 of the local
    linear model), ``p_range`` (the lowest and highest answer about ``target``
    over the samples) and lime's own ``lime_explanation``.  ``output`` is what is
    explained (:func:`choose_output`; ``settings["output"]`` records it): by default
    the probability, or the class's log-odds when the model's answer on the image or
    on 16 probe copies with superpixels hidden (:func:`hidden_probes`) is beyond P
    0.99, where the sigmoid flattens and a linear model of the probability fits the
    bend -- P is exactly 1.0 in float32 beyond a log-odds of about 17, where every
    weight would be zero.  If the answers still do not move it warns, and ``score`` is
    NaN (scikit-learn would report a perfect R^2 of 1.0 for fitting a constant).
    Reached through the helpers that notebook 08 calls.

    Example:
        >>> e = explain_lime(left_half_model(16), toy_images(1, 16)[0], num_samples=20,
        ...                  segmentation="slic", segmentation_kw={"n_segments": 4})
        >>> e.attribution.shape, e.settings["num_samples"]
        ((16, 16), 20)
    """
    from lime import lime_image

    cfg = cfg or current()
    img = _check_image(image)
    t0 = time.perf_counter()
    target = _target(model, img, target)
    n = int(num_samples if num_samples is not None else cfg.lime_samples)
    seed = int(cfg.seed if seed is None else seed)
    seg_kw = dict(segmentation_kw or {})
    segments = segment(img, segmentation, seed=seed, **seg_kw)
    output = choose_output(model, img, target, output,
                           probes=hidden_probes(img, segments, seed=seed, hide_color=hide_color))
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    seen: list[np.ndarray] = []
    with _no_lime_progress_bar(lime_image):
        result = explainer.explain_instance(
            img / 255.0,
            _recording(predict_function(model, predict_batch, scale=255.0, output=output), target,
                       seen),
            labels=(target,),
            top_labels=None,
            hide_color=hide_color,
            num_samples=n,
            batch_size=int(batch_size or n),
            segmentation_fn=lambda _x: segments,
            random_seed=seed,
        )
    weights = dict(result.local_exp[target])
    table = np.zeros(int(segments.max()) + 1, dtype="float32")
    for s, w in weights.items():
        table[int(s)] = w
    attribution = table[segments]
    p_range = _answer_range("lime", seen, target, output)
    flat = _is_flat(np.asarray(p_range))
    seconds = time.perf_counter() - t0
    settings = {
        "num_samples": n,
        "segmentation": segmentation,
        "segments": int(segments.max()) + 1,
        "segmentation_params": _segmentation_params(segmentation, img.shape[0], **seg_kw),
        "batch_size": int(batch_size or n),
        "hide_color": "segment mean" if hide_color is None else hide_color,
        "seed": seed,
        "output": output,
    }
    extras = {"segments": segments, "weights": table,
              "score": float("nan") if flat else float(result.score), "p_range": p_range,
              "lime_explanation": result}
    return Explanation("lime", attribution, target, seconds, settings, extras)


# --------------------------------------------------------------------------- SHAP


#: Samples SHAP's GradientExplainer is asked for at once (:func:`gradient_shap_values`).  It
#: keeps every sample of the explained layer in memory about seven times over (the points
#: between background and image, their differences, the gradients in batches and joined, their
#: products, the variance's temporaries): 200 samples of ``block4_conv3`` (20 x 20 x 512 at
#: 160 px) raised notebook 09's peak by 1083 MiB, over Binder's 2 GB.  50 at a time: a quarter.
SHAP_SAMPLES_AT_ONCE = 50


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
    balanced over the classes when ``labels`` are given.
    Taught in ``09_explaining_with_shap``.

    Example:
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
        labels = np.asarray(labels)
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
        idx = np.array(idx_list)
    return images[np.sort(idx)]


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage

    return ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0)).astype("float32")


def _select_output_model(model: keras.Model, layer: str, target: int) -> tuple[Any, Any]:
    """(input -> layer) and (layer -> score of class ``target``) models of a flat functional model.

    The score is taken before the sigmoid/softmax (see :func:`_class_score`).
    """
    import keras

    tensor = model.get_layer(layer).output
    feature_model = keras.Model(model.input, tensor)
    logits = logits_output(model)
    head = keras.Model(tensor, logits)
    _class_score(np.zeros((1, logits.shape[-1])), target)  # a clear error for a bad target
    features = keras.Input(shape=tuple(tensor.shape[1:]))
    out = _ClassScore(target, logits.shape[-1] == 1, name="class_score")(head(features))
    return feature_model, keras.Model(features, out)


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

    What is explained is the class **score** before the sigmoid/softmax (the logit;
    ``+z``/``-z`` for one sigmoid unit, as in :func:`explain_gradcam`), so the
    attributions add up to about ``score(image) - mean score(background)``, in
    log-odds, and a saturated probability does not flatten them.
    As in SHAP's VGG16 example, the explanation is of the *layer's* features
    (``block4_conv3`` by default, see :func:`default_layers`), computed on a
    model from that layer to the output; the layer's attribution is summed over
    channels and resized to the image.  Written for TF 2 / Keras 3: the two
    halves are sub-models of the flat classifier (``keras.Model(layer.output,
    model.output)``).  ``background``: training images (see
    :func:`choose_background`); without it, two blurred copies of the image and a
    grey one are used, and ``settings`` says so.  ``nsamples`` defaults to
    ``cfg.shap_evals``.  ``extras["layer_attribution"]`` is the map before resizing.
    Reached through the helpers that notebook 09 calls.

    Example:
        >>> e = explain_shap_gradient(left_half_model(16), toy_images(1, 16)[0], nsamples=8,
        ...                           background=toy_images(2, 16, seed=1))
        >>> e.attribution.shape, e.settings["layer"]
        ((16, 16), 'conv1')
    """
    import shap
    import tensorflow as tf

    cfg = cfg or current()
    img = _check_image(image)
    t0 = time.perf_counter()
    target = _target(model, img, target)
    layer = layer or default_layers(model)["shap_gradient"]
    n = int(nsamples if nsamples is not None else cfg.shap_evals)
    seed = int(cfg.seed if seed is None else seed)
    if background is None:
        size = img.shape[0]
        background = np.stack([_blurred(img, size / 8), _blurred(img, size / 4),
                               np.full_like(img, 127.5)])
        bg_note = "blurred copies of the image + grey (pass background= from the training set)"
    else:
        background = np.asarray(background, dtype="float32")
        bg_note = f"{len(background)} images given"
    feature_model, class_model = _select_output_model(model, layer, target)
    from . import models

    to_layer = models.forward(feature_model)  # compiled: a direct call keeps every output
    bg_features, x_features = np.asarray(to_layer(background)), np.asarray(to_layer(img[None]))
    explainer = shap.GradientExplainer(class_model, bg_features, batch_size=batch_size)
    tf_logger = tf.get_logger()
    level = tf_logger.level
    try:
        tf_logger.setLevel("ERROR")  # shap builds a new tf.function per explainer: retracing notes
        with warnings.catch_warnings():
            # shap hands the model a one-element list; Keras 3 warns and unwraps it.
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            values = gradient_shap_values(explainer, x_features, n, seed)
    finally:
        tf_logger.setLevel(level)
    per_feature = normalise_shap_values(values, 0, sample_ndim=x_features.ndim - 1)[0]
    layer_map = per_feature.sum(axis=-1).astype("float32")
    attribution = _resize(layer_map, img.shape[:2])
    seconds = time.perf_counter() - t0
    settings = {"layer": layer, "layer_grid": tuple(layer_map.shape), "nsamples": n,
                "background": bg_note, "background_size": int(len(background)), "seed": seed,
                "score": "logit"}
    return Explanation("shap_gradient", attribution, target, seconds, settings,
                       {"layer_attribution": layer_map})


_JIT_CACHED = False


def _cache_shap_jit() -> None:
    """Let numba cache the compiled code of shap's image masker between sessions.

    shap's Partition explainer compiles several numba functions on first use
    (tens of seconds on a busy two-core machine).  The ones that are safe to
    cache (plain, non-recursive, no function arguments) are cached on disk, as
    ``@njit(cache=True)`` would; the rest are compiled once per session.
    """
    global _JIT_CACHED
    if _JIT_CACHED:
        return
    _JIT_CACHED = True
    try:
        from shap.maskers import _image
        from shap.utils import _masked_model

        for fn in (_image._jit_build_partition_tree, _masked_model._init_masks):
            fn.enable_caching()
    except Exception:  # a shap without these functions, or a read-only install: compile as usual
        pass


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

    The masker splits the image into a hierarchy of rectangles; hidden regions
    are replaced by ``mask_value`` (default a box blur of a quarter of the
    image's size, ``"blur(k,k)"``; ``"inpaint_telea"`` or a number also work).
    ``max_evals`` (default ``cfg.shap_evals``) is the budget of model calls:
    more evaluations, finer regions.  Deterministic.  ``output`` is what is
    explained, as for :func:`explain_lime`: the probability, or the log-odds when
    the model is sure (``settings["output"]``); when hiding regions never moves it
    the map is zero and it warns; ``extras["p_range"]`` holds the lowest and
    highest answer it saw.
    Reached through the helpers that notebook 09 calls.

    Example:
        >>> e = explain_shap_partition(left_half_model(16), toy_images(1, 16)[0], max_evals=20)
        >>> e.attribution.shape, e.settings["max_evals"]
        ((16, 16), 20)
    """
    import shap

    _cache_shap_jit()
    cfg = cfg or current()
    img = _check_image(image)
    t0 = time.perf_counter()
    target = _target(model, img, target)
    n = int(max_evals if max_evals is not None else cfg.shap_evals)
    if mask_value is None:
        k = max(3, img.shape[0] // 4)
        mask_value = f"blur({k},{k})"
    masker = shap.maskers.Image(mask_value, shape=img.shape)
    output = choose_output(model, img, target, output)
    seen: list[np.ndarray] = []
    explainer = shap.Explainer(
        _recording(predict_function(model, batch_size, output=output), target, seen), masker)
    # shap draws its own tqdm bar once a run passes 10 s; the course's switch governs it.
    result = explainer(img[None], max_evals=n, batch_size=batch_size, outputs=[target],
                       silent=not progress.enabled())
    values = normalise_shap_values(result, 0, sample_ndim=3)[0]
    attribution = values.sum(axis=-1).astype("float32")
    p_range = _answer_range("shap_partition", seen, target, output)
    seconds = time.perf_counter() - t0
    settings = {"max_evals": n, "mask_value": mask_value, "batch_size": batch_size,
                "output": output}
    return Explanation("shap_partition", attribution, target, seconds, settings,
                       {"p_range": p_range})


# --------------------------------------------------------------------------- Grad-CAM


def explain_gradcam(
    model: keras.Model,
    image: np.ndarray,
    target: int | None = None,
    cfg: Config | None = None,
    *,
    layer: str | None = None,
) -> Explanation:
    """Grad-CAM (Selvaraju et al., 2017) on the last convolutional layer.

    The gradient of the class **score** with respect to the layer's feature
    maps, averaged over the grid, weights each map; their weighted sum, through
    a ReLU, is resized to the image.  One forward and one backward pass with
    ``tf.GradientTape``.  ``extras["layer_map"]`` is the map on the layer's grid.

    The score is taken *before* the sigmoid/softmax, as in the paper, from the
    model's ``"logits"`` layer (or its last Dense without its activation, see
    :func:`nbhelpers.evaluate.logits_model`): for a softmax the logit of the
    class; for one sigmoid unit ``+z`` for class 1 and ``-z`` for class 0,
    because ``z = log P(1) / P(0)`` is the log-odds of class 1 and ``-z`` those of
    class 0.  Why not the probability: ``dP/dA = sigmoid'(z) dz/dA``, and for a
    confident prediction (``|z|`` above about 17, normal with ImageNet features)
    ``sigmoid(z)`` is exactly 1.0 in float32, ``sigmoid'(z)`` is 0 and the map is
    empty.  (For one sigmoid unit the two give the same map up to the positive
    factor ``sigmoid'(z)`` wherever that factor is not lost to rounding.)
    Reached through the helpers that notebook 09 calls.

    Example:
        >>> e = explain_gradcam(left_half_model(16), toy_images(1, 16)[0])
        >>> e.attribution.shape, bool(e.attribution.min() >= 0), e.settings["score"]
        ((16, 16), True, 'logit')
    """
    import keras
    import tensorflow as tf

    img = _check_image(image)
    t0 = time.perf_counter()
    target = _target(model, img, target)
    layer = layer or default_layers(model)["gradcam"]
    grad_model = keras.Model(model.input, [model.get_layer(layer).output, logits_output(model)])
    x = tf.convert_to_tensor(img[None])
    with tf.GradientTape() as tape:
        maps, logits = grad_model(x, training=False)
        score = _class_score(logits, target)
    grads = tape.gradient(score, maps)
    weights = tf.reduce_mean(grads, axis=(1, 2))  # one weight per feature map
    cam = tf.nn.relu(tf.reduce_sum(maps * weights[:, None, None, :], axis=-1))[0]
    layer_map = np.asarray(cam, dtype="float32")
    attribution = _resize(layer_map, img.shape[:2])
    seconds = time.perf_counter() - t0
    settings = {"layer": layer, "layer_grid": tuple(layer_map.shape), "score": "logit"}
    return Explanation("gradcam", attribution, target, seconds, settings, {"layer_map": layer_map})


# --------------------------------------------------------------------------- one interface

_DISPATCH: dict[str, Callable[..., Explanation]] = {
    "lime": explain_lime,
    "shap_gradient": explain_shap_gradient,
    "shap_partition": explain_shap_partition,
    "gradcam": explain_gradcam,
}


def explain(
    method: str,
    model: keras.Model,
    image: np.ndarray,
    target: int | None = None,
    cfg: Config | None = None,
    **kw: Any,
) -> Explanation:
    """Explain why ``model`` gives ``image`` class ``target`` (default: its predicted class).

    ``method`` is one of :data:`METHODS`; ``kw`` go to the method
    (``explain_lime``, ``explain_shap_gradient``, ``explain_shap_partition``,
    ``explain_gradcam``).  ``image`` is ``(H, W, 3)`` float32 in [0, 255]; the
    result's ``attribution`` is ``(H, W)``.  Taught in notebooks 08 and 09.

    Example:
        >>> e = explain("gradcam", left_half_model(16), toy_images(1, 16)[0])
        >>> e.method, e.attribution.shape, e.attribution.dtype
        ('gradcam', (16, 16), dtype('float32'))
    """
    if method not in _DISPATCH:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    t0 = time.perf_counter()
    exp = _DISPATCH[method](model, image, target, cfg, **kw)
    exp.attribution = np.asarray(exp.attribution, dtype="float32")
    exp.seconds = time.perf_counter() - t0
    if exp.attribution.shape != np.asarray(image).shape[:2]:  # pragma: no cover - a bug if it happens
        raise AssertionError(f"{method} gave {exp.attribution.shape}, not the image's size")
    return exp


def explain_many(
    model: keras.Model,
    images: np.ndarray,
    methods: Sequence[str] = METHODS,
    targets: Sequence[int | None] | None = None,
    cfg: Config | None = None,
    method_kw: dict[str, dict[str, Any]] | None = None,
) -> dict[str, list[Explanation]]:
    """Every method on every image: ``{method: [Explanation per image]}``.

    ``method_kw`` gives per-method options, e.g.
    ``{"shap_gradient": {"background": bg}, "lime": {"segmentation": "slic"}}``.
    Taught in ``09_explaining_with_shap`` (the side-by-side figure).

    Example:
        >>> out = explain_many(left_half_model(16), toy_images(2, 16), methods=["gradcam"])
        >>> [e.attribution.shape for e in out["gradcam"]]
        [(16, 16), (16, 16)]
    """
    method_kw = method_kw or {}
    targets = list(targets) if targets is not None else [None] * len(images)
    return {m: [explain(m, model, img, t, cfg, **method_kw.get(m, {}))
                for img, t in zip(images, targets, strict=True)]
            for m in methods}


def settings_table(cfg: Config | None = None) -> pd.DataFrame:
    """The profile's explanation budget, to show on screen before explaining.

    Example:
        >>> from nbhelpers.config import make_config; cfg = make_config("offline")
        >>> settings_table(cfg).set_index("setting").loc["LIME samples per image", "value"] == cfg.lime_samples
        True
    """
    import pandas as pd

    cfg = cfg or current()
    rows = [
        ("profile", cfg.name),
        ("image size (px)", cfg.image_size),
        ("LIME samples per image", cfg.lime_samples),
        ("SHAP evaluations per image (both explainers)", cfg.shap_evals),
        ("SHAP background images (GradientExplainer)", cfg.shap_background),
        ("images explained side by side", cfg.explain_images),
    ]
    return pd.DataFrame(rows, columns=["setting", "value"])


def timing_table(explanations: dict[str, list[Explanation]] | Iterable[Explanation]) -> pd.DataFrame:
    """Wall time per method: mean and total seconds, and the settings used.

    Example:
        >>> e = [Explanation("lime", np.zeros((2, 2)), 0, 1.0, {"num_samples": 5})] * 2
        >>> timing_table(e)[["method", "images", "mean_s"]].to_dict("records")
        [{'method': 'lime', 'images': 2, 'mean_s': 1.0}]
    """
    import pandas as pd

    if isinstance(explanations, dict):
        flat = [e for es in explanations.values() for e in es]
    else:
        flat = list(explanations)
    rows: dict[str, dict[str, Any]] = {}
    for e in flat:
        r = rows.setdefault(e.method, {"method": e.method, "images": 0, "total_s": 0.0,
                                       "settings": _short_settings(e.settings)})
        r["images"] += 1
        r["total_s"] += e.seconds
    table = pd.DataFrame(list(rows.values()), columns=["method", "images", "total_s", "settings"])
    table.insert(2, "mean_s", (table["total_s"] / table["images"]).round(3))
    table["total_s"] = table["total_s"].round(3)
    return table


def _short_settings(settings: dict[str, Any]) -> str:
    keep = ("num_samples", "segmentation", "segments", "nsamples", "background_size",
            "max_evals", "mask_value", "layer")
    return ", ".join(f"{k}={settings[k]}" for k in keep if k in settings)


# --------------------------------------------------------------------------- sanity checks


def rank_correlation(a: np.ndarray, b: np.ndarray, absolute: bool = False) -> float:
    """Spearman rank correlation of two attribution maps (flattened).

    ``absolute=True`` compares magnitudes only (Adebayo et al. report both,
    since a sign flip alone would otherwise look like a total change).  A
    constant map (an empty one: LIME or the Partition explainer of a saturated
    probability) carries no ranking, so the correlation is undefined: NaN, not
    0, which would read as "unrelated" -- the answer a method *passes* the
    randomisation test with -- even for a map compared with itself.

    Example:
        >>> a = np.arange(16.0).reshape(4, 4)
        >>> rank_correlation(a, a ** 2), rank_correlation(a, -a), rank_correlation(a, -a, absolute=True)
        (1.0, -1.0, 1.0)
        >>> rank_correlation(np.zeros((4, 4)), np.zeros((4, 4)))
        nan
    """
    from scipy import stats

    x = np.asarray(a, dtype="float64").ravel()
    y = np.asarray(b, dtype="float64").ravel()
    if absolute:
        x, y = np.abs(x), np.abs(y)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(round(stats.spearmanr(x, y).statistic, 6))


def randomisation_groups(model: keras.Model) -> list[list[str]]:
    """Layers with weights, top first, grouped by block (``block5_*`` is one group).

    The order in which :func:`cascading_randomisation` destroys the model.

    Example:
        >>> randomisation_groups(left_half_model(16))
        [['logits'], ['conv2'], ['conv1']]
    """
    groups: list[list[str]] = []
    keys: list[str] = []
    for layer in reversed(model.layers):
        if not layer.trainable_weights and not layer.weights:
            continue
        key = layer.name.split("_")[0] if layer.name.startswith("block") else layer.name
        if keys and keys[-1] == key:
            groups[-1].append(layer.name)
        else:
            keys.append(key)
            groups.append([layer.name])
    return groups


def randomised_copy(model: keras.Model, layers: Iterable[str], seed: int = 0) -> keras.Model:
    """A copy of ``model`` whose ``layers`` have new random weights (the original is untouched).

    Each weight tensor is redrawn from a normal distribution with the original
    tensor's standard deviation (so activations keep their scale; all-zero
    biases stay zero); non-trainable statistics (batch-norm means) are kept.

    Example:
        >>> m = left_half_model(16); r = randomised_copy(m, ["logits"])
        >>> bool(np.allclose(m.get_layer("conv1").get_weights()[0], r.get_layer("conv1").get_weights()[0]))
        True
        >>> bool(np.allclose(m.get_layer("logits").get_weights()[0], r.get_layer("logits").get_weights()[0]))
        False
    """
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    for name in layers:
        layer = clone.get_layer(name)
        for var in layer.trainable_weights:
            w = np.asarray(var)
            std = float(w.std())
            var.assign(rng.normal(0.0, std, size=w.shape).astype(w.dtype) if std > 0 else w)
    return clone


def cascading_randomisation(
    model: keras.Model,
    image: np.ndarray,
    methods: Sequence[str] = METHODS,
    target: int | None = None,
    cfg: Config | None = None,
    *,
    groups: Sequence[Sequence[str]] | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    method_kw: dict[str, dict[str, Any]] | None = None,
    reference: dict[str, Explanation] | None = None,
) -> tuple[pd.DataFrame, dict[str, list[Explanation]]]:
    """Adebayo et al.'s model-parameter randomisation test, cascading from the top.

    Step 0 is the trained model; step ``k`` has the top ``k`` groups of layers
    (:func:`randomisation_groups`) re-initialised.  At each step every method
    explains the same ``image`` for the same ``target`` (the trained model's
    prediction), and the Spearman rank correlation with the step-0 map is
    recorded (signed and absolute).  A method whose maps stay highly
    correlated while the model is destroyed is showing the image, not the
    model.  Returns the table and the explanations per method and step.
    ``reference`` (``{method: Explanation}`` of this image by the trained
    model, same target) saves recomputing step 0.  A method whose step-0 map is
    constant (empty: a saturated probability, see :func:`explain_lime`) has
    nothing to compare: its correlations are NaN, and it warns.
    Taught in ``09_explaining_with_shap``.

    Example:
        >>> table, _ = cascading_randomisation(left_half_model(16), toy_images(1, 16)[0],
        ...                                    methods=["gradcam"], max_steps=1)
        >>> table[["step", "randomised"]].to_dict("records")
        [{'step': 0, 'randomised': '(none)'}, {'step': 1, 'randomised': 'logits'}]
    """
    import pandas as pd

    img = _check_image(image)
    method_kw = method_kw or {}
    target = _target(model, img, target)
    groups = [list(g) for g in (groups if groups is not None else randomisation_groups(model))]
    if max_steps is not None:
        groups = groups[:max_steps]
    rows: list[dict[str, Any]] = []
    maps: dict[str, list[Explanation]] = {m: [] for m in methods}
    done: list[str] = []
    for step in range(len(groups) + 1):
        if step == 0:
            current_model, label = model, "(none)"
        else:
            done.extend(groups[step - 1])
            current_model = randomised_copy(model, done, seed=seed + step)
            label = groups[step - 1][0] if len(groups[step - 1]) == 1 else (
                groups[step - 1][0].split("_")[0])
        for m in methods:
            if step == 0 and reference is not None and m in reference and reference[m].target == target:
                e = reference[m]
            else:
                e = explain(m, current_model, img, target, cfg, **method_kw.get(m, {}))
            maps[m].append(e)
            ref = maps[m][0].attribution
            if step == 0 and np.ptp(np.asarray(ref, dtype="float64")) == 0:
                warnings.warn(
                    f"{m}'s map of the trained model is constant ({float(np.ravel(ref)[0]):g} "
                    f"everywhere): it ranks no pixel, so the randomisation test cannot judge it; "
                    f"its correlations are NaN", stacklevel=2)
            rows.append({"method": m, "step": step, "randomised": label,
                         "layers_randomised": len(done),
                         "spearman": rank_correlation(ref, e.attribution),
                         "spearman_abs": rank_correlation(ref, e.attribution, absolute=True),
                         "seconds": round(e.seconds, 3)})
    table = pd.DataFrame(rows)
    if len(methods) == 1:
        table = table.drop(columns=["method"]).reset_index(drop=True)
    return table, maps


def deletion_insertion(
    model: keras.Model,
    image: np.ndarray,
    attribution: np.ndarray,
    target: int,
    *,
    steps: int = 20,
    baseline: str | float = "blur",
    batch_size: int = INFERENCE_BATCH_SIZE,
    score: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Deletion and insertion curves of one attribution map, and their areas.

    Pixels are ranked by attribution, highest first; pixels of equal attribution
    (Grad-CAM's zeros after its ReLU, LIME's superpixels) in a random order drawn
    from ``seed``, not top-left first.  *Deletion*: replace the
    top fraction of pixels by the baseline and record P(target) -- a faithful
    map makes it fall fast (small area).  *Insertion*: start from the baseline
    and put the top pixels back -- a faithful map makes it rise fast (large
    area).  ``baseline`` is ``"blur"`` (a strongly blurred copy, as in RISE's
    insertion), ``"mean"`` (the image's mean colour) or a grey level.  All
    ``2 * (steps + 1)`` images go through the model in batches.

    ``score="probability"`` records P(target), as RISE does.  A confident model's
    probability is exactly 1.0 in float32 for any log-odds above about 17, so its
    curves can stay flat at 1.0 whatever is deleted: every map, the random one
    included, gets the same areas, and it warns.  ``score="log_odds"`` records
    the class's log-odds instead (:func:`class_log_odds`), which keeps moving; its
    areas are in log-odds units.  ``"auto"`` (default) chooses as
    :func:`choose_output` does, from the model's answer on the whole image; the
    result's ``"score"`` says which was used.
    Reached through the helpers that notebook 09 calls.

    Example:
        >>> m = left_half_model(16); x = toy_images(1, 16)[0]
        >>> r = deletion_insertion(m, x, np.random.default_rng(0).random((16, 16)), target=1, steps=4)
        >>> r["fractions"].tolist(), sorted(k for k in r if k.endswith("auc"))
        ([0.0, 0.25, 0.5, 0.75, 1.0], ['deletion_auc', 'insertion_auc'])
    """
    img = _check_image(image)
    h, w = img.shape[:2]
    if baseline == "blur":
        base = _blurred(img, max(h, w) / 4)
    elif baseline == "mean":
        base = np.broadcast_to(img.mean(axis=(0, 1)), img.shape).astype("float32")
    else:
        base = np.full_like(img, float(baseline))
    ranks = -np.asarray(attribution, dtype="float64").ravel()
    # Its own stream: faithfulness_table's random reference draws from default_rng(seed).
    tie_break = np.random.default_rng([seed, 1]).random(ranks.size)
    order = np.lexsort((tie_break, ranks))  # by attribution, ties in a random order
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * h * w).astype(int)
    deleted, inserted = [], []
    flat_img, flat_base = img.reshape(-1, 3), base.reshape(-1, 3)
    for c in counts:
        top = order[:c]
        d = flat_img.copy()
        d[top] = flat_base[top]
        i = flat_base.copy()
        i[top] = flat_img[top]
        deleted.append(d.reshape(img.shape))
        inserted.append(i.reshape(img.shape))
    batch = np.stack(deleted + inserted)
    score = choose_output(model, img, target, score)
    values = np.asarray(predict_function(model, batch_size, output=score)(batch)[:, target],
                        dtype="float64")
    if score == "probability" and _is_flat(values):
        warnings.warn(
            f"deletion_insertion: P(class {target}) was {values.max():.7g} on all "
            f"{len(values)} images: the probability is saturated, so the curves are flat "
            f"and every map (the random one too) gets the same areas. Pass score='log_odds' "
            f"(or 'auto') to follow the class's log-odds, which do not saturate.", stacklevel=2)
    deletion, insertion = values[: steps + 1], values[steps + 1:]
    return {"fractions": fractions, "deletion": deletion, "insertion": insertion,
            "deletion_auc": float(np.trapezoid(deletion, fractions)),
            "insertion_auc": float(np.trapezoid(insertion, fractions)), "score": score}


def faithfulness_table(
    model: keras.Model,
    image: np.ndarray,
    explanations: Iterable[Explanation],
    *,
    steps: int = 20,
    baseline: str | float = "blur",
    random_reference: bool = True,
    seed: int = 0,
    score: str = "auto",
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Deletion/insertion areas per method for one image, with a random ranking for reference.

    Returns the table (``method``, ``deletion_auc`` -- lower is better,
    ``insertion_auc`` -- higher is better) and the curves per method.
    ``score``: ``"probability"``, ``"log_odds"`` or ``"auto"`` (see
    :func:`deletion_insertion`), decided once for every method and the random
    reference, so that their areas compare.
    Taught in ``09_explaining_with_shap``.

    Example:
        >>> m = left_half_model(16); x = toy_images(1, 16)[0]
        >>> table, curves = faithfulness_table(m, x, [explain("gradcam", m, x)], steps=4)
        >>> table["method"].tolist()
        ['gradcam', 'random']
    """
    import pandas as pd

    explanations = list(explanations)
    if not explanations:
        raise ValueError("faithfulness_table needs at least one explanation")
    img = _check_image(image)
    target = explanations[0].target
    score = choose_output(model, img, target, score)
    curves: dict[str, dict[str, Any]] = {}
    for e in explanations:
        curves[e.method] = deletion_insertion(model, img, e.attribution, e.target, steps=steps,
                                              baseline=baseline, score=score, seed=seed)
    if random_reference:
        noise = np.random.default_rng(seed).random(img.shape[:2])
        curves["random"] = deletion_insertion(model, img, noise, target, steps=steps,
                                              baseline=baseline, score=score)
    table = pd.DataFrame([{"method": m, "deletion_auc": round(c["deletion_auc"], 4),
                           "insertion_auc": round(c["insertion_auc"], 4)}
                          for m, c in curves.items()])
    return table, curves


# --------------------------------------------------------------------------- a model whose answer is known


def _keep_region_layer() -> type:
    import keras

    @keras.saving.register_keras_serializable(package="nbhelpers")
    class KeepRegion(keras.layers.Layer):
        """Multiplies a feature map by a fixed mask: 1 on the kept columns, 0 elsewhere."""

        def __init__(self, side: str = "left", fraction: float = 0.5, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.side, self.fraction = side, float(fraction)

        def call(self, x: Any) -> Any:
            width = x.shape[2]
            keep = int(round(width * self.fraction))
            cols = np.zeros(width, dtype="float32")
            if self.side == "left":
                cols[:keep] = 1.0
            else:
                cols[width - keep:] = 1.0
            # The mask in the layer's own dtype: float16 under mixed precision.
            return x * keras.ops.convert_to_tensor(cols.reshape(1, 1, width, 1), dtype=x.dtype)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "side": self.side, "fraction": self.fraction}

    return KeepRegion


def _class_score_layer() -> type:
    import keras

    @keras.saving.register_keras_serializable(package="nbhelpers")
    class ClassScore(keras.layers.Layer):
        """The score of class ``index`` as an ``(N, 1)`` output, from logits.

        Softmax logits: the class's logit.  One sigmoid unit (``binary``): ``+z``
        for class 1, ``-z`` for class 0 (the log-odds of each; see ``_class_score``).
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


_LAYER_CLASSES: dict[str, type] = {}


def _layer_class(name: str) -> type:
    if name not in _LAYER_CLASSES:
        _LAYER_CLASSES[name] = {"KeepRegion": _keep_region_layer,
                                "ClassScore": _class_score_layer}[name]()
    return _LAYER_CLASSES[name]


def _ClassScore(index: int, binary: bool, name: str | None = None) -> Any:  # noqa: N802 - a layer factory
    return _layer_class("ClassScore")(index, binary, name=name)


def left_half_model(image_size: int = 32, side: str = "left", seed: int = 0, classes: int = 1,
                    scale: float = 1.0) -> keras.Model:
    """A tiny CNN whose answer depends only on one half of the image (default: the left).

    Built, not trained: ``preprocess`` (scale to [0, 1]) -> ``conv1`` -> a
    fixed mask that zeroes the other half of the feature map -> ``conv2`` ->
    global average pooling -> ``logits`` (a Dense layer, scaled so that
    :func:`toy_images` get scores spread around 0) -> ``predictions`` (the
    sigmoid), the same ending as the course's classifiers.  Because we *know*
    where it looks, it is the test bench for every explanation method: a
    method that puts its attribution on the other half is wrong.  ``classes=2``
    gives a softmax output ``(N, 2)`` with the same P(class 1).  ``scale``
    multiplies the logits: ``scale=30`` makes a model as sure as a fine-tuned one
    (log-odds of tens, probabilities of exactly 0.0 or 1.0 in float32).
    Taught in ``09_explaining_with_shap`` (and used by the unit tests).

    Example:
        >>> m = left_half_model(16); f = predict_function(m)
        >>> x = toy_images(1, 16); y = x.copy(); y[..., :8, :] = 0.0   # change only the left half
        >>> [layer.name for layer in m.layers[-2:]], bool(np.allclose(f(x), f(y), atol=1e-6))
        (['logits', 'predictions'], False)
    """
    import keras

    if classes not in (1, 2):
        raise ValueError("left_half_model has 1 (sigmoid) or 2 (softmax) outputs")
    rng = np.random.default_rng(seed)
    inp = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="preprocess")(inp)
    conv1 = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")
    x = conv1(x)
    x = _layer_class("KeepRegion")(side=side, name="keep_" + side)(x)
    features = keras.layers.GlobalAveragePooling2D(name="gap")(conv2(x))
    dense = keras.layers.Dense(classes, name="logits")
    # float32 output under mixed precision too, as the course's classifiers.
    activation = keras.layers.Activation("sigmoid" if classes == 1 else "softmax",
                                         dtype="float32", name="predictions")
    model = keras.Model(inp, activation(dense(features)), name=f"{side}_half_model")
    # Zero-mean first kernels: the features respond to texture and edges, not to flat colour.
    k1 = rng.normal(0, 0.5, (3, 3, 3, 8)).astype("float32")
    k1 -= k1.mean(axis=(0, 1), keepdims=True)
    conv1.set_weights([k1, np.zeros(8, "float32")])
    conv2.set_weights([rng.normal(0, 0.3, (3, 3, 8, 8)).astype("float32"), np.zeros(8, "float32")])
    # Scale the last layer so that toy images get logits of spread ~2 around 0 (not saturated).
    f = np.asarray(keras.Model(inp, features)(toy_images(32, image_size, seed=seed + 1)))
    w = rng.normal(0, 1.0, (8, 1)).astype("float32")
    logits = f @ w
    w = w * np.float32(2.0 / (logits.std() + 1e-9))
    b = -np.float32(np.median(f @ w))
    w, b = w * np.float32(scale), b * np.float32(scale)
    if classes == 1:
        dense.set_weights([w, np.array([b], "float32")])
    else:  # softmax([-z/2, z/2]) has the same P(class 1) as sigmoid(z)
        dense.set_weights([np.concatenate([-w / 2, w / 2], axis=1), np.array([-b / 2, b / 2], "float32")])
    return model


def toy_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` textured RGB images ``(n, size, size, 3)`` float32 in [0, 255] (blobs and stripes).

    Example:
        >>> x = toy_images(2, 8)
        >>> x.shape, x.dtype, bool(x.min() >= 0 and x.max() <= 255)
        ((2, 8, 8, 3), dtype('float32'), True)
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        noise = ndimage.gaussian_filter(rng.random((size, size, 3)), sigma=(1.0, 1.0, 0))
        freq = rng.uniform(2, 6)
        angle = rng.uniform(0, np.pi)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        img = 0.5 * (noise - noise.min()) / (np.ptp(noise) + 1e-9) + 0.5 * stripes[..., None] * rng.random(3)
        out.append(255.0 * (img - img.min()) / (np.ptp(img) + 1e-9))
    return np.stack(out).astype("float32")
