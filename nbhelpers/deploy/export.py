"""One export folder: every form, the manifest that vouches for them, the lock, reading it back.

:func:`export_all` writes every form of :data:`~nbhelpers.deploy.forms.EXPORT_FORMS`
into one folder with a ``manifest.json`` (the file of each form, the class names in
training order, the image size, the profile's label, the seconds each form took, the
SHA-256 of every file) and, optionally, the out-of-distribution record with its bank and
the model card.  :meth:`Exported.open` reads the folder back and checks every file
against the manifest.  :func:`export_lock` keeps two kernels from writing one export at
once.  Taught in ``12_using_your_model``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import artifacts, progress
from ..config import Config, current
from .convert import convert_tflite, export_keras, export_saved_model, inference_model
from .forms import EXPORT_FORMS, TFLITE_QUANTIZATION, load_form
from .none_of_these import (
    OOD_BANK,
    bank_width_problem,
    cached_feature_extractor,
    check_bank,
    check_ood,
)
from .photo import check_names

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras

__all__ = ["Exported", "export_all", "export_lock"]

#: The manifest's file name inside an export folder: it names and vouches for every file.
MANIFEST = "manifest.json"
#: The model card's file name inside an export folder (:func:`write_model_card`).
MODEL_CARD = "MODEL_CARD.md"


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


def manifest_problem(m: dict[str, Any] | None) -> str | None:
    """What is wrong with the shape of a manifest (keys and their types), or None.

    Example:
        >>> manifest_problem({"files": {"keras": "model.keras"}})
        'its manifest.json has no list of class names (damaged, or another format)'
    """
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
            ood = check_ood(m["ood"])
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


def _checked_manifest(folder: Path) -> tuple[dict[str, Any], str | None, str | None]:
    """The export's manifest, its card's and bank's names; every model file checked against it."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise FileNotFoundError(f"No {MANIFEST} in {folder}: export the model with "
                                f"nbh.deploy.export_all(model, folder, class_names) first.")
    m = artifacts.read_json(manifest)
    damage = manifest_problem(m)
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
    return m, card, bank_name


def _checked_card(folder: Path, card: str | None, m: dict[str, Any]) -> Path | None:
    """The model card's path, checked against the manifest; None when there is none (or deleted)."""
    if card is None or not (folder / card).exists():
        return None
    problem = artifacts.check_files({"files": {card: m["checksums"][card]}}, folder)
    if problem is not None:
        raise artifacts.ArtifactError(
            f"The model card of the export in {folder} cannot be trusted: {problem}. "
            f"Write it again (nbh.deploy.write_model_card(folder, text)), or delete "
            f"{card} to use the model without its card.")
    return folder / card


@dataclass
class Exported:
    """The folder :func:`export_all` wrote: a path per form, seconds per form, the manifest.

    ``Exported.open(folder)`` reads it back (class names, image size, profile label,
    the out-of-distribution record ``ood``, the model card's ``card_path`` and, for a
    ``"nearest_neighbour"`` record, ``ood_bank``: the training images' features as
    float32 unit rows, from ``ood_bank.npy``; each None when the export has none).
    What :func:`export_all` returns and what the app (``nbh.app.Classifier.from_path``)
    opens; ``load(form)`` gives the model in one form (for a form not in ``paths``,
    a ``KeyError`` that names the exported ones).

    Example:
        >>> e = Exported(Path("export"), {"keras": Path("export/model.keras")}, ["cat", "dog"], 64)
        >>> e.load("tflite_int8")
        Traceback (most recent call last):
        ...
        KeyError: "no 'tflite_int8' in export; exported: keras"
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
        manifest without ``ood`` and ``card`` opens with both None.

        Example:
            >>> Exported.open("/no/such/folder")
            Traceback (most recent call last):
            ...
            FileNotFoundError: No manifest.json in /no/such/folder: ...
        """
        folder = Path(folder)
        m, card, bank_name = _checked_manifest(folder)
        card_path = _checked_card(folder, card, m)
        ood = None if m.get("ood") is None else check_ood(m["ood"])
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


def export_all(model: keras.Model, folder: str | Path, class_names: Sequence[str],
               cfg: Config | None = None, *, representative: np.ndarray | None = None,
               forms: Sequence[str] = tuple(EXPORT_FORMS), ood: dict[str, Any] | None = None,
               ood_bank: np.ndarray | None = None, card: str | None = None) -> Exported:
    """Write the model in every form of :data:`EXPORT_FORMS` into ``folder``, with a manifest.

    What is exported is :func:`inference_model` (no optimizer state).  The SavedModel is
    about twice the size of its weights: Keras' ``model.export()`` (3.13 to 3.15 at
    least) stores every variable twice (keras-team/keras#23553).  ``representative``:
    training images for the ``tflite_int8`` calibration (needed for that form;
    :func:`representative_sample`).  TFLite forms are converted from the
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
    under ``"card"`` and checksummed like the model files.  A card or bank already in
    the folder is removed (it describes the model that was there).  Callers read ``paths``,
    ``class_names``, ``ood``, ``ood_bank`` and ``card_path`` of the returned
    :class:`Exported`.  Taught in ``12_using_your_model``.

    Example:
        >>> import tempfile
        >>> from nbhelpers import explain
        >>> e = export_all(explain.left_half_model(16), tempfile.mkdtemp(), ["a", "b"],
        ...                forms=["keras", "tflite_float32"])
        >>> sorted(e.paths), Exported.open(e.folder).class_names
        (['keras', 'saved_model', 'tflite_float32'], ['a', 'b'])
        >>> ood = {"score": "max_probability", "threshold": 0.71, "tpr": 0.95,
        ...        "chosen_on": "validation", "n": 40}
        >>> e = export_all(explain.left_half_model(16), tempfile.mkdtemp(), ["a", "b"], forms=["keras"],
        ...                ood=ood, card="# Model card: a or b")
        >>> again = Exported.open(e.folder)
        >>> again.ood["threshold"], again.card_path.name
        (0.71, 'MODEL_CARD.md')
        >>> from nbhelpers import ood as nbh_ood
        >>> m = explain.left_half_model(16)
        >>> greys = np.stack([np.full((16, 16, 3), g, "float32") for g in (64, 128, 192)])
        >>> features = nbh_ood.feature_extractor(m).predict(greys, verbose=0)
        >>> record = nbh_ood.neighbour_record(features, features, k=1, layer="logits")
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
    ood = None if ood is None else check_ood(ood)
    bank = check_bank(ood_bank, ood)
    if bank is not None:
        assert ood is not None
        if "keras" not in forms:
            raise ValueError("ood['score'] is 'nearest_neighbour': the photo's features come "
                             "from the Keras model, so the export needs it: add 'keras' to forms.")
        extractor = cached_feature_extractor(model, ood["layer"])
        problem = bank_width_problem(bank, extractor, ood["layer"])
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
    """:func:`export_all`'s writing, under the export's lock: the forms, card, bank, manifest."""
    # No manifest while the files change: an old one must never describe new files;
    # nor an old card (it describes the model that was there).
    (folder / MANIFEST).unlink(missing_ok=True)
    (folder / MODEL_CARD).unlink(missing_ok=True)
    (folder / OOD_BANK).unlink(missing_ok=True)
    names = [str(c) for c in class_names]
    units = int(model.output_shape[-1])
    check_names(np.zeros(2 if units == 1 else units), names)
    model = inference_model(model)
    paths, seconds = _write_forms(folder, model, wanted, representative)
    size = int(model.input_shape[1])
    card_path = None if card is None else artifacts.write_bytes(folder / MODEL_CARD, card)
    bank_path = None if bank is None else artifacts.write_with(
        folder / OOD_BANK, lambda tmp: _save_npy(tmp, bank))  # whole or not at all
    manifest = _manifest(paths, names, size, cfg, seconds, ood, card_path, bank_path)
    artifacts.write_json(folder / MANIFEST, manifest, indent=1)  # last: it vouches for the files
    return Exported(folder, paths, names, size, cfg.label(), seconds, ood, card_path, bank)


def _write_forms(folder: Path, model: keras.Model, wanted: list[str],
                 representative: np.ndarray | None) -> tuple[dict[str, Path], dict[str, float]]:
    """Each wanted form written into ``folder``, in order: ``(paths, seconds)`` per form."""
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
        else:  # TFLite forms are converted from the SavedModel, written before them
            convert_tflite(paths["saved_model"], target, TFLITE_QUANTIZATION[form],
                           representative if form == "tflite_int8" else None)
        seconds[form] = time.perf_counter() - t0
        paths[form] = target
    return paths, seconds


def _manifest(paths: dict[str, Path], names: list[str], size: int, cfg: Config,
              seconds: dict[str, float], ood: dict[str, Any] | None, card_path: Path | None,
              bank_path: Path | None) -> dict[str, Any]:
    """What ``manifest.json`` holds: each form's file, the class names, size, profile, checksums."""
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
    return manifest
