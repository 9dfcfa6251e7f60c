"""Checks that an explanation means something: randomisation and faithfulness.

Taught in ``09_explaining_with_shap``.

* :func:`cascading_randomisation` -- the model-parameter randomisation test of
  Adebayo et al. (2018, "Sanity checks for saliency maps"): re-initialise the
  top layer, then more and more layers (:func:`randomisation_groups`,
  :func:`randomised_copy`), and measure by Spearman rank correlation
  (:func:`rank_correlation`) how much each explanation changes.  An explanation
  that does not change when the model is destroyed does not explain the model.
* :func:`deletion_insertion` -- the faithfulness curves of Petsiuk et al.
  (2018, RISE): delete (or insert) the pixels the explanation ranks highest and
  watch the class probability fall (or rise); the areas under the curves
  summarise them.  :func:`faithfulness_table` compares methods with a random
  ranking.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import INFERENCE_BATCH_SIZE, Config
from ..predictions import predict_function
from .core import METHODS, Explanation, blurred, check_image, explain, predicted_class
from .outputs import choose_output, is_flat

if TYPE_CHECKING:  # pragma: no cover - imports for type hints only
    import keras
    import pandas as pd

__all__ = [
    "rank_correlation",
    "randomisation_groups",
    "randomised_copy",
    "cascading_randomisation",
    "deletion_insertion",
    "faithfulness_table",
]


def rank_correlation(a: np.ndarray, b: np.ndarray, absolute: bool = False) -> float:
    """Spearman rank correlation of two attribution maps (flattened).

    ``absolute=True`` compares magnitudes only (Adebayo et al. report both,
    since a sign flip alone would otherwise look like a total change).  A
    constant map (an empty one: LIME or the Partition explainer of a saturated
    probability) carries no ranking, so the correlation is undefined: NaN, not
    0, which would read as "unrelated" -- the answer a method *passes* the
    randomisation test with -- even for a map compared with itself.
    Taught in notebooks 08 and 09.

    Example:
        >>> a = np.arange(16.0).reshape(4, 4)
        >>> rank_correlation(a, a ** 2), rank_correlation(a, -a), rank_correlation(a, -a, absolute=True)
        (1.0, -1.0, 1.0)
        >>> rank_correlation(np.zeros((4, 4)), np.zeros((4, 4)))
        nan
    """
    from scipy import stats

    x = np.asarray(a, dtype="float64").ravel()
    y = np.asarray(b, dtype="float64").ravel()
    if absolute:
        x, y = np.abs(x), np.abs(y)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(round(stats.spearmanr(x, y).statistic, 6))


# --------------------------------------------------------------------------- randomisation


def cascading_randomisation(
    model: keras.Model,
    image: np.ndarray,
    methods: Sequence[str] = METHODS,
    target: int | None = None,
    cfg: Config | None = None,
    *,
    groups: Sequence[Sequence[str]] | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    method_kw: dict[str, dict[str, Any]] | None = None,
    reference: dict[str, Explanation] | None = None,
) -> tuple[pd.DataFrame, dict[str, list[Explanation]]]:
    """Adebayo et al.'s model-parameter randomisation test, cascading from the top.

    Step 0 is the trained model; step ``k`` has the top ``k`` groups of layers
    (:func:`randomisation_groups`) re-initialised.  At each step every method
    explains the same ``image`` for the same ``target`` (the trained model's
    prediction), and the Spearman rank correlation with the step-0 map is
    recorded (signed and absolute).  A method whose maps stay highly
    correlated while the model is destroyed is showing the image, not the
    model.  ``max_steps`` stops after that many groups.

    Returns ``(table, maps)``.  ``table`` has one row per method and step:
    ``method`` (absent when one method is checked), ``step`` (0, 1, ...),
    ``randomised`` (``"(none)"`` at step 0, then the group destroyed at that
    step: a layer's name, or a block's prefix such as ``"block5"``),
    ``layers_randomised`` (how many so far), ``spearman`` and ``spearman_abs``
    (with the step-0 map; 1.0 at step 0), ``seconds``.  ``maps`` is ``{method:
    [Explanation per step]}``, step 0 first.  ``reference`` (``{method:
    Explanation}`` of this image by the trained model, same target) saves
    recomputing step 0.  A method whose step-0 map is constant (empty: a
    saturated probability, see ``explain_lime``) has nothing to compare: its
    correlations are NaN, and it warns.
    Taught in ``09_explaining_with_shap``.

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> table, _ = cascading_randomisation(left_half_model(16), toy_images(1, 16)[0],
        ...                                    methods=["gradcam"], max_steps=1)
        >>> table[["step", "randomised"]].to_dict("records")
        [{'step': 0, 'randomised': '(none)'}, {'step': 1, 'randomised': 'logits'}]
    """
    import pandas as pd

    img = check_image(image)
    method_kw = method_kw or {}
    target = predicted_class(model, img, target)
    groups = [list(g) for g in (groups if groups is not None else randomisation_groups(model))]
    if max_steps is not None:
        groups = groups[:max_steps]
    rows: list[dict[str, Any]] = []
    maps: dict[str, list[Explanation]] = {m: [] for m in methods}
    for step, (label, done, current_model) in enumerate(_randomised_models(model, groups, seed)):
        for m in methods:
            if step == 0 and reference is not None and m in reference and reference[m].target == target:
                e = reference[m]
            else:
                e = explain(m, current_model, img, target, cfg, **method_kw.get(m, {}))
            maps[m].append(e)
            ref = maps[m][0].attribution
            if step == 0 and np.ptp(np.asarray(ref, dtype="float64")) == 0:
                warnings.warn(
                    f"{m}'s map of the trained model is constant ({float(np.ravel(ref)[0]):g} "
                    f"everywhere): it ranks no pixel, so the randomisation test cannot judge it; "
                    f"its correlations are NaN", stacklevel=2)
            rows.append({"method": m, "step": step, "randomised": label, "layers_randomised": done,
                         "spearman": rank_correlation(ref, e.attribution),
                         "spearman_abs": rank_correlation(ref, e.attribution, absolute=True),
                         "seconds": round(e.seconds, 3)})
    table = pd.DataFrame(rows)
    if len(methods) == 1:
        table = table.drop(columns=["method"]).reset_index(drop=True)
    return table, maps


def _randomised_models(model: keras.Model, groups: list[list[str]],
                       seed: int) -> Iterator[tuple[str, int, keras.Model]]:
    """(label, layers randomised so far, model) per step: step 0 the trained model, then one more group each."""
    yield "(none)", 0, model
    done: list[str] = []
    for step, group in enumerate(groups, start=1):
        done.extend(group)
        label = group[0] if len(group) == 1 else group[0].split("_")[0]
        yield label, len(done), randomised_copy(model, done, seed=seed + step)


def randomisation_groups(model: keras.Model) -> list[list[str]]:
    """Layers with weights, top first, grouped by block (``block5_*`` is one group).

    The order in which :func:`cascading_randomisation` destroys the model.

    Example:
        >>> from nbhelpers.explain import left_half_model
        >>> randomisation_groups(left_half_model(16))
        [['logits'], ['conv2'], ['conv1']]
    """
    groups: list[list[str]] = []
    keys: list[str] = []
    for layer in reversed(model.layers):
        if not layer.trainable_weights and not layer.weights:
            continue
        key = layer.name.split("_")[0] if layer.name.startswith("block") else layer.name
        if keys and keys[-1] == key:
            groups[-1].append(layer.name)
        else:
            keys.append(key)
            groups.append([layer.name])
    return groups


def randomised_copy(model: keras.Model, layers: Iterable[str], seed: int = 0) -> keras.Model:
    """A copy of ``model`` whose ``layers`` have new random weights (the original is untouched).

    Each weight tensor is redrawn from a normal distribution with the original
    tensor's standard deviation (so activations keep their scale; all-zero
    biases stay zero); non-trainable statistics (batch-norm means) are kept.

    Example:
        >>> from nbhelpers.explain import left_half_model
        >>> m = left_half_model(16); r = randomised_copy(m, ["logits"])
        >>> bool(np.allclose(m.get_layer("conv1").get_weights()[0], r.get_layer("conv1").get_weights()[0]))
        True
        >>> bool(np.allclose(m.get_layer("logits").get_weights()[0], r.get_layer("logits").get_weights()[0]))
        False
    """
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    for name in layers:
        layer = clone.get_layer(name)
        for var in layer.trainable_weights:
            w = np.asarray(var)
            std = float(w.std())
            var.assign(rng.normal(0.0, std, size=w.shape).astype(w.dtype) if std > 0 else w)
    return clone


# --------------------------------------------------------------------------- faithfulness


def deletion_insertion(
    model: keras.Model,
    image: np.ndarray,
    attribution: np.ndarray,
    target: int,
    *,
    steps: int = 20,
    baseline: str | float = "blur",
    batch_size: int = INFERENCE_BATCH_SIZE,
    score: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Deletion and insertion curves of one attribution map, and their areas.

    Pixels are ranked by attribution, highest first; pixels of equal attribution
    (Grad-CAM's zeros after its ReLU, LIME's superpixels) in a random order drawn
    from ``seed``, not top-left first.  *Deletion*: replace the
    top fraction of pixels by the baseline and record P(target) -- a faithful
    map makes it fall fast (small area).  *Insertion*: start from the baseline
    and put the top pixels back -- a faithful map makes it rise fast (large
    area).  ``baseline`` is ``"blur"`` (a strongly blurred copy, as in RISE's
    insertion), ``"mean"`` (the image's mean colour) or a grey level.  All
    ``2 * (steps + 1)`` images go through the model in batches.

    ``score="probability"`` records P(target), as RISE does.  A confident model's
    probability is exactly 1.0 in float32 for any log-odds above about 17, so its
    curves can stay flat at 1.0 whatever is deleted: every map, the random one
    included, gets the same areas, and it warns.  ``score="log_odds"`` records
    the class's log-odds instead (:func:`~nbhelpers.explain.class_log_odds`), which
    keeps moving; its areas are in log-odds units.  ``"auto"`` (default) chooses as
    :func:`~nbhelpers.explain.choose_output` does, from the model's answer on the
    whole image.  Returns ``{"fractions", "deletion", "insertion"}`` (arrays of
    ``steps + 1``: the fraction of pixels deleted or inserted, the answers),
    ``"deletion_auc"``, ``"insertion_auc"`` and ``"score"`` (which was used).

    Example:
        >>> from nbhelpers.explain import left_half_model, toy_images
        >>> m = left_half_model(16); x = toy_images(1, 16)[0]
        >>> r = deletion_insertion(m, x, np.random.default_rng(0).random((16, 16)), target=1, steps=4)
        >>> r["fractions"].tolist(), sorted(k for k in r if k.endswith("auc"))
        ([0.0, 0.25, 0.5, 0.75, 1.0], ['deletion_auc', 'insertion_auc'])
    """
    img = check_image(image)
    base = _baseline_image(img, baseline)
    ranks = -np.asarray(attribution, dtype="float64").ravel()
    # Its own stream: faithfulness_table's random reference draws from default_rng(seed).
    tie_break = np.random.default_rng([seed, 1]).random(ranks.size)
    order = np.lexsort((tie_break, ranks))  # by attribution, ties in a random order
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * img.shape[0] * img.shape[1]).astype(int)
    batch = _deleted_then_inserted(img, base, order, counts)
    score = choose_output(model, img, target, score)
    values = np.asarray(predict_function(model, batch_size, output=score)(batch)[:, target],
                        dtype="float64")
    if score == "probability" and is_flat(values):
        warnings.warn(
            f"deletion_insertion: P(class {target}) was {values.max():.7g} on all "
            f"{len(values)} images: the probability is saturated, so the curves are flat "
            f"and every map (the random one too) gets the same areas. Pass score='log_odds' "
            f"(or 'auto') to follow the class's log-odds, which do not saturate.", stacklevel=2)
    deletion, insertion = values[: steps + 1], values[steps + 1:]
    return {"fractions": fractions, "deletion": deletion, "insertion": insertion,
            "deletion_auc": float(np.trapezoid(deletion, fractions)),
            "insertion_auc": float(np.trapezoid(insertion, fractions)), "score": score}


def _baseline_image(img: np.ndarray, baseline: str | float) -> np.ndarray:
    """What a deleted pixel becomes: a strongly blurred copy, the mean colour, or a grey level."""
    if baseline == "blur":
        return blurred(img, max(img.shape[:2]) / 4)
    if baseline == "mean":
        return np.broadcast_to(img.mean(axis=(0, 1)), img.shape).astype("float32")
    return np.full_like(img, float(baseline))


def _deleted_then_inserted(img: np.ndarray, base: np.ndarray, order: np.ndarray,
                           counts: np.ndarray) -> np.ndarray:
    """The deletion images (top pixels -> baseline), then the insertion images (baseline + top pixels)."""
    deleted, inserted = [], []
    flat_img, flat_base = img.reshape(-1, 3), base.reshape(-1, 3)
    for c in counts:
        top = order[:c]
        d = flat_img.copy()
        d[top] = flat_base[top]
        i = flat_base.copy()
        i[top] = flat_img[top]
        deleted.append(d.reshape(img.shape))
        inserted.append(i.reshape(img.shape))
    return np.stack(deleted + inserted)


def faithfulness_table(
    model: keras.Model,
    image: np.ndarray,
    explanations: Iterable[Explanation],
    *,
    steps: int = 20,
    baseline: str | float = "blur",
    random_reference: bool = True,
    seed: int = 0,
    score: str = "auto",
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Deletion/insertion areas per method for one image, with a random ranking for reference.

    Returns ``(table, curves)``.  ``table`` has columns ``method``,
    ``deletion_auc`` (lower is better) and ``insertion_auc`` (higher is better),
    rounded to 4 decimals: one row per explanation's method, in the order given
    (two of one method keep the last), then a row ``"random"`` (a random ranking
    of the pixels) unless ``random_reference=False``.  ``curves`` is ``{method or
    "random": deletion_insertion's result}`` (``fractions``, ``deletion``,
    ``insertion``, ...), which ``plots.faithfulness_curves`` draws.  ``score``:
    ``"probability"``, ``"log_odds"`` or ``"auto"`` (see :func:`deletion_insertion`),
    decided once for every method and the random reference, so that their areas
    compare.  ``baseline`` as in :func:`deletion_insertion`.
    Taught in ``09_explaining_with_shap``.

    Example:
        >>> from nbhelpers.explain import explain, left_half_model, toy_images
        >>> m = left_half_model(16); x = toy_images(1, 16)[0]
        >>> table, curves = faithfulness_table(m, x, [explain("gradcam", m, x)], steps=4)
        >>> table["method"].tolist(), list(table.columns)
        (['gradcam', 'random'], ['method', 'deletion_auc', 'insertion_auc'])
    """
    import pandas as pd

    explanations = list(explanations)
    if not explanations:
        raise ValueError("faithfulness_table needs at least one explanation")
    img = check_image(image)
    target = explanations[0].target
    score = choose_output(model, img, target, score)
    curves: dict[str, dict[str, Any]] = {}
    for e in explanations:
        curves[e.method] = deletion_insertion(model, img, e.attribution, e.target, steps=steps,
                                              baseline=baseline, score=score, seed=seed)
    if random_reference:
        noise = np.random.default_rng(seed).random(img.shape[:2])
        curves["random"] = deletion_insertion(model, img, noise, target, steps=steps,
                                              baseline=baseline, score=score)
    table = pd.DataFrame([{"method": m, "deletion_auc": round(c["deletion_auc"], 4),
                           "insertion_auc": round(c["insertion_auc"], 4)}
                          for m, c in curves.items()])
    return table, curves
