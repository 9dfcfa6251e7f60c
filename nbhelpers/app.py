"""A demo web app for your model: upload a photo, see the classes, probabilities and Grad-CAM.

Taught in ``12_using_your_model``.  Built with Gradio (Colab ships it; the lock pins the
same version) from an exported model (``nbhelpers.deploy.export_all``)::

    python -m nbhelpers.app --model data/artifacts/offline/export          # the export folder
    python -m nbhelpers.app --model path/to/model.keras --classes cat,dog  # any .keras file
    python -m nbhelpers.app --model path/to/model_int8.tflite              # a TFLite form

A ``.keras`` model gives the probabilities and the Grad-CAM.  A ``.tflite`` file (or a
SavedModel folder) gives the probabilities; the Grad-CAM then comes from the ``.keras``
file of the same export folder when there is one.  Class names come from the export's
``manifest.json`` or ``--classes``.  Anything that is not an image gets a message in the
page, not a stack trace.  An export with an out-of-distribution threshold
(``export_all(..., ood=...)``) answers **None of these** for a photo whose score is below
it -- its top class probability, or its similarity to the training photos (the features
of its nearest training images, kept in the export's ``ood_bank.npy``; they come from the
``.keras`` model) -- and the probabilities are still shown; one with a model card
(``MODEL_CARD.md``) shows it in a collapsible "Model card" section of the page.

From a notebook: ``demo, url = nbh.app.launch(nbh.app.build_app(classifier))`` returns at
once (the server runs in a thread; ``demo.close()`` stops it); on Colab it makes a public
``*.gradio.live`` link (``share=True``), elsewhere a local URL.  Gradio is imported only
when an app is built, so ``import nbhelpers`` stays light.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Classifier", "Answer", "answer_text", "build_app", "launch", "main"]

_INTRO = "Upload a photo (JPEG, PNG, BMP or GIF): the model says what it sees and why."


def answer_text(prediction: Any) -> str:
    """The sentence the app shows for a prediction (the browser test reads it).

    A prediction that is ``unlike`` the training photos (below the export's
    out-of-distribution threshold) gets "None of these", its score in words (the top
    probability, or the similarity to the training photos) and the closest class.
    What :meth:`Classifier.answer` puts on the page.

    Example:
        >>> from nbhelpers.deploy import Prediction
        >>> answer_text(Prediction(None, np.zeros((1, 1, 3)), np.array([0.25, 0.75]), ["cat", "dog"]))
        'Predicted: **dog** with probability 75.0%'
        >>> print(answer_text(Prediction(None, np.zeros((1, 1, 3)), np.array([0.45, 0.55]),
        ...                              ["cat", "dog"], unlike=True, ood_score=0.55,
        ...                              ood_threshold=0.71)))
        **None of these**: this photo is unlike the training photos (top probability 55.0% < threshold 71.0%). The closest class would be: **dog**
        >>> print(answer_text(Prediction(None, np.zeros((1, 1, 3)), np.array([0.45, 0.55]),
        ...                              ["cat", "dog"], unlike=True, ood_score=0.41,
        ...                              ood_threshold=0.63, ood_score_name="nearest_neighbour")))
        **None of these**: this photo is unlike the training photos (similarity to the training photos 0.41 < threshold 0.63). The closest class would be: **dog**
    """
    if getattr(prediction, "unlike", False):
        from . import deploy

        return (f"{deploy.unlike_sentence(prediction, '**None of these**', space=False)}. "
                f"The closest class would be: **{prediction.label}**")
    return f"Predicted: **{prediction.label}** with probability {prediction.confidence:.1%}"


@dataclass
class Answer:
    """What the page shows for one upload: a message, class probabilities and the overlay.

    ``ok`` is False for a file that could not be classified; then only ``message``
    (what was wrong and what to upload instead) is set.  Otherwise ``message`` is
    :func:`answer_text`'s sentence, ``probabilities`` maps each class name to its
    probability, ``overlay`` is the Grad-CAM image (None without a ``gradcam_model``)
    and ``prediction`` the ``nbh.deploy.Prediction``.  What :meth:`Classifier.answer`
    returns.

    Example:
        >>> import tempfile
        >>> notes = Path(tempfile.mkdtemp()) / "notes.txt"; _ = notes.write_text("eggs, milk")
        >>> a = Classifier(None, ["cat", "dog"]).answer(notes)  # never reaches a model
        >>> a.ok, a.message[:34], a.probabilities, a.overlay
        (False, '**Not an image.** notes.txt cannot', None, None)
    """

    ok: bool
    message: str
    probabilities: dict[str, float] | None = None
    overlay: np.ndarray | None = None
    prediction: Any = None


@dataclass
class Classifier:
    """The model behind the app: any export form, the class names, a Keras model for Grad-CAM.

    Build it with :meth:`from_path` (a ``.keras``/``.tflite`` file, a SavedModel or an
    export folder) or directly from a Keras model in memory.  ``ood``: the export's
    out-of-distribution record (``nbh.deploy.Exported.ood``), ``card``: its model
    card's Markdown; both None when there is none.  A ``"nearest_neighbour"`` record
    needs ``ood_bank`` (``Exported.ood_bank``: the training images' features) and a
    Keras model (``model`` or ``gradcam_model``); the feature extractor
    (``feature_model``, ``nbh.ood.feature_extractor``) is built once, here, not per
    upload.  A record or bank that does not fit raises ValueError here.

    Example:
        >>> from nbhelpers import explain, ood
        >>> m = explain.left_half_model(16)
        >>> greys = np.stack([np.full((16, 16, 3), g, "float32") for g in (64, 128, 192)])
        >>> bank = ood.feature_bank(ood.feature_extractor(m).predict(greys, verbose=0))
        >>> record = ood.neighbour_record(bank, bank, k=1, layer="logits")
        >>> c = Classifier(m, ["a", "b"], ood=record, ood_bank=bank)
        >>> c.feature_model.output_shape
        (None, 8)
    """

    model: Any
    class_names: list[str]
    gradcam_model: Any = None
    label: str = ""
    source: str = "a Keras model in memory"
    ood: dict[str, Any] | None = None
    card: str | None = None
    ood_bank: np.ndarray | None = field(default=None, repr=False, compare=False)
    feature_model: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        from . import deploy

        self.ood, self.ood_bank, self.feature_model = deploy.ood_setup(
            self.model, self.ood, self.ood_bank, gradcam_model=self.gradcam_model,
            feature_model=self.feature_model)

    @classmethod
    def from_path(cls, path: str | Path, class_names: Sequence[str] | None = None) -> Classifier:
        """Load the model a path names; class names from ``class_names`` or ``manifest.json``.

        From an export folder's ``manifest.json`` also come the out-of-distribution
        threshold (``ood``), for a ``"nearest_neighbour"`` record its bank
        (``ood_bank.npy``, ``ood_bank``; the features then come from the export's
        ``.keras`` model, built into ``feature_model`` once) and the model card
        (``MODEL_CARD.md``, ``card``); a card or bank changed since it was written raises
        ``nbh.artifacts.ArtifactError``, as a changed model file does.

        Example:
            >>> Classifier.from_path("/no/such/model.keras")
            Traceback (most recent call last):
            ...
            FileNotFoundError: No model at /no/such/model.keras: ...
        """
        from . import deploy

        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(
                f"No model at {path}: pass an export folder (nbh.deploy.export_all), a .keras "
                f"file, a .tflite file or a SavedModel folder.")
        is_saved_model = path.is_dir() and (path / "saved_model.pb").is_file()
        folder = path.parent if path.is_file() or is_saved_model else path
        export = _read_export(folder, path, class_names)
        files = export.files
        path, form = _model_file(path, is_saved_model, files)
        model = deploy.load_form(form, path)
        gradcam_model = model if form == "keras" else (
            deploy.load_form("keras", files["keras"]) if "keras" in files and files["keras"].is_file()
            else None)
        names = list(class_names) if class_names else export.class_names
        if not names:
            raise ValueError(f"No class names for {path.name}: pass --classes a,b,... (in training "
                             f"order) or use an export folder with a {deploy.MANIFEST}.")
        source = path.name + ("" if gradcam_model is None or form == "keras"
                              else f" (Grad-CAM from {files['keras'].name})")
        return cls(model, [str(n) for n in names], gradcam_model, export.label, source,
                   export.ood, export.card, ood_bank=export.ood_bank)

    def answer(self, file_path: str | Path | None) -> Answer:
        """Classify an uploaded file; never raises: a bad file gives ``ok=False`` and a message.

        With ``ood``, a photo whose score (top probability, or similarity to the
        training photos) is below the threshold gets "**None of these**" and the closest
        class (:func:`answer_text`); the probabilities and the Grad-CAM are still shown.

        Example:
            >>> from nbhelpers import explain
            >>> c = Classifier(explain.left_half_model(16), ["a", "b"])
            >>> c.answer(None).message
            'Upload a photo first.'
        """
        from . import deploy, plots

        if not file_path:
            return Answer(False, "Upload a photo first.")
        name = Path(file_path).name
        try:
            pred = deploy.classify_file(self.model, file_path, self.class_names,
                                        gradcam=self.gradcam_model is not None,
                                        gradcam_model=self.gradcam_model, ood=self.ood,
                                        ood_bank=self.ood_bank, feature_model=self.feature_model)
        except deploy.NotAnImageError as exc:
            return Answer(False, f"**Not an image.** {exc}")
        except Exception as exc:  # the page says what happened; the console gets the traceback
            traceback.print_exc()
            return Answer(False, f"**Could not classify {name}**: {type(exc).__name__}: {exc}")
        overlay = None
        if pred.explanation is not None:
            overlay = plots.overlay_array(pred.image, pred.explanation)
        lines = [answer_text(pred)]
        if self.label:
            lines.append(f"*{self.label}*")
        return Answer(True, "\n\n".join(lines), pred.as_dict(), overlay, pred)


@dataclass
class _FromExport:
    """What an export folder gives the app: its files, class names, label, ood, card, bank."""

    files: dict[str, Path] = field(default_factory=dict)
    class_names: list[str] | None = None
    label: str = ""
    ood: dict[str, Any] | None = None
    card: str | None = None
    ood_bank: np.ndarray | None = None


def _read_export(folder: Path, path: Path, class_names: Sequence[str] | None) -> _FromExport:
    """The export in ``folder``, its files checked against the manifest; empty without one.

    Files that do not match the manifest raise, unless the caller names the classes and a
    model file (then nothing is read from the manifest).
    """
    from . import artifacts, deploy

    if not (folder / deploy.MANIFEST).is_file():
        return _FromExport()
    try:  # checks that the files are the ones the manifest describes
        exported = deploy.Exported.open(folder)
    except artifacts.ArtifactError:
        if not (class_names and path.is_file()):
            raise  # the class names would come from a manifest that does not match
        return _FromExport()
    card = exported.card_path.read_text(encoding="utf-8") if exported.card_path else None
    return _FromExport(exported.paths, exported.class_names, exported.label, exported.ood,
                       card, exported.ood_bank)


def _model_file(path: Path, is_saved_model: bool, files: dict[str, Path]) -> tuple[Path, str]:
    """The model to load and its form: a SavedModel, an export's Keras file, a .keras, a .tflite."""
    from . import deploy

    if is_saved_model:
        return path, "saved_model"
    if path.is_dir():
        if "keras" not in files:
            raise FileNotFoundError(f"{path} holds no {deploy.MANIFEST} with a Keras model, "
                                    f"nor a saved_model.pb: pass a model file.")
        return files["keras"], "keras"
    if path.suffix == ".keras":
        return path, "keras"
    if path.suffix == ".tflite":
        return path, "tflite_float32"  # any TFLite form loads the same way
    raise ValueError(f"{path.name}: not a model file (.keras or .tflite) or folder.")


def _threshold(ood: dict[str, Any]) -> str:
    """The threshold as the page writes it: ``71.0%`` (top probability) or ``similarity 0.630``."""
    if ood["score"] == "nearest_neighbour":
        return f"similarity {ood['threshold']:.3f}"
    return f"{ood['threshold']:.1%}"


def _below(ood: dict[str, Any]) -> str:
    """``top probability is below 71.0%`` / ``similarity to the training photos is below 0.630``."""
    from . import deploy

    value = (f"{ood['threshold']:.3f}" if ood["score"] == "nearest_neighbour"
             else f"{ood['threshold']:.1%}")
    return f"{deploy.OOD_SCORE_WORDS[ood['score']]} is below {value}"


def build_app(classifier: Classifier, title: str = "What does the model see?") -> Any:
    """The Gradio ``Blocks`` page: a file upload, the answer, the classes and the Grad-CAM.

    Element ids for tests and styling: ``photo`` (upload), ``classify`` (button),
    ``answer`` (the sentence), ``classes`` (probabilities), ``gradcam`` (overlay),
    ``card`` (the collapsible "Model card" section, only when the classifier has a card).
    Nothing is served until :func:`launch`.

    Example:
        >>> demo = build_app(Classifier(None, ["cat", "dog"]))  # no model needed to build it
        >>> sorted(b.elem_id for b in demo.blocks.values() if getattr(b, "elem_id", None))
        ['answer', 'classes', 'classify', 'gradcam', 'photo']
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def respond(file_path: str | None) -> tuple[str, Any, Any]:
        a = classifier.answer(file_path)
        return a.message, a.probabilities, a.overlay

    unlike = ("" if not classifier.ood else
              f" A photo whose {_below(classifier.ood)} is answered *None of these*.")
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\n{_INTRO}\n\nModel: `{classifier.source}`, classes: "
                    f"{', '.join(classifier.class_names)}.{unlike}"
                    + (f"\n\n**{classifier.label}**" if classifier.label else ""))
        with gr.Row():
            with gr.Column():
                photo = gr.File(label="Photo", type="filepath", elem_id="photo")
                button = gr.Button("Classify", variant="primary", elem_id="classify")
            with gr.Column():
                answer = gr.Markdown("Upload a photo to classify it.", elem_id="answer")
                classes = gr.Label(num_top_classes=min(5, len(classifier.class_names)),
                                   label="Class probabilities", elem_id="classes")
                overlay = gr.Image(label="Grad-CAM: where the evidence for the answer is",
                                   type="numpy", interactive=False, elem_id="gradcam")
        if classifier.card:
            with gr.Accordion("Model card", open=False, elem_id="card"):
                gr.Markdown(classifier.card)
        photo.upload(respond, photo, [answer, classes, overlay])
        button.click(respond, photo, [answer, classes, overlay])
    return demo


def launch(demo: Any, *, share: bool | None = None, host: str = "127.0.0.1",
           port: int | None = None, block: bool = False, quiet: bool = True) -> tuple[Any, str]:
    """Start the app; return ``(demo, url)``.  ``share`` defaults to "on Colab".

    ``block=False`` (for notebooks) returns at once, the server running in a thread
    until ``demo.close()``; the command line blocks until Ctrl-C.  On Colab a local URL
    is not reachable from your browser, so ``share=True`` asks Gradio for a public
    ``https://*.gradio.live`` link (valid for a week; anyone with it can use the app).
    ``url`` is that link, or the local address (``http://127.0.0.1:7860/``, or the
    next free port).

    Example:
        >>> demo, url = launch(build_app(Classifier(None, ["cat", "dog"])), share=False)
        >>> url.startswith("http://127.0.0.1:")
        True
        >>> demo.close()
        Closing server running on port: ...
    """
    from . import env

    if share is None:
        share = env.in_colab()
    demo.launch(share=share, server_name=host, server_port=port, prevent_thread_lock=not block,
                quiet=quiet, inline=False)
    url = (demo.share_url if share and demo.share_url else demo.local_url) or ""
    return demo, url


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nbhelpers.app --model PATH [--classes a,b] [--port N] [--share]``.

    Serves the app until Ctrl-C, then returns 0; a model that cannot be loaded
    (no such path, no class names, a damaged export) prints ``error: ...`` on
    stderr and returns 2, the exit status.

    Example:
        >>> main(["--model", "/no/such/model.keras"])
        2
    """
    ap = argparse.ArgumentParser(prog="python -m nbhelpers.app", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True,
                    help="an export folder, a .keras file, a .tflite file or a SavedModel folder")
    ap.add_argument("--classes", help="class names in training order, comma-separated "
                                      "(default: the export's manifest.json)")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the network)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="a public gradio.live link")
    args = ap.parse_args(argv)
    try:
        classifier = Classifier.from_path(
            args.model, [c.strip() for c in args.classes.split(",")] if args.classes else None)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:  # RuntimeError: ArtifactError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    demo = build_app(classifier)
    extras = [f"'none of these' below {_threshold(classifier.ood)}"] if classifier.ood else []
    extras += ["with its model card"] if classifier.card else []
    print(f"Serving {classifier.source}{' (' + ', '.join(extras) + ')' if extras else ''} "
          f"on http://{args.host}:{args.port} (Ctrl-C stops it)")
    launch(demo, share=args.share, host=args.host, port=args.port, block=True, quiet=False)
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    sys.exit(main())
