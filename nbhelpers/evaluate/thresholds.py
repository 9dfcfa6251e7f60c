"""ROC and precision-recall curves, and choosing the decision threshold for a stated goal.

:func:`curves` gives the curves of class 1 (two classes) or of each class against
the rest, ready for ``nbh.plots.roc_pr_curves``; :func:`choose_threshold` picks the
threshold on P(class 1) that meets a recall or precision target, or the best F1,
on the validation set.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .labels import check_inputs, num_classes


@dataclass
class Curves:
    """ROC and precision-recall curves, one per class (one-vs-rest), ready to plot.

    ``roc`` maps a legend label (``"dog: AUC 0.91"``) to ``(fpr, tpr)``; ``pr`` maps
    one (``"dog: AP 0.88"``) to ``(recall, precision)``.  ``auc``, ``average_precision``
    and ``prevalence`` (the precision of guessing) are keyed by class name.  What
    :func:`curves` returns; a class absent from ``y_true`` has no curve.

    Example:
        >>> c = curves([0, 0, 1, 1], np.array([0.1, 0.6, 0.4, 0.8]), ["cat", "dog"])
        >>> list(c.pr), c.average_precision["dog"], c.prevalence["dog"]
        (['dog: AP 0.833'], 0.8333333333333333, 0.5)
        >>> fpr, tpr = c.roc["dog: AUC 0.750"]; fpr.shape == tpr.shape
        True
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

    y_true, y_prob = check_inputs(y_true, y_prob)
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
    """A decision threshold and the precision/recall it gives on the data it was chosen on.

    ``goal`` and ``target`` are those given to :func:`choose_threshold` (``target``
    None for ``"f1"``); ``threshold`` is on P(class 1).

    Example:
        >>> t = choose_threshold(np.array([0, 0, 1, 1]), np.array([.2, .6, .4, .8]), "f1")
        >>> t.threshold, round(t.precision, 3), t.recall, t.goal, t.target
        (0.4, 0.667, 1.0, 'f1', None)
    """

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
      ``target`` (the fewest false alarms that meet the recall target: usually, not
      always, the best precision, which is not monotone in the threshold);
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

    y_true, y_prob = check_inputs(y_true, y_prob)
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
