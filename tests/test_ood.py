"""nbhelpers.ood: the three scores, the rates, the threshold, the reference photos."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from nbhelpers import config, ood


def test_max_probability_is_the_top_class_probability_for_softmax_and_sigmoid():
    p = softmax(np.random.default_rng(0).normal(size=(6, 4)), axis=1)
    np.testing.assert_allclose(ood.max_probability(p), p.max(1))
    np.testing.assert_allclose(ood.max_probability(np.array([[0.2], [0.9]])), [0.8, 0.9])


def test_energy_is_logsumexp_and_a_sigmoid_logit_counts_as_a_symmetric_pair():
    z = np.random.default_rng(1).normal(size=(5, 3)) * 10
    np.testing.assert_allclose(ood.energy(z), logsumexp(z, axis=1))
    np.testing.assert_allclose(ood.energy(z, temperature=2), 2 * logsumexp(z / 2, axis=1))
    s = np.array([-3.0, 0.0, 40.0])
    np.testing.assert_allclose(ood.energy(s), logsumexp(np.c_[-s / 2, s / 2], axis=1))
    # One logit: a confident "class 0" (z << 0) is as typical as a confident "class 1",
    # and the ranking is the top probability's.
    zs = np.array([-6.0, -1.0, 0.5, 6.0])
    assert ood.energy(zs)[0] == pytest.approx(ood.energy(zs)[3])
    top = ood.max_probability(1 / (1 + np.exp(-zs)))
    assert (np.argsort(ood.energy(zs), kind="stable") == np.argsort(top, kind="stable")).all()
    with pytest.raises(ValueError, match="temperature"):
        ood.energy(z, temperature=0)


def test_energy_sees_the_scale_the_top_probability_drops():
    small, large = np.array([[1.0, 0.0]]), np.array([[10.0, 9.0]])
    assert ood.max_probability(softmax(small, 1)) == pytest.approx(ood.max_probability(softmax(large, 1)))
    assert ood.energy(large)[0] > ood.energy(small)[0] + 8


def test_nearest_neighbour_is_the_mean_cosine_similarity_of_the_k_nearest():
    rng = np.random.default_rng(2)
    train, query = rng.normal(size=(30, 6)), rng.normal(size=(4, 6))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    sims = unit(query) @ unit(train).T
    expected = np.sort(sims, axis=1)[:, -3:].mean(1)
    np.testing.assert_allclose(ood.nearest_neighbour(train, query, k=3), expected, rtol=1e-5)
    # Scale does not matter; an exact copy of a training row scores 1 with k=1.
    np.testing.assert_allclose(ood.nearest_neighbour(train * 7, train[:2] * 0.1, k=1), 1, rtol=1e-5)
    # Leaving each training image out, its own copy does not count.
    loo = ood.nearest_neighbour(train, None, k=1, leave_one_out=True)
    own = unit(train) @ unit(train).T
    np.fill_diagonal(own, -np.inf)
    np.testing.assert_allclose(loo, own.max(1), rtol=1e-5)


def test_detection_rates_known_answers():
    r = ood.detection_rates(np.arange(1, 21) / 20, np.array([0.0, 0.5, 0.99]))
    assert r["threshold"] == pytest.approx(0.1) and r["tpr"] == pytest.approx(0.95)
    assert r["fpr_at_tpr"] == pytest.approx(2 / 3)
    # pairs ranked right over all pairs; the tie at 0.5 counts half
    assert r["auroc"] == pytest.approx((20 + 10.5 + 1) / 60)
    with pytest.raises(ValueError):
        ood.detection_rates(np.array([]), np.array([1.0]))


@pytest.mark.parametrize("n", [1, 7, 20, 101])
def test_choose_threshold_keeps_at_least_the_share_asked(n):
    s = np.random.default_rng(n).normal(size=n)
    cut = ood.choose_threshold(s, 0.95)
    assert np.mean(s >= cut) >= 0.95
    assert cut in s


def test_threshold_and_neighbour_records_are_what_an_export_takes():
    rec = ood.threshold_record(np.array([[0.1, 0.9]] * 18 + [[0.4, 0.6]] * 2))
    assert rec == {"score": "max_probability", "threshold": 0.6, "tpr": 0.95,
                   "chosen_on": "validation", "n": 20}
    rng = np.random.default_rng(0)
    bank = ood.feature_bank(rng.normal(size=(40, 5)))
    nn = ood.neighbour_record(bank, bank[:10] * 3, k=1)
    assert nn["score"] == "nearest_neighbour" and nn["threshold"] == pytest.approx(1.0, abs=1e-5)


def test_feature_extractor_reads_the_input_of_the_class_score_layer():
    from nbhelpers import models

    base = models.load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
    model = models.build_classifier(base, num_classes=3)
    f = ood.feature_extractor(model)
    assert f.output_shape == (None, 512)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    pooled = base.predict(x, verbose=0).mean(axis=(1, 2))
    np.testing.assert_allclose(f.predict(x, verbose=0), pooled, rtol=1e-4, atol=1e-5)


def test_reference_photos_are_written_once_and_cover_every_kind(tmp_path, monkeypatch):
    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path))
    cfg = config.make_config("offline")
    table = ood.reference_photos(cfg, exclude=["coffee"])
    assert "coffee" not in set(table["name"]) and "chelsea" not in set(table["name"])
    assert set(table["kind"]) == {"photo", "texture", "text", "noise"}
    stamps = {p: p.stat().st_mtime_ns for p in table["path"]}
    again = ood.reference_photos(cfg, exclude=["coffee"])
    assert {p: p.stat().st_mtime_ns for p in again["path"]} == stamps  # not rewritten
    noise = table.set_index("name").loc["uniform noise", "path"]
    noise.unlink()
    ood.reference_photos(cfg)
    from PIL import Image
    with Image.open(noise) as im:
        assert im.size == (256, 256) and im.mode == "RGB"


def test_your_own_photos_of_other_kinds_join_the_reference_set(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("NBH_DATA_DIR", str(tmp_path / "data"))
    cfg = config.make_config("offline")
    mine = tmp_path / "my other photos"
    (mine / "cars").mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(mine / "cars" / "red car.jpg")
    Image.new("RGB", (30, 30), (0, 0, 200)).save(mine / "sky.png")
    (mine / "notes.txt").write_text("not an image")
    (mine / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(mine / ".hidden" / "x.png")
    monkeypatch.setenv(ood.OOD_PHOTOS_VARIABLE, str(mine))
    with pytest.warns(UserWarning, match="notes.txt"):
        table = ood.reference_photos(cfg)
    yours = table[table["kind"] == "yours"]
    assert yours["name"].tolist() == ["cars/red car.jpg", "sky.png"]
    assert yours["path"].tolist() == [mine / "cars" / "red car.jpg", mine / "sky.png"]  # not copied
    monkeypatch.setenv(ood.OOD_PHOTOS_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="NBH_OOD_PHOTOS"):
        ood.reference_photos(cfg)
    assert "yours" not in set(ood.reference_photos(cfg, extra="")["kind"])
