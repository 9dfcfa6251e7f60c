"""scripts/make_folder.py: the generated "own folder" of the three-class test lane."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nbhelpers as nbh
from nbhelpers import data
from nbhelpers.data import files as data_files

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import make_folder as mf  # noqa: E402


@pytest.fixture(scope="module")
def cfg():
    return nbh.setup("offline", quiet=True)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return mf.make_folder(tmp_path_factory.mktemp("lane") / "source")


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_the_folder_has_three_unequal_classes_with_spaces(clean):
    rep = data.scan(clean)
    assert rep.classes == ["golden retriever", "red fox", "tabby cat"]
    assert rep.class_counts == {"golden retriever": 40, "red fox": 20, "tabby cat": 30}
    assert (rep.files["status"] == "ok").all(), rep.table  # no duplicates, nothing odd
    assert set(rep.files["format"]) == {"JPEG", "PNG"}
    assert set(rep.files["width"]) == set(rep.files["height"]) == {64}


def test_the_same_arguments_write_the_same_bytes(clean, tmp_path):
    again = mf.make_folder(tmp_path / "again")
    assert _hashes(again) == _hashes(clean)
    other = mf.make_folder(tmp_path / "other", seed=1)
    assert set(_hashes(other).values()).isdisjoint(_hashes(clean).values())


def test_the_classes_can_be_learned(clean, cfg):
    """Nearest class mean of the pixels, fitted on train: a head has something to learn."""
    p = data.prepare(cfg, clean, verbose=False)
    x, y = data.load_split(p, "train", cfg)
    xt, yt = data.load_split(p, "test", cfg)
    means = np.stack([x[y == c].reshape((y == c).sum(), -1).mean(0) for c in range(3)])
    flat = xt.reshape(len(xt), -1)
    pred = np.argmin(((flat[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert (pred == yt).mean() >= 0.9
    assert p.num_classes == 3 and p.class_names[1] == "red fox"


def test_more_classes_and_own_counts(tmp_path):
    r = mf.make_folder(tmp_path / "five", 5)
    assert sorted(p.name for p in r.iterdir()) == sorted(mf.CLASSES)
    r = mf.make_folder(tmp_path / "two", {"barn owl": 3, "koi carp": 5})
    assert data.scan(r).class_counts == {"barn owl": 3, "koi carp": 5}
    with pytest.raises(ValueError, match="at least two classes"):
        mf.make_folder(tmp_path / "one", 1)
    with pytest.raises(ValueError, match="no pattern for"):
        mf.make_folder(tmp_path / "x", {"unicorn": 3, "red fox": 3})


def test_a_non_empty_folder_is_replaced_only_when_asked(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--force"):
        mf.make_folder(tmp_path / "mine")
    mf.make_folder(tmp_path / "mine", force=True)
    assert not (tmp_path / "mine" / "keep.txt").exists()


def test_the_messy_extras_are_each_reported_and_the_rest_trains(tmp_path, cfg, monkeypatch):
    monkeypatch.setattr(data_files, "heif_available", lambda: False)  # as without pillow-heif
    root = mf.make_folder(tmp_path / "messy", messy=True)
    p = data.prepare(cfg, root, verbose=False)
    rows = dict(zip(p.report.files["file"], p.report.files["status"], strict=True))
    for file, status in mf.MESSY.items():
        assert rows.get(file) == status, (file, rows.get(file))
    odd = {f for f, s in rows.items() if s != "ok"}
    assert odd == {f for f, s in mf.MESSY.items() if s != "ok"}
    assert p.report.conflicts == [["red fox/which_one.png", "tabby cat/which_one.png"]]
    for split in ("train", "val", "test"):
        x, y = data.load_split(p, split, cfg)
        assert len(x) == len(p.split(split)) and np.isfinite(x).all()
    assert root / "red fox" / "palette.bmp" in p.readable  # read through a PNG copy


def test_the_command_line(tmp_path, capsys):
    assert mf.main([str(tmp_path / "cli"), "--classes", "4", "--size", "32"]) == 0
    assert "barn owl (16 files)" in capsys.readouterr().out
    with Image.open(next((tmp_path / "cli" / "barn owl").iterdir())) as im:
        assert im.size == (32, 32)
