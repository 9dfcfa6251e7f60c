"""nbhelpers.deploy: one photo read as training reads it, TTA, every export form, the comparison.

A small CNN (``deploy.tiny_classifier``, 24 px) stands in for VGG16: it has the course's
``Preprocess`` layer, so the safe-mode reload and every conversion meet the same custom
layer, and it converts in about a second.  The export folder is written once per module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nbhelpers import artifacts, data, deploy, plots, progress
from nbhelpers import config as nbh_config
from nbhelpers import explain as ex

SIZE = 24


@pytest.fixture(scope="module")
def cfg():
    return nbh_config.make_config("offline")


@pytest.fixture(scope="module")
def model():
    return deploy.tiny_classifier(SIZE, seed=3)


@pytest.fixture(scope="module")
def images():
    x = ex.toy_images(24, SIZE, seed=5)
    return x, (np.arange(len(x)) % 2)


@pytest.fixture(scope="module")
def exported(model, images, cfg, tmp_path_factory):
    x, y = images
    return deploy.export_all(model, tmp_path_factory.mktemp("export"), ["cat", "dog"], cfg,
                             representative=deploy.representative_sample(x, y, n=16))


def _png(path: Path, array: np.ndarray, orientation: int | None = None) -> Path:
    im = Image.fromarray(array.astype(np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    im.save(path, format="PNG", exif=exif.tobytes() if orientation else None)
    return path


# --------------------------------------------------------------------------- one photo


def test_a_file_is_read_exactly_as_the_training_pipeline_reads_it(cfg):
    root = data.write_faces(cfg)
    prepared = data.prepare(cfg, "faces", verbose=False)
    x_test, _ = data.load_split(prepared, "test", cfg)
    for i in (0, 7):
        path = prepared.test[i][0]
        assert np.array_equal(deploy.load_image_file(path, cfg.image_size, cfg), x_test[i])
    assert root.is_dir()


def test_an_exif_rotated_photo_is_turned_upright_like_in_training(tmp_path, cfg):
    rng = np.random.default_rng(0)
    upright = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)  # landscape, not square
    # Orientation 6: the camera stored the pixels turned 90 degrees anticlockwise
    # and asks viewers to turn them clockwise.
    stored = np.rot90(upright, k=1)
    a = deploy.load_image_file(_png(tmp_path / "upright.png", upright), 16, cfg)
    b = deploy.load_image_file(_png(tmp_path / "phone.png", stored, orientation=6), 16, cfg)
    naive = deploy.load_image_file(_png(tmp_path / "no_tag.png", stored), 16, cfg)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, naive)


@pytest.mark.parametrize("name, content, problem", [
    ("notes.txt", b"hello, not a photo", "not an image.*text file"),
    ("fake.jpg", b"hello, not a photo", "not an image"),
    ("empty.png", b"", "empty"),
])
def test_a_non_image_gets_a_clear_error(tmp_path, cfg, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(deploy.NotAnImageError, match=problem) as err:
        deploy.load_image_file(path, 16, cfg)
    assert name in str(err.value) and ".jpg" in str(err.value)  # what to use instead


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No file at"):
        deploy.load_image_file(tmp_path / "nope.jpg", 16)


def test_classify_file_agrees_with_the_model_on_the_same_pixels(model, cfg, tmp_path):
    path = _png(tmp_path / "x.png", ex.toy_images(1, 40, seed=9)[0])
    pred = deploy.classify_file(model, path, ["cat", "dog"], cfg, gradcam=True)
    p1 = float(model.predict(deploy.load_image_file(path, SIZE, cfg)[None], verbose=0)[0, 0])
    assert np.allclose(pred.probabilities, [1 - p1, p1], atol=1e-6)
    assert pred.label == ("dog" if p1 >= 0.5 else "cat")
    assert pred.image.shape == (SIZE, SIZE, 3)  # the model's input size, not the file's
    assert pred.explanation.attribution.shape == (SIZE, SIZE)
    assert pred.explanation.target == pred.index
    assert pred.top(1) == [(pred.label, pred.confidence)]


def test_wrong_number_of_class_names_is_refused(model, cfg, tmp_path):
    path = _png(tmp_path / "x.png", ex.toy_images(1, 24)[0])
    with pytest.raises(ValueError, match="2 class probabilities but 3 class names"):
        deploy.classify_file(model, path, ["a", "b", "c"], cfg)


def test_gradcam_with_a_tflite_form_needs_the_keras_model(exported, model, cfg, tmp_path):
    path = _png(tmp_path / "x.png", ex.toy_images(1, 24)[0])
    tflite = exported.load("tflite_float32")
    with pytest.raises(ValueError, match="Grad-CAM needs the Keras model"):
        deploy.classify_file(tflite, path, exported.class_names, cfg, gradcam=True)
    pred = deploy.classify_file(tflite, path, exported.class_names, cfg, gradcam=True,
                                gradcam_model=model)
    assert pred.explanation is not None


def test_top_classes_orders_by_probability():
    assert deploy.top_classes([0.2, 0.5, 0.3], ["a", "b", "c"], k=3) == [
        ("b", 0.5), ("c", 0.3), ("a", 0.2)]
    with pytest.raises(ValueError, match="3 probabilities but 2 class names"):
        deploy.top_classes([0.2, 0.5, 0.3], ["a", "b"])


# --------------------------------------------------------------------------- TTA


def test_tta_with_one_view_is_a_single_pass_and_more_views_change_the_answer(model, images, cfg):
    x, _ = images
    single = deploy.predict_function(model)(x)
    assert np.allclose(deploy.tta_predict(model, x, 1, cfg), single, atol=1e-6)
    p4 = deploy.tta_predict(model, x, 4, cfg, seed=1)
    assert np.allclose(p4.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(p4, single, atol=1e-4)  # augmented views did count
    assert np.allclose(p4, deploy.tta_predict(model, x, 4, cfg, seed=1))  # seeded
    with pytest.raises(ValueError, match="at least 1"):
        deploy.tta_predict(model, x, 0, cfg)


def test_tta_comparison_measures_against_the_single_pass(model, images, cfg):
    x, y = images
    t = deploy.tta_comparison(model, x, y, views=(3,), cfg=cfg)
    assert t["views"].tolist() == [1, 3]  # the single pass is always the reference
    assert t.loc[0, "changed"] == 0 and t.loc[0, "time_ratio"] == 1.0
    single = deploy.predict_function(model)(x)
    expected = float(np.mean((single[:, 1] >= 0.5).astype(int) == y))
    assert t.loc[0, "accuracy"] == pytest.approx(expected)


def test_tta_comparison_computes_the_views_once_and_matches_tta_predict(model, images, cfg,
                                                                        monkeypatch):
    x, y = images
    calls = []
    real = deploy.predict_function

    def counting(*args, **kwargs):
        f = real(*args, **kwargs)
        return lambda batch: (calls.append(len(batch)), f(batch))[1]

    monkeypatch.setattr(deploy, "predict_function", counting)
    t = deploy.tta_comparison(model, x, y, views=(1, 2, 4), cfg=cfg, seed=1)
    # one warm-up call on one image, then 4 passes over x (not 1 + 2 + 4 = 7)
    assert sorted(calls) == [1] + [len(x)] * 4
    monkeypatch.setattr(deploy, "predict_function", real)
    for k in (2, 4):  # the first k views of the longer run are tta_predict's k views
        p = deploy.tta_predict(model, x, k, cfg, seed=1)
        row = t[t["views"] == k].iloc[0]
        assert row["accuracy"] == pytest.approx(float(np.mean((p[:, 1] >= 0.5).astype(int) == y)))
        ll = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))))
        assert row["log_loss"] == pytest.approx(ll, rel=1e-5)
    assert t["seconds"].is_monotonic_increasing  # k views take longer than fewer


def test_representative_sample_is_stratified():
    x = np.arange(20, dtype="float32").reshape(20, 1, 1, 1) * np.ones((1, 2, 2, 3), "float32")
    y = np.array([0] * 16 + [1] * 4)
    s = deploy.representative_sample(x, y, n=8, seed=0)
    labels = (s[:, 0, 0, 0] >= 16).astype(int)
    assert len(s) == 8 and labels.sum() == 4  # half from the small class
    assert len(deploy.representative_sample(x, y, n=100)) == 20


# --------------------------------------------------------------------------- export forms


def test_export_all_writes_every_form_and_a_manifest(exported):
    assert list(exported.paths) == list(deploy.EXPORT_FORMS)
    assert all(p.exists() for p in exported.paths.values())
    manifest = json.loads((exported.folder / "manifest.json").read_text())
    assert manifest["class_names"] == ["cat", "dog"] and manifest["image_size"] == SIZE
    assert "UNTRAINED" in manifest["label"]
    again = deploy.Exported.open(exported.folder)
    assert again.paths == exported.paths and again.class_names == exported.class_names


def test_keras_file_reloads_in_safe_mode_with_the_same_outputs(exported, model, images):
    x, _ = images
    reloaded = exported.load("keras")
    assert np.allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_saved_model_runs_with_tensorflow_alone(exported, model, images, tmp_path):
    """A fresh interpreter imports TensorFlow only: no Keras, no nbhelpers layers."""
    x, _ = images
    np.save(tmp_path / "x.npy", x[:4])
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({str(exported.paths['saved_model'])!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "out = m.signatures['serving_default'](image=tf.constant(x))\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, next(iter(out.values())).numpy())\n"
        "print('nbhelpers' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH="")  # nbhelpers cannot even be imported
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("False")
    assert np.allclose(np.load(tmp_path / "y.npy"), model.predict(x[:4], verbose=0), atol=1e-5)


def test_tflite_forms_follow_the_keras_model(exported, model, images):
    x, _ = images
    ref = model.predict(x, verbose=0)
    f32 = exported.load("tflite_float32")
    assert np.abs(f32(x) - ref).max() < 1e-5
    dyn = exported.load("tflite_dynamic")
    assert np.abs(dyn(x) - ref).max() < 0.05
    int8 = exported.load("tflite_int8")
    assert int8.input_dtype == "uint8"
    assert np.abs(int8(x) - ref).max() < 0.1  # one output step is 1/256
    sizes = {f: deploy.size_on_disk(p) for f, p in exported.paths.items()}
    assert sizes["tflite_int8"] < sizes["tflite_float32"]
    # Batches of any size, and one image at a time, give the same numbers.
    assert np.allclose(np.concatenate([f32(x[i:i + 1]) for i in range(5)]), f32(x[:5]), atol=1e-6)


def test_int8_without_a_representative_sample_is_refused(model, tmp_path, cfg):
    with pytest.raises(ValueError, match="representative"):
        deploy.export_all(model, tmp_path, ["cat", "dog"], cfg, forms=["tflite_int8"])


def test_export_refuses_the_wrong_number_of_class_names(model, tmp_path, cfg):
    with pytest.raises(ValueError, match="class names"):
        deploy.export_all(model, tmp_path, ["just one"], cfg, forms=["keras"])


def test_litert_and_tf_lite_interpreters_agree(exported, images):
    """The shim's two runtimes (LiteRT when installed, else tf.lite) give the same answers."""
    pytest.importorskip("ai_edge_litert")
    import warnings

    import tensorflow as tf

    x, _ = images
    litert = deploy.TFLiteModel(exported.paths["tflite_int8"])
    assert litert.runtime.startswith("ai_edge_litert")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        it = tf.lite.Interpreter(model_path=str(exported.paths["tflite_int8"]))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    for i in range(3):
        it.set_tensor(inp["index"], np.round(x[i:i + 1]).astype(np.uint8))
        it.invoke()
        scale, zero = out["quantization"]
        expected = (it.get_tensor(out["index"]).astype("float32") - zero) * scale
        assert np.allclose(litert(x[i:i + 1]), expected)


def test_compare_exports_measures_every_form_against_keras(exported, model, images):
    x, y = images
    t = deploy.compare_exports(model, exported, x, y, latency_images=3)
    assert t["form"].tolist() == list(deploy.EXPORT_FORMS)
    keras_row = t.set_index("form").loc["keras"]
    assert keras_row["size_ratio"] == 1.0 and keras_row["latency_ratio"] == 1.0
    assert keras_row["agreement"] == 1.0 and keras_row["max_prob_diff"] < 1e-6
    assert t.set_index("form").loc["tflite_float32", "agreement"] == 1.0
    assert (t["latency_ms"] > 0).all() and (t["size_mb"] > 0).all()
    expected = float(np.mean((model.predict(x, verbose=0)[:, 0] >= 0.5).astype(int) == y))
    assert keras_row["accuracy"] == pytest.approx(expected)
    assert t.attrs["images"] == len(x)


# --------------------------------------------------------------------------- figures, progress


def test_figures(exported, model, images, cfg, tmp_path):
    x, y = images
    t = deploy.compare_exports(model, exported, x[:4], y[:4], latency_images=1,
                               forms=["keras", "tflite_float32"])
    fig = plots.export_comparison(t, title="demo")
    assert [tick.get_text() for tick in fig.axes[0].get_yticklabels()] == ["keras", "tflite_float32"]
    with pytest.raises(ValueError, match="lacks"):
        plots.export_comparison(t.drop(columns=["agreement"]))
    path = _png(tmp_path / "x.png", x[0])
    pred = deploy.classify_file(model, path, ["cat", "dog"], cfg, gradcam=True)
    axes = plots.prediction_panel(pred).axes
    panels = [ax for ax in axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3 and len(axes) == 4  # image, Grad-CAM (with its colour bar), bars
    over = plots.overlay_array(pred.image, pred.explanation, size=100)
    assert over.shape == (100, 100, 3) and over.dtype == np.uint8 and over.std() > 0


def test_progress_switch(monkeypatch):
    monkeypatch.delenv("NBH_PROGRESS", raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert not progress.enabled() and progress.keras_verbose() == 0
    assert progress.bar(range(3)).disable
    monkeypatch.setenv("TQDM_DISABLE", "0")  # tqdm reads any non-empty value as "disable"
    assert not progress.enabled()
    monkeypatch.setenv("TQDM_DISABLE", "")
    assert progress.enabled() and progress.keras_verbose() == 2
    assert not progress.bar(range(3)).disable
    monkeypatch.setenv("NBH_PROGRESS", "0")  # ours off, whatever tqdm's says
    assert not progress.enabled()
    assert list(progress.bar([1, 2])) == [1, 2]


def test_the_export_leaves_the_optimizer_state_behind(images, tmp_path, cfg):
    x, y = images
    m = deploy.tiny_classifier(SIZE, seed=2)
    m.compile(optimizer="adam", loss="binary_crossentropy")
    m.fit(x, y, epochs=1, verbose=0)  # the optimizer now has its state
    m.save(tmp_path / "compiled.keras")
    e = deploy.export_all(m, tmp_path / "export", ["cat", "dog"], cfg, forms=["keras"])
    assert deploy.size_on_disk(e.paths["keras"]) < deploy.size_on_disk(tmp_path / "compiled.keras")
    assert np.allclose(e.load("keras").predict(x, verbose=0), m.predict(x, verbose=0), atol=1e-6)


def test_an_int8_softmax_reads_as_probabilities(tmp_path):
    """Three classes through full-integer TFLite: rows sum to 1 again, so evaluate accepts them."""
    model = deploy.tiny_classifier(SIZE, num_classes=3, seed=2)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (6, SIZE, SIZE, 3)).astype("float32")
    exported = deploy.export_all(model, tmp_path, ["a", "b", "c"],
                                 nbh_config.make_config("offline"), forms=["keras", "tflite_int8"],
                                 representative=x)
    probs = exported.load("tflite_int8")(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_tflite_file_is_written_whole_or_not_at_all(model, tmp_path, monkeypatch):
    """A conversion that fails while writing leaves the old file and no temporary file."""
    saved = deploy.export_saved_model(model, tmp_path / "sm")
    target = deploy.convert_tflite(saved, tmp_path / "m.tflite")
    before = target.read_bytes()

    def full_disk(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(artifacts.ArtifactError, match="is full"):
        deploy.convert_tflite(saved, target, "dynamic")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
