"""The export forms, and how each is loaded and run on this machine.

:data:`EXPORT_FORMS` names every form and its file; :func:`load_form` loads one: a Keras
model, a :class:`SavedModelRunner` (TensorFlow alone) or a :class:`TFLiteModel`, all
called the same way (``model(images) -> probabilities``).  The TFLite interpreter is
LiteRT's (``ai_edge_litert``, in the lock) when it can be imported, else TensorFlow's
deprecated ``tf.lite.Interpreter`` (Colab: TF 2.20 still has it; Colab does not ship
``ai-edge-litert``): see :func:`interpreter_class`.  Taught in ``12_using_your_model``.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXPORT_FORMS", "interpreter_class", "usable_cpus", "TFLiteModel",
           "SavedModelRunner", "load_form"]

#: Every export form, in the order :func:`export_all` writes them: ``(file name, what it is)``.
EXPORT_FORMS: dict[str, tuple[str, str]] = {
    "keras": ("model.keras", "Keras file: architecture + weights (no optimizer state); "
                             "reloads with safe_mode=True"),
    "saved_model": ("saved_model", "SavedModel from model.export(): a 'serve' signature "
                                   "that TensorFlow alone can run (TF Serving, tf.saved_model.load)"),
    "tflite_float32": ("model_float32.tflite", "TensorFlow Lite, float32 weights and arithmetic"),
    "tflite_dynamic": ("model_dynamic.tflite", "TensorFlow Lite, dynamic-range quantization: "
                                               "int8 weights, float activations"),
    "tflite_int8": ("model_int8.tflite", "TensorFlow Lite, full-integer quantization: int8 "
                                         "weights and activations, uint8 input and output"),
}
#: The forms that are TensorFlow Lite files, with their ``convert_tflite`` quantization.
TFLITE_QUANTIZATION = {"tflite_float32": "float32", "tflite_dynamic": "dynamic",
                       "tflite_int8": "int8"}


def interpreter_class() -> tuple[type, str]:
    """The TFLite interpreter class and where it comes from: LiteRT if importable, else tf.lite.

    From TensorFlow 2.20 on, the interpreter lives in LiteRT (``pip install ai-edge-litert``,
    in the course's lock); ``tf.lite.Interpreter`` still works there (TF 2.20 and 2.21)
    but warns that it will be removed, so it is the fallback (Colab ships no LiteRT).

    Example:
        >>> cls, runtime = interpreter_class()
        >>> cls.__name__, runtime.split()[0] in ("ai_edge_litert", "tf.lite")
        ('Interpreter', True)
    """
    try:
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        version = getattr(ai_edge_litert, "__version__", None)
        if version is None:
            import importlib.metadata as md

            version = md.version("ai-edge-litert")
        return Interpreter, f"ai_edge_litert {version}"
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, f"tf.lite (TensorFlow {tf.__version__})"


def usable_cpus() -> int:
    """The CPU cores this process may run on: a container's or a job's share, not the host's
    count (``os.cpu_count()`` says 64 on a 64-core host that lends a notebook 2).

    Example:
        >>> 1 <= usable_cpus() <= (os.cpu_count() or 1)
        True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class TFLiteModel:
    """A ``.tflite`` file behind the same call as a Keras model: ``model(images) -> outputs``.

    Quantized inputs and outputs (full-integer models) are converted here using the
    file's scale and zero point, so callers always pass float32 images in [0, 255] and
    get float probabilities back.  Batches of any size work (the input is resized when
    the batch size changes).  One call at a time (a lock): the interpreter is not
    thread-safe, and a web app calls from several threads.  ``num_threads``: the
    interpreter's threads, by default the cores this process may run on (:func:`usable_cpus`;
    TensorFlow runs the Keras model and the SavedModel on all of them): TFLite's own default
    is one thread, which makes the float32 file about 1.5x slower than Keras on two cores
    and every latency ratio compare one core with all of them.

    Example:
        >>> import tempfile
        >>> from nbhelpers import explain
        >>> from nbhelpers.deploy import convert_tflite, export_saved_model
        >>> d = Path(tempfile.mkdtemp()); m = explain.left_half_model(16)
        >>> t = TFLiteModel(convert_tflite(export_saved_model(m, d / "sm"), d / "m.tflite"))
        >>> x = np.full((2, 16, 16, 3), 100.0, "float32")
        >>> bool(np.allclose(t(x), m.predict(x, verbose=0), atol=1e-5)), t.image_size
        (True, 16)
        >>> t.num_threads == usable_cpus(), TFLiteModel(t.path, num_threads=1).num_threads
        (True, 1)
    """

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"No TFLite file at {self.path}")
        cls, self.runtime = interpreter_class()
        self.num_threads = int(num_threads) if num_threads is not None else usable_cpus()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
            self.interpreter = cls(model_path=str(self.path), num_threads=self.num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._batch = int(self._input["shape"][0])
        self._lock = threading.Lock()

    @property
    def image_size(self) -> int:
        """The input images' side in pixels."""
        return int(self._input["shape"][1])

    @property
    def input_dtype(self) -> str:
        """``float32`` or, for a full-integer model, ``uint8``/``int8``."""
        return np.dtype(self._input["dtype"]).name

    def _run(self, x: np.ndarray) -> np.ndarray:
        if len(x) != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], [len(x), *x.shape[1:]])
            self.interpreter.allocate_tensors()
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
            self._batch = len(x)
        dtype = np.dtype(self._input["dtype"])
        if dtype != np.float32:
            scale, zero = self._input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(self._input["index"], x.astype(dtype))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._output["index"])
        if np.dtype(self._output["dtype"]) != np.float32:
            scale, zero = self._output["quantization"]
            out = (out.astype("float32") - zero) * scale
            if out.ndim == 2 and out.shape[1] > 1:
                # A softmax stored in 8 bits: each probability is off by up to half a step,
                # so a row no longer sums to 1. Renormalise; the ranking is unchanged.
                out = np.clip(out, 0.0, None)
                out = out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return np.asarray(out, dtype="float32")

    def __call__(self, images: Any, training: bool = False) -> np.ndarray:
        x = np.asarray(images, dtype="float32")
        if x.ndim == 3:
            x = x[None]
        with self._lock:
            return self._run(x)

    def __repr__(self) -> str:
        return (f"TFLiteModel({self.path.name}, input {self.input_dtype} "
                f"{self.image_size}x{self.image_size}, {self.runtime})")


class SavedModelRunner:
    """A SavedModel run by TensorFlow alone (``tf.saved_model.load`` and its ``serve``).

    No Keras, no nbhelpers layers: what a server that has only TensorFlow does.

    Example:
        >>> import tempfile
        >>> from nbhelpers import explain
        >>> from nbhelpers.deploy import export_saved_model
        >>> m = explain.left_half_model(16); sm = export_saved_model(m, Path(tempfile.mkdtemp()) / "sm")
        >>> x = np.full((1, 16, 16, 3), 50.0, "float32")
        >>> bool(np.allclose(SavedModelRunner(sm)(x), m.predict(x, verbose=0), atol=1e-5))
        True
    """

    def __init__(self, folder_or_loaded: str | Path | Any) -> None:
        import tensorflow as tf

        if isinstance(folder_or_loaded, str | Path):
            self.path: Path | None = Path(folder_or_loaded)
            self.loaded = tf.saved_model.load(str(self.path))
        else:
            self.path, self.loaded = None, folder_or_loaded
        spec = self.loaded.signatures["serving_default"].structured_input_signature[1]
        self.image_size = int(next(iter(spec.values())).shape[1])

    def __call__(self, images: Any, training: bool = False) -> np.ndarray:
        import tensorflow as tf

        x = np.asarray(images, dtype="float32")
        if x.ndim == 3:
            x = x[None]
        return np.asarray(self.loaded.serve(tf.constant(x)), dtype="float32")


def load_form(form: str, path: str | Path) -> Any:
    """Load one export form: a Keras model, a :class:`SavedModelRunner` or a :class:`TFLiteModel`.

    Example:
        >>> load_form("onnx", "x")
        Traceback (most recent call last):
        ...
        ValueError: unknown form 'onnx'; choose one of keras, saved_model, tflite_float32, tflite_dynamic, tflite_int8
    """
    if form not in EXPORT_FORMS:
        raise ValueError(f"unknown form {form!r}; choose one of {', '.join(EXPORT_FORMS)}")
    if form == "keras":
        from .. import models

        return models.load_saved_model(path)
    if form == "saved_model":
        return SavedModelRunner(path)
    return TFLiteModel(path)


