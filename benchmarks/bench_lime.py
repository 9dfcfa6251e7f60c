"""LIME's cost: our batched predict function against lime's default batching, equal samples.

lime's ``explain_instance`` hands the classifier ``batch_size=10`` perturbed
images at a time by default, and tutorials pass ``model.predict`` as the
classifier.  ``nbhelpers.explain.explain_lime`` hands over all perturbed images
at once and runs the model directly in chunks of 64.  Same model (VGG16 at the
offline profile's 64 px, random weights), same image, same seed, same
``num_samples``: the explanations are identical, only the time differs.

Run: ``.venv/bin/python benchmarks/bench_lime.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TQDM_DISABLE", "1")

NUM_SAMPLES = 100
IMAGE_SIZE = 64


def _model():
    import keras

    from nbhelpers import models

    keras.utils.set_random_seed(0)
    base = models.load_backbone("vgg16", weights=None, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    return models.build_classifier(base, head="gap", num_classes=2)


def _lime_seconds(model, image, batch_size: int, predict) -> tuple[float, object]:
    from lime import lime_image

    from nbhelpers import explain as ex

    segments = ex.segment(image, "quickshift", seed=0)
    explainer = lime_image.LimeImageExplainer(random_state=0)
    t0 = time.perf_counter()
    result = explainer.explain_instance(image / 255.0, predict, labels=(1,), top_labels=None,
                                        num_samples=NUM_SAMPLES, batch_size=batch_size,
                                        segmentation_fn=lambda _x: segments, random_seed=0)
    return time.perf_counter() - t0, result


def main() -> list[dict]:
    import numpy as np

    from nbhelpers import explain as ex

    model = _model()
    image = ex.toy_images(1, IMAGE_SIZE)[0]
    batched = ex.predict_function(model, batch_size=64, scale=255.0)

    def tutorial_predict(x):  # what tutorials pass: model.predict, sigmoid turned into two columns
        p = model.predict(np.asarray(x, "float32") * 255.0, verbose=0)
        return np.concatenate([1 - p, p], axis=1)

    _lime_seconds(model, image, NUM_SAMPLES, batched)  # warm-up: tracing, first-call costs
    _lime_seconds(model, image, 10, tutorial_predict)
    ours, r_ours = _lime_seconds(model, image, NUM_SAMPLES, batched)
    default_same_fn, r_same = _lime_seconds(model, image, 10, batched)
    tutorial, _ = _lime_seconds(model, image, 10, tutorial_predict)
    a, b = dict(r_ours.local_exp[1]), dict(r_same.local_exp[1])
    same = sorted(a) == sorted(b) and all(abs(a[k] - b[k]) < 1e-4 for k in a)
    return [
        {"benchmark": f"LIME batched predict vs lime's batch_size=10, same predict fn ({NUM_SAMPLES} samples)",
         "ratio": default_same_fn / ours,
         "detail": f"{default_same_fn:.2f} s vs {ours:.2f} s, VGG16 {IMAGE_SIZE} px; same LIME weights: {same}"},
        {"benchmark": f"LIME batched predict vs batch_size=10 with model.predict ({NUM_SAMPLES} samples)",
         "ratio": tutorial / ours,
         "detail": f"{tutorial:.2f} s vs {ours:.2f} s, VGG16 {IMAGE_SIZE} px"},
    ]


if __name__ == "__main__":
    print("| benchmark | ratio | detail |")
    print("|---|---|---|")
    for row in main():
        print(f"| {row['benchmark']} | {row['ratio']:.2f}x | {row['detail']} |")
