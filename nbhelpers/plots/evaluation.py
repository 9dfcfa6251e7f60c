"""Evaluation figures: confusion matrices, ROC and PR curves, calibration, errors, intervals, recall.

Drawn from the arrays ``nbhelpers.evaluate`` computes (``plots`` never
predicts).  Taught in notebook 07 (``07_evaluating_the_model``) and, for
``recall_bars``, notebook 10.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ._kit import finish_figure
from .dataset import image_grid

__all__ = [
    "confusion_heatmap",
    "roc_pr_curves",
    "reliability_diagram",
    "error_gallery",
    "interval_plot",
    "recall_bars",
]

def confusion_heatmap(
    counts: np.ndarray,
    class_names: Sequence[str],
    title: str | None = None,
) -> plt.Figure:
    """A confusion matrix as two seaborn heatmaps: counts, and normalised by true class.

    Rows are the true class, columns the predicted class; in the normalised panel
    each row sums to 1, so its diagonal is each class's recall.  Both colour scales start at
    0 (white): a count of 1 is never drawn as if it were none.  ``counts`` is
    ``evaluate.confusion(...)``.  Taught in notebook 07.

    Example:
        >>> fig = confusion_heatmap(np.array([[5, 1], [2, 4]]), ["cat", "dog"])
        >>> [ax.get_xlabel() for ax in fig.axes[:2]], fig.axes[1].get_title()
        (['predicted class', 'predicted class'], 'normalised by true class (rows sum to 1)')
        >>> fig.axes[0].collections[0].get_clim()   # counts: white is 0, not the smallest count
        (0.0, 5)
    """
    import seaborn as sns

    counts = np.asarray(counts)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    n = len(class_names)
    side = 1.1 * n + 2.0
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.0, side))
    panels = [(counts, "d", "counts", (0, max(int(counts.max()), 1)), "images"),
              (normalised, ".2f", "normalised by true class (rows sum to 1)", (0.0, 1.0),
               "share of the true class")]
    for ax, (values, fmt, name, lim, what) in zip(axes, panels, strict=True):
        sns.heatmap(values, annot=True, fmt=fmt, cmap="Blues", cbar=True, square=True,
                    cbar_kws={"label": what},
                    xticklabels=list(class_names), yticklabels=list(class_names), ax=ax,
                    vmin=lim[0], vmax=lim[1])
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(name)
    return finish_figure(fig, title)


def roc_pr_curves(
    roc: dict[str, tuple[np.ndarray, np.ndarray]],
    pr: dict[str, tuple[np.ndarray, np.ndarray]],
    prevalence: dict[str, float] | None = None,
    points: dict[str, tuple[float, float, float, float]] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """ROC curves (left) and precision-recall curves (right), one line per legend label.

    ``roc``: label -> ``(fpr, tpr)``; ``pr``: label -> ``(recall, precision)`` (as
    ``evaluate.curves`` returns them).  ``prevalence``: class -> share of positives,
    drawn as the PR curve of guessing (in each class's colour when there are several).  ``points``: label -> ``(fpr, tpr, recall,
    precision)`` of a chosen threshold, marked on both panels.  Taught in notebook 07.

    Example:
        >>> roc = {"dog: AUC 0.75": (np.array([0, .5, 1]), np.array([0, 1, 1]))}
        >>> pr = {"dog: AP 0.80": (np.array([1, 1, 0]), np.array([.5, .7, 1]))}
        >>> fig = roc_pr_curves(roc, pr, points={"t = 0.3": (.5, 1, 1, .7)})
        >>> [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]  # doctest: +NORMALIZE_WHITESPACE
        [('false positive rate (share of negatives flagged)', 'true positive rate (recall)'),
         ('recall', 'precision')]
    """
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.2))
    for label, (fpr, tpr) in roc.items():
        ax_roc.plot(fpr, tpr, lw=2, label=label)
    ax_roc.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    colours = [ax_pr.step(recall, precision, where="post", lw=2, label=label)[0].get_color()
               for label, (recall, precision) in pr.items()]
    for i, (name, share) in enumerate((prevalence or {}).items()):
        # guessing for each class, in that class's colour (one line per class, one-vs-rest)
        colour = colours[i] if len(prevalence) > 1 and i < len(colours) else "grey"
        ax_pr.axhline(share, ls="--", color=colour, lw=1, label=f"chance ({name}: {share:.2f})")
    for label, (fpr, tpr, recall, precision) in (points or {}).items():
        ax_roc.plot([fpr], [tpr], "o", ms=8, color="black", label=label)
        ax_pr.plot([recall], [precision], "o", ms=8, color="black", label=label)
    ax_roc.set(xlabel="false positive rate (share of negatives flagged)",
               ylabel="true positive rate (recall)",
               title="ROC curve", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall curve",
              xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
    return finish_figure(fig, title)


def reliability_diagram(
    bins: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    title: str | None = None,
) -> plt.Figure:
    """Reliability diagram: accuracy against confidence per bin, plus how many fell in each bin.

    ``bins``: label (for example ``"before: ECE 0.21"``) -> ``(confidence, accuracy,
    counts)`` per bin, as in ``evaluate.reliability``; empty bins (NaN) are skipped.
    On the diagonal the model is calibrated; below it, over-confident.  Several
    labels (before/after temperature scaling) share the axes.  Taught in notebook 07.

    Example:
        >>> b = {"model: ECE 0.10": (np.array([np.nan, .6, .9]), np.array([np.nan, .5, .8]),
        ...                          np.array([0, 4, 6]))}
        >>> fig = reliability_diagram(b)
        >>> fig.axes[0].get_ylabel(), fig.axes[1].get_xlabel()
        ('accuracy (fraction right)', 'confidence (probability of the predicted class)')
    """
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfectly calibrated")
    width = 0.8 / max(1, len(bins))
    for k, (label, (conf, acc, counts)) in enumerate(bins.items()):
        conf, acc, counts = (np.asarray(a, dtype="float64") for a in (conf, acc, counts))
        ok = np.isfinite(conf) & np.isfinite(acc) & (counts > 0)
        ax.plot(conf[ok], acc[ok], "o-", lw=2, label=label)
        ax_n.bar(conf[ok] + (k - (len(bins) - 1) / 2) * width * 0.1, counts[ok],
                 width=width * 0.1, label=label, alpha=0.8)
    ax.set(ylabel="accuracy (fraction right)", xlim=(0, 1.02), ylim=(0, 1.02),
           title=title or "reliability diagram")
    ax.legend(fontsize=8, loc="upper left")
    ax_n.set(xlabel="confidence (probability of the predicted class)", ylabel="examples",
             title="examples per confidence bin")
    return finish_figure(fig)


def error_gallery(
    images: Sequence[np.ndarray] | np.ndarray,
    true_labels: Sequence[int] | np.ndarray,
    pred_labels: Sequence[int] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    class_names: Sequence[str],
    suptitle: str | None = None,
    ncols: int = 6,
) -> plt.Figure:
    """Images titled with true class, predicted class and the predicted class's probability.

    Wrong predictions get a red title.  Use it with ``evaluate.error_cases`` for the
    most confidently wrong and the least confident test images.  Taught in notebook 07.

    Example:
        >>> fig = error_gallery(np.zeros((2, 8, 8, 3)), [0, 1], [1, 1], [0.97, 0.51], ["cat", "dog"])
        >>> fig.axes[0].get_title()
        'true: cat\\npred: dog (0.97)'
    """
    images = list(images)
    if not images:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.set_title(suptitle or "")
        ax.text(0.5, 0.5, "no images to show", ha="center", va="center")
        return fig
    titles = [f"true: {class_names[t]}\npred: {class_names[p]} ({q:.2f})"
              for t, p, q in zip(true_labels, pred_labels, probabilities, strict=True)]
    fig = image_grid(images, titles=titles, ncols=ncols, size=1.9, suptitle=suptitle)
    for ax, t, p in zip(fig.axes, true_labels, pred_labels, strict=False):
        if t != p:
            ax.title.set_color("tab:red")
    return fig


def interval_plot(
    labels: Sequence[str],
    values: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    xlabel: str = "value",
    reference: float | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Point estimates with their confidence intervals, one row each (a forest plot).

    ``reference`` draws a vertical line (0 for a difference between two models: an
    interval crossing it means the test set cannot tell them apart).  Taught in notebook 07.

    Example:
        >>> fig = interval_plot(["accuracy", "roc_auc"], [.05, .02], [-.01, -.03], [.11, .07],
        ...                     xlabel="fine-tuned - head-only", reference=0.0)
        >>> fig.axes[0].get_xlabel(), [t.get_text() for t in fig.axes[0].get_yticklabels()]
        ('fine-tuned - head-only', ['accuracy', 'roc_auc'])
    """
    values, lows, highs = (np.asarray(a, dtype="float64") for a in (values, lows, highs))
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(labels) + 1.4))
    ax.errorbar(values, y, xerr=[values - lows, highs - values], fmt="o", capsize=5, lw=2)
    if reference is not None:
        ax.axvline(reference, ls="--", color="grey", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(list(labels))
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("metric")
    ax.set_title(title or "estimates with 95% confidence intervals")
    return finish_figure(fig)


def recall_bars(
    recalls: dict[str, dict[str, float]],
    title: str | None = None,
    ylabel: str = "recall",
    ax: plt.Axes | None = None,
    xlabel: str = "run",
) -> plt.Figure:
    """Grouped bars: for each run (remedy), the recall of each class.

    ``recalls`` maps a run's name to ``{class name: recall}`` (the
    ``"recall"`` entry of ``nbh.balance.imbalance_report``).  Each bar is labelled
    with its value (a recall of 0 is a labelled bar of no height, not a gap); a dashed
    line marks chance, 1 / (number of classes): the recall of guessing a class at
    random; ``xlabel`` names what the runs are (for example "remedy").
    Taught in notebook 10.

    Example:
        >>> fig = recall_bars({"none": {"cat": 1.0, "dog": 0.0}, "weights": {"cat": 0.8, "dog": 0.7}})
        >>> len(fig.axes[0].patches), fig.axes[0].get_ylabel(), fig.axes[0].get_xlabel()
        (4, 'recall', 'run')
        >>> sorted(t.get_text() for t in fig.axes[0].texts)
        ['0.00', '0.70', '0.80', '1.00']
    """
    runs = list(recalls)
    if not runs:
        raise ValueError("recall_bars got no runs; pass {run name: {class name: recall}}")
    classes = list(recalls[runs[0]])
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(runs) + 2), 3.6))
    else:
        fig = ax.figure
    width = 0.8 / len(classes)
    x = np.arange(len(runs))
    for j, cls in enumerate(classes):
        values = [recalls[r].get(cls, np.nan) for r in runs]
        bars = ax.bar(x + (j - (len(classes) - 1) / 2) * width, values, width, label=str(cls))
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.axhline(1 / len(classes), color="grey", lw=0.8, ls="--",
               label=f"chance (1/{len(classes)} classes)")
    ax.set_xticks(x, runs, rotation=15)
    ax.set_ylim(0, 1.12)  # room for the labels of bars at 1.0
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    # beside the bars, never over one
    ax.legend(title="class", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "Recall per class")
    return finish_figure(fig)
