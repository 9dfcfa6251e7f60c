"""nbhelpers: the tested helper package of the course "Fine-tuning a pretrained image model".

Each notebook shows an idea once, in full, then calls the helper that does it
here.  Import it as ``import nbhelpers as nbh`` and start with
``cfg = nbh.setup()``.

Imports go one way, from the bottom up: ``config`` (with ``profiles``; and ``env``, and
``artifacts``, which imports nothing of the package) at the bottom; ``predictions``
above them; ``data``, ``models``, ``evaluate``, ``explain``, ``plots`` and the smaller
modules above those; ``features`` and ``training`` above them; ``course`` (the plumbing
that strings the steps together for the notebooks) on top.  Two imports made inside a
function go the other way: ``data.prepare`` reads ``review``'s decisions, and ``lite0``
raises ``models``' ``WeightsUnavailableError``.  The large subjects are
packages, one module per job, each with its own table (``nbhelpers.data``,
``nbhelpers.explain``, ...); ``tests/test_structure.py`` keeps every module under 600
lines, every function under 40 lines of code, and private names private.

================  ===================================================  ==========
module            owns                                                 taught in
================  ===================================================  ==========
``config``        budget overrides, paths, seeds, the course defaults  00
``profiles``      the three profiles: weights, data, sizes, budgets    00
``env``           versions, Colab/GPU/TPU detection, strategy          00
``artifacts``     files written whole or not at all, records that      (03, 05,
                  vouch for their files, locks for two kernels         06, 12)
``predictions``   running a model: probabilities, logits, log-odds,    07-12
                  the batched predict function (one convention)
``conv``          package: convolution and pooling from scratch,       01, 02
                  output sizes, receptive fields
``data``          package: registry and download, file checks, the     03
                  folder scan, layouts, splits, ``prepare``, tf.data
``linear``        package: a linear classifier trained by hand in      04
                  NumPy (Keras' maths: losses, gradients, SGD, Adam)
``models``        package: backbones, preprocessing, loading, heads,   02, 05, 11
                  freezing, the ImageNet classifier
``lite0``         EfficientNet-Lite0's real ImageNet weights from a    11
                  pip package, read without torch
``photos``        real photos that ship with scikit-image, and what    09, 12
                  ImageNet calls them
``features``      the feature cache: a frozen base run once, its       05, 06
                  output on disk (``nbh.training`` re-exports it)
``training``      compiling, callbacks, ``fit``, fine-tuning           05, 06
``learning_rate`` the range test, warm-up + cosine, rates per layer   05, 06
                  group when fine-tuning
``losses``        cross-entropy on integer labels, label smoothing     07
``course``        package: ``setup()`` and the banner, the machine,    all
                  recipes, saved stages, ``get_model(stage)``
``evaluate``      package: metrics, bootstrap intervals, thresholds,   07, 10
                  calibration, paired comparisons
``explain``       package: LIME, SHAP, Grad-CAM, sanity and            08, 09
                  faithfulness checks, known-answer toy models
``claims``        checks, in the run, a sentence that states a result  04-11
``balance``       class weights, oversampling, imbalanced subsets      10
``profiling``     parameters, multiply-adds, throughput, peak memory   11
``prefetch``      download everything a workshop needs, once           README
``deploy``        package: your own photo, test-time augmentation,     12
                  export forms (SavedModel, TFLite) compared, the
                  model card
``app``           the demo web app (Gradio)                            12, README
``cleaning``      label problems found with the model (cleanlab),      13
                  near duplicates and leaks between splits
``ood``           "none of these": how unlike the training photos an   13, 12
                  image is, AUROC, the threshold an export keeps
``review``        package: the learner's decisions on flagged          13
                  images, kept beside the data, read by ``prepare``
``progress``      progress bars and their one switch                   all
``plots``         package: every figure, one module per subject        all
================  ===================================================  ==========

Submodules are imported lazily, so ``import nbhelpers`` is fast and does not
import TensorFlow until a module that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._release import VERSION as __version__
from .config import Config, current

_SUBMODULES = (
    "config",
    "profiles",
    "env",
    "artifacts",
    "conv",
    "data",
    "models",
    "lite0",
    "photos",
    "features",
    "training",
    "learning_rate",
    "losses",
    "course",
    "predictions",
    "evaluate",
    "explain",
    "plots",
    "balance",
    "profiling",
    "prefetch",
    "linear",
    "claims",
    "deploy",
    "app",
    "cleaning",
    "ood",
    "review",
    "progress",
)

__all__ = ["Config", "current", "setup", "get_model", "__version__", *_SUBMODULES]


def setup(profile: str | None = None, seed: int | None = None, quiet: bool = False,
          overrides: str | dict[str, Any] | None = None) -> Config:
    """``nbh.course.setup``: choose the profile, seed, style the plots, print the banner.

    Example:
        >>> setup("offline", quiet=True).name
        'offline'
    """
    from .course import setup as _setup

    return _setup(profile, seed=seed, quiet=quiet, overrides=overrides)


def get_model(stage: str = "finetuned", cfg: Config | None = None, *, retrain: bool = False,
              verbose: bool = True) -> Any:
    """``nbh.course.get_model``: a trained stage, loaded if saved with today's settings, else trained.

    Example:
        >>> get_model("best")
        Traceback (most recent call last):
        ...
        ValueError: stage must be one of ('head', 'finetuned'), got 'best'
    """
    from .course import get_model as _get_model

    return _get_model(stage, cfg, retrain=retrain, verbose=verbose)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nbhelpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
