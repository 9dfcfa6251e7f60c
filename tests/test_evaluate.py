"""Tests of nbhelpers.evaluate (and its figures in nbhelpers.plots).

Every metric is checked on small hand-made predictions against a value worked out by
hand or by scikit-learn; the bootstrap interval's coverage on simulated data; temperature
scaling on a deliberately over-confident model; and the multi-class path.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from scipy.special import expit, softmax  # noqa: E402
from sklearn import metrics as skm  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402

from nbhelpers import evaluate as ev  # noqa: E402
from nbhelpers import plots  # noqa: E402

# Hand-made two-class case.  Threshold 0.5 gives predictions
#   y_true: 0    0    0    0    1    1    1    1    1    0
#   p:      .10  .40  .55  .80  .30  .60  .70  .90  .95  .20
#   pred:   0    0    1    1    0    1    1    1    1    0
# TP = 4, FP = 2, FN = 1, TN = 3.
Y2 = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 0])
P2 = np.array([0.10, 0.40, 0.55, 0.80, 0.30, 0.60, 0.70, 0.90, 0.95, 0.20])

# Hand-made three-class case (rows sum to 1); arg-max predictions:
#   y_true: 0 0 1 1 2 2 0 1
#   pred:   0 1 1 1 2 0 0 2
Y3 = np.array([0, 0, 1, 1, 2, 2, 0, 1])
P3 = np.array([
    [0.7, 0.2, 0.1],
    [0.3, 0.6, 0.1],
    [0.1, 0.8, 0.1],
    [0.2, 0.5, 0.3],
    [0.1, 0.1, 0.8],
    [0.5, 0.2, 0.3],
    [0.6, 0.3, 0.1],
    [0.2, 0.3, 0.5],
])


def close_all():
    plt.close("all")


# ------------------------------------------------------------------ labels and metrics


def test_predicted_labels_and_confidence():
    assert ev.predicted_labels(P2).tolist() == [0, 0, 1, 1, 0, 1, 1, 1, 1, 0]
    assert ev.predicted_labels(P2, threshold=0.75).tolist() == [0, 0, 0, 1, 0, 0, 0, 1, 1, 0]
    assert ev.predicted_labels(P3).tolist() == [0, 1, 1, 1, 2, 0, 0, 2]
    np.testing.assert_allclose(ev.confidence(P2)[:4], [0.9, 0.6, 0.55, 0.8])
    np.testing.assert_allclose(ev.confidence(P3), P3.max(axis=1))
    assert ev.num_classes(P2) == 2 and ev.num_classes(P3) == 3
    assert ev.num_classes(P2[:, None]) == 2


def test_one_convention_for_predictions_of_any_number_of_classes():
    """(N,), (N, 1) and (N, 2) for two classes all become the same (N, 2) matrix."""
    two = ev.class_probabilities(P2)
    assert two.shape == (10, 2)
    np.testing.assert_allclose(two[:, 1], P2)
    np.testing.assert_allclose(two.sum(axis=1), 1.0)
    np.testing.assert_array_equal(ev.class_probabilities(P2[:, None]), two)
    np.testing.assert_array_equal(ev.class_probabilities(two), two)
    np.testing.assert_array_equal(ev.class_probabilities(P3), P3)
    with pytest.raises(ValueError, match="C >= 2"):
        ev.class_probabilities(np.zeros((3, 0)))
    # evaluate, explain and deploy all answer through nbhelpers.predictions: one converter
    from nbhelpers import deploy, explain, predictions

    assert ev.class_probabilities is predictions.class_probabilities
    assert explain.predict_function is deploy.predict_function is predictions.predict_function


def test_a_threshold_needs_two_classes():
    with pytest.raises(ValueError, match="arg-max"):
        ev.predicted_labels(P3, threshold=0.7)
    with pytest.raises(ValueError, match="arg-max"):
        ev.scores(Y3, P3, threshold=0.7)
    # one-vs-rest is the two-class question that a threshold can answer
    t = ev.choose_threshold(Y3 == 2, P3[:, 2], "recall", 1.0)
    assert t.threshold == pytest.approx(0.3)  # the lower of the two class-2 rows' P(2): .8, .3


def test_binary_scores_by_hand():
    s = ev.scores(Y2, P2)
    tp, fp, fn, tn = 4, 2, 1, 3
    assert s["accuracy"] == pytest.approx((tp + tn) / 10)
    assert s["precision"] == pytest.approx(tp / (tp + fp))
    assert s["recall"] == pytest.approx(tp / (tp + fn))
    p, r = tp / (tp + fp), tp / (tp + fn)
    assert s["f1"] == pytest.approx(2 * p * r / (p + r))
    # ROC-AUC = share of (positive, negative) pairs ranked the right way round.
    pos, neg = P2[Y2 == 1], P2[Y2 == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert s["roc_auc"] == pytest.approx(pairs)
    assert s["roc_auc"] == pytest.approx(20 / 25)


def test_threshold_changes_threshold_metrics_but_not_auc():
    s = ev.scores(Y2, P2, threshold=0.75)  # pred 1 for .80, .90, .95: TP 2, FP 1
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 5)
    assert s["roc_auc"] == pytest.approx(ev.scores(Y2, P2)["roc_auc"])


def test_multiclass_scores_match_sklearn_and_hand():
    s = ev.scores(Y3, P3)
    pred = P3.argmax(axis=1)
    assert s["accuracy"] == pytest.approx(5 / 8)
    # per class precision: 0 -> 2/3, 1 -> 2/3, 2 -> 1/2 ; recall: 0 -> 2/3, 1 -> 2/3, 2 -> 1/2
    assert s["precision"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    assert s["recall"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    assert s["f1"] == pytest.approx(skm.f1_score(Y3, pred, average="macro"))
    assert s["roc_auc"] == pytest.approx(skm.roc_auc_score(Y3, P3, multi_class="ovr"))


def test_confusion_counts_and_normalised_by_hand():
    assert ev.confusion(Y2, P2).tolist() == [[3, 2], [1, 4]]
    np.testing.assert_allclose(ev.confusion(Y2, P2, normalize="true"), [[0.6, 0.4], [0.2, 0.8]])
    assert ev.confusion(Y3, P3).tolist() == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]
    # a class never predicted still gets its column
    assert ev.confusion([0, 1, 2], np.tile([0.8, 0.1, 0.1], (3, 1))).shape == (3, 3)


def test_classification_report_agrees_with_scores():
    rep = ev.classification_report(Y2, P2, ["neg", "pos"], output_dict=True)
    s = ev.scores(Y2, P2)
    assert rep["pos"]["precision"] == pytest.approx(s["precision"])
    assert rep["pos"]["recall"] == pytest.approx(s["recall"])
    assert rep["neg"]["support"] == 5
    text = ev.classification_report(Y3, P3, ["a", "b", "c"])
    assert "macro avg" in text and " c " in text


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="not probabilities"):
        ev.scores([0, 1], np.array([-2.0, 3.0]))  # logits
    with pytest.raises(ValueError, match="sum to 1"):
        ev.scores([0, 1], np.array([[0.5, 0.9], [0.2, 0.1]]))
    with pytest.raises(ValueError, match="labels"):
        ev.scores([0, 1], np.array([0.5, 0.9])[:1])
    with pytest.raises(ValueError, match="labels must be"):
        ev.scores([0, 3], np.array([0.5, 0.9]))
    with pytest.raises(ValueError, match="unknown metric"):
        ev.bootstrap_ci(Y2, P2, "kappa", n_resamples=5, seed=0)


# -------------------------------------------------------------------------- bootstrap


def test_bootstrap_is_seeded_and_brackets_the_value():
    a = ev.bootstrap_ci(Y2, P2, "accuracy", n_resamples=100, seed=3)
    b = ev.bootstrap_ci(Y2, P2, "accuracy", n_resamples=100, seed=3)
    c = ev.bootstrap_ci(Y2, P2, "accuracy", n_resamples=100, seed=4)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.value == pytest.approx(0.7)
    assert 0.0 <= a.low <= a.value <= a.high <= 1.0
    assert a.n_resamples == 100
    assert "95% CI" in str(a)


def test_bootstrap_percentiles_match_a_direct_computation():
    """The interval is the 2.5th/97.5th percentile of the metric over the seeded resamples."""
    ci = ev.bootstrap_ci(Y2, P2, "recall", n_resamples=100, seed=11)
    idx = np.random.default_rng(11).integers(0, len(Y2), size=(100, len(Y2)))
    values = [skm.recall_score(Y2[i], (P2[i] >= 0.5).astype(int), zero_division=0) for i in idx]
    assert (ci.low, ci.high) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))


def test_bootstrap_interval_narrows_with_more_data():
    rng = np.random.default_rng(0)

    def simulated(n):
        y = rng.integers(0, 2, n)
        right = rng.random(n) < 0.8
        return y, np.where(right == (y == 1), 0.7, 0.3)

    small = ev.bootstrap_ci(*simulated(40), "accuracy", n_resamples=200, seed=0)
    large = ev.bootstrap_ci(*simulated(640), "accuracy", n_resamples=200, seed=0)
    # The width shrinks like 1/sqrt(n): 16 times the data, about a quarter of the width.
    ratio = (large.high - large.low) / (small.high - small.low)
    assert 0.15 < ratio < 0.4


def test_bootstrap_coverage_on_simulated_data():
    """About 95 % of the intervals from 200 simulated test sets contain the true accuracy.

    Each simulated test set has n = 100 examples, each classified right with probability
    0.8 (the true accuracy).  With 200 data sets the observed coverage of a true 95 %
    interval has a standard error of sqrt(.95 * .05 / 200) = 0.015; the percentile
    bootstrap is known to under-cover slightly at this n.  We accept [0.895, 0.99]
    (about -3.5 / +2.6 standard errors).  Seeded, so the result is reproducible.  The
    metric is the sample mean of "right" (accuracy without scikit-learn's per-call
    overhead) so that 200 x 200 resamples take about a second.
    """
    rng = np.random.default_rng(2024)
    true_accuracy, n, n_sets = 0.8, 100, 200

    def fast_accuracy(y_true, y_prob, threshold=0.5):
        # a metric receives (N, C) class probabilities: column 1 is P(class 1)
        return float(np.mean((y_prob[:, 1] >= threshold) == (y_true == 1)))

    covered = 0
    for k in range(n_sets):
        y = rng.integers(0, 2, n)
        right = rng.random(n) < true_accuracy
        p = np.where(right == (y == 1), 0.9, 0.1)
        ci = ev.bootstrap_ci(y, p, fast_accuracy, n_resamples=200, seed=k)
        covered += ci.low <= true_accuracy <= ci.high
    coverage = covered / n_sets
    assert 0.895 <= coverage <= 0.99, coverage


def test_score_table_uses_the_same_resamples_as_bootstrap_ci():
    table = ev.score_table(Y2, P2, n_resamples=50, seed=5)
    assert list(table.index) == ["accuracy", "precision", "recall", "f1", "roc_auc"]
    for name in ("accuracy", "roc_auc"):
        ci = ev.bootstrap_ci(Y2, P2, name, n_resamples=50, seed=5)
        assert table.loc[name, "value"] == pytest.approx(ci.value)
        assert table.loc[name, ["ci_low", "ci_high"]].tolist() == pytest.approx([ci.low, ci.high])


def test_bootstrap_defaults_come_from_the_config():
    import nbhelpers as nbh

    cfg = nbh.setup("offline", quiet=True)
    ci = ev.bootstrap_ci(Y2, P2, "accuracy")
    assert ci.n_resamples == cfg.bootstrap
    assert ci == ev.bootstrap_ci(Y2, P2, "accuracy", n_resamples=cfg.bootstrap, seed=cfg.seed)


def test_undefined_auc_resamples_are_dropped():
    y = np.array([0] * 19 + [1])  # most resamples have no positive: AUC undefined
    p = np.linspace(0.05, 0.95, 20)
    with pytest.warns(UserWarning, match="undefined"):
        ci = ev.bootstrap_ci(y, p, "roc_auc", n_resamples=100, seed=0)
    assert 0 < ci.n_resamples < 100
    assert ci.value == pytest.approx(1.0)


# ------------------------------------------------------------------- paired comparison


def test_compare_identical_models_gives_zero_difference():
    c = ev.compare(Y2, P2, P2, "accuracy", n_resamples=100, seed=0)
    assert (c.difference, c.low, c.high) == (0.0, 0.0, 0.0)


def test_compare_difference_and_pairing():
    rng = np.random.default_rng(1)
    n = 300
    y = rng.integers(0, 2, n)
    hard = rng.random(n) < 0.25  # both models fail on the hard examples ...
    extra = (~hard) & (rng.random(n) < 0.08)  # ... and model a on a few more
    prob_b = np.where(hard != (y == 1), 0.8, 0.2)
    prob_a = np.where((hard | extra) != (y == 1), 0.8, 0.2)
    c = ev.compare(y, prob_a, prob_b, "accuracy", n_resamples=200, seed=0)
    assert c.a == pytest.approx(skm.accuracy_score(y, prob_a >= 0.5))
    assert c.b == pytest.approx(skm.accuracy_score(y, prob_b >= 0.5))
    assert c.difference == pytest.approx(extra.mean())
    assert c.low > 0 and c.low <= c.difference <= c.high
    assert c.share_b_not_better == 0.0
    # Pairing: the difference's interval is much narrower than either model's own interval.
    alone = ev.bootstrap_ci(y, prob_a, "accuracy", n_resamples=200, seed=0)
    assert (c.high - c.low) < 0.7 * (alone.high - alone.low)
    assert "difference" in str(c)


# ------------------------------------------------------------------------- curves


def test_curves_match_sklearn_binary_and_multiclass():
    c = ev.curves(Y2, P2, ["neg", "pos"])
    assert list(c.auc) == ["pos"]
    assert c.auc["pos"] == pytest.approx(skm.roc_auc_score(Y2, P2))
    assert c.average_precision["pos"] == pytest.approx(skm.average_precision_score(Y2, P2))
    assert c.prevalence["pos"] == pytest.approx(0.5)
    fpr, tpr = next(iter(c.roc.values()))
    assert fpr[0] == 0 and tpr[-1] == 1
    c3 = ev.curves(Y3, P3, ["a", "b", "c"])
    assert list(c3.auc) == ["a", "b", "c"] and len(c3.roc) == len(c3.pr) == 3
    for k, name in enumerate("abc"):
        assert c3.auc[name] == pytest.approx(skm.roc_auc_score(Y3 == k, P3[:, k]))


def test_choose_threshold_for_a_recall_target():
    t = ev.choose_threshold(Y2, P2, "recall", 1.0)
    # The only way to catch all five positives is to go down to 0.30 (the lowest positive).
    assert t.threshold == pytest.approx(0.30)
    assert t.recall == 1.0
    pred = (P2 >= t.threshold).astype(int)
    assert t.precision == pytest.approx(skm.precision_score(Y2, pred))
    t8 = ev.choose_threshold(Y2, P2, "recall", 0.8)
    assert t8.threshold == pytest.approx(0.60)  # the highest threshold still catching 4 of 5
    assert skm.recall_score(Y2, P2 >= t8.threshold) >= 0.8
    assert skm.recall_score(Y2, P2 >= 0.61) < 0.8


def test_choose_threshold_for_precision_and_f1():
    t = ev.choose_threshold(Y2, P2, "precision", 0.8)
    pred = P2 >= t.threshold
    assert skm.precision_score(Y2, pred) >= 0.8
    assert t.recall == pytest.approx(skm.recall_score(Y2, pred))
    best = max(skm.f1_score(Y2, P2 >= th) for th in np.unique(P2))
    f = ev.choose_threshold(Y2, P2, "f1")
    assert skm.f1_score(Y2, P2 >= f.threshold) == pytest.approx(best)
    with pytest.raises(ValueError, match="no threshold"):
        ev.choose_threshold([1, 0, 1], np.array([0.1, 0.9, 0.2]), "precision", 0.99)
    with pytest.raises(ValueError, match="one-vs-rest"):
        ev.choose_threshold(Y3, P3)
    with pytest.raises(ValueError, match="goal"):
        ev.choose_threshold(Y2, P2, "specificity", 0.9)


# ---------------------------------------------------------------------- calibration


def test_ece_by_hand():
    # confidences .9 .9 .9 .7 (the last: p=.3, predicted 0, right)
    y, p = np.array([1, 1, 0, 0]), np.array([0.9, 0.9, 0.9, 0.3])
    # bin [.6,.8): 1 example, conf .7, acc 1 -> gap .3 ; bin [.8,1]: 3, conf .9, acc 2/3
    expected = (1 * 0.3 + 3 * abs(2 / 3 - 0.9)) / 4
    assert ev.expected_calibration_error(y, p, n_bins=5) == pytest.approx(expected)
    # perfectly calibrated by construction: confidence .75, right 3 times in 4
    assert ev.expected_calibration_error([1, 1, 1, 0], np.full(4, 0.75)) == pytest.approx(0.0)


def test_reliability_bins_match_sklearn_calibration_curve():
    rng = np.random.default_rng(0)
    p = rng.random((500, 4)) ** 3
    p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, 500)
    r = ev.reliability(y, p, n_bins=10)
    conf = p.max(axis=1)
    right = (p.argmax(axis=1) == y).astype(int)
    acc, mean_conf = calibration_curve(right, conf, n_bins=10, strategy="uniform")
    ok = r.counts > 0
    np.testing.assert_allclose(r.accuracy[ok], acc)
    np.testing.assert_allclose(r.confidence[ok], mean_conf)
    assert r.counts.sum() == 500
    assert r.ece == pytest.approx(np.sum(r.counts[ok] * np.abs(acc - mean_conf)) / 500)


def test_temperature_on_logits_round_trip():
    z2 = np.array([[-2.0], [0.0], [1.5], [30.0]])  # one sigmoid unit's logits
    np.testing.assert_allclose(ev.apply_temperature(z2, 1.0)[:, 1], expit(z2[:, 0]), atol=1e-12)
    np.testing.assert_allclose(ev.apply_temperature(z2[:, 0], 1.0), ev.apply_temperature(z2, 1.0))
    z3 = np.log(P3)
    np.testing.assert_allclose(ev.apply_temperature(z3, 1.0), P3, atol=1e-9)
    # sigmoid(z / T) is the two-class softmax of [0, z] / T, and of any [c, c + z] / T
    hot = ev.apply_temperature(z2, 2.5)
    np.testing.assert_allclose(hot[:, 1], expit(z2[:, 0] / 2.5), atol=1e-12)
    np.testing.assert_allclose(ev.apply_temperature(np.hstack([-z2 / 2, z2 / 2]), 2.5), hot, atol=1e-12)
    # the fallback: logits recovered from probabilities give them back (up to the clip)
    np.testing.assert_allclose(ev.apply_temperature(ev.to_logits(P2), 1.0)[:, 1], P2, atol=1e-6)
    z = ev.to_logits(np.array([expit(1.5)]))
    assert z[0, 1] - z[0, 0] == pytest.approx(1.5)
    # predicted classes never change
    assert (ev.predicted_labels(ev.apply_temperature(z3, 4.0)) == ev.predicted_labels(P3)).all()
    with pytest.raises(ValueError, match="positive"):
        ev.apply_temperature(z2, 0.0)
    with pytest.raises(ValueError, match="look like probabilities"):
        ev.apply_temperature(P3, 2.0)
    with pytest.raises(ValueError, match="look like probabilities"):
        ev.fit_temperature(Y3, P3)
    with pytest.raises(ValueError, match="labels must be"):
        ev.fit_temperature([0, 2], np.zeros((2, 1)))


def overconfident(n_classes, n, rng, sharpen=3.0):
    """Labels drawn from softmax(z) (the truth), logits reported as 3 z (over-confident)."""
    if n_classes == 2:
        z = rng.normal(0, 1.5, n)
        y = (rng.random(n) < expit(z)).astype(int)
        return y, sharpen * z[:, None]
    z = rng.normal(0, 1.5, (n, n_classes))
    true_p = softmax(z, axis=1)
    y = np.array([rng.choice(n_classes, p=row) for row in true_p])
    return y, sharpen * z


@pytest.mark.parametrize("n_classes", [2, 4])
def test_temperature_scaling_lowers_ece_of_an_overconfident_model(n_classes):
    rng = np.random.default_rng(7)
    y_val, z_val = overconfident(n_classes, 2000, rng)
    y_test, z_test = overconfident(n_classes, 2000, rng)
    t = ev.fit_temperature(y_val, z_val)
    assert t == pytest.approx(3.0, rel=0.15)  # recovers the over-sharpening
    p_test = ev.apply_temperature(z_test, 1.0)
    before = ev.expected_calibration_error(y_test, p_test)
    after = ev.expected_calibration_error(y_test, ev.apply_temperature(z_test, t))
    assert before > 0.08
    assert after < 0.5 * before
    assert after < 0.04
    # NLL (scikit-learn's log loss) also drops on the test set
    labels = list(range(n_classes))
    assert skm.log_loss(y_test, ev.apply_temperature(z_test, t), labels=labels) < skm.log_loss(
        y_test, p_test, labels=labels)


def test_temperature_fits_a_confident_model_on_logits_where_probabilities_fail():
    """Logits of +-30 are normal with ImageNet features; in float32 their sigmoid is 1.0.

    The truth is sigmoid(s); the model reports z = 20 s.  On the logits the fit
    recovers T = 20; from the float32 probabilities (clipped, to_logits) every
    saturated prediction looks the same and the fit is far off.
    """
    rng = np.random.default_rng(0)

    def draw(n):
        s = rng.normal(0, 2, n)
        return (rng.random(n) < expit(s)).astype(int), 20.0 * s[:, None]

    (y_val, z_val), (y_test, z_test) = draw(4000), draw(4000)
    p_val32 = expit(z_val.astype("float32"))  # what a float32 sigmoid layer returns
    assert (p_val32 == 1.0).mean() > 0.3  # a third of the predictions are exactly 1.0
    t_logits = ev.fit_temperature(y_val, z_val)
    t_probs = ev.fit_temperature(y_val, ev.to_logits(p_val32))
    assert t_logits == pytest.approx(20.0, rel=0.1)
    assert t_probs < 0.6 * 20.0
    ece_logits = ev.expected_calibration_error(y_test, ev.apply_temperature(z_test, t_logits))
    ece_probs = ev.expected_calibration_error(
        y_test, ev.apply_temperature(ev.to_logits(expit(z_test.astype("float32"))), t_probs))
    assert ece_logits < 0.03 < ece_probs


def test_fit_temperature_minimises_sklearns_log_loss():
    rng = np.random.default_rng(5)
    y, z = overconfident(3, 500, rng)
    t = ev.fit_temperature(y, z)
    nll = [skm.log_loss(y, ev.apply_temperature(z, t * f), labels=[0, 1, 2]) for f in (0.9, 1.0, 1.1)]
    assert nll[1] < nll[0] and nll[1] < nll[2]


def test_fit_temperature_agrees_with_sklearn_where_it_has_temperature_scaling():
    calibration = pytest.importorskip("sklearn.calibration")
    scaler = getattr(calibration, "_TemperatureScaling", None)
    if scaler is None:
        pytest.skip("this scikit-learn has no temperature scaling (added in 1.8)")
    rng = np.random.default_rng(3)
    y, z = overconfident(3, 1000, rng)
    beta = float(scaler().fit(z, y).beta_)  # sklearn fits the inverse temperature
    assert ev.fit_temperature(y, z) == pytest.approx(1.0 / beta, rel=1e-3)


# ---------------------------------------------------------------------- error analysis


def test_error_cases_by_hand():
    cases = ev.error_cases(Y2, P2, k=2)
    # wrong: idx 2 (p=.55, conf .55), 3 (.80 -> conf .80), 4 (p=.30 -> conf .70)
    assert cases["confidently_wrong"].tolist() == [3, 4]
    # least confident: .55 (idx 2), .60 (idx 1 conf .6, idx 5 conf .6: stable order)
    assert cases["least_confident"].tolist() == [2, 1]
    c3 = ev.error_cases(Y3, P3, k=5)
    # wrong: idx 1 (conf .6), idx 5 and 7 (conf .5 each, kept in order)
    assert c3["confidently_wrong"].tolist() == [1, 5, 7]
    assert c3["least_confident"][:3].tolist() == [3, 5, 7]  # conf .5, .5, .5


# ------------------------------------------------------------------------ predictions


@pytest.mark.slow
def test_predict_with_keras_model_and_shuffled_dataset():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(0, 255, (37, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 127.5).astype("int32")
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, activation="sigmoid", name="predictions"),
    ])
    model.get_layer("predictions").set_weights([np.full((3, 1), 0.2 / 3), np.array([-25.5])])
    logit = x.mean(axis=(1, 2, 3)) * 0.2 - 25.5
    expected = expit(logit)

    p = ev.predict_proba(model, x, batch_size=8)
    assert p.shape == (37, 2)  # two classes: (N, 2), column 1 = P(class 1)
    np.testing.assert_allclose(p[:, 1], expected, rtol=1e-4)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(37, seed=1).batch(8)
    y_true, y_prob = ev.predict(model, ds)
    assert y_true.shape == (37,) and y_prob.shape == (37, 2)
    assert sorted(y_true.tolist()) == sorted(y.tolist())
    # labels and predictions line up although the data set was shuffled
    assert ((y_prob[:, 1] >= 0.5) == (y_true == 1)).all()
    np.testing.assert_allclose(np.sort(ev.predict_proba(model, ds)[:, 1]), np.sort(expected), rtol=1e-4)

    # logits of a model without a "logits" layer: its last Dense without the sigmoid
    y_true, z = ev.predict_logits(model, ds)
    assert z.shape == (37, 1)
    assert ((z[:, 0] >= 0) == (y_true == 1)).all()
    np.testing.assert_allclose(np.sort(z[:, 0]), np.sort(logit), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_predict_logits_reads_the_logits_layer_and_refuses_what_has_none():
    import keras

    inp = keras.Input((3,))
    scores = keras.layers.Dense(3, name="logits")(inp)
    model = keras.Model(inp, keras.layers.Activation("softmax", name="predictions")(scores))
    model.get_layer("logits").set_weights([np.diag([40.0, 20.0, 1.0]), np.zeros(3)])
    x = np.eye(3, dtype="float32")
    y_true, z = ev.predict_logits(model, (x, np.arange(3)))
    np.testing.assert_allclose(z, np.diag([40.0, 20.0, 1.0]), atol=1e-5)
    p = ev.predict_proba(model, x)
    assert p[0, 0] == 1.0  # saturated in float32 ...
    np.testing.assert_allclose(ev.apply_temperature(z, 1.0), p, atol=1e-6)  # ... the same numbers
    # a Softmax layer at the end: its input is the logits
    soft = keras.Model(inp, keras.layers.Softmax()(scores))
    np.testing.assert_allclose(ev.predict_logits(soft, x)[1], z, atol=1e-6)
    # a model whose last layer is no sigmoid/softmax has no logits to find
    relu = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="relu", name="out")])
    with pytest.raises(ValueError, match="cannot find the class scores.*'out'.*relu"):
        ev.logits_model(relu)
    with pytest.raises(TypeError, match="needs a Keras model"):
        ev.predict_logits(lambda b: np.full((len(b), 1), 0.5), x)


@pytest.mark.slow
def test_predict_with_logits_gives_both_from_one_pass():
    """Notebook 07's test split: the logits and the probabilities of one pass are what the two
    separate passes give, over a shuffled tf.data pipeline too (labels in the same order), and
    the network runs once per batch, not twice."""
    import keras
    import tensorflow as tf

    inp = keras.Input((3,))
    scores = keras.layers.Dense(3, name="logits")(inp)
    model = keras.Model(inp, keras.layers.Activation("softmax", name="predictions")(scores))
    x = np.random.default_rng(0).normal(size=(37, 3)).astype("float32") * 5
    y = np.arange(37) % 3
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        37, seed=1, reshuffle_each_iteration=False).batch(8)  # shuffled, the same order each pass
    y_true, z, p = ev.predict_with_logits(model, ds)
    y2, z2 = ev.predict_logits(model, ds)
    assert (y_true != y).any()  # the pipeline's order, not the arrays'
    np.testing.assert_allclose(z, z2, atol=1e-6)
    np.testing.assert_allclose(p, ev.apply_temperature(z, 1.0), atol=1e-6)
    assert (y_true == y2).all() and z.shape == (37, 3) and p.shape == (37, 3)
    # one pass: every batch of the pipeline is read once (two helpers would read each twice)
    reads = []

    def batches():
        for i in range(0, 37, 8):
            reads.append(i)
            yield x[i:i + 8], y[i:i + 8]
    counted = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None,), tf.int64)))
    y3, z3, p3 = ev.predict_with_logits(model, counted)
    assert reads == list(range(0, 37, 8)) and (y3 == y).all()
    np.testing.assert_allclose(z3, ev.predict_logits(model, (x, y))[1], atol=1e-6)
    # arrays: the same, row for row
    y4, z4, p4 = ev.predict_with_logits(model, (x, y))
    np.testing.assert_allclose(z4, z3, atol=1e-6)
    np.testing.assert_allclose(p4, p3, atol=1e-6)
    # a plain function returning a list per batch is one output, as before
    listy = lambda b: [[0.25, 0.75] for _ in range(len(b))]  # noqa: E731
    assert ev.predict(listy, counted)[1].shape == (37, 2)
    with pytest.raises(TypeError, match="needs a Keras model"):
        ev.predict_with_logits(lambda b: np.full((len(b), 1), 0.5), x)


@pytest.mark.slow
def test_predict_multiclass_keras_and_plain_function():
    import keras
    import tensorflow as tf

    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).uniform(0, 255, (10, 4, 4, 3)).astype("float32")
    p = ev.predict_proba(model, x)
    assert p.shape == (10, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(10) % 3)).batch(4)
    y_true, p_ds = ev.predict(model, ds)
    assert y_true.tolist() == (np.arange(10) % 3).tolist()
    np.testing.assert_allclose(p_ds, p, atol=1e-5)
    np.testing.assert_allclose(ev.apply_temperature(ev.predict_logits(model, ds)[1], 1.0), p, atol=1e-5)
    # a plain function of a batch works the same way, labels from an (x, y) tuple
    y_true, p_fn = ev.predict(lambda b: softmax(np.asarray(b).reshape(len(b), -1)[:, :3] / 255,
                                                axis=1), (x, np.arange(10) % 3), batch_size=3)
    assert p_fn.shape == (10, 3) and y_true.tolist() == (np.arange(10) % 3).tolist()
    one_hot = tf.data.Dataset.from_tensor_slices((x, np.eye(3)[np.arange(10) % 3])).batch(4)
    assert ev.predict(model, one_hot)[0].tolist() == (np.arange(10) % 3).tolist()
    with pytest.raises(ValueError, match="logits"):
        ev.predict_proba(lambda b: np.asarray(b).reshape(len(b), -1)[:, :3], x)


def test_a_two_unit_softmax_is_read_as_two_classes():
    two = ev.class_probabilities(P2)  # (N, 2) softmax
    assert ev.scores(Y2, two) == ev.scores(Y2, P2)
    assert ev.confusion(Y2, two).tolist() == ev.confusion(Y2, P2).tolist()
    assert ev.fit_temperature(Y2, ev.to_logits(two)) == pytest.approx(
        ev.fit_temperature(Y2, ev.to_logits(P2)), rel=1e-6)
    assert ev.predict_proba(lambda b: np.tile([0.25, 0.75], (len(b), 1)), np.zeros((3, 2))).shape \
        == (3, 2)


def test_predict_with_a_function_on_arrays():
    x = np.stack([np.full((2, 2, 3), v) for v in (0.0, 100.0, 255.0)])
    y_true, p = ev.predict(lambda b: np.asarray(b).mean(axis=(1, 2, 3))[:, None] / 255, x)
    assert y_true is None
    np.testing.assert_allclose(p[:, 1], [0.0, 100 / 255, 1.0])
    with pytest.raises(TypeError):
        ev.predict_proba(42, x)


# --------------------------------------------------------------------------- figures


def axis_labels(fig):
    return [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_xlabel()]


def test_confusion_heatmap_has_counts_and_normalised_panels():
    fig = plots.confusion_heatmap(ev.confusion(Y3, P3), ["a", "b", "c"], title="test")
    heat = fig.axes[:2]  # then the two colour bars
    assert [ax.get_title() for ax in heat] == ["counts", "normalised by true class (rows sum to 1)"]
    assert all(ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
               for ax in heat)
    assert [t.get_text() for t in heat[0].texts] == ["2", "1", "0", "0", "2", "1", "1", "0", "1"]
    assert heat[1].texts[5].get_text() == "0.33"
    assert [t.get_text() for t in heat[0].get_xticklabels()] == ["a", "b", "c"]
    close_all()


def test_roc_pr_figure_is_labelled():
    c = ev.curves(Y3, P3, ["a", "b", "c"])
    fig = plots.roc_pr_curves(c.roc, c.pr, c.prevalence, title="test")
    (roc_x, roc_y), (pr_x, pr_y) = axis_labels(fig)
    assert "false positive rate" in roc_x and "true positive rate" in roc_y
    assert (pr_x, pr_y) == ("recall", "precision")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:3] == list(c.roc) and "chance" in legend
    close_all()


def test_reliability_diagram_is_labelled():
    before = ev.reliability(Y2, P2)
    after = ev.reliability(Y2, ev.apply_temperature(ev.to_logits(P2), 2.0))
    fig = plots.reliability_diagram({
        f"before: ECE {before.ece:.2f}": (before.confidence, before.accuracy, before.counts),
        f"after: ECE {after.ece:.2f}": (after.confidence, after.accuracy, after.counts),
    })
    assert fig.axes[0].get_ylabel() == "accuracy (fraction right)"
    assert "confidence" in fig.axes[1].get_xlabel() and fig.axes[1].get_ylabel() == "examples"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "perfectly calibrated" and legend[1].startswith("before: ECE")
    close_all()


def test_error_gallery_titles_and_colours():
    cases = ev.error_cases(Y2, P2, k=3)["confidently_wrong"]
    images = np.random.default_rng(0).uniform(0, 255, (10, 8, 8, 3))
    pred = ev.predicted_labels(P2)
    fig = plots.error_gallery(images[cases], Y2[cases], pred[cases],
                              ev.confidence(P2)[cases], ["neg", "pos"], suptitle="wrong")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0] == "true: neg\npred: pos (0.80)"
    assert len(titles) == 3
    assert fig.axes[0].title.get_color() == "tab:red"
    empty = plots.error_gallery([], [], [], [], ["neg", "pos"], suptitle="none wrong")
    assert empty.axes[0].texts[0].get_text() == "no images to show"
    close_all()


def test_interval_plot_is_labelled():
    fig = plots.interval_plot(["accuracy", "f1"], [0.1, 0.2], [0.0, 0.1], [0.2, 0.3],
                              xlabel="difference", reference=0.0)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("difference", "metric")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["accuracy", "f1"]
    close_all()


# ------------------------------------------------------------------- properties


@st.composite
def predictions(draw):
    """Labels and probabilities, two classes (N,) or more (N, C), every class present."""
    n_classes = draw(st.integers(2, 4))
    n = draw(st.integers(n_classes, 25))
    y = np.array(draw(st.permutations(list(range(n_classes)) + draw(
        st.lists(st.integers(0, n_classes - 1), min_size=n - n_classes, max_size=n - n_classes)))))
    raw = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=n * n_classes,
                                 max_size=n * n_classes))).reshape(n, n_classes)
    p = raw / raw.sum(axis=1, keepdims=True)
    return (y, p[:, 1] if n_classes == 2 and draw(st.booleans()) else p)


@settings(max_examples=25, deadline=None)
@given(predictions(), st.floats(0.2, 5.0))
def test_properties_of_scores_calibration_and_temperature(data, temperature):
    y, p = data
    s = ev.scores(y, p)
    pred = ev.predicted_labels(p)
    assert s["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert all(0.0 <= v <= 1.0 for v in s.values())
    assert ev.confusion(y, p).sum() == len(y)
    assert 0.0 <= ev.expected_calibration_error(y, p) <= 1.0
    scaled = ev.apply_temperature(ev.to_logits(p), temperature)
    assert scaled.shape == ev.class_probabilities(p).shape == (len(y), max(2, ev.num_classes(p)))
    assert (ev.predicted_labels(scaled)[ev.confidence(p) > 0.5 + 1e-6]
            == pred[ev.confidence(p) > 0.5 + 1e-6]).all()
    np.testing.assert_allclose(ev.apply_temperature(ev.to_logits(p), 1.0), ev.class_probabilities(p),
                               atol=1e-6)
