"""The shared kit of ``nbhelpers.plots``: the course style and the small helpers every figure uses.

Only ``set_style`` is public (re-exported as ``nbh.plots.set_style``); the rest
are building blocks for the subject modules:

* ``as_display``: an image scaled to what ``imshow`` expects;
* ``panel_grid``: a figure of square, axis-free panels (image grids);
* ``add_colorbar``: a labelled colour bar for one panel or a group of panels;
* ``finish_figure``: the common ending, an optional figure title and a tidy layout.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.layout_engine import ConstrainedLayoutEngine

__all__ = ["set_style"]


def set_style() -> None:
    """The course's plotting defaults: readable fonts, no top/right spines.

    ``nbh.setup()`` calls it; notebooks that draw before ``setup`` call it
    themselves.  Taught in notebooks 01 and 02.

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


def as_display(img: np.ndarray) -> np.ndarray:
    """Scale an image to what imshow expects: uint8, or floats in [0, 1].

    Example:
        >>> as_display(np.array([[-1.0, 1.0]])).tolist()
        [[0.0, 1.0]]
    """
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    a = a.astype("float32")
    if a.max(initial=0) > 1.0 or a.min(initial=0) < 0.0:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def as_unit_float(img: np.ndarray) -> np.ndarray:
    """An image as float64 in [0, 1] (what ``skimage.segmentation.mark_boundaries`` wants)."""
    a = as_display(img).astype("float64")
    return a / 255.0 if a.max(initial=0) > 1 else a


def panel_grid(n: int, ncols: int, size: float, extra_height: float = 0.3) -> tuple[plt.Figure, list]:
    """A figure of ``n`` axis-free square panels, ``ncols`` wide; unused panels hidden.

    Example:
        >>> fig, axes = panel_grid(5, 3, 1.0)
        >>> len(axes), sum(ax.get_visible() for ax in fig.axes)
        (5, 5)
    """
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + extra_height),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        ax.set_visible(i < n)
    return fig, list(axes.flat[:n])


def add_colorbar(mappable, ax: plt.Axes | Sequence[plt.Axes], label: str, **kwargs):
    """A colour bar that says what its colours measure, beside ``ax`` (one panel or several).

    Example:
        >>> fig, ax = plt.subplots(); im = ax.imshow(np.eye(2))
        >>> add_colorbar(im, ax, "value").ax.get_ylabel()
        'value'
    """
    kwargs.setdefault("fraction", 0.046)
    kwargs.setdefault("pad", 0.03)
    fig = (ax if isinstance(ax, plt.Axes) else np.ravel(ax)[0]).figure
    bar = fig.colorbar(mappable, ax=ax, **kwargs)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def fitted_title(title: str, fig: plt.Figure, fontsize: float | str | None = None) -> str:
    """``title`` in lines that fit ``fig``'s width: a line too long breaks before the profile's
    ``[...]`` label first, then between words.  A title wider than its figure would widen
    the saved picture with empty margins on both sides of the panels.

    Example:
        >>> fig = plt.figure(figsize=(5, 3))
        >>> print(fitted_title("LIME on one image [profile: cpu, STAND-IN ImageNet weights]", fig))
        LIME on one image
        [profile: cpu, STAND-IN ImageNet weights]
    """
    from matplotlib.font_manager import FontProperties

    size = FontProperties(size=fontsize or plt.rcParams["figure.titlesize"]).get_size_in_points()
    fits = max(20, int(fig.get_figwidth() * 72 / (0.6 * size)))  # about 0.6 em a character
    lines: list[str] = []
    for line in title.split("\n"):
        head, bracket, label = line.partition(" [")
        parts = [head.rstrip(), f"[{label}"] if bracket and len(line) > fits else [line]
        for part in parts:
            lines += textwrap.wrap(part, fits, break_on_hyphens=False) or [part]
    return "\n".join(lines)


def finish_figure(fig: plt.Figure, title: str | None = None, **suptitle_kwargs) -> plt.Figure:
    """The common ending: the figure's title (if any), then a tidy layout; returns ``fig``.

    Figures made with ``layout="constrained"`` (those with colour bars spanning
    several panels) keep their layout engine; the others get ``tight_layout``.  A title
    too wide for the figure is broken into lines (:func:`fitted_title`).

    Example:
        >>> fig = finish_figure(plt.figure(), "t")
        >>> fig.get_suptitle()
        't'
    """
    if title:
        fig.suptitle(fitted_title(title, fig, suptitle_kwargs.get("fontsize")), **suptitle_kwargs)
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        fig.tight_layout()
    return fig


def _is_colorbar(ax: plt.Axes) -> bool:
    """True for the axes of a colour bar (so tests and helpers can skip them)."""
    return ax.get_label() == "<colorbar>"
