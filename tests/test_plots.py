"""nbhelpers.plots: the package's shape, and that every figure is titled, labelled and honest.

The figures of notebook 01 have their own tests in ``test_plots_conv.py``; the
evaluation, balance, profiling, training and explain tests draw their figures
from real outputs of those modules.  Here every public function runs on small
inputs and must return a Figure that says what it shows.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nbhelpers import plots  # noqa: E402
from nbhelpers.plots._kit import _is_colorbar, finish_figure  # noqa: E402

PACKAGE = Path(plots.__file__).parent
ROOT = PACKAGE.parent.parent
RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def submodules():
    """The figure modules, one per subject (``_kit``, their shared toolkit, aside)."""
    return [importlib.import_module(f"nbhelpers.plots.{m.name}")
            for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.name.startswith("_")]


def public_functions(module):
    return {name for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__
            and not name.startswith("_")}


# --------------------------------------------------------------------------- the package


def test_all_lists_every_public_function_of_the_submodules():
    defined = set().union(*(public_functions(m) for m in submodules())) | {"set_style"}
    assert sorted(plots.__all__) == sorted(defined)
    assert len(plots.__all__) == len(set(plots.__all__))  # listed once each
    for name in set(plots.__all__) - {"set_style"}:  # set_style: the toolkit's one public name
        owner = [m for m in submodules() if name in public_functions(m)]
        assert getattr(plots, name) is getattr(owner[0], name)  # nbh.plots.X is the function


def test_each_submodule_lists_its_own_functions():
    for module in submodules():
        assert sorted(module.__all__) == sorted(public_functions(module)), module.__name__


def test_the_docstring_table_names_every_submodule():
    doc = plots.__doc__
    for module in submodules():
        assert f"``{module.__name__.rsplit('.', 1)[1]}``" in doc


def test_plots_imports_only_the_maths_of_nbhelpers():
    """plots sits above config and conv only: no data, models, training, evaluate, explain."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module is None and [a.name for a in node.names] == ["conv"], path.name
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith(("nbhelpers", "keras", "tensorflow")), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] in {"nbhelpers", "keras", "tensorflow"}
                               for a in node.names), path.name


def test_importing_plots_imports_no_tensorflow():
    code = ("import sys, nbhelpers.plots; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; "
            "heavy = {'nbhelpers.' + m for m in ('data', 'models', 'training', 'evaluate', 'explain')}; "
            "assert not heavy & set(sys.modules), heavy & set(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr


def test_finish_keeps_a_constrained_layout_and_tidies_the_rest():
    fig = finish_figure(plt.figure(layout="constrained"), "a")
    assert fig.get_suptitle() == "a" and type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    fig, ax = plt.subplots()
    ax.set_ylabel("a long label\non two lines")
    default_left = fig.subplotpars.left
    assert finish_figure(fig) is fig and fig.get_suptitle() == ""
    assert fig.subplotpars.left != default_left  # tight_layout made room for the label


# --------------------------------------------------------------------------- every figure


def _history(n=3):
    return {"loss": list(np.linspace(1, 0.5, n)), "val_loss": list(np.linspace(1.1, 0.8, n)),
            "accuracy": list(np.linspace(0.5, 0.8, n)), "val_accuracy": list(np.linspace(0.5, 0.7, n))}


def _lime(seconds=0.1):
    seg = np.repeat(np.arange(4), 16).reshape(8, 8)
    attribution = np.where(seg % 2, -1.0, 2.0)
    return SimpleNamespace(extras={"segments": seg, "weights": np.array([0.2, -0.1, 0.3, 0.0])},
                           target=1, method="lime", seconds=seconds, attribution=attribution)


IMG = RNG.uniform(0, 255, (8, 8, 3)).astype("float32")
FRACTIONS = np.linspace(0, 1, 5)
def _range_table() -> pd.DataFrame:
    t = pd.DataFrame({"learning_rate": [1e-4, 1e-3, 1e-2, 1e-1], "loss": [0.7, 0.6, 0.4, 2.0],
                      "smoothed": [0.7, 0.65, 0.5, 1.0]})
    t.attrs.update(lowest=1e-2, suggested=1e-3, steepest=1e-3)
    return t


CASES = {
    "annotated_matrix": lambda: plots.annotated_matrix(np.arange(4).reshape(2, 2), title="m"),
    "correlation_step": lambda: plots.correlation_step(np.arange(9).reshape(3, 3), np.eye(2),
                                                       np.array([[4, 6], [10, 12]]), 0, 0),
    "conv_geometry": lambda: plots.conv_geometry(4, 3, padding="same"),
    "filter_responses": lambda: plots.filter_responses(
        RNG.random((8, 8)), {"edge": np.array([[1.0, 0, -1]] * 3)}, {"edge": RNG.normal(size=(6, 6))},
        suptitle="s"),
    "shift_comparison": lambda: plots.shift_comparison({"x": (np.eye(4), np.roll(np.eye(4), 1, 1))}),
    "kernel_learning": lambda: plots.kernel_learning(np.eye(2), np.eye(2) / 2, [1.0, 0.5]),
    "image_grid": lambda: plots.image_grid(RNG.random((3, 8, 8, 3)), titles=["a", "b", "c"]),
    "class_balance": lambda: plots.class_balance({"cat": 6, "dog": 3}),
    "split_sizes": lambda: plots.split_sizes(pd.DataFrame({"a": [5, 2, 1], "b": [4, 2, 2]},
                                                          index=["train", "val", "test"])),
    "throughput_bars": lambda: plots.throughput_bars({"loop": 10.0, "tf.data": 40.0}),
    "channel_histograms": lambda: plots.channel_histograms({"RGB": IMG}),
    "training_curves": lambda: plots.training_curves({"head": _history()}),
    "learning_curves_grid": lambda: plots.learning_curves_grid({"a": _history(), "b": _history()}),
    "data_size_curve": lambda: plots.data_size_curve([10, 20], [0.6, 0.7]),
    "lr_range": lambda: plots.lr_range(_range_table()),
    "confusion_heatmap": lambda: plots.confusion_heatmap(np.array([[3, 1], [0, 4]]), ["a", "b"]),
    "roc_pr_curves": lambda: plots.roc_pr_curves({"a": (np.array([0, 1]), np.array([0, 1]))},
                                                 {"a": (np.array([1, 0]), np.array([0.5, 1]))}),
    "reliability_diagram": lambda: plots.reliability_diagram(
        {"m": (np.array([0.6, 0.9]), np.array([0.5, 0.8]), np.array([3, 5]))}),
    "error_gallery": lambda: plots.error_gallery(RNG.random((2, 8, 8, 3)), [0, 1], [1, 1],
                                                 [0.9, 0.6], ["a", "b"], suptitle="errors"),
    "interval_plot": lambda: plots.interval_plot(["acc"], [0.5], [0.4], [0.6]),
    "recall_bars": lambda: plots.recall_bars({"none": {"a": 1.0, "b": 0.2}}),
    "explanation_overlay": lambda: plots.explanation_overlay(IMG, _lime()),
    "lime_boundaries": lambda: plots.lime_boundaries(IMG, _lime(), num_features=2),
    "lime_segmentations": lambda: plots.lime_segmentations(IMG, {"grid": _lime().extras["segments"]}),
    "explanations_side_by_side": lambda: plots.explanations_side_by_side(
        [IMG, IMG], {"lime": [_lime(), _lime()], "gradcam": [np.ones((8, 8)), np.eye(8)]}),
    "randomisation_curves": lambda: plots.randomisation_curves(pd.DataFrame(
        {"method": ["a", "a"], "step": [0, 1], "randomised": ["(none)", "top"],
         "spearman": [1.0, 0.1], "spearman_abs": [1.0, 0.3]})),
    "randomisation_maps": lambda: plots.randomisation_maps(
        IMG, {"m": [np.eye(8), -np.eye(8)], "g": [np.ones((8, 8))] * 2}, ["none", "top"]),
    "faithfulness_curves": lambda: plots.faithfulness_curves(
        {"m": {"fractions": FRACTIONS, "deletion": 1 - FRACTIONS, "insertion": FRACTIONS,
               "deletion_auc": 0.5, "insertion_auc": 0.5}}),
    "lime_cost_curve": lambda: plots.lime_cost_curve(
        pd.DataFrame({"num_samples": [10, 20], "seconds": [0.1, 0.2], "stability": [0.3, 0.5]})),
    "filter_grid": lambda: plots.filter_grid(RNG.normal(size=(3, 3, 3, 4))),
    "feature_map_grid": lambda: plots.feature_map_grid({"b1": RNG.random((8, 8, 4)),
                                                        "b2": RNG.random((4, 4, 2))}, channels=3),
    "prediction_bars": lambda: plots.prediction_bars([IMG], [[("n1", "tabby_cat", 0.7),
                                                              ("n2", "dog", 0.2)]]),
    "parameter_bars": lambda: plots.parameter_bars({"block1": 38720, "fc1": 4096}),
    "accuracy_vs_speed": lambda: plots.accuracy_vs_speed(["a", "b"], [10.0, 100.0], [0.9, 0.8]),
    "confident_joint_heatmap": lambda: plots.confident_joint_heatmap(np.array([[9, 1], [2, 8]]),
                                                                     ["a", "b"]),
    "flagged_gallery": lambda: plots.flagged_gallery(RNG.random((2, 8, 8, 3)), ["a", "b"],
                                                     ["b", "a"], [0.1, 0.2], title="flagged"),
    "pair_gallery": lambda: plots.pair_gallery([(IMG, IMG)], [("train #1", "test #2")],
                                               title="pairs"),
    "ood_histograms": lambda: plots.ood_histograms(
        {"energy": (RNG.normal(3, 1, 20), RNG.normal(0, 1, 5)),
         "top probability": (RNG.uniform(0.8, 1, 20), RNG.uniform(0.5, 1, 5))}, {"energy": 1.5}),
}
# Where colour carries a value (a heat map, a response, an activation, an attribution).
COLOUR_CARRIES_A_VALUE = {"filter_responses", "shift_comparison", "confusion_heatmap",
                          "confident_joint_heatmap",
                          "explanation_overlay", "explanations_side_by_side",
                          "randomisation_maps", "feature_map_grid"}


def test_every_public_figure_has_a_case():
    # deployment's figures need a classified photo and an export table: tests/test_deploy.py
    assert set(CASES) == set(plots.__all__) - {"set_style"} - set(plots.deployment.__all__)


def _labelled(ax, which):
    """ax (or an axes sharing that axis with it) has a label on ``which`` ('x' or 'y')."""
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    return any((a.get_xlabel() if which == "x" else a.get_ylabel()) for a in shared.get_siblings(ax))


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_is_titled_labelled_and_has_its_colour_bars(name):
    fig = CASES[name]()
    assert isinstance(fig, plt.Figure), f"{name} returned {type(fig)}"
    panels = [ax for ax in fig.axes if ax.get_visible() and not _is_colorbar(ax)]
    assert panels, name
    titled = [ax for ax in panels if ax.get_title()]
    assert fig.get_suptitle() or len(titled) == len(panels), f"{name}: untitled panels"
    # Charts (no pictures in them) label both axes; pictures (imshow) need not.
    for ax in panels:
        if ax.axison and not ax.images:
            assert _labelled(ax, "x") and _labelled(ax, "y"), f"{name}: unlabelled {ax.get_title()!r}"
    bars = [ax for ax in fig.axes if _is_colorbar(ax)]
    if name in COLOUR_CARRIES_A_VALUE:
        assert bars, f"{name}: colour carries a value but there is no colour bar"
    for bar in bars:
        assert bar.get_ylabel() or bar.get_xlabel(), f"{name}: a colour bar says not what it shows"


# --------------------------------------------------------------------------- what they draw


def test_empty_galleries_say_so_instead_of_failing():
    for fig in (plots.flagged_gallery([], [], [], [], title="t"),
                plots.pair_gallery([], [], title="t")):
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any(t.startswith("no ") for t in texts), texts


def test_ood_histograms_draw_one_shared_bin_range_and_the_threshold():
    fig = plots.ood_histograms({"s": (np.array([2.0, 3.0]), np.array([0.0, 1.0]))}, {"s": 1.5})
    ax = fig.axes[0]
    assert [line.get_xdata()[0] for line in ax.lines] == [1.5]
    lefts = sorted({round(p.get_x(), 6) for p in ax.patches})
    assert lefts[0] == 0.0 and max(p.get_x() + p.get_width() for p in ax.patches) == pytest.approx(3.0)


def test_image_grid_colour_bar_shows_the_real_values():
    maps = [np.arange(16.0).reshape(4, 4) - 4, np.arange(16.0).reshape(4, 4) * 10]
    fig = plots.image_grid(maps, colorbar="response", cmap="magma")
    assert [ax.images[0].get_clim() for ax in fig.axes[:2]] == [(-4.0, 11.0), (0.0, 150.0)]
    plain = plots.image_grid(maps)  # without: rescaled for display, no colour bars
    assert plain.axes[1].images[0].get_array().max() == 1.0 and len(plain.axes) == 2
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plots.image_grid(maps, titles=["one"])
    shared = plots.image_grid(maps, colorbar="response", shared_scale=True)
    assert [ax.images[0].get_clim() for ax in shared.axes[:2]] == [(-4.0, 150.0)] * 2


def test_feature_map_rows_share_one_scale():
    strong, weak = np.full((4, 4, 1), 8.0), np.full((4, 4, 1), 2.0)
    fig = plots.feature_map_grid({"layer": np.concatenate([weak, strong], axis=-1)}, channels=2)
    first, second = fig.axes[:2]
    assert first.get_title() == "channel 1"  # the most active channel comes first
    assert first.images[0].get_clim() == second.images[0].get_clim() == (0.0, 8.0)
    with pytest.raises(ValueError, match="batch axis"):
        plots.feature_map_grid({"layer": np.zeros((1, 4, 4, 2))})


def test_shift_comparison_colour_bars_share_the_row_scale():
    a = np.arange(16.0).reshape(4, 4)
    fig = plots.shift_comparison({"x": (a, np.roll(a, 1, 1))})
    clims = [ax.images[0].get_clim() for ax in fig.axes[:3]]
    assert clims == [(0.0, 15.0)] * 3
    assert [ax.get_ylabel() for ax in fig.axes if _is_colorbar(ax)] == ["value", "value", "|difference|"]


def test_attributions_are_drawn_relative_to_their_largest_value():
    small, large = np.eye(8) * 0.01, np.eye(8) * 100
    fig = plots.explanations_side_by_side([IMG, IMG], {"m": [small, large]})
    heat = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    np.testing.assert_allclose(heat[0].get_array(), heat[1].get_array())  # same picture
    assert heat[0].get_clim() == (0.0, 1.0) and heat[0].get_cmap().name == "inferno"
    # one negative map makes the whole column signed, on [-1, 1]
    fig = plots.explanations_side_by_side([IMG, IMG], {"m": [small, -large]})
    assert {ax.images[1].get_cmap().name for ax in fig.axes if len(ax.images) == 2} == {"RdBu_r"}
    assert [ax.images[1].get_clim() for ax in fig.axes if len(ax.images) == 2] == [(-1.0, 1.0)] * 2
    with pytest.raises(ValueError, match="1 maps for 2 images"):
        plots.explanations_side_by_side([IMG, IMG], {"m": [small]})


def test_explanation_overlay_on_a_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert plots.explanation_overlay(IMG, np.ones((8, 8)), ax=axes[1], colorbar=False) is fig
    assert axes[1].get_title() == "attribution" and len(fig.axes) == 2
    plots.explanation_overlay(IMG, _lime(), ax=axes[0])
    assert axes[0].get_title() == "lime (class 1, 0.10 s)"
    assert "red: for the class" in fig.axes[-1].get_ylabel()


def test_lime_boundaries_says_what_it_needs():
    with pytest.raises(ValueError, match="LIME explanation"):
        plots.lime_boundaries(IMG, SimpleNamespace(extras={}, target=0))
    fig = plots.lime_boundaries(IMG, _lime(), num_features=5)
    assert fig.axes[1].get_title() == "top 2 for class 1"  # only segments with weight > 0


def test_randomisation_maps_title_carries_the_label():
    fig = plots.randomisation_maps(IMG, {"a": [np.eye(8)] * 2}, [0, 1], title="[profile: cpu]")
    assert fig.get_suptitle().endswith("\n[profile: cpu]")
    assert "\n" not in plots.randomisation_maps(IMG, {"a": [np.eye(8)] * 2}, [0, 1]).get_suptitle()


def test_randomisation_maps_one_colour_bar_per_method():
    fig = plots.randomisation_maps(IMG, {"a": [np.eye(8)] * 3, "b": [-np.eye(8)] * 3}, [0, 1, 2])
    bars = [ax for ax in fig.axes if _is_colorbar(ax)]
    assert len(bars) == 2
    assert [ax.get_title() for ax in fig.axes[:4]] == ["a", "0", "1", "2"]
    with pytest.raises(ValueError, match="1 maps for 3 steps"):
        plots.randomisation_maps(IMG, {"a": [np.eye(8)]}, [0, 1, 2])


def test_bar_charts_name_their_categories():
    fig = plots.recall_bars({"none": {"a": 1.0}, "weights": {"a": 0.5}}, xlabel="remedy")
    assert fig.axes[0].get_xlabel() == "remedy"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["none", "weights"]
    fig = plots.parameter_bars({"block1": 2_000_000, "fc1": 1_000_000}, ylabel="layer")
    assert fig.axes[0].get_ylabel() == "layer"
    assert [round(p.get_width(), 2) for p in fig.axes[0].patches] == [2.0, 1.0]
    fig = plots.throughput_bars({"loop": 10.0, "tf.data": 40.0})
    assert [p.get_width() for p in fig.axes[0].patches] == [10.0, 40.0]
    with pytest.raises(ValueError, match="no counts"):
        plots.parameter_bars({})


def test_data_size_curve_and_histograms_reject_mismatched_input():
    with pytest.raises(ValueError, match="one score per"):
        plots.data_size_curve([10, 20], [0.5])
    with pytest.raises(ValueError, match="no arrays"):
        plots.channel_histograms({})


def test_prediction_bars_draw_the_probabilities_in_order():
    fig = plots.prediction_bars([IMG], [[("n1", "tabby_cat", 0.7), ("n2", "dog", 0.2)]])
    bottom = fig.axes[1]
    assert [p.get_width() for p in bottom.patches] == [0.2, 0.7]  # best at the top
    assert fig.axes[0].get_title() == "top-1 tabby cat"
    assert fig.get_suptitle() == "Top-2 predicted classes"
    named = plots.prediction_bars([IMG], [[("n1", "tabby_cat", 0.7)]], names=["my cat"])
    assert named.axes[0].get_title() == "my cat -> top-1 tabby cat"
    with pytest.raises(ValueError, match="1 images, 1 rows, 2 names"):
        plots.prediction_bars([IMG], [[("n1", "tabby_cat", 0.7)]], names=["a", "b"])


def test_confident_joint_rows_add_up_with_the_none_column():
    fig = plots.confident_joint_heatmap(np.array([[5, 1], [0, 4]]), ["a", "b"], unassigned=[2, 3])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "(none)"]
    cells = [int(t.get_text()) for t in ax.texts]
    assert cells == [5, 1, 2, 0, 4, 3]  # row by row: each row sums to its label's images


def test_ood_histograms_log_axis_only_for_positive_scores():
    fig = plots.ood_histograms({"p": (np.array([1.0, 10.0]), np.array([100.0])),
                                "q": (np.array([-1.0, 1.0]), np.array([2.0]))}, log_x=["p", "q"])
    assert [ax.get_xscale() for ax in fig.axes] == ["log", "linear"]


def test_a_log_axis_narrower_than_a_decade_still_has_labelled_ticks():
    """Offline, 13's energy scores span 0.7 to 6: decade ticks alone labelled only "1"."""
    fig = plots.ood_histograms({"e": (np.array([0.7, 2.0, 3.0]), np.array([6.0]))}, log_x=["e"])
    ax = fig.axes[0]
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi]
    assert ax.get_xscale() == "log" and len([s for s in shown if s]) >= 3, shown


def test_lr_range_marks_the_rules_points_on_the_curve_and_draws_lines_for_the_rates_in_play():
    """The lowest loss and the steepest descent are often a few percent apart: as two vertical
    lines they hid each other, so they are points on the smoothed curve."""
    ax = plots.lr_range(_range_table(), current=1e-4).axes[0]
    points = {line.get_label().split(" (")[0]: (line.get_xdata()[0], line.get_ydata()[0])
              for line in ax.lines if line.get_linestyle() == "None"}
    assert points == {"lowest smoothed loss": (1e-2, pytest.approx(0.5)),
                      "steepest descent": (1e-3, pytest.approx(0.65))}
    vertical = sorted(line.get_label().split(" (")[0] for line in ax.lines
                      if line.get_linestyle() != "None" and len(set(line.get_xdata())) == 1)
    assert vertical == ["suggested: a tenth of the lowest", "the rate in use"]
