"""Known-answer pictures the deploy and app tests share for "none of these".

A uniform grey is what the tiny test classifier's bank is made of; green stripes are nothing
like it.  Used by ``test_deploy.py`` and ``test_app.py``.
"""

from __future__ import annotations

import numpy as np

#: The tiny classifier's input size in both test modules.
SIZE = 24


def grey(level: float, size: int = SIZE) -> np.ndarray:
    """A uniform grey image ``(size, size, 3)`` float32 at ``level`` (0-255)."""
    return np.full((size, size, 3), level, "float32")


def green_stripes(size: int = 40) -> np.ndarray:
    """Vertical green stripes 5 pixels wide on black, uint8: nothing like a uniform grey."""
    x = np.zeros((size, size, 3), np.uint8)
    x[:, (np.arange(size) // 5) % 2 == 0] = (0, 255, 0)
    return x
