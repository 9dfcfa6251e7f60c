"""The real path's training costs in units: frozen, fine-tuning and from-scratch epochs of VGG16.

    python benchmarks/bench_rehearsal.py [--images 64] [--size 160] [--batch 32]

Budgets for a workshop are counted in a unit measured in the same run (issue
13): **one unit = the time VGG16's base takes for a forward pass over 100
images at 160 px** on this machine.  The base carries a
stand-in ImageNet weights file (``scripts/standins.py``, loaded by path through
``nbh.models.load_backbone``, as from a workshop USB stick): random values,
the real size, so the times are real.  In one run this reports, per 100
training images, in units:

* a **frozen end-to-end epoch** (notebook 05's accurate path: augmented images
  through the frozen base and a GAP head);
* a **fine-tuning epoch** with block5 unfrozen (notebook 06), end to end on
  augmented images (the ``full`` profile's path);
* the same fine-tuning **above the block-4 cache** (the ``cpu`` profile's path,
  ``nbh.training.fit_above``): an epoch of block5 and the head on blocks 1-4's
  output, and the one pass of blocks 1-4 that computes that output;
* a **from-scratch epoch** of all of VGG16 (notebook 06's comparison);

on ``--images`` images (few: the cost per image is what counts).  After a
warm-up of each (it traces the graphs), the unit's pass and the three epochs
run in turn, ``--rounds`` times; each figure is its best round, so a
neighbour's burst on a shared machine spoils one round of every figure
rather than one figure.  When ``docs/timings.json``
has both an offline series (``make run``) and a rehearsal series
(``make rehearse``), it also reports the rehearsal's time over the offline one
for the notebooks both timed.  Prints one markdown table row per figure;
Then each notebook's units at the cpu profile's full budgets as ``make
rehearse`` recorded them (``docs/timings.json``), with the commit of each.
``main()`` returns them for ``scripts/run_benchmarks.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


def _epoch(model, ds) -> float:
    t0 = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    return time.perf_counter() - t0


def _interleaved_best(jobs: dict, rounds: int) -> dict:
    """Each job once per round, in turn; the best time of each over the rounds.

    On a shared machine a neighbour's burst then spoils one round of every
    figure rather than all rounds of one, and the best is the least disturbed.
    """
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(rounds):
        for name, job in jobs.items():
            best[name] = min(best[name], job())
    return best


def _timed_predict(model, x, batch: int) -> float:
    """Seconds for one ``model.predict`` over ``x``."""
    t0 = time.perf_counter()
    model.predict(x, batch_size=batch, verbose=0)
    return time.perf_counter() - t0


def _recorded(timings: Path) -> tuple[dict, dict]:
    """``(offline rows, rehearsal rows)`` of ``docs/timings.json`` (empty when it is missing);
    the rehearsal's are the ``cpu`` rows timed on stand-in weights."""
    if not timings.is_file():
        return {}, {}
    data = json.loads(timings.read_text())
    return data.get("offline", {}), {k: v for k, v in data.get("cpu", {}).items()
                                     if v.get("standins")}


def series_ratio(timings: Path = ROOT / "docs" / "timings.json") -> dict | None:
    """The rehearsal's cpu series against the offline ``make run`` series, or None if either is missing."""
    offline, rehearsal = _recorded(timings)
    common = sorted(set(offline) & set(rehearsal))
    if not common:
        return None
    off = sum(offline[k]["seconds"] for k in common)
    cpu = sum(rehearsal[k]["seconds"] for k in common)
    units = sum(rehearsal[k].get("units", 0.0) for k in common)
    return {"ratio": cpu / off, "detail": f"{len(common)} notebooks: cpu rehearsal {cpu:.0f} s "
                                          f"({units:.1f} units) vs offline {off:.0f} s"}


def notebook_rows(timings: Path = ROOT / "docs" / "timings.json") -> list[dict]:
    """Each notebook's units at the cpu profile's full budgets, as ``make rehearse`` recorded them.

    One row per notebook (its ``units`` as the ratio; seconds, unit, commit and date in the
    detail), then the series; none when no rehearsal is recorded.  A full ``make rehearse``
    writes every row in one run (each row's unit and commit say whether they came from one).
    """
    rows = {k: v for k, v in _recorded(timings)[1].items() if v.get("units") is not None}
    out = [{"benchmark": f"{name}: units at the cpu profile's full budgets (make rehearse)",
            "ratio": row["units"],
            "detail": f"{row['seconds']:.1f} s, 1 unit = {row.get('unit_seconds', 0):.2f} s; "
                      f"commit {row.get('commit', '?')}, {row.get('date', '?')}"}
           for name, row in sorted(rows.items())]
    if out:
        out.append({"benchmark": "the series: units at the cpu profile's full budgets",
                    "ratio": sum(r["ratio"] for r in out),
                    "detail": f"{len(out)} notebooks, sum of the rows above"})
    return out


def main(images: int = 64, size: int = 160, batch: int = 32, rounds: int = 2) -> list[dict]:
    import keras
    import rehearse
    import standins
    import tensorflow as tf

    import nbhelpers as nbh
    from nbhelpers import config, models, training

    cfg = config.make_config("cpu")
    wf = next(w for w in standins.weight_files() if w.backbone == "vgg16" and not w.include_top)
    shape, unit_shape = (size, size, 3), (rehearse.UNIT_SIZE, rehearse.UNIT_SIZE, 3)
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory(prefix="nbh-bench-") as folder:
        weights = str(standins.write_weights(wf, Path(folder) / wf.filename))
        frozen_base, finetune_base, cut_base, unit_base = (
            models.load_backbone("vgg16", weights=weights, input_shape=s)
            for s in (shape, shape, shape, unit_shape))

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (images, size, size, 3)).astype("float32")
    y = (np.arange(images) % 2).astype("int32")
    aug = nbh.data.augmentation(cfg)
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(images, seed=0).batch(batch)
          .map(lambda a, b: (aug(a, training=True), b)).prefetch(tf.data.AUTOTUNE))

    frozen = models.build_classifier(frozen_base, head="gap", num_classes=2)
    training.compile_model(frozen, cfg.head_learning_rate)
    finetune = models.build_classifier(finetune_base, head="gap", num_classes=2)
    models.unfreeze_from(finetune, "block5")
    training.compile_model(finetune, cfg.finetune_learning_rate)
    cut = models.build_classifier(cut_base, head="gap", num_classes=2)
    models.unfreeze_from(cut, "block5")
    below, above = models.split_at(cut, "block5")
    training.compile_model(above, cfg.finetune_learning_rate)
    below_out = below.predict(x, batch_size=batch, verbose=0)
    cached = (tf.data.Dataset.from_tensor_slices((below_out, y)).shuffle(images, seed=0)
              .batch(batch).prefetch(tf.data.AUTOTUNE))

    scratch = models.build_classifier(
        models.load_backbone("vgg16", weights=None, input_shape=shape), head="gap",
        num_classes=2, freeze_backbone=False)
    training.compile_model(scratch, cfg.head_learning_rate)

    x_unit = rng.uniform(0, 255, (rehearse.UNIT_IMAGES, *unit_shape)).astype("float32")

    jobs = {"unit": lambda: _timed_predict(unit_base, x_unit, rehearse.UNIT_BATCH), "frozen": lambda: _epoch(frozen, ds),
            "finetune": lambda: _epoch(finetune, ds), "above": lambda: _epoch(above, cached),
            "below": lambda: _timed_predict(below, x, batch), "scratch": lambda: _epoch(scratch, ds)}
    for job in jobs.values():  # warm-up: traces every graph
        job()
    t = _interleaved_best(jobs, rounds)
    unit, frozen, finetune, scratch = t["unit"], t["frozen"], t["finetune"], t["scratch"]

    per100 = 100 / images
    where = (f"VGG16 at {size} px, {images} images, batch {batch}; 1 unit = {unit:.2f} s "
             f"(forward pass, 100 images at 160 px)")
    rows = [
        {"benchmark": "frozen end-to-end epoch (augmented), units per 100 images",
         "ratio": frozen / unit * per100, "detail": f"{where}: {frozen:.2f} s per epoch"},
        {"benchmark": "fine-tuning epoch (block5 unfrozen), units per 100 images",
         "ratio": finetune / unit * per100, "detail": f"{where}: {finetune:.2f} s per epoch"},
        {"benchmark": "fine-tuning epoch above the block-4 cache (block5 + head), units per 100 images",
         "ratio": t["above"] / unit * per100,
         "detail": f"{where}: {t['above']:.2f} s per epoch on blocks 1-4's cached output"},
        {"benchmark": "block-4 cache: blocks 1-4 forward once, units per 100 images",
         "ratio": t["below"] / unit * per100, "detail": f"{where}: {t['below']:.2f} s, once per split"},
        {"benchmark": "fine-tuning epoch: end to end (augmented) / above the block-4 cache",
         "ratio": finetune / t["above"],
         "detail": f"{where}: {finetune:.2f} s vs {t['above']:.2f} s per epoch"},
        {"benchmark": "from-scratch epoch (all of VGG16), units per 100 images",
         "ratio": scratch / unit * per100, "detail": f"{where}: {scratch:.2f} s per epoch"},
    ]
    series = series_ratio()
    if series is not None:
        rows.append({"benchmark": "cpu rehearsal series vs offline make run series (seconds)",
                     **series})
    return rows + notebook_rows()


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    rows = main(args.images, args.size, args.batch, args.rounds)
    print("| benchmark | ratio | detail |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {row['benchmark']} | {row['ratio']:.2f} | {row['detail']} |")
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
