"""LIME, SHAP and Grad-CAM behind one interface, with sanity and faithfulness checks.

Taught in ``08_explaining_with_lime`` (LIME) and ``09_explaining_with_shap``
(SHAP, Grad-CAM, the checks).  Every method answers the same question -- *which
pixels made the model give class ``target`` to this image?* -- and returns the
same thing, an :class:`Explanation` whose ``attribution`` is an ``(H, W)`` map of
the image's size::

    exp = nbh.explain.explain("lime", model, image, cfg=cfg)
    exp.attribution.shape == image.shape[:2]; exp.seconds; exp.settings; exp.extras

=================  =====================================================  ==========
method             what it does                                           cost
=================  =====================================================  ==========
``lime``           perturbs superpixels, fits a weighted linear model     ``cfg.lime_samples`` forward passes
``shap_gradient``  expected gradients (SHAP's GradientExplainer) on an    ``nsamples`` gradients of the top
                   intermediate layer, mapped back to the image size      of the network
``shap_partition`` Owen values over a hierarchy of image regions          ``cfg.shap_evals`` forward passes
                   (``shap.Explainer`` with ``shap.maskers.Image``)
``gradcam``        gradient-weighted class activation map of the last     one forward and backward pass
                   convolutional layer (``tf.GradientTape``)
=================  =====================================================  ==========

Models are Keras models whose input is the raw image (float32 RGB in
``[0, 255]``) and whose output is either ``(N, 1)`` = P(class 1) (a sigmoid) or
``(N, C)`` class probabilities (a softmax).  Predictions follow the one
convention of :mod:`nbhelpers.predictions`: ``(N, C)`` class probabilities,
``C >= 2``, two classes included; ``predict_function`` and ``class_log_odds``
are re-exported here.  The methods that *differentiate* (Grad-CAM, the
GradientExplainer) differentiate the class **score** before the sigmoid/softmax,
read from the model's ``"logits"`` layer: a saturated probability has no
gradient.  The methods that only *query* the model (LIME, the Partition
explainer, deletion/insertion) explain the class probability, or its log-odds
where the model is sure (:func:`choose_output`).

Call every name as ``nbh.explain.<name>``; the modules group them by job:

=============  ===================================================================
module         holds
=============  ===================================================================
``core``       the one interface: :func:`explain`, :func:`explain_many`,
               :class:`Explanation`, :data:`METHODS`, :func:`default_layers`,
               :func:`settings_table`, :func:`timing_table`
``gradcam``    Grad-CAM, readable top to bottom: :func:`explain_gradcam`, the
               class score it differentiates, the resize to the image
``lime``       :func:`explain_lime`, :func:`segment` (superpixels),
               :func:`hidden_probes`
``shap``       :func:`explain_shap_gradient`, :func:`explain_shap_partition` and
               their steps: :func:`choose_background`,
               :func:`gradient_shap_values`, :func:`normalise_shap_values`
``outputs``    probability or log-odds: :func:`choose_output`,
               :data:`SURE_LOG_ODDS`, the warning when answers do not move
``checks``     the randomisation test (:func:`cascading_randomisation`) and the
               faithfulness curves (:func:`deletion_insertion`,
               :func:`faithfulness_table`), :func:`rank_correlation`
``toys``       the known-answer model :func:`left_half_model` and
               :func:`toy_images`
=============  ===================================================================

Example:
    >>> import nbhelpers as nbh
    >>> nbh.explain.explain_gradcam is nbh.explain.gradcam.explain_gradcam
    True
"""

from __future__ import annotations

from ..predictions import class_log_odds, predict_function
from .checks import (
    cascading_randomisation,
    deletion_insertion,
    faithfulness_table,
    randomisation_groups,
    randomised_copy,
    rank_correlation,
)
from .core import (
    METHODS,
    Explanation,
    default_layers,
    explain,
    explain_many,
    settings_table,
    timing_table,
)
from .gradcam import explain_gradcam
from .lime import explain_lime, hidden_probes, segment
from .outputs import SURE_LOG_ODDS, choose_output
from .shap import (
    SHAP_SAMPLES_AT_ONCE,
    choose_background,
    explain_shap_gradient,
    explain_shap_partition,
    gradient_shap_values,
    normalise_shap_values,
)
from .toys import left_half_model, toy_images

__all__ = [
    # core: the one interface
    "METHODS",
    "Explanation",
    "explain",
    "explain_many",
    "default_layers",
    "settings_table",
    "timing_table",
    # the methods
    "explain_lime",
    "explain_shap_gradient",
    "explain_shap_partition",
    "explain_gradcam",
    # predictions (nbhelpers.predictions), re-exported where notebooks 08 and 09 call them
    "predict_function",
    "class_log_odds",
    # outputs
    "choose_output",
    "SURE_LOG_ODDS",
    # lime
    "segment",
    "hidden_probes",
    # shap
    "normalise_shap_values",
    "gradient_shap_values",
    "SHAP_SAMPLES_AT_ONCE",
    "choose_background",
    # checks
    "rank_correlation",
    "randomised_copy",
    "randomisation_groups",
    "cascading_randomisation",
    "deletion_insertion",
    "faithfulness_table",
    # toys
    "left_half_model",
    "toy_images",
]
