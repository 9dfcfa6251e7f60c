"""Point metrics from probabilities: accuracy, precision, recall, F1, ROC-AUC, confusion.

scikit-learn computes them; :data:`METRICS` names each as a function
``(y_true, y_prob, threshold) -> float``, which :func:`scores`, the bootstrap
intervals (:mod:`~nbhelpers.evaluate.intervals`) and :func:`~nbhelpers.evaluate.compare`
call.  Two classes: precision, recall and F1 of class 1 at the threshold; more: their
macro averages over the arg-max prediction.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..predictions import class_probabilities
from .labels import check_inputs, num_classes, predicted_labels


def _average(probs: np.ndarray) -> str:
    return "binary" if probs.shape[1] == 2 else "macro"


def _accuracy(y_true, y_prob, threshold=0.5):
    from sklearn.metrics import accuracy_score

    return accuracy_score(y_true, predicted_labels(y_prob, threshold))


def _prf(which: int):
    def metric(y_true, y_prob, threshold=0.5):
        from sklearn.metrics import precision_recall_fscore_support

        probs = class_probabilities(y_prob)
        labels = list(range(probs.shape[1]))
        avg = _average(probs)
        return precision_recall_fscore_support(
            y_true,
            predicted_labels(probs, threshold),
            average=avg,
            labels=None if avg == "binary" else labels,
            zero_division=0,
        )[which]

    return metric


def _roc_auc(y_true, y_prob, threshold=0.5):
    from sklearn.metrics import roc_auc_score

    del threshold  # AUC does not depend on a threshold
    y_true = np.asarray(y_true)
    probs = class_probabilities(y_prob)
    n = probs.shape[1]
    if len(np.unique(y_true)) < n:
        return float("nan")  # undefined without both/all classes (e.g. in a bootstrap resample)
    if n == 2:
        return roc_auc_score(y_true, probs[:, 1])
    return roc_auc_score(y_true, probs, multi_class="ovr", average="macro", labels=list(range(n)))


#: name -> metric(y_true, y_prob, threshold) -> float.  Two classes: precision, recall and
#: F1 of class 1; more classes: their macro average.  ROC-AUC: one-vs-rest, macro.
METRICS: dict[str, Callable[..., float]] = {
    "accuracy": _accuracy,
    "precision": _prf(0),
    "recall": _prf(1),
    "f1": _prf(2),
    "roc_auc": _roc_auc,
}


def metric_function(metric: str | Callable[..., float]) -> Callable[..., float]:
    """The function :data:`METRICS` holds under the name ``metric`` (a function is kept as it is).

    Example:
        >>> metric_function("accuracy") is METRICS["accuracy"]
        True
    """
    if callable(metric):
        return metric
    try:
        return METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; choose from {sorted(METRICS)}") from None


def quiet_call(fn: Callable[..., float], *args: Any) -> float:
    """``float(fn(*args))`` without warnings; NaN where ``fn`` finds the metric undefined.

    What bootstrap resamples need: a tiny resample can hold one class only.

    Example:
        >>> quiet_call(METRICS["roc_auc"], np.array([1, 1]), np.array([0.2, 0.9]))
        nan
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined-metric warnings in tiny resamples
        try:
            return float(fn(*args))
        except ValueError:  # e.g. ROC-AUC on a resample with one class only
            return float("nan")


def scores(
    y_true: Sequence[int] | np.ndarray, y_prob: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and ROC-AUC (point values, scikit-learn's).

    Two classes: precision/recall/F1 of class 1 at ``threshold``.  More classes:
    macro averages of the arg-max prediction.  Taught in notebook 07.

    Example:
        >>> s = scores([0, 0, 1, 1], np.array([0.1, 0.6, 0.4, 0.8]))
        >>> {k: round(v, 3) for k, v in s.items()}
        {'accuracy': 0.5, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'roc_auc': 0.75}
    """
    y_true, y_prob = check_inputs(y_true, y_prob)
    return all_scores(y_true, y_prob, threshold)


def all_scores(y_true: np.ndarray, y_prob: np.ndarray, threshold: float) -> dict[str, float]:
    """:func:`scores` without input checks, one precision/recall/F1 call: the bootstrap's inner loop.

    Example:
        >>> s = all_scores(np.array([0, 1]), np.array([[0.8, 0.2], [0.3, 0.7]]), 0.5)
        >>> s["accuracy"], s["f1"]
        (1.0, 1.0)
    """
    from sklearn.metrics import precision_recall_fscore_support

    avg = _average(y_prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = precision_recall_fscore_support(
            y_true, predicted_labels(y_prob, threshold), average=avg,
            labels=None if avg == "binary" else list(range(num_classes(y_prob))),
            zero_division=0)
    return {"accuracy": quiet_call(_accuracy, y_true, y_prob, threshold),
            "precision": float(p), "recall": float(r), "f1": float(f),
            "roc_auc": quiet_call(_roc_auc, y_true, y_prob)}


def classification_report(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    class_names: Sequence[str] | None = None,
    threshold: float = 0.5,
    digits: int = 3,
    output_dict: bool = False,
) -> str | dict:
    """scikit-learn's per-class precision, recall, F1 and support, from probabilities.

    Taught in notebook 07.

    Example:
        >>> print(classification_report([0, 1, 1], np.array([0.2, 0.7, 0.4]), ["cat", "dog"]))
        ... # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
        precision recall f1-score support
        cat 0.500 1.000 0.667 1
        dog 1.000 0.500 0.667 2
        ...
    """
    from sklearn.metrics import classification_report as sk_report

    y_true, y_prob = check_inputs(y_true, y_prob)
    n = num_classes(y_prob)
    return sk_report(
        y_true,
        predicted_labels(y_prob, threshold),
        labels=list(range(n)),
        target_names=list(class_names) if class_names is not None else None,
        digits=digits,
        zero_division=0,
        output_dict=output_dict,
    )


def confusion(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    threshold: float = 0.5,
    normalize: str | None = None,
) -> np.ndarray:
    """The confusion matrix (rows: true class, columns: predicted class).

    ``normalize="true"`` divides each row by its total: the diagonal is then each
    class's recall.  scikit-learn's ``confusion_matrix``.  Taught in notebook 07.

    Example:
        >>> confusion([0, 0, 1, 1], np.array([0.1, 0.6, 0.4, 0.8])).tolist()
        [[1, 1], [1, 1]]
        >>> confusion([0, 0, 0, 1], np.array([0.1, 0.2, 0.6, 0.8]), normalize="true").round(2).tolist()
        [[0.67, 0.33], [0.0, 1.0]]
    """
    from sklearn.metrics import confusion_matrix

    y_true, y_prob = check_inputs(y_true, y_prob)
    return confusion_matrix(
        y_true,
        predicted_labels(y_prob, threshold),
        labels=list(range(num_classes(y_prob))),
        normalize=normalize,
    )
