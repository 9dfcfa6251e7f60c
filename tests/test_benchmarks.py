"""The benchmarks still run against today's nbhelpers (they are not timed here: tiny sizes).

A refactor once left bench_rehearsal calling a removed ``config.Resolution``; nothing
ran it until a rehearsal needed its numbers.  These smoke runs catch that at once.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_rehearsal_reports_the_epochs_in_units_with_and_without_the_block4_cache():
    rows = _load("bench_rehearsal").main(images=4, size=32, batch=4, rounds=1)
    names = [r["benchmark"] for r in rows]
    for kind in ("frozen end-to-end epoch", "fine-tuning epoch (block5", "from-scratch epoch",
                 "fine-tuning epoch above the block-4 cache", "block-4 cache: blocks 1-4",
                 "fine-tuning epoch: end to end (augmented) / above"):
        assert any(n.startswith(kind) for n in names), names
    assert all(r["ratio"] > 0 and "1 unit = " in r["detail"] for r in rows[:6])


def test_bench_real_reads_the_values_the_real_network_tests_print():
    bench = _load("bench_real")
    out = ("....\nREAL Grad-CAM share on its own object: {'cat': 0.929, 'cup': 0.876}\n"
           "REAL randomisation (step, randomised, method, spearman): [{'step': 0, 'randomised': "
           "'(none)', 'method': 'gradcam', 'spearman': 1.0}, {'step': 1, 'randomised': 'logits', "
           "'method': 'gradcam', 'spearman': nan}]\n12 passed\n")
    rows = bench.rows_from(bench.measured(out))
    assert [r["benchmark"] for r in rows] == [
        "Grad-CAM share on its own object: cat", "Grad-CAM share on its own object: cup",
        "randomisation: gradcam Spearman after step 1 (randomised logits)"]
    assert rows[0]["ratio"] == 0.929 and "EfficientNet-Lite0" in rows[0]["detail"]
    assert rows[2]["ratio"] != rows[2]["ratio"]  # NaN: a constant map, reported as it is


def test_bench_real_reads_per_seed_tuples_and_tables():
    bench = _load("bench_real")
    out = ("REAL flips (recall, precision per seed): [(0.9, 0.78), (0.95, 0.76)]\n"
           "REAL pairs: [{'split_a': 'train', 'index_a': 7, 'distance': 0.0034}]\n")
    rows = bench.rows_from(bench.measured(out))
    assert [(r["benchmark"], r["ratio"]) for r in rows] == [
        ("flips (recall, precision per seed): seed 0, first value", 0.9),
        ("flips (recall, precision per seed): seed 1, first value", 0.95),
        ("pairs: rows", 1.0)]


def test_merging_replaces_only_the_named_scripts_rows(tmp_path, monkeypatch):
    import run_benchmarks

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n- Date: d\n- Machine: m\n\n| script | benchmark | ratio "
                       "| detail |\n|---|---|---:|---|\n| bench_a.py | a | 1.00x | old |\n"
                       "| bench_real.py | r | 0.50x | old |\n")
    monkeypatch.setattr(run_benchmarks, "BENCH", tmp_path)
    rows = [{"script": "bench_real.py", "benchmark": "r", "ratio": 0.9, "detail": "new"}]
    assert run_benchmarks.merge_rows(rows, {"bench_real"}, "today") == 0
    text = results.read_text()
    assert "| bench_a.py | a | 1.00x | old |" in text and "| bench_real.py | r | 0.90x | new |" in text
    assert "0.50x" not in text and "- Rows of bench_real.py: measured today" in text


def test_bench_rehearsal_reports_each_notebooks_recorded_units_and_the_series(tmp_path):
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"cpu": {
        "05_x": {"units": 20.0, "seconds": 100.0, "unit_seconds": 5.0, "standins": True,
                 "commit": "abc1234", "date": "2026-12-07"},
        "06_y": {"units": 30.5, "seconds": 152.5, "unit_seconds": 5.0, "standins": True},
        "07_z": {"seconds": 10.0}}}))  # no units: not a rehearsal's row
    rows = _load("bench_rehearsal").notebook_rows(timings)
    assert [(r["benchmark"].split(":")[0], r["ratio"]) for r in rows] == [
        ("05_x", 20.0), ("06_y", 30.5), ("the series", 50.5)]
    assert "100.0 s, 1 unit = 5.00 s; commit abc1234, 2026-12-07" == rows[0]["detail"]
    assert _load("bench_rehearsal").notebook_rows(tmp_path / "none.json") == []


def test_bench_training_reports_what_the_per_epoch_backup_costs_a_short_run():
    rows = _load("bench_training").main(images=8, size=32, batch=4)
    backup = next(r for r in rows if r["benchmark"].startswith("40-epoch Flatten-head run"))
    assert backup["ratio"] > 0 and "s vs" in backup["detail"]  # a timing: no bound in a test
    assert len(rows) == 3 and all(r["ratio"] > 0 for r in rows)
