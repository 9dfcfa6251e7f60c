"""Export forms written: the Keras file, the SavedModel, and TensorFlow Lite conversion.

What is shipped is :func:`inference_model` (no optimizer state, float32).  It is saved
as a ``.keras`` file that reloads with ``safe_mode=True`` (:func:`export_keras`), as a
SavedModel from ``model.export()`` (:func:`export_saved_model`), and converted from that
SavedModel to TensorFlow Lite in float32, with dynamic-range or with full-integer
quantization (:func:`convert_tflite`; int8 is calibrated on
:func:`representative_sample` of the training images, and :func:`quantization_errors`
shows each layer's int8 error).  The converter is TensorFlow's
``tf.lite.TFLiteConverter.from_saved_model``, the path Keras 3 itself uses (the
``from_keras_model`` route fails on TF 2.20 with Python 3.13).
Taught in ``12_using_your_model``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import artifacts, progress

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras
    import pandas as pd

__all__ = ["representative_sample", "inference_model", "export_keras", "export_saved_model",
           "convert_tflite", "quantization_errors"]


def representative_sample(x: np.ndarray, y: np.ndarray | None = None, n: int = 100,
                          seed: int = 0) -> np.ndarray:
    """``n`` training images for full-integer calibration, stratified by class when ``y`` is given.

    The converter runs them through the float model to find each tensor's value range;
    a sample that misses a class (or a kind of photo) gives ranges that clip it.

    Example:
        >>> x = np.arange(10 * 4 * 4 * 3, dtype="float32").reshape(10, 4, 4, 3)
        >>> s = representative_sample(x, np.array([0] * 8 + [1] * 2), n=4)
        >>> s.shape
        (4, 4, 4, 3)
    """
    x = np.asarray(x, dtype="float32")
    n = int(min(n, len(x)))
    if n < 1:
        raise ValueError("the representative sample needs at least one training image")
    rng = np.random.default_rng(seed)
    if y is None:
        return x[np.sort(rng.choice(len(x), n, replace=False))]
    y = np.asarray(y).reshape(-1)
    classes = np.unique(y)
    per = {c: np.flatnonzero(y == c) for c in classes}
    take: list[int] = []
    for i, c in enumerate(classes):  # an even share per class, the remainder to the first ones
        want = n // len(classes) + (1 if i < n % len(classes) else 0)
        take += list(rng.choice(per[c], min(want, len(per[c])), replace=False))
    rest = np.setdiff1d(np.arange(len(x)), take)
    if len(take) < n:  # a small class could not give its share
        take += list(rng.choice(rest, n - len(take), replace=False))
    return x[np.sort(np.asarray(take, dtype=int))]


def inference_model(model: keras.Model) -> keras.Model:
    """The same layers and weights as an uncompiled float32 model: what is worth shipping.

    A compiled model saves its optimizer's state too (Adam keeps two numbers per
    trainable weight) -- needed to resume training, dead weight for serving.  No
    weights are copied: the layers are shared.  A model built under mixed precision
    (float16 maths, what ``setup()`` turns on for a GPU) is rebuilt in float32 with the
    same weights instead: TensorFlow Lite's int8 converter cannot quantize float16
    operations, and a phone's CPU has no float16 speed-up to lose.

    Example:
        >>> from nbhelpers import explain
        >>> m = explain.left_half_model(16); m.compile(optimizer="adam", loss="binary_crossentropy")
        >>> getattr(inference_model(m), "optimizer", None) is None, inference_model(m).layers[2] is m.layers[2]
        (True, True)
    """
    import keras

    if _computes_below_float32(model):
        model = _float32_copy(model)
    # One input and one output stay single tensors (not lists): the SavedModel's
    # serve signature then takes the image itself.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    outputs = model.outputs[0] if len(model.outputs) == 1 else model.outputs
    return keras.Model(inputs, outputs, name=model.name)


def _layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of ``model``, the layers of nested models included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def _computes_below_float32(model: keras.Model) -> bool:
    """True when a layer with weights, nested models' included, computes in float16/bfloat16."""
    return any(layer.compute_dtype != "float32" for layer in _layers(model)
               if layer.weights and not hasattr(layer, "layers"))  # a nested model: its layers


def _float32_copy(model: keras.Model) -> keras.Model:
    """``model`` rebuilt with every layer (nested models' too) in float32, with its weights."""
    import keras

    def in_float32(layer: keras.layers.Layer) -> keras.layers.Layer:
        return type(layer).from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=in_float32, recursive=True)
    copy.set_weights(model.get_weights())
    if _computes_below_float32(copy):
        raise ValueError(f"could not rebuild {model.name!r} in float32 for export: build it "
                         "under keras.mixed_precision.set_global_policy('float32') instead")
    return copy


def export_keras(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` as a ``.keras`` file and check it reloads with ``safe_mode=True``.

    The reload (``nbh.models.load_saved_model``) runs no pickled code, so a model
    with a ``Lambda`` layer would fail here, not on the learner's phone or server.

    Example:
        >>> import tempfile
        >>> from nbhelpers import explain
        >>> export_keras(explain.left_half_model(16), Path(tempfile.mkdtemp()) / "m.keras").suffix
        '.keras'
    """
    from .. import models

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"a Keras file must end in .keras, got {path.name}")
    artifacts.write_with(path, model.save)  # whole or not at all
    models.load_saved_model(path)
    return path


def export_saved_model(model: keras.Model, folder: str | Path) -> Path:
    """``model.export(folder)``: a SavedModel whose ``serve`` signature needs only TensorFlow.

    What TF Serving, TensorFlow.js converters and ``tf.lite.TFLiteConverter`` read; load
    it with :class:`SavedModelRunner` (or ``tf.saved_model.load``).

    Example:
        >>> import tempfile
        >>> from nbhelpers import explain
        >>> p = export_saved_model(explain.left_half_model(16), Path(tempfile.mkdtemp()) / "sm")
        >>> (p / "saved_model.pb").is_file()
        True
    """
    import tensorflow as tf

    folder = Path(folder)
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # not "INFO:tensorflow:Assets written to ..."
    try:  # built in a folder of its own, then renamed into place (an older one replaced)
        artifacts.write_with(folder, lambda tmp: model.export(str(tmp), format="tf_saved_model",
                                                               verbose=False))
    finally:
        logger.setLevel(level)
    return folder


def _converter(saved_model: str | Path, quantization: str,
               representative: np.ndarray | None) -> Any:
    """TensorFlow's converter for ``saved_model``, set up for ``quantization``."""
    import tensorflow as tf

    if quantization not in ("float32", "dynamic", "int8"):
        raise ValueError(f"quantization must be 'float32', 'dynamic' or 'int8', got {quantization!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if quantization in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "int8":
        converter.representative_dataset = _calibration(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def _calibration(representative: np.ndarray | None) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The images int8 calibration runs through the model, one at a time."""
    if representative is None or len(representative) == 0:
        raise ValueError("full-integer quantization needs representative images to "
                         "calibrate: pass representative=representative_sample(x_train, y_train)")
    sample = np.asarray(representative, dtype="float32")

    def data_gen() -> Iterator[list[np.ndarray]]:
        for img in progress.bar(sample, desc="int8 calibration", total=len(sample)):
            yield [img[None]]

    return data_gen


def convert_tflite(saved_model: str | Path, path: str | Path, quantization: str = "float32",
                   representative: np.ndarray | None = None) -> Path:
    """Convert a SavedModel to a TensorFlow Lite file: ``float32``, ``dynamic`` or ``int8``.

    * ``float32``: the same arithmetic, a flat buffer for the LiteRT interpreter;
    * ``dynamic`` (dynamic-range quantization): weights stored as int8 (about 4x
      smaller), activations computed in float;
    * ``int8`` (full-integer quantization): weights *and* activations int8, input and
      output uint8 (raw pixels in, probability x 255 out), for integer-only hardware.
      Needs ``representative`` images (:func:`representative_sample`) to calibrate;
      :func:`quantization_errors` shows how far each layer's int8 output is from float.

    Uses ``tf.lite.TFLiteConverter.from_saved_model`` (TensorFlow's converter).  The file
    is written whole or not at all (a temporary file, then a rename).

    Example:
        >>> import tempfile
        >>> from nbhelpers import explain
        >>> d = Path(tempfile.mkdtemp()); sm = export_saved_model(explain.left_half_model(16), d / "sm")
        >>> convert_tflite(sm, d / "m.tflite").stat().st_size > 0
        True
    """
    import tensorflow as tf

    converter = _converter(saved_model, quantization, representative)
    if quantization == "int8":
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    flat = converter.convert()
    return artifacts.write_bytes(path, flat)  # whole or not at all


def quantization_errors(saved_model: str | Path, representative: np.ndarray) -> pd.DataFrame:
    """How far each layer of the int8 model is from float, layer by layer.

    TensorFlow Lite's quantization debugger (``tf.lite.experimental.QuantizationDebugger``)
    runs every int8 operation on the same inputs as its float twin.  One row per
    quantized tensor, in graph order: ``op`` (``CONV_2D``, ``CONCATENATION``, ...),
    ``tensor`` (its name, which names the Keras layer), ``scale`` (the size of one int8
    step), ``rmse`` and ``max_abs_error`` against float, and ``rmse_in_steps`` =
    ``rmse / scale``.  Rounding alone gives about 0.29 steps (the spread of a uniform
    error of half a step); a layer far above that loses information there (a wrong
    scale, a clipped range).

    Example:
        >>> import tempfile
        >>> from nbhelpers import explain
        >>> m = explain.left_half_model(16); sm = export_saved_model(m, Path(tempfile.mkdtemp()) / "sm")
        >>> t = quantization_errors(sm, np.full((4, 16, 16, 3), 90.0, "float32"))
        >>> list(t.columns)
        ['op', 'tensor', 'scale', 'rmse', 'max_abs_error', 'rmse_in_steps']
    """
    import io

    import pandas as pd
    import tensorflow as tf

    converter = _converter(saved_model, "int8", representative)
    with warnings.catch_warnings():  # it runs tf.lite.Interpreter, which warns it is deprecated
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=_calibration(representative))
        debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    buffer.seek(0)
    raw = pd.read_csv(buffer)
    rmse = np.sqrt(raw["mean_squared_error"].astype("float64"))
    return pd.DataFrame({
        "op": raw["op_name"], "tensor": raw["tensor_name"], "scale": raw["scale"],
        "rmse": rmse, "max_abs_error": raw["max_abs_error"],
        "rmse_in_steps": rmse / raw["scale"].where(raw["scale"] > 0),  # NaN where no scale
    })


