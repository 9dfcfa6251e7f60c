"""The offline profile's data set: scikit-image's faces and non-faces, written as PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import artifacts
from ..config import Config, current
from .files import whole_png

__all__ = ["write_faces"]


def write_faces(cfg: Config | None = None, force: bool = False) -> Path:
    """Write scikit-image's ``lfw_subset`` as PNG files: ``<data_dir>/faces/{face,non_face}``.

    The 200 images (25 x 25 grayscale) are bundled with scikit-image, so this
    works offline; the first 100 are faces, the last 100 are not.  They are
    written once (as RGB PNG files) so that the offline profile reads them
    through exactly the same folder code path as your own images.  The
    registry's ``faces`` entry builds its folder with it.

    Example:
        >>> root = write_faces()
        >>> sorted(p.name for p in root.iterdir()), len(list((root / "face").glob("*.png")))
        (['face', 'non_face'], 100)
    """
    cfg = cfg or current()
    root = Path(cfg.data_dir) / "faces"
    names = [("face", i) for i in range(100)] + [("non_face", i) for i in range(100)]
    paths = [root / cls / f"{cls}_{i:03d}.png" for cls, i in names]
    if not force and all(whole_png(p) for p in paths):
        return root
    from PIL import Image
    from skimage import data as skdata

    images = skdata.lfw_subset()  # (200, 25, 25) floats in [0, 1]
    for path, img in zip(paths, images, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        gray = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
        artifacts.write_with(path, lambda tmp, g=gray: Image.fromarray(g).convert("RGB").save(
            tmp, format="PNG"))
    return root
