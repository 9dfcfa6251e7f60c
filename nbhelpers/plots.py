"""Every figure the notebooks show.

``plots`` draws arrays it is given; it never trains, loads or downloads.
Each function returns the matplotlib ``Figure`` (or ``Axes``) it drew on, so
notebooks can tweak it and tests can inspect it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["set_style", "image_grid"]


def set_style() -> None:
    """The course's plotting defaults: readable fonts, no top/right spines.

    Example:
        >>> set_style(); plt.rcParams["axes.spines.top"]
        False
    """
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "figure.figsize": (7, 4),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "image.cmap": "viridis",
        }
    )


def _as_display(img: np.ndarray) -> np.ndarray:
    """Scale an image to what imshow expects: uint8, or floats in [0, 1]."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    a = a.astype("float32")
    if a.max(initial=0) > 1.0 or a.min(initial=0) < 0.0:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def _grid(n: int, ncols: int, size: float, extra_height: float = 0.3) -> tuple[plt.Figure, list]:
    """A figure of ``n`` axis-free square panels, ``ncols`` wide; unused panels hidden."""
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + extra_height),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        ax.set_visible(i < n)
    return fig, list(axes.flat[:n])


def image_grid(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 6,
    size: float = 1.8,
    suptitle: str | None = None,
    cmap: str | None = None,
) -> plt.Figure:
    """Show images in a grid with optional titles (labels, predictions, ...).

    Example:
        >>> fig = image_grid(np.zeros((3, 8, 8, 3)), titles=["a", "b", "c"], ncols=2)
        >>> len([ax for ax in fig.axes if ax.get_visible()])
        3
    """
    images = list(images)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid got no images to show")
    fig, axes = _grid(n, ncols, size, extra_height=0.3)
    for i, ax in enumerate(axes):
        img = _as_display(images[i])
        if img.ndim == 3 and img.shape[-1] == 1:
            img = img[..., 0]
        ax.imshow(img, cmap=cmap or ("gray" if img.ndim == 2 else None))
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# Convolution and pooling figures (notebook 01_convolution_and_pooling).


def annotated_matrix(
    a: np.ndarray,
    ax: plt.Axes | None = None,
    title: str | None = None,
    highlight: Sequence[tuple[int, int, int, int]] = (),
    cmap: str = "Blues",
    fmt: str = "{:.3g}",
    colors: Sequence[str] = ("tab:red", "tab:orange"),
    fontsize: float = 9,
) -> plt.Figure:
    """A small 2-D array as coloured cells with its numbers written in them.

    ``highlight`` holds rectangles ``(row, col, height, width)`` drawn as thick
    outlines (a window of the input, one output cell).  Taught in notebook 01.

    Example:
        >>> fig = annotated_matrix(np.arange(6).reshape(2, 3), title="x", highlight=[(0, 0, 2, 2)])
        >>> len(fig.axes[0].texts), fig.axes[0].get_title()
        (6, 'x')
    """
    from matplotlib.patches import Rectangle

    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"annotated_matrix draws a 2-D array, got shape {a.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * a.shape[1] + 0.8, 0.45 * a.shape[0] + 0.8))
    lim = float(np.abs(a).max()) or 1.0
    signed = a.min() < 0
    im = ax.imshow(a, cmap="RdBu_r" if signed and cmap == "Blues" else cmap,
                   vmin=-lim if signed else 0, vmax=lim)
    for (r, c), v in np.ndenumerate(a):
        red, green, blue, _ = im.cmap(im.norm(float(v)))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # text readable on its cell
        ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                color="white" if dark else "black")
    for n, (r, c, h, w) in enumerate(highlight):
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), w, h, fill=False, lw=3,
                               edgecolor=colors[n % len(colors)]))
    ax.set_xticks(range(a.shape[1]))
    ax.set_yticks(range(a.shape[0]))
    ax.tick_params(length=0, labelsize=8)
    ax.set_xlabel("column j", fontsize=8)
    ax.set_ylabel("row i", fontsize=8)
    if title:
        ax.set_title(title)
    return ax.figure


def correlation_step(x: np.ndarray, k: np.ndarray, y: np.ndarray, i: int, j: int,
                     stride: int = 1) -> plt.Figure:
    """One step of y(i, j) = sum over m, n of x(i+m, j+n) k(m, n), drawn and written out.

    Three panels: the input with the window that produces ``y[i, j]``, the kernel,
    and the output with that cell outlined; the title spells out the sum.
    Taught in notebook 01.

    Example:
        >>> x, k = np.arange(16).reshape(4, 4), np.ones((3, 3), int)
        >>> fig = correlation_step(x, k, np.array([[45, 54], [81, 90]]), 0, 1)
        >>> fig.axes[2].get_title()
        'output y: y[0, 1] = 54'
    """
    x, k, y = np.asarray(x), np.asarray(k), np.asarray(y)
    kh, kw = k.shape
    r0, c0 = i * stride, j * stride
    window = x[r0:r0 + kh, c0:c0 + kw]
    terms = " + ".join(f"{a:g}·{b:g}" if b >= 0 else f"{a:g}·({b:g})"
                       for a, b in zip(window.ravel(), k.ravel(), strict=True))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6),
                             gridspec_kw={"width_ratios": [x.shape[1], kw, y.shape[1]]})
    annotated_matrix(x, ax=axes[0], title="input x", highlight=[(r0, c0, kh, kw)], cmap="Greys")
    annotated_matrix(k, ax=axes[1], title="kernel k")
    annotated_matrix(y, ax=axes[2], title=f"output y: y[{i}, {j}] = {y[i, j]:g}",
                     highlight=[(i, j, 1, 1)], cmap="Greys")
    fig.suptitle(f"y[{i}, {j}] = {terms} = {float((window * k).sum()):g}", fontsize=9)
    fig.tight_layout()
    return fig


def conv_geometry(n: int, k: int, stride: int = 1, padding: str | int = "valid",
                  dilation: int = 1, ax: plt.Axes | None = None,
                  title: str | None = None) -> plt.Figure:
    """Where the taps of a kernel land on a (padded) n x n input, for two outputs.

    Grey hatched cells are padding; filled blue dots are the taps that produce
    output (0, 0), orange rings those of the next output along the row (one
    stride further).  The title gives the output size.  Taught in notebook 01.

    Example:
        >>> fig = conv_geometry(5, 3, stride=2, padding="same")
        >>> fig.axes[0].get_title()
        'n=5, k=3, stride 2, padding same\\n→ 3 x 3 output'
    """
    from matplotlib.patches import Rectangle

    from . import conv

    if padding == "valid":
        before = after = 0
    elif padding == "same":
        before, after = conv.same_padding(n, k, stride, dilation)
    else:
        before = after = int(padding)
    out = conv.output_size(n, k, stride, padding, dilation)
    size = n + before + after
    if ax is None:
        _, ax = plt.subplots(figsize=(0.38 * size + 1, 0.38 * size + 1.2))
    for r in range(size):
        for c in range(size):
            is_pad = not (before <= r < before + n and before <= c < before + n)
            ax.add_patch(Rectangle((c, size - 1 - r), 1, 1, edgecolor="0.5", lw=0.8,
                                   facecolor="0.88" if is_pad else "white",
                                   hatch="//" if is_pad else None))
    taps = [(m * dilation, q * dilation) for m in range(k) for q in range(k)]
    ax.scatter([c + 0.5 for _, c in taps], [size - 0.5 - r for r, _ in taps], s=90,
               color="tab:blue", label="taps of output (0, 0)", zorder=3)
    if out > 1:
        ax.scatter([c + stride + 0.5 for _, c in taps], [size - 0.5 - r for r, _ in taps],
                   s=180, facecolors="none", edgecolors="tab:orange", lw=2,
                   label="taps of output (0, 1)", zorder=4)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8, frameon=False, ncol=2)
    ax.set_xlim(-0.2, size + 0.2)
    ax.set_ylim(-0.2, size + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    desc = f"n={n}, k={k}, stride {stride}, padding {padding}"
    if dilation > 1:
        desc += f", dilation {dilation}"
    ax.set_title(title or f"{desc}\n→ {out} x {out} output", fontsize=10)
    return ax.figure


def filter_responses(image: np.ndarray, kernels: dict[str, np.ndarray],
                     responses: dict[str, np.ndarray], suptitle: str | None = None,
                     size: float = 2.4) -> plt.Figure:
    """An image, and for each named kernel its weights (top) and its response (bottom).

    Kernels whose weights sum to 0 (edge detectors: 0 on flat regions) are shown on a
    diverging scale centred on 0, the others (blur, sharpen) in grey on the image's own
    range, clipped.  Taught in notebook 01.

    Example:
        >>> img = np.random.default_rng(0).random((16, 16))
        >>> fig = filter_responses(img, {"id": np.eye(3)}, {"id": img[1:-1, 1:-1]})
        >>> [ax.get_title() for ax in fig.axes if ax.get_title()]
        ['kernel: id', 'input image', 'response: id']
    """
    names = list(kernels)
    ncols = len(names) + 1
    fig, axes = plt.subplots(2, ncols, figsize=(size * ncols, size * 1.9),
                             gridspec_kw={"height_ratios": [0.8, 1.1]}, squeeze=False)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, "kernel weights\n(top)\n\nresponse = conv2d(image, kernel)\n"
                    "(bottom)", ha="center", va="center", fontsize=9, transform=axes[0, 0].transAxes)
    for col, name in enumerate(names, start=1):
        kern = np.asarray(kernels[name])
        annotated_matrix(kern, ax=axes[0, col], title=f"kernel: {name}", fmt="{:.2g}",
                         fontsize=9 if kern.shape[0] <= 3 else 6)
        axes[0, col].set_xlabel("")
        axes[0, col].set_ylabel("")
    axes[1, 0].imshow(image, cmap="gray")
    axes[1, 0].set_title("input image")
    for col, name in enumerate(names, start=1):
        r = np.asarray(responses[name])
        ax = axes[1, col]
        if abs(float(np.sum(kernels[name]))) < 1e-6:
            lim = float(np.percentile(np.abs(r), 99.5)) or 1.0
            im = ax.imshow(r, cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            im = ax.imshow(r, cmap="gray", vmin=float(np.min(image)), vmax=float(np.max(image)))
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        ax.set_title(f"response: {name}")
    for ax in axes[1]:
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def shift_comparison(rows: dict[str, tuple[np.ndarray, np.ndarray]],
                     suptitle: str | None = None, size: float = 2.6) -> plt.Figure:
    """For each named stage: the map for the original input, for the shifted input, and
    how much they differ (the title gives mean |difference| / mean |value|).

    Shows what translation tolerance means: after pooling, a small shift of the
    input changes the output less.  Maps of different stages may have different
    sizes.  Taught in notebook 01.

    Example:
        >>> a = np.random.default_rng(0).random((8, 8))
        >>> fig = shift_comparison({"input": (a, np.roll(a, 1, axis=1))})
        >>> fig.axes[2].get_title().startswith("|difference|")
        True
    """
    fig, axes = plt.subplots(len(rows), 3, figsize=(3 * size, size * len(rows)), squeeze=False)
    for row, (name, (a, b)) in enumerate(rows.items()):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        diff = np.abs(a - b)
        rel = diff.mean() / (np.abs(a).mean() or 1.0)
        vmax = float(max(a.max(), b.max()))
        for col, (img, what) in enumerate([(a, "original"), (b, "shifted input")]):
            axes[row, col].imshow(img, cmap="magma", vmin=0, vmax=vmax)
            axes[row, col].set_title(f"{name}: {what}\n{img.shape[0]} x {img.shape[1]}")
        axes[row, 2].imshow(diff, cmap="Greys", vmin=0, vmax=vmax)
        axes[row, 2].set_title(f"|difference|\nrelative: {rel:.2f}")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def kernel_learning(target: np.ndarray, learned: np.ndarray,
                    loss: Sequence[float], how: str = "gradient descent") -> plt.Figure:
    """The kernel a Conv2D layer learned from examples, next to the one that made them.

    Three panels: the target kernel, the learned kernel (both with their numbers)
    and the training loss per step on a log scale.  Taught in notebook 01.

    Example:
        >>> fig = kernel_learning(np.eye(3), np.eye(3) * 0.9, [1.0, 0.1, 0.01])
        >>> fig.axes[2].get_yscale()
        'log'
    """
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2),
                             gridspec_kw={"width_ratios": [1, 1, 1.4]})
    annotated_matrix(np.asarray(target), ax=axes[0], title="kernel that made the targets",
                     fmt="{:.2f}")
    annotated_matrix(np.asarray(learned), ax=axes[1], title=f"kernel learned by {how}",
                     fmt="{:.2f}")
    axes[2].plot(np.arange(1, len(loss) + 1), loss, color="tab:blue")
    axes[2].set_yscale("log")
    axes[2].set_xlabel("step")
    axes[2].set_ylabel("mean squared error (log)")
    axes[2].set_title("training loss")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# Evaluation figures (notebook 06_evaluating_the_model; arrays from nbhelpers.evaluate).


def confusion_heatmap(
    counts: np.ndarray,
    class_names: Sequence[str],
    title: str | None = None,
) -> plt.Figure:
    """A confusion matrix as two seaborn heatmaps: counts, and normalised by true class.

    Rows are the true class, columns the predicted class; in the normalised panel
    each row sums to 1, so its diagonal is each class's recall.  ``counts`` is
    ``evaluate.confusion(...)``.  Taught in notebook 06.

    Example:
        >>> fig = confusion_heatmap(np.array([[5, 1], [2, 4]]), ["cat", "dog"])
        >>> [ax.get_xlabel() for ax in fig.axes[:2]], fig.axes[1].get_title()
        (['predicted class', 'predicted class'], 'normalised by true class (rows sum to 1)')
    """
    import seaborn as sns

    counts = np.asarray(counts)
    totals = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    n = len(class_names)
    side = 1.1 * n + 2.0
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.0, side))
    panels = [(counts, "d", "counts", None), (normalised, ".2f",
              "normalised by true class (rows sum to 1)", (0.0, 1.0))]
    for ax, (values, fmt, name, lim) in zip(axes, panels, strict=True):
        sns.heatmap(values, annot=True, fmt=fmt, cmap="Blues", cbar=True, square=True,
                    xticklabels=list(class_names), yticklabels=list(class_names), ax=ax,
                    vmin=None if lim is None else lim[0], vmax=None if lim is None else lim[1])
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


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
    drawn as the PR curve of guessing.  ``points``: label -> ``(fpr, tpr, recall,
    precision)`` of a chosen threshold, marked on both panels.  Taught in notebook 06.

    Example:
        >>> roc = {"dog: AUC 0.75": (np.array([0, .5, 1]), np.array([0, 1, 1]))}
        >>> pr = {"dog: AP 0.80": (np.array([1, 1, 0]), np.array([.5, .7, 1]))}
        >>> fig = roc_pr_curves(roc, pr, points={"t = 0.3": (.5, 1, 1, .7)})
        >>> [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]  # doctest: +NORMALIZE_WHITESPACE
        [('false positive rate (1 - specificity)', 'true positive rate (recall)'),
         ('recall', 'precision')]
    """
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.2))
    for label, (fpr, tpr) in roc.items():
        ax_roc.plot(fpr, tpr, lw=2, label=label)
    ax_roc.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    for label, (recall, precision) in pr.items():
        ax_pr.step(recall, precision, where="post", lw=2, label=label)
    for name, share in (prevalence or {}).items():
        ax_pr.axhline(share, ls="--", color="grey", lw=1, label=f"chance ({name}: {share:.2f})")
    for label, (fpr, tpr, recall, precision) in (points or {}).items():
        ax_roc.plot([fpr], [tpr], "o", ms=8, color="black", label=label)
        ax_pr.plot([recall], [precision], "o", ms=8, color="black", label=label)
    ax_roc.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (recall)",
               title="ROC curve", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall curve",
              xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    for ax in (ax_roc, ax_pr):
        ax.legend(fontsize=8, loc="lower right" if ax is ax_roc else "lower left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def reliability_diagram(
    bins: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    title: str | None = None,
) -> plt.Figure:
    """Reliability diagram: accuracy against confidence per bin, plus how many fell in each bin.

    ``bins``: label (for example ``"before: ECE 0.21"``) -> ``(confidence, accuracy,
    counts)`` per bin, as in ``evaluate.reliability``; empty bins (NaN) are skipped.
    On the diagonal the model is calibrated; below it, over-confident.  Several
    labels (before/after temperature scaling) share the axes.  Taught in notebook 06.

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
    ax_n.set(xlabel="confidence (probability of the predicted class)", ylabel="examples")
    fig.tight_layout()
    return fig


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
    most confidently wrong and the least confident test images.  Taught in notebook 06.

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
    interval crossing it means the test set cannot tell them apart).  Taught in notebook 06.

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
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# Imbalance, over-fitting and backbone figures (notebooks 09 and 10).


def recall_bars(
    recalls: dict[str, dict[str, float]],
    title: str | None = None,
    ylabel: str = "recall",
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Grouped bars: for each run (remedy), the recall of each class.

    ``recalls`` maps a run's name to ``{class name: recall}`` (the
    ``"recall"`` entry of ``nbh.balance.imbalance_report``).  A dashed line
    marks 0.5.  Taught in notebook 09.

    Example:
        >>> fig = recall_bars({"none": {"cat": 1.0, "dog": 0.2}, "weights": {"cat": 0.8, "dog": 0.7}})
        >>> len(fig.axes[0].patches), fig.axes[0].get_ylabel()
        (4, 'recall')
    """
    runs = list(recalls)
    if not runs:
        raise ValueError("recall_bars got no runs")
    classes = list(recalls[runs[0]])
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(runs) + 2), 3.6))
    else:
        fig = ax.figure
    width = 0.8 / len(classes)
    x = np.arange(len(runs))
    for j, cls in enumerate(classes):
        values = [recalls[r].get(cls, np.nan) for r in runs]
        ax.bar(x + (j - (len(classes) - 1) / 2) * width, values, width, label=str(cls))
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, runs, rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.legend(title="class", fontsize=8, loc="lower right")
    ax.set_title(title or "Recall per class")
    fig.tight_layout()
    return fig


def learning_curves_grid(
    histories: dict[str, dict[str, list[float]]],
    metric: str = "loss",
    ncols: int = 3,
    suptitle: str | None = None,
    size: tuple[float, float] = (3.2, 2.4),
) -> plt.Figure:
    """One small panel per run: ``metric`` on training and validation data per epoch.

    ``histories`` maps a run's name to a Keras history dict (``"loss"``,
    ``"val_loss"``, ...).  All panels share the y axis, so runs can be
    compared at a glance: a widening gap between the two curves is
    over-fitting.  Taught in notebook 09.

    Example:
        >>> h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]}
        >>> fig = learning_curves_grid({"a": h, "b": h}, ncols=2)
        >>> [ax.get_title() for ax in fig.axes], len(fig.axes[0].lines)
        (['a', 'b'], 2)
    """
    names = list(histories)
    if not names:
        raise ValueError("learning_curves_grid got no histories")
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
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def data_size_curve(
    n_train: list[int],
    scores: list[float],
    ylabel: str = "validation accuracy",
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """A score against the number of training images (a learning curve over data size).

    Taught in notebook 09: more data, not less, is what reduces over-fitting.

    Example:
        >>> fig = data_size_curve([10, 20, 40], [0.6, 0.7, 0.8])
        >>> fig.axes[0].get_xlabel()
        'training images'
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.4))
    else:
        fig = ax.figure
    ax.plot(n_train, scores, marker="o")
    ax.set_xlabel("training images")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"{ylabel} against training-set size")
    fig.tight_layout()
    return fig


def accuracy_vs_speed(
    names: list[str],
    images_per_second: list[float],
    accuracy: list[float],
    params: list[int] | None = None,
    title: str | None = None,
    ylabel: str = "accuracy",
    ax: plt.Axes | None = None,
) -> plt.Figure:
    """Each model as a point: speed (images per second, log scale) against accuracy.

    With ``params`` the marker area grows with the number of parameters.  Up
    and to the right is better.  Taught in notebook 10.

    Example:
        >>> fig = accuracy_vs_speed(["a", "b"], [10.0, 100.0], [0.9, 0.8], params=[10**7, 10**6])
        >>> fig.axes[0].get_xscale(), len(fig.axes[0].texts)
        ('log', 2)
    """
    if not (len(names) == len(images_per_second) == len(accuracy)):
        raise ValueError("names, images_per_second and accuracy must have the same length")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    if params is not None:
        p = np.asarray(params, dtype=float)
        sizes = 40 + 400 * p / p.max()
    else:
        sizes = np.full(len(names), 60.0)
    ax.scatter(images_per_second, accuracy, s=sizes, alpha=0.6)
    for name, x, y in zip(names, images_per_second, accuracy, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("images per second (measured, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Accuracy against speed" + (" (marker area: parameters)" if params else ""))
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------
# Data figures (notebook 03_preparing_the_data; issue 4, appended).


def class_balance(counts: dict[str, int], title: str | None = None,
                  ax: plt.Axes | None = None) -> plt.Figure:
    """Bar chart of images per class, each bar labelled, the imbalance ratio in the title.

    Taught in ``03_preparing_the_data``.

    Example:
        >>> fig = class_balance({"cat": 10, "dog": 5})
        >>> "2.00" in fig.axes[0].get_title()
        True
    """
    import seaborn as sns

    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.5, 1.1 * len(counts) + 2), 3.2))
    else:
        fig = ax.figure
    names, values = list(counts), [int(v) for v in counts.values()]
    sns.barplot(x=names, y=values, hue=names, palette="deep", legend=False, ax=ax)
    for i, v in enumerate(values):
        ax.text(i, v, f"{v}", ha="center", va="bottom", fontsize=9)
    ratio = max(values) / min(values) if values and min(values) > 0 else float("inf")
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(title or f"Images per class (imbalance ratio {ratio:.2f})")
    fig.tight_layout()
    return fig


def split_sizes(sizes, title: str = "Images per split and class") -> plt.Figure:
    """Grouped bars: images per split (train, val, test), one colour per class.

    ``sizes`` is a DataFrame with splits as rows and classes as columns (an
    optional ``total`` column is ignored), as ``Prepared.sizes()`` returns.
    Taught in ``03_preparing_the_data``.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"a": [7, 2, 1], "b": [6, 2, 2]}, index=["train", "val", "test"])
        >>> len(split_sizes(df).axes[0].patches) >= 6
        True
    """
    import seaborn as sns

    table = sizes.drop(columns=["total"], errors="ignore")
    long = table.rename_axis("split").reset_index().melt(
        id_vars="split", var_name="class", value_name="images"
    )
    fig, ax = plt.subplots(figsize=(5, 3.2))
    sns.barplot(data=long, x="split", y="images", hue="class", ax=ax)
    for container in ax.containers:
        ax.bar_label(container, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("split")
    ax.set_ylabel("images")
    fig.tight_layout()
    return fig


def throughput_bars(rates: dict[str, float], title: str = "Input pipeline throughput",
                    unit: str = "images / s") -> plt.Figure:
    """Horizontal bars of throughput per variant, each labelled with its value.

    Taught in ``03_preparing_the_data`` (tf.data without and with cache and prefetch).

    Example:
        >>> fig = throughput_bars({"PIL loop": 100.0, "tf.data": 400.0})
        >>> fig.axes[0].get_xlabel()
        'images / s'
    """
    names, values = list(rates), [float(v) for v in rates.values()]
    fig, ax = plt.subplots(figsize=(6, 0.55 * len(names) + 1.2))
    bars = ax.barh(names, values, color=plt.cm.viridis(np.linspace(0.2, 0.8, len(names))))
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title)
    ax.set_xlim(0, max(values) * 1.2 if values else 1)
    fig.tight_layout()
    return fig


def filter_grid(
    kernels: np.ndarray, ncols: int = 16, size: float = 0.7, suptitle: str | None = None
) -> plt.Figure:
    """First-layer filters as small RGB pictures, each scaled to [0, 1] on its own.

    ``kernels`` has Keras' layout ``(kh, kw, 3, filters)`` (e.g. VGG16's
    ``block1_conv1``, shape ``(3, 3, 3, 64)``), channels in RGB order.
    Taught in ``02_inside_vgg16``.

    Example:
        >>> fig = filter_grid(np.random.rand(3, 3, 3, 10), ncols=5)
        >>> len([ax for ax in fig.axes if ax.get_visible()])
        10
    """
    k = np.asarray(kernels, dtype="float32")
    if k.ndim != 4 or k.shape[2] != 3:
        raise ValueError(f"expected kernels of shape (kh, kw, 3, filters), got {k.shape}")
    n = k.shape[-1]
    fig, axes = _grid(n, ncols, size, extra_height=0.5)
    for i, ax in enumerate(axes):
        f = k[..., i]
        lo, hi = float(f.min()), float(f.max())
        ax.imshow((f - lo) / (hi - lo) if hi > lo else np.zeros_like(f), interpolation="nearest")
        ax.set_title(str(i), fontsize=6)
    fig.suptitle(suptitle or f"{n} filters of {k.shape[0]}x{k.shape[1]} pixels (RGB)")
    fig.tight_layout()
    return fig


def feature_map_grid(
    maps: dict[str, np.ndarray], channels: int = 6, size: float = 1.5, suptitle: str | None = None
) -> plt.Figure:
    """Feature maps of one image, one row per layer: its ``channels`` most active channels.

    ``maps``: ``{layer name: array (H, W, C)}`` (one image, batch axis removed).
    Taught in ``02_inside_vgg16``.

    Example:
        >>> fig = feature_map_grid({"a": np.random.rand(8, 8, 4), "b": np.random.rand(4, 4, 9)}, channels=3)
        >>> len(fig.axes)
        6
    """
    if not maps:
        raise ValueError("feature_map_grid got no feature maps")
    fig, axes = plt.subplots(len(maps), channels, figsize=(size * channels, size * len(maps) + 0.4),
                             squeeze=False)
    for row, (name, fmap) in zip(axes, maps.items(), strict=True):
        fmap = np.asarray(fmap)
        order = np.argsort(fmap.reshape(-1, fmap.shape[-1]).mean(axis=0))[::-1]
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= fmap.shape[-1]:
                ax.set_visible(False)
                continue
            c = int(order[j])
            ax.imshow(fmap[..., c], cmap="viridis")
            ax.set_title(f"channel {c}", fontsize=8)
        row[0].set_ylabel(f"{name}\n{fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}", fontsize=8)
    fig.suptitle(suptitle or f"The {channels} most active channels per layer")
    fig.tight_layout()
    return fig


def prediction_bars(
    images: Sequence[np.ndarray],
    decoded: Sequence[Sequence[tuple[str, str, float]]],
    suptitle: str | None = None,
    size: float = 2.4,
) -> plt.Figure:
    """Each image above a horizontal bar chart of its top-k classes and probabilities.

    ``decoded``: per image a list of ``(id, name, probability)``, as
    ``nbhelpers.models.decode_predictions`` returns.  Taught in ``02_inside_vgg16``.

    Example:
        >>> fig = prediction_bars([np.zeros((8, 8, 3))], [[("n1", "cat", 0.7), ("n2", "dog", 0.2)]])
        >>> fig.axes[1].get_xlabel()
        'probability'
    """
    n = len(images)
    if n == 0 or n != len(decoded):
        raise ValueError(f"need as many decoded rows as images, got {n} and {len(decoded)}")
    fig, axes = plt.subplots(2, n, figsize=(size * n, size * 2), squeeze=False,
                             gridspec_kw={"height_ratios": [1.2, 1]})
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(_as_display(images[i]))
        top.axis("off")
        names = [name.replace("_", " ") for _, name, _ in decoded[i]][::-1]
        probs = [p for _, _, p in decoded[i]][::-1]
        bottom.barh(range(len(probs)), probs, color="tab:blue")
        bottom.set_yticks(range(len(probs)), names, fontsize=8)
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("probability")
        top.set_title(names[-1] if names else "", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def channel_histograms(
    arrays: dict[str, np.ndarray],
    channel_names: Sequence[str] | dict[str, Sequence[str]] = ("R", "G", "B"),
    bins: int = 50,
) -> plt.Figure:
    """Histograms of each colour channel's values, one panel per array (e.g. before/after
    preprocessing).  ``channel_names`` may differ per panel (a dict by title).

    Taught in ``02_inside_vgg16``.

    Example:
        >>> fig = channel_histograms({"RGB": np.random.rand(8, 8, 3) * 255})
        >>> fig.axes[0].get_xlabel()
        'pixel value'
    """
    colours = {"R": "tab:red", "G": "tab:green", "B": "tab:blue"}
    fig, axes = plt.subplots(1, len(arrays), figsize=(4.2 * len(arrays), 3), squeeze=False)
    for ax, (title, arr) in zip(axes[0], arrays.items(), strict=True):
        arr = np.asarray(arr, dtype="float32")
        names = channel_names[title] if isinstance(channel_names, dict) else channel_names
        for c, name in enumerate(names):
            ax.hist(arr[..., c].ravel(), bins=bins, alpha=0.5, label=name,
                    color=colours.get(name, None))
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel("pixel value")
        ax.set_ylabel("pixels")
        ax.legend(title="channel", fontsize=8)
    fig.tight_layout()
    return fig


def parameter_bars(counts: dict[str, int], title: str = "Parameters per block",
                   highlight: Sequence[str] = ()) -> plt.Figure:
    """Horizontal bars of parameter counts (millions), largest at a glance; ``highlight``
    names bars to draw in a second colour (e.g. the dense top).  Taught in ``02_inside_vgg16``.

    Example:
        >>> fig = parameter_bars({"block1": 38720, "fc1": 102764544}, highlight=["fc1"])
        >>> fig.axes[0].get_xlabel()
        'parameters (millions)'
    """
    names = list(counts)
    values = np.array([counts[k] for k in names], dtype=float) / 1e6
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    colours = ["tab:orange" if n in set(highlight) else "tab:blue" for n in names]
    ax.barh(range(len(names)), values, color=colours)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.2f} M", va="center", fontsize=8)
    ax.set_xlabel("parameters (millions)")
    ax.set_xlim(0, values.max() * 1.25 if len(values) else 1)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def training_curves(
    histories: dict[str, dict[str, list[float]]],
    metrics: Sequence[str] = ("accuracy", "loss"),
    starts: dict[str, int] | None = None,
    boundaries: dict[str, int] | None = None,
    title: str | None = None,
    size: tuple[float, float] = (4.2, 3.0),
) -> plt.Figure:
    """Learning curves: one panel per metric, training solid and validation dashed, per run.

    ``histories`` maps a run's name to a Keras history dict (``"loss"``,
    ``"val_loss"``, ``"accuracy"``, ...).  ``starts`` gives a run's first
    epoch (0 if absent), so a fine-tuning run continues where the head's run
    ended; ``boundaries`` draws a labelled vertical line at an epoch (e.g.
    ``{"fine-tuning starts": 8}``).  Validation loss rising while training
    loss falls is over-fitting.  Taught in notebooks 04 and 05.

    Example:
        >>> h = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.9], "accuracy": [0.5, 0.7],
        ...      "val_accuracy": [0.5, 0.6]}
        >>> fig = training_curves({"head": h, "fine-tuned": h}, starts={"fine-tuned": 2},
        ...                       boundaries={"fine-tuning": 2})
        >>> [ax.get_title() for ax in fig.axes], len(fig.axes[0].lines)
        (['accuracy', 'loss'], 5)
        >>> [float(v) for v in fig.axes[0].lines[2].get_xdata()]
        [3.0, 4.0]
    """
    if not histories:
        raise ValueError("training_curves got no histories")
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
                    ax.plot(epochs, values, style, color=color, marker=".",
                            label=f"{name}: {part}")
        for label, epoch in (boundaries or {}).items():
            ax.axvline(epoch + 0.5, color="grey", lw=1, ls=":")
            ax.annotate(label, (epoch + 0.5, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8, color="grey")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- explanations (notebooks 07, 08)


def _attribution_of(explanation_or_map):
    """(map, title) from an nbhelpers.explain.Explanation or a bare 2-D array."""
    if hasattr(explanation_or_map, "attribution"):
        e = explanation_or_map
        return np.asarray(e.attribution, dtype="float32"), f"{e.method} (class {e.target}, {e.seconds:.2f} s)"
    return np.asarray(explanation_or_map, dtype="float32"), "attribution"


def _draw_attribution(ax, image, attribution, alpha: float = 0.55) -> None:
    """A heat map over a grey copy of the image: red for, blue against (or hot for >= 0 maps)."""
    img = _as_display(image)
    grey = img.mean(axis=-1) if img.ndim == 3 else img
    ax.imshow(grey, cmap="gray")
    a = np.asarray(attribution, dtype="float32")
    m = float(np.abs(a).max(initial=0.0)) or 1.0
    if a.min(initial=0.0) < 0:
        ax.imshow(a, cmap="RdBu_r", vmin=-m, vmax=m, alpha=alpha)
    else:
        ax.imshow(a, cmap="inferno", vmin=0, vmax=m, alpha=alpha)
    ax.set_xticks([])
    ax.set_yticks([])


def explanation_overlay(image: np.ndarray, explanation, ax: plt.Axes | None = None,
                        alpha: float = 0.55, title: str | None = None) -> plt.Figure:
    """An attribution map as a heat map over the image (notebooks 07, 08).

    ``explanation`` is an ``nbhelpers.explain.Explanation`` or an ``(H, W)``
    array.  Signed maps (LIME, SHAP) use red for evidence *for* the class and
    blue *against*, on a scale symmetric around 0; Grad-CAM (never negative) uses
    one colour ramp.

    Example:
        >>> fig = explanation_overlay(np.zeros((8, 8, 3)), np.eye(8) - 0.5, title="demo")
        >>> fig.axes[0].get_title()
        'demo'
    """
    a, default_title = _attribution_of(explanation)
    if ax is None:
        fig, ax = plt.subplots(figsize=(3, 3))
    else:
        fig = ax.figure
    _draw_attribution(ax, image, a, alpha)
    ax.set_title(title or default_title, fontsize=9)
    return fig


def lime_boundaries(image: np.ndarray, explanation, num_features: int = 5,
                    title: str | None = None) -> plt.Figure:
    """LIME's superpixels: all boundaries, then the ``num_features`` segments that speak most for the class.

    ``explanation`` is a LIME ``Explanation`` from ``nbhelpers.explain``
    (it carries ``extras["segments"]`` and ``extras["weights"]``).  Notebook 07.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> seg = np.repeat(np.arange(4), 16).reshape(8, 8)
        >>> e = NS(extras={"segments": seg, "weights": np.array([0.1, -0.2, 0.3, 0.0])}, target=1)
        >>> len(lime_boundaries(np.zeros((8, 8, 3)), e, num_features=2).axes)
        2
    """
    from skimage.segmentation import mark_boundaries

    seg = np.asarray(explanation.extras["segments"])
    weights = np.asarray(explanation.extras["weights"], dtype="float32")
    img = _as_display(image).astype("float64")
    if img.max(initial=0) > 1:
        img = img / 255.0
    order = [s for s in np.argsort(-weights) if weights[s] > 0][:num_features]
    keep = np.isin(seg, order)
    shown = img * (0.25 + 0.75 * keep[..., None])
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    axes[0].imshow(mark_boundaries(img, seg, color=(1, 1, 0)))
    axes[0].set_title(f"{len(np.unique(seg))} superpixels", fontsize=9)
    axes[1].imshow(mark_boundaries(shown, keep.astype(int), color=(0, 1, 0)))
    axes[1].set_title(f"top {len(order)} for class {explanation.target}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def lime_segmentations(image: np.ndarray, segmentations: dict[str, np.ndarray],
                       title: str | None = None) -> plt.Figure:
    """The image, then its superpixels under each segmentation (name -> labels). Notebook 07.

    Example:
        >>> seg = np.repeat(np.arange(4), 16).reshape(8, 8)
        >>> len(lime_segmentations(np.zeros((8, 8, 3)), {"a": seg, "b": seg}).axes)
        3
    """
    from skimage.segmentation import mark_boundaries

    img = _as_display(image).astype("float64")
    if img.max(initial=0) > 1:
        img = img / 255.0
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
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def explanations_side_by_side(images, explanations: dict, titles=None, size: float = 2.2,
                              suptitle: str | None = None) -> plt.Figure:
    """One row per image: the image, then each method's map (``{method: [Explanation, ...]}``). Notebook 08.

    Example:
        >>> maps = {"m1": [np.ones((8, 8))], "m2": [-np.ones((8, 8))]}
        >>> fig = explanations_side_by_side(np.zeros((1, 8, 8, 3)), maps, titles=["x"])
        >>> [ax.get_title() for ax in fig.axes]
        ['x', 'm1', 'm2']
    """
    images = list(images)
    methods = list(explanations)
    nrows, ncols = len(images), 1 + len(methods)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, img in enumerate(images):
        axes[i, 0].imshow(_as_display(img))
        axes[i, 0].set_title(str(titles[i]) if titles is not None else f"image {i}", fontsize=9)
        axes[i, 0].axis("off")
        for j, m in enumerate(methods, start=1):
            a, _ = _attribution_of(explanations[m][i])
            _draw_attribution(axes[i, j], img, a)
            e = explanations[m][i]
            label = f"{m}\n{e.seconds:.2f} s" if hasattr(e, "seconds") and i == 0 else (m if i == 0 else "")
            axes[i, j].set_title(label, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def randomisation_curves(table, title: str = "Model-parameter randomisation test") -> plt.Figure:
    """Spearman rank correlation with the trained model's map as layers are randomised. Notebook 08.

    ``table`` is ``nbhelpers.explain.cascading_randomisation``'s: columns
    ``method``, ``step``, ``randomised``, ``spearman``, ``spearman_abs``.
    Solid: signed maps; dotted: absolute values.

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
    ax.set_title(title + "  (solid: signed, dotted: |map|)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def randomisation_maps(image: np.ndarray, maps: dict, step_labels) -> plt.Figure:
    """The maps themselves as the model is randomised: one row per method, one column per step. Notebook 08.

    Example:
        >>> fig = randomisation_maps(np.zeros((8, 8, 3)), {"m": [np.ones((8, 8))] * 2}, ["0", "1"])
        >>> len(fig.axes)
        3
    """
    methods = list(maps)
    steps = len(step_labels)
    fig, axes = plt.subplots(len(methods), steps + 1, figsize=(1.9 * (steps + 1), 1.9 * len(methods) + 0.4),
                             squeeze=False)
    for i, m in enumerate(methods):
        axes[i, 0].imshow(_as_display(image))
        axes[i, 0].set_title(m, fontsize=9)
        axes[i, 0].axis("off")
        for j in range(steps):
            a, _ = _attribution_of(maps[m][j])
            _draw_attribution(axes[i, j + 1], image, a)
            if i == 0:
                axes[i, j + 1].set_title(str(step_labels[j]), fontsize=8)
    fig.suptitle("explanations as the model is randomised (left to right)")
    fig.tight_layout()
    return fig


def faithfulness_curves(curves: dict, title: str | None = None) -> plt.Figure:
    """Deletion and insertion curves per method, with their areas in the legend. Notebook 08.

    ``curves`` is ``{method: result of nbhelpers.explain.deletion_insertion}``.

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
    axes[0].set_ylabel("P(explained class)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def lime_cost_curve(table, title: str = "LIME: cost and stability against num_samples") -> plt.Figure:
    """Seconds per explanation and agreement across seeds, against LIME's ``num_samples``. Notebook 07.

    ``table`` has columns ``num_samples``, ``seconds`` and ``stability`` (mean
    Spearman correlation between explanations from different seeds).

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"num_samples": [10, 20], "seconds": [0.1, 0.2], "stability": [0.3, 0.6]})
        >>> [ax.get_ylabel() for ax in lime_cost_curve(t).axes]
        ['seconds per explanation', 'Spearman between seeds']
    """
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    axes[0].plot(table["num_samples"], table["seconds"], "o-")
    axes[0].set_ylabel("seconds per explanation")
    axes[1].plot(table["num_samples"], table["stability"], "o-", color="C1")
    axes[1].set_ylabel("Spearman between seeds")
    axes[1].set_ylim(-0.05, 1.05)
    for ax in axes:
        ax.set_xlabel("num_samples (perturbed images)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
