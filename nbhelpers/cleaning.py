"""Improve your data with your model: label problems, near duplicates and leaks.

The pieces notebook 13 calls after showing each idea once in full:

- :func:`out_of_sample_probabilities`: class probabilities for every image from a model
  that never saw that image (k-fold cross-validation of a logistic regression on the
  backbone's cached, pooled features: seconds in every profile).
- :func:`label_issues`: the images whose given label the model doubts, by confident
  learning (Northcutt, Jiang & Chuang 2021) through ``cleanlab.filter.find_label_issues``
  -- the maintained library, not a copy of it -- with the suggested label and the
  probabilities behind it.
- :func:`flip_labels` and :func:`flag_rates`: a copy of the labels with a known share
  flipped at random, and the precision and recall of the flagged set against it.
- :func:`near_duplicates`: pairs of images whose features are almost the same, within a
  split and across splits (a leak: the same photo in training and test inflates the test
  score), by the rule of cleanlab's ``Datalab`` near-duplicate check.

``cleanlab.Datalab`` bundles these checks but needs the ``datasets`` package (and
pyarrow), which neither Colab nor the course installs; the functions here call
cleanlab's own functions directly and use Datalab's published near-duplicate rule.

Taught in ``13_improving_your_data``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .ood import pooled

__all__ = [
    "out_of_sample_probabilities",
    "label_issues",
    "flip_labels",
    "flag_rates",
    "near_duplicates",
    "NEAR_DUPLICATE_FACTOR",
]

#: Datalab's near-duplicate rule (cleanlab 2.x, ``NearDuplicateIssueManager``): two images
#: are near duplicates when their distance is under this share of the median distance of
#: every image to its nearest neighbour.
NEAR_DUPLICATE_FACTOR = 0.13


def _classifier(seed: int, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000,
                                                              random_state=seed))


def out_of_sample_probabilities(features: np.ndarray, labels: Sequence[int] | np.ndarray,
                                num_classes: int | None = None, *, folds: int = 5,
                                seed: int = 0, c: float = 0.1) -> np.ndarray:
    """``(N, num_classes)`` probabilities, each from a model trained without that image.

    The images are split into ``folds`` stratified parts; a logistic regression
    (standardised pooled features, L2 penalty ``1 / c``) is trained on all parts but
    one and predicts the one left out, in turn.  A model that had seen an image would
    have learnt its label, right or wrong; these probabilities have not.  ``folds`` is
    lowered to the smallest class's size when a class is that small.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1, 2], 20)
        >>> x = rng.normal(size=(60, 4)) + 3 * np.eye(3, 4)[y]
        >>> p = out_of_sample_probabilities(x, y, folds=5)
        >>> p.shape, bool((p.argmax(1) == y).mean() > 0.8), np.allclose(p.sum(1), 1)
        ((60, 3), True, True)
    """
    from sklearn.model_selection import StratifiedKFold

    x = pooled(features)
    y = np.asarray(labels).astype(int).ravel()
    if len(x) != len(y):
        raise ValueError(f"{len(x)} feature rows but {len(y)} labels")
    k = int(num_classes or (y.max() + 1))
    counts = np.bincount(y, minlength=k)
    present = counts[counts > 0]
    if len(present) < 2:
        raise ValueError("out_of_sample_probabilities needs images of at least two classes")
    n_folds = int(min(folds, present.min()))
    if n_folds < 2:
        small = [i for i in range(k) if 0 < counts[i] < 2]
        raise ValueError(f"class(es) {small} have a single image: cross-validation needs at "
                         "least 2 per class (add images, or leave the class out)")
    out = np.zeros((len(y), k))
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for train_idx, held_idx in splitter.split(x, y):
        model = _classifier(seed, c).fit(x[train_idx], y[train_idx])
        out[np.ix_(held_idx, model.classes_)] = model.predict_proba(x[held_idx])
    return out


def label_issues(labels: Sequence[int] | np.ndarray, probabilities: np.ndarray,
                 class_names: Sequence[str] | None = None,
                 paths: Sequence[Any] | None = None) -> pd.DataFrame:
    """The images whose label the model doubts, worst first (``cleanlab.filter.find_label_issues``).

    ``probabilities`` must be out of sample (:func:`out_of_sample_probabilities`).
    cleanlab estimates each class's confident threshold and the confident joint, prunes
    as many images as it estimates are mislabelled (``prune_by_noise_rate``) and ranks
    them by self-confidence (the probability of the given label).  Columns: ``index``
    (row in ``labels``), ``path`` (when ``paths`` is given), ``given``, ``suggested``
    (class names, or indices without ``class_names``), ``p_given``, ``p_suggested``.

    Example:
        >>> y = np.array([0] * 10 + [1] * 10)
        >>> p = np.where(y[:, None] == np.arange(2), 0.9, 0.1); p[3] = [0.05, 0.95]
        >>> label_issues(y, p, ["cat", "dog"])[["index", "given", "suggested"]].values.tolist()
        [[3, 'cat', 'dog']]
    """
    from cleanlab.filter import find_label_issues

    y = np.asarray(labels).astype(int).ravel()
    p = np.asarray(probabilities, dtype="float64")
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"expected probabilities (N, C) for {len(y)} labels, got {p.shape}")
    # n_jobs=1: no process pool forked from a kernel whose TensorFlow threads are running.
    idx = np.asarray(find_label_issues(y, p, return_indices_ranked_by="self_confidence",
                                       n_jobs=1), dtype=int)
    suggested = p[idx].argmax(axis=1) if len(idx) else np.array([], dtype=int)

    def name(i: int) -> Any:
        return class_names[int(i)] if class_names is not None else int(i)

    table = pd.DataFrame({
        "index": idx,
        "given": [name(y[i]) for i in idx],
        "suggested": [name(s) for s in suggested],
        "p_given": [float(p[i, y[i]]) for i in idx],
        "p_suggested": [float(p[i, s]) for i, s in zip(idx, suggested, strict=True)],
    })
    if paths is not None:
        table.insert(1, "path", [paths[i] for i in idx])
    return table


def flip_labels(labels: Sequence[int] | np.ndarray, share: float = 0.1,
                num_classes: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``labels`` with ``round(share * N)`` of them changed to another class at random.

    Returns ``(noisy_labels, flipped)`` where ``flipped`` is a boolean mask of the
    changed rows.  The images and their files are untouched: only this copy is wrong.

    Example:
        >>> noisy, flipped = flip_labels(np.zeros(20, int), 0.1, num_classes=2, seed=0)
        >>> int(flipped.sum()), bool((noisy[flipped] == 1).all()), bool((noisy[~flipped] == 0).all())
        (2, True, True)
    """
    y = np.asarray(labels).astype(int).ravel()
    k = int(num_classes or (y.max() + 1))
    if k < 2:
        raise ValueError("flip_labels needs at least two classes")
    if not 0 <= share <= 1:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(y), size=int(round(share * len(y))), replace=False)
    noisy = y.copy()
    # Another class, uniformly among the other k - 1.
    noisy[chosen] = (y[chosen] + rng.integers(1, k, size=len(chosen))) % k
    flipped = np.zeros(len(y), bool)
    flipped[chosen] = True
    return noisy, flipped


def flag_rates(flagged: Sequence[int] | np.ndarray, flipped: np.ndarray) -> dict[str, float]:
    """Precision and recall of the flagged rows against the rows known to be flipped.

    Returns ``{"flagged", "flipped", "found", "precision", "recall"}``: precision = found
    / flagged (NaN when nothing was flagged), recall = found / flipped.

    Example:
        >>> r = flag_rates([1, 2, 5], np.array([0, 1, 1, 1, 0, 0], bool))
        >>> r["flagged"], r["found"], round(r["precision"], 3), round(r["recall"], 3)
        (3, 2, 0.667, 0.667)
    """
    mask = np.asarray(flipped, bool)
    idx = np.unique(np.asarray(flagged, dtype=int))
    found, flipped_n = (int(mask[idx].sum()) if len(idx) else 0), int(mask.sum())
    return {"flagged": int(len(idx)), "flipped": flipped_n, "found": found,
            "precision": found / len(idx) if len(idx) else float("nan"),
            "recall": found / flipped_n if flipped_n else float("nan")}


def near_duplicates(features: Mapping[str, np.ndarray], factor: float = NEAR_DUPLICATE_FACTOR,
                    neighbours: int = 10) -> pd.DataFrame:
    """Pairs of images with almost the same features, within and across splits.

    ``features``: ``{split name: (N, ...) features}`` (pooled when they are feature
    maps).  On L2-normalised features, every image's ``neighbours`` nearest images
    (cosine distance) are found; a pair is a near duplicate when its distance is under
    ``factor`` times the median distance of an image to its nearest neighbour (Datalab's
    rule).  Columns: ``split_a``, ``index_a``, ``split_b``, ``index_b`` (the row in
    each split's features), ``distance``, ``leak`` (the two are in different splits).
    ``table.attrs`` holds ``median_distance`` and ``threshold``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> train = rng.normal(size=(30, 16)); test = rng.normal(size=(10, 16))
        >>> test[4] = train[7] * 1.01                     # a resized copy, say
        >>> near_duplicates({"train": train, "test": test})[["split_a", "index_a", "split_b", "index_b", "leak"]].values.tolist()
        [['train', 7, 'test', 4, True]]
    """
    from sklearn.neighbors import NearestNeighbors

    names, rows, blocks = [], [], []
    for split, f in features.items():
        f = pooled(f).astype("float64")
        blocks.append(f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12))
        names += [split] * len(f)
        rows += list(range(len(f)))
    x = np.concatenate(blocks) if blocks else np.zeros((0, 1))
    columns = ["split_a", "index_a", "split_b", "index_b", "distance", "leak"]
    if len(x) < 2:
        return pd.DataFrame(columns=columns)
    k = int(min(neighbours, len(x) - 1)) + 1  # the first neighbour is the image itself
    dist, nbr = NearestNeighbors(n_neighbors=k, metric="cosine").fit(x).kneighbors(x)
    median = max(float(np.median(dist[:, 1])), 1e-12)
    cut = factor * median
    found = {}
    for i in range(len(x)):
        for d, j in zip(dist[i, 1:], nbr[i, 1:], strict=True):
            if d < cut and i != j:
                a, b = sorted((int(i), int(j)))
                found[(a, b)] = min(float(d), found.get((a, b), np.inf))
    table = pd.DataFrame(
        [[names[a], rows[a], names[b], rows[b], d, names[a] != names[b]]
         for (a, b), d in found.items()], columns=columns,
    ).sort_values(["distance", "split_a", "index_a"], ignore_index=True)
    table.attrs.update(median_distance=median, threshold=cut)
    return table
