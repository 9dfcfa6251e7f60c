"""nbhelpers.env: what to install when TensorFlow is missing, and Drive on Colab."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

from nbhelpers import config, env

ROOT = Path(__file__).resolve().parent.parent


def test_require_tensorflow_names_an_extra_that_exists(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import fails as if not installed
    with pytest.raises(ImportError) as info:
        env.require_tensorflow()
    message = str(info.value)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert f"nbhelpers[{env.LOCAL_EXTRA}]" in message
    assert any(r.startswith("tensorflow") for r in extras[env.LOCAL_EXTRA])
    assert "nbhelpers[tf]" not in message


class FakeDrive:
    """google.colab.drive as Colab has it: mount() makes <mount_point>/MyDrive appear."""

    def __init__(self):
        self.mounts: list[str] = []

    def mount(self, mount_point: str, force_remount: bool = False) -> None:
        self.mounts.append(mount_point)
        (Path(mount_point) / "MyDrive").mkdir(parents=True, exist_ok=True)


@pytest.fixture
def colab(monkeypatch):
    drive = FakeDrive()
    try:
        import google  # noqa: F401 - the namespace protobuf installs
    except ImportError:
        google = types.ModuleType("google")
        google.__path__ = []  # a package, so `from google.colab import drive` resolves
        monkeypatch.setitem(sys.modules, "google", google)
    colab_mod = types.ModuleType("google.colab")
    colab_mod.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", colab_mod)
    monkeypatch.setitem(sys.modules, "google.colab.drive", drive)
    monkeypatch.setenv("NBH_DATA_DIR", config.data_dir().as_posix())  # restored afterwards
    monkeypatch.setattr(config, "_CURRENT", list(config._CURRENT))  # so is the current setup()
    return drive


def test_use_drive_mounts_once_and_points_the_data_folder_at_drive(colab, tmp_path, capsys):
    mount = tmp_path / "drive"
    path = env.use_drive("courses/vgg16", mount_point=str(mount))
    assert path == mount / "MyDrive" / "courses" / "vgg16" and path.is_dir()
    assert colab.mounts == [str(mount)]
    assert config.data_dir() == path.resolve()  # what the next nbh.setup() will use
    assert "Run `cfg = nbh.setup()` again" in capsys.readouterr().out

    again = env.use_drive("courses/vgg16", mount_point=str(mount))
    assert again == path and colab.mounts == [str(mount)], "an already mounted Drive is reused"


def test_use_drive_after_setup_survives_into_the_artifacts(colab, tmp_path):
    import nbhelpers as nbh

    path = env.use_drive(mount_point=str(tmp_path / "drive"))
    cfg = nbh.setup("offline", quiet=True)
    assert cfg.data_dir == path.resolve()
    assert cfg.artifacts_dir.is_relative_to(path.resolve()) and cfg.artifacts_dir.is_dir()


def test_use_drive_elsewhere_changes_nothing_and_says_so(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    before = config.data_dir()
    assert env.use_drive() == before
    out = capsys.readouterr().out
    assert "Not on Google Colab: Drive not mounted" in out and str(before) in out
    assert config.data_dir() == before


@pytest.mark.parametrize("bad", ["", "/content/x", "../outside", "a/../../b"])
def test_use_drive_refuses_a_folder_outside_my_drive(bad):
    with pytest.raises(ValueError, match="relative path inside MyDrive"):
        env.use_drive(bad)


NOISY = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
         b"I0000 00:00:1796172902.205183     548 port.cc:153] oneDNN custom operations are on. "
         b"You may see slightly different numerical results.\n"
         b"E0000 00:00:1.0 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to "
         b"register factory for plugin cuDNN when one has already been registered\n"
         b"W0000 real trouble: could not load dynamic library 'libcudart.so.12'\n")


def _run(code: str, **extra_env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environ.update(PYTHONPATH=str(ROOT), **extra_env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, cwd=ROOT, timeout=300)


def test_native_noise_is_held_back_and_every_other_line_passed_on():
    code = ("import os\nfrom nbhelpers import env\nwith env.native_noise_filtered():\n"
            f"    os.write(2, {NOISY!r})\nos.write(2, b'after the block\\n')\n")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert "real trouble: could not load dynamic library" in out.stderr
    assert "after the block" in out.stderr  # descriptor 2 is restored
    for notice in ("absl::InitializeLog", "oneDNN", "Unable to register cuDNN"):
        assert notice not in out.stderr


def test_setup_shows_the_banner_without_tensorflows_start_up_notices(tmp_path):
    out = _run("import nbhelpers as nbh\nnbh.setup('offline')\nimport tensorflow as tf\n"
               "print(float(tf.reduce_sum(tf.ones(3))))", NBH_DATA_DIR=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "OFFLINE PROFILE" in out.stdout and "3.0" in out.stdout
    assert "oneDNN" not in out.stderr and "absl::InitializeLog" not in out.stderr, out.stderr


def test_the_retracing_warning_is_dropped_and_other_warnings_kept(caplog):
    tf = env.load_tensorflow()
    env.load_tensorflow()  # twice: one filter, not two
    logger = tf.get_logger()
    assert sum(isinstance(f, env._QuietRetracing) for f in logger.filters) == 1
    with caplog.at_level("WARNING", logger=logger.name):
        logger.warning("5 out of the last 5 calls to <function f> triggered tf.function "
                       "retracing. Tracing is expensive.")
        logger.warning("Gradients do not exist for variables ['dense/kernel']")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Gradients do not exist for variables ['dense/kernel']"]


def test_on_colab_the_data_folder_is_where_the_files_pane_looks(colab, monkeypatch):
    monkeypatch.delenv("NBH_DATA_DIR")
    assert config.data_dir() == config.COLAB_DATA_DIR == Path("/content/nbhelpers_data")
    monkeypatch.setenv("NBH_DATA_DIR", "/content/drive/MyDrive/x")  # use_drive() wins
    assert config.data_dir() == Path("/content/drive/MyDrive/x")


def test_where_to_find_a_file_on_colab_and_elsewhere(colab, tmp_path, monkeypatch):
    f = Path("/content/nbhelpers_data/artifacts/cpu/export/model_int8.tflite")
    line = env.where_to_find(f)  # the colab fixture: on Colab
    assert "Files pane" in line and "content/nbhelpers_data/artifacts" in line
    assert f"files.download('{f}')" in line
    assert "outside /content" in env.where_to_find(tmp_path / "model.keras")
    assert "file by file" in env.where_to_find(tmp_path)  # a folder
    monkeypatch.chdir(tmp_path)
    assert env.where_to_find(tmp_path / "export" / "m.tflite", colab=False) == "export/m.tflite"
