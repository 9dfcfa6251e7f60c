"""Every figure the notebooks show, one module per subject.

``plots`` draws arrays it is given; it never trains, loads or downloads, and
imports nothing of the course but ``nbhelpers.conv`` (pure NumPy arithmetic of
output sizes), so ``import nbhelpers.plots`` never imports TensorFlow.  Each
function returns the matplotlib ``Figure`` it drew on, so notebooks can tweak
it and tests can inspect it.  Every figure titles its panels, labels its axes
and, where colour carries a value, has a colour bar that names it.

Call any figure as ``nbh.plots.<name>``; the submodules group them by subject:

====================  ==========================================================  ==========
module                draws                                                       taught in
====================  ==========================================================  ==========
``convolution``       arrays with their numbers, one correlation step, kernel     01
                      taps and padding, filter responses, shift tolerance,
                      a learned kernel
``dataset``           image grids, images per class and split, pipeline           01-03
                      throughput, pixel-value histograms
``learning_curves``   metrics per epoch (training and validation), one panel      05, 06, 10
                      per run, a score against training-set size
``evaluation``        confusion matrices, ROC and PR curves, reliability          07, 10
                      diagrams, error galleries, confidence intervals, recall
                      per class
``explanations``      attribution maps over images, LIME superpixels, the         08, 09
                      randomisation test, deletion and insertion curves
``backbones``         first-layer filters, feature maps, top-k predictions,       02, 11
                      parameters per block, accuracy against speed
``deployment``        one photo's answer with its Grad-CAM, export forms          12
                      compared (size, latency, agreement); off-screen overlays
                      for the demo app
``data_quality``      the confident joint, flagged images, near-duplicate pairs,  13
                      out-of-distribution scores
``_kit``              (private) ``set_style`` and the helpers every figure
                      shares: display scaling, panel grids, colour bars,
                      ``finish_figure`` (title and layout)
====================  ==========================================================  ==========

The figure modules are named for what they draw, never after the nbhelpers
module whose arrays they show (``dataset``, not ``data``; ``learning_curves``,
not ``training``), so ``nbh.plots.dataset`` cannot be mistaken for
``nbh.data``, and inside this package ``from .. import conv`` (the maths) and
``from . import convolution`` (its figures) cannot be confused.

Example:
    >>> import nbhelpers as nbh
    >>> nbh.plots.image_grid is nbh.plots.dataset.image_grid
    True
"""

from __future__ import annotations

from ._kit import set_style
from .backbones import (
    accuracy_vs_speed,
    feature_map_grid,
    filter_grid,
    parameter_bars,
    prediction_bars,
)
from .convolution import (
    annotated_matrix,
    conv_geometry,
    correlation_step,
    filter_responses,
    kernel_learning,
    shift_comparison,
)
from .data_quality import (
    confident_joint_heatmap,
    flagged_gallery,
    ood_histograms,
    pair_gallery,
)
from .dataset import channel_histograms, class_balance, image_grid, split_sizes, throughput_bars
from .deployment import export_comparison, overlay_array, prediction_panel
from .evaluation import (
    confusion_heatmap,
    error_gallery,
    interval_plot,
    recall_bars,
    reliability_diagram,
    roc_pr_curves,
)
from .explanations import (
    explanation_overlay,
    explanations_side_by_side,
    faithfulness_curves,
    lime_boundaries,
    lime_cost_curve,
    lime_segmentations,
    randomisation_curves,
    randomisation_maps,
)
from .learning_curves import data_size_curve, learning_curves_grid, lr_range, training_curves

__all__ = [
    # _kit
    "set_style",
    # convolution (notebook 01)
    "annotated_matrix",
    "correlation_step",
    "conv_geometry",
    "filter_responses",
    "shift_comparison",
    "kernel_learning",
    # dataset (notebooks 01-03)
    "image_grid",
    "class_balance",
    "split_sizes",
    "throughput_bars",
    "channel_histograms",
    # learning_curves (notebooks 05, 06, 10)
    "training_curves",
    "learning_curves_grid",
    "data_size_curve",
    "lr_range",
    # evaluation (notebooks 07, 10)
    "confusion_heatmap",
    "roc_pr_curves",
    "reliability_diagram",
    "error_gallery",
    "interval_plot",
    "recall_bars",
    # explanations (notebooks 08, 09)
    "explanation_overlay",
    "lime_boundaries",
    "lime_segmentations",
    "explanations_side_by_side",
    "randomisation_curves",
    "randomisation_maps",
    "faithfulness_curves",
    "lime_cost_curve",
    # backbones (notebooks 02, 11)
    "filter_grid",
    "feature_map_grid",
    "prediction_bars",
    "parameter_bars",
    "accuracy_vs_speed",
    # deployment (notebook 12, the app)
    "prediction_panel",
    "export_comparison",
    "overlay_array",
    # data_quality (notebook 13)
    "confident_joint_heatmap",
    "flagged_gallery",
    "pair_gallery",
    "ood_histograms",
]
