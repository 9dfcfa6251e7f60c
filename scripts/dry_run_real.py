"""A dry run of .github/workflows/real.yml here, offline: its steps, on the stand-ins.

    python scripts/dry_run_real.py [--only 00 05] [--full-budgets]
    make dry-run-real [RUN_ONLY="00 05"]

real.yml downloads the ImageNet weights and the cats-vs-dogs archive and runs every
notebook; neither download works here.  This runs the *same steps*, read from the
workflow file (so they cannot drift apart), in the same order and with the job's
environment, with four differences, each said on screen:

- every Python process of the run (``make prefetch``, ``make run`` and its kernels) sees
  the rehearsal's stand-ins where the downloads would be: a ``sitecustomize.py`` on
  ``PYTHONPATH`` calls ``scripts/standins.py``'s ``install_rehearsal`` (Keras' hash check
  of the stand-in weights, the ``cats_and_dogs`` registry entry as a ``file://`` URL),
  and ``KERAS_HOME`` points at the stand-ins; ``make prefetch`` still fetches and
  verifies through the course's own code;
- the data go to ``build/real-dry-run/data`` (``NBH_DATA_DIR``), not ``data/``;
- the budgets are CI's (``NBH_OVERRIDES``, scripts/rehearse.py's ``CI_OVERRIDES``) unless
  ``--full-budgets``; ``--only`` runs some notebooks (``RUN_ONLY``);
- the ``make site PUBLISH=1`` step must *refuse* (stand-in weights are not the course's
  results), and a preview is built instead; an action step (``uses:``) is not run: the
  checkout and the venv are this one's, and an upload checks that its paths exist.

Exit status 0 when every step did what it does on GitHub (the site step: refused, which
its message says: make exits 2 for any failure).  A step key or condition the dry run does
not know how to do like GitHub stops it with that name, rather than be ignored.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import rehearse  # noqa: E402
import standins  # noqa: E402

WORKFLOW = ROOT / ".github" / "workflows" / "real.yml"
JOB = "course"
OUT = ROOT / "build" / "real-dry-run"
SITECUSTOMIZE = '''\
# Written by scripts/dry_run_real.py: every Python process of a dry run of real.yml sees the
# stand-ins where the downloads would be.  Nothing else puts this folder on PYTHONPATH.
import sys as _sys

_sys.path.insert(0, {scripts!r})
import standins as _standins

_sys.path.remove({scripts!r})
try:
    _standins.install_rehearsal({root!r})
except Exception:  # site.py would print this and go on without the stand-ins: stop instead
    import os as _os
    import traceback as _traceback

    _traceback.print_exc()
    _os._exit(3)
del _sys, _standins
'''


def job(path: Path = WORKFLOW, name: str = JOB) -> dict:
    """The workflow's job ``name`` as YAML gives it (``env``, ``steps``, ...)."""
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"][name]


EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def evaluate(text: str, env: dict[str, str]) -> str:
    """The ``${{ }}`` expressions a dry run meets, as a run on a schedule evaluates them:
    ``inputs.x || 'default'`` -> the default, ``env.X`` -> ``env["X"]``.

    Example:
        >>> evaluate("${{ inputs.profile || 'cpu' }}/${{ env.OUT }}", {"OUT": "b"})
        'cpu/b'
    """
    def one(m: re.Match) -> str:
        expr = m.group(1)
        if (d := re.fullmatch(r"inputs\.[\w-]+\s*\|\|\s*'([^']*)'", expr)):
            return d.group(1)
        if (e := re.fullmatch(r"env\.(\w+)", expr)):
            return env[e.group(1)]
        raise ValueError(f"the dry run does not know how real.yml evaluates ${{{{ {expr} }}}}: "
                         f"teach scripts/dry_run_real.py's evaluate()")
    return EXPRESSION.sub(one, text)


def environment(spec: dict, overrides: str, only: list[str] | None) -> dict[str, str]:
    """The job's environment, plus what puts the stand-ins in place of the downloads."""
    manifest = standins.build(verbose=False)
    custom = OUT / "sitecustomize"
    custom.mkdir(parents=True, exist_ok=True)
    (custom / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(scripts=str(HERE), root=manifest["root"]), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in rehearse.KERNEL_ENV_DROPPED}
    for key, value in (spec.get("env") or {}).items():
        env[key] = evaluate(str(value), env)
    env.update({
        "KERAS_HOME": manifest["keras_home"],
        "NBH_REHEARSAL_STANDINS": manifest["root"],
        "NBH_DATA_DIR": str(OUT / "data"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(custom), str(ROOT),
                                                  os.environ.get("PYTHONPATH")) if p),
        "GITHUB_STEP_SUMMARY": str(OUT / "step-summary.md"),
    })
    if overrides:
        env["NBH_OVERRIDES"] = overrides
    if only:
        env["RUN_ONLY"] = " ".join(only)
    return env


#: What a step may say that the dry run knows how to do like GitHub; anything else stops it.
STEP_KEYS = {"name", "id", "uses", "with", "run", "if", "env"}


def runs_after_failure(when: str) -> bool:
    """Whether a step with this ``if:`` runs after an earlier step failed (as GitHub decides:
    ``always()`` and ``!cancelled()`` do; no ``if:`` or ``success()`` does not).

    Example:
        >>> runs_after_failure("${{ !cancelled() }}"), runs_after_failure("")
        (True, False)
    """
    bare = EXPRESSION.sub(lambda m: m.group(1), when).strip()
    if bare in ("always()", "!cancelled()"):
        return True
    if bare in ("", "success()"):
        return False
    raise ValueError(f"the dry run does not know the step condition if: {when!r}: teach "
                     f"scripts/dry_run_real.py's runs_after_failure()")


REFUSAL = "site not built: this run may not be published"


def publish_step(step: dict) -> bool:
    """The step that checks the run may be published (it must refuse stand-ins)."""
    return "PUBLISH=1" in str(step.get("run", ""))


def run_steps(spec: dict, env: dict[str, str]) -> list[tuple[str, str]]:
    """Run the job's steps as GitHub would; return (step, outcome) and stop-worthy failures
    as outcomes starting with ``FAILED``."""
    results, failed = [], False
    for i, step in enumerate(spec["steps"]):
        name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise ValueError(f"step {name!r} says {', '.join(sorted(unknown))}, which the dry "
                             f"run does not do like GitHub: teach scripts/dry_run_real.py")
        after_failure = runs_after_failure(str(step.get("if", "")))  # an unknown one stops here
        if failed and not after_failure:
            results.append((name, "skipped (an earlier step failed)"))
            continue
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action.endswith("upload-artifact"):
                paths = [evaluate(p.strip(), env) for p in step["with"]["path"].splitlines()
                         if p.strip()]
                missing = [p for p in paths if not (ROOT / p).exists()]
                outcome = (f"FAILED: nothing to upload at {', '.join(missing)}" if missing else
                           f"would upload {len(paths)} paths, all there")
            else:
                outcome = f"not run here ({action}: this checkout and venv stand in)"
            results.append((name, outcome))
            failed |= outcome.startswith("FAILED")
            continue
        script = evaluate(step["run"], env)
        step_env = {**env, **{k: evaluate(str(v), env) for k, v in (step.get("env") or {}).items()}}
        print(f"\n=== step {i}: {name}\n$ {script.strip()}", flush=True)
        run = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env=step_env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(run.stdout, end="", flush=True)
        rc = run.returncode
        if publish_step(step):  # make says 2 for any failure: the message tells a refusal
            ok = rc != 0 and REFUSAL in run.stdout and "stand-in weights" in run.stdout
            outcome = ("refused, as it must on stand-in weights" if ok else
                       f"FAILED: exit {rc}; on stand-ins it must refuse ({REFUSAL!r})")
        else:
            outcome = "ok" if rc == 0 else f"FAILED: exit {rc}"
        results.append((name, outcome))
        failed |= outcome.startswith("FAILED")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="*", help="notebook numbers (RUN_ONLY), e.g. 00 05")
    ap.add_argument("--full-budgets", action="store_true", help="the profile's own budgets")
    args = ap.parse_args(argv)
    spec = job()
    shutil.rmtree(OUT / "data", ignore_errors=True)
    (OUT / "step-summary.md").unlink(missing_ok=True)
    env = environment(spec, "" if args.full_budgets else rehearse.CI_OVERRIDES, args.only)
    shutil.rmtree(ROOT / env["RUN_OUT"], ignore_errors=True)  # this run's outputs, no older ones
    print(f"dry run of {WORKFLOW.relative_to(ROOT)} (job {JOB}): profile {env['NBH_PROFILE']}, "
          f"stand-ins {env['NBH_REHEARSAL_STANDINS']}, data {env['NBH_DATA_DIR']}, budgets "
          f"{env.get('NBH_OVERRIDES') or 'the profile’s own'}"
          + (f", notebooks {env['RUN_ONLY']}" if args.only else ""), flush=True)
    results = run_steps(spec, env)
    with tempfile.TemporaryDirectory() as tmp:  # the preview the real run would publish
        preview = subprocess.run([sys.executable, str(HERE / "build_site.py"), "build", "--from",
                                  str(ROOT / env["RUN_OUT"]), "--out", str(Path(tmp) / "site"),
                                  "--preview"], cwd=ROOT, capture_output=True, text=True)
        results.append(("site preview from this run",
                        "ok" if preview.returncode == 0 else f"FAILED: {preview.stderr.strip()}"))
    print("\nDry run of real.yml:")
    for name, outcome in results:
        print(f"  {name:<60} {outcome}")
    bad = [r for r in results if r[1].startswith("FAILED")]
    print("dry run: " + (f"{len(bad)} step(s) failed" if bad else "every step did what it does on GitHub"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
