"""Tests of nbhelpers.course: profile choice, setup and the banner, saved stages, get_model.

Tiny inputs (32 px VGG16, a handful of images) keep the file fast.
"""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest

import nbhelpers as nbh
from nbhelpers import config, course, models

SIZE = 32


# --------------------------------------------------------------------------- resolve_profile


@pytest.fixture
def machine(monkeypatch):
    """Pin the situation down: set .gpu and .weights ((obtainable, reason)) per test."""

    class Machine:
        gpu = False
        weights = (True, "cached")

    m = Machine()
    monkeypatch.setattr(course.machine, "_gpu_available", lambda: m.gpu)
    monkeypatch.setattr(course.machine, "_weights_obtainable", lambda: m.weights)
    return m


def test_auto_picks_full_on_gpu_and_cpu_without(machine):
    machine.gpu = True
    assert course.resolve_profile("auto").name == "full"
    machine.gpu = False
    assert course.resolve_profile("auto").name == "cpu"


def test_auto_falls_back_to_offline_and_says_why(machine):
    machine.gpu, machine.weights = True, (False, "no network here")
    r = course.resolve_profile("auto")
    assert r.name == "offline"
    assert "fell back" in r.reason and "no network here" in r.reason


@pytest.mark.parametrize("name", ["full", "cpu"])
def test_explicit_profile_never_falls_back(machine, name):
    machine.weights = (False, "no network")
    with pytest.raises(config.ProfileUnavailableError) as e:
        course.resolve_profile(name)
    msg = str(e.value)
    assert models.weights_url("vgg16") in msg and "make prefetch" in msg and "offline" in msg


def test_explicit_profile_is_taken_when_possible(machine):
    machine.gpu = True
    assert course.resolve_profile("CPU").name == "cpu"


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(config.ProfileError, match="auto, full, cpu, offline"):
        course.resolve_profile("gpu-huge")


def test_env_variable_is_read(monkeypatch):
    monkeypatch.setenv("NBH_PROFILE", "offline")
    assert course.resolve_profile().name == "offline"
    monkeypatch.setenv("NBH_PROFILE", "nonsense")
    with pytest.raises(config.ProfileError):
        course.resolve_profile()


def test_auto_detects_this_offline_machine(monkeypatch, tmp_path):
    # No weights in the (empty) Keras cache and no network: auto must fall back.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "network_available", lambda *a, **k: False)
    r = course.resolve_profile("auto")
    assert r.name == "offline" and str(tmp_path) in r.reason


def test_cached_weights_count_as_obtainable(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "network_available", lambda *a, **k: False)
    monkeypatch.setattr(course.machine, "_gpu_available", lambda: False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / models.weights_file("vgg16")).write_bytes(b"x")
    assert course.resolve_profile("cpu").name == "cpu"


def test_setup_prints_offline_banner(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path))
    cfg = nbh.setup("offline")
    out = capsys.readouterr().out
    assert "OFFLINE PROFILE" in out and "NOT a trained" in out
    assert cfg.offline and cfg.image_size == 64 and cfg.weights is None
    assert cfg.artifacts_dir == tmp_path / "artifacts" / "offline"
    assert cfg.artifacts_dir.is_dir()
    assert "UNTRAINED" in cfg.label()
    assert config.current() is cfg


def test_the_banner_names_your_folder_not_the_profiles_data_set(monkeypatch, tmp_path):
    cfg = config.make_config("cpu")
    monkeypatch.delenv("NBH_DATA_SOURCE", raising=False)
    assert "  data: cats_and_dogs at 160x160 px" in course.banner(cfg)
    monkeypatch.setenv("NBH_DATA_SOURCE", str(tmp_path / "my photos"))
    line = next(x for x in course.banner(cfg).splitlines() if x.startswith("  data:"))
    assert line.startswith(f"  data: your folder {tmp_path / 'my photos'} (NBH_DATA_SOURCE, "
                           "instead of cats_and_dogs) at 160x160 px")


def test_a_rehearsals_banner_says_its_pictures_are_stand_ins_too(monkeypatch, tmp_path):
    """A reader of a rehearsal saw 'cat.2028.jpg' drawn as coloured ellipses and heads on
    random weights at 0.93, with only the weights called stand-ins on screen."""
    cfg = config.make_config("cpu")
    monkeypatch.delenv("NBH_DATA_SOURCE", raising=False)
    monkeypatch.delenv("NBH_REHEARSAL_STANDINS", raising=False)
    assert "generated stand-in" not in course.banner(cfg)
    monkeypatch.setenv("NBH_REHEARSAL_STANDINS", str(tmp_path))
    text = course.banner(cfg)
    assert "cats_and_dogs archive is a generated stand-in" in text and "ellipses" in text
    monkeypatch.setenv("NBH_DATA_SOURCE", str(tmp_path / "my photos"))  # the folder lane's own
    assert "archive is a generated stand-in" not in course.banner(cfg)


def test_setup_shows_and_records_overrides(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NBH_OVERRIDES", "head_epochs=1,lime_samples=10")
    cfg = nbh.setup("offline")
    out = capsys.readouterr().out
    assert "overrides (NBH_OVERRIDES): head_epochs=1, lime_samples=10" in out
    assert cfg.head_epochs == 1 and cfg.lime_samples == 10
    assert "head_epochs=1" in cfg.label()


# --------------------------------------------------------------------------- saving

@pytest.fixture
def cfg(tmp_path):
    """The offline profile, with artifacts and caches in a fresh folder."""
    base = config.make_config("offline")
    return dataclasses.replace(base, cache_dir=tmp_path / "cache",
                               artifacts_dir=tmp_path / "artifacts")


def vgg_classifier(seed=0):
    keras.utils.set_random_seed(seed)
    base_model = models.load_backbone("vgg16", weights=None, input_shape=(SIZE, SIZE, 3))
    return models.build_classifier(base_model, head="gap", num_classes=2, dropout=0.0)


def test_saved_and_reloaded_model_gives_identical_predictions(cfg):
    model = vgg_classifier()
    nbh.training.compile_model(model, 1e-3)
    x = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    record = course.save_stage(model, "head", {"loss": []}, cfg, wall_time_s=0.0,
                               metrics={"val_accuracy": 0.5})
    path, _ = course.artifact_paths("head", cfg)
    assert path.suffix == ".keras"
    reloaded = models.load_saved_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))
    assert reloaded.get_layer("preprocess") is not None
    assert reloaded.get_layer("logits") is not None
    assert record["profile"] == "offline" and record["dataset"] == "faces"
    assert record["versions"]["keras"] == keras.__version__
    assert record["settings"]["data"]["class_names"] == ["face", "non_face"]


def test_load_record_names_the_missing_stage(cfg):
    with pytest.raises(FileNotFoundError, match="get_model"):
        course.load_record("finetuned", cfg)


def test_settings_change_with_budgets_but_not_with_explanation_budgets(cfg):
    base = course.stage_settings("finetuned", cfg)
    more = dataclasses.replace(cfg, finetune_epochs=9)
    assert course.stage_settings("finetuned", more) != base
    assert course.stage_settings("head", more) == course.stage_settings("head", cfg)
    lime = dataclasses.replace(cfg, lime_samples=999)
    assert course.stage_settings("finetuned", lime) == base


def test_a_recipe_that_would_freeze_one_augmentation_into_a_cache_is_refused():
    with pytest.raises(ValueError, match="cannot augment"):
        course.Recipe(finetune_method="features")  # finetune_augment defaults to True
    with pytest.raises(ValueError, match="cannot augment"):
        course.Recipe(head_method="features", head_augment=True)
    with pytest.raises(ValueError, match="'features' or 'end_to_end'"):
        course.Recipe(finetune_method="cached")


def test_a_recipe_says_augmented_only_where_training_augments():
    """The model card and the stage record show the recipe: it must say what training did
    (the features path trains on the base's output of the unchanged images)."""
    for name, r in course.RECIPES.items():
        assert r.head_augment == (r.head_method == "end_to_end"), name
        assert not (r.finetune_augment and r.finetune_method == "features"), name
    assert course.RECIPES["full"].head_augment and not course.RECIPES["cpu"].head_augment


def test_a_recipes_head_and_patience_are_the_courses_defaults():
    """One fact in one place: the head, its dropout and early stopping's patience."""
    r = course.Recipe()
    assert (r.head, r.dropout, r.patience) == (config.DEFAULT_HEAD, config.DEFAULT_DROPOUT,
                                               config.DEFAULT_PATIENCE)
    assert all((x.head, x.dropout, x.patience) == (r.head, r.dropout, r.patience)
               for x in course.RECIPES.values())


def test_the_fine_tuning_recipe_changes_the_fine_tuned_stage_but_not_the_head(cfg, monkeypatch):
    """Notebook 06's path (end to end or above the block-4 cache) must not retrain 05's head."""
    head, fine = (course.stage_settings(s, cfg) for s in ("head", "finetuned"))
    other = dataclasses.replace(course.RECIPES["offline"], finetune_method="end_to_end")
    monkeypatch.setitem(course.RECIPES, "offline", other)
    assert course.stage_settings("head", cfg) == head
    assert course.stage_settings("finetuned", cfg) != fine


# --------------------------------------------------------------------------- get_model


@pytest.fixture
def small_cfg(cfg):
    """The offline recipe at 32 px on 12 faces per class, one epoch per stage."""
    return dataclasses.replace(cfg, image_size=SIZE, max_images_per_class=12,
                               head_epochs=2, finetune_epochs=1, batch_size=8)


def test_get_model_trains_saves_then_loads_under_a_mirrored_strategy(small_cfg, capsys, mirrored,
                                                                    monkeypatch):
    monkeypatch.setattr(course.machine, "_STRATEGY", [mirrored])
    model = course.get_model("finetuned", small_cfg)
    out = capsys.readouterr().out
    assert "Trained 'head'" in out and "Trained 'finetuned'" in out
    head, fine = (course.load_record(s, small_cfg) for s in ("head", "finetuned"))
    assert head["stages"] == ["head"] and fine["stages"] == ["head", "finetuned"]
    assert fine["initial_epoch"] == head["epochs"] == 2 and fine["epochs"] == 1
    assert set(fine["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert fine["trainable_params"] > head["trainable_params"] == 513
    assert {"wall_time_s", "versions", "metrics", "profile", "dataset"} <= set(fine)
    assert (fine["strategy"], fine["replicas"]) == ("MirroredStrategy", 2)
    json.dumps(fine)

    again = course.get_model("finetuned", small_cfg)
    out = capsys.readouterr().out
    assert "Loaded 'finetuned'" in out and "'head'" not in out  # the newest stage only
    x = np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))


@pytest.fixture
def fake_training(monkeypatch):
    """Replace the two training steps by recorders that return a fixed model."""
    trained: list[str] = []
    model = vgg_classifier()
    out = {"history": {"loss": [0.4]}, "metrics": {"val_accuracy": 0.5}, "initial_epoch": 0,
           "class_names": ["a", "b"], "method": None}
    monkeypatch.setattr(course.train_or_load, "_train_head",
                        lambda cfg, strategy: trained.append("head") or (model, out))
    monkeypatch.setattr(course.train_or_load, "_train_finetuned",
                        lambda m, cfg, strategy: trained.append("finetuned") or (model, out))
    return model, trained


def test_get_model_retrains_when_the_settings_changed(cfg, fake_training, capsys):
    model, trained = fake_training
    course.save_stage(model, "head", {"loss": [0.5]}, cfg, wall_time_s=1.0,
                      metrics={"val_accuracy": 0.5})
    course.save_stage(model, "finetuned", {"loss": [0.5]}, cfg, wall_time_s=1.0,
                      metrics={"val_accuracy": 0.5})
    assert course.get_model("finetuned", cfg) is not model  # same settings: loaded
    assert trained == [] and "Loaded 'finetuned'" in capsys.readouterr().out

    changed = dataclasses.replace(cfg, finetune_epochs=9)
    assert course.get_model("finetuned", changed) is model
    out = capsys.readouterr().out
    assert trained == ["finetuned"] and "other settings" in out and "budgets" in out
    course.get_model("finetuned", cfg, retrain=True)
    assert trained == ["finetuned", "finetuned"]


def test_get_model_never_reuses_an_older_artifact_format(cfg, fake_training, capsys):
    """Models saved before heads ended in logits (or under the head name 'seed') are retrained."""
    model, trained = fake_training
    course.save_stage(model, "head", {"loss": [0.5]}, cfg, wall_time_s=1.0,
                      metrics={"val_accuracy": 0.5})
    _, record_path = course.artifact_paths("head", cfg)
    record = json.loads(record_path.read_text())
    record["settings"]["format"] = 1
    record["settings"]["recipe"]["head"] = "seed"
    record_path.write_text(json.dumps(record))
    course.get_model("head", cfg)
    assert trained == ["head"] and "format" in capsys.readouterr().out


def test_get_model_retrains_when_the_saved_model_cannot_be_loaded(cfg, fake_training, monkeypatch,
                                                                 capsys):
    """A model saved by a newer Keras (e.g. another environment sharing data/) is retrained."""
    model, trained = fake_training
    for stage in ("head", "finetuned"):
        course.save_stage(model, stage, {"loss": [0.5]}, cfg, wall_time_s=1.0,
                          metrics={"val_accuracy": 0.5})

    def unreadable(path):
        raise TypeError("GlorotUniform.__init__() got an unexpected keyword argument")

    monkeypatch.setattr(models, "load_saved_model", unreadable)
    assert course.get_model("finetuned", cfg) is model
    assert trained == ["head", "finetuned"]
    assert "could not be loaded by Keras" in capsys.readouterr().out


def test_get_model_rejects_unknown_stages(cfg):
    with pytest.raises(ValueError, match="stage"):
        course.get_model("best", cfg)


# --------------------------------------------------------------------------- precision


def test_setup_chooses_mixed_precision_for_full_on_a_tensor_core_gpu(monkeypatch, tmp_path, capsys):
    import keras

    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(course.machine, "_weights_obtainable", lambda: (True, "cached"))
    monkeypatch.setattr(nbh.env, "gpu_compute_capability", lambda: (7, 5))
    try:
        cfg = nbh.setup("full")
        assert cfg.precision == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        out = capsys.readouterr().out
        assert "precision: mixed_float16" in out and "tensor cores" in out
    finally:
        keras.mixed_precision.set_global_policy("float32")
    offline = nbh.setup("offline", quiet=True)
    assert offline.precision == "float32"
    mixed = dataclasses.replace(offline, precision="mixed_float16")
    assert course.stage_settings("head", mixed) != course.stage_settings("head", offline)


def test_mixed_precision_model_agrees_with_float32_and_outputs_float32():
    """What the policy changes, checked on a CPU: numerics within float16 tolerance."""
    import keras

    x = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    ref = vgg_classifier(seed=3)
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        mixed = vgg_classifier(seed=3)
        mixed.set_weights(ref.get_weights())
        assert mixed.get_layer("block1_conv1").compute_dtype == "float16"
        assert mixed.get_layer("predictions").compute_dtype == "float32"
        out = keras.ops.convert_to_numpy(mixed(x))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(ref(x)), atol=2e-2)


# --------------------------------------------------------------------------- caches know the data


def test_a_second_folder_never_gets_the_first_folders_features_or_models(cfg, monkeypatch, tmp_path,
                                                                        capsys):
    """Folder A, then folder B, then A with one image added: each is trained on its own data."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import make_folder

    a = make_folder.make_folder(tmp_path / "A", {"tabby cat": 12, "red fox": 12}, size=32)
    b = make_folder.make_folder(tmp_path / "B", {"tabby cat": 12, "red fox": 9,
                                                 "golden retriever": 10}, size=32, seed=1)
    small = dataclasses.replace(cfg, image_size=SIZE, head_epochs=1, batch_size=8)
    monkeypatch.setattr(course.machine, "_STRATEGY", [])

    def head_on(folder):
        monkeypatch.setenv("NBH_DATA_SOURCE", str(folder))
        model = course.get_model("head", small)
        record = course.load_record("head", small)
        return model, record, capsys.readouterr().out

    model_a, rec_a, out = head_on(a)
    assert "Trained 'head'" in out and rec_a["class_names"] == ["red fox", "tabby cat"]
    model_b, rec_b, out = head_on(b)
    assert "other settings" in out and "data" in out and "Trained 'head'" in out
    assert model_b.output_shape == (None, 3) and len(rec_b["class_names"]) == 3
    features = sorted(p.name for p in (small.cache_dir / "features").glob("*.npz"))
    assert len(features) == 4  # train and val of A, train and val of B: none shared

    (a / "red fox" / "extra.png").write_bytes((b / "red fox" / "red_fox_003.png").read_bytes())
    model_a2, rec_a2, out = head_on(a)  # A changed: retrained, not B's model, not old A's
    assert "Trained 'head'" in out and model_a2.output_shape == (None, 1)
    assert rec_a2["settings"]["data"]["fingerprint"] != rec_a["settings"]["data"]["fingerprint"]
    _, _, out = head_on(a)
    assert "Loaded 'head'" in out  # and unchanged data is reused
