"""Check the "Taught in" / "Used in" notes of nbhelpers against the notebooks that really call.

A note in a docstring names notebooks (``05_adding_a_head``, "notebook 06",
"notebooks 04 and 05").  Each notebook it names must really use the helper:
a code cell that calls ``<module>.<name>`` (or ``nbh.<name>`` for the names
the package re-exports); a module's note, any ``<module>.`` at all.

    python scripts/taught_in.py          # list the notes that name a notebook that does not call
    python scripts/taught_in.py --used   # also print, per helper, the notebooks that call it

``tests/test_taught_in.py`` runs the same check, so the notes cannot drift.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nbhelpers"
NOTE = re.compile(r"(?:Taught|Used|Shown) (?:again )?in\b(.*?)(?:\.(?:\s|$)|\n\s*\n|$)", re.S)
REEXPORTED = {"setup", "get_model"}  # nbh.setup, nbh.get_model


def notebook_code() -> dict[str, str]:
    """``{"04": all code of 04_*.ipynb}`` for every notebook."""
    out = {}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text())
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        out[path.name[:2]] = code
    return out


def mentioned(note: str) -> set[str]:
    """Two-digit notebook numbers a note names (``05_adding_a_head``, ``notebook 06``, ``07``)."""
    return set(re.findall(r"(?<![\d.])(\d{2})(?![\d.])", note))


def helpers() -> list[tuple[str, str, str, int]]:
    """``(module, name, docstring, line)`` for each module and each public function/class.

    A module inside a package (``plots/``, ``data/``, ...) counts as its package
    (notebooks call ``nbh.plots.<name>``, ``nbh.data.<name>``).
    """
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        module = parts[0] if parts else "nbhelpers"
        tree = ast.parse(path.read_text())
        out.append((module, "", ast.get_docstring(tree) or "", 1))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                out.append((module, node.name, ast.get_docstring(node) or "", node.lineno))
    return out


def exporters(module: str, name: str) -> set[str]:
    """The nbhelpers modules through which a helper can be reached (it, and re-exports)."""
    import importlib

    names = {module}
    if name in REEXPORTED:
        names.add("nbh")
    try:
        target = getattr(importlib.import_module(f"nbhelpers.{module}"), name)
    except (ImportError, AttributeError):
        return names
    for other in sorted(p.stem for p in PACKAGE.iterdir()
                        if p.suffix == ".py" and not p.stem.startswith("_")
                        or p.is_dir() and (p / "__init__.py").exists()):
        try:
            if getattr(importlib.import_module(f"nbhelpers.{other}"), name, None) is target:
                names.add(other)
        except ImportError:
            continue
    return names


def callers(module: str, name: str, code: dict[str, str], via: set[str] | None = None) -> set[str]:
    """The notebooks whose code uses ``module.name`` (or the module at all, for name="")."""
    if not name:
        pattern = rf"\b{module}\." if module != "nbhelpers" else r"\bnbh\."
    else:
        alias = "|".join(sorted(via or {module} | ({"nbh"} if name in REEXPORTED else set())))
        pattern = rf"\b(?:{alias})\.{name}\b"
    return {nb for nb, src in code.items() if re.search(pattern, src)}


def problems() -> list[str]:
    code = notebook_code()
    out = []
    for module, name, doc, line in helpers():
        notes = [m.group(1) for m in NOTE.finditer(doc)]
        named = set().union(*map(mentioned, notes)) if notes else set()
        named &= set(code)  # "0.5" or "1e-5" are not notebooks
        if not named:
            continue
        via = exporters(module, name) if name else None
        used = callers(module, name, code, via)
        missing = named - used
        if missing:
            what = f"{module}.{name}" if name else f"module {module}"
            real = sorted(used) or ["none"]
            out.append(f"{what} (line {line}): its note names {sorted(missing)}, "
                       f"which do not use it; used in: {', '.join(real)}")
    return out


def main(argv: list[str]) -> int:
    if "--used" in argv:
        code = notebook_code()
        for module, name, _, _ in helpers():
            print(f"{module}.{name or '*'}: {', '.join(sorted(callers(module, name, code)))}")
    found = problems()
    print("\n".join(found) or "every note names notebooks that use the helper")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
