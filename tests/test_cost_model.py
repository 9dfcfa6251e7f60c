"""CI's estimate of each notebook's cost at the cpu profile's full budgets (scripts/cost_model.py)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import cost_model  # noqa: E402
import nbtools  # noqa: E402
import rehearse  # noqa: E402
import run_course  # noqa: E402

START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def executed(cells: list[tuple[str, float]], outside: float = 1.0, ok: bool = True) -> dict:
    """An executed notebook whose code cells (source, seconds) ran one after the other."""
    out, t = [], START
    for source, seconds in cells:
        end = t + timedelta(seconds=seconds)
        out.append({"cell_type": "code", "source": source, "metadata": {"execution": {
            "iopub.execute_input": t.isoformat().replace("+00:00", "Z"),
            "shell.execute_reply": end.isoformat().replace("+00:00", "Z")}}})
        t = end
    nb = {"cells": out, "metadata": {}}
    code = run_course.cells_digest(out)
    nb["metadata"]["nbhelpers_run"] = {"seconds": sum(s for _, s in cells) + outside,
                                       "ok": ok, "code": code}
    return nb


def write_run(folder: Path, notebooks: dict[str, dict], unit: float,
              overrides: str | None = rehearse.CI_OVERRIDES) -> Path:
    (folder / "executed").mkdir(parents=True)
    for stem, nb in notebooks.items():
        (folder / "executed" / f"{stem}.ipynb").write_text(json.dumps(nb))
    (folder / "timings.json").write_text(json.dumps({"unit": {"unit_seconds": unit},
                                                     "overrides": overrides}))
    return folder


# A notebook: imports (no budget), a LIME-like cell (grows 5x), training (grows 30x).
CELLS_CI = [("import numpy", 2.0), ("explain(lime_samples)", 4.0), ("fit(epochs)", 2.0)]
CELLS_FULL = [("import numpy", 2.0), ("explain(lime_samples)", 20.0), ("fit(epochs)", 60.0)]


def calibrated(tmp_path: Path, unit_full: float = 2.0, unit_ci: float = 1.0):
    full_nb = executed(CELLS_FULL)
    full = write_run(tmp_path / "full", {"08_x": full_nb}, unit_full, overrides=None)
    ci = write_run(tmp_path / "ci", {"08_x": executed(CELLS_CI)}, unit_ci)
    seconds = full_nb["metadata"]["nbhelpers_run"]["seconds"]
    timings = {"cpu": {"08_x": {"units": round(seconds / unit_full, 1), "unit_seconds": unit_full,
                                "code": full_nb["metadata"]["nbhelpers_run"]["code"]}}}
    model, skipped = cost_model.calibrate(full, ci, timings, rehearse.CI_OVERRIDES)
    return model, timings, skipped


def test_cell_seconds_keys_repeated_sources_apart_and_counts_the_time_outside():
    nb = executed([("demo.close()", 1.0), ("x = 1", 2.0), ("demo.close()", 3.0)], outside=0.5)
    times = cost_model.cell_seconds(nb)
    assert sorted(times.values()) == [0.5, 1.0, 2.0, 3.0]
    assert len([k for k in times if k.endswith("#2")]) == 1
    assert times[cost_model.OUTSIDE] == pytest.approx(0.5)


def test_the_estimate_of_the_calibration_run_itself_is_the_full_measurement(tmp_path):
    model, timings, skipped = calibrated(tmp_path)
    assert not skipped
    entry = model["notebooks"]["08_x"]
    # ratios in units: full cell seconds / 2 s against CI cell seconds / 1 s
    assert sorted(entry["cells"].values()) == [0.5, 2.5, 15.0]
    rows, failures = cost_model.check(tmp_path / "ci", complete=True, model=model, timings=timings)
    assert failures == []
    (row,) = rows
    # (2*0.5 + 4*2.5 + 2*15) + 1 s outside at unit 1 = 42.0; the full run: 83 s / 2 s = 41.5
    assert row["estimate"] == pytest.approx(42.0)
    assert row["recorded"] == pytest.approx(41.5)


def test_ci_fails_a_notebook_that_became_slower_than_its_budget(tmp_path):
    model, timings, _ = calibrated(tmp_path)
    # The same code, but the library under the training cell became 2.5x slower: CI's
    # small-budget run sees 5 s instead of 2, and the estimate scales it by that cell's 15x.
    slower = executed([("import numpy", 2.0), ("explain(lime_samples)", 4.0), ("fit(epochs)", 5.0)])
    write_run(tmp_path / "ci-slower", {"08_x": slower}, 1.0)
    rows, failures = cost_model.check(tmp_path / "ci-slower", complete=True, model=model,
                                      timings=timings)
    assert rows[0]["estimate"] == pytest.approx(87.0)
    assert rows[0]["estimate"] > rehearse.BUDGET_NOTEBOOK
    assert any(f.startswith("08_x: about 87.0 units") for f in failures)
    assert any("the series" in f for f in failures) == (87.0 > rehearse.BUDGET_SERIES)


def test_a_new_cell_takes_its_notebooks_ratio_and_the_machine_speed_cancels(tmp_path):
    model, timings, _ = calibrated(tmp_path)
    ratio = model["notebooks"]["08_x"]["ratio"]
    # A machine twice as slow (unit 2 s): every time doubles, the estimate does not move.
    twice = executed([(s, 2 * t) for s, t in CELLS_CI] + [("new_cell()", 2.0)], outside=2.0)
    write_run(tmp_path / "ci-slow-machine", {"08_x": twice}, 2.0)
    rows, _ = cost_model.check(tmp_path / "ci-slow-machine", complete=True, model=model,
                               timings=timings)
    assert rows[0]["new_cells"] == 1
    assert rows[0]["estimate"] == pytest.approx(42.0 + 1.0 * ratio, abs=0.1)


def test_other_budgets_and_missing_calibrations_fail_instead_of_estimating(tmp_path):
    model, timings, _ = calibrated(tmp_path)
    write_run(tmp_path / "other", {"08_x": executed(CELLS_CI)}, 1.0, overrides="head_epochs=1")
    _, failures = cost_model.check(tmp_path / "other", complete=True, model=model, timings=timings)
    assert any("other budgets" in f for f in failures)
    write_run(tmp_path / "unknown", {"09_y": executed(CELLS_CI)}, 1.0)
    rows, failures = cost_model.check(tmp_path / "unknown", complete=True, model=model,
                                      timings=timings)
    assert rows[0]["estimate"] is None
    assert failures == ["09_y: not calibrated (python scripts/cost_model.py calibrate after a "
                        "full and a CI rehearsal of it)"]


def test_calibration_skips_runs_of_other_code_and_failed_runs(tmp_path):
    full_nb = executed(CELLS_FULL)
    full = write_run(tmp_path / "full", {"08_x": full_nb, "09_y": executed(CELLS_FULL)}, 1.0)
    edited = executed([*CELLS_CI[:2], ("fit(epochs * 2)", 2.0)])
    ci = write_run(tmp_path / "ci", {"08_x": edited, "09_y": executed(CELLS_CI, ok=False)}, 1.0)
    code = full_nb["metadata"]["nbhelpers_run"]["code"]
    timings = {"cpu": {s: {"units": 80.0, "unit_seconds": 1.0, "code": code} for s in ("08_x", "09_y")}}
    model, skipped = cost_model.calibrate(full, ci, timings, rehearse.CI_OVERRIDES)
    assert model["notebooks"] == {}
    assert [s.split(":")[0] for s in skipped] == ["08_x", "09_y"]
    assert "not all of the same code" in skipped[0] and "failed" in skipped[1]


def test_the_committed_calibration_covers_the_course_at_cis_budgets():
    model = cost_model.load_model()
    assert model.get("ci_overrides") == rehearse.CI_OVERRIDES, (
        "docs/cost_model.json was calibrated at other CI budgets: make rehearse, then make cost-model")
    missing = [p.stem for p in nbtools.notebooks() if p.stem not in model["notebooks"]]
    assert not missing, f"not calibrated (make cost-model ONLY=...): {missing}"
    for stem, entry in model["notebooks"].items():
        low, high = cost_model.RATIO_BOUNDS
        assert all(low <= r <= high for r in entry["cells"].values()), stem
        assert entry["full_units"] <= rehearse.BUDGET_NOTEBOOK, stem


def test_the_committed_estimate_was_validated_within_a_quarter():
    """The issue's bar: an estimate from a CI run (not the calibration's) within 25 % of the full
    run; for the notebooks of a unit or two, within one unit (a second of kernel start is 20 %)."""
    validation = cost_model.load_model().get("validation")
    assert validation, "no validation recorded: make rehearse-ci, then cost_model.py estimate --record"
    rows = validation["rows"]
    assert set(rows) == {p.stem for p in nbtools.notebooks()}
    for stem, row in rows.items():
        assert row["estimate"] is not None and row["recorded"], stem
        assert abs(row["estimate"] - row["recorded"]) <= max(0.25 * row["recorded"], 1.0), (stem, row)
