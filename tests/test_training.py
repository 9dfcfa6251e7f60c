"""Tests of nbhelpers.training: frozen weights, fine-tuning, the feature cache, resuming,
saving and reloading, MirroredStrategy, and get_model's load-or-train.

Tiny inputs (32 px VGG16, a handful of images) keep the file fast.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

import nbhelpers as nbh
from nbhelpers import features as feature_cache
from nbhelpers import models, training

SIZE = 32


@pytest.fixture
def cfg(tmp_path):
    """The offline profile, with artifacts and caches in a fresh folder."""
    base = nbh.config.make_config("offline")
    return dataclasses.replace(base, cache_dir=tmp_path / "cache",
                               artifacts_dir=tmp_path / "artifacts")


def images(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(n, SIZE, SIZE, 3)).astype("float32")
    y = (np.arange(n) % 2).astype("int32")
    return x, y


def vgg_classifier(seed=0):
    keras.utils.set_random_seed(seed)
    base_model = models.load_backbone("vgg16", weights=None, input_shape=(SIZE, SIZE, 3))
    model = models.build_classifier(base_model, head="gap", num_classes=2, dropout=0.0)
    return base_model, model


def weights_by_layer(model):
    return {layer.name: [w.copy() for w in layer.get_weights()]
            for layer in model.layers if layer.weights}


def changed_layers(before, model):
    after = weights_by_layer(model)
    return sorted(name for name, ws in before.items()
                  if any(not np.array_equal(a, b) for a, b in zip(ws, after[name], strict=True)))


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="predictions")(hidden)
    return keras.Model(inputs, outputs)


def tiny_data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


# --------------------------------------------------------------------------- freezing


def test_frozen_base_does_not_change_while_the_head_trains(cfg):
    _, model = vgg_classifier()
    training.compile_model(model, 1e-2)
    before = weights_by_layer(model)
    x, y = images()
    training.fit(model, (x, y), (x, y), epochs=2, name="frozen", cfg=cfg, checkpoint=False)
    assert changed_layers(before, model) == ["logits"]


def test_finetuning_changes_only_the_unfrozen_block_and_the_head(cfg):
    _, model = vgg_classifier()
    x, y = images()
    training.compile_model(model, 1e-2)
    training.fit(model, (x, y), None, cfg, epochs=1, name="head", checkpoint=False,
                 patience=None)
    names = training.prepare_finetuning(model, cfg, learning_rate=1e-3)
    assert names == ["block5_conv1", "block5_conv2", "block5_conv3", "logits"]
    before = weights_by_layer(model)
    training.fit(model, (x, y), None, epochs=1, name="ft", cfg=cfg, checkpoint=False, patience=None)
    assert changed_layers(before, model) == sorted(names)


def test_fitting_above_the_cut_takes_the_same_step_as_fitting_end_to_end(cfg):
    """The block-4 cache is a shortcut, not another method: one full-batch step from the same
    start moves block5 and the head exactly as the end-to-end step does, and nothing below."""
    x, y = images()
    runs = {}
    for how in ("end_to_end", "above"):
        _, model = vgg_classifier(seed=3)
        training.prepare_finetuning(model, cfg, learning_rate=1e-3)
        before = weights_by_layer(model)
        if how == "end_to_end":
            training.fit(model, (x, y), None, cfg, epochs=1, name="e2e", checkpoint=False,
                         patience=None, batch_size=len(x), shuffle=False)
        else:
            cut = dataclasses.replace(cfg, batch_size=len(x))
            training.fit_above(model, (x, y), None, cut, epochs=1, name="above",
                               checkpoint=False, patience=None)
        assert changed_layers(before, model) == ["block5_conv1", "block5_conv2", "block5_conv3",
                                                 "logits"]
        runs[how] = weights_by_layer(model)
    for layer in runs["above"]:
        for a, b in zip(runs["above"][layer], runs["end_to_end"][layer], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=layer)


def test_fitting_above_computes_the_frozen_part_once_and_refuses_a_trainable_one(cfg, monkeypatch):
    _, model = vgg_classifier()
    x, y = images()
    calls = []
    real = training.extract_features
    monkeypatch.setattr(training, "extract_features",
                        lambda base, ds, key, c: calls.append(base.output_shape) or real(base, ds, key, c))
    training.prepare_finetuning(model, cfg, learning_rate=1e-3)
    history = training.fit_above(model, (x, y), (x, y), cfg, epochs=3, name="above",
                                 checkpoint=False, patience=None)
    assert len(history["loss"]) == 3 and calls == [(None, 2, 2, 512)] * 2  # train, val: once each
    # The history's last validation loss is the model's own (the two parts share weights).
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(history["val_loss"][-1], rel=1e-4)
    models.unfreeze_from(model, "block4")
    training.compile_model(model, 1e-3)
    with pytest.raises(ValueError, match="block4_conv1.*below 'block5' are trainable"):
        training.fit_above(model, (x, y), None, cfg, epochs=1, name="above", checkpoint=False,
                           patience=None)
    with pytest.raises(ValueError, match="not compiled"):
        training.fit_above(vgg_classifier()[1], (x, y), None, cfg, epochs=1, name="x")


def test_a_damaged_block4_cache_is_computed_again_and_rewritten_whole(cfg):
    """A kernel killed while the cache was written, or a damaged disk: fit_above still trains,
    on features computed again, and leaves a readable file for the next run."""
    _, model = vgg_classifier()
    x, y = images()
    training.prepare_finetuning(model, cfg, learning_rate=1e-3)
    options = dict(epochs=1, name="above", checkpoint=False, patience=None)
    training.fit_above(model, (x, y), None, cfg, **options)
    files = sorted((cfg.cache_dir).rglob("vgg16_below_block5-*.npz"))
    assert len(files) == 1
    whole = files[0].read_bytes()
    files[0].write_bytes(whole[: len(whole) // 2])  # cut off half way
    history = training.fit_above(model, (x, y), None, cfg, **options)
    assert len(history["loss"]) == 1
    below, _ = models.split_at(model, "block5")
    again = training.extract_features(below, (x, y), "train", cfg)  # read from the file
    np.testing.assert_allclose(again.x, below.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert files[0].stat().st_size == len(whole)


def test_fitting_above_without_validation_needs_no_early_stopping_or_checkpoint(cfg):
    _, model = vgg_classifier()
    x, y = images()
    training.prepare_finetuning(model, cfg, learning_rate=1e-3)
    with pytest.raises(ValueError, match="patience=None, checkpoint=False"):
        training.fit_above(model, (x, y), None, cfg, epochs=1, name="above")


def test_the_feature_cache_sees_a_change_anywhere_in_the_part_below_the_cut(cfg):
    """ResNet50's first and last tensors below its top block are the stem and a frozen
    BatchNorm statistic: a fine-tuned middle layer must still give other features a new key."""
    _, model = vgg_classifier()
    below, _ = models.split_at(model, "block5")
    before = feature_cache._weights_id(below)
    layer = model.get_layer("block3_conv2")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel * 1.01, bias])
    assert feature_cache._weights_id(below) != before


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenetv2"])
def test_other_backbones_split_at_their_top_block_into_parts_that_compose(backbone):
    keras.utils.set_random_seed(0)
    base = models.load_backbone(backbone, weights=None, input_shape=(SIZE, SIZE, 3))
    model = models.build_classifier(base, head="gap", num_classes=2, dropout=0.0)
    below, above = models.split_at(model, models.BACKBONES[backbone].top_block)
    x, _ = images(4)
    np.testing.assert_allclose(above.predict(below.predict(x, verbose=0), verbose=0),
                               model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_changing_trainable_after_fit_needs_a_recompile():
    """What Keras 3 actually does: the traced train step keeps the old trainable list."""
    x, y = tiny_data()
    model = tiny_model()
    model.get_layer("hidden").trainable = False
    training.compile_model(model, 1e-2)
    model.fit(x, y, epochs=1, verbose=0)
    before = weights_by_layer(model)

    model.get_layer("hidden").trainable = True  # unfreeze, but do not recompile ...
    model.fit(x, y, epochs=1, verbose=0)
    assert "hidden" not in changed_layers(before, model)  # ... and nothing happens

    training.compile_model(model, 1e-2)  # recompile: now it trains
    before = weights_by_layer(model)
    model.fit(x, y, epochs=1, verbose=0)
    assert "hidden" in changed_layers(before, model)

    model.get_layer("hidden").trainable = False  # freeze, without recompiling ...
    before = weights_by_layer(model)
    model.fit(x, y, epochs=1, verbose=0)
    assert "hidden" in changed_layers(before, model)  # ... and it keeps moving


# --------------------------------------------------------------------------- feature cache


def test_cached_features_equal_fresh_ones(cfg):
    base_model, _ = vgg_classifier()
    x, y = images(10)
    first = training.extract_features(base_model, (x, y), key="train", cfg=cfg, batch_size=4)
    files = list((cfg.cache_dir / "features").glob("*.npz"))
    assert len(files) == 1
    assert files[0].name.startswith("vgg16-32px-images-offline-data")  # by content
    written = files[0].stat().st_mtime_ns
    fresh = np.asarray(base_model.predict(x, verbose=0))
    cached = training.extract_features(base_model, (x, y), key="train", cfg=cfg)
    assert files[0].stat().st_mtime_ns == written  # read, not recomputed
    np.testing.assert_allclose(cached.x, fresh, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(first.x, cached.x)
    np.testing.assert_array_equal(cached.y, y)
    assert cached.x.shape == (10, 1, 1, 512)


def test_changed_images_never_read_stale_features(cfg):
    base_model, _ = vgg_classifier()
    x, y = images(6)
    first = training.extract_features(base_model, (x, y), key="train", cfg=cfg)
    x2 = x.copy()
    x2[0] = 255.0 - x2[0]  # one image changed
    second = training.extract_features(base_model, (x2, y), key="train", cfg=cfg)
    assert len(list((cfg.cache_dir / "features").glob("*.npz"))) == 2
    assert not np.allclose(first.x[0], second.x[0])
    np.testing.assert_allclose(second.x[0], np.asarray(base_model(x2[:1]))[0], rtol=1e-5,
                               atol=1e-6)


def test_feature_cache_is_keyed_by_content_and_weights_not_by_the_callers_name(cfg, monkeypatch):
    base_a, _ = vgg_classifier(seed=0)
    base_b, _ = vgg_classifier(seed=1)
    x, y = images(4)
    a = training.extract_features(base_a, (x, y), key="val", cfg=cfg)
    b = training.extract_features(base_b, (x, y), key="val", cfg=cfg)
    assert not np.allclose(a.x, b.x)  # other weights: not served the stale file
    # The same images through the same base under another name (notebook 11 after 10):
    # read from the file, the model never runs.
    monkeypatch.setattr(training.models, "forward", lambda m: pytest.fail("recomputed"))
    shared = training.extract_features(base_a, (x, y), key="11-val", cfg=cfg)
    np.testing.assert_array_equal(shared.x, a.x)
    assert len(list((cfg.cache_dir / "features").glob("*.npz"))) == 2


def test_a_shuffled_pipeline_and_load_splits_arrays_share_one_file_in_the_lists_order(
        cfg, monkeypatch):
    """Notebooks 04/05 cache the training split through make_datasets' shuffled pipeline;
    10 and 11 ask for it as load_split's arrays, and 10 indexes images by those features."""
    prepared = nbh.data.prepare(source="faces", verbose=False)
    train_ds, _, _ = nbh.data.make_datasets(prepared, cfg)
    x, y = nbh.data.load_split(prepared, "train", cfg)
    inp = keras.Input(x.shape[1:])
    base = keras.Model(inp, keras.layers.Conv2D(2, 3, strides=4)(inp))
    shuffled = np.concatenate([yb.numpy() for _, yb in train_ds])
    assert not np.array_equal(shuffled, y)  # the pipeline's own order is another
    via_pipeline = training.extract_features(base, train_ds, key="train", cfg=cfg)
    np.testing.assert_array_equal(via_pipeline.y, y)  # the list's order, labels with it
    np.testing.assert_allclose(via_pipeline.x, base.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert len(list((cfg.cache_dir / "features").glob("*.npz"))) == 1
    # the arrays, and the pipeline again (a fresh one, as in another notebook), read the file
    monkeypatch.setattr(training.models, "forward", lambda m: pytest.fail("recomputed"))
    as_arrays = training.extract_features(base, (x, y), key="train-in-order", cfg=cfg)
    np.testing.assert_array_equal(as_arrays.x, via_pipeline.x)
    again_ds, _, _ = nbh.data.make_datasets(prepared, cfg)
    decoded = []
    monkeypatch.setattr(nbh.data.SplitIdentity, "in_order",
                        lambda self, bs=64: decoded.append(1) or iter(()))
    np.testing.assert_array_equal(
        training.extract_features(base, again_ds, key="train", cfg=cfg).x, via_pipeline.x)
    assert decoded == [] and len(list((cfg.cache_dir / "features").glob("*.npz"))) == 1
    monkeypatch.undo()
    # the same files listed in another order: other features' order, never the first list's
    import dataclasses

    reordered = dataclasses.replace(prepared, train=prepared.train[::-1])
    back_ds, _, _ = nbh.data.make_datasets(reordered, cfg)
    np.testing.assert_array_equal(
        training.extract_features(base, back_ds, key="train", cfg=cfg).y, y[::-1])
    # a list edited after its pipeline was made: the pipeline keeps the images it was made of
    edited = dataclasses.replace(prepared, train=list(prepared.train))
    kept_ds, _, _ = nbh.data.make_datasets(edited, cfg)
    edited.train.reverse()
    np.testing.assert_array_equal(
        training.extract_features(base, kept_ds, key="train", cfg=cfg).y, y)
    # a damaged note of the split's content: the split is read and the note rewritten
    note = cfg.cache_dir / "features" / "splits" / f"{again_ds.split_identity.fingerprint}.txt"
    note.write_text("not a fingerprint")
    np.testing.assert_array_equal(
        training.extract_features(base, again_ds, key="train", cfg=cfg).x, via_pipeline.x)
    assert len(note.read_text()) == 12


def test_a_pooled_base_with_the_same_weights_gets_its_own_file(cfg):
    base, _ = vgg_classifier(seed=0)
    pooled = keras.Model(base.input, keras.layers.GlobalAveragePooling2D()(base.output))
    x, y = images(4)
    spatial = training.extract_features(base, (x, y), key="train", cfg=cfg)
    flat = training.extract_features(pooled, (x, y), key="train", cfg=cfg)
    assert spatial.x.shape == (4, 1, 1, 512) and flat.x.shape == (4, 512)
    again = training.extract_features(base, (x, y), key="train", cfg=cfg)
    np.testing.assert_array_equal(again.x, spatial.x)
    assert len(list((cfg.cache_dir / "features").glob("*.npz"))) == 2


def test_extract_features_reads_a_tf_dataset(cfg):
    import tensorflow as tf

    base_model, _ = vgg_classifier()
    x, y = images(6)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    got = training.extract_features(base_model, ds, key="ds", cfg=cfg)
    np.testing.assert_allclose(got.x, base_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got.y, y)


def test_a_derived_pipeline_is_run_but_never_cached(cfg):
    """Only a pipeline made by nbh.data.dataset says which files it holds (``split_identity``):
    ``ds.map(...)`` of it holds other images, so its features must not be read back later."""
    prepared = nbh.data.prepare(source="faces", verbose=False)
    _, val_ds, _ = nbh.data.make_datasets(prepared, cfg)
    inp = keras.Input((cfg.image_size, cfg.image_size, 3))
    base = keras.Model(inp, keras.layers.Conv2D(2, 3, strides=8)(inp))
    darker = val_ds.map(lambda x, y: (x * 0.5, y))
    dark = training.extract_features(base, darker, key="val", cfg=cfg)
    assert not (cfg.cache_dir / "features").exists()
    plain = training.extract_features(base, val_ds, key="val", cfg=cfg)
    assert not np.allclose(dark.x, plain.x)
    assert len(list((cfg.cache_dir / "features").glob("*.npz"))) == 1
    note = cfg.cache_dir / "features" / "splits" / f"{val_ds.split_identity.fingerprint}.txt"
    assert note.is_file()


def test_training_reexports_the_feature_cache_and_reads_the_configs_defaults():
    import inspect

    for name in ("Features", "extract_features", "feature_key", "feature_cache_path"):
        assert getattr(training, name) is getattr(feature_cache, name)
    config = nbh.config
    for fn in (training.fit, training.fit_above, training.training_callbacks,
               training.train_head_on_features):
        assert inspect.signature(fn).parameters["patience"].default == config.DEFAULT_PATIENCE
    params = inspect.signature(training.train_head_on_features).parameters
    assert params["head"].default == config.DEFAULT_HEAD
    assert params["dropout"].default == config.DEFAULT_DROPOUT


def test_head_on_features_transfers_to_the_classifier(cfg):
    base_model, model = vgg_classifier()
    x, y = images(8)
    feats = training.extract_features(base_model, (x, y), key="train", cfg=cfg)
    head, history = training.train_head_on_features(feats, feats, epochs=2, dropout=0.0,
                                                    cfg=cfg, learning_rate=1e-2)
    assert len(history["loss"]) == 2
    models.copy_head_weights(head, model)
    np.testing.assert_allclose(model.predict(x, verbose=0), head.predict(feats.x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def features(n=24, classes=2, seed=0, shape=(1, 1, 6)):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    return training.Features(x, (np.arange(n) % classes).astype("int32"))


def one_step(model, x, y):
    """Weights of the model's 'logits' kernel before and after one training step."""
    before = model.get_layer("logits").get_weights()[0].copy()
    model.fit(x, y, batch_size=len(y), epochs=1, verbose=0, shuffle=False)
    return before, model.get_layer("logits").get_weights()[0]


def test_weight_decay_is_decoupled_but_l2_under_adam_is_not():
    """Zero inputs give the kernel a zero data gradient: only the regulariser moves it."""
    lr, amount = 1e-2, 0.5
    x, y = np.zeros((8, 1, 1, 4), "float32"), np.arange(8) % 2
    keras.utils.set_random_seed(0)
    decayed = models.build_head((1, 1, 4), dropout=0.0)
    training.compile_model(decayed, lr, weight_decay=amount)
    before, after = one_step(decayed, x, y)
    # decoupled: every weight multiplied by the same factor, in proportion to its size
    np.testing.assert_allclose(after, before * (1 - lr * amount), rtol=1e-5)

    keras.utils.set_random_seed(0)
    penalised = models.build_head((1, 1, 4), dropout=0.0, l2=amount)
    training.compile_model(penalised, lr)
    before, after = one_step(penalised, x, y)
    # L2 through Adam: the step is normalised, so every weight moves by about lr, whatever its size
    np.testing.assert_allclose(np.abs(after - before), lr, rtol=1e-3)
    assert np.all(np.sign(after - before) == -np.sign(before))


def test_compile_model_options_and_clear_errors():
    model = models.build_head((1, 1, 4), num_classes=3)
    training.compile_model(model, 1e-3, "sgd", weight_decay=1e-2)
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.weight_decay == 1e-2
    assert model.loss == "sparse_categorical_crossentropy"
    own = keras.optimizers.RMSprop(learning_rate=1e-3)
    assert training.compile_model(model, 1e-3, own).optimizer is own
    with pytest.raises(ValueError, match="'adam', 'sgd'"):
        training.compile_model(model, 1e-3, "adagrad")
    with pytest.raises(ValueError, match="in its constructor"):
        training.compile_model(model, 1e-3, own, weight_decay=0.1)
    with pytest.raises(ValueError, match=">= 0"):
        training.compile_model(model, 1e-3, weight_decay=-1.0)


def test_head_on_features_class_weight_moves_the_decision(cfg):
    """Weight one class 0 and the head learns to answer the other one."""
    f = features(40)
    mean_p = {}
    for favoured in (0, 1):
        weights = {favoured: 1.0, 1 - favoured: 0.0}
        head, _ = training.train_head_on_features(
            f, f, cfg, epochs=10, learning_rate=0.1, dropout=0.0, name=f"cw{favoured}",
            class_weight=weights, patience=None, checkpoint=False, seed=0)
        mean_p[favoured] = float(np.mean(head.predict(f.x, verbose=0)))
    assert mean_p[1] > 0.8 and mean_p[0] < 0.2


def test_head_on_features_l2_seed_and_more_classes(cfg):
    f3 = features(30, classes=3)
    runs = [training.train_head_on_features(f3, f3, cfg, num_classes=3, epochs=2, seed=5,
                                            l2=1e-2, name=f"seeded{i}", patience=None)
            for i in range(2)]
    (a, ha), (b, hb) = runs
    assert a.output.shape == (None, 3) and a.loss == "sparse_categorical_crossentropy"
    np.testing.assert_array_equal(a.get_layer("logits").get_weights()[0],
                                  b.get_layer("logits").get_weights()[0])  # same seed, same run
    assert ha["loss"] == hb["loss"]
    assert a.get_layer("logits").kernel_regularizer is not None and a.losses  # the penalty is on


def test_head_on_features_without_validation_and_bad_input(cfg):
    f = features(12)
    head, history = training.train_head_on_features(f, None, cfg, epochs=2, patience=None,
                                                    name="noval")
    assert len(history["loss"]) == 2 and "val_loss" not in history
    with pytest.raises(ValueError, match="patience=None"):
        training.train_head_on_features(f, None, cfg, epochs=1)
    with pytest.raises(ValueError, match="num_classes=len"):
        training.train_head_on_features(features(12, classes=3), f, cfg, epochs=1)
    with pytest.raises(ValueError, match=r"no weight for class\(es\) \[1\]"):
        training.train_head_on_features(f, f, cfg, epochs=1, class_weight={0: 1.0})


# --------------------------------------------------------------------------- resuming


class Interrupt(keras.callbacks.Callback):
    """Press Ctrl-C at the end of epoch ``k`` (after the backup of that epoch was written)."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.k:
            raise KeyboardInterrupt


class EpochsRun(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_an_interrupted_run_continues_at_the_next_epoch(cfg):
    x, y = tiny_data()
    model = tiny_model()
    training.compile_model(model, 1e-2)
    first = EpochsRun()
    with pytest.raises(KeyboardInterrupt):
        training.fit(model, (x, y), (x, y), epochs=5, name="resume", cfg=cfg, patience=None,
                     callbacks=[first, Interrupt(k=1)])
    assert first.epochs == [0, 1]
    at_interrupt = weights_by_layer(model)
    assert (cfg.artifacts_dir / "runs" / "resume" / "backup").is_dir()

    # "Run the cell again": a fresh model, the same run name.
    model = tiny_model(seed=7)
    training.compile_model(model, 1e-2)
    second = EpochsRun()

    class Check(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.restored = changed_layers(at_interrupt, self.model) == []

    check = Check()
    history = training.fit(model, (x, y), (x, y), epochs=5, name="resume", cfg=cfg,
                           patience=None, callbacks=[check, second])
    assert check.restored  # the weights of epoch 1 came back
    assert second.epochs == [2, 3, 4]  # continues at k + 1
    assert history["epoch"] == [0, 1, 2, 3, 4]  # and ends with the same number of epochs
    assert len(history["val_loss"]) == 5
    assert not (cfg.artifacts_dir / "runs" / "resume" / "backup").exists()  # done: cleaned up


def test_a_finished_run_starts_afresh(cfg):
    x, y = tiny_data()
    model = tiny_model()
    training.compile_model(model, 1e-2)
    training.fit(model, (x, y), None, epochs=2, name="again", cfg=cfg, patience=None, checkpoint=False)
    runs = EpochsRun()
    history = training.fit(model, (x, y), None, epochs=2, name="again", cfg=cfg, patience=None,
                           checkpoint=False, callbacks=[runs])
    assert runs.epochs == [0, 1] and history["epoch"] == [0, 1]


def test_a_run_without_backup_writes_none_and_starts_again_after_an_interrupt(cfg, monkeypatch):
    x, y = tiny_data()
    model = tiny_model()
    training.compile_model(model, 1e-2)
    # an earlier interrupted run of the same name left a backup at epoch 1
    with pytest.raises(KeyboardInterrupt):
        training.fit(model, (x, y), (x, y), epochs=5, name="nobackup", cfg=cfg, patience=None,
                     callbacks=[Interrupt(k=1)])
    backup = cfg.artifacts_dir / "runs" / "nobackup" / "backup"
    assert backup.is_dir()
    seen = EpochsRun()
    with pytest.raises(KeyboardInterrupt):
        training.fit(model, (x, y), (x, y), epochs=5, name="nobackup", cfg=cfg, patience=None,
                     backup=False, callbacks=[seen, Interrupt(k=2)])
    assert seen.epochs == [0, 1, 2]  # the old backup was not resumed
    assert not backup.exists()  # nor left behind for the next run to resume
    again = EpochsRun()
    history = training.fit(model, (x, y), (x, y), epochs=3, name="nobackup", cfg=cfg,
                           patience=None, backup=False, callbacks=[again])
    assert again.epochs == [0, 1, 2] and history["epoch"] == [0, 1, 2]
    cbs = training.training_callbacks("nobackup", cfg, backup=False)
    assert not any(isinstance(c, keras.callbacks.BackupAndRestore) for c in cbs)
    f = training.Features(x.reshape(-1, 1, 1, 4), y)
    asked = []
    real = training.training_callbacks
    monkeypatch.setattr(training, "training_callbacks",
                        lambda *a, **k: asked.append(k["backup"]) or real(*a, **k))
    head, h = training.train_head_on_features(f, f,
                                              cfg, epochs=2, name="nobackup-head",
                                              backup=False, callbacks=[EpochsRun()])
    assert len(h["loss"]) == 2 and asked == [False]


def test_callbacks_early_stopping_restores_best_and_checkpoint_is_keras(cfg):
    cbs = training.training_callbacks("cb", cfg, patience=2)
    stop = next(c for c in cbs if isinstance(c, keras.callbacks.EarlyStopping))
    ckpt = next(c for c in cbs if isinstance(c, keras.callbacks.ModelCheckpoint))
    assert stop.restore_best_weights and stop.patience == 2
    assert str(ckpt.filepath).endswith(".keras")
    x, y = tiny_data()
    model = tiny_model()
    training.compile_model(model, 1e-2)
    training.fit(model, (x, y), (x, y), epochs=2, name="cb", cfg=cfg)
    reloaded = nbh.models.load_saved_model(cfg.artifacts_dir / "runs" / "cb" / "best.keras")
    assert reloaded.output_shape == (None, 1)


# --------------------------------------------------------------------------- strategy


def test_fit_runs_under_a_mirrored_strategy_over_two_cpus(cfg, mirrored):
    strategy = mirrored
    x, y = tiny_data(32)
    with strategy.scope():
        model = tiny_model()
        training.compile_model(model, 1e-2)
    before = weights_by_layer(model)
    history = training.fit(model, (x, y), (x, y), epochs=1, name="mirrored", cfg=cfg)
    assert len(history["loss"]) == 1
    assert changed_layers(before, model) == ["hidden", "predictions"]


# --------------------------------------------------------------------------- figure


def test_training_curves_continue_where_the_head_stopped():
    head = {"loss": [0.9, 0.6, 0.5], "val_loss": [1.0, 0.8, 0.7],
            "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.5, 0.6, 0.7]}
    fine = {"loss": [0.3, 0.2], "val_loss": [0.6, 0.65],
            "accuracy": [0.9, 0.95], "val_accuracy": [0.75, 0.74]}
    fig = nbh.plots.training_curves({"head": head, "fine": fine}, starts={"fine": 3},
                                    boundaries={"unfrozen": 3})
    acc, loss = fig.axes
    assert (acc.get_title(), loss.get_title()) == ("accuracy", "loss")
    xs = {line.get_label(): list(line.get_xdata()) for line in loss.lines}
    assert xs["head: training"] == [1, 2, 3] and xs["fine: validation"] == [4, 5]
    ys = {line.get_label(): list(line.get_ydata()) for line in loss.lines}
    assert ys["fine: validation"] == [0.6, 0.65]
    # The boundary is named in the legend, not written over the curves.
    assert "unfrozen (dotted line)" in [t.get_text() for t in acc.get_legend().get_texts()]
    assert not acc.texts and not loss.texts
    with pytest.raises(ValueError):
        nbh.plots.training_curves({})


def test_an_l2_heads_losses_are_the_datas_and_compare_with_a_plain_head(cfg):
    """Keras adds the penalty to loss and val_loss; the history keeps the cross-entropy alone."""
    rng = np.random.default_rng(0)
    f = training.Features(rng.normal(size=(16, 1, 1, 8)).astype("float32"), np.arange(16) % 2)
    head, h = training.train_head_on_features(f, f, cfg, epochs=2, l2=1.0, dropout=0.0,
                                              patience=None, checkpoint=False, seed=0,
                                              name="l2-data-loss", head="flatten")
    p = head.predict(f.x, verbose=0)[:, 0]
    y = f.y.astype("float32")
    data = float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    assert h["val_loss"][-1] == pytest.approx(data, rel=1e-3)  # evaluated with these weights
    penalty = float(sum(float(keras.ops.convert_to_numpy(v)) for v in head.losses))
    assert penalty > 0.01
    assert h["val_penalised_loss"][-1] - h["val_loss"][-1] == pytest.approx(penalty, rel=1e-3)
    assert h["penalised_loss"][-1] > h["loss"][-1]
    _, plain = training.train_head_on_features(f, f, cfg, epochs=2, dropout=0.0, patience=None,
                                               checkpoint=False, seed=0, name="plain-data-loss",
                                               head="flatten")
    assert "penalised_loss" not in plain  # nothing to take out
