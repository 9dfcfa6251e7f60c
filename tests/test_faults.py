"""Faults a learner's machine produces, injected on purpose (issue 26).

Each test does what really happens -- a writer killed with SIGKILL at a random
moment (in a subprocess), two kernels writing at once, a full disk (a small
tmpfs, where the tests run as root), damaged files, settings that cannot work --
and asserts that the next run gives the right result or a clear message, and
that no file of the user's own folder is changed or lost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import deploy_kit
import numpy as np
import pytest
from PIL import Image

import nbhelpers as nbh
from nbhelpers import artifacts, config, course, data, deploy, training
from nbhelpers.data import archives

ROOT = Path(__file__).resolve().parent.parent
N_IMAGES = 400  # enough files that an extraction takes a while to kill


@pytest.fixture(scope="module")
def base_cfg():
    return nbh.setup("offline", quiet=True)


@pytest.fixture
def cfg(base_cfg, tmp_path):
    """The offline profile with a data folder of this test's own."""
    root = tmp_path / "data"
    return dataclasses.replace(base_cfg, data_dir=root, cache_dir=root / "cache",
                               artifacts_dir=root / "artifacts" / "offline")


def _png(seed: int, size: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zip_of_photos(path: Path, n: int = N_IMAGES) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(n):
            z.writestr(f"photos/{'ab'[i % 2]}/{i:04d}.png", _png(i))
    return path


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _python(code: str, cfg, **env: str) -> subprocess.Popen:
    """A fresh Python (a second kernel) running ``code`` with ``cfg``'s data folder."""
    full = {**os.environ, "NBH_DATA_DIR": str(cfg.data_dir), "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


_LAYOUT = """
    import sys
    from pathlib import Path
    import nbhelpers as nbh
    cfg = nbh.config.make_config("offline")
    layout = nbh.data.folder_layout(sys.argv[1] if len(sys.argv) > 1 else {archive!r}, cfg)
    print("FILES", sum(1 for p in Path(layout.root).rglob("*.png")))
"""


# --------------------------------------------------------------------------- archives


def test_two_kernels_unpacking_one_archive_both_read_every_image(cfg, tmp_path):
    archive = _zip_of_photos(tmp_path / "photos.zip")
    before = archive.read_bytes()
    procs = [_python(_LAYOUT.format(archive=str(archive)), cfg) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert f"FILES {N_IMAGES}" in out, out + err
    extracted = cfg.cache_dir / "your_archives"
    folders = [p for p in extracted.iterdir() if p.is_dir()]
    assert len(folders) == 1 and not folders[0].name.startswith("."), folders
    assert archive.read_bytes() == before  # the user's own file is untouched


@pytest.mark.parametrize("attempt", range(4))
def test_an_unpacking_killed_at_a_random_moment_is_redone_whole(cfg, tmp_path, attempt):
    archive = _zip_of_photos(tmp_path / "photos.zip")
    proc = _python(_LAYOUT.format(archive=str(archive)), cfg)
    rng = np.random.default_rng(attempt)
    time.sleep(float(rng.uniform(1.0, 4.0)))  # somewhere in importing, locking, unpacking
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    layout = data.folder_layout(archive, cfg)
    assert sum(1 for _ in Path(layout.root).rglob("*.png")) == N_IMAGES
    leftovers = [p.name for p in (cfg.cache_dir / "your_archives").iterdir()
                 if p.name.endswith(".partial")]
    assert leftovers == []


def _add_pngs(t: tarfile.TarFile, n: int) -> None:
    """``n`` small PNGs under ``photos/a`` and ``photos/b`` (alternating) in an open tar."""
    for i in range(n):
        raw = _png(i, 32)
        info = tarfile.TarInfo(f"photos/{'ab'[i % 2]}/{i}.png")
        info.size = len(raw)
        t.addfile(info, io.BytesIO(raw))


def test_a_truncated_tar_gz_is_named_and_leaves_nothing_behind(cfg, tmp_path):
    whole = tmp_path / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as t:
        _add_pngs(t, 40)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(data.DataError, match="damaged or only partly downloaded") as e:
        data.folder_layout(cut, cfg)
    assert str(cut) in str(e.value)
    left = list((cfg.cache_dir / "your_archives").glob("*"))
    assert [p for p in left if p.is_dir()] == []


def test_an_archive_that_would_fill_the_disk_is_refused_before_unpacking(cfg, tmp_path,
                                                                         monkeypatch):
    import shutil

    archive = _zip_of_photos(tmp_path / "photos.zip", n=20)

    monkeypatch.setattr(shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10 << 30, 10 << 30, 1 << 20))
    with pytest.raises(data.DataError, match="Not enough space") as e:
        data.folder_layout(archive, cfg)
    assert "NBH_DATA_DIR" in str(e.value) and archive.name in str(e.value)


def test_a_zip_bomb_is_refused(cfg, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("photos/a/zeros.png", b"\0" * (64 << 20))
    with pytest.raises(data.DataError, match="zip bomb"):
        data.folder_layout(bomb, cfg)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (root only); skipped with the reason elsewhere."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_a_disk_that_fills_while_unpacking_is_named_as_full(base_cfg, tmp_path, small_disk,
                                                             monkeypatch):
    # Declared sizes fit (the free-space check passes), the real writes do not.
    archive = tmp_path / "big.zip"
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        for i in range(8):
            z.writestr(f"photos/{'ab'[i % 2]}/{i}.bin", rng.bytes(600_000))
    monkeypatch.setattr(archives, "check_room", lambda archive, dest: None)
    cfg = dataclasses.replace(base_cfg, data_dir=small_disk, cache_dir=small_disk / "cache")
    with pytest.raises(data.DataError, match="disk filled up"):
        data.folder_layout(archive, cfg)
    leftovers = [p for p in (small_disk / "cache" / "your_archives").iterdir() if p.is_dir()]
    assert leftovers == []  # nothing half-unpacked kept: the space is given back


def test_a_disk_that_fills_while_writing_an_artifact_is_named_and_keeps_the_old_file(small_disk):
    target = small_disk / "features.npz"
    artifacts.write_bytes(target, b"old")
    with pytest.raises(artifacts.ArtifactError, match="is full"):
        artifacts.write_bytes(target, b"x" * (8 << 20))
    assert target.read_bytes() == b"old"
    assert [p.name for p in small_disk.iterdir()] == ["features.npz"]


# --------------------------------------------------------------------------- locks


def test_a_second_kernel_waits_for_the_lock_and_a_timeout_names_the_holder(tmp_path):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time, sys
        sys.path.insert(0, {str(ROOT)!r})
        from nbhelpers import artifacts
        with artifacts.lock({str(path)!r}, what="unpacking photos.zip"):
            print("HELD", flush=True)
            time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        with pytest.raises(artifacts.LockTimeout) as e:
            with artifacts.lock(path, timeout_s=0.5):
                pass
        msg = str(e.value)
        assert str(holder.pid) in msg and "unpacking photos.zip" in msg and str(path) in msg
        holder.send_signal(signal.SIGKILL)  # a killed holder releases the lock at once
        holder.wait()
        with artifacts.lock(path, timeout_s=5):
            pass
    finally:
        holder.kill()


def test_the_plain_lock_file_takes_over_a_lock_whose_process_is_gone(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "fcntl", None)  # what Windows gets
    path = tmp_path / "y.lock.held"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True)
    import socket

    path.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    lock = tmp_path / "y.lock"
    with artifacts.lock(lock, timeout_s=5, what="me") as held:
        assert held == path and artifacts.read_json(path)["what"] == "me"
    assert not path.exists()
    path.write_text(json.dumps({"pid": os.getpid(), "host": "another-machine"}))
    with pytest.raises(artifacts.LockTimeout, match="another-machine"):
        with artifacts.lock(lock, timeout_s=0.3):
            pass


def test_a_mount_that_refuses_flock_falls_back_to_the_plain_lock_file(tmp_path, monkeypatch):
    import fcntl

    def refuse(fd, op):
        raise OSError(38, "Function not implemented")  # what some FUSE mounts answer

    monkeypatch.setattr(fcntl, "flock", refuse)
    lock = tmp_path / "z.lock"
    with artifacts.lock(lock, timeout_s=2, what="on a drive") as held:
        assert held.name == "z.lock.held" and artifacts.read_json(held)["what"] == "on a drive"
        with pytest.raises(artifacts.LockTimeout, match="on a drive"):  # a second one waits
            with artifacts.lock(lock, timeout_s=0.3):
                pass
    assert not held.exists()


# --------------------------------------------------------------------------- saved stages


def _tiny(units: int):
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(units, activation="softmax",
                                                name="predictions")(inp))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _save(cfg, units: int = 2):
    return course.save_stage(_tiny(units), "head", {"loss": [0.5]}, cfg, wall_time_s=1.0,
                             metrics={"val_accuracy": 0.5},
                             class_names=[f"c{i}" for i in range(units)])


def _load(cfg):
    return course.train_or_load._load_if_current("head", cfg, course.default_strategy(),
                                                 verbose=True)


def test_a_model_saved_without_its_record_is_never_paired_with_the_old_one(cfg, capsys):
    _save(cfg, units=2)
    assert _load(cfg) is not None
    # A 3-class model written over the file, its record not yet rewritten (the write
    # in between was interrupted, or another kernel saved meanwhile).
    model_path, record_path = course.artifact_paths("head", cfg)
    _tiny(3).save(model_path)
    capsys.readouterr()
    assert _load(cfg) is None
    out = capsys.readouterr().out
    assert "cannot be used" in out and "head.keras is not the file its record describes" in out


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "no model"])
def test_a_damaged_stage_is_retrained_not_a_crash(cfg, capsys, damage):
    _save(cfg)
    model_path, record_path = course.artifact_paths("head", cfg)
    text = record_path.read_text()
    if damage == "empty":
        record_path.write_text("")
    elif damage == "truncated":
        record_path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        model_path.write_bytes(b"PK\x03\x04 not a zip at all")
    else:
        model_path.unlink()
    capsys.readouterr()
    assert _load(cfg) is None
    assert "training it again" in capsys.readouterr().out
    if damage in ("empty", "truncated"):
        with pytest.raises(artifacts.ArtifactError, match="retrain=True"):
            course.load_record("head", cfg)


def test_retrain_gets_past_a_damaged_head_record(cfg, tmp_path):
    small = dataclasses.replace(cfg, head_epochs=1, finetune_epochs=1, max_images_per_class=12,
                                overrides={"head_epochs": 1})
    model_path, record_path = course.artifact_paths("head", small)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text('{"stage": "head", "hist')  # cut short by a crash
    model_path.write_bytes(b"")
    model = course.get_model("finetuned", small, retrain=True, verbose=False)
    assert model.output_shape[-1] in (1, 2)
    assert course.load_record("head", small)["files"]["head.keras"]["bytes"] > 0
    assert artifacts.check_files(course.load_record("finetuned", small),
                                 model_path.parent) is None


_SAVE_LOOP = """
    import nbhelpers as nbh, keras, dataclasses
    from pathlib import Path
    cfg = nbh.config.make_config("offline")
    for i in range(1000):
        units = 2 + i % 2
        inp = keras.Input((4,))
        m = keras.Model(inp, keras.layers.Dense(units, activation="softmax")(inp))
        nbh.course.save_stage(m, "head", {"loss": [0.5]}, cfg, wall_time_s=1.0,
                              metrics={"val_accuracy": 0.5},
                              class_names=[f"c{j}" for j in range(units)])
        print("SAVED", i, flush=True)
"""


@pytest.mark.parametrize("attempt", range(3))
def test_a_save_killed_at_a_random_moment_leaves_a_usable_pair_or_none(cfg, attempt, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("NBH_DATA_DIR", str(cfg.data_dir))
    monkeypatch.setenv("NBH_ARTIFACTS_DIR", str(cfg.artifacts_dir))
    cfg = config.make_config("offline")  # what the subprocess has: the same settings
    proc = _python(_SAVE_LOOP, cfg, NBH_ARTIFACTS_DIR=str(cfg.artifacts_dir))
    saved = 0
    deadline = time.time() + 120
    while saved < 2 + attempt and time.time() < deadline:  # a few saves, then somewhere inside one
        line = proc.stdout.readline()
        saved += line.startswith("SAVED")
    time.sleep(float(np.random.default_rng(attempt).uniform(0.0, 0.3)))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert saved >= 2, "the subprocess never saved"
    model = _load(cfg)
    if model is not None:  # whatever loads is exactly what its record says
        record = course.load_record("head", cfg)
        assert model.output_shape[-1] == len(record["class_names"])
        assert "Loaded 'head'" in capsys.readouterr().out
    else:  # killed inside a save: said, and trained again (never another settings' model)
        assert "training it again" in capsys.readouterr().out


# --------------------------------------------------------------------------- features


def _features(cfg, base, x, y):
    return training.extract_features(base, (x, y), key="faults", cfg=cfg)


def _cached_features(cfg):
    """A tiny base, its inputs, the features it cached, and the cache file."""
    import keras

    inp = keras.Input((4, 4, 3))
    base = keras.Model(inp, keras.layers.Conv2D(2, 3)(inp))
    x = np.random.default_rng(0).uniform(0, 1, (6, 4, 4, 3)).astype("float32")
    y = np.arange(6)
    first = _features(cfg, base, x, y)
    (path,) = (cfg.cache_dir / "features").glob("*.npz")
    return base, x, y, first, path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong arrays", "empty"])
def test_a_damaged_feature_cache_is_recomputed_with_one_line(cfg, capsys, damage):
    base, x, y, first, path = _cached_features(cfg)
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": b"\x80\x04 pickled?",
                      "empty": b""}.get(damage, b""))
    if damage == "wrong arrays":
        np.savez(path.with_suffix(""), a=np.zeros(3))
    capsys.readouterr()
    again = _features(cfg, base, x, y)
    assert "are damaged" in capsys.readouterr().out
    np.testing.assert_allclose(again.x, first.x)
    # rewritten: the next read is silent and right
    assert np.array_equal(_features(cfg, base, x, y).y, y)
    assert "damaged" not in capsys.readouterr().out


def test_two_kernels_writing_the_same_features_leave_a_whole_file(cfg, tmp_path):
    code = """
        import numpy as np, keras, nbhelpers as nbh
        cfg = nbh.config.make_config("offline")
        keras.utils.set_random_seed(0)
        inp = keras.Input((8, 8, 3)); base = keras.Model(inp, keras.layers.Conv2D(4, 3)(inp))
        x = np.random.default_rng(0).uniform(0, 1, (4000, 8, 8, 3)).astype("float32")
        for i in range(5):
            f = nbh.training.extract_features(base, (x, np.arange(4000)), key="race", cfg=cfg,
                                              refresh=True)
        print("SUM", float(f.x.sum()))
    """
    procs = [_python(code, cfg) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    (path,) = (cfg.cache_dir / "features").glob("*-images-*.npz")  # named by content
    with np.load(path) as z:
        assert z["x"].shape == (4000, 6, 6, 4) and z["y"].tolist() == list(range(4000))
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- exports


@pytest.fixture
def exported(tmp_path):
    return deploy.export_all(deploy_kit.tiny_classifier(16), tmp_path / "export", ["cat", "dog"],
                             forms=["keras"])


def test_a_model_file_replaced_after_export_is_refused_by_the_app(exported):
    from nbhelpers import app

    path = exported.paths["keras"]
    deploy_kit.tiny_classifier(16, num_classes=3).save(path)  # the manifest still says cat, dog
    with pytest.raises(artifacts.ArtifactError, match="model.keras is not the file"):
        deploy.Exported.open(exported.folder)
    with pytest.raises(artifacts.ArtifactError, match="Export the model again"):
        app.Classifier.from_path(exported.folder)


def test_a_damaged_manifest_is_named(exported):
    manifest = exported.folder / deploy.MANIFEST
    manifest.write_text(manifest.read_text()[:40])
    with pytest.raises(artifacts.ArtifactError, match="manifest.json is damaged"):
        deploy.Exported.open(exported.folder)


def test_a_second_export_never_leaves_the_old_manifest_over_new_files(exported, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("interrupted")

    # The export of a 3-class model stops after the model file, before the manifest.
    from nbhelpers import models

    monkeypatch.setattr(models, "load_saved_model", fail)
    with pytest.raises(OSError):
        deploy.export_all(deploy_kit.tiny_classifier(16, num_classes=3), exported.folder,
                          ["a", "b", "c"], forms=["keras"])
    with pytest.raises(FileNotFoundError, match="No manifest.json"):
        deploy.Exported.open(exported.folder)


# --------------------------------------------------------------------------- images


def _short_png(path: Path, rows_kept: int, size: int = 48) -> None:
    """A PNG whose chunks are whole but whose pixel data stops after ``rows_kept`` rows."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    rows = b"".join(b"\0" + bytes((x * 5 + y) % 256 for x in range(size * 3))
                    for y in range(rows_kept))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size,
                                                                        8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_a_png_whose_pixels_end_early_is_skipped_by_name_and_training_runs(cfg, tmp_path):
    root = tmp_path / "photos"
    for i in range(8):
        for cls in ("a", "b"):
            (root / cls).mkdir(parents=True, exist_ok=True)
            (root / cls / f"{i}.png").write_bytes(_png(i + (100 if cls == "b" else 0), 48))
    _short_png(root / "a" / "short.png", rows_kept=20)
    before = _tree_digest(root)
    prepared = data.prepare(cfg, root, verbose=False)
    files = prepared.report.files.set_index("file")
    assert files.loc["a/short.png", "status"] == "skipped"
    assert "TensorFlow cannot decode it" in files.loc["a/short.png", "detail"]
    train, val, test = data.make_datasets(prepared, cfg)
    for ds in (train, val, test):
        for _ in ds:  # nothing the scan passed stops the pipeline
            pass
    assert _tree_digest(root) == before


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("spec, words", [
    ("head_learning_rate=inf", "positive finite number"),
    ("finetune_learning_rate=nan", "positive finite number"),
    ("image_size=16", "at least 32"),
])
def test_overrides_that_cannot_work_are_refused_at_the_door(spec, words):
    with pytest.raises(config.OverrideError, match=words):
        config.parse_overrides(spec)


@pytest.mark.parametrize("seed", ["-1", "2**40", "abc", str(2**32)])
def test_a_seed_numpy_refuses_is_named(monkeypatch, seed):
    monkeypatch.setenv("NBH_SEED", seed)
    with pytest.raises(config.SettingError, match="NBH_SEED") as e:
        config.make_config("offline")
    assert "0 to 4294967295" in str(e.value)


def test_a_data_dir_that_is_a_file_or_cannot_be_made_names_the_variable(monkeypatch, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for bad in (a_file, Path("/proc/no-such/nbh"), a_file / "below"):
        monkeypatch.setenv("NBH_DATA_DIR", str(bad))
        with pytest.raises(config.SettingError, match="NBH_DATA_DIR") as e:
            nbh.setup("offline", quiet=True)
        assert "Set NBH_DATA_DIR to a folder you can write to" in str(e.value)
    assert a_file.read_text() == "x"


def test_a_read_only_data_dir_is_named(monkeypatch, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: a read-only mount shows it
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
    else:
        ro.chmod(0o500)
    try:
        monkeypatch.setenv("NBH_DATA_DIR", str(ro))
        with pytest.raises(config.SettingError, match="cannot be written to"):
            nbh.setup("offline", quiet=True)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=False)
        else:
            ro.chmod(0o700)


@pytest.mark.parametrize("source, words", [
    ("https://example.org/my_photos.zip", "is a web address"),
    ("cats_and_dog", "did you mean 'cats_and_dogs'"),
    ("Faces", "did you mean 'faces'"),
])
def test_a_url_or_a_typo_as_the_data_source_is_answered(cfg, monkeypatch, source, words):
    monkeypatch.setenv("NBH_DATA_SOURCE", source)
    with pytest.raises(data.MissingFolderError, match=words) as e:
        data.prepare(cfg, verbose=False)
    assert source in str(e.value) and "NBH_DATA_SOURCE" in str(e.value)


def test_too_few_images_names_the_class_folder(cfg, tmp_path):
    root = tmp_path / "photos"
    for i in range(6):
        (root / "big cats").mkdir(parents=True, exist_ok=True)
        (root / "big cats" / f"{i}.png").write_bytes(_png(i, 40))
    (root / "snow leopards").mkdir()
    (root / "snow leopards" / "only.png").write_bytes(_png(99, 40))
    with pytest.raises(data.TooFewImagesError, match="'snow leopards'"):
        data.prepare(cfg, root, verbose=False)


def test_an_unreadable_class_folder_is_not_called_empty(cfg, tmp_path, monkeypatch):
    root = tmp_path / "photos"
    for cls in ("a", "b", "locked"):
        for i in range(4):
            (root / cls).mkdir(parents=True, exist_ok=True)
            (root / cls / f"{i}.png").write_bytes(_png(i + hash(cls) % 50, 40))
    walk = os.walk

    def walk_denied(top, onerror=None, **kw):  # what a folder without read permission gives
        for entry in walk(top, onerror=onerror, **kw):
            if Path(entry[0]).name == "locked":
                onerror(PermissionError(13, "Permission denied", entry[0]))
                entry[1][:], entry[2][:] = [], []
                continue
            yield entry

    monkeypatch.setattr(os, "walk", walk_denied)
    with pytest.raises(data.EmptyClassError, match="cannot be read") as e:
        data.prepare(cfg, root, verbose=False)
    assert "'locked'" in str(e.value) and "Add images there" not in str(e.value)


def test_six_nested_wrapper_folders_are_stepped_through(cfg, tmp_path):
    root = tmp_path / "download"
    inner = root.joinpath(*[f"wrap{i}" for i in range(6)])
    for cls in ("a", "b"):
        for i in range(4):
            (inner / cls).mkdir(parents=True, exist_ok=True)
            (inner / cls / f"{i}.png").write_bytes(_png(i + (10 if cls == "b" else 0), 40))
    prepared = data.prepare(cfg, root, verbose=False)
    assert prepared.class_names == ["a", "b"]


@pytest.mark.parametrize("damage", ["weights", "metadata", "no epoch", "epoch not a number",
                                    "a list", "weights of another model", "no weights"])
def test_a_damaged_training_backup_starts_the_run_afresh(cfg, capsys, damage):
    import keras

    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(1, "sigmoid")(inp))
    training.compile_model(model, 0.1)
    x, y = np.random.default_rng(0).uniform(size=(16, 2)), np.arange(16) % 2
    backup = Path(cfg.artifacts_dir) / "runs" / "faulty" / "backup"
    backup.mkdir(parents=True)
    meta = {"metadata": '{"epoch": 1', "no epoch": "{}", "epoch not a number": '{"epoch": "x"}',
            "a list": "[1]"}.get(damage, '{"epoch": 0, "batch": -1}')
    (backup / "training_metadata.json").write_text(meta)
    if damage == "weights of another model":
        other = keras.Model(inp, keras.layers.Dense(3)(inp))
        other.save_weights(backup / "latest.weights.h5")
    elif damage != "no weights":
        (backup / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n cut short")
    history = training.fit(model, (x, y), (x, y), epochs=2, name="faulty", cfg=cfg,
                           checkpoint=False)
    assert history["epoch"] == [0, 1]
    assert "cannot be resumed" in capsys.readouterr().out
    # a run with nothing to resume says nothing
    training.fit(model, (x, y), (x, y), epochs=1, name="whole", cfg=cfg, checkpoint=False)
    assert "cannot be resumed" not in capsys.readouterr().out


def test_a_history_line_cut_short_by_a_kill_is_left_out(tmp_path):
    log = tmp_path / "history.jsonl"
    log.write_text('{"epoch": 0, "loss": 1.0}\n{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "lo')
    assert training.read_history(log) == {"epoch": [0, 1], "loss": [1.0, 0.5]}


def test_a_cut_short_face_image_is_written_again(cfg):
    root = data.write_faces(cfg)
    victim = root / "face" / "face_007.png"
    whole = victim.read_bytes()
    victim.write_bytes(whole[: len(whole) // 2])
    data.write_faces(cfg)
    assert victim.read_bytes() == whole


def test_setup_answers_a_url_as_the_data_source_before_any_work(monkeypatch):
    monkeypatch.setenv("NBH_DATA_SOURCE", "http://example.org/photos.zip")
    with pytest.raises(data.MissingFolderError, match="NBH_DATA_SOURCE"):
        nbh.setup("offline", quiet=True)


# --------------------------------------------------------------------------- a hostile tester's
# attacks (issue 26's review): each once ended in a bare error, a blocked folder or a wrong result


def _two_class_folder(root: Path, n: int = 6) -> Path:
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / cls / f"{i}.png").write_bytes(_png(i + (50 if cls == "b" else 0), 40))
    return root


@pytest.mark.parametrize("damage", ["files a list", "entry a string", "no row", "row a list",
                                    "no status", "width a word", "another class"])
def test_a_scan_cache_of_the_wrong_shape_is_scanned_afresh(cfg, tmp_path, damage):
    root = _two_class_folder(tmp_path / "photos")
    data.prepare(cfg, root, verbose=False)
    (cache,) = (cfg.cache_dir / "scans").glob("*.json")
    saved = json.loads(cache.read_text())
    entry = saved["files"]["a/0.png"]
    if damage == "files a list":
        saved["files"] = list(saved["files"])
    elif damage == "entry a string":
        saved["files"]["a/0.png"] = "ok"
    elif damage == "no row":
        del entry["row"]
    elif damage == "row a list":
        entry["row"] = [1, 2]
    elif damage == "no status":
        del entry["row"]["status"]
    elif damage == "width a word":
        entry["row"]["width"] = "wide"
    else:
        entry["row"]["class"] = "b"  # the folder says a
    cache.write_text(json.dumps(saved))
    prepared = data.prepare(cfg, root, verbose=False)
    labels = {Path(p).as_posix().split("/")[-2]: prepared.class_names[y]
              for p, y in prepared.train + prepared.val + prepared.test}
    assert labels == {"a": "a", "b": "b"}
    assert sum(map(len, (prepared.train, prepared.val, prepared.test))) == 12


@pytest.mark.parametrize("damage", ["contents gone", "a class folder gone", "old marker"])
def test_an_unpacked_copy_that_is_not_whole_is_unpacked_again(cfg, tmp_path, capsys, damage):
    import shutil

    archive = _zip_of_photos(tmp_path / "photos.zip", n=20)
    root = data.folder_layout(archive, cfg).root
    (dest,) = [p for p in (cfg.cache_dir / "your_archives").iterdir() if p.is_dir()]
    if damage == "contents gone":
        shutil.rmtree(dest / "photos")
    elif damage == "a class folder gone":
        shutil.rmtree(root / "a")
    else:  # what the first version of the course wrote: the digest alone
        (dest / ".extracted-ok").write_text(json.loads((dest / ".extracted-ok").read_text())
                                            ["digest"] + "\n")
    capsys.readouterr()
    again = data.folder_layout(archive, cfg).root
    assert sum(1 for _ in again.rglob("*.png")) == 20
    if damage != "old marker":
        assert "not whole" in capsys.readouterr().out


@pytest.mark.parametrize("change", ["no class_names", "no image_size", "no files", "files a list",
                                    "image_size a word", "seconds a list", "class_names a string",
                                    "a form whose file is not vouched for", "empty checksums"])
def test_a_manifest_of_the_wrong_shape_is_refused_by_name(exported, change):
    from nbhelpers import app

    path = exported.folder / deploy.MANIFEST
    m = json.loads(path.read_text())
    key, _, what = change.partition(" ")
    if change == "a form whose file is not vouched for":
        m["files"]["tflite_float32"] = "nothere.tflite"
    elif change == "empty checksums":
        m["checksums"] = {}
    elif change.startswith("no "):
        del m[change[3:]]
    else:
        m[key] = {"a list": [], "a word": "big", "a string": "cat,dog"}[what]
    path.write_text(json.dumps(m))
    with pytest.raises(artifacts.ArtifactError, match="Export the model again"):
        deploy.Exported.open(exported.folder)
    with pytest.raises(artifacts.ArtifactError):
        app.Classifier.from_path(exported.folder)


@pytest.mark.parametrize("record_change", ["files empty", "settings a string"])
def test_a_stage_record_of_the_wrong_shape_is_never_trusted(cfg, capsys, record_change):
    _save(cfg, units=2)
    model_path, record_path = course.artifact_paths("head", cfg)
    record = json.loads(record_path.read_text())
    if record_change == "files empty":
        record["files"] = {}
        _tiny(3).save(model_path)  # and another model put there
    else:
        record["settings"] = "old"
    record_path.write_text(json.dumps(record))
    assert _load(cfg) is None
    out = capsys.readouterr().out
    assert "training it again" in out or "other settings" in out


@pytest.mark.parametrize("stored", ["flattened", "int8", "complex", "string labels", "scalars"])
def test_features_of_the_wrong_shape_or_type_are_recomputed(cfg, capsys, stored):
    base, x, y, first, path = _cached_features(cfg)
    fx, fy = first.x, first.y
    bad = {"flattened": (fx.reshape(6, -1), fy), "int8": (fx.astype("int8"), fy),
           "complex": (fx.astype("complex128"), fy), "string labels": (fx, fy.astype(str)),
           "scalars": (np.float32(1), np.int64(1))}[stored]
    np.savez(path.with_suffix(""), x=bad[0], y=bad[1])
    capsys.readouterr()
    again = _features(cfg, base, x, y)
    assert "are damaged" in capsys.readouterr().out
    np.testing.assert_allclose(again.x, fx)


@pytest.mark.parametrize("value", ["a file", "under a file", "~nosuchuser/art"])
def test_an_artifacts_dir_that_cannot_work_names_the_variable(monkeypatch, tmp_path, value):
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    path = {"a file": str(a_file), "under a file": str(a_file / "below")}.get(value, value)
    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NBH_ARTIFACTS_DIR", path)
    with pytest.raises(config.SettingError, match="NBH_ARTIFACTS_DIR"):
        nbh.setup("offline", quiet=True)
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("variable", ["NBH_DATA_DIR", "NBH_DATA_SOURCE"])
def test_a_home_folder_of_no_user_names_the_variable(monkeypatch, tmp_path, variable):
    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(variable, "~nosuchuser-nbh/photos")
    with pytest.raises(config.SettingError, match=variable):
        nbh.setup("offline", quiet=True)


def test_a_blank_data_dir_means_the_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBH_DATA_DIR", "  ")
    assert config.make_config("offline").data_dir != Path("  ").resolve()
    assert config.make_config("offline").data_dir == (monkeypatch.delenv("NBH_DATA_DIR")
                                                     or config.data_dir())


def test_a_history_file_with_a_damaged_byte_is_read(tmp_path):
    log = tmp_path / "history.jsonl"
    log.write_bytes(b'{"epoch": 0, "loss": 1.0}\n{"epoch": 1, "lo\xffss": 2}\n')
    assert training.read_history(log) == {"epoch": [0], "loss": [1.0]}


def test_a_file_url_and_a_path_with_a_trailing_space_are_said_plainly(cfg, tmp_path):
    with pytest.raises(data.MissingFolderError, match="pass the path itself"):
        data.folder_layout((tmp_path / "photos").as_uri(), cfg)
    with pytest.raises(data.MissingFolderError, match=r"my photos '"):
        data.folder_layout(str(tmp_path / "my photos "), cfg)


def test_a_tar_with_a_link_out_of_it_is_refused_for_what_it_is(cfg, tmp_path):
    bad = tmp_path / "links.tar"
    with tarfile.open(bad, "w") as t:
        _add_pngs(t, 4)
        link = tarfile.TarInfo("photos/a/passwd.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    with pytest.raises(data.DataError, match="points outside it") as e:
        data.folder_layout(bad, cfg)
    assert "download it again" not in str(e.value).lower()


def test_an_image_size_that_would_not_fit_in_memory_is_refused():
    with pytest.raises(config.OverrideError, match="too large"):
        config.parse_overrides("image_size=10000")


def test_what_killed_writers_left_is_cleared_by_a_later_write(tmp_path):
    target = tmp_path / "model.keras"
    old = artifacts.staging_folder(target)
    (old / "model.keras").write_bytes(b"half")
    hour_ago = time.time() - 7200
    os.utime(old, (hour_ago, hour_ago))
    young = artifacts.staging_folder(target)  # another kernel's write in progress
    artifacts.write_bytes(target, b"whole")
    assert not old.exists() and young.exists() and target.read_bytes() == b"whole"
