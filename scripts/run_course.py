"""`make run`: execute every notebook in order, render HTML, print timings.

    python scripts/run_course.py [--only 03] [--timeout 3600] [--out build] [--no-record]

Writes <out>/executed/<nb>.ipynb, <out>/html/<nb>.html and <out>/html/index.html
(the course map with each notebook's wall time, status and the profile that
produced it), and <out>/timings.json.  Each executed notebook keeps what ran it
in its metadata (``nbhelpers_run``: :func:`run_record`), which the site
(``scripts/build_site.py``) shows on every page.  A failing notebook does not stop the
others; the exit status is 1 when any failed.  Timings go to docs/timings.json
and the instructor guide only from a run at the profile's own budgets on the
real files (no ``NBH_OVERRIDES``, no rehearsal stand-ins, no ``NBH_DATA_SOURCE``).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_site  # noqa: E402
import nbtools  # noqa: E402

ROOT = nbtools.ROOT
BUILD = ROOT / "build"


def detect_profile(nb) -> str:
    """The profile a notebook ran in, read from the banner printed by nbh.setup()."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            if "nbhelpers profile:" in text:
                return text.split("nbhelpers profile:", 1)[1].split()[0]
    return "unknown"


def _status_mib(pid: int | None, key: str) -> float | None:
    """One ``/proc/<pid>/status`` figure (``VmHWM``, ``RssFile``) in MiB; None where unknown."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_resident_mib(pid: int | None) -> float | None:
    """A process's peak resident memory so far (Linux ``VmHWM``), in MiB; None where unknown.

    Example:
        >>> peak_resident_mib(os.getpid()) > 0 if sys.platform == "linux" else True
        True
        >>> peak_resident_mib(None) is None
        True
    """
    return _status_mib(pid, "VmHWM")


def process_cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds a process and its waited-for children have used so far; None where unknown.

    Linux ``/proc/<pid>/stat`` (user + system, own and children's).  Unlike wall time it
    hardly moves when other work shares the machine: VGG16's cost unit took 9.05 s of CPU
    alone and 9.27 s beside a second busy process that doubled its wall time (4.6 s ->
    10.3 s), so CI's cost check (``scripts/cost_model.py``) reads CPU time.

    Example:
        >>> process_cpu_seconds(os.getpid()) > 0 if sys.platform == "linux" else True
        True
        >>> process_cpu_seconds(None) is None
        True
    """
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        return round(ticks / os.sysconf("SC_CLK_TCK"), 2)
    except (OSError, ValueError, IndexError):
        return None


def library_pages_mib(pid: int | None) -> float | None:
    """The resident pages of a process that are files: the libraries' code (``RssFile``), MiB.

    TensorFlow's alone is about 450 MiB.  The system can drop such pages under
    pressure and read them again, so a memory limit (Binder's 2 GB) bites on
    the rest: see :func:`counted_peak_mib`.

    Example:
        >>> library_pages_mib(os.getpid()) >= 0 if sys.platform == "linux" else True
        True
    """
    return _status_mib(pid, "RssFile")


#: mybinder.org restarts a kernel whose memory goes over 2 GB: every cpu notebook stays under it.
MEMORY_BUDGET_MIB = 2048


def counted_peak_mib(result: dict) -> float | None:
    """The peak that counts against a memory limit: peak resident memory less library pages.

    Example:
        >>> counted_peak_mib({"peak_mib": 2500.0, "library_mib": 460.0})
        2040.0
        >>> counted_peak_mib({"peak_mib": 900.0}), counted_peak_mib({})
        (900.0, None)
    """
    peak = result.get("peak_mib")
    if peak is None:
        return None
    return round(peak - (result.get("library_mib") or 0.0), 1)


def over_memory_budget(result: dict) -> str | None:
    """A sentence when a notebook's counted peak is over :data:`MEMORY_BUDGET_MIB`, else None.

    Example:
        >>> over_memory_budget({"peak_mib": 2700.0, "library_mib": 450.0, "peak_cell": 13})
        "over Binder's 2048 MiB: peak 2250 MiB less libraries (cell 13 raised it most)"
        >>> over_memory_budget({"peak_mib": 1900.0, "library_mib": 450.0}) is None
        True
    """
    counted = counted_peak_mib(result)
    if counted is None or counted <= MEMORY_BUDGET_MIB:
        return None
    cell = result.get("peak_cell")
    where = "" if cell is None else f" (cell {cell} raised it most)"
    return f"over Binder's {MEMORY_BUDGET_MIB} MiB: peak {counted:.0f} MiB less libraries{where}"


def peak_text(result: dict) -> str:
    """``"  peak 1900 MiB (1450 less libraries; cell 20 +700)"`` where the peak was recorded, else ``""``.

    The cell is the one whose run raised the peak most, numbered from 0 as in the notebook.
    """
    mib = result.get("peak_mib")
    if mib is None:
        return ""
    cell = result.get("peak_cell")
    where = [] if result.get("library_mib") is None else \
        [f"{counted_peak_mib(result):.0f} less libraries"]
    if cell is not None:
        where.append(f"cell {cell} +{result.get('peak_cell_mib', 0):.0f}")
    return f"  peak {mib:.0f} MiB" + (f" ({'; '.join(where)})" if where else "")


def runner() -> str:
    """The machine a run is on, as the guide and the site name it: a GitHub Actions
    runner by its name, OS and architecture (``RUNNER_*``), elsewhere the platform.

    Example:
        >>> isinstance(runner(), str) and runner() != ""
        True
    """
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return (f"GitHub Actions runner {os.environ.get('RUNNER_NAME', '?')} "
                f"({os.environ.get('RUNNER_OS', '?')}, {os.environ.get('RUNNER_ARCH', '?')}, "
                f"{os.cpu_count()} CPUs)")
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"


def not_recordable() -> str | None:
    """Why this process's runs must not go into docs/timings.json: budgets cut, stand-in
    weights or someone's own folder of images; None for a run the guide can quote."""
    from nbhelpers.config import standin_weights

    reasons = [why for var, why in (("NBH_OVERRIDES", "budgets cut (NBH_OVERRIDES)"),
                                    ("NBH_DATA_SOURCE", "another data set (NBH_DATA_SOURCE)"))
               if os.environ.get(var)]
    if standin_weights():
        reasons.append("stand-in weights (a rehearsal)")
    return "; ".join(reasons) or None


def run_record(nb, seconds: float, error: str | None, started: datetime,
               code: str | None = None, cpu_seconds: float | None = None) -> dict:
    """What ran a notebook, kept in its executed copy as ``metadata["nbhelpers_run"]``.

    Keys: ``profile`` (from the setup banner), ``standins`` (rehearsal stand-in
    weights), ``not_recordable`` (why the run is not a profile's own, or None),
    ``started`` (ISO 8601, UTC), ``seconds``, ``ok``, ``error``, ``commit``
    (:func:`current_commit`), ``runner`` (:func:`runner`), ``code`` (the notebook's
    :func:`code_digest`, what its timing rows are checked against), ``cpu_seconds``
    (the kernel's CPU time, :func:`process_cpu_seconds`; None where unknown).
    """
    from nbhelpers.config import standin_weights

    return {"profile": detect_profile(nb), "standins": standin_weights(),
            "not_recordable": not_recordable(), "started": started.isoformat(timespec="seconds"),
            "seconds": round(seconds, 1), "ok": error is None, "error": error,
            "commit": current_commit(), "runner": runner(), "code": code,
            "cpu_seconds": cpu_seconds}


#: The profiles whose times the guide gives in units (what a workshop plans with).
UNIT_PROFILES = ("cpu", "full")


def measure_unit() -> float:
    """The cost unit on this machine, in seconds (scripts/rehearse.py's ``unit_seconds``):
    VGG16's base over 100 images at 160 px, in a child process with its own TensorFlow.
    Random weights: the compute does not depend on their values, and a run without the
    ImageNet file can still say what its notebooks cost in units."""
    import subprocess

    code = ("import sys; sys.path.insert(0, sys.argv[1]); import keras, rehearse; "
            "b = keras.applications.VGG16(include_top=False, weights=None, "
            "input_shape=(rehearse.UNIT_SIZE, rehearse.UNIT_SIZE, 3)); "
            "print(rehearse.unit_seconds(b))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "scripts")],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise RuntimeError(f"measuring the unit failed: {out.stderr.strip()[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def run_one(path: Path, timeout: int, out: Path = BUILD, prepend: list | None = None) -> dict:
    """Execute one notebook in a fresh kernel; write ``out/executed/`` and ``out/html/``.

    ``prepend``: cells put before the notebook's own (the rehearsal's banner).  The
    result's ``peak_mib`` is the kernel's peak resident memory (what Binder's 2 GB limit
    and a laptop's RAM see), read after every cell; None where the system does not say;
    ``cpu_seconds`` the kernel's CPU time (:func:`process_cpu_seconds`), read the same way.
    """
    code = code_digest(path)  # what runs: an edit made during a long run is not what ran
    nb = nbformat.read(path, as_version=4)
    nb.cells = list(prepend or []) + nb.cells
    peak: dict[str, Any] = {"mib": None, "cell": None, "rise": 0.0, "library": None, "cpu": None}
    first = len(prepend or [])

    def after_cell(cell_index: int = 0, **_: object) -> None:
        # The high-water mark only grows: keep the latest, and the cell that raised it most
        # (numbered as in the notebook itself, without the prepended cells).
        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        peak["cpu"] = process_cpu_seconds(pid)  # it only grows: the last cell's is the total
        mib = peak_resident_mib(pid)
        if mib is None:
            return
        rise = mib - (peak["mib"] or mib)
        if rise > peak["rise"]:
            peak["cell"], peak["rise"] = cell_index - first, rise
        if peak["library"] is None or rise > 0:  # the libraries resident when the peak was set
            peak["library"] = library_pages_mib(pid)
        peak["mib"] = mib

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            config=nbtools.kernel_config(), on_cell_executed=after_cell,
                            resources={"metadata": {"path": str(path.parent)}})
    start, started = time.perf_counter(), datetime.now(UTC)
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else "cell failed"
    except Exception as exc:  # a dead kernel, a timeout: report it, go on with the rest
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    nb.metadata["nbhelpers_run"] = run_record(nb, seconds, error, started, code, peak["cpu"])
    (out / "executed").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / "executed" / path.name)
    body, _ = HTMLExporter().from_notebook_node(nb)
    (out / "html").mkdir(parents=True, exist_ok=True)
    (out / "html" / f"{path.stem}.html").write_text(body, encoding="utf-8")
    held, not_held = build_site.claim_lines(nb)
    return {"notebook": path.stem, "seconds": round(seconds, 1), "ok": error is None,
            "claims": [len(held), len(held) + len(not_held)],
            "error": error, "profile": detect_profile(nb), "code": code,
            "cpu_seconds": peak["cpu"], "peak_mib": peak["mib"],
            "peak_cell": peak["cell"], "peak_cell_mib": round(peak["rise"], 1),
            "library_mib": peak["library"]}


def code_digest(path: Path) -> str:
    """A digest of a notebook's own code cells: what a timing row measured.

    Prose edits leave it alone, and so does the setup cell that ``make nav``
    generates (it names the release and the repository: a new version or a fork
    would otherwise make every row stale).

    Example:
        >>> a = code_digest(ROOT / "notebooks" / "00_start_here.ipynb"); len(a)
        12
    """
    return cells_digest(json.loads(Path(path).read_text(encoding="utf-8"))["cells"])


def cells_digest(cells: list[dict], skip: tuple[str, ...] = ()) -> str:
    """:func:`code_digest` of a list of cells (nbformat JSON), leaving out code cells whose
    source is one of ``skip`` (a cell a harness prepended to an executed copy).

    Example:
        >>> cells_digest([{"cell_type": "code", "source": "x = 1", "metadata": {}}])
        '8ff436def145'
    """
    import hashlib

    code = "\0".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                      and "setup" not in c.get("metadata", {}).get("tags", [])
                      and "".join(c["source"]) not in skip)
    return hashlib.sha256(code.encode()).hexdigest()[:12]


def index_page(results: list[dict]) -> str:
    by_stem = {r["notebook"]: r for r in results}
    rows = []
    for stem, title, what in nbtools.COURSE:
        r = by_stem.get(stem)
        if r is None:
            status, secs, prof, link = "not run", "", "", html.escape(title)
        else:
            status = "ok" if r["ok"] else f"FAILED: {html.escape(r['error'] or '')}"
            secs, prof = f"{r['seconds']:.1f}", r["profile"]
            if r.get("peak_mib") is not None:
                secs += f" ({r['peak_mib']:.0f} MiB)"
            link = f'<a href="{stem}.html">{html.escape(title)}</a>'
        rows.append(f"<tr><td>{stem[:2]}</td><td>{link}</td><td>{html.escape(what)}</td>"
                    f"<td>{prof}</td><td style='text-align:right'>{secs}</td><td>{status}</td></tr>")
    profiles = sorted({r["profile"] for r in results})
    warn = ""
    if "offline" in profiles:
        warn = ("<p style='background:#fee;padding:.6em;border:1px solid #c00'><b>Offline profile:</b> "
                "untrained (random) base weights and tiny bundled images. Accuracies and maps in "
                "these pages are not a trained model's results; what holds on any weights is "
                "checked as in every profile, and EfficientNet-Lite0's weights are real.</p>")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    total = sum(r["seconds"] for r in results)
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Fine-tuning a pretrained image model: executed notebooks</title>
<style>body{{font-family:system-ui,sans-serif;max-width:62em;margin:2em auto;padding:0 1em}}
td,th{{padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}}table{{border-collapse:collapse}}</style>
</head><body>
<h1>Fine-tuning a pretrained image model</h1>
<p>Executed with <code>make run</code> on {when}, {html.escape(platform.platform())},
profile(s): <b>{", ".join(profiles) or "none"}</b>. Total wall time {total:.0f} s.</p>
{warn}
<table><tr><th>#</th><th>notebook</th><th>what you do</th><th>profile</th><th>seconds (peak memory)</th><th>status</th></tr>
{"".join(rows)}
</table></body></html>
"""


GUIDE = ROOT / "docs" / "instructor_guide.md"
TIMINGS = ROOT / "docs" / "timings.json"


def record_timings(results: list[dict], extra: dict | None = None) -> None:
    """Keep the latest wall time per (profile, notebook) in docs/timings.json and
    regenerate the instructor guide's timing table from it.

    ``extra`` is stored with each entry (``make run`` adds ``unit_seconds``, the rehearsal
    ``standins: true``: timed with stand-in weights of the real size); ``units``, and
    ``unit_seconds`` where a result has its own (the rehearsal's, measured next to each
    notebook), come from each result.
    """
    from nbhelpers import artifacts

    # Two runs finishing at once must not lose each other's rows, nor leave half a file.
    with artifacts.lock(BUILD / "timings.lock", what="recording timings"):
        _record(results, extra, artifacts)


#: What a notebook's time and memory depend on (an edit of the docs does not change them).
CODE_PATHS = ("nbhelpers", "notebooks", "scripts", "requirements-lock.txt", "pyproject.toml")


def current_commit() -> str | None:
    """The checkout's short commit, ``+`` when :data:`CODE_PATHS` differ from it; None outside git.

    Example:
        >>> c = current_commit(); c is None or len(c.rstrip("+")) >= 7
        True
    """
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=20)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                *CODE_PATHS], cwd=ROOT, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def _record(results: list[dict], extra: dict | None, artifacts) -> None:
    data = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    commit = current_commit()
    for r in results:
        if r["ok"] and r["profile"] != "unknown":
            had = data.get(r["profile"], {}).get(r["notebook"], {})
            if "units" in had and "units" not in r:  # `make run` keeps the rehearsal's row
                print(f"{r['notebook']}: docs/timings.json keeps the rehearsal's {r['profile']} "
                      f"row (in units); this run's time is in build/timings.json")
                continue
            entry = {"seconds": r["seconds"], "date": when, "cpus": os.cpu_count(), **(extra or {})}
            if os.environ.get("GITHUB_ACTIONS") == "true":  # the published repository's CI
                entry["runner"] = runner()
            if "units" in r:
                entry["units"] = r["units"]
            for key in ("peak_mib", "library_mib", "code", "unit_seconds"):  # a rehearsal's
                # unit_seconds is each notebook's own (measured next to it), over extra's
                if r.get(key) is not None:
                    entry[key] = r[key]
            # claims held of those checked: a real run's (stand-ins and random weights are
            # expected to miss the ones about ImageNet weights)
            if r.get("claims") and r["profile"] in UNIT_PROFILES and not entry.get("standins"):
                entry["claims"] = r["claims"]
            if commit:  # unless the caller says which commit ran (taken when the run began)
                entry.setdefault("commit", commit)
            data.setdefault(r["profile"], {})[r["notebook"]] = entry
    course = {c[0] for c in nbtools.COURSE}
    for entries in data.values():  # a renamed or removed notebook's old time is not kept
        for stem in [s for s in entries if s not in course]:
            del entries[stem]
    artifacts.write_bytes(TIMINGS, json.dumps(data, indent=1, sort_keys=True) + "\n")
    replace_guide_block("timings", timings_table(data))


def guide_block(text: str, name: str) -> str | None:
    r"""The generated block ``name`` of the guide's text (between its markers), or None.

    Example:
        >>> guide_block("a\n<!-- x:start -->\nbody\n<!-- x:end -->\nb", "x")
        'body'
    """
    start, end = f"<!-- {name}:start -->\n", f"\n<!-- {name}:end -->"
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0]


def replace_guide_block(name: str, body: str) -> None:
    """Write ``body`` as the guide's generated block ``name`` (a guide without it is left alone)."""
    from nbhelpers import artifacts

    if not GUIDE.exists():
        return
    text = GUIDE.read_text()
    old = guide_block(text, name)
    if old is not None:
        start = f"<!-- {name}:start -->\n"
        head, rest = text.split(start, 1)
        artifacts.write_bytes(GUIDE, head + start + body + rest[len(old):])


def _profile_note(profile: str, entries: dict) -> str:
    values = list(entries.values())
    note = (f"{profile}: measured {max(v['date'] for v in values)} on "
            f"{max(v['cpus'] or 0 for v in values)} CPU cores")
    standins = [v for v in values if v.get("standins")]
    if standins:
        note += (" by `make rehearse`" if len(standins) == len(values) else
                 ", rows marked (rehearsal) by `make rehearse`")
        note += (", timed with stand-in weights of the real size (compute time does not "
                 "depend on the weights' values)")
    if any(v.get("runner") for v in values):
        note += ("; rows that name a runner are a real run by .github/workflows/real.yml "
                 "(`make run`, real weights and data)")
    units = sorted({round(v["unit_seconds"], 1) for v in values if v.get("unit_seconds")})
    if units:
        there = (f"{units[0]:.1f} s there" if len(units) == 1 else
                 f"{units[0]:.1f}-{units[-1]:.1f} s there (within a run, and between runs on "
                 f"other days, loads or machines; each notebook's units use the unit measured "
                 f"next to it in its run)")
        note += ("; 1 unit = the time VGG16's base takes for a forward pass over 100 images "
                 f"at 160 px, {there}")
    return note


def timings_table(data: dict) -> str:
    """The instructor guide's table: seconds per profile, units where the rehearsal measured
    them, and the kernel's peak resident memory (MiB) where it was recorded."""
    profiles = [p for p in ("offline", "cpu", "full") if p in data]
    if not profiles:
        return "(no timings recorded yet: run `make run`)"
    columns = []  # (profile, field, heading)
    for p in profiles:
        columns.append((p, "seconds", f"{p} (s)"))
        if any("units" in v for v in data[p].values()):
            columns.append((p, "units", f"{p} (units)"))
        if any("peak_mib" in v for v in data[p].values()):
            columns.append((p, "peak_mib", f"{p} (peak MiB)"))
        if any("claims" in v for v in data[p].values()):
            columns.append((p, "claims", f"{p} claims held"))
        columns.append((p, "measured", f"{p} measured"))
    rows = ["| notebook | " + " | ".join(c[2] for c in columns) + " |",
            "|---|" + "---:|" * len(columns)]
    totals, counts = [0.0] * len(columns), [0] * len(columns)
    for stem, title, _ in nbtools.COURSE:
        cells = []
        for i, (p, field_, _h) in enumerate(columns):
            t = data[p].get(stem)
            if field_ == "claims":  # of a real run: held of those checked
                cells.append(f"{t['claims'][0]} of {t['claims'][1]}" if t and "claims" in t else "")
                continue
            if field_ == "measured":  # which code and day the row's figures are of
                mixed = t and t.get("standins") and not all(
                    v.get("standins") for v in data[p].values())
                cells.append("" if not t else " ".join(x for x in (
                    t.get("commit"), t["date"], t.get("runner") and f"({t['runner']})",
                    mixed and "(rehearsal)") if x))
                continue
            value = (counted_peak_mib(t) if field_ == "peak_mib" else t.get(field_)) if t else None
            if field_ == "peak_mib":  # memory: the series needs the largest, not the sum
                totals[i] = max(totals[i], value or 0.0)
            else:
                totals[i] += value or 0.0
            counts[i] += value is not None
            raw = field_ == "peak_mib" and value is not None and t.get("library_mib") is None
            cells.append("" if value is None else
                         f"{value:.0f}" + ("†" if raw else "") if field_ in ("seconds", "peak_mib")
                         else f"{value:.1f}")
        rows.append(f"| {stem[:2]} {title} | " + " | ".join(cells) + " |")
    def total(t: float, n: int, c: tuple) -> str:
        text = {"seconds": f"{t:.0f}", "peak_mib": f"max {t:.0f}"}.get(c[1], f"{t:.1f}")
        return text if n == len(nbtools.COURSE) else f"{text} ({n} of {len(nbtools.COURSE)})"

    rows.append("| **all notebooks** | " + " | ".join(
        "" if c[1] in ("measured", "claims") else total(t, n, c)
        for t, n, c in zip(totals, counts, columns, strict=True)) + " |")
    notes = "; ".join(_profile_note(p, data[p]) for p in profiles)
    memory = ""
    if any(c[1] == "peak_mib" for c in columns):
        memory = (" Peak MiB: the kernel's peak resident memory less its libraries' code pages "
                  "(TensorFlow's alone about 450 MiB; the system can drop and reload them), "
                  f"which is what a memory limit such as Binder's {MEMORY_BUDGET_MIB} MiB counts.")
        if any(t.get("peak_mib") is not None and t.get("library_mib") is None
               for p in profiles for t in data[p].values()):
            memory += (" †: measured before the libraries' pages were counted apart: the "
                       "whole resident peak, libraries included.")
    return "\n".join(rows) + f"\n\n({notes}.){memory}"


RESULTS = ROOT / "docs" / "results.json"


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % for ``z`` = 1.96): honest near 0
    and 1 and for small ``n``, where the plain ``p ± z·sqrt(p(1-p)/n)`` leaves [0, 1].

    Example:
        >>> [round(x, 3) for x in wilson_interval(95, 100)]
        [0.888, 0.978]
        >>> wilson_interval(10, 10)[1]
        1.0
    """
    if n <= 0:
        raise ValueError("an interval needs at least one example")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def stage_results(profile: str, since: datetime | None = None) -> dict[str, dict]:
    """Each trained stage's validation accuracy in this profile's artifacts, with its
    Wilson 95 % interval over the validation set's size: ``{stage: {"val_accuracy",
    "low", "high", "val_images", "epochs", "saved"}}``.  Stages not trained are left out,
    and so are those saved before ``since`` (a run reports what it trained itself, not a
    model an earlier run, perhaps at cut budgets, left in the folder)."""
    from nbhelpers import config, course, data

    cfg = config.make_config(profile, reason="recording a real run's results")
    n = len(data.prepare(cfg, verbose=False).val)
    rows = {}
    for stage in course.STAGES:
        try:
            record = course.load_record(stage, cfg)
        except FileNotFoundError:
            continue
        saved = datetime.strptime(record["saved"], "%Y-%m-%dT%H:%M:%S%z")
        if since is not None and saved < since:
            continue
        acc = float(record["metrics"]["val_accuracy"])
        low, high = wilson_interval(round(acc * n), n)
        rows[stage] = {"val_accuracy": round(acc, 4), "low": round(low, 4), "high": round(high, 4),
                       "val_images": n, "epochs": record["epochs"], "saved": record["saved"]}
    return rows


def record_results(profile: str, rows: dict[str, dict]) -> None:
    """Keep a real run's accuracy per stage in docs/results.json (per profile: the stages,
    the date, commit and machine) and regenerate the guide's results table from it."""
    from nbhelpers import artifacts

    with artifacts.lock(BUILD / "timings.lock", what="recording results"):
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data[profile] = {"stages": rows, "date": datetime.now(UTC).strftime("%Y-%m-%d"),
                         "commit": current_commit(), "runner": runner()}
        artifacts.write_bytes(RESULTS, json.dumps(data, indent=1, sort_keys=True) + "\n")
        replace_guide_block("results", results_table(data))


def results_table(data: dict) -> str:
    """The guide's table of accuracy per stage, one row per profile and stage.

    Example:
        >>> print(results_table({"cpu": {"stages": {"head": {"val_accuracy": 0.95, "low": 0.93,
        ...     "high": 0.96, "val_images": 1000, "epochs": 5}}, "date": "2026-12-07",
        ...     "commit": "abc1234", "runner": "GitHub Actions runner x"}}))
        | profile | stage | validation accuracy (95 % interval) | images | epochs | measured |
        |---|---|---|---:|---:|---|
        | cpu | head | 0.950 (0.930 to 0.960) | 1000 | 5 | abc1234 2026-12-07 (GitHub Actions runner x) |
    """
    if not data:
        return "(no real run recorded yet: `NBH_PROFILE=cpu make run` with the real files)"
    rows = ["| profile | stage | validation accuracy (95 % interval) | images | epochs | measured |",
            "|---|---|---|---:|---:|---|"]
    for profile in ("cpu", "full"):
        run = data.get(profile)
        for stage, r in (run or {}).get("stages", {}).items():
            when = " ".join(x for x in (run.get("commit"), run["date"],
                                        run.get("runner") and f"({run['runner']})") if x)
            rows.append(f"| {profile} | {stage} | {r['val_accuracy']:.3f} ({r['low']:.3f} to "
                        f"{r['high']:.3f}) | {r['val_images']} | {r['epochs']} | {when} |")
    return "\n".join(rows)


def record_run(results: list[dict], unit_before: float | None, why_not: str | None,
               started: datetime | None = None) -> None:
    """Record a `make run` in docs/timings.json and the guide, unless ``why_not`` says why
    not.  The results of the ``cpu`` and ``full`` profiles get ``units`` (seconds over
    :func:`measure_unit`, the smaller of ``unit_before`` and a measurement now), and their
    entries the ``unit_seconds`` they were divided by; on GitHub Actions each entry names
    its runner (:func:`record_timings`).  The accuracy of each stage trained since
    ``started`` goes to docs/results.json and the guide's results table
    (:func:`record_results`)."""
    if why_not:
        return
    extra = None
    if any(r["ok"] and r["profile"] in UNIT_PROFILES for r in results):
        import rehearse

        after = measure_unit()
        unit, how = (rehearse.settled_unit(unit_before, after) if unit_before
                     else (after, "measured after the notebooks"))
        print(f"1 unit = {unit:.2f} s on this machine ({how})")
        extra = {"unit_seconds": round(unit, 2)}
        for r in results:
            if r["profile"] in UNIT_PROFILES:
                r["units"] = round(r["seconds"] / unit, 1)
    record_timings(results, extra)
    # A real run's accuracy per stage (what its notebooks trained and saved), beside the times.
    for profile in sorted({r["profile"] for r in results if r["ok"] and r["profile"] in UNIT_PROFILES}):
        try:
            rows = stage_results(profile, since=started)
        except (OSError, ValueError) as exc:  # e.g. `--only 00`: no data set prepared yet
            print(f"accuracy per stage not recorded for {profile}: {exc}")
            continue
        if rows:
            record_results(profile, rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", default=None, help="notebook number prefixes, e.g. 03 04")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    ap.add_argument("--out", type=Path, default=BUILD,
                    help="where executed/, html/ and timings.json go (default: build)")
    ap.add_argument("--no-record", action="store_true",
                    help="leave docs/timings.json and the instructor guide alone")
    args = ap.parse_args()
    out = args.out if args.out.is_absolute() else ROOT / args.out
    # Figures must reach the notebook: an inherited MPLBACKEND=Agg would hide every one.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    # No progress bars in an executed copy (as `make run` sets it): it is read later, where a
    # widget saved mid-way reads "0%" and Keras' line per epoch buries the figures.
    os.environ.setdefault("TQDM_DISABLE", "1")
    paths = nbtools.notebooks()
    if args.only:
        paths = [p for p in paths if p.name[:2] in args.only]
    if not paths:
        print("no notebooks found in notebooks/")
        return 1
    why_not = "--no-record" if args.no_record else not_recordable()
    # A recordable cpu or full run gives its times in units too: the unit measured before
    # and after the notebooks (the smaller: the less disturbed), one for every notebook
    # (`make rehearse` measures it after each notebook as well; a real run's rows are rare).
    started = datetime.now(UTC)
    unit_before = (measure_unit() if not why_not and os.environ.get("NBH_PROFILE") in UNIT_PROFILES
                   else None)
    results = []
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        r = run_one(path, args.timeout, out)
        results.append(r)
        status = "ok" if r["ok"] else f"FAILED ({r['error']})"
        print(f"  {r['seconds']:7.1f} s{peak_text(r)}  profile={r['profile']}  {status}", flush=True)
    (out / "html" / "index.html").write_text(index_page(results), encoding="utf-8")
    (out / "timings.json").write_text(json.dumps(results, indent=2))
    recorded = True
    try:  # a failure here must not lose the run's outputs, written above
        record_run(results, unit_before, why_not, started)
    except Exception as exc:  # measuring the unit, reading a stage record, a locked file
        recorded = False
        print(f"RECORDING FAILED (the executed notebooks and {out / 'timings.json'} are "
              f"kept): {type(exc).__name__}: {exc}")
    else:
        (out / "timings.json").write_text(json.dumps(results, indent=2))  # with the units
    if why_not:
        print(f"docs/timings.json and the guide are left as they are: this run is not the "
              f"profile's own ({why_not}); its times are in {out / 'timings.json'}")
    failed = [r for r in results if not r["ok"]]
    print("\nSummary")
    for r in results:
        print(f"  {r['notebook']:<32} {r['seconds']:7.1f} s  {r['profile']:<8} "
              f"{'ok' if r['ok'] else 'FAILED'}")
    print(f"  {'total':<32} {sum(r['seconds'] for r in results):7.1f} s  "
          f"{len(results) - len(failed)} ok, {len(failed)} failed")
    print(f"HTML: {out / 'html' / 'index.html'}")
    return 1 if failed or not recorded else 0


if __name__ == "__main__":
    sys.exit(main())
