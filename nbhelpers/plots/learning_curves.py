"""Learning curves: a metric per epoch (training and validation), and a score per data size.

Taught in notebooks 05 and 06 (``training_curves``: head, then fine-tuning)
and 09 (``learning_curves_grid``, ``data_size_curve``: over-fitting).  Named
``learning_curves`` rather than ``training`` so that ``nbh.plots.learning_curves``
(figures of histories) is never mistaken for ``nbh.training`` (fitting models).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ._kit import finish_figure

__all__ = ["training_curves", "learning_curves_grid", "data_size_curve", "lr_range"]


def training_curves(
    histories: dict[str, dict[str, list[float]]],
    metrics: Sequence[str] = ("accuracy", "loss"),
    starts: dict[str, int] | None = None,
    boundaries: dict[str, int] | None = None,
    title: str | None = None,
    size: tuple[float, float] = (4.2, 3.0),
    log: Sequence[str] = (),
) -> plt.Figure:
    """Learning curves: one panel per metric, training solid and validation dashed, per run.

    ``histories`` maps a run's name to a Keras history dict (``"loss"``,
    ``"val_loss"``, ``"accuracy"``, ...).  ``starts`` gives a run's first
    epoch (0 if absent), so a fine-tuning run continues where the head's run
    ended; ``boundaries`` draws a dotted vertical line at an epoch, named in the
    legend of the first panel, which serves them all (e.g. ``{"fine-tuning starts": 8}``).  Validation loss rising while training
    loss falls is over-fitting.  ``log``: the metrics drawn on a logarithmic axis (a
    loss that falls a hundredfold would otherwise flatten its later epochs).  A run of one
    or two epochs gets larger markers, so its points show.  Taught in notebooks 05 and 06.

    Example:
        >>> h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.9], "accuracy": [0.5, 0.7],
        ...      "val_accuracy": [0.5, 0.6]}
        >>> fig = training_curves({"head": h, "fine-tuned": h}, starts={"fine-tuned": 2},
        ...                       boundaries={"fine-tuning": 2})
        >>> [ax.get_title() for ax in fig.axes], len(fig.axes[0].lines)
        (['accuracy', 'loss'], 5)
        >>> [float(v) for v in fig.axes[0].lines[2].get_xdata()]
        [3.0, 4.0]
        >>> training_curves({"head": h}, log=["loss"]).axes[1].get_yscale()
        'log'
    """
    if not histories:
        raise ValueError("training_curves got no histories; pass {run name: history.history}")
    starts = starts or {}
    metrics = list(metrics)
    fig, axes = plt.subplots(1, len(metrics), squeeze=False,
                             figsize=(size[0] * len(metrics), size[1] + 0.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0", "C1", "C2"])
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (name, h) in enumerate(histories.items()):
            color = colors[i % len(colors)]
            start = int(starts.get(name, 0))
            for key, part, style in ((metric, "training", "-"), (f"val_{metric}", "validation", "--")):
                values = h.get(key)
                if values:
                    epochs = np.arange(start + 1, start + len(values) + 1)
                    few, many = len(values) <= 2, len(values) > 30  # markers would hide dashes
                    ax.plot(epochs, values, style, color=color,
                            marker=None if many else ("o" if few else "."),
                            ms=7 if few else None, label=f"{name}: {part}")
        for label, epoch in (boundaries or {}).items():  # named in the legend, not over the data
            ax.axvline(epoch + 0.5, color="grey", lw=1, ls=":", label=f"{label} (dotted line)")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(metric + (" (log scale)" if metric in log else ""))
        if metric in log:
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=8)  # the runs and boundaries are the same in every panel
    return finish_figure(fig, title)


def learning_curves_grid(
    histories: dict[str, dict[str, list[float]]],
    metric: str = "loss",
    ncols: int = 3,
    suptitle: str | None = None,
    size: tuple[float, float] = (3.2, 2.4),
) -> plt.Figure:
    """One small panel per run: ``metric`` on training and validation data per epoch.

    ``histories`` maps a run's name to a Keras history dict (``"loss"``,
    ``"val_loss"``, ...).  All panels share the y axis (labelled on the left
    column), so runs can be compared at a glance: a widening gap between the
    two curves is over-fitting.  Taught in notebook 10.

    Example:
        >>> h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]}
        >>> fig = learning_curves_grid({"a": h, "b": h}, ncols=2)
        >>> [ax.get_title() for ax in fig.axes], len(fig.axes[0].lines)
        (['a', 'b'], 2)
    """
    names = list(histories)
    if not names:
        raise ValueError("learning_curves_grid got no histories; pass {run name: history.history}")
    ncols = max(1, min(ncols, len(names)))
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, sharey=True, squeeze=False,
                             figsize=(size[0] * ncols, size[1] * nrows + 0.4))
    for ax, name in zip(axes.flat, names, strict=False):
        h = histories[name]
        for key, label, style in ((metric, "training", "-"), (f"val_{metric}", "validation", "--")):
            if key in h:
                ax.plot(np.arange(1, len(h[key]) + 1), h[key], style, marker=".", label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel(metric)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    return finish_figure(fig, suptitle)


def data_size_curve(
    n_train: list[int],
    scores: list[float],
    ylabel: str = "validation accuracy",
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """A score against the number of training images (a learning curve over data size).

    Taught in notebook 10: more data, not less, is what reduces over-fitting.  Scores
    between 0 and 1 (accuracies) are drawn on the whole 0-1 axis, each point labelled
    with its value: a difference of a few images must not fill the picture.

    Example:
        >>> fig = data_size_curve([10, 20, 40], [0.6, 0.7, 0.8])
        >>> fig.axes[0].get_xlabel(), float(fig.axes[0].get_ylim()[0]), len(fig.axes[0].texts)
        ('training images', 0.0, 3)
    """
    if len(n_train) != len(scores):
        raise ValueError(f"data_size_curve got {len(n_train)} sizes but {len(scores)} scores; "
                         "pass one score per training-set size")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.4))
    else:
        fig = ax.figure
    ax.plot(n_train, scores, marker="o")
    for n, score in zip(n_train, scores, strict=True):
        ax.annotate(f"{score:.3f}", (n, score), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=8)
    if all(0.0 <= float(v) <= 1.0 for v in scores):
        ax.set_ylim(0.0, 1.08)  # the whole range, and room for the labels at 1.0
    ax.set_xlabel("training images")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"{ylabel} against training-set size")
    return finish_figure(fig)


def lr_range(table, current: float | None = None, title: str | None = None,
             size: tuple[float, float] = (6.4, 3.8)) -> plt.Figure:
    """A learning-rate range test: the loss per step against the rate, on a log axis.

    ``table`` is :func:`nbhelpers.learning_rate.range_test`'s result: the batch
    losses (faint), their smoothed curve, markers on that curve at the rates
    in ``table.attrs`` the rule reads (``lowest``, ``steepest``) and a
    vertical line at the ``suggested`` rate (a tenth of the lowest);
    ``current`` draws the rate in use (the profile's) as a line too.
    The loss axis stops a little above the curve's start, so the fall shows
    and the blow-up runs off the top.  Taught in notebook 05.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"learning_rate": [1e-3, 1e-2, 1e-1, 1.0],
        ...                   "loss": [1.0, 0.7, 0.3, 3.0], "smoothed": [1.0, 0.8, 0.5, 1.2]})
        >>> t.attrs.update(lowest=0.1, suggested=0.01, steepest=0.01)
        >>> ax = lr_range(t, current=1e-3).axes[0]; ax.get_xscale(), ax.get_xlabel()
        ('log', 'learning rate (log scale)')
    """
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=size)
    ax.plot(table["learning_rate"], table["loss"], color="C0", alpha=0.3, lw=1,
            label="loss of each batch")
    ax.plot(table["learning_rate"], table["smoothed"], color="C0", lw=2, label="smoothed loss")
    # The two points the rule reads sit on the curve (they are often close together, and
    # two vertical lines there hid each other); the chosen rate and the one in use are lines.
    log_rates = np.log(table["learning_rate"].to_numpy(dtype=float))
    points = [(table.attrs.get("lowest"), "lowest smoothed loss", "dimgrey", "o"),
              (table.attrs.get("steepest"), "steepest descent", "C2", "v")]
    for rate, label, color, marker in points:
        if rate is not None:
            y = float(np.interp(np.log(rate), log_rates, table["smoothed"].to_numpy(dtype=float)))
            ax.plot([rate], [y], ls="none", marker=marker, ms=8, color=color, mec="white",
                    zorder=3, label=f"{label} ({rate:.1e})")
    lines = [(table.attrs.get("suggested"), "suggested: a tenth of the lowest", "C3", "--", 1.5),
             (current, "the rate in use", "black", "-", 1.0)]
    for rate, label, color, style, width in lines:
        if rate is not None:
            ax.axvline(rate, color=color, ls=style, lw=width, label=f"{label} ({rate:.1e})")
    smoothed = table["smoothed"].to_numpy()
    low = int(np.nanargmin(smoothed))
    top = float(np.nanmax(smoothed[: low + 1]))  # the start and the fall, not the blow-up
    bottom = float(np.nanmin(table["loss"].to_numpy()[: low + 1]))
    pad = 0.1 * max(top - bottom, 1e-6)
    ax.set_ylim(bottom - pad, top + 3 * pad)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}"))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test: one short pass, the rate growing each batch")
    ax.legend(fontsize=8)
    return finish_figure(fig, title)
