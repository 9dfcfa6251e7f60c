"""Head training: one epoch on cached features against one epoch of the end-to-end frozen model.

    python benchmarks/bench_training.py [--images 256] [--size 64] [--batch 32]

In one run on one machine, with VGG16 (random weights: the speed does not
depend on them) at the same image size and the same GAP head:

* **cached features** (the fast path of notebook 05): the base has run once;
  an epoch trains the head on the stored feature maps;
* **end to end, frozen base** (the accurate path): an epoch runs every image,
  freshly augmented, through the frozen base and the head.

Both are timed on their second epoch (the first one traces the graphs). The
one-off cost of extracting the features is reported as a second row, against
one end-to-end epoch: how many epochs it takes to pay for itself.  A third row
times notebook 10's short runs (a Flatten head, 40 images, 40 epochs, validated
every epoch) with the course's backup after every epoch against without it
(``backup=False``): what writing the weights every epoch costs a run of seconds.
Prints one markdown table row per figure; ``main()`` returns them for
``scripts/run_benchmarks.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _epoch_seconds(model, x, y=None, batch_size=32) -> float:
    """Seconds for one training epoch, after one warm-up epoch (graph tracing)."""
    kwargs = {"batch_size": batch_size} if y is not None else {"shuffle": False}  # tf.data shuffles
    model.fit(x, y, epochs=1, verbose=0, **kwargs)
    t0 = time.perf_counter()
    model.fit(x, y, epochs=1, verbose=0, **kwargs)
    return time.perf_counter() - t0


def _short_runs(cfg) -> tuple[float, float]:
    """Seconds of notebook 10's short run with the per-epoch backup and without (second of two)."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from nbhelpers import training

    rng = np.random.default_rng(1)
    train = training.Features(rng.normal(size=(40, 5, 5, 512)).astype("float32"),
                              np.arange(40) % 2)
    val = training.Features(rng.normal(size=(100, 5, 5, 512)).astype("float32"),
                            np.arange(100) % 2)
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        cfg = dataclasses.replace(cfg, artifacts_dir=Path(tmp) / "artifacts",
                                  cache_dir=Path(tmp) / "cache")
        for backup in (True, False, True, False):  # the second of each: warm
            t0 = time.perf_counter()
            training.train_head_on_features(train, val, cfg, head="flatten", dropout=0.0,
                                            epochs=40, name=f"bench-{backup}", seed=0,
                                            patience=None, checkpoint=False, backup=backup,
                                            verbose=0)
            seconds[backup] = time.perf_counter() - t0
    return seconds[True], seconds[False]


def main(images: int = 256, size: int = 64, batch: int = 32) -> list[dict]:
    import keras
    import tensorflow as tf

    import nbhelpers as nbh
    from nbhelpers import models, training

    cfg = nbh.setup("offline", quiet=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (images, size, size, 3)).astype("float32")
    y = (np.arange(images) % 2).astype("int32")

    keras.utils.set_random_seed(0)
    base_model = models.load_backbone("vgg16", weights=None, input_shape=(size, size, 3))
    model = models.build_classifier(base_model, head="gap", num_classes=2)
    training.compile_model(model, 1e-3)
    aug = nbh.data.augmentation(cfg)
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(images, seed=0).batch(batch)
          .map(lambda a, b: (aug(a, training=True), b)).prefetch(tf.data.AUTOTUNE))
    end_to_end = _epoch_seconds(model, ds)

    t0 = time.perf_counter()
    features = np.concatenate([np.asarray(base_model(x[i:i + batch], training=False))
                               for i in range(0, images, batch)])
    extract = time.perf_counter() - t0
    head = models.build_head(features.shape[1:], head="gap", num_classes=2)
    training.compile_model(head, 1e-3)
    cached = _epoch_seconds(head, features, y, batch)

    backed, plain = _short_runs(cfg)
    where = f"VGG16 at {size} px, {images} images, batch {batch}"
    return [
        {"benchmark": "40-epoch Flatten-head run: backup after every epoch vs none",
         "ratio": backed / plain,
         "detail": f"5x5x512 features, 40 training and 100 validation images: {backed:.2f} s "
                   f"vs {plain:.2f} s"},
        {"benchmark": "head epoch: end-to-end frozen (augmented) vs cached features",
         "ratio": end_to_end / cached,
         "detail": f"{where}: {end_to_end:.2f} s vs {cached:.3f} s per epoch"},
        {"benchmark": "feature extraction (once) vs one end-to-end epoch",
         "ratio": extract / end_to_end,
         "detail": f"{where}: {extract:.2f} s vs {end_to_end:.2f} s"},
    ]


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    rows = main(args.images, args.size, args.batch)
    print("| benchmark | ratio | detail |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['benchmark']} | {row['ratio']:.1f}x | {row['detail']} |")
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
