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


def private_imports(path: Path) -> list[str]:
    """``from .x import _y`` and ``x._y`` where ``x`` is another nbhelpers module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours: set[str] = set()  # local names bound to nbhelpers modules
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("nbhelpers")):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    out.append(f"{path.name}:{node.lineno} from {node.module} import {alias.name}")
                ours.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in ours and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            out.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    return out


def test_the_checks_see_what_they_should(tmp_path):
    """The measurements themselves, on a made-up module: a check that cannot fail proves nothing."""
    src = tmp_path / "m.py"
    body = "\n".join(f"    x{i} = {i}  # step" for i in range(41))
    src.write_text('from . import data\nfrom .evaluate import _gather\n\n'
                   f'def f():\n    """Doc.\n\n    More.\n    """\n    # a comment\n\n{body}\n'
                   '    return data._inspect(x0)\n\n'
                   'def g():\n    """Short."""\n    return 1\n')
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path
    try:
        assert [s.split()[1] for s in long_functions(src)] == ["f"]
        assert long_functions(src, limit=42) == []
        found = private_imports(src)
    finally:
        PACKAGE = saved
    assert any("import _gather" in s for s in found) and any("data._inspect" in s for s in found)


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
