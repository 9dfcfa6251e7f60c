"""The package's shape, measured (issue 25): rooms a learner can read.

* no module of ``nbhelpers`` longer than ``MAX_MODULE_LINES`` lines;
* no function longer than ``MAX_FUNCTION_LINES`` lines of code (its docstring, blank
  lines and comment lines aside);
* no module imports another module's private name (``from .x import _y``, ``x._y``):
  what two modules share is public in one of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nbhelpers"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 40


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def code_lines(source: list[str], node: ast.AST) -> int:
    """Lines of code in a function's body: no docstring, no blank or comment-only lines."""
    body = list(node.body)
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        body = body[1:]
    if not body:
        return 0
    lines = source[body[0].lineno - 1:node.end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            n = code_lines(lines, node)
            if n > limit:
                out.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _chain(node: ast.AST) -> list[str]:
    """``a.b.c`` as ``["a", "b", "c"]`` (empty when the chain does not start at a name)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) else []


def private_imports(path: Path) -> list[str]:
    """Private names of other nbhelpers modules used here.

    Seen: ``from .x import _y``; ``x._y`` and ``nbh.x._y`` where ``x`` / ``nbh`` are bound by
    ``from . import x``, ``import nbhelpers.x as x`` or ``import nbhelpers as nbh``; and
    ``getattr(x, "_y")``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours: set[str] = set()  # local names bound to nbhelpers modules (or to the package)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("nbhelpers")):
            for alias in node.names:
                if _is_private(alias.name):
                    out.append(f"{path.name}:{node.lineno} from {node.module} import {alias.name}")
                ours.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "nbhelpers":
                    if any(_is_private(part) for part in alias.name.split(".")[1:]):
                        out.append(f"{path.name}:{node.lineno} import {alias.name}")
                    ours.add(alias.asname or "nbhelpers")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "ctx", None), ast.Store):
            chain = _chain(node)
            if chain and chain[0] in ours and any(_is_private(part) for part in chain[1:]):
                out.append(f"{path.name}:{node.lineno} {'.'.join(chain)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "getattr" and len(node.args) >= 2 \
                and isinstance(node.args[0], ast.Name) and node.args[0].id in ours \
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str) \
                and _is_private(node.args[1].value):
            out.append(f"{path.name}:{node.lineno} getattr({node.args[0].id}, {node.args[1].value!r})")
    return sorted(set(out))


def test_the_checks_see_what_they_should(tmp_path):
    """The measurements themselves, on a made-up module: a check that cannot fail proves nothing."""
    src = tmp_path / "m.py"
    body = "\n".join(f"    x{i} = {i}  # step" for i in range(41))
    src.write_text('from . import data\nfrom .evaluate import _gather\nimport nbhelpers as nbh\n'
                   'import nbhelpers.models as m\nimport numpy as np\n\n'
                   f'def f():\n    """Doc.\n\n    More.\n    """\n    # a comment\n\n{body}\n'
                   '    return data._inspect(x0)\n\n'
                   'def g():\n    """Short."""\n    np._x = 1\n'
                   '    return nbh.deploy._lock, getattr(m, "_spec"), data.scan, np._core\n')
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path
    try:
        assert [s.split()[1] for s in long_functions(src)] == ["f"]
        assert long_functions(src, limit=42) == []
        found = private_imports(src)
    finally:
        PACKAGE = saved
    assert any("import _gather" in s for s in found) and any("data._inspect" in s for s in found)
    assert any("nbh.deploy._lock" in s for s in found)
    assert any("getattr(m, '_spec')" in s for s in found)
    assert not any("np." in s or "data.scan" in s for s in found)  # other libraries, public names


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


def test_no_function_is_longer_than_the_limit():
    long = [f for p in _modules() for f in long_functions(p)]
    assert not long, (f"functions over {MAX_FUNCTION_LINES} lines of code (split them into "
                      f"named steps): " + "; ".join(long))


def test_no_module_imports_another_modules_private_name():
    found = [f for p in _modules() for f in private_imports(p)]
    assert not found, "private names used across modules (make them public in one place): " \
        + "; ".join(found)
