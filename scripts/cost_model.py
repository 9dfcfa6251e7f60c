"""What each notebook costs at the ``cpu`` profile's full budgets, estimated from CI's small-budget run.

    python scripts/cost_model.py calibrate [--full build/rehearsal-cpu] [--ci build/rehearsal-ci]
    python scripts/cost_model.py estimate [--ci build/rehearsal-ci]

A workshop runs the ``cpu`` profile at its full budgets: ``make rehearse`` measures that
(``docs/timings.json``), but it takes most of an hour on two cores, so CI runs the same
notebooks at small budgets (``make rehearse-ci``) and could not tell when a change makes a
notebook slower at full budgets. This module connects the two.

Every code cell grows with the budgets in its own way: a LIME cell with ``lime_samples``, a
training cell with epochs times images, the imports not at all. **Calibration** pairs a full
rehearsal with a CI rehearsal of the same code and keeps, for each cell, the ratio of its
cost at full budgets to its cost at CI's (both in units, each run's own), in
``docs/cost_model.json``. The **estimate** for a later CI run is the sum, over its cells, of
the cell's units in that run times its ratio; a cell that calibration did not see (new or
edited) takes its notebook's overall ratio; the time outside the cells (starting the
kernel) counts once, unscaled. So a change in ``nbhelpers`` that makes a cell twice as slow
shows in CI as that cell's full-budget cost doubled, and ``make rehearse-ci`` fails when a
notebook's estimate is over ``rehearse.BUDGET_NOTEBOOK`` units or the series' over
``rehearse.BUDGET_SERIES``.

How good the estimate is: ``estimate`` prints, next to each notebook's estimate, the units
its recorded full rehearsal measured when that was on the same code, and the difference
(``benchmarks/RESULTS.md`` keeps one such comparison).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = ROOT / "docs" / "cost_model.json"
#: A cell's ratio is kept within these bounds: a cell that took a few milliseconds in one run
#: (a cache hit) would otherwise multiply noise by thousands.
RATIO_BOUNDS = (0.5, 60.0)
#: The pseudo-cell for the time outside the cells (kernel start, writing the copy).
OUTSIDE = "(outside the cells)"


def cell_key(source: str, seen: Counter) -> str:
    """A code cell's key: a digest of its source, numbered when the same source comes again.

    Example:
        >>> seen = Counter(); cell_key("print(1)", seen), cell_key("print(1)", seen)
        ('d5e81b66d6b6', 'd5e81b66d6b6#2')
    """
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    seen[digest] += 1
    return digest if seen[digest] == 1 else f"{digest}#{seen[digest]}"


def cell_seconds(executed: dict) -> dict[str, float]:
    """``{cell key: seconds}`` for every executed code cell of an executed notebook (nbformat JSON).

    The time of a cell is nbclient's record (``metadata.execution``: from
    ``iopub.execute_input`` to ``shell.execute_reply``); cells without one did not run.
    :data:`OUTSIDE` is the notebook's wall time (``metadata.nbhelpers_run.seconds``) less
    the cells'.

    Example:
        >>> cell = {"cell_type": "code", "source": "x = 1", "metadata": {"execution": {
        ...     "iopub.execute_input": "2026-12-07T10:00:00.000Z",
        ...     "shell.execute_reply": "2026-12-07T10:00:02.500Z"}}}
        >>> nb = {"cells": [cell], "metadata": {"nbhelpers_run": {"seconds": 4.0}}}
        >>> cell_seconds(nb)
        {'9a2ec4a4c5e1': 2.5, '(outside the cells)': 1.5}
    """
    def moment(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    seen: Counter = Counter()
    times: dict[str, float] = {}
    for cell in executed["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        key = cell_key(source, seen)
        run = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in run and "shell.execute_reply" in run:
            times[key] = max(0.0, (moment(run["shell.execute_reply"])
                                   - moment(run["iopub.execute_input"])).total_seconds())
    wall = executed.get("metadata", {}).get("nbhelpers_run", {}).get("seconds")
    if wall is not None:
        times[OUTSIDE] = max(0.0, float(wall) - sum(times.values()))
    return times


def calibrate_one(full: dict[str, float], ci: dict[str, float], unit_full: float,
                  unit_ci: float) -> dict:
    """One notebook's calibration from its cells' seconds in a full and a CI rehearsal.

    Returns ``{"full_units", "ci_units", "ratio", "cells": {key: ratio}}``: ``ratio`` is the
    notebook's (full units over CI units), ``cells`` each cell's, within
    :data:`RATIO_BOUNDS`; a cell that ran in only one of the two runs has none.

    Example:
        >>> c = calibrate_one({"a": 10.0, "b": 1.0}, {"a": 1.0, "b": 1.0}, 1.0, 1.0)
        >>> c["ratio"], c["cells"]
        (5.5, {'a': 10.0, 'b': 1.0})
    """
    full_units = sum(full.values()) / unit_full
    ci_units = sum(ci.values()) / unit_ci
    low, high = RATIO_BOUNDS
    cells = {}
    for key in full.keys() & ci.keys():
        if key == OUTSIDE:
            continue
        r = (full[key] / unit_full) / max(ci[key] / unit_ci, 1e-9)
        cells[key] = round(min(max(r, low), high), 3)
    return {"full_units": round(full_units, 2), "ci_units": round(ci_units, 2),
            "ratio": round(full_units / max(ci_units, 1e-9), 3),
            "cells": dict(sorted(cells.items()))}


def estimate_one(ci: dict[str, float], unit_ci: float, calibration: dict) -> dict:
    """A notebook's units at full budgets from its cells' seconds in a CI rehearsal.

    Returns ``{"units", "new_cells"}``: the estimate, and how many cells had no ratio of
    their own (they took the notebook's). :data:`OUTSIDE` counts unscaled.

    Example:
        >>> cal = {"ratio": 5.5, "cells": {"a": 10.0, "b": 1.0}}
        >>> estimate_one({"a": 2.0, "b": 1.0, "c": 1.0, OUTSIDE: 0.5}, 1.0, cal)
        {'units': 27.0, 'new_cells': 1}
    """
    units, new = 0.0, 0
    for key, seconds in ci.items():
        if key == OUTSIDE:
            units += seconds / unit_ci
            continue
        ratio = calibration["cells"].get(key)
        if ratio is None:
            new += 1
            ratio = calibration["ratio"]
        units += seconds / unit_ci * ratio
    return {"units": round(units, 1), "new_cells": new}


def budget_failures(estimates: dict[str, float], per_notebook: float, series: float | None,
                    ) -> list[str]:
    """One line per notebook estimated over ``per_notebook`` units, and one for the series over ``series``.

    ``series`` None: not checked (a run of some notebooks).

    Example:
        >>> budget_failures({"08_x": 61.0, "09_y": 20.0}, 60, 80)
        ['08_x: about 61.0 units at the cpu profile\\'s full budgets, over its budget of 60', "the series: about 81.0 units at the cpu profile's full budgets, over its budget of 80"]
    """
    lines = [f"{name}: about {units:.1f} units at the cpu profile's full budgets, over its "
             f"budget of {per_notebook:g}" for name, units in estimates.items()
             if units > per_notebook]
    total = sum(estimates.values())
    if series is not None and total > series:
        lines.append(f"the series: about {total:.1f} units at the cpu profile's full budgets, "
                     f"over its budget of {series:g}")
    return lines


def executed_code(executed: dict) -> str:
    """The code digest (``run_course.code_digest``) of the notebook an executed copy ran.

    Kept in its ``metadata.nbhelpers_run.code``; copies made before that was kept get it
    from their cells, less the cell the rehearsal prepends (``rehearse.BANNER_CELL``).
    """
    import rehearse
    import run_course

    kept = executed.get("metadata", {}).get("nbhelpers_run", {}).get("code")
    return kept or run_course.cells_digest(executed["cells"], skip=(rehearse.BANNER_CELL,))


def _executed(folder: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((folder / "executed").glob("[0-9][0-9]_*.ipynb"))}


def _unit(folder: Path) -> float:
    report = json.loads((folder / "timings.json").read_text(encoding="utf-8"))
    return float(report["unit"]["unit_seconds"])


def load_model(path: Path = MODEL) -> dict:
    """The calibration in ``docs/cost_model.json`` (``{"notebooks": {stem: ...}, ...}``); empty when none.

    Example:
        >>> sorted(load_model(Path("/nonexistent.json")))
        ['notebooks']
    """
    if not path.exists():
        return {"notebooks": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def calibrate(full_dir: Path, ci_dir: Path, timings: dict, ci_overrides: str) -> tuple[dict, list[str]]:
    """Calibrate every notebook that both runs executed on the same code.

    The full run's units come from its row in ``docs/timings.json`` (``timings``: each
    notebook's ``unit_seconds`` and ``code`` digest; a row measured on other code than the
    executed copy is skipped with a reason), the CI run's from its ``timings.json``.
    Returns the model and the skipped notebooks' reasons.
    """
    full, ci, unit_ci = _executed(full_dir), _executed(ci_dir), _unit(ci_dir)
    rows = timings.get("cpu", {})
    model, skipped = {"notebooks": {}}, []
    for stem, ci_nb in ci.items():
        row, full_nb = rows.get(stem), full.get(stem)
        if not ci_nb["metadata"].get("nbhelpers_run", {}).get("ok", False):
            skipped.append(f"{stem}: it failed (or has no run record) in {ci_dir}")
            continue
        if full_nb is None or not row or "unit_seconds" not in row:
            skipped.append(f"{stem}: no full rehearsal of it in {full_dir} and docs/timings.json")
            continue
        codes = {executed_code(full_nb), executed_code(ci_nb), row.get("code")}
        if len(codes) != 1:
            skipped.append(f"{stem}: the full rehearsal, its recorded row and the CI run are not "
                           f"all of the same code ({', '.join(sorted(map(str, codes)))})")
            continue
        entry = calibrate_one(cell_seconds(full_nb), cell_seconds(ci_nb),
                              float(row["unit_seconds"]), unit_ci)
        if "units" in row:  # the recorded wall time (kernel start included) is the reference
            entry["full_units"] = row["units"]
            entry["ratio"] = round(row["units"] / max(entry["ci_units"], 1e-9), 3)
        model["notebooks"][stem] = {"code": row["code"], "commit": row.get("commit"), **entry}
    model["ci_overrides"] = ci_overrides
    model["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    return model, skipped


def estimate(ci_dir: Path, model: dict, timings: dict) -> list[dict]:
    """One row per notebook of a CI run: ``notebook``, ``ci_units``, ``estimate``, ``new_cells``,
    ``recorded`` (the full rehearsal's units when its row is of the same code, else None),
    ``calibrated`` (False: no calibration for it, the estimate is None)."""
    unit_ci, rows = _unit(ci_dir), timings.get("cpu", {})
    out = []
    for stem, nb in _executed(ci_dir).items():
        times = cell_seconds(nb)
        cal = model["notebooks"].get(stem)
        row = rows.get(stem, {})
        recorded = row.get("units") if row.get("code") == executed_code(nb) else None
        est = estimate_one(times, unit_ci, cal) if cal else {"units": None, "new_cells": None}
        out.append({"notebook": stem, "ci_units": round(sum(times.values()) / unit_ci, 1),
                    "estimate": est["units"], "new_cells": est["new_cells"],
                    "recorded": recorded, "calibrated": cal is not None})
    return out


def check(ci_dir: Path, complete: bool, model: dict | None = None,
          timings: dict | None = None) -> tuple[list[dict], list[str]]:
    """The estimate of a CI run and what is wrong with it (over budget, or not calibrated).

    ``complete``: the run has every notebook, so the series is checked too.
    """
    import rehearse
    import run_course

    model = load_model() if model is None else model
    timings = json.loads(run_course.TIMINGS.read_text()) if timings is None else timings
    rows = estimate(ci_dir, model, timings)
    failures = [f"{r['notebook']}: not calibrated (python scripts/cost_model.py calibrate after a "
                f"full and a CI rehearsal of it)" for r in rows if not r["calibrated"]]
    if model.get("ci_overrides") and model["ci_overrides"] != rehearse.CI_OVERRIDES:
        failures.append(f"docs/cost_model.json was calibrated with other CI budgets "
                        f"({model['ci_overrides']}, now {rehearse.CI_OVERRIDES}): calibrate again")
    report = json.loads((ci_dir / "timings.json").read_text(encoding="utf-8"))
    if report.get("overrides") != model.get("ci_overrides", rehearse.CI_OVERRIDES):
        failures.append(f"{ci_dir} ran with other budgets ({report.get('overrides')}) than the "
                        f"calibration's ({model.get('ci_overrides')}): no estimate")
        return rows, failures
    known = {r["notebook"]: r["estimate"] for r in rows if r["calibrated"]}
    failures += budget_failures(known, rehearse.BUDGET_NOTEBOOK,
                                rehearse.BUDGET_SERIES if complete else None)
    return rows, failures


def table(rows: list[dict]) -> str:
    """The estimate as text: one line per notebook, then the total."""
    lines = [f"  {'notebook':<32} {'CI units':>8} {'estimate':>9} {'recorded':>9} {'off by':>7}"]
    for r in rows:
        est = "-" if r["estimate"] is None else f"{r['estimate']:.1f}"
        rec = "-" if r["recorded"] is None else f"{r['recorded']:.1f}"
        off = ("-" if r["estimate"] is None or not r["recorded"]
               else f"{100 * (r['estimate'] / r['recorded'] - 1):+.0f} %")
        new = f"  ({r['new_cells']} cells new since calibration)" if r["new_cells"] else ""
        lines.append(f"  {r['notebook']:<32} {r['ci_units']:8.1f} {est:>9} {rec:>9} {off:>7}{new}")
    total = sum(r["estimate"] or 0.0 for r in rows)
    lines.append(f"  {'total':<32} {sum(r['ci_units'] for r in rows):8.1f} {total:9.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))
    import rehearse
    import run_course

    from nbhelpers import artifacts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("calibrate", "estimate"))
    parser.add_argument("--full", type=Path, default=rehearse.BUILD / "rehearsal-cpu")
    parser.add_argument("--ci", type=Path, default=rehearse.BUILD / "rehearsal-ci")
    parser.add_argument("--record", action="store_true",
                        help="estimate: keep this comparison with the full rehearsal in "
                             "docs/cost_model.json (a CI run other than the calibration's)")
    args = parser.parse_args(argv)
    timings = json.loads(run_course.TIMINGS.read_text())
    for folder in ([args.full, args.ci] if args.command == "calibrate" else [args.ci]):
        if not (folder / "timings.json").exists():
            print(f"{folder}: no rehearsal there (its timings.json is missing)")
            return 1
    if args.command == "calibrate":
        model, skipped = calibrate(args.full, args.ci, timings, rehearse.CI_OVERRIDES)
        old = load_model()
        # Notebooks not calibrated now keep their earlier calibration.
        model["notebooks"] = {**old.get("notebooks", {}), **model["notebooks"]}
        artifacts.write_bytes(MODEL, json.dumps(model, indent=1, sort_keys=True) + "\n")
        print(f"calibrated {len(model['notebooks'])} notebooks into {MODEL.relative_to(ROOT)}")
        for line in skipped:
            print(f"  skipped {line}")
    model = load_model()
    rows, failures = check(args.ci, complete=False, model=model, timings=timings)
    print(table(rows))
    if args.record and args.command == "estimate":
        model["validation"] = {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"), "commit": run_course.current_commit(),
            "note": "a CI rehearsal other than the calibration's, against the recorded full one",
            "rows": {r["notebook"]: {"estimate": r["estimate"], "recorded": r["recorded"]}
                     for r in rows}}
        artifacts.write_bytes(MODEL, json.dumps(model, indent=1, sort_keys=True) + "\n")
        print(f"recorded this comparison in {MODEL.relative_to(ROOT)}")
    for line in failures:
        print(f"  OVER BUDGET or unknown: {line}")
    return 1 if failures and args.command == "estimate" else 0


if __name__ == "__main__":
    sys.exit(main())
