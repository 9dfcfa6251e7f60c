"""Repository checks: pins agree, notebooks obey the outputs policy and navigation is current."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbtools  # noqa: E402

NOTEBOOKS = nbtools.notebooks()


def lock_pins() -> list[str]:
    return [ln.strip() for ln in (ROOT / "requirements-lock.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


def env_pins() -> tuple[str, list[str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return python, [p for p in pip if p != "-e ."], pip


def binder_pins() -> list[str]:
    return [ln.strip() for ln in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


def lock_module():
    sys.path.insert(0, str(ROOT / "scripts"))
    import lock

    return lock


def test_learner_environments_are_the_locks_pins():
    """environment.yml and binder/ pin exactly what the lock pins, for what they install."""
    lock = lock_module()
    python, conda, raw = env_pins()
    pins, binder = lock_pins(), binder_pins()
    assert python == f"python={lock.PYTHON}"
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == f"python-{lock.PYTHON}"
    assert raw[-1] == "-e ."  # conda, on your own machine: the checkout, editable
    for name, chosen in (("environment.yml", conda), ("binder/requirements.txt", binder)):
        stray = [p for p in chosen if p not in pins]
        assert not stray, f"{name} pins what the lock does not: {stray} (run scripts/lock.py)"
        assert chosen == [p for p in pins if p in chosen], f"{name}: not in the lock's order"
    assert set(binder) <= set(conda), "binder/ needs something the conda environment lacks"
    names = {lock.pin_name(p) for p in binder}
    for req in lock.roots("binder"):
        name = lock.norm(re.split(r"[<>=!~ \[]", req)[0])
        assert lock.ALIASES.get(name, name) in names, f"binder/requirements.txt lacks {name}"
    conda_names = {lock.pin_name(p) for p in conda}
    assert {"jupyterlab", "nbclient", "ipykernel"} <= conda_names
    assert not {"pytest", "ruff", "playwright", "hypothesis", "build"} & conda_names, (
        "the learners' environments carry no test or release tools")


def _lock_is_installed() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    pinned = dict(p.split("==", 1) for p in lock_pins() if ";" not in p)
    try:
        return all(version(n) == pinned[n] for n in ("keras", "numpy", "jupyterlab"))
    except (PackageNotFoundError, KeyError):
        return False


@pytest.mark.skipif(not _lock_is_installed(), reason="needs the lock's venv (make venv)")
def test_learner_environments_are_complete():
    """Everything the roots need, as installed from the lock, is pinned (and nothing else)."""
    lock = lock_module()
    _, conda, _ = env_pins()
    assert lock.learner_pins("conda") == conda, "run `python scripts/lock.py --env-only`"
    assert lock.learner_pins("binder") == binder_pins(), "run `python scripts/lock.py --env-only`"


def test_binder_post_build_installs_the_checkout_without_touching_the_pins():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert post.startswith("#!/bin/bash") and "set -euo pipefail" in post
    assert "--no-deps -e ." in post and "KERNEL_PYTHON_PREFIX" in post
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_lock_pins_every_runtime_dependency_exactly():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {re.split(r"[=;]", p)[0].lower().replace("_", "-") for p in lock_pins()}
    for dep in deps:
        name = re.split(r"[<>=!~ \[]", dep)[0].lower()
        assert name in pinned, f"{name} is a dependency but not pinned in requirements-lock.txt"
    assert all("==" in p for p in lock_pins())


def test_colab_stack_satisfies_the_ranges():
    """Installing nbhelpers on Colab must not upgrade anything Colab ships."""
    import tomllib

    from packaging.requirements import Requirement

    colab = {}
    for line in (ROOT / "requirements-colab.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            colab[name.lower().replace("_", "-")] = version
    assert colab["tensorflow"].startswith("2.20") and colab["keras"].startswith("3.13")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(d) for d in project["dependencies"] + project["optional-dependencies"]["local"]]
    for req in reqs:
        if req.name == "opencv-python-headless":  # Colab has opencv-python instead
            assert "opencv-python" in colab
        elif req.name in colab:
            assert req.specifier.contains(colab[req.name]), f"{req} rejects Colab's {colab[req.name]}"
    assert "tensorflow" not in {Requirement(d).name for d in project["dependencies"]}, (
        "TensorFlow must not be a hard dependency (Colab's would be reinstalled)"
    )


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"
    assert NOTEBOOKS[0].name == "00_start_here.ipynb"
    course = [c[0] for c in nbtools.COURSE]
    for nb in NOTEBOOKS:
        assert nb.stem in course, f"{nb.name} is not listed in scripts/nbtools.py COURSE"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_policy(path):
    problems = nbtools.policy_problems(nbformat.read(path, as_version=4), path.name)
    assert not problems, "\n".join(problems)


def test_outputs_policy_catches_violations():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells = [cell]
    assert nbtools.policy_problems(nb, "x")
    cell.source = "# NBVAL_CHECK_OUTPUT\nprint(1)"
    assert not nbtools.policy_problems(nb, "x")
    cell.outputs = [nbformat.v4.new_output("stream", text="OFFLINE PROFILE\n")]
    assert nbtools.policy_problems(nb, "x")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_anatomy(path):
    nb = nbformat.read(path, as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
    assert nb.cells[0].metadata.get("tags") == ["nav-header"]
    assert nb.cells[-1].metadata.get("tags") == ["nav-footer"]
    assert tags.count("setup") == 1
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "setup" in first_code.metadata.get("tags", []), "the setup cell must be the first code cell"
    assert re.search(r"^# ", md, re.M), "no H1 title"
    for heading in ("What you'll learn", "Prerequisites", "## Setup", "## Summary", "## Exercises"):
        assert heading in md, f"{path.name}: missing {heading!r}"
    assert not nbtools.exercise_problems(nb, path.name)


def _unchecked_claims(nb) -> list[str]:
    """Code cells that announce a result check but print it without nbh.claims.check_claim."""
    marked = re.compile(r"#\s*(checked in this run|claims:)")
    calls = re.compile(r"\b(check_claim|claim)\(")
    return [c.source.splitlines()[0][:60] for c in nb.cells
            if c.cell_type == "code" and marked.search(c.source) and not calls.search(c.source)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_result_checks_go_through_check_claim(path):
    # A sentence about this run's result is checked by nbh.claims.check_claim, which says
    # whether it held and, where not, why that can happen in the profile (issue 15).
    bad = _unchecked_claims(nbformat.read(path, as_version=4))
    assert not bad, f"{path.name}: cells marked as checking a claim without check_claim: {bad}"


def test_unchecked_claim_detector_finds_a_bare_print():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('# checked in this run: "x"\nprint("x:", 1 < 2)')]
    assert _unchecked_claims(nb)
    nb.cells[0].source += '\nnbh.claims.check_claim("x", 1 < 2)'
    assert not _unchecked_claims(nb)


def test_instructor_guide_has_an_objective_row_per_notebook():
    # One row per notebook, in the course's order: a renumbering cannot leave it behind.
    guide = (ROOT / "docs" / "instructor_guide.md").read_text(encoding="utf-8")
    section = guide.split("## Learning objectives per notebook", 1)[1].split("\n## ", 1)[0]
    numbers = re.findall(r"^\| (\d\d) ", section, re.M)
    assert numbers == [c[0][:2] for c in nbtools.COURSE]


def test_navigation_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "nbtools.py"), "check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_navigation_links_follow_the_course():
    stems = [c[0] for c in nbtools.COURSE]
    for i, stem in enumerate(stems):
        footer = nbtools.footer_source(stem)
        if i:
            assert f"({stems[i - 1]}.ipynb)" in footer
        if i < len(stems) - 1:
            assert f"({stems[i + 1]}.ipynb)" in footer
        assert nbtools.colab_url(stem) in nbtools.header_source(stem)


def test_student_copies_have_no_solutions(tmp_path):
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        student = nbtools.student_copy(nb)
        assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
        assert not any("Solution to exercise" in c.source for c in student.cells)
        assert len(student.cells) < len(nb.cells)


def test_exercise_check_catches_a_missing_solution():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercises\n\n**Exercise 1.** a\n\n**Exercise 2.** b")]
    sol = nbformat.v4.new_code_cell("# Solution to exercise 1\n")
    sol.metadata["tags"] = ["solution"]
    nb.cells.append(sol)
    assert nbtools.exercise_problems(nb, "x") == ["x: exercises without a solution cell: 2"]


def test_setup_cell_installs_only_on_colab():
    src = nbtools.SETUP_SOURCE
    assert 'if "google.colab" in sys.modules:' in src
    assert f'"{nbtools.REF}"' in src and "git+{REPO}@{REF}" in src and '"lime"' in src
    assert "cfg = nbh.setup()" in src


def test_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text
    assert "<!-- course-map:start -->" in text


def test_ci_runs_make_test():
    text = (ROOT / ".ci" / "run").read_text()
    assert "make test" in text and "set -euo pipefail" in text


def test_class_index_ships_inside_the_package():
    """Colab installs nbhelpers from git: data/ is not there, the package's resources are."""
    import tomllib
    from importlib.resources import files

    assert (files("nbhelpers") / "resources" / "imagenet_class_index.json").is_file()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "resources/*.json" in setuptools["package-data"]["nbhelpers"]


def _old_python() -> str | None:
    pyenv = sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.10*/bin/python3.10")))
    return pyenv[0] if pyenv else shutil.which("python3.10")


@pytest.mark.skipif(_old_python() is None or shutil.which("make") is None,
                    reason="needs make and a Python 3.10 to refuse")
def test_make_venv_refuses_an_old_python_before_building(tmp_path):
    venv = tmp_path / "venv"
    result = subprocess.run(["make", "-C", str(ROOT), "venv", f"PYTHON={_old_python()}",
                             f"VENV={venv}"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "make venv needs Python 3.11 or newer" in result.stdout
    assert "is Python 3.10" in result.stdout and "PYTHON=python3.11" in result.stdout
    assert not venv.exists(), "nothing may be built with the wrong interpreter"


def test_colab_lane_says_where_it_came_from_and_how_to_refresh():
    sys.path.insert(0, str(ROOT / "scripts"))
    import colab_requirements

    text = (ROOT / "requirements-colab.txt").read_text()
    source = re.search(r"^# Source: github\.com/googlecolab/backend-info@([0-9a-f]{7,40})", text, re.M)
    assert source, "requirements-colab.txt must name the backend-info commit it came from"
    assert "make colab-requirements" in text and "colab-requirements:" in (ROOT / "Makefile").read_text()
    pins = colab_requirements.parse_freeze(text)
    # The headline versions in the header are the pins below it.
    for name, version in re.findall(r"(tensorflow|keras|numpy|ipython|protobuf) (\d[\w.]*)", text):
        assert pins[name][1] == version, f"header says {name} {version}, pin is {pins[name][1]}"
    assert "lime" in pins and "nbval" in pins


def test_colab_freeze_parser_skips_links_and_comments():
    sys.path.insert(0, str(ROOT / "scripts"))
    import colab_requirements

    freeze = colab_requirements.parse_freeze(
        "# comment\nKeras==3.13.2\ntorch @ https://download.pytorch.org/x.whl\n"
        "google-colab @ file:///colabtools/dist/google_colab-1.0.0.tar.gz\nml_dtypes==0.6.0\n")
    assert freeze == {"keras": ("Keras", "3.13.2"), "ml-dtypes": ("ml_dtypes", "0.6.0")}


# --------------------------------------------------------------------------- result words


def test_every_result_sentence_is_checked_in_its_run_or_reviewed():
    """Issue 27: prose that says "faster", "improves", "shrinks" ... either has a claim checked
    beside it, or a person has read it as a general rule (docs/reviewed_sentences.txt)."""
    import nbtools

    rows = nbtools.unreviewed_result_sentences()
    assert not rows, (
        "sentences with a result word that no claim beside them checks and nobody has reviewed "
        "(check them with nbh.claims.check_claim in the code cell before or after, or, if they "
        "teach a rule in general, read them and run `python scripts/nbtools.py result-words "
        "--accept`):\n" + "\n".join(f"  {stem} cell {i}: {s}" for stem, i, s in rows))


def _notebook(tmp_path: Path, *cells) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c[3:]) if c.startswith("md:")
                else nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / "99_example.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_result_sentence_is_found_until_checked_or_reviewed_and_again_when_edited(tmp_path):
    import nbtools

    said = "The cached epoch is faster than the first."
    bare = _notebook(tmp_path, "x = 1", f"md:Setup done. {said}", "y = 2")
    assert nbtools.result_sentences(bare) == [(1, said)]
    for code in ('claim("the cached epoch is faster", t2 < t1)',
                 'nbh.claims.check_claim("faster", True)'):
        checked = _notebook(tmp_path, code, f"md:{said}")
        assert nbtools.result_sentences(checked) == []
    # Reviewed: listed by its key; an edited sentence is a new one.
    reviewed = tmp_path / "reviewed.txt"
    reviewed.write_text(f"# header\n{nbtools.sentence_key(said)}  99  {said}\n")
    assert nbtools.unreviewed_result_sentences([bare], reviewed) == []
    edited = _notebook(tmp_path, f"md:{said.replace('faster', 'much faster')}")
    assert len(nbtools.unreviewed_result_sentences([edited], reviewed)) == 1
    # No result word, or only in navigation: nothing to review.
    plain = _notebook(tmp_path, "md:Load the data. Then train.", "md:Next: a faster way.")
    nb = nbformat.read(plain, as_version=4)
    nb.cells[1].metadata["tags"] = ["nav-footer"]
    nbformat.write(nb, plain)
    assert nbtools.result_sentences(plain) == []
    # A claim two cells away does not check it: only the cell right before or after does.
    far = _notebook(tmp_path, 'claim("faster", True)', "md:Intro.", f"md:{said}")
    assert nbtools.result_sentences(far) == [(2, said)]
    # A reviewed sentence that was edited or removed leaves a stale key, reported.
    gone = _notebook(tmp_path, "md:The sentence was rewritten without its result word.")
    assert nbtools.stale_reviewed_keys([gone], reviewed) == {nbtools.sentence_key(said)}


def test_the_reviewed_list_has_no_sentence_that_is_gone():
    """An edited or removed sentence's old entry is taken out of docs/reviewed_sentences.txt."""
    import nbtools

    assert not nbtools.stale_reviewed_keys(), (
        "keys in docs/reviewed_sentences.txt that match no sentence of today's notebooks: "
        "delete their lines")
