"""The rehearsal's stand-ins (scripts/standins.py): the archive through the real `fetch`, and
a weights file through the real `load_backbone(..., weights="imagenet")`, offline."""

from __future__ import annotations

import dataclasses
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import standins  # noqa: E402

import nbhelpers as nbh  # noqa: E402
from nbhelpers import config, data  # noqa: E402


def _manifest(root: Path, weights: list[standins.WeightFile], train: int, validation: int):
    """A manifest like `standins.build`'s, for a few files (build writes all of them)."""
    entries = {}
    for wf in weights:
        path = standins.write_weights(wf, standins.keras_home(root) / "models" / wf.filename)
        entries[wf.filename] = {"path": str(path.relative_to(root)), "sha256": standins._sha256(path),
                                "size": path.stat().st_size, **dataclasses.asdict(wf)}
    archive = root / "datasets" / "cats_and_dogs_filtered.zip"
    info = standins.make_archive(archive, train, validation)
    manifest = {"generator": "test", "weights": entries,
                "archive": {"path": str(archive.relative_to(root)), **info}}
    (root / standins.MANIFEST).write_text(json.dumps(manifest))
    return standins.load_manifest(root)


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path / "data"))
    return config.make_config("offline")


@pytest.mark.parametrize("train,validation", [(3, 2), (1, 1)])
def test_archive_has_the_real_layout(tmp_path, train, validation):
    info = standins.make_archive(tmp_path / "a.zip", train, validation)
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        names = zf.namelist()
        files = [n for n in names if n.endswith(".jpg")]
        assert len(files) == info["images"] == 2 * (train + validation)
        assert "cats_and_dogs_filtered/train/cats/cat.0.jpg" in names
        assert f"cats_and_dogs_filtered/train/dogs/dog.{train - 1}.jpg" in names
        assert "cats_and_dogs_filtered/validation/dogs/dog.2000.jpg" in names
        assert f"cats_and_dogs_filtered/validation/cats/cat.{2000 + validation}.jpg" not in names
        assert "cats_and_dogs_filtered/vectorize.py" in names
        from PIL import Image

        for name in files:
            with Image.open(zf.open(name)) as im:
                assert im.format == "JPEG" and im.mode == "RGB"
                assert all(300 <= side <= 500 for side in im.size)
    # Deterministic: the same bytes again, so a pinned SHA-256 stays right.
    assert standins.make_archive(tmp_path / "b.zip", train, validation)["sha256"] == info["sha256"]


def test_fetch_verifies_and_extracts_the_standin(tmp_path, cfg, capsys):
    manifest = _manifest(tmp_path / "s", [], train=4, validation=2)
    source = standins.archive_source(manifest)
    assert source.url.startswith("file://") and source.archive_name == "cats_and_dogs_filtered.zip"
    assert data.REGISTRY["cats_and_dogs"].url.startswith("https://")  # the real entry is untouched

    root = data.fetch(source, cfg)
    assert root.name == "cats_and_dogs_filtered"
    for half, n in (("train", 4), ("validation", 2)):
        for cls, stem in (("cats", "cat"), ("dogs", "dog")):
            got = sorted(p.name for p in (root / half / cls).iterdir())
            first = 0 if half == "train" else 2000
            assert got == sorted(f"{stem}.{i}.jpg" for i in range(first, first + n))
    assert manifest["archive"]["sha256"] in capsys.readouterr().out  # fetch printed the hash
    # A second fetch uses the extracted folder.
    assert data.fetch(source, cfg) == root
    assert "Using cached" in capsys.readouterr().out


def test_fetch_rejects_a_standin_with_the_wrong_hash_or_size(tmp_path, cfg):
    manifest = _manifest(tmp_path / "s", [], train=1, validation=1)
    good = standins.archive_source(manifest)
    bad = dataclasses.replace(good, sha256="0" * 64)
    with pytest.raises(data.ChecksumError, match="expects\n    0{64}") as err:
        data.fetch(bad, cfg, verbose=False)
    assert manifest["archive"]["sha256"] in str(err.value) and "Delete it" in str(err.value)
    assert not (cfg.cache_dir / "datasets" / "cats_and_dogs_filtered.zip").exists()
    wrong_size = dataclasses.replace(good, sha256=None, size_bytes=good.size_bytes + 1)
    with pytest.raises(data.ChecksumError, match="bytes, but 'cats_and_dogs' should have"):
        data.fetch(wrong_size, cfg, verbose=False)


def test_prepare_reads_the_standin_through_the_registry(tmp_path, cfg, monkeypatch):
    manifest = _manifest(tmp_path / "s", [], train=5, validation=4)
    monkeypatch.setitem(data.REGISTRY, "cats_and_dogs", standins.archive_source(manifest))
    prepared = data.prepare(cfg, "cats_and_dogs", verbose=False, max_images_per_class=None)
    sizes = prepared.sizes()["total"]
    assert (sizes["train"], sizes["val"] + sizes["test"]) == (10, 8)
    assert prepared.class_names == ["cats", "dogs"]


@pytest.fixture
def offline_keras_home(tmp_path, monkeypatch):
    """KERAS_HOME at a stand-in folder, no network: any download attempt raises."""
    import keras.src.backend.config as kconfig
    import keras.src.utils.file_utils as file_utils

    home = standins.keras_home(tmp_path / "s")
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(kconfig, "_KERAS_DIR", str(home))  # Keras reads KERAS_HOME on import
    monkeypatch.setattr(config, "network_available", lambda *a, **k: False)

    def no_network(url, *args, **kwargs):
        raise OSError(f"no network in this test (tried {url})")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    return tmp_path / "s"


def _vgg16_notop():
    return next(w for w in standins.weight_files() if w.backbone == "vgg16" and not w.include_top)


@pytest.mark.slow
def test_vgg16_standin_loads_through_load_backbone(offline_keras_home):
    import h5py

    manifest = _manifest(offline_keras_home, [_vgg16_notop()], train=1, validation=1)
    path = Path(manifest["weights"][_vgg16_notop().filename]["abs_path"])
    assert path.name == nbh.models.weights_file("vgg16")
    with h5py.File(path) as f:
        assert f.attrs["layer_names"][0] == b"input_1" and f.attrs["backend"] == b"tensorflow"
        assert list(f["block1_conv1"].attrs["weight_names"]) == [b"block1_conv1_W_1:0",
                                                                 b"block1_conv1_b_1:0"]
        kernel = f["block5_conv3"]["block5_conv3_W_1:0"][()]

    # Without the bending, Keras' own hash check rejects the stand-in and tries to download.
    with pytest.raises(Exception, match="no network in this test"):
        nbh.models.load_backbone("vgg16", weights="imagenet", input_shape=(32, 32, 3))
    path = Path(_manifest(offline_keras_home, [_vgg16_notop()], 1, 1)["weights"][
        _vgg16_notop().filename]["abs_path"])  # Keras deleted the rejected file: write it again

    undo = standins.install_hash_bending(standins.load_manifest(offline_keras_home))
    try:
        base = nbh.models.load_backbone("vgg16", weights="imagenet", input_shape=(32, 32, 3))
        np.testing.assert_array_equal(base.get_layer("block5_conv3").get_weights()[0], kernel)
        assert base.layers[1].name == "preprocess"
        # A damaged stand-in fails the stand-in's own hash: Keras tries to download again.
        with open(path, "r+b") as f:
            f.seek(-8, 2)
            f.write(b"damaged!")
        with pytest.raises(Exception, match="no network in this test"):
            nbh.models.load_backbone("vgg16", weights="imagenet", input_shape=(32, 32, 3))
    finally:
        undo()
    import keras.src.utils.file_utils as file_utils

    assert not getattr(file_utils.validate_file, "standin", False)


@pytest.mark.slow
def test_a_file_in_the_wrong_layout_does_not_load(offline_keras_home):
    """The check above can fail: a file missing one layer's weights is refused by Keras."""
    import h5py

    manifest = _manifest(offline_keras_home, [_vgg16_notop()], train=1, validation=1)
    entry = manifest["weights"][_vgg16_notop().filename]
    with h5py.File(entry["abs_path"], "r+") as f:
        f["block5_conv3"].attrs["weight_names"] = np.array([], dtype="S1")
    entry["sha256"] = standins._sha256(Path(entry["abs_path"]))
    undo = standins.install_hash_bending(manifest)
    try:
        with pytest.raises(ValueError, match="Layer count mismatch"):
            nbh.models.load_backbone("vgg16", weights="imagenet", input_shape=(32, 32, 3))
    finally:
        undo()


def test_weight_files_come_from_the_backbone_table():
    files = {w.filename: w for w in standins.weight_files()}
    for name, spec in nbh.models.BACKBONES.items():
        # Real weights from a pip package need no stand-in; every download has one.
        wanted = spec.source == "keras"
        assert (nbh.models.weights_file(name, (224, 224, 3)) in files) == wanted
    for size in (config.PROFILES["cpu"].image_size, config.PROFILES["full"].image_size):
        assert nbh.models.weights_file("mobilenetv2", (size, size, 3)) in files
    top = files[nbh.models.BACKBONES["vgg16"].top_weights_file]
    assert top.include_top and top.url.startswith("https://storage.googleapis.com/")
    assert {w.url for w in files.values()} >= {i.url for i in nbh.prefetch.items()
                                               if i.needs_network and i.filename.endswith(".h5")}


def test_hash_bending_only_touches_standin_files(tmp_path):
    calls = []

    def original(fpath, file_hash, algorithm="auto", chunk_size=65535):
        calls.append((str(fpath), file_hash, algorithm))
        return True

    standin = tmp_path / "models" / "x.h5"
    manifest = {"weights": {"x.h5": {"abs_path": str(standin), "sha256": "ab" * 32}}}
    check = standins.standin_validate_file(original, manifest)
    check(str(standin), "realmd5")
    check(str(tmp_path / "other.h5"), "realmd5")
    assert calls == [(str(standin), "ab" * 32, "sha256"), (str(tmp_path / "other.h5"), "realmd5",
                                                           "auto")]


def test_the_patch_waits_for_the_module_import(tmp_path, monkeypatch):
    """In a rehearsal kernel Keras is not imported yet: the hook patches it on import."""
    (tmp_path / "late_module.py").write_text("def validate_file(*a, **k):\n    return False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen = []
    finder = standins._AfterImport("late_module", lambda m: seen.append(m.validate_file(1)))
    sys.meta_path.insert(0, finder)
    try:
        import late_module  # noqa: F401
    finally:
        sys.modules.pop("late_module", None)
    assert seen == [False] and finder not in sys.meta_path


@pytest.mark.slow
def test_weight_files_are_reproducible(tmp_path):
    """Same bytes on every build (EfficientNet has automatically named layers)."""
    import keras

    wf = next(w for w in standins.weight_files() if w.backbone == "efficientnetb0")
    keras.layers.Rescaling(1.0)  # takes the name "rescaling" in this session
    first = standins.write_weights(wf, tmp_path / "a" / wf.filename)
    second = standins.write_weights(wf, tmp_path / "b" / wf.filename)
    assert standins._sha256(first) == standins._sha256(second)
