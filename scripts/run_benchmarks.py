"""`make bench`: run every benchmarks/bench_*.py and rewrite benchmarks/RESULTS.md.

Each benchmark module has `main() -> list[dict]` returning rows
{"benchmark": str, "ratio": float, "detail": str}. Ratios are measured within one
run on one machine, so they compare like with like; absolute times are only detail.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def machine() -> str:
    try:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
        tfv = tf.__version__
    except ImportError:
        gpus, tfv = 0, "missing"
    return (f"{platform.platform()}, {os.cpu_count()} CPU cores, {gpus} GPU(s), "
            f"Python {platform.python_version()}, TensorFlow {tfv}")


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MPLBACKEND", "Agg")
    only = set(argv)
    rows, failures = [], []
    for path in sorted(BENCH.glob("bench_*.py")):
        if only and path.stem not in only:
            continue
        print(f"running {path.name} ...", flush=True)
        start = time.perf_counter()
        try:
            for row in load(path).main():
                rows.append({"script": path.name, **row})
                print(f"  {row['benchmark']}: {row['ratio']:.2f}x  ({row['detail']})", flush=True)
        except Exception:
            failures.append(path.name)
            traceback.print_exc()
        print(f"  ({time.perf_counter() - start:.1f} s)")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (scripts/run_benchmarks.py). Each figure is a ratio of two",
        "measurements taken in the same run on the same machine; the detail column gives",
        "the absolute numbers behind it.",
        "",
        f"- Date: {when}",
        f"- Machine: {machine()}",
        "",
        "| script | benchmark | ratio | detail |",
        "|---|---|---:|---|",
        *[f"| {r['script']} | {r['benchmark']} | {r['ratio']:.2f}x | {r['detail']} |" for r in rows],
    ]
    if failures:
        lines += ["", f"Failed: {', '.join(failures)}"]
    if not only:
        (BENCH / "RESULTS.md").write_text("\n".join(lines) + "\n")
        print(f"wrote {BENCH / 'RESULTS.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
