"""Tests of nbhelpers.balance: class weights, imbalanced subsets, oversampling, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from balance_kit import make_imbalanced
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

from nbhelpers import balance


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=200))
def test_class_weights_match_sklearn_balanced(labels):
    y = np.asarray(labels)
    present = np.unique(y)
    expected = compute_class_weight("balanced", classes=present, y=y)
    got = balance.class_weights(y)
    for c, w in zip(present, expected, strict=True):
        assert got[int(c)] == pytest.approx(w)
    for c in set(range(y.max() + 1)) - set(present.tolist()):
        assert got[c] == 0.0


def test_class_weights_make_each_class_weigh_the_same():
    y = np.array([0] * 40 + [1] * 8)
    w = balance.class_weights(y)
    assert w[1] / w[0] == pytest.approx(5.0)
    assert 40 * w[0] == pytest.approx(8 * w[1])


def test_class_weights_accepts_path_label_pairs():
    items = [("a.png", 0), ("b.png", 1), ("c.png", 1), ("d.png", 1)]
    assert balance.class_weights(items) == pytest.approx({0: 2.0, 1: 2 / 3})


@pytest.mark.parametrize("ratio", [1.0, 2.0, 5.0, 7.5])
def test_imbalanced_indices_give_the_ratio_and_keep_the_majority(ratio):
    y = np.array([0] * 100 + [1] * 100)
    idx = balance.imbalanced_indices(y, ratio=ratio, minority=0, seed=3)
    counts = balance.class_counts(y[idx])
    assert counts[1] == 100
    assert counts[0] == round(100 / ratio)
    assert len(np.unique(idx)) == len(idx), "no example may be repeated"
    assert np.all(np.diff(idx) > 0), "original order kept"


def test_imbalanced_subset_is_seeded_and_stratified():
    y = np.array([0, 1] * 60)
    a = balance.imbalanced_indices(y, ratio=5, minority=1, seed=0)
    b = balance.imbalanced_indices(y, ratio=5, minority=1, seed=0)
    c = balance.imbalanced_indices(y, ratio=5, minority=1, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert balance.class_counts(y[a]).tolist() == [60, 12]


def test_imbalanced_cuts_the_majority_when_the_minority_is_short():
    y = np.array([0] * 100 + [1] * 10)
    idx = balance.imbalanced_indices(y, ratio=5, minority=1, seed=0)
    assert balance.class_counts(y[idx]).tolist() == [50, 10]


def test_make_imbalanced_keeps_the_items_form():
    items = [(f"img{i}.png", i % 2) for i in range(40)]
    out = make_imbalanced(items, ratio=4, minority=1, seed=0)
    assert all(it in items for it in out)
    assert balance.class_counts(out).tolist() == [20, 5]
    x = np.arange(40.0)
    y = np.array([i % 2 for i in range(40)])
    xs = make_imbalanced(x, ratio=4, minority=1, seed=0, labels=y)
    assert isinstance(xs, np.ndarray) and len(xs) == 25


def test_minority_defaults_to_the_rarest_and_bad_args_raise():
    y = np.array([0] * 30 + [1] * 20)
    idx = balance.imbalanced_indices(y, ratio=3, seed=0)
    assert balance.class_counts(y[idx]).tolist() == [30, 10]
    with pytest.raises(ValueError):
        balance.imbalanced_indices(y, ratio=0.5)
    with pytest.raises(ValueError):
        balance.imbalanced_indices(np.zeros(5, int), ratio=2)
    with pytest.raises(ValueError):
        balance.imbalanced_indices(y, ratio=2, minority=5)


@settings(max_examples=60, deadline=None)
@given(
    n_major=st.integers(1, 80),
    n_minor=st.integers(1, 80),
    ratio=st.sampled_from([1.0, 1.5, 2.0, 3.0, 5.0]),
    seed=st.integers(0, 1000),
)
def test_oversampling_gives_the_intended_ratio(n_major, n_minor, ratio, seed):
    y = np.array([0] * n_major + [1] * n_minor)
    idx = balance.oversample_indices(y, ratio=ratio, seed=seed)
    counts = balance.class_counts(y[idx], num_classes=2)
    big = max(n_major, n_minor)
    assert counts.max() == big, "the majority is never repeated"
    target = int(np.ceil(big / ratio))
    assert counts.min() == max(min(n_major, n_minor), target)
    assert set(range(len(y))) <= set(idx.tolist()), "every original example is kept"


def test_oversampling_spreads_copies_evenly_and_shuffles():
    y = np.array([0] * 50 + [1] * 10)
    idx = balance.oversample_indices(y, ratio=1.0, seed=0)
    copies = np.bincount(idx[y[idx] == 1], minlength=60)[50:]
    assert copies.tolist() == [5] * 10
    assert not np.all(np.diff(idx) >= 0), "indices are shuffled"
    np.testing.assert_array_equal(idx, balance.oversample_indices(y, ratio=1.0, seed=0))


def test_oversample_arrays_and_ratio_helper():
    x = np.random.default_rng(0).normal(size=(30, 4))
    y = np.array([1] * 25 + [0] * 5)
    x2, y2 = balance.oversample(x, y, ratio=1.0, seed=0)
    assert balance.imbalance_ratio(y2) == 1.0
    assert x2.shape == (50, 4)
    # every row of x2 is a row of x with the same label
    for row, label in zip(x2, y2, strict=True):
        j = np.flatnonzero(np.all(x == row, axis=1))[0]
        assert y[j] == label
    with pytest.raises(ValueError):
        balance.oversample(x, y[:5])


def test_imbalance_report_shows_when_accuracy_misleads():
    y = np.array([0] * 95 + [1] * 5)
    always_zero = np.zeros(100)
    r = balance.imbalance_report(y, always_zero, class_names=["cat", "dog"])
    assert r["accuracy"] == pytest.approx(0.95)
    assert r["balanced_accuracy"] == pytest.approx(0.5)
    assert r["recall"] == {"cat": 1.0, "dog": 0.0}
    assert r["positive"] == "dog"
    assert r["pr_auc"] == pytest.approx(0.05)  # a constant score: AP = prevalence


def test_imbalance_report_multiclass_and_perfect():
    y = np.array([0, 1, 2, 2])
    probs = np.eye(3)[y] * 0.8 + 0.2 / 3
    r = balance.imbalance_report(y, probs)
    assert r["accuracy"] == r["balanced_accuracy"] == 1.0
    assert r["pr_auc"] == 1.0
    assert r["counts"] == {"0": 1, "1": 1, "2": 2}


def test_subset_indices_are_stratified_and_nested():
    y = np.array([0] * 60 + [1] * 30)
    small = balance.subset_indices(y, 0.2, seed=4)
    big = balance.subset_indices(y, 0.6, seed=4)
    assert balance.class_counts(y[small]).tolist() == [12, 6]
    assert balance.class_counts(y[big]).tolist() == [36, 18]
    assert set(small.tolist()) <= set(big.tolist())
    assert len(balance.subset_indices(y, 1.0)) == 90
    with pytest.raises(ValueError):
        balance.subset_indices(y, 0.0)


def test_recall_bars_and_learning_curves_draw_what_they_are_given():
    from nbhelpers import plots

    fig = plots.recall_bars({"none": {"a": 1.0, "b": 0.0}, "weights": {"a": 0.7, "b": 0.6},
                             "oversample": {"a": 0.6, "b": 0.9}})
    heights = sorted(round(p.get_height(), 2) for p in fig.axes[0].patches)
    assert heights == [0.0, 0.6, 0.6, 0.7, 0.9, 1.0]
    h = {"loss": [1.0, 0.6, 0.3], "val_loss": [1.1, 1.0, 1.2]}
    fig = plots.learning_curves_grid({"x": h, "y": h, "z": h, "w": h}, ncols=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4
    np.testing.assert_allclose(visible[0].lines[1].get_ydata(), h["val_loss"])
    fig = plots.data_size_curve([10, 20], [0.5, 0.75])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.5, 0.75])
    with pytest.raises(ValueError):
        plots.recall_bars({})
