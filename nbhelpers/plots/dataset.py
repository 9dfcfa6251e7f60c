"""Data figures: images in a grid, images per class and split, pipeline speed, pixel values.

Taught in notebook 03 (``03_preparing_the_data``); ``image_grid`` is used in
most notebooks and ``channel_histograms`` in notebook 02 (preprocessing).
Named ``dataset`` rather than ``data`` so that ``nbh.plots.dataset`` (figures)
is never mistaken for ``nbh.data`` (loading and splitting).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ._kit import add_colorbar, as_display, finish_figure, panel_grid

__all__ = ["image_grid", "class_balance", "split_sizes", "throughput_bars", "channel_histograms"]


def image_grid(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 6,
    size: float = 1.8,
    suptitle: str | None = None,
    cmap: str | None = None,
    colorbar: str | None = None,
    shared_scale: bool = False,
) -> plt.Figure:
    """Show images in a grid with optional titles (labels, predictions, ...).

    Pictures, so no axes; give ``titles`` and/or ``suptitle`` to say what they
    are.  For single-channel maps whose colour carries a value (feature maps,
    responses), ``colorbar`` names that value: each panel is then drawn on its
    own values (not rescaled) with a colour bar so labelled; with
    ``shared_scale=True`` every panel uses one scale (the lowest and highest value of
    them all), so that panels compare by colour (single-channel maps with a
    ``colorbar`` only: pictures are shown as they are).  Taught in notebooks 01, 02 and 03.

    Example:
        >>> fig = image_grid(np.zeros((3, 8, 8, 3)), titles=["a", "b", "c"], ncols=2)
        >>> len([ax for ax in fig.axes if ax.get_visible()])
        3
        >>> fig = image_grid(np.arange(128).reshape(2, 8, 8), colorbar="response", cmap="magma")
        >>> [ax.get_ylabel() for ax in fig.axes[2:]], fig.axes[1].images[0].get_clim()
        (['response', 'response'], (64.0, 127.0))
        >>> fig = image_grid(np.arange(128).reshape(2, 8, 8), colorbar="r", shared_scale=True)
        >>> fig.axes[1].images[0].get_clim()
        (0.0, 127.0)
    """
    images = list(images)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid got no images to show")
    if titles is not None and len(titles) != n:
        raise ValueError(f"image_grid got {n} images but {len(titles)} titles; "
                         "pass one title per image (or none)")
    fig, axes = panel_grid(n, ncols, size, extra_height=0.3)
    scale = {}
    if shared_scale:
        scale = {"vmin": min(float(np.min(im)) for im in images),
                 "vmax": max(float(np.max(im)) for im in images)}
    for i, ax in enumerate(axes):
        raw = np.asarray(images[i])
        if raw.ndim == 3 and raw.shape[-1] == 1:
            raw = raw[..., 0]
        if colorbar and raw.ndim == 2:
            im = ax.imshow(raw.astype("float32"), cmap=cmap or "gray", **scale)
            add_colorbar(im, ax, colorbar)
        else:
            img = as_display(raw)
            ax.imshow(img, cmap=cmap or ("gray" if img.ndim == 2 else None))
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    return finish_figure(fig, suptitle)


def class_balance(counts: dict[str, int], title: str | None = None,
                  ax: plt.Axes | None = None) -> plt.Figure:
    """Bar chart of images per class, each bar labelled, the imbalance ratio in the title.

    Taught in notebook 03.

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
    return finish_figure(fig)


def split_sizes(sizes, title: str = "Images per split and class") -> plt.Figure:
    """Grouped bars: images per split (train, val, test), one colour per class.

    ``sizes`` is a DataFrame with splits as rows and classes as columns (an
    optional ``total`` column is ignored), as ``Prepared.sizes()`` returns.
    Taught in notebook 03.

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
    return finish_figure(fig)


def throughput_bars(rates: dict[str, float], title: str = "Input pipeline throughput",
                    unit: str = "images / s", ylabel: str = "pipeline") -> plt.Figure:
    """Horizontal bars of throughput per variant, each labelled with its value.

    Taught in notebook 03 (tf.data without and with cache and prefetch).

    Example:
        >>> fig = throughput_bars({"PIL loop": 100.0, "tf.data": 400.0})
        >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
        ('images / s', 'pipeline')
    """
    names, values = list(rates), [float(v) for v in rates.values()]
    fig, ax = plt.subplots(figsize=(6, 0.55 * len(names) + 1.2))
    bars = ax.barh(names, values, color=plt.cm.viridis(np.linspace(0.2, 0.8, len(names))))
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xlim(0, max(values) * 1.2 if values else 1)
    return finish_figure(fig)


def channel_histograms(
    arrays: dict[str, np.ndarray],
    channel_names: Sequence[str] | dict[str, Sequence[str]] = ("R", "G", "B"),
    bins: int = 50,
) -> plt.Figure:
    """Histograms of each colour channel's values, one panel per array (e.g. before/after
    preprocessing).  ``channel_names`` may differ per panel (a dict by title).

    Taught in notebook 02.

    Example:
        >>> fig = channel_histograms({"RGB": np.random.rand(8, 8, 3) * 255})
        >>> fig.axes[0].get_xlabel()
        'pixel value'
    """
    if not arrays:
        raise ValueError("channel_histograms got no arrays; pass {title: image array}")
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
    return finish_figure(fig)
