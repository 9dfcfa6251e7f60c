"""One photo: classify an image or a file with any export form, top classes, "none of these".

:func:`classify_file` reads a file exactly as training read its images
(``nbh.data.load_image_file``: the file checks, the upright copy of a phone photo with an
EXIF orientation tag, ``nbh.data.decode_and_resize``) at the model's input size and
returns a :class:`Prediction`: probabilities per class, the top classes, optionally a
Grad-CAM explanation and, with an export's out-of-distribution record, whether the photo
is unlike the training photos (:func:`unlike_sentence`).  Taught in ``12_using_your_model``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import Config, current
from ..data import load_image_file
from ..predictions import predict_function
from .none_of_these import (
    check_bank,
    check_ood,
    keras_model_for_features,
    ood_comparison,
    photo_score,
)

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras

__all__ = ["Prediction", "top_classes", "unlike_sentence", "classify_image", "classify_file"]


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
        from .. import evaluate

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
        return f"{unlike_sentence(self, 'none of these')}; closest: {classes}"


def check_names(probabilities: np.ndarray, class_names: Sequence[str]) -> list[str]:
    """The class names as strs, or a ValueError when their number is not the model's.

    ``probabilities``: one image's ``(C,)`` (or a batch's ``(N, C)``); what
    :func:`classify_image` and ``export_all`` check before they go on.

    Example:
        >>> check_names(np.array([0.3, 0.7]), ("cat", "dog"))
        ['cat', 'dog']
    """
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

    What ``str(prediction)`` and the app's answer (``nbh.app.answer_text``) say for a
    photo below the export's threshold; ``space=False`` writes ``53.1%`` (the app).

    Example:
        >>> p = Prediction(None, np.zeros((1, 1, 3)), np.array([0.45, 0.55]), ["cat", "dog"],
        ...                unlike=True, ood_score=0.41, ood_threshold=0.63,
        ...                ood_score_name="nearest_neighbour")
        >>> unlike_sentence(p)
        'none of these: this photo is unlike the training photos (similarity to the training photos 0.41 < threshold 0.63)'
    """
    why = ood_comparison(prediction.ood_score_name, prediction.ood_score,
                         prediction.ood_threshold, space)
    return f"{lead}: this photo is unlike the training photos ({why})"


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
    What :func:`classify_file` runs on the image it read.  Callers read ``label``,
    ``probabilities``, ``unlike`` and ``str(prediction)``.

    Example:
        >>> from nbhelpers import explain
        >>> m = explain.left_half_model(16)
        >>> classify_image(m, np.full((16, 16, 3), 128.0, "float32"), ["a", "b"]).label in ("a", "b")
        True
        >>> ood = {"score": "max_probability", "threshold": 0.999, "tpr": 0.95,
        ...        "chosen_on": "validation", "n": 40}
        >>> p = classify_image(m, np.full((16, 16, 3), 128.0, "float32"), ["a", "b"], ood=ood)
        >>> p.unlike, str(p).startswith("none of these: this photo is unlike the training photos")
        (True, True)
        >>> from nbhelpers import ood as nbh_ood
        >>> greys = np.stack([np.full((16, 16, 3), g, "float32") for g in (64, 128, 192)])
        >>> bank = nbh_ood.feature_bank(nbh_ood.feature_extractor(m).predict(greys, verbose=0))
        >>> near = {"score": "nearest_neighbour", "threshold": 0.9, "tpr": 0.95,
        ...         "chosen_on": "validation", "n": 3, "k": 1, "layer": "logits"}
        >>> q = classify_image(m, greys[1], ["a", "b"], ood=near, ood_bank=bank)
        >>> q.unlike, round(q.ood_score, 3)
        (False, 1.0)
    """
    checked = None if ood is None else check_ood(ood)
    bank = check_bank(ood_bank, checked)
    img = np.asarray(image, dtype="float32")
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected one RGB image (H, W, 3), got shape {img.shape}")
    probs = predict_function(model)(img[None])[0]
    names = check_names(probs, class_names)
    pred = Prediction(path, img, probs, names)
    if checked is not None:
        pred.ood_score = photo_score(checked, probs, img, model, gradcam_model, bank, feature_model)
        pred.ood_threshold = checked["threshold"]
        pred.ood_score_name = checked["score"]
        pred.unlike = pred.ood_score < pred.ood_threshold
    if gradcam:
        from .. import explain

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
        >>> from nbhelpers import data, explain
        >>> p = classify_file(explain.left_half_model(16),
        ...                   data.write_faces() / "face" / "face_000.png", ["face", "non_face"])
        >>> p.image.shape, round(float(p.probabilities.sum()), 4)
        ((16, 16, 3), 1.0)
    """
    if ood is not None or ood_bank is not None:
        # before the file is read: a bad record is the caller's mistake
        checked = None if ood is None else check_ood(ood)
        check_bank(ood_bank, checked, normalise=False)
        if checked is not None and checked["score"] == "nearest_neighbour" and feature_model is None:
            keras_model_for_features(model, gradcam_model)
    image = load_image_file(path, _image_size(model, cfg), cfg)
    return classify_image(model, image, class_names, gradcam=gradcam,
                          gradcam_model=gradcam_model, path=Path(path), ood=ood,
                          ood_bank=ood_bank, feature_model=feature_model)


