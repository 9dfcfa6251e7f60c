"""Notebook housekeeping: navigation, the setup cell, outputs policy, student copies.

    python scripts/nbtools.py nav [NOTEBOOK ...]   rewrite header badge, setup cell, footer,
                                                   and the course map (README + notebook 00);
                                                   without arguments also the release's badges,
                                                   URLs and version (README, pyproject.toml,
                                                   CITATION.cff, LICENSE-text.md)
    python scripts/nbtools.py check                exit 1 when anything `nav` would change,
                                                   or a notebook breaks the outputs policy
    python scripts/nbtools.py strip [NOTEBOOK ...] drop outputs except NBVAL_CHECK_OUTPUT cells
    python scripts/nbtools.py refresh-checked NB   execute NB (offline profile) and store the
                                                   outputs of its NBVAL_CHECK_OUTPUT cells only
    python scripts/nbtools.py student              student copies without solutions in
                                                   build/student/
    python scripts/nbtools.py result-words [--accept]  markdown sentences with a result word
                                                   ("faster", "improves") that no claim beside
                                                   them checks and nobody has reviewed
                                                   (docs/reviewed_sentences.txt)
    python scripts/nbtools.py runtime gpu|cpu      the notebooks Colab opens on that runtime
                                                   (GPU_NOTEBOOKS), one path per line, for
                                                   the Makefile's lanes

The list of notebooks (COURSE) is the single source of truth for navigation:
the header and footer of a notebook do not depend on which others exist yet.
nbhelpers/_release.py is the single source of the version, the tag and the repository.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import runpy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
README = ROOT / "README.md"
# The release (version, tag, repository) has one home, nbhelpers/_release.py, read here
# without importing nbhelpers.  REF is the one git ref that the Colab badges open and
# the setup cell installs: a notebook always installs the helpers it was released with.
_RELEASE = runpy.run_path(str(ROOT / "nbhelpers" / "_release.py"))
VERSION: str = _RELEASE["VERSION"]
REPO_URL: str = _RELEASE["REPO_URL"]
REF: str = _RELEASE["TAG"]
SITE_URL: str = _RELEASE["SITE_URL"]
GITHUB_SLUG = REPO_URL.removeprefix("https://github.com/")
CHECK_MARK = "NBVAL_CHECK_OUTPUT"

#: (file stem, title, one line on what it teaches)
COURSE: list[tuple[str, str, str]] = [
    ("00_start_here", "Start here",
     "the course map, the profiles, and a check that your environment works"),
    ("01_convolution_and_pooling", "Convolution and pooling from scratch",
     "the formulas in NumPy, checked against TensorFlow; padding, stride, dilation"),
    ("02_inside_vgg16", "Inside VGG16",
     "layers, parameters, receptive fields, filters, feature maps, ImageNet predictions"),
    ("03_preparing_the_data", "Preparing the data",
     "download and validate a data set (or your own folder), splits, tf.data, augmentation"),
    ("04_training_by_hand", "Training a classifier by hand",
     "logistic and softmax regression in NumPy: loss, gradient, learning rate, SGD, Adam, "
     "dropout; then Keras"),
    ("05_adding_a_head", "Adding a classification head",
     "two heads on a frozen base: cached features versus end-to-end with augmentation"),
    ("06_fine_tuning", "Fine-tuning the top of the base",
     "unfreeze block5, recompile, train with a low learning rate"),
    ("07_evaluating_the_model", "Evaluating honestly",
     "test set, intervals, confusion matrix, curves, calibration, error gallery"),
    ("08_explaining_with_lime", "Explaining predictions with LIME",
     "superpixels, local linear models, stability and cost"),
    ("09_explaining_with_shap", "Explaining predictions with SHAP and Grad-CAM",
     "GradientExplainer, Partition explainer, Grad-CAM, sanity checks, faithfulness"),
    ("10_imbalance_and_overfitting", "Class imbalance and over-fitting",
     "class weights, oversampling, augmentation; regularisation and data size"),
    ("11_choosing_a_backbone", "Choosing a backbone",
     "VGG16, ResNet50, MobileNetV2, EfficientNetB0: accuracy, speed, memory"),
    ("12_using_your_model", "Using your model",
     "your own photo, test-time augmentation, export (SavedModel, TFLite, quantized), a demo app"),
    ("13_improving_your_data", "Improving your data with your model",
     "label problems (confident learning, cleanlab), near duplicates and leaks, a review "
     "file, \"none of these\""),
]

#: Notebooks that train a network or use a trained one: Colab opens them on a GPU runtime,
#: so a course run that follows the badges gets one profile (`full`) and one set of
#: artifacts: 12 finds 06's models instead of retraining them on a CPU runtime's `cpu`
#: profile (tests/test_release.py checks the rule against the notebooks' code).
GPU_NOTEBOOKS = {"04", "05", "06", "07", "08", "09", "10", "11", "12"}

# The setup cell.  On Colab it installs nbhelpers at REF and lime, once per VM (a marker
# file in ~/.cache; "Restart session" keeps it, a new VM does not), pinning every package
# Colab ships with a constraints file, so nothing Colab has is upgraded or replaced.  pip,
# setuptools and wheel stay unpinned, so that a pip which applies constraints to the
# isolated build of nbhelpers (setuptools >= 77) still can; nothing needs them at run time,
# so they stay as they are too.  It asks git first (no password prompt, its own 60 s
# timeout) and stops with a message that tells no network, an unreadable repository and a
# missing release tag apart (never git's own text); a TPU runtime (no TensorFlow) is named.
# tests/test_setup_cell.py runs it as Colab would.
_SETUP_TEMPLATE = """\
# Setup (plumbing, the same in every notebook; generated by scripts/nbtools.py).
# On Colab: install the course helpers from the release this notebook belongs to, and
# lime, once per VM, changing nothing Colab ships. Elsewhere nothing is installed
# here: `make run` / `make lab` already did it.
import sys

if "google.colab" in sys.modules:
    import importlib.metadata
    import importlib.util
    import os
    import pathlib
    import subprocess

    REPO, REF = "@REPO@", "@REF@"
    if importlib.util.find_spec("tensorflow") is None:  # Colab's TPU runtimes have none
        raise RuntimeError("This Colab runtime has no TensorFlow (a TPU runtime?): the course "
                           "needs a CPU or GPU runtime. Choose Runtime > Change runtime type "
                           "> CPU or T4 GPU, then run this cell again. Nothing was installed.")
    done = pathlib.Path.home() / ".cache" / f"nbhelpers-{REF}.installed"
    if done.exists():
        print(f"nbhelpers {REF} is already installed in this VM: skipping the install.")
    else:
        git = dict(os.environ, GIT_TERMINAL_PROMPT="0")  # fail instead of asking for a password
        try:
            probe = subprocess.run(["git", "ls-remote", "--exit-code", REPO, REF], env=git,
                                   capture_output=True, text=True, timeout=60)
            code, err = probe.returncode, probe.stderr.lower()
        except subprocess.TimeoutExpired:
            code, err = -1, ""
        if code:
            if code == -1:
                why = "git had no answer from it within 60 s (a slow or blocked network)"
            elif any(s in err for s in ("resolve host", "connect to", "unreachable", "timed out")):
                why = "there is no network (check the runtime's internet connection)"
            elif code == 2 and not err.strip():
                why = f"the repository has no release {REF} (not published yet?)"
            else:
                why = ("the repository cannot be read (not published, private, or moved): "
                       "open the notebook from the course's current home (see its README)")
            raise RuntimeError(f"Cannot install nbhelpers from {REPO} at {REF}: {why}. "
                               "Nothing was installed.")
        pins, seen = [], {"nbhelpers", "lime", "pip", "setuptools", "wheel"}  # pin the rest
        for d in importlib.metadata.distributions():
            name = (d.metadata["Name"] or "").lower().replace("_", "-")
            if name and name not in seen and d.version[:1].isdigit():
                seen.add(name)
                pins.append(f"{name}=={d.version}")
        keep = done.with_suffix(".constraints.txt")
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_text("\\n".join(pins) + "\\n")
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", str(keep),
                              f"nbhelpers @ git+{REPO}@{REF}", "lime"],
                             env=git, capture_output=True, text=True)
        if pip.returncode:
            raise RuntimeError(f"pip could not install nbhelpers {REF}:\\n{pip.stdout}{pip.stderr}")
        importlib.invalidate_caches()
        done.write_text(REF)
        print(f"Installed nbhelpers {REF} and lime; Colab's own packages are unchanged.")

import nbhelpers as nbh

cfg = nbh.setup()"""
SETUP_SOURCE = _SETUP_TEMPLATE.replace("@REPO@", REPO_URL).replace("@REF@", REF)


def colab_url(stem: str) -> str:
    return (f"https://colab.research.google.com/github/{GITHUB_SLUG}/blob/{REF}"
            f"/notebooks/{stem}.ipynb")


def binder_url(stem: str = "00_start_here") -> str:
    return (f"https://mybinder.org/v2/gh/{GITHUB_SLUG}/{REF}"
            f"?urlpath=lab/tree/notebooks/{stem}.ipynb")


COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def install_line() -> str:
    """How to install the helpers of this release by hand (README, docs)."""
    return f'pip install "nbhelpers[local] @ git+{REPO_URL}@{REF}"'


def badges_markdown() -> str:
    """The README's badges and release line (between its `release` markers)."""
    return (f"[![Open In Colab]({COLAB_BADGE})]({colab_url(COURSE[0][0])}) "
            f"[![Binder]({BINDER_BADGE})]({binder_url()})\n\n"
            f"Release **{REF}** (`nbhelpers` {VERSION}) of [{GITHUB_SLUG}]({REPO_URL}). "
            f"The badges open the notebooks of this release; on Colab their setup cell "
            f"installs the same release. By hand:\n\n```bash\n{install_line()}\n```\n\n"
            f"**Read it executed:** <{SITE_URL}> shows every notebook with its outputs from a "
            f"real run in the `cpu` profile (ImageNet weights, the cats-vs-dogs data set); each "
            f"page says the profile, the date and the commit it ran at.")


def header_source(stem: str) -> str:
    idx = [c[0] for c in COURSE].index(stem)
    return (f"[![Open In Colab]({COLAB_BADGE})]({colab_url(stem)}) &nbsp; "
            f"*Fine-tuning a pretrained image model* · notebook {idx:02d} of 00–{len(COURSE) - 1:02d} · "
            f"[course map](00_start_here.ipynb)")


def footer_source(stem: str) -> str:
    stems = [c[0] for c in COURSE]
    idx = stems.index(stem)
    parts = []
    if idx > 0:
        p = COURSE[idx - 1]
        parts.append(f"[← {p[0][:2]} {p[1]}]({p[0]}.ipynb)")
    parts.append("[Course map](00_start_here.ipynb)")
    if idx < len(COURSE) - 1:
        n = COURSE[idx + 1]
        parts.append(f"[{n[0][:2]} {n[1]} →]({n[0]}.ipynb)")
    return "---\n" + " · ".join(parts)


def course_map_markdown(link_prefix: str = "") -> str:
    rows = ["| # | notebook | what you do | Colab |", "|---|---|---|---|"]
    for stem, title, what in COURSE:
        badge = f"[![Open In Colab]({COLAB_BADGE})]({colab_url(stem)})"
        rows.append(f"| {stem[:2]} | [{title}]({link_prefix}{stem}.ipynb) | {what} | {badge} |")
    return "\n".join(rows)


def _tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def _set_cell(nb, tag: str, source: str, kind: str, position: str) -> None:
    """Replace the cell tagged `tag`, or insert it at `position` ('top', 'after-title', 'bottom')."""
    for cell in nb.cells:
        if _tagged(cell, tag):
            cell.source = source
            return
    maker = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = maker(source)
    cell.metadata["tags"] = [tag]
    if position == "top":
        nb.cells.insert(0, cell)
    elif position == "bottom":
        nb.cells.append(cell)
    else:  # right after the "## Setup" section's text, else before the first code cell
        i = next((k + 1 for k, c in enumerate(nb.cells)
                  if c.cell_type == "markdown" and c.source.startswith("## Setup")), None)
        if i is None:
            i = next((k for k, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
        nb.cells.insert(i, cell)


KERNEL_METADATA = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


#: What Colab itself writes when a notebook is saved with a GPU runtime (Runtime ->
#: Change runtime type -> T4 GPU): Colab then opens the notebook asking for a GPU.
COLAB_GPU_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}


def notebook_metadata(stem: str) -> dict:
    """The kernel, plus Colab's GPU request for the notebooks in GPU_NOTEBOOKS."""
    meta = copy.deepcopy(KERNEL_METADATA)
    if stem[:2] in GPU_NOTEBOOKS:
        meta.update(copy.deepcopy(COLAB_GPU_METADATA))
    return meta


def navigate(nb, stem: str) -> None:
    """Apply header, setup cell, footer (and the course map for notebook 00) to `nb`."""
    nb.metadata = notebook_metadata(stem)
    _set_cell(nb, "nav-header", header_source(stem), "markdown", "top")
    _set_cell(nb, "setup", SETUP_SOURCE, "code", "first-code")
    _set_cell(nb, "nav-footer", footer_source(stem), "markdown", "bottom")
    for cell in nb.cells:  # solutions start collapsed in JupyterLab
        if _tagged(cell, SOLUTION_TAG):
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    if stem == COURSE[0][0]:
        for cell in nb.cells:
            if _tagged(cell, "course-map"):
                cell.source = "## The course map\n\n" + course_map_markdown()


def _between(text: str, name: str, body: str) -> str:
    """Replace what lies between `<!-- name:start -->` and `<!-- name:end -->`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def readme_text(text: str) -> str:
    text = _between(text, "release", badges_markdown())
    return _between(text, "course-map", course_map_markdown("notebooks/"))


PYPROJECT = ROOT / "pyproject.toml"
CITATION = ROOT / "CITATION.cff"


def pyproject_text(text: str) -> str:
    """pyproject.toml with [project.urls] pointing at REPO_URL (the version is dynamic)."""
    return re.sub(r'(?m)^(Repository|Homepage|Issues) = "[^"]*"$',
                  lambda m: f'{m.group(1)} = "{REPO_URL}{"/issues" if m.group(1) == "Issues" else ""}"',
                  text)


def citation_text(text: str) -> str:
    """CITATION.cff with this release's version and repository."""
    text = re.sub(r"(?m)^version: .*$", f'version: "{VERSION}"', text)
    return re.sub(r"(?m)^repository-code: .*$", f'repository-code: "{REPO_URL}"', text)


LICENSE_TEXT = ROOT / "LICENSE-text.md"


def license_text(text: str) -> str:
    """LICENSE-text.md's suggested credit links to REPO_URL."""
    return re.sub(r"<https://github\.com/[\w.-]+/[\w.-]+>", f"<{REPO_URL}>", text)


#: Files outside notebooks/ that carry the release: path -> how to bring it up to date.
#: With nbhelpers/_release.py and the notebooks, the only files that name the repository.
RELEASE_FILES = {README: readme_text, PYPROJECT: pyproject_text, CITATION: citation_text,
                 LICENSE_TEXT: license_text}


def notebooks() -> list[Path]:
    return sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))


def read(path: Path):
    return nbformat.read(path, as_version=4)


def write(nb, path: Path) -> None:
    nbformat.write(nb, path)


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and CHECK_MARK in cell.source


def strip(nb) -> None:
    """Outputs policy: only NBVAL_CHECK_OUTPUT cells keep outputs; no execution counts."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if not is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
        elif cell.outputs and cell.execution_count is None:
            cell.execution_count = 1  # nbval skips "unrun" cells that have outputs
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)


def policy_problems(nb, name: str) -> list[str]:
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.outputs and not is_checked(cell):
            problems.append(f"{name} cell {i}: has outputs but is not an {CHECK_MARK} cell")
        if cell.execution_count is not None and not is_checked(cell):
            problems.append(f"{name} cell {i}: execution_count is set (run `make nav` / strip)")
        if is_checked(cell):
            text = "".join(
                str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                for o in cell.outputs
            )
            if "OFFLINE" in text or "UNTRAINED" in text:
                problems.append(f"{name} cell {i}: a checked output shows offline numbers")
    return problems


def cmd_nav(paths: list[Path]) -> int:
    stems = {c[0] for c in COURSE}
    for path in paths or notebooks():
        if path.stem not in stems:
            print(f"skip {path.name}: not in COURSE")
            continue
        nb = read(path)
        before = nbformat.writes(nb)
        navigate(nb, path.stem)
        strip(nb)
        if nbformat.writes(nb) != before:
            write(nb, path)
            print(f"updated {path.name}")
    if not paths:
        for path, update in RELEASE_FILES.items():
            if not path.exists():
                continue
            text = path.read_text()
            new = update(text)
            if new != text:
                path.write_text(new)
                print(f"updated {path.name} (release {REF}, {REPO_URL})")
    return 0


def check_problems() -> list[str]:
    """What `nav` would change, and every break of the outputs policy."""
    problems = []
    for path in notebooks():
        nb = read(path)
        problems += policy_problems(nb, path.name)
        fixed = copy.deepcopy(nb)
        navigate(fixed, path.stem)
        if nbformat.writes(fixed) != nbformat.writes(nb):
            problems.append(f"{path.name}: navigation/setup cell out of date (run `make nav`)")
    for path, update in RELEASE_FILES.items():
        if path.exists() and update(path.read_text()) != path.read_text():
            problems.append(f"{path.name}: release, badges or course map out of date "
                            "(run `make nav`)")
    return problems


#: Words that state a result ("faster", "improves", "shrinks", ...).  A markdown sentence with
#: one either reports what this run showed -- then the code cell right before or after it
#: checks it with ``check_claim`` -- or teaches a rule in general, and a person has read it and
#: listed it in REVIEWED_SENTENCES (issue 27: a sentence must be true in the run that shows it).
RESULT_WORDS = re.compile(
    r"\b(faster|fastest|slower|improves?|improved|shrinks?|higher|lower|over-?fits?|beats?|"
    r"outperforms?|better|worse|falls?|fell|rises?|rose|drops?|dropped|more accurate|"
    r"less accurate|agrees?|disagrees?)\b", re.I)
#: One reviewed sentence a line: its key (:func:`sentence_key`), the notebook, the sentence.
REVIEWED_SENTENCES = ROOT / "docs" / "reviewed_sentences.txt"


def sentence_key(sentence: str) -> str:
    """A short hash of a sentence, whitespace-normalised: editing the sentence changes it.

    Example:
        >>> sentence_key("It is  faster.") == sentence_key("It is faster.")
        True
    """
    import hashlib

    return hashlib.sha1(" ".join(sentence.split()).encode()).hexdigest()[:12]


def sentences(markdown: str) -> list[str]:
    r"""A markdown cell's sentences: paragraphs, headings, list items and table rows apart, then
    split after ``.``, ``!`` or ``?`` (not after "e.g." or "i.e.").

    Example:
        >>> sentences("## Title\nSome text, e.g. this. More.\n- an item\n\n| a | b |")
        ['## Title', 'Some text, e.g. this.', 'More.', '- an item', '| a | b |']
    """
    blocks, current = [], []
    for line in markdown.splitlines():
        if not line.strip() or re.match(r"\s*(#|[-*+] |\d+\. |\|)", line):
            if current:
                blocks.append(" ".join(current))
            current = [line.strip()] if line.strip() else []
            if line.lstrip().startswith("#"):  # a heading is a block of its own
                blocks.append(current.pop())
        else:
            current.append(line.strip())
    if current:
        blocks.append(" ".join(current))
    out = []
    for block in blocks:
        out += [s for s in re.split(r"(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+", block) if s]
    return out


def result_sentences(path: Path) -> list[tuple[int, str]]:
    """``(cell index, sentence)`` for each markdown sentence of ``path`` with a result word
    whose neighbouring cells (the one right before, the one right after) check no claim.

    Navigation cells are skipped.  A claim is checked with ``check_claim(`` or the
    notebooks' short name ``claim(``.
    """
    cells = read(path).cells

    def checks(j: int) -> bool:
        return (0 <= j < len(cells) and cells[j].cell_type == "code"
                and re.search(r"\b(check_)?claim\(", cells[j].source) is not None)

    out = []
    for i, cell in enumerate(cells):
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "markdown" or tags & {"nav-header", "nav-footer"}:
            continue
        if checks(i - 1) or checks(i + 1):
            continue
        out += [(i, s) for s in sentences(cell.source) if RESULT_WORDS.search(s)]
    return out


def reviewed_keys(path: Path = REVIEWED_SENTENCES) -> set[str]:
    """The keys of the sentences a person has reviewed (first word of each line; # comments)."""
    if not path.exists():
        return set()
    return {line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")}


def _all_result_sentences(paths: list[Path] | None) -> list[tuple[str, int, str]]:
    """``(notebook stem, cell index, sentence)`` of :func:`result_sentences`, every notebook."""
    return [(path.stem, i, s) for path in (paths or notebooks()) for i, s in result_sentences(path)]


def unreviewed_result_sentences(paths: list[Path] | None = None,
                                reviewed: Path = REVIEWED_SENTENCES,
                                found: list[tuple[str, int, str]] | None = None
                                ) -> list[tuple[str, int, str]]:
    """``(notebook stem, cell index, sentence)``: result sentences neither checked nor reviewed."""
    keys = reviewed_keys(reviewed)
    found = _all_result_sentences(paths) if found is None else found
    return [row for row in found if sentence_key(row[2]) not in keys]


def stale_reviewed_keys(paths: list[Path] | None = None, reviewed: Path = REVIEWED_SENTENCES,
                        found: list[tuple[str, int, str]] | None = None) -> set[str]:
    """Reviewed keys that match no result sentence of today's notebooks (edited or gone)."""
    found = _all_result_sentences(paths) if found is None else found
    return reviewed_keys(reviewed) - {sentence_key(s) for _, _, s in found}


def cmd_result_words(accept: bool) -> int:
    found = _all_result_sentences(None)  # the notebooks are read once
    rows = unreviewed_result_sentences(found=found)
    for stem, i, sentence in rows:
        print(f"{stem} cell {i}: {sentence}")
    if not accept:
        return 1 if rows else 0
    stale = stale_reviewed_keys(found=found)
    lines = REVIEWED_SENTENCES.read_text(encoding="utf-8").splitlines(keepends=True) \
        if REVIEWED_SENTENCES.exists() else []
    kept = [line for line in lines if not line.strip() or line.startswith("#")
            or line.split()[0] not in stale]  # the entries of edited or removed sentences go
    kept += [f"{sentence_key(s)}  {stem[:2]}  {s}\n" for stem, _, s in rows]
    tmp = REVIEWED_SENTENCES.with_suffix(".tmp")  # whole or not at all
    tmp.write_text("".join(kept), encoding="utf-8")
    os.replace(tmp, REVIEWED_SENTENCES)
    print(f"{len(rows)} sentence(s) added to {REVIEWED_SENTENCES.relative_to(ROOT)}, "
          f"{len(stale)} stale entr{'y' if len(stale) == 1 else 'ies'} removed")
    return 0


def cmd_check() -> int:
    problems = check_problems()
    for p in problems:
        print(p)
    return 1 if problems else 0


def cmd_strip(paths: list[Path]) -> int:
    for path in paths or notebooks():
        nb = read(path)
        strip(nb)
        write(nb, path)
    return 0


def kernel_config():
    """Settings for the kernels that `make run` and `refresh-checked` start.

    The lock's ipykernel (7.4) prints "Kernel is running over TCP without
    encryption" at every start unless the kernel manager hands it CurveZMQ keys;
    the lock's jupyter_client (8.10) does that with ``transport_encryption="auto"``
    when the kernelspec declares support (ipykernel's own does).  Older versions
    (Colab's ipykernel 6.17, jupyter_client 7.4) neither warn nor have the setting.
    """
    import zmq
    from jupyter_client import KernelManager
    from traitlets.config import Config

    config = Config()
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    return config


def cmd_refresh_checked(path: Path) -> int:
    from nbclient import NotebookClient

    nb = read(path)
    env_profile = os.environ.get("NBH_PROFILE")
    os.environ["NBH_PROFILE"] = "offline"
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", config=kernel_config(),
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_profile is None:
            os.environ.pop("NBH_PROFILE", None)
        else:
            os.environ["NBH_PROFILE"] = env_profile
    fresh = read(path)
    for old, new in zip(fresh.cells, nb.cells, strict=True):
        if is_checked(old):
            old.outputs = new.outputs
    strip(fresh)
    write(fresh, path)
    print(f"refreshed checked outputs of {path.name}")
    return 0


SOLUTION_TAG = "solution"


def student_copy(nb):
    """The notebook without its solution cells (a pointer remains in their place)."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.cells:
        if _tagged(cell, SOLUTION_TAG):
            continue
        cells.append(cell)
    out.cells = cells
    strip(out)
    return out


def exercise_problems(nb, name: str) -> list[str]:
    """Each notebook needs an Exercises section and at least one solution cell per exercise."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if not re.search(r"^## Exercises", text, re.M):
        return [f"{name}: no '## Exercises' section"]
    exercises = re.findall(r"^\*\*Exercise (\d+)", text, re.M)
    solutions = [c for c in nb.cells if _tagged(c, SOLUTION_TAG)]
    sol_ids = set()
    for c in solutions:
        m = re.search(r"Solution (?:to )?(?:exercise )?(\d+)", c.source, re.I)
        if m:
            sol_ids.add(m.group(1))
    missing = [e for e in exercises if e not in sol_ids]
    problems = []
    if not exercises:
        problems.append(f"{name}: no '**Exercise N**' items")
    if missing:
        problems.append(f"{name}: exercises without a solution cell: {', '.join(missing)}")
    return problems


def cmd_student() -> int:
    dest = ROOT / "build" / "student"
    dest.mkdir(parents=True, exist_ok=True)
    for path in notebooks():
        write(student_copy(read(path)), dest / path.name)
        print(f"wrote build/student/{path.name}")
    return 0


def runtime_notebooks(kind: str) -> list[Path]:
    """The course's notebooks that Colab opens on a ``"gpu"`` or a ``"cpu"`` runtime.

    Example:
        >>> [p.name[:2] for p in runtime_notebooks("cpu")][:3]
        ['00', '01', '02']
    """
    if kind not in ("gpu", "cpu"):
        raise ValueError(f"runtime {kind!r}: choose 'gpu' or 'cpu'")
    return [p for p in notebooks() if (p.name[:2] in GPU_NOTEBOOKS) == (kind == "gpu")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("nav")
    p.add_argument("paths", nargs="*", type=Path)
    sub.add_parser("check")
    p = sub.add_parser("strip")
    p.add_argument("paths", nargs="*", type=Path)
    p = sub.add_parser("refresh-checked")
    p.add_argument("path", type=Path)
    sub.add_parser("student")
    p = sub.add_parser("runtime")
    p.add_argument("kind", choices=["gpu", "cpu"])
    p = sub.add_parser("result-words")
    p.add_argument("--accept", action="store_true",
                   help="after reading them: add the listed sentences to the reviewed list")
    args = ap.parse_args(argv)
    if args.cmd == "result-words":
        return cmd_result_words(args.accept)
    if args.cmd == "runtime":
        print("\n".join(str(p.relative_to(ROOT)) for p in runtime_notebooks(args.kind)))
        return 0
    if args.cmd == "nav":
        return cmd_nav(args.paths)
    if args.cmd == "check":
        return cmd_check()
    if args.cmd == "strip":
        return cmd_strip(args.paths)
    if args.cmd == "refresh-checked":
        return cmd_refresh_checked(args.path)
    return cmd_student()


if __name__ == "__main__":
    sys.exit(main())
