"""nbhelpers.explain on models whose answer is known.

`left_half_model` only looks at one half of the image (a fixed mask zeroes the
other half of its feature maps), so a correct explanation puts its attribution
there.  Images are 32 px and sample counts small: the file runs in seconds,
apart from shap's one-off numba compilation for the Partition explainer.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbhelpers import config as nbh_config
from nbhelpers import evaluate
from nbhelpers import explain as ex

SIZE = 32
HALF = SIZE // 2

#: Small budgets per method, enough to localise on 32-px images.
KW = {
    "lime": {"num_samples": 64},
    "shap_gradient": {"nsamples": 32},
    "shap_partition": {"max_evals": 64},
    "gradcam": {},
}


@pytest.fixture(scope="module")
def cfg():
    return nbh_config.make_config("offline")


@pytest.fixture(scope="module")
def images():
    return ex.toy_images(3, SIZE)


@pytest.fixture(scope="module")
def background():
    return ex.toy_images(4, SIZE, seed=5)


@pytest.fixture(scope="module")
def models():
    return {side: ex.left_half_model(SIZE, side=side) for side in ("left", "right")}


def probabilities(model, images):
    """(N, C) class probabilities through the batched predict function LIME and SHAP call."""
    return ex.predict_function(model)(images)


def share(attribution, side):
    """Fraction of the absolute attribution that lies on ``side`` of the image."""
    a = np.abs(np.asarray(attribution, dtype="float64"))
    half = a[:, :HALF] if side == "left" else a[:, HALF:]
    return half.sum() / a.sum()


def kw_for(method, background):
    kw = dict(KW[method])
    if method == "shap_gradient":
        kw["background"] = background
    return kw


# --------------------------------------------------------------------------- the package


def test_every_module_name_is_reached_as_nbh_explain_name():
    """The modules' public names are the package's: notebooks call ``explain.<name>``."""
    from nbhelpers import predictions
    from nbhelpers.explain import checks, core, gradcam, lime, outputs, shap, toys

    modules = (core, gradcam, lime, shap, outputs, checks, toys)
    for module in modules:
        for name in module.__all__:
            assert getattr(ex, name) is getattr(module, name), (module.__name__, name)
    assert set(ex.__all__) == {n for m in modules for n in m.__all__} | {
        "predict_function", "class_log_odds"}
    assert ex.predict_function is predictions.predict_function
    assert ex.class_log_odds is predictions.class_log_odds


def test_the_lime_and_shap_modules_import_the_libraries_not_themselves():
    import lime.lime_image
    import shap

    from nbhelpers.explain import lime as our_lime
    from nbhelpers.explain import shap as our_shap

    assert shap is not our_shap and hasattr(shap, "GradientExplainer")
    assert lime is not our_lime and hasattr(lime.lime_image, "LimeImageExplainer")


def test_notebooks_call_only_names_the_package_has():
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "notebooks"
    called = set()
    for path in root.glob("0[89]_*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        called |= set(re.findall(r"\bexplain\.([A-Za-z_]+)", code))
    assert {"explain", "predict_function", "cascading_randomisation", "METHODS"} <= called
    assert not [name for name in called if not hasattr(ex, name)]


def test_class_score_and_upsample():
    """The two steps of Grad-CAM after the gradient: the score it differentiates, the resize."""
    from nbhelpers.explain.gradcam import class_score, upsample

    z = np.array([[3.0], [-1.0]])
    np.testing.assert_array_equal(class_score(z, 1), [3.0, -1.0])  # one sigmoid unit: +z
    np.testing.assert_array_equal(class_score(z, 0), [-3.0, 1.0])  # ... and -z for class 0
    np.testing.assert_array_equal(class_score(np.array([[1.0, 2.0, 5.0]]), 2), [5.0])
    grid = np.arange(4.0).reshape(2, 2)
    assert np.array_equal(upsample(grid, (2, 2)), grid)  # the image's size already
    big = upsample(grid, (8, 8))
    assert big.shape == (8, 8) and big.dtype == np.float32
    assert big.min() >= grid.min() and big.max() <= grid.max()  # bilinear: no overshoot


def test_flat_answers_are_told_apart_from_small_ones():
    from nbhelpers.explain.outputs import answer_range, is_flat

    assert is_flat(np.array([1.0, 1.0 - 1e-7]))  # a saturated probability, rounding only
    assert not is_flat(np.array([1e-7, 2e-7]))  # tiny, but moving
    with pytest.warns(UserWarning, match="did not change it"):
        assert answer_range("lime", [np.ones(5)], 1) == (1.0, 1.0)


# --------------------------------------------------------------------------- the known-answer model


def test_left_half_model_ignores_the_right_half(models, images):
    x = images.copy()
    y = x.copy()
    y[:, :, HALF + 2:] = 255.0 - y[:, :, HALF + 2:]  # change the right half (beyond conv reach)
    p = probabilities(models["left"], x)
    assert p.shape == (3, 2)  # the one convention: (N, C), C >= 2
    assert np.allclose(p, probabilities(models["left"], y), atol=1e-6)
    z = x.copy()
    z[:, :, : HALF - 2] = 255.0 - z[:, :, : HALF - 2]
    assert not np.allclose(p, probabilities(models["left"], z), atol=1e-3)
    # The probabilities are spread out, not saturated at 0 or 1.
    probs = probabilities(models["left"], ex.toy_images(16, SIZE, seed=3))[:, 1]
    assert probs.min() < 0.3 and probs.max() > 0.7


def test_softmax_variant_agrees_with_the_sigmoid(images):
    sig = probabilities(ex.left_half_model(SIZE), images)
    soft = probabilities(ex.left_half_model(SIZE, classes=2), images)
    assert soft.shape == (3, 2)
    assert np.allclose(sig, soft, atol=1e-5)


# --------------------------------------------------------------------------- each method finds the half


@pytest.mark.parametrize("method", ex.METHODS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_attribution_lies_where_the_model_looks(method, side, models, images, background, cfg):
    model = models[side]
    threshold = 0.7 if method == "lime" else 0.9  # LIME's superpixels may straddle the middle
    for image in images[:2]:
        e = ex.explain(method, model, image, cfg=cfg, **kw_for(method, background))
        assert e.method == method
        assert e.attribution.shape == (SIZE, SIZE) and e.attribution.dtype == np.float32
        assert np.isfinite(e.attribution).all() and np.abs(e.attribution).sum() > 0
        assert share(e.attribution, side) > threshold, (method, side, share(e.attribution, side))
        assert e.seconds > 0 and e.settings


def test_default_target_is_the_predicted_class(models, images, cfg):
    p = probabilities(models["left"], images)
    for image, probs in zip(images, p, strict=True):
        assert ex.explain("gradcam", models["left"], image, cfg=cfg).target == int(np.argmax(probs))


@pytest.mark.parametrize("method", ["gradcam", "shap_gradient"])
def test_the_two_classes_get_opposite_gradient_evidence(method, images, background, cfg):
    """P(class 0) = 1 - P(class 1): gradients for the two targets are exact negatives."""
    model = ex.left_half_model(SIZE, classes=2)
    kw = kw_for(method, background)
    a = ex.explain(method, model, images[1], target=1, cfg=cfg, **kw)
    b = ex.explain(method, model, images[1], target=0, cfg=cfg, **kw)
    assert (a.target, b.target) == (1, 0)
    if method == "shap_gradient":
        np.testing.assert_allclose(a.attribution, -b.attribution, atol=1e-5)
    else:  # Grad-CAM's ReLU keeps the positive side only: the maps do not overlap
        assert float((a.attribution * b.attribution).sum()) <= 1e-6 * float(
            (a.attribution ** 2).sum() + (b.attribution ** 2).sum())


def confident_copy(model, image, logit):
    """``model`` with its logits layer's bias moved so that ``image`` gets score ``logit``."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    w, b = clone.get_layer("logits").get_weights()
    z = evaluate.logits_model(clone)(image[None]).numpy()[0, 0]
    clone.get_layer("logits").set_weights([w, b + np.float32(logit - z)])
    return clone


def probability_gradcam(model, image, target, layer="conv2"):
    """Grad-CAM of P(target) (the post-sigmoid probability), to compare with the score's map."""
    import keras
    import tensorflow as tf

    grad_model = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        maps, p = grad_model(image[None], training=False)
        score = p[:, 0] if target == 1 else 1.0 - p[:, 0]
    grads = tape.gradient(score, maps)
    return tf.nn.relu(tf.reduce_sum(maps * tf.reduce_mean(grads, axis=(1, 2))[:, None, None, :],
                                    axis=-1))[0].numpy()


@pytest.mark.parametrize("logit", [30.0, -30.0])
def test_gradcam_of_a_confident_model_is_placed_where_it_looks(logit, models, images, cfg):
    """A logit of +-30 (normal with ImageNet features): sigmoid is exactly 1.0 (or 0.0) in float32.

    Grad-CAM of the class score still finds the half the model looks at.  For
    +30, Grad-CAM of the probability is empty: sigmoid(30) is 1.0 in float32 and
    its gradient y (1 - y) is 0.  (Near 0 float32 keeps tiny values, so -30
    does not saturate the same way; the score-based map must work for both.)
    """
    image = images[0]
    model = confident_copy(models["left"], image, logit)
    target = 1 if logit > 0 else 0
    p1 = float(np.asarray(model(image[None], training=False))[0, 0])  # the float32 sigmoid
    assert (p1 == 1.0) if logit > 0 else (p1 < 1e-12)
    e = ex.explain("gradcam", model, image, cfg=cfg)
    assert e.target == target and e.settings["score"] == "logit"
    assert float(e.attribution.sum()) > 0 and share(e.attribution, "left") > 0.9
    if logit > 0:
        assert np.abs(probability_gradcam(model, image, target)).max() == 0.0  # P's map: empty
    g = ex.explain("shap_gradient", model, image, cfg=cfg, nsamples=16,
                   background=ex.toy_images(4, SIZE, seed=5))
    assert np.abs(g.attribution).sum() > 0 and share(g.attribution, "left") > 0.9


def test_gradcam_of_the_logit_is_the_probability_map_up_to_a_positive_factor(models, images):
    """For one sigmoid unit d sigmoid(z) = sigmoid'(z) dz: same map, scaled, where nothing saturates."""
    model = models["left"]
    for image in images:
        e = ex.explain_gradcam(model, image)
        of_p = probability_gradcam(model, image, e.target)
        z = float(evaluate.logits_model(model)(image[None]).numpy()[0, 0])
        factor = float(np.exp(-abs(z)) / (1 + np.exp(-abs(z))) ** 2)  # sigmoid'(z)
        np.testing.assert_allclose(of_p, factor * e.extras["layer_map"], rtol=1e-4, atol=1e-7)


def test_a_plain_sigmoid_model_is_explained_through_its_pre_activation(models, images, cfg):
    """A user's model ending in Dense(activation="sigmoid"), no "logits" layer: the same maps."""
    import keras

    m = models["left"]
    dense = keras.layers.Dense(1, activation="sigmoid", name="top")
    plain = keras.Model(m.input, dense(m.get_layer("gap").output))
    dense.set_weights(m.get_layer("logits").get_weights())
    assert "logits" not in [layer.name for layer in plain.layers]
    image = images[1]
    np.testing.assert_allclose(probabilities(plain, images), probabilities(m, images), atol=1e-6)
    for method, kw in [("gradcam", {}), ("shap_gradient", {"nsamples": 16, "background": images})]:
        a = ex.explain(method, plain, image, cfg=cfg, **kw)
        b = ex.explain(method, m, image, cfg=cfg, **kw)
        np.testing.assert_allclose(a.attribution, b.attribution, rtol=1e-4, atol=1e-6)
    # confident too: the recovered pre-activation does not saturate
    w, bias = dense.get_weights()
    dense.set_weights([w, bias + np.float32(40.0)])
    assert float(np.asarray(plain(image[None], training=False))[0, 0]) == 1.0
    assert share(ex.explain("gradcam", plain, image, cfg=cfg).attribution, "left") > 0.9


def test_a_model_without_class_scores_is_refused_with_a_clear_message(models, images, cfg):
    import keras

    m = models["left"]
    relu = keras.Model(m.input, keras.layers.Dense(2, activation="relu", name="out")(
        m.get_layer("gap").output))
    with pytest.raises(ValueError, match="cannot find the class scores.*'out'"):
        ex.explain("gradcam", relu, images[0], target=1, cfg=cfg)
    with pytest.raises(ValueError, match="classes 0 and 1"):
        ex.explain("gradcam", m, images[0], target=2, cfg=cfg)
    with pytest.raises(ValueError, match="not a class"):
        ex.explain("gradcam", ex.left_half_model(SIZE, classes=2), images[0], target=5, cfg=cfg)


def test_unknown_method_and_bad_image_are_refused(models, images):
    with pytest.raises(ValueError, match="unknown method"):
        ex.explain("deep", models["left"], images[0])
    with pytest.raises(ValueError, match="one RGB image"):
        ex.explain("gradcam", models["left"], images[:2])


# --------------------------------------------------------------------------- LIME


def test_same_seed_same_lime_explanation(models, images, cfg):
    a = ex.explain("lime", models["left"], images[0], cfg=cfg, num_samples=40, seed=3)
    b = ex.explain("lime", models["left"], images[0], cfg=cfg, num_samples=40, seed=3)
    c = ex.explain("lime", models["left"], images[0], cfg=cfg, num_samples=40, seed=4)
    np.testing.assert_array_equal(a.attribution, b.attribution)
    np.testing.assert_array_equal(a.extras["segments"], b.extras["segments"])
    assert not np.array_equal(a.attribution, c.attribution)


def test_lime_prints_no_progress_bar(models, images, cfg, capsys):
    import lime.lime_image

    before = lime.lime_image.tqdm
    ex.explain("lime", models["left"], images[0], cfg=cfg, num_samples=12)
    captured = capsys.readouterr()
    assert "it/s" not in captured.err + captured.out
    assert lime.lime_image.tqdm is before  # put back afterwards


def test_lime_batching_does_not_change_the_answer(models, images, cfg):
    """lime's default batch of 10 and one big batch see the same perturbations."""
    small = ex.explain("lime", models["left"], images[0], cfg=cfg, num_samples=30, batch_size=10)
    big = ex.explain("lime", models["left"], images[0], cfg=cfg, num_samples=30)
    assert big.settings["batch_size"] == 30 and small.settings["batch_size"] == 10
    np.testing.assert_allclose(small.attribution, big.attribution, atol=1e-5)


def test_lime_attribution_is_constant_on_each_superpixel(models, images, cfg):
    e = ex.explain("lime", models["left"], images[0], cfg=cfg, num_samples=30, segmentation="slic")
    seg = e.extras["segments"]
    assert e.settings["segments"] == len(np.unique(seg)) > 4
    for s in np.unique(seg):
        assert np.ptp(e.attribution[seg == s]) == 0
        assert e.attribution[seg == s][0] == pytest.approx(e.extras["weights"][s])


def test_lime_uses_the_profiles_sample_count(models, images, cfg):
    e = ex.explain("lime", models["left"], images[0], cfg=cfg)
    assert e.settings["num_samples"] == cfg.lime_samples == nbh_config.PROFILES["offline"].lime_samples


@pytest.mark.parametrize("method", ["quickshift", "slic", "felzenszwalb"])
def test_segmentations_number_labels_from_zero(method, images):
    seg = ex.segment(images[0], method)
    labels = np.unique(seg)
    assert seg.shape == (SIZE, SIZE)
    assert labels[0] == 0 and labels[-1] == len(labels) - 1 and len(labels) > 3


def test_unknown_segmentation_is_refused(images):
    with pytest.raises(ValueError, match="unknown segmentation"):
        ex.segment(images[0], "watershed")


def test_predict_function_batches_give_the_same_answer(models, images):
    many = np.concatenate([images] * 3)
    a = ex.predict_function(models["left"], batch_size=2)(many)
    b = ex.predict_function(models["left"], batch_size=64)(many)
    c = ex.predict_function(models["left"], scale=255.0)(many / 255.0)
    assert a.shape == (9, 2)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-5)


# --------------------------------------------------------------------------- SHAP specifics


def test_normalise_shap_values_handles_both_return_forms():
    rng = np.random.default_rng(0)
    stacked = rng.normal(size=(2, 4, 4, 3, 2))  # shap >= 0.45: one array, outputs last
    as_list = [stacked[..., 0], stacked[..., 1]]  # older shap: a list per output
    for k in (0, 1):
        np.testing.assert_array_equal(ex.normalise_shap_values(stacked, k), stacked[..., k])
        np.testing.assert_array_equal(ex.normalise_shap_values(as_list, k), stacked[..., k])
    single = stacked[..., 0]  # a model with one scalar output
    np.testing.assert_array_equal(ex.normalise_shap_values(single, 0), single)
    with pytest.raises(ValueError, match="single output"):
        ex.normalise_shap_values(single, 1)
    ranked = (as_list, np.array([[1, 0], [1, 0]]))  # ranked_outputs returns (values, ranks)
    np.testing.assert_array_equal(ex.normalise_shap_values(ranked, 1), stacked[..., 1])
    with pytest.raises(ValueError, match="cannot read"):
        ex.normalise_shap_values(np.zeros((3, 3)), 0)


def test_normalise_shap_values_reads_a_shap_explanation():
    import shap

    values = np.arange(2 * 4 * 4 * 3 * 1, dtype=float).reshape(2, 4, 4, 3, 1)
    out = ex.normalise_shap_values(shap.Explanation(values), 0)
    np.testing.assert_array_equal(out, values[..., 0])


def test_shap_gradient_layer_map_and_background(models, images, background, cfg):
    e = ex.explain("shap_gradient", models["left"], images[0], cfg=cfg, background=background, nsamples=16)
    assert e.settings["layer"] == "conv1" and e.settings["background_size"] == 4
    assert e.extras["layer_attribution"].shape == (SIZE, SIZE)
    again = ex.explain("shap_gradient", models["left"], images[0], cfg=cfg, background=background, nsamples=16)
    np.testing.assert_allclose(e.attribution, again.attribution, atol=1e-6)  # rseed fixed
    fallback = ex.explain("shap_gradient", models["left"], images[0], cfg=cfg, nsamples=16)
    assert "blurred" in fallback.settings["background"]


def test_choose_background_is_balanced_and_seeded():
    x = ex.toy_images(12, 8)
    y = np.array([0] * 9 + [1] * 3)
    a = ex.choose_background(x, y, n=6, seed=1)
    b = ex.choose_background(x, y, n=6, seed=1)
    np.testing.assert_array_equal(a, b)
    picked = [int(np.flatnonzero((x == img).all(axis=(1, 2, 3)))[0]) for img in a]
    assert sum(y[i] for i in picked) == 3  # every class-1 image, then class 0 fills up
    assert len(ex.choose_background(x, None, n=50, seed=0)) == 12


def test_default_layers_prefers_block4_conv3_for_vgg():
    import keras

    inp = keras.Input((16, 16, 3))
    x = inp
    for name in ("block4_conv3", "block5_conv1", "block5_conv3"):
        x = keras.layers.Conv2D(2, 3, padding="same", name=name)(x)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(1, name="top_dense")(pooled))
    assert ex.default_layers(model) == {"gradcam": "block5_conv3", "shap_gradient": "block4_conv3"}
    assert ex.randomisation_groups(model)[:2] == [["top_dense"], ["block5_conv3", "block5_conv1"]]


# --------------------------------------------------------------------------- sanity checks


def test_randomised_copy_leaves_the_original_alone(models):
    m = models["left"]
    before = [w.copy() for w in m.get_weights()]
    r = ex.randomised_copy(m, ["logits", "conv2"], seed=1)
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(r.get_layer("conv2").get_weights()[0], m.get_layer("conv2").get_weights()[0])
    np.testing.assert_array_equal(r.get_layer("conv1").get_weights()[0], m.get_layer("conv1").get_weights()[0])


def test_randomising_the_model_changes_every_explanation(models, images, background, cfg):
    """Adebayo et al.: destroying the weights must change the maps where the model looks.

    The fixed mask keeps the ignored half at zero in every randomised model,
    so the rank correlation is measured on the half the model looks at.
    """
    method_kw = {m: kw_for(m, background) for m in ex.METHODS}
    ref = {"gradcam": ex.explain("gradcam", models["left"], images[1], cfg=cfg)}
    table, maps = ex.cascading_randomisation(models["left"], images[1], cfg=cfg, method_kw=method_kw,
                                             reference=ref)
    assert maps["gradcam"][0] is ref["gradcam"]
    assert set(table["method"]) == set(ex.METHODS)
    assert table.groupby("method")["step"].max().eq(3).all()
    assert (table[table.step == 0]["spearman"] == 1.0).all()
    for method, explanations in maps.items():
        ref = explanations[0].attribution[:, :HALF]
        later = [ex.rank_correlation(ref, e.attribution[:, :HALF]) for e in explanations[1:]]
        assert min(later) < 0.5, (method, later)


def test_rank_correlation_basics():
    a = np.arange(25.0).reshape(5, 5)
    assert ex.rank_correlation(a, a) == 1.0
    assert ex.rank_correlation(a, -a) == -1.0
    assert ex.rank_correlation(a, -a, absolute=True) == 1.0
    assert np.isnan(ex.rank_correlation(a, np.zeros_like(a)))  # a constant map ranks nothing


def test_deletion_and_insertion_reward_the_right_half(models, images):
    """Ranking the looked-at half first must beat ranking the ignored half first."""
    model = models["left"]
    looked = np.zeros((SIZE, SIZE))
    looked[:, :HALF] = 1.0
    for image in images:
        target = int(np.argmax(probabilities(model, image[None])[0]))
        good = ex.deletion_insertion(model, image, looked, target, steps=8)
        bad = ex.deletion_insertion(model, image, 1.0 - looked, target, steps=8)
        assert good["deletion"][0] == pytest.approx(bad["deletion"][0])
        assert good["deletion"][-1] == pytest.approx(bad["deletion"][-1])
        if good["deletion"][0] - good["deletion"][-1] > 0.1:  # removing the evidence matters
            assert good["deletion_auc"] < bad["deletion_auc"]
            assert good["insertion_auc"] > bad["insertion_auc"]


def test_faithfulness_table_has_a_random_reference(models, images, cfg):
    model = models["left"]
    e = ex.explain("gradcam", model, images[0], cfg=cfg)
    table, curves = ex.faithfulness_table(model, images[0], [e], steps=5)
    assert table["method"].tolist() == ["gradcam", "random"]
    assert set(curves["gradcam"]) >= {"fractions", "deletion", "insertion"}
    assert len(curves["random"]["deletion"]) == 6
    with pytest.raises(ValueError):
        ex.faithfulness_table(model, images[0], [])


# --------------------------------------------------------------------------- tables and figures


def test_timing_and_settings_tables(models, images, cfg):
    out = ex.explain_many(models["left"], images[:2], methods=["gradcam", "lime"], cfg=cfg,
                          method_kw={"lime": {"num_samples": 20}})
    t = ex.timing_table(out)
    assert t["method"].tolist() == ["gradcam", "lime"]
    assert t["images"].tolist() == [2, 2] and (t["mean_s"] > 0).all()
    assert "num_samples=20" in t.set_index("method").loc["lime", "settings"]
    s = ex.settings_table(cfg).set_index("setting")["value"]
    assert s["LIME samples per image"] == nbh_config.PROFILES["offline"].lime_samples
    assert s["profile"] == "offline"


def test_plots_draw_explanations(models, images, cfg):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nbhelpers import plots

    model = models["left"]
    out = ex.explain_many(model, images[:2], methods=["gradcam", "lime"], cfg=cfg,
                          method_kw={"lime": {"num_samples": 20}})
    fig = plots.explanation_overlay(images[0], out["gradcam"][0])
    assert fig.axes[0].get_title()
    fig = plots.lime_boundaries(images[0], out["lime"][0], num_features=3)
    assert len(fig.axes) == 2
    fig = plots.lime_segmentations(images[0], {"slic": ex.segment(images[0], "slic")})
    assert len(fig.axes) == 2
    fig = plots.explanations_side_by_side(images[:2], out, titles=["a", "b"])
    assert len([a for a in fig.axes if a.get_visible()]) >= 2 * 3
    table, _ = ex.cascading_randomisation(model, images[0], methods=["gradcam"], max_steps=2)
    table.insert(0, "method", "gradcam")
    fig = plots.randomisation_curves(table)
    assert fig.axes[0].get_ylabel()
    ftable, curves = ex.faithfulness_table(model, images[0], out["gradcam"][:1], steps=4)
    fig = plots.faithfulness_curves(curves)
    assert len(fig.axes) == 2
    fig = plots.randomisation_maps(images[0], {"gradcam": [e for e in out["gradcam"]]},
                                   ["step 0", "step 1"])
    assert len(fig.axes) >= 3
    plt.close("all")


def test_deletion_breaks_ties_at_random_and_reproducibly():
    """A map that is 0 almost everywhere (Grad-CAM after its ReLU): the zero pixels are
    deleted in a random order drawn from the seed, not top-left first."""
    model, image = ex.left_half_model(16), ex.toy_images(1, 16)[0]
    flat = np.zeros((16, 16))
    flat[0, 0] = 1.0  # one pixel first, then 255 ties
    a = ex.deletion_insertion(model, image, flat, target=1, steps=4, seed=0)
    b = ex.deletion_insertion(model, image, flat, target=1, steps=4, seed=0)
    c = ex.deletion_insertion(model, image, flat, target=1, steps=4, seed=1)
    np.testing.assert_array_equal(a["deletion"], b["deletion"])
    assert not np.array_equal(a["deletion"], c["deletion"])
    # Top-left first would delete the left half (what the model looks at) before the right.
    stable = np.arange(256, 0, -1, dtype=float).reshape(16, 16)  # ties broken top-left first
    left_first = ex.deletion_insertion(model, image, stable, target=1, steps=4, seed=0)
    assert not np.array_equal(a["deletion"], left_first["deletion"])


def test_lime_explains_the_log_odds_when_hiding_parts_pushes_p_into_the_flat_end():
    """At 160 px the toy model is unsure of its image (P 0.62), but hiding superpixels pushes
    P to 0.9999: LIME of the probability fits the sigmoid's bend and puts half its map on the
    half the model never sees; "auto" looks at probe copies and explains the log-odds."""
    size = 160
    model = ex.left_half_model(size)
    image = ex.toy_images(1, size)[0]
    p = float(ex.predict_function(model)(image[None])[0, 1])
    assert 0.05 < p < 0.95, "the image itself is not a sure one: the image rule alone would miss it"
    e = ex.explain("lime", model, image, num_samples=60, seed=42)
    a = np.abs(e.attribution)
    assert e.settings["output"] == "log_odds"
    assert a[:, : size // 2].sum() / a.sum() > 0.7
    forced = ex.explain("lime", model, image, num_samples=60, seed=42, output="probability")
    b = np.abs(forced.attribution)
    assert b[:, : size // 2].sum() / b.sum() < 0.6  # the probability's map: the bend


def test_hidden_probes_hide_segments_with_their_mean_colour():
    image = ex.toy_images(1, 32)[0]
    seg = ex.segment(image, "slic", n_segments=6)
    probes = ex.hidden_probes(image, seg, n=8, seed=0)
    assert probes.shape == (8, 32, 32, 3)
    for probe in probes:
        for s in np.unique(seg):
            region = seg == s
            kept = np.allclose(probe[region], image[region])
            filled = np.allclose(probe[region], image[region].mean(axis=0), atol=1e-3)
            assert kept or filled
    assert not np.array_equal(probes[0], probes[1])
    assert np.array_equal(probes, ex.hidden_probes(image, seg, n=8, seed=0))


def test_gradient_shap_in_parts_is_the_same_estimate_in_a_fraction_of_the_memory():
    """shap's GradientExplainer holds every sample: 200 at once of 09's layer exceed Binder's 2 GB."""
    import tracemalloc

    import keras
    import shap

    inp = keras.Input((16, 16, 64))
    score = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 1)(inp)))
    model = keras.Model(inp, score)  # linear: its expected gradients do not depend on the points
    rng = np.random.default_rng(0)
    background = np.repeat(rng.normal(size=(1, 16, 16, 64)), 4, axis=0).astype("float32")
    x = rng.normal(size=(1, 16, 16, 64)).astype("float32")
    explainer = shap.GradientExplainer(model, background, batch_size=16)

    def traced(call):
        tracemalloc.start()
        try:
            return call(), tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole, whole_peak = traced(lambda: explainer.shap_values(x, nsamples=200, rseed=0))
    parts, parts_peak = traced(lambda: ex.gradient_shap_values(explainer, x, 200, seed=0))
    np.testing.assert_allclose(np.asarray(parts), np.asarray(whole), rtol=1e-4, atol=1e-6)
    assert parts_peak < 0.4 * whole_peak, (parts_peak, whole_peak)
    with pytest.raises(ValueError, match="at least 1"):
        ex.gradient_shap_values(explainer, x, 0, seed=0)
