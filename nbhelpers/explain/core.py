"""The one interface: :func:`explain`, the :class:`Explanation` it returns, and the tables.

Every method module (``lime``, ``shap``, ``gradcam``) builds on the few names here:
``Explanation`` (what a method returns), :func:`check_image` and
:func:`predicted_class` (the first two steps of every method), :func:`default_layers`
(the layer the gradient methods explain) and :func:`blurred` (the blurred copy that
stands for "absent" in SHAP's default background and in the deletion curves).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Config, current
from ..predictions import predict_function

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras
    import pandas as pd

__all__ = [
    "METHODS",
    "Explanation",
    "explain",
    "explain_many",
    "default_layers",
    "settings_table",
    "timing_table",
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
    LIME's ``segments``; :func:`explain` lists the keys of each method.

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
    ``explain_gradcam``).  ``image`` is ``(H, W, 3)`` float32 in [0, 255].  The
    result's ``attribution`` is ``(H, W)`` float32, ``target`` the class explained,
    ``seconds`` the wall time of the whole call, and per method (``settings``;
    ``extras``):

    * ``"lime"``: ``num_samples``, ``segmentation``, ``segments`` (how many
      superpixels), ``segmentation_params``, ``batch_size``, ``hide_color``, ``seed``,
      ``output``; ``segments`` (the ``(H, W)`` superpixel labels), ``weights`` (one
      per superpixel), ``score`` (R^2 of the local linear model, NaN when the answers
      did not move), ``p_range``, ``lime_explanation`` (lime's own result).
    * ``"shap_gradient"``: ``layer``, ``layer_grid``, ``nsamples``, ``background``
      (what was used, in words), ``background_size``, ``seed``, ``score``
      (``"logit"``); ``layer_attribution`` (the map on the layer's grid).
    * ``"shap_partition"``: ``max_evals``, ``mask_value``, ``batch_size``,
      ``output``; ``p_range``.
    * ``"gradcam"``: ``layer``, ``layer_grid``, ``score`` (``"logit"``);
      ``layer_map`` (the map on the layer's grid, before resizing).

    ``output`` is ``"probability"`` or ``"log_odds"``: what a method that only
    queries the model explained (:func:`nbhelpers.explain.choose_output`);
    ``p_range`` the lowest and highest answer about ``target`` it saw;
    ``layer_grid`` the size of the layer's map before it is resized to the image.
    Taught in notebooks 08 and 09.

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> e = explain("gradcam", left_half_model(16), toy_images(1, 16)[0])
        >>> e.method, e.attribution.shape, e.attribution.dtype, e.settings["layer_grid"]
        ('gradcam', (16, 16), dtype('float32'), (16, 16))
    """
    run = _method_function(method)
    t0 = time.perf_counter()
    exp = run(model, image, target, cfg, **kw)
    exp.attribution = np.asarray(exp.attribution, dtype="float32")
    exp.seconds = time.perf_counter() - t0
    if exp.attribution.shape != np.asarray(image).shape[:2]:  # pragma: no cover - a bug if it happens
        raise AssertionError(f"{method} gave {exp.attribution.shape}, not the image's size")
    return exp


def _method_function(method: str) -> Callable[..., Explanation]:
    """The function that computes ``method`` (a ``ValueError`` for a name not in :data:`METHODS`)."""
    # Imported here: the method modules import this module's names.
    from .gradcam import explain_gradcam
    from .lime import explain_lime
    from .shap import explain_shap_gradient, explain_shap_partition

    functions = {"lime": explain_lime, "shap_gradient": explain_shap_gradient,
                 "shap_partition": explain_shap_partition, "gradcam": explain_gradcam}
    if method not in functions:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return functions[method]


def explain_many(
    model: keras.Model,
    images: np.ndarray,
    methods: Sequence[str] = METHODS,
    targets: Sequence[int | None] | None = None,
    cfg: Config | None = None,
    method_kw: dict[str, dict[str, Any]] | None = None,
) -> dict[str, list[Explanation]]:
    """Every method on every image: ``{method: [Explanation per image]}``.

    The keys are ``methods`` in the order given, each list in the order of
    ``images`` (what :func:`timing_table` and ``plots.explanations_side_by_side``
    read).  ``method_kw`` gives per-method options, e.g.
    ``{"shap_gradient": {"background": bg}, "lime": {"segmentation": "slic"}}``.
    Taught in ``09_explaining_with_shap`` (the side-by-side figure).

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> out = explain_many(left_half_model(16), toy_images(2, 16), methods=["gradcam"])
        >>> [e.attribution.shape for e in out["gradcam"]]
        [(16, 16), (16, 16)]
    """
    method_kw = method_kw or {}
    targets = list(targets) if targets is not None else [None] * len(images)
    return {m: [explain(m, model, img, t, cfg, **method_kw.get(m, {}))
                for img, t in zip(images, targets, strict=True)]
            for m in methods}


# --------------------------------------------------------------------------- shared steps


def check_image(image: Any) -> np.ndarray:
    """``image`` as float32 ``(H, W, 3)``, or a ``ValueError`` that says what came instead.

    Example:
        >>> check_image(np.zeros((2, 2, 3))).dtype
        dtype('float32')
    """
    img = np.asarray(image, dtype="float32")
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"explain wants one RGB image of shape (H, W, 3); got {img.shape}")
    return img


def predicted_class(model: keras.Model, image: np.ndarray, target: int | None) -> int:
    """``target``, or when it is ``None`` the class ``model`` predicts for ``image``.

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> predicted_class(left_half_model(16), toy_images(1, 16)[0], 0)
        0
    """
    if target is not None:
        return int(target)
    return int(np.argmax(predict_function(model)(image[None])[0]))


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
        >>> from nbhelpers.explain import left_half_model
        >>> default_layers(left_half_model(16))
        {'gradcam': 'conv2', 'shap_gradient': 'conv1'}
    """
    import keras

    from .. import models

    table = models.explained_layers(model)
    if table is not None:
        return table
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError("the model has no Conv2D layer to explain; pass layer=...")
    return {"gradcam": convs[-1], "shap_gradient": convs[-2] if len(convs) > 1 else convs[-1]}


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` ``(H, W, 3)`` blurred by a Gaussian of ``sigma`` pixels, channel by channel.

    Example:
        >>> float(blurred(np.eye(8)[..., None].repeat(3, axis=-1), 2.0).std()) < 0.1
        True
    """
    from scipy import ndimage

    return ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0)).astype("float32")


# --------------------------------------------------------------------------- tables


def settings_table(cfg: Config | None = None) -> pd.DataFrame:
    """The profile's explanation budget, to show on screen before explaining.

    Columns ``setting`` and ``value``, one row each: ``profile``, ``image size (px)``,
    ``LIME samples per image``, the SHAP evaluations and background images, the
    images explained side by side.  Taught in notebooks 08 and 09.

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
    """Wall time per method: one row per method, in the order first met.

    Columns ``method``, ``images``, ``mean_s`` and ``total_s`` (seconds, rounded to
    milliseconds) and ``settings`` (the budget used, e.g. ``"num_samples=20,
    segmentation=quickshift, ..."``).  Takes :func:`explain_many`'s dict or a list
    of explanations.  Taught in ``09_explaining_with_shap``.

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
