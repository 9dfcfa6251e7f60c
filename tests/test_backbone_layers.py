"""Grad-CAM and SHAP explain the layers of the backbone table, on every backbone.

The last ``Conv2D`` of a model is not the feature map its backbone outputs: in ResNet50
it is ``conv5_block3_3_conv`` (before batch norm, on the residual branch only), in
MobileNetV2 ``Conv_1``, in EfficientNetB0 ``top_conv``; and SHAP's gradient explainer
must cut the model at a layer connected to its inputs (ResNet50's block outputs).
``explain.default_layers`` takes both layers from ``models.BACKBONES`` (one fact), and
both methods run on every backbone.  Random weights: only the layer choice and the
plumbing are checked here; tests/test_real_network.py checks the maps on real weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from nbhelpers import deploy, models
from nbhelpers import explain as ex

SIZE = 32


@pytest.fixture(scope="module", params=list(models.BACKBONES))
def classifier(request):
    base = models.load_backbone(request.param, weights=None, input_shape=(SIZE, SIZE, 3))
    classifier = models.build_classifier(base, head="gap", num_classes=3)
    classifier.base_layers = [layer.name for layer in base.layers]
    return request.param, classifier


@pytest.mark.slow
def test_default_layers_are_the_tables(classifier):
    name, model = classifier
    spec = models.BACKBONES[name]
    assert ex.default_layers(model) == {"gradcam": spec.last_conv,
                                        "shap_gradient": spec.mid_feature_map}
    assert models.LAST_CONV[name] == spec.last_conv
    # Grad-CAM's layer is what the backbone outputs (VGG16: before its last pooling), not a
    # convolution inside its last block.
    after = model.base_layers[model.base_layers.index(spec.last_conv) + 1:]
    assert all("pool" in layer for layer in after), after


@pytest.mark.slow
def test_backbone_of_tells_every_backbone_apart(classifier):
    """EfficientNetB0 and Lite0 share their layer names but for squeeze-and-excitation."""
    name, model = classifier
    assert models.backbone_of(model) == name


@pytest.mark.slow
def test_gradcam_and_shap_gradient_run_on_every_backbone(classifier):
    name, model = classifier
    image = np.random.default_rng(0).uniform(0, 255, (SIZE, SIZE, 3)).astype("float32")
    cam = ex.explain_gradcam(model, image, target=1)
    assert cam.settings["layer"] == models.BACKBONES[name].last_conv
    assert cam.attribution.shape == (SIZE, SIZE)
    shap = ex.explain_shap_gradient(model, image, target=2, nsamples=4,
                                    background=np.stack([image * 0.5, image * 0.25]))
    assert shap.settings["layer"] == models.BACKBONES[name].mid_feature_map
    # One stage earlier than Grad-CAM's: twice as fine a grid.
    assert shap.settings["layer_grid"] == tuple(2 * n for n in cam.settings["layer_grid"])
    assert np.isfinite(shap.attribution).all()


@pytest.mark.slow
def test_classify_file_explains_the_tables_layer(classifier, tmp_path):
    from PIL import Image

    name, model = classifier
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 50, 3), 120, np.uint8)).save(path)
    pred = deploy.classify_file(model, path, ["a", "b", "c"], gradcam=True)
    assert pred.explanation.settings["layer"] == models.BACKBONES[name].last_conv
