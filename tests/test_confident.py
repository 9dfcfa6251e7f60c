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

from nbhelpers import config as nbh_config  # noqa: E402
from nbhelpers import evaluate as ev  # noqa: E402
from nbhelpers import explain as ex  # noqa: E402

SIZE = 32
LOGIT = 50.0

# Two classes, every one right with a probability of exactly 0 or 1 (float32 sigmoid of +-80).
Y_SURE = np.array([0, 1] * 20)
P_SURE = Y_SURE.astype("float64")
Z_SURE = np.where(Y_SURE == 1, 80.0, -80.0)[:, None]
# Three classes, all right, float32 softmax of logits +50 / -40: rows of exactly [1, 0, 0].
Y3_SURE = np.array([0, 1, 2] * 10)
Z3_SURE = np.full((30, 3), -40.0)
Z3_SURE[np.arange(30), Y3_SURE] = 50.0
P3_SURE = softmax(Z3_SURE.astype("float32"), axis=1)


@pytest.fixture(scope="module")
def cfg():
    return nbh_config.make_config("offline")


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
    with pytest.warns(UserWarning, match="zero width"):
        table = ev.score_table(y, p, n_resamples=50, seed=0)
    assert (table.to_numpy() == 1.0).all()
    with pytest.warns(UserWarning, match="zero width"):
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


def test_an_interval_of_zero_width_says_it_is_not_certainty():
    """No mistake in 40 images: every resample scores 1.0 and the interval is "1.000 to 1.000",
    which read as certainty; the error rate can still be about 3/40 (the rule of three)."""
    with pytest.warns(UserWarning, match=r"accuracy = 1\b.*3/40 = 0\.075"):
        ci = ev.bootstrap_ci(Y_SURE, P_SURE, "accuracy", n_resamples=50, seed=0)
    assert (ci.low, ci.high) == (1.0, 1.0)
    with pytest.warns(UserWarning, match="accuracy = 1, precision = 1, recall = 1, f1 = 1, roc_auc = 1"):
        ev.score_table(Y_SURE, P_SURE, n_resamples=50, seed=0)
    import warnings

    with warnings.catch_warnings():  # one mistake: the resamples vary, no warning
        warnings.simplefilter("error")
        p = P_SURE.copy()
        p[0] = 1.0
        ci = ev.bootstrap_ci(Y_SURE, p, "accuracy", n_resamples=200, seed=0)
    assert ci.low < 1.0 == ci.high


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


# --------------------------------------------------------------------------- explain


def saturated(classes=1, logit=LOGIT, scale=25.0):
    """``left_half_model`` with its logits layer scaled by ``scale`` and shifted so that the
    first toy image scores ``logit`` (its margin, for the softmax): every image it is shown,
    however perturbed, gets a probability of exactly 1.0 (or 0.0) in float32."""
    m = ex.left_half_model(SIZE, classes=classes, scale=scale)
    image = ex.toy_images(1, SIZE)[0]
    layer = m.get_layer("logits")
    w, b = layer.get_weights()
    z = np.asarray(ev.logits_model(m)(image[None]))[0]
    shift = logit - (z[0] if classes == 1 else z[1] - z[0])
    offset = np.float32([shift]) if classes == 1 else np.float32([-shift / 2, shift / 2])
    layer.set_weights([w, b + offset])
    return m


@pytest.fixture(scope="module")
def sure():
    return {c: saturated(c) for c in (1, 2)}


@pytest.fixture(scope="module")
def image():
    return ex.toy_images(1, SIZE)[0]


@pytest.mark.slow
@pytest.mark.parametrize("classes", [1, 2])
def test_lime_of_a_saturated_probability_warns_and_reports_no_fit(classes, sure, image, cfg):
    """Every sample gets P = 1.0: the weights are 0 and lime's R^2 of that constant fit is
    1.0, which read as a perfect explanation; it is NaN now, with a warning."""
    model = sure[classes]
    assert ex.predict_function(model)(image[None])[0, 1] == 1.0
    with pytest.warns(UserWarning, match="did not change it"):
        e = ex.explain("lime", model, image, cfg=cfg, num_samples=40, segmentation="slic",
                       output="probability")
    assert e.extras["p_range"] == (1.0, 1.0) and np.isnan(e.extras["score"])
    assert not e.attribution.any() and not np.isnan(e.scaled()).any()


@pytest.mark.slow
@pytest.mark.parametrize("classes", [1, 2])
@pytest.mark.parametrize("method, kw", [("lime", {"num_samples": 60, "segmentation": "slic"}),
                                        ("shap_partition", {"max_evals": 60})])
def test_a_sure_model_is_explained_through_its_log_odds(classes, method, kw, sure, image, cfg,
                                                        recwarn):
    """By default (output='auto') the perturbation methods see that P is saturated and
    explain the class's log-odds: a real map, on the half the model looks at."""
    e = ex.explain(method, sure[classes], image, cfg=cfg, **kw)
    assert e.settings["output"] == "log_odds"
    assert not [w for w in recwarn if "did not change" in str(w.message)]
    lo, hi = e.extras["p_range"]
    assert hi - lo > 1.0, "the log-odds should move when parts of the image are hidden"
    a = np.abs(e.attribution)
    assert a.sum() > 0 and a[:, : SIZE // 2].sum() > a[:, SIZE // 2:].sum()


@pytest.mark.slow
def test_shap_partition_of_a_saturated_probability_warns(sure, image, cfg):
    with pytest.warns(UserWarning, match="did not change it"):
        e = ex.explain("shap_partition", sure[1], image, cfg=cfg, max_evals=40,
                       output="probability")
    assert e.extras["p_range"] == (1.0, 1.0) and not e.attribution.any()


@pytest.mark.slow
@pytest.mark.parametrize("classes", [1, 2])
def test_gradient_methods_of_a_saturated_model_still_find_the_left_half(classes, sure, image, cfg):
    """Checked fine: Grad-CAM and the GradientExplainer differentiate the logit."""
    for method, kw in [("gradcam", {}),
                       ("shap_gradient", {"nsamples": 16, "background": ex.toy_images(4, SIZE, seed=1)})]:
        a = np.abs(ex.explain(method, sure[classes], image, cfg=cfg, **kw).attribution)
        assert np.isfinite(a).all() and a.sum() > 0
        assert a[:, : SIZE // 2].sum() / a.sum() > 0.9


def test_rank_correlation_of_a_constant_map_is_undefined():
    a = np.arange(16.0).reshape(4, 4)
    zero = np.zeros((4, 4))
    assert np.isnan(ex.rank_correlation(zero, zero))  # it was 0: "unrelated to itself"
    assert np.isnan(ex.rank_correlation(a, zero)) and np.isnan(ex.rank_correlation(zero, a))
    assert ex.rank_correlation(a, a) == 1.0


@pytest.mark.slow
def test_an_empty_map_does_not_pass_the_randomisation_test(sure, image, cfg):
    """An empty LIME map scored 0 ("changed completely") at every step, step 0 included:
    it looked like a method that passes the sanity check."""
    with pytest.warns(UserWarning, match="constant"):
        table, _ = ex.cascading_randomisation(
            sure[1], image, ["gradcam", "lime"], cfg=cfg, max_steps=1,
            method_kw={"lime": {"num_samples": 20, "segmentation": "slic",
                                "output": "probability"}})
    lime = table[table.method == "lime"]
    assert lime["spearman"].isna().all() and lime["spearman_abs"].isna().all()
    assert table[(table.method == "gradcam") & (table.step == 0)]["spearman"].item() == 1.0


@pytest.mark.slow
def test_deletion_insertion_of_a_saturated_model(sure, image, cfg):
    """The probability stays at 1.0 whatever is deleted (every map ties with the random one):
    a warning; ``score="log_odds"`` (what "auto" picks here) follows the log-odds, which move."""
    model = sure[1]
    e = ex.explain("gradcam", model, image, cfg=cfg)
    with pytest.warns(UserWarning, match="score='log_odds'"):
        flat = ex.deletion_insertion(model, image, e.attribution, e.target, steps=4,
                                     score="probability")
    assert (flat["deletion"] == 1.0).all() and flat["score"] == "probability"
    table, curves = ex.faithfulness_table(model, image, [e], steps=4)
    assert curves["gradcam"]["score"] == curves["random"]["score"] == "log_odds"
    assert curves["gradcam"]["deletion"][0] == pytest.approx(LOGIT, abs=1e-3)
    assert np.ptp(curves["gradcam"]["deletion"]) > 1.0 and np.ptp(curves["random"]["insertion"]) > 1.0
    assert table["deletion_auc"].nunique() == 2
    from nbhelpers import plots

    assert "log-odds" in plots.faithfulness_curves(curves).axes[0].get_ylabel()
    with pytest.raises(ValueError, match="must be .auto., .probability. or .log_odds."):
        ex.deletion_insertion(model, image, e.attribution, e.target, steps=2, score="margin")


def test_empty_and_constant_maps_draw_without_nan(recwarn):
    """Checked fine: an all-zero map is drawn as zeros, not 0 / 0."""
    from nbhelpers import plots

    zero = np.zeros((8, 8), "float32")
    fig = plots.explanation_overlay(np.zeros((8, 8, 3)), zero)
    assert np.isfinite(np.asarray(fig.axes[0].images[1].get_array())).all()
    plots.explanations_side_by_side(np.zeros((1, 8, 8, 3)), {"lime": [zero]}).canvas.draw()
    plots.randomisation_maps(np.zeros((8, 8, 3)), {"lime": [zero, zero]}, ["0", "1"]).canvas.draw()
    assert not np.isnan(ex.Explanation("lime", zero, 1, 0.0).scaled()).any()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# --------------------------------------------------------------------------- deploy


def saturated_classifier(num_classes):
    """``deploy_kit.tiny_classifier`` with its last layer scaled so its logits are about +-60."""
    import deploy_kit

    m = deploy_kit.tiny_classifier(16, num_classes=num_classes)
    layer = m.get_layer("predictions")
    w, b = layer.get_weights()
    x = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    f = np.float32(60.0 / np.abs(np.asarray(ev.logits_model(m)(x))).mean())
    layer.set_weights([w * f, b * f])
    return m, x


@pytest.mark.slow
@pytest.mark.parametrize("num_classes", [2, 3])
def test_deploy_with_saturated_outputs(num_classes, cfg, tmp_path):
    """Checked fine: a prediction, TTA, the TTA log loss, int8 export and agreement."""
    from nbhelpers import deploy

    model, x = saturated_classifier(num_classes)
    names = ["a", "b", "c"][:num_classes]
    p = deploy.predict_function(model)(x)
    assert (p.max(axis=1) == 1.0).all()
    pred = deploy.classify_image(model, x[0], names, gradcam=True)
    assert pred.confidence == 1.0 and pred.top(2)[1][1] < 1e-20
    assert np.isfinite(pred.explanation.attribution).all()
    np.testing.assert_allclose(deploy.tta_predict(model, x, views=2, cfg=cfg).sum(axis=1), 1.0)
    y = p.argmax(axis=1)
    y[:2] = (y[:2] + 1) % num_classes  # confidently wrong on two: P(true class) = 0
    tta = deploy.tta_comparison(model, x, y, views=(1,), cfg=cfg)
    assert tta["log_loss"].item() == pytest.approx(-2 * np.log(1e-7) / len(y), rel=1e-4)
    exported = deploy.export_all(model, tmp_path, names, cfg, representative=x,
                                 forms=["tflite_int8"])
    out = deploy.TFLiteModel(exported.paths["tflite_int8"])(x)
    probs = deploy.predict_function(deploy.TFLiteModel(exported.paths["tflite_int8"]))(x)
    assert np.isfinite(out).all() and np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    table = deploy.compare_exports(model, exported, x, y, latency_images=1)
    assert (table["agreement"] == 1.0).all() and (table["max_prob_diff"] <= 1 / 255).all()


@pytest.mark.slow
def test_left_half_model_scale_makes_a_sure_model_with_the_same_ranking():
    x = ex.toy_images(8, SIZE)
    calm = ex.predict_function(ex.left_half_model(SIZE), output="log_odds")(x)[:, 1]
    sure_model = ex.left_half_model(SIZE, scale=30.0)
    lo = ex.predict_function(sure_model, output="log_odds")(x)[:, 1]
    assert np.allclose(lo, 30.0 * calm, rtol=1e-3, atol=1e-2)
    p = ex.predict_function(sure_model)(x)[:, 1]
    assert ((p == 0.0) | (p == 1.0)).sum() >= 2, "some toy images should saturate in float32"
    assert {ex.choose_output(sure_model, x[i], 1) for i in range(8)} == {"probability", "log_odds"}
