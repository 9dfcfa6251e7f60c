"""The review widget: buttons to go through flagged images and decide, one by one.

:func:`review_widget` shows each candidate with its split, label, a suggested
label and the reason it was flagged; **Keep**, **Drop** and **Relabel as**
call :func:`~nbhelpers.review.record`.  Taught in ``13_improving_your_data``.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import data
from ..config import Config
from ..data import Prepared
from .decisions import Entry, image_names, index_images, record
from .files import ReviewError, read, target_file

if TYPE_CHECKING:  # pragma: no cover - imported lazily at run time
    import ipywidgets
    import pandas as pd

__all__ = ["review_widget"]


# --------------------------------------------------------------------------- the candidates
def _candidate_paths(candidates: Any, suggested: Any, reasons: Any) -> tuple[list[Any], Any, Any]:
    """The candidates' paths; suggestions and reasons from a DataFrame's columns if not given."""
    import pandas as pd

    if isinstance(candidates, pd.DataFrame):
        if "path" not in candidates.columns:
            raise ValueError(f"candidates needs a 'path' column; it has {list(candidates.columns)}")
        paths = list(candidates["path"])
        suggested = list(candidates["suggested"]) if suggested is None and \
            "suggested" in candidates.columns else suggested
        reasons = list(candidates["reason"]) if reasons is None and \
            "reason" in candidates.columns else reasons
    elif isinstance(candidates, str | os.PathLike):
        paths = [candidates]
    else:
        paths = list(candidates)
    return paths, suggested, reasons


def _per_item(values: Any, what: str, names: list[str], prepared: Prepared) -> list[Any]:
    """One value per candidate, from a list (in order) or a mapping by path or name."""
    if values is None:
        return [None] * len(names)
    if isinstance(values, Mapping):
        by_name = {(data.entry_name(Path(k), Path(prepared.root).resolve())
                    if Path(k).is_absolute() else Path(k).as_posix()): v
                   for k, v in values.items()}
        return [by_name.get(n) for n in names]
    values = list(values)
    if len(values) != len(names):
        raise ValueError(f"{what} has {len(values)} values for {len(names)} candidates")
    return values


def _suggestion(sug: Any, class_names: Sequence[str]) -> str | None:
    """A suggested class (a name or an index) as a class name; None for none, NaN or no class."""
    if sug is not None and not (isinstance(sug, float) and sug != sug):  # NaN: none
        if not isinstance(sug, str) and 0 <= int(sug) < len(class_names):
            sug = class_names[int(sug)]
        return str(sug) if str(sug) in class_names else None
    return None


def _candidates(prepared: Prepared, candidates: Any, suggested: Any, reasons: Any,
                index: Mapping[str, Entry]) -> list[dict[str, Any]]:
    """``[{"name", "suggested", "reason"}]`` for each candidate, checked against ``prepared``."""
    paths, suggested, reasons = _candidate_paths(candidates, suggested, reasons)
    names = image_names(prepared, paths, index) if paths else []
    if len(names) != len(paths):
        raise ValueError("candidates name an image twice: list each image once")
    out = []
    for name, sug, why in zip(names, _per_item(suggested, "suggested", names, prepared),
                              _per_item(reasons, "reasons", names, prepared), strict=True):
        sug = _suggestion(sug, prepared.class_names)
        why = "" if why is None or (isinstance(why, float) and why != why) else str(why)
        if reasons is None and sug is not None:  # nothing said why: the suggestion is why
            why = f"flagged, suggested {sug}"
        out.append({"name": name, "suggested": sug, "reason": why})
    return out


def _thumbnail(file: Path, side: int = 224) -> bytes:
    """A PNG of ``file`` (any format PIL reads, EXIF-rotated upright), fit into ``side`` px."""
    from PIL import Image

    rgb = data.read_image(file)
    im = Image.fromarray(rgb)
    scale = side / max(im.size)
    resample = Image.NEAREST if scale > 1 else Image.BILINEAR  # small images: crisp pixels
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), resample)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------- the widget
class _Reviewer:
    """The widget's state: the candidates, the one shown (``at``), and its controls."""

    def __init__(self, prepared: Prepared, items: list[dict[str, Any]],
                 index: Mapping[str, Entry], cfg: Config | None) -> None:
        import ipywidgets as widgets

        self.prepared, self.items, self.index, self.cfg = prepared, items, index, cfg
        self.target = target_file(prepared, cfg)
        self.classes = list(prepared.class_names)
        self.at = 0
        self.header = widgets.HTML()
        self.picture = widgets.Image(format="png", width="224", height="224")
        self.info = widgets.HTML()
        self.status = widgets.HTML(value="<i>nothing recorded yet</i>")
        self.keep = widgets.Button(description="Keep", button_style="success",
                                   tooltip="the label is right: keep the image as it is")
        self.drop = widgets.Button(description="Drop", button_style="danger",
                                   tooltip="leave the image out of its split")
        self.relabel = widgets.Button(description="Relabel as", button_style="warning",
                                      tooltip="give the image the class chosen on the right")
        self.relabel_as = widgets.Dropdown(options=self.classes, value=self.classes[0],
                                           layout=widgets.Layout(width="180px"))
        self.previous = widgets.Button(description="Previous", tooltip="the previous image")
        self.after = widgets.Button(description="Next",
                                    tooltip="the next image (nothing recorded)")

    def decided(self, name: str) -> str:
        """What the review file says about ``name`` (HTML)."""
        try:
            table = read(self.target)
        except ReviewError as err:
            return f"<b>cannot read the review:</b> {html.escape(str(err))}"
        row = table[table["path"] == name]
        if not len(row):
            return "not decided yet"
        r = row.iloc[-1]
        what = f"relabel as {r['label']}" if r["decision"] == "relabel" else r["decision"]
        return f"recorded: <b>{html.escape(what)}</b> ({html.escape(str(r['when']))})"

    def _show_picture(self, entry: Entry) -> str:
        """Show ``entry``'s image; why it cannot be shown (HTML), or nothing."""
        try:
            self.picture.value = _thumbnail(self.prepared.readable.get(entry.file, entry.file))
            return ""
        except Exception as err:  # noqa: BLE001 - shown, never raised
            self.picture.value = b""
            return f"<br><b>cannot be shown:</b> {html.escape(f'{type(err).__name__}: {err}')}"

    def show(self, i: int) -> None:
        """Go to the ``i``-th candidate (clipped to the list)."""
        if not self.items:
            self.header.value = "<b>No images to review.</b>"
            for b in (self.keep, self.drop, self.relabel, self.previous, self.after):
                b.disabled = True
            return
        i = max(0, min(int(i), len(self.items) - 1))
        self.at = i
        item = self.items[i]
        entry = self.index[item["name"]]
        self.header.value = (f"<b>{i + 1} of {len(self.items)}</b>: "
                             f"<code>{html.escape(item['name'])}</code>")
        shown = self._show_picture(entry)
        classes = self.classes
        given = classes[entry.label] if 0 <= entry.label < len(classes) else "?"
        sug = item["suggested"]
        self.info.value = (
            f"split: <b>{entry.split}</b>{' (dropped by the review)' if entry.position < 0 else ''}"
            f" &middot; label: <b>{html.escape(given)}</b>"
            f" &middot; suggested: <b>{html.escape(sug) if sug else '-'}</b>"
            + (f"<br>reason: {html.escape(item['reason'])}" if item["reason"] else "")
            + f"<br>{self.decided(item['name'])}{shown}")
        self.relabel_as.value = sug if sug in classes and sug != given else next(
            (c for c in classes if c != given), classes[0])
        self.previous.disabled = i == 0
        self.after.disabled = i == len(self.items) - 1

    def decide(self, decision: str) -> None:
        """Record ``decision`` about the image shown, say so, and go to the next one."""
        if not self.items:
            return
        item = self.items[self.at]
        label = self.relabel_as.value if decision == "relabel" else None
        try:
            written = record(self.prepared, item["name"], decision, label=label,
                             reason=item["reason"], cfg=self.cfg)
        except Exception as err:  # noqa: BLE001 - a callback's error would vanish: show it
            self.status.value = (f"<b>not recorded:</b> "
                                 f"{html.escape(f'{type(err).__name__}: {err}')}")
            return
        what = f"relabel as {label}" if decision == "relabel" else decision
        last = self.at == len(self.items) - 1
        self.status.value = (f"wrote <b>{html.escape(what)}</b> for "
                             f"<code>{html.escape(item['name'])}</code> to "
                             f"<code>{html.escape(os.fspath(written))}</code>"
                             + (" &middot; that was the last one: nbh.data.prepare(cfg) applies "
                                "the review" if last else ""))
        self.show(self.at if last else self.at + 1)

    def box(self) -> ipywidgets.Widget:
        """The controls wired to their actions, in one box, showing the first candidate."""
        import ipywidgets as widgets

        self.keep.on_click(lambda _b: self.decide("keep"))
        self.drop.on_click(lambda _b: self.decide("drop"))
        self.relabel.on_click(lambda _b: self.decide("relabel"))
        self.previous.on_click(lambda _b: self.show(self.at - 1))
        self.after.on_click(lambda _b: self.show(self.at + 1))
        box = widgets.VBox([
            self.header, self.picture, self.info,
            widgets.HBox([self.keep, self.drop, self.relabel, self.relabel_as]),
            widgets.HBox([self.previous, self.after]),
            self.status,
        ])
        box.buttons = {"keep": self.keep, "drop": self.drop, "relabel": self.relabel,
                       "previous": self.previous, "next": self.after}
        box.relabel_as = self.relabel_as
        box.status = self.status
        box.names = [it["name"] for it in self.items]
        box.show = self.show
        self.show(0)
        return box


def review_widget(prepared: Prepared, candidates: Sequence[str | Path] | pd.DataFrame, *,
                  cfg: Config | None = None, suggested: Any = None,
                  reasons: Any = None) -> ipywidgets.Widget:
    """Buttons to go through flagged images and decide, one by one: keep, drop or relabel.

    ``candidates`` are images of ``prepared`` (paths or names, in any split), or
    a DataFrame with a ``path`` column and optional ``suggested`` (a class name
    or index, e.g. cleanlab's guess) and ``reason`` columns; ``suggested`` and
    ``reasons`` may also be given as lists (one per candidate) or as mappings
    from path to value (with no reasons at all, an image with a suggestion is
    recorded with the reason ``flagged, suggested <class>``).  Each image is
    shown with its split, its label, the suggested label and the reason;
    **Keep**, **Drop** and **Relabel as** (with a list of classes, preset to
    the suggestion) call :func:`~nbhelpers.review.record` and go on to the
    next image; **Previous** and **Next** only move.  The status line says
    what was written where.  Nothing happens to your files;
    ``nbh.data.prepare(cfg)`` applies the decisions.

    The returned box (ipywidgets 7 and 8) also has ``buttons`` (``{"keep",
    "drop", "relabel", "previous", "next"}``), ``relabel_as`` (the class
    list), ``status``, ``names`` (the candidates, as the CSV names them) and
    ``show(i)`` (go to the ``i``-th candidate).

    Taught in ``13_improving_your_data``.

    Example:
        >>> import dataclasses, tempfile
        >>> from nbhelpers.config import current
        >>> from nbhelpers.review import review_path
        >>> cfg = dataclasses.replace(current(), data_dir=Path(tempfile.mkdtemp()))
        >>> p = data.prepare(cfg, "faces", verbose=False)
        >>> w = review_widget(p, [p.train[0][0], p.train[1][0]], cfg=cfg, suggested=["non_face", None])
        >>> w.buttons["relabel"].click(); w.buttons["keep"].click()
        >>> read(review_path(cfg, p))[["path", "decision", "label"]].values.tolist()
        [['face/face_000.png', 'relabel', 'non_face'], ['face/face_001.png', 'keep', '']]
    """
    import ipywidgets  # noqa: F401 - a missing ipywidgets is said before anything else

    index = index_images(prepared, with_dropped=True)
    items = _candidates(prepared, candidates, suggested, reasons, index)
    return _Reviewer(prepared, items, index, cfg).box()
