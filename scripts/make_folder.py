"""Write a deterministic folder of images, one sub-folder per class: "your own folder", generated.

What ``make test-folder`` points ``NBH_DATA_SOURCE`` at: three classes whose names have
spaces (``golden retriever``, ``tabby cat``, ``red fox``), of unequal sizes (40, 30 and 20
images), 64 x 64 JPEG and PNG files with a pattern and colours that tell the class (a
golden disc on grass, dark diagonal stripes on grey-brown, an orange triangle on pale
blue), so that even a head on random-weight features learns something. Every image is
different (position, size, angle, noise), and the same arguments write the same bytes.

    python scripts/make_folder.py build/folder-lane/source            # the three classes
    python scripts/make_folder.py DIR --classes 5 --messy --force     # 5 classes, odd files too

``--messy`` adds one of every kind of odd file a real folder holds (see :data:`MESSY`):
what notebook 03's report is about, and what the pipeline must survive. Importable:
``make_folder(root, ...)`` returns the root.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

#: Class name -> images written.  Unequal on purpose: 4:3:2, then smaller.
CLASSES: dict[str, int] = {
    "golden retriever": 40,
    "tabby cat": 30,
    "red fox": 20,
    "barn owl": 16,
    "koi carp": 12,
}

#: The odd files ``messy=True`` adds: relative path -> the status the scan must give it.
MESSY: dict[str, str] = {
    "golden retriever/cut_off.jpg": "skipped",  # truncated download
    "golden retriever/zero_bytes.jpg": "skipped",
    "golden retriever/notes.txt": "skipped",  # not an image
    "golden retriever/IMG_4711.HEIC": "skipped",  # iPhone photo, no pillow-heif
    "golden retriever/.DS_Store": "skipped",
    "golden retriever/._IMG_0001.jpg": "skipped",  # AppleDouble
    "golden retriever/.ipynb_checkpoints": "skipped",
    "golden retriever/scan.tif": "converted",  # TIFF: read through a PNG copy
    "golden retriever/IMG_0001.JPG": "ok",  # upper-case extension
    "tabby cat/Thumbs.db": "skipped",
    "tabby cat/photo.webp": "converted",
    "tabby cat/deep.png": "converted",  # 16-bit grayscale
    "tabby cat/blink.gif": "converted",  # animated GIF
    "tabby cat/print_shop.jpg": "converted",  # CMYK
    "tabby cat/tiny.png": "kept",  # 10 x 10 px: a warning
    "tabby cat/no_extension": "kept",
    "tabby cat/twin.jpg": "ok",
    "tabby cat/twin_copy.jpg": "skipped",  # duplicate of tabby cat/twin.jpg
    "tabby cat/which_one.png": "skipped",  # label conflict with red fox/which_one.png
    "red fox/which_one.png": "skipped",
    "red fox/palette.bmp": "converted",  # TensorFlow would misread it
    "red fox/gone.jpg": "skipped",  # broken link
    "red fox/shortcut": "skipped",  # link to a folder
    "stray.jpg": "skipped",  # outside a class folder
}

_COLOURS = {  # background, foreground (RGB)
    "golden retriever": ((70, 130, 60), (215, 165, 70)),
    "tabby cat": ((150, 140, 125), (60, 50, 40)),
    "red fox": ((170, 200, 230), (220, 90, 30)),
    "barn owl": ((40, 35, 50), (235, 225, 200)),
    "koi carp": ((30, 70, 140), (240, 140, 40)),
}


def pattern(kind: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One ``(size, size, 3)`` uint8 image of pattern ``kind`` (0..4), randomised by ``rng``.

    Example:
        >>> a = pattern(0, np.random.default_rng(0)); a.shape, a.dtype.name
        ((64, 64, 3), 'uint8')
    """
    names = list(_COLOURS)
    bg, fg = (np.array(c, float) for c in _COLOURS[names[kind % len(names)]])
    yy, xx = np.mgrid[0:size, 0:size] / size
    cx, cy = rng.uniform(0.35, 0.65, size=2)
    if kind == 0:  # a disc
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < rng.uniform(0.2, 0.3) ** 2
    elif kind == 1:  # diagonal stripes
        angle = rng.uniform(0.5, 1.1)
        u = (xx * np.cos(angle) + yy * np.sin(angle)) / rng.uniform(0.12, 0.2)
        mask = (u + rng.uniform()) % 1 < 0.45
    elif kind == 2:  # a triangle pointing up
        top, height = rng.uniform(0.1, 0.3), rng.uniform(0.45, 0.6)
        mask = (yy > top) & (yy < top + height) & (np.abs(xx - cx) < (yy - top) * 0.7)
    elif kind == 3:  # a ring
        d = np.hypot(xx - cx, yy - cy)
        r = rng.uniform(0.18, 0.28)
        mask = (d > r) & (d < r + 0.1)
    else:  # a checkerboard
        cell = rng.uniform(0.15, 0.25)
        mask = ((np.floor((xx + cx) / cell) + np.floor((yy + cy) / cell)) % 2) == 0
    img = np.where(mask[..., None], fg, bg) * rng.uniform(0.85, 1.15)
    img = img + rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _write(path: Path, img: Image.Image, fmt: str, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kw)


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_folder(
    root: str | Path,
    classes: int | dict[str, int] = 3,
    *,
    size: int = 64,
    seed: int = 0,
    messy: bool = False,
    force: bool = False,
) -> Path:
    """Write ``root/<class name>/*.jpg|png`` (``classes``: how many of :data:`CLASSES`, or names -> counts).

    Every fourth image is a PNG, the rest JPEGs (quality 90).  ``messy`` adds
    :data:`MESSY` (needs the first three classes).  An existing non-empty
    ``root`` is replaced only with ``force=True``.  Returns ``root``.

    Example:
        >>> import tempfile
        >>> r = make_folder(Path(tempfile.mkdtemp()) / "pets", {"tabby cat": 3, "red fox": 4})
        >>> sorted((p.name, len(list(p.iterdir()))) for p in r.iterdir())
        [('red fox', 4), ('tabby cat', 3)]
    """
    root = Path(root)
    counts = dict(list(CLASSES.items())[:classes]) if isinstance(classes, int) else dict(classes)
    if len(counts) < 2:
        raise ValueError(f"a classifier needs at least two classes, got {list(counts)}")
    unknown = [c for c in counts if c not in _COLOURS]
    if unknown:
        raise ValueError(f"no pattern for {unknown}; choose from {list(_COLOURS)}")
    if root.exists() and any(root.iterdir()):
        if not force:
            raise FileExistsError(f"{root} is not empty; pass force=True (--force) to replace it")
        shutil.rmtree(root)
    kinds = {name: i for i, name in enumerate(_COLOURS)}
    for name, n in counts.items():
        for i in range(n):
            rng = np.random.default_rng([seed, kinds[name], i])
            img = Image.fromarray(pattern(kinds[name], rng, size))
            stem = name.replace(" ", "_")
            if i % 4 == 3:
                _write(root / name / f"{stem}_{i:03d}.png", img, "PNG")
            else:
                _write(root / name / f"{stem}_{i:03d}.jpg", img, "JPEG", quality=90)
    if messy:
        missing = [c for c in list(CLASSES)[:3] if c not in counts]
        if missing:
            raise ValueError(f"messy=True needs the classes {missing}")
        _add_mess(root, size, seed)
    return root


def _add_mess(root: Path, size: int, seed: int) -> None:
    """Write :data:`MESSY` into ``root``."""
    rng = np.random.default_rng([seed, 99])
    g, t, r = (root / c for c in list(CLASSES)[:3])

    def img(kind: int) -> Image.Image:
        return Image.fromarray(pattern(kind, rng, size))

    good = _jpeg(img(0))
    (g / "cut_off.jpg").write_bytes(good[: len(good) // 2])
    (g / "zero_bytes.jpg").write_bytes(b"")
    (g / "notes.txt").write_text("the dog photos from the park\n")
    (g / "IMG_4711.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
                                      + bytes(256))
    (g / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(32))
    (g / "._IMG_0001.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    _write(g / ".ipynb_checkpoints" / "golden_retriever_000-checkpoint.jpg", img(0), "JPEG")
    _write(g / "scan.tif", img(0), "TIFF")
    _write(g / "IMG_0001.JPG", img(0), "JPEG", quality=90)
    (t / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(32))
    _write(t / "photo.webp", img(1), "WEBP")
    deep = np.asarray(img(1).convert("L"), dtype=np.uint16) * 257
    _write(t / "deep.png", Image.fromarray(deep), "PNG")
    frames = [img(1).convert("P") for _ in range(3)]
    frames[0].save(t / "blink.gif", "GIF", save_all=True, append_images=frames[1:])
    _write(t / "print_shop.jpg", img(1).convert("CMYK"), "JPEG")
    _write(t / "tiny.png", img(1).resize((10, 10)), "PNG")
    (t / "no_extension").write_bytes(_jpeg(img(1)))
    twin = _jpeg(img(1))
    (t / "twin.jpg").write_bytes(twin)
    (t / "twin_copy.jpg").write_bytes(twin)
    conflict = io.BytesIO()
    img(2).save(conflict, "PNG")
    (t / "which_one.png").write_bytes(conflict.getvalue())
    (r / "which_one.png").write_bytes(conflict.getvalue())
    _write(r / "palette.bmp", img(2).convert("P"), "BMP")
    _write(root / "stray.jpg", img(2), "JPEG")
    try:  # links need a privilege on Windows: leave them out there
        os.symlink(root / "deleted" / "fox.jpg", r / "gone.jpg")
        os.symlink(t, r / "shortcut", target_is_directory=True)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", type=Path, help="the folder to write (one sub-folder per class)")
    ap.add_argument("--classes", type=int, default=3, help=f"how many classes (2..{len(CLASSES)})")
    ap.add_argument("--size", type=int, default=64, help="pixels per side (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--messy", action="store_true", help="add one of every kind of odd file")
    ap.add_argument("--force", action="store_true", help="replace a non-empty folder")
    args = ap.parse_args(argv)
    root = make_folder(args.root, args.classes, size=args.size, seed=args.seed,
                       messy=args.messy, force=args.force)
    counts = {p.name: sum(1 for _ in p.iterdir()) for p in sorted(root.iterdir()) if p.is_dir()}
    print(f"wrote {root}: " + ", ".join(f"{c} ({n} files)" for c, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
