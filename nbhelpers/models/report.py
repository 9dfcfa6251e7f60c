"""How a model's parameters divide over its blocks, trainable and frozen.

:func:`parameter_report` counts each layer's weights (:func:`nbhelpers.profiling.parameter_counts`)
and adds them up per block of the backbone (:func:`~nbhelpers.models.blocks.layer_blocks`),
the head included: what notebook 02 shows of VGG16 and notebook 06 after unfreezing.
"""

from __future__ import annotations

from typing import Any

import keras

from ..profiling import parameter_counts
from .backbones import backbone_of
from .blocks import layer_blocks


def parameter_report(model: keras.Model, backbone: str | None = None) -> Any:
    """Trainable and frozen parameters per block, as a pandas DataFrame (plus a total row).

    "frozen" counts every non-trainable parameter: weights of frozen layers and
    BatchNormalization's moving statistics.  Taught in ``02_inside_vgg16`` and
    ``06_fine_tuning``.

    Example:
        >>> from nbhelpers.models import build_classifier, load_backbone
        >>> model = build_classifier(load_backbone("vgg16", None, (32, 32, 3)), head="gap")
        >>> report = parameter_report(model)
        >>> int(report.loc["block1", "frozen"]), int(report.loc["head", "trainable"])
        (38720, 513)
    """
    import pandas as pd

    backbone = backbone or backbone_of(model)
    rows: dict[str, dict[str, int]] = {}
    for layer, block in layer_blocks(model, backbone):
        row = rows.setdefault(block, {"layers": 0, "trainable": 0, "frozen": 0})
        counts = parameter_counts(layer)
        row["layers"] += 1
        row["trainable"] += counts["trainable"]
        row["frozen"] += counts["non_trainable"]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "block"
    frame["total"] = frame["trainable"] + frame["frozen"]
    frame.loc["total"] = frame.sum()
    return frame
