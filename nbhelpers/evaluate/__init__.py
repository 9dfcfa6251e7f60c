"""Predictions, metrics with confidence intervals, curves, calibration, error analysis.

Taught in ``07_evaluating_the_model`` (and used again in 07 to 10).

Everything here works on *arrays*: the true labels ``y_true`` (``(N,)`` ints) and
the predicted **class probabilities** ``y_prob``, one convention for any number of
classes and for :mod:`nbhelpers.explain` too:

* ``(N, C)``, ``C >= 2``, rows summing to 1 -- also for two classes, where column 1
  is P(class 1).  :func:`predict` and :func:`predict_proba` return this shape, for a
  sigmoid model (``(N, 1)`` output) as for a softmax one.

As *input*, every function also takes a sigmoid's ``(N,)`` (or ``(N, 1)``) P(class 1)
and reads it as ``[1 - p, p]`` (:func:`class_probabilities`), so a hand-made array of
probabilities works as well as a model's output.

The **logits** (class scores before the sigmoid/softmax) come from
:func:`predict_logits`, as the model's ``"logits"`` layer gives them: ``(N, 1)`` for
one sigmoid unit (the log-odds of class 1), ``(N, C)`` for a softmax.  Temperature
scaling works on them: a probability of exactly 1.0 (a logit above about 17 in
float32) does not say *how* confident the model was.

Only :func:`predict`, :func:`predict_proba`, :func:`predict_logits`,
:func:`predict_with_logits` (both in one pass) and :func:`logits_model` touch a model
(a Keras model, or for the first two any function from a batch of images to
probabilities); they live in :mod:`nbhelpers.predictions` and are re-exported here,
where notebook 07 reads them with the metrics.  Nothing here reaches back into training.
The metrics, curves and reliability bins come from scikit-learn; what scikit-learn
does not provide -- bootstrap intervals, the expected calibration error, temperature
scaling on logits, and choosing a threshold for a stated goal -- is written here,
short and tested.

Call any of them as ``nbh.evaluate.<name>``; the submodules group them by job:

================  ==============================================================
module            computes
================  ==============================================================
``labels``        the predicted class and its confidence (``predicted_labels``,
                  ``confidence``, ``num_classes``), the input check
``metrics``       point metrics (``scores``, ``METRICS``,
                  ``classification_report``, ``confusion``)
``intervals``     bootstrap confidence intervals (``bootstrap_ci``,
                  ``score_table``, ``Interval``)
``thresholds``    ROC and precision-recall curves (``curves``), choosing a
                  threshold for a goal (``choose_threshold``)
``calibration``   reliability bins, ECE, temperature scaling (``reliability``,
                  ``expected_calibration_error``, ``fit_temperature``,
                  ``apply_temperature``, ``to_logits``)
``comparison``    error cases, two models compared with a paired bootstrap
                  (``error_cases``, ``compare``)
================  ==============================================================

Example:
    >>> import nbhelpers as nbh
    >>> nbh.evaluate.bootstrap_ci is nbh.evaluate.intervals.bootstrap_ci
    True
"""

from __future__ import annotations

from ..predictions import (
    class_probabilities,
    logits_model,
    predict,
    predict_logits,
    predict_proba,
    predict_with_logits,
)
from .calibration import (
    EPS,
    Reliability,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    reliability,
    to_logits,
)
from .comparison import Comparison, compare, error_cases
from .intervals import Interval, bootstrap_ci, score_table
from .labels import confidence, num_classes, predicted_labels
from .metrics import METRICS, classification_report, confusion, scores
from .thresholds import Curves, ThresholdChoice, choose_threshold, curves

__all__ = [
    "predict_proba",
    "predict",
    "predict_logits",
    "predict_with_logits",
    "logits_model",
    "num_classes",
    "class_probabilities",
    "predicted_labels",
    "confidence",
    "METRICS",
    "scores",
    "Interval",
    "bootstrap_ci",
    "score_table",
    "classification_report",
    "confusion",
    "Curves",
    "curves",
    "ThresholdChoice",
    "choose_threshold",
    "Reliability",
    "reliability",
    "expected_calibration_error",
    "EPS",
    "to_logits",
    "apply_temperature",
    "fit_temperature",
    "error_cases",
    "Comparison",
    "compare",
]
