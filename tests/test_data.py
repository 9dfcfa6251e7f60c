"""nbhelpers.data: registry, download (offline, file:// archives), validation, splits, pipelines.

The "messy" folder below holds one of every kind of file a reader's own folder
tends to contain; the report must name each one, and training on the rest must work.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import nbhelpers as nbh
from nbhelpers import data
from nbhelpers.data import files as data_files
from nbhelpers.data import preparation, scan_cache, sources

SIZE = 32  # pixels per side of the test images


@pytest.fixture(scope="module")
def cfg():
    return nbh.setup("offline", quiet=True)


def _photo(seed: int, tint: int, size: int = 40) -> Image.Image:
    """A random RGB image whose dominant channel (``tint``) tells its class."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
    a[..., tint] += 150
    return Image.fromarray(a)


def _jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def _save(path: Path, img: Image.Image, fmt: str, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kw)
    return path


#: file (relative to the root) -> (status, problem, a phrase its detail must contain).
EXPECTED = {
    "cats/truncated.jpg": ("skipped", "truncated", "interrupted copy or download"),
    "cats/truncated.png": ("skipped", "truncated", "interrupted copy or download"),
    "cats/truncated.webp": ("skipped", "truncated", "shorter than its header says"),
    "cats/empty.jpg": ("skipped", "empty", "zero-byte file"),
    "cats/notes.jpg": ("skipped", "not an image", "PIL cannot identify its content (named .jpg)"),
    "cats/readme.txt": ("skipped", "not an image", "a text file (.txt)"),
    "cats/clip.mp4": ("skipped", "not an image", "a video"),
    "cats/saved_page.jpg": ("skipped", "not an image", "a web page (HTML)"),
    "cats/iphone.heic": ("skipped", "unsupported", "pip install pillow-heif"),
    "cats/photo.webp": ("converted", "WebP", "WebP is read by PIL, not by TensorFlow"),
    "cats/scan.tiff": ("converted", "TIFF", "TIFF is read by PIL, not by TensorFlow"),
    "cats/pages.tif": ("converted", "TIFF; several pages", "TIFF with 3 pages: the first one"),
    "cats/png_inside.jpg": ("kept", "wrong extension", "PNG content in a .jpg file"),
    "cats/IMG_0002": ("kept", "no extension", "JPEG content in a file without an extension"),
    "cats/IMG_0001.JPG": ("ok", "", ""),
    "cats/tiny.jpg": ("kept", "small", "12x10 px, smaller than 32 px on a side"),
    "cats/gray.jpg": ("converted", "grayscale", "one channel copied"),
    "cats/deep.png": ("converted", "grayscale", "16-bit grayscale -> 8-bit RGB"),
    "cats/deep.tif": ("converted", "grayscale; TIFF", "16-bit grayscale"),
    "cats/rgba.png": ("converted", "RGBA", "transparency channel dropped"),
    "cats/cmyk.jpg": ("converted", "CMYK", "print colours"),
    "cats/anim.gif": ("converted", "palette; animated", "GIF with 3 frames: the first one"),
    "cats/anim.png": ("converted", "animated", "PNG with 2 frames: the first one"),
    "cats/holiday/2019/nested.jpg": ("ok", "", ""),
    "cats/chat_été_ü.jpg": ("ok", "", ""),
    "cats/.DS_Store": ("skipped", "OS clutter", "macOS Finder's folder settings"),
    "cats/._cat_00.jpg": ("skipped", "OS clutter", "AppleDouble file (the metadata of 'cat_00.jpg'"),
    "cats/.secret.jpg": ("skipped", "hidden file", "hidden files are not read"),
    "cats/.ipynb_checkpoints": ("skipped", "OS clutter", "Jupyter's checkpoint copies"),
    "cats/from_elsewhere.jpg": ("ok", "", ""),  # a link to a file outside the folder
    "cats/broken.jpg": ("skipped", "broken link", "which does not exist"),
    "cats/loop.jpg": ("skipped", "link loop", "back to itself"),
    "cats/up": ("skipped", "link to a folder", "following it would loop forever"),
    "cats/pipe.jpg": ("skipped", "not a file", "a named pipe, not a regular file"),
    "cats/conflict.jpg": ("skipped", "label conflict",
                          "cats/conflict.jpg (class 'cats') and dogs/conflict_copy.jpg (class 'dogs')"),
    "dogs/conflict_copy.jpg": ("skipped", "label conflict", "neither copy is used"),
    "dogs/犬_1.png": ("ok", "", ""),
    "dogs/bitmap.bmp": ("ok", "", ""),
    "dogs/one_bit.bmp": ("converted", "grayscale", "1-bit black and white"),
    "dogs/palette.bmp": ("converted", "palette", "palette (indexed colours)"),
    "dogs/dog_00_copy.jpg": ("skipped", "duplicate", "same content as dogs/dog_00.jpg (same class)"),
    "dogs/link_to_dog_01.jpg": ("skipped", "duplicate", "same content as dogs/dog_01.jpg"),
    "dogs/Thumbs.db": ("skipped", "OS clutter", "Windows' thumbnail cache"),
    "__MACOSX": ("skipped", "OS clutter", "macOS metadata left in a zip archive"),
    "linked_class": ("skipped", "link to a folder", "not followed"),
    "stray.jpg": ("skipped", "outside a class folder", "<class name>/"),
}


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> Path:
    """A folder outside the data folder: targets of links."""
    out = tmp_path_factory.mktemp("elsewhere")
    _save(out / "outside.jpg", _photo(300, 0), "JPEG")
    for i in range(3):
        _save(out / "more" / f"{i}.jpg", _photo(310 + i, 1), "JPEG")
    return out


@pytest.fixture(scope="module")
def messy(tmp_path_factory, elsewhere) -> Path:
    """cats/ and dogs/ with good and bad files, an empty class fish/, clutter and links."""
    root = tmp_path_factory.mktemp("messy")
    for i in range(8):
        _save(root / "cats" / f"cat_{i:02d}.jpg", _photo(i, 0), "JPEG")
        _save(root / "dogs" / f"dog_{i:02d}.jpg", _photo(100 + i, 2), "JPEG")
    cats = root / "cats"
    good = _jpeg_bytes(_photo(50, 0, size=120))
    (cats / "truncated.jpg").write_bytes(good[: len(good) // 2])
    for fmt in ("PNG", "WEBP"):
        buf = io.BytesIO()
        _photo(70, 0, size=120).save(buf, fmt)
        (cats / f"truncated.{fmt.lower()}").write_bytes(buf.getvalue()[: buf.tell() * 2 // 3])
    (cats / "empty.jpg").write_bytes(b"")
    (cats / "notes.jpg").write_text("these are not the pixels you are looking for\n")
    (cats / "readme.txt").write_text("photos of my cats\n")
    (cats / "clip.mp4").write_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2mp41" + bytes(64))
    (cats / "saved_page.jpg").write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    # The first bytes of an iPhone photo; without pillow-heif PIL cannot read it.
    (cats / "iphone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200))
    _save(cats / "photo.webp", _photo(51, 0), "WEBP")
    _save(cats / "scan.tiff", _photo(63, 0), "TIFF")
    pages = [_photo(64 + k, 0) for k in range(3)]
    pages[0].save(cats / "pages.tif", "TIFF", save_all=True, append_images=pages[1:])
    _save(cats / "png_inside.jpg", _photo(52, 0), "PNG")
    (cats / "IMG_0002").write_bytes(_jpeg_bytes(_photo(67, 0)))
    _save(cats / "IMG_0001.JPG", _photo(68, 0), "JPEG")
    _save(cats / "tiny.jpg", _photo(69, 0).resize((12, 10)), "JPEG")
    _save(cats / "gray.jpg", _photo(53, 0).convert("L"), "JPEG")
    ramp = (np.linspace(0, 65535, 40 * 40).reshape(40, 40)).astype(np.uint16)
    _save(cats / "deep.png", Image.fromarray(ramp), "PNG")
    _save(cats / "deep.tif", Image.fromarray(ramp[::-1].copy()), "TIFF")
    _save(cats / "rgba.png", _photo(54, 0).convert("RGBA"), "PNG")
    _save(cats / "cmyk.jpg", _photo(55, 0).convert("CMYK"), "JPEG")
    frames = [_photo(56 + k, 0).convert("P") for k in range(3)]
    frames[0].save(cats / "anim.gif", "GIF", save_all=True, append_images=frames[1:])
    _photo(71, 0).save(cats / "anim.png", "PNG", save_all=True, append_images=[_photo(72, 0)])
    _save(cats / "holiday" / "2019" / "nested.jpg", _photo(59, 0), "JPEG")
    _save(cats / "chat_été_ü.jpg", _photo(60, 0), "JPEG")
    (cats / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1junk")
    (cats / "._cat_00.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    _save(cats / ".secret.jpg", _photo(61, 0), "JPEG")
    _save(cats / ".ipynb_checkpoints" / "cat_00-checkpoint.jpg", _photo(62, 0), "JPEG")
    (cats / "from_elsewhere.jpg").symlink_to(elsewhere / "outside.jpg")
    (cats / "broken.jpg").symlink_to(root / "gone" / "deleted.jpg")
    (cats / "loop.jpg").symlink_to(cats / "loop.jpg")
    (cats / "up").symlink_to(root, target_is_directory=True)
    os.mkfifo(cats / "pipe.jpg")  # opening it for reading would wait forever
    twin = _jpeg_bytes(_photo(73, 1))
    (cats / "conflict.jpg").write_bytes(twin)
    dogs = root / "dogs"
    (dogs / "conflict_copy.jpg").write_bytes(twin)
    _save(dogs / "犬_1.png", _photo(160, 2), "PNG")
    _save(dogs / "bitmap.bmp", _photo(161, 2), "BMP")
    _save(dogs / "one_bit.bmp", _photo(162, 2).convert("1"), "BMP")
    _save(dogs / "palette.bmp", _photo(163, 2).convert("P"), "BMP")
    (dogs / "dog_00_copy.jpg").write_bytes((dogs / "dog_00.jpg").read_bytes())
    (dogs / "link_to_dog_01.jpg").symlink_to(dogs / "dog_01.jpg")
    (dogs / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0junk")
    (root / "fish").mkdir()
    _save(root / "stray.jpg", _photo(200, 1), "JPEG")
    _save(root / "__MACOSX" / "cats" / "._cat_01.jpg", _photo(201, 1), "JPEG")
    (root / "linked_class").symlink_to(elsewhere / "more", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def report(messy, monkeypatch_module):
    monkeypatch_module.setattr(data_files, "heif_available", lambda: False)  # as without pillow-heif
    return data.scan(messy)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


# ------------------------------------------------------------------ registry and faces
def test_registry_entries_have_what_a_download_needs():
    cd = data.REGISTRY["cats_and_dogs"]
    assert cd.url == "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
    assert cd.archive_name == "cats_and_dogs_filtered.zip"
    assert cd.layout == "train_validation" and cd.licence and cd.folder
    assert cd.sha256 is not None or cd.size_bytes, "no checksum and no size to check"
    assert data.REGISTRY["faces"].builder is data.write_faces
    with pytest.raises(ValueError, match="layout"):
        data.register(data.DataSource("bad", "x", "flat", "none"))


def test_faces_are_written_once_as_pngs(cfg):
    root = data.write_faces(cfg)
    faces = sorted((root / "face").glob("*.png"))
    non = sorted((root / "non_face").glob("*.png"))
    assert len(faces) == len(non) == 100
    stamp = faces[0].stat().st_mtime_ns
    assert data.write_faces(cfg) == root
    assert faces[0].stat().st_mtime_ns == stamp, "faces were rewritten on the second call"
    with Image.open(faces[0]) as im:
        assert im.format == "PNG" and im.size == (25, 25)
    from skimage import data as skdata

    first = np.asarray(Image.open(faces[0]).convert("L"), dtype=float) / 255
    assert np.abs(first - skdata.lfw_subset()[0]).max() < 1 / 255 + 1e-9


# ------------------------------------------------------------------ validation report
@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_report_names_each_file_correctly(report, file):
    status, problem, phrase = EXPECTED[file]
    row = report.files[report.files["file"] == file]
    assert len(row) == 1, f"{file} missing from the report"
    got = row.iloc[0].to_dict()
    assert (got["status"], got["problem"]) == (status, problem), got
    assert phrase in got["detail"], got["detail"]


def test_every_file_and_folder_is_reported(report, messy):
    """Nothing below the folder is silently left out: every entry has a row or is inside one."""
    rows = set(report.files["file"])
    for path in messy.rglob("*"):
        rel = path.relative_to(messy).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        assert any(rel == r or rel.startswith(r + "/") for r in rows), f"{rel} not reported"


def test_report_table_and_skipped_list(report, messy):
    table = report.table
    assert set(table["file"]) >= {f for f, (s, _, _) in EXPECTED.items() if s != "ok"}
    assert set(report.skipped) == {messy / f for f, (s, _, _) in EXPECTED.items() if s == "skipped"}
    assert messy / "cats" / "cmyk.jpg" in report.converted
    assert report.problems("truncated") == ["cats/truncated.jpg", "cats/truncated.png",
                                            "cats/truncated.webp"]
    summary = report.summary()
    assert "skipped cats/truncated.jpg: truncated" in summary
    assert "warning cats/tiny.jpg: 12x10 px, too small to be useful" in summary
    assert "kept with a warning" in summary


def test_a_label_conflict_is_reported_once_and_keeps_no_copy(report):
    assert report.conflicts == [["cats/conflict.jpg", "dogs/conflict_copy.jpg"]]
    lines = [ln for ln in report.summary().splitlines() if "conflict" in ln]
    assert lines == ["  label conflict: cats/conflict.jpg ('cats') = dogs/conflict_copy.jpg ('dogs'): "
                     "the same image in different classes; none of the copies is used"]
    assert not report.usable["file"].isin(["cats/conflict.jpg", "dogs/conflict_copy.jpg"]).any()


def test_a_conflict_with_three_copies_skips_all_of_them(tmp_path):
    img = _photo(5, 0)
    _save(tmp_path / "a" / "x.jpg", img, "JPEG")
    (tmp_path / "a" / "x_again.jpg").write_bytes((tmp_path / "a" / "x.jpg").read_bytes())
    (tmp_path / "b" / "x.jpg").parent.mkdir()
    (tmp_path / "b" / "x.jpg").write_bytes((tmp_path / "a" / "x.jpg").read_bytes())
    rep = data.scan(tmp_path)
    assert rep.conflicts == [["a/x.jpg", "a/x_again.jpg", "b/x.jpg"]]
    assert rep.problems("label conflict") == ["a/x.jpg", "a/x_again.jpg", "b/x.jpg"]
    assert "none of the copies is used" in rep.files["detail"].iloc[0]
    assert rep.class_counts == {"a": 0, "b": 0}


def test_links_are_followed_to_files_and_recorded(report, elsewhere):
    row = report.files[report.files["file"] == "cats/from_elsewhere.jpg"].iloc[0]
    assert row["link"] == str((elsewhere / "outside.jpg").resolve())
    assert row["sha1"] == hashlib.sha1((elsewhere / "outside.jpg").read_bytes()).hexdigest()
    assert "linked_class" not in report.classes  # a link to a folder is not a class


def test_class_counts_and_imbalance(report):
    assert report.classes == ["cats", "dogs", "fish"]
    # cats: 8 good + webp, tiff, pages, png_inside, IMG_0002, IMG_0001.JPG, tiny, gray, deep.png,
    #       deep.tif, rgba, cmyk, anim.gif, anim.png, nested, non-ASCII, from_elsewhere = 25
    # dogs: 8 good + png, bmp, 1-bit bmp, palette bmp = 12 (duplicates, conflicts not counted)
    assert report.class_counts == {"cats": 25, "dogs": 12, "fish": 0}
    assert report.imbalance_ratio == float("inf")
    assert "fish=0" in report.summary()


def test_counting_has_one_definition():
    from nbhelpers import balance

    assert balance.class_counts is data.class_counts
    assert balance.imbalance_ratio is data.imbalance_ratio
    assert data.class_counts([("a.png", 2), ("b.png", 0)]).tolist() == [1, 0, 1]
    assert data.imbalance_ratio([0, 0, 0, 2]) == 3.0  # class 1 absent: not counted ...
    assert data.imbalance_ratio([0, 0, 0, 2], num_classes=3) == float("inf")  # ... unless named
    with pytest.raises(ValueError, match="no labels"):
        data.imbalance_ratio([])


def test_16_bit_images_are_scaled_not_clipped(report, messy, cfg):
    """PIL's convert("RGB") turns 16-bit gray white; copy and read_image scale it like TensorFlow."""
    ramp = np.linspace(0, 65535, 40 * 40).reshape(40, 40) / 257
    png = data.read_image(messy / "cats" / "deep.png")
    tif = data.read_image(messy / "cats" / "deep.tif")
    assert np.abs(png[..., 0] - ramp).max() <= 1 and np.abs(tif[..., 0] - ramp[::-1]).max() <= 1
    assert row_of(report, "cats/deep.png")["tf_decodes"]  # TensorFlow's PNG decoder scales it
    assert not row_of(report, "cats/deep.tif")["tf_decodes"]


def row_of(report, file):
    return report.files[report.files["file"] == file].iloc[0]


def test_tensorflow_reads_what_pil_reads_for_every_usable_file(report, messy, cfg):
    """Nothing crashes the pipeline, and each file decodes to the picture PIL shows.

    Files claimed readable by TensorFlow are decoded by it; the others through
    the PNG copy (as the pipeline does).  Both must match PIL's reading.
    """
    copies = preparation.readable_copies(report, cfg.cache_dir)
    assert messy / "dogs" / "palette.bmp" in copies  # TensorFlow would read its indices as gray
    for _, row in report.usable.iterrows():
        path = copies.get(row["path"], row["path"])
        got = data.decode_and_resize(str(path), 32).numpy().astype(float)
        want = data.read_image(row["path"], size=32).astype(float)
        assert np.abs(got - want).mean() < 8, row["file"]


def test_an_unreadable_file_is_reported(tmp_path, monkeypatch):
    for cls in ("a", "b"):
        for i in range(3):
            _save(tmp_path / cls / f"{i}.jpg", _photo(10 * len(cls) + i, 0), "JPEG")
    locked = tmp_path / "a" / "locked.jpg"
    _save(locked, _photo(40, 0), "JPEG")
    locked.chmod(0)
    real_open = open

    def fake_open(file, *args, **kw):  # tests may run as root, whom chmod does not stop
        if Path(file) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kw)

    monkeypatch.setattr("builtins.open", fake_open)
    row = row_of(data.scan(tmp_path), "a/locked.jpg")
    assert (row["status"], row["problem"]) == ("skipped", "unreadable")
    assert "Permission denied" in row["detail"] and "chmod u+r" in row["detail"]


def test_an_unreadable_folder_is_reported(tmp_path, monkeypatch):
    for cls in ("a", "b"):
        for i in range(3):
            _save(tmp_path / cls / f"{i}.jpg", _photo(10 * len(cls) + i, 0), "JPEG")
    _save(tmp_path / "a" / "private" / "x.jpg", _photo(50, 0), "JPEG")
    real = os.scandir

    def fake_scandir(path="."):
        if Path(path).name == "private":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    row = row_of(data.scan(tmp_path), "a/private")
    assert (row["status"], row["problem"]) == ("skipped", "unreadable")
    assert "cannot list the folder: Permission denied" in row["detail"]


def test_a_file_name_that_is_not_utf8_is_read_through_a_copy(tmp_path, cfg):
    for cls, tint in (("a", 0), ("b", 2)):
        for i in range(4):
            _save(tmp_path / cls / f"{i}.jpg", _photo(20 * tint + i, tint), "JPEG")
    odd = Path(os.fsdecode(os.fsencode(tmp_path / "a") + b"/caf\xe9.jpg"))  # Latin-1 from an old zip
    _save(odd, _photo(99, 0), "JPEG")
    p = data.prepare(cfg, tmp_path, val_fraction=0.25, test_fraction=0.25, verbose=False)
    row = row_of(p.report, odd.relative_to(tmp_path).as_posix())
    assert (row["status"], row["problem"]) == ("converted", "odd file name")
    assert "not valid UTF-8" in row["detail"] and odd in p.readable
    str(p.report).encode("utf-8")  # printing the report cannot fail on the name
    for split in ("train", "val", "test"):
        x, _ = data.load_split(p, split, cfg)
        assert len(x) == len(p.split(split))


def test_a_scan_cache_made_without_pillow_heif_is_not_reused_with_it(monkeypatch, tmp_path):
    """Installing pillow-heif must not leave HEIC photos reported from the old scan."""
    root = tmp_path / "imgs"
    for cls in ("a", "b"):
        _save(root / cls / "0.jpg", _photo(len(cls), 0), "JPEG")
    cache = tmp_path / "scan.json"
    opened = []
    inspect = data_files.inspect
    monkeypatch.setattr(data_files, "inspect", lambda p, r: opened.append(p) or inspect(p, r))
    monkeypatch.setattr(data_files, "heif_available", lambda: False)
    data.scan(root, cache_file=cache)
    data.scan(root, cache_file=cache)
    assert len(opened) == 2  # the second scan came from the cache
    monkeypatch.setattr(data_files, "heif_available", lambda: True)
    data.scan(root, cache_file=cache)
    assert len(opened) == 4  # other decoders: every file opened again


def test_small_images_are_judged_against_the_profile(tmp_path, cfg):
    for cls, tint in (("a", 0), ("b", 2)):
        for i in range(4):
            _save(tmp_path / cls / f"{i}.png", _photo(20 * tint + i, tint, size=25), "PNG")
    _save(tmp_path / "a" / "icon.png", _photo(7, 0, size=12), "PNG")
    # offline: 64 px input, so 25 px is fine (stretched 2.6 times) and 12 px is not
    p = data.prepare(cfg, tmp_path, val_fraction=0.25, test_fraction=0.25, verbose=False)
    assert p.report.problems("small") == ["a/icon.png"]
    assert "smaller than 16 px on a side" in row_of(p.report, "a/icon.png")["detail"]
    # a plain scan uses 32 px
    assert len(data.scan(tmp_path).problems("small")) == 9


def test_an_empty_class_is_a_clear_error(messy, cfg):
    with pytest.raises(data.EmptyClassError, match="fish") as e:
        data.prepare(cfg, messy, verbose=False)
    assert "allow_empty_classes" in str(e.value)


@pytest.mark.slow
def test_training_on_the_usable_rest_works(messy, cfg):
    import keras

    p = data.prepare(cfg, messy, allow_empty_classes=True, verbose=False)
    assert p.class_names == ["cats", "dogs"]
    used = {path for split in (p.train, p.val, p.test) for path, _ in split}
    assert used == set(p.report.usable["path"]) - {messy / "stray.jpg"}
    assert not used & set(p.report.skipped)
    assert messy / "dogs" / "one_bit.bmp" in p.readable  # TensorFlow cannot decode it itself
    train_ds, val_ds, _ = data.make_datasets(p, cfg, augment=True, batch_size=8)
    model = keras.Sequential([
        keras.Input((cfg.image_size, cfg.image_size, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, strides=4, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train_ds, validation_data=val_ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    assert np.isfinite(history.history["val_loss"][0])
    x, y = data.load_split(p, "train", cfg)
    assert len(x) == len(p.train) and np.isfinite(x).all()
    # every kept oddity decoded to a real RGB image, not zeros
    assert (x.reshape(len(x), -1).std(axis=1) > 1).all()


def test_missing_folder(tmp_path, cfg):
    with pytest.raises(data.MissingFolderError, match="does not exist"):
        data.prepare(cfg, tmp_path / "nope", verbose=False)


def test_fewer_than_two_classes(tmp_path, cfg):
    for i in range(5):
        _save(tmp_path / "only" / f"{i}.png", _photo(i, 0), "PNG")
    with pytest.raises(data.TooFewClassesError, match="at least two"):
        data.prepare(cfg, tmp_path, verbose=False)


def test_too_few_images_to_split(tmp_path, cfg):
    for i in range(6):
        _save(tmp_path / "a" / f"{i}.png", _photo(i, 0), "PNG")
    for i in range(2):
        _save(tmp_path / "b" / f"{i}.png", _photo(10 + i, 2), "PNG")
    with pytest.raises(data.TooFewImagesError, match="2 usable image"):
        data.prepare(cfg, tmp_path, verbose=False)


def test_the_same_image_in_two_splits_is_an_error(tmp_path, cfg):
    for i in range(6):
        for cls, tint in (("a", 0), ("b", 2)):
            _save(tmp_path / cls / f"{i}.png", _photo(10 * tint + i, tint), "PNG")
    p = data.prepare(cfg, tmp_path, verbose=False)
    data.check_splits(p)  # fine as prepared
    leaked = p.test[0][0]
    copy = leaked.parent / "copy.png"
    copy.write_bytes(leaked.read_bytes())
    p.train.append((copy, p.test[0][1]))
    with pytest.raises(data.DuplicateImageError, match="two splits"):
        data.check_splits(p)
    # prepare itself keeps one of the two copies only, so nothing leaks
    again = data.prepare(cfg, tmp_path, verbose=False)
    assert again.report.problems("duplicate") == ["a/copy.png"] or again.report.problems(
        "duplicate"
    ) == [str(leaked.relative_to(tmp_path))]


def test_scanning_is_fast(tmp_path):
    for i in range(200):
        _save(tmp_path / ("a" if i % 2 else "b") / f"{i}.jpg", _photo(i, i % 3, size=160), "JPEG")
    t0 = time.perf_counter()
    rep = data.scan(tmp_path)
    assert len(rep.usable) == 200
    assert time.perf_counter() - t0 < 10, "scanning 200 small JPEGs should take well under 10 s"


def test_a_scan_cache_skips_unchanged_files_and_sees_changed_ones(tmp_path):
    root = tmp_path / "imgs"
    for i in range(4):
        _save(root / ("a" if i % 2 else "b") / f"{i}.jpg", _photo(i, 0, 64), "JPEG")
    cache = tmp_path / "scan.json"
    first = data.scan(root, cache_file=cache)
    assert cache.is_file()
    again = data.scan(root, cache_file=cache)
    cols = ["file", "class", "status", "problem", "sha1"]
    assert again.files[cols].equals(first.files[cols])
    assert list(again.files["path"]) == list(first.files["path"])
    victim = root / "a" / "1.jpg"
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2])  # changed size: must be opened again
    assert data.scan(root, cache_file=cache).problems("truncated") == ["a/1.jpg"]


# ------------------------------------------------------------------ splits
def _items(counts: dict[int, int]) -> list[tuple[Path, int]]:
    return [(Path(f"c{c}/{i}.png"), c) for c, n in counts.items() for i in range(n)]


@pytest.mark.parametrize("counts", [{0: 10, 1: 10}, {0: 50, 1: 7, 2: 3}, {0: 3, 1: 100}])
def test_split_is_stratified_disjoint_and_seeded(counts):
    items = _items(counts)
    tr, va, te = data.split_files(items, (0.15, 0.15), seed=3)
    assert sorted(tr + va + te) == sorted(items)
    assert not set(tr) & set(va) and not set(tr) & set(te) and not set(va) & set(te)
    for c, n in counts.items():
        parts = [sum(1 for _, y in s if y == c) for s in (tr, va, te)]
        assert min(parts) >= 1, (c, parts)
        assert abs(parts[1] - round(0.15 * n)) <= 1 and abs(parts[2] - round(0.15 * n)) <= 1
    assert data.split_files(items, (0.15, 0.15), seed=3) == (tr, va, te)
    assert data.split_files(items, (0.15, 0.15), seed=4) != (tr, va, te)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(3, 60), min_size=2, max_size=4),
    val=st.floats(0.05, 0.4),
    test=st.floats(0.05, 0.4),
    seed=st.integers(0, 2**16),
)
def test_split_properties(counts, val, test, seed):
    items = _items(dict(enumerate(counts)))
    tr, va, te = data.split_files(items, (val, test), seed=seed)
    assert sorted(tr + va + te) == sorted(items)  # a partition: nothing lost or doubled
    assert len(set(tr + va + te)) == len(items)
    for c in range(len(counts)):
        assert all(any(y == c for _, y in part) for part in (tr, va, te))
    assert data.split_files(list(reversed(items)), (val, test), seed=seed) == (tr, va, te)


def test_max_images_per_class_keeps_a_stratified_seeded_subset(tmp_path, cfg):
    for i in range(20):
        _save(tmp_path / "a" / f"{i}.png", _photo(i, 0, 16), "PNG")
    for i in range(8):
        _save(tmp_path / "b" / f"{i}.png", _photo(100 + i, 2, 16), "PNG")
    p = data.prepare(cfg, tmp_path, max_images_per_class=10, verbose=False)
    sizes = p.sizes()
    assert sizes.loc[["train", "val", "test"], "a"].sum() == 10
    assert sizes.loc[["train", "val", "test"], "b"].sum() == 8
    q = data.prepare(cfg, tmp_path, max_images_per_class=10, verbose=False)
    assert (p.train, p.val, p.test) == (q.train, q.val, q.test)
    # a larger cap keeps the images of a smaller one: the one nested stratified sample
    r = data.prepare(cfg, tmp_path, max_images_per_class=15, verbose=False)
    kept = {str(path) for split in (p.train, p.val, p.test) for path, _ in split}
    assert kept <= {str(path) for split in (r.train, r.val, r.test) for path, _ in split}


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 60), min_size=1, max_size=4), seed=st.integers(0, 2**16),
       small=st.floats(0.01, 1.0), large=st.floats(0.01, 1.0))
def test_stratified_samples_are_nested_sorted_and_keep_every_class(counts, seed, small, large):
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    small, large = sorted((small, large))
    a = data.stratified_sample(y, data.sample_sizes(y, small), seed)
    b = data.stratified_sample(y, data.sample_sizes(y, large), seed)
    assert set(a.tolist()) <= set(b.tolist()) and np.all(np.diff(b) > 0)
    assert data.class_counts(y[a], len(counts)).tolist() == [
        max(1, round(n * small)) for n in counts]
    # nbh.balance samples with the same function: one definition of a stratified subsample
    np.testing.assert_array_equal(nbh.balance.subset_indices(y, small, seed=seed), a)


# ------------------------------------------------------------------ pipelines
@pytest.fixture(scope="module")
def faces(cfg):
    return data.prepare(cfg, "faces", verbose=False)


def test_datasets_follow_the_contract(faces, cfg):
    train_ds, val_ds, test_ds = data.make_datasets(faces, cfg)
    x, y = next(iter(train_ds))
    s = cfg.image_size
    assert tuple(x.shape) == (cfg.batch_size, s, s, 3) and x.dtype.name == "float32"
    assert y.dtype.name == "int32" and tuple(y.shape) == (cfg.batch_size,)
    assert 0.0 <= float(x.numpy().min()) and float(x.numpy().max()) <= 255.0
    assert float(x.numpy().max()) > 1.0, "images must be in [0, 255], not [0, 1]"
    labels = np.concatenate([b.numpy() for _, b in test_ds])
    assert labels.tolist() == [lab for _, lab in faces.test], "test_ds must keep the list's order"


def test_training_order_is_seeded_and_changes_each_epoch(faces, cfg):
    def epoch_labels(ds):
        return np.concatenate([b.numpy() for _, b in ds]).tolist()

    ds = data.make_datasets(faces, cfg)[0]
    first, second = epoch_labels(ds), epoch_labels(ds)
    assert sorted(first) == sorted(lab for _, lab in faces.train)
    assert first != second, "a new order each epoch"
    nbh.config.seed_everything(cfg.seed)
    again = data.make_datasets(faces, cfg)[0]
    nbh.config.seed_everything(cfg.seed)
    ds2 = data.make_datasets(faces, cfg)[0]
    assert epoch_labels(again) == epoch_labels(ds2)


def test_a_pipeline_carries_the_identity_of_its_split_and_nothing_derived_does(faces, cfg):
    """The feature cache keys on ``ds.split_identity``: only a pipeline dataset() made has one."""
    train_ds, val_ds, test_ds = data.make_datasets(faces, cfg)
    ident = val_ds.split_identity
    assert isinstance(ident, data.SplitIdentity) and ident.split == "val"
    assert ident.fingerprint.startswith(data.fingerprint(faces, "val") + str(cfg.image_size) + "o")
    assert ident.fingerprint == data.make_datasets(faces, cfg)[1] \
        .split_identity.fingerprint != test_ds.split_identity.fingerprint
    # the shuffled training pipeline names its list's order; read in order it is load_split's
    x, y = data.load_split(faces, "train", cfg)
    in_order = np.concatenate([b.numpy() for _, b in train_ds.split_identity.in_order(16)])
    assert in_order.tolist() == y.tolist()
    # derived pipelines are other objects: they carry nothing (what they hold is unknown)
    for derived in (val_ds.map(lambda a, b: (a * 0, b)), val_ds.take(1), val_ds.unbatch()):
        assert getattr(derived, "split_identity", None) is None
    aug_train = data.make_datasets(faces, cfg, augment=True)[0]
    assert aug_train.split_identity is None
    # a list edited after its pipeline was made: the identity keeps the list it was made of
    edited = data.Prepared(**{**faces.__dict__, "val": list(faces.val)})
    kept = data.dataset(edited, "val", cfg)
    edited.val.reverse()
    assert kept.split_identity.prepared.val == faces.val


def test_augmentation_only_in_training(faces, cfg):
    aug = data.augmentation(cfg)
    x, _ = data.load_split(faces, "val", cfg)
    assert np.array_equal(aug(x[:4], training=False).numpy(), x[:4])
    assert not np.allclose(aug(x[:4], training=True).numpy(), x[:4])
    _, val_aug, _ = data.make_datasets(faces, cfg, augment=True)
    _, val_plain, _ = data.make_datasets(faces, cfg, augment=False)
    a = np.concatenate([b.numpy() for b, _ in val_aug])
    b = np.concatenate([b.numpy() for b, _ in val_plain])
    assert np.array_equal(a, b), "validation images must never be augmented"


def test_augmented_training_is_deterministic_for_a_seed(faces, cfg):
    def first_batch():
        nbh.config.seed_everything(cfg.seed)
        ds = data.make_datasets(faces, cfg, augment=True)[0]
        return next(iter(ds))[0].numpy()

    assert np.array_equal(first_batch(), first_batch())


def test_load_split_matches_pil(faces, cfg):
    x, y = data.load_split(faces, "val", cfg)
    assert x.shape == (len(faces.val), cfg.image_size, cfg.image_size, 3)
    assert y.tolist() == [lab for _, lab in faces.val]
    ref = data.read_image(faces.val[0][0], size=cfg.image_size).astype("float32")
    assert np.abs(x[0] - ref).mean() < 8, "tf.data and PIL should see the same picture"


def test_load_split_holds_the_images_once(faces, cfg):
    """Notebook 11 loads three splits at 160 px: gathering batches and joining them doubled them."""
    import tracemalloc

    data.load_split(faces, "train", cfg)  # warm: TensorFlow's own first-use allocations
    tracemalloc.start()
    try:
        x, y = data.load_split(faces, "train", cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(x) == len(faces.train) and y.tolist() == [lab for _, lab in faces.train]
    # one copy and one batch of 64 in flight (before: two copies, 2.0x)
    assert peak < 1.75 * x.nbytes, (peak, x.nbytes)


def test_throughput_counts_images(faces, cfg):
    ds = data.dataset(faces, "val", cfg)
    rates = data.throughput(ds, epochs=2)
    assert len(rates) == 2 and all(r > 0 for r in rates)


# ------------------------------------------------------------------ download (offline)
def _archive(tmp_path: Path, name: str = "mini_pets") -> Path:
    """A small archive with the cats_and_dogs layout: <folder>/{train,validation}/<class>/."""
    zpath = tmp_path / f"{name}.zip"
    seed = 1000
    with zipfile.ZipFile(zpath, "w") as z:
        for half, n in (("train", 6), ("validation", 4)):
            for cls, tint in (("cats", 0), ("dogs", 2)):
                for i in range(n):
                    seed += 1
                    img = _photo(seed, tint, 24)
                    z.writestr(f"mini_pets/{half}/{cls}/{cls}.{i}.jpg", _jpeg_bytes(img))
    return zpath


def _source(zpath: Path, sha: str | None, name: str = "mini_pets") -> data.DataSource:
    return data.DataSource(
        name=name, description="test", layout="train_validation", licence="test only",
        url=zpath.as_uri(), sha256=sha, folder="mini_pets",
    )


def test_download_with_matching_checksum(tmp_path, cfg, capsys):
    zpath = _archive(tmp_path)
    sha = hashlib.sha256(zpath.read_bytes()).hexdigest()
    src = _source(zpath, sha)
    root = data.fetch(src, cfg)
    out = capsys.readouterr().out
    assert "Downloading 'mini_pets'" in out and src.url in out and "MB" in out
    assert (root / "train" / "cats").is_dir() and (root / "validation" / "dogs").is_dir()
    assert (cfg.cache_dir / "datasets" / "mini_pets.zip").is_file()
    # the second call reuses the cache, even with the "server" gone
    zpath.unlink()
    assert data.fetch(src, cfg) == root
    assert "Using cached" in capsys.readouterr().out
    # and prepare splits the validation half, stratified, into validation and test
    data.register(src)
    try:
        p = data.prepare(cfg, "mini_pets", verbose=False)
        small = data.prepare(cfg, "mini_pets", max_images_per_class=5, verbose=False)
    finally:
        data.REGISTRY.pop("mini_pets")
    assert p.sizes()["total"].tolist() == [12, 4, 4]
    assert all("validation" in str(path) for path, _ in p.val + p.test)
    assert all(f"{p.class_names[y]}" in str(path) for path, y in p.train + p.val + p.test)
    # the cap keeps the halves' ratio: 5 of 10 per class -> 3 train, 1 validation, 1 test
    assert small.sizes()["total"].tolist() == [6, 2, 2]
    assert set(small.train) <= set(p.train)


def test_download_with_mismatching_checksum(tmp_path, cfg):
    zpath = _archive(tmp_path, "mini_pets_bad")
    src = _source(zpath, "0" * 64, name="mini_pets_bad")
    with pytest.raises(data.ChecksumError) as e:
        data.fetch(src, cfg, verbose=False)
    msg = str(e.value)
    assert "0" * 64 in msg and hashlib.sha256(zpath.read_bytes()).hexdigest() in msg
    assert src.url in msg and str(cfg.cache_dir / "datasets") in msg
    assert not (cfg.cache_dir / "datasets" / "mini_pets_bad.zip").exists(), "bad download kept"
    assert not (cfg.cache_dir / "datasets" / "mini_pets_bad_extracted").exists()


def test_a_cached_archive_is_checked_against_a_changed_checksum(tmp_path, cfg):
    zpath = _archive(tmp_path, "mini_pets_pinned")
    sha = hashlib.sha256(zpath.read_bytes()).hexdigest()
    data.fetch(_source(zpath, sha, name="pinned"), cfg, verbose=False)
    with pytest.raises(data.ChecksumError, match="Delete it"):
        data.fetch(_source(zpath, "f" * 64, name="pinned"), cfg, verbose=False)


def test_offline_download_fails_fast_and_says_how_to_fix(tmp_path, cfg):
    src = data.DataSource(
        name="unreachable", description="x", layout="train_validation", licence="x",
        url="https://host.invalid/some/data.zip", sha256=None, folder="data",
    )
    t0 = time.perf_counter()
    with pytest.raises(data.DownloadError) as e:
        data.fetch(src, cfg, verbose=False)
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    assert src.url in msg and str(cfg.cache_dir / "datasets") in msg and "by hand" in msg


def test_an_archive_placed_by_hand_is_used_without_network(tmp_path, cfg):
    zpath = _archive(tmp_path)
    sha = hashlib.sha256(zpath.read_bytes()).hexdigest()
    src = data.DataSource(
        name="by_hand", description="x", layout="train_validation", licence="x",
        url="https://host.invalid/mledu/by_hand.zip", sha256=sha, folder="mini_pets",
    )
    target = cfg.cache_dir / "datasets" / "by_hand.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(zpath.read_bytes())
    root = data.fetch(src, cfg, verbose=False)
    assert (root / "train" / "dogs").is_dir()


def test_layout_is_found_for_old_and_new_keras_return_values(tmp_path):
    src = data.REGISTRY["cats_and_dogs"]
    new = tmp_path / "new" / "cats_and_dogs_filtered_extracted" / "cats_and_dogs_filtered"
    old = tmp_path / "old" / "cats_and_dogs_filtered"
    for base in (new, old):
        for half in ("train", "validation"):
            (base / half / "cats").mkdir(parents=True)
    # Keras >= 3.6 returns the extraction folder; older Keras the archive's path.
    assert sources._find_layout_root(new.parent, src) == new
    assert sources._find_layout_root(tmp_path / "old", src) == old
    assert sources._find_layout_root(tmp_path / "old" / "cats_and_dogs_filtered.zip", src) == old


def test_a_validation_image_that_is_also_in_training_is_dropped(tmp_path, cfg):
    root = tmp_path / "halves"
    for half, n in (("train", 5), ("validation", 4)):
        for cls, tint in (("cats", 0), ("dogs", 2)):
            for i in range(n):
                _save(root / half / cls / f"{i}.jpg", _photo(int(hashlib.sha1(f"{half}/{cls}".encode()).hexdigest(), 16) % 97 * 10 + i, tint),
                      "JPEG")
    twin = root / "validation" / "dogs" / "twin.jpg"
    twin.write_bytes((root / "train" / "dogs" / "0.jpg").read_bytes())
    src = data.register(data.DataSource("halves", "test", "train_validation", "test only",
                                        builder=lambda _cfg: root))
    try:
        p = data.prepare(cfg, "halves", verbose=False)
    finally:
        data.REGISTRY.pop(src.name)
    row = p.report.files[p.report.files["file"] == "validation/dogs/twin.jpg"].iloc[0]
    assert row["status"] == "skipped" and row["problem"] == "duplicate"
    assert "train/dogs/0.jpg" in row["detail"]
    assert twin not in {path for path, _ in p.val + p.test}
    data.check_splits(p)


def test_nbh_data_source_points_every_notebook_at_your_folder(tmp_path, cfg, monkeypatch):
    for cls, tint in (("left", 0), ("right", 2)):
        for i in range(4):
            _save(tmp_path / cls / f"{i}.png", _photo(10 * tint + i, tint, 16), "PNG")
    monkeypatch.setenv("NBH_DATA_SOURCE", str(tmp_path))
    p = data.prepare(cfg, verbose=False)
    assert p.class_names == ["left", "right"] and p.source == "folder" and p.root == tmp_path
    assert p.split("val") is p.val
    with pytest.raises(ValueError, match="'train', 'val' and 'test'"):
        p.split("validation")  # one name for the validation split
    monkeypatch.delenv("NBH_DATA_SOURCE")
    assert data.prepare(cfg, verbose=False).class_names == ["face", "non_face"]


def test_exif_rotated_photos_are_read_upright(tmp_path, cfg):
    for cls, tint in (("a", 0), ("b", 2)):
        for i in range(3):
            _save(tmp_path / cls / f"{i}.jpg", _photo(10 * tint + i, tint, 32), "JPEG")
    stored = np.zeros((32, 32, 3), np.uint8)
    stored[:16, :, 0] = 255  # red on top as stored ...
    stored[16:, :, 2] = 255  # ... blue below
    exif = Image.Exif()
    exif[0x0112] = 3  # "display rotated by 180 degrees": blue on top
    sideways = tmp_path / "a" / "phone.jpg"
    Image.fromarray(stored).save(sideways, "JPEG", exif=exif.tobytes(), quality=95)
    p = data.prepare(cfg, tmp_path, val_fraction=0.2, test_fraction=0.2, verbose=False)
    row = p.report.files[p.report.files["file"] == "a/phone.jpg"].iloc[0]
    assert row["status"] == "converted" and row["problem"] == "EXIF rotation"
    assert sideways in p.readable
    upright = data.read_image(sideways)
    assert upright[2, 16, 2] > 200 and upright[2, 16, 0] < 60, "PIL read must turn it upright"
    split = next(s for s in ("train", "val", "test") if any(q == sideways for q, _ in p.split(s)))
    x, _ = data.load_split(p, split, cfg)
    img = x[[q for q, _ in p.split(split)].index(sideways)]
    assert img[2, :, 2].mean() > 200 and img[2, :, 0].mean() < 60, "tf.data must see it upright"


# ------------------------------------------------------------------ cache identity
def _two_classes(root: Path, n: int = 6, seed: int = 0) -> Path:
    for cls, tint in (("tabby cat", 0), ("red fox", 2)):
        for i in range(n):
            _save(root / cls / f"{i}.jpg", _photo(seed + 10 * tint + i, tint), "JPEG")
    return root


def test_a_changed_file_is_seen_even_with_the_same_size_and_time(tmp_path):
    root = _two_classes(tmp_path / "imgs")
    cache = tmp_path / "scan.json"
    first = data.scan(root, cache_file=cache)
    victim = root / "red fox" / "2.jpg"
    st = victim.stat()
    other = _jpeg_bytes(_photo(999, 2))
    body = (other + bytes(st.st_size))[: st.st_size]  # same length, other bytes
    victim.write_bytes(body)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))  # as `cp -p` or a sync tool would
    assert victim.stat().st_size == st.st_size and victim.stat().st_mtime_ns == st.st_mtime_ns
    again = data.scan(root, cache_file=cache)
    before, after = (row_of(r, "red fox/2.jpg")["sha1"] for r in (first, again))
    assert before != after == hashlib.sha1(body).hexdigest(), "a stale scan came from the cache"


def test_the_scan_cache_is_keyed_by_the_resolved_folder(tmp_path, cfg, monkeypatch):
    a = _two_classes(tmp_path / "A")
    b = _two_classes(tmp_path / "B", seed=500)  # same names, other pictures
    (tmp_path / "link_to_A").symlink_to(a, target_is_directory=True)
    key = scan_cache.scan_cache_file
    monkeypatch.chdir(tmp_path)
    assert key(cfg, Path("A")) == key(cfg, a) == key(cfg, tmp_path / "link_to_A")
    assert key(cfg, a) != key(cfg, b)
    pa = data.prepare(cfg, a, verbose=False)
    pb = data.prepare(cfg, b, verbose=False)
    assert set(pa.report.files["sha1"]).isdisjoint(pb.report.files["sha1"])
    assert pb.report.files["sha1"].tolist() == [
        hashlib.sha1(Path(p).read_bytes()).hexdigest() for p in pb.report.files["path"]]
    # even handed A's cache file, a scan of B does not use A's rows
    rep = data.scan(b, cache_file=key(cfg, a))
    assert rep.files["sha1"].tolist() == pb.report.files["sha1"].tolist()
    assert pa.fingerprint != pb.fingerprint


@pytest.fixture
def folder(tmp_path):
    return _two_classes(tmp_path / "mine", n=8)


def test_fingerprint_is_stable_when_nothing_changed(folder, cfg, tmp_path):
    import dataclasses
    import shutil

    p = data.prepare(cfg, folder, verbose=False)
    assert len(p.fingerprint) == 16 and set(p.split_fingerprints) == {"train", "val", "test"}
    assert p.fingerprint == data.fingerprint(p)
    assert p.split_fingerprints["train"] == data.fingerprint(p, "train")
    assert len(set(p.split_fingerprints.values())) == 3
    for path in folder.rglob("*.jpg"):  # touch every file
        os.utime(path, ns=(time.time_ns(), time.time_ns()))
    elsewhere = dataclasses.replace(cfg, cache_dir=tmp_path / "other_cache")  # no scan cache
    shutil.rmtree(cfg.cache_dir / "scans", ignore_errors=True)
    for again in (data.prepare(cfg, folder, verbose=False),
                  data.prepare(elsewhere, Path(os.path.relpath(folder)), verbose=True)):
        assert again.fingerprint == p.fingerprint
        assert again.split_fingerprints == p.split_fingerprints


def _split_of(p, path: Path) -> str:
    return next(s for s in ("train", "val", "test") if any(q == path for q, _ in p.split(s)))


def test_fingerprint_changes_when_an_image_is_added_removed_or_changed(folder, cfg):
    base = data.prepare(cfg, folder, verbose=False)
    seen = {base.fingerprint}

    def changed(what: str):
        p = data.prepare(cfg, folder, verbose=False)
        assert p.fingerprint not in seen, f"{what} did not change the fingerprint"
        seen.add(p.fingerprint)
        return p

    new = _save(folder / "red fox" / "new.jpg", _photo(777, 2), "JPEG")
    p = changed("adding an image")
    assert p.split_fingerprints[_split_of(p, new)] != base.split_fingerprints[_split_of(p, new)]
    new.unlink()
    assert data.prepare(cfg, folder, verbose=False).fingerprint == base.fingerprint
    victim = base.train[0][0]
    victim.write_bytes(_jpeg_bytes(_photo(778, 0)))
    p = changed("changing an image")
    assert p.split_fingerprints["train"] != base.split_fingerprints["train"]
    assert p.split_fingerprints["test"] == base.split_fingerprints["test"]
    victim.unlink()
    changed("removing an image")
    (folder / "red fox" / "3.jpg").rename(folder / "red fox" / "three.jpg")
    changed("renaming an image")
    (folder / "red fox").rename(folder / "arctic fox")
    changed("renaming a class")


def test_fingerprint_of_a_copied_folder_names_its_own_root(folder, cfg, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)  # same names, bytes and modification times
    a = data.prepare(cfg, folder, verbose=False)
    b = data.prepare(cfg, copy, verbose=False)
    assert [str(q.relative_to(copy)) for q, _ in b.train] == \
        [str(q.relative_to(folder)) for q, _ in a.train]
    assert a.fingerprint != b.fingerprint
    assert a.split_fingerprints["train"] != b.split_fingerprints["train"]


# ------------------------------------------------------------------ your folder's layout
def _split_folder(root: Path, splits: dict[str, int], classes=("tabby cat", "red fox"),
                  seed: int = 0) -> Path:
    """``root/<split>/<class>/*.jpg`` with ``splits[split]`` images a class, all different."""
    k = seed
    for split, n in splits.items():
        for tint, cls in enumerate(classes):
            for i in range(n):
                k += 1
                _save(root / split / cls / f"{i}.jpg", _photo(k, tint), "JPEG")
    return root


def _classes_by_split(p) -> dict[str, set[str]]:
    """Which folder each split's files come from, as 'split-folder/class'."""
    return {s: {"/".join(Path(path).parts[-3:-1]) for path, _ in p.split(s)}
            for s in ("train", "val", "test")}


def test_a_folder_already_split_keeps_its_splits_and_its_real_classes(tmp_path, cfg, capsys):
    # Mixed case, as photo tools and Kaggle name them; a README beside the splits.
    root = _split_folder(tmp_path / "pets", {"Train": 8, "Validation": 3, "TEST": 3})
    (root / "README.txt").write_text("pets, split by hand")
    p = data.prepare(cfg, root, max_images_per_class=None)
    out = capsys.readouterr().out
    assert p.class_names == ["red fox", "tabby cat"], "the split folders were read as classes"
    assert _classes_by_split(p) == {
        "train": {"Train/red fox", "Train/tabby cat"},
        "val": {"Validation/red fox", "Validation/tabby cat"},
        "test": {"TEST/red fox", "TEST/tabby cat"}}
    assert (len(p.train), len(p.val), len(p.test)) == (16, 6, 6)
    assert "already split" in out and "TEST/ -> test" in out
    # labels follow the class folder, whatever the split
    for s in ("train", "val", "test"):
        assert all(p.class_names[y] == Path(path).parent.name for path, y in p.split(s))


def test_kaggle_style_double_folders_and_a_wrapper_are_stepped_into(tmp_path, cfg, capsys):
    # archive/ -> dataset/ -> training_set/training_set/<class> and test_set/test_set/<class>
    base = tmp_path / "archive" / "dataset"
    for split, n in (("training_set", 9), ("test_set", 3)):
        _split_folder(base / split, {split: n}, seed=100 if split == "test_set" else 0)
    p = data.prepare(cfg, tmp_path / "archive", max_images_per_class=None)
    out = capsys.readouterr().out
    assert p.class_names == ["red fox", "tabby cat"]
    # no validation folder: validation comes out of training, the test folder is kept
    assert _classes_by_split(p)["test"] == {"test_set/red fox", "test_set/tabby cat"}
    assert _classes_by_split(p)["val"] <= {"training_set/red fox", "training_set/tabby cat"}
    assert len(p.test) == 6 and len(p.train) + len(p.val) == 18 and len(p.val) >= 2
    assert "holds only the folder 'dataset'" in out and "holds only the folder 'training_set'" in out


def test_train_and_validation_only_split_validation_in_two(tmp_path, cfg):
    root = _split_folder(tmp_path / "tv", {"train": 6, "val": 4})
    p = data.prepare(cfg, root, max_images_per_class=None, verbose=False)
    assert (len(p.train), len(p.val), len(p.test)) == (12, 4, 4)
    assert _classes_by_split(p)["test"] == {"val/red fox", "val/tabby cat"}


def test_split_folders_without_class_folders_are_refused_not_read_as_classes(tmp_path, cfg):
    root = tmp_path / "kaggle"
    for tint, split in enumerate(("train", "valid", "test")):  # labels in a CSV, not folders
        for i in range(6):
            _save(root / split / f"{i}.jpg", _photo(i + 10 * tint, tint % 3), "JPEG")
    (root / "labels.csv").write_text("file,label\n")
    with pytest.raises(data.DataError, match=r"test/, train/, valid/.*hold images without class folders.*"
                                             r"rename them"):
        data.prepare(cfg, root, verbose=False)
    # a class that merely shares a name with a split, beside other classes, is a class
    for tint, cls in enumerate(("train", "bus")):
        for i in range(6):
            _save(tmp_path / "vehicles" / cls / f"{i}.jpg", _photo(i + 10 * tint, tint), "JPEG")
    assert data.folder_layout(tmp_path / "vehicles", cfg).splits == {}
    assert data.prepare(cfg, tmp_path / "vehicles", verbose=False).class_names == ["bus", "train"]


def test_a_validation_class_the_training_folder_lacks_is_refused(tmp_path, cfg):
    root = _split_folder(tmp_path / "odd", {"train": 4})
    _split_folder(root, {"validation": 3}, classes=("tabby cat", "red fox", "hamster"), seed=50)
    with pytest.raises(data.DataError, match=r"'hamster'.*could never predict"):
        data.prepare(cfg, root, verbose=False)


def test_two_folders_for_one_split_are_refused(tmp_path, cfg):
    root = _split_folder(tmp_path / "twice", {"train": 4, "val": 2, "validation": 2})
    with pytest.raises(data.DataError, match="two folders for the validation split"):
        data.folder_layout(root, cfg)


def test_a_zipped_folder_is_extracted_once_and_a_changed_archive_is_never_stale(tmp_path, cfg):
    import dataclasses
    import shutil

    cfg = dataclasses.replace(cfg, cache_dir=tmp_path / "cache")
    src = _split_folder(tmp_path / "src" / "my photos", {"train": 5, "validation": 3})
    archive = Path(shutil.make_archive(str(tmp_path / "photos"), "zip", tmp_path / "src"))
    first = data.prepare(cfg, archive, max_images_per_class=None, verbose=False)
    assert first.class_names == ["red fox", "tabby cat"] and len(first.train) == 10
    where = data.folder_layout(archive, cfg).root
    assert where.is_relative_to(tmp_path / "cache" / "your_archives")
    marker = next((tmp_path / "cache" / "your_archives").glob("*/.extracted-ok"))
    stamp = marker.stat().st_mtime_ns
    again = data.prepare(cfg, archive, max_images_per_class=None, verbose=False)
    assert marker.stat().st_mtime_ns == stamp, "the archive was extracted a second time"
    assert again.fingerprint == first.fingerprint
    # the same name, other contents: a new extraction, not the old copy
    _save(src / "train" / "red fox" / "extra.jpg", _photo(999, 1), "JPEG")
    archive.unlink()
    shutil.make_archive(str(tmp_path / "photos"), "zip", tmp_path / "src")
    changed = data.prepare(cfg, archive, max_images_per_class=None, verbose=False)
    assert len(changed.train) == 11 and changed.fingerprint != first.fingerprint
    # a tar.gz works the same way
    tgz = Path(shutil.make_archive(str(tmp_path / "photos"), "gztar", tmp_path / "src"))
    assert len(data.prepare(cfg, tgz, max_images_per_class=None, verbose=False).train) == 11


def test_a_broken_archive_or_a_plain_file_says_what_to_do(tmp_path, cfg):
    bad = tmp_path / "photos.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(data.DataError, match="Download it again, or unpack it yourself"):
        data.folder_layout(bad, cfg)
    note = tmp_path / "labels.csv"
    note.write_text("a,b")
    with pytest.raises(data.MissingFolderError, match="is a file, not a folder"):
        data.prepare(cfg, note, verbose=False)
    with pytest.raises(data.MissingFolderError, match="does not exist"):
        data.prepare(cfg, tmp_path / "nowhere", verbose=False)
