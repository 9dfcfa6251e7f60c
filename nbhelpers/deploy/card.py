"""The model card: what the model is, what it was trained on, how well it did, where it fails.

:func:`model_card` writes the card as Markdown, one section after the other
(:data:`CARD_SECTIONS`; a section without data says "not recorded");
:func:`write_model_card` (or ``export_all(..., card=...)``) puts it beside the model as
``MODEL_CARD.md`` and, in an export folder, updates the manifest's checksum so that the
card is checked like the model files.  Taught in ``12_using_your_model``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import artifacts
from ..config import Config, current
from .export import MANIFEST, MODEL_CARD, export_lock, manifest_problem
from .none_of_these import OOD_BANK, OOD_SCORE_WORDS, check_ood

__all__ = ["CARD_SECTIONS", "model_card", "write_model_card"]

#: The sections of :func:`model_card`, in order (each says "not recorded" when it has no data).
CARD_SECTIONS = ("Data", "Training", "Test metrics", "Calibration",
                 "Out-of-distribution threshold", "Checks in this run", "Known limits")
#: What a section, or a line, without data says.
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


def _percent(x: float | None) -> str:
    """``0.531 -> '53.1 %'`` (the course writes a space before %)."""
    return "?" if x is None else f"{float(x):.1%}".replace("%", " %")


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

    Callers read the returned text: write it with :func:`write_model_card` (as notebook
    12 does), or pass it to ``export_all(..., card=...)``; the demo app shows it.

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
    data = _card_data(prepared, class_names, counts, source, fingerprint, review, review_file,
                      review_changed)
    ood = None if ood is None else check_ood(ood)
    checked = _checked_checks(checks)
    label = cfg.label()
    names = data.names
    title = title or (f"Model card: {' vs '.join(names)} classifier" if names else "Model card")
    out = [f"# {title}", "",
           "What this model is, what it was trained on, how well it did and where it fails. "
           f"A section without data says \"{NOT_RECORDED}\".", ""]
    out += _data_section(data)
    out += _training_section(label, recipe)
    out += _measures_section("Test metrics", metrics)
    out += _measures_section("Calibration", calibration)
    out += _ood_section(ood, ood_rates)
    out += _checks_section(checked)
    out += _limits_section(limits, data, ood, label)
    return "\n".join(out)


@dataclass
class _CardData:
    """What the card's Data section shows, from ``prepared`` and the keyword arguments."""

    prepared: Any
    names: list[str]
    table: dict[str, dict[str, int]] | None
    source: str | None
    fingerprint: str | None
    review: Any
    review_file: str | Path | None
    review_changed: int | None


def _card_data(prepared: Any, class_names: Sequence[str] | None, counts: Any, source: str | None,
               fingerprint: str | None, review: Any, review_file: str | Path | None,
               review_changed: int | None) -> _CardData:
    """The Data section's facts: each keyword argument, else what ``prepared`` has."""
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
    return _CardData(prepared, names, table, source, fingerprint, review, review_file,
                     review_changed)


def _checked_checks(checks: Sequence[tuple[str, bool]] | None) -> list[tuple[str, bool]]:
    """``checks`` as ``(sentence, held)`` pairs, or a ValueError naming the first that is not."""
    checked: list[tuple[str, bool]] = []
    for item in checks or []:
        if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"each check must be a (sentence, held) pair, got {item!r}")
        checked.append((item[0], bool(item[1])))
    return checked


def _data_section(data: _CardData) -> list[str]:
    """## Data: the classes, the images per split and class, where the data came from."""
    names, table = data.names, data.table
    out = ["## Data", "",
           f"Classes ({len(names)}): {', '.join(names)}" if names else f"Classes: {NOT_RECORDED}", ""]
    if table:
        columns = [*names, *[c for r in table.values() for c in r if c not in names and c != "total"]]
        columns = list(dict.fromkeys(columns)) + ["total"]
        out += ["Images per split and class:", "",
                *_table(["split", *columns], [[s, *(r.get(c, 0) for c in columns)]
                                              for s, r in table.items()], numeric=len(columns)), ""]
    else:
        out += [f"Images per split and class: {NOT_RECORDED}", ""]
    return out + _provenance_lines(data)


def _provenance_lines(data: _CardData) -> list[str]:
    """The Data section's list: source, fingerprint, the label review and what it changed."""
    review, review_file, review_changed = data.review, data.review_file, data.review_changed
    review_text = review.summary() if review is not None and hasattr(review, "summary") else None
    if review is not None:  # a nbh.review.ReviewSummary: its file and what it changed
        review_file = review_file or getattr(review, "path", None)
        if review_changed is None and isinstance(getattr(review, "changed", None), int):
            review_changed = review.changed
    no_review = data.prepared is not None and review is None and not review_file
    out = [f"- Source: {data.source if data.source else NOT_RECORDED}",
           f"- Data fingerprint: {f'`{data.fingerprint}`' if data.fingerprint else NOT_RECORDED}",
           "- Label review file: " + (f"`{review_file}`" if review_file else
                                      "none (no review was applied)" if no_review else NOT_RECORDED),
           "- Images the review changed: "
           + (str(int(review_changed)) if review_changed is not None else
              "0 (no review)" if no_review else NOT_RECORDED)]
    if review_text:
        out += ["- Review summary:", "", "```text", str(review_text).rstrip(), "```"]
    out.append("")
    return out


def _training_section(label: str, recipe: dict[str, Any] | None) -> list[str]:
    """## Training: the profile's label and the recipe's settings as a table."""
    out = ["## Training", "", f"Profile: {label}", ""]
    if recipe:
        out += _table(["setting", "value"], [[k, _setting(v)] for k, v in recipe.items()])
    else:
        out.append(f"Recipe and budgets: {NOT_RECORDED}")
    out.append("")
    return out


def _measures_section(header: str, values: dict[str, Any] | None) -> list[str]:
    """## Test metrics, or ## Calibration: ``{name: value}`` as a table."""
    out = [f"## {header}", ""]
    out += (_table(["metric", "value"], [[k, _measure(v)] for k, v in values.items()])
            if values else [NOT_RECORDED])
    out.append("")
    return out


def _ood_section(ood: dict[str, Any] | None, ood_rates: dict[str, Any] | None) -> list[str]:
    """## Out-of-distribution threshold: the score in words, the threshold, the measured rates."""
    out = ["## Out-of-distribution threshold", ""]
    if ood is None:
        out.append(f"{NOT_RECORDED}: every photo gets one of the classes, however unlike "
                   "the training photos it is.")
    else:
        out += _ood_score_lines(ood)
        out.append(
            f"- Chosen on: {ood['n']} {ood['chosen_on']} images, of which at least "
            f"{_percent(ood['tpr'])} reach or exceed it (the true-positive rate asked for)")
        out.append("")
        out += (_table(["rate", "value"], [[_rate_name(k, ood_rates), _measure(v)]
                                            for k, v in ood_rates.items()])
                if ood_rates else [f"Measured rates (AUROC, false-positive rate at 95 % true "
                                   f"positives, ...): {NOT_RECORDED}"])
    out.append("")
    return out


def _ood_score_lines(ood: dict[str, Any]) -> list[str]:
    """What the record's score is, and its threshold, as two list items."""
    words = OOD_SCORE_WORDS[ood["score"]]
    if ood["score"] == "nearest_neighbour":
        return [
            f"- Score: {words} (`nearest_neighbour`, `nbh.ood.nearest_neighbour`): the mean "
            f"cosine similarity of the photo's features to its k = {ood['k']} nearest "
            f"training images (features: the pooled input of layer `{ood['layer']}`; the "
            f"training images' features are kept in `{OOD_BANK}`), from -1 to 1 (0 to 1 "
            "when the features are never negative, as after a ReLU)",
            f"- Threshold: {ood['threshold']:.3f}: a photo whose {words} is below it is "
            "answered \"none of these\""]
    return [
        f"- Score: {words} (`max_probability`, `nbh.evaluate.confidence`): the top "
        "class probability",
        f"- Threshold: {ood['threshold']:.3f} ({_percent(ood['threshold'])}): a photo "
        f"whose {words} is below it is answered \"none of these\""]


def _checks_section(checked: list[tuple[str, bool]]) -> list[str]:
    """## Checks in this run: how many held, and each one."""
    out = ["## Checks in this run", ""]
    if checked:
        held = sum(h for _, h in checked)
        out += [f"{held} of {len(checked)} checks held.", ""]
        out += [f"- {'held' if h else '**did not hold**'}: {sentence}" for sentence, h in checked]
    else:
        out.append(NOT_RECORDED)
    out.append("")
    return out


def _limits_section(limits: Sequence[str], data: _CardData, ood: dict[str, Any] | None,
                    label: str) -> list[str]:
    """## Known limits: the caller's, then what a photo of another kind gets, then the weights'."""
    table = data.table
    n_train = (table.get("train") or {}).get("total") if table else None
    kinds = f"{len(data.names)} classes" if data.names else "a fixed set of classes"
    images = f"{n_train} images" if n_train is not None else "images (how many: not recorded)"
    standard = [f"trained on {images} of {kinds}: a photo of another kind gets one of these "
                f"labels {_unless(ood)}"]
    reason = _limit_reason(label)
    if reason:
        standard.append(reason)
    return ["## Known limits", "", *(f"- {line}" for line in [*map(str, limits), *standard]), ""]


def _unless(ood: dict[str, Any] | None) -> str:
    """When a photo of another kind escapes a label: below the threshold, if there is one."""
    if ood is None:
        return ("unless its top probability is below the threshold (no threshold is "
                "recorded here, so it always gets one)")
    if ood["score"] == "nearest_neighbour":
        return (f"unless its {OOD_SCORE_WORDS['nearest_neighbour']} is below the threshold "
                f"({ood['threshold']:.3f})")
    return f"unless its top probability is below the threshold ({_percent(ood['threshold'])})"


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
        >>> from nbhelpers import explain
        >>> from nbhelpers.deploy import Exported, export_all
        >>> d = tempfile.mkdtemp()
        >>> _ = export_all(explain.left_half_model(16), d, ["a", "b"], forms=["keras"])
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
    damage = manifest_problem(m)
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


