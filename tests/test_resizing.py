"""Squash, crop, pad: known answers on pictures whose every pixel is known."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nbhelpers as nbh
from nbhelpers import data

MEAN = np.array(data.MEAN_RGB)


def _tall(height: int = 80, width: int = 40) -> np.ndarray:
    """Red top quarter, blue bottom quarter, green middle: what each policy keeps shows."""
    x = np.zeros((height, width, 3), np.uint8)
    x[: height // 4] = (255, 0, 0)
    x[height // 4: 3 * height // 4] = (0, 255, 0)
    x[3 * height // 4:] = (0, 0, 255)
    return x


def _out(image, policy, size=20):
    return data.resize(image, size, policy).numpy()


def test_squash_keeps_everything_and_distorts():
    out = _out(_tall(), "squash")
    assert out.shape == (20, 20, 3) and out.dtype == np.float32
    # the quarters stay quarters, each now as wide as the image
    assert np.allclose(out[:4, :, 0], 255, atol=1) and np.allclose(out[-4:, :, 2], 255, atol=1)


def test_crop_keeps_the_centred_square_only():
    out = _out(_tall(), "crop")
    # the centred 40 x 40 square is the green middle: red and blue are gone
    assert np.allclose(out[..., 1], 255, atol=1) and out[..., [0, 2]].max() < 1


def test_pad_keeps_the_shape_with_mean_coloured_bars():
    out = _out(_tall(), "pad")  # 80 x 40 -> 20 x 10, centred, bars of 5 columns each side
    assert np.allclose(out[:, :5], MEAN, atol=0.5) and np.allclose(out[:, -5:], MEAN, atol=0.5)
    inner = out[:, 5:15]
    assert np.allclose(inner[:4, :, 0], 255, atol=1) and np.allclose(inner[-4:, :, 2], 255, atol=1)
    wide = _out(_tall().transpose(1, 0, 2), "pad")  # a wide photo: bars above and below
    assert np.allclose(wide[:5], MEAN, atol=0.5) and np.allclose(wide[-5:], MEAN, atol=0.5)


def test_a_square_photo_is_the_same_under_every_policy():
    x = np.random.default_rng(0).integers(0, 256, (48, 48, 3)).astype(np.uint8)
    outs = [_out(x, p, 24) for p in data.RESIZE_POLICIES]
    assert all(np.allclose(o, outs[0], atol=1e-3) for o in outs[1:])


def test_an_unknown_policy_is_refused_with_the_three_names():
    with pytest.raises(ValueError, match="'stretch' is not one of squash, crop, pad"):
        data.resize(_tall(), 8, "stretch")


@pytest.fixture(scope="module")
def tall_folder(tmp_path_factory):
    """Two classes of tall photos: the class is in the top quarter, which a crop removes."""
    root = tmp_path_factory.mktemp("tall")
    rng = np.random.default_rng(0)
    for cls, colour in (("red_top", (255, 0, 0)), ("blue_top", (0, 0, 255))):
        (root / cls).mkdir()
        for i in range(12):
            x = rng.integers(90, 110, (96, 48, 3)).astype(np.uint8)
            x[:24] = colour
            Image.fromarray(x).save(root / cls / f"{i}.png")
    return root


def test_a_pipeline_makes_its_images_square_by_its_policy_and_names_it(tall_folder):
    cfg = nbh.config.make_config("offline", overrides={"image_size": 32})
    prepared = data.prepare(cfg, str(tall_folder), verbose=False)
    squash, crop = (data.dataset(prepared, "val", cfg, resize_policy=p) for p in ("squash", "crop"))
    # the default keeps the keys it always had; another policy adds its name
    assert not squash.split_identity.fingerprint.endswith(("-crop", "-pad"))
    assert crop.split_identity.fingerprint == squash.split_identity.fingerprint + "-crop"
    x_squash, _ = data.load_split(prepared, "val", cfg)
    x_crop, _ = data.load_split(prepared, "val", cfg, resize_policy="crop")
    x_back = np.concatenate([b.numpy() for b, _ in crop.split_identity.in_order(8)])
    assert np.array_equal(x_back, x_crop)  # read back in order, still cropped
    top = slice(0, 8)  # the top quarter of the squashed image holds the class colour
    assert x_squash[:, top].max() > 250 and x_crop[:, top].max() < 120


def test_the_feature_cache_keeps_policies_apart(tall_folder, tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path))
    cfg = nbh.config.make_config("offline", overrides={"image_size": 32})
    prepared = data.prepare(cfg, str(tall_folder), verbose=False)
    inp = keras.Input((32, 32, 3))
    base = keras.Model(inp, keras.layers.AveragePooling2D(8)(inp), name="mean_of_blocks")
    feats = {p: nbh.features.extract_features(base, data.dataset(prepared, "val", cfg, resize_policy=p),
                                              "val", cfg) for p in data.RESIZE_POLICIES}
    assert len(list((tmp_path / "cache" / "features").glob("*.npz"))) == 3
    assert not np.allclose(feats["squash"].x, feats["crop"].x)
    again = nbh.features.extract_features(base, data.dataset(prepared, "val", cfg, resize_policy="crop"),
                                          "val", cfg)
    assert np.array_equal(again.x, feats["crop"].x)


@pytest.mark.parametrize("shape", [(1, 1000, 3), (3, 1000, 3), (9000, 40, 3)])
def test_a_long_thin_photo_keeps_at_least_a_line_under_every_policy(shape):
    x = np.full(shape, 200, np.uint8)
    for policy in data.RESIZE_POLICIES:
        out = _out(x, policy, 32)
        assert out.shape == (32, 32, 3) and np.isfinite(out).all()
        assert out.max() > 199  # some of the photo is there, not only bars


def test_one_channel_becomes_three_and_other_shapes_are_refused():
    grey = np.full((20, 10, 1), 50, np.uint8)
    assert all(_out(grey, p).shape == (20, 20, 3) for p in data.RESIZE_POLICIES)
    with pytest.raises(ValueError, match=r"shape \(height, width, 3\).*got \(20, 10, 4\)"):
        data.resize(np.zeros((20, 10, 4)), 8)


def test_the_pad_colour_is_the_mean_vgg16_subtracts():
    from nbhelpers.models.preprocessing import CAFFE_MEAN_BGR

    assert data.MEAN_RGB == tuple(CAFFE_MEAN_BGR[::-1])
