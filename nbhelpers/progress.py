"""Feedback on long work: progress bars for loops, one line per epoch for ``fit``; one switch.

The helpers that make a learner wait more than a few seconds draw through it: feature
extraction and ``fit`` (``nbh.training``), test-time augmentation, int8 calibration and
the exports (``nbh.deploy``).

``tqdm.auto`` draws a widget bar in JupyterLab and on Colab (both need ``ipywidgets``; the
lock pins it, Colab ships it) and a text bar in a terminal.  **The switch** is tqdm's own
environment variable ``TQDM_DISABLE``: set to ``1`` (the Makefile does for ``make test``
and ``make run``; the tests' ``conftest.py`` does too) it silences these bars *and* the
tqdm bars of lime and shap, so tests and CI logs stay quiet with one setting.  As tqdm
reads it, **any non-empty value disables** (``TQDM_DISABLE=0`` too: tqdm turns the text
into a bool); unset it or set it empty (``TQDM_DISABLE=``, as ``make lab`` does) for bars.
``NBH_PROGRESS=0`` / ``=1`` overrides it for nbhelpers' own bars only.

    for image in nbh.progress.bar(images, desc="TFLite int8"):
        ...
    model.fit(..., verbose=nbh.progress.keras_verbose())   # 2: one line per epoch, or 0
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

__all__ = ["enabled", "bar", "keras_verbose"]

_OFF = {"1", "true", "yes", "on"}
_ON = {"0", "false", "no", "off", ""}


def _flag(name: str) -> bool | None:
    """``True``/``False`` for a set environment variable, ``None`` when unset or unreadable."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _OFF:
        return True
    if value in _ON:
        return False
    return None


def enabled() -> bool:
    """Whether nbhelpers shows progress: ``NBH_PROGRESS`` if set, else ``TQDM_DISABLE`` unset or empty.

    Example:
        >>> import os
        >>> old = os.environ.get("NBH_PROGRESS"); os.environ["NBH_PROGRESS"] = "0"
        >>> enabled()
        False
        >>> os.environ["NBH_PROGRESS"] = "1"; enabled()
        True
        >>> _ = os.environ.pop("NBH_PROGRESS") if old is None else os.environ.update(NBH_PROGRESS=old)
    """
    own = _flag("NBH_PROGRESS")
    if own is not None:
        return own
    return not os.environ.get("TQDM_DISABLE")  # tqdm's rule: set and non-empty = off


def bar(iterable: Iterable[Any] | None = None, *, desc: str | None = None,
        total: int | None = None, leave: bool = False, **kwargs: Any) -> Any:
    """A ``tqdm.auto`` progress bar over ``iterable``, switched off by :func:`enabled`.

    ``leave=False``: the bar disappears when the loop ends, so a notebook keeps only
    the results.  Any other ``tqdm`` argument passes through.

    Example:
        >>> [x * 2 for x in bar(range(3), desc="demo")]
        [0, 2, 4]
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=not enabled(), **kwargs)


def keras_verbose() -> int:
    """The ``verbose=`` for ``model.fit``: 2 (one line per epoch) with progress on, else 0.

    Keras' verbose=1 redraws a bar per batch, which floods a notebook's stored output;
    2 prints one line per finished epoch.

    Example:
        >>> keras_verbose() in (0, 2)
        True
    """
    return 2 if enabled() else 0
