"""Class imbalance: class weights, oversampling, imbalanced subsets, honest metrics.

Taught in ``10_imbalance_and_overfitting``.  The notebook makes a training set
imbalanced *on purpose* (for example five times as many images of one class as
of the other), then compares four remedies -- doing nothing, class weights,
oversampling the minority class, augmenting it -- on the untouched test set.

One convention throughout: a **ratio** is *majority count / minority count*.
``imbalanced_indices(..., ratio=5)`` keeps 5 majority images per minority image
(1:5); ``oversample(..., ratio=1)`` repeats minority images until the classes
are level (1:1).

Everything here is NumPy (plus scikit-learn for the metrics), seeded, and never
changes its arguments.  Counting and stratified subsampling have one definition,
in ``nbhelpers.data.splits`` (``class_counts``, ``stratified_sample``), which
``prepare`` uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# One definition of counting and of stratified samples, in ``data.splits`` (a split is a
# list of ``(path, label)``); the counting functions are re-exported here, where notebook
# 10 uses them.
from .data.splits import class_counts, imbalance_ratio, labels_of, sample_sizes, stratified_sample

__all__ = [
    "labels_of",
    "class_counts",
    "imbalance_ratio",
    "class_weights",
    "imbalanced_indices",
    "subset_indices",
    "oversample_indices",
    "oversample",
    "imbalance_report",
]

def class_weights(labels: Sequence[Any] | np.ndarray, num_classes: int | None = None) -> dict[int, float]:
    """Keras ``class_weight`` that makes every class count as much in the loss.

    ``weight[c] = n_samples / (n_classes * count[c])`` -- the same as
    scikit-learn's ``compute_class_weight("balanced")``: a class with five
    times fewer examples gets a five times larger weight, so the sum of
    weights per class is equal.  Pass the result as
    ``model.fit(..., class_weight=weights)``.  Classes absent from ``labels``
    get weight 0 (they cannot contribute to the loss anyway).

    Example:
        >>> class_weights([0, 0, 0, 0, 0, 1])
        {0: 0.6, 1: 3.0}
    """
    counts = class_counts(labels, num_classes)
    present = counts > 0
    n, k = counts.sum(), int(present.sum())
    if n == 0:
        raise ValueError("class_weights needs at least one label")
    return {c: (float(n / (k * counts[c])) if present[c] else 0.0) for c in range(len(counts))}


def _minority(counts: np.ndarray, minority: int | None) -> int:
    if minority is None:
        present = np.flatnonzero(counts > 0)
        return int(present[np.argmin(counts[present])])
    if not 0 <= minority < len(counts):
        raise ValueError(f"minority class {minority} is not among the classes 0..{len(counts) - 1}")
    return int(minority)


def imbalanced_indices(
    labels: Sequence[Any] | np.ndarray,
    ratio: float = 5.0,
    minority: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Indices of a subset in which ``minority`` is ``ratio`` times rarer than every other class.

    Stratified: each class is subsampled on its own (without replacement,
    ``nbhelpers.data.stratified_sample``), the other classes keep as many
    examples as they can, and the minority keeps ``round(n_other / ratio)`` (at
    least one).  When the minority has too few examples for that, the other
    classes are cut instead.  The result is sorted, so the original order is
    kept; the draw is fixed by ``seed``.  ``items[idx]`` (or
    ``[items[i] for i in idx]`` for a list of ``(path, label)``) is the subset.

    Example:
        >>> y = np.array([0] * 50 + [1] * 50)
        >>> idx = imbalanced_indices(y, ratio=5, minority=1, seed=0)
        >>> class_counts(y[idx]).tolist()
        [50, 10]
    """
    if ratio < 1:
        raise ValueError(f"ratio is majority/minority and must be >= 1, got {ratio}")
    y = labels_of(labels)
    counts = class_counts(y)
    m = _minority(counts, minority)
    others = [c for c in range(len(counts)) if c != m and counts[c] > 0]
    if not others:
        raise ValueError("need at least two classes to make one rarer than the others")
    n_other = int(min(counts[c] for c in others))
    n_min = max(1, int(round(n_other / ratio)))
    if n_min > counts[m]:
        n_min = int(counts[m])
        n_other = min(n_other, int(round(n_min * ratio)))
    return stratified_sample(y, {m: n_min, **{c: n_other for c in others}}, seed)


def subset_indices(labels: Sequence[Any] | np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a stratified, seeded ``fraction`` of the examples (class proportions kept).

    Each class keeps ``round(fraction * count)`` examples (at least one); the
    result is sorted.  Nested for one seed: a smaller fraction's subset is
    part of a larger one's, so a learning curve over data size adds images
    rather than swapping them (``nbhelpers.data.stratified_sample``, the
    subsample ``prepare`` takes too).  Taught in notebook 10 (training-set size
    against validation accuracy).

    Example:
        >>> y = np.array([0] * 40 + [1] * 20)
        >>> class_counts(y[subset_indices(y, 0.25, seed=0)]).tolist()
        [10, 5]
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y = labels_of(labels)
    return stratified_sample(y, sample_sizes(y, fraction), seed)


def oversample_indices(labels: Sequence[Any] | np.ndarray, ratio: float = 1.0, seed: int = 0) -> np.ndarray:
    """Indices that repeat rarer classes until majority/class count is at most ``ratio``.

    Every original example is kept once; each rarer class gets extra copies,
    drawn at random without replacement as long as possible (so copies are
    spread evenly over its examples), until it has
    ``ceil(majority_count / ratio)`` examples.  The indices are shuffled, so a
    batch mixes classes.  ``ratio=1`` balances the classes exactly.

    Example:
        >>> y = np.array([0] * 10 + [1] * 2)
        >>> idx = oversample_indices(y, ratio=1.0, seed=0)
        >>> class_counts(y[idx]).tolist()
        [10, 10]
    """
    if ratio < 1:
        raise ValueError(f"ratio is majority/minority and must be >= 1, got {ratio}")
    y = labels_of(labels)
    counts = class_counts(y)
    target = int(np.ceil(counts.max() / ratio))
    rng = np.random.default_rng(seed)
    parts = [np.arange(len(y))]
    for c, n in enumerate(counts):
        if n == 0 or n >= target:
            continue
        members = np.flatnonzero(y == c)
        extra = target - n
        whole, rest = divmod(extra, n)
        parts.extend([members] * whole)
        parts.append(rng.choice(members, size=rest, replace=False))
    idx = np.concatenate(parts)
    return idx[rng.permutation(len(idx))]


def oversample(
    x: np.ndarray, y: np.ndarray, ratio: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` with rarer classes repeated (see :func:`oversample_indices`).

    ``x`` can be images or cached features; only the first axis is indexed.

    Example:
        >>> x, y = np.arange(12.0)[:, None], np.array([0] * 10 + [1] * 2)
        >>> x2, y2 = oversample(x, y, ratio=2.0, seed=0)
        >>> class_counts(y2).tolist(), x2.shape
        ([10, 5], (15, 1))
    """
    x = np.asarray(x)
    y = labels_of(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)} labels")
    idx = oversample_indices(y, ratio=ratio, seed=seed)
    return x[idx], y[idx]


def imbalance_report(
    y_true: Sequence[Any] | np.ndarray,
    y_score: np.ndarray,
    class_names: Sequence[str] | None = None,
    threshold: float = 0.5,
    positive: int | None = None,
) -> dict[str, Any]:
    """Accuracy next to the metrics that imbalance cannot fool.

    ``y_score``: binary ``(N,)`` P(class 1) (what ``nbh.evaluate.predict_proba``
    returns), or ``(N, C)`` class probabilities.  Returns accuracy, balanced
    accuracy (the mean of the per-class recalls), the recall of every class,
    and PR-AUC (average precision) for the ``positive`` class -- by default the
    rarest class in ``y_true``, the one a lazy model forgets.

    Example:
        >>> r = imbalance_report([0, 0, 0, 0, 1], np.array([0.1, 0.2, 0.1, 0.3, 0.4]))
        >>> r["accuracy"], r["balanced_accuracy"], r["recall"]
        (0.8, 0.5, {'0': 1.0, '1': 0.0})
        >>> r["pr_auc"]
        1.0
    """
    from sklearn.metrics import average_precision_score, balanced_accuracy_score, recall_score

    y = labels_of(y_true)
    s = np.asarray(y_score, dtype=float)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim == 1:
        probs = np.stack([1.0 - s, s], axis=1)
        pred = (s >= threshold).astype(int)
    else:
        probs = s
        pred = s.argmax(axis=1)
    k = probs.shape[1]
    names = list(class_names) if class_names is not None else [str(c) for c in range(k)]
    counts = class_counts(y, num_classes=k)
    pos = _minority(counts, positive)
    recalls = recall_score(y, pred, labels=list(range(k)), average=None, zero_division=0.0)
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "recall": {names[c]: float(recalls[c]) for c in range(k)},
        "pr_auc": float(average_precision_score(y == pos, probs[:, pos])),
        "positive": names[pos],
        "n": int(len(y)),
        "counts": {names[c]: int(counts[c]) for c in range(k)},
    }
