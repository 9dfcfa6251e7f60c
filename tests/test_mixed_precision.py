"""Mixed precision (``mixed_float16``, what ``setup()`` turns on for a GPU with tensor cores).

On a Colab T4 notebooks 08 and 09 stopped with "'Mul' Op has type float32 that does not
match type float16": ``explain.left_half_model`` multiplied its float16 feature map by a
float32 mask.  These tests run the course's own models under the policy on a CPU, in both
unit lanes (the lock's versions and Colab's); ``make test-mixed`` runs every notebook under it.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbhelpers import course, models
from nbhelpers import explain as ex


@pytest.fixture
def mixed():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("classes", [1, 2])
def test_the_toy_model_runs_and_explains_under_mixed_precision(classes):
    import keras

    x = ex.toy_images(4, 16)
    maps = {}
    for policy in ("float32", "mixed_float16"):
        keras.mixed_precision.set_global_policy(policy)
        try:
            model = ex.left_half_model(16, classes=classes, scale=60)
            p = ex.predict_function(model)(x)
            assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1.0)
            assert model.output.dtype == "float32"  # probabilities near 0 and 1 stay exact
            maps[policy] = ex.explain_gradcam(model, x[0], target=1).attribution
        finally:
            keras.mixed_precision.set_global_policy("float32")
    cam = maps["mixed_float16"]
    assert np.isfinite(cam).all()
    # It looks at the left half: past the 3x3 reach of conv2 over the mask's edge, nothing.
    assert cam[:, 10:].sum() <= 1e-3 * max(cam.sum(), 1e-9)
    assert ex.rank_correlation(cam, maps["float32"]) > 0.95


def test_a_backbone_classifier_keeps_a_float32_output_under_mixed_precision(mixed):
    base = models.load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
    model = models.build_classifier(base, head="gap", num_classes=3)
    assert model.get_layer("block1_conv1").compute_dtype == "float16"
    assert model.output.dtype == "float32"
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, atol=1e-5)


def test_nbh_precision_forces_the_policy(monkeypatch):
    import keras

    monkeypatch.setenv("NBH_PRECISION", "mixed_float16")
    try:
        cfg = course.setup("offline", quiet=True)
        assert cfg.precision == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
        course.compile_as_on_a_gpu(False)
    monkeypatch.setenv("NBH_PRECISION", "float16")
    with pytest.raises(ValueError, match="NBH_PRECISION='float16'.*mixed_float16"):
        course.setup("offline", quiet=True)


def _xla_chosen() -> bool:
    """Whether Keras' ``jit_compile="auto"`` picks XLA for a freshly compiled model."""
    import keras

    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    m.compile("sgd", "mse")
    return bool(m.jit_compile)


def test_a_simulated_gpu_run_compiles_with_xla_as_keras_does_on_one_gpu(monkeypatch, capsys):
    """CI's mixed lane ran float16 through a CPU's non-XLA kernels: a path a T4 never takes
    (Keras picks XLA on one GPU), and 06's fine-tuning took 166 s instead of 15."""
    import keras
    from keras.src.trainers import trainer

    if course.machine._gpu_available():
        pytest.skip("a GPU is present: Keras already chooses XLA itself")
    assert callable(getattr(trainer.Trainer, "_resolve_auto_jit_compile", None)), (
        "Keras renamed its jit_compile='auto' rule: update nbhelpers.course.compile_as_on_a_gpu")
    assert not _xla_chosen()  # Keras on a CPU-only machine
    try:
        monkeypatch.setenv("NBH_PRECISION", "mixed_float16")
        course.setup("offline")
        keras.mixed_precision.set_global_policy("float32")
        assert "XLA" in capsys.readouterr().out
        assert _xla_chosen()
        monkeypatch.delenv("NBH_PRECISION")
        course.setup("offline", quiet=True)  # an ordinary run puts Keras' own rule back
        assert not _xla_chosen()
    finally:  # whatever failed above: no patch and no policy left for later tests
        keras.mixed_precision.set_global_policy("float32")
        course.compile_as_on_a_gpu(False)


def test_a_mixed_precision_model_exports_to_int8_through_a_float32_copy(mixed, tmp_path):
    """Notebook 12 on a GPU: the int8 converter cannot quantize float16 operations."""
    import deploy_kit

    from nbhelpers import deploy

    model = deploy_kit.tiny_classifier(16, seed=1)
    assert model.get_layer("conv1").compute_dtype == "float16"
    shipped = deploy.inference_model(model)
    assert {layer.compute_dtype for layer in shipped.layers[1:]} == {"float32"}  # past the input
    x = ex.toy_images(12, 16)
    np.testing.assert_allclose(shipped.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=5e-3)  # float16 maths against float32
    saved = deploy.export_saved_model(shipped, tmp_path / "sm")
    int8 = deploy.TFLiteModel(deploy.convert_tflite(saved, tmp_path / "m.tflite", "int8",
                                                    representative=x))
    assert np.abs(int8(x) - shipped.predict(x, verbose=0)).max() < 0.05


def test_a_nested_mixed_precision_model_is_copied_in_float32_once(mixed):
    """A backbone nested as one layer: the copy reaches its layers (no endless recursion)."""
    import keras

    from nbhelpers import deploy

    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c")],
                             name="inner")
    outer_in = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inner(outer_in))
    outer = keras.Model(outer_in, keras.layers.Dense(2, dtype="float32")(pooled))
    shipped = deploy.inference_model(outer)
    nested = next(layer for layer in shipped.layers if hasattr(layer, "layers"))
    assert nested.layers[-1].compute_dtype == "float32"
    x = np.random.default_rng(0).uniform(0, 1, (3, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(shipped.predict(x, verbose=0), outer.predict(x, verbose=0), atol=5e-3)
