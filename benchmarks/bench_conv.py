"""How much faster is the vectorized conv2d than the loop, and how far is it from TensorFlow?

Notebook 01 shows both implementations of ``nbhelpers.conv``; this script measures, in
one run on one machine, the two ratios it quotes:

* speed-up of ``conv.conv2d`` (sliding windows + one contraction) over ``conv.conv2d_loop``
  on a small layer (the loop is too slow for more);
* time of ``conv.conv2d`` divided by the time of ``tf.nn.conv2d`` on a VGG-sized layer
  slice (how much an optimised library still gains over NumPy).

Each time is the best of several repeats after a warm-up, and outputs are checked to agree
before anything is timed.  Run ``python benchmarks/bench_conv.py`` (or ``make bench``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_time(fn: Callable[[], object], repeats: int, min_total: float = 0.0) -> float:
    """Best wall time of `repeats` calls (after one warm-up), in seconds."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_total:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> list[dict]:
    import tensorflow as tf

    from nbhelpers import conv

    rng = np.random.default_rng(0)
    rows = []

    # 1. vectorized vs loop: one 24x24 image, 8 -> 8 channels, 3x3, 'same'
    x = rng.normal(size=(1, 24, 24, 8)).astype("float32")
    k = rng.normal(size=(3, 3, 8, 8)).astype("float32")
    y_loop = conv.conv2d_loop(x, k, padding="same")
    y_vec = conv.conv2d(x, k, padding="same")
    assert np.abs(y_loop - y_vec).max() < 1e-3
    t_loop = best_time(lambda: conv.conv2d_loop(x, k, padding="same"), repeats=2)
    t_vec = best_time(lambda: conv.conv2d(x, k, padding="same"), repeats=20, min_total=0.2)
    rows.append({
        "benchmark": "conv2d vectorized speed-up over the loop",
        "ratio": t_loop / t_vec,
        "detail": f"x {x.shape}, kernel {k.shape}, same: loop {t_loop * 1e3:.1f} ms, "
                  f"vectorized {t_vec * 1e3:.3f} ms",
    })

    # 2. vectorized vs TensorFlow: a batch of 4, 56x56, 64 -> 64 channels (VGG16 block2-like)
    x = rng.normal(size=(4, 56, 56, 64)).astype("float32")
    k = rng.normal(size=(3, 3, 64, 64)).astype("float32") * 0.05
    y_vec = conv.conv2d(x, k, padding="same")
    y_tf = tf.nn.conv2d(x, k, 1, "SAME").numpy()
    assert np.abs(y_vec - y_tf).max() < 1e-3
    t_vec = best_time(lambda: conv.conv2d(x, k, padding="same"), repeats=3)
    t_tf = best_time(lambda: tf.nn.conv2d(x, k, 1, "SAME").numpy(), repeats=5)
    rows.append({
        "benchmark": "conv2d vectorized time / tf.nn.conv2d time",
        "ratio": t_vec / t_tf,
        "detail": f"x {x.shape}, kernel {k.shape}, same: vectorized {t_vec * 1e3:.1f} ms, "
                  f"tf.nn.conv2d {t_tf * 1e3:.1f} ms ({tf.config.list_physical_devices()[-1].device_type})",
    })
    return rows


if __name__ == "__main__":
    print("| benchmark | ratio | detail |")
    print("|---|---|---|")
    for row in main():
        print(f"| {row['benchmark']} | {row['ratio']:.1f}x | {row['detail']} |")
