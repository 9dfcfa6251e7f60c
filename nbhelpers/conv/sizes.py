"""The arithmetic of one layer: output size, TensorFlow's 'same' padding, parameter count.

Pure integer arithmetic along one axis (rows or columns), the formulas notebook 01
checks against TensorFlow; :mod:`nbhelpers.plots` draws its geometry figures from it.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._kit import Padding, Pair, check_padding, pair


def same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> Pair:
    """TensorFlow's 'same' padding along one axis, as ``(before, after)``.

    The output gets ``ceil(n / stride)`` positions; the padding that needs is
    split in two, and an odd one out goes *after* (bottom or right).  PyTorch's
    ``padding="same"`` and some papers put it before: then the numbers differ.

    Example:
        >>> same_padding(5, 3)              # 1 each side
        (1, 1)
        >>> same_padding(6, 3, stride=2)    # total 1: the extra goes after
        (0, 1)
    """
    k_eff = (k - 1) * dilation + 1
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2


def padding_amounts(n: int, k: int, stride: int, dilation: int, padding: Padding) -> Pair:
    """Zero rows (or columns) added ``(before, after)`` along one axis, for any checked padding.

    Example:
        >>> padding_amounts(6, 3, 2, 1, "same"), padding_amounts(6, 3, 1, 1, 2)
        ((0, 1), (2, 2))
    """
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return same_padding(n, k, stride, dilation)
    return int(padding), int(padding)


def output_size(
    n: int, k: int, stride: int = 1, padding: Padding = "valid", dilation: int = 1
) -> int:
    """Positions along one axis after a conv or pool layer.

    ``floor((n + pad_before + pad_after - k_eff) / stride) + 1`` with the
    effective kernel ``k_eff = (k - 1) * dilation + 1``; for 'same' that is
    ``ceil(n / stride)``.  ``padding`` may be an integer (pixels on each side).

    Example:
        >>> output_size(224, 3, padding="same"), output_size(224, 2, stride=2)
        (224, 112)
        >>> output_size(7, 3, dilation=2), output_size(5, 3, padding=1)
        (3, 5)
    """
    (s, _), (d, _) = pair(stride, "stride"), pair(dilation, "dilation")
    padding = check_padding(padding)
    before, after = padding_amounts(n, k, s, d, padding)
    k_eff = (k - 1) * d + 1
    padded = n + before + after
    if k_eff > padded:
        raise ValueError(
            f"the kernel ({k_eff} px with dilation) is larger than the padded input "
            f"({padded} px): use padding='same', a smaller kernel or dilation, or a larger input"
        )
    return (padded - k_eff) // s + 1


def conv_param_count(
    kernel_size: int | Sequence[int], in_channels: int, filters: int, bias: bool = True
) -> int:
    """Trainable parameters of a Conv2D layer: ``(kh * kw * in_channels + bias) * filters``.

    The count does not depend on the image size: that is weight sharing.

    Example:
        >>> conv_param_count(3, 3, 64)     # VGG16's block1_conv1
        1792
    """
    kh, kw = pair(kernel_size, "kernel_size")
    return (kh * kw * in_channels + int(bias)) * filters
