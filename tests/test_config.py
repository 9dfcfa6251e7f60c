"""Config: profiles, budget overrides, real attributes, seeds."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from nbhelpers import config


def test_config_has_real_attributes_and_names_them_on_a_typo():
    cfg = config.make_config("offline")
    assert cfg.batch_size == config.PROFILES["offline"].batch_size
    assert cfg.input_shape == (64, 64, 3)
    assert "image_size" in dir(cfg) and "head_epochs" in {f.name for f in dataclasses.fields(cfg)}
    with pytest.raises(AttributeError, match="image_size"):
        _ = cfg.imagesize
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.image_size = 3


def test_profiles_scale_down_in_order():
    full, cpu, off = (config.PROFILES[n] for n in ("full", "cpu", "offline"))
    assert full.image_size > cpu.image_size > off.image_size >= 32
    assert full.lime_samples > cpu.lime_samples > off.lime_samples
    assert full.weights == cpu.weights == "imagenet" and off.weights is None


def test_every_budget_either_changes_a_trained_model_or_not():
    assert config.BUDGETS == config.MODEL_BUDGETS + config.ANALYSIS_BUDGETS
    assert not set(config.MODEL_BUDGETS) & set(config.ANALYSIS_BUDGETS)
    assert {"image_size", "head_epochs", "finetune_learning_rate"} <= set(config.MODEL_BUDGETS)
    assert {"lime_samples", "bootstrap"} <= set(config.ANALYSIS_BUDGETS)
    assert set(config.BUDGETS) <= {f.name for f in dataclasses.fields(config.Profile)}


def test_overrides_from_the_environment_are_applied_and_recorded(monkeypatch):
    monkeypatch.setenv("NBH_OVERRIDES", "max_images_per_class=40, head_epochs=1")
    cfg = config.make_config("cpu")
    assert (cfg.max_images_per_class, cfg.head_epochs) == (40, 1)
    assert cfg.overrides == {"max_images_per_class": 40, "head_epochs": 1}
    assert cfg.budgets()["head_epochs"] == 1 and cfg.image_size == 160


def test_an_override_equal_to_the_profile_is_no_override():
    cfg = config.make_config("offline", overrides={"head_epochs": 8})
    assert cfg.overrides == {} and "overrides" not in cfg.label()


@pytest.mark.parametrize("spec, match", [
    ("epochs=3", "not a budget.*head_epochs"),
    ("head_epochs", "no '='"),
    ("head_epochs=many", "whole number"),
    ("head_epochs=0", "positive"),
    ("head_learning_rate=-1", "positive"),
])
def test_bad_overrides_say_what_is_wrong(spec, match):
    with pytest.raises(config.OverrideError, match=match):
        config.make_config("offline", overrides=spec)


def test_current_without_setup_is_quiet_and_offline(monkeypatch):
    monkeypatch.setattr(config, "_CURRENT", [])
    monkeypatch.setenv("NBH_PROFILE", "auto")
    monkeypatch.setattr(config, "network_available",
                        lambda *a, **k: pytest.fail("current() touched the network"))
    cfg = config.current()
    assert cfg.name == "offline" and "no nbh.setup()" in cfg.reason


def test_config_imports_nothing_above_it():
    code = ("import sys, nbhelpers.config; "
            "print(sorted(m for m in sys.modules if m.startswith('nbhelpers.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # nbhelpers._release holds the version and nbhelpers.profiles the profiles (no imports of
    # their own); nothing else may load
    assert out.stdout.strip() == "['nbhelpers._release', 'nbhelpers.config', 'nbhelpers.profiles']"


def test_seed_everything_makes_keras_repeatable():
    import keras
    import numpy as np

    config.seed_everything(3)
    a = np.asarray(keras.random.uniform((4,)))
    config.seed_everything(3)
    b = np.asarray(keras.random.uniform((4,)))
    config.seed_everything(4)
    c = np.asarray(keras.random.uniform((4,)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_rehearsal_says_its_weights_are_stand_ins(monkeypatch):
    from nbhelpers import course

    cfg = config.make_config("cpu")
    monkeypatch.delenv("NBH_REHEARSAL_STANDINS", raising=False)
    assert cfg.label() == "[profile: cpu]" and course.real_imagenet_weights(cfg)
    monkeypatch.setenv("NBH_REHEARSAL_STANDINS", "/tmp/standins")
    assert "STAND-IN ImageNet weights" in cfg.label()
    assert not course.real_imagenet_weights(cfg)
    assert "REHEARSAL" in course.banner(cfg)
    # A number from another network's real weights says so instead.
    assert cfg.label(weights="EfficientNet-Lite0, real ImageNet weights") == (
        "[profile: cpu; EfficientNet-Lite0, real ImageNet weights]")
