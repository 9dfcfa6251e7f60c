"""The notebook-01 figures in nbhelpers.plots draw what they are given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nbhelpers import conv, plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_annotated_matrix_writes_every_value_readably():
    a = np.array([[-10, 0], [3, 10]])
    fig = plots.annotated_matrix(a, title="m", highlight=[(0, 0, 1, 2)], cmap="Greys")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["-10", "0", "3", "10"]
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    # Greys on [-10, 10]: -10 is the lightest cell, 10 the darkest
    assert colours["-10"] == "black" and colours["10"] == "white"
    assert len(ax.patches) == 1 and ax.patches[0].get_width() == 2
    with pytest.raises(ValueError, match="2-D array"):
        plots.annotated_matrix(np.zeros((2, 2, 2)))


def test_correlation_step_spells_out_the_sum():
    x = np.arange(16).reshape(4, 4)
    k = np.array([[1, -1], [0, 2]])
    y = conv.conv2d(x, k)
    fig = plots.correlation_step(x, k, y, 2, 1)
    title = fig._suptitle.get_text()
    assert title == "y[2, 1] = 9·1 + 10·(-1) + 13·0 + 14·2 = 27"
    assert y[2, 1] == 27
    window = fig.axes[0].patches[0]
    assert window.get_xy() == (0.5, 1.5) and window.get_height() == 2


@pytest.mark.parametrize("n, k, s, p, d", [(6, 3, 2, "same", 1), (5, 3, 1, "valid", 2),
                                           (4, 3, 1, 1, 1)])
def test_conv_geometry_draws_padding_and_taps(n, k, s, p, d):
    fig = plots.conv_geometry(n, k, stride=s, padding=p, dilation=d)
    ax = fig.axes[0]
    if p == "same":
        before, after = conv.same_padding(n, k, s, d)
    elif p == "valid":
        before = after = 0
    else:
        before = after = p
    size = n + before + after
    hatched = [r for r in ax.patches if r.get_hatch()]
    assert len(ax.patches) == size * size
    assert len(hatched) == size * size - n * n
    first = ax.collections[0].get_offsets()
    assert len(first) == k * k
    assert np.ptp(first[:, 0]) == (k - 1) * d  # taps spread by the dilation
    out = conv.output_size(n, k, s, p, d)
    assert f"→ {out} x {out} output" in ax.get_title()


def test_filter_responses_uses_a_diverging_scale_for_zero_sum_kernels():
    img = np.random.default_rng(0).random((12, 12))
    kernels = {"edge": np.array([[1.0, 0.0, -1.0]] * 3), "blur": np.full((3, 3), 1 / 9)}
    responses = {name: conv.conv2d(img, kern, padding="same") for name, kern in kernels.items()}
    fig = plots.filter_responses(img, kernels, responses, suptitle="s")
    images = {ax.get_title(): ax.images[0] for ax in fig.axes if ax.get_title().startswith("resp")}
    assert images["response: edge"].get_cmap().name == "RdBu_r"
    lo, hi = images["response: edge"].get_clim()
    assert lo == -hi
    assert images["response: blur"].get_cmap().name == "gray"
    assert images["response: blur"].get_clim() == (img.min(), img.max())


def test_shift_comparison_reports_the_relative_change():
    a = np.ones((4, 4))
    b = a.copy()
    b[0, 0] = 0.0
    fig = plots.shift_comparison({"x": (a, b)})
    assert fig.axes[2].get_title() == "|difference|\nrelative: 0.06"  # 1/16
    assert fig.axes[0].get_title() == "x: original\n4 x 4"


def test_kernel_learning_shows_both_kernels_and_the_loss():
    fig = plots.kernel_learning(np.eye(2), np.eye(2) / 2, [1.0, 0.5, 0.25])
    assert [t.get_text() for t in fig.axes[1].texts] == ["0.50", "0.00", "0.00", "0.50"]
    assert list(fig.axes[2].lines[0].get_ydata()) == [1.0, 0.5, 0.25]
    assert fig.axes[2].get_xlabel() == "step"
