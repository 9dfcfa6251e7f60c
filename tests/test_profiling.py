"""Tests of nbhelpers.profiling: parameters, multiply-adds, throughput and memory."""

from __future__ import annotations

import math
import time

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from profiling_kit import flops

from nbhelpers import profiling

L = keras.layers


def tiny_model() -> keras.Model:
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, name="conv")(inp)  # 6x6x4 outputs, each 3*3*3 MACs
    x = L.MaxPooling2D(2, name="pool")(x)  # 3x3x4 outputs, each a 2x2 window
    x = L.Flatten(name="flat")(x)  # 36 values
    out = L.Dense(2, name="fc")(x)
    return keras.Model(inp, out)


def test_tiny_model_by_hand():
    costs = {c.name: c for c in profiling.layer_costs(tiny_model())}
    assert costs["conv"].macs == 6 * 6 * 4 * (3 * 3 * 3)
    assert costs["pool"].macs == 3 * 3 * 4 * (2 * 2)
    assert costs["flat"].macs == 0
    assert costs["fc"].macs == 36 * 2
    assert profiling.multiply_adds(tiny_model()) == 3888 + 144 + 72
    assert flops(tiny_model()) == 2 * (3888 + 144 + 72)
    assert costs["conv"].output_shape == (6, 6, 4)
    assert costs["conv"].params == 3 * 3 * 3 * 4 + 4


def test_every_counted_layer_kind_by_hand():
    inp = keras.Input((8, 8, 4))
    a = L.Conv2D(8, 3, strides=2, padding="same", name="strided")(inp)  # 4x4x8, 3*3*4 each
    b = L.Conv2D(8, 1, groups=2, name="grouped")(L.Conv2D(8, 3, strides=2, padding="same", name="c2")(inp))
    s = L.Add(name="add")([a, b])  # 128 outputs, one add each
    s = L.BatchNormalization(name="bn")(s)  # 128
    d = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(s)  # 4x4x16, 9 each
    p = L.SeparableConv2D(5, 3, name="sep")(s)  # 2x2: depthwise 2*2*8*9 + pointwise 2*2*8*5
    t = L.Conv2DTranspose(3, 2, strides=2, name="up")(s)  # input 4*4*8 positions x 2*2 x 3
    g = L.GlobalAveragePooling2D(name="gap")(d)  # 256 inputs
    q = L.AveragePooling2D(2, name="avg")(t)  # 4x4x3 outputs, 4 each
    r = L.Rescaling(0.5, name="rescale")(q)  # 48
    out = L.Concatenate(name="cat")([g, L.Flatten()(p), L.Flatten()(r)])
    out = L.Dense(3, name="fc")(out)
    model = keras.Model(inp, out)
    got = {c.name: c.macs for c in profiling.layer_costs(model)}
    expected = {
        "strided": 4 * 4 * 8 * 3 * 3 * 4,
        "c2": 4 * 4 * 8 * 3 * 3 * 4,
        "grouped": 4 * 4 * 8 * 1 * 1 * (8 // 2),
        "add": 4 * 4 * 8,
        "bn": 4 * 4 * 8,
        "dw": 4 * 4 * 16 * 9,
        "sep": 2 * 2 * 8 * 9 + 2 * 2 * 8 * 5,
        "up": 4 * 4 * 8 * 2 * 2 * 3,
        "gap": 4 * 4 * 16,
        "avg": 4 * 4 * 3 * 4,
        "rescale": 4 * 4 * 3,
        "cat": 0,
        "fc": (16 + 2 * 2 * 5 + 4 * 4 * 3) * 3,
    }
    for name, macs in expected.items():
        assert got[name] == macs, name
    assert profiling.multiply_adds(model) == sum(got.values())


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(5, 12),
    cin=st.integers(1, 5),
    cout=st.integers(1, 6),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.sampled_from(["valid", "same"]),
)
def test_conv_macs_are_weights_times_output_positions(size, cin, cout, k, stride, padding):
    inp = keras.Input((size, size, cin))
    conv = L.Conv2D(cout, k, strides=stride, padding=padding)
    out = conv(inp)
    model = keras.Model(inp, out)
    positions = out.shape[1] * out.shape[2]
    assert profiling.multiply_adds(model) == math.prod(conv.kernel.shape) * positions


def test_nested_and_shared_models_are_counted_once():
    base = tiny_model()
    inp = keras.Input((8, 8, 3))
    nested = keras.Model(inp, L.Dense(5, name="top")(base(inp)))
    assert profiling.multiply_adds(nested) == profiling.multiply_adds(base) + 2 * 5
    names = [c.name for c in profiling.layer_costs(nested)]
    assert f"{base.name}/conv" in names and "top" in names
    # reusing base's layers in a second, flat graph must not count them twice
    x = inp
    for layer in base.layers[1:]:
        x = layer(x)
    flat = keras.Model(inp, x)
    assert profiling.multiply_adds(flat) == profiling.multiply_adds(base) == 4104
    seq = keras.Sequential([L.Dense(4), L.Dense(1)])
    assert profiling.multiply_adds(seq, input_shape=(3,)) == 3 * 4 + 4
    with pytest.raises(ValueError):
        profiling.multiply_adds(keras.Sequential([L.Dense(1)]))


def test_unknown_spatial_size_is_an_error_not_a_guess():
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, L.Conv2D(2, 3)(inp))
    with pytest.raises(ValueError, match="fixed"):
        profiling.multiply_adds(model)


@pytest.mark.slow
def test_vgg16_full_model_is_about_15_5_billion_multiply_adds():
    vgg = keras.applications.VGG16(weights=None, include_top=True)  # 224x224
    costs = profiling.layer_costs(vgg)
    total = sum(c.macs for c in costs)
    assert total == pytest.approx(15.5e9, rel=0.01)
    conv = sum(c.macs for c in costs if c.kind == "Conv2D")
    dense = sum(c.macs for c in costs if c.kind == "Dense")
    assert conv == 15_346_630_656  # the 13 convolutions
    assert dense == 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert profiling.parameter_counts(vgg)["total"] == 138_357_544


def test_parameter_counts_separates_frozen_weights():
    model = tiny_model()
    model.get_layer("conv").trainable = False
    p = profiling.parameter_counts(model)
    assert p["total"] == model.count_params() == (3 * 3 * 3 * 4 + 4) + (36 * 2 + 2)
    assert p["non_trainable"] == 3 * 3 * 3 * 4 + 4
    assert p["trainable"] == 36 * 2 + 2


def test_activation_memory_adds_up_outputs():
    est = profiling.activation_memory(tiny_model(), batch_size=1024)
    values = 6 * 6 * 4 + 3 * 3 * 4 + 36 + 2
    assert est["activations_mib"] == pytest.approx(values * 1024 * 4 / 1024**2)
    assert est["weights_mib"] == pytest.approx(tiny_model().count_params() * 4 / 1024**2)


def test_throughput_is_measured_and_checks_its_input():
    t = profiling.measure_throughput(tiny_model(), batch_size=4, batches=2)
    assert t.batch_size == 4 and t.batches == 2
    assert t.images_per_second == pytest.approx(4 / t.seconds_per_batch)
    assert t.device in {"CPU"} or t.device.startswith("GPU")
    inp = keras.Input((None, None, 3))
    with pytest.raises(ValueError):
        profiling.measure_throughput(keras.Model(inp, L.Conv2D(2, 3)(inp)))


def test_throughput_sees_a_heavier_model():
    inp = keras.Input((48, 48, 3))
    light = keras.Model(inp, L.GlobalAveragePooling2D()(inp))
    x = inp
    for _ in range(3):
        x = L.Conv2D(64, 3, padding="same")(x)  # about 60 million multiply-adds per image
    heavy = keras.Model(inp, L.GlobalAveragePooling2D()(x))
    t_light = profiling.measure_throughput(light, batch_size=4, batches=3)
    t_heavy = profiling.measure_throughput(heavy, batch_size=4, batches=3)
    assert profiling.multiply_adds(heavy) > 1000 * profiling.multiply_adds(light)
    assert t_light.images_per_second > t_heavy.images_per_second


def test_measure_memory_sees_a_large_allocation():
    def hold_200_mib():
        a = np.ones((200, 1024, 1024), dtype=np.uint8)
        time.sleep(0.05)
        return int(a[-1, -1, -1])

    result, mem = profiling.measure_memory(hold_200_mib)
    assert result == 1
    assert 150 < mem.host_increase_mib < 400
    assert mem.host_peak_mib >= mem.host_increase_mib
    assert mem.gpu_peak_mib is None or mem.gpu_peak_mib >= 0


def test_profile_model_row():
    row = profiling.profile_model(tiny_model(), batch_size=2, batches=1, name="tiny")
    assert row["model"] == "tiny"
    assert row["params"] == tiny_model().count_params()
    assert row["macs_per_image"] == 4104
    assert row["gmacs_per_image"] == pytest.approx(4104 / 1e9)
    assert row["images_per_second"] > 0 and row["batch_size"] == 2


def test_accuracy_vs_speed_plot():
    from nbhelpers import plots

    fig = plots.accuracy_vs_speed(["vgg16", "mobilenetv2"], [20.0, 400.0], [0.9, 0.85],
                                  params=[14_700_000, 2_300_000])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[20.0, 0.9], [400.0, 0.85]])
    assert [t.get_text() for t in ax.texts] == ["vgg16", "mobilenetv2"]
    with pytest.raises(ValueError):
        plots.accuracy_vs_speed(["a"], [1.0, 2.0], [0.5])
