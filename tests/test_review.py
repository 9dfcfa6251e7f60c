"""nbhelpers.review: decisions about single images (relabel, drop, keep) that never touch the files.

Each test prepares the built-in ``faces`` data (or a small copy of it, as a
folder of the learner's own) in a temporary data folder, records decisions,
and checks what ``prepare`` makes of them -- and that the image folder is
byte-for-byte what it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from nbhelpers import config, data, review


@pytest.fixture(scope="module")
def base_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("review-data")
    cfg = dataclasses.replace(config.make_config("offline"), data_dir=root, cache_dir=root / "cache",
                              artifacts_dir=root / "artifacts")
    data.prepare(cfg, "faces", verbose=False)  # writes and scans the faces once
    return cfg


@pytest.fixture
def cfg(base_cfg):
    """The module's data folder, without any review left by an earlier test."""
    shutil.rmtree(Path(base_cfg.data_dir) / "reviews", ignore_errors=True)
    return base_cfg


@pytest.fixture
def faces(cfg):
    return data.prepare(cfg, "faces", verbose=False)


def _folder_hashes(root: Path) -> dict[str, str]:
    """Every file under ``root`` (names and SHA-256 of the bytes): what "untouched" means."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() or p.is_symlink()}


def _split_of(p) -> dict[Path, str]:
    return {path: s for s in ("train", "val", "test") for path, _ in p.split(s)}


def _labels(p) -> dict[Path, int]:
    return {path: y for s in ("train", "val", "test") for path, y in p.split(s)}


def _name(p, path: Path) -> str:
    return Path(path).relative_to(p.root).as_posix()


# ------------------------------------------------------------------ applying a review
def test_a_review_relabels_and_drops_without_changing_a_file(cfg, faces, capsys):
    root = Path(faces.root)
    before = _folder_hashes(root)
    faces_train = [p for p, y in faces.train if y == 0]
    relabelled, dropped = faces_train[:2], faces_train[2]
    f = review.record(faces, relabelled, "relabel", "non_face",
                      reason="cleanlab: label issue, suggested non_face", cfg=cfg)
    assert f == review.review_path(cfg, "faces") == Path(cfg.data_dir) / "reviews" / "faces.csv"
    review.record(faces, dropped, "drop", reason="near-duplicate", cfg=cfg)

    p = data.prepare(cfg, "faces")
    out = capsys.readouterr().out
    assert "review " in out and "faces.csv: 2 relabelled, 1 dropped, 0 kept; 0 stale" in out
    assert (len(p.train), len(p.val), len(p.test)) == (len(faces.train) - 1, len(faces.val),
                                                      len(faces.test))
    labels, base = _labels(p), _labels(faces)
    assert [labels[q] for q in relabelled] == [1, 1] and dropped not in labels
    assert {q: y for q, y in labels.items() if q not in relabelled} == \
        {q: y for q, y in base.items() if q not in (*relabelled, dropped)}
    assert p.test == faces.test and p.val == faces.val, "the review moved an image between splits"
    split, base_split = _split_of(p), _split_of(faces)
    assert all(split[q] == base_split[q] for q in split), "an image changed its split"
    # counts per split and the summary
    s = p.review
    assert (s.relabelled, s.dropped, s.kept, s.stale, s.unknown, s.changed) == (2, 1, 0, 0, 0, 3)
    assert s.per_split["train"] == {"relabelled": 2, "dropped": 1, "kept": 0, "stale": 0}
    assert s.per_split["test"] == s.per_split["val"] == dict.fromkeys(s.per_split["test"], 0)
    assert s.path == f and str(s) == s.summary()
    assert p.sizes().loc["train", "face"] == faces.sizes().loc["train", "face"] - 3
    # fingerprints: the whole data and the training split change, the untouched splits do not
    assert p.fingerprint != faces.fingerprint
    assert p.split_fingerprints["train"] != faces.split_fingerprints["train"]
    assert p.split_fingerprints["test"] == faces.split_fingerprints["test"]
    assert p.split_fingerprints["val"] == faces.split_fingerprints["val"]
    assert data.fingerprint(dataclasses.replace(p, review=None)) != p.fingerprint, \
        "the review's digest is not part of the fingerprint"
    # nothing in the user's folder was moved, renamed, changed, added or deleted
    assert _folder_hashes(root) == before
    assert not any(q.is_relative_to(root) for q in (f, f.with_name(f.name + ".lock")))
    # review=None reads no review; an explicit path reads that file
    assert data.prepare(cfg, "faces", review=None, verbose=False).fingerprint == faces.fingerprint
    moved = Path(cfg.data_dir) / "elsewhere.csv"
    shutil.copy(f, moved)
    review.clear(cfg, "faces")
    assert data.prepare(cfg, "faces", review=moved, verbose=False).fingerprint == p.fingerprint
    assert data.prepare(cfg, "faces", verbose=False).fingerprint == faces.fingerprint


def test_a_review_file_of_your_own_is_where_record_writes(cfg, faces, tmp_path, capsys):
    # as notebook 13 does: a scratch file, so that the course's data stay as they are
    scratch = tmp_path / "scratch" / "review.csv"
    demo = data.prepare(cfg, "faces", review=scratch)
    assert "scratch/review.csv: no decisions yet" in capsys.readouterr().out
    assert demo.review.path == scratch and demo.review.changed == 0
    assert demo.fingerprint == faces.fingerprint and demo.train == faces.train
    review.record(demo, [faces.train[0][0], faces.train[1][0]], "drop", reason="flagged")
    review.record(demo, faces.train[2][0], "relabel", label="non_face", reason="flagged")
    assert scratch.is_file() and not review.review_path(cfg, "faces").exists()
    reviewed = data.prepare(cfg, "faces", review=scratch)
    assert "scratch/review.csv: 1 relabelled, 2 dropped, 0 kept; 0 stale" in \
        capsys.readouterr().out
    assert reviewed.fingerprint != faces.fingerprint and len(reviewed.train) == len(faces.train) - 2
    assert data.prepare(cfg, "faces", verbose=False).review is None  # the course's own: none


def test_a_keep_only_review_leaves_the_fingerprint_unchanged(cfg, faces):
    review.record(faces, [q for q, _ in faces.train[:3]] + [faces.test[0][0]], "keep",
                  reason="looked: fine", cfg=cfg)
    p = data.prepare(cfg, "faces", verbose=False)
    assert p.review is not None and (p.review.kept, p.review.changed) == (4, 0)
    assert p.review.per_split["test"]["kept"] == 1
    assert p.fingerprint == faces.fingerprint
    assert p.split_fingerprints == faces.split_fingerprints
    assert (p.train, p.val, p.test) == (faces.train, faces.val, faces.test)
    # a relabel to the class the image already has changes nothing either
    review.record(faces, faces.train[5][0], "relabel", faces.class_names[faces.train[5][1]],
                  cfg=cfg)
    again = data.prepare(cfg, "faces", verbose=False)
    assert (again.review.kept, again.review.changed, again.fingerprint) == (5, 0, faces.fingerprint)


def test_a_later_decision_replaces_the_earlier_one_and_a_dropped_image_can_be_kept(cfg, faces):
    path = faces.val[0][0]
    review.record(faces, path, "drop", cfg=cfg)
    p = data.prepare(cfg, "faces", verbose=False)
    assert path not in _labels(p) and len(p.val) == len(faces.val) - 1
    f = review.record(p, (path, 0), "keep", reason="on second thought", cfg=cfg)  # an item
    table = review.read(f)
    assert table["path"].tolist() == [_name(faces, path)]
    assert table[["decision", "label", "reason"]].values.tolist() == [["keep", "", "on second thought"]]
    assert data.prepare(cfg, "faces", verbose=False).val == faces.val
    # by its name relative to the data's folder, as the CSV writes it
    review.record(faces, _name(faces, path), "relabel", 1, cfg=cfg)
    assert review.read(f)[["decision", "label"]].values.tolist() == [["relabel", "non_face"]]
    assert review.clear(cfg, "faces") and not f.exists() and not review.clear(cfg, "faces")


def test_record_refuses_what_it_cannot_record_and_writes_nothing(cfg, faces, tmp_path):
    target = review.review_path(cfg, faces)
    stranger = tmp_path / "stranger.png"
    shutil.copy(faces.train[0][0], stranger)
    with pytest.raises(review.ReviewError, match=r"Not an image of this data.*stranger\.png.*"
                                                 r"prepared\.train"):
        review.record(faces, [faces.train[0][0], stranger], "drop", cfg=cfg)
    with pytest.raises(review.ReviewError, match=r"face/nope\.png"):
        review.record(faces, "face/nope.png", "keep", cfg=cfg)
    with pytest.raises(ValueError, match=r"nothing recorded for face/\S+\.png: relabel needs "
                                         r"label= one of the classes"):
        review.record(faces, faces.train[0][0], "relabel", "dog", cfg=cfg)
    with pytest.raises(ValueError, match=r"relabel needs label="):
        review.record(faces, faces.train[0][0], "relabel", cfg=cfg)
    with pytest.raises(ValueError, match=r"decision must be one of relabel, drop, keep"):
        review.record(faces, faces.train[0][0], "delete", cfg=cfg)
    with pytest.raises(ValueError, match=r"a label is for decision='relabel' only"):
        review.record(faces, faces.train[0][0], "drop", "face", cfg=cfg)
    assert not target.exists()


def test_the_csv_is_one_line_per_image_in_the_documented_format(cfg, faces):
    path = faces.train[0][0]
    f = review.record(faces, path, "relabel", "non_face", reason='says "no", really, twice',
                      cfg=cfg)
    lines = f.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "path,sha1,decision,label,reason,when"
    sha1 = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    assert lines[1].startswith(f'{_name(faces, path)},{sha1},relabel,non_face,'
                               f'"says ""no"", really, twice",')
    when = review.read(f)["when"][0]
    assert pd.Timestamp(when).tzinfo is not None, "the time is ISO, with its offset"
    assert data.splits.split_entries(faces, [faces.train[0]])[0][:2] == [_name(faces, path), sha1]


# ------------------------------------------------------------------ stale, unknown, damaged
def _own_folder(faces, where: Path, n: int = 10) -> Path:
    """A folder of the learner's own: ``n`` images of each class, copied from the faces."""
    for cls in faces.class_names:
        (where / cls).mkdir(parents=True)
        for src in sorted((Path(faces.root) / cls).glob("*.png"))[:n]:
            shutil.copy(src, where / cls / src.name)
    return where


def test_a_decision_about_a_changed_file_is_stale_ignored_and_reported(cfg, faces, tmp_path,
                                                                       capsys):
    mine = _own_folder(faces, tmp_path / "my photos")
    p = data.prepare(cfg, mine, verbose=False)
    f = review.record(p, [q for q, _ in p.train[:3]], "drop", cfg=cfg)
    assert f.parent == Path(cfg.data_dir) / "reviews" and f.name.startswith("my_photos-")
    assert not f.is_relative_to(mine)
    changed, kept = p.train[0][0], p.train[1][0]
    changed.write_bytes(Path(faces.root, "non_face", "non_face_050.png").read_bytes())
    again = data.prepare(cfg, mine)
    out = capsys.readouterr().out
    s = again.review
    assert (s.dropped, s.stale, s.unknown) == (2, 1, 0)
    assert s.per_split["train"]["stale"] == 1
    assert changed in _labels(again) and kept not in _labels(again), "the stale drop was applied"
    assert "2 dropped, 0 kept; 1 stale" in out
    assert any(_name(p, changed) in line and "changed since it was reviewed" in line
               for line in s.problems)
    assert _name(p, changed) in out
    # a decision about an image that is gone is counted as unknown
    kept.unlink()
    s = data.prepare(cfg, mine, verbose=False).review
    assert (s.dropped, s.stale, s.unknown) == (1, 1, 1)
    assert "1 about images not in this run's splits" in s.summary()
    # another folder of the same name has a review file of its own
    other = _own_folder(faces, tmp_path / "elsewhere" / "my photos", n=5)
    assert review.review_path(cfg, other) != review.review_path(cfg, mine) == f
    assert data.prepare(cfg, other, verbose=False).review is None


def test_a_review_that_would_empty_a_split_is_refused(cfg, faces):
    review.record(faces, [q for q, _ in faces.test], "drop", cfg=cfg)
    with pytest.raises(review.ReviewError, match=r"faces\.csv drops every image of the test split"):
        data.prepare(cfg, "faces", verbose=False)


@pytest.mark.parametrize("content, problem", [
    (b"", r"it is empty"),
    (b"file,decision\nface/face_000.png,drop\n", r"its first line is 'file,decision'"),
    (b"path,sha1,decision,label,reason,when\nface/face_000.png," + b"0" * 40 + b",delete,,,\n",
     r"line 2 has the decision 'delete'"),
    (b"path,sha1,decision,label,reason,when\nface/face_000.png,drop\n", r"line 2 has 2 fields"),
    (b"path,sha1,decision,label,reason,when\nface/face_000.png,abc,drop,,,\n",
     r"'abc' for its sha1"),
    (b"path,sha1,decision,label,reason,when\nface/face_000.png," + b"0" * 40
     + b",relabel,,,\n", r"relabels face/face_000.png without naming the class"),
    (b"path,sha1,decision,label,reason,when\n\xff\xfe\x00junk\n", r"not UTF-8"),
])
def test_a_damaged_review_file_is_an_error_naming_the_file(cfg, faces, content, problem):
    f = review.review_path(cfg, "faces")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(content)
    for call in (lambda: data.prepare(cfg, "faces", verbose=False), lambda: review.read(f),
                 lambda: review.record(faces, faces.train[0][0], "keep", cfg=cfg)):
        with pytest.raises(review.ReviewError) as err:
            call()
        message = str(err.value)
        assert str(f) in message and "damaged" in message and "delete it" in message
        assert re.search(problem, message), message
    assert f.read_bytes() == content, "a damaged review was overwritten"


def test_a_missing_review_file_means_no_decisions(cfg, faces):
    table = review.read(review.review_path(cfg, "faces"))
    assert list(table.columns) == list(review.COLUMNS) and len(table) == 0
    assert faces.review is None


# ------------------------------------------------------------------ two kernels at once
def _record_one_by_one(cfg, prepared, paths, go) -> None:
    go.wait(60)
    for path in paths:
        review.record(prepared, path, "drop", reason=f"worker {paths[0].name}", cfg=cfg)


def test_two_processes_recording_at_once_lose_no_decision(cfg, faces):
    paths = [q for q, _ in faces.train[:40]]
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    workers = [ctx.Process(target=_record_one_by_one, args=(cfg, faces, part, go))
               for part in (paths[:20], paths[20:])]
    for w in workers:
        w.start()
    go.set()
    for w in workers:
        w.join(240)
    assert [w.exitcode for w in workers] == [0, 0]
    table = review.read(review.review_path(cfg, "faces"))
    assert sorted(table["path"]) == sorted(_name(faces, q) for q in paths)
    assert data.prepare(cfg, "faces", verbose=False).review.dropped == 40


# ------------------------------------------------------------------ the widget
def test_the_widget_buttons_write_the_expected_lines(cfg, faces):
    pytest.importorskip("ipywidgets")
    root = Path(faces.root)
    before = _folder_hashes(root)
    picks = [faces.train[0][0], faces.train[1][0], faces.val[0][0], faces.test[-1][0]]
    candidates = pd.DataFrame({"path": picks, "suggested": [1, "non_face", None, 0],
                               "reason": ["cleanlab: label issue", "duplicate of x", None, ""]})
    w = review.review_widget(faces, candidates, cfg=cfg)
    f = review.review_path(cfg, "faces")
    assert w.names == [_name(faces, q) for q in picks] and not f.exists()
    assert "1 of 4" in w.children[0].value and len(w.children[1].value) > 0  # a PNG is shown
    assert "split: <b>train</b>" in w.children[2].value
    assert w.buttons["previous"].disabled
    w.buttons["keep"].click()  # first: keep, and on to the second
    assert "keep" in w.status.value and str(f) in w.status.value
    w.buttons["drop"].click()  # second: drop
    assert w.relabel_as.value == "non_face"  # third (a face): preset to the other class
    w.relabel_as.value = "non_face"
    w.buttons["relabel"].click()  # third: relabel
    assert "4 of 4" in w.children[0].value and w.relabel_as.value == "face"
    w.buttons["previous"].click()
    assert "3 of 4" in w.children[0].value and "relabel as non_face" in w.children[2].value
    w.buttons["next"].click()
    w.buttons["keep"].click()  # the last one: stays, and says so
    assert "the last one" in w.status.value
    table = review.read(f)
    assert table[["path", "decision", "label", "reason"]].values.tolist() == [
        [_name(faces, picks[0]), "keep", "", "cleanlab: label issue"],
        [_name(faces, picks[1]), "drop", "", "duplicate of x"],
        [_name(faces, picks[2]), "relabel", "non_face", ""],
        [_name(faces, picks[3]), "keep", "", ""],
    ]
    w.show(0)
    w.buttons["drop"].click()  # a later click replaces the earlier decision
    assert review.read(f).set_index("path").loc[_name(faces, picks[0]), "decision"] == "drop"
    assert len(review.read(f)) == 4
    assert _folder_hashes(root) == before
    # no candidates: a box that says so
    empty = review.review_widget(faces, [], cfg=cfg)
    assert "No images" in empty.children[0].value and empty.buttons["keep"].disabled


def test_the_widget_refuses_images_of_other_data(cfg, faces, tmp_path):
    pytest.importorskip("ipywidgets")
    with pytest.raises(review.ReviewError, match=r"elsewhere\.png"):
        review.review_widget(faces, [tmp_path / "elsewhere.png"], cfg=cfg)


# ------------------------------------------------------------------ one source, one place
def test_resolve_source_is_what_prepare_reads(cfg, monkeypatch, tmp_path):
    monkeypatch.delenv("NBH_DATA_SOURCE", raising=False)
    assert data.resolve_source(cfg) == (cfg.dataset, cfg.dataset)
    assert data.resolve_source(cfg, "cats_and_dogs") == ("cats_and_dogs", "cats_and_dogs")
    monkeypatch.setenv("NBH_DATA_SOURCE", str(tmp_path / "mine"))
    assert data.resolve_source(cfg) == ("folder", str(tmp_path / "mine"))
    assert review.review_path(cfg, "cats_and_dogs").name == "cats_and_dogs.csv"  # no download
    with pytest.raises(data.MissingFolderError):
        review.review_path(cfg)  # NBH_DATA_SOURCE names a folder that is not there


def test_the_widget_takes_a_table_of_label_issues(cfg, faces):
    # the columns nbh.cleaning.label_issues gives: no reason, a suggested class name
    pytest.importorskip("ipywidgets")
    picks = [str(faces.train[0][0]), str(faces.train[-1][0])]
    issues = pd.DataFrame({"index": [0, 139], "path": picks, "given": ["face", "non_face"],
                           "suggested": ["non_face", "face"], "p_given": [0.1, 0.2]})
    w = review.review_widget(faces, issues, cfg=cfg)
    assert w.relabel_as.value == "non_face" and "suggested: <b>non_face</b>" in w.children[2].value
    w.buttons["relabel"].click()
    w.buttons["drop"].click()
    table = review.read(review.review_path(cfg, "faces"))
    assert table[["decision", "label", "reason"]].values.tolist() == [
        ["relabel", "non_face", "flagged, suggested non_face"], ["drop", "", "flagged, suggested face"]]


def test_clear_deletes_the_file_a_prepared_review_came_from(cfg, faces, tmp_path):
    own = tmp_path / "mine.csv"
    p = data.prepare(cfg, "faces", review=own, verbose=False)
    review.record(p, p.train[0][0], "drop")
    default = review.record(data.prepare(cfg, "faces", review=None, verbose=False),
                            p.train[1][0], "drop", cfg=cfg)
    assert own.exists() and default.exists() and default != own
    assert review.clear(cfg, data.prepare(cfg, "faces", review=own, verbose=False))
    assert not own.exists() and default.exists()  # the other review is untouched


def test_a_quiet_prepare_still_says_that_a_review_changed_the_data(cfg, faces, tmp_path, capsys):
    own = tmp_path / "quiet.csv"
    p = data.prepare(cfg, "faces", review=own, verbose=False)
    assert capsys.readouterr().out == ""  # nothing recorded yet: nothing to say
    review.record(p, p.train[0][0], "drop")
    data.prepare(cfg, "faces", review=own, verbose=False)
    assert "1 dropped" in capsys.readouterr().out


def test_recording_a_test_image_warns_that_it_flatters_the_test_score(cfg, faces, tmp_path):
    p = data.prepare(cfg, "faces", review=tmp_path / "t.csv", verbose=False)
    with pytest.warns(UserWarning, match="test split"):
        review.record(p, p.test[0][0], "drop")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        review.record(p, p.test[1][0], "keep")  # keeping a test image changes nothing
