"""`make bench`: run every benchmarks/bench_*.py and rewrite benchmarks/RESULTS.md.

Each benchmark module has `main() -> list[dict]` returning rows
{"benchmark": str, "ratio": float, "detail": str}. Ratios are measured within one
run on one machine, so they compare like with like; absolute times are only detail.

    python scripts/run_benchmarks.py                     # all, rewrite RESULTS.md
    python scripts/run_benchmarks.py bench_real          # some, print only
    python scripts/run_benchmarks.py --merge bench_real  # some, replace their rows in RESULTS.md
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
    merge = "--merge" in argv
    only = {a for a in argv if a != "--merge"}
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
    if merge and only and not failures:
        return merge_rows(rows, only, when)
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


def merge_rows(rows: list[dict], scripts: set[str], when: str) -> int:
    """Replace the rows of ``scripts`` in RESULTS.md by ``rows``; say when they were measured."""
    path = BENCH / "RESULTS.md"
    names = {f"{s}.py" for s in scripts}
    kept = [ln for ln in path.read_text().splitlines()
            if not any(ln.startswith(f"| {n} |") for n in names)
            and not any(ln.startswith(f"- Rows of {n}:") for n in names)]
    at = next(i for i, ln in enumerate(kept) if ln.startswith("- Machine:")) + 1
    notes = [f"- Rows of {n}: measured {when} on {machine()} (`--merge`)" for n in sorted(names)]
    kept[at:at] = notes
    kept += [f"| {r['script']} | {r['benchmark']} | {r['ratio']:.2f}x | {r['detail']} |" for r in rows]
    path.write_text("\n".join(kept) + "\n")
    print(f"merged {len(rows)} rows into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
