"""The demo app (nbhelpers.app) in a real browser: upload a photo, read the answer.

The app is started in this process on a free local port (Gradio's server runs in a
thread) around a small CNN saved to ``.keras`` (``deploy_kit.tiny_classifier``), and driven
from Debian's headless Chromium with Playwright, as ``test_browser.py`` drives JupyterLab.
The page's answer must be the model's own prediction for that file; a text file must
get a message in the page; with an export that carries an out-of-distribution threshold
and a model card, a photo below the threshold gets "None of these" and the page holds the
card; with a nearest_neighbour threshold (a bank of the model's features of uniform greys),
stripes get "None of these" and a grey does not.  Skipped, with the reason, when Chromium or
Gradio is missing.
The ``Classifier.answer`` tests below need neither.
"""

from __future__ import annotations

import shutil

import deploy_kit
import numpy as np
import pictures_kit
import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS, free_port
from PIL import Image

from nbhelpers import app, artifacts, deploy
from nbhelpers import config as nbh_config
from nbhelpers import explain as ex

SIZE = 24
_grey, _green_stripes = pictures_kit.grey, pictures_kit.green_stripes
CARD_TITLE = "Model card: the tiny test CNN"
#: Far above the tiny model's top probabilities (near 0.5): every photo is "none of these".
OOD = {"score": "max_probability", "threshold": 0.99, "tpr": 0.95, "chosen_on": "validation",
       "n": 40}


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app-export")
    deploy.export_all(deploy_kit.tiny_classifier(SIZE, seed=1), folder, ["cat", "dog"],
                      nbh_config.make_config("offline"), forms=["keras", "tflite_float32"])
    return folder


@pytest.fixture(scope="module")
def ood_export_dir(tmp_path_factory):
    """An export with an out-of-distribution threshold and a model card."""
    folder = tmp_path_factory.mktemp("app-ood-export")
    cfg = nbh_config.make_config("offline")
    card = deploy.model_card(cfg=cfg, class_names=["cat", "dog"], ood=OOD, title=CARD_TITLE)
    deploy.export_all(deploy_kit.tiny_classifier(SIZE, seed=1), folder, ["cat", "dog"], cfg,
                      forms=["keras"], ood=OOD, card=card)
    return folder


@pytest.fixture(scope="module")
def nn_export_dir(tmp_path_factory):
    """An export scored by the nearest training images: a bank of the tiny CNN's features
    of six uniform greys, the threshold chosen (k=1) on five other greys."""
    from nbhelpers import ood

    folder = tmp_path_factory.mktemp("app-nn-export")
    cfg = nbh_config.make_config("offline")
    model = deploy_kit.tiny_classifier(SIZE, seed=1)
    extractor = ood.feature_extractor(model, "predictions")
    bank = extractor.predict(np.stack([_grey(g) for g in range(40, 241, 40)]), verbose=0)
    val = extractor.predict(np.stack([_grey(g) for g in range(60, 221, 40)]), verbose=0)
    record = ood.neighbour_record(ood.feature_bank(bank), val, k=1, layer="predictions")
    card = deploy.model_card(cfg=cfg, class_names=["cat", "dog"], ood=record, title=CARD_TITLE)
    deploy.export_all(model, folder, ["cat", "dog"], cfg, forms=["keras", "tflite_float32"],
                      ood=record, ood_bank=bank, card=card)
    return folder


@pytest.fixture(scope="module")
def nn_files(tmp_path_factory):
    """Green stripes (far from every grey) and a grey of the bank, as PNG uploads."""
    root = tmp_path_factory.mktemp("nn-uploads")
    stripes, grey = root / "stripes.png", root / "grey.png"
    Image.fromarray(_green_stripes()).save(stripes)
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(grey)
    return stripes, grey


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("uploads")
    photo = root / "my photo.png"
    Image.fromarray(ex.toy_images(1, 48, seed=4)[0].astype(np.uint8)).save(photo)
    text = root / "notes.txt"
    text.write_text("not a photo at all")
    return photo, text


def expected_answer(export_dir, photo) -> str:
    """The model's own prediction for the file, loaded and computed without the app."""
    exported = deploy.Exported.open(export_dir)
    pred = deploy.classify_file(exported.load("keras"), photo, exported.class_names)
    return f"Predicted: {pred.label} with probability {pred.confidence:.1%}"


def test_answer_is_the_models_prediction(export_dir, files):
    photo, text = files
    classifier = app.Classifier.from_path(export_dir)
    a = classifier.answer(str(photo))
    assert a.ok and a.message.replace("*", "").startswith(expected_answer(export_dir, photo))
    assert set(a.probabilities) == {"cat", "dog"}
    assert a.overlay is not None and a.overlay.ndim == 3
    assert "UNTRAINED" in a.message  # the profile's label travels with the export
    bad = classifier.answer(str(text))
    assert not bad.ok and "Not an image" in bad.message and "notes.txt" in bad.message
    assert bad.probabilities is None and "Traceback" not in bad.message


def test_class_names_come_from_the_manifest_or_the_caller(export_dir, tmp_path):
    assert app.Classifier.from_path(export_dir / "model.keras").class_names == ["cat", "dog"]
    shutil.copy(export_dir / "model.keras", tmp_path / "m.keras")  # no manifest beside it
    with pytest.raises(ValueError, match="--classes"):
        app.Classifier.from_path(tmp_path / "m.keras")
    assert app.Classifier.from_path(tmp_path / "m.keras", ["a", "b"]).class_names == ["a", "b"]


@pytest.mark.parametrize("name", ["model_float32.tflite", "saved_model"])
def test_other_forms_answer_alike_with_the_keras_models_grad_cam(export_dir, files, name):
    photo, _ = files
    keras_answer = app.Classifier.from_path(export_dir).answer(str(photo))
    c = app.Classifier.from_path(export_dir / name)
    assert c.class_names == ["cat", "dog"] and "Grad-CAM from model.keras" in c.source
    a = c.answer(str(photo))
    assert a.ok and a.overlay is not None
    assert a.prediction.label == keras_answer.prediction.label
    assert np.allclose(a.prediction.probabilities, keras_answer.prediction.probabilities, atol=1e-5)


def test_an_export_with_a_threshold_answers_none_of_these_and_has_its_card(ood_export_dir, files):
    photo, _ = files
    c = app.Classifier.from_path(ood_export_dir)
    assert c.ood["threshold"] == 0.99 and c.card.startswith(f"# {CARD_TITLE}\n")
    a = c.answer(str(photo))
    own = deploy.classify_file(deploy.Exported.open(ood_export_dir).load("keras"), photo,
                               ["cat", "dog"])
    assert own.confidence < 0.99  # the tiny model is unsure: below the threshold
    assert a.ok and a.prediction.unlike
    assert a.message.startswith(
        f"**None of these**: this photo is unlike the training photos (top probability "
        f"{own.confidence:.1%} < threshold 99.0%). The closest class would be: **{own.label}**")
    assert a.probabilities == pytest.approx(own.as_dict())  # still shown, unchanged
    assert a.overlay is not None
    # The same export form in a folder without a threshold: today's answer.
    plain = app.Classifier.from_path(ood_export_dir / "model.keras")
    assert plain.ood == c.ood  # the manifest beside the file counts too
    assert app.Classifier(plain.model, ["cat", "dog"]).answer(str(photo)).message.startswith(
        "Predicted: ")


@pytest.mark.parametrize("name", [".", "model_float32.tflite"])
def test_a_nearest_neighbour_export_answers_none_of_these_far_from_its_bank(
        nn_export_dir, nn_files, name, monkeypatch):
    from nbhelpers import ood

    stripes, grey = nn_files
    exported = deploy.Exported.open(nn_export_dir)
    c = app.Classifier.from_path(nn_export_dir / name)
    assert c.ood == exported.ood and c.ood["score"] == "nearest_neighbour"
    assert np.allclose(c.ood_bank, exported.ood_bank, atol=1e-7) and c.ood_bank.shape == (6, 8)
    assert c.feature_model.output_shape == (None, 8)  # built once, from the .keras model
    with monkeypatch.context() as patch:  # an upload reuses it
        patch.setattr(ood, "feature_extractor", lambda *a, **k: pytest.fail("rebuilt per upload"))
        far = c.answer(str(stripes))
        near = c.answer(str(grey))  # a grey of the bank: in distribution
    threshold = c.ood["threshold"]
    keras_model = exported.load("keras")
    image = deploy.load_image_file(stripes, SIZE)
    own = ood.nearest_neighbour(exported.ood_bank, ood.feature_extractor(keras_model, "predictions")
                                .predict(image[None], verbose=0), 1)[0]
    assert far.ok and far.prediction.unlike and far.prediction.ood_score == pytest.approx(own, abs=1e-5)
    # Measured: the stripes score about 0.85, the greys are within 0.996 of each other.
    assert own < 0.9 < 0.99 < threshold
    # Three decimals: with two the threshold would read 1.00.
    assert far.message.startswith(
        f"**None of these**: this photo is unlike the training photos (similarity to the "
        f"training photos {own:.3f} < threshold {threshold:.3f}). The closest class would be: "
        f"**{far.prediction.label}**"), far.message
    assert far.probabilities is not None and far.overlay is not None  # still shown
    assert near.ok and not near.prediction.unlike and near.message.startswith("Predicted: ")
    assert near.prediction.ood_score == pytest.approx(1.0, abs=1e-5)


def test_a_classifier_in_memory_takes_a_nearest_neighbour_record_and_its_bank(nn_export_dir,
                                                                              nn_files):
    stripes, grey = nn_files
    exported = deploy.Exported.open(nn_export_dir)
    model, record, bank = exported.load("keras"), exported.ood, exported.ood_bank
    c = app.Classifier(model, ["cat", "dog"], ood=record, ood_bank=bank)
    assert c.answer(str(stripes)).prediction.unlike and not c.answer(str(grey)).prediction.unlike
    with pytest.raises(ValueError, match="no ood_bank was given"):
        app.Classifier(model, ["cat", "dog"], ood=record)
    with pytest.raises(ValueError, match=r"ood_bank has 3 features .* gives 8"):
        app.Classifier(model, ["cat", "dog"], ood=record, ood_bank=np.ones((6, 3)))
    with pytest.raises(ValueError, match=r"only the Keras model gives"):
        app.Classifier(exported.load("tflite_float32"), ["cat", "dog"], ood=record, ood_bank=bank)
    tflite = app.Classifier(exported.load("tflite_float32"), ["cat", "dog"], model, ood=record,
                            ood_bank=bank)
    assert tflite.answer(str(stripes)).message.startswith("**None of these**")
    gr = pytest.importorskip("gradio")
    shown = [b.value for b in app.build_app(c).blocks.values() if isinstance(b, gr.Markdown)]
    assert any("similarity to the training photos is below" in str(v) for v in shown)


def test_command_line_names_the_similarity_threshold(nn_export_dir, monkeypatch, capsys):
    served = []
    monkeypatch.setattr(app, "build_app", lambda classifier: classifier)
    monkeypatch.setattr(app, "launch", lambda demo, **kw: served.append(demo) or (demo, "url"))
    assert app.main(["--model", str(nn_export_dir)]) == 0
    threshold = served[0].ood["threshold"]
    assert served[0].feature_model is not None and served[0].ood_bank.shape == (6, 8)
    assert f"'none of these' below similarity {threshold:.3f}" in capsys.readouterr().out


def test_a_damaged_bank_is_refused_when_the_app_loads_it(nn_export_dir, tmp_path, capsys):
    folder = tmp_path / "export"
    shutil.copytree(nn_export_dir, folder)
    bank = folder / "ood_bank.npy"
    raw = bytearray(bank.read_bytes())
    raw[-1] ^= 0x01  # one bit of the last feature
    bank.write_bytes(bytes(raw))
    with pytest.raises(artifacts.ArtifactError, match=r"ood_bank\.npy.*Export the model again"):
        app.Classifier.from_path(folder)
    assert app.main(["--model", str(folder)]) == 2  # the command line says why, no traceback
    assert "ood_bank.npy" in capsys.readouterr().err


def test_an_export_without_threshold_or_card_has_neither(export_dir):
    c = app.Classifier.from_path(export_dir)
    assert c.ood is None and c.card is None


def test_a_damaged_card_is_refused_when_the_app_loads_it(ood_export_dir, tmp_path, capsys):
    folder = tmp_path / "export"
    shutil.copytree(ood_export_dir, folder)
    card = folder / "MODEL_CARD.md"
    text = card.read_text()
    assert "99.0 %" in text
    card.write_text(text.replace("99.0 %", "50.0 %"))  # same length, other bytes
    with pytest.raises(artifacts.ArtifactError, match="MODEL_CARD.md"):
        app.Classifier.from_path(folder)
    assert app.main(["--model", str(folder)]) == 2  # the command line says why, no traceback
    assert "MODEL_CARD.md" in capsys.readouterr().err


def test_the_page_has_the_card_only_when_there_is_one(ood_export_dir, export_dir):
    gr = pytest.importorskip("gradio")

    def accordions(demo):
        return [b.label for b in demo.blocks.values() if isinstance(b, gr.Accordion)]

    with_card = app.build_app(app.Classifier.from_path(ood_export_dir))
    assert accordions(with_card) == ["Model card"]
    shown = [b.value for b in with_card.blocks.values() if isinstance(b, gr.Markdown)]
    assert any(CARD_TITLE in str(v) for v in shown)
    assert accordions(app.build_app(app.Classifier.from_path(export_dir))) == []


def test_command_line_picks_up_the_threshold_and_card(ood_export_dir, monkeypatch, capsys):
    served = []
    monkeypatch.setattr(app, "build_app", lambda classifier: classifier)
    monkeypatch.setattr(app, "launch", lambda demo, **kw: served.append(demo) or (demo, "url"))
    assert app.main(["--model", str(ood_export_dir)]) == 0
    assert served[0].ood["threshold"] == 0.99 and CARD_TITLE in served[0].card
    out = capsys.readouterr().out
    assert "'none of these' below 99.0%" in out and "with its model card" in out


def test_command_line_reports_a_bad_path(capsys, tmp_path):
    assert app.main(["--model", str(tmp_path / "missing.keras")]) == 2
    assert "No model at" in capsys.readouterr().err


def _upload_and_read(page, answer, path) -> str:
    """Upload ``path`` on the app's page; the answer once it has changed to a final one."""
    before = answer.inner_text()
    page.locator("#photo input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "before => { const t = document.querySelector("
        "'#answer [data-testid=markdown]').innerText;"
        " return t !== before &&"
        " /Predicted:|None of these|Not an image|Could not classify/.test(t); }",
        arg=before, timeout=60_000)
    return answer.inner_text()


def _serve(folder):
    """The app of an export folder, running on a free local port: yields its URL."""
    pytest.importorskip("gradio")
    demo = app.build_app(app.Classifier.from_path(folder))
    demo, url = app.launch(demo, share=False, port=free_port())
    yield url
    demo.close()


@pytest.fixture(scope="module")
def running_app(export_dir):
    yield from _serve(export_dir)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found: install Debian's 'chromium' "
                    "package (.ci/run does) to run the demo app's browser test")
def test_app_in_a_browser(running_app, export_dir, files):
    from playwright.sync_api import sync_playwright

    photo, text = files
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.goto(running_app, timeout=60_000)
        # The markdown itself, not the "processing" status drawn over it while it runs.
        answer = page.locator("#answer [data-testid=markdown]")
        answer.wait_for(timeout=60_000)

        shown = _upload_and_read(page, answer, photo)
        classes = page.locator("#classes").inner_text()
        overlay = page.locator("#gradcam img").count()
        page.locator("#photo button[aria-label='Clear']").click()  # the upload box returns
        refused = _upload_and_read(page, answer, text)
        browser.close()
    assert expected_answer(export_dir, photo) in shown, shown
    assert "cat" in classes and "dog" in classes
    assert overlay == 1, "the Grad-CAM overlay is not shown"
    assert "Not an image" in refused and "notes.txt" in refused, refused
    assert "Traceback" not in refused
    assert not page_errors, page_errors


@pytest.fixture(scope="module")
def running_ood_app(ood_export_dir):
    yield from _serve(ood_export_dir)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found: install Debian's 'chromium' "
                    "package (.ci/run does) to run the demo app's browser test")
def test_app_in_a_browser_says_none_of_these_and_shows_the_model_card(running_ood_app, tmp_path):
    """A picture unlike any training photo (stripes) gets "None of these"; the card opens."""
    from playwright.sync_api import sync_playwright

    stripes = np.zeros((40, 40, 3), np.uint8)
    stripes[::4] = (255, 0, 255)
    picture = tmp_path / "stripes.png"
    Image.fromarray(stripes).save(picture)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.goto(running_ood_app, timeout=60_000)
        answer = page.locator("#answer [data-testid=markdown]")
        answer.wait_for(timeout=60_000)
        page.locator("#photo input[type=file]").set_input_files(str(picture))
        page.wait_for_function(
            "() => /None of these|Predicted:|Not an image|Could not classify/.test("
            "document.querySelector('#answer [data-testid=markdown]').innerText)",
            timeout=60_000)
        shown = answer.inner_text()
        classes = page.locator("#classes").inner_text()
        closed = page.locator("#card").inner_text()
        page.locator("#card button.label-wrap").click()  # open the "Model card" section
        page.get_by_text(CARD_TITLE).wait_for(timeout=30_000)
        card = page.locator("#card").inner_text()
        browser.close()
    assert "None of these" in shown and "unlike the training photos" in shown, shown
    assert "threshold 99.0%" in shown and "The closest class would be:" in shown
    assert "cat" in classes and "dog" in classes  # the probabilities are still shown
    assert "Model card" in closed and CARD_TITLE not in closed  # collapsed at first
    assert CARD_TITLE in card and "Out-of-distribution threshold" in card, card
    assert not page_errors, page_errors


@pytest.fixture(scope="module")
def running_nn_app(nn_export_dir):
    yield from _serve(nn_export_dir)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found: install Debian's 'chromium' "
                    "package (.ci/run does) to run the demo app's browser test")
def test_app_in_a_browser_scores_by_the_nearest_training_photos(running_nn_app, nn_export_dir,
                                                                nn_files):
    """Stripes, far from the bank of greys, get "None of these"; a grey of the bank does not."""
    from playwright.sync_api import sync_playwright

    stripes, grey = nn_files
    threshold = deploy.Exported.open(nn_export_dir).ood["threshold"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.goto(running_nn_app, timeout=60_000)
        answer = page.locator("#answer [data-testid=markdown]")
        answer.wait_for(timeout=60_000)
        page.get_by_text("is answered", exact=False).first.wait_for(timeout=30_000)
        intro = page.locator("body").inner_text()

        far = _upload_and_read(page, answer, stripes)
        page.locator("#photo button[aria-label='Clear']").click()  # the upload box returns
        near = _upload_and_read(page, answer, grey)
        browser.close()
    assert f"similarity to the training photos is below {threshold:.3f}" in intro, intro
    assert "None of these" in far and "similarity to the training photos 0." in far, far
    assert f"< threshold {threshold:.3f}" in far and "The closest class would be:" in far
    assert near.startswith("Predicted:") and "None of these" not in near, near
    assert not page_errors, page_errors
