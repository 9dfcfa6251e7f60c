"""Looking at the mistakes, and comparing two models on the same test set.

:func:`error_cases` finds the most confidently wrong and the least confident
examples (for ``nbh.plots.error_gallery``); :func:`compare` gives the difference of a
metric between two models with a paired-bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .intervals import bootstrap_settings, fast_sklearn, percentile_interval, resample_indices
from .labels import check_inputs, predicted_labels
from .metrics import metric_function, quiet_call

if TYPE_CHECKING:
    from ..config import Config


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
    y_true, y_prob = check_inputs(y_true, y_prob)
    pred = predicted_labels(y_prob, threshold)
    conf = y_prob[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != y_true)
    return {
        "confidently_wrong": wrong[np.argsort(-conf[wrong], kind="stable")][:k],
        "least_confident": np.argsort(conf, kind="stable")[:k],
    }


@dataclass(frozen=True)
class Comparison:
    """Two models on the same test set: ``difference = b - a`` with its paired-bootstrap CI.

    ``a`` and ``b`` are the metric of each model on the whole test set, ``low`` and
    ``high`` the interval of ``difference`` (``confidence``, from ``n_resamples``
    resamples where the metric is defined), ``share_b_not_better`` the fraction of
    resamples where ``b`` did not beat ``a``; ``verdict`` the interval in words.
    What :func:`compare` returns.

    Example:
        >>> print(Comparison("accuracy", 0.8, 0.9, 0.1, 0.02, 0.18, 0.95, 1000, 0.01))
        accuracy: 0.800 -> 0.900, difference +0.100 (95% CI +0.020 to +0.180)
    """

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    share_b_not_better: float  # fraction of resamples where b - a <= 0

    @property
    def verdict(self) -> str:
        """The interval read in words: which of the two it favours, or that it cannot tell.

        For a metric where higher is better (accuracy, ROC-AUC); for a loss, "favour the
        second" means the second scored higher, i.e. worse.

        Example:
            >>> Comparison("accuracy", 0.8, 0.9, 0.1, -0.02, 0.2, 0.95, 1000, 0.2).verdict
            'cannot tell them apart (the interval contains 0)'
            >>> Comparison("accuracy", 0.8, 0.9, 0.1, 0.02, 0.2, 0.95, 1000, 0.01).verdict
            'favour the second (the interval excludes 0)'
        """
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return "cannot say: no resample defined the metric (one class only?)"
        if self.low <= 0 <= self.high:
            return "cannot tell them apart (the interval contains 0)"
        return f"favour the {'second' if self.low > 0 else 'first'} (the interval excludes 0)"

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
    y_true, prob_a = check_inputs(y_true, prob_a)
    _, prob_b = check_inputs(y_true, prob_b)
    n_resamples, seed = bootstrap_settings(n_resamples, seed, cfg)
    fn = metric_function(metric)
    a = quiet_call(fn, y_true, prob_a, threshold)
    b = quiet_call(fn, y_true, prob_b, threshold)
    with fast_sklearn():
        diffs = np.array([
            quiet_call(fn, y_true[i], prob_b[i], threshold)
            - quiet_call(fn, y_true[i], prob_a[i], threshold)
            for i in resample_indices(len(y_true), n_resamples, seed)
        ])
    low, high, n_ok = percentile_interval(diffs, confidence)
    ok = diffs[np.isfinite(diffs)]
    share = float(np.mean(ok <= 0)) if len(ok) else float("nan")
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    return Comparison(name, a, b, b - a, low, high, confidence, n_ok, share)
