"""The benchmarks still run against today's nbhelpers (they are not timed here: tiny sizes).

A refactor once left bench_rehearsal calling a removed ``config.Resolution``; nothing
ran it until a rehearsal needed its numbers.  These smoke runs catch that at once.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_rehearsal_reports_the_three_epochs_in_units():
    rows = _load("bench_rehearsal").main(images=4, size=32, batch=4, rounds=1)
    names = [r["benchmark"] for r in rows]
    for kind in ("frozen end-to-end epoch", "fine-tuning epoch", "from-scratch epoch"):
        assert any(n.startswith(kind) for n in names), names
    assert all(r["ratio"] > 0 and "1 unit = " in r["detail"] for r in rows[:3])
