"""A backbone's input preprocessing: the NumPy function, and the layer inside every model.

Each backbone's ImageNet weights expect their own input (``Backbone.preprocessing``):
``"caffe"`` (VGG16, ResNet50: RGB -> BGR, minus the ImageNet mean), ``"tf"``
(MobileNetV2: ``[-1, 1]``), ``"lite"`` (EfficientNet-Lite0: ``(x - 127) / 128``) or
``"none"`` (EfficientNetB0 rescales inside itself).  :func:`preprocess_input` computes
it on a NumPy array, as a new array; the :class:`Preprocess` layer computes the same
inside the model, right after its input, so every model takes raw RGB in
``[0, 255]`` and reloads without ``Lambda`` layers.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from .. import lite0
from .backbones import backbone_spec

#: The preprocessing modes of :class:`Preprocess`: what a backbone's weights expect.
PREPROCESSING = ("caffe", "tf", "lite", "none")

#: ImageNet channel means in BGR order, subtracted by "caffe" preprocessing (VGG16, ResNet50).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _preprocess_numpy(mode: str, images: Any) -> np.ndarray:
    x = np.array(images, dtype="float32", copy=True)  # always a new array
    if mode == "caffe":
        x = x[..., ::-1] - np.asarray(CAFFE_MEAN_BGR, dtype="float32")
    elif mode == "tf":
        x = x / 127.5 - 1.0
    elif mode == "lite":
        x = (x - lite0.MEAN_RGB) / lite0.STDDEV_RGB
    elif mode not in PREPROCESSING:
        raise ValueError(f"Unknown preprocessing mode {mode!r}")
    return np.ascontiguousarray(x, dtype="float32")


def preprocess_input(name: str, images: Any) -> np.ndarray:
    """The backbone's preprocessing on RGB images in ``[0, 255]``, as a **new** float32 array.

    Unlike ``keras.applications.vgg16.preprocess_input``, which changes a
    float32 array in place, this never modifies its argument.  The same
    arithmetic runs inside the models, in the :class:`Preprocess` layer;
    taught in ``02_inside_vgg16``.

    Example:
        >>> img = np.zeros((1, 2, 2, 3), dtype="float32"); img[..., 0] = 255.0  # pure red
        >>> out = preprocess_input("vgg16", img)
        >>> [round(float(v), 3) for v in out[0, 0, 0]]   # BGR, mean subtracted
        [-103.939, -116.779, 131.32]
        >>> float(img[0, 0, 0, 0]), float(preprocess_input("mobilenetv2", img)[0, 0, 0, 0])
        (255.0, 1.0)
    """
    return _preprocess_numpy(backbone_spec(name).preprocessing, images)


@keras.saving.register_keras_serializable(package="nbhelpers", name="Preprocess")
class Preprocess(keras.layers.Layer):
    """A backbone's input preprocessing as a serialisable layer (no ``Lambda``).

    ``mode``: one of :data:`PREPROCESSING`: ``"caffe"`` (RGB -> BGR, subtract
    :data:`CAFFE_MEAN_BGR`), ``"tf"`` (``x / 127.5 - 1``), ``"lite"``
    (``(x - 127) / 128``, EfficientNet-Lite's) or ``"none"``.  Models containing it save and
    reload with ``keras.models.load_model(path, safe_mode=True)``.

    Example:
        >>> import keras, numpy as np
        >>> layer = Preprocess("tf")
        >>> [float(v) for v in keras.ops.convert_to_numpy(layer(np.array([[0.0, 255.0]])))[0]]
        [-1.0, 1.0]
    """

    def __init__(self, mode: str = "caffe", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in PREPROCESSING:
            raise ValueError(f"Unknown preprocessing mode {mode!r}; choose one of "
                             f"{', '.join(PREPROCESSING)}")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            # Subtract the mean in RGB order, then RGB -> BGR by slicing.  Not ops.flip:
            # TFLite's int8 REVERSE_V2 copies bytes between tensors of different scales.
            # Slices and their concatenation share one int8 scale, that of the centred
            # values, so the uint8 input keeps one step per pixel value.
            x = x - ops.convert_to_tensor(CAFFE_MEAN_BGR[::-1], dtype=x.dtype)
            x = ops.concatenate([x[..., 2:3], x[..., 1:2], x[..., 0:1]], axis=-1)
        elif self.mode == "tf":
            x = x / 127.5 - 1.0
        elif self.mode == "lite":
            x = (x - lite0.MEAN_RGB) / lite0.STDDEV_RGB
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


# Saved models record a layer's module: the one readers reach it through, nbh.models.Preprocess.
Preprocess.__module__ = "nbhelpers.models"
