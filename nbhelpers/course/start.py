"""The first cell of every notebook: :func:`setup` and the banner it prints.

:func:`setup` chooses the profile (:func:`~nbhelpers.course.resolve_profile`)
and the precision, checks the data folders, seeds everything, sets the plot
style and prints :func:`banner`: the profile, why it was chosen, the data,
the folders and whether the ImageNet weights are real
(:func:`real_imagenet_weights`).  Taught in ``00_start_here``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from .. import config as _config
from .. import env
from ..config import Config
from .machine import resolve_profile, set_precision

__all__ = ["setup", "banner", "real_imagenet_weights"]


def real_imagenet_weights(cfg: Config) -> bool:
    """True when this run's ``keras.applications`` backbones have their real ImageNet weights.

    False in the ``offline`` profile (random weights) and in a rehearsal, whose ImageNet
    files are generated stand-ins (``NBH_REHEARSAL_STANDINS``).  EfficientNet-Lite0's
    weights (a pip package) are real in every case.

    Example:
        >>> real_imagenet_weights(_config.make_config("offline"))
        False
    """
    return not cfg.offline and not _config.standin_weights()


def banner(cfg: Config) -> str:
    """The text ``setup()`` prints at the top of every notebook.

    Example:
        >>> "OFFLINE" in banner(_config.make_config("offline"))
        True
    """
    mine = (os.environ.get("NBH_DATA_SOURCE") or "").strip()
    data = (f"your folder {mine} (NBH_DATA_SOURCE, instead of {cfg.dataset})" if mine
            else cfg.dataset)
    lines = [
        f"nbhelpers profile: {cfg.name}  ({cfg.description})",
        f"  why: {cfg.reason}",
        f"  data: {data} at {cfg.image_size}x{cfg.image_size} px, batch "
        f"{cfg.batch_size}; seed {cfg.seed}",
        f"  files: {cfg.data_dir}  (artifacts: {cfg.artifacts_dir})",
        f"  precision: {cfg.precision}",
    ]
    if _config.standin_weights():
        lines.append("  weights: REHEARSAL: the ImageNet files are generated stand-ins (random "
                     "numbers): predictions and accuracies are meaningless, timings are real; "
                     "EfficientNet-Lite0's weights (a pip package) are the real ones")
        if not mine and cfg.dataset == "cats_and_dogs":  # the archive scripts/standins.py draws
            lines.append(f"  data: REHEARSAL: the {cfg.dataset} archive is a generated stand-in too "
                         "(its 'cats' are warm-coloured ellipses, its 'dogs' cool rectangles: a "
                         "cue simple enough that a head can learn it even from random weights' "
                         "features, so accuracies can be high and still mean nothing)")
    if cfg.overrides:
        lines.append("  overrides (NBH_OVERRIDES): "
                     + ", ".join(f"{k}={v}" for k, v in cfg.overrides.items()))
    if cfg.offline:
        bar = "!" * 78
        lines = [
            bar,
            "!! OFFLINE PROFILE: the backbone has UNTRAINED (random) weights and the",
            "!! data are tiny bundled images. Accuracies and maps below are NOT a trained",
            "!! model's results; what holds on any weights is checked as everywhere, and",
            "!! EfficientNet-Lite0 is real. Run the cpu or full profile for trained results.",
            bar,
            *lines,
        ]
    return "\n".join(lines)


def setup(profile: str | None = None, seed: int | None = None, quiet: bool = False,
          overrides: str | dict[str, Any] | None = None) -> Config:
    """Choose the profile, seed everything, set plotting defaults, print the banner.

    The first call in every notebook (taught in ``00_start_here``).
    ``overrides`` (default ``$NBH_OVERRIDES``) changes budgets for this run,
    e.g. ``{"head_epochs": 2}``; see :data:`nbhelpers.config.BUDGETS`.

    Example:
        >>> cfg = setup("offline", quiet=True)
        >>> cfg.offline, cfg.image_size
        (True, 64)
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:  # first, so that TensorFlow's start-up notices do not bury the banner
        env.load_tensorflow()
    except ImportError:  # said clearly where TensorFlow is first needed
        pass
    res = resolve_profile(profile)
    cfg = _config.make_config(res.name, requested=res.requested, reason=res.reason, seed=seed,
                              overrides=overrides)
    precision, why = set_precision(cfg)
    cfg = dataclasses.replace(cfg, precision=precision)
    if precision != "float32" and not quiet:
        print(f"Mixed precision: {why}.")
    _config.check_data_dir(cfg.data_dir)  # a read-only or missing NBH_DATA_DIR, said plainly
    if os.environ.get("NBH_DATA_SOURCE", "").strip():  # a URL or a typo, answered at once
        from .. import data

        data.check_source(os.environ["NBH_DATA_SOURCE"])
    _config.check_data_dir(cfg.artifacts_dir, "NBH_ARTIFACTS_DIR")
    cfg.cache_dir.mkdir(parents=True, exist_ok=True)
    _config.seed_everything(cfg.seed)
    try:
        from .. import plots

        plots.set_style()
    except ImportError:  # plotting stack missing: nothing to style
        pass
    _config.set_current(cfg)
    if not quiet:
        print(banner(cfg), file=sys.stdout)
    return cfg
