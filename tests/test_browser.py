"""JupyterLab in a real browser: open notebook 00, run all its cells, find no error.

Starts JupyterLab on a free local port and drives Debian's Chromium with
Playwright (no browser download). `.ci/run` installs Chromium so CI always runs
this; elsewhere it is skipped, with the reason, when no Chromium is found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browser_kit import CHROMIUM, CHROMIUM_ARGS, free_port

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "00_start_here.ipynb"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found: install Debian's "
                       "'chromium' package (.ci/run does) to run the JupyterLab browser test"),
]



@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, root / NOTEBOOK)  # never touch the real one
    port, token = free_port(), "nbh-browser-test"
    env = dict(os.environ, NBH_PROFILE="offline", JUPYTER_CONFIG_DIR=str(root / ".jupyter"),
               JUPYTER_RUNTIME_DIR=str(root / ".runtime"))
    log = open(root / "lab.log", "w")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", "--LabApp.expose_app_in_browser=True"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                log.close()
                pytest.fail("JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
    yield base, token, root
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_notebook_00_runs_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    base, token, root = lab
    cells = nbformat.read(root / NOTEBOOK, 4).cells
    # Collapsed cells (the solutions) show no prompt; every other code cell must get a count.
    shown = sum(c.cell_type == "code" and not c.metadata.get("jupyter", {}).get("source_hidden")
                for c in cells)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
        # Wait until the notebook's kernel is connected and idle (the status bar can say
        # "idle" earlier, while the connection is still being made).
        page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session &&"
            " w.sessionContext.session.kernel;"
            " return !!k && k.connectionStatus === 'connected' && k.status === 'idle'; }",
            timeout=120_000)
        def run_all() -> None:
            page.click(".jp-NotebookPanel .jp-Cell")  # give the notebook focus: Run All needs it
            page.keyboard.press("Escape")
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

        run_all()
        # Done when no prompt shows '*' and every visible code cell shows a count.  On a
        # loaded machine JupyterLab may report "idle" before its kernel connection takes
        # requests, and drop that Run All (every prompt stays "[ ]"): it is asked again.
        deadline, prompts, asked = time.time() + 300, [], time.time()
        while time.time() < deadline:
            prompts = page.eval_on_selector_all(
                ".jp-CodeCell .jp-InputPrompt", "els => els.map(e => e.textContent.trim())")
            done = [t for t in prompts if re.fullmatch(r"\[\d+\]:?", t)]
            if len(done) >= shown and not any("*" in t for t in prompts):
                break
            dialog = page.query_selector(".jp-Dialog")
            if dialog and "Select Kernel" in dialog.inner_text():  # the connection was lost
                page.click(".jp-Dialog .jp-mod-accept")
                asked = 0.0
            if not any("*" in t for t in prompts) and len(done) < shown \
                    and time.time() - asked > 30:
                run_all()
                asked = time.time()
            time.sleep(2)
        else:
            page.screenshot(path=str(root / "timeout.png"))
            pytest.fail(f"cells did not finish in 300 s; prompts: {prompts}; "
                        f"screenshot: {root / 'timeout.png'}")
        errors = page.eval_on_selector_all(
            ".jp-OutputArea-output", "els => els.map(e => e.textContent)"
            ".filter(t => /Traceback \\(most recent call last\\)/.test(t))")
        dialogs = page.query_selector_all(".jp-Dialog")
        outputs = page.eval_on_selector_all(".jp-OutputArea-output",
                                            "els => els.map(e => e.textContent)")
        browser.close()
    assert not errors, "errors in the page:\n" + "\n---\n".join(errors)[:3000]
    assert not dialogs, "an error dialog was shown"
    assert not page_errors, page_errors
    # The setup cell ran and printed its banner; the TensorFlow check printed its result.
    assert any("OFFLINE PROFILE" in t for t in outputs), outputs[:3]
    assert any("(1, 2, 2, 1)" in t for t in outputs)
