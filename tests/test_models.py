"""Tests of nbhelpers.models: backbones, preprocessing, heads, freezing, weights files.

Small inputs (32-64 px) and each slow backbone built once per module.
"""

from __future__ import annotations

import time

import h5py
import keras
import numpy as np
import pytest

from nbhelpers import config, models

SMALL = (32, 32, 3)
CHANNELS = {"vgg16": 512, "resnet50": 2048, "mobilenetv2": 1280, "efficientnetb0": 1280,
            "efficientnet_lite0": 1280}


def _params(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def _images(n: int = 2, shape=SMALL, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype("float32")


@pytest.fixture(scope="module")
def backbones() -> dict[str, keras.Model]:
    """Each backbone built once (random weights, 32 px)."""
    keras.utils.set_random_seed(0)
    return {name: models.load_backbone(name, None, SMALL) for name in models.BACKBONES}


@pytest.fixture(scope="module")
def vgg64() -> keras.Model:
    keras.utils.set_random_seed(0)
    return models.load_backbone("vgg16", None, (64, 64, 3))


# --------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize("name", list(models.BACKBONES))
def test_preprocess_input_never_changes_its_argument(name):
    images = _images()
    before = images.copy()
    out = models.preprocess_input(name, images)
    assert np.array_equal(images, before)
    assert out is not images and not np.shares_memory(out, images)
    assert out.dtype == np.float32 and out.shape == images.shape


def test_keras_vgg16_preprocess_input_does_mutate():
    """Why ours exists: keras' function changes a float32 array in place."""
    images = _images()
    before = images.copy()
    keras.applications.vgg16.preprocess_input(images)
    assert not np.array_equal(images, before)


@pytest.mark.parametrize(
    "name, keras_fn",
    [
        ("vgg16", keras.applications.vgg16.preprocess_input),
        ("resnet50", keras.applications.resnet50.preprocess_input),
        ("mobilenetv2", keras.applications.mobilenet_v2.preprocess_input),
        ("efficientnetb0", keras.applications.efficientnet.preprocess_input),
    ],
)
def test_preprocess_input_matches_keras(name, keras_fn):
    images = _images()
    expected = np.asarray(keras_fn(images.copy()))
    np.testing.assert_allclose(models.preprocess_input(name, images), expected, rtol=1e-6, atol=1e-4)


def test_caffe_preprocessing_is_bgr_minus_mean():
    pixel = np.array([[[[10.0, 20.0, 30.0]]]], dtype="float32")  # R, G, B
    out = models.preprocess_input("vgg16", pixel)[0, 0, 0]
    np.testing.assert_allclose(out, [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6)


@pytest.mark.parametrize("name", list(models.BACKBONES))
def test_preprocess_layer_computes_preprocess_input(name, backbones):
    layer = backbones[name].get_layer("preprocess")
    images = _images()
    got = keras.ops.convert_to_numpy(layer(images))
    np.testing.assert_allclose(got, models.preprocess_input(name, images), rtol=1e-6, atol=1e-4)


def test_unknown_backbone_and_mode():
    with pytest.raises(ValueError, match="Unknown backbone"):
        models.load_backbone("alexnet", None, SMALL)
    with pytest.raises(ValueError, match="mode"):
        models.Preprocess("zscore")


# --------------------------------------------------------------------------- backbones and heads


@pytest.mark.parametrize("name", list(models.BACKBONES))
def test_backbone_shape_and_first_layers(name, backbones):
    base_model = backbones[name]
    assert base_model.output.shape == (None, 1, 1, CHANNELS[name])
    assert [layer.name for layer in base_model.layers[:2]] == ["image", "preprocess"]
    assert base_model.get_layer(models.LAST_CONV[name]).output.shape[-1] == CHANNELS[name]
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in base_model.layers)


@pytest.mark.parametrize("name", list(models.BACKBONES))
def test_gap_classifier_shapes_counts_and_flat_graph(name, backbones):
    base_model = backbones[name]
    model = models.build_classifier(base_model, head="gap", num_classes=2, dropout=0.5)
    c = CHANNELS[name]
    assert model.output.shape == (None, 1)
    assert [layer.name for layer in model.layers[-4:]] == ["head_pool", "head_dropout", "logits",
                                                       "predictions"]
    # only the head trains: one unit on c pooled features
    assert _params(model.trainable_weights) == c + 1
    assert _params(model.weights) == _params(base_model.weights) + c + 1
    # flat: every backbone layer is the very same object inside the classifier
    for layer in base_model.layers:
        assert model.get_layer(layer.name) is layer
    assert model.get_layer(models.LAST_CONV[name]).trainable is False


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_softmax_for_more_than_two_classes(name, backbones):
    model = models.build_classifier(backbones[name], head="gap", num_classes=5, dropout=0.0)
    assert model.output.shape == (None, 5)
    assert model.get_layer("predictions").activation.__name__ == "softmax"
    assert _params(model.trainable_weights) == CHANNELS[name] * 5 + 5
    probs = keras.ops.convert_to_numpy(model(_images(3)))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_the_head_ends_in_logits_then_an_activation(backbones):
    """The scores stay reachable: a confident logit of 30 is not flattened into p = 1."""
    model = models.build_classifier(backbones["vgg16"], head="gap", num_classes=2, dropout=0.0)
    assert models.logits_layer(model) == "logits"
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights([np.zeros_like(kernel), np.full_like(bias, 30.0)])
    scores = keras.Model(model.input, model.get_layer("logits").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scores(_images(2))), 30.0)
    probs = keras.ops.convert_to_numpy(model(_images(2)))
    assert probs.dtype == np.float32 and np.all(probs == 1.0)  # saturated, as float32 does


def test_another_name_for_a_head_says_the_name_to_use(backbones):
    with pytest.raises(ValueError, match="Flatten head is head='flatten'"):
        models.build_classifier(backbones["vgg16"], head="seed")


def test_sigmoid_for_two_classes(backbones):
    model = models.build_classifier(backbones["vgg16"], head="gap", num_classes=2)
    assert model.get_layer("predictions").activation.__name__ == "sigmoid"
    probs = keras.ops.convert_to_numpy(model(_images(3)))
    assert probs.shape == (3, 1) and np.all((probs > 0) & (probs < 1))


def test_flatten_head_is_the_articles(vgg64):
    model = models.build_classifier(vgg64, head="flatten", num_classes=2, dropout=0.0)
    assert [layer.name for layer in model.layers[-4:]] == ["head_flatten", "head_dense", "logits",
                                                       "predictions"]
    dense = model.get_layer("head_dense")
    assert dense.units == 256 and dense.activation.__name__ == "relu"
    assert model.output.shape == (None, 1)
    flat = 2 * 2 * 512  # VGG16 at 64 px: a 2x2x512 feature map
    assert _params(model.trainable_weights) == flat * 256 + 256 + 257
    assert model.count_params() == 14_714_688 + flat * 256 + 256 + 257


def test_seed_head_needs_a_fixed_input_size():
    base_model = models.load_backbone("vgg16", None, (None, None, 3))
    with pytest.raises(ValueError, match="fixed input size"):
        models.build_classifier(base_model, head="flatten")
    model = models.build_classifier(base_model, head="gap")
    assert model(_images(1, (48, 40, 3))).shape == (1, 1)


def test_unknown_head_and_too_few_classes(backbones):
    with pytest.raises(ValueError, match="Unknown head"):
        models.build_classifier(backbones["vgg16"], head="mlp")
    with pytest.raises(ValueError, match="num_classes"):
        models.build_head((1, 1, 512), num_classes=1)


def test_l2_adds_a_loss(backbones):
    model = models.build_classifier(backbones["vgg16"], head="gap", l2=0.01)
    assert len(model.losses) == 1
    assert not models.build_classifier(backbones["vgg16"], head="gap").losses


@pytest.mark.parametrize("head", ["gap", "flatten"])
def test_standalone_head_trained_weights_move_to_the_classifier(head, vgg64):
    keras.utils.set_random_seed(3)
    model = models.build_classifier(vgg64, head=head, num_classes=3)
    standalone = models.build_head(vgg64.output.shape[1:], head=head, num_classes=3)
    assert [layer.name for layer in standalone.layers[1:]] == [
        layer.name for layer in model.layers[len(vgg64.layers):]
    ]
    images = _images(2, (64, 64, 3))
    features = vgg64.predict(images, verbose=0)
    before = model.predict(images, verbose=0)
    models.copy_head_weights(standalone, model)
    after = model.predict(images, verbose=0)
    np.testing.assert_allclose(after, standalone.predict(features, verbose=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(before, after)


def test_copy_head_weights_refuses_a_different_head(vgg64):
    model = models.build_classifier(vgg64, head="gap")
    with pytest.raises(ValueError, match="no layer 'head_dense'"):
        models.copy_head_weights(models.build_head((2, 2, 512), head="flatten"), model)


# --------------------------------------------------------------------------- freezing


def _trainable_names(model: keras.Model) -> list[str]:
    return [layer.name for layer in model.layers if layer.trainable and layer.weights]


def test_freeze_and_unfreeze_change_exactly_the_intended_layers(backbones):
    model = models.build_classifier(backbones["vgg16"], head="gap")
    assert _trainable_names(model) == ["logits"]

    unfrozen = models.unfreeze_from(model, "block5")
    assert unfrozen == ["block5_conv1", "block5_conv2", "block5_conv3", "logits"]
    assert _trainable_names(model) == unfrozen
    assert _params(model.trainable_weights) == 7_079_424 + 513

    assert models.unfreeze_from(model, "block4_conv3")[:2] == ["block4_conv3", "block5_conv1"]
    assert model.get_layer("block4_conv2").trainable is False

    models.freeze(model)
    assert _trainable_names(model) == ["logits"]
    models.freeze(model, include_head=True)
    assert model.trainable_weights == []

    with pytest.raises(ValueError, match="neither a layer nor a block"):
        models.unfreeze_from(model, "block9")


def test_unfreeze_keeps_batchnorm_frozen_unless_asked(backbones):
    model = models.build_classifier(backbones["resnet50"], head="gap")
    unfrozen = models.unfreeze_from(model, "conv5")
    assert unfrozen and all(n.startswith("conv5_") or n == "logits" for n in unfrozen)
    assert not any(n.endswith("_bn") for n in unfrozen)
    assert model.get_layer("conv4_block6_out") is not None
    assert model.get_layer("conv4_block6_3_conv").trainable is False
    with_bn = models.unfreeze_from(model, "conv5", keep_batchnorm_frozen=False)
    assert "conv5_block3_3_bn" in with_bn
    models.freeze(model)


def test_frozen_batchnorm_backbone_runs_in_inference_mode(backbones):
    base_model = backbones["resnet50"]
    model = models.build_classifier(base_model, head="gap", dropout=0.0)
    bn = model.get_layer("conv1_bn")
    mean_before = keras.ops.convert_to_numpy(bn.moving_mean).copy()
    images = _images(4)
    train_out = keras.ops.convert_to_numpy(model(images, training=True))
    infer_out = keras.ops.convert_to_numpy(model(images, training=False))
    np.testing.assert_allclose(train_out, infer_out, rtol=1e-5, atol=1e-6)
    # a training-mode pass over a batch left the moving statistics alone
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), mean_before)


def test_parameter_report_per_block(backbones):
    model = models.build_classifier(backbones["vgg16"], head="gap")
    report = models.parameter_report(model)
    assert list(report.columns) == ["layers", "trainable", "frozen", "total"]
    assert int(report.loc["block1", "frozen"]) == 38_720
    assert int(report.loc["block5", "frozen"]) == 7_079_424
    assert int(report.loc["head", "trainable"]) == 513
    backbone_rows = report.drop(index=["head", "total"])
    assert int(backbone_rows["total"].sum()) == 14_714_688
    models.unfreeze_from(model, "block5")
    report = models.parameter_report(model)
    assert int(report.loc["block5", "trainable"]) == 7_079_424
    assert int(report.loc["block5", "frozen"]) == 0
    assert int(report.loc["total", "trainable"]) == 7_079_424 + 513
    models.freeze(model)


@pytest.mark.parametrize(
    "layer, backbone, block",
    [
        ("block3_pool", "vgg16", "block3"),
        ("pool1_pool", "resnet50", "conv1"),
        ("expanded_conv_project", "mobilenetv2", "expanded_conv"),
        ("Conv_1_bn", "mobilenetv2", "top"),
        ("block2b_dwconv", "efficientnetb0", "block2"),
        ("predictions", "vgg16", "head"),
    ],
)
def test_block_of(layer, backbone, block):
    assert models.block_of(layer, backbone) == block


@pytest.mark.parametrize("name", list(models.BACKBONES))
def test_every_backbone_layer_has_a_known_block(name, backbones):
    blocks = set(models.BACKBONES[name].blocks)
    for layer in backbones[name].layers[2:]:
        assert models.block_of(layer.name, name) in blocks, layer.name


# --------------------------------------------------------------------------- weights


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_local_weights_file_roundtrip(tmp_path, backbones):
    keras.utils.set_random_seed(11)
    source = models.load_backbone("vgg16", None, SMALL)
    expected = [w.copy() for w in source.get_weights()]
    assert not _same(expected, backbones["vgg16"].get_weights())  # a different random init

    ours = tmp_path / "our_vgg16.weights.h5"
    source.save_weights(ours)
    assert _same(models.load_backbone("vgg16", ours, SMALL).get_weights(), expected)

    # the plain keras.applications model's files, new and legacy format
    plain = keras.applications.VGG16(include_top=False, weights=None, input_shape=SMALL)
    plain.set_weights(expected)
    plain.save_weights(tmp_path / "plain.weights.h5")
    assert _same(models.load_backbone("vgg16", tmp_path / "plain.weights.h5", SMALL).get_weights(), expected)
    legacy = tmp_path / models.weights_file("vgg16")  # named like the ImageNet file
    plain.save(legacy)
    with h5py.File(legacy) as f:
        assert "model_weights" in f  # really the legacy HDF5 layout
    loaded = models.load_backbone("vgg16", str(legacy), (48, 48, 3))  # no-top weights: any size
    assert _same(loaded.get_weights(), expected)
    assert loaded.layers[1].name == "preprocess"


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No weights file"):
        models.load_backbone("vgg16", tmp_path / "nothing.h5", SMALL)


@pytest.mark.parametrize("name, shape", [("vgg16", SMALL), ("mobilenetv2", (160, 160, 3))])
def test_imagenet_offline_fails_fast_with_a_clear_message(name, shape, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(config, "network_available", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(models.WeightsUnavailableError) as info:
        models.load_backbone(name, "imagenet", shape)
    assert time.perf_counter() - start < 1.0  # before Keras builds or downloads anything
    message = str(info.value)
    assert models.weights_file(name, shape) in message
    assert models.weights_url(name, shape) in message
    assert str(tmp_path / "keras" / "models") in message
    if name == "mobilenetv2":
        assert "_160_no_top.h5" in message


def test_weights_registry_names_the_files_keras_downloads():
    assert models.weights_file("vgg16") == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert models.weights_url("vgg16") == (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert models.BACKBONES["vgg16"].top_weights_url.endswith("/vgg16_weights_tf_dim_ordering_tf_kernels.h5")
    assert models.weights_file("mobilenetv2", (100, 100, 3)).endswith("_224_no_top.h5")


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("head", ["gap", "flatten"])
def test_save_and_load_with_safe_mode(head, vgg64, tmp_path):
    model = models.build_classifier(vgg64, head=head, num_classes=3)
    models.unfreeze_from(model, "block5")
    path = tmp_path / f"{head}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    images = _images(2, (64, 64, 3))
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6
    )
    assert isinstance(loaded.get_layer("preprocess"), models.Preprocess)
    assert loaded.get_layer("preprocess").mode == "caffe"
    assert _trainable_names(loaded) == _trainable_names(model)
    models.freeze(model)


# --------------------------------------------------------------------------- ImageNet classes


def test_imagenet_class_index_is_complete_and_keras_ordered():
    index = models.imagenet_class_index()
    assert sorted(index) == list(range(1000))
    wnids = [index[i][0] for i in range(1000)]
    assert wnids == sorted(wnids) and len(set(wnids)) == 1000  # Keras' order: sorted WordNet ids
    assert index[0] == ("n01440764", "tench") and index[504][1] == "coffee_mug"


def test_decode_predictions_top_k_in_order():
    probs = np.full((2, 1000), 1e-4)
    probs[0, [281, 285, 7]] = [0.5, 0.3, 0.2]
    probs[1, 504] = 0.9
    decoded = models.decode_predictions(probs, top=3)
    assert [name for _, name, _ in decoded[0]] == ["tabby", "Egyptian_cat", "cock"]
    assert decoded[1][0][:2] == ("n03063599", "coffee_mug") and decoded[1][0][2] == pytest.approx(0.9)
    with pytest.raises(ValueError, match=r"\(N, 1000\)"):
        models.decode_predictions(np.zeros((1, 10)))


def test_imagenet_classifier_offline_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "network_available", lambda *a, **k: False)
    start = time.perf_counter()
    with pytest.raises(models.WeightsUnavailableError, match="vgg16_weights_tf_dim_ordering_tf_kernels.h5"):
        models.load_imagenet_classifier("vgg16", "imagenet")
    assert time.perf_counter() - start < 1.0


def test_frozen_efficientnet_dropout_is_off_and_comes_back_when_unfrozen(backbones):
    """fit passes training=True to every layer of a flat graph; frozen dropout must ignore it."""
    base_model = backbones["efficientnetb0"]
    drops = [layer for layer in base_model.layers if isinstance(layer, keras.layers.Dropout)]
    assert drops and all(isinstance(layer, models.FrozenDropout) for layer in drops)
    model = models.build_classifier(base_model, head="gap", dropout=0.0)
    probe = keras.Model(
        model.input, [model.get_layer("block6b_drop").output, model.get_layer("block6b_project_bn").output]
    )
    images = _images(16)
    dropped, before = (keras.ops.convert_to_numpy(t) for t in probe(images, training=True))
    np.testing.assert_array_equal(dropped, before)  # frozen: inference mode
    models.unfreeze_from(model, "block6")
    dropped, before = (keras.ops.convert_to_numpy(t) for t in probe(images, training=True))
    assert not np.allclose(dropped, before)  # trainable again: stochastic depth drops
    models.freeze(model)


def test_efficientnet_classifier_reloads_with_safe_mode(backbones, tmp_path):
    model = models.build_classifier(backbones["efficientnetb0"], head="gap", num_classes=3)
    model.save(tmp_path / "effnet.keras")
    loaded = keras.models.load_model(tmp_path / "effnet.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("block6b_drop"), models.FrozenDropout)
    assert loaded.get_layer("block6b_drop").trainable is False
    images = _images(2)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------------- VGG16's dense top


def test_vgg16_classifier_has_keras_layers_shapes_and_initialisation():
    """Built a slice at a time, it is Keras' include_top=True model: same names, shapes, Glorot."""
    import gc

    theirs = keras.applications.VGG16(include_top=True, weights=None)
    keras_ = [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in theirs.layers
              if layer.weights]
    del theirs  # 138 M weights: one such model at a time
    gc.collect()
    keras.utils.set_random_seed(0)
    ours = models.load_imagenet_classifier("vgg16", weights=None)
    mine = [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in ours.layers if layer.weights]
    assert mine == keras_
    for name in ("fc1", "fc2", "predictions"):
        kernel = ours.get_layer(name).kernel.numpy()
        fan_in, fan_out = kernel.shape
        limit = np.sqrt(6 / (fan_in + fan_out))
        assert np.abs(kernel).max() <= np.float32(limit)
        assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.01)  # uniform on [-l, l]
        assert abs(kernel.mean()) < limit / 100
        # every slice was drawn (none left at the zeros it was created with), and differently
        rows = kernel[:: models.imagenet.SLICE_ROWS]
        assert (np.abs(kernel).sum(axis=1) > 0).all() and len(np.unique(rows[:, 0])) == len(rows)
        assert not ours.get_layer(name).bias.numpy().any()
    keras.utils.set_random_seed(0)
    again = models.load_imagenet_classifier("vgg16", weights=None)
    np.testing.assert_array_equal(again.get_layer("fc2").kernel.numpy(),
                                  ours.get_layer("fc2").kernel.numpy())


def _legacy_file(model: keras.Model, path, seed: int = 0):
    """``model``'s layers written in Keras' legacy .h5 layout, random values; returns them."""
    rng = np.random.default_rng(seed)
    values = {}
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
        for layer in model.layers:
            group = f.create_group(layer.name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{layer.name}/{w.name}:0".encode() for w in weights]
            group.attrs["weight_names"] = np.array(names, dtype="S80")
            values[layer.name] = []
            for name, w in zip(names, weights, strict=True):
                v = rng.normal(size=tuple(w.shape)).astype("float32")
                group.create_dataset(name.decode(), data=v)
                values[layer.name].append(v)
    return values


def test_weights_loaded_in_slices_equal_keras_own_loading(tmp_path):
    """Same file, same model: load_h5_in_slices gives what model.load_weights gives.

    MobileNetV2's file has BatchNormalization layers (trainable and non-trainable
    weights, in the legacy order) and kernels of four dimensions sliced on the first.
    """
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(include_top=True, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "w.h5"
    _legacy_file(model, path)
    twin = keras.models.clone_model(model)
    twin.load_weights(str(path))
    models.imagenet.load_h5_in_slices(model, path, rows=2)
    for a, b in zip(model.weights, twin.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_a_weights_file_that_does_not_fit_is_named(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d"),
                              keras.layers.Dense(1, name="e")])
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="d"),
                              keras.layers.Dense(1, name="e")])
    path = tmp_path / "other.h5"
    _legacy_file(other, path)
    with pytest.raises(ValueError, match=r"other\.h5.*layer 'd'.*\(3, 4\).*\(3, 2\)"):
        models.imagenet.load_h5_in_slices(model, path)
    few = tmp_path / "few.h5"
    _legacy_file(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")]), few)
    with pytest.raises(ValueError, match=r"few\.h5 holds weights for 1 layers.*2 layers"):
        models.imagenet.load_h5_in_slices(model, few)
    keras_file = tmp_path / "new.weights.h5"
    model.save_weights(str(keras_file))
    with pytest.raises(ValueError, match="not a Keras weights file in the .h5 layout"):
        models.imagenet.load_h5_in_slices(model, keras_file)


_PEAK = """
import sys
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
def reset_peak():  # the high-water mark back to what is resident now (Linux 4.0+)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return peak_mib()
import numpy as np, keras, h5py
from nbhelpers import models
"""


def _peak_growth(code: str) -> dict:
    """Run ``code`` after _PEAK in a fresh Python; it prints a JSON dict of measurements."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _PEAK + code], capture_output=True, text=True,
                         check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


needs_proc = pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"),
                                reason="reads the peak resident memory from /proc (Linux)")


@pytest.mark.slow
@needs_proc
def test_building_vgg16s_classifier_costs_about_its_own_size_in_memory():
    """Binder's 2 GB: Keras' whole-matrix initialisation of fc1 peaked at 2.6x the weights."""
    got = _peak_growth("""
before = reset_peak()
model = models.load_imagenet_classifier("vgg16", weights=None)
built = peak_mib()
model.predict(np.zeros((2, 224, 224, 3), "float32"), verbose=0)
import json; print(json.dumps({"weights": model.count_params() * 4 / 2**20,
                               "built": built - before, "predicted": peak_mib() - before}))
""")
    assert got["built"] < 1.5 * got["weights"], got
    assert got["predicted"] < 1.9 * got["weights"], got  # oneDNN's copy of fc1 would add 0.8x


@pytest.mark.slow
@needs_proc
def test_loading_a_weights_file_in_slices_needs_one_slice_beyond_the_model(tmp_path):
    """model.load_weights holds the file's matrix, its tensor and the copy: about 3x its size."""
    got = _peak_growth(f"""
path = {str(tmp_path / "big.h5")!r}
with h5py.File(path, "w") as f:
    f.attrs["layer_names"] = [b"d"]
    g = f.create_group("d")
    g.attrs["weight_names"] = [b"d_W:0", b"d_b:0"]
    w = g.create_dataset("d_W:0", shape=(12000, 4096), dtype="float32")
    for i in range(0, 12000, 1000):  # written in pieces: no whole matrix in this process
        w[i:i + 1000] = 1.0
    g.create_dataset("d_b:0", data=np.zeros(4096, "float32"))
model = keras.Sequential([keras.Input((12000,)),
                          keras.layers.Dense(4096, name="d", kernel_initializer="ones")])
before = reset_peak()
models.imagenet.load_h5_in_slices(model, path)
import json; print(json.dumps({{"matrix": 12000 * 4096 * 4 / 2**20, "loaded": peak_mib() - before,
                                "sum": float(model.get_layer("d").kernel.numpy().sum())}}))
""")
    assert got["sum"] == 12000 * 4096
    assert got["loaded"] < 0.75 * got["matrix"], got  # a few 32 MiB slices (Keras: 2x the matrix)


@pytest.mark.slow
@needs_proc
def test_the_compiled_forward_pass_frees_each_layers_output():
    """A direct call held all 20 outputs at once (about 23 layers' worth); the compiled pass about 5."""
    got = _peak_growth("""
inp = keras.Input((64, 64, 32))
x = inp
for i in range(20):
    x = keras.layers.Conv2D(32, 3, padding="same", name=f"c{i}")(x)
model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))
batch = np.ones((64, 64, 64, 32), "float32")
step = models.forward(model)
step(batch[:2])  # traced on a small batch first
before = reset_peak()
out = step(batch)
compiled = peak_mib() - before
before = reset_peak()
direct = np.asarray(model(batch, training=False))
import json; print(json.dumps({"compiled": compiled, "direct": peak_mib() - before,
                               "same": bool(np.allclose(out, direct, atol=1e-4)),
                               "layer": 64 * 64 * 64 * 32 * 4 / 2**20}))
""")
    assert got["same"] and got["compiled"] < 8 * got["layer"], got  # direct: about 23
