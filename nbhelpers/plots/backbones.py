"""Backbone figures: inside VGG16 (filters, feature maps, predictions, parameters) and choosing one.

Taught in notebook 02 (``02_inside_vgg16``) and, for ``accuracy_vs_speed``,
notebook 11 (``11_choosing_a_backbone``).  The arrays come from a model the
notebook built; ``plots`` never builds or loads one.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from ._kit import add_colorbar, as_display, finish_figure, panel_grid

__all__ = ["filter_grid", "feature_map_grid", "prediction_bars", "parameter_bars",
           "accuracy_vs_speed"]


def filter_grid(
    kernels: np.ndarray, ncols: int = 16, size: float = 0.7, suptitle: str | None = None
) -> plt.Figure:
    """First-layer filters as small RGB pictures, each scaled to [0, 1] on its own.

    ``kernels`` has Keras' layout ``(kh, kw, 3, filters)`` (e.g. VGG16's
    ``block1_conv1``, shape ``(3, 3, 3, 64)``), channels in RGB order.  The
    colours are the filter's own RGB weights (no colour bar: each filter has its
    own scale).  Taught in notebook 02.

    Example:
        >>> fig = filter_grid(np.random.rand(3, 3, 3, 10), ncols=5)
        >>> len([ax for ax in fig.axes if ax.get_visible()])
        10
    """
    k = np.asarray(kernels, dtype="float32")
    if k.ndim != 4 or k.shape[2] != 3:
        raise ValueError(f"expected kernels of shape (kh, kw, 3, filters), got {k.shape}; "
                         "pass a first-layer kernel such as layer.get_weights()[0]")
    n = k.shape[-1]
    fig, axes = panel_grid(n, ncols, size, extra_height=0.5)
    for i, ax in enumerate(axes):
        f = k[..., i]
        lo, hi = float(f.min()), float(f.max())
        ax.imshow((f - lo) / (hi - lo) if hi > lo else np.zeros_like(f), interpolation="nearest")
        ax.set_title(str(i), fontsize=6)
    return finish_figure(fig, suptitle or f"{n} filters of {k.shape[0]}x{k.shape[1]} pixels (RGB)")


def feature_map_grid(
    maps: dict[str, np.ndarray], channels: int = 6, size: float = 1.5, suptitle: str | None = None
) -> plt.Figure:
    """Feature maps of one image, one row per layer: its ``channels`` most active channels.

    ``maps``: ``{layer name: array (H, W, C)}`` (one image, batch axis removed).
    The channels of a row share one colour scale, shown by the row's colour bar
    ("activation"), so a weak channel looks weak next to a strong one.
    Taught in notebook 02.

    Example:
        >>> fig = feature_map_grid({"a": np.random.rand(8, 8, 4), "b": np.random.rand(4, 4, 9)}, channels=3)
        >>> len(fig.axes), fig.axes[-1].get_ylabel()  # 2 x 3 maps, a colour bar per row
        (8, 'activation')
    """
    if not maps:
        raise ValueError("feature_map_grid got no feature maps; pass {layer name: array (H, W, C)}")
    for name, fmap in maps.items():
        if np.ndim(fmap) != 3:
            raise ValueError(f"feature map {name!r} has shape {np.shape(fmap)}; expected (H, W, C) "
                             "for one image (drop the batch axis: fmap[0])")
    fig, axes = plt.subplots(len(maps), channels,
                             figsize=(size * channels + 0.8, size * len(maps) + 0.4),
                             squeeze=False, layout="constrained")
    for row, (name, fmap) in zip(axes, maps.items(), strict=True):
        fmap = np.asarray(fmap, dtype="float32")
        order = np.argsort(fmap.reshape(-1, fmap.shape[-1]).mean(axis=0))[::-1]
        shown = [int(c) for c in order[:channels]]
        lo = min(0.0, float(fmap[..., shown].min()))
        hi = float(fmap[..., shown].max())
        hi = hi if hi > lo else lo + 1.0
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(shown):
                ax.set_visible(False)
                continue
            im = ax.imshow(fmap[..., shown[j]], cmap="viridis", vmin=lo, vmax=hi)
            ax.set_title(f"channel {shown[j]}", fontsize=8)
        row[0].set_ylabel(f"{name}\n{fmap.shape[0]}x{fmap.shape[1]}x{fmap.shape[2]}", fontsize=8)
        add_colorbar(im, [ax for ax in row if ax.get_visible()], "activation", fraction=0.03,
                  pad=0.01)
    return finish_figure(fig, suptitle or f"The {channels} most active channels per layer")


def prediction_bars(
    images: Sequence[np.ndarray],
    decoded: Sequence[Sequence[tuple[str, str, float]]],
    suptitle: str | None = None,
    size: float = 2.4,
    names: Sequence[str] | None = None,
) -> plt.Figure:
    """Each image above a horizontal bar chart of its top-k classes and probabilities.

    ``decoded``: per image a list of ``(id, name, probability)``, as
    ``nbhelpers.models.decode_predictions`` returns; the default title is
    "Top-k predicted classes".  ``names``: what each image is, shown in its title
    beside the top-1 class ("cat -> top-1 tabby"), so that an answer is not read
    as the truth.  Taught in notebook 02.

    Example:
        >>> fig = prediction_bars([np.zeros((8, 8, 3))], [[("n1", "cat", 0.7), ("n2", "dog", 0.2)]])
        >>> fig.axes[1].get_xlabel(), fig.axes[1].get_ylabel()
        ('probability', 'class')
    """
    n = len(images)
    if n == 0 or n != len(decoded) or (names is not None and len(names) != n):
        raise ValueError(f"need as many decoded rows (and names) as images, got {n} images, "
                         f"{len(decoded)} rows" + ("" if names is None else f", {len(names)} names"))
    fig, axes = plt.subplots(2, n, figsize=(size * n, size * 2), squeeze=False,
                             gridspec_kw={"height_ratios": [1.2, 1]})
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        top.imshow(as_display(images[i]))
        top.axis("off")
        labels = [name.replace("_", " ") for _, name, _ in decoded[i]][::-1]
        probs = [p for _, _, p in decoded[i]][::-1]
        bottom.barh(range(len(probs)), probs, color="tab:blue")
        bottom.set_yticks(range(len(probs)), labels, fontsize=8)
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("probability")
        bottom.set_ylabel("class", fontsize=8)
        first = f"top-1 {labels[-1]}" if labels else ""
        top.set_title(f"{names[i]} -> {first}" if names is not None else first, fontsize=9)
    k = max(len(row) for row in decoded)
    return finish_figure(fig, suptitle or f"Top-{k} predicted classes", fontsize=10)


def parameter_bars(counts: dict[str, int], title: str = "Parameters per block",
                   highlight: Sequence[str] = (), ylabel: str = "block or layer",
                   labels: tuple[str, str] = ("convolutional base, per block",
                                              "dense top (include_top=True), per layer"),
                   ) -> plt.Figure:
    """Horizontal bars of parameter counts (millions), largest at a glance; ``highlight``
    names bars to draw in a second colour (e.g. the dense top), and a legend then names the
    two colours (``labels``: the others', the highlighted ones').  Taught in notebook 02.

    Example:
        >>> fig = parameter_bars({"block1": 38720, "fc1": 102764544}, highlight=["fc1"])
        >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
        ('parameters (millions)', 'block or layer')
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['convolutional base, per block', 'dense top (include_top=True), per layer']
    """
    if not counts:
        raise ValueError("parameter_bars got no counts; pass {block name: parameters}")
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
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, values.max() * 1.25 or 1)
    if set(highlight) & set(names):
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color="tab:blue", label=labels[0]),
                           Patch(color="tab:orange", label=labels[1])],
                  fontsize=8, loc="lower right")
    ax.set_title(title)
    return finish_figure(fig)


def accuracy_vs_speed(
    names: list[str],
    images_per_second: list[float],
    accuracy: list[float],
    params: list[int] | None = None,
    title: str | None = None,
    ylabel: str = "accuracy",
    ax: plt.Axes | None = None,
    chance: float | None = None,
) -> plt.Figure:
    """Each model as a point: speed (images per second, log scale) against accuracy.

    With ``params`` the marker area grows with the number of parameters, and a key
    gives the areas of the smallest and the largest model.  ``chance``: the accuracy
    of always answering the most common class, drawn as a dashed line (a point on it
    has learned nothing).  Up and to the right is better.  Taught in notebook 11.

    Example:
        >>> fig = accuracy_vs_speed(["a", "b"], [10.0, 100.0], [0.9, 0.8], params=[10**7, 10**6],
        ...                         chance=0.5)
        >>> ax = fig.axes[0]
        >>> ax.get_xscale(), len(ax.texts), [t.get_text() for t in ax.get_legend().get_texts()]
        ('log', 2, ['1,000,000 parameters', '10,000,000 parameters', 'always the most common class'])
    """
    if not (len(names) == len(images_per_second) == len(accuracy)):
        raise ValueError("names, images_per_second and accuracy must have the same length")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    key = []  # legend entries only: nothing is added to the axes for them
    if params is not None:
        p = np.asarray(params, dtype=float)
        sizes = 40 + 400 * p / p.max()
        for q in sorted({p.min(), p.max()}):  # the smallest and the largest marker
            key.append(mpl.lines.Line2D([], [], ls="", marker="o", alpha=0.6, color="C0",
                                        markersize=np.sqrt(40 + 400 * q / p.max()),
                                        label=f"{q:,.0f} parameters"))
    else:
        sizes = np.full(len(names), 60.0)
    ax.scatter(images_per_second, accuracy, s=sizes, alpha=0.6, color="C0")
    if chance is not None:
        key.append(ax.axhline(chance, color="0.4", linestyle="--", linewidth=1,
                              label="always the most common class"))
    placed: list[tuple[float, float, int]] = []
    span = max(max(accuracy) - min(accuracy), 1e-9)
    for name, x, y in zip(names, images_per_second, accuracy, strict=True):
        # Labels near ones already placed (same accuracy, similar speed) alternate left and
        # right of their points, each further down.
        near = sum(abs(np.log10(x / px)) < 0.35 and abs(y - py) < 0.06 * span for px, py, _ in placed)
        left = near % 2 == 1
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(-6 if left else 6, 4 - 11 * (near // 2)),
                    ha="right" if left else "left", fontsize=9)
        placed.append((x, y, near))
    ax.set_xscale("log")
    # Plain numbers on the speed axis (50, 100, 200), not 2 x 10^2.
    ax.xaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())
    ax.margins(x=0.2, y=0.15)
    ax.set_xlabel("images per second (measured, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Accuracy against speed" + (" (marker area: parameters)" if params else ""))
    if key:
        ax.legend(handles=key, fontsize=8, loc="best", labelspacing=1.2, borderpad=0.8)
    return finish_figure(fig)
