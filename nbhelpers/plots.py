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
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            ax.set_visible(False)
            continue
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
