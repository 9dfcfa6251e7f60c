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
   figure is ``nbhelpers.plots.export_comparison``);
5. **"none of these"** -- an export may carry an out-of-distribution threshold
   (``export_all(..., ood=...)``, chosen on validation images): a photo whose score is
   below it is reported as unlike the training photos (``classify_file(..., ood=...)``,
   :attr:`Prediction.unlike`).  The score is the top class probability, or -- far
   better at telling photos of other kinds apart -- the similarity of the photo's
   features to the nearest training images' (``ood=nbh.ood.neighbour_record(...)``
   with ``ood_bank=``, kept as ``ood_bank.npy``);
6. **model card** -- :func:`model_card` writes what the model is, what it was trained
   on, how well it did and where it fails, as Markdown; :func:`write_model_card` (or
   ``export_all(..., card=...)``) puts it beside the model as ``MODEL_CARD.md``.

The TFLite converter is TensorFlow's (``tf.lite.TFLiteConverter.from_saved_model``: the
path Keras 3 itself uses since the ``from_keras_model`` route broke on TF 2.20 with
Python 3.13).  The interpreter is LiteRT's (``ai_edge_litert``, in the lock) when it can be
imported, else TensorFlow's deprecated ``tf.lite.Interpreter`` (Colab: TF 2.20 still has
it; Colab does not ship ``ai-edge-litert``): see :func:`interpreter_class`.
"""

from __future__ import annotations

import os
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
from .data import NotAnImageError, load_image_file
from .predictions import predict_function

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras
    import pandas as pd

__all__ = [
    "EXPORT_FORMS",
    "NotAnImageError",
    "Prediction",
    "unlike_sentence",
    "ood_setup",
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
    "usable_cpus",
    "SavedModelRunner",
    "TFLiteModel",
    "Exported",
    "export_all",
    "model_card",
    "write_model_card",
    "export_lock",
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
#: The model card's file name inside an export folder (:func:`write_model_card`).
MODEL_CARD = "MODEL_CARD.md"
#: The out-of-distribution scores an export can record: the top class probability (the
#: one score every form -- Keras, SavedModel, TFLite -- gives, as all output probabilities)
#: and the similarity to the training images' features (it needs the Keras model and the
#: export's ``ood_bank.npy``; it tells photos of other kinds apart far better).
OOD_SCORES = ("max_probability", "nearest_neighbour")
#: Each score in words, as a prediction, the app and the model card name it.
OOD_SCORE_WORDS = {"max_probability": "top probability",
                   "nearest_neighbour": "similarity to the training photos"}
#: The keys of an ``ood`` record (``export_all(..., ood=...)``), what each must be.
OOD_KEYS = {
    "score": "'max_probability' (the top class probability, nbh.evaluate.confidence) or "
             "'nearest_neighbour' (the similarity to the training images' features, "
             "nbh.ood.nearest_neighbour; it needs ood_bank=)",
    "threshold": "a number, in (0, 1] for max_probability and in [-1, 1] for "
                 "nearest_neighbour: photos whose score is below it are 'none of these'",
    "tpr": "a number in (0, 1]: the share of validation images whose score "
           "reaches or exceeds the threshold",
    "chosen_on": "'validation' (the test split is kept for the final numbers)",
    "n": "an int >= 1: how many validation images the threshold was chosen on",
    "k": "an int >= 1, at most the number of rows of ood_bank (nearest_neighbour only): "
         "how many nearest training images the similarity averages over",
    "layer": "a layer name (nearest_neighbour only): the layer whose input is the "
             "features, nbh.models.logits_layer(model) -- 'logits' for the course's "
             "classifiers",
}
#: The keys each score's record holds.
OOD_SCORE_KEYS = {"max_probability": ("score", "threshold", "tpr", "chosen_on", "n"),
                  "nearest_neighbour": ("score", "threshold", "tpr", "chosen_on", "n", "k",
                                        "layer")}
#: The file of the training images' features in an export folder (a nearest_neighbour record).
OOD_BANK = "ood_bank.npy"


def export_lock(folder: str | Path) -> Path:
    """The lock file that :func:`export_all` and :func:`write_model_card` hold on ``folder``.

    Beside the folder, not in it (nothing in an export folder is left unchecked), so that
    two kernels writing one export -- an export and a card, or two exports -- take turns
    instead of mixing their files and manifests (``artifacts.lock``: the second waits).

    Example:
        >>> export_lock("artifacts/export").name
        '.export.lock'
    """
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


# --------------------------------------------------------------------------- "none of these"


_OOD_EXAMPLE = {
    "max_probability": "ood={'score': 'max_probability', 'threshold': 0.71, 'tpr': 0.95, "
                       "'chosen_on': 'validation', 'n': 400} (nbh.ood.threshold_record)",
    "nearest_neighbour": "ood={'score': 'nearest_neighbour', 'threshold': 0.63, 'tpr': 0.95, "
                         "'chosen_on': 'validation', 'n': 400, 'k': 5, 'layer': 'logits'} "
                         "with ood_bank=bank (nbh.ood.neighbour_record(bank, features_val))",
}


def _ood_fix(key: str, score: str = "max_probability") -> str:
    example = _OOD_EXAMPLE.get(score, _OOD_EXAMPLE["max_probability"])
    return f"ood[{key!r}] must be {OOD_KEYS[key]}; e.g. {example}"


def _check_ood(ood: Any) -> dict[str, Any]:
    """``ood`` checked and as JSON keeps it (plain floats, ints), or a ValueError naming the key."""
    import numbers

    if not isinstance(ood, dict):
        raise ValueError(f"ood must be a dict with the keys {', '.join(OOD_SCORE_KEYS['max_probability'])}"
                         f" (and 'k', 'layer' for a nearest_neighbour record), got "
                         f"{type(ood).__name__}. {_ood_fix('threshold')}")
    if "score" not in ood:
        raise ValueError(f"ood has no 'score' key: {_ood_fix('score')}")
    score = ood["score"]
    if not isinstance(score, str) or score not in OOD_SCORES:
        raise ValueError(f"ood['score'] is {score!r}: only 'max_probability' (the top class "
                         f"probability, which every export form gives) and 'nearest_neighbour' "
                         f"(the similarity to the training images' features) are accepted. "
                         f"{_ood_fix('score')}")
    keys = OOD_SCORE_KEYS[score]
    missing = [k for k in keys if k not in ood]
    if missing:
        raise ValueError(f"ood has no {missing[0]!r} key: {_ood_fix(missing[0], score)}")
    unknown = sorted(str(k) for k in ood if k not in keys)
    if unknown:
        raise ValueError(f"ood has an unknown key {unknown[0]!r}: a {score} record holds only "
                         f"{', '.join(keys)} (measured rates such as AUROC go to "
                         f"model_card(ood_rates=...)).")
    out: dict[str, Any] = {"score": score}
    low = -1.0 if score == "nearest_neighbour" else 0.0
    for key in ("threshold", "tpr"):
        v = ood[key]
        lo = low if key == "threshold" else 0.0
        ok = not isinstance(v, bool) and isinstance(v, numbers.Real) and (
            lo <= float(v) <= 1.0 if lo < 0 else lo < float(v) <= 1.0)
        if not ok:
            raise ValueError(f"ood[{key!r}] is {v!r}: {_ood_fix(key, score)}")
        out[key] = float(v)
    if ood["chosen_on"] != "validation":
        raise ValueError(f"ood['chosen_on'] is {ood['chosen_on']!r}: choose the threshold on "
                         f"validation images and say so. {_ood_fix('chosen_on', score)}")
    out["chosen_on"] = "validation"
    for key in ("n", "k") if score == "nearest_neighbour" else ("n",):
        v = ood[key]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < 1:
            raise ValueError(f"ood[{key!r}] is {v!r}: {_ood_fix(key, score)}")
        out[key] = int(v)
    if score == "nearest_neighbour":
        layer = ood["layer"]
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"ood['layer'] is {layer!r}: {_ood_fix('layer', score)}")
        out["layer"] = layer
    return out


def _check_bank(bank: Any, ood: dict[str, Any] | None, normalise: bool = True) -> np.ndarray | None:
    """``ood_bank`` for a checked ``ood`` record as float32 unit rows, or a ValueError naming it.

    A nearest_neighbour record needs a bank (2-D, at least ``k`` rows); any other needs
    none.  ``normalise=False``: only the checks (the bank comes back as given).
    """
    from . import ood as ood_mod

    score = None if ood is None else ood["score"]
    if score != "nearest_neighbour":
        if bank is not None:
            record = ("there is no ood record" if ood is None
                      else f"the ood record's score is {score!r}")
            raise ValueError(f"ood_bank is given but {record}: the bank (the training images' "
                             "features) belongs to a 'nearest_neighbour' record "
                             "(nbh.ood.neighbour_record); pass that record as ood=, or leave "
                             "ood_bank out.")
        return None
    if bank is None:
        raise ValueError("ood['score'] is 'nearest_neighbour' but no ood_bank was given: pass "
                         "ood_bank=<the training images' features> (nbh.ood.feature_bank(features), "
                         "the bank nbh.ood.neighbour_record chose the threshold with; an export's "
                         "is Exported.open(folder).ood_bank).")
    try:
        raw = np.asarray(bank)
    except (TypeError, ValueError) as err:
        raise ValueError(f"ood_bank must be a 2-D array of features (images x channels): {err}") from err
    if raw.ndim != 2 or not len(raw) or not raw.shape[1] or not (
            np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer)):
        raise ValueError(f"ood_bank must be a 2-D array of numbers, one row of features per "
                         f"training image (nbh.ood.feature_bank(features)); got shape "
                         f"{raw.shape}, dtype {raw.dtype}.")
    if not np.isfinite(raw).all():
        raise ValueError("ood_bank holds NaN or infinite values: compute the training images' "
                         "features again (nbh.ood.feature_bank).")
    if ood["k"] > len(raw):
        raise ValueError(f"ood['k'] is {ood['k']} but ood_bank has only {len(raw)} rows: "
                         f"{_ood_fix('k', 'nearest_neighbour')}")
    return ood_mod.feature_bank(raw) if normalise else raw


_EXTRACTORS: Any = None  # weakref.WeakKeyDictionary: Keras model -> {layer: feature extractor}
_EXTRACTORS_LOCK = threading.Lock()


def _feature_extractor(model: Any, layer: str) -> Any:
    """``nbh.ood.feature_extractor(model, layer)``, built once per model and layer.

    A layer the model lacks raises a ValueError naming ``ood['layer']``.
    """
    import weakref

    from . import ood as ood_mod

    global _EXTRACTORS
    with _EXTRACTORS_LOCK:
        if _EXTRACTORS is None:
            _EXTRACTORS = weakref.WeakKeyDictionary()
        per_model = _EXTRACTORS.setdefault(model, {})
        if layer not in per_model:
            names = [x.name for x in getattr(model, "layers", [])]
            if layer not in names:
                raise ValueError(
                    f"ood['layer'] is {layer!r} but the model {getattr(model, 'name', '')!r} has "
                    f"no layer of that name (its last layers: {', '.join(names[-4:])}): "
                    f"{_ood_fix('layer', 'nearest_neighbour')}")
            try:
                per_model[layer] = ood_mod.feature_extractor(model, layer)
            except (ValueError, TypeError, AttributeError) as err:
                raise ValueError(f"ood['layer'] is {layer!r}: no features can be read at that "
                                 f"layer's input ({err}). {_ood_fix('layer', 'nearest_neighbour')}"
                                 ) from err
        return per_model[layer]


def _bank_width_problem(bank: np.ndarray, extractor: Any, layer: str) -> str | None:
    """Why ``bank`` does not fit the features ``extractor`` gives, or None."""
    width = int(extractor.output_shape[-1])
    if bank.shape[1] == width:
        return None
    return (f"ood_bank has {bank.shape[1]} features per image but the model gives {width} at "
            f"the input of layer {layer!r} (ood['layer']): the bank was made with another "
            f"model or layer. Make it from this model's features (nbh.ood.feature_bank("
            f"nbh.ood.feature_extractor(model, {layer!r}).predict(x_train))) and choose the "
            f"threshold again (nbh.ood.neighbour_record).")


def _ood_comparison(name: str | None, score: float | None, threshold: float | None,
                    space: bool = True) -> str:
    """``score < threshold`` in words: ``'top probability 53.1 % < threshold 71.0 %'``, or
    ``'similarity to the training photos 0.41 < threshold 0.63'``.

    With as many decimals as it takes for the two numbers to differ as written (and a
    threshold below 1 not to read as 1); ``space=False`` writes ``53.1%`` (the app).
    """
    name = name or "max_probability"
    words = OOD_SCORE_WORDS.get(name, name)
    if score is None or threshold is None:
        return f"{words} ? < threshold ?"
    s, t = float(score), float(threshold)
    percent = name == "max_probability"
    scale = 100.0 if percent else 1.0
    for digits in (1, 2, 3, 4) if percent else (2, 3, 4, 5, 6):
        a, b = float(f"{s * scale:.{digits}f}"), float(f"{t * scale:.{digits}f}")
        if a < b and (b < scale or t >= 1.0):
            break

    def text(x: float) -> str:
        return f"{x:.{digits}%}".replace("%", " %" if space else "%") if percent else f"{x:.{digits}f}"

    return f"{words} {text(s)} < threshold {text(t)}"


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
    With an out-of-distribution threshold (``classify_file(..., ood=...)``):
    ``ood_score_name`` is the record's score (``"max_probability"`` or
    ``"nearest_neighbour"``), ``ood_score`` its value for this photo (the top class
    probability, or the similarity to the training photos), ``ood_threshold`` the
    threshold, and ``unlike`` is True when the score is below it -- "none of these":
    the photo is unlike the training photos.  The probabilities are never changed.

    Example:
        >>> p = Prediction(None, np.zeros((2, 2, 3), "float32"), np.array([0.2, 0.8]), ["cat", "dog"])
        >>> p.label, round(p.confidence, 2), str(p)
        ('dog', 0.8, 'dog 80.0 % (cat 20.0 %)')
        >>> q = Prediction(None, p.image, np.array([0.469, 0.531]), ["cat", "dog"],
        ...                unlike=True, ood_score=0.531, ood_threshold=0.71)
        >>> print(q)
        none of these: this photo is unlike the training photos (top probability 53.1 % < threshold 71.0 %); closest: dog 53.1 % (cat 46.9 %)
        >>> r = Prediction(None, p.image, np.array([0.2, 0.8]), ["cat", "dog"], unlike=True,
        ...                ood_score=0.41, ood_threshold=0.63, ood_score_name="nearest_neighbour")
        >>> print(r)
        none of these: this photo is unlike the training photos (similarity to the training photos 0.41 < threshold 0.63); closest: dog 80.0 % (cat 20.0 %)
    """

    path: Path | None
    image: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]
    explanation: Any = None
    unlike: bool = False
    ood_score: float | None = None
    ood_threshold: float | None = None
    ood_score_name: str | None = None

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
        classes = f"{head} ({rest})" if rest else head
        if not self.unlike:
            return classes
        return f"{_unlike_sentence(self, 'none of these')}; closest: {classes}"


def _percent(x: float | None) -> str:
    """``0.531 -> '53.1 %'`` (the course writes a space before %)."""
    return "?" if x is None else f"{float(x):.1%}".replace("%", " %")


def _unlike_sentence(prediction: Prediction, lead: str, space: bool = True) -> str:
    """``<lead>: this photo is unlike the training photos (<score> X < threshold Y)``."""
    why = _ood_comparison(prediction.ood_score_name, prediction.ood_score,
                          prediction.ood_threshold, space)
    return f"{lead}: this photo is unlike the training photos ({why})"


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


def unlike_sentence(prediction: Prediction, lead: str = "none of these", space: bool = True) -> str:
    """``<lead>: this photo is unlike the training photos (<score> X < threshold Y)``.

    What ``str(prediction)`` and the app say for a photo below the export's threshold.
    Reached through :func:`classify_file` and the app, which notebook 12 uses.

    Example:
        >>> p = Prediction(None, np.zeros((1, 1, 3)), np.array([0.45, 0.55]), ["cat", "dog"],
        ...                unlike=True, ood_score=0.41, ood_threshold=0.63,
        ...                ood_score_name="nearest_neighbour")
        >>> unlike_sentence(p)
        'none of these: this photo is unlike the training photos (similarity to the training photos 0.41 < threshold 0.63)'
    """
    return _unlike_sentence(prediction, lead, space)


def ood_setup(model: Any, ood: dict[str, Any] | None, ood_bank: Any = None, *,
              gradcam_model: Any = None, feature_model: Any = None
              ) -> tuple[dict[str, Any] | None, np.ndarray | None, Any]:
    """Check an ``ood`` record and its bank once, and build what scoring a photo needs.

    Returns ``(ood, bank, feature_model)``: the checked record (None without one), the
    bank as float32 unit rows (None unless the score is ``"nearest_neighbour"``) and,
    for that score, the Keras feature extractor (``model`` or ``gradcam_model`` must be
    the Keras model, or pass ``feature_model``); a record, bank or model that does not
    fit raises a ValueError that names it.  What the app's ``Classifier`` calls once, so
    an upload only runs the model.  Reached through the app, which notebook 12 uses.

    Example:
        >>> ood_setup(tiny_classifier(16), None)
        (None, None, None)
    """
    ood = None if ood is None else _check_ood(ood)
    bank = _check_bank(ood_bank, ood)
    if ood is None or ood["score"] != "nearest_neighbour":
        return ood, bank, feature_model
    assert bank is not None
    if feature_model is None:
        feature_model = _feature_extractor(_keras_model_for_features(model, gradcam_model),
                                           ood["layer"])
    if hasattr(feature_model, "output_shape"):
        problem = _bank_width_problem(bank, feature_model, ood["layer"])
        if problem:
            raise ValueError(problem)
    return ood, bank, feature_model


def _keras_model_for_features(model: Any, gradcam_model: Any) -> Any:
    """The Keras model whose features a nearest_neighbour score reads, or a ValueError."""
    for candidate in (model, gradcam_model):
        if candidate is not None and hasattr(candidate, "get_layer") and hasattr(candidate, "layers"):
            return candidate
    raise ValueError("ood['score'] is 'nearest_neighbour': it reads the photo's features, which "
                     "only the Keras model gives. Pass gradcam_model=<the .keras model> (e.g. "
                     "Exported.open(folder).load('keras')) or feature_model="
                     "nbh.ood.feature_extractor(keras_model, ood['layer']) when classifying "
                     "with a TFLite or SavedModel form.")


def _ood_features(extractor: Any, img: np.ndarray) -> np.ndarray:
    """The pooled features ``(1, C)`` of one image ``(S, S, 3)``."""
    import keras

    from . import models
    from . import ood as ood_mod

    x = np.asarray(img, dtype="float32")[None]
    out = models.forward(extractor)(x) if isinstance(extractor, keras.Model) else \
        extractor(x, training=False)
    return ood_mod.pooled(np.asarray(out))


def _ood_score(checked: dict[str, Any], probs: np.ndarray, img: np.ndarray, model: Any,
               gradcam_model: Any, bank: np.ndarray | None, feature_model: Any) -> float:
    """The photo's score under a checked ``ood`` record (higher = more like the training photos)."""
    from . import evaluate
    from . import ood as ood_mod

    if checked["score"] == "max_probability":
        return float(evaluate.confidence(np.asarray(probs)[None])[0])
    assert bank is not None
    extractor = feature_model if feature_model is not None else _feature_extractor(
        _keras_model_for_features(model, gradcam_model), checked["layer"])
    if hasattr(extractor, "output_shape"):
        problem = _bank_width_problem(bank, extractor, checked["layer"])
        if problem:
            raise ValueError(problem)
    features = _ood_features(extractor, img)
    if features.shape[1] != bank.shape[1]:
        raise ValueError(f"ood_bank has {bank.shape[1]} features per image but feature_model "
                         f"gives {features.shape[1]}: build it with nbh.ood.feature_extractor("
                         f"keras_model, ood['layer']) of the model the bank was made with.")
    return float(ood_mod.nearest_neighbour(bank, features, checked["k"])[0])


def classify_image(model: Any, image: np.ndarray, class_names: Sequence[str], *,
                   gradcam: bool = False, gradcam_model: keras.Model | None = None,
                   path: Path | None = None, ood: dict[str, Any] | None = None,
                   ood_bank: np.ndarray | None = None, feature_model: Any = None) -> Prediction:
    """Classify one image array ``(S, S, 3)`` in [0, 255]; see :func:`classify_file`.

    ``ood``: an export's out-of-distribution record (``Exported.open(folder).ood``);
    when given, the prediction's ``unlike`` says whether the photo's score is below
    ``ood["threshold"]``.  The score is the record's ``"score"``: the top class
    probability (``nbh.evaluate.confidence``), or, for ``"nearest_neighbour"``, the
    mean cosine similarity of the image's features to its ``ood["k"]`` nearest rows
    of ``ood_bank`` (``Exported.ood_bank``; ``nbh.ood.nearest_neighbour``).  Those
    features come from the Keras model (``model`` itself, else ``gradcam_model``):
    the pooled input of layer ``ood["layer"]`` (``nbh.ood.feature_extractor``, built
    once per model), or from ``feature_model`` when given (such an extractor).
    Callers read ``label``, ``probabilities``, ``unlike`` and ``str(prediction)``.
    Reached through :func:`classify_file`, which notebook 12 calls.

    Example:
        >>> m = tiny_classifier(16)
        >>> classify_image(m, np.full((16, 16, 3), 128.0, "float32"), ["a", "b"]).label in ("a", "b")
        True
        >>> ood = {"score": "max_probability", "threshold": 0.99, "tpr": 0.95,
        ...        "chosen_on": "validation", "n": 40}
        >>> p = classify_image(m, np.full((16, 16, 3), 128.0, "float32"), ["a", "b"], ood=ood)
        >>> p.unlike, str(p).startswith("none of these: this photo is unlike the training photos")
        (True, True)
        >>> from nbhelpers import ood as nbh_ood
        >>> greys = np.stack([np.full((16, 16, 3), g, "float32") for g in (64, 128, 192)])
        >>> bank = nbh_ood.feature_bank(nbh_ood.feature_extractor(m).predict(greys, verbose=0))
        >>> near = {"score": "nearest_neighbour", "threshold": 0.9, "tpr": 0.95,
        ...         "chosen_on": "validation", "n": 3, "k": 1, "layer": "predictions"}
        >>> q = classify_image(m, greys[1], ["a", "b"], ood=near, ood_bank=bank)
        >>> q.unlike, round(q.ood_score, 3)
        (False, 1.0)
    """
    checked = None if ood is None else _check_ood(ood)
    bank = _check_bank(ood_bank, checked)
    img = np.asarray(image, dtype="float32")
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected one RGB image (H, W, 3), got shape {img.shape}")
    probs = predict_function(model)(img[None])[0]
    names = _check_names(probs, class_names)
    pred = Prediction(path, img, probs, names)
    if checked is not None:
        pred.ood_score = _ood_score(checked, probs, img, model, gradcam_model, bank, feature_model)
        pred.ood_threshold = checked["threshold"]
        pred.ood_score_name = checked["score"]
        pred.unlike = pred.ood_score < pred.ood_threshold
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
                  gradcam_model: keras.Model | None = None,
                  ood: dict[str, Any] | None = None, ood_bank: np.ndarray | None = None,
                  feature_model: Any = None) -> Prediction:
    """Classify one photo file with any form of the model: top classes and probabilities.

    The file is read as training read its images (:func:`load_image_file`) at the
    model's input size.  ``gradcam=True`` adds a Grad-CAM explanation of the predicted
    class (``nbh.explain.explain_gradcam``; it needs the Keras model: ``model`` itself,
    or ``gradcam_model`` when ``model`` is a TFLite/SavedModel form).  ``ood`` (the
    export's ``Exported.ood``): a score below ``ood["threshold"]`` sets
    ``prediction.unlike`` -- "none of these" (see :func:`classify_image`).  For a
    ``"nearest_neighbour"`` record pass the export's ``ood_bank`` too; its features
    need the Keras model (``model``, else ``gradcam_model``, or a prebuilt
    ``feature_model``).  Taught in ``12_using_your_model``.

    Example:
        >>> from nbhelpers import data
        >>> p = classify_file(tiny_classifier(16), data.write_faces() / "face" / "face_000.png",
        ...                   ["face", "non_face"])
        >>> p.image.shape, round(float(p.probabilities.sum()), 4)
        ((16, 16, 3), 1.0)
    """
    if ood is not None or ood_bank is not None:
        # before the file is read: a bad record is the caller's mistake
        checked = None if ood is None else _check_ood(ood)
        _check_bank(ood_bank, checked, normalise=False)
        if checked is not None and checked["score"] == "nearest_neighbour" and feature_model is None:
            _keras_model_for_features(model, gradcam_model)
    image = load_image_file(path, _image_size(model, cfg), cfg)
    return classify_image(model, image, class_names, gradcam=gradcam,
                          gradcam_model=gradcam_model, path=Path(path), ood=ood,
                          ood_bank=ood_bank, feature_model=feature_model)


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
    passes, not their sum.  ``table.attrs["single_pass"]`` keeps the single pass's
    probabilities, ``(N, C)`` as :func:`predict_function` gives them, for a comparison
    of your own without running the model again.
    Taught in ``12_using_your_model``.

    Example:
        >>> m, x = tiny_classifier(16), np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
        >>> t = tta_comparison(m, x, np.array([0, 1, 0, 1]), views=(1, 2))
        >>> t["views"].tolist(), float(t["time_ratio"].iloc[0]), t.attrs["single_pass"].shape
        ([1, 2], 1.0, (4, 2))
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
        if single is None:  # k = 1 comes first: views always include the single pass
            single = (pred, seconds, p)
        ll = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], evaluate.EPS, 1.0))))
        rows.append({"method": "single pass" if k == 1 else f"TTA, {k} views", "views": k,
                     "accuracy": float(np.mean(pred == y)), "log_loss": ll,
                     "changed": int(np.sum(pred != single[0])), "seconds": seconds,
                     "time_ratio": seconds / max(single[1], 1e-9)})
    table = pd.DataFrame(rows)
    table.attrs["single_pass"] = single[2]
    return table


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
    runs one thread, which made the float32 file about 1.5x slower than Keras on two cores
    and every latency ratio compare one core with all of them.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); m = tiny_classifier(16)
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
    ood = None
    if m.get("ood") is not None:
        try:
            ood = _check_ood(m["ood"])
        except ValueError as err:
            return f"its manifest.json has a damaged out-of-distribution record ({err})"
    card, bank, checksums = m.get("card"), m.get("ood_bank"), m.get("checksums")

    def listed(name: Any) -> bool:  # a plain file name with a checksum, not a model form
        return (isinstance(name, str) and name == Path(name).name and bool(name)
                and isinstance(checksums, dict) and name in checksums
                and name not in files.values())

    if card is not None and not listed(card):
        return "its manifest.json names a model card it has no checksum for (damaged)"
    needs_bank = ood is not None and ood["score"] == "nearest_neighbour"
    if bank is not None and not needs_bank:
        return ("its manifest.json names an ood_bank but has no nearest_neighbour record "
                "for it (damaged)")
    if needs_bank and not (listed(bank) and bank != card):
        return ("its manifest.json has a nearest_neighbour record but no ood_bank file with "
                "a checksum (damaged)")
    return None


def _save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` into an open file: the name stays exactly ``path`` (no ``.npy`` added)."""
    with open(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _load_bank(folder: Path, name: str, entry: Any, ood: dict[str, Any]) -> np.ndarray:
    """The export's ``ood_bank.npy``, checked against its checksum, or an ArtifactError."""
    bank: Any = None
    problem = artifacts.check_files({"files": {name: entry}}, folder)
    if problem is None:
        try:
            bank = np.load(folder / name, allow_pickle=False)
        except (OSError, ValueError) as err:
            problem = f"{name} cannot be read ({err})"
    if problem is None and not (isinstance(bank, np.ndarray) and bank.ndim == 2
                                and bank.dtype == np.float32 and len(bank) >= ood["k"]):
        problem = (f"{name} holds {getattr(bank, 'shape', '?')} {getattr(bank, 'dtype', '')}, not "
                   f"float32 features (images x channels) with at least k={ood['k']} rows")
    if problem is not None:
        raise artifacts.ArtifactError(
            f"The out-of-distribution bank of the export in {folder} cannot be used: {problem}. "
            f"Export the model again with its bank (nbh.deploy.export_all(model, folder, "
            f"class_names, ood=record, ood_bank=bank); nbh.ood.neighbour_record), or copy the "
            f"whole export folder again.")
    return bank


@dataclass
class Exported:
    """The folder :func:`export_all` wrote: a path per form, seconds per form, the manifest.

    ``Exported.open(folder)`` reads it back (class names, image size, profile label,
    the out-of-distribution record ``ood``, the model card's ``card_path`` and, for a
    ``"nearest_neighbour"`` record, ``ood_bank``: the training images' features as
    float32 unit rows, from ``ood_bank.npy``; each None when the export has none).
    Reached through :func:`export_all`, which notebook 12 calls, and the app.
    """

    folder: Path
    paths: dict[str, Path]
    class_names: list[str]
    image_size: int
    label: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    ood: dict[str, Any] | None = None
    card_path: Path | None = None
    ood_bank: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(cls, folder: str | Path) -> Exported:
        """Read an export folder through its ``manifest.json``.

        Every model file must be the one the manifest describes (size and SHA-256).
        The model card (``MODEL_CARD.md``) is checked the same way when the manifest
        lists it and it is there: a changed card raises; a deleted one gives
        ``card_path=None`` (the model still works without its description).  The
        bank of a ``"nearest_neighbour"`` record (``ood_bank.npy``) is checked too and
        loaded: changed or missing, it raises (the record cannot work without it).  A
        manifest written before ``ood`` and the card existed opens with both None.

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
        card = bank_name = None
        if damage is None:
            assert m is not None
            card, bank_name = m.get("card"), m.get("ood_bank")
            checksums = m.get("checksums")
            if isinstance(checksums, dict):  # the card and the bank are checked on their own
                checksums = {k: v for k, v in checksums.items() if k not in (card, bank_name)}
            damage = artifacts.check_files({"files": checksums}, folder,
                                           required=m["files"].values())
        if m is None or damage is not None:
            raise artifacts.ArtifactError(
                f"The export in {folder} cannot be used: "
                f"{'its manifest.json is damaged' if m is None else damage}. Export the model "
                "again (nbh.deploy.export_all(model, folder, class_names)).")
        card_path = None
        if card is not None and (folder / card).exists():
            problem = artifacts.check_files({"files": {card: m["checksums"][card]}}, folder)
            if problem is not None:
                raise artifacts.ArtifactError(
                    f"The model card of the export in {folder} cannot be trusted: {problem}. "
                    f"Write it again (nbh.deploy.write_model_card(folder, text)), or delete "
                    f"{card} to use the model without its card.")
            card_path = folder / card
        ood = None if m.get("ood") is None else _check_ood(m["ood"])
        bank = None
        if bank_name is not None:
            assert ood is not None
            bank = _load_bank(folder, bank_name, m["checksums"][bank_name], ood)
        return cls(folder=folder, paths={k: folder / v for k, v in m["files"].items()},
                   class_names=list(m["class_names"]), image_size=int(m["image_size"]),
                   label=m.get("label", ""), seconds={k: float(v) for k, v in m.get("seconds", {}).items()},
                   ood=ood, card_path=card_path, ood_bank=bank)

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
               forms: Sequence[str] = tuple(EXPORT_FORMS), ood: dict[str, Any] | None = None,
               ood_bank: np.ndarray | None = None, card: str | None = None) -> Exported:
    """Write the model in every form of :data:`EXPORT_FORMS` into ``folder``, with a manifest.

    What is exported is :func:`inference_model` (no optimizer state).  The SavedModel is
    about twice the size of its weights: Keras' ``model.export()`` (3.13 to 3.15 at
    least) stores every variable twice (keras-team/keras#23553).  ``representative``: training images for the ``tflite_int8`` calibration (needed for
    that form; :func:`representative_sample`).  TFLite forms are converted from the
    SavedModel, which is therefore always written.  ``manifest.json`` records the file
    of each form, the class names (in training order), the image size, the profile's
    label, the seconds each form took and the SHA-256 of every file.

    ``ood``: the out-of-distribution threshold chosen on validation images,
    ``{"score": "max_probability", "threshold": t, "tpr": share, "chosen_on":
    "validation", "n": images}`` -- ``t`` is the top class probability that a share
    ``tpr`` of the validation images reach or exceed; a photo below it is "none of
    these" (:func:`classify_file`).  Recorded under ``"ood"``.  Or
    ``nbh.ood.neighbour_record(bank, features_val)``: ``{"score": "nearest_neighbour",
    ..., "k": k, "layer": name}`` with ``ood_bank=bank`` (the training images'
    features, ``(N, C)``): a photo is then scored by the mean cosine similarity of its
    features (the pooled input of layer ``layer`` of the Keras model) to its ``k``
    nearest rows of the bank, and ``t`` is in [-1, 1].  The bank must have the width
    those features have and at least ``k`` rows; it is stored as float32 unit rows
    (``nbh.ood.feature_bank``) in ``ood_bank.npy``, named under ``"ood_bank"`` and
    checksummed (the ``keras`` form must be exported: the features need it).
    ``card``: Markdown text (:func:`model_card`) written as ``MODEL_CARD.md``, named
    under ``"card"`` and checksummed like the model files.  An older card or bank in the
    folder is removed (it described another model).  Callers read ``paths``,
    ``class_names``, ``ood``, ``ood_bank`` and ``card_path`` of the returned
    :class:`Exported`.  Taught in ``12_using_your_model``.

    Example:
        >>> import tempfile
        >>> e = export_all(tiny_classifier(16), tempfile.mkdtemp(), ["a", "b"],
        ...                forms=["keras", "tflite_float32"])
        >>> sorted(e.paths), Exported.open(e.folder).class_names
        (['keras', 'saved_model', 'tflite_float32'], ['a', 'b'])
        >>> ood = {"score": "max_probability", "threshold": 0.71, "tpr": 0.95,
        ...        "chosen_on": "validation", "n": 40}
        >>> e = export_all(tiny_classifier(16), tempfile.mkdtemp(), ["a", "b"], forms=["keras"],
        ...                ood=ood, card="# Model card: a or b")
        >>> again = Exported.open(e.folder)
        >>> again.ood["threshold"], again.card_path.name
        (0.71, 'MODEL_CARD.md')
        >>> from nbhelpers import ood as nbh_ood
        >>> m = tiny_classifier(16)
        >>> greys = np.stack([np.full((16, 16, 3), g, "float32") for g in (64, 128, 192)])
        >>> features = nbh_ood.feature_extractor(m).predict(greys, verbose=0)
        >>> record = nbh_ood.neighbour_record(features, features, k=1, layer="predictions")
        >>> e = export_all(m, tempfile.mkdtemp(), ["a", "b"], forms=["keras"], ood=record,
        ...                ood_bank=features)
        >>> again = Exported.open(e.folder)
        >>> again.ood["score"], again.ood_bank.shape, again.ood_bank.dtype.name
        ('nearest_neighbour', (3, 8), 'float32')
    """
    cfg = cfg or current()
    unknown = [f for f in forms if f not in EXPORT_FORMS]
    if unknown:
        raise ValueError(f"unknown forms {unknown}; choose from {', '.join(EXPORT_FORMS)}")
    ood = None if ood is None else _check_ood(ood)
    bank = _check_bank(ood_bank, ood)
    if bank is not None:
        assert ood is not None
        if "keras" not in forms:
            raise ValueError("ood['score'] is 'nearest_neighbour': the photo's features come "
                             "from the Keras model, so the export needs it: add 'keras' to forms.")
        problem = _bank_width_problem(bank, _feature_extractor(model, ood["layer"]), ood["layer"])
        if problem:
            raise ValueError(problem)
    if card is not None and not isinstance(card, str):
        raise TypeError(f"card must be the model card's Markdown text (nbh.deploy.model_card(...)), "
                        f"got {type(card).__name__}")
    wanted = [f for f in EXPORT_FORMS if f in forms or (f == "saved_model" and any(
        g in TFLITE_QUANTIZATION for g in forms))]
    if "tflite_int8" in wanted and representative is None:
        raise ValueError("tflite_int8 needs representative images: pass "
                         "representative=nbh.deploy.representative_sample(x_train, y_train)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with artifacts.lock(export_lock(folder), what=f"export_all into {folder}"):  # one writer
        return _write_export(folder, model, class_names, cfg, wanted, representative, ood, bank,
                             card)


def _write_export(folder: Path, model: keras.Model, class_names: Sequence[str], cfg: Config,
                  wanted: list[str], representative: np.ndarray | None,
                  ood: dict[str, Any] | None, bank: np.ndarray | None,
                  card: str | None) -> Exported:
    """:func:`export_all`'s writing, under the export's lock."""
    # No manifest while the files change: an old one must never describe new files;
    # nor an old card (it describes the model that was there).
    (folder / MANIFEST).unlink(missing_ok=True)
    (folder / MODEL_CARD).unlink(missing_ok=True)
    (folder / OOD_BANK).unlink(missing_ok=True)
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
    card_path = None if card is None else artifacts.write_bytes(folder / MODEL_CARD, card)
    bank_path = None if bank is None else artifacts.write_with(
        folder / OOD_BANK, lambda tmp: _save_npy(tmp, bank))  # whole or not at all
    extras = [p for p in (card_path, bank_path) if p is not None]
    manifest: dict[str, Any] = {
        "files": {k: p.name for k, p in paths.items()}, "class_names": names,
        "image_size": size, "profile": cfg.name, "label": cfg.label(),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "checksums": artifacts.describe_files([*paths.values(), *extras])}
    if ood is not None:
        manifest["ood"] = ood
    if bank_path is not None:
        manifest["ood_bank"] = OOD_BANK
    if card_path is not None:
        manifest["card"] = MODEL_CARD
    artifacts.write_json(folder / MANIFEST, manifest, indent=1)  # last: it vouches for the files
    return Exported(folder, paths, names, size, cfg.label(), seconds, ood, card_path, bank)


# --------------------------------------------------------------------------- model card

#: The sections of :func:`model_card`, in order (each says "not recorded" when it has no data).
CARD_SECTIONS = ("Data", "Training", "Test metrics", "Calibration",
                 "Out-of-distribution threshold", "Checks in this run", "Known limits")
NOT_RECORDED = "not recorded"


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: int = 0) -> list[str]:
    """A Markdown table; the last ``numeric`` columns are right-aligned."""
    align = ["---"] * (len(headers) - numeric) + ["---:"] * numeric
    return ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(_cell(v) for v in row) + " |" for row in rows)]


def _measure(value: Any) -> str:
    """A metric: ``0.912``, or with its interval ``0.912 (95 % CI 0.880 to 0.940)``."""
    import numbers

    if value is None:
        return NOT_RECORDED
    if all(hasattr(value, k) for k in ("value", "low", "high")):
        level = getattr(value, "confidence", 0.95)
        return (f"{_measure(value.value)} ({round(100 * float(level))} % CI "
                f"{_measure(value.low)} to {_measure(value.high)})")
    if isinstance(value, bool) or isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        return f"{float(value):.3f}"
    return str(value)


def _setting(value: Any) -> str:
    """A recipe value as written: numbers with up to 4 significant digits (``1e-05``)."""
    import numbers

    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        return f"{float(value):.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_setting(v) for v in value)
    return str(value)


def _split_counts(counts: Any) -> dict[str, dict[str, int]]:
    """``{split: {class: n, ..., "total": n}}`` from ``Prepared.sizes()`` or a mapping."""
    if hasattr(counts, "iterrows"):  # a DataFrame: rows splits, columns classes (+ total)
        raw = {str(i): {str(c): v for c, v in row.items()} for i, row in counts.iterrows()}
    else:
        raw = {str(k): {str(c): n for c, n in dict(v).items()} for k, v in dict(counts).items()}
    out = {}
    for split, row in raw.items():
        row = {c: int(n) for c, n in row.items()}
        if "total" not in row:
            row["total"] = sum(row.values())
        out[split] = row
    return out


def _rate_name(key: str, rates: dict[str, Any]) -> str:
    """A row name for a measured rate (``nbh.ood.detection_rates``' keys in words)."""
    tpr = rates.get("tpr")
    at = f"{_percent(tpr)} true positives" if isinstance(tpr, int | float) else "the threshold"
    return {"auroc": "AUROC (in- vs out-of-distribution photos)",
            "fpr_at_tpr": f"false-positive rate at {at}",
            "tpr": "true-positive rate (in-distribution photos that pass)",
            "threshold": "threshold where measured"}.get(key, str(key))


def _limit_reason(label: str) -> str | None:
    """Why the numbers describe the profile, not a real model (from ``cfg.label()``), or None."""
    if "UNTRAINED" in label:
        return ("the base network's weights are UNTRAINED (random initialisation, the offline "
                "profile): the numbers here describe that profile, not a real model")
    if "STAND-IN" in label:
        return ("the ImageNet weights are STAND-INs (a rehearsal): the numbers here describe "
                "that profile, not a real model")
    return None


def model_card(prepared: Any = None, cfg: Config | None = None, *,
               class_names: Sequence[str] | None = None, counts: Any = None,
               source: str | None = None, fingerprint: str | None = None, review: Any = None,
               review_file: str | Path | None = None, review_changed: int | None = None,
               recipe: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None,
               calibration: dict[str, Any] | None = None, ood: dict[str, Any] | None = None,
               ood_rates: dict[str, Any] | None = None,
               checks: Sequence[tuple[str, bool]] | None = None, limits: Sequence[str] = (),
               title: str | None = None) -> str:
    """The model card as Markdown: what the model is, its data, training, numbers and limits.

    Sections, in order (:data:`CARD_SECTIONS`); one without data says "not recorded":

    * **Data** -- classes with their image counts per split, source, data fingerprint,
      the label review file and how many images it changed.  ``prepared`` (a
      ``nbh.data.Prepared``) gives ``class_names``, ``sizes()`` as ``counts``,
      ``source``, ``fingerprint`` and, when it has one, ``review`` (anything with a
      ``summary()``); the keyword arguments override it.
    * **Training** -- ``recipe`` (``{setting: value}``: recipe and budgets) as a table,
      and the profile's label ``cfg.label()``.
    * **Test metrics** -- ``metrics``: ``{name: value}`` or ``{name: Interval}``
      (anything with ``value``, ``low``, ``high``: shown with its interval).
    * **Calibration** -- ``calibration``: ``{name: value}`` (expected calibration error...).
    * **Out-of-distribution threshold** -- ``ood`` (the record ``export_all`` takes: its
      score named in words and what it is -- the top class probability, or the mean
      cosine similarity of a photo's features to its k nearest training images) and
      ``ood_rates``: measured rates such as ``{"AUROC": 0.93, "FPR at 95 % TPR": 0.31}``
      or the dict of ``nbh.ood.detection_rates`` (its keys are written in words).
    * **Checks in this run** -- ``checks``: ``[(sentence, held), ...]``.
    * **Known limits** -- ``limits`` and, always, the standard ones: what a photo of
      another kind gets, and, for untrained or stand-in weights, that the numbers
      describe the profile, not a real model.

    Callers read the returned text (write it with :func:`write_model_card`, or pass
    it to ``export_all(..., card=...)``; the demo app shows it).
    Reached through :func:`write_model_card`, which notebook 12 calls.

    Example:
        >>> from nbhelpers.evaluate import Interval
        >>> text = model_card(class_names=["cat", "dog"],
        ...                   metrics={"accuracy": Interval(0.912, 0.88, 0.94)},
        ...                   checks=[("TFLite float32 agrees with Keras", True)])
        >>> text.splitlines()[0]
        '# Model card: cat vs dog classifier'
        >>> "| accuracy | 0.912 (95 % CI 0.880 to 0.940) |" in text, "not recorded" in text
        (True, True)
    """
    cfg = cfg or current()
    names = [str(c) for c in (class_names if class_names is not None
                              else getattr(prepared, "class_names", None) or [])]
    if counts is None and prepared is not None and hasattr(prepared, "sizes"):
        counts = prepared.sizes()
    table = _split_counts(counts) if counts is not None else None
    if table and not names:
        names = [c for c in next(iter(table.values())) if c != "total"]
    source = source if source is not None else getattr(prepared, "source", None)
    fingerprint = fingerprint if fingerprint is not None else getattr(prepared, "fingerprint", None)
    review = review if review is not None else getattr(prepared, "review", None)
    ood = None if ood is None else _check_ood(ood)
    checked: list[tuple[str, bool]] = []
    for item in checks or []:
        if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"each check must be a (sentence, held) pair, got {item!r}")
        checked.append((item[0], bool(item[1])))
    label = cfg.label()

    title = title or (f"Model card: {' vs '.join(names)} classifier" if names else "Model card")
    out = [f"# {title}", "",
           "What this model is, what it was trained on, how well it did and where it fails. "
           f"A section without data says \"{NOT_RECORDED}\".", ""]

    out += ["## Data", "",
            f"Classes ({len(names)}): {', '.join(names)}" if names else f"Classes: {NOT_RECORDED}", ""]
    if table:
        columns = [*names, *[c for r in table.values() for c in r if c not in names and c != "total"]]
        columns = list(dict.fromkeys(columns)) + ["total"]
        out += ["Images per split and class:", "",
                *_table(["split", *columns], [[s, *(r.get(c, 0) for c in columns)]
                                              for s, r in table.items()], numeric=len(columns)), ""]
    else:
        out += [f"Images per split and class: {NOT_RECORDED}", ""]
    review_text = review.summary() if review is not None and hasattr(review, "summary") else None
    if review is not None:  # a nbh.review.ReviewSummary: its file and what it changed
        review_file = review_file or getattr(review, "path", None)
        if review_changed is None and isinstance(getattr(review, "changed", None), int):
            review_changed = review.changed
    no_review = prepared is not None and review is None and not review_file
    out += [f"- Source: {source if source else NOT_RECORDED}",
            f"- Data fingerprint: {f'`{fingerprint}`' if fingerprint else NOT_RECORDED}",
            "- Label review file: " + (f"`{review_file}`" if review_file else
                                       "none (no review was applied)" if no_review else NOT_RECORDED),
            "- Images the review changed: "
            + (str(int(review_changed)) if review_changed is not None else
               "0 (no review)" if no_review else NOT_RECORDED)]
    if review_text:
        out += ["- Review summary:", "", "```text", str(review_text).rstrip(), "```"]
    out.append("")

    out += ["## Training", "", f"Profile: {label}", ""]
    if recipe:
        out += _table(["setting", "value"], [[k, _setting(v)] for k, v in recipe.items()])
    else:
        out.append(f"Recipe and budgets: {NOT_RECORDED}")
    out.append("")

    for header, values in (("Test metrics", metrics), ("Calibration", calibration)):
        out += [f"## {header}", ""]
        out += (_table(["metric", "value"], [[k, _measure(v)] for k, v in values.items()])
                if values else [NOT_RECORDED])
        out.append("")

    out += ["## Out-of-distribution threshold", ""]
    if ood is None:
        out.append(f"{NOT_RECORDED}: every photo gets one of the classes, however unlike "
                   "the training photos it is.")
    else:
        words = OOD_SCORE_WORDS[ood["score"]]
        if ood["score"] == "nearest_neighbour":
            out += [
                f"- Score: {words} (`nearest_neighbour`, `nbh.ood.nearest_neighbour`): the mean "
                f"cosine similarity of the photo's features to its k = {ood['k']} nearest "
                f"training images (features: the pooled input of layer `{ood['layer']}`; the "
                f"training images' features are kept in `{OOD_BANK}`), from -1 to 1 (0 to 1 "
                "when the features are never negative, as after a ReLU)",
                f"- Threshold: {ood['threshold']:.3f}: a photo whose {words} is below it is "
                "answered \"none of these\""]
        else:
            out += [
                f"- Score: {words} (`max_probability`, `nbh.evaluate.confidence`): the top "
                "class probability",
                f"- Threshold: {ood['threshold']:.3f} ({_percent(ood['threshold'])}): a photo "
                f"whose {words} is below it is answered \"none of these\""]
        out.append(
            f"- Chosen on: {ood['n']} {ood['chosen_on']} images, of which at least "
            f"{_percent(ood['tpr'])} reach or exceed it (the true-positive rate asked for)")
        out.append("")
        out += (_table(["rate", "value"], [[_rate_name(k, ood_rates), _measure(v)]
                                            for k, v in ood_rates.items()])
                if ood_rates else [f"Measured rates (AUROC, false-positive rate at 95 % true "
                                   f"positives, ...): {NOT_RECORDED}"])
    out.append("")

    out += ["## Checks in this run", ""]
    if checked:
        held = sum(h for _, h in checked)
        out += [f"{held} of {len(checked)} checks held.", ""]
        out += [f"- {'held' if h else '**did not hold**'}: {sentence}" for sentence, h in checked]
    else:
        out.append(NOT_RECORDED)
    out.append("")

    n_train = (table.get("train") or {}).get("total") if table else None
    kinds = f"{len(names)} classes" if names else "a fixed set of classes"
    images = f"{n_train} images" if n_train is not None else "images (how many: not recorded)"
    if ood is None:
        unless = ("unless its top probability is below the threshold (no threshold is "
                  "recorded here, so it always gets one)")
    elif ood["score"] == "nearest_neighbour":
        unless = (f"unless its {OOD_SCORE_WORDS['nearest_neighbour']} is below the threshold "
                  f"({ood['threshold']:.3f})")
    else:
        unless = f"unless its top probability is below the threshold ({_percent(ood['threshold'])})"
    standard = [f"trained on {images} of {kinds}: a photo of another kind gets one of these "
                f"labels {unless}"]
    reason = _limit_reason(label)
    if reason:
        standard.append(reason)
    out += ["## Known limits", "", *(f"- {line}" for line in [*map(str, limits), *standard]), ""]
    return "\n".join(out)


def write_model_card(folder: str | Path, text: str | None = None, **card_args: Any) -> Path:
    """Write ``MODEL_CARD.md`` into ``folder`` whole or not at all; returns its path.

    ``text``: the card (:func:`model_card`), or leave it out and pass
    :func:`model_card`'s arguments.  In an export folder (one with a
    ``manifest.json``) the manifest's checksum entry is updated, so a card written
    after the export is checked like one written by ``export_all(..., card=...)``:
    the manifest first stops vouching for the old card, then the card is written
    (a temporary file, then a rename), then the manifest vouches for the new one --
    an interruption at any step leaves an export that opens (at worst without its
    card).  Taught in ``12_using_your_model``.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> _ = export_all(tiny_classifier(16), d, ["a", "b"], forms=["keras"])
        >>> write_model_card(d, "# Model card: a or b").name
        'MODEL_CARD.md'
        >>> Exported.open(d).card_path.read_text()
        '# Model card: a or b'
    """
    if text is None:
        text = model_card(**card_args)
    elif card_args:
        raise TypeError("pass either the card's text or model_card's arguments, not both")
    if not isinstance(text, str):
        raise TypeError(f"text must be the card's Markdown (a str), got {type(text).__name__}")
    folder = Path(folder)
    target = folder / MODEL_CARD
    if not (folder / MANIFEST).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        return artifacts.write_bytes(target, text)
    with artifacts.lock(export_lock(folder), what=f"write_model_card into {folder}"):
        return _write_card_into_export(folder, target, text)


def _write_card_into_export(folder: Path, target: Path, text: str) -> Path:
    """:func:`write_model_card` in an export folder, under the export's lock."""
    m = artifacts.read_json(folder / MANIFEST)
    damage = _manifest_problem(m)
    if damage is not None or m is None:
        raise artifacts.ArtifactError(
            f"Cannot add a model card to the export in {folder}: "
            f"{damage or 'its manifest.json is damaged'}. Export the model again with "
            f"nbh.deploy.export_all(model, folder, class_names, card=text).")
    old = m.pop("card", None)
    checksums = {k: v for k, v in m["checksums"].items() if k not in (old, MODEL_CARD)}
    if old is not None:  # the manifest stops vouching for the old card before it changes
        artifacts.write_json(folder / MANIFEST, {**m, "checksums": checksums}, indent=1)
    artifacts.write_bytes(target, text)
    m["checksums"] = {**checksums, **artifacts.describe_files([target])}
    m["card"] = MODEL_CARD
    artifacts.write_json(folder / MANIFEST, m, indent=1)
    return target


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
