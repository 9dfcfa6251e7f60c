"""Tests of nbhelpers.linear: stable activations and losses, their gradients, the update rules
(the same maths as Keras 3's, checked against Keras itself), mini-batches, dropout, training.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbhelpers import linear

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
moderate = st.floats(-30, 30, allow_nan=False, allow_infinity=False)


def logit_matrices(elements=finite, max_rows=6, max_cols=5):
    shapes = st.tuples(st.integers(1, max_rows), st.integers(2, max_cols))
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


def toy(n=24, d=5, k=2, seed=0):
    """Features, labels in 0..k-1 and a validation split, learnable but not trivially."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=(d, k))
    y = np.argmax(x @ w + rng.normal(scale=1.0, size=(n, k)), axis=1)
    return x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4:], y[n * 3 // 4:]


# --------------------------------------------------------------------------- activations


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e4, 1e4)))
def test_sigmoid_is_in_range_symmetric_and_never_overflows(z):
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        p = linear.sigmoid(z)
        q = linear.sigmoid(-z)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p + q, 1.0, atol=1e-12)


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=moderate))
def test_sigmoid_matches_the_textbook_formula(z):
    np.testing.assert_allclose(linear.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-12, atol=1e-300)


def test_sigmoid_keeps_float32():
    assert linear.sigmoid(np.zeros(3, np.float32)).dtype == np.float32


@given(logit_matrices())
def test_softmax_rows_are_probabilities_and_shift_invariant(z):
    with np.errstate(over="raise", invalid="raise"):
        p = linear.softmax(z)
        shifted = linear.softmax(z + np.linspace(-500, 500, z.shape[0])[:, None])
    assert np.all(p >= 0) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(shifted, p, atol=1e-12)
    rows = np.arange(z.shape[0])
    assert np.all(p[rows, np.argmax(z, axis=1)] == p.max(axis=1))  # the top score, the top p


@given(logit_matrices(elements=moderate))
def test_softmax_and_log_softmax_match_the_textbook_formulas(z):
    e = np.exp(z)
    np.testing.assert_allclose(linear.softmax(z), e / e.sum(axis=1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(linear.log_softmax(z), np.log(e / e.sum(axis=1, keepdims=True)),
                               rtol=1e-10, atol=1e-12)


@given(hnp.arrays(np.float64, st.integers(1, 10), elements=finite))
def test_two_class_softmax_is_the_sigmoid(z):
    two = linear.softmax(np.stack([np.zeros_like(z), z], axis=1))
    np.testing.assert_allclose(two[:, 1], linear.sigmoid(z), atol=1e-12)


def test_one_hot_and_bad_labels():
    assert linear.one_hot([1, 0], 2).tolist() == [[0.0, 1.0], [1.0, 0.0]]
    with pytest.raises(ValueError, match="0..2"):
        linear.one_hot([3], 3)
    with pytest.raises(ValueError, match="whole numbers"):
        linear.one_hot([0.5], 3)
    with pytest.raises(ValueError, match="1-D"):
        linear.one_hot([[0]], 3)


# --------------------------------------------------------------------------- losses


@given(hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-12, 12)), st.data())
def test_binary_cross_entropy_matches_the_textbook_formula(z, data):
    # (beyond |z| ~ 12 the textbook formula itself loses digits in log(1 - p))
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=st.sampled_from([0.0, 1.0])))
    p = 1 / (1 + np.exp(-z))
    naive = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(linear.binary_cross_entropy(y, z, reduction="none"), naive,
                               rtol=1e-8, atol=1e-12)
    assert linear.binary_cross_entropy(y, z) == pytest.approx(naive.mean(), rel=1e-8, abs=1e-12)


@given(hnp.arrays(np.float64, st.integers(1, 12), elements=finite), st.data())
def test_binary_cross_entropy_is_finite_and_equals_two_class_categorical(z, data):
    y = data.draw(hnp.arrays(np.int64, z.shape, elements=st.sampled_from([0, 1])))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        bce = linear.binary_cross_entropy(y, z, reduction="none")
        cce = linear.categorical_cross_entropy(y, np.stack([np.zeros_like(z), z], axis=1),
                                               reduction="none")
    assert np.all(np.isfinite(bce)) and np.all(bce >= 0)
    np.testing.assert_allclose(bce, cce, rtol=1e-9, atol=1e-9)


@given(logit_matrices(), st.data())
def test_categorical_cross_entropy_is_minus_log_probability_of_the_true_class(z, data):
    y = data.draw(hnp.arrays(np.int64, z.shape[0], elements=st.integers(0, z.shape[1] - 1)))
    per = linear.categorical_cross_entropy(y, z, reduction="none")
    assert np.all(np.isfinite(per)) and np.all(per >= -1e-12)
    np.testing.assert_allclose(per, -linear.log_softmax(z)[np.arange(len(y)), y], rtol=1e-12)
    # shifting every score of a row by the same amount changes nothing
    np.testing.assert_allclose(linear.categorical_cross_entropy(y, z + 123.0, reduction="none"),
                               per, atol=1e-9)


def test_cross_entropy_of_a_coin_toss_is_log_k():
    assert linear.cross_entropy([0, 1, 2], np.zeros((3, 3))) == pytest.approx(np.log(3))
    assert linear.cross_entropy([0, 1], np.zeros((2, 1))) == pytest.approx(np.log(2))


def test_losses_reject_mismatched_or_invalid_input():
    with pytest.raises(ValueError, match="match one to one"):
        linear.binary_cross_entropy([1, 0, 1], [0.0, 0.0])
    with pytest.raises(ValueError, match="0 or 1"):
        linear.binary_cross_entropy([2.0], [0.0])
    with pytest.raises(ValueError, match="categorical_cross_entropy"):
        linear.binary_cross_entropy([1], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="2 labels for 3 rows"):
        linear.categorical_cross_entropy([0, 1], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="reduction"):
        linear.cross_entropy([0], [[0.0]], reduction="sum")


# --------------------------------------------------------------------------- gradients


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_loss_gradients_pass_the_numerical_check(n, k, seed):
    rng = np.random.default_rng(seed)
    if k == 1:
        y = rng.integers(0, 2, n).astype(np.float64)
        z = rng.normal(scale=3, size=(n, 1))
        f = lambda v: linear.binary_cross_entropy(y, v)  # noqa: E731
    else:
        y = rng.integers(0, k, n)
        z = rng.normal(scale=3, size=(n, k))
        f = lambda v: linear.categorical_cross_entropy(y, v)  # noqa: E731
    analytic = linear.cross_entropy_grad(y, z)
    assert analytic.shape == z.shape
    assert linear.gradient_check(analytic, linear.numerical_gradient(f, z)) < 1e-6


@pytest.mark.parametrize("k", [1, 3])
def test_loss_and_grads_of_the_model_pass_the_numerical_check(k):
    x, y, _, _ = toy(k=max(k, 2))
    params = linear.init_params(x.shape[1], k, seed=1)
    params["b"] += 0.3
    _, grads = linear.loss_and_grads(params, x, y)
    for name in ("W", "b"):
        def f(v, name=name):
            return linear.loss_and_grads({**params, name: v}, x, y)[0]

        num = linear.numerical_gradient(f, params[name].copy())
        assert linear.gradient_check(grads[name], num) < 1e-7, name


def test_a_wrong_gradient_fails_the_check():
    x, y, _, _ = toy()
    params = linear.init_params(x.shape[1], 1, seed=0)
    _, grads = linear.loss_and_grads(params, x, y)
    num = linear.numerical_gradient(lambda v: linear.loss_and_grads({**params, "W": v}, x, y)[0],
                                    params["W"].copy())
    assert linear.gradient_check(-grads["W"], num) > 0.99
    assert linear.gradient_check(grads["W"] * len(y), num) > 0.5


def test_numerical_gradient_restores_its_input_and_rejects_bad_arrays():
    x = np.array([[1.0, -2.0], [3.0, 0.5]])
    before = x.copy()
    g = linear.numerical_gradient(lambda v: float(np.sum(v ** 3)), x)
    np.testing.assert_allclose(g, 3 * before ** 2, rtol=1e-6)
    assert np.array_equal(x, before)
    with pytest.raises(TypeError, match="floating"):
        linear.numerical_gradient(lambda v: 0.0, np.arange(3))
    with pytest.raises(ValueError, match="contiguous"):
        linear.numerical_gradient(lambda v: 0.0, np.zeros((4, 4))[:, ::2])
    with pytest.raises(ValueError, match="positive"):
        linear.numerical_gradient(lambda v: 0.0, np.zeros(2), eps=0)


def test_gradient_check_values():
    assert linear.gradient_check([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert linear.gradient_check([1.0, 1.0], [1.0, 1.0 + 1e-9]) < 1e-9
    with pytest.raises(ValueError, match="shapes"):
        linear.gradient_check([1.0], [1.0, 2.0])


# --------------------------------------------------------------------------- model pieces


def test_init_params_is_glorot_uniform_and_seeded():
    p = linear.init_params(300, 3, seed=5)
    limit = np.sqrt(6 / 303)
    assert p["W"].shape == (300, 3) and p["b"].tolist() == [0.0, 0.0, 0.0]
    assert np.abs(p["W"]).max() <= limit and np.abs(p["W"]).max() > 0.9 * limit
    assert np.array_equal(p["W"], linear.init_params(300, 3, seed=5)["W"])
    assert not np.array_equal(p["W"], linear.init_params(300, 3, seed=6)["W"])
    with pytest.raises(ValueError, match="n_features"):
        linear.init_params(0, 1)


def test_n_outputs():
    assert [linear.n_outputs(k) for k in (2, 3, 10)] == [1, 3, 10]
    with pytest.raises(ValueError, match="at least 2"):
        linear.n_outputs(1)


@pytest.mark.parametrize("k", [1, 4])
def test_predictions_and_evaluate(k):
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(3, k)), "b": rng.normal(size=k)}
    x = rng.normal(size=(10, 3))
    proba = linear.predict_proba(params, x)
    assert proba.shape == (10, max(k, 2))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = linear.predict(params, x)
    assert np.array_equal(pred, np.argmax(proba, axis=1))
    loss, acc = linear.evaluate(params, x, pred)
    assert acc == 1.0 and loss == pytest.approx(linear.cross_entropy(pred, linear.logits(params, x)))
    with pytest.raises(ValueError, match="2-D"):
        linear.logits(params, x[0])
    with pytest.raises(ValueError, match="W expects 3"):
        linear.logits(params, np.zeros((2, 4)))


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5, 3, size=(50, 4))
    train[:, 2] = 7.0  # a constant feature
    val = rng.normal(5, 3, size=(20, 4))
    tr, va = linear.standardize(train, val)
    np.testing.assert_allclose(tr.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(tr.std(axis=0)[[0, 1, 3]], 1)
    assert np.all(tr[:, 2] == 0)
    np.testing.assert_allclose(va, (val - train.mean(0)) / np.where(train.std(0) > 0,
                                                                    train.std(0), 1))
    with pytest.raises(ValueError, match="4 features"):
        linear.standardize(train, val[:, :3])


# --------------------------------------------------------------------------- batches, dropout


@given(st.integers(1, 50), st.integers(1, 12), st.booleans())
def test_minibatches_cover_every_example_once(n, batch_size, shuffle):
    x, y = np.arange(n)[:, None] * 10, np.arange(n)
    rng = np.random.default_rng(0) if shuffle else None
    batches = list(linear.minibatches(x, y, batch_size, rng=rng))
    assert len(batches) == -(-n // batch_size)
    assert all(len(yb) == batch_size for _, yb in batches[:-1]) and 1 <= len(batches[-1][1]) <= batch_size
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(n))
    assert all(np.array_equal(xb[:, 0], yb * 10) for xb, yb in batches)
    if not shuffle:
        assert seen.tolist() == list(range(n))


def test_minibatches_reject_bad_input():
    with pytest.raises(ValueError, match="3 examples but 2 labels"):
        list(linear.minibatches(np.zeros((3, 1)), np.zeros(2), 2))
    with pytest.raises(ValueError, match="batch_size"):
        list(linear.minibatches(np.zeros((3, 1)), np.zeros(3), 0))


def test_dropout_is_inverted_and_keeps_the_mean():
    rng = np.random.default_rng(0)
    x = np.ones((400, 250))
    out = linear.dropout(x, 0.3, rng)
    dropped = np.mean(out == 0)
    assert abs(dropped - 0.3) < 0.01
    np.testing.assert_allclose(out[out != 0], 1 / 0.7)
    assert abs(out.mean() - 1.0) < 0.02
    assert linear.dropout(x, 0.0, rng) is x or np.array_equal(linear.dropout(x, 0.0, rng), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        linear.dropout(x, 1.0, rng)


# --------------------------------------------------------------------------- update rules


def test_sgd_with_momentum_follows_the_keras_formula():
    p = {"w": np.array([1.0, -1.0])}
    opt = linear.SGD(learning_rate=0.1, momentum=0.5)
    grads = [np.array([1.0, 2.0]), np.array([-1.0, 0.5]), np.array([0.3, 0.3])]
    w, v = np.array([1.0, -1.0]), np.zeros(2)
    for g in grads:
        opt.step(p, {"w": g})
        v = 0.5 * v - 0.1 * g
        w = w + v
        np.testing.assert_allclose(p["w"], w, rtol=1e-15)


def test_adam_follows_kingma_and_ba_with_epsilon_hat():
    """Algorithm 1 of the paper with the bias corrections moved into the step size and
    epsilon added to the *uncorrected* sqrt(v): Keras 3's formula."""
    rng = np.random.default_rng(0)
    p = {"w": rng.normal(size=5)}
    w = p["w"].copy()
    opt = linear.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-3)
    m = v = np.zeros(5)
    for t in range(1, 6):
        g = rng.normal(size=5) * 10.0 ** rng.integers(-4, 2)
        opt.step(p, {"w": g})
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        w = w - 0.01 * np.sqrt(1 - 0.99 ** t) / (1 - 0.8 ** t) * m / (np.sqrt(v) + 1e-3)
        np.testing.assert_allclose(p["w"], w, rtol=1e-12)
    assert opt.iterations == 5


def test_optimizers_reject_bad_hyperparameters():
    with pytest.raises(ValueError, match="learning_rate"):
        linear.SGD(0)
    with pytest.raises(ValueError, match="momentum"):
        linear.SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta"):
        linear.Adam(beta_1=1.0)


# --------------------------------------------------------------------------- the train loop


def test_train_reproduces_a_hand_written_loop_and_leaves_its_input_alone():
    x, y, xv, yv = toy(n=40, k=2)
    params = linear.init_params(x.shape[1], 1, seed=3)
    before = {k: v.copy() for k, v in params.items()}
    trained, h = linear.train(params, x, y, optimizer=linear.SGD(0.1), epochs=4, batch_size=7,
                              validation_data=(xv, yv))
    assert all(np.array_equal(params[k], before[k]) for k in params)
    w, b, losses = before["W"].copy(), before["b"].copy(), []
    for _ in range(4):
        total = 0.0
        for s in range(0, len(x), 7):
            xb, yb = x[s:s + 7], y[s:s + 7]
            z = xb @ w + b
            total += linear.binary_cross_entropy(yb, z) * len(yb)
            g = linear.binary_cross_entropy_grad(yb, z)
            w -= 0.1 * xb.T @ g
            b -= 0.1 * g.sum(axis=0)
        losses.append(total / len(x))
    np.testing.assert_allclose(h["loss"], losses, rtol=1e-12)
    np.testing.assert_allclose(trained["W"], w, rtol=1e-12)
    assert h["val_loss"][-1] == pytest.approx(linear.evaluate(trained, xv, yv)[0])
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_train_learns_and_dropout_changes_the_run_reproducibly():
    x, y, xv, yv = toy(n=200, d=6, k=3, seed=2)
    p0 = linear.init_params(6, 3, seed=0)
    _, h = linear.train(p0, x, y, optimizer=linear.Adam(0.05), epochs=15, batch_size=16)
    assert h["loss"][-1] < 0.6 * h["loss"][0] and h["accuracy"][-1] > 0.7
    runs = [linear.train(p0, x, y, optimizer=linear.Adam(0.05), epochs=3, batch_size=16,
                         dropout_rate=0.5, shuffle=True, seed=s)[1]["loss"] for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2] and runs[0] != h["loss"][:3]


def test_train_rejects_bad_input():
    x, y, _, _ = toy()
    p = linear.init_params(x.shape[1], 1)
    with pytest.raises(ValueError, match="labels"):
        linear.train(p, x, y[:-1], optimizer=linear.SGD(0.1), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        linear.train(p, x, y, optimizer=linear.SGD(0.1), epochs=-1)


# --------------------------------------------------------------------------- against Keras


def keras_history(params, optimizer, x, y, xv, yv, epochs, batch_size):
    n_out = params["W"].shape[1]
    model = keras.Sequential([keras.Input((params["W"].shape[0],)), keras.layers.Dense(n_out)])
    model.layers[-1].set_weights([params["W"], params["b"]])
    loss = (keras.losses.BinaryCrossentropy(from_logits=True) if n_out == 1
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.compile(optimizer=optimizer.to_keras(), loss=loss)
    fix = (lambda t: t.astype(x.dtype)[:, None]) if n_out == 1 else (lambda t: t)
    return model, model.fit(x, fix(y), batch_size=batch_size, epochs=epochs, shuffle=False,
                            verbose=0, validation_data=(xv, fix(yv))).history


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("make", [lambda: linear.SGD(0.2), lambda: linear.SGD(0.05, momentum=0.9),
                                  lambda: linear.Adam(0.02)], ids=["sgd", "momentum", "adam"])
def test_numpy_training_matches_keras_fit_in_float64(k, make):
    x, y, xv, yv = toy(n=60, d=8, k=k, seed=k)
    params = linear.init_params(8, linear.n_outputs(k), seed=1)
    _, ours = linear.train(params, x, y, optimizer=make(), epochs=4, batch_size=9,
                           validation_data=(xv, yv))
    with linear.keras_precision("float64"):
        model, theirs = keras_history(params, make(), x, y, xv, yv, epochs=4, batch_size=9)
    assert model.layers[-1].kernel.dtype == "float64"
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-10, atol=1e-12)


def test_keras_precision_restores_floatx_and_policy_even_after_an_error():
    before = (keras.config.floatx(), keras.config.dtype_policy().name)
    with pytest.raises(RuntimeError, match="boom"), linear.keras_precision("float64"):
        assert keras.config.floatx() == "float64"
        assert keras.config.dtype_policy().name == "float64"
        raise RuntimeError("boom")
    assert (keras.config.floatx(), keras.config.dtype_policy().name) == before
    with pytest.raises(ValueError, match="float64"):
        with linear.keras_precision("int8"):
            pass


def test_to_keras_keeps_hyperparameters_in_float64():
    """TensorFlow would round a Python 0.9 to float32 (0.899999976) before casting it."""
    opt = linear.SGD(0.01, momentum=0.9).to_keras()
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9
    assert isinstance(opt.momentum, np.float64)
    adam = linear.Adam(0.003, beta_2=0.99).to_keras()
    assert isinstance(adam, keras.optimizers.Adam) and adam.beta_2 == 0.99
    assert float(adam.learning_rate) == pytest.approx(0.003)
