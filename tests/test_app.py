"""The demo app (nbhelpers.app) in a real browser: upload a photo, read the answer.

The app is started in this process on a free local port (Gradio's server runs in a
thread) around a small CNN saved to ``.keras`` (``deploy.tiny_classifier``), and driven
from Debian's headless Chromium with Playwright, as ``test_browser.py`` drives JupyterLab.
The page's answer must be the model's own prediction for that file; a text file must
get a message in the page.  Skipped, with the reason, when Chromium or Gradio is missing.
The ``Classifier.answer`` tests below need neither.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS, free_port
from PIL import Image

from nbhelpers import app, deploy
from nbhelpers import config as nbh_config
from nbhelpers import explain as ex

SIZE = 24



@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app-export")
    deploy.export_all(deploy.tiny_classifier(SIZE, seed=1), folder, ["cat", "dog"],
                      nbh_config.make_config("offline"), forms=["keras", "tflite_float32"])
    return folder


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


def test_command_line_reports_a_bad_path(capsys, tmp_path):
    assert app.main(["--model", str(tmp_path / "missing.keras")]) == 2
    assert "No model at" in capsys.readouterr().err


@pytest.fixture(scope="module")
def running_app(export_dir):
    pytest.importorskip("gradio")
    demo = app.build_app(app.Classifier.from_path(export_dir))
    demo, url = app.launch(demo, share=False, port=free_port())
    yield url
    demo.close()


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

        def upload_and_read(path) -> str:
            before = answer.inner_text()
            page.locator("#photo input[type=file]").set_input_files(str(path))
            page.wait_for_function(
                "before => { const t = document.querySelector("
                "'#answer [data-testid=markdown]').innerText;"
                " return t !== before && /Predicted:|Not an image|Could not classify/.test(t); }",
                arg=before, timeout=60_000)
            return answer.inner_text()

        shown = upload_and_read(photo)
        classes = page.locator("#classes").inner_text()
        overlay = page.locator("#gradcam img").count()
        page.locator("#photo button[aria-label='Clear']").click()  # the upload box returns
        refused = upload_and_read(text)
        browser.close()
    assert expected_answer(export_dir, photo) in shown, shown
    assert "cat" in classes and "dog" in classes
    assert overlay == 1, "the Grad-CAM overlay is not shown"
    assert "Not an image" in refused and "notes.txt" in refused, refused
    assert "Traceback" not in refused
    assert not page_errors, page_errors
