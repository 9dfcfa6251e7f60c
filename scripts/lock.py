"""Regenerate requirements-lock.txt from the current venv, and the learners' environments from it.

    python scripts/lock.py            # the lock, from `pip freeze` of this interpreter, then
                                      # environment.yml and binder/requirements.txt from the lock
    python scripts/lock.py --env-only # only environment.yml and binder/, from the existing lock

Run it with the interpreter of a venv that has exactly the lock installed (`make venv`):
the learners' files are the lock's pins of what they need, found by walking the installed
packages' requirements from the roots below, so they carry no test or release tools.

- requirements-lock.txt: everything (`make venv`, CI): helpers, notebooks, dev tools.
- environment.yml (conda, on your own machine): the helpers, TensorFlow, notebook 11's
  deploy extra, JupyterLab.
- binder/requirements.txt (mybinder.org): the same without JupyterLab (Binder brings its
  own; ipykernel and ipywidgets stay), and binder/postBuild installs nbhelpers itself.

tests/test_repository.py checks that all three agree.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
ENV = ROOT / "environment.yml"
BINDER = ROOT / "binder"
BINDER_REQUIREMENTS = BINDER / "requirements.txt"
BINDER_RUNTIME = BINDER / "runtime.txt"
PYTHON = "3.11"
SKIP = {"pip", "setuptools", "wheel", "nbhelpers"}
PLATFORM_PINS = {
    # The CPU build on Linux (smaller), the regular wheel elsewhere (macOS has no -cpu build).
    "tensorflow-cpu": [
        'tensorflow-cpu=={v}; sys_platform == "linux"',
        'tensorflow=={v}; sys_platform != "linux"',
    ],
}
#: Installed under another name than the requirement's (the lock's Linux TensorFlow).
ALIASES = {"tensorflow": "tensorflow-cpu"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_header() -> list[str]:
    return [ln for ln in LOCK.read_text().splitlines() if ln.startswith("#")]


def freeze() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        check=True, capture_output=True, text=True,
    ).stdout
    pins = []
    for line in out.splitlines():
        name, _, version = line.partition("==")
        n = norm(name)
        if not version or n in SKIP:
            continue
        if n in PLATFORM_PINS:
            pins += [p.format(v=version) for p in PLATFORM_PINS[n]]
        else:
            pins.append(f"{name}=={version}")
    return pins


def lock_pins() -> list[str]:
    return [ln.strip() for ln in LOCK.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


def pin_name(pin: str) -> str:
    return norm(re.split(r"[=;<>!~ ]", pin, maxsplit=1)[0])


def roots(kind: str) -> list[str]:
    """The requirements a learner's environment starts from ("conda" or "binder")."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    out = project["dependencies"] + extras["local"] + extras["deploy"]
    if kind == "conda":
        return out + extras["notebooks"]
    if kind == "binder":  # Binder serves its own JupyterLab; the kernel side only
        kernel = {"ipykernel", "ipywidgets"}
        return out + [r for r in extras["notebooks"] if Requirement(r).name in kernel]
    raise ValueError(f"kind must be 'conda' or 'binder', not {kind!r}")


def closure(requirements: list[str]) -> set[str]:
    """Normalised names of `requirements` and everything they need, as installed here.

    Extras count: ``jsonschema[format-nongpl]`` brings what that extra asks for.
    """
    done: set[tuple[str, str]] = set()  # (package, extra) pairs already expanded
    todo = [Requirement(r) for r in requirements]
    base_env = default_environment()
    while todo:
        req = todo.pop()
        name = norm(req.name)
        if name in ALIASES and _missing(name):
            name = ALIASES[name]
        wanted = [e for e in ["", *sorted(req.extras)] if (name, e) not in done]
        if not wanted:
            continue
        done.update((name, e) for e in wanted)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError as exc:
            raise SystemExit(f"{name} is needed but not installed here: run this with the "
                             f"venv that `make venv` builds from the lock") from exc
        for spec in dist.requires or []:
            sub = Requirement(spec)
            if sub.marker is None or any(
                    sub.marker.evaluate({**base_env, "extra": e}) for e in wanted):
                todo.append(sub)
    return {name for name, _ in done}


def _missing(name: str) -> bool:
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return True
    return False


def check_installed_matches_lock(pins: list[str]) -> None:
    """The walk reads installed metadata: refuse when it is not the lock's version."""
    wrong = []
    for pin in pins:
        req = Requirement(pin)
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            have = md.version(req.name)
        except md.PackageNotFoundError:
            have = "missing"
        if not req.specifier.contains(have, prereleases=True):
            wrong.append(f"{req.name}: lock {req.specifier}, installed {have}")
    if wrong:
        raise SystemExit("this interpreter does not have the lock installed (run `make venv` "
                         "and use .venv/bin/python):\n  " + "\n  ".join(wrong[:10]))


def learner_pins(kind: str, pins: list[str] | None = None) -> list[str]:
    """The lock's pins of what a learner's environment of `kind` needs, in lock order."""
    pins = lock_pins() if pins is None else pins
    names = closure(roots(kind))
    if "tensorflow-cpu" in names:
        names.add("tensorflow")  # the lock's other-platform line goes with it
    chosen = [p for p in pins if pin_name(p) in names]
    check_installed_matches_lock(chosen)
    unpinned = names - {pin_name(p) for p in chosen} - SKIP
    if unpinned:
        raise SystemExit(f"needed but not in the lock: {', '.join(sorted(unpinned))}")
    return chosen


def write_env(pins: list[str]) -> None:
    lines = [
        "# Conda environment for learners on their own machine: conda-forge Python plus the",
        "# exact pins of requirements-lock.txt that the helpers, TensorFlow and JupyterLab",
        "# need (no test tools). Generated by scripts/lock.py; do not edit by hand.",
        "#   conda env create -f environment.yml && conda activate finetune-course",
        "name: finetune-course",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
        *[f"    - {p!r}" if ";" in p else f"    - {p}" for p in pins],
        "    - -e .",
    ]
    ENV.write_text("\n".join(lines) + "\n")


def write_binder(pins: list[str]) -> None:
    BINDER.mkdir(exist_ok=True)
    header = [
        "# mybinder.org: the exact pins of requirements-lock.txt that the helpers, TensorFlow",
        "# and the kernel need (Binder brings its own JupyterLab). Binder installs this before",
        "# it copies the repository, so nbhelpers itself is installed by binder/postBuild.",
        "# Generated by scripts/lock.py; do not edit by hand.",
    ]
    BINDER_REQUIREMENTS.write_text("\n".join(header + pins) + "\n")
    BINDER_RUNTIME.write_text(f"python-{PYTHON}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env-only", action="store_true")
    args = ap.parse_args()
    if not args.env_only:
        LOCK.write_text("\n".join(read_header() + freeze()) + "\n")
    pins = lock_pins()
    write_env(learner_pins("conda", pins))
    write_binder(learner_pins("binder", pins))
    print(f"wrote {ENV.name}, binder/" + ("" if args.env_only else f" and {LOCK.name}"))


if __name__ == "__main__":
    main()
