"""nbhelpers: the tested helper package of the course "Fine-tuning a pretrained image model".

Each notebook shows an idea once, in full, then calls the helper that does it
here.  Import it as ``import nbhelpers as nbh`` and start with
``cfg = nbh.setup()``.

The data flows one way through the modules (see ``../shared/DESIGN.md`` and
the README's "How nbhelpers is organised"):

``config`` -> ``data`` -> ``models`` -> ``training`` -> ``evaluate`` / ``explain`` -> ``plots``

=============  ===================================================  ==========
module         owns                                                 taught in
=============  ===================================================  ==========
``config``     profiles, paths, seeds, the banner                   00
``env``        versions, Colab/GPU/TPU detection, strategy          00
``conv``       convolution and pooling from scratch, receptive      01, 02
               fields
``data``       data-set registry, download + cache, validation,     03
               splits, tf.data, augmentation
``models``     backbones, preprocessing, heads, freezing            02, 04, 10
``training``   feature cache, head training, fine-tuning,           04, 05
               checkpoints, ``get_model(stage)``
``evaluate``   predictions, metrics, intervals, calibration         06, 09
``explain``    LIME, SHAP, Grad-CAM, sanity/faithfulness checks     07, 08
``balance``    class weights, oversampling, imbalanced subsets      09
``profiling``  FLOPs, parameters, throughput, peak memory           10
``prefetch``   download everything a workshop needs, once           README
``plots``      every figure the notebooks show                      all
=============  ===================================================  ==========

Submodules are imported lazily, so ``import nbhelpers`` is fast and does not
import TensorFlow until a module that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import Config, current, setup

__version__ = "0.1.0"

_SUBMODULES = (
    "config",
    "env",
    "conv",
    "data",
    "models",
    "training",
    "evaluate",
    "explain",
    "plots",
    "balance",
    "profiling",
    "prefetch",
)

__all__ = ["Config", "current", "setup", "__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'nbhelpers' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
