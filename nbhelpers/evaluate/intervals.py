"""Bootstrap confidence intervals: how much a metric would move with another test set.

:func:`bootstrap_ci` gives one metric with its percentile-bootstrap interval,
:func:`score_table` every metric of :func:`~nbhelpers.evaluate.scores` on the same
resamples.  Both are seeded (``cfg.seed``, ``cfg.bootstrap`` resamples by default), and
warn when the interval cannot be trusted: a metric undefined in many resamples, or
an interval of zero width (no mistakes to resample).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .labels import check_inputs
from .metrics import all_scores, metric_function, quiet_call

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import pandas as pd

    from ..config import Config


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval: ``value``, ``low``, ``high``.

    Example:
        >>> print(Interval(0.9, 0.85, 0.95))
        0.900 (95% CI 0.850 to 0.950)
    """

    value: float
    low: float
    high: float
    confidence: float = 0.95
    n_resamples: int = 0  # resamples where the metric was defined

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return f"{self.value:.3f} ({pct}% CI {self.low:.3f} to {self.high:.3f})"


def bootstrap_settings(n_resamples: int | None, seed: int | None, cfg: Config | None
                       ) -> tuple[int, int]:
    """``(n_resamples, seed)``: the arguments, or where None the config's ``bootstrap`` and ``seed``.

    Example:
        >>> bootstrap_settings(100, 7, None)
        (100, 7)
    """
    if n_resamples is None or seed is None:
        from ..config import current

        cfg = cfg or current()
        n_resamples = cfg.bootstrap if n_resamples is None else n_resamples
        seed = cfg.seed if seed is None else seed
    return int(n_resamples), int(seed)


def resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, n)`` indices drawn with replacement: the bootstrap's resamples.

    Example:
        >>> resample_indices(5, 3, seed=0).shape
        (3, 5)
    """
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def fast_sklearn() -> AbstractContextManager[None]:
    """Skip scikit-learn's argument checks inside bootstrap loops (inputs are checked once).

    A ``with`` block: inside it scikit-learn neither validates parameters nor
    checks for NaN or infinity (``skip_parameter_validation``, ``assume_finite``);
    after it, its settings are what they were.

    Example:
        >>> import sklearn
        >>> with fast_sklearn():
        ...     inside = sklearn.get_config()
        >>> inside["skip_parameter_validation"], inside["assume_finite"]
        (True, True)
        >>> sklearn.get_config()["assume_finite"]   # outside the block: the default
        False
    """
    import sklearn

    return sklearn.config_context(skip_parameter_validation=True, assume_finite=True)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """``(low, high, n)``: the middle ``confidence`` of the finite values, and how many were finite.

    It warns when more than a tenth of the values are undefined (NaN).

    Example:
        >>> low, high, n = percentile_interval(np.arange(101.0), 0.9)
        >>> round(low, 6), round(high, 6), n
        (5.0, 95.0, 101)
    """
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
    y_true, y_prob = check_inputs(y_true, y_prob)
    n_resamples, seed = bootstrap_settings(n_resamples, seed, cfg)
    fn = metric_function(metric)
    value = quiet_call(fn, y_true, y_prob, threshold)
    idx = resample_indices(len(y_true), n_resamples, seed)
    with fast_sklearn():
        values = np.array([quiet_call(fn, y_true[i], y_prob[i], threshold) for i in idx])
    low, high, n_ok = percentile_interval(values, confidence)
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

    y_true, y_prob = check_inputs(y_true, y_prob)
    n_resamples, seed = bootstrap_settings(n_resamples, seed, cfg)
    point = all_scores(y_true, y_prob, threshold)
    with fast_sklearn():
        resampled = np.array([
            list(all_scores(y_true[i], y_prob[i], threshold).values())
            for i in resample_indices(len(y_true), n_resamples, seed)
        ])
    rows = [(point[name], *percentile_interval(resampled[:, j], confidence)[:2])
            for j, name in enumerate(point)]
    _warn_zero_width(list(point), list(resampled.T), len(y_true))
    return pd.DataFrame(rows, columns=["value", "ci_low", "ci_high"],
                        index=pd.Index(list(point), name="metric"))
