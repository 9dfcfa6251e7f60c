"""Export forms against the Keras model: size, latency per image and agreement, in one run.

    python benchmarks/bench_export.py [--size 64] [--latency-images 16]

Notebook 11's table (``nbhelpers.deploy.compare_exports``) as ratios against the Keras
model, measured in one run on one machine: VGG16 with a GAP head (random weights -- sizes
and speeds do not depend on them; agreement does, so it is a check that each conversion
computes the same function, not a statement about a trained model), at ``--size`` px,
exported by ``nbh.deploy.export_all`` to every form, then

* **size** on disk / the ``.keras`` file's,
* **latency** per image, one image at a time (median, after a warm-up) / Keras's,
* **agreement**: the share of test images (the offline data set, scikit-image faces)
  whose top-1 answer is the Keras model's (a share, not a ratio; 1.00 = all agree).

The int8 form is calibrated on 100 training images.  ``main()`` returns the rows for
``scripts/run_benchmarks.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TQDM_DISABLE", "1")


def main(size: int = 64, latency_images: int = 16) -> list[dict]:
    import keras

    import nbhelpers as nbh
    from nbhelpers import data, deploy, models

    cfg = nbh.setup("offline", quiet=True)
    prepared = data.prepare(cfg, verbose=False)
    x_train, y_train = data.load_split(prepared, "train", cfg)
    x_test, y_test = data.load_split(prepared, "test", cfg)
    if size != cfg.image_size:  # the split at another size: resize the arrays the same way
        import tensorflow as tf

        def resize(x):
            return tf.image.resize(x, (size, size), antialias=True).numpy()

        x_train, x_test = resize(x_train), resize(x_test)
    keras.utils.set_random_seed(0)
    base = models.load_backbone("vgg16", weights=None, input_shape=(size, size, 3))
    model = models.build_classifier(base, head="gap", num_classes=len(prepared.class_names))
    sample = deploy.representative_sample(x_train, y_train, n=100, seed=0)
    with tempfile.TemporaryDirectory() as folder:
        exported = deploy.export_all(model, folder, prepared.class_names, cfg, representative=sample)
        table = deploy.compare_exports(model, exported, x_test, y_test,
                                       latency_images=latency_images)
    keras_row = table.set_index("form").loc["keras"]
    rows = []
    for _, r in table.iterrows():
        if r["form"] == "keras":
            continue
        base_detail = (f"VGG16+GAP, {size}px, random weights; {r['runtime']}; "
                       f"keras {keras_row['size_mb']:.1f} MB, {keras_row['latency_ms']:.1f} ms/image")
        rows.append({"benchmark": f"{r['form']}: size / keras size", "ratio": r["size_ratio"],
                     "detail": f"{r['size_mb']:.1f} MB; {base_detail}"})
        rows.append({"benchmark": f"{r['form']}: latency / keras latency",
                     "ratio": r["latency_ratio"],
                     "detail": f"{r['latency_ms']:.2f} ms/image, one image at a time, median of "
                               f"{latency_images}; {base_detail}"})
        rows.append({"benchmark": f"{r['form']}: top-1 agreement with keras (share)",
                     "ratio": r["agreement"],
                     "detail": f"{len(y_test)} test images (faces), largest probability change "
                               f"{r['max_prob_diff']:.3f}"})
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--latency-images", type=int, default=16)
    args = ap.parse_args()
    print("| benchmark | ratio | detail |")
    print("|---|---|---|")
    for row in main(args.size, args.latency_images):
        print(f"| {row['benchmark']} | {row['ratio']:.2f}x | {row['detail']} |")
    sys.exit(0)
