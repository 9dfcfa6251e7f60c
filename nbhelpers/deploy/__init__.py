"""Using your model: classify a photo, test-time augmentation, export forms and how they compare.

Taught in ``12_using_your_model``.  The way through this package:

1. **one photo** -- ``nbh.data.load_image_file`` (re-exported here) reads a file exactly
   as training did (``nbhelpers.data``'s checks, its upright PIL copy for files
   TensorFlow cannot decode or turn -- phone photos with an EXIF orientation tag -- and
   its ``decode_and_resize``); :func:`classify_file` returns a :class:`Prediction` (top
   classes, probabilities, optionally a Grad-CAM explanation);
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

Call any helper as ``nbh.deploy.<name>``; the modules group them by job:

=================  ===============================================================
module             its job
=================  ===============================================================
``photo``          one photo: :func:`classify_file`, :func:`classify_image`, the
                   :class:`Prediction` they return, :func:`top_classes`,
                   :func:`unlike_sentence` ("none of these" in words)
``tta``            test-time augmentation: :func:`tta_predict`, :func:`tta_comparison`
``none_of_these``  the out-of-distribution record an export carries: its keys and
                   checks, the training images' features (the bank), one photo's
                   score, :func:`ood_setup` (the scores are ``nbh.ood``'s)
``convert``        writing the forms: :func:`inference_model`, :func:`export_keras`,
                   :func:`export_saved_model`, :func:`convert_tflite` (float32,
                   dynamic, int8), :func:`representative_sample`,
                   :func:`quantization_errors`
``forms``          the forms and how each runs here: :data:`EXPORT_FORMS`,
                   :func:`load_form`, :class:`TFLiteModel`, :class:`SavedModelRunner`,
                   :func:`interpreter_class`, :func:`usable_cpus`
``export``         one export folder: :func:`export_all`, its ``manifest.json``,
                   :class:`Exported` (``Exported.open``), :func:`export_lock`
``compare``        the forms compared: :func:`compare_exports`, :func:`size_on_disk`,
                   :func:`latency_per_image`
``card``           the model card: :func:`model_card`, :func:`write_model_card`
=================  ===============================================================

``predict_function`` (``nbh.predictions``: any form's probabilities, in batches) and
``load_image_file`` / ``NotAnImageError`` (``nbh.data``) are re-exported here, where
notebook 12 calls them.  The TFLite converter is TensorFlow's
(``tf.lite.TFLiteConverter.from_saved_model``); the interpreter is LiteRT's
(``ai_edge_litert``, in the lock) when it can be imported, else TensorFlow's deprecated
``tf.lite.Interpreter`` (Colab: TF 2.20 still has it; Colab does not ship
``ai-edge-litert``): see :func:`interpreter_class`.

Example:
    >>> import nbhelpers as nbh
    >>> nbh.deploy.export_all is nbh.deploy.export.export_all
    True
"""

from __future__ import annotations

from ..data import NotAnImageError, load_image_file
from ..predictions import predict_function
from .card import CARD_SECTIONS, NOT_RECORDED, model_card, write_model_card
from .compare import compare_exports, latency_per_image, size_on_disk
from .convert import (
    convert_tflite,
    export_keras,
    export_saved_model,
    inference_model,
    quantization_errors,
    representative_sample,
)
from .export import MANIFEST, MODEL_CARD, Exported, export_all, export_lock
from .forms import (
    EXPORT_FORMS,
    TFLITE_QUANTIZATION,
    SavedModelRunner,
    TFLiteModel,
    interpreter_class,
    load_form,
    usable_cpus,
)
from .none_of_these import (
    OOD_BANK,
    OOD_KEYS,
    OOD_SCORE_KEYS,
    OOD_SCORE_WORDS,
    OOD_SCORES,
    ood_setup,
)
from .photo import Prediction, classify_file, classify_image, top_classes, unlike_sentence
from .tta import tta_comparison, tta_predict

__all__ = [
    "EXPORT_FORMS",
    "TFLITE_QUANTIZATION",
    "MANIFEST",
    "MODEL_CARD",
    "OOD_SCORES",
    "OOD_SCORE_WORDS",
    "OOD_KEYS",
    "OOD_SCORE_KEYS",
    "OOD_BANK",
    "CARD_SECTIONS",
    "NOT_RECORDED",
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
]
