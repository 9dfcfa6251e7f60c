"""The export forms compared: size on disk, latency per image, accuracy, agreement with Keras.

:func:`compare_exports` measures every form of an export in one run against the Keras
model in memory (a DataFrame; the figure is ``nbh.plots.export_comparison``), from
:func:`size_on_disk` and :func:`latency_per_image`.  Taught in ``12_using_your_model``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import progress
from ..predictions import predict_function

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import keras
    import pandas as pd

    from .export import Exported

__all__ = ["size_on_disk", "latency_per_image", "compare_exports"]


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
        >>> from nbhelpers import explain
        >>> from nbhelpers.deploy import export_all
        >>> m = explain.left_half_model(16); x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
        >>> e = export_all(m, tempfile.mkdtemp(), ["a", "b"], forms=["keras", "tflite_float32"])
        >>> t = compare_exports(m, e, x, np.array([0, 1, 0, 1]), latency_images=2)
        >>> t["form"].tolist(), t["agreement"].tolist()
        (['keras', 'saved_model', 'tflite_float32'], [1.0, 1.0, 1.0])
    """
    import pandas as pd

    from .. import evaluate

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


