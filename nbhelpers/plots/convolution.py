"""Convolution and pooling figures: small arrays with their numbers, kernel taps, responses.

Taught in notebook 01 (``01_convolution_and_pooling``).  The arithmetic of
output sizes and padding comes from ``nbhelpers.conv`` (pure NumPy, imports
nothing of the course), so a figure and the formula it illustrates cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

# ``nbhelpers.conv`` (the maths), not this package's ``convolution`` (the figures).
from .. import conv as conv_maths
from ._kit import add_colorbar, finish_figure

__all__ = [
    "annotated_matrix",
    "correlation_step",
    "conv_geometry",
    "filter_responses",
    "shift_comparison",
    "kernel_learning",
]


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
    outlines (a window of the input, one output cell).  The numbers in the cells
    say what the colours mean, so there is no colour bar.  Signed arrays drawn
    with the default ``cmap`` use a diverging scale centred on 0.  Used by every
    figure of notebook 01 that shows numbers.

    Example:
        >>> fig = annotated_matrix(np.arange(6).reshape(2, 3), title="x", highlight=[(0, 0, 2, 2)])
        >>> len(fig.axes[0].texts), fig.axes[0].get_title()
        (6, 'x')
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"annotated_matrix draws a 2-D array, got shape {a.shape}; "
                         "pass one channel, e.g. a[..., 0]")
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
    return finish_figure(fig, f"y[{i}, {j}] = {terms} = {float((window * k).sum()):g}", fontsize=9)


def conv_geometry(n: int, k: int, stride: int = 1, padding: str | int = "valid",
                  dilation: int = 1, ax: plt.Axes | None = None,
                  title: str | None = None) -> plt.Figure:
    """Where the taps of a kernel land on a (padded) n x n input, for two outputs.

    Grey hatched cells are padding; filled blue dots are the taps that produce
    output (0, 0), orange rings those of the next output along the row (one
    stride further).  A diagram, so no axes: the legend and the title (which
    gives the output size) say what is drawn.  Taught in notebook 01.

    Example:
        >>> fig = conv_geometry(5, 3, stride=2, padding="same")
        >>> fig.axes[0].get_title()
        'n=5, k=3, stride 2, padding same\\n→ 3 x 3 output'
    """
    if padding == "valid":
        before = after = 0
    elif padding == "same":
        before, after = conv_maths.same_padding(n, k, stride, dilation)
    else:
        before = after = int(padding)
    out = conv_maths.output_size(n, k, stride, padding, dilation)
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
    range, clipped; every response has a colour bar.  Taught in notebook 01.

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
        add_colorbar(im, ax, "response")
        ax.set_title(f"response: {name}")
    for ax in axes[1]:
        ax.set_xticks([])
        ax.set_yticks([])
    return finish_figure(fig, suptitle)


def shift_comparison(rows: dict[str, tuple[np.ndarray, np.ndarray]],
                     suptitle: str | None = None, size: float = 2.6) -> plt.Figure:
    """For each named stage: the map for the original input, for the shifted input, and
    how much they differ (the title gives mean |difference| / mean |value|).

    Shows what translation tolerance means: after pooling, a small shift of the
    input changes the output less.  Maps of different stages may have different
    sizes.  The three panels of a row share one scale, shown by the colour bars
    ("value" for both maps, "|difference|" for the third).  Taught in notebook 01.

    Example:
        >>> a = np.random.default_rng(0).random((8, 8))
        >>> fig = shift_comparison({"input": (a, np.roll(a, 1, axis=1))})
        >>> fig.axes[2].get_title().startswith("|difference|")
        True
    """
    fig, axes = plt.subplots(len(rows), 3, figsize=(3 * size + 0.8, size * len(rows)),
                             squeeze=False)
    for row, (name, (a, b)) in enumerate(rows.items()):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        diff = np.abs(a - b)
        rel = diff.mean() / (np.abs(a).mean() or 1.0)
        vmax = float(max(a.max(), b.max()))
        for col, (img, what) in enumerate([(a, "original"), (b, "shifted input")]):
            im = axes[row, col].imshow(img, cmap="magma", vmin=0, vmax=vmax)
            axes[row, col].set_title(f"{name}: {what}\n{img.shape[0]} x {img.shape[1]}")
            add_colorbar(im, axes[row, col], "value")
        im = axes[row, 2].imshow(diff, cmap="Greys", vmin=0, vmax=vmax)
        axes[row, 2].set_title(f"|difference|\nrelative: {rel:.2f}")
        add_colorbar(im, axes[row, 2], "|difference|")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    return finish_figure(fig, suptitle)


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
    return finish_figure(fig)
