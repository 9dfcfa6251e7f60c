"""The learning-rate range test and the schedule, on a problem whose good range is known.

Least squares with plain SGD: the loss ``mean((X w - y)^2)`` has the Hessian
``2 X^T X / n``; with columns of variance ``s2`` its eigenvalues are about
``2 s2``, and gradient descent diverges once the rate passes ``2 / (2 s2) = 1 / s2``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbhelpers import learning_rate as lr

S2 = 4.0  # variance of each input column: the stable rates end near 1 / S2 = 0.25
LIMIT = 1.0 / S2


def _problem(n: int = 512, d: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, np.sqrt(S2), (n, d)).astype("float32")
    y = x @ rng.normal(size=d).astype("float32") + rng.normal(0.0, 1.0, n).astype("float32")
    return x, y


def _make():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    m.compile(keras.optimizers.SGD(), "mse")
    return m


def _train(rate: float, x, y, steps: int = 60) -> float:
    keras.utils.set_random_seed(1)
    m = _make()
    m.optimizer.learning_rate = rate
    for xb, yb in lr._batches(x, y, 64, steps, seed=1):
        m.train_on_batch(xb, yb)
    return float(np.mean((m.predict(x, verbose=0)[:, 0] - y) ** 2))


def test_the_range_test_finds_the_known_stable_range():
    x, y = _problem()
    table = lr.range_test(_make, x, y, start=1e-5, end=10.0, steps=200, batch_size=64)
    last = table["learning_rate"].iloc[-1]
    assert len(table) < 200 and last < 10, "the pass should stop once the loss blows up"
    assert LIMIT / 3 < last < 4 * LIMIT  # it blew up where the theory says, not earlier
    s = table.attrs
    # The smoothed loss trails the raw one by about 1 / (1 - 0.9) = 10 steps, and each step
    # multiplies the rate by 10 ** (6 / 200), 1.07: its minimum can sit up to 2x past the
    # limit (Colab's Keras 3.13 draws other initial weights: 0.38 there, 1.5x).
    assert LIMIT / 50 < s["lowest"] < 2.5 * LIMIT
    assert s["suggested"] < LIMIT and LIMIT / 1000 < s["steepest"] < LIMIT
    # The rule's rate trains; ten times the lowest-loss rate does not.
    start = float(np.mean(y ** 2))
    for rate in (s["suggested"], s["steepest"]):
        assert _train(rate, x, y) < 0.2 * start  # the noise (variance 1) stays
    assert not _train(10 * s["lowest"], x, y) < start


def test_the_range_test_never_touches_a_model_it_was_not_given():
    x, y = _problem()
    mine = _make()
    before = [w.copy() for w in mine.get_weights()]
    lr.range_test(_make, x, y, steps=20)
    assert all(np.array_equal(a, b) for a, b in zip(before, mine.get_weights(), strict=True))


def test_the_range_test_refuses_what_cannot_work():
    x, y = _problem()
    with pytest.raises(ValueError, match="start < end"):
        lr.range_test(_make, x, y, start=1.0, end=0.1)
    with pytest.raises(ValueError, match="compiled"):
        lr.range_test(lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), x, y)


def test_warmup_cosine_rises_then_falls_to_the_floor():
    schedule = lr.warmup_cosine(0.01, total_steps=200, warmup_steps=20, final_fraction=0.1)
    rates = np.array([float(schedule(step)) for step in range(201)])
    assert rates[0] == 0 and rates.argmax() == 20 and rates.max() == pytest.approx(0.01)
    assert np.all(np.diff(rates[:21]) > 0) and np.all(np.diff(rates[20:]) <= 1e-12)
    assert rates[-1] == pytest.approx(0.001)
    with pytest.raises(ValueError):
        lr.warmup_cosine(0.01, total_steps=10, warmup_steps=10)


# ------------------------------------------------------------------ rates per layer group
def _two_layers(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="block5_dense")(inp)
    return keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name="logits")(hidden))


def _classes(n: int = 64):
    x = np.random.default_rng(0).normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int32")


def _fit(model: keras.Model, steps: int = 5) -> None:
    x, y = _classes()
    model.fit(x, y, batch_size=16, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)


def test_equal_rates_per_group_train_exactly_as_one_adam():
    x, y = _classes(70)  # a last, smaller batch: the epoch's loss weighs batches by size
    weights = np.linspace(0.5, 2.0, len(y))
    one = _two_layers()
    one.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy", metrics=["accuracy"])
    kept = one.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, shuffle=False,
                   verbose=0).history
    two = _two_layers()
    grouped = lr.rates_per_group(two, {"block5": 1e-2}, rest=1e-2)
    mine = grouped.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, shuffle=False,
                       verbose=0).history
    for a, b in zip(one.get_weights(), two.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert sorted(kept) == sorted(mine)
    for key in kept:
        np.testing.assert_allclose(kept[key], mine[key], rtol=1e-5)


def test_the_longest_prefix_takes_a_layer_and_an_empty_group_is_refused():
    inp = keras.Input((4,))
    h = keras.layers.Dense(4, name="block5_conv1")(inp)
    h = keras.layers.Dense(4, name="block5_conv3")(h)
    model = keras.Model(inp, keras.layers.Dense(1, "sigmoid", name="logits")(h))
    grouped = lr.rates_per_group(model, {"block5": 1e-4, "block5_conv3": 1e-3}, rest=1e-2)
    by_rate = {f"{float(opt.learning_rate):g}": [v.path for v in vs] for opt, vs in grouped.groups}
    assert by_rate == {"0.0001": ["block5_conv1/kernel", "block5_conv1/bias"],
                       "0.001": ["block5_conv3/kernel", "block5_conv3/bias"],
                       "0.01": ["logits/kernel", "logits/bias"]}
    with pytest.raises(ValueError, match="'block5' takes no trainable layer"):
        lr.rates_per_group(_two_layers(), {"block5": 1e-4, "block5_dense": 1e-3}, rest=1e-2)
    frozen = _two_layers()
    frozen.trainable = False
    with pytest.raises(ValueError, match="no trainable layer"):
        lr.rates_per_group(frozen, {"block5": 1e-4}, rest=1e-2)


def test_each_group_steps_at_its_own_rate():
    # Adam's first step is rate * m / sqrt(v) = rate * sign(gradient): every weight with a
    # gradient moves by exactly its group's rate.
    model = _two_layers()
    before = [w.copy() for w in model.get_weights()]
    grouped = lr.rates_per_group(model, {"block5": 1e-4}, rest=1e-2)
    _fit(grouped, steps=1)
    steps = [np.abs(a - b) for a, b in zip(model.get_weights(), before, strict=True)]
    moved = [s[s > 0] for s in steps]
    np.testing.assert_allclose(np.concatenate(moved[:2]), 1e-4, rtol=1e-2)  # block5_dense
    np.testing.assert_allclose(np.concatenate(moved[2:]), 1e-2, rtol=1e-2)  # logits
    assert grouped.get_layer("logits") is model.get_layer("logits")


def test_a_group_at_rate_zero_stays_and_fit_reports_the_usual_history():
    model = _two_layers()
    block = [w.copy() for w in model.get_layer("block5_dense").get_weights()]
    x, y = _classes()
    history = lr.rates_per_group(model, {"block5": 0.0}, rest=1e-2).fit(
        x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0).history
    assert all(np.array_equal(a, b) for a, b in
               zip(block, model.get_layer("block5_dense").get_weights(), strict=True))
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history["loss"][1] < history["loss"][0]


def test_scaling_a_gradient_does_not_change_adams_step():
    # Why rates_per_group needs one optimizer per group: m / sqrt(v) ignores the scale.
    steps = []
    for scale in (1.0, 10.0):
        w = keras.Variable(np.zeros(3, "float32"))
        opt = keras.optimizers.Adam(1e-3)
        for g in ([1.0, -2.0, 0.5], [0.5, -1.0, 2.0]):
            opt.apply([keras.ops.convert_to_tensor(scale * np.array(g, "float32"))], [w])
        steps.append(keras.ops.convert_to_numpy(w))
    np.testing.assert_allclose(steps[0], steps[1], rtol=1e-4)


def test_rates_per_group_names_a_prefix_that_matches_nothing():
    model = _two_layers()
    model.get_layer("block5_dense").trainable = False
    with pytest.raises(ValueError, match=r"'block5' takes no.*trainable layers: logits"):
        lr.rates_per_group(model, {"block5": 1e-5}, rest=1e-4)


def test_rates_per_group_scale_each_groups_loss_under_mixed_precision():
    # Gradients a millionth of the usual size underflow in float16 unless the loss is scaled:
    # with the loss scaled, every weight of block5 still moves.
    x, y = _classes()
    kept = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = _two_layers()
    finally:
        keras.mixed_precision.set_dtype_policy(kept)
    before = model.get_layer("block5_dense").get_weights()[0].copy()
    grouped = lr.rates_per_group(model, {"block5": 1e-3}, rest=1e-2)  # mixed: from the layers
    assert all(isinstance(opt, keras.optimizers.LossScaleOptimizer) for opt, _ in grouped.groups)
    grouped.fit(x, y, sample_weight=np.full(len(y), 1e-6), epochs=1, batch_size=16, verbose=0)
    moved = model.get_layer("block5_dense").get_weights()[0] != before
    assert moved.mean() > 0.9, f"{moved.sum()} of {moved.size} block5 weights moved"
