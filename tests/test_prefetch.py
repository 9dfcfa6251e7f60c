"""`make prefetch`: what it fetches, and what it says offline."""

from __future__ import annotations

import re

from nbhelpers import config, lite0, prefetch


def test_items_cover_every_backbone_and_the_data_set():
    labels = " ".join(i.label for i in prefetch.items())
    for name in ("VGG16", "ResNet50", "MobileNetV2", "EfficientNetB0", "EfficientNetLite0",
                 "cats vs dogs"):
        assert name in labels
    for item in prefetch.items():
        if item.needs_network:
            assert item.url.startswith("https://") and item.url.endswith(item.filename)
        else:  # converted from a pip package: what to install instead of a URL
            assert item.url == f"pip install {lite0.PIP_PACKAGE}"


def test_a_data_set_kept_on_this_machine_is_fetched_without_a_network(monkeypatch, tmp_path, capsys):
    """A registry entry at a file:// URL (a mirror on a USB stick; the dry run of real.yml's
    stand-ins) is copied and verified offline, not reported missing for want of a network."""
    import dataclasses

    from nbhelpers import data

    local = dataclasses.replace(data.REGISTRY["cats_and_dogs"],
                                url=(tmp_path / "cats_and_dogs_filtered.zip").as_uri())
    monkeypatch.setitem(data.REGISTRY, "cats_and_dogs", local)
    item = next(i for i in prefetch.items() if i.label == "cats vs dogs data set")
    assert item.needs_network is False
    calls = []
    monkeypatch.setattr(prefetch, "items", lambda: [dataclasses.replace(
        item, fetch=lambda: calls.append("fetched"))])
    assert prefetch.prefetch(online=False) == 0 and calls == ["fetched"]
    assert "no network" not in capsys.readouterr().out

    def fails():
        raise OSError("the USB stick is gone")

    monkeypatch.setattr(prefetch, "items", lambda: [dataclasses.replace(item, fetch=fails)])
    assert prefetch.prefetch(online=False) == 1
    out = capsys.readouterr().out
    assert f"copy {local.url}" in out and "converted" not in out


def test_mobilenet_weights_match_the_profiles_image_sizes():
    names = [i.filename for i in prefetch.items() if "mobilenet" in i.filename]
    for profile in ("full", "cpu"):
        assert any(f"_{config.PROFILES[profile].image_size}_no_top" in n for n in names)


def test_offline_names_each_url_and_folder(capsys):
    missing = prefetch.prefetch(online=False)
    out = capsys.readouterr().out
    downloads = [item for item in prefetch.items() if item.needs_network]
    assert missing == len(downloads)  # the test's Keras cache holds no download
    for item in downloads:
        assert item.url in out and str(item.folder) in out
    assert "no network" in out
    # What a pip package carries is converted offline (or was, by an earlier test).
    assert re.search(r"(fetched|cached) +EfficientNetLite0 base", out)


def test_cached_items_are_not_fetched_again(monkeypatch, capsys):
    calls = []
    fake = [prefetch.Download("a", "https://x/a.h5", "a.h5", config.keras_cache_dir(),
                          lambda: calls.append("a"))]
    fake[0].folder.mkdir(parents=True, exist_ok=True)
    fake[0].path.write_bytes(b"w")
    fake.append(prefetch.Download("b", "https://x/b.h5", "b.h5", config.keras_cache_dir(),
                              lambda: calls.append("b")))
    monkeypatch.setattr(prefetch, "items", lambda: fake)
    assert prefetch.prefetch(online=True) == 0
    assert calls == ["b"]
    assert "cached   a" in capsys.readouterr().out


def test_a_failed_fetch_is_reported_and_counted(monkeypatch, capsys):
    def boom():
        raise OSError("connection reset")

    monkeypatch.setattr(prefetch, "items", lambda: [
        prefetch.Download("w", "https://x/w.h5", "w.h5", config.keras_cache_dir(), boom)])
    assert prefetch.prefetch(online=True) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "connection reset" in out and "https://x/w.h5" in out
