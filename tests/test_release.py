"""One release, named once: version, tag, install line, badges and README agree.

nbhelpers/_release.py holds the version and the repository; everything else is
generated from it (`make nav`) or reads it.  These tests look at the files as a
reader or Colab sees them, so a hand edit that names another ref fails here.
"""

from __future__ import annotations

import re
import runpy
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbtools  # noqa: E402
import release  # noqa: E402

RELEASE = runpy.run_path(str(ROOT / "nbhelpers" / "_release.py"))
VERSION, REPO_URL, TAG = RELEASE["VERSION"], RELEASE["REPO_URL"], RELEASE["TAG"]
SLUG = REPO_URL.removeprefix("https://github.com/")

# Every way a file can point at the course: (what it names, the pattern).
COLAB = re.compile(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([^/]+)/")
BINDER = re.compile(r"mybinder\.org/v2/gh/([\w.-]+/[\w.-]+)/([^?)\s]+)")
GIT_INSTALL = re.compile(r"git\+(https://github\.com/[\w.-]+/[\w.-]+)@([\w.-]+)")


def refs_in(text: str) -> list[tuple[str, str, str]]:
    """(kind, repository, ref) for every Colab, Binder and pip-from-git link in `text`."""
    out = [("colab", m[1], m[2]) for m in COLAB.finditer(text)]
    out += [("binder", m[1], m[2]) for m in BINDER.finditer(text)]
    out += [("git", m[1].removeprefix("https://github.com/"), m[2])
            for m in GIT_INSTALL.finditer(text)]
    return out


def test_tag_and_version_are_one():
    assert TAG == f"v{VERSION}" and nbtools.REF == TAG and nbtools.VERSION == VERSION
    assert release.PEP440.match(VERSION)


def test_the_package_version_is_the_release():
    import nbhelpers

    assert nbhelpers.__version__ == VERSION
    init = (ROOT / "nbhelpers" / "__init__.py").read_text()
    assert not re.search(r"^__version__\s*=\s*['\"]", init, re.M), (
        "nbhelpers/__init__.py sets its own version string; it must read it: "
        "`from ._release import VERSION as __version__`")


def test_pyproject_reads_the_version_and_the_url():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "nbhelpers._release.VERSION"}
    assert project["project"]["urls"]["Repository"] == REPO_URL


@pytest.mark.parametrize("path", [*nbtools.notebooks(), ROOT / "README.md"],
                         ids=lambda p: p.name)
def test_every_link_and_install_names_this_release(path):
    text = path.read_text()
    found = refs_in(text)
    assert found, f"{path.name}: no Colab badge or install line"
    wrong = [f for f in found if f[1:] != (SLUG, TAG)]
    assert not wrong, f"{path.name} points elsewhere than {SLUG}@{TAG}: {wrong}"


def test_the_notebooks_open_and_install_the_same_ref():
    for path in nbtools.notebooks():
        nb = nbformat.read(path, as_version=4)
        header = nb.cells[0].source
        setup = next(c.source for c in nb.cells if "setup" in c.metadata.get("tags", []))
        assert f"/blob/{TAG}/notebooks/{path.name}" in header
        assert f'REPO, REF = "{REPO_URL}", "{TAG}"' in setup


def test_readme_badges_and_install_line():
    text = (ROOT / "README.md").read_text()
    assert f"[![Binder](https://mybinder.org/badge_logo.svg)]({nbtools.binder_url()})" in text
    assert nbtools.install_line() in text and f"Release **{TAG}**" in text


def test_citation_names_the_release():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == VERSION and cff["repository-code"] == REPO_URL
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT" and cff["authors"]


def test_changelog_has_the_release():
    assert re.search(rf"^## \[{re.escape(VERSION)}\]", (ROOT / "CHANGELOG.md").read_text(), re.M)


def test_another_url_is_one_value(monkeypatch):
    """Moving the course: REPO_URL changes every badge, link and install line."""
    moved = "https://github.com/someone-else/vgg-course"
    monkeypatch.setattr(nbtools, "REPO_URL", moved)
    monkeypatch.setattr(nbtools, "GITHUB_SLUG", "someone-else/vgg-course")
    readme = nbtools.readme_text((ROOT / "README.md").read_text())
    assert {r[1] for r in refs_in(readme)} == {"someone-else/vgg-course"}
    assert nbtools.pyproject_text((ROOT / "pyproject.toml").read_text()).count(moved) == 1
    assert f'repository-code: "{moved}"' in nbtools.citation_text(
        (ROOT / "CITATION.cff").read_text())
    assert "someone-else/vgg-course" in nbtools.header_source("05_adding_a_head")


def test_only_generated_files_name_the_repository():
    """So that moving the course is one value and `make nav`."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout")
    generated = {p.relative_to(ROOT).as_posix() for p in nbtools.RELEASE_FILES}
    generated |= {p.relative_to(ROOT).as_posix() for p in nbtools.notebooks()}
    allowed = generated | {"nbhelpers/_release.py"}
    naming = []
    for name in tracked.stdout.split():
        path = ROOT / name
        if path.is_file() and path.suffix not in {".png", ".jpg", ".gz", ".zip"}:
            try:
                if SLUG in path.read_text():
                    naming.append(name)
            except UnicodeDecodeError:
                continue
    stray = sorted(set(naming) - allowed)
    assert not stray, f"these files spell out {SLUG}; read nbhelpers/_release.py instead: {stray}"


def test_release_check_passes_and_catches_a_mismatch(monkeypatch):
    problems, _ = release.check()
    assert problems == []
    monkeypatch.setattr(nbtools, "REF", "v9.9.9")
    problems, _ = release.check()
    assert any("TAG 'v9.9.9' must be" in p for p in problems)
    assert any("does not open v9.9.9" in p for p in problems)


@pytest.mark.parametrize("stem", [c[0] for c in nbtools.COURSE])
def test_colab_asks_for_a_gpu_where_the_full_profile_trains(stem):
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    if stem[:2] in nbtools.GPU_NOTEBOOKS:
        assert nb.metadata["accelerator"] == "GPU"
        assert nb.metadata["colab"]["gpuType"] == "T4"
    else:
        assert "accelerator" not in nb.metadata


def test_every_notebook_that_trains_or_uses_a_trained_model_opens_on_a_gpu():
    """One profile per course run on Colab: a notebook that trains, or loads what 05/06
    trained, opens on the same runtime as they do, so it finds their artifacts (with
    `use_drive()`) instead of retraining them in another profile."""
    uses = ("get_model(", "training.fit(", "train_head_on_features(", "model.fit(")
    for stem, _, _ in nbtools.COURSE:
        nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        if any(u in code for u in uses):
            assert stem[:2] in nbtools.GPU_NOTEBOOKS, f"{stem} trains or loads a model on a CPU runtime"


def test_the_mixed_lane_runs_exactly_the_notebooks_colab_opens_on_a_gpu(capsys):
    """`make test-mixed` reads `nbtools.py runtime gpu`; every notebook is on one runtime."""
    gpu, cpu = nbtools.runtime_notebooks("gpu"), nbtools.runtime_notebooks("cpu")
    assert sorted(gpu + cpu) == nbtools.notebooks() and not set(gpu) & set(cpu)
    assert {p.name[:2] for p in gpu} == nbtools.GPU_NOTEBOOKS
    assert nbtools.main(["runtime", "gpu"]) == 0
    assert capsys.readouterr().out.split() == [str(p.relative_to(ROOT)) for p in gpu]
    assert "MIXED_NOTEBOOKS ?= $(shell $(PY) scripts/nbtools.py runtime gpu)" in \
        (ROOT / "Makefile").read_text()
    with pytest.raises(ValueError, match="choose 'gpu' or 'cpu'"):
        nbtools.runtime_notebooks("tpu")


def test_artifact_check_reads_the_wheel(tmp_path):
    """`make release` refuses a wheel without the package data or with another version."""
    wheel = tmp_path / f"nbhelpers-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("nbhelpers/__init__.py", "")
        zf.writestr(f"nbhelpers-{VERSION}.dist-info/METADATA", "Name: nbhelpers\nVersion: 0.0.1\n")
    import tarfile

    sdist = tmp_path / f"nbhelpers-{VERSION}.tar.gz"
    with tarfile.open(sdist, "w:gz"):
        pass
    problems = release.artifact_problems(wheel, sdist)
    assert any("imagenet_class_index.json" in p for p in problems)
    assert any(f"does not say Version: {VERSION}" in p for p in problems)
    assert any("LICENSE" in p for p in problems) and any("pyproject.toml" in p for p in problems)
