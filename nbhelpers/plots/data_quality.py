"""Figures of notebook 13: the confident joint, flagged images, near-duplicate pairs, OOD scores.

Each function draws arrays it is given and returns its Figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ._kit import finish_figure
from .dataset import image_grid

__all__ = ["confident_joint_heatmap", "flagged_gallery", "pair_gallery", "ood_histograms"]


def confident_joint_heatmap(joint: np.ndarray, class_names: Sequence[str],
                            title: str | None = None,
                            unassigned: Sequence[int] | np.ndarray | None = None) -> plt.Figure:
    """The confident joint: images counted by given label (rows) and confident label (columns).

    Off the diagonal sit the images whose probability for another class reached that
    class's threshold: the suspects.  ``unassigned`` (one count per given label): the
    images for which no class reached its threshold, drawn as a last column "(none)", so
    each row adds up to the images of that label.  Taught in ``13_improving_your_data``.

    Example:
        >>> fig = confident_joint_heatmap(np.array([[40, 2], [3, 35]]), ["cat", "dog"], unassigned=[5, 1])
        >>> fig.axes[0].get_xlabel(), [t.get_text() for t in fig.axes[0].get_xticklabels()]
        ('confident label (probability above its class threshold)', ['cat', 'dog', '(none)'])
    """
    import seaborn as sns

    joint = np.asarray(joint)
    columns = list(class_names)
    if unassigned is not None:
        joint = np.column_stack([joint, np.asarray(unassigned).reshape(-1)])
        columns.append("(none)")
    side = 1.1 * len(class_names) + 2.5
    fig, ax = plt.subplots(figsize=(side + 1.2 + (1.1 if unassigned is not None else 0), side))
    sns.heatmap(joint, annot=True, fmt="d", cmap="Blues", ax=ax,
                cbar_kws={"label": "images"}, xticklabels=columns, yticklabels=list(class_names))
    ax.set_xlabel("confident label (probability above its class threshold)")
    ax.set_ylabel("given label")
    ax.tick_params(axis="y", labelrotation=0)
    return finish_figure(fig, title or "Confident joint (off the diagonal: suspected label errors)")


def flagged_gallery(images: Sequence[np.ndarray], given: Sequence[str], suggested: Sequence[str],
                    p_given: Sequence[float], title: str | None = None, ncols: int = 6
                    ) -> plt.Figure:
    """Flagged images titled with their given label, the suggested one and P(given label).

    Example:
        >>> fig = flagged_gallery(np.zeros((1, 8, 8, 3)), ["cat"], ["dog"], [0.04])
        >>> fig.axes[0].get_title()
        'given: cat\\nsuggested: dog\\nP(given) 0.04'
    """
    if not len(images):
        fig, ax = plt.subplots(figsize=(5, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no image was flagged", ha="center", va="center")
        return finish_figure(fig, title)
    titles = [f"given: {g}\nsuggested: {s}\nP(given) {p:.2f}"
              for g, s, p in zip(given, suggested, p_given, strict=True)]
    return image_grid(list(images), titles=titles, ncols=ncols, size=1.9, suptitle=title)


def pair_gallery(pairs: Sequence[tuple[np.ndarray, np.ndarray]], labels: Sequence[tuple[str, str]],
                 title: str | None = None) -> plt.Figure:
    """Near-duplicate pairs side by side, one pair per row, each image titled (split, row, ...).

    Example:
        >>> fig = pair_gallery([(np.zeros((8, 8, 3)), np.ones((8, 8, 3)))], [("train #7", "test #0")])
        >>> [ax.get_title() for ax in fig.axes]
        ['train #7', 'test #0']
    """
    if not len(pairs):
        fig, ax = plt.subplots(figsize=(5, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no near-duplicate pair", ha="center", va="center")
        return finish_figure(fig, title)
    images = [im for pair in pairs for im in pair]
    titles = [t for pair in labels for t in pair]
    return image_grid(images, titles=titles, ncols=2, size=2.2, suptitle=title)


def ood_histograms(scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
                   thresholds: Mapping[str, float] | None = None,
                   labels: tuple[str, str] = ("test images (in distribution)",
                                              "other photos (out of distribution)"),
                   title: str | None = None, log_x: Sequence[str] = ()) -> plt.Figure:
    """One panel per score: the histograms of in- and out-of-distribution scores, and the cut.

    ``scores``: ``{score name: (in-distribution scores, out-of-distribution scores)}``
    (the name is the x axis label: say the unit there); ``thresholds``: the cut chosen
    on validation per score (a dashed line).  Higher scores mean "more like the training
    photos".  ``log_x``: names of scores drawn on a logarithmic axis (positive scores that
    span orders of magnitude).  Taught in ``13_improving_your_data``.

    Example:
        >>> fig = ood_histograms({"energy": (np.array([3.0, 4.0]), np.array([1.0]))}, {"energy": 2.5})
        >>> fig.axes[0].get_xlabel().splitlines(), fig.axes[0].get_ylabel()
        (['energy', '(higher = more like the training photos)'], 'share of images')
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    names = list(scores)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.9), squeeze=False,
                             layout="constrained")
    for ax, name in zip(axes[0], names, strict=True):
        s_in, s_out = (np.asarray(s, dtype="float64").ravel() for s in scores[name])
        both = np.r_[s_in, s_out]
        log = name in log_x and bool((both > 0).all())
        lo, hi = float(both.min()), float(both.max())
        if log:
            bins = np.geomspace(lo, hi if hi > lo else lo * 10, 21)
            ax.set_xscale("log")
            # 1, 2, 5 in every decade: a range narrower than a decade still gets labels
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 21)
        for values, label, colour in ((s_in, labels[0], "tab:blue"), (s_out, labels[1], "tab:red")):
            ax.hist(values, bins=bins, alpha=0.55, color=colour, label=f"{label} ({len(values)})",
                    weights=np.full(len(values), 1 / len(values)))
        if thresholds and name in thresholds:
            ax.axvline(thresholds[name], color="black", ls="--", lw=1,
                       label="threshold (95 % of validation pass)")
        ax.set_xlabel(f"{name}\n(higher = more like the training photos)")
        ax.set_ylabel("share of images")
        ax.set_title(name.split(",")[0].split(" (")[0])
    handles, texts = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, texts, loc="outside lower center", ncol=3, fontsize=8)
    return finish_figure(fig, title)
