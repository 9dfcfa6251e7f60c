"""What the browser tests share: where Chromium is, how it is started, a free local port.

Used by ``test_browser.py`` (JupyterLab), ``test_app.py`` (the demo app) and
``test_site.py`` (the site's search).
"""

from __future__ import annotations

import os
import shutil
import socket

#: Debian's Chromium (.ci/run installs it), else Google Chrome (GitHub's Ubuntu runners have
#: it: .github/workflows/ci.yml), or None when the machine has neither.
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium", shutil.which("google-chrome"))
                 if p and os.path.exists(p)), None)
#: Headless, sandbox off (root in CI), no background traffic on a closed network.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
