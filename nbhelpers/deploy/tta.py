"""Test-time augmentation: average the answers for a photo and randomly augmented copies of it.

:func:`tta_predict` gives the mean probabilities over the image and seeded variants from
the training augmentation (``nbh.data.augmentation``); :func:`tta_comparison` measures
accuracy, log loss and time of a single pass against more views, in one run.
Taught in ``12_using_your_model``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import progress
from ..config import INFERENCE_BATCH_SIZE, Config, current
from ..predictions import predict_function

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import pandas as pd

__all__ = ["tta_predict", "tta_comparison"]


def _tta_views(model: Any, x: np.ndarray, views: int, cfg: Config, seed: int | None,
               batch_size: int) -> Iterator[np.ndarray]:
    """The ``(N, C)`` probabilities of each view in turn: the image itself, then seeded variants.

    The variants come from one seeded augmentation, so the first ``k`` views of
    a longer run are exactly the ``k`` views of a shorter one.
    """
    from .. import data

    f = predict_function(model, batch_size)
    yield f(x).astype("float64")
    if views > 1:
        aug = data.augmentation(cfg, seed=cfg.seed if seed is None else seed)
        for _ in progress.bar(range(views - 1), desc=f"TTA: {views} views"):
            variant = np.concatenate([np.asarray(aug(x[i:i + batch_size], training=True))
                                      for i in range(0, len(x), batch_size)])
            yield f(variant).astype("float64")


def tta_predict(model: Any, images: np.ndarray, views: int = 8, cfg: Config | None = None,
                *, seed: int | None = None, batch_size: int = INFERENCE_BATCH_SIZE) -> np.ndarray:
    """Test-time augmentation: the mean ``(N, C)`` probabilities over ``views`` versions.

    View 0 is the image itself; the others are random variants from the training
    augmentation (``nbh.data.augmentation``: flip, rotation, zoom, contrast), seeded, so
    the same call gives the same answer.  ``views=1`` is a single pass.  Its first ``k``
    views are the ``k`` views :func:`tta_comparison` measures.

    Example:
        >>> from nbhelpers import explain
        >>> m, x = explain.left_half_model(16), np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3))
        >>> bool(np.allclose(tta_predict(m, x, views=1), predict_function(m)(x)))
        True
        >>> tta_predict(m, x, views=4).shape
        (3, 2)
    """
    if int(views) < 1:
        raise ValueError(f"views must be at least 1 (1 = a single pass), got {views}")
    cfg = cfg or current()
    x = np.asarray(images, dtype="float32")
    total = sum(_tta_views(model, x, int(views), cfg, seed, batch_size))
    return (total / int(views)).astype("float32")


def tta_comparison(model: Any, x: np.ndarray, y: np.ndarray, views: Sequence[int] = (1, 4, 8),
                   cfg: Config | None = None, *, seed: int | None = None,
                   batch_size: int = INFERENCE_BATCH_SIZE) -> pd.DataFrame:
    """Accuracy, log loss and time of a single pass against TTA with more views, one run.

    Rows: ``views`` (1 = single pass), ``accuracy``, ``log_loss``, ``changed`` (answers
    that differ from the single pass), ``seconds``, ``time_ratio`` (against the single
    pass).  ``log_loss`` clips P(true class) to at least ``1e-7`` (``nbh.evaluate.EPS``),
    so an image a confident model gets wrong -- P(true class) exactly 0 in float32 --
    costs ``-log(1e-7) = 16.1``, not infinity.  Measure on the validation split:
    choosing the number of views is a decision, and the test split is for the final
    number only.  The views are computed once, for the largest count: ``k`` views
    are the first ``k`` of them (exactly what :func:`tta_predict` gives for ``k``),
    and their ``seconds`` the time those ``k`` took, so the table costs ``max(views)``
    passes, not their sum.  ``table.attrs["single_pass"]`` keeps the single pass's
    probabilities, ``(N, C)`` as :func:`predict_function` gives them, for a comparison
    of your own without running the model again.
    Taught in ``12_using_your_model``.

    Example:
        >>> from nbhelpers import explain
        >>> m, x = explain.left_half_model(16), np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
        >>> t = tta_comparison(m, x, np.array([0, 1, 0, 1]), views=(1, 2))
        >>> t["views"].tolist(), float(t["time_ratio"].iloc[0]), t.attrs["single_pass"].shape
        ([1, 2], 1.0, (4, 2))
    """
    import pandas as pd

    from .. import evaluate

    cfg = cfg or current()
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y).astype(int).reshape(-1)
    wanted = sorted({int(v) for v in views} | {1})
    if wanted[0] < 1:
        raise ValueError(f"views must be at least 1 (1 = a single pass), got {views}")
    predict_function(model, batch_size)(x[:1])  # warm-up: the first call traces the model
    rows, single = [], None
    total, t0 = 0.0, time.perf_counter()
    for k, p_view in enumerate(_tta_views(model, x, wanted[-1], cfg, seed, batch_size), start=1):
        total = total + p_view
        if k not in wanted:
            continue
        seconds = time.perf_counter() - t0
        p = (total / k).astype("float32")
        pred = evaluate.predicted_labels(p)
        if single is None:  # k = 1 comes first: views always include the single pass
            single = (pred, seconds, p)
        ll = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], evaluate.EPS, 1.0))))
        rows.append({"method": "single pass" if k == 1 else f"TTA, {k} views", "views": k,
                     "accuracy": float(np.mean(pred == y)), "log_loss": ll,
                     "changed": int(np.sum(pred != single[0])), "seconds": seconds,
                     "time_ratio": seconds / max(single[1], 1e-9)})
    table = pd.DataFrame(rows)
    table.attrs["single_pass"] = single[2]
    return table


