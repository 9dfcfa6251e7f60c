"""nbhelpers.deploy: one photo read as training reads it, TTA, every export form, the comparison.

A small CNN (``deploy_kit.tiny_classifier``, 24 px) stands in for VGG16: it has the course's
``Preprocess`` layer, so the safe-mode reload and every conversion meet the same custom
layer, and it converts in about a second.  The export folder is written once per module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import deploy_kit
import numpy as np
import pictures_kit
import pytest
from PIL import Image

from nbhelpers import artifacts, data, deploy, plots, progress
from nbhelpers import config as nbh_config
from nbhelpers import explain as ex
from nbhelpers.deploy import none_of_these

SIZE = 24
_grey, _green_stripes = pictures_kit.grey, pictures_kit.green_stripes


@pytest.fixture(scope="module")
def cfg():
    return nbh_config.make_config("offline")


@pytest.fixture(scope="module")
def model():
    return deploy_kit.tiny_classifier(SIZE, seed=3)


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
    # the single pass's probabilities come with the table (notebook 12 reuses them)
    np.testing.assert_allclose(t.attrs["single_pass"], single, rtol=1e-5, atol=1e-6)


def test_tta_comparison_computes_the_views_once_and_matches_tta_predict(model, images, cfg,
                                                                        monkeypatch):
    x, y = images
    calls = []
    real = deploy.predict_function

    def counting(*args, **kwargs):
        f = real(*args, **kwargs)
        return lambda batch: (calls.append(len(batch)), f(batch))[1]

    monkeypatch.setattr(deploy.tta, "predict_function", counting)
    t = deploy.tta_comparison(model, x, y, views=(1, 2, 4), cfg=cfg, seed=1)
    # one warm-up call on one image, then 4 passes over x (not 1 + 2 + 4 = 7)
    assert sorted(calls) == [1] + [len(x)] * 4
    monkeypatch.setattr(deploy.tta, "predict_function", real)
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


def test_tflite_runs_on_every_core_with_the_same_answers(exported, images, monkeypatch):
    """TFLite's own default is one thread (Keras uses every core): the wrapper asks for every
    core unless told, and the answers do not depend on it."""
    import os

    x, _ = images
    every, one = (deploy.TFLiteModel(exported.paths["tflite_float32"], num_threads=n)
                  for n in (None, 1))
    assert every.num_threads == deploy.usable_cpus() and one.num_threads == 1
    assert np.allclose(every(x), one(x), atol=1e-6)
    # and that is what the interpreter is asked for
    asked = []

    class Recording:
        def __init__(self, model_path, num_threads=None):
            asked.append(num_threads)
            raise RuntimeError("recorded")
    monkeypatch.setattr(deploy.forms, "interpreter_class", lambda: (Recording, "recording"))
    with pytest.raises(RuntimeError, match="recorded"):
        deploy.TFLiteModel(exported.paths["tflite_float32"])
    assert asked == [deploy.usable_cpus()]
    if hasattr(os, "sched_getaffinity"):  # a process lent one core gets one thread
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        assert deploy.usable_cpus() == 1


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
    m = deploy_kit.tiny_classifier(SIZE, seed=2)
    m.compile(optimizer="adam", loss="binary_crossentropy")
    m.fit(x, y, epochs=1, verbose=0)  # the optimizer now has its state
    m.save(tmp_path / "compiled.keras")
    e = deploy.export_all(m, tmp_path / "export", ["cat", "dog"], cfg, forms=["keras"])
    assert deploy.size_on_disk(e.paths["keras"]) < deploy.size_on_disk(tmp_path / "compiled.keras")
    assert np.allclose(e.load("keras").predict(x, verbose=0), m.predict(x, verbose=0), atol=1e-6)


def test_an_int8_softmax_reads_as_probabilities(tmp_path):
    """Three classes through full-integer TFLite: rows sum to 1 again, so evaluate accepts them."""
    model = deploy_kit.tiny_classifier(SIZE, num_classes=3, seed=2)
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


# --------------------------------------------------------------------------- "none of these", model card

OOD = {"score": "max_probability", "threshold": 0.71, "tpr": 0.95, "chosen_on": "validation",
       "n": 40}


def _small_export(folder, cfg, **kwargs):
    """A keras-only export of a fresh tiny model: about a second."""
    return deploy.export_all(deploy_kit.tiny_classifier(SIZE, seed=4), folder, ["cat", "dog"], cfg,
                             forms=["keras"], **kwargs)


def test_an_export_records_its_ood_threshold_and_card(tmp_path, cfg):
    e = _small_export(tmp_path, cfg, ood={**OOD, "threshold": np.float32(0.71), "n": np.int64(40)},
                      card="# Model card: cat vs dog\n")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["ood"] == {**OOD, "threshold": pytest.approx(0.71)}  # plain JSON numbers
    assert manifest["card"] == "MODEL_CARD.md" and "MODEL_CARD.md" in manifest["checksums"]
    assert "MODEL_CARD.md" not in manifest["files"].values()  # not a form of the model
    again = deploy.Exported.open(tmp_path)
    assert again.ood == e.ood and again.ood["threshold"] == pytest.approx(0.71)
    assert again.card_path == tmp_path / "MODEL_CARD.md" == e.card_path
    assert again.card_path.read_text() == "# Model card: cat vs dog\n"
    # Exported again without a card: the old card (another model's) does not stay behind.
    e2 = _small_export(tmp_path, cfg)
    assert e2.ood is None and e2.card_path is None and not (tmp_path / "MODEL_CARD.md").exists()
    assert deploy.Exported.open(tmp_path).ood is None


def test_a_manifest_from_before_ood_and_cards_still_opens(tmp_path, cfg):
    _small_export(tmp_path, cfg, ood=OOD, card="# card")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for key in ("ood", "card"):
        del manifest[key]
    del manifest["checksums"]["MODEL_CARD.md"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    old = deploy.Exported.open(tmp_path)
    assert old.ood is None and old.card_path is None  # an unlisted card is not vouched for
    assert old.class_names == ["cat", "dog"]


@pytest.mark.parametrize("change, key", [
    ({"score": "energy"}, "score"),
    ({"threshold": 0.0}, "threshold"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": "0.7"}, "threshold"),
    ({"tpr": 0}, "tpr"),
    ({"chosen_on": "test"}, "chosen_on"),
    ({"n": 0}, "n"),
    ({"n": 2.5}, "n"),
    ({"fpr": 0.3}, "fpr"),
    ({"threshold": None}, "threshold"),
])
def test_a_bad_ood_record_is_refused_naming_the_key(tmp_path, cfg, change, key):
    bad = {k: v for k, v in {**OOD, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=f"'{key}'") as err:
        _small_export(tmp_path, cfg, ood=bad)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    if key == "score":
        assert "only 'max_probability'" in str(err.value)
    with pytest.raises(ValueError, match=f"'{key}'"):
        deploy.classify_image(deploy_kit.tiny_classifier(16), np.zeros((16, 16, 3)), ["a", "b"], ood=bad)


def test_classify_image_says_unlike_below_the_threshold_only(model):
    from nbhelpers import evaluate

    image = ex.toy_images(1, SIZE, seed=11)[0]
    plain = deploy.classify_image(model, image, ["cat", "dog"])
    top = float(evaluate.confidence(plain.probabilities[None])[0])
    assert plain.unlike is False and plain.ood_score is None  # no threshold: today's answer
    threshold = min(1.0, top + 0.01)
    above = deploy.classify_image(model, image, ["cat", "dog"], ood={**OOD, "threshold": threshold})
    assert above.unlike and above.ood_score == pytest.approx(top)
    assert above.ood_threshold == threshold
    assert np.array_equal(above.probabilities, plain.probabilities)  # never changed
    why = f"(top probability {top:.1%} < threshold {threshold:.1%})".replace("%", " %")
    assert str(above) == (f"none of these: this photo is unlike the training photos {why}; "
                          f"closest: {plain}")
    below = deploy.classify_image(model, image, ["cat", "dog"], ood={**OOD, "threshold": top - 0.01})
    assert not below.unlike and str(below) == str(plain) and below.label == plain.label
    at = deploy.classify_image(model, image, ["cat", "dog"], ood={**OOD, "threshold": top})
    assert not at.unlike  # reaching the threshold is in distribution


def test_classify_file_passes_the_threshold_and_softmax_scores_are_the_top_probability(tmp_path, cfg):
    path = _png(tmp_path / "x.png", ex.toy_images(1, 40, seed=2)[0])
    three = deploy_kit.tiny_classifier(SIZE, num_classes=3, seed=1)
    pred = deploy.classify_file(three, path, ["a", "b", "c"], cfg, ood={**OOD, "threshold": 0.99})
    assert pred.unlike and pred.ood_score == pytest.approx(float(pred.probabilities.max()))
    assert str(pred).startswith("none of these: this photo is unlike the training photos")
    assert pred.label in str(pred)  # the classes still follow


class _Review:
    def summary(self):
        return "labels_review.csv: 3 labels changed, 1 image dropped"


class _Prepared:
    """What model_card reads of nbh.data.Prepared (plus the review it may gain)."""

    class_names = ["cat", "dog"]
    source = "cats_vs_dogs"
    fingerprint = "fp-1234abcd"
    review = _Review()

    def sizes(self):
        import pandas as pd

        frame = pd.DataFrame({"cat": [70, 15, 15], "dog": [50, 10, 12]}, index=["train", "val", "test"])
        frame["total"] = frame.sum(axis=1)
        return frame


def _sections(text):
    """``{header: body}`` of a Markdown card."""
    parts = text.split("\n## ")[1:]
    return {p.split("\n", 1)[0]: p.split("\n", 1)[1] for p in parts}


def test_the_model_card_has_every_section_with_the_numbers(cfg):
    from nbhelpers import evaluate

    text = deploy.model_card(
        _Prepared(), cfg, review_file="labels_review.csv", review_changed=3,
        recipe={"head epochs": 5, "fine-tune learning rate": 1e-5, "unfrozen blocks": "block5"},
        metrics={"accuracy": evaluate.Interval(0.912, 0.875, 0.94), "images": 27},
        calibration={"expected calibration error": 0.0412}, ood=OOD,
        ood_rates={"AUROC": 0.931, "FPR at 95 % TPR": evaluate.Interval(0.31, 0.2, 0.42)},
        checks=[("TFLite float32 agrees with Keras on every test image", True),
                ("int8 accuracy within 1 point of float", False)],
        limits=["indoor photos only"])
    sections = _sections(text)
    assert list(sections) == list(deploy.CARD_SECTIONS)
    assert text.startswith("# Model card: cat vs dog classifier\n")
    assert "| train | 70 | 50 | 120 |" in sections["Data"] and "cats_vs_dogs" in sections["Data"]
    assert "fp-1234abcd" in sections["Data"] and "labels_review.csv" in sections["Data"]
    assert "Images the review changed: 3" in sections["Data"]
    assert "3 labels changed, 1 image dropped" in sections["Data"]  # the review's summary()
    assert "| fine-tune learning rate | 1e-05 |" in sections["Training"]
    assert cfg.label() in sections["Training"]
    assert "| accuracy | 0.912 (95 % CI 0.875 to 0.940) |" in sections["Test metrics"]
    assert "| expected calibration error | 0.041 |" in sections["Calibration"]
    ood = sections["Out-of-distribution threshold"]
    assert "max_probability" in ood and "0.710 (71.0 %)" in ood and "40 validation images" in ood
    assert "95.0 %" in ood and "| AUROC | 0.931 |" in ood
    assert "| FPR at 95 % TPR | 0.310 (95 % CI 0.200 to 0.420) |" in ood
    checks = sections["Checks in this run"]
    assert "1 of 2 checks held" in checks
    assert "- held: TFLite float32 agrees with Keras on every test image" in checks
    assert "- **did not hold**: int8 accuracy within 1 point of float" in checks
    limits = sections["Known limits"]
    assert "- indoor photos only" in limits
    assert ("trained on 120 images of 2 classes: a photo of another kind gets one of these labels "
            "unless its top probability is below the threshold") in limits
    assert "UNTRAINED" in limits and "not a real model" in limits  # the offline profile
    assert not [h for h, body in sections.items() if "not recorded" in body]


def test_a_card_without_data_says_not_recorded_in_every_section(monkeypatch):
    monkeypatch.delenv("NBH_REHEARSAL_STANDINS", raising=False)
    text = deploy.model_card(cfg=nbh_config.make_config("cpu"))
    sections = _sections(text)
    assert list(sections) == list(deploy.CARD_SECTIONS)
    for header in deploy.CARD_SECTIONS[:-1]:
        assert "not recorded" in sections[header], header
    assert "trained on images (how many: not recorded)" in sections["Known limits"]
    assert "not a real model" not in text  # real weights: no such limit
    monkeypatch.setenv("NBH_REHEARSAL_STANDINS", "1")
    standin = _sections(deploy.model_card(cfg=nbh_config.make_config("cpu")))["Known limits"]
    assert "STAND-IN" in standin and "not a real model" in standin
    with pytest.raises(ValueError, match="sentence, held"):
        deploy.model_card(checks=["just a sentence"])
    rates = {"auroc": 0.9, "fpr_at_tpr": 0.25, "threshold": 0.7, "tpr": 0.95}  # ood.detection_rates
    ood = _sections(deploy.model_card(ood=OOD, ood_rates=rates))["Out-of-distribution threshold"]
    assert "| false-positive rate at 95.0 % true positives | 0.250 |" in ood
    assert "| AUROC (in- vs out-of-distribution photos) | 0.900 |" in ood


def test_a_card_written_after_the_export_is_checked_like_the_model_files(tmp_path, cfg):
    _small_export(tmp_path, cfg, ood=OOD)
    path = deploy.write_model_card(tmp_path, prepared=_Prepared(), cfg=cfg, ood=OOD)
    assert path == tmp_path / "MODEL_CARD.md" and "## Known limits" in path.read_text()
    opened = deploy.Exported.open(tmp_path)
    assert opened.card_path == path and opened.ood == none_of_these.check_ood(OOD)
    deploy.write_model_card(tmp_path, "# second card\n")  # replaced: the manifest follows
    assert deploy.Exported.open(tmp_path).card_path.read_text() == "# second card\n"
    path.write_bytes(b"# second card, edited by hand\n")  # damaged: detected
    with pytest.raises(artifacts.ArtifactError, match="MODEL_CARD.md.*write_model_card"):
        deploy.Exported.open(tmp_path)
    path.unlink()  # a deleted card: the model still opens, without a card
    assert deploy.Exported.open(tmp_path).card_path is None
    with pytest.raises(TypeError, match="not both"):
        deploy.write_model_card(tmp_path, "# x", cfg=cfg)


def test_a_card_write_cut_short_leaves_an_export_that_opens(tmp_path, cfg, monkeypatch):
    _small_export(tmp_path, cfg, card="# first card\n")
    real = artifacts.write_bytes

    def full_disk(path, data):
        if Path(path).name == "MODEL_CARD.md":
            raise artifacts.ArtifactError("the disk is full")
        return real(path, data)

    monkeypatch.setattr(artifacts, "write_bytes", full_disk)
    with pytest.raises(artifacts.ArtifactError, match="full"):
        deploy.write_model_card(tmp_path, "# second card\n")
    opened = deploy.Exported.open(tmp_path)  # no error: the manifest no longer vouches for it
    assert opened.card_path is None
    assert (tmp_path / "MODEL_CARD.md").read_text() == "# first card\n"  # whole, never half


def test_a_card_waits_for_another_kernel_writing_the_same_export(tmp_path, cfg):
    """Two kernels on one export folder take turns: the card's manifest update waits for the
    export lock another process holds (without it the card would be written at once, and an
    export in progress could overwrite its manifest)."""
    import time

    folder = tmp_path / "export"
    _small_export(folder, cfg)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom nbhelpers import artifacts, deploy\n"
         f"with artifacts.lock(deploy.export_lock({str(folder)!r}), what='another kernel'):\n"
         "    print('held', flush=True)\n    time.sleep(3)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.perf_counter()
        deploy.write_model_card(folder, "# card\n")
        waited = time.perf_counter() - t0
    finally:
        holder.wait(timeout=60)
    assert waited > 1.5, f"the card did not wait for the export's lock ({waited:.2f} s)"
    assert deploy.Exported.open(folder).card_path.read_text() == "# card\n"
    assert deploy.export_lock(folder).parent == tmp_path  # beside the export, not in it
    assert not any(p.name.endswith(".lock") for p in folder.iterdir())


def test_a_card_is_not_added_to_a_damaged_export(tmp_path, cfg):
    _small_export(tmp_path, cfg)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(artifacts.ArtifactError, match="Export the model again"):
        deploy.write_model_card(tmp_path, "# card")
    assert not (tmp_path / "MODEL_CARD.md").exists()
    plain = tmp_path / "no_export"
    assert deploy.write_model_card(plain, "# card").read_text() == "# card"  # no manifest: a file


# --------------------------------------------------------------------------- "none of these" by the nearest training images


@pytest.fixture(scope="module")
def nn_model():
    """The tiny CNN with seed 1: its features put the greys within 0.996 of each other (k=1)
    and the stripes at 0.85 (measured; other seeds' random features separate them less)."""
    return deploy_kit.tiny_classifier(SIZE, seed=1)


def _features(model, images):
    from nbhelpers import ood

    return ood.feature_extractor(model, "predictions").predict(np.asarray(images), verbose=0)


def _neighbour_setup(model, k=1):
    """A bank of the model's features of six uniform greys, the threshold chosen on five others."""
    from nbhelpers import ood

    raw = _features(model, [_grey(g) for g in range(40, 241, 40)])
    record = ood.neighbour_record(ood.feature_bank(raw), _features(model, [_grey(g) for g in
                                                                            range(60, 221, 40)]),
                                  k=k, layer="predictions")
    return raw, record


def test_a_nearest_neighbour_export_keeps_its_bank(tmp_path, cfg):
    from nbhelpers import ood

    raw, record = _neighbour_setup(deploy_kit.tiny_classifier(SIZE, seed=4), k=3)
    assert raw.shape == (6, 8) and not np.allclose(np.linalg.norm(raw, axis=1), 1)
    e = _small_export(tmp_path, cfg, ood=record, ood_bank=raw.astype("float64"))
    unit = ood.feature_bank(raw)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["ood"] == {**record, "threshold": pytest.approx(record["threshold"])}
    assert manifest["ood"]["k"] == 3 and manifest["ood"]["layer"] == "predictions"
    assert manifest["ood_bank"] == "ood_bank.npy" and "ood_bank.npy" in manifest["checksums"]
    assert "ood_bank.npy" not in manifest["files"].values()  # not a form of the model
    on_disk = np.load(tmp_path / "ood_bank.npy", allow_pickle=False)
    assert on_disk.dtype == np.float32 and np.array_equal(on_disk, unit)
    assert np.allclose(np.linalg.norm(on_disk, axis=1), 1.0, atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    again = deploy.Exported.open(tmp_path)
    assert again.ood == e.ood == none_of_these.check_ood(record)
    assert np.array_equal(again.ood_bank, unit) and np.array_equal(e.ood_bank, unit)
    # A card written afterwards keeps the bank vouched for.
    deploy.write_model_card(tmp_path, "# card\n")
    assert np.array_equal(deploy.Exported.open(tmp_path).ood_bank, unit)
    # Exported again with the top probability: the old bank (another record's) goes.
    e2 = _small_export(tmp_path, cfg, ood=OOD)
    assert e2.ood_bank is None and not (tmp_path / "ood_bank.npy").exists()
    assert deploy.Exported.open(tmp_path).ood_bank is None


@pytest.mark.parametrize("change, bank, match", [
    ({}, None, "no ood_bank was given"),
    ({}, np.ones((6, 5)), r"ood_bank has 5 features .* gives 8 .* \(ood\['layer'\]\)"),
    ({}, np.ones(8), "ood_bank must be a 2-D array"),
    ({}, np.array([[np.nan] * 8]), "ood_bank holds NaN"),
    ({"k": 7}, "bank", r"ood\['k'\] is 7 but ood_bank has only 6 rows"),
    ({"k": 0}, "bank", r"ood\['k'\]"),
    ({"layer": "logits"}, "bank", r"ood\['layer'\] is 'logits' but the model .* has no layer"),
    ({"layer": ""}, "bank", r"ood\['layer'\]"),
    ({"threshold": -1.5}, "bank", r"ood\['threshold'\].*\[-1, 1\]"),
    ({"k": None}, "bank", "ood has no 'k' key"),
    ({"score": "max_probability", "threshold": 0.7}, "bank", "ood_bank is given but"),
])
def test_a_nearest_neighbour_record_or_bank_that_does_not_fit_is_refused(tmp_path, cfg, change,
                                                                         bank, match):
    raw, record = _neighbour_setup(deploy_kit.tiny_classifier(SIZE, seed=4))
    bad = {k: v for k, v in {**record, **change}.items() if v is not None}
    if change.get("score") == "max_probability":
        bad = {**OOD, "threshold": 0.7}
    with pytest.raises(ValueError, match=match) as err:
        _small_export(tmp_path, cfg, ood=bad, ood_bank=raw if isinstance(bank, str) else bank)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    assert "ood" in str(err.value)


def test_a_nearest_neighbour_record_needs_the_keras_form_and_accepts_a_negative_threshold(
        tmp_path, cfg):
    raw, record = _neighbour_setup(deploy_kit.tiny_classifier(SIZE, seed=4))
    with pytest.raises(ValueError, match="add 'keras' to forms"):
        deploy.export_all(deploy_kit.tiny_classifier(SIZE, seed=4), tmp_path, ["cat", "dog"], cfg,
                          forms=["saved_model"], ood=record, ood_bank=raw)
    assert list(tmp_path.iterdir()) == []
    e = _small_export(tmp_path, cfg, ood={**record, "threshold": -0.5}, ood_bank=raw)
    assert e.ood["threshold"] == -0.5
    with pytest.raises(ValueError, match=r"unknown key 'k'.*max_probability record"):
        none_of_these.check_ood({**OOD, "k": 5})  # the top probability has no neighbours


def test_a_damaged_or_missing_bank_is_refused_by_exported_open(tmp_path, cfg):
    raw, record = _neighbour_setup(deploy_kit.tiny_classifier(SIZE, seed=4))
    _small_export(tmp_path, cfg, ood=record, ood_bank=raw)
    bank = tmp_path / "ood_bank.npy"
    good = bank.read_bytes()
    np.save(tmp_path / "other.npy", np.load(bank)[::-1].copy())  # same size, other rows
    (tmp_path / "other.npy").replace(bank)
    assert len(bank.read_bytes()) == len(good) and bank.read_bytes() != good
    with pytest.raises(artifacts.ArtifactError,
                       match=r"ood_bank\.npy is not the file .* Export the model again with its bank"):
        deploy.Exported.open(tmp_path)
    bank.unlink()
    with pytest.raises(artifacts.ArtifactError, match=r"ood_bank\.npy is missing.*export_all"):
        deploy.Exported.open(tmp_path)
    bank.write_bytes(good)
    assert deploy.Exported.open(tmp_path).ood_bank.shape == (6, 8)  # the right one opens again
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "ood_bank": None}))
    with pytest.raises(artifacts.ArtifactError, match="no ood_bank file with a checksum"):
        deploy.Exported.open(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "ood": OOD}))
    with pytest.raises(artifacts.ArtifactError, match="names an ood_bank but has no nearest"):
        deploy.Exported.open(tmp_path)


def test_nearest_neighbour_scores_the_similarity_to_the_bank(nn_model):
    from nbhelpers import ood

    model = nn_model
    raw, record = _neighbour_setup(model)
    bank = ood.feature_bank(raw)
    inside = deploy.classify_image(model, _grey(120), ["cat", "dog"], ood=record, ood_bank=raw)
    assert inside.ood_score_name == "nearest_neighbour"
    assert inside.ood_score == pytest.approx(1.0, abs=1e-5) and not inside.unlike
    assert str(inside) == str(deploy.classify_image(model, _grey(120), ["cat", "dog"]))
    # k = 2: the mean with the next grey, which is less alike; a threshold above that
    # score makes the same image unlike, and the probabilities stay as they were.
    two = {**record, "k": 2, "threshold": 0.5}
    second = deploy.classify_image(model, _grey(120), ["cat", "dog"], ood=two, ood_bank=raw)
    assert 0.5 < second.ood_score < 0.9999 and not second.unlike
    assert second.ood_score == pytest.approx(
        ood.nearest_neighbour(bank, _features(model, _grey(120)[None]), 2)[0], abs=1e-5)
    above = deploy.classify_image(model, _grey(120), ["cat", "dog"], ood_bank=raw,
                                  ood={**two, "threshold": second.ood_score + 1e-4})
    assert above.unlike and np.array_equal(above.probabilities, inside.probabilities)
    assert "similarity to the training photos" in str(above)
    # Stripes are far from every grey: below the threshold chosen on other greys.
    stripes = np.asarray(Image.fromarray(_green_stripes()).resize((SIZE, SIZE)), "float32")
    far = deploy.classify_image(model, stripes, ["cat", "dog"], ood=record, ood_bank=raw)
    expected = ood.nearest_neighbour(bank, _features(model, stripes[None]), 1)[0]
    assert far.ood_score == pytest.approx(expected, abs=1e-5)
    assert far.ood_score < record["threshold"] - 0.05 and far.unlike
    why = none_of_these.ood_comparison("nearest_neighbour", far.ood_score, record["threshold"])
    assert why.startswith("similarity to the training photos 0.") and " < threshold 0." in why
    assert f"({why})" in str(far) and str(far).startswith("none of these: ")
    assert "%" not in why  # a similarity, not a probability


def test_nearest_neighbour_features_need_the_keras_model(exported, model):
    from nbhelpers import ood

    raw, record = _neighbour_setup(model)
    tflite = exported.load("tflite_float32")
    image = _grey(100)
    with pytest.raises(ValueError, match=r"only the Keras model gives.*gradcam_model="):
        deploy.classify_image(tflite, image, ["cat", "dog"], ood=record, ood_bank=raw)
    reference = deploy.classify_image(model, image, ["cat", "dog"], ood=record, ood_bank=raw)
    via_keras = deploy.classify_image(tflite, image, ["cat", "dog"], ood=record, ood_bank=raw,
                                      gradcam_model=exported.load("keras"))
    prebuilt = deploy.classify_image(tflite, image, ["cat", "dog"], ood=record, ood_bank=raw,
                                     feature_model=ood.feature_extractor(model, "predictions"))
    assert via_keras.ood_score == pytest.approx(reference.ood_score, abs=1e-5)
    assert prebuilt.ood_score == pytest.approx(reference.ood_score, abs=1e-5)
    # The extractor is built once per model and layer, then reused.
    cached = none_of_these.cached_feature_extractor
    assert cached(model, "predictions") is cached(model, "predictions")
    with pytest.raises(ValueError, match="features per image but feature_model gives"):
        deploy.classify_image(tflite, image, ["cat", "dog"], ood=record, ood_bank=raw,
                              feature_model=lambda x, training=False: np.ones((len(x), 3)))


def test_classify_file_checks_the_bank_before_reading_the_file(tmp_path, cfg, nn_model):
    model = nn_model
    raw, record = _neighbour_setup(model)
    missing = tmp_path / "not_there.png"  # a bad record or bank is reported first
    with pytest.raises(ValueError, match="no ood_bank was given"):
        deploy.classify_file(model, missing, ["cat", "dog"], cfg, ood=record)
    with pytest.raises(ValueError, match="only the Keras model gives"):
        deploy.classify_file(lambda x, training=False: np.full((len(x), 1), 0.5), missing,
                             ["cat", "dog"], cfg, ood=record, ood_bank=raw)
    path = _png(tmp_path / "stripes.png", _green_stripes())
    pred = deploy.classify_file(model, path, ["cat", "dog"], cfg, ood=record, ood_bank=raw)
    assert pred.unlike and pred.ood_score < record["threshold"]


def test_the_card_names_the_similarity_score_in_words(cfg):
    record = {"score": "nearest_neighbour", "threshold": 0.63, "tpr": 0.95,
              "chosen_on": "validation", "n": 40, "k": 5, "layer": "logits"}
    sections = _sections(deploy.model_card(_Prepared(), cfg, ood=record))
    ood = sections["Out-of-distribution threshold"]
    assert "similarity to the training photos (`nearest_neighbour`" in ood
    assert ("the mean cosine similarity of the photo's features to its k = 5 nearest training "
            "images") in ood
    assert "layer `logits`" in ood and "ood_bank.npy" in ood and "- Threshold: 0.630" in ood
    assert "40 validation images" in ood and "%" not in ood.split("- Chosen on")[0]
    assert ("a photo of another kind gets one of these labels unless its similarity to the "
            "training photos is below the threshold (0.630)") in sections["Known limits"]
    top = _sections(deploy.model_card(_Prepared(), cfg, ood=OOD))["Out-of-distribution threshold"]
    assert "top probability (`max_probability`" in top and "the top class probability" in top


def test_model_card_names_the_review_a_prepared_data_set_had(tmp_path, monkeypatch):
    from nbhelpers import config, data, review

    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path))
    cfg = config.make_config("offline")
    plain = data.prepare(cfg, source="faces", review=None, verbose=False)
    card = deploy.model_card(plain, cfg)
    assert "- Label review file: none (no review was applied)" in card
    assert "- Images the review changed: 0 (no review)" in card
    file = tmp_path / "r.csv"
    demo = data.prepare(cfg, source="faces", review=file, verbose=False)
    review.record(demo, [demo.train[0][0], demo.train[1][0]], "drop")
    reviewed = data.prepare(cfg, source="faces", review=file, verbose=False)
    card = deploy.model_card(reviewed, cfg)
    assert f"- Label review file: `{file}`" in card and "- Images the review changed: 2" in card


def test_a_rejection_is_written_with_as_many_decimals_as_it_takes_to_differ():
    """Seen in notebook 12: 'similarity 0.9960 < threshold 0.9960' read as a tie."""
    why = none_of_these.ood_comparison("nearest_neighbour", 0.996012, 0.996038)
    assert why == "similarity to the training photos 0.99601 < threshold 0.99604"
    why = none_of_these.ood_comparison("max_probability", 0.7123441, 0.7123449)
    assert why == "top probability 71.2344 % < threshold 71.2345 %"
    assert none_of_these.ood_comparison("nearest_neighbour", 0.41, 0.63).endswith("0.41 < threshold 0.63")
