"""CI's estimate of each notebook's cost at the cpu profile's full budgets (scripts/cost_model.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import cost_model  # noqa: E402
import nbtools  # noqa: E402
import rehearse  # noqa: E402
import run_course  # noqa: E402


def executed(seconds: float, source: str = "x = 1", ok: bool = True, code: bool = True,
             wall: float | None = None) -> dict:
    """An executed notebook of one code cell whose kernel used ``seconds`` of CPU (and
    ``wall`` seconds of wall time, the same when not given)."""
    cells = [{"cell_type": "code", "source": source, "metadata": {}}]
    run = {"seconds": seconds if wall is None else wall, "cpu_seconds": seconds, "ok": ok}
    if code:
        run["code"] = run_course.cells_digest(cells)
    return {"cells": cells, "metadata": {"nbhelpers_run": run}}


def write_run(folder: Path, notebooks: dict[str, dict], unit: float,
              overrides: str | None = rehearse.CI_OVERRIDES, unit_wall: float | None = None) -> Path:
    """A rehearsal's folder whose unit took ``unit`` s of CPU (``unit_wall`` of wall time)."""
    (folder / "executed").mkdir(parents=True)
    for stem, nb in notebooks.items():
        (folder / "executed" / f"{stem}.ipynb").write_text(json.dumps(nb))
    unit_record = {"unit_seconds": unit if unit_wall is None else unit_wall, "cpu_seconds": unit}
    (folder / "timings.json").write_text(json.dumps({"unit": unit_record,
                                                     "overrides": overrides}))
    return folder


def calibrated(tmp_path: Path):
    """08_x: 30 units at full budgets (recorded), 10 s in a CI run whose unit is 1 s."""
    ci = write_run(tmp_path / "ci", {"08_x": executed(10.0)}, 1.0)
    code = run_course.cells_digest(executed(1.0)["cells"])
    timings = {"cpu": {"08_x": {"units": 30.0, "code": code, "commit": "abc1234"}}}
    model, skipped = cost_model.calibrate(ci, timings, rehearse.CI_OVERRIDES)
    return model, timings, skipped


def test_the_estimate_of_the_calibration_run_itself_is_the_full_measurement(tmp_path):
    model, timings, skipped = calibrated(tmp_path)
    assert not skipped and model["notebooks"]["08_x"]["ratio"] == 3.0
    rows, failures = cost_model.check(tmp_path / "ci", complete=True, model=model, timings=timings)
    assert failures == [] and rows[0]["estimate"] == rows[0]["recorded"] == 30.0


def test_ci_fails_a_notebook_that_became_slower_than_its_budget(tmp_path):
    model, timings, _ = calibrated(tmp_path)
    # The same code, but the library under it became slower: CI's small-budget run takes
    # 16 s instead of 10, and the full-budget estimate grows in proportion.
    write_run(tmp_path / "ci-slower", {"08_x": executed(16.0)}, 1.0)
    rows, failures = cost_model.check(tmp_path / "ci-slower", complete=True, model=model,
                                      timings=timings)
    assert rows[0]["estimate"] == 48.0 > rehearse.BUDGET_NOTEBOOK
    assert failures[0].startswith("08_x: about 48.0 units at the cpu profile's full budgets")


def test_the_machines_speed_cancels(tmp_path):
    model, timings, _ = calibrated(tmp_path)
    # A machine twice as slow: the run takes twice the seconds, and so does its unit.
    write_run(tmp_path / "ci-slow-machine", {"08_x": executed(20.0)}, 2.0)
    rows, failures = cost_model.check(tmp_path / "ci-slow-machine", complete=True, model=model,
                                      timings=timings)
    assert rows[0]["estimate"] == 30.0 and failures == []


def test_a_neighbour_that_doubles_the_wall_time_leaves_the_estimate_alone(tmp_path):
    """.ci/run's lanes share two cores: wall time follows the other lane, CPU time does not."""
    model, timings, _ = calibrated(tmp_path)
    write_run(tmp_path / "ci-shared", {"08_x": executed(10.5, wall=23.0)}, 1.02, unit_wall=1.4)
    rows, failures = cost_model.check(tmp_path / "ci-shared", complete=True, model=model,
                                      timings=timings)
    assert rows[0]["estimate"] == pytest.approx(30.9, abs=0.1) and failures == []


def test_a_calibration_on_wall_time_or_a_run_without_cpu_time_gives_no_estimate(tmp_path):
    model, timings, _ = calibrated(tmp_path)
    _, failures = cost_model.check(tmp_path / "ci", complete=True, timings=timings,
                                   model={**model, "basis": None})
    assert failures == ["docs/cost_model.json was calibrated on wall time, CI now measures CPU "
                        "time: make cost-model"]
    old = executed(10.0)
    del old["metadata"]["nbhelpers_run"]["cpu_seconds"]
    write_run(tmp_path / "old", {"08_x": old}, 1.0)
    rows, failures = cost_model.check(tmp_path / "old", complete=True, model=model, timings=timings)
    assert rows[0]["estimate"] is None and "kept no CPU time" in failures[0]


def test_an_estimate_over_the_budget_by_less_than_its_error_passes_where_the_record_fails(
        tmp_path, monkeypatch):
    """CI's estimate carries the cost model's error; the recorded rehearsal does not."""
    model, timings, _ = calibrated(tmp_path)  # 08_x: 30 units recorded, 30 estimated
    monkeypatch.setattr(rehearse, "BUDGET_NOTEBOOK", 28)  # 30 is 7 % over: within the error
    rows, failures = cost_model.check(tmp_path / "ci", complete=False, model=model,
                                      timings=timings)
    assert rows[0]["estimate"] == 30.0 and failures == []
    path = tmp_path / "08_x.ipynb"
    path.write_text(json.dumps({"cells": executed(1.0)["cells"], "metadata": {}}))
    recorded = rehearse.recorded_budget_failures(timings, [path])
    assert recorded == ["08_x: 30.0 units at the cpu profile, over the budget of 28 a notebook"]
    monkeypatch.setattr(rehearse, "BUDGET_NOTEBOOK", 25)  # 30 is 20 % over: beyond it
    _, failures = cost_model.check(tmp_path / "ci", complete=False, model=model, timings=timings)
    assert failures == ["08_x: about 30.0 units at the cpu profile's full budgets, over its "
                        "budget of 25 by more than the estimate's error (15 %)"]


def test_the_series_is_checked_only_when_every_notebook_ran(tmp_path, monkeypatch):
    model, timings, _ = calibrated(tmp_path)
    monkeypatch.setattr(rehearse, "BUDGET_SERIES", 20)
    _, failures = cost_model.check(tmp_path / "ci", complete=True, model=model, timings=timings)
    assert failures == ["the series: about 30.0 units at the cpu profile's full budgets, over its "
                        "budget of 20 by more than the estimate's error (15 %)"]
    _, failures = cost_model.check(tmp_path / "ci", complete=False, model=model, timings=timings)
    assert failures == []


def test_other_budgets_and_missing_calibrations_fail_instead_of_estimating(tmp_path):
    model, timings, _ = calibrated(tmp_path)
    write_run(tmp_path / "other", {"08_x": executed(10.0)}, 1.0, overrides="head_epochs=1")
    _, failures = cost_model.check(tmp_path / "other", complete=True, model=model, timings=timings)
    assert any("other budgets" in f for f in failures)
    write_run(tmp_path / "unknown", {"09_y": executed(10.0)}, 1.0)
    rows, failures = cost_model.check(tmp_path / "unknown", complete=True, model=model,
                                      timings=timings)
    assert rows[0]["estimate"] is None
    assert failures == ["09_y: not calibrated (make cost-model after a full rehearsal of it)"]


def test_calibration_skips_runs_of_other_code_and_failed_runs(tmp_path):
    ci = write_run(tmp_path / "ci", {"08_x": executed(10.0, source="edited()"),
                                     "09_y": executed(10.0, ok=False)}, 1.0)
    code = run_course.cells_digest(executed(1.0)["cells"])
    timings = {"cpu": {s: {"units": 40.0, "code": code} for s in ("08_x", "09_y")}}
    model, skipped = cost_model.calibrate(ci, timings, rehearse.CI_OVERRIDES)
    assert model["notebooks"] == {}
    assert [s.split(":")[0] for s in skipped] == ["08_x", "09_y"]
    assert "ran other code" in skipped[0] and "failed" in skipped[1]


def test_an_executed_copy_without_its_digest_is_matched_to_its_notebook():
    """Copies made before run records kept the digest: the rehearsal's banner cell is left out."""
    path = ROOT / "notebooks" / "00_start_here.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    banner = {"cell_type": "code", "source": rehearse.BANNER_CELL, "metadata": {}}
    copy = {"cells": [banner, *nb["cells"]], "metadata": {"nbhelpers_run": {"seconds": 1.0}}}
    assert cost_model.executed_code(copy) == run_course.code_digest(path)
    copy["cells"].append({"cell_type": "code", "source": "print('edited')", "metadata": {}})
    assert cost_model.executed_code(copy) != run_course.code_digest(path)


def test_the_committed_calibration_covers_the_course_at_cis_budgets():
    model = cost_model.load_model()
    assert model.get("ci_overrides") == rehearse.CI_OVERRIDES, (
        "docs/cost_model.json was calibrated at other CI budgets: make rehearse, then make cost-model")
    assert model.get("basis") == "cpu", "calibrated on wall time: make cost-model"
    missing = [p.stem for p in nbtools.notebooks() if p.stem not in model["notebooks"]]
    assert not missing, f"not calibrated (make cost-model): {missing}"
    for path in nbtools.notebooks():
        entry = model["notebooks"][path.stem]
        assert entry["ratio"] == pytest.approx(entry["full_units"] / entry["ci_units"], rel=1e-2)
        assert entry["code"] == run_course.code_digest(path), (
            f"{path.stem} changed since its calibration: make rehearse ONLY=\"{path.stem[:2]}\", "
            f"then make cost-model")


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


def test_calibrating_again_keeps_the_validation_and_other_notebooks(tmp_path, monkeypatch):
    model, timings, _ = calibrated(tmp_path)
    path = tmp_path / "cost_model.json"
    path.write_text(json.dumps({**model, "notebooks": {**model["notebooks"], "09_y": {"ratio": 2.0}},
                                "validation": {"rows": {"08_x": {"estimate": 1, "recorded": 1}}}}))
    monkeypatch.setattr(cost_model, "MODEL", path)
    monkeypatch.setattr(run_course, "TIMINGS", tmp_path / "timings.json")
    (tmp_path / "timings.json").write_text(json.dumps(timings))
    assert cost_model.main(["calibrate", "--ci", str(tmp_path / "ci")]) == 0
    again = json.loads(path.read_text())
    assert set(again["notebooks"]) == {"08_x", "09_y"} and "validation" in again
