"""The course's website, built from an executed run: every notebook with its outputs.

    python scripts/build_site.py build [--from build] [--out build/site] [--preview] [--guide MD]
    python scripts/build_site.py claims [--from build]

``build`` reads ``<from>/executed/`` (what ``make run`` wrote; each notebook's
``metadata["nbhelpers_run"]`` says what ran it) and writes a static site into
``--out``: ``index.html`` (the course map, with each notebook's profile, date,
time and claims), one page per notebook (its outputs, links to Colab and
Binder, previous and next), ``guide.html`` (docs/instructor_guide.md, or ``--guide``: the
one the run recorded its times and accuracies in),
``search.html`` (a search over every page, no server needed) and ``site.json``
(what the site was built from).  Every page says the profile, the date and the
commit its notebooks ran at.

Only a complete run on the real files may be published: every notebook of the
course, none failed, in the ``cpu`` or ``full`` profile, at the profile's own
budgets, with the real ImageNet weights (:func:`publish_problems`).  Anything
else (the offline profile's random weights, a rehearsal's stand-ins, cut
budgets, a missing notebook) is refused, unless ``--preview``: then every page
carries a banner saying these outputs are not to be published, and why.  The
site is written whole or not at all, and its links are checked (:func:`check_links`).

``claims`` prints, per notebook, how many of its claims held
(``nbh.check_claim``) and every one that did not; on GitHub Actions also into
the job's summary.  ``make site`` and ``make claims`` run them
(docs/publishing.md, .github/workflows/).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbtools  # noqa: E402

from nbhelpers.claims import HELD, NOT_HELD  # noqa: E402

ROOT = nbtools.ROOT
GUIDE = ROOT / "docs" / "instructor_guide.md"
TITLE = "Fine-tuning a pretrained image model"
#: The profiles whose runs may be published: the real ImageNet weights and data set.
PUBLISHABLE_PROFILES = ("cpu", "full")


#: The banner's one line when a run that could be published is built as a preview.
PUBLISHABLE_PREVIEW = "built with --preview (this run itself could be published: make site PUBLISH=1)"


class SiteRefused(Exception):
    """The run cannot be published (its reasons are the message); ``--preview`` builds anyway."""


@dataclass
class NotebookRun:
    """One executed notebook, as the site shows it.

    ``run`` is the executed copy's ``metadata["nbhelpers_run"]`` (empty when the
    copy was not written by ``make run``); ``held`` and ``not_held`` the lines
    ``nbh.check_claim`` printed; ``errors`` the cells that raised.
    """

    stem: str
    title: str
    what: str
    path: Path | None
    nb: object = None
    run: dict = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    not_held: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def profile(self) -> str:
        return self.run.get("profile", "unknown")

    @property
    def date(self) -> str:
        return self.run.get("started", "")[:10] or "date unknown"


def claim_lines(nb) -> tuple[list[str], list[str]]:
    """The claim verdicts an executed notebook printed: (held, did not hold), in order.

    A claim checked twice (a cell run again) counts once, with its last verdict.

    Example:
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[
        ...     nbformat.v4.new_output("stream", text=f"{HELD} a\\n{NOT_HELD} b — why\\n")])])
        >>> claim_lines(nb)
        (['a'], ['b — why'])
    """
    verdicts: dict[str, tuple[bool, str]] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in text.splitlines():
                for mark, ok in ((HELD, True), (NOT_HELD, False)):
                    if line.startswith(mark):
                        rest = line[len(mark):].strip()
                        verdicts[rest.split(" — ", 1)[0].split(" (", 1)[0]] = (ok, rest)
    held = [rest for ok, rest in verdicts.values() if ok]
    return held, [rest for ok, rest in verdicts.values() if not ok]


def _errors(nb) -> list[str]:
    """The cells that raised, less those that show an error on purpose (tagged
    ``raises-exception``, as nbclient and nbval know them)."""
    found = []
    for i, cell in enumerate(nb.cells):
        if "raises-exception" in cell.get("metadata", {}).get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {str(out.get('evalue'))[:200]}")
    return found


def read_run(run_dir: Path) -> list[NotebookRun]:
    """Every notebook of the course (``nbtools.COURSE``) as ``run_dir/executed/`` has it.

    A notebook the run lacks has ``path=None``.
    """
    runs = []
    for stem, title, what in nbtools.COURSE:
        path = Path(run_dir) / "executed" / f"{stem}.ipynb"
        r = NotebookRun(stem, title, what, path if path.exists() else None)
        if r.path is not None:
            r.nb = nbformat.read(r.path, as_version=4)
            r.run = dict(r.nb.metadata.get("nbhelpers_run", {}))
            r.held, r.not_held = claim_lines(r.nb)
            r.errors = _errors(r.nb)
        runs.append(r)
    return runs


def publish_problems(runs: list[NotebookRun]) -> list[str]:
    """Why these outputs must not be published as the course's results (empty: they may).

    Example:
        >>> publish_problems([NotebookRun("00_start_here", "Start here", "", None)])
        ['00_start_here: not in this run (make run executes every notebook)']
    """
    problems = []
    for r in runs:
        if r.path is None:
            problems.append(f"{r.stem}: not in this run (make run executes every notebook)")
            continue
        if not r.run:
            problems.append(f"{r.stem}: no record of what ran it (executed before make run kept "
                            "one, or by another tool): run `make run` again")
            continue
        if r.errors or not r.run.get("ok", False):
            problems.append(f"{r.stem}: failed ({(r.errors or [r.run.get('error')])[0]})")
        if r.profile not in PUBLISHABLE_PROFILES:
            why = (" (untrained weights, tiny bundled images)" if r.profile == "offline" else "")
            problems.append(f"{r.stem}: ran in the {r.profile} profile{why}; only "
                            f"{' or '.join(PUBLISHABLE_PROFILES)} runs are the course's results")
        if r.run.get("standins"):
            problems.append(f"{r.stem}: a rehearsal (stand-in weights: random numbers)")
        other = [why for why in (r.run.get("not_recordable") or "").split("; ")
                 if why and not (r.run.get("standins") and "stand-in" in why)]  # said above
        if other:
            problems.append(f"{r.stem}: not the profile's own run: {'; '.join(other)}")
    return problems


# -- pages --------------------------------------------------------------------------------

CSS = """
.nbh-bar{font-family:system-ui,sans-serif;font-size:15px;background:#f6f8fa;border-bottom:1px solid #d0d7de;
 padding:.5em 1em;position:sticky;top:0;z-index:100}
.nbh-bar a{margin-right:1em}
.nbh-run{font-family:system-ui,sans-serif;font-size:14px;color:#333;padding:.4em 1em;border-bottom:1px solid #eee}
.nbh-preview{font-family:system-ui,sans-serif;background:#fee;border:2px solid #c00;padding:.6em 1em;margin:.5em 1em}
.nbh-page{font-family:system-ui,sans-serif;max-width:64em;margin:1em auto;padding:0 1em;line-height:1.5}
.nbh-page table{border-collapse:collapse}.nbh-page td,.nbh-page th{padding:.3em .6em;border-bottom:1px solid #ddd;vertical-align:top}
.nbh-page pre{background:#f6f8fa;padding:.6em;overflow:auto}
.nbh-hit{margin:.8em 0}.nbh-hit small{color:#555}
"""


def _run_line(runs: list[NotebookRun], only: NotebookRun | None = None) -> str:
    """The sentence every page carries: the profile, the date, the commit and the machine."""
    done = [r for r in ([only] if only else runs) if r.run]
    if not done:
        return "Not executed by <code>make run</code>: no record of the profile or date."
    profiles = sorted({r.profile for r in done})
    dates = sorted({r.date for r in done})
    commits = sorted({r.run.get("commit") or "unknown" for r in done})
    runners = sorted({r.run.get("runner") or "unknown" for r in done})
    when = html.escape(dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}")
    text = (f"Executed in the <b>{html.escape(', '.join(profiles))}</b> profile on {when}, "
            f"commit <code>{html.escape(', '.join(commits))}</code>, "
            f"on {html.escape('; '.join(runners))}")
    if only:
        text += f"; {float(only.run.get('seconds') or 0):.0f} s"
        text += (f"; claims checked in the run: {len(only.held)} held, "
                 f"{len(only.not_held)} did not")
    return text + "."


def grouped(problems: list[str]) -> list[str]:
    """``stem: reason`` lines, one per reason, naming the notebooks it holds for.

    Example:
        >>> grouped(["00_a: offline", "01_b: offline", "01_b: failed (x)"])
        ['offline: notebooks 00, 01', 'failed (x): notebook 01']
    """
    reasons: dict[str, list[str]] = {}
    for p in problems:
        stem, _, why = p.partition(": ")
        reasons.setdefault(why or stem, []).append(stem[:2] if why else "")
    return [f"{why}: notebook{'s' if len(n) > 1 else ''} {', '.join(n)}" if any(n) else why
            for why, n in reasons.items()]


def _chrome(runs: list[NotebookRun], preview: list[str] | None, only: NotebookRun | None = None,
            prev_next: str = "") -> str:
    links = ('<a href="index.html">Course map</a><a href="guide.html">Instructor guide</a>'
             '<a href="search.html">Search</a>')
    if only is not None:
        links += (f'<a href="{nbtools.colab_url(only.stem)}">Open in Colab</a>'
                  f'<a href="{nbtools.binder_url(only.stem)}">Open in Binder</a>')
    banner = ""
    if preview is not None:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in grouped(preview))
        real = preview == [PUBLISHABLE_PREVIEW]
        why = ("this preview was not built for publishing." if real else
               "These outputs are not a real run of the course; numbers and pictures on this "
               "page do not show what a trained model gives.")
        banner = (f'<div class="nbh-preview"><b>PREVIEW: not to be published.</b> {why}'
                  f"<ul>{items}</ul></div>")
    return (f'<div class="nbh-bar"><b>{TITLE}</b> &nbsp; {links} {prev_next}</div>'
            f'<div class="nbh-run">{_run_line(runs, only)}</div>{banner}')


def _page(title: str, body: str, runs: list[NotebookRun], preview: list[str] | None,
          head: str = "") -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style>{head}</head><body>"
            f'{_chrome(runs, preview)}<main class="nbh-page">{body}</main></body></html>')


HREF = re.compile(r'href="([^"]*)"')
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def rewrite_links(body: str, stems: set[str]) -> str:
    """Links as a notebook has them, as the site needs them: another notebook of the
    course -> its page (anchor kept); the instructor guide -> guide.html; any other file of
    the repository -> that file on GitHub at this release's tag.  Links with a scheme
    (``https:``, ``mailto:``) and anchors on the same page are left alone.

    Example:
        >>> rewrite_links('<a href="01_x.ipynb#Setup">', {"01_x"})
        '<a href="01_x.html#Setup">'
        >>> rewrite_links('<a href="../docs/publishing.md">', set())  # doctest: +ELLIPSIS
        '<a href="https://github.com/.../blob/v.../docs/publishing.md">'
    """
    def one(m: re.Match) -> str:
        raw = m.group(1)
        if not raw or raw.startswith(("#", "/")) or SCHEME.match(raw):
            return m.group(0)
        target, hash_, anchor = html.unescape(raw).partition("#")
        path = os.path.normpath(os.path.join("notebooks", target.split("?")[0]))
        if path.startswith(".."):  # outside the repository: leave it, the link check says so
            return m.group(0)
        name = Path(path).name
        if path.startswith("notebooks/") and name.endswith((".ipynb", ".html")) \
                and name.rsplit(".", 1)[0] in stems:
            new = f"{name.rsplit('.', 1)[0]}.html"
        elif path == "docs/instructor_guide.md":
            new = "guide.html"
        else:
            new = f"{nbtools.REPO_URL}/blob/{nbtools.REF}/{path}"
        return f'href="{html.escape(new + hash_ + anchor, quote=True)}"'

    return HREF.sub(one, body)


def notebook_page(r: NotebookRun, runs: list[NotebookRun], preview: list[str] | None) -> str:
    """One notebook with its outputs (nbconvert's lab template) inside the site's chrome."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(
        r.nb, resources={"metadata": {"name": f"{r.title} · {TITLE}"}})  # the page's <title>
    stems = [x.stem for x in runs]
    i = stems.index(r.stem)
    nav = ""
    if i > 0:
        nav += f'<a href="{stems[i - 1]}.html">← {html.escape(runs[i - 1].title)}</a>'
    if i < len(stems) - 1:
        nav += f'<a href="{stems[i + 1]}.html">{html.escape(runs[i + 1].title)} →</a>'
    body = rewrite_links(body, set(stems))
    body = body.replace("</head>", f"<style>{CSS}</style></head>", 1)
    return re.sub(r"<body[^>]*>", lambda m: m.group(0) + _chrome(runs, preview, r, nav), body, count=1)


def index_page(runs: list[NotebookRun], preview: list[str] | None) -> str:
    rows = []
    for r in runs:
        if r.path is None:
            rows.append(f'<tr><td>{r.stem[:2]}</td><td><a href="{r.stem}.html">'
                        f"{html.escape(r.title)}</a></td><td>{html.escape(r.what)}</td>"
                        f"<td colspan=5>not in this run</td></tr>")
            continue
        status = "ok" if not r.errors and r.run.get("ok", True) else "<b>failed</b>"
        claims = f"{len(r.held)} held, {len(r.not_held)} did not"
        rows.append(
            f'<tr><td>{r.stem[:2]}</td><td><a href="{r.stem}.html">{html.escape(r.title)}</a></td>'
            f"<td>{html.escape(r.what)}</td><td style='white-space:nowrap'>"
            f"{html.escape(r.profile)}, {html.escape(r.date)}</td>"
            f"<td style='text-align:right'>{float(r.run.get('seconds') or 0):.0f}</td><td>{claims}</td>"
            f'<td>{status}</td><td><a href="{nbtools.colab_url(r.stem)}">Colab</a> · '
            f'<a href="{nbtools.binder_url(r.stem)}">Binder</a></td></tr>')
    body = (f"<h1>{TITLE}</h1><p>A course in {len(runs)} notebooks: from convolution in NumPy "
            f"to fine-tuning VGG16, evaluating it honestly, explaining it and using it. Each page "
            f"below is a notebook <b>with the outputs of one run</b>: the line at the top of every "
            f"page says which profile, when and at which commit. Where a sentence states a result, "
            f"the run checked it (<i>claims</i>: a ✓ or ✗ line under the cell); the table counts "
            f"them. To run the notebooks yourself, open them in Colab or Binder, or clone "
            f'<a href="{nbtools.REPO_URL}">the repository</a> and run <code>make run</code>.</p>'
            f"<table><tr><th>#</th><th>notebook</th><th>what you do</th><th>profile, date</th>"
            f"<th>seconds</th><th>claims</th><th>status</th><th>run it</th></tr>"
            f"{''.join(rows)}</table>")
    return _page(TITLE, body, runs, preview)


def guide_page(runs: list[NotebookRun], preview: list[str] | None, guide: Path = GUIDE) -> str:
    import mistune

    markdown = mistune.create_markdown(plugins=["table", "strikethrough"])
    return _page(f"Instructor guide · {TITLE}", markdown(Path(guide).read_text(encoding="utf-8")),
                 runs, preview)


SEARCH_JS = """
// The site's search: every section of every page (search-index.js), matched in the browser.
function nbhSearch(query) {
  const terms = query.toLowerCase().split(/\\s+/).filter(t => t.length > 1);
  if (!terms.length) return [];
  const hits = [];
  for (const s of window.NBH_SEARCH) {
    const text = (s.title + " " + s.text).toLowerCase();
    if (!terms.every(t => text.includes(t))) continue;
    const score = terms.reduce((n, t) => n + text.split(t).length - 1
                               + (s.title.toLowerCase().includes(t) ? 10 : 0), 0);
    const at = Math.max(0, s.text.toLowerCase().indexOf(terms[0]));  // 0: matched the title only
    hits.push({...s, score, snippet: s.text.slice(Math.max(0, at - 80), at + 160)});
  }
  return hits.sort((a, b) => b.score - a.score).slice(0, 50);
}
function nbhShow() {
  const q = document.getElementById("q").value;
  const out = document.getElementById("results");
  out.replaceChildren();
  const hits = nbhSearch(q);
  const count = document.createElement("p");
  count.textContent = q.trim() ? hits.length + " sections found" : "";
  out.appendChild(count);
  for (const h of hits) {
    const div = document.createElement("div");
    div.className = "nbh-hit";
    const a = document.createElement("a");
    a.href = h.url;
    a.textContent = h.page + ": " + h.title;
    const small = document.createElement("small");
    small.textContent = " ... " + h.snippet + " ...";
    div.append(a, document.createElement("br"), small);
    out.appendChild(div);
  }
}
window.addEventListener("DOMContentLoaded", () => {
  const q = new URLSearchParams(location.search).get("q");
  if (q) { document.getElementById("q").value = q; nbhShow(); }
});
"""


def search_page(runs: list[NotebookRun], preview: list[str] | None) -> str:
    body = ('<h1>Search</h1><form onsubmit="nbhShow(); return false;">'
            '<input id="q" name="q" size="40" placeholder="for example: receptive field" '
            'oninput="nbhShow()" autofocus> <button>Search</button></form>'
            '<div id="results"></div>')
    return _page(f"Search · {TITLE}", body, runs, preview,
                 head='<script src="search-index.js"></script><script src="search.js"></script>')


class _Sections(HTMLParser):
    """Splits a page's visible text at its headings that have an id (its anchors)."""

    SKIP = {"script", "style", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[dict] = [{"id": "", "title": "", "text": []}]
        self.ids: set[str] = set()
        self.links: list[str] = []
        self._skip = 0
        self._heading: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])
        if tag in self.SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-4]", tag) and a.get("id"):
            self._heading = {"id": a["id"], "title": [], "text": []}
            self.sections.append(self._heading)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        elif re.fullmatch(r"h[1-4]", tag):
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._skip or not data.strip():
            return
        section = self.sections[-1]
        (section["title"] if self._heading is not None else section["text"]).append(data.strip())


def parse_page(text: str) -> _Sections:
    parser = _Sections()
    parser.feed(text)
    return parser


def search_index(pages: dict[str, str], titles: dict[str, str]) -> list[dict]:
    """One entry per section of every page: ``page`` (its title), ``title`` (the
    heading), ``url`` (``page.html#heading``) and ``text`` (what the section shows)."""
    entries = []
    for name, text in pages.items():
        for s in parse_page(text).sections:
            title = " ".join(t for t in s["title"] if t != "¶") if isinstance(s["title"], list) else ""
            words = " ".join(s["text"])
            if not words and not title:
                continue
            entries.append({"page": titles[name], "title": title or titles[name],
                            "url": name + (f"#{s['id']}" if s["id"] else ""),
                            "text": re.sub(r"\s+", " ", words)[:20000]})
    return entries


#: The id of a preview's page for a notebook the run lacks: links into it keep their anchors.
PLACEHOLDER = "not-in-this-run"


def check_links(site: Path) -> list[str]:
    """Every link of the site that leads nowhere: a page or file that is not there, an
    anchor no element has.  Links out of the site are not followed (this may run offline);
    those to the course's repository, Colab or Binder must name this release's tag.
    """
    pages = {p.name: parse_page(p.read_text(encoding="utf-8")) for p in site.glob("*.html")}
    problems = []
    for name, parsed in pages.items():
        for link in parsed.links:
            if link.startswith(("data:", "mailto:", "javascript:")):
                continue
            if SCHEME.match(link):
                opens_a_file = re.search(rf"{re.escape(nbtools.GITHUB_SLUG)}/(blob|tree)/|"
                                         rf"/gh/{re.escape(nbtools.GITHUB_SLUG)}/", link)
                if opens_a_file and not re.search(rf"/{re.escape(nbtools.REF)}(/|\?|$)", link):
                    problems.append(f"{name}: {link} does not open release {nbtools.REF}")
                continue
            target, _, anchor = link.partition("#")
            target = target.split("?")[0] or name
            if not (site / target).is_file():
                problems.append(f"{name}: {link} -> no file {target} in the site")
            elif (anchor and target in pages and anchor not in pages[target].ids
                  and PLACEHOLDER not in pages[target].ids):
                problems.append(f"{name}: {link} -> {target} has no anchor #{anchor}")
    return problems


def build_site(run_dir: Path, out: Path, preview: bool = False, guide: Path = GUIDE) -> dict:
    """Build the site from ``run_dir/executed/`` into ``out``; return what ``site.json`` says.

    ``guide``: the instructor guide to show (a real run's artifact carries the one its
    times and accuracies were recorded in).

    Raises :class:`SiteRefused` when the run may not be published and ``preview`` is
    False.  ``out`` is replaced whole, or left as it was when anything fails.  The
    returned dict: ``preview``, ``problems`` (why it may not be published),
    ``profiles``, ``dates``, ``commits``, ``built``, ``release``, ``pages``.
    """
    runs = read_run(run_dir)
    problems = publish_problems(runs)
    if problems and not preview:
        raise SiteRefused("this run may not be published as the course's results:\n  "
                          + "\n  ".join(problems)
                          + "\nRun `make run` with NBH_PROFILE=cpu (or full) and the real files, "
                            "or build a preview: `make site` (scripts/build_site.py build --preview).")
    banner = problems if preview else None
    if preview and not banner:  # a publishable run, built as a preview all the same
        banner = [PUBLISHABLE_PREVIEW]
    present = [r for r in runs if r.path is not None]
    if not present:
        raise SiteRefused(f"no executed notebooks in {Path(run_dir) / 'executed'}: run `make run` first")
    pages = {"index.html": index_page(runs, banner), "guide.html": guide_page(runs, banner, guide),
             "search.html": search_page(runs, banner)}
    titles = {"index.html": "Course map", "guide.html": "Instructor guide", "search.html": "Search"}
    for r in runs:
        titles[f"{r.stem}.html"] = f"{r.stem[:2]} {r.title}"
        pages[f"{r.stem}.html"] = notebook_page(r, runs, banner) if r.path else _page(
            r.title, f'<h1 id="{PLACEHOLDER}">{r.stem[:2]} {html.escape(r.title)}</h1><p>This '
            f'notebook is not in this run. <a href="{nbtools.colab_url(r.stem)}">Open it in '
            f"Colab</a>.</p>", runs, banner)
    entries = search_index({k: v for k, v in pages.items() if k != "search.html"}, titles)
    info = {"preview": preview, "problems": problems,
            "profiles": sorted({r.profile for r in present}),
            "dates": sorted({r.date for r in present}),
            "commits": sorted({r.run.get("commit") or "unknown" for r in present}),
            "built": datetime.now(UTC).isoformat(timespec="seconds"),
            "release": nbtools.REF, "pages": sorted(pages)}
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for name, text in pages.items():
            (tmp / name).write_text(text, encoding="utf-8")
        (tmp / "search.js").write_text(SEARCH_JS, encoding="utf-8")
        (tmp / "search-index.js").write_text(
            "window.NBH_SEARCH = " + json.dumps(entries, ensure_ascii=False) + ";\n", encoding="utf-8")
        (tmp / "site.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        (tmp / ".nojekyll").write_text("")  # for a branch-served Pages site (Actions deploys skip it)
        broken = check_links(tmp)
        if broken:
            raise SiteRefused("broken links in the site:\n  " + "\n  ".join(broken))
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def claims_report(runs: list[NotebookRun]) -> str:
    """Markdown: per notebook, claims held and not; then every claim that did not hold."""
    lines = ["| notebook | profile | held | did not hold |", "|---|---|---:|---:|"]
    for r in runs:
        if r.path is not None:
            lines.append(f"| {r.stem} | {r.profile} | {len(r.held)} | {len(r.not_held)} |")
    failed = [(r.stem, c) for r in runs for c in r.not_held]
    lines.append("")
    lines.append(f"**Claims that did not hold: {len(failed)}**" if failed else
                 "Every claim held.")
    lines += [f"- {stem}: {c}" for stem, c in failed]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the site")
    b.add_argument("--from", dest="run_dir", type=Path, default=ROOT / "build")
    b.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    b.add_argument("--preview", action="store_true",
                   help="build from any run, with a banner on every page: not to be published")
    b.add_argument("--guide", type=Path, default=GUIDE, help="the instructor guide to show")
    c = sub.add_parser("claims", help="the claims of a run that did not hold")
    c.add_argument("--from", dest="run_dir", type=Path, default=ROOT / "build")
    args = ap.parse_args(argv)
    if args.cmd == "claims":
        runs = [r for r in read_run(args.run_dir) if r.path is not None]
        if not runs:
            print(f"no executed notebooks in {args.run_dir / 'executed'}: run `make run` first")
            return 1
        report = claims_report(runs)
        print(report)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write("## Claims checked in the run\n\n" + report)
        return 0
    try:
        info = build_site(args.run_dir, args.out, preview=args.preview, guide=args.guide)
    except SiteRefused as exc:
        print(f"site not built: {exc}", file=sys.stderr)
        return 2
    kind = "PREVIEW (not to be published)" if info["preview"] else "publishable"
    print(f"site: {args.out / 'index.html'}: {len(info['pages'])} pages, {kind}; profiles "
          f"{', '.join(info['profiles'])}, ran {', '.join(info['dates'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
