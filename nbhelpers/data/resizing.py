"""Making a photo square: squash, centre crop, or pad.

A backbone takes square images (``S x S``); photos rarely are.  Three ways to get
there, each a choice about what the model loses:

* ``"squash"`` (the course's default): resize both sides to ``S``.  Everything in
  the photo stays, but a tall or wide photo is distorted (a tall cat gets wider).
* ``"crop"``: cut the largest centred square, then resize it.  No distortion, but
  what lies outside the square is lost (the head of a tall cat may be).
* ``"pad"``: resize the longer side to ``S`` keeping the shape, then fill the rest
  with bars of ImageNet's mean colour (``MEAN_RGB``: what VGG16's preprocessing
  turns into nearly zero, so the bars carry almost no signal).  Nothing is lost or distorted, but
  the photo fills less of the input.

:func:`resize` applies one (the ``tf.data`` pipeline through
:func:`~nbhelpers.data.decode_and_resize`, and a photo of your own, use the same
function with :data:`DEFAULT_RESIZE`, so a model sees at prediction time what it saw in
training; a model trained with another policy must be shown photos made square the same
way: ``nbh.data.load_image_file`` and ``nbh.deploy.classify_file`` use the default).

Taught in ``03_preparing_the_data`` (what each does to a tall photo) and
``05_adding_a_head`` (the three compared on validation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["RESIZE_POLICIES", "DEFAULT_RESIZE", "MEAN_RGB", "check_policy", "resize"]

#: The ways :func:`resize` makes an image square.
RESIZE_POLICIES = ("squash", "crop", "pad")
#: The course's policy: every pipeline, your own photo and the app use it unless told otherwise.
DEFAULT_RESIZE = "squash"
#: ImageNet's mean pixel (RGB, 0-255), the colour of the bars ``"pad"`` adds.
MEAN_RGB = (123.68, 116.779, 103.939)


def check_policy(policy: str) -> str:
    """``policy`` if it is one of :data:`RESIZE_POLICIES`; else a ValueError naming them.

    Example:
        >>> check_policy("crop")
        'crop'
    """
    if policy not in RESIZE_POLICIES:
        raise ValueError(f"resize policy {policy!r} is not one of {', '.join(RESIZE_POLICIES)} "
                         f"(the course's default is {DEFAULT_RESIZE!r})")
    return policy


def resize(image: Any, size: int, policy: str = DEFAULT_RESIZE) -> tf.Tensor:
    """One ``(H, W, 3)`` image -> float32 ``(size, size, 3)``, made square by ``policy``.

    Bilinear with antialiasing (a large photo shrunk without aliasing), values in
    the image's own range (0-255 for photos); a one-channel image is repeated into
    three.  Works on a NumPy array or inside a ``tf.data`` map.  However long and
    thin the photo, ``"pad"`` keeps at least one row or column of it.

    Example:
        >>> import numpy as np
        >>> tall = np.zeros((40, 20, 3), "uint8"); tall[:10] = 255   # a white top quarter
        >>> [round(float(resize(tall, 8, p)[..., 0].numpy().mean()))
        ...  for p in ("squash", "crop", "pad")]
        [64, 0, 94]
    """
    import tensorflow as tf

    check_policy(policy)
    img = tf.cast(tf.convert_to_tensor(image), tf.float32)
    if img.shape.rank != 3 or img.shape[-1] not in (1, 3, None):
        raise ValueError(f"resize takes one image of shape (height, width, 3) or (height, "
                         f"width, 1), got {tuple(img.shape)}")
    if img.shape[-1] == 1:
        img = tf.image.grayscale_to_rgb(img)
    height, width = tf.shape(img)[0], tf.shape(img)[1]
    if policy == "crop":  # the largest centred square
        side = tf.minimum(height, width)
        img = tf.image.crop_to_bounding_box(img, (height - side) // 2, (width - side) // 2,
                                            side, side)
    if policy != "pad":
        return tf.image.resize(img, (size, size), method="bilinear", antialias=True)
    # pad: the longer side to `size`, the shape kept (at least 1 pixel), bars of the mean colour
    scale = size / tf.cast(tf.maximum(height, width), tf.float32)
    new_h, new_w = (tf.maximum(1, tf.cast(tf.round(tf.cast(n, tf.float32) * scale), tf.int32))
                    for n in (height, width))
    mean = tf.constant(MEAN_RGB, tf.float32)
    small = tf.image.resize(img, (new_h, new_w), method="bilinear", antialias=True) - mean
    return tf.image.pad_to_bounding_box(small, (size - new_h) // 2, (size - new_w) // 2,
                                        size, size) + mean
