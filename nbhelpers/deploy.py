"""Using your model: classify a photo, test-time augmentation, export forms and how they compare.

Taught in ``12_using_your_model``.  The way through this module:

1. **one photo** -- :func:`load_image_file` reads a file exactly as training did
   (``nbhelpers.data``'s checks, its upright PIL copy for files TensorFlow cannot decode
   or turn -- phone photos with an EXIF orientation tag -- and its
   :func:`~nbhelpers.data.decode_and_resize`); :func:`classify_file` returns a
   :class:`Prediction` (top classes, probabilities, optionally a Grad-CAM explanation);
2. **test-time augmentation** -- :func:`tta_predict` averages the probabilities of the
   image and randomly augmented copies of it (the training augmentation);
   :func:`tta_comparison` measures accuracy and time against a single pass;
3. **export** -- :func:`export_all` writes every form of :data:`EXPORT_FORMS` into one
   folder with a ``manifest.json`` (class names, image size, profile): the ``.keras``
   file (reloaded with ``safe_mode=True``), a SavedModel from ``model.export()``
   (reloaded by TensorFlow alone, :class:`SavedModelRunner`), TensorFlow Lite in float32,
   with dynamic-range and with full-integer quantization (calibrated on
   :func:`representative_sample` of the training images);
4. **compare** -- :func:`compare_exports` measures, in one run, each form's size on disk,
   latency per image, accuracy and agreement with the Keras model (a DataFrame; the
   figure is ``nbhelpers.plots.export_comparison``).

The TFLite converter is TensorFlow's (``tf.lite.TFLiteConverter.from_saved_model``: the
path Keras 3 itself uses since the ``from_keras_model`` route broke on TF 2.20 with
Python 3.13).  The interpreter is LiteRT's (``ai_edge_litert``, in the lock) when it can be
imported, else TensorFlow's deprecated ``tf.lite.Interpreter`` (Colab: TF 2.20 still has
it; Colab does not ship ``ai-edge-litert``): see :func:`interpreter_class`.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import artifacts, progress
from .config import INFERENCE_BATCH_SIZE, Config, current
from .data import DataError

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras
    import pandas as pd

__all__ = [
    "EXPORT_FORMS",
    "NotAnImageError",
    "Prediction",
    "load_image_file",
    "top_classes",
    "classify_image",
    "classify_file",
    "predict_function",
    "tta_predict",
    "tta_comparison",
    "representative_sample",
    "inference_model",
    "export_keras",
    "export_saved_model",
    "convert_tflite",
    "quantization_errors",
    "interpreter_class",
    "SavedModelRunner",
    "TFLiteModel",
    "Exported",
    "export_all",
    "load_form",
    "size_on_disk",
    "latency_per_image",
    "compare_exports",
    "tiny_classifier",
]

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
MANIFEST = "manifest.json"


class NotAnImageError(DataError):
    """A file that is not an image the course can read (the message says what it is)."""


# --------------------------------------------------------------------------- one photo


def _image_size(model: Any, cfg: Config | None) -> int:
    """The model's input size (its input shape), else the profile's."""
    size = getattr(model, "image_size", None)
    if size:
        return int(size)
    shape = getattr(model, "input_shape", None)
    if shape is not None and len(shape) == 4 and shape[1]:
        return int(shape[1])
    return int((cfg or current()).image_size)


def load_image_file(path: str | Path, image_size: int | None = None,
                    cfg: Config | None = None) -> np.ndarray:
    """One image file as the model sees it: float32 RGB ``(S, S, 3)`` in ``[0, 255]``.

    The same code path as training: the file is checked as ``nbh.data.scan`` checks
    every file (a non-image, an empty, truncated or unsupported file raises
    :class:`NotAnImageError` saying which); one TensorFlow cannot decode or turn upright
    (an EXIF orientation tag, CMYK, ...) is read through the same upright RGB PNG copy
    in ``cfg.cache_dir/converted`` that ``nbh.data.prepare`` makes; then
    ``nbh.data.decode_and_resize`` decodes and resizes it to ``image_size`` (default:
    ``cfg.image_size``).  Taught in ``12_using_your_model``.

    Example:
        >>> from nbhelpers import data
        >>> x = load_image_file(data.write_faces() / "face" / "face_000.png", 32)
        >>> x.shape, x.dtype.name, bool(x.max() <= 255)
        ((32, 32, 3), 'float32', True)
    """
    import pandas as pd

    from . import data

    cfg = cfg or current()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No file at {path}: check the path (or upload the photo again).")
    row = data._inspect(path, path.parent)
    if row["status"] == "skipped":
        raise NotAnImageError(
            f"{path.name} cannot be classified: {row['problem']} ({row['detail']}). "
            f"Use a photo in one of these formats: {', '.join(data.SUPPORTED_EXTENSIONS)}."
        )
    readable = path
    if not row["tf_decodes"]:
        report = data.ValidationReport(root=path.parent, files=pd.DataFrame([row]), classes=[])
        readable = data._pil_copies(report, Path(cfg.cache_dir))[path]
    size = int(image_size or cfg.image_size)
    return np.asarray(data.decode_and_resize(str(readable), size), dtype="float32")


def top_classes(probabilities: Sequence[float], class_names: Sequence[str],
                k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most probable classes, most probable first: ``[(name, probability), ...]``.

    Example:
        >>> top_classes([0.1, 0.7, 0.2], ["cat", "dog", "fox"], k=2)
        [('dog', 0.7), ('fox', 0.2)]
    """
    p = np.asarray(probabilities, dtype="float64").reshape(-1)
    if len(p) != len(class_names):
        raise ValueError(f"{len(p)} probabilities but {len(class_names)} class names "
                         f"({list(class_names)}): pass the class names the model was trained on.")
    order = np.argsort(-p, kind="stable")[: max(1, int(k))]
    return [(str(class_names[i]), float(p[i])) for i in order]


@dataclass
class Prediction:
    """What the model says about one image: probabilities per class (and why, optionally).

    ``image`` is what the model saw (``(S, S, 3)`` float32 in [0, 255]);
    ``explanation`` a Grad-CAM ``nbhelpers.explain.Explanation`` when asked for.

    Example:
        >>> p = Prediction(None, np.zeros((2, 2, 3), "float32"), np.array([0.2, 0.8]), ["cat", "dog"])
        >>> p.label, round(p.confidence, 2), str(p)
        ('dog', 0.8, 'dog 80.0 % (cat 20.0 %)')
    """

    path: Path | None
    image: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]
    explanation: Any = None

    @property
    def index(self) -> int:
        """The predicted class's index, by the course's rule (``nbh.evaluate.predicted_labels``)."""
        from . import evaluate

        return int(evaluate.predicted_labels(np.asarray(self.probabilities)[None])[0])

    @property
    def label(self) -> str:
        """The predicted class's name."""
        return str(self.class_names[self.index])

    @property
    def confidence(self) -> float:
        """The predicted class's probability."""
        return float(self.probabilities[self.index])

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes (see :func:`top_classes`)."""
        return top_classes(self.probabilities, self.class_names, k)

    def as_dict(self) -> dict[str, float]:
        """``{class name: probability}``, what ``gradio.Label`` shows."""
        return {str(n): float(p) for n, p in zip(self.class_names, self.probabilities, strict=True)}

    def __str__(self) -> str:
        top = self.top(3)
        rest = ", ".join(f"{n} {p:.1%}".replace("%", " %") for n, p in top[1:])
        head = f"{self.label} {self.confidence:.1%}".replace("%", " %")
        return f"{head} ({rest})" if rest else head


def predict_function(model: Any, batch_size: int = INFERENCE_BATCH_SIZE
                     ) -> Callable[[np.ndarray], np.ndarray]:
    """``images -> (N, C)`` class probabilities for any form of the model.

    ``model``: a Keras model, a :class:`TFLiteModel`, a :class:`SavedModelRunner`, the
    object ``tf.saved_model.load`` returns, or any function ``images -> outputs``.
    Outputs ``(N, 1)`` (a sigmoid: P(class 1)) become ``(N, 2)``.

    Example:
        >>> f = predict_function(lambda x, training=False: np.full((len(x), 1), 0.25))
        >>> f(np.zeros((2, 4, 4, 3), "float32")).tolist()
        [[0.75, 0.25], [0.75, 0.25]]
    """
    from . import explain

    if hasattr(model, "signatures") and hasattr(model, "serve") and not hasattr(model, "layers"):
        model = SavedModelRunner(model)
    return explain.predict_fn(model, batch_size=batch_size)


def _check_names(probabilities: np.ndarray, class_names: Sequence[str]) -> list[str]:
    names = [str(c) for c in class_names]
    if probabilities.shape[-1] != len(names):
        raise ValueError(
            f"The model gives {probabilities.shape[-1]} class probabilities but "
            f"{len(names)} class names were given ({names}). Pass the class names in the "
            f"order used for training (nbh.data.prepare(cfg).class_names, or the export's "
            f"manifest.json)."
        )
    return names


def classify_image(model: Any, image: np.ndarray, class_names: Sequence[str], *,
                   gradcam: bool = False, gradcam_model: keras.Model | None = None,
                   path: Path | None = None) -> Prediction:
    """Classify one image array ``(S, S, 3)`` in [0, 255]; see :func:`classify_file`.

    Example:
        >>> m = tiny_classifier(16)
        >>> classify_image(m, np.full((16, 16, 3), 128.0, "float32"), ["a", "b"]).label in ("a", "b")
        True
    """
    img = np.asarray(image, dtype="float32")
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected one RGB image (H, W, 3), got shape {img.shape}")
    probs = predict_function(model)(img[None])[0]
    names = _check_names(probs, class_names)
    pred = Prediction(path, img, probs, names)
    if gradcam:
        from . import explain

        keras_model = gradcam_model if gradcam_model is not None else model
        if not hasattr(keras_model, "get_layer"):
            raise ValueError("Grad-CAM needs the Keras model (its gradients): pass "
                             "gradcam_model=<the .keras model> when classifying with a "
                             "TFLite or SavedModel form.")
        pred.explanation = explain.explain_gradcam(keras_model, img, target=pred.index)
    return pred


def classify_file(model: Any, path: str | Path, class_names: Sequence[str],
                  cfg: Config | None = None, *, gradcam: bool = False,
                  gradcam_model: keras.Model | None = None) -> Prediction:
    """Classify one photo file with any form of the model: top classes and probabilities.

    The file is read as training read its images (:func:`load_image_file`) at the
    model's input size.  ``gradcam=True`` adds a Grad-CAM explanation of the predicted
    class (``nbh.explain.explain_gradcam``; it needs the Keras model: ``model`` itself,
    or ``gradcam_model`` when ``model`` is a TFLite/SavedModel form).
    Taught in ``12_using_your_model``.

    Example:
        >>> from nbhelpers import data
        >>> p = classify_file(tiny_classifier(16), data.write_faces() / "face" / "face_000.png",
        ...                   ["face", "non_face"])
        >>> p.image.shape, round(float(p.probabilities.sum()), 4)
        ((16, 16, 3), 1.0)
    """
    image = load_image_file(path, _image_size(model, cfg), cfg)
    return classify_image(model, image, class_names, gradcam=gradcam,
                          gradcam_model=gradcam_model, path=Path(path))


# --------------------------------------------------------------------------- TTA


def _tta_views(model: Any, x: np.ndarray, views: int, cfg: Config, seed: int | None,
               batch_size: int) -> Iterator[np.ndarray]:
    """The ``(N, C)`` probabilities of each view in turn: the image itself, then seeded variants.

    The variants come from one seeded augmentation, so the first ``k`` views of
    a longer run are exactly the ``k`` views of a shorter one.
    """
    from . import data

    f = predict_function(model, batch_size)
    yield f(x).astype("float64")
    if views > 1:
        aug = data.augmentation(cfg, seed=cfg.seed if seed is None else seed)
        for _ in progress.bar(range(views - 1), desc=f"TTA: {views} views"):
            variant = np.concatenate([np.asarray(aug(x[i:i + batch_size], training=True))
                                      for i in range(0, len(x), batch_size)])
            yield f(variant).astype("float64")


def tta_predict(model: Any, images: np.ndarray, views: int = 8, cfg: Config | None = None,
                *, seed: int | None = None, batch_size: int = INFERENCE_BATCH_SIZE) -> np.ndarray:
    """Test-time augmentation: the mean ``(N, C)`` probabilities over ``views`` versions.

    View 0 is the image itself; the others are random variants from the training
    augmentation (``nbh.data.augmentation``: flip, rotation, zoom, contrast), seeded, so
    the same call gives the same answer.  ``views=1`` is a single pass.
    Reached through the helpers that notebook 12 calls.

    Example:
        >>> m, x = tiny_classifier(16), np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3))
        >>> bool(np.allclose(tta_predict(m, x, views=1), predict_function(m)(x)))
        True
        >>> tta_predict(m, x, views=4).shape
        (3, 2)
    """
    if int(views) < 1:
        raise ValueError(f"views must be at least 1 (1 = a single pass), got {views}")
    cfg = cfg or current()
    x = np.asarray(images, dtype="float32")
    total = sum(_tta_views(model, x, int(views), cfg, seed, batch_size))
    return (total / int(views)).astype("float32")


def tta_comparison(model: Any, x: np.ndarray, y: np.ndarray, views: Sequence[int] = (1, 4, 8),
                   cfg: Config | None = None, *, seed: int | None = None,
                   batch_size: int = INFERENCE_BATCH_SIZE) -> pd.DataFrame:
    """Accuracy, log loss and time of a single pass against TTA with more views, one run.

    Rows: ``views`` (1 = single pass), ``accuracy``, ``log_loss``, ``changed`` (answers
    that differ from the single pass), ``seconds``, ``time_ratio`` (against the single
    pass).  ``log_loss`` clips P(true class) to at least ``1e-7`` (``nbh.evaluate.EPS``),
    so an image a confident model gets wrong -- P(true class) exactly 0 in float32 --
    costs ``-log(1e-7) = 16.1``, not infinity.  Measure on the validation split:
    choosing the number of views is a decision, and the test split is for the final
    number only.  The views are computed once, for the largest count: ``k`` views
    are the first ``k`` of them (exactly what :func:`tta_predict` gives for ``k``),
    and their ``seconds`` the time those ``k`` took, so the table costs ``max(views)``
    passes, not their sum.
    Taught in ``12_using_your_model``.

    Example:
        >>> m, x = tiny_classifier(16), np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
        >>> t = tta_comparison(m, x, np.array([0, 1, 0, 1]), views=(1, 2))
        >>> t["views"].tolist(), float(t["time_ratio"].iloc[0])
        ([1, 2], 1.0)
    """
    import pandas as pd

    from . import evaluate

    cfg = cfg or current()
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y).astype(int).reshape(-1)
    wanted = sorted({int(v) for v in views} | {1})
    if wanted[0] < 1:
        raise ValueError(f"views must be at least 1 (1 = a single pass), got {views}")
    predict_function(model, batch_size)(x[:1])  # warm-up: the first call traces the model
    rows, single = [], None
    total, t0 = 0.0, time.perf_counter()
    for k, p_view in enumerate(_tta_views(model, x, wanted[-1], cfg, seed, batch_size), start=1):
        total = total + p_view
        if k not in wanted:
            continue
        seconds = time.perf_counter() - t0
        p = (total / k).astype("float32")
        pred = evaluate.predicted_labels(p)
        if single is None:
            single = (pred, seconds)
        ll = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], evaluate.EPS, 1.0))))
        rows.append({"method": "single pass" if k == 1 else f"TTA, {k} views", "views": k,
                     "accuracy": float(np.mean(pred == y)), "log_loss": ll,
                     "changed": int(np.sum(pred != single[0])), "seconds": seconds,
                     "time_ratio": seconds / max(single[1], 1e-9)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- export


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
        >>> m = tiny_classifier(16); m.compile(optimizer="adam", loss="binary_crossentropy")
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
        >>> export_keras(tiny_classifier(16), Path(tempfile.mkdtemp()) / "m.keras").suffix
        '.keras'
    """
    from . import models

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
        >>> p = export_saved_model(tiny_classifier(16), Path(tempfile.mkdtemp()) / "sm")
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
        >>> d = Path(tempfile.mkdtemp()); sm = export_saved_model(tiny_classifier(16), d / "sm")
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
        >>> m = tiny_classifier(16); sm = export_saved_model(m, Path(tempfile.mkdtemp()) / "sm")
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


def interpreter_class() -> tuple[type, str]:
    """The TFLite interpreter class and where it comes from: LiteRT if importable, else tf.lite.

    Since TensorFlow 2.20 the interpreter lives in LiteRT (``pip install ai-edge-litert``,
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


class TFLiteModel:
    """A ``.tflite`` file behind the same call as a Keras model: ``model(images) -> outputs``.

    Quantized inputs and outputs (full-integer models) are converted here using the
    file's scale and zero point, so callers always pass float32 images in [0, 255] and
    get float probabilities back.  Batches of any size work (the input is resized when
    the batch size changes).  One call at a time (a lock): the interpreter is not
    thread-safe, and a web app calls from several threads.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); m = tiny_classifier(16)
        >>> t = TFLiteModel(convert_tflite(export_saved_model(m, d / "sm"), d / "m.tflite"))
        >>> x = np.full((2, 16, 16, 3), 100.0, "float32")
        >>> bool(np.allclose(t(x), m.predict(x, verbose=0), atol=1e-5)), t.image_size
        (True, 16)
    """

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"No TFLite file at {self.path}")
        cls, self.runtime = interpreter_class()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
            self.interpreter = cls(model_path=str(self.path), num_threads=num_threads)
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
        >>> m = tiny_classifier(16); sm = export_saved_model(m, Path(tempfile.mkdtemp()) / "sm")
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


def size_on_disk(path: str | Path) -> int:
    """Bytes of a file, or of every file below a folder (a SavedModel).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "a").write_bytes(b"12345")
        >>> size_on_disk(d), size_on_disk(d / "a")
        (5, 5)
    """
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _manifest_problem(m: dict[str, Any] | None) -> str | None:
    """What is wrong with the shape of a manifest (keys and their types), or None."""
    if m is None:
        return "its manifest.json is damaged"
    files, names, seconds = m.get("files"), m.get("class_names"), m.get("seconds", {})
    if not (isinstance(files, dict) and files and all(
            k in EXPORT_FORMS and isinstance(v, str) for k, v in files.items())):
        return "its manifest.json lists no export files (damaged, or another format)"
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names)):
        return "its manifest.json has no list of class names (damaged, or another format)"
    if not (isinstance(m.get("image_size"), int) and m["image_size"] > 0 and
            isinstance(seconds, dict) and all(isinstance(v, int | float)
                                              for v in seconds.values())):
        return "its manifest.json has no image size (damaged, or another format)"
    return None


@dataclass
class Exported:
    """The folder :func:`export_all` wrote: a path per form, seconds per form, the manifest.

    ``Exported.open(folder)`` reads it back (class names, image size, profile label).
    """

    folder: Path
    paths: dict[str, Path]
    class_names: list[str]
    image_size: int
    label: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: str | Path) -> Exported:
        """Read an export folder through its ``manifest.json``.

        Example:
            >>> Exported.open("/no/such/folder")
            Traceback (most recent call last):
            ...
            FileNotFoundError: No manifest.json in /no/such/folder: ...
        """
        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"No {MANIFEST} in {folder}: export the model with "
                                    f"nbh.deploy.export_all(model, folder, class_names) first.")
        m = artifacts.read_json(manifest)
        damage = _manifest_problem(m)
        if damage is None:
            assert m is not None
            damage = artifacts.check_files({"files": m.get("checksums")}, folder,
                                           required=m["files"].values())
        if m is None or damage is not None:
            raise artifacts.ArtifactError(
                f"The export in {folder} cannot be used: "
                f"{'its manifest.json is damaged' if m is None else damage}. Export the model "
                "again (nbh.deploy.export_all(model, folder, class_names)).")
        return cls(folder=folder, paths={k: folder / v for k, v in m["files"].items()},
                   class_names=list(m["class_names"]), image_size=int(m["image_size"]),
                   label=m.get("label", ""), seconds={k: float(v) for k, v in m.get("seconds", {}).items()})

    def load(self, form: str) -> Any:
        """The model in this form (see :func:`load_form`)."""
        if form not in self.paths:
            raise KeyError(f"no {form!r} in {self.folder}; exported: {', '.join(self.paths)}")
        return load_form(form, self.paths[form])


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
        from . import models

        return models.load_saved_model(path)
    if form == "saved_model":
        return SavedModelRunner(path)
    return TFLiteModel(path)


def export_all(model: keras.Model, folder: str | Path, class_names: Sequence[str],
               cfg: Config | None = None, *, representative: np.ndarray | None = None,
               forms: Sequence[str] = tuple(EXPORT_FORMS)) -> Exported:
    """Write the model in every form of :data:`EXPORT_FORMS` into ``folder``, with a manifest.

    What is exported is :func:`inference_model` (no optimizer state).  The SavedModel is
    about twice the size of its weights: Keras' ``model.export()`` (3.13 to 3.15 at
    least) stores every variable twice (keras-team/keras#23553).  ``representative``: training images for the ``tflite_int8`` calibration (needed for
    that form; :func:`representative_sample`).  TFLite forms are converted from the
    SavedModel, which is therefore always written.  ``manifest.json`` records the file
    of each form, the class names (in training order), the image size, the profile's
    label and the seconds each form took.  Taught in ``12_using_your_model``.

    Example:
        >>> import tempfile
        >>> e = export_all(tiny_classifier(16), tempfile.mkdtemp(), ["a", "b"],
        ...                forms=["keras", "tflite_float32"])
        >>> sorted(e.paths), Exported.open(e.folder).class_names
        (['keras', 'saved_model', 'tflite_float32'], ['a', 'b'])
    """
    cfg = cfg or current()
    unknown = [f for f in forms if f not in EXPORT_FORMS]
    if unknown:
        raise ValueError(f"unknown forms {unknown}; choose from {', '.join(EXPORT_FORMS)}")
    wanted = [f for f in EXPORT_FORMS if f in forms or (f == "saved_model" and any(
        g in TFLITE_QUANTIZATION for g in forms))]
    if "tflite_int8" in wanted and representative is None:
        raise ValueError("tflite_int8 needs representative images: pass "
                         "representative=nbh.deploy.representative_sample(x_train, y_train)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # No manifest while the files change: an old one must never describe new files.
    (folder / MANIFEST).unlink(missing_ok=True)
    names = [str(c) for c in class_names]
    units = int(model.output_shape[-1])
    _check_names(np.zeros(2 if units == 1 else units), names)
    model = inference_model(model)
    paths: dict[str, Path] = {}
    seconds: dict[str, float] = {}
    steps = progress.bar(wanted, desc="export")
    for form in steps:
        if hasattr(steps, "set_postfix_str"):
            steps.set_postfix_str(form)
        target = folder / EXPORT_FORMS[form][0]
        t0 = time.perf_counter()
        if form == "keras":
            export_keras(model, target)
        elif form == "saved_model":
            export_saved_model(model, target)
        else:
            convert_tflite(paths["saved_model"], target, TFLITE_QUANTIZATION[form],
                           representative if form == "tflite_int8" else None)
        seconds[form] = time.perf_counter() - t0
        paths[form] = target
    size = int(model.input_shape[1])
    manifest = {"files": {k: p.name for k, p in paths.items()}, "class_names": names,
                "image_size": size, "profile": cfg.name, "label": cfg.label(),
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
                "checksums": artifacts.describe_files(paths.values())}
    artifacts.write_json(folder / MANIFEST, manifest, indent=1)  # last: it vouches for the files
    return Exported(folder, paths, names, size, cfg.label(), seconds)


# --------------------------------------------------------------------------- compare


def _single_image_fn(model: Any) -> Callable[[np.ndarray], Any]:
    """The fastest ordinary way to run one image through each form."""
    if hasattr(model, "predict_on_batch"):  # Keras: its compiled predict step
        return model.predict_on_batch
    return model


def latency_per_image(model: Any, images: np.ndarray, repeats: int = 1) -> float:
    """Median seconds for one image, one at a time (after one warm-up call).

    One image per call is how an app or a phone uses the model; batches are faster
    per image but make a user wait for others.

    Example:
        >>> latency_per_image(lambda x: x.sum(), np.zeros((3, 4, 4, 3), "float32")) >= 0
        True
    """
    fn = _single_image_fn(model)
    x = np.asarray(images, dtype="float32")
    fn(x[:1])  # warm-up: tracing, allocation
    times = []
    for _ in range(max(1, int(repeats))):
        for i in range(len(x)):
            t0 = time.perf_counter()
            np.asarray(fn(x[i:i + 1]))
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def compare_exports(model: keras.Model, exported: Exported, x: np.ndarray, y: np.ndarray, *,
                    latency_images: int = 16, repeats: int = 1,
                    forms: Sequence[str] | None = None) -> pd.DataFrame:
    """Size, latency, accuracy and agreement of every export form, measured in one run.

    ``model`` is the Keras model in memory (the reference); ``x, y`` a split (the test
    split: these are final numbers).  Per form: ``size_mb`` on disk, ``latency_ms`` per
    image (median over ``latency_images`` images, one at a time, on this machine),
    ``accuracy`` on ``(x, y)``, ``agreement`` (share of images whose top-1 answer is the
    Keras model's), ``max_prob_diff`` (largest change of a probability) and the ratios
    ``size_ratio`` and ``latency_ratio`` against the ``keras`` row (ratios from one run
    compare like with like; absolute times depend on the machine).
    Taught in ``12_using_your_model``.

    Example:
        >>> import tempfile
        >>> m = tiny_classifier(16); x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
        >>> e = export_all(m, tempfile.mkdtemp(), ["a", "b"], forms=["keras", "tflite_float32"])
        >>> t = compare_exports(m, e, x, np.array([0, 1, 0, 1]), latency_images=2)
        >>> t["form"].tolist(), t["agreement"].tolist()
        (['keras', 'saved_model', 'tflite_float32'], [1.0, 1.0, 1.0])
    """
    import pandas as pd

    from . import evaluate

    x = np.asarray(x, dtype="float32")
    y = np.asarray(y).astype(int).reshape(-1)
    reference = predict_function(model)(x)
    ref_labels = evaluate.predicted_labels(reference)
    forms = [f for f in (forms or exported.paths) if f in exported.paths]
    sample = x[: max(1, int(latency_images))]
    rows = []
    for form in progress.bar(forms, desc="compare exports"):
        loaded = exported.load(form)
        probs = predict_function(loaded)(x)
        labels = evaluate.predicted_labels(probs)
        runtime = getattr(loaded, "runtime", "tensorflow" if form == "saved_model" else "keras")
        rows.append({
            "form": form,
            "file": exported.paths[form].name,
            "size_mb": size_on_disk(exported.paths[form]) / 1e6,
            "latency_ms": 1e3 * latency_per_image(loaded, sample, repeats),
            "accuracy": float(np.mean(labels == y)),
            "agreement": float(np.mean(labels == ref_labels)),
            "max_prob_diff": float(np.abs(probs - reference).max()),
            "runtime": runtime,
        })
    table = pd.DataFrame(rows)
    base = table[table["form"] == "keras"]
    ref = base.iloc[0] if len(base) else table.iloc[0]
    table.insert(3, "size_ratio", table["size_mb"] / ref["size_mb"])
    table.insert(5, "latency_ratio", table["latency_ms"] / ref["latency_ms"])
    table.attrs.update(images=len(x), latency_images=len(sample), label=exported.label)
    return table


# --------------------------------------------------------------------------- a small model


def tiny_classifier(image_size: int = 32, num_classes: int = 2, seed: int = 0) -> keras.Model:
    """A small untrained CNN with the course's input convention, for examples and tests.

    Raw RGB in [0, 255] -> the ``Preprocess`` layer (VGG16's caffe preprocessing, as the
    course's models) -> two ``Conv2D`` (Grad-CAM's layer is the last) -> global average
    pooling -> ``predictions`` (one sigmoid unit for two classes, else a softmax).  It
    saves, exports and converts in about a second: the real models take minutes.

    Example:
        >>> m = tiny_classifier(16)
        >>> m.input_shape, m.output_shape, m.layers[1].name
        ((None, 16, 16, 3), (None, 1), 'preprocess')
    """
    import keras

    from . import models

    keras.utils.set_random_seed(seed)
    inp = keras.Input((image_size, image_size, 3), name="image")
    x = models.Preprocess("caffe", name="preprocess")(inp)
    x = keras.layers.Rescaling(1.0 / 64.0, name="scale")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(1 if num_classes == 2 else num_classes,
                             activation="sigmoid" if num_classes == 2 else "softmax",
                             name="predictions")(x)
    return keras.Model(inp, out, name="tiny_classifier")
