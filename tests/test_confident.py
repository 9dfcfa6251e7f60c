"""The helpers on a *confident* model, as ImageNet-pretrained, fine-tuned models are.

The course otherwise runs on random or stand-in weights, whose predictions are never
sure.  A real fine-tuned model gives logits of +-30 to +-100: its sigmoid/softmax is
exactly 1.0 or 0.0 in float32, it may get every test image right, or be confidently
wrong on a few.  Each test here feeds such predictions (hand-made arrays, or the tiny
models of ``explain`` and ``deploy`` with their last layer scaled up) to the helpers
and checks that nothing breaks and nothing misleads: a finite number, NaN where a value
is undefined, or a warning that says why.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.special import softmax  # noqa: E402

from nbhelpers import evaluate as ev  # noqa: E402

# Two classes, every one right with a probability of exactly 0 or 1 (float32 sigmoid of +-80).
Y_SURE = np.array([0, 1] * 20)
P_SURE = Y_SURE.astype("float64")
Z_SURE = np.where(Y_SURE == 1, 80.0, -80.0)[:, None]
# Three classes, all right, float32 softmax of logits +50 / -40: rows of exactly [1, 0, 0].
Y3_SURE = np.array([0, 1, 2] * 10)
Z3_SURE = np.full((30, 3), -40.0)
Z3_SURE[np.arange(30), Y3_SURE] = 50.0
P3_SURE = softmax(Z3_SURE.astype("float32"), axis=1)


# --------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("y, z", [(Y_SURE, Z_SURE), (Y3_SURE, Z3_SURE)], ids=["sigmoid", "softmax"])
def test_fit_temperature_without_a_mistake_warns_and_keeps_the_probabilities(y, z):
    """No mistake: the NLL falls all the way to T -> 0; the search used to stop at T = 0.15,
    an accident of float rounding that notebook 07 reported as "under-confident"."""
    with pytest.warns(UserWarning, match="no minimum"):
        assert ev.fit_temperature(y, z) == 1.0
    with pytest.warns(UserWarning, match="no minimum"):  # the fallback from saturated probabilities
        assert ev.fit_temperature(y, ev.to_logits(ev.apply_temperature(z, 1.0))) == 1.0


def test_fit_temperature_of_a_few_confident_mistakes_is_the_honest_one():
    """3 of 40 wrong at +-80: T makes the probabilities say 37/40, i.e. 80 / T = logit(37/40)."""
    y = Y_SURE.copy()
    y[:3] = 1 - y[:3]
    t = ev.fit_temperature(y, Z_SURE)
    assert 80.0 / t == pytest.approx(np.log(37 / 3), rel=1e-3)
    z3 = Z3_SURE.copy()
    z3[:2] = z3[[1, 0]]  # two confidently wrong rows
    assert np.isfinite(ev.fit_temperature(Y3_SURE, z3)) and ev.fit_temperature(Y3_SURE, z3) > 10


@pytest.mark.parametrize("p", [P_SURE, np.where(Y_SURE == 1, np.float32(0.99999994), 0.0)])
def test_choose_threshold_on_saturated_probabilities_warns(p):
    """Every threshold separates the classes; the rule lands on 1.0, which passes only P == 1.0."""
    for goal, target in [("recall", 0.9), ("precision", 0.95), ("f1", None)]:
        with pytest.warns(UserWarning, match="saturated"):
            t = ev.choose_threshold(Y_SURE, p, goal, target)
        assert t.threshold > 1 - 1e-6 and t.recall == 1.0 and t.precision == 1.0


def test_choose_threshold_on_graded_probabilities_does_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = np.array([0] * 5 + [1] * 5)
        p = np.array([.1, .2, .3, .3, .4, .6, .7, .8, .9, .95])
        assert ev.choose_threshold(y, p, "recall", 0.9).threshold == 0.6
    with pytest.raises(ValueError, match="no threshold reaches"):  # none works: a clear error
        ev.choose_threshold(Y_SURE, np.where(Y_SURE == 1, 0.0, 1.0), "precision", 0.95)


@pytest.mark.parametrize("y, p", [(Y_SURE, P_SURE), (Y3_SURE, P3_SURE)], ids=["sigmoid", "softmax"])
def test_metrics_of_a_perfect_saturated_model_are_finite(y, p):
    """Checked fine: scores, intervals, curves, calibration and errors with p in {0, 1}."""
    assert ev.scores(y, p) == {k: 1.0 for k in ev.METRICS}
    table = ev.score_table(y, p, n_resamples=50, seed=0)
    assert (table.to_numpy() == 1.0).all()
    auc = ev.bootstrap_ci(y, p, "roc_auc", n_resamples=50, seed=0)
    assert (auc.value, auc.low, auc.high, auc.n_resamples) == (1.0, 1.0, 1.0, 50)
    n = ev.num_classes(p)
    np.testing.assert_array_equal(ev.confusion(y, p, normalize="true"), np.eye(n))
    c = ev.curves(y, p)
    assert set(c.auc.values()) == {1.0} and set(c.average_precision.values()) == {1.0}
    r = ev.reliability(y, p)
    assert r.counts.tolist() == [0] * 9 + [len(y)] and r.ece == 0.0
    assert np.isfinite(ev.to_logits(p)).all()
    cases = ev.error_cases(y, p)
    assert len(cases["confidently_wrong"]) == 0 and len(cases["least_confident"]) == 6
    same = ev.compare(y, p, p, "roc_auc", n_resamples=50, seed=0)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)


def test_confidently_wrong_predictions_give_finite_numbers():
    p = P_SURE.copy()
    p[:3] = 1 - p[:3]  # three wrong with P(true class) = 0
    r = ev.reliability(Y_SURE, p)
    assert r.accuracy[-1] == pytest.approx(37 / 40) and r.ece == pytest.approx(3 / 40)
    assert ev.error_cases(Y_SURE, p)["confidently_wrong"].tolist() == [0, 1, 2]
    assert np.isfinite(ev.score_table(Y_SURE, p, n_resamples=50, seed=0).to_numpy()).all()


def test_evaluation_figures_of_degenerate_inputs_draw(recwarn):
    from nbhelpers import plots

    r = ev.reliability(Y_SURE, P_SURE)  # every example in the last bin
    fig = plots.reliability_diagram({"before": (r.confidence, r.accuracy, r.counts),
                                     "after": (r.confidence, r.accuracy, r.counts)})
    fig.canvas.draw()
    c = ev.curves(Y_SURE, P_SURE, ["a", "b"])
    plots.roc_pr_curves(c.roc, c.pr, c.prevalence).canvas.draw()
    plots.confusion_heatmap(ev.confusion(Y_SURE, np.ones(40)), ["a", "b"]).canvas.draw()
    plots.interval_plot(["accuracy"], [0.0], [0.0], [0.0], reference=0.0).canvas.draw()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
