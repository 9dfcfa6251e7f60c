"""Profile choice: auto and its fallback, explicit profiles, unknown names, the banner."""

from __future__ import annotations

import pytest

from nbhelpers import config


def test_auto_picks_full_on_gpu_and_cpu_without():
    assert config.resolve_profile("auto", gpu=True, weights=(True, "cached")).profile.name == "full"
    assert config.resolve_profile("auto", gpu=False, weights=(True, "cached")).profile.name == "cpu"


def test_auto_falls_back_to_offline_and_says_why():
    r = config.resolve_profile("auto", gpu=True, weights=(False, "no network here"))
    assert r.profile.name == "offline"
    assert "fell back" in r.reason and "no network here" in r.reason


@pytest.mark.parametrize("name", ["full", "cpu"])
def test_explicit_profile_never_falls_back(name):
    with pytest.raises(config.ProfileUnavailableError) as e:
        config.resolve_profile(name, gpu=False, weights=(False, "no network"))
    msg = str(e.value)
    assert config.VGG16_NOTOP_URL in msg and "make prefetch" in msg and "offline" in msg


def test_explicit_profile_is_taken_when_possible():
    assert config.resolve_profile("CPU", gpu=True, weights=(True, "ok")).profile.name == "cpu"


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(config.ProfileError, match="auto, full, cpu, offline"):
        config.resolve_profile("gpu-huge")


def test_env_variable_is_read(monkeypatch):
    monkeypatch.setenv("NBH_PROFILE", "offline")
    assert config.resolve_profile().profile.name == "offline"
    monkeypatch.setenv("NBH_PROFILE", "nonsense")
    with pytest.raises(config.ProfileError):
        config.resolve_profile()


def test_auto_detects_this_offline_machine(monkeypatch, tmp_path):
    # No weights in the (empty) Keras cache and no network: auto must fall back.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "network_available", lambda *a, **k: False)
    r = config.resolve_profile("auto")
    assert r.profile.name == "offline" and str(tmp_path) in r.reason


def test_cached_weights_count_as_obtainable(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "network_available", lambda *a, **k: False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / config.VGG16_NOTOP_FILE).write_bytes(b"x")
    assert config.resolve_profile("cpu", gpu=False).profile.name == "cpu"


def test_setup_prints_offline_banner(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path))
    cfg = config.setup("offline")
    out = capsys.readouterr().out
    assert "OFFLINE PROFILE" in out and "NOT a result" in out
    assert cfg.offline and cfg.image_size == 64 and cfg.profile.weights is None
    assert cfg.artifacts_dir == tmp_path / "artifacts" / "offline"
    assert cfg.artifacts_dir.is_dir()
    assert "UNTRAINED" in cfg.label()
    assert config.current() is cfg


def test_config_delegates_only_profile_fields():
    cfg = config.make_config(config.resolve_profile("offline"))
    assert cfg.batch_size == config.PROFILES["offline"].batch_size
    assert cfg.input_shape == (64, 64, 3)
    with pytest.raises(AttributeError):
        _ = cfg.no_such_field


def test_profiles_scale_down_in_order():
    full, cpu, off = (config.PROFILES[n] for n in ("full", "cpu", "offline"))
    assert full.image_size > cpu.image_size > off.image_size >= 32
    assert full.lime_samples > cpu.lime_samples > off.lime_samples
    assert full.weights == cpu.weights == "imagenet" and off.weights is None


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
