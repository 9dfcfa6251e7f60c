"""Tests of nbhelpers.claims: the verdict line, its profile-aware reasons, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nbhelpers as nbh
from nbhelpers import claims


def cfg_for(profile: str):
    return nbh.config.make_config(profile)


def test_a_claim_that_held_prints_a_tick_and_returns_nothing(capsys):
    # nothing returned: a call that ends a notebook cell shows its line, not a stray True
    assert claims.check_claim("the loss fell", held=0.3 < 0.7, evidence="0.70 -> 0.30",
                              cfg=cfg_for("cpu")) is None
    assert capsys.readouterr().out == "✓ held in this run: the loss fell (0.70 -> 0.30)\n"


@pytest.mark.parametrize("profile", ["offline", "cpu", "full"])
def test_a_claim_that_failed_says_why_for_its_profile(capsys, profile):
    claims.check_claim("Adam beats SGD", held=False, cfg=cfg_for(profile))
    out = capsys.readouterr().out
    assert out.startswith("✗ did not hold in this run: Adam beats SGD — ")
    assert f"why this can happen in this profile ({profile}): " in out
    assert claims.PROFILE_REASONS[profile] in out
    assert ("random" in out) == (profile == "offline")


def test_a_given_reason_is_used_and_offline_still_names_the_random_weights():
    line = claims.format_claim("the gap shrinks", False, "too few epochs", profile="offline")
    assert line.endswith("too few epochs (the offline profile's backbone weights are random)")
    line = claims.format_claim("the gap shrinks", False, "too few epochs", profile="cpu")
    assert line.endswith("(cpu): too few epochs")


def test_a_claim_about_arithmetic_does_not_blame_the_weights():
    line = claims.format_claim("float64 agrees to 1e-10", False, "another device",
                               depends_on_weights=False, profile="offline")
    assert line.endswith("(offline): another device")


def test_imagenet_only_claims_say_so():
    offline_fail = claims.format_claim("GAP beats Flatten", False, imagenet_only=True,
                                       profile="offline")
    assert "ImageNet weights" in offline_fail and "not expected here" in offline_fail
    offline_held = claims.format_claim("GAP beats Flatten", True, imagenet_only=True,
                                       profile="offline")
    assert offline_held.startswith(claims.HELD) and "says little here" in offline_held
    cpu_fail = claims.format_claim("GAP beats Flatten", False, imagenet_only=True, profile="cpu")
    assert "ImageNet weights" in cpu_fail and "random" not in cpu_fail
    assert claims.PROFILE_REASONS["cpu"] in cpu_fail
    assert claims.format_claim("x", True, imagenet_only=True, profile="full") == f"{claims.HELD} x"


def test_numpy_booleans_are_accepted(capsys):
    a = np.array([0.5, 0.2])
    claims.check_claim("falls", held=a[1] < a[0], cfg=cfg_for("full"))
    claims.check_claim("falls", held=np.all(a < 1), cfg=cfg_for("full"))
    assert capsys.readouterr().out.count(claims.HELD) == 2


@pytest.mark.parametrize("bad", [np.array([True, False]), None, 1, "yes", [True]])
def test_anything_but_one_boolean_is_refused_with_a_hint(bad):
    with pytest.raises(TypeError, match=r"held must be True or False.*np\.all"):
        claims.format_claim("something", bad)


def test_a_claim_needs_its_sentence_and_a_known_profile():
    with pytest.raises(ValueError, match="sentence"):
        claims.format_claim("  ", True)
    with pytest.raises(ValueError, match="unknown profile"):
        claims.format_claim("x", True, profile="gpu")


def test_check_claim_defaults_to_the_current_config(capsys):
    nbh.setup("offline", quiet=True)
    claims.check_claim("x", False)
    assert "(offline)" in capsys.readouterr().out


def test_a_rehearsal_says_its_weights_are_stand_ins_and_names_cut_budgets():
    line = claims.format_claim("the head reaches 0.9", False, "too few epochs", profile="cpu",
                               standins=True, overrides="head_epochs=1")
    assert "random stand-ins" in line and "budgets are cut: head_epochs=1" in line
    plain = claims.format_claim("the head reaches 0.9", False, "too few epochs", profile="cpu")
    assert "stand-in" not in plain and "cut" not in plain
    arithmetic = claims.format_claim("float32 agrees", False, "another device", profile="cpu",
                                     standins=True, depends_on_weights=False)
    assert "stand-in" not in arithmetic


def test_check_claim_reads_the_rehearsal_and_the_overrides_from_the_run(monkeypatch, capsys):
    from nbhelpers import config

    monkeypatch.setenv("NBH_OVERRIDES", "head_epochs=1")
    cfg = config.make_config("cpu")
    monkeypatch.setattr(claims, "standin_weights", lambda: True)
    claims.check_claim("the loss fell", False, cfg=cfg)
    out = capsys.readouterr().out
    assert "random stand-ins" in out and "budgets are cut: head_epochs=1" in out


def test_checked_lists_the_claims_of_this_kernel_in_order_and_clears():
    from nbhelpers import claims

    cfg = __import__("nbhelpers").setup("offline", quiet=True)
    claims.checked(clear=True)
    claims.check_claim("  one  ", True, cfg=cfg)
    claims.check_claim("two", np.bool_(False), "why", cfg=cfg)
    assert claims.checked() == [("one", True), ("two", False)]
    claims.check_claim("one", False, "rerun", cfg=cfg)  # the cell run again: the latest verdict
    assert claims.checked() == [("two", False), ("one", False)]
    assert claims.checked(clear=True) == [("two", False), ("one", False)]
    assert claims.checked() == []
