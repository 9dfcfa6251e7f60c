"""Calibration: do the probabilities mean what they say, and temperature scaling.

:func:`reliability` bins the predictions by confidence and compares each bin's
confidence with its accuracy (the reliability diagram);
:func:`expected_calibration_error` sums the gaps.  :func:`fit_temperature` finds the
one number ``T`` that makes ``softmax(logits / T)`` honest on the validation set, and
:func:`apply_temperature` applies it; both work on **logits**
(``nbh.evaluate.predict_logits``), since a probability of exactly 1.0 does not say
how confident the model was.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..predictions import class_probabilities
from .labels import check_inputs, confidence, predicted_labels

#: Probabilities are clipped to [EPS, 1 - EPS] before a log, so logits stay finite.
EPS = 1e-7


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram bins of the top-label confidence, and the calibration error.

    Per bin: ``confidence`` (mean predicted probability of the predicted class),
    ``accuracy`` (how often that prediction was right) and ``counts``; empty bins
    hold NaN.  ``ece`` is the expected calibration error: the count-weighted mean
    gap ``|accuracy - confidence|``.  ``edges`` are the ``n_bins + 1`` bin edges on
    [0, 1].  What :func:`reliability` returns.

    Example:
        >>> r = reliability([1, 0, 1, 1], np.array([0.8, 0.7, 0.6, 0.9]), n_bins=2)
        >>> r.edges.tolist(), r.counts.tolist(), r.accuracy.tolist()
        ([0.0, 0.5, 1.0], [0, 4], [nan, 0.75])
        >>> round(float(r.confidence[1]), 3), round(r.ece, 3)
        (0.75, 0.0)
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
    y_true, y_prob = check_inputs(y_true, y_prob)
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
    (Guo et al., 2017).  It needs **logits**: a probability of exactly 1.0 does not
    say how confident the model was.  It also needs **mistakes**: if every example's
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
