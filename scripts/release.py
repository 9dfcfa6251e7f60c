"""`make release`: check that the release is consistent, build it, test what was built.

    python scripts/release.py check   version = tag = what the notebooks install and open
    python scripts/release.py build   check, then the sdist and the wheel in build/dist/
    python scripts/release.py test    build, then install the wheel into a clean venv
                                      (build/release-venv) and run the unit tests there
    python scripts/release.py         all three (what `make release` runs)

The version, the tag and the repository come from nbhelpers/_release.py only;
docs/publishing.md says what to do with the result.  `test` installs the wheel
(not the checkout) with the lock's pins and runs RELEASE_TESTS, offline, from a
folder outside the checkout, so a file missing from the wheel fails there.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbtools  # noqa: E402

ROOT = nbtools.ROOT
DIST = ROOT / "build" / "dist"
VENV = ROOT / "build" / "release-venv"
CHANGELOG = ROOT / "CHANGELOG.md"
#: Unit tests that exercise the installed package only (no repository files, no training).
RELEASE_TESTS = ["test_conv.py", "test_balance.py", "test_evaluate.py", "test_config.py",
                 "test_plots_conv.py", "test_prefetch.py"]
#: Modules whose doctests run against the wheel too (fast, no TensorFlow training).
RELEASE_DOCTESTS = ["conv", "balance", "evaluate", "env", "_release"]
PEP440 = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def check() -> tuple[list[str], list[str]]:
    """(problems, notes): problems stop a release; notes say what is still to do."""
    problems, notes = [], []
    version, tag = nbtools.VERSION, nbtools.REF
    if not PEP440.match(version):
        problems.append(f"VERSION {version!r} in nbhelpers/_release.py is not a release "
                        "version such as 0.1.0")
    if tag != f"v{version}":
        problems.append(f"TAG {tag!r} must be 'v{version}' (nbhelpers/_release.py)")
    if not nbtools.REPO_URL.startswith("https://github.com/"):
        problems.append(f"REPO_URL {nbtools.REPO_URL!r}: Colab and Binder open notebooks from "
                        "GitHub; it must start with https://github.com/")
    problems += nbtools.check_problems()
    for path in nbtools.notebooks():
        source = "".join(nbtools.read(path).cells[0].source)
        if f"/blob/{tag}/" not in source:
            problems.append(f"{path.name}: its Colab badge does not open {tag}")
    if f'@{tag}"' not in nbtools.SETUP_SOURCE and f'"{tag}"' not in nbtools.SETUP_SOURCE:
        problems.append(f"the setup cell does not install {tag}")
    if not CHANGELOG.exists() or not re.search(rf"^## \[{re.escape(version)}\]",
                                               CHANGELOG.read_text(), re.M):
        problems.append(f"CHANGELOG.md has no '## [{version}]' section")
    elif re.search(rf"^## \[{re.escape(version)}\] - unreleased", CHANGELOG.read_text(), re.M):
        notes.append(f"CHANGELOG.md: replace 'unreleased' in the {version} heading by the date "
                     "you tag it")
    if git("rev-parse", "--git-dir").returncode == 0:
        if git("status", "--porcelain").stdout.strip():
            notes.append("the working tree has uncommitted changes: commit before tagging")
        at_tag = git("rev-list", "-n", "1", f"refs/tags/{tag}")
        head = git("rev-parse", "HEAD").stdout.strip()
        if at_tag.returncode == 0 and at_tag.stdout.strip() != head:
            problems.append(f"tag {tag} exists but points at {at_tag.stdout.strip()[:10]}, not "
                            f"HEAD ({head[:10]}): a new release needs a new VERSION in "
                            "nbhelpers/_release.py")
        elif at_tag.returncode != 0:
            notes.append(f"tag {tag} does not exist yet: after this passes, "
                         f"`git tag -a {tag} -m 'Release {tag}'` and push it (docs/publishing.md)")
    return problems, notes


def build() -> tuple[Path, Path]:
    """The sdist and the wheel, built from the checkout in isolation (PEP 517)."""
    try:
        import build as _build  # noqa: F401
    except ImportError:
        raise SystemExit("`python -m build` is missing: run `make venv` (it is in the dev "
                         "extra and the lock) or `pip install build`") from None
    shutil.rmtree(DIST, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(DIST),
                    str(ROOT)], check=True)
    wheels, sdists = sorted(DIST.glob("*.whl")), sorted(DIST.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"expected one wheel and one sdist in {DIST}, found {wheels + sdists}")
    problems = artifact_problems(wheels[0], sdists[0])
    if problems:
        raise SystemExit("the built release is wrong:\n  " + "\n  ".join(problems))
    print(f"built {sdists[0].name} and {wheels[0].name}")
    return sdists[0], wheels[0]


def artifact_problems(wheel: Path, sdist: Path) -> list[str]:
    """What the wheel and the sdist must carry: the version, the package data, the licence."""
    version = nbtools.VERSION
    problems = []
    if not wheel.name.startswith(f"nbhelpers-{version}-"):
        problems.append(f"{wheel.name}: not version {version}")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for needed in ("nbhelpers/__init__.py", "nbhelpers/_release.py",
                       "nbhelpers/resources/imagenet_class_index.json"):
            if needed not in names:
                problems.append(f"{wheel.name} lacks {needed}")
        meta = zf.read(f"nbhelpers-{version}.dist-info/METADATA").decode() \
            if f"nbhelpers-{version}.dist-info/METADATA" in names else ""
        if f"\nVersion: {version}\n" not in meta:
            problems.append(f"{wheel.name}: METADATA does not say Version: {version}")
        if not any(n.startswith(f"nbhelpers-{version}.dist-info/") and "LICENSE" in n
                   for n in names):
            problems.append(f"{wheel.name} lacks the LICENSE file")
    with tarfile.open(sdist) as tf:
        top = f"nbhelpers-{version}/"
        for needed in ("pyproject.toml", "README.md", "LICENSE", "nbhelpers/_release.py"):
            if top + needed not in tf.getnames():
                problems.append(f"{sdist.name} lacks {needed}")
    return problems


def pytest_ini() -> str:
    """pyproject's pytest settings (markers, warning filters) for a folder without it."""
    opts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]"]
    for key in ("markers", "filterwarnings"):
        lines += [f"{key} ="] + [f"    {v}" for v in opts.get(key, [])]
    return "\n".join(lines) + "\n"


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would import the checkout instead of the wheel."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def test(wheel: Path) -> int:
    """Install `wheel` in a clean venv with the lock's pins; run the unit tests there."""
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, env=clean_env())
    py = VENV / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["-c", str(ROOT / "requirements-lock.txt"),
                          f"nbhelpers[local] @ {wheel.resolve().as_uri()}",
                          "pytest", "hypothesis"], check=True, env=clean_env())
    with tempfile.TemporaryDirectory(prefix="nbh-release-") as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "conftest.py", work / "conftest.py")  # offline profile, temp data
        (work / "pytest.ini").write_text(pytest_ini())
        (work / "tests").mkdir()
        for name in RELEASE_TESTS:
            shutil.copy(ROOT / "tests" / name, work / "tests" / name)
        where = subprocess.run([str(py), "-c", "import nbhelpers, sys; "
                                "sys.stdout.write(nbhelpers.__file__)"],
                               cwd=work, capture_output=True, text=True, check=True,
                               env=clean_env()).stdout
        if not where.startswith(str(VENV)):
            raise SystemExit(f"the test venv imports nbhelpers from {where}, not the wheel")
        print(f"testing the wheel installed at {Path(where).parent}")
        modules = [f"nbhelpers.{m}" for m in RELEASE_DOCTESTS]
        run = subprocess.run(
            [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
             "--rootdir", str(work), "tests", "--doctest-modules", "--pyargs", *modules],
            cwd=work, env=clean_env(HOME=str(work), NBH_PROFILE="offline", MPLBACKEND="Agg",
                                    TF_CPP_MIN_LOG_LEVEL="2", TQDM_DISABLE="1"))
    return run.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", nargs="?", default="all", choices=["check", "build", "test", "all"])
    args = ap.parse_args(argv)
    problems, notes = check()
    for note in notes:
        print(f"note: {note}")
    if problems:
        print("release check FAILED:\n  " + "\n  ".join(problems))
        return 1
    print(f"release check ok: nbhelpers {nbtools.VERSION}, tag {nbtools.REF}, "
          f"{nbtools.REPO_URL}; notebooks open and install {nbtools.REF}")
    if args.step == "check":
        return 0
    _, wheel = build()
    if args.step == "build":
        return 0
    status = test(wheel)
    print("release test " + ("ok" if status == 0 else "FAILED") + f": {wheel.name} in {VENV}")
    return status


if __name__ == "__main__":
    sys.exit(main())
