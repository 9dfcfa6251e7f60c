"""Figures of notebook 12 (using your model): a prediction with its Grad-CAM, the export table.

Kept apart from ``nbhelpers.plots`` while that module becomes a package; like it, these
functions only draw what they are given and return the ``Figure``.  The Grad-CAM heat map
is ``nbhelpers.plots.explanation_overlay``'s, so notebooks 09 and 12 and the demo app
(``nbhelpers.app``, through :func:`overlay_array`) show the same picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kit import as_display

__all__ = ["prediction_panel", "export_comparison", "overlay_array"]


def _figure(width: float, height: float) -> Any:
    """A Figure with an Agg canvas, outside pyplot (safe in a web app's worker threads)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def overlay_array(image: np.ndarray, explanation: Any, size: int = 256,
                  title: str | None = None) -> np.ndarray:
    """The Grad-CAM (or any attribution) overlay as an RGB ``uint8`` image ``(size, size, 3)``.

    Draws ``nbhelpers.plots.explanation_overlay`` on an off-screen figure and returns its
    pixels: what a web page can show.

    Example:
        >>> overlay_array(np.zeros((8, 8, 3)), np.eye(8), size=64).shape
        (64, 64, 3)
    """
    from . import explanations as plots

    fig = _figure(size / 100, size / 100)
    ax = fig.add_axes((0, 0, 1, 1 if title is None else 0.9))
    plots.explanation_overlay(image, explanation, ax=ax, title=title or "")
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def prediction_panel(prediction: Any, title: str | None = None, k: int = 3) -> Any:
    """One photo: what the model saw, the Grad-CAM of its answer, its top ``k`` classes.

    ``prediction`` is an ``nbhelpers.deploy.Prediction``; without an explanation the
    middle panel is left out.  Taught in ``12_using_your_model``.

    Example:
        >>> from nbhelpers.deploy import Prediction
        >>> p = Prediction(None, np.zeros((8, 8, 3), "float32"), np.array([0.3, 0.7]), ["cat", "dog"])
        >>> fig = prediction_panel(p)
        >>> fig.axes[-1].get_xlabel(), fig.axes[0].get_title()
        ('probability', 'what the model sees (8 x 8 px)')
    """
    import matplotlib.pyplot as plt

    from . import explanations as plots

    has_cam = prediction.explanation is not None
    n = 3 if has_cam else 2
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2),
                             gridspec_kw={"width_ratios": [1] * (n - 1) + [1.3]})
    image = np.asarray(prediction.image)
    axes[0].imshow(as_display(image))
    axes[0].set_title(f"what the model sees ({image.shape[0]} x {image.shape[1]} px)", fontsize=9)
    axes[0].axis("off")
    if has_cam:
        plots.explanation_overlay(image, prediction.explanation, ax=axes[1],
                                  title=f"Grad-CAM: why '{prediction.label}'")
    top = prediction.top(k)[::-1]
    bars = axes[-1].barh(range(len(top)), [p for _, p in top], color="tab:blue")
    bars[-1].set_color("tab:orange")
    axes[-1].set_yticks(range(len(top)), [name for name, _ in top])
    axes[-1].set_xlim(0, 1)
    axes[-1].set_xlabel("probability")
    for i, (_, p) in enumerate(top):
        axes[-1].text(min(p + 0.02, 0.8), i, f"{p:.1%}", va="center", fontsize=8)
    fig.suptitle(title or str(prediction), fontsize=10)
    fig.tight_layout()
    return fig


def export_comparison(table: Any, title: str | None = None) -> Any:
    """Size, latency and agreement of each export form (``nbhelpers.deploy.compare_exports``).

    Three panels side by side, one bar per form: size on disk (MB), latency per image
    (ms, this machine) and top-1 agreement with the Keras model next to test accuracy.
    Taught in ``12_using_your_model``.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"form": ["keras", "tflite_int8"], "size_mb": [4.0, 1.0],
        ...                   "latency_ms": [2.0, 1.0], "agreement": [1.0, 0.9], "accuracy": [0.8, 0.7]})
        >>> [ax.get_title() for ax in export_comparison(t).axes]
        ['size on disk (MB)', 'latency per image (ms)', 'agreement and accuracy']
    """
    import matplotlib.pyplot as plt

    missing = {"form", "size_mb", "latency_ms", "agreement", "accuracy"} - set(table.columns)
    if missing:
        raise ValueError(f"the table lacks {sorted(missing)}: pass nbh.deploy.compare_exports(...)")
    forms = list(table["form"])
    ypos = np.arange(len(forms))
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.45 * len(forms) + 1.6), sharey=True)
    for ax, column, label in ((axes[0], "size_mb", "size on disk (MB)"),
                              (axes[1], "latency_ms", "latency per image (ms)")):
        values = table[column].to_numpy(dtype=float)
        ax.barh(ypos, values, color="tab:blue")
        for y, v in zip(ypos, values, strict=True):
            ax.text(v, y, f" {v:.3g}", va="center", fontsize=8)
        ax.set_title(label)
        ax.set_xlim(0, values.max() * 1.3 if values.max() > 0 else 1)
    h = 0.38
    axes[2].barh(ypos - h / 2, table["agreement"], h, label="agrees with Keras", color="tab:green")
    axes[2].barh(ypos + h / 2, table["accuracy"], h, label="accuracy (test)", color="tab:gray")
    axes[2].set_xlim(0, 1.05)
    axes[2].set_title("agreement and accuracy")
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2,
                   frameon=False)
    axes[0].set_yticks(ypos, forms)
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
