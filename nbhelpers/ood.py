""""None of these": how unlike the training photos an image is, and a threshold for it.

A classifier trained on cats and dogs gives every photo one of those labels, a car
included.  This module scores how *typical* an image is of the training data -- higher
means more like the training photos -- in three standard ways, and measures how well a
score separates the test images (in distribution) from photos of other kinds (out of
distribution, OOD):

- :func:`max_probability`: the top class probability (Hendrycks & Gimpel 2017, "MSP").
- :func:`energy`: ``logsumexp`` of the logits, minus the energy of Liu et al. 2020
  (NeurIPS); it keeps the scale of the logits that the softmax throws away.
- :func:`nearest_neighbour`: the mean cosine similarity to the ``k`` nearest training
  features (Sun et al. 2022; cleanlab's ``OutOfDistribution`` averages the same distances).

:func:`detection_rates` gives the AUROC and the false-positive rate at 95 % true
positives (the share of OOD photos that pass when 95 % of in-distribution ones do);
:func:`choose_threshold` picks the cut on *validation* images only; :func:`reference_photos`
writes the out-of-distribution photos the course uses (scikit-image's real photos,
textures, a page of text, noise).

Taught in ``13_improving_your_data``; the threshold goes into the export in
``12_using_your_model`` (``nbh.deploy.export_all(..., ood=...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import artifacts
from .config import Config, current

__all__ = [
    "max_probability",
    "energy",
    "pooled",
    "feature_bank",
    "nearest_neighbour",
    "detection_rates",
    "choose_threshold",
    "threshold_record",
    "feature_extractor",
    "neighbour_record",
    "reference_photos",
    "OOD_PHOTOS_VARIABLE",
]

def max_probability(probabilities: np.ndarray) -> np.ndarray:
    """The top class probability of each image: ``(N,)``, higher = more typical.

    Accepts ``(N, C)`` probabilities or a sigmoid's ``(N,)`` / ``(N, 1)`` P(class 1)
    (then the larger of p and 1 - p).  The same number as ``nbh.evaluate.confidence``.

    Example:
        >>> max_probability(np.array([[0.2, 0.8], [0.5, 0.5]])).tolist()
        [0.8, 0.5]
        >>> max_probability(np.array([0.1, 0.7])).round(2).tolist()
        [0.9, 0.7]
    """
    from . import evaluate

    return evaluate.confidence(np.asarray(probabilities, dtype="float64"))


def energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``T * logsumexp(logits / T)`` per image (minus the energy): ``(N,)``, higher = more typical.

    Unlike :func:`max_probability` it grows with the size of the logits, the scale that
    the softmax divides away (Liu et al., 2020).  A sigmoid's single logit ``z`` has no
    such scale to give -- only ``|z|`` -- so it counts as the symmetric pair
    ``(-z/2, z/2)``, which gives the same probabilities: with two classes and one logit,
    the energy ranks images exactly as the top probability does.

    Example:
        >>> energy(np.array([[0.0, 0.0], [10.0, 0.0]])).round(3).tolist()
        [0.693, 10.0]
        >>> energy(np.array([[4.0], [-4.0]])).round(3).tolist()
        [2.018, 2.018]
    """
    z = np.asarray(logits, dtype="float64")
    if z.ndim == 1 or z.shape[-1] == 1:
        z = z.reshape(-1, 1)
        z = np.concatenate([-z / 2, z / 2], axis=1)
    t = float(temperature)
    if t <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    m = z.max(axis=1, keepdims=True)
    return t * (np.log(np.exp((z - m) / t).sum(axis=1)) + m[:, 0] / t)


def pooled(features: np.ndarray) -> np.ndarray:
    """Features as one vector per image: a ``(N, H, W, C)`` feature map is averaged over H and W.

    What global average pooling does in the course's "gap" head; ``(N, C)`` comes back as is.

    Example:
        >>> pooled(np.ones((2, 3, 3, 4))).shape, pooled(np.ones((2, 5))).shape
        ((2, 4), (2, 5))
    """
    f = np.asarray(features, dtype="float32")
    if f.ndim == 4:
        return f.mean(axis=(1, 2))
    if f.ndim != 2:
        raise ValueError(f"expected features (N, C) or (N, H, W, C), got shape {f.shape}")
    return f


def feature_bank(features: np.ndarray) -> np.ndarray:
    """Pooled features scaled to length 1, float32 ``(N, C)``: what :func:`nearest_neighbour` compares.

    An export keeps the training images' bank (``ood_bank.npy``) to score new photos.

    Example:
        >>> np.linalg.norm(feature_bank(np.array([[3.0, 4.0]])), axis=1).round(3).tolist()
        [1.0]
    """
    f = pooled(features).astype("float64")
    return (f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)).astype("float32")


def nearest_neighbour(train_features: np.ndarray, features: np.ndarray, k: int = 5,
                      *, leave_one_out: bool = False) -> np.ndarray:
    """Mean cosine similarity of each image's features to its ``k`` nearest training features.

    ``(N,)`` in [-1, 1], higher = more typical (1: ``k`` exact copies).  Both arrays are
    pooled and scaled to length 1 (:func:`feature_bank`; a bank passes through
    unchanged).  The k-nearest-neighbour score of Sun et al. (2022), averaged over ``k``
    as cleanlab's ``OutOfDistribution`` does.  ``leave_one_out=True`` scores the
    training images themselves (each one's own copy does not count).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> train = rng.normal(size=(50, 8)) + 5
        >>> s = nearest_neighbour(train, np.vstack([train[:1] + 0.01, -train[:1]]), k=3)
        >>> bool(s[0] > s[1])
        True
    """
    bank = feature_bank(train_features)
    k = int(min(k, len(bank) - (1 if leave_one_out else 0)))
    if k < 1:
        raise ValueError(f"nearest_neighbour needs more training images than {len(bank)}")
    query = bank if leave_one_out else feature_bank(features)
    out = np.empty(len(query), dtype="float64")
    for start in range(0, len(query), 1024):  # a block at a time: N x bank similarities
        sim = query[start:start + 1024] @ bank.T
        if leave_one_out:
            rows = np.arange(len(sim))
            sim[rows, start + rows] = -np.inf
        top = np.partition(sim, sim.shape[1] - k, axis=1)[:, -k:]
        out[start:start + len(sim)] = top.mean(axis=1)
    return out


def detection_rates(scores_in: np.ndarray, scores_out: np.ndarray, tpr: float = 0.95
                    ) -> dict[str, float]:
    """How well a score tells in-distribution images (higher scores) from the others.

    Returns ``{"auroc", "fpr_at_tpr", "threshold", "tpr"}``: the area under the ROC curve
    (1.0 perfect, 0.5 chance; the probability that a random in-distribution image scores
    above a random OOD one), and the share of OOD images that reach the threshold that
    keeps ``tpr`` of the in-distribution images (lower is better).

    Example:
        >>> r = detection_rates(np.array([0.9, 0.8, 0.7, 0.95]), np.array([0.2, 0.75]))
        >>> r["auroc"], r["fpr_at_tpr"]
        (0.875, 0.5)
    """
    from sklearn.metrics import roc_auc_score

    s_in = np.asarray(scores_in, dtype="float64").ravel()
    s_out = np.asarray(scores_out, dtype="float64").ravel()
    if not len(s_in) or not len(s_out):
        raise ValueError("detection_rates needs at least one in-distribution and one "
                         "out-of-distribution score")
    y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    auroc = float(roc_auc_score(y, np.r_[s_in, s_out]))
    cut = choose_threshold(s_in, tpr)
    return {"auroc": auroc, "fpr_at_tpr": float(np.mean(s_out >= cut)), "threshold": cut,
            "tpr": float(np.mean(s_in >= cut))}


def choose_threshold(scores: np.ndarray, tpr: float = 0.95) -> float:
    """The highest cut that at least ``tpr`` of ``scores`` (in-distribution images) reach.

    Choose it on *validation* images: the test images then measure it honestly.

    Example:
        >>> choose_threshold(np.arange(1, 21) / 20, 0.95)
        0.1
    """
    s = np.sort(np.asarray(scores, dtype="float64").ravel())
    if not len(s):
        raise ValueError("choose_threshold needs at least one score")
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    # At most floor((1 - tpr) * n) images may fall below the cut.
    below = int(np.floor((1 - tpr) * len(s) + 1e-9))
    return float(s[min(below, len(s) - 1)])


def threshold_record(probabilities_val: np.ndarray, tpr: float = 0.95) -> dict[str, Any]:
    """The ``ood`` record an export keeps: the top-probability cut chosen on validation.

    Returns ``{"score": "max_probability", "threshold", "tpr", "chosen_on": "validation",
    "n"}``, what ``nbh.deploy.export_all(..., ood=...)`` stores; below the threshold the
    classifier and the app answer "none of these".  The top probability is the score
    every export form can give (each outputs probabilities).

    Example:
        >>> threshold_record(np.array([[0.1, 0.9]] * 18 + [[0.4, 0.6]] * 2))["threshold"]
        0.6
    """
    p = max_probability(probabilities_val)
    return {"score": "max_probability", "threshold": choose_threshold(p, tpr),
            "tpr": float(tpr), "chosen_on": "validation", "n": int(len(p))}


def feature_extractor(model: Any, layer: str | None = None) -> Any:
    """A Keras model: images -> the pooled features a classifier's last layer reads, ``(N, C)``.

    ``layer`` names the layer whose *input* is taken (default: the class-score layer,
    ``nbh.models.logits_layer``, so for the course's "gap" head it is the pooled output
    of the base, the features of notebooks 05 and 13; the last layer for a model without
    one); a feature map is averaged over its height and width.

    Example:
        >>> from nbhelpers import explain
        >>> feature_extractor(explain.left_half_model(16)).output_shape
        (None, 8)
    """
    import keras

    from . import models

    if layer is None:
        try:
            layer = models.logits_layer(model)
        except ValueError:  # a model of another shape: the input of its last layer
            layer = model.layers[-1].name
    out = model.get_layer(layer).input
    if len(out.shape) == 4:
        out = keras.layers.GlobalAveragePooling2D(name="ood_pool")(out)
    return keras.Model(model.inputs, out, name=f"{model.name}_features")


def neighbour_record(bank: np.ndarray, features_val: np.ndarray, *, k: int = 5,
                     tpr: float = 0.95, layer: str = "logits") -> dict[str, Any]:
    """The ``ood`` record of an export that scores photos by their nearest training images.

    ``bank``: the training images' features (:func:`feature_bank`, kept in the export);
    ``features_val``: the validation images' features, on which the threshold is chosen
    (:func:`choose_threshold` of :func:`nearest_neighbour`).  Returns ``{"score":
    "nearest_neighbour", "threshold", "tpr", "chosen_on": "validation", "n", "k",
    "layer"}`` for ``nbh.deploy.export_all(..., ood=..., ood_bank=bank)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> r = neighbour_record(feature_bank(rng.normal(size=(40, 8))), rng.normal(size=(20, 8)), k=3)
        >>> r["score"], r["n"], r["k"], -1 <= r["threshold"] <= 1
        ('nearest_neighbour', 20, 3, True)
    """
    s = nearest_neighbour(bank, features_val, k)
    return {"score": "nearest_neighbour", "threshold": choose_threshold(s, tpr),
            "tpr": float(tpr), "chosen_on": "validation", "n": int(len(s)), "k": int(k),
            "layer": str(layer)}


# --------------------------------------------------------------------------- photos


def _photos() -> dict[str, tuple[str, Any]]:
    """name -> (kind, function returning the image) from scikit-image's data."""
    from skimage import data as skdata

    def rng() -> np.random.Generator:  # a fresh one per image: the same pixels in every run
        return np.random.default_rng(0)

    return {
        "astronaut": ("photo", skdata.astronaut),
        "coffee": ("photo", skdata.coffee),
        "rocket": ("photo", skdata.rocket),
        "camera": ("photo", skdata.camera),
        "brick": ("texture", skdata.brick),
        "grass": ("texture", skdata.grass),
        "gravel": ("texture", skdata.gravel),
        "page of text": ("text", skdata.page),
        "uniform noise": ("noise", lambda: rng().integers(0, 256, (256, 256, 3), dtype=np.uint8)),
        "blurred noise": ("noise", lambda: _blurred_noise(rng())),
    }


def _blurred_noise(rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    x = gaussian_filter(rng.normal(size=(256, 256, 3)), sigma=(6, 6, 0))
    x = (x - x.min()) / (x.max() - x.min())
    return (x * 255).astype(np.uint8)


#: A folder of your own photos of other kinds (not of your classes), added to the
#: reference photos when set: the held-out "none of these" photos of your data.
OOD_PHOTOS_VARIABLE = "NBH_OOD_PHOTOS"


def _your_photos(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Every readable image under ``root`` (recursively), and the names of the files skipped."""
    from . import data

    rows, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders: OS clutter, checkpoints
        try:  # decoded in full: a truncated file is caught here, not in a later cell
            data.read_image(path, 8)
        except Exception:  # noqa: BLE001 - any unreadable file is skipped and named
            skipped.append(name)
            continue
        rows.append({"name": name, "kind": "yours", "path": path})
    return rows, skipped


def reference_photos(cfg: Config | None = None, exclude: Sequence[str] = (),
                     extra: str | Path | None = None) -> pd.DataFrame:
    """Photos of other kinds, written once as PNG files: the course's out-of-distribution set.

    scikit-image's real photos (astronaut, coffee, rocket, camera; not ``chelsea``, a
    cat, which is no stranger to the course's data set), textures (brick, grass,
    gravel), a page of text, and two kinds of noise.  Files go to
    ``cfg.cache_dir/ood_photos/`` (each written whole or not at all), so the classifier
    and the app read them exactly as they read a learner's photo.  ``exclude``: names
    to leave out (a photo that is one of *your* classes is not out of distribution).
    ``extra`` (default: the folder named by ``$NBH_OOD_PHOTOS``, when set): a folder of
    your own photos of other kinds, added with the kind ``"yours"`` (read where they
    are, never copied; unreadable files are skipped with a warning that names them).
    Returns a DataFrame: ``name``, ``kind`` (photo, texture, text, noise, yours), ``path``.

    Example:
        >>> from nbhelpers import config
        >>> t = reference_photos(config.make_config("offline"), extra="")
        >>> sorted(set(t["kind"])), bool(t["path"].map(lambda p: p.is_file()).all())
        (['noise', 'photo', 'text', 'texture'], True)
    """
    import os
    import warnings

    from PIL import Image

    cfg = cfg or current()
    folder = Path(cfg.cache_dir) / "ood_photos"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (kind, make) in _photos().items():
        if name in exclude:
            continue
        path = folder / f"{name.replace(' ', '_')}.png"
        if not path.is_file():
            img = np.asarray(make())
            if img.ndim == 2:
                img = np.stack([img] * 3, axis=-1)
            rgb = Image.fromarray(img[..., :3].astype(np.uint8))
            artifacts.write_with(path, lambda tmp, im=rgb: im.save(tmp, format="PNG"))
        rows.append({"name": name, "kind": kind, "path": path})
    if extra is None:
        extra = os.environ.get(OOD_PHOTOS_VARIABLE, "").strip()
    if extra:
        root = Path(extra).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(
                f"{root}: no such folder ({OOD_PHOTOS_VARIABLE} or extra=). Point it at a folder "
                f"of photos of other kinds -- not of your classes -- or unset {OOD_PHOTOS_VARIABLE}.")
        yours, skipped = _your_photos(root)
        if skipped:
            warnings.warn(f"{len(skipped)} file(s) in {root} are not readable images and were "
                          f"skipped: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
                          stacklevel=2)
        if not yours:
            raise ValueError(f"{root} holds no readable image: add photos of other kinds "
                             f"(JPEG, PNG, ...) or unset {OOD_PHOTOS_VARIABLE}.")
        rows += [r for r in yours if r["name"] not in exclude]
    return pd.DataFrame(rows)
