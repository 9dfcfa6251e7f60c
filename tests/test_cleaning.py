"""nbhelpers.cleaning: out-of-sample probabilities, cleanlab's flags, flips, near duplicates.

Known-answer data: clusters whose labels are known, a copy of the labels with known flips,
and planted copies of feature vectors.  The real-network lane (tests/test_real_network.py)
repeats the flip and duplicate checks on EfficientNet-Lite0's features of real faces.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbhelpers import cleaning


def _clusters(n_per_class=40, k=3, dim=16, spread=0.6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 3
    y = np.repeat(np.arange(k), n_per_class)
    return centres[y] + rng.normal(scale=spread, size=(len(y), dim)), y


def test_out_of_sample_probabilities_never_come_from_a_model_that_saw_the_image():
    x, y = _clusters()
    # One point placed deep inside class 1 but labelled 0: a model that saw it would learn
    # its (wrong) label; out of sample, it is called class 1.
    x = np.vstack([x, x[y == 1].mean(0)])
    y = np.r_[y, 0]
    p = cleaning.out_of_sample_probabilities(x, y, 3, folds=5, seed=0)
    assert p.shape == (len(y), 3) and np.allclose(p.sum(1), 1)
    assert p[-1].argmax() == 1 and p[-1, 0] < 0.2


def test_out_of_sample_probabilities_pool_feature_maps_and_lower_the_folds():
    x, y = _clusters(n_per_class=3, k=2, dim=4)  # 3 per class: 3 folds, not 5
    maps = np.repeat(np.repeat(x[:, None, None, :], 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(cleaning.out_of_sample_probabilities(maps, y, folds=5),
                               cleaning.out_of_sample_probabilities(x, y, folds=5))
    with pytest.raises(ValueError, match="single image"):
        cleaning.out_of_sample_probabilities(x[:4], np.array([0, 0, 0, 1]))


def test_flip_labels_flips_the_share_to_another_class_and_keeps_the_rest():
    y = np.repeat(np.arange(4), 25)
    noisy, flipped = cleaning.flip_labels(y, 0.2, 4, seed=3)
    assert flipped.sum() == 20
    assert (noisy[flipped] != y[flipped]).all() and (noisy[~flipped] == y[~flipped]).all()
    assert set(noisy[flipped]) <= set(range(4))
    again, _ = cleaning.flip_labels(y, 0.2, 4, seed=3)
    assert (again == noisy).all()  # seeded


def test_label_issues_find_the_flipped_labels_of_separable_clusters():
    x, y = _clusters(n_per_class=50)
    noisy, flipped = cleaning.flip_labels(y, 0.1, 3, seed=0)
    p = cleaning.out_of_sample_probabilities(x, noisy, 3, seed=0)
    table = cleaning.label_issues(noisy, p, ["a", "b", "c"], paths=[f"img{i}" for i in range(len(y))])
    rates = cleaning.flag_rates(table["index"], flipped)
    assert rates["recall"] >= 0.9 and rates["precision"] >= 0.8, rates
    # The suggested label of a found flip is its true class; worst (lowest p_given) first.
    found = table[flipped[table["index"]]]
    assert (found["suggested"] == [["a", "b", "c"][y[i]] for i in found["index"]]).mean() > 0.9
    assert table["p_given"].is_monotonic_increasing
    assert table["path"].tolist() == [f"img{i}" for i in table["index"]]


def test_clean_labels_flag_little():
    x, y = _clusters(n_per_class=50, spread=0.3)
    p = cleaning.out_of_sample_probabilities(x, y, 3, seed=0)
    assert len(cleaning.label_issues(y, p)) <= 2


def test_flag_rates_count_and_say_nan_when_undefined():
    r = cleaning.flag_rates([], np.zeros(5, bool))
    assert r["flagged"] == 0 and np.isnan(r["precision"]) and np.isnan(r["recall"])


def test_near_duplicates_find_a_planted_copy_across_splits_and_only_it():
    x, _ = _clusters(n_per_class=30, spread=1.0)
    test = _clusters(n_per_class=5, spread=1.0, seed=1)[0]
    test[2] = x[11] * 1.02 + 0.001  # a rescaled copy: the same direction
    pairs = cleaning.near_duplicates({"train": x, "test": test})
    assert pairs[["split_a", "index_a", "split_b", "index_b", "leak"]].values.tolist() == [
        ["train", 11, "test", 2, True]]
    assert pairs.attrs["threshold"] == pytest.approx(
        cleaning.NEAR_DUPLICATE_FACTOR * pairs.attrs["median_distance"])


def test_near_duplicates_within_a_split_are_not_leaks():
    x, _ = _clusters(n_per_class=20, spread=1.0)
    x[5] = x[3]
    pairs = cleaning.near_duplicates({"train": x})
    assert pairs[["index_a", "index_b", "leak"]].values.tolist() == [[3, 5, False]]
    assert cleaning.near_duplicates({"train": x[:1]}).empty
