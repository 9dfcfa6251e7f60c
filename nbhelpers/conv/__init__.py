"""Convolution and pooling from scratch, and the arithmetic of sizes and receptive fields.

Taught in ``01_convolution_and_pooling`` (the formulas, checked against TensorFlow)
and used again in ``02_inside_vgg16`` (VGG16's receptive fields).

What deep-learning frameworks call "convolution" is *cross-correlation*::

    y(i, j) = sum over m, n of x(i + m, j + n) * k(m, n)

``conv2d_loop`` writes that formula out with loops, for reading; ``conv2d`` computes
the same numbers with sliding windows and one tensor contraction, for use.  Both
follow TensorFlow's conventions exactly:

* arrays are NHWC: ``x`` has shape ``(batch, height, width, channels)`` and the
  kernel ``(kernel_h, kernel_w, in_channels, filters)``, as in ``tf.nn.conv2d``;
* ``padding="same"`` pads so that the output has ``ceil(n / stride)`` positions,
  and when the padding needed is odd the extra row/column goes at the bottom/right
  (``same_padding``);
* ``dilation`` spreads the kernel taps ``dilation`` pixels apart.

A 2-D image with a 2-D kernel is accepted as a shortcut for one image, one
channel and one filter, and gives a 2-D answer.

Call any of them as ``nbh.conv.<name>``; the submodules group them by job:

==================  ============================================================
module              computes
==================  ============================================================
``sizes``           output sizes, TensorFlow's 'same' padding, a Conv2D's
                    parameter count (``output_size``, ``same_padding``,
                    ``conv_param_count``)
``numpy_layers``    what Conv2D and pooling compute, in NumPy (``conv2d_loop``,
                    ``conv2d``, ``convolve2d_true``, ``max_pool2d``,
                    ``avg_pool2d``)
``receptive``       receptive field, jump and output size after each layer of a
                    chain (``LayerSpec``, ``receptive_field``)
``_kit``            (private) the argument checks they share: sizes given as one
                    int or a pair, paddings
==================  ============================================================

It imports NumPy only (pandas for the receptive-field table, Keras only to read a
model's layers), so :mod:`nbhelpers.plots` can use it without TensorFlow.

Example:
    >>> import nbhelpers as nbh
    >>> nbh.conv.conv2d is nbh.conv.numpy_layers.conv2d
    True
"""

from __future__ import annotations

from .numpy_layers import avg_pool2d, conv2d, conv2d_loop, convolve2d_true, max_pool2d
from .receptive import LayerSpec, receptive_field
from .sizes import conv_param_count, output_size, same_padding

__all__ = [
    "output_size",
    "same_padding",
    "conv2d_loop",
    "conv2d",
    "convolve2d_true",
    "max_pool2d",
    "avg_pool2d",
    "conv_param_count",
    "LayerSpec",
    "receptive_field",
]
