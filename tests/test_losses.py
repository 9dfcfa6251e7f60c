"""Label smoothing: the known answer (the loss is lowest at the smoothed targets)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbhelpers import losses, training


@pytest.mark.parametrize("classes", [2, 3])
def test_a_smoothed_classifier_settles_at_the_smoothed_targets(classes):
    # Separable points: without smoothing the right class's probability goes to 1; with
    # smoothing s it settles where the loss is lowest, 1 - s + s / K (one sigmoid: 1 - s / 2).
    rng = np.random.default_rng(0)
    y = np.arange(300) % classes
    x = (np.eye(classes)[y] * 6 + rng.normal(0, 0.3, (300, classes))).astype("float32")
    found = {}
    for s in (0.0, 0.2):
        keras.utils.set_random_seed(0)
        units = 1 if classes == 2 else classes
        out = keras.layers.Dense(units, activation="sigmoid" if units == 1 else "softmax")
        inp = keras.Input((classes,))
        model = training.compile_model(keras.Model(inp, out(inp)), 0.05, label_smoothing=s)
        model.fit(x, y, epochs=60, batch_size=50, verbose=0)
        p = model.predict(x, verbose=0)
        right = np.where(y == 1, p[:, 0], 1 - p[:, 0]) if units == 1 else p[np.arange(300), y]
        found[s] = float(np.median(right))
    assert found[0.0] > 0.99
    target = 1 - 0.2 / 2 if classes == 2 else 1 - 0.2 + 0.2 / classes
    assert found[0.2] == pytest.approx(target, abs=0.01)


def test_the_smoothed_sparse_loss_equals_keras_categorical_loss_on_one_hot_labels():
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], "float32")
    mine = losses.SmoothedSparseCrossentropy(3, 0.1)(y, p)
    keras_own = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[y], p)
    assert float(mine) == pytest.approx(float(keras_own), rel=1e-6)


def test_a_model_compiled_with_smoothing_saves_and_loads(tmp_path):
    inp = keras.Input((2,))
    model = training.compile_model(keras.Model(inp, keras.layers.Dense(3, "softmax")(inp)),
                                   1e-3, label_smoothing=0.1)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.loss.label_smoothing == 0.1 and loaded.loss.num_classes == 3


@pytest.mark.parametrize("bad", [-0.1, 1.0, True])
def test_label_smoothing_outside_zero_to_one_is_refused(bad):
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\)"):
        losses.classification_loss(1, bad)


def test_a_smoothed_model_reloads_in_a_fresh_process_that_imports_only_models(tmp_path):
    import subprocess
    import sys

    inp = keras.Input((2,))
    model = training.compile_model(keras.Model(inp, keras.layers.Dense(3, "softmax")(inp)),
                                   1e-3, label_smoothing=0.1)
    model.save(tmp_path / "m.keras")
    code = ("from nbhelpers import models; "
            f"m = models.load_saved_model({str(tmp_path / 'm.keras')!r}); "
            "print(type(m.loss).__name__, m.loss.label_smoothing)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["SmoothedSparseCrossentropy", "0.1"]


def test_a_label_past_the_last_class_is_refused():
    loss = losses.SmoothedSparseCrossentropy(3, 0.1)
    with pytest.raises(Exception, match="not below num_classes"):
        loss(np.array([5]), np.array([[0.2, 0.3, 0.5]], "float32"))
