"""The classification losses, with label smoothing.

Cross-entropy for one sigmoid unit (two classes) or a softmax (more), on integer
labels, as the course's data pipelines give them.  **Label smoothing** (Szegedy
et al. 2016, "Rethinking the Inception architecture") trains towards softened
targets: with smoothing ``s`` and ``K`` classes the right class's target is
``1 - s + s / K`` and every other class's ``s / K`` (two classes, one sigmoid
unit: ``1 - s / 2`` and ``s / 2``).  The model is then never pushed to be
certain: on an image it classifies without doubt, the loss is lowest at those
targets, not at 1 and 0.  Keras' ``BinaryCrossentropy`` has a
``label_smoothing`` argument; its ``SparseCategoricalCrossentropy`` (integer
labels) has none, so :class:`SmoothedSparseCrossentropy` one-hot encodes the
labels and calls the categorical loss that has it.

Taught in ``07_evaluating_the_model``.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["classification_loss", "SmoothedSparseCrossentropy"]


@keras.saving.register_keras_serializable(package="nbhelpers")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy with label smoothing, on integer labels.

    Registered with Keras, so a model compiled with it reloads once ``nbhelpers``
    is imported (``nbh.models.load_saved_model`` imports this module).  Its loss
    cannot go below the entropy of the smoothed targets, so a ``val_loss`` with
    smoothing is not comparable with one without.

    Example:
        >>> import numpy as np
        >>> loss = SmoothedSparseCrossentropy(num_classes=3, label_smoothing=0.3)
        >>> at_targets = loss(np.array([0]), np.array([[0.8, 0.1, 0.1]]))  # 1 - 0.3 + 0.1, 0.1
        >>> surer = loss(np.array([0]), np.array([[0.9, 0.05, 0.05]]))
        >>> bool(at_targets < surer)   # more certainty than the targets costs loss
        True
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0,
                 name: str = "smoothed_sparse_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes, self.label_smoothing = int(num_classes), float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        import tensorflow as tf

        labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
        # a label past the last class would one-hot to all zeros and train silently
        tf.debugging.assert_less(labels, self.num_classes, message=(
            "a label is not below num_classes: build the model with one output per class"))
        one_hot = keras.ops.one_hot(labels, self.num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing}


def classification_loss(outputs: int, label_smoothing: float = 0.0) -> str | keras.losses.Loss:
    """The loss for a classifier with ``outputs`` units (1: sigmoid, more: softmax), integer labels.

    Without smoothing, Keras' names (``"binary_crossentropy"``,
    ``"sparse_categorical_crossentropy"``); with ``0 < label_smoothing < 1``,
    ``keras.losses.BinaryCrossentropy(label_smoothing=...)`` or
    :class:`SmoothedSparseCrossentropy`.  Raises ValueError for a smoothing
    outside ``[0, 1)``.

    Example:
        >>> classification_loss(1), classification_loss(3)
        ('binary_crossentropy', 'sparse_categorical_crossentropy')
        >>> classification_loss(1, 0.1).label_smoothing, classification_loss(3, 0.1).num_classes
        (0.1, 3)
    """
    if isinstance(label_smoothing, bool) or not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be a number in [0, 1) (0.1 is usual), "
                         f"got {label_smoothing!r}")
    if outputs == 1:
        return (keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
                if label_smoothing else "binary_crossentropy")
    return (SmoothedSparseCrossentropy(outputs, label_smoothing) if label_smoothing
            else "sparse_categorical_crossentropy")
