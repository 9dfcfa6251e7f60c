"""The small classifier the deploy, app and fault tests export, convert and serve.

``tiny_classifier`` has the course's input convention and its ``Preprocess`` layer, so the
safe-mode reload and every conversion meet the same custom layer as the real models, and it
exports and converts in about a second (the real models take minutes).  Used by
``test_deploy.py``, ``test_app.py``, ``test_faults.py``, ``test_confident.py`` and
``test_mixed_precision.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras


def tiny_classifier(image_size: int = 32, num_classes: int = 2, seed: int = 0) -> keras.Model:
    """A small untrained CNN with the course's input convention.

    Raw RGB in [0, 255] -> the ``Preprocess`` layer (VGG16's caffe preprocessing, as the
    course's models) -> two ``Conv2D`` (Grad-CAM's layer is the last) -> global average
    pooling -> ``predictions`` (one sigmoid unit for two classes, else a softmax).

    Example:
        >>> m = tiny_classifier(16)
        >>> m.input_shape, m.output_shape, m.layers[1].name
        ((None, 16, 16, 3), (None, 1), 'preprocess')
    """
    import keras

    from nbhelpers import models

    keras.utils.set_random_seed(seed)
    inp = keras.Input((image_size, image_size, 3), name="image")
    x = models.Preprocess("caffe", name="preprocess")(inp)
    x = keras.layers.Rescaling(1.0 / 64.0, name="scale")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(1 if num_classes == 2 else num_classes,
                             activation="sigmoid" if num_classes == 2 else "softmax",
                             name="predictions")(x)
    return keras.Model(inp, out, name="tiny_classifier")
