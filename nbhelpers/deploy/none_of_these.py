""""None of these": the out-of-distribution record an export carries, and one photo's score.

An export may carry a threshold chosen on validation images (``export_all(..., ood=...)``):
a photo whose score is below it is unlike the training photos.  This module holds what
that record may contain (:data:`OOD_KEYS`), its checks (:func:`check_ood`, and
:func:`check_bank` for the training images' features of a ``"nearest_neighbour"``
record), the feature extractor built once per model, one photo's score
(:func:`photo_score`) and the comparison in words (:func:`ood_comparison`).  The scores
themselves are ``nbhelpers.ood``'s.  Taught in ``12_using_your_model``.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["OOD_SCORES", "OOD_SCORE_WORDS", "OOD_KEYS", "OOD_SCORE_KEYS", "OOD_BANK", "ood_setup"]

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


_OOD_EXAMPLE = {
    "max_probability": "ood={'score': 'max_probability', 'threshold': 0.71, 'tpr': 0.95, "
                       "'chosen_on': 'validation', 'n': 400} (nbh.ood.threshold_record)",
    "nearest_neighbour": "ood={'score': 'nearest_neighbour', 'threshold': 0.63, 'tpr': 0.95, "
                         "'chosen_on': 'validation', 'n': 400, 'k': 5, 'layer': 'logits'} "
                         "with ood_bank=bank (nbh.ood.neighbour_record(bank, features_val))",
}


def _ood_fix(key: str, score: str = "max_probability") -> str:
    """What ``ood[key]`` must be, with an example record of that score (the end of each error)."""
    example = _OOD_EXAMPLE.get(score, _OOD_EXAMPLE["max_probability"])
    return f"ood[{key!r}] must be {OOD_KEYS[key]}; e.g. {example}"


def check_ood(ood: Any) -> dict[str, Any]:
    """``ood`` checked and as JSON keeps it (plain floats, ints), or a ValueError naming the key.

    The checked record holds the keys in the order :data:`OOD_SCORE_KEYS` lists them
    (the manifest's order): ``score``, ``threshold`` and ``tpr`` as floats,
    ``chosen_on``, ``n`` (and ``k``) as ints, ``layer`` for a nearest_neighbour record.

    Example:
        >>> check_ood({"score": "max_probability", "threshold": 0.71, "tpr": 0.95,
        ...            "chosen_on": "validation", "n": 400})
        {'score': 'max_probability', 'threshold': 0.71, 'tpr': 0.95, 'chosen_on': 'validation', 'n': 400}
    """
    score = _checked_score(ood)
    _check_keys(ood, score)
    out: dict[str, Any] = {"score": score, **_checked_fractions(ood, score)}
    if ood["chosen_on"] != "validation":
        raise ValueError(f"ood['chosen_on'] is {ood['chosen_on']!r}: choose the threshold on "
                         f"validation images and say so. {_ood_fix('chosen_on', score)}")
    out["chosen_on"] = "validation"
    out.update(_checked_counts(ood, score))
    if score == "nearest_neighbour":
        layer = ood["layer"]
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"ood['layer'] is {layer!r}: {_ood_fix('layer', score)}")
        out["layer"] = layer
    return out


def _checked_score(ood: Any) -> str:
    """The record's ``score`` (a dict with a known score), or a ValueError saying what is wrong."""
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
    return score


def _check_keys(ood: dict[str, Any], score: str) -> None:
    """A ValueError naming the first key the record lacks, or else the first it should not have."""
    keys = OOD_SCORE_KEYS[score]
    missing = [k for k in keys if k not in ood]
    if missing:
        raise ValueError(f"ood has no {missing[0]!r} key: {_ood_fix(missing[0], score)}")
    unknown = sorted(str(k) for k in ood if k not in keys)
    if unknown:
        raise ValueError(f"ood has an unknown key {unknown[0]!r}: a {score} record holds only "
                         f"{', '.join(keys)} (measured rates such as AUROC go to "
                         f"model_card(ood_rates=...)).")


def _checked_fractions(ood: dict[str, Any], score: str) -> dict[str, float]:
    """``{"threshold", "tpr"}`` as floats in their ranges, or a ValueError naming the key."""
    import numbers

    out = {}
    low = -1.0 if score == "nearest_neighbour" else 0.0
    for key in ("threshold", "tpr"):
        v = ood[key]
        lo = low if key == "threshold" else 0.0
        ok = not isinstance(v, bool) and isinstance(v, numbers.Real) and (
            lo <= float(v) <= 1.0 if lo < 0 else lo < float(v) <= 1.0)
        if not ok:
            raise ValueError(f"ood[{key!r}] is {v!r}: {_ood_fix(key, score)}")
        out[key] = float(v)
    return out


def _checked_counts(ood: dict[str, Any], score: str) -> dict[str, int]:
    """``{"n"}`` (and ``"k"`` for a nearest_neighbour record) as ints >= 1, or a ValueError."""
    import numbers

    out = {}
    for key in ("n", "k") if score == "nearest_neighbour" else ("n",):
        v = ood[key]
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < 1:
            raise ValueError(f"ood[{key!r}] is {v!r}: {_ood_fix(key, score)}")
        out[key] = int(v)
    return out


def check_bank(bank: Any, ood: dict[str, Any] | None, normalise: bool = True) -> np.ndarray | None:
    """``ood_bank`` for a checked ``ood`` record as float32 unit rows, or a ValueError naming it.

    A nearest_neighbour record needs a bank (2-D, at least ``k`` rows); any other needs
    none.  ``normalise=False``: only the checks (the bank comes back as given).

    Example:
        >>> record = {"score": "nearest_neighbour", "k": 1}
        >>> check_bank([[3.0, 4.0]], record).tolist(), check_bank(None, None)
        ([[0.6000000238418579, 0.800000011920929]], None)
    """
    from .. import ood as ood_mod

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


def cached_feature_extractor(model: Any, layer: str) -> Any:
    """``nbh.ood.feature_extractor(model, layer)``, built once per model and layer.

    A layer the model lacks raises a ValueError naming ``ood['layer']``.

    Example:
        >>> from nbhelpers import explain
        >>> m = explain.left_half_model(16)
        >>> cached_feature_extractor(m, "logits") is cached_feature_extractor(m, "logits")
        True
    """
    import weakref

    from .. import ood as ood_mod

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


def bank_width_problem(bank: np.ndarray, extractor: Any, layer: str) -> str | None:
    """Why ``bank`` does not fit the features ``extractor`` gives, or None.

    Example:
        >>> from nbhelpers import explain, ood
        >>> extractor = ood.feature_extractor(explain.left_half_model(16), "logits")
        >>> bank_width_problem(np.zeros((3, 8)), extractor, "logits") is None
        True
    """
    width = int(extractor.output_shape[-1])
    if bank.shape[1] == width:
        return None
    return (f"ood_bank has {bank.shape[1]} features per image but the model gives {width} at "
            f"the input of layer {layer!r} (ood['layer']): the bank was made with another "
            f"model or layer. Make it from this model's features (nbh.ood.feature_bank("
            f"nbh.ood.feature_extractor(model, {layer!r}).predict(x_train))) and choose the "
            f"threshold again (nbh.ood.neighbour_record).")


def ood_comparison(name: str | None, score: float | None, threshold: float | None,
                   space: bool = True) -> str:
    """``score < threshold`` in words: ``'top probability 53.1 % < threshold 71.0 %'``, or
    ``'similarity to the training photos 0.41 < threshold 0.63'``.

    With as many decimals as it takes for the two numbers to differ as written (and a
    threshold below 1 not to read as 1); ``space=False`` writes ``53.1%`` (the app).
    What :class:`~nbhelpers.deploy.Prediction` and the app put in brackets.

    Example:
        >>> ood_comparison("max_probability", 0.7123441, 0.7123449)
        'top probability 71.2344 % < threshold 71.2345 %'
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


def ood_setup(model: Any, ood: dict[str, Any] | None, ood_bank: Any = None, *,
              gradcam_model: Any = None, feature_model: Any = None
              ) -> tuple[dict[str, Any] | None, np.ndarray | None, Any]:
    """Check an ``ood`` record and its bank once, and build what scoring a photo needs.

    Returns ``(ood, bank, feature_model)``: the checked record (None without one), the
    bank as float32 unit rows (None unless the score is ``"nearest_neighbour"``) and,
    for that score, the Keras feature extractor (``model`` or ``gradcam_model`` must be
    the Keras model, or pass ``feature_model``); a record, bank or model that does not
    fit raises a ValueError that names it.  The app's ``Classifier`` (``nbh.app``) calls
    it once, when it is built, so that an upload only runs the model.

    Example:
        >>> from nbhelpers import explain, ood
        >>> m = explain.left_half_model(16)
        >>> ood_setup(m, None)
        (None, None, None)
        >>> bank = ood.feature_bank(np.eye(8, dtype="float32"))
        >>> record = {"score": "nearest_neighbour", "threshold": 0.5, "tpr": 0.95,
        ...           "chosen_on": "validation", "n": 8, "k": 1, "layer": "logits"}
        >>> checked, bank, features = ood_setup(m, record, bank)
        >>> bank.shape, features.output_shape
        ((8, 8), (None, 8))
    """
    ood = None if ood is None else check_ood(ood)
    bank = check_bank(ood_bank, ood)
    if ood is None or ood["score"] != "nearest_neighbour":
        return ood, bank, feature_model
    assert bank is not None
    if feature_model is None:
        feature_model = cached_feature_extractor(keras_model_for_features(model, gradcam_model),
                                                 ood["layer"])
    if hasattr(feature_model, "output_shape"):
        problem = bank_width_problem(bank, feature_model, ood["layer"])
        if problem:
            raise ValueError(problem)
    return ood, bank, feature_model


def keras_model_for_features(model: Any, gradcam_model: Any) -> Any:
    """The Keras model whose features a nearest_neighbour score reads, or a ValueError.

    Example:
        >>> keras_model_for_features(lambda x: x, None)
        Traceback (most recent call last):
        ...
        ValueError: ood['score'] is 'nearest_neighbour': it reads the photo's features, ...
    """
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

    from .. import models
    from .. import ood as ood_mod

    x = np.asarray(img, dtype="float32")[None]
    out = models.forward(extractor)(x) if isinstance(extractor, keras.Model) else \
        extractor(x, training=False)
    return ood_mod.pooled(np.asarray(out))


def photo_score(checked: dict[str, Any], probs: np.ndarray, img: np.ndarray, model: Any,
                gradcam_model: Any, bank: np.ndarray | None, feature_model: Any) -> float:
    """The photo's score under a checked ``ood`` record (higher = more like the training photos).

    ``probs``: the photo's ``(C,)`` probabilities; ``img``: the photo ``(S, S, 3)``, whose
    features a ``"nearest_neighbour"`` record scores against ``bank``.

    Example:
        >>> photo_score({"score": "max_probability"}, np.array([0.3, 0.7]), None, None, None,
        ...             None, None)
        0.7
    """
    from .. import evaluate
    from .. import ood as ood_mod

    if checked["score"] == "max_probability":
        return float(evaluate.confidence(np.asarray(probs)[None])[0])
    assert bank is not None
    extractor = feature_model if feature_model is not None else cached_feature_extractor(
        keras_model_for_features(model, gradcam_model), checked["layer"])
    if hasattr(extractor, "output_shape"):
        problem = bank_width_problem(bank, extractor, checked["layer"])
        if problem:
            raise ValueError(problem)
    features = _ood_features(extractor, img)
    if features.shape[1] != bank.shape[1]:
        raise ValueError(f"ood_bank has {bank.shape[1]} features per image but feature_model "
                         f"gives {features.shape[1]}: build it with nbh.ood.feature_extractor("
                         f"keras_model, ood['layer']) of the model the bank was made with.")
    return float(ood_mod.nearest_neighbour(bank, features, checked["k"])[0])


