"""The "Taught in" notes of nbhelpers name only notebooks that really use each helper."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import taught_in  # noqa: E402


def test_notes_name_only_notebooks_that_call_the_helper():
    found = taught_in.problems()
    assert not found, "Fix these notes (python scripts/taught_in.py):\n" + "\n".join(found)


def test_the_check_finds_a_wrong_note():
    code = {"04": "x = nbh.training.fit(model)", "06": "nbh.evaluate.scores(y, p)"}
    assert taught_in.callers("training", "fit", code) == {"04"}
    assert taught_in.callers("evaluate", "", code) == {"06"}
    assert taught_in.mentioned("Taught in ``05_adding_a_head`` and notebook 06 (tf.data)") == {
        "05", "06"}
