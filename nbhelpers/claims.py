"""Sentences that depend on the run: check a stated result in the run that states it.

A "What to notice" sentence that describes a result ("the too-large rate
diverges", "Adam reaches a lower loss than SGD") is only true if this run's
numbers say so; on random weights (the offline profile), a subset of the data
(cpu) or an unlucky seed it may not be.  So a notebook states such a result
through :func:`check_claim`, right after the numbers::

    from nbhelpers import claims
    claims.check_claim("the loss fell", held=loss[-1] < loss[0], cfg=cfg)
    # prints: ✓ held in this run: the loss fell

and the reader sees whether it held, and where it did not, why that can
happen in this profile.  Claims that are only expected with ImageNet weights
say so (``imagenet_only=True``).

First used in ``04_training_by_hand``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import Config, current, standin_weights

__all__ = ["HELD", "NOT_HELD", "PROFILE_REASONS", "format_claim", "check_claim", "checked"]

HELD = "✓ held in this run:"
NOT_HELD = "✗ did not hold in this run:"

#: Why a result can fail to show in each profile, when the notebook gives no reason of its own.
PROFILE_REASONS: dict[str, str] = {
    "offline": ("the backbone's weights are random (untrained) and the data set is tiny, "
                "so the features carry no ImageNet knowledge (notebook 11 measures what a real "
                "network's features add on the same images)"),
    "cpu": ("this profile trains on a subset of the data for few epochs, so small "
            "differences can go either way from one seed to the next"),
    "full": ("a difference smaller than the run-to-run noise can go either way; "
             "rerun with another NBH_SEED to see how much the numbers move"),
}

#: Every claim checked in this Python process, in order: ``(sentence, held)`` (see :func:`checked`).
_CHECKED: list[tuple[str, bool]] = []

_OFFLINE_NOTE = "the offline profile's backbone weights are random"
_STANDIN_NOTE = "this rehearsal's ImageNet weights are random stand-ins"


def _as_bool(held: Any) -> bool:
    if isinstance(held, bool | np.bool_):
        return bool(held)
    if isinstance(held, np.ndarray) and held.shape == () and held.dtype == bool:
        return bool(held)
    shape = f" of shape {held.shape}" if isinstance(held, np.ndarray) else ""
    raise TypeError(
        f"held must be True or False, got {type(held).__name__}{shape}: {held!r:.60}. "
        "Compare to get one answer, e.g. `held=a < b` or `held=bool(np.all(x < y))`."
    )


def format_claim(
    text: str,
    held: bool,
    why_not: str = "",
    *,
    evidence: str = "",
    imagenet_only: bool = False,
    depends_on_weights: bool = True,
    profile: str = "offline",
    standins: bool = False,
    overrides: str = "",
) -> str:
    """The line :func:`check_claim` prints, for a claim in a given profile (a pure function).

    ``evidence`` (the numbers behind the verdict) is shown in parentheses.
    ``why_not`` says why the claim can fail in this profile; without one, the
    profile's usual reason (:data:`PROFILE_REASONS`) is given.  In the offline
    profile a failed claim mentions the random weights, unless
    ``depends_on_weights=False`` (a claim about arithmetic, say).  An
    ``imagenet_only`` claim is one that is expected with ImageNet weights: on
    random weights its line says that it is not expected to hold, and that a
    success says little.  ``standins`` (a rehearsal: random stand-in ImageNet
    weights) is said like the offline profile's random weights; ``overrides`` (the
    budgets NBH_OVERRIDES cut, as text) is named in the reason of a failed claim.

    Example:
        >>> format_claim("the loss fell", True, evidence="0.69 -> 0.31")
        '✓ held in this run: the loss fell (0.69 -> 0.31)'
        >>> format_claim("Adam beat SGD", False, "too few epochs", profile="cpu")
        '✗ did not hold in this run: Adam beat SGD — why this can happen in this profile (cpu): too few epochs'
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a claim needs its sentence as text, e.g. "
                         "check_claim('the loss falls', held=loss[-1] < loss[0])")
    ok = _as_bool(held)
    if profile not in PROFILE_REASONS:
        raise ValueError(f"unknown profile {profile!r}: one of {', '.join(PROFILE_REASONS)}")
    line = f"{HELD if ok else NOT_HELD} {text.strip()}"
    if evidence:
        line += f" ({evidence.strip()})"
    random_weights = profile == "offline" or standins
    note = _OFFLINE_NOTE if profile == "offline" else _STANDIN_NOTE
    if ok:
        if imagenet_only and random_weights:
            line += (" — a claim about ImageNet weights: on this run's random weights it "
                     "held by chance or for another reason, so it says little here")
        return line
    cut = f" (this run's budgets are cut: {overrides})" if overrides else ""
    given = why_not.strip()
    if imagenet_only:
        parts = ["it is what ImageNet weights give"
                 + (", and this run's backbone weights are random, so it is not expected here"
                    if random_weights else "")]
        if given or not random_weights:
            parts.append(given or PROFILE_REASONS[profile])
        why = "; ".join(parts)
    else:
        why = given or PROFILE_REASONS[profile]
        if random_weights and depends_on_weights and "random" not in why:
            why += f" ({note})"
    return f"{line} — why this can happen in this profile ({profile}): {why}{cut}"


def check_claim(
    text: str,
    held: bool,
    why_not: str = "",
    *,
    evidence: str = "",
    imagenet_only: bool = False,
    depends_on_weights: bool = True,
    cfg: Config | None = None,
) -> None:
    """Print whether a sentence about this run's results held in this run.

    ``text`` is the sentence as the prose states it; ``held`` the check,
    computed from this run's numbers (``True`` / ``False``, e.g.
    ``history["loss"][-1] < history["loss"][0]``); ``why_not`` why it can fail in
    this profile (the profile's usual reason when empty); ``evidence`` the
    numbers, shown beside the verdict.  ``cfg`` defaults to the last
    ``nbh.setup()``.  See :func:`format_claim` for the wording.  It returns
    nothing, so a call that ends a cell shows its line and no stray ``True``.

    Example:
        >>> cfg = __import__("nbhelpers").setup("offline", quiet=True)
        >>> check_claim("two is more than one", 2 > 1, cfg=cfg)
        ✓ held in this run: two is more than one
    """
    cfg = cfg or current()
    line = format_claim(text, held, why_not, evidence=evidence, imagenet_only=imagenet_only,
                        depends_on_weights=depends_on_weights, profile=cfg.name,
                        standins=standin_weights(), overrides=cfg.overrides_text)
    sentence = text.strip()
    # A cell run again replaces its earlier verdict: one line per sentence, the latest.
    _CHECKED[:] = [c for c in _CHECKED if c[0] != sentence] + [(sentence, _as_bool(held))]
    print(line)


def checked(clear: bool = False) -> list[tuple[str, bool]]:
    """The claims checked so far in this kernel, in order: ``[(sentence, held), ...]``.

    A sentence checked again (a cell run twice) keeps only its latest verdict.

    What a model card lists as "the checks that held and did not in this run"
    (``nbh.deploy.model_card(checks=...)``).  ``clear=True`` empties the list
    after returning it.  Taught in ``12_using_your_model``.

    Example:
        >>> cfg = __import__("nbhelpers").setup("offline", quiet=True)
        >>> _ = checked(clear=True)
        >>> check_claim("two is more than one", 2 > 1, cfg=cfg)
        ✓ held in this run: two is more than one
        >>> checked()
        [('two is more than one', True)]
    """
    out = list(_CHECKED)
    if clear:
        _CHECKED.clear()
    return out
