"""A list or array made imbalanced on purpose, in its own form: what ``test_balance.py`` checks.

Notebook 10 indexes its features with ``nbh.balance.imbalanced_indices``; this keeps the
older convenience of getting the subset itself back (a list of ``(path, label)`` stays a
list, an array stays an array), for the tests only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from nbhelpers.balance import imbalanced_indices, labels_of

T = TypeVar("T")


def make_imbalanced(
    items: Sequence[T] | np.ndarray,
    ratio: float = 5.0,
    minority: int | None = None,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> list[T] | np.ndarray:
    """A copy of ``items`` made imbalanced on purpose (see ``imbalanced_indices``).

    ``items`` is a list of ``(path, label)`` pairs (``prepared.train``) or an
    array whose labels are passed as ``labels``.  Returns the same kind.

    Example:
        >>> from nbhelpers.balance import class_counts
        >>> items = [(f"{i}.png", i % 2) for i in range(20)]
        >>> small = make_imbalanced(items, ratio=5, minority=0, seed=1)
        >>> class_counts(small).tolist()
        [2, 10]
    """
    y = labels_of(items) if labels is None else labels_of(labels)
    idx = imbalanced_indices(y, ratio=ratio, minority=minority, seed=seed)
    if isinstance(items, np.ndarray):
        return items[idx]
    items = list(items)
    return [items[i] for i in idx]
