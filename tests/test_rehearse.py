"""`make rehearse` (scripts/rehearse.py): overrides, the kernels' bending, error reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import rehearse  # noqa: E402
import standins  # noqa: E402
from test_standins import _manifest, _vgg16_notop  # noqa: E402


def test_parse_overrides():
    assert rehearse.parse_overrides("head_epochs=1, max_images_per_class=40,") == {
        "head_epochs": "1", "max_images_per_class": "40"}
    assert rehearse.parse_overrides(None) == {}
    with pytest.raises(SystemExit, match="bad override 'head_epochs'"):
        rehearse.parse_overrides("head_epochs")
    assert set(rehearse.parse_overrides(rehearse.CI_OVERRIDES)) <= {
        "max_images_per_class", "head_epochs", "finetune_epochs", "lime_samples", "shap_evals",
        "shap_background", "bootstrap", "explain_images"}


def test_kernel_env_points_at_the_standins(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_DATA_SOURCE", "/my/photos")
    monkeypatch.setenv("NBH_ARTIFACTS_DIR", "/my/artifacts")
    manifest = {"keras_home": str(tmp_path / "s" / "keras"), "root": str(tmp_path / "s")}
    env = rehearse.kernel_env("cpu", tmp_path / "out", manifest, "head_epochs=1")
    assert env["NBH_PROFILE"] == "cpu" and env["KERAS_HOME"] == manifest["keras_home"]
    assert env["NBH_DATA_DIR"] == str(tmp_path / "out" / "data")
    assert env["NBH_OVERRIDES"] == "head_epochs=1"
    assert "NBH_DATA_SOURCE" not in env and "NBH_ARTIFACTS_DIR" not in env
    assert "NBH_OVERRIDES" not in rehearse.kernel_env("cpu", tmp_path, manifest, "")
    # --source: the kernels read that folder (absolute, so a notebook's cwd does not matter)
    monkeypatch.chdir(tmp_path)
    mine = rehearse.kernel_env("cpu", tmp_path, manifest, "", Path("photos"))
    assert mine["NBH_DATA_SOURCE"] == str(tmp_path / "photos")


def test_a_missing_source_stops_before_anything_runs(tmp_path, capsys):
    assert rehearse.main(["--ci", "--source", str(tmp_path / "nowhere")]) == 1
    assert "no such folder or file" in capsys.readouterr().out


@pytest.mark.slow
def test_the_kernel_startup_file_bends_keras_and_the_registry(tmp_path):
    """A fresh interpreter (as a kernel is) runs the startup file, then the real path."""
    root = tmp_path / "s"
    manifest = _manifest(root, [_vgg16_notop()], train=1, validation=1)
    out = tmp_path / "rehearsal"
    startup = rehearse.write_startup(out, manifest, standins.banner_text("test"))
    env = rehearse.kernel_env("cpu", out, manifest, "")
    code = f"""
import urllib.request
def no_network(url, *a, **k):
    raise OSError("no network in this test: " + url)
urllib.request.urlretrieve = no_network   # before Keras binds it
exec(open({str(startup)!r}).read())
assert "keras" not in sys.modules, "the startup file must not import TensorFlow"
import nbhelpers as nbh
base = nbh.models.load_backbone("vgg16", weights="imagenet", input_shape=(32, 32, 3))
print(json.dumps({{"banner": _REHEARSAL_BANNER, "url": nbh.data.REGISTRY["cats_and_dogs"].url,
                  "layers": len(base.layers)}}))
"""
    done = subprocess.run([sys.executable, "-c", "import sys, json\n" + code], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert standins.BANNER in got["banner"]
    assert got["url"] == Path(manifest["archive"]["abs_path"]).as_uri()
    assert got["layers"] == 20  # image, preprocess and VGG16's 18 layers


def test_first_error_names_the_cell_and_the_error(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("x = 1")
    bad = nbformat.v4.new_code_cell("# a comment\nmodel = load()\nmore()")
    bad.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom",
                                          traceback=[])]
    nb.cells = [ok, bad]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert rehearse.first_error(path) == "cell 1 (model = load()): ValueError: boom"
    nb.cells = [ok]
    nbformat.write(nb, path)
    assert rehearse.first_error(path) is None


def test_same_value_compares_an_override_with_the_profile_field():
    assert rehearse.same_value(0.001, "1e-3") and rehearse.same_value(40, "40")
    assert rehearse.same_value(None, "None") and not rehearse.same_value(None, "0")
    assert not rehearse.same_value(300, "40") and rehearse.same_value("cats", "cats")


def test_the_unit_is_the_less_disturbed_of_its_two_measurements():
    u, note = rehearse.settled_unit(10.38, 4.89)  # a neighbour's burst before the notebooks
    assert u == 4.89 and "unsteady" in note and "10.38 s before" in note
    u, note = rehearse.settled_unit(4.9, 5.1)
    assert u == 4.9 and "unsteady" not in note
    assert rehearse.settled_unit(5.0, None) == (5.0, "measured 5.00 s before the notebooks")


def test_each_notebook_is_in_the_unit_measured_next_to_it():
    """The machine's speed drifted from 4.30 to 3.50 s within one run: a notebook is divided
    by the smaller of the two measurements around it, not by one taken minutes away; a lost
    measurement leaves the one next to it."""
    assert rehearse.notebook_units([4.3, 4.1, 3.6, 3.5], 3) == [4.1, 3.6, 3.5]
    assert rehearse.notebook_units([5.0, 9.0], 1) == [5.0]  # a burst after it: the one before
    assert rehearse.notebook_units([5.0, None, None, 4.0], 3) == [5.0, 4.0, 4.0]
    assert rehearse.notebook_units([5.0, 4.5], 3) == [4.5, 4.5, 4.5]  # before and after them all


def test_a_unit_probe_that_dies_answers_none_and_the_first_failure_stops(tmp_path):
    """The parent's side of the probe: lines that are not JSON are skipped, a child that died
    answers None (the run goes on), a child that never measured stops the run with its errors."""
    child = tmp_path / "child.py"
    child.write_text(
        "import sys\n"
        "print('Downloading data from somewhere')\n"  # a stray line before the JSON
        "print('{\"unit_seconds\": 4.0, \"cpu_seconds\": 8.0}', flush=True)\n"
        "sys.stdin.readline()\n"
        "print('{\"unit_seconds\": 3.5, \"cpu_seconds\": 7.0}', flush=True)\n"
        "sys.stdin.readline()\n"
        "sys.exit(3)\n")  # dies on the second request
    with rehearse.UnitProbe(dict(os.environ), [sys.executable, str(child)]) as probe:
        assert probe.first["unit_seconds"] == 4.0
        assert probe.measure()["unit_seconds"] == 3.5
        assert probe.measure() is None and probe.measure() is None
    assert probe.process.poll() is not None
    broken = tmp_path / "broken.py"
    broken.write_text("import sys\nprint('no model here', file=sys.stderr)\nsys.exit(1)\n")
    with pytest.raises(SystemExit, match="(?s)measuring the unit failed.*no model here"):
        rehearse.UnitProbe(dict(os.environ), [sys.executable, str(broken)])


def test_the_unit_probe_measures_again_on_each_request(monkeypatch, capsys):
    """The child keeps the base loaded: its first line is the first measurement, then one line
    per request, each a new measurement (the parent's UnitProbe reads them)."""
    import io

    calls = []
    monkeypatch.setattr(rehearse, "_measure_here", lambda: ({"unit_seconds": 4.0, "cpu_seconds": 8.0,
                                                             "overrides_applied": None}, "base"))

    def timed(base, warmup=True):
        calls.append((base, warmup))
        return 3.0 + len(calls), 7.0
    monkeypatch.setattr(rehearse, "unit_times", timed)
    monkeypatch.setattr(sys, "stdin", io.StringIO("measure\nmeasure\n"))
    assert rehearse._probe_here() == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["unit_seconds"] for line in lines] == [4.0, 4.0, 5.0]
    assert calls == [("base", False)] * 2  # the same loaded base, warm, once per request


def test_the_simulated_colab_run_opens_each_notebook_on_its_badges_runtime():
    """--colab: the profile follows the runtime each notebook's saved metadata asks Colab for."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        asks_gpu = json.loads(path.read_text())["metadata"].get("accelerator") == "GPU"
        env = rehearse.colab_runtime(path.stem)
        assert env == (rehearse.COLAB_GPU_ENV if asks_gpu else rehearse.COLAB_CPU_ENV), path.name
    assert rehearse.COLAB_GPU_ENV["NBH_PROFILE"] == "full"


def test_work_redone_is_a_file_an_earlier_notebook_wrote_and_a_later_one_rewrote(tmp_path):
    data = tmp_path / "data"
    (data / "artifacts" / "full").mkdir(parents=True)
    writers: dict[str, str] = {}
    s0 = rehearse.file_stamps(data)
    (data / "artifacts" / "full" / "head.keras").write_bytes(b"1")
    (data / "artifacts" / "full" / "head.keras.lock").write_bytes(b"")  # locks are not work
    s1 = rehearse.file_stamps(data)
    assert list(s1) == ["artifacts/full/head.keras"]
    assert rehearse.rewrites(writers, s0, s1, "05") == []  # written for the first time
    (data / "artifacts" / "full" / "runs").mkdir()
    (data / "artifacts" / "full" / "runs" / "07-demo.json").write_text("{}")
    s2 = rehearse.file_stamps(data)
    assert rehearse.rewrites(writers, s1, s2, "07") == []  # a new file of 07's own
    (data / "artifacts" / "full" / "head.keras").write_bytes(b"22")  # 09 retrains 05's head
    s3 = rehearse.file_stamps(data)
    assert rehearse.rewrites(writers, s2, s3, "09") == ["artifacts/full/head.keras (written by 05)"]
    assert writers["artifacts/full/head.keras"] == "09"


def test_the_recorded_cpu_timings_describe_todays_notebooks_within_the_budget():
    """docs/timings.json's cpu rows (the instructor guide's table): every notebook measured on
    the code it has today, each within BUDGET_NOTEBOOK units, the series within BUDGET_SERIES."""
    import run_course

    timings = json.loads((ROOT / "docs" / "timings.json").read_text())
    failures = rehearse.recorded_budget_failures(timings, run_course.nbtools.notebooks())
    assert not failures, "\n".join(failures)


def test_a_notebook_made_slower_or_changed_without_a_new_timing_fails_the_check(tmp_path):
    import run_course

    paths = run_course.nbtools.notebooks()[:3]
    rows = {p.stem: {"units": 10.0, "code": run_course.code_digest(p), "commit": "c0ffee1",
                     "date": "2026-12-06"} for p in paths}
    assert rehearse.recorded_budget_failures({"cpu": rows}, paths) == []
    slower = {**rows, paths[0].stem: {**rows[paths[0].stem], "units": rehearse.BUDGET_NOTEBOOK + 1}}
    assert [f.split(":")[0] for f in rehearse.recorded_budget_failures({"cpu": slower}, paths)] == [
        paths[0].stem]
    many = {k: {**v, "units": rehearse.BUDGET_SERIES / 2} for k, v in rows.items()}
    assert any(f.startswith("the series") for f in rehearse.recorded_budget_failures({"cpu": many}, paths))
    def edit(kind, tagged):
        """A copy of paths[1] with one cell of that kind (setup-tagged or not) changed."""
        nb = json.loads(paths[1].read_text())
        cell = next(c for c in nb["cells"] if c["cell_type"] == kind
                    and ("setup" in c["metadata"].get("tags", [])) == tagged)
        cell["source"].append("\nx = 1")
        edited = tmp_path / paths[1].name
        edited.write_text(json.dumps(nb))
        return rehearse.recorded_budget_failures({"cpu": {edited.stem: rows[paths[1].stem]}}, [edited])

    (failure,) = edit("code", tagged=False)  # one of its own code cells: re-measure it
    assert "code changed" in failure and 'ONLY="' in failure
    assert edit("markdown", tagged=False) == []  # a prose edit needs no new timing
    assert edit("code", tagged=True) == []  # nor a new release in the generated setup cell
    undigested = {paths[0].stem: {k: v for k, v in rows[paths[0].stem].items() if k != "code"}}
    assert "no code digest" in rehearse.recorded_budget_failures({"cpu": undigested}, paths[:1])[0]
    assert "no timing" in rehearse.recorded_budget_failures({"cpu": {}}, paths[:1])[0]


def test_remeasuring_a_notebook_starts_from_what_the_earlier_ones_saved(tmp_path, capsys):
    """make rehearse ONLY="06": 05's head is there (06 does not train it in its own time),
    06's and later notebooks' files are not (06 does not load what it saved last time)."""
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    files = {"a/head.keras": "05_x", "a/finetuned.keras": "06_x", "a/int8.tflite": "12_x"}
    for f in files:
        (data / f).write_text("1")
    rehearse.save_writers(tmp_path, files, usable=True, first=None)  # a full recorded run
    assert rehearse.start_from_last_full_rehearsal(tmp_path, "06_x", "05_x")
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*.*")) == ["a/head.keras"]
    rehearse.save_writers(tmp_path, {"a/finetuned.keras": "06_x"}, usable=True, first="06_x")
    record = json.loads((tmp_path / rehearse.WRITERS).read_text())
    assert record["through"] == "06_x" and record["writers"]["a/head.keras"] == "05_x"
    assert rehearse.start_from_last_full_rehearsal(tmp_path, "06_x", "05_x")  # 06 again: fine
    capsys.readouterr()
    assert not rehearse.start_from_last_full_rehearsal(tmp_path, "12_x", "11_x")  # 07-11 gone
    assert "no recorded full rehearsal" in capsys.readouterr().out
    rehearse.save_writers(tmp_path, files, usable=False, first=None)  # CI's small budgets
    assert not rehearse.start_from_last_full_rehearsal(tmp_path, "06_x", "05_x")
    rehearse.save_writers(tmp_path, files, usable=True, first=None)
    text = (tmp_path / rehearse.WRITERS).read_text()
    (tmp_path / rehearse.WRITERS).write_text(text[: len(text) // 2])  # killed while writing
    assert not rehearse.start_from_last_full_rehearsal(tmp_path, "06_x", "05_x")
    assert (data / "a" / "head.keras").exists()  # a damaged record deletes nothing
