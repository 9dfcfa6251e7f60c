"""What the methods that only query the model explain: the probability or the log-odds.

LIME, the Partition explainer and the deletion/insertion curves hide parts of
the image and watch the model's answer.  Where the model is sure, its
probability sits in the flat ends of the sigmoid and hardly moves (in float32,
not at all beyond a log-odds of about 17): :func:`choose_output` then
explains the class's log-odds, which keep moving.  :func:`recording` and
:func:`answer_range` keep the answers a method saw and warn when they were flat.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..predictions import predict_function
from .core import check_image

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras

__all__ = ["SURE_LOG_ODDS", "choose_output"]

#: A class's log-odds beyond which ``output="auto"`` explains the log-odds, not the
#: probability: 4.6 is P above 0.99 (or below 0.01), where the sigmoid flattens.  There a
#: big change of the model's score moves the probability by little (log-odds 5 -> 10:
#: P 0.9933 -> 0.99995) or -- exactly 1.0 in float32 beyond about 17 -- not at all, so a
#: linear model of the probability (LIME) fits the bend, or rounding noise, instead of
#: what the model does.  Measured on ``left_half_model(160)``, whose perturbed answers
#: reach P 0.9999: LIME of the probability put 50 % of its map on the half the model
#: never sees, LIME of the log-odds 83 % on the half it does (tests/test_explain.py).
SURE_LOG_ODDS = 4.6

#: Answers of the model that vary by no more than this many float32 rounding steps (of
#: their size) are *flat*: a saturated probability (exactly 1.0 in float32 for a logit
#: above about 17, where one step is 6e-8) that hiding parts of the image does not move,
#: so methods that only query the model see nothing to explain.  Near 0 the steps are
#: tiny, so probabilities of 1e-7 that move by 1e-7 still count as moving.
FLAT_STEPS = 16


def choose_output(model: keras.Model, image: np.ndarray, target: int,
                  output: str = "auto", probes: np.ndarray | None = None) -> str:
    """What a perturbation method explains: ``"probability"`` or ``"log_odds"``.

    ``"auto"``: the probability, unless the model's answer about ``target`` lies
    in the flat ends of the sigmoid (``|log-odds| > SURE_LOG_ODDS``: P above 0.99
    or below 0.01) on the image or on any of ``probes`` -- copies of the image
    with parts hidden as the method will hide them (:func:`hidden_probes`), since
    an image the model is unsure of can still be pushed into the flat ends by the
    perturbations.  Then the log-odds, which keep moving.  ``"probability"`` and
    ``"log_odds"`` are returned as they are.  LIME, the Partition explainer and
    the deletion/insertion curves ask it before they run.
    Used in ``08_explaining_with_lime``.

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> m = left_half_model(16); x = toy_images(1, 16)[0]
        >>> choose_output(m, x, 1), choose_output(m, x, 1, "log_odds")
        ('probability', 'log_odds')
    """
    if output in ("probability", "log_odds"):
        return output
    if output != "auto":
        raise ValueError(f"output must be 'auto', 'probability' or 'log_odds', not {output!r}")
    batch = check_image(image)[None]
    if probes is not None and len(probes):
        batch = np.concatenate([batch, np.asarray(probes, dtype="float32")])
    lo = predict_function(model, output="log_odds")(batch)[:, int(target)]
    return "log_odds" if float(np.abs(lo).max()) > SURE_LOG_ODDS else "probability"


def is_flat(values: np.ndarray) -> bool:
    """True when ``values`` vary by no more than :data:`FLAT_STEPS` float32 steps.

    Example:
        >>> is_flat(np.array([1.0, 1.0])), is_flat(np.array([1e-7, 2e-7]))
        (True, False)
    """
    v = np.asarray(values, dtype="float64")
    lo, hi = float(v.min()), float(v.max())
    return hi - lo <= FLAT_STEPS * float(np.spacing(np.float32(max(abs(lo), abs(hi)))))


def recording(predict: Callable[[np.ndarray], np.ndarray], target: int,
              seen: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``predict``, keeping P(``target``) of every image it is asked about in ``seen``.

    Example:
        >>> seen = []; f = recording(lambda x: x, 1, seen)
        >>> _ = f(np.array([[0.2, 0.8]])); seen
        [array([0.8])]
    """

    def f(images: np.ndarray) -> np.ndarray:
        p = predict(images)
        seen.append(np.asarray(p)[:, target])
        return p

    return f


def answer_range(method: str, seen: list[np.ndarray], target: int,
                 output: str = "probability") -> tuple[float, float]:
    """(lowest, highest) answer about ``target`` the model gave; warns when they are flat.

    The warning points at the caller of ``method``'s function (``explain``).

    Example:
        >>> answer_range("lime", [np.array([0.2, 0.9])], 1)
        (0.2, 0.9)
    """
    p = np.concatenate(seen) if seen else np.zeros(0)
    if not len(p):
        return float("nan"), float("nan")
    lo, hi = float(p.min()), float(p.max())
    if is_flat(p):
        cure = ("Pass output='log_odds' (or 'auto'), which does not saturate, or use 'gradcam' "
                "and 'shap_gradient'" if output == "probability" else
                "the model ignores what was hidden")
        warnings.warn(
            f"{method}: {_quantity(output, target)} was {hi:.7g} on all {len(p)} images it asked "
            f"the model about (it moved by {hi - lo:.1g}): hiding parts of the image did not "
            f"change it, and the map is empty (zero, or rounding noise). {cure}.",
            stacklevel=3)
    return lo, hi


def _quantity(output: str, target: int) -> str:
    return f"P(class {target})" if output == "probability" else f"the log-odds of class {target}"
