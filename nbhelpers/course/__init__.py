"""The course's plumbing: ``setup()``, the profile's recipe, saved stages, ``get_model(stage)``.

This package is plumbing, not a lesson.  What notebooks *teach* lives in
:mod:`nbhelpers.training` (features, compiling, callbacks, ``fit``,
fine-tuning); this package strings those steps together so that every
notebook can run on its own, in a fresh Colab VM too:

* :func:`setup` -- the first call of every notebook: chooses the profile
  (:func:`resolve_profile`), seeds everything, sets the plot style and
  prints the banner.
* :data:`RECIPES` -- how each profile trains the two stages, ``"head"``
  (a head on the frozen base, notebook 05's result) and ``"finetuned"``
  (the top block unfrozen, notebook 06's result).
* :func:`get_model` -- a stage's model: loaded from ``cfg.artifacts_dir``
  when it was saved with the same settings (profile, budgets, data
  fingerprint, recipe, seed), else trained with the recipe and saved with a
  JSON record (:func:`load_record`).  Loading uses ``safe_mode=True``.

Models are built and trained inside :func:`default_strategy`'s scope, so the
same code uses one CPU, several GPUs (``MirroredStrategy``) or a TPU.

Call any of them as ``nbh.course.<name>`` (``nbh.setup`` and ``nbh.get_model``
too); the submodules group them by job:

=================  ==========================================================  ==========
module             does                                                        taught in
=================  ==========================================================  ==========
``start``          ``setup()``, the first cell of every notebook, and the      00
                   banner it prints; ``real_imagenet_weights``
``machine``        what this machine gives a run: the profile                  00
                   (``resolve_profile``), the precision (``choose_precision``,
                   ``compile_as_on_a_gpu``), the ``default_strategy``
``recipes``        how each profile trains the two stages (``Recipe``,         06
                   ``RECIPES``, ``recipe``)
``stages``         saved stages: what they must match (``stage_settings``),    05, 06
                   where they live (``artifact_paths``), their records
                   (``save_stage``, ``load_record``)
``train_or_load``  ``get_model``: a stage loaded if saved with today's          05-12
                   settings, else trained with the recipe and saved
=================  ==========================================================  ==========

Imports go one way: ``recipes`` at the bottom, then ``machine``, then ``start``
and ``stages``, then ``train_or_load``.

Example:
    >>> import nbhelpers as nbh
    >>> nbh.course.get_model is nbh.course.train_or_load.get_model
    True
"""

from __future__ import annotations

from .machine import (
    PRECISIONS,
    Resolution,
    choose_precision,
    compile_as_on_a_gpu,
    default_strategy,
    resolve_profile,
)
from .recipes import RECIPES, Recipe, recipe
from .stages import (
    ARTIFACT_FORMAT,
    STAGES,
    artifact_paths,
    load_record,
    save_stage,
    stage_settings,
)
from .start import banner, real_imagenet_weights, setup
from .train_or_load import get_model

__all__ = [
    "Resolution",
    "resolve_profile",
    "setup",
    "banner",
    "choose_precision",
    "PRECISIONS",
    "compile_as_on_a_gpu",
    "real_imagenet_weights",
    "STAGES",
    "ARTIFACT_FORMAT",
    "Recipe",
    "RECIPES",
    "recipe",
    "stage_settings",
    "artifact_paths",
    "save_stage",
    "load_record",
    "default_strategy",
    "get_model",
]
