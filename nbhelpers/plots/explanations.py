"""Explanation figures: attribution maps over images, LIME's superpixels, sanity and faithfulness checks.

Drawn from what ``nbhelpers.explain`` returns (an ``Explanation`` or a bare
``(H, W)`` map; ``plots`` never runs a model).  Taught in notebooks 08 (LIME)
and 08 (SHAP, Grad-CAM, the randomisation test, deletion and insertion).

Every map is drawn relative to its own largest ``|value|`` (so maps of very
different scales can sit side by side) and comes with a colour bar on that
relative scale: signed maps (LIME, SHAP) red for evidence *for* the class and
blue *against*, on a scale symmetric around 0; maps that are never negative
(Grad-CAM) on one colour ramp from 0.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ._kit import add_colorbar, as_display, as_unit_float, finish_figure, fitted_title

__all__ = [
    "explanation_overlay",
    "lime_boundaries",
    "lime_segmentations",
    "explanations_side_by_side",
    "randomisation_curves",
    "randomisation_maps",
    "faithfulness_curves",
    "lime_cost_curve",
]

_SIGNED_LABEL = "attribution / max |attribution|\n(red: for the class, blue: against)"
_UNSIGNED_LABEL = "attribution / max attribution"


def _attribution_of(explanation_or_map, class_names=None):
    """(map, title) from an nbhelpers.explain.Explanation or a bare 2-D array; the title names
    the explained class (its name where ``class_names`` is given, else its index)."""
    if hasattr(explanation_or_map, "attribution"):
        e = explanation_or_map
        target = repr(class_names[e.target]) if class_names is not None else f"class {e.target}"
        return np.asarray(e.attribution, dtype="float32"), f"{e.method} ({target}, {e.seconds:.2f} s)"
    return np.asarray(explanation_or_map, dtype="float32"), "attribution"


def _is_signed(maps) -> bool:
    """True when any of the maps has a negative value (then all are drawn on the signed scale)."""
    return any(float(np.min(_attribution_of(m)[0], initial=0.0)) < 0 for m in maps)


def _draw_attribution(ax, image, attribution, alpha: float = 0.55, signed: bool | None = None):
    """A heat map over a grey copy of the image, relative to the map's largest |value|.

    Signed (``signed=None``: the map has a negative value): ``RdBu_r`` on
    [-1, 1]; otherwise ``inferno`` on [0, 1].  Returns the heat map's image, for
    a colour bar.
    """
    img = as_display(image)
    grey = img.mean(axis=-1) if img.ndim == 3 else img
    ax.imshow(grey, cmap="gray")
    a = np.asarray(attribution, dtype="float32")
    m = float(np.abs(a).max(initial=0.0)) or 1.0
    if signed is None:
        signed = a.min(initial=0.0) < 0
    if signed:
        heat = ax.imshow(a / m, cmap="RdBu_r", vmin=-1, vmax=1, alpha=alpha)
    else:
        heat = ax.imshow(a / m, cmap="inferno", vmin=0, vmax=1, alpha=alpha)
    ax.set_xticks([])
    ax.set_yticks([])
    return heat


def explanation_overlay(image: np.ndarray, explanation, ax: plt.Axes | None = None,
                        alpha: float = 0.55, title: str | None = None,
                        colorbar: bool = True, class_names=None) -> plt.Figure:
    """An attribution map as a heat map over the image, with a colour bar.

    ``explanation`` is an ``nbhelpers.explain.Explanation`` or an ``(H, W)``
    array.  Signed maps (LIME, SHAP) use red for evidence *for* the class and
    blue *against*, on a scale symmetric around 0; Grad-CAM (never negative) uses
    one colour ramp.  Without ``title``, the title names the method, the explained class
    (by name with ``class_names``) and the seconds it took.  Taught in notebook 09.

    Example:
        >>> fig = explanation_overlay(np.zeros((8, 8, 3)), np.eye(8) - 0.5, title="demo")
        >>> fig.axes[0].get_title(), fig.axes[0].images[1].get_clim()
        ('demo', (-1.0, 1.0))
        >>> from types import SimpleNamespace as NS
        >>> e = NS(attribution=np.eye(8), method="grad_cam", target=1, seconds=0.5)
        >>> explanation_overlay(np.zeros((8, 8, 3)), e, class_names=["cats", "dogs"]).axes[0].get_title()
        "grad_cam ('dogs', 0.50 s)"
    """
    a, default_title = _attribution_of(explanation, class_names)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.2, 3.2))
    else:
        fig = ax.figure
    heat = _draw_attribution(ax, image, a, alpha)
    if colorbar:
        add_colorbar(heat, ax, _SIGNED_LABEL if a.min(initial=0.0) < 0 else _UNSIGNED_LABEL)
    ax.set_title(title or default_title, fontsize=9)
    return finish_figure(fig) if own else fig  # a caller's figure keeps the caller's layout


def lime_boundaries(image: np.ndarray, explanation, num_features: int = 5,
                    title: str | None = None, class_names=None) -> plt.Figure:
    """LIME's superpixels: all boundaries, then the ``num_features`` segments that speak most for the class.

    ``explanation`` is a LIME ``Explanation`` from ``nbhelpers.explain``
    (it carries ``extras["segments"]`` and ``extras["weights"]``); with
    ``class_names`` the panel names the explained class.  Taught in notebook 08.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> seg = np.repeat(np.arange(4), 16).reshape(8, 8)
        >>> e = NS(extras={"segments": seg, "weights": np.array([0.1, -0.2, 0.3, 0.0])}, target=1)
        >>> len(lime_boundaries(np.zeros((8, 8, 3)), e, num_features=2).axes)
        2
        >>> lime_boundaries(np.zeros((8, 8, 3)), e, 2, class_names=["cat", "dog"]).axes[1].get_title()
        "top 2 for 'dog'"
    """
    from skimage.segmentation import mark_boundaries

    extras = getattr(explanation, "extras", None) or {}
    if "segments" not in extras or "weights" not in extras:
        raise ValueError("lime_boundaries needs a LIME explanation (extras['segments'] and "
                         "extras['weights']); make one with nbhelpers.explain.explain('lime', ...)")
    seg = np.asarray(extras["segments"])
    weights = np.asarray(extras["weights"], dtype="float32")
    img = as_unit_float(image)
    order = [s for s in np.argsort(-weights) if weights[s] > 0][:num_features]
    keep = np.isin(seg, order)
    shown = img * (0.25 + 0.75 * keep[..., None])
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].imshow(mark_boundaries(img, seg, color=(1, 1, 0)))
    axes[0].set_title(f"{len(np.unique(seg))} superpixels", fontsize=9)
    axes[1].imshow(mark_boundaries(shown, keep.astype(int), color=(0, 1, 0)))
    name = (repr(class_names[explanation.target]) if class_names is not None
            else f"class {explanation.target}")
    axes[1].set_title(f"top {len(order)} for {name}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    return finish_figure(fig, title)


def lime_segmentations(image: np.ndarray, segmentations: dict[str, np.ndarray],
                       title: str | None = None) -> plt.Figure:
    """The image, then its superpixels under each segmentation (name -> labels).

    Taught in notebook 08.

    Example:
        >>> seg = np.repeat(np.arange(4), 16).reshape(8, 8)
        >>> len(lime_segmentations(np.zeros((8, 8, 3)), {"a": seg, "b": seg}).axes)
        3
    """
    from skimage.segmentation import mark_boundaries

    img = as_unit_float(image)
    n = 1 + len(segmentations)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), squeeze=False)
    axes = axes[0]
    axes[0].imshow(img)
    axes[0].set_title("image", fontsize=9)
    for ax, (name, seg) in zip(axes[1:], segmentations.items(), strict=True):
        ax.imshow(mark_boundaries(img, np.asarray(seg), color=(1, 1, 0)))
        ax.set_title(f"{name}: {len(np.unique(seg))} segments", fontsize=9)
    for ax in axes:
        ax.axis("off")
    return finish_figure(fig, title)


def explanations_side_by_side(images, explanations: dict, titles=None, size: float = 2.2,
                              suptitle: str | None = None) -> plt.Figure:
    """One row per image: the image, then each method's map (``{method: [Explanation, ...]}``).

    Each method's column has one colour bar on the relative scale (every map
    divided by its own largest ``|value|``).  Taught in notebooks 08 and 09.

    Example:
        >>> maps = {"m1": [np.ones((8, 8))], "m2": [-np.ones((8, 8))]}
        >>> fig = explanations_side_by_side(np.zeros((1, 8, 8, 3)), maps, titles=["x"])
        >>> [ax.get_title() for ax in fig.axes]
        ['x', 'm1', 'm2', '', '']
    """
    images = list(images)
    methods = list(explanations)
    if not images or not methods:
        raise ValueError("explanations_side_by_side needs images and {method: [one map per image]}")
    for m in methods:
        if len(explanations[m]) != len(images):
            raise ValueError(f"method {m!r} has {len(explanations[m])} maps for {len(images)} images; "
                             "pass one map per image")
    nrows, ncols = len(images), 1 + len(methods)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 1.0), squeeze=False,
                             layout="constrained")
    for j, m in enumerate(methods, start=1):
        signed = _is_signed(explanations[m])
        for i, img in enumerate(images):
            a, _ = _attribution_of(explanations[m][i])
            heat = _draw_attribution(axes[i, j], img, a, signed=signed)
            e = explanations[m][i]
            label = f"{m}\n{e.seconds:.2f} s" if hasattr(e, "seconds") and i == 0 else (m if i == 0 else "")
            axes[i, j].set_title(label, fontsize=9)
        add_colorbar(heat, list(axes[:, j]), "relative attribution" + (" (red: for)" if signed else ""),
                  location="bottom", fraction=0.08 / nrows, pad=0.02, aspect=12)
    for i, img in enumerate(images):
        axes[i, 0].imshow(as_display(img))
        axes[i, 0].set_title(str(titles[i]) if titles is not None else f"image {i}", fontsize=9)
        axes[i, 0].axis("off")
    return finish_figure(fig, suptitle or "Each method's explanation of each image")


def randomisation_curves(table, title: str = "Model-parameter randomisation test") -> plt.Figure:
    """Spearman rank correlation with the trained model's map as layers are randomised.

    ``table`` is ``nbhelpers.explain.cascading_randomisation``'s: columns
    ``method``, ``step``, ``randomised``, ``spearman``, ``spearman_abs``.
    Solid: signed maps; dotted: absolute values.  Taught in notebook 09.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"method": ["a", "a"], "step": [0, 1], "randomised": ["(none)", "top"],
        ...                   "spearman": [1.0, 0.2], "spearman_abs": [1.0, 0.4]})
        >>> randomisation_curves(t).axes[0].get_xlabel()
        'layers randomised (cascading from the top)'
    """
    fig, ax = plt.subplots(figsize=(7, 3.6))
    labels = None
    for i, (method, rows) in enumerate(table.groupby("method", sort=False)):
        rows = rows.sort_values("step")
        color = f"C{i}"
        ax.plot(rows["step"], rows["spearman"], "o-", color=color, label=method)
        ax.plot(rows["step"], rows["spearman_abs"], ":", color=color)
        labels = rows["randomised"].tolist()
    if labels is not None:
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels([f"+{s}" if k else s for k, s in enumerate(labels)], rotation=30, ha="right")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("layers randomised (cascading from the top)")
    ax.set_ylabel("Spearman vs trained map")
    # A map that is never negative (Grad-CAM) has its dotted line under its solid one.
    ax.set_title(fitted_title(f"{title}\n(solid: signed map, dotted: |map|, the same line for a "
                               f"map never negative)", fig, plt.rcParams["axes.titlesize"]))
    ax.legend(fontsize=8, loc="lower left")
    return finish_figure(fig)


def randomisation_maps(image: np.ndarray, maps: dict, step_labels,
                       title: str | None = None) -> plt.Figure:
    """The maps themselves as the model is randomised: one row per method, one column per step.

    Each row has a colour bar on the relative scale.  ``title`` is added to the
    figure's heading (e.g. ``cfg.label()``).  Taught in notebook 09.

    Example:
        >>> fig = randomisation_maps(np.zeros((8, 8, 3)), {"m": [np.ones((8, 8))] * 2}, ["0", "1"])
        >>> len(fig.axes), fig.axes[-1].get_ylabel()
        (4, 'relative attribution')
    """
    methods = list(maps)
    steps = len(step_labels)
    if not methods:
        raise ValueError("randomisation_maps got no maps; pass {method: [one map per step]}")
    fig, axes = plt.subplots(len(methods), steps + 1,
                             figsize=(1.9 * (steps + 1) + 1.0, 1.9 * len(methods) + 0.6),
                             squeeze=False, layout="constrained")
    for i, m in enumerate(methods):
        if len(maps[m]) < steps:
            raise ValueError(f"method {m!r} has {len(maps[m])} maps for {steps} steps; "
                             "pass one map per step label")
        axes[i, 0].imshow(as_display(image))
        axes[i, 0].set_title(m, fontsize=9)
        axes[i, 0].axis("off")
        signed = _is_signed(maps[m][:steps])
        for j in range(steps):
            a, _ = _attribution_of(maps[m][j])
            heat = _draw_attribution(axes[i, j + 1], image, a, signed=signed)
            if i == 0:
                axes[i, j + 1].set_title(str(step_labels[j]), fontsize=8)
        add_colorbar(heat, list(axes[i, 1:]), "relative attribution", fraction=0.03, pad=0.01)
    heading = "explanations as the model is randomised (left to right)"
    return finish_figure(fig, f"{heading}\n{title}" if title else heading)


def faithfulness_curves(curves: dict, title: str | None = None) -> plt.Figure:
    """Deletion and insertion curves per method, with their areas in the legend.

    ``curves`` is ``{method: result of nbhelpers.explain.deletion_insertion}``; the
    y axis is P(explained class), or its log-odds for curves made with ``score="log_odds"``.
    Taught in notebook 09.

    Example:
        >>> f = np.linspace(0, 1, 5)
        >>> c = {"m": {"fractions": f, "deletion": 1 - f, "insertion": f,
        ...            "deletion_auc": 0.5, "insertion_auc": 0.5}}
        >>> [ax.get_title() for ax in faithfulness_curves(c).axes]
        ['deletion (lower area is better)', 'insertion (higher area is better)']
    """
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for i, (method, c) in enumerate(curves.items()):
        style = dict(color="grey", ls="--") if method == "random" else dict(color=f"C{i}")
        axes[0].plot(c["fractions"], c["deletion"], label=f"{method} ({c['deletion_auc']:.3f})", **style)
        axes[1].plot(c["fractions"], c["insertion"], label=f"{method} ({c['insertion_auc']:.3f})", **style)
    axes[0].set_title("deletion (lower area is better)")
    axes[1].set_title("insertion (higher area is better)")
    for ax, verb in zip(axes, ("removed", "inserted"), strict=True):
        ax.set_xlabel(f"fraction of pixels {verb}, most important first")
        ax.legend(fontsize=7)
    log_odds = any(c.get("score") == "log_odds" for c in curves.values())
    axes[0].set_ylabel("log-odds of the explained class" if log_odds else "P(explained class)")
    return finish_figure(fig, title)


def lime_cost_curve(table, title: str = "LIME: cost and stability against num_samples") -> plt.Figure:
    """Seconds per explanation and agreement across seeds, against LIME's ``num_samples``.

    ``table`` has columns ``num_samples``, ``seconds`` and ``stability`` (mean
    Spearman correlation between explanations from different seeds).  Taught in notebook 08.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"num_samples": [10, 20], "seconds": [0.1, 0.2], "stability": [0.3, 0.6]})
        >>> fig = lime_cost_curve(t)
        >>> [ax.get_ylabel() for ax in fig.axes], float(fig.axes[0].get_ylim()[0])
        (['seconds per explanation', 'Spearman between seeds'], 0.0)
    """
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    axes[0].plot(table["num_samples"], table["seconds"], "o-")
    # From 0 on both axes: where the line would meet 0 samples is the fixed cost of an explanation.
    axes[0].set_xlim(left=0)
    axes[0].set_ylim(bottom=0)
    axes[0].set_ylabel("seconds per explanation")
    axes[0].set_title("cost", fontsize=10)
    axes[1].plot(table["num_samples"], table["stability"], "o-", color="C1")
    axes[1].set_ylabel("Spearman between seeds")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].set_title("stability", fontsize=10)
    for ax in axes:
        ax.set_xlabel("num_samples (perturbed images)")
    return finish_figure(fig, title)
