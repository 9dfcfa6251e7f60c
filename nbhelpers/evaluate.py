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
float32) no longer says *how* confident the model was.

Only :func:`predict`, :func:`predict_proba`, :func:`predict_logits`,
:func:`predict_with_logits` (both in one pass) and :func:`logits_model` touch a model
(a Keras model, or for the first two any function from a batch of images to
probabilities); nothing here reaches back into training.
The metrics, curves and reliability bins come from scikit-learn; what scikit-learn
does not provide -- bootstrap intervals, the expected calibration error, temperature
scaling on logits, and choosing a threshold for a stated goal -- is written here,
short and tested.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .predictions import (
    class_probabilities,
    logits_model,
    predict,
    predict_logits,
    predict_proba,
    predict_with_logits,
)

if TYPE_CHECKING:
    import pandas as pd

    from .config import Config

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
    "to_logits",
    "apply_temperature",
    "fit_temperature",
    "error_cases",
    "Comparison",
    "compare",
]

#: Probabilities are clipped to [EPS, 1 - EPS] before a log, so logits stay finite.
EPS = 1e-7

# --------------------------------------------------------------------------- predictions
# Running a model lives in nbhelpers.predictions; these names are re-exported below so that
# notebook 07 reads them where it reads the metrics.



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


# ------------------------------------------------------------------------------- metrics


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


def _metric(metric: str | Callable[..., float]) -> Callable[..., float]:
    if callable(metric):
        return metric
    try:
        return METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; choose from {sorted(METRICS)}") from None


def _check(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).reshape(-1).astype(int)
    y_prob = class_probabilities(y_prob)
    if len(y_true) != len(y_prob):
        raise ValueError(f"{len(y_true)} labels but {len(y_prob)} predictions")
    if len(y_true) == 0:
        raise ValueError("no examples to evaluate")
    if y_true.min() < 0 or y_true.max() >= num_classes(y_prob):
        raise ValueError(f"labels must be 0..{num_classes(y_prob) - 1}")
    return y_true, y_prob


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
    y_true, y_prob = _check(y_true, y_prob)
    return _all_scores(y_true, y_prob, threshold)


def _all_scores(y_true: np.ndarray, y_prob: np.ndarray, threshold: float) -> dict[str, float]:
    """:func:`scores` without input checks, one precision/recall/F1 call: the bootstrap's inner loop."""
    from sklearn.metrics import precision_recall_fscore_support

    avg = _average(y_prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = precision_recall_fscore_support(
            y_true, predicted_labels(y_prob, threshold), average=avg,
            labels=None if avg == "binary" else list(range(num_classes(y_prob))),
            zero_division=0)
    return {"accuracy": _quiet_call(_accuracy, y_true, y_prob, threshold),
            "precision": float(p), "recall": float(r), "f1": float(f),
            "roc_auc": _quiet_call(_roc_auc, y_true, y_prob)}


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval."""

    value: float
    low: float
    high: float
    confidence: float = 0.95
    n_resamples: int = 0  # resamples where the metric was defined

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return f"{self.value:.3f} ({pct}% CI {self.low:.3f} to {self.high:.3f})"


def _bootstrap_settings(n_resamples, seed, cfg) -> tuple[int, int]:
    if n_resamples is None or seed is None:
        from .config import current

        cfg = cfg or current()
        n_resamples = cfg.bootstrap if n_resamples is None else n_resamples
        seed = cfg.seed if seed is None else seed
    return int(n_resamples), int(seed)


def _resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n)`` indices drawn with replacement: the bootstrap's resamples."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _fast_sklearn():
    """Skip scikit-learn's argument checks inside bootstrap loops (inputs are checked once)."""
    import sklearn

    return sklearn.config_context(skip_parameter_validation=True, assume_finite=True)


def _quiet_call(fn: Callable[..., float], *args: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined-metric warnings in tiny resamples
        try:
            return float(fn(*args))
        except ValueError:  # e.g. ROC-AUC on a resample with one class only
            return float("nan")


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float, int]:
    ok = values[np.isfinite(values)]
    if len(ok) == 0:
        return float("nan"), float("nan"), 0
    if len(ok) < 0.9 * len(values):
        warnings.warn(
            f"the metric was undefined in {len(values) - len(ok)} of {len(values)} resamples "
            "(too few examples of a class); the interval is unreliable",
            stacklevel=3,
        )
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(ok, [alpha, 1.0 - alpha])
    return float(low), float(high), len(ok)


def _warn_zero_width(names: Sequence[str], columns: Sequence[np.ndarray], n: int) -> None:
    """Warn when every resample of a metric gave the same value: zero width is not certainty."""
    same = []
    for name, values in zip(names, columns, strict=True):
        ok = values[np.isfinite(values)]
        if len(ok) > 1 and np.ptp(ok) == 0:
            same.append(f"{name} = {ok[0]:.3g}")
    if same:
        warnings.warn(
            f"every resample gave the same value ({', '.join(same)}), so the interval has zero "
            f"width: these {n} examples show no variation to resample (no mistakes, say), which "
            f"is not certainty. With no mistakes in {n} images the error rate can still be up to "
            f"about 3/{n} = {3 / n:.3f} (95%, the rule of three).",
            stacklevel=3)


def bootstrap_ci(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    metric: str | Callable[..., float] = "accuracy",
    n_resamples: int | None = None,
    seed: int | None = None,
    confidence: float = 0.95,
    threshold: float = 0.5,
    cfg: Config | None = None,
) -> Interval:
    """A metric with its percentile-bootstrap confidence interval (seeded, reproducible).

    Resample the test examples with replacement ``n_resamples`` times (default
    ``cfg.bootstrap``, seed ``cfg.seed``), recompute the metric on each resample, and
    take the middle ``confidence`` of those values.  The interval says how much the
    number would move with a different test set of the same size -- not how good the
    model is on other data.  It can only show variation the test set has: a model with
    no mistakes gets ``1.0 to 1.0`` on every resample, which is not certainty, so it
    warns then (with ``n`` images and no mistakes the error rate can still be about
    ``3 / n``, the rule of three).  ``metric`` is a name in :data:`METRICS` or a function
    ``(y_true, y_prob, threshold) -> float``; it receives ``y_prob`` as ``(N, C)``
    class probabilities (two classes too).  Taught in notebook 07.

    Example:
        >>> y = np.array([0, 1] * 20); p = np.where(y == 1, 0.8, 0.3); p[:6] = 1 - p[:6]
        >>> ci = bootstrap_ci(y, p, "accuracy", n_resamples=200, seed=0)
        >>> ci.value, ci.low < 0.85 < ci.high, ci.high <= 1.0
        (0.85, True, True)
    """
    y_true, y_prob = _check(y_true, y_prob)
    n_resamples, seed = _bootstrap_settings(n_resamples, seed, cfg)
    fn = _metric(metric)
    value = _quiet_call(fn, y_true, y_prob, threshold)
    idx = _resample_indices(len(y_true), n_resamples, seed)
    with _fast_sklearn():
        values = np.array([_quiet_call(fn, y_true[i], y_prob[i], threshold) for i in idx])
    low, high, n_ok = _percentile_interval(values, confidence)
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    _warn_zero_width([name], [values], len(y_true))
    return Interval(value, low, high, confidence, n_ok)


def score_table(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    threshold: float = 0.5,
    n_resamples: int | None = None,
    seed: int | None = None,
    confidence: float = 0.95,
    cfg: Config | None = None,
) -> pd.DataFrame:
    """Every metric of :func:`scores` with its bootstrap interval, one row per metric.

    Columns ``value``, ``ci_low``, ``ci_high``; every metric is computed on the same
    resamples (the same as :func:`bootstrap_ci` with the same seed), and it warns, as
    :func:`bootstrap_ci` does, about intervals of zero width.  Taught in notebook 07.

    Example:
        >>> t = score_table([0, 0, 1, 1, 0, 1], np.array([.1, .6, .4, .8, .2, .9]),
        ...                 n_resamples=20, seed=0)
        >>> list(t.index), list(t.columns)
        (['accuracy', 'precision', 'recall', 'f1', 'roc_auc'], ['value', 'ci_low', 'ci_high'])
        >>> round(float(t.loc["accuracy", "value"]), 3), bool((t.ci_low <= t.ci_high).all())
        (0.667, True)
    """
    import pandas as pd

    y_true, y_prob = _check(y_true, y_prob)
    n_resamples, seed = _bootstrap_settings(n_resamples, seed, cfg)
    point = _all_scores(y_true, y_prob, threshold)
    with _fast_sklearn():
        resampled = np.array([
            list(_all_scores(y_true[i], y_prob[i], threshold).values())
            for i in _resample_indices(len(y_true), n_resamples, seed)
        ])
    rows = [(point[name], *_percentile_interval(resampled[:, j], confidence)[:2])
            for j, name in enumerate(point)]
    _warn_zero_width(list(point), list(resampled.T), len(y_true))
    return pd.DataFrame(rows, columns=["value", "ci_low", "ci_high"],
                        index=pd.Index(list(point), name="metric"))


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

    y_true, y_prob = _check(y_true, y_prob)
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

    y_true, y_prob = _check(y_true, y_prob)
    return confusion_matrix(
        y_true,
        predicted_labels(y_prob, threshold),
        labels=list(range(num_classes(y_prob))),
        normalize=normalize,
    )


# -------------------------------------------------------------------------------- curves


@dataclass
class Curves:
    """ROC and precision-recall curves, one per class (one-vs-rest), ready to plot.

    ``roc`` maps a legend label (``"dog: AUC 0.91"``) to ``(fpr, tpr)``; ``pr`` maps
    one (``"dog: AP 0.88"``) to ``(recall, precision)``.  ``auc``, ``average_precision``
    and ``prevalence`` (the precision of guessing) are keyed by class name.
    """

    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    pr: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    auc: dict[str, float] = field(default_factory=dict)
    average_precision: dict[str, float] = field(default_factory=dict)
    prevalence: dict[str, float] = field(default_factory=dict)


def curves(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    class_names: Sequence[str] | None = None,
) -> Curves:
    """ROC and precision-recall curves from scikit-learn, for class 1 (two classes) or each class.

    With more than two classes every curve is *one-vs-rest*: class ``c`` against all
    the others, ranked by P(class c).  Taught in notebook 07.

    Example:
        >>> c = curves([0, 0, 1, 1], np.array([0.1, 0.6, 0.4, 0.8]), ["cat", "dog"])
        >>> list(c.roc), c.auc["dog"]
        (['dog: AUC 0.750'], 0.75)
    """
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    y_true, y_prob = _check(y_true, y_prob)
    n = num_classes(y_prob)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    probs = y_prob  # (N, C), checked
    out = Curves()
    for c in [1] if n == 2 else range(n):
        positive = (y_true == c).astype(int)
        if positive.min() == positive.max():
            continue  # a class absent (or alone) in y_true has no curve
        fpr, tpr, _ = roc_curve(positive, probs[:, c])
        precision, recall, _ = precision_recall_curve(positive, probs[:, c])
        name = names[c]
        out.auc[name] = float(auc(fpr, tpr))
        out.average_precision[name] = float(average_precision_score(positive, probs[:, c]))
        out.prevalence[name] = float(positive.mean())
        out.roc[f"{name}: AUC {out.auc[name]:.3f}"] = (fpr, tpr)
        out.pr[f"{name}: AP {out.average_precision[name]:.3f}"] = (recall, precision)
    return out


@dataclass(frozen=True)
class ThresholdChoice:
    """A decision threshold and the precision/recall it gives on the data it was chosen on."""

    threshold: float
    precision: float
    recall: float
    goal: str
    target: float | None


def choose_threshold(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    goal: str = "recall",
    target: float | None = 0.9,
) -> ThresholdChoice:
    """Choose the decision threshold on P(class 1) for a stated goal instead of 0.5 (two classes).

    * ``goal="recall"``: the highest threshold whose recall of class 1 is at least
      ``target`` (so the best precision that still meets the recall target);
    * ``goal="precision"``: the lowest threshold with precision at least ``target``
      (the best recall that meets the precision target);
    * ``goal="f1"``: the threshold with the highest F1 (``target`` is ignored).

    Choose it on the *validation* set, then report the test set at that threshold:
    a threshold tuned on the test set makes the test numbers optimistic.  Candidates
    come from scikit-learn's ``precision_recall_curve``.  A very confident model can
    land on a threshold of 1.0 (or within ``1e-6`` of it): its P(class 1) is exactly 1.0
    in float32 for every logit above about 17, so only those saturated predictions pass;
    it warns then, since a new image with P = 0.99 would be called class 0.

    More than two classes have no single threshold (the prediction is the arg-max);
    for one class ``k`` ask the two-class question, one-vs-rest:
    ``choose_threshold(y_true == k, y_prob[:, k])``, then flag ``k`` where
    ``y_prob[:, k] >= threshold``.  Taught in notebook 07.

    Example:
        >>> y = np.array([0, 0, 0, 1, 1, 1]); p = np.array([.1, .3, .6, .2, .7, .9])
        >>> t = choose_threshold(y, p, "recall", 1.0)
        >>> t.threshold, t.recall, round(t.precision, 2)
        (0.2, 1.0, 0.6)
        >>> p3 = np.array([[.8, .1, .1], [.2, .7, .1], [.3, .3, .4], [.1, .1, .8]])
        >>> choose_threshold(np.array([0, 1, 2, 2]) == 2, p3[:, 2], "recall", 1.0).threshold
        0.4
    """
    from sklearn.metrics import precision_recall_curve

    y_true, y_prob = _check(y_true, y_prob)
    if y_prob.shape[1] != 2:
        raise ValueError(
            f"choose_threshold is for two classes; these predictions have {y_prob.shape[1]} "
            f"(the prediction is their arg-max). For one class k, ask the two-class question "
            f"(one-vs-rest): choose_threshold(y_true == k, y_prob[:, k], ...)")
    precision, recall, thresholds = precision_recall_curve(y_true, y_prob[:, 1])
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if goal == "recall":
        ok = np.flatnonzero(recall >= target)
        i = ok.max() if len(ok) else None
    elif goal == "precision":
        ok = np.flatnonzero(precision >= target)
        i = ok.min() if len(ok) else None
    elif goal == "f1":
        f1 = np.divide(2 * precision * recall, precision + recall,
                       out=np.zeros_like(precision), where=(precision + recall) > 0)
        i, target = int(np.argmax(f1)), None
    else:
        raise ValueError(f"goal must be 'recall', 'precision' or 'f1', not {goal!r}")
    if i is None:
        raise ValueError(f"no threshold reaches {goal} >= {target} on these data")
    if thresholds[i] > 1.0 - 1e-6:
        p1 = y_prob[:, 1]
        below = p1[p1 < thresholds[i]]
        warnings.warn(
            f"the chosen threshold is {thresholds[i]:.8g}: P(class 1) is saturated (within 1e-6 "
            f"of 1.0) for {int((p1 >= thresholds[i]).sum())} of these {len(p1)} examples, and "
            f"any threshold above {below.max() if len(below) else 0.0:.3g} gives the same {goal} "
            f"on them. Only saturated predictions pass this one: a new image with P(class 1) = "
            f"0.99 would be called class 0. These probabilities cannot place the threshold; "
            f"keep 0.5, or choose it on softened probabilities (apply_temperature(logits, T) "
            f"with T > 1 keeps the logits' ranking) and apply it to those.",
            stacklevel=2)
    return ThresholdChoice(float(thresholds[i]), float(precision[i]), float(recall[i]),
                           goal, target)


# ---------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram bins of the top-label confidence, and the calibration error.

    Per bin: ``confidence`` (mean predicted probability of the predicted class),
    ``accuracy`` (how often that prediction was right) and ``counts``; empty bins
    hold NaN.  ``ece`` is the expected calibration error: the count-weighted mean
    gap ``|accuracy - confidence|``.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float


def reliability(
    y_true: Sequence[int] | np.ndarray, y_prob: np.ndarray, n_bins: int = 10
) -> Reliability:
    """Bin the predictions by confidence; compare each bin's confidence with its accuracy.

    The *top-label* view, the same for two classes and for more: the confidence of
    an example is the probability of its predicted class, and it is "right" when
    that class is the true one (Guo et al., 2017).  Bins are equal-width on [0, 1];
    per-bin means equal scikit-learn's ``calibration_curve(correct, confidence)``.
    A perfectly calibrated model has accuracy == confidence in every bin.
    Taught in notebook 07.

    Example:
        >>> r = reliability([1, 1, 0, 0], np.array([0.9, 0.9, 0.9, 0.3]), n_bins=5)
        >>> r.counts.tolist(), round(r.ece, 3)
        ([0, 0, 0, 1, 3], 0.25)
    """
    y_true, y_prob = _check(y_true, y_prob)
    conf = confidence(y_prob)
    correct = (predicted_labels(y_prob) == y_true).astype("float64")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.histogram(conf, bins=edges)[0]
    conf_sum = np.histogram(conf, bins=edges, weights=conf)[0]
    correct_sum = np.histogram(conf, bins=edges, weights=correct)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf_sum / counts, np.nan)
        accuracy = np.where(counts > 0, correct_sum / counts, np.nan)
    ece = float(np.abs(correct_sum - conf_sum).sum() / len(conf))
    return Reliability(edges, mean_conf, accuracy, counts, ece)


def expected_calibration_error(
    y_true: Sequence[int] | np.ndarray, y_prob: np.ndarray, n_bins: int = 10
) -> float:
    """Expected calibration error (top-label, equal-width bins); 0 is perfectly calibrated.

    ``sum over bins of (bin size / N) * |accuracy in bin - mean confidence in bin|``.
    scikit-learn has no ECE, so it is written here (see :func:`reliability`).
    Taught in notebook 07.

    Example:
        >>> expected_calibration_error([1, 1, 1, 0], np.array([0.75, 0.75, 0.75, 0.75]))
        0.0
        >>> expected_calibration_error([1, 0], np.array([0.99, 0.99]))
        0.49
    """
    return round(reliability(y_true, y_prob, n_bins).ece, 12)


def to_logits(y_prob: np.ndarray) -> np.ndarray:
    """Logits recovered from probabilities, ``log(p)`` per class ``(N, C)``: the fallback.

    When a model only gives probabilities (a plain function, a model with no logits to
    read), ``log(p)`` are logits that give them back: a softmax ignores a constant
    added to every logit, so ``softmax(log p) = p`` (for two classes,
    ``log p1 - log p0`` is the sigmoid's ``logit(p)``).  The probabilities are first
    clipped to ``[EPS, 1 - EPS]`` so the logs stay finite: every prediction more
    confident than ``1 - EPS`` (a logit above about 16) -- and in float32 every logit
    above about 17 is exactly 1.0 -- looks the same, so prefer :func:`predict_logits`
    whenever the model is at hand (as notebook 07 does).

    Example:
        >>> z = to_logits(np.array([0.5, 0.880797]))
        >>> z.shape, (z[:, 1] - z[:, 0]).round(3).tolist()
        ((2, 2), [0.0, 2.0])
    """
    p = np.clip(class_probabilities(y_prob), EPS, 1.0 - EPS)
    return np.log(p)


def _as_logits(logits: Any) -> np.ndarray:
    """Logits as ``(N, C)`` float64, ``C >= 2``: a sigmoid's ``z`` becomes ``[0, z]``.

    ``softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]``, so one formula serves both.
    Arrays that look like probabilities (``(N, C)`` in [0, 1], rows summing to 1) are
    refused: temperature scaling needs logits.
    """
    z = np.asarray(logits, dtype="float64")
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if z.ndim == 1:
        return np.column_stack([np.zeros_like(z), z])
    if z.ndim != 2:
        raise ValueError(f"expected logits of shape (N,), (N, 1) or (N, C), got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("the logits contain NaN or infinite values")
    if z.size and z.min() >= 0 and z.max() <= 1 and np.allclose(z.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(
            "these look like probabilities (rows in [0, 1] summing to 1), not logits; "
            "temperature scaling works on logits: use predict_logits(model, data), or, if "
            "you only have probabilities, to_logits(y_prob) (clipped: very confident "
            "predictions lose their rank)")
    return z


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities ``(N, C)`` from logits divided by a temperature: ``softmax(z / T)``.

    ``logits`` as :func:`predict_logits` returns them: ``(N, 1)`` (or ``(N,)``) for one
    sigmoid unit, giving ``[1 - sigmoid(z / T), sigmoid(z / T)]``, or ``(N, C)`` for a
    softmax.  ``T > 1`` softens over-confident predictions, ``T < 1`` sharpens them;
    the predicted class never changes.  ``T = 1`` gives the model's own probabilities.
    Taught in notebook 07.

    Example:
        >>> apply_temperature(np.array([[2.0]]), 2.0).round(3).tolist()   # sigmoid(2 / 2)
        [[0.269, 0.731]]
        >>> apply_temperature(np.log([[0.7, 0.2, 0.1]]), 1.0).round(3).tolist()
        [[0.7, 0.2, 0.1]]
    """
    from scipy.special import softmax

    if not temperature > 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    return softmax(_as_logits(logits) / float(temperature), axis=1)


def _nll(y_true: np.ndarray, z: np.ndarray) -> float:
    """Mean negative log-likelihood of softmax(z), from logits (no clipping needed)."""
    from scipy.special import log_softmax

    return float(-log_softmax(z, axis=1)[np.arange(len(y_true)), y_true].mean())


def fit_temperature(
    y_true: Sequence[int] | np.ndarray,
    logits: np.ndarray,
    bounds: tuple[float, float] = (0.01, 1000.0),
) -> float:
    """Temperature scaling: the ``T`` minimising the negative log-likelihood of ``softmax(z / T)``.

    Fit it on the *validation* set's logits (:func:`predict_logits`), apply it to the
    test set's with :func:`apply_temperature`.  One parameter, so it cannot over-fit
    much and it keeps every prediction's class; it only makes the probabilities honest
    (Guo et al., 2017).  It needs **logits**: a probability of exactly 1.0 no longer
    says how confident the model was.  It also needs **mistakes**: if every example's
    true class already has the largest logit (a validation set the model gets all
    right), the NLL keeps falling as ``T -> 0`` and has no minimum, so any ``T`` the
    search stopped at would be an accident of rounding; then it warns and returns
    ``1.0`` (the model's own probabilities).  If you only have probabilities, pass
    :func:`to_logits` of them, knowing that it clips (``tests/test_evaluate.py`` shows
    a model with logits of +-30 where that fallback fits a temperature half the true one).  The NLL is computed from the
    logits with ``log_softmax`` (scikit-learn's ``log_loss`` of the same probabilities,
    without its clipping); the search is over ``log T`` (SciPy's bounded
    ``minimize_scalar``).  Taught in notebook 07.

    Example:
        >>> y = np.array([1, 1, 1, 0] * 5)     # right 3 times in 4 ...
        >>> z = np.full((20, 1), 30.0)         # ... with a logit of 30 each time: sigmoid 1.0
        >>> t = fit_temperature(y, z); round(t, 1), round(float(apply_temperature(z, t)[0, 1]), 3)
        (27.3, 0.75)
    """
    from scipy.optimize import minimize_scalar

    z = _as_logits(logits)
    y_true = np.asarray(y_true).reshape(-1).astype(int)
    if len(y_true) != len(z):
        raise ValueError(f"{len(y_true)} labels but {len(z)} rows of logits")
    if len(y_true) == 0:
        raise ValueError("no examples to fit a temperature on")
    if y_true.min() < 0 or y_true.max() >= z.shape[1]:
        raise ValueError(f"labels must be 0..{z.shape[1] - 1}")
    rows = np.arange(len(z))
    margins = z[rows, y_true][:, None] - z  # true-class logit minus each logit
    margins[rows, y_true] = np.inf
    if margins.min() >= 0:
        warnings.warn(
            f"every one of the {len(z)} examples is classified right (its true class has the "
            f"largest logit), so the negative log-likelihood keeps falling as T -> 0 and has "
            f"no minimum: there is no mistake to calibrate against. Returning T = 1.0 (the "
            f"model's own probabilities); fit the temperature on a set where the model makes "
            f"some mistakes, or report that it made none.",
            stacklevel=2)
        return 1.0
    res = minimize_scalar(lambda log_t: _nll(y_true, z / np.exp(log_t)),
                          bounds=tuple(np.log(bounds)), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


# ------------------------------------------------------------------------- error analysis


def error_cases(
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    k: int = 6,
    threshold: float = 0.5,
) -> dict[str, np.ndarray]:
    """Indices of the ``k`` most confidently wrong and the ``k`` least confident examples.

    ``"confidently_wrong"``: wrong predictions, most confident first (often label
    noise, or a shortcut the model learned).  ``"least_confident"``: every example,
    the probability of its predicted class lowest first (the ambiguous ones).
    Show them with ``plots.error_gallery``.  Taught in notebook 07.

    Example:
        >>> cases = error_cases([0, 0, 1, 1], np.array([0.9, 0.6, 0.45, 0.95]), k=2)
        >>> cases["confidently_wrong"].tolist(), cases["least_confident"].tolist()
        ([0, 1], [2, 1])
    """
    y_true, y_prob = _check(y_true, y_prob)
    pred = predicted_labels(y_prob, threshold)
    conf = y_prob[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != y_true)
    return {
        "confidently_wrong": wrong[np.argsort(-conf[wrong], kind="stable")][:k],
        "least_confident": np.argsort(conf, kind="stable")[:k],
    }


# ------------------------------------------------------------------------ comparing models


@dataclass(frozen=True)
class Comparison:
    """Two models on the same test set: ``difference = b - a`` with its paired-bootstrap CI."""

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    share_b_not_better: float  # fraction of resamples where b - a <= 0

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return (f"{self.metric}: {self.a:.3f} -> {self.b:.3f}, difference {self.difference:+.3f} "
                f"({pct}% CI {self.low:+.3f} to {self.high:+.3f})")


def compare(
    y_true: Sequence[int] | np.ndarray,
    prob_a: np.ndarray,
    prob_b: np.ndarray,
    metric: str | Callable[..., float] = "accuracy",
    n_resamples: int | None = None,
    seed: int | None = None,
    confidence: float = 0.95,
    threshold: float = 0.5,
    cfg: Config | None = None,
) -> Comparison:
    """Compare two models' predictions on the *same* test set with a paired bootstrap.

    Each resample draws the same examples for both models and records ``b - a``;
    pairing removes the variation the two share (easy and hard test images), so
    the interval of the difference is much narrower than comparing two separate
    intervals.  If it contains 0, this test set cannot tell the models apart.
    Taught in notebook 07.

    Example:
        >>> y = np.array([0, 1] * 30)
        >>> a = np.where(y == 1, 0.6, 0.4); a[:12] = 1 - a[:12]   # 48/60 right
        >>> b = np.where(y == 1, 0.9, 0.1); b[:2] = 1 - b[:2]     # 58/60 right
        >>> c = compare(y, a, b, "accuracy", n_resamples=100, seed=0)
        >>> round(c.difference, 3), c.low > 0
        (0.167, True)
    """
    y_true, prob_a = _check(y_true, prob_a)
    _, prob_b = _check(y_true, prob_b)
    n_resamples, seed = _bootstrap_settings(n_resamples, seed, cfg)
    fn = _metric(metric)
    a = _quiet_call(fn, y_true, prob_a, threshold)
    b = _quiet_call(fn, y_true, prob_b, threshold)
    with _fast_sklearn():
        diffs = np.array([
            _quiet_call(fn, y_true[i], prob_b[i], threshold)
            - _quiet_call(fn, y_true[i], prob_a[i], threshold)
            for i in _resample_indices(len(y_true), n_resamples, seed)
        ])
    low, high, n_ok = _percentile_interval(diffs, confidence)
    ok = diffs[np.isfinite(diffs)]
    share = float(np.mean(ok <= 0)) if len(ok) else float("nan")
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    return Comparison(name, a, b, b - a, low, high, confidence, n_ok, share)
