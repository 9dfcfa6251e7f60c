"""`make run`'s report: the index page and the instructor guide's timing table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import run_course  # noqa: E402


def results():
    return [
        {"notebook": "00_start_here", "seconds": 12.3, "ok": True, "error": None,
         "profile": "offline"},
        {"notebook": "01_convolution_and_pooling", "seconds": 40.0, "ok": False,
         "error": "ValueError: boom", "profile": "offline"},
    ]


def test_index_page_lists_every_notebook_with_status_and_profile():
    page = run_course.index_page(results())
    assert 'href="00_start_here.html"' in page and "12.3" in page
    assert "FAILED: ValueError: boom" in page
    assert "not run" in page  # notebooks 02-10 were not part of this run
    assert "Offline profile" in page and "not a trained model's results" in page


def test_timings_table_has_a_column_per_profile():
    data = {"offline": {"00_start_here": {"seconds": 12.3, "date": "2026-11-28", "cpus": 2}},
            "cpu": {"05_adding_a_head": {"seconds": 300.0, "date": "2026-11-29", "cpus": 8}}}
    table = run_course.timings_table(data)
    assert table.splitlines()[0] == "| notebook | offline (s) | offline measured | cpu (s) | cpu measured |"
    assert "| 00 Start here | 12 | 2026-11-28 |  |  |" in table
    assert "| 05 Adding a classification head |  |  | 300 | 2026-11-29 |" in table
    assert "cpu: measured 2026-11-29 on 8 CPU cores" in table


def test_record_timings_updates_the_guide(tmp_path, monkeypatch):
    guide = tmp_path / "guide.md"
    guide.write_text("intro\n<!-- timings:start -->\nold\n<!-- timings:end -->\nrest\n")
    monkeypatch.setattr(run_course, "GUIDE", guide)
    monkeypatch.setattr(run_course, "TIMINGS", tmp_path / "t.json")
    run_course.record_timings(results())
    text = guide.read_text()
    assert "old" not in text and "| 00 Start here | 12 |" in text and text.endswith("rest\n")
    # the failed notebook is not recorded as a timing
    assert "01_convolution" not in (tmp_path / "t.json").read_text()


def test_detect_profile_reads_the_banner():
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("cfg = nbh.setup()")
    cell.outputs = [nbformat.v4.new_output("stream", text="nbhelpers profile: cpu  (ImageNet)\n")]
    nb.cells = [cell]
    assert run_course.detect_profile(nb) == "cpu"


def test_timings_table_shows_units_and_labels_the_rehearsal():
    entry = {"date": "2026-12-01", "cpus": 2, "standins": True, "unit_seconds": 20.0}
    data = {"offline": {"00_start_here": {"seconds": 12.3, "date": "2026-11-28", "cpus": 2}},
            "cpu": {"00_start_here": {"seconds": 40.0, "units": 2.0, **entry},
                    "06_fine_tuning": {"seconds": 1800.0, "units": 90.0, **entry}}}
    table = run_course.timings_table(data)
    head = "| notebook | offline (s) | offline measured | cpu (s) | cpu (units) | cpu measured |"
    assert table.splitlines()[0] == head
    assert "| 00 Start here | 12 | 2026-11-28 | 40 | 2.0 | 2026-12-01 |" in table
    assert "| 06 Fine-tuning the top of the base |  |  | 1800 | 90.0 | 2026-12-01 |" in table
    n = len(run_course.nbtools.COURSE)  # the course's notebooks, whatever their number
    assert f"| **all notebooks** | 12 (1 of {n}) |  | 1840 (2 of {n}) | 92.0 (2 of {n}) |  |" in table
    assert "stand-in weights of the real size" in table and "20.0 s there" in table
    assert "offline: measured 2026-11-28 on 2 CPU cores;" in table  # no rehearsal label


def test_record_timings_keeps_the_rehearsals_units(tmp_path, monkeypatch):
    monkeypatch.setattr(run_course, "GUIDE", tmp_path / "missing.md")
    monkeypatch.setattr(run_course, "TIMINGS", tmp_path / "t.json")
    rows = [{**results()[0], "profile": "cpu", "units": 0.6}]
    run_course.record_timings(rows, extra={"standins": True, "unit_seconds": 20.5})
    import json

    entry = json.loads((tmp_path / "t.json").read_text())["cpu"]["00_start_here"]
    assert entry["units"] == 0.6 and entry["standins"] is True and entry["unit_seconds"] == 20.5
    # a rehearsal's row keeps the unit measured next to its notebook
    run_course.record_timings([{**rows[0], "unit_seconds": 3.6}],
                              extra={"standins": True, "unit_seconds": 20.5})
    entry = json.loads((tmp_path / "t.json").read_text())["cpu"]["00_start_here"]
    assert entry["unit_seconds"] == 3.6


def test_a_run_without_units_keeps_the_rehearsals_row(tmp_path, monkeypatch, capsys):
    """`make run` on a laptop with a network runs the cpu profile too: its row, without units
    or code digest, must not replace the rehearsal's (make test checks those rows)."""
    import json

    monkeypatch.setattr(run_course, "GUIDE", tmp_path / "missing.md")
    monkeypatch.setattr(run_course, "TIMINGS", tmp_path / "t.json")
    rehearsed = [{**results()[0], "profile": "cpu", "units": 0.6, "code": "abc"}]
    run_course.record_timings(rehearsed, extra={"standins": True, "unit_seconds": 20.5})
    run_course.record_timings([{**results()[0], "profile": "cpu", "seconds": 99.0}])
    entry = json.loads((tmp_path / "t.json").read_text())["cpu"]["00_start_here"]
    assert entry["units"] == 0.6 and entry["code"] == "abc" and entry["seconds"] != 99.0
    assert "keeps the rehearsal's cpu row" in capsys.readouterr().out


def test_record_timings_drops_notebooks_no_longer_in_the_course(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(run_course, "GUIDE", tmp_path / "missing.md")
    timings = tmp_path / "t.json"
    old = {"seconds": 52.1, "date": "2026-11-28", "cpus": 2}
    timings.write_text(json.dumps({"offline": {"04_adding_a_head": old, "00_start_here": old}}))
    monkeypatch.setattr(run_course, "TIMINGS", timings)
    run_course.record_timings(results())
    data = json.loads(timings.read_text())["offline"]
    assert "04_adding_a_head" not in data  # renamed since: its old time would mislead
    assert data["00_start_here"]["seconds"] == 12.3


KERNEL_RUN = """\
import sys
import nbformat
from nbclient import NotebookClient
sys.path.insert(0, sys.argv[1])
import nbtools

nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
config = nbtools.kernel_config() if sys.argv[2] == "course" else None
kw = {"config": config} if config is not None else {}
NotebookClient(nb, timeout=60, kernel_name="python3", **kw).execute()
print("OUT", nb.cells[0].outputs[0]["text"].strip())
"""


def _run_kernel(how: str):
    return subprocess.run([sys.executable, "-c", KERNEL_RUN, str(ROOT / "scripts"), how],
                          capture_output=True, text=True, timeout=120)


def test_make_run_kernels_do_not_warn_about_unencrypted_tcp():
    """ipykernel warns at every start unless the manager provisions CurveZMQ keys."""
    import zmq
    from jupyter_client import KernelManager

    if "transport_encryption" not in KernelManager.class_trait_names() or not zmq.has("curve"):
        pytest.skip("this jupyter_client/pyzmq has no transport encryption (and no warning)")
    plain = _run_kernel("plain")
    course = _run_kernel("course")
    assert "OUT 42" in plain.stdout and "OUT 42" in course.stdout, plain.stderr + course.stderr
    assert "without encryption" in plain.stderr  # what `make run` printed per notebook
    assert "without encryption" not in course.stderr, course.stderr


def test_timings_note_gives_the_range_when_rehearsals_measured_different_units():
    entry = {"date": "2026-12-02", "cpus": 2, "standins": True}
    data = {"cpu": {"00_start_here": {"seconds": 5.0, "units": 1.0, "unit_seconds": 4.89, **entry},
                    "06_fine_tuning": {"seconds": 244.6, "units": 43.4, "unit_seconds": 5.63,
                                       **entry}}}
    table = run_course.timings_table(data)
    assert "4.9-5.6 s there" in table and "measured next to it" in table


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="VmHWM is Linux's")
def test_run_one_records_the_kernels_peak_memory(tmp_path):
    """A notebook that holds 300 MiB peaks at least 300 MiB above one that holds nothing."""
    import nbformat

    peaks = {}
    for name, code in (("small", "x = 1"),
                       ("big", "import numpy as np\nx = np.ones(300 * 2**20 // 8)\nx.sum()")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(code)]
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        r = run_course.run_one(path, 60, out=tmp_path / "out")
        assert r["ok"], r["error"]
        peaks[name] = r["peak_mib"]
    assert peaks["big"] - peaks["small"] > 280
    assert run_course.peak_resident_mib(None) is None


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="VmHWM is Linux's")
def test_run_one_names_the_cell_that_raised_the_peak_most(tmp_path):
    """Numbered as in the notebook, even when the rehearsal prepends its banner cell."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in (
        "import numpy as np", "a = np.ones(50 * 2**20 // 8)", "b = np.ones(250 * 2**20 // 8)",
        "c = 1")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    r = run_course.run_one(path, 60, out=tmp_path / "out",
                           prepend=[nbformat.v4.new_code_cell("banner = 1")])
    assert r["ok"], r["error"]
    assert r["peak_cell"] == 2 and 230 < r["peak_cell_mib"] < 300
    assert run_course.peak_text(r).endswith(f"; cell 2 +{r['peak_cell_mib']:.0f})")
    # the libraries' code pages (numpy's, Python's) are resident and counted apart
    assert 0 < r["library_mib"] < r["peak_mib"]
    assert run_course.counted_peak_mib(r) == pytest.approx(r["peak_mib"] - r["library_mib"])


def test_timings_table_shows_peak_memory_with_the_largest_as_total():
    rows = {"00_start_here": {"seconds": 5.0, "date": "2026-12-06", "cpus": 2, "peak_mib": 400.0},
            "02_inside_vgg16": {"seconds": 20.0, "date": "2026-12-06", "cpus": 2,
                                "peak_mib": 1900.4}}
    rows["02_inside_vgg16"].update(library_mib=450.0, commit="abc1234+")
    table = run_course.timings_table({"offline": rows})
    head = "| notebook | offline (s) | offline (peak MiB) | offline measured |"
    assert table.splitlines()[0] == head
    # the peak counted less the libraries' code pages, and the commit the row was measured at
    assert "| 02 Inside VGG16 | 20 | 1450 | abc1234+ 2026-12-06 |" in table
    assert "| 00 Start here | 5 | 400† | 2026-12-06 |" in table  # libraries not counted apart
    assert "†: measured before the libraries' pages were counted apart" in table
    assert f"max 1450 (2 of {len(run_course.nbtools.COURSE)})" in table and "less its libraries' code pages" in table


def test_a_cpu_notebook_over_binders_memory_is_named_with_its_cell():
    over = run_course.over_memory_budget({"peak_mib": 2600.0, "library_mib": 450.0, "peak_cell": 20})
    assert over and "2150 MiB" in over and "cell 20" in over and "2048" in over
    assert run_course.over_memory_budget({"peak_mib": 2400.0, "library_mib": 450.0}) is None
    assert run_course.over_memory_budget({"peak_mib": None}) is None


def test_recorded_timings_say_the_commit_they_were_measured_at(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(run_course, "GUIDE", tmp_path / "missing.md")
    monkeypatch.setattr(run_course, "TIMINGS", tmp_path / "t.json")
    monkeypatch.setattr(run_course, "current_commit", lambda: "1234567+")
    run_course.record_timings(results())
    entry = json.loads((tmp_path / "t.json").read_text())["offline"]["00_start_here"]
    assert entry["commit"] == "1234567+"


def test_a_real_cpu_run_on_github_records_units_and_its_runner(tmp_path, monkeypatch, capsys):
    """What real.yml's `make run` leaves in docs/timings.json: seconds, units from the unit
    measured in that run (the smaller of before and after), and the runner, shown in the
    guide; and a run that is not the profile's own is not recorded at all."""
    import json

    guide = tmp_path / "guide.md"
    guide.write_text("<!-- timings:start -->\n<!-- timings:end -->\n")
    monkeypatch.setattr(run_course, "GUIDE", guide)
    monkeypatch.setattr(run_course, "TIMINGS", tmp_path / "t.json")
    monkeypatch.setattr(run_course, "BUILD", tmp_path)  # its lock file
    monkeypatch.setattr(run_course, "measure_unit", lambda: 5.0)
    monkeypatch.setattr(run_course, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(run_course, "stage_results", lambda profile, since: {"head": {
        "val_accuracy": 0.95, "low": 0.9, "high": 0.97, "val_images": 200, "epochs": 3}})
    for var, value in (("GITHUB_ACTIONS", "true"), ("RUNNER_NAME", "GitHub Actions 7"),
                       ("RUNNER_OS", "Linux"), ("RUNNER_ARCH", "X64")):
        monkeypatch.setenv(var, value)
    rows = [{"notebook": "05_adding_a_head", "seconds": 60.0, "ok": True, "profile": "cpu",
             "claims": [9, 10]}]
    run_course.record_run(rows, unit_before=6.0, why_not=None)
    entry = json.loads((tmp_path / "t.json").read_text())["cpu"]["05_adding_a_head"]
    assert entry["units"] == 12.0 and entry["unit_seconds"] == 5.0 and entry["claims"] == [9, 10]
    assert entry["runner"].startswith("GitHub Actions runner GitHub Actions 7 (Linux, X64")
    text = guide.read_text()
    assert "| 05 Adding a classification head | 60 | 12.0 | 9 of 10 |" in text
    assert "(GitHub Actions runner GitHub Actions 7" in text and "real.yml" in text
    assert "1 unit = 5.00 s" in capsys.readouterr().out
    assert json.loads((tmp_path / "results.json").read_text())["cpu"]["runner"] == entry["runner"]
    (tmp_path / "t.json").unlink()
    run_course.record_run(rows, unit_before=None, why_not="budgets cut (NBH_OVERRIDES)")
    assert not (tmp_path / "t.json").exists()


def test_only_a_run_at_the_profiles_own_budgets_on_the_real_files_is_recordable(monkeypatch):
    for var in ("NBH_OVERRIDES", "NBH_DATA_SOURCE", "NBH_REHEARSAL_STANDINS"):
        monkeypatch.delenv(var, raising=False)
    assert run_course.not_recordable() is None
    monkeypatch.setenv("NBH_OVERRIDES", "head_epochs=1")
    monkeypatch.setenv("NBH_REHEARSAL_STANDINS", "/x")
    assert run_course.not_recordable() == ("budgets cut (NBH_OVERRIDES); "
                                           "stand-in weights (a rehearsal)")


def test_a_real_run_records_each_trained_stages_accuracy_with_its_interval(tmp_path, monkeypatch):
    """The stage records a run's notebooks saved -> docs/results.json and the guide's table:
    validation accuracy with a Wilson interval over the validation set's real size."""
    import json

    import keras

    from nbhelpers import config, course, data

    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path / "data"))
    from datetime import UTC, datetime, timedelta

    monkeypatch.setattr(run_course, "BUILD", tmp_path)  # its lock file
    cfg = config.make_config("offline")
    assert run_course.stage_results("offline") == {}  # nothing trained yet
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    course.save_stage(model, "head", {"loss": [0.7, 0.5]}, cfg, wall_time_s=1.0,
                      metrics={"val_accuracy": 0.9})
    later = datetime.now(UTC) + timedelta(minutes=5)  # a run that began after it was saved
    assert run_course.stage_results("offline", since=later) == {}
    rows = run_course.stage_results("offline", since=later - timedelta(hours=1))
    n = len(data.prepare(cfg, verbose=False).val)
    low, high = run_course.wilson_interval(round(0.9 * n), n)
    assert rows["head"]["val_images"] == n and rows["head"]["epochs"] == 2
    assert rows["head"]["low"] == round(low, 4) < 0.9 < round(high, 4) == rows["head"]["high"]
    assert "finetuned" not in rows
    guide = tmp_path / "guide.md"
    guide.write_text("a\n<!-- results:start -->\nold\n<!-- results:end -->\nb\n")
    monkeypatch.setattr(run_course, "GUIDE", guide)
    monkeypatch.setattr(run_course, "RESULTS", tmp_path / "results.json")
    run_course.record_results("cpu", rows)
    assert json.loads((tmp_path / "results.json").read_text())["cpu"]["stages"] == rows
    text = guide.read_text()
    assert "old" not in text and f"| cpu | head | 0.900 ({low:.3f} to {high:.3f}) | {n} | 2 |" in text


def test_the_guides_tables_are_what_the_recorded_numbers_give():
    """docs/instructor_guide.md's generated tables match docs/timings.json and
    docs/results.json (a hand edit of either side shows here)."""
    import json

    guide = run_course.GUIDE.read_text()
    for name, path, table in (("timings", run_course.TIMINGS, run_course.timings_table),
                              ("results", run_course.RESULTS, run_course.results_table)):
        assert run_course.guide_block(guide, name) == table(json.loads(path.read_text())), name
