"""From probabilities to labels: the predicted class, its confidence, the checked inputs.

Every function of :mod:`nbhelpers.evaluate` takes ``y_true`` (``(N,)`` ints) and
``y_prob`` (``(N, C)`` class probabilities, or a sigmoid's ``(N,)`` P(class 1): see
:func:`nbhelpers.predictions.class_probabilities`) and checks them with
:func:`check_inputs`; :func:`predicted_labels` turns probabilities into classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..predictions import class_probabilities


def num_classes(y_prob: np.ndarray) -> int:
    """How many classes the predictions are over: 2 for ``(N,)`` or ``(N, 1)``, ``C`` for ``(N, C)``.

    Used throughout notebook 07.

    Example:
        >>> num_classes(np.array([0.1, 0.8])), num_classes(np.eye(3))
        (2, 3)
    """
    y_prob = np.asarray(y_prob)
    return 2 if y_prob.ndim == 1 or y_prob.shape[-1] == 1 else int(y_prob.shape[1])


def _labels(probs: np.ndarray, threshold: float) -> np.ndarray:
    """:func:`predicted_labels` of already checked ``(N, C)`` probabilities."""
    if probs.shape[1] == 2:
        return (probs[:, 1] >= threshold).astype(int)
    return np.argmax(probs, axis=1).astype(int)


def predicted_labels(y_prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The predicted class: P(class 1) ``>= threshold`` for two classes, the arg-max for more.

    With more than two classes there is no single threshold: the prediction is the
    most probable class, and ``threshold`` must stay 0.5.  To favour one class ``k``,
    make it a two-class question (one-vs-rest): ``y_prob[:, k] >= t``, with ``t`` from
    ``choose_threshold(y_true == k, y_prob[:, k])``.  Taught in notebook 07.

    Example:
        >>> predicted_labels(np.array([0.2, 0.5, 0.9])).tolist()
        [0, 1, 1]
        >>> predicted_labels(np.array([0.2, 0.5, 0.9]), threshold=0.6).tolist()
        [0, 0, 1]
        >>> predicted_labels(np.array([[0.1, 0.7, 0.2]])).tolist()
        [1]
        >>> predicted_labels(np.array([[0.5, 0.5]])).tolist()  # ties go to class 1, as for a sigmoid
        [1]
    """
    probs = class_probabilities(y_prob)
    if probs.shape[1] > 2 and threshold != 0.5:
        raise ValueError(
            f"a threshold ({threshold}) needs two classes; with {probs.shape[1]} the prediction "
            f"is the arg-max. For one class k, ask the two-class question: "
            f"y_prob[:, k] >= threshold (see choose_threshold)")
    return _labels(probs, threshold)


def confidence(y_prob: np.ndarray) -> np.ndarray:
    """The probability of the most probable class, one per example.

    What the reliability diagram and the error gallery sort by.  Taught in notebook 07.

    Example:
        >>> confidence(np.array([0.2, 0.9])).round(2).tolist()
        [0.8, 0.9]
    """
    return class_probabilities(y_prob).max(axis=1)


def check_inputs(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_prob)`` checked: ``(N,)`` int labels and ``(N, C)`` class probabilities.

    Every metric runs it first; a ValueError when the lengths differ, there is no
    example, or a label is outside ``0 .. C - 1``.

    Example:
        >>> y, p = check_inputs([0, 1], np.array([0.2, 0.9]))
        >>> y.tolist(), p.shape
        ([0, 1], (2, 2))
    """
    y_true = np.asarray(y_true).reshape(-1).astype(int)
    y_prob = class_probabilities(y_prob)
    if len(y_true) != len(y_prob):
        raise ValueError(f"{len(y_true)} labels but {len(y_prob)} predictions")
    if len(y_true) == 0:
        raise ValueError("no examples to evaluate")
    if y_true.min() < 0 or y_true.max() >= num_classes(y_prob):
        raise ValueError(f"labels must be 0..{num_classes(y_prob) - 1}")
    return y_true, y_prob
