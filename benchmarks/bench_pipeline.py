"""Input pipeline: tf.data (parallel decode, cache, prefetch) against a plain PIL loop.

    python benchmarks/bench_pipeline.py [--images 300] [--size 160]

Writes a folder of synthetic JPEG photos (500 x 375, like the cats-vs-dogs
images) to a temporary directory, then, in one run on one machine, measures
images per second for

* a plain Python loop: PIL open -> RGB -> resize -> NumPy, one image at a time;
* ``nbhelpers.data.dataset``: parallel ``tf.io`` decoding + resizing, batching and
  prefetching, first epoch (decodes everything, fills the cache);
* the same pipeline's second epoch (reads the cache of decoded images).

Prints one markdown table row per figure; ``main()`` returns them for
``scripts/run_benchmarks.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_photos(root: Path, n: int, seed: int = 0) -> None:
    """``n`` smooth, photo-like JPEGs split over two class folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = 375, 500
    yy, xx = np.mgrid[0:h, 0:w].astype("float32")
    for i in range(n):
        cls = "a" if i % 2 else "b"
        fx, fy, phase = rng.uniform(0.005, 0.05, 2).tolist() + [rng.uniform(0, 6.3)]
        base = np.sin(xx * fx + phase) + np.cos(yy * fy)
        img = np.stack([base * rng.uniform(40, 90) + rng.uniform(60, 190) for _ in range(3)], -1)
        img += rng.normal(0, 12, img.shape)
        path = root / cls / f"{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=88)


def pil_loop(paths: list[Path], size: int, batch: int) -> float:
    """Images per second for one-at-a-time PIL loading, stacked into batches."""
    from nbhelpers import data

    t0 = time.perf_counter()
    for start in range(0, len(paths), batch):
        np.stack([data.read_image(p, size).astype("float32") for p in paths[start:start + batch]])
    return len(paths) / (time.perf_counter() - t0)


def main(images: int = 300, size: int = 160) -> list[dict]:
    import nbhelpers as nbh
    from nbhelpers import data

    cfg = nbh.setup("offline", quiet=True, overrides={"image_size": size, "batch_size": 32})
    with tempfile.TemporaryDirectory(prefix="nbh-bench-") as tmp:
        root = Path(tmp)
        write_photos(root, images)
        prepared = data.prepare(cfg, root, val_fraction=0.05, test_fraction=0.05,
                                max_images_per_class=None, verbose=False)
        paths = [p for p, _ in prepared.train]
        # Warm up both paths once (imports, TF graph tracing) on a few images.
        pil_loop(paths[:8], size, 8)
        data.throughput(data.dataset(prepared, "val", cfg, training=False), epochs=1)

        pil = pil_loop(paths, size, cfg.batch_size)
        plain = data.throughput(
            data.dataset(prepared, "train", cfg, cache=False, prefetch=False, parallel=False),
            epochs=1)[0]
        first, cached = data.throughput(data.dataset(prepared, "train", cfg), epochs=2)
    n = len(paths)
    cores = os.cpu_count()
    return [
        {"benchmark": "tf.data parallel decode + prefetch (1st epoch) vs PIL loop",
         "ratio": first / pil,
         "detail": f"{first:,.0f} vs {pil:,.0f} images/s; {n} JPEGs 500x375 -> {size}px, "
                   f"{cores} cores"},
        {"benchmark": "tf.data cached epoch vs PIL loop",
         "ratio": cached / pil,
         "detail": f"{cached:,.0f} vs {pil:,.0f} images/s (decoded images read from the cache)"},
        {"benchmark": "tf.data sequential, no cache/prefetch vs PIL loop",
         "ratio": plain / pil,
         "detail": f"{plain:,.0f} vs {pil:,.0f} images/s (tf.io decode alone)"},
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", type=int, default=160)
    args = parser.parse_args()
    print("| benchmark | ratio | detail |\n|---|---:|---|")
    for row in main(args.images, args.size):
        print(f"| {row['benchmark']} | {row['ratio']:.2f}x | {row['detail']} |")
    sys.exit(0)
