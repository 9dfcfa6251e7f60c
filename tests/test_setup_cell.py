"""The notebooks' setup cell, run as Google Colab runs it.

Colab is simulated with what the cell looks at: a ``google.colab`` module in
``sys.modules``, ``$HOME`` (where the once-per-VM marker lives) and git.  The
course repository is a local git repository (or a local server that answers
like GitHub does for a repository that does not exist) put in place of
``REPO_URL`` with git's own ``url.<base>.insteadOf``, so the cell's code runs
unchanged.  The install itself is real: pip installs nbhelpers from that
repository into a throwaway venv that sees this environment's packages, as
Colab's preinstalled ones, but cannot change them.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbtools  # noqa: E402

#: The cell up to its Colab-only part; the rest (`import nbhelpers as nbh`,
#: `cfg = nbh.setup()`) runs in every notebook test.
COLAB_PART = nbtools.SETUP_SOURCE.split("\nimport nbhelpers as nbh")[0]
DRIVER = """\
import sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")  # what Colab's kernel has
exec(compile(open(sys.argv[1]).read(), "setup-cell", "exec"), {"__name__": "__main__"})
import nbhelpers
print("nbhelpers", nbhelpers.__file__)
"""


def git(*args: str, cwd: Path | None = None, env: dict | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout


def base_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PIP_", "PYTHON", "VIRTUAL_ENV"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")
    return env


def redirect(env: dict, target: str) -> dict:
    """Make git fetch `target` whenever the cell asks for REPO_URL."""
    return {**env, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{target}.insteadOf",
            "GIT_CONFIG_VALUE_0": nbtools.REPO_URL}


def release_repo(tmp_path: Path, env: dict, tag: str | None = nbtools.REF) -> Path:
    """A git repository holding this checkout's package, tagged like the release."""
    repo = tmp_path / "course"
    repo.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "nbhelpers", repo / "nbhelpers",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git("init", "-q", "-b", "main", cwd=repo, env=env)
    git("add", ".", cwd=repo, env=env)
    git("commit", "-q", "-m", "release", cwd=repo, env=env)
    if tag:
        git("tag", tag, cwd=repo, env=env)
    return repo


def colab_like_python(tmp_path: Path) -> Path:
    """A venv whose preinstalled packages are this environment's, minus nbhelpers.

    They are reached through a .pth file pointing at a folder of symlinks outside
    the venv, so pip sees them as installed but outside its environment: it can
    neither uninstall nor change them (and the constraints pin them anyway).
    """
    shelf = tmp_path / "preinstalled"
    shelf.mkdir()
    for site in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        for entry in Path(site).iterdir():
            low = entry.name.lower()
            if low.startswith(("nbhelpers", "__editable__", "_nbhelpers")) or low.endswith(".pth"):
                continue
            if not (shelf / entry.name).exists():
                (shelf / entry.name).symlink_to(entry)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "colab_preinstalled.pth").write_text(f"{shelf}\n")
    return py


def run_cell(python: Path, env: dict, tmp_path: Path, before: str = "") -> subprocess.CompletedProcess:
    """Run the cell's Colab part as Colab would; ``before``: code run first (a simulated fault)."""
    cell = tmp_path / "setup_cell.py"
    cell.write_text(COLAB_PART)
    return subprocess.run([str(python), "-c", before + DRIVER, str(cell)], env=env, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)


def marker(env: dict) -> Path:
    return Path(env["HOME"]) / ".cache" / f"nbhelpers-{nbtools.REF}.installed"


def test_the_cell_is_what_the_notebooks_run():
    import nbformat

    for path in nbtools.notebooks():
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "setup" in c.metadata.get("tags", []))
        assert cell.source == nbtools.SETUP_SOURCE, f"{path.name}: run `make nav`"
    assert f'"{nbtools.REPO_URL}", "{nbtools.REF}"' in COLAB_PART
    assert 'if "google.colab" in sys.modules:' in nbtools.SETUP_SOURCE
    assert nbtools.SETUP_SOURCE.rstrip().endswith("cfg = nbh.setup()")


@pytest.mark.slow
def test_installs_once_per_vm_and_the_second_run_skips(tmp_path):
    env = base_env(tmp_path)
    repo = release_repo(tmp_path, env)
    python = colab_like_python(tmp_path)
    before = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], env=env,
                            capture_output=True, text=True, check=True).stdout

    first = run_cell(python, redirect(env, str(repo)), tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Installed nbhelpers {nbtools.REF} and lime" in first.stdout
    assert "skipping" not in first.stdout
    site = str(python.parent.parent)
    installed_at = first.stdout.split("nbhelpers ", 2)[-1].strip()
    assert installed_at.startswith(site), f"nbhelpers came from {installed_at}, not the venv"
    assert marker(env).read_text() == nbtools.REF
    built = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                            "print(m.version('nbhelpers'))"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert built == nbtools.VERSION, "pip built another version than nbhelpers/_release.py's"

    # Nothing that was there before was upgraded or replaced: only nbhelpers is new.
    after = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], env=env,
                           capture_output=True, text=True, check=True).stdout
    new = set(after.splitlines()) - set(before.splitlines())
    gone = set(before.splitlines()) - set(after.splitlines())
    assert not gone, f"the install changed preinstalled packages: {sorted(gone)}"
    assert [line.split(" @ ")[0].split("==")[0] for line in new] == ["nbhelpers"], new

    # Second run in the same VM (or another notebook): no git, no pip. The repository
    # is made unreachable, so any attempt to fetch would fail the run.
    second = run_cell(python, redirect(env, str(tmp_path / "gone")), tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"nbhelpers {nbtools.REF} is already installed in this VM: skipping" in second.stdout
    assert "Installed" not in second.stdout
    assert second.stdout.split("nbhelpers ", 2)[-1].strip().startswith(site)


class _LikeGitHub(http.server.BaseHTTPRequestHandler):
    """GitHub asks for credentials when a repository does not exist (or is private)."""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="GitHub"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def github_without_the_repo():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LikeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{nbtools.GITHUB_SLUG}"
    server.shutdown()
    server.server_close()


def test_unreachable_repository_gives_a_clear_message_not_a_password_prompt(
        tmp_path, github_without_the_repo):
    env = redirect(base_env(tmp_path), github_without_the_repo)
    result = run_cell(Path(sys.executable), env, tmp_path)
    assert result.returncode != 0
    assert f"RuntimeError: Cannot install nbhelpers from {nbtools.REPO_URL} at {nbtools.REF}: " \
           "the repository cannot be read (not published, private, or moved)" in result.stderr
    assert "Nothing was installed." in result.stderr
    # git was told not to ask for a password, and its own words stay out of the message
    assert "Username" not in result.stderr and "terminal prompts" not in result.stderr
    assert not marker(env).exists()
    assert "Installed" not in result.stdout


def test_no_network_is_told_apart_from_a_missing_repository(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on: "Failed to connect", as offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = redirect(base_env(tmp_path), f"http://127.0.0.1:{port}/{nbtools.GITHUB_SLUG}")
    result = run_cell(Path(sys.executable), env, tmp_path)
    assert result.returncode != 0
    assert "there is no network (check the runtime's internet connection)" in result.stderr
    assert "cannot be read" not in result.stderr and "fatal:" not in result.stderr
    assert not marker(env).exists()


def test_a_git_that_never_answers_gets_the_cells_own_timeout_message(tmp_path):
    hang = ("import subprocess\n_run = subprocess.run\n"
            "def _hung(args, *a, **k):\n"
            "    if args[:2] == ['git', 'ls-remote']:\n"
            "        raise subprocess.TimeoutExpired(args, k.get('timeout'))\n"
            "    return _run(args, *a, **k)\n"
            "subprocess.run = _hung\n")
    env = redirect(base_env(tmp_path), str(tmp_path / "gone"))
    result = run_cell(Path(sys.executable), env, tmp_path, before=hang)
    assert result.returncode != 0
    assert "git had no answer from it within 60 s (a slow or blocked network)" in result.stderr
    assert "TimeoutExpired" not in result.stderr.splitlines()[-1]
    assert not marker(env).exists()


def test_a_runtime_without_tensorflow_is_named_as_a_tpu_runtime(tmp_path):
    no_tf = "import sys\nsys.modules['tensorflow'] = None  # Colab's TPU runtime has none\n"
    env = redirect(base_env(tmp_path), str(tmp_path / "gone"))
    result = run_cell(Path(sys.executable), env, tmp_path, before=no_tf)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "has no TensorFlow (a TPU runtime?)" in last
    assert "Runtime > Change runtime type > CPU or T4 GPU" in last
    assert not marker(env).exists()


def test_a_missing_release_tag_is_named(tmp_path):
    env = base_env(tmp_path)
    repo = release_repo(tmp_path, env, tag=None)
    env = redirect(env, str(repo))
    result = run_cell(Path(sys.executable), env, tmp_path)
    assert result.returncode != 0
    assert f"the repository has no release {nbtools.REF} (not published yet?)" in result.stderr
    assert not marker(env).exists()


def test_outside_colab_the_cell_installs_nothing(tmp_path):
    code = COLAB_PART + "\nprint('done')\n"
    env = redirect(base_env(tmp_path), str(tmp_path / "gone"))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "done\n", result.stderr
    assert not marker(env).exists()
