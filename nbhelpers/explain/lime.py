"""LIME: switch superpixels off at random and fit a weighted linear model to the answers.

Taught in ``08_explaining_with_lime``.  :func:`segment` cuts the image into
superpixels (scikit-image), :func:`explain_lime` runs the lime package on them
and gives each pixel its superpixel's weight.  What is explained, the
probability or the log-odds, is chosen on :func:`hidden_probes`, copies of the
image hidden as LIME hides them (:func:`nbhelpers.explain.choose_output`).

This module is ``nbhelpers.explain.lime``; ``from lime import lime_image`` inside
it is the lime package (absolute imports), not this module.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import INFERENCE_BATCH_SIZE, Config, current
from ..predictions import predict_function
from .core import Explanation, check_image, predicted_class
from .outputs import answer_range, choose_output, is_flat, recording

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras

__all__ = ["explain_lime", "segment", "hidden_probes"]

_SEGMENTATION_DEFAULTS: dict[str, dict[str, Any]] = {
    # Sizes for a 224-px image; scaled with the image in segment().
    "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2},
    "slic": {"n_segments": 50, "compactness": 30.0, "start_label": 0},
    "felzenszwalb": {"scale": 100, "sigma": 0.5, "min_size": 50},
}


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

    What ``explain("lime", ...)`` runs.  ``num_samples`` defaults to
    ``cfg.lime_samples``.  ``batch_size`` is how
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
    explained (:func:`~nbhelpers.explain.choose_output`; ``settings["output"]``
    records it): by default
    the probability, or the class's log-odds when the model's answer on the image or
    on 16 probe copies with superpixels hidden (:func:`hidden_probes`) is beyond P
    0.99, where the sigmoid flattens and a linear model of the probability fits the
    bend -- P is exactly 1.0 in float32 beyond a log-odds of about 17, where every
    weight would be zero.  If the answers still do not move it warns, and ``score`` is
    NaN (scikit-learn would report a perfect R^2 of 1.0 for fitting a constant).

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> e = explain_lime(left_half_model(16), toy_images(1, 16)[0], num_samples=20,
        ...                  segmentation="slic", segmentation_kw={"n_segments": 4})
        >>> e.attribution.shape, e.settings["num_samples"]
        ((16, 16), 20)
    """
    from lime import lime_image

    cfg = cfg or current()
    img = check_image(image)
    t0 = time.perf_counter()
    target = predicted_class(model, img, target)
    n = int(num_samples if num_samples is not None else cfg.lime_samples)
    seed = int(cfg.seed if seed is None else seed)
    seg_kw = dict(segmentation_kw or {})
    segments = segment(img, segmentation, seed=seed, **seg_kw)
    output = choose_output(model, img, target, output,
                           probes=hidden_probes(img, segments, seed=seed, hide_color=hide_color))
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    seen: list[np.ndarray] = []  # every answer about target, to tell a flat run
    predict = recording(predict_function(model, predict_batch, scale=255.0, output=output),
                        target, seen)
    with _no_lime_progress_bar(lime_image):
        result = explainer.explain_instance(
            img / 255.0, predict, labels=(target,), top_labels=None, hide_color=hide_color,
            num_samples=n, batch_size=int(batch_size or n),
            segmentation_fn=lambda _x: segments, random_seed=seed)
    table = _weight_per_segment(result.local_exp[target], segments)
    p_range = answer_range("lime", seen, target, output)
    flat = is_flat(np.asarray(p_range))
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
    return Explanation("lime", table[segments], target, seconds, settings, extras)


def _weight_per_segment(local_exp: list[tuple[int, float]], segments: np.ndarray) -> np.ndarray:
    """lime's ``(segment, weight)`` pairs as one float32 weight per segment (0 where none)."""
    table = np.zeros(int(segments.max()) + 1, dtype="float32")
    for s, w in dict(local_exp).items():
        table[int(s)] = w
    return table


@contextlib.contextmanager
def _no_lime_progress_bar(lime_image: Any) -> Iterator[None]:
    """Silence lime's per-sample tqdm bar (an empty "0%" line in every notebook cell)."""
    original = lime_image.tqdm
    lime_image.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        lime_image.tqdm = original


def segment(image: np.ndarray, method: str = "quickshift", seed: int = 0, **kw: Any) -> np.ndarray:
    """Superpixels of ``image``: an ``(H, W)`` int array of labels 0..n-1.

    ``method`` is scikit-image's ``quickshift`` (LIME's default), ``slic`` or
    ``felzenszwalb``; their size parameters are scaled to the image's size
    (defaults are for 224 px), ``kw`` overrides them.  Labels are renumbered
    0..n-1, which LIME relies on (``slic`` starts at 1 unless told otherwise).
    Taught in ``08_explaining_with_lime``.

    Example:
        >>> from nbhelpers.explain import toy_images
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


def _segmentation_params(method: str, size: int, **kw: Any) -> dict[str, Any]:
    """The segmentation's parameters for a ``size``-px image: the defaults scaled, then ``kw``."""
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


def hidden_probes(image: np.ndarray, segments: np.ndarray, n: int = 16, seed: int = 0,
                  hide_color: float | None = None) -> np.ndarray:
    """``n`` copies of ``image`` with a random half of its ``segments`` hidden, ``(n, H, W, 3)``.

    Hidden as LIME hides them: each segment filled with its own mean colour
    (``hide_color=None``) or with ``hide_color``.
    :func:`~nbhelpers.explain.choose_output` looks at the model's answers on them
    before LIME runs.  Used in ``08_explaining_with_lime``.

    Example:
        >>> from nbhelpers.explain import toy_images
        >>> x = toy_images(1, 16)[0]; seg = segment(x, "slic", n_segments=4)
        >>> p = hidden_probes(x, seg, n=3); p.shape, bool((p[0] != x).any())
        ((3, 16, 16, 3), True)
    """
    img = check_image(image)
    fill = np.empty_like(img)
    for s in np.unique(segments):
        region = segments == s
        fill[region] = img[region].mean(axis=0) if hide_color is None else hide_color
    shown = np.random.default_rng([seed, 2]).integers(0, 2, (n, int(segments.max()) + 1))
    return np.stack([np.where(keep.astype(bool)[segments][..., None], img, fill)
                     for keep in shown]).astype("float32")
