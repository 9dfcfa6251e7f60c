"""Known-answer models: a tiny CNN that looks at one half of the image, and images for it.

Taught in notebooks 08 and 09, and the unit tests' bench: because we *know* where
:func:`left_half_model` looks, a method that puts its attribution on the other
half is wrong.  :func:`toy_images` are textured images it gives spread-out answers
to.  The model's fixed mask is the Keras layer ``KeepRegion``, defined here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras

__all__ = ["left_half_model", "toy_images"]


def left_half_model(image_size: int = 32, side: str = "left", seed: int = 0, classes: int = 1,
                    scale: float = 1.0) -> keras.Model:
    """A tiny CNN whose answer depends only on one half of the image (default: the left).

    Built, not trained: ``preprocess`` (scale to [0, 1]) -> ``conv1`` -> a
    fixed mask that zeroes the other half of the feature map -> ``conv2`` ->
    global average pooling (``gap``) -> ``logits`` (a Dense layer, scaled so that
    :func:`toy_images` get scores spread around 0) -> ``predictions`` (the
    sigmoid), the same ending as the course's classifiers.  Because we *know*
    where it looks, it is the test bench for every explanation method: a
    method that puts its attribution on the other half is wrong.  ``classes=2``
    gives a softmax output ``(N, 2)`` with the same P(class 1).  ``scale``
    multiplies the logits: ``scale=30`` makes a model as sure as a fine-tuned one
    (log-odds of tens, probabilities of exactly 0.0 or 1.0 in float32).
    Taught in notebooks 08 and 09.

    Example:
        >>> from nbhelpers.predictions import predict_function
        >>> m = left_half_model(16); f = predict_function(m)
        >>> x = toy_images(1, 16); y = x.copy(); y[..., :8, :] = 0.0   # change only the left half
        >>> [layer.name for layer in m.layers[-2:]], bool(np.allclose(f(x), f(y), atol=1e-6))
        (['logits', 'predictions'], False)
    """
    import keras

    if classes not in (1, 2):
        raise ValueError("left_half_model has 1 (sigmoid) or 2 (softmax) outputs")
    rng = np.random.default_rng(seed)
    inp = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="preprocess")(inp)
    conv1 = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")
    x = conv1(x)
    x = _keep_region_layer()(side=side, name="keep_" + side)(x)
    features = keras.layers.GlobalAveragePooling2D(name="gap")(conv2(x))
    dense = keras.layers.Dense(classes, name="logits")
    # float32 output under mixed precision too, as the course's classifiers.
    activation = keras.layers.Activation("sigmoid" if classes == 1 else "softmax",
                                         dtype="float32", name="predictions")
    model = keras.Model(inp, activation(dense(features)), name=f"{side}_half_model")
    # Zero-mean first kernels: the features respond to texture and edges, not to flat colour.
    k1 = rng.normal(0, 0.5, (3, 3, 3, 8)).astype("float32")
    k1 -= k1.mean(axis=(0, 1), keepdims=True)
    conv1.set_weights([k1, np.zeros(8, "float32")])
    conv2.set_weights([rng.normal(0, 0.3, (3, 3, 8, 8)).astype("float32"), np.zeros(8, "float32")])
    f = np.asarray(keras.Model(inp, features)(toy_images(32, image_size, seed=seed + 1)))
    _set_logits(dense, f, rng, scale, classes)
    return model


def _set_logits(dense: Any, features: np.ndarray, rng: np.random.Generator, scale: float,
                classes: int) -> None:
    """Weights of the last layer that give ``features`` logits of spread ~2 around 0, times ``scale``."""
    w = rng.normal(0, 1.0, (8, 1)).astype("float32")
    logits = features @ w
    w = w * np.float32(2.0 / (logits.std() + 1e-9))
    b = -np.float32(np.median(features @ w))
    w, b = w * np.float32(scale), b * np.float32(scale)
    if classes == 1:
        dense.set_weights([w, np.array([b], "float32")])
    else:  # softmax([-z/2, z/2]) has the same P(class 1) as sigmoid(z)
        dense.set_weights([np.concatenate([-w / 2, w / 2], axis=1), np.array([-b / 2, b / 2], "float32")])


@functools.cache
def _keep_region_layer() -> type:
    """The Keras layer ``KeepRegion`` (defined once, on first use: Keras is imported then)."""
    import keras

    @keras.saving.register_keras_serializable(package="nbhelpers")
    class KeepRegion(keras.layers.Layer):
        """Multiplies a feature map by a fixed mask: 1 on the kept columns, 0 elsewhere."""

        def __init__(self, side: str = "left", fraction: float = 0.5, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.side, self.fraction = side, float(fraction)

        def call(self, x: Any) -> Any:
            width = x.shape[2]
            keep = int(round(width * self.fraction))
            cols = np.zeros(width, dtype="float32")
            if self.side == "left":
                cols[:keep] = 1.0
            else:
                cols[width - keep:] = 1.0
            # The mask in the layer's own dtype: float16 under mixed precision.
            return x * keras.ops.convert_to_tensor(cols.reshape(1, 1, width, 1), dtype=x.dtype)

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "side": self.side, "fraction": self.fraction}

    return KeepRegion


def toy_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` textured RGB images ``(n, size, size, 3)`` float32 in [0, 255] (blobs and stripes).

    Taught in notebooks 08 and 09.

    Example:
        >>> x = toy_images(2, 8)
        >>> x.shape, x.dtype, bool(x.min() >= 0 and x.max() <= 255)
        ((2, 8, 8, 3), dtype('float32'), True)
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        noise = ndimage.gaussian_filter(rng.random((size, size, 3)), sigma=(1.0, 1.0, 0))
        freq = rng.uniform(2, 6)
        angle = rng.uniform(0, np.pi)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        img = 0.5 * (noise - noise.min()) / (np.ptp(noise) + 1e-9) + 0.5 * stripes[..., None] * rng.random(3)
        out.append(255.0 * (img - img.min()) / (np.ptp(img) + 1e-9))
    return np.stack(out).astype("float32")
