"""What a backbone costs: parameters, multiply-adds per image, speed and memory.

Taught in ``11_choosing_a_backbone``, where VGG16, ResNet50, MobileNetV2 and
EfficientNetB0 are put side by side.

* :func:`parameter_counts` -- total / trainable / frozen weights.
* :func:`layer_costs` and :func:`multiply_adds` -- the compute of one forward
  pass for **one image**, counted layer by layer from the Keras graph.  The
  unit is the *multiply-add* (MAC): ``y += w * x`` counts once.  Papers often
  call this number "FLOPs" (VGG16's famous "15.5 GFLOPs" at 224x224 are
  multiply-adds); strictly a multiply-add is two floating-point operations, so
  the floating-point operations are twice the count.
* :func:`measure_throughput` -- images per second, measured here, now.
* :func:`measure_memory` -- peak memory while a function runs (host RSS,
  sampled; GPU peak from TensorFlow when there is a GPU), and
  :func:`activation_memory`, the size a forward pass's outputs would need.

The counting rules (per image; biases and activations are free):

======================================  ====================================================
layer                                   multiply-adds
======================================  ====================================================
Conv1D/2D/3D                            output positions x filters x kernel size x in channels / groups
Conv*Transpose                          input positions x in channels x kernel size x filters
DepthwiseConv                           output positions x out channels x kernel size
SeparableConv                           depthwise part + output positions x mid channels x filters
Dense                                   leading positions x inputs x units
Max/AveragePooling                      output elements x pool size (one compare or add each)
GlobalMax/AveragePooling                input elements
BatchNormalization, Rescaling,          output elements (one multiply-add each, at inference)
Normalization
Add, Subtract, Multiply, Average, ...   output elements x (inputs - 1)
everything else                         0 (activations, reshapes, dropout, padding, ...)
======================================  ====================================================
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np

__all__ = [
    "LayerCost",
    "parameter_counts",
    "layer_costs",
    "multiply_adds",
    "activation_memory",
    "Throughput",
    "measure_throughput",
    "MemoryUse",
    "measure_memory",
    "profile_model",
]

L = keras.layers
_CONV = (L.Conv1D, L.Conv2D, L.Conv3D)
_CONV_T = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
_DEPTHWISE = (L.DepthwiseConv1D, L.DepthwiseConv2D)
_SEPARABLE = (L.SeparableConv1D, L.SeparableConv2D)
_POOL = (
    L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
    L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D,
)
_GLOBAL_POOL = (
    L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
    L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D,
)
_ELEMENTWISE = (L.BatchNormalization, L.Rescaling, L.Normalization)
_MERGE = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)


@dataclass(frozen=True)
class LayerCost:
    """One layer's share: its name, kind, output shape (no batch axis), weights and MACs.

    ``kind`` is the layer's class name; ``params`` counts its weights and ``macs``
    its multiply-adds for one image.  :func:`layer_costs` returns one per layer.

    Example:
        >>> m = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, name="fc")])
        >>> layer_costs(m)[0]
        LayerCost(name='fc', kind='Dense', output_shape=(3,), params=33, macs=30)
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


def parameter_counts(model: keras.Model | keras.layers.Layer) -> dict[str, int]:
    """Total, trainable and non-trainable (frozen, or BatchNorm statistics) weights.

    The one count of parameters: of a model, or of one layer (``nbh.models.parameter_report``
    adds them up per block).  Keys ``total``, ``trainable``, ``non_trainable``.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> parameter_counts(m)
        {'total': 8, 'trainable': 8, 'non_trainable': 0}
    """
    trainable = int(sum(math.prod(w.shape) for w in model.trainable_weights))
    frozen = int(sum(math.prod(w.shape) for w in model.non_trainable_weights))
    return {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


def _elems(shape: Any) -> int:
    dims = tuple(shape)[1:]
    if any(d is None for d in dims):
        raise ValueError(
            f"shape {tuple(shape)} has an unknown size; build the model with a fixed "
            "input_shape (e.g. load_backbone(..., input_shape=cfg.input_shape))"
        )
    return int(math.prod(dims))


def _op_macs(op: Any, in_shapes: list[tuple], out_shape: tuple) -> int:
    """Multiply-adds of one layer call, per image (see the table in the module docstring)."""
    out = _elems(out_shape)
    if isinstance(op, _SEPARABLE):
        k = math.prod(op.kernel_size)
        cin = in_shapes[0][-1] if op.data_format == "channels_last" else in_shapes[0][1]
        mid = cin * op.depth_multiplier
        positions = out // op.filters
        return positions * mid * k + positions * mid * op.filters
    if isinstance(op, _DEPTHWISE):
        return out * math.prod(op.kernel_size)
    if isinstance(op, _CONV_T):
        return _elems(in_shapes[0]) * math.prod(op.kernel_size) * op.filters
    if isinstance(op, _CONV):
        cin = in_shapes[0][-1] if op.data_format == "channels_last" else in_shapes[0][1]
        return out * math.prod(op.kernel_size) * cin // op.groups
    if isinstance(op, L.Dense):
        return out * in_shapes[0][-1]
    if isinstance(op, _POOL):
        return out * math.prod(op.pool_size)
    if isinstance(op, _GLOBAL_POOL):
        return _elems(in_shapes[0])
    if isinstance(op, _ELEMENTWISE):
        return out
    if isinstance(op, _MERGE):
        return out * (len(in_shapes) - 1)
    return 0


def _graph_of(model: keras.Model, input_shape: tuple[int, ...] | None) -> keras.Model:
    """The functional graph behind ``model`` (Sequential models are built if needed)."""
    if isinstance(model, keras.Sequential):
        if getattr(model, "_functional", None) is None:
            if input_shape is None:
                raise ValueError("this Sequential model has no input shape: pass input_shape=")
            model.build((None, *input_shape))
        if getattr(model, "_functional", None) is not None:
            return model._functional
    if not hasattr(model, "_nodes_by_depth"):
        raise TypeError(
            f"{type(model).__name__} is not a functional or Sequential Keras model; "
            "its layers cannot be walked"
        )
    return model


def _walk(model: keras.Model, prefix: str, input_shape: tuple[int, ...] | None) -> list[LayerCost]:
    graph = _graph_of(model, input_shape)
    rows: list[LayerCost] = []
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            op = node.operation
            if isinstance(op, L.InputLayer):
                continue
            in_shapes = [tuple(t.shape) for t in node.input_tensors]
            if isinstance(op, keras.Model):
                inner = in_shapes[0][1:] if in_shapes else None
                rows.extend(_walk(op, f"{prefix}{op.name}/", inner))
                continue
            out_shape = tuple(node.output_tensors[0].shape)
            params = int(sum(math.prod(w.shape) for w in getattr(op, "weights", [])))
            rows.append(
                LayerCost(
                    name=prefix + op.name,
                    kind=type(op).__name__,
                    output_shape=tuple(out_shape[1:]),
                    params=params,
                    macs=int(_op_macs(op, in_shapes, out_shape)),
                )
            )
    return rows


def layer_costs(model: keras.Model, input_shape: tuple[int, ...] | None = None) -> list[LayerCost]:
    """Per-layer multiply-adds for one image, in graph order (nested models are opened).

    ``input_shape`` is only needed for a Sequential model built without one.

    Example:
        >>> inp = keras.Input((8, 8, 3))
        >>> x = keras.layers.Conv2D(4, 3, name="conv")(inp)
        >>> x = keras.layers.Flatten(name="flat")(x)
        >>> m = keras.Model(inp, keras.layers.Dense(2, name="fc")(x))
        >>> [(c.name, c.macs) for c in layer_costs(m)]
        [('conv', 3888), ('flat', 0), ('fc', 288)]
    """
    return _walk(model, "", input_shape)


def multiply_adds(model: keras.Model, input_shape: tuple[int, ...] | None = None) -> int:
    """Multiply-adds (MACs) of one forward pass for one image: the sum of :func:`layer_costs`.

    VGG16 with its top at 224x224 comes to about 15.5 billion.

    Example:
        >>> m = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
        >>> multiply_adds(m)
        30
    """
    return int(sum(c.macs for c in layer_costs(model, input_shape)))


def activation_memory(
    model: keras.Model, batch_size: int = 1, bytes_per_value: int = 4
) -> dict[str, float]:
    """An estimate from the graph, in MiB: weights, and all layer outputs for a batch.

    The activations figure adds up every layer's output, which is what training
    keeps for the backward pass; inference can free most of them, so for
    prediction it is an upper bound.  Compare it with :func:`measure_memory`.

    Example:
        >>> m = keras.Sequential([keras.Input((256,)), keras.layers.Dense(1024)])
        >>> activation_memory(m, batch_size=256)
        {'weights_mib': 1.00390625, 'activations_mib': 1.0}
    """
    costs = layer_costs(model)
    values = sum(math.prod(c.output_shape) for c in costs)
    mib = 1024**2
    return {
        "weights_mib": parameter_counts(model)["total"] * bytes_per_value / mib,
        "activations_mib": values * batch_size * bytes_per_value / mib,
    }


def _device_name() -> str:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return f"GPU ({len(gpus)}x)"
    return "CPU"


@dataclass(frozen=True)
class Throughput:
    """Measured prediction speed: images per second (from the median batch time).

    ``images_per_second`` is ``batch_size / seconds_per_batch``; ``batches`` says
    how many batches were timed, ``device`` where (``"CPU"`` or ``"GPU (1x)"``).
    What :func:`measure_throughput` returns; ``as_dict()`` gives a table row.

    Example:
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> t = measure_throughput(m, batch_size=2, batches=2)
        >>> round(t.images_per_second * t.seconds_per_batch, 6), t.batches
        (2.0, 2)
        >>> list(t.as_dict())
        ['images_per_second', 'seconds_per_batch', 'batch_size', 'batches', 'device']
    """

    images_per_second: float
    seconds_per_batch: float
    batch_size: int
    batches: int
    device: str

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for a table row)."""
        return asdict(self)


def measure_throughput(
    model: keras.Model,
    batch_size: int = 8,
    input_shape: tuple[int, ...] | None = None,
    batches: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> Throughput:
    """Images per second of ``model.predict_on_batch`` on this machine, right now.

    Random images in [0, 255] (speed does not depend on their content).  The
    first ``warmup`` batches build the compiled function and are not timed; the
    median of ``batches`` timed batches is used, which resists a neighbour's
    burst of CPU use.  Small batches measure latency more than peak throughput:
    say which batch size a figure is for.

    Example:
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> t = measure_throughput(m, batch_size=2, batches=2)
        >>> t.images_per_second > 0, t.batch_size
        (True, 2)
    """
    if input_shape is None:
        input_shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in input_shape):
        raise ValueError(f"input shape {input_shape} has unknown sizes: pass input_shape=")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(batch_size, *input_shape)).astype("float32")
    for _ in range(max(0, warmup)):
        model.predict_on_batch(x)
    times = []
    for _ in range(max(1, batches)):
        start = time.perf_counter()
        out = model.predict_on_batch(x)
        np.asarray(out)  # make sure the work is done, not just queued
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return Throughput(batch_size / median, median, batch_size, len(times), _device_name())


@dataclass(frozen=True)
class MemoryUse:
    """Peak memory while a function ran, in MiB.

    ``host_peak_mib``: the highest resident set size (RSS) of this process seen
    while it ran; ``host_increase_mib``: that peak minus the RSS before (what
    the call added); ``gpu_peak_mib``: TensorFlow's peak on the first GPU (None
    without one); ``method`` says how host memory was measured.  What
    :func:`measure_memory` returns; ``as_dict()`` gives a table row.

    Example:
        >>> _, mem = measure_memory(lambda: np.ones((1024, 1024)).sum())
        >>> 0 <= mem.host_increase_mib <= mem.host_peak_mib
        True
        >>> list(mem.as_dict())
        ['host_peak_mib', 'host_increase_mib', 'gpu_peak_mib', 'method']
    """

    host_peak_mib: float
    host_increase_mib: float
    gpu_peak_mib: float | None
    method: str

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for a table row)."""
        return asdict(self)


def _rss_reader() -> tuple[Callable[[], float], str]:
    try:
        import psutil

        proc = psutil.Process()
        return (lambda: proc.memory_info().rss / 1024**2), "RSS sampled every few ms (psutil)"
    except ImportError:  # psutil missing: the kernel's high-water mark, which never goes down
        import resource
        import sys

        scale = 1.0 if sys.platform == "darwin" else 1024.0  # macOS reports bytes, Linux KiB
        return (
            lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1024**2,
            "process high-water mark (resource.getrusage)",
        )


def measure_memory(fn: Callable[..., Any], *args: Any, interval: float = 0.002, **kwargs: Any) -> tuple[Any, MemoryUse]:
    """Run ``fn(*args, **kwargs)`` and return ``(its result, MemoryUse)``.

    TensorFlow allocates in C++, out of sight of Python's ``tracemalloc``, so
    host memory is the process RSS, sampled on a background thread.  Other
    things the process does at the same time count too, and freed memory is
    not always returned to the system: read the increase as "about".

    Example:
        >>> result, mem = measure_memory(lambda: np.ones((1024, 1024)).sum())
        >>> float(result), mem.host_peak_mib > 0
        (1048576.0, True)
    """
    import tensorflow as tf

    read, method = _rss_reader()
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        tf.config.experimental.reset_memory_stats(gpus[0].name)
    before = read()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], read())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn(*args, **kwargs)
    finally:
        done.set()
        thread.join()
    peak[0] = max(peak[0], read())
    gpu = None
    if gpus:
        gpu = tf.config.experimental.get_memory_info(gpus[0].name)["peak"] / 1024**2
    return result, MemoryUse(peak[0], peak[0] - before, gpu, method)


def profile_model(
    model: keras.Model,
    batch_size: int = 8,
    batches: int = 3,
    name: str | None = None,
) -> dict[str, Any]:
    """One row of the backbone table: parameters, GMACs per image, images/s, memory.

    The throughput run is measured inside :func:`measure_memory`, so the memory
    figures are those of predicting one batch of ``batch_size`` images.

    Example:
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny")
        >>> row = profile_model(m, batch_size=2, batches=1)
        >>> row["model"], row["params"], row["macs_per_image"]
        ('tiny', 10, 8)
    """
    params = parameter_counts(model)
    macs = multiply_adds(model)
    speed, mem = measure_memory(measure_throughput, model, batch_size=batch_size, batches=batches)
    est = activation_memory(model, batch_size=batch_size)
    return {
        "model": name or model.name,
        "params": params["total"],
        "trainable_params": params["trainable"],
        "macs_per_image": macs,
        "gmacs_per_image": macs / 1e9,
        "images_per_second": speed.images_per_second,
        "batch_size": batch_size,
        "device": speed.device,
        "host_peak_mib": mem.host_peak_mib,
        "host_increase_mib": mem.host_increase_mib,
        "gpu_peak_mib": mem.gpu_peak_mib,
        "weights_mib": est["weights_mib"],
        "activations_mib": est["activations_mib"],
    }
