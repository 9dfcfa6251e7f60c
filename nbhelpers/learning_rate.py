"""Choosing a learning rate: the range test, and a warm-up + cosine schedule.

The **range test** (Smith 2015, "Cyclical learning rates"; fastai's ``lr_find``)
trains a fresh model for one short pass while the learning rate grows
exponentially from tiny to huge, one step per batch, and records the loss.
Too small a rate and the loss barely moves; a good rate and it falls fast;
too large and it shoots up.  A rate is then *read off the curve by a stated
rule*: here a tenth of the rate at the lowest (smoothed) loss, the rule
fastai's course teaches, with the steepest descent shown beside it.  Keras
has no built-in range test.

A **schedule** changes the rate during training: :func:`warmup_cosine` rises
linearly for the first steps (the head starts from random weights: big early
steps can throw it far), then decays along a cosine to nearly zero (small
steps at the end settle into a minimum).

**Rates per layer group** (:func:`rates_per_group`): when fine-tuning, the new
head can take larger steps than the pretrained block under it.  Keras 3 has one
optimizer per model, so the model's training step applies one Adam per group
(the way the Keras guide "Customizing what happens in fit()" writes a
training step).  Scaling a group's *gradient* instead would not work with
Adam: its step ``m / sqrt(v)`` is the same for a gradient ten times larger.

Taught in ``05_adding_a_head`` (range test, schedule) and ``06_fine_tuning``
(range test before fine-tuning, rates per layer group).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["range_test", "suggest", "warmup_cosine", "rates_per_group", "GroupRates"]


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, steps: int,
             seed: int) -> Any:
    """``steps`` batches drawn in shuffled passes over ``(x, y)``."""
    rng = np.random.default_rng(seed)
    order: np.ndarray = np.array([], dtype=int)
    for _ in range(steps):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(x))])
        idx, order = order[:batch_size], order[batch_size:]
        yield x[idx], y[idx]


def range_test(make_model: Callable[[], keras.Model], x: np.ndarray, y: np.ndarray, *,
               start: float = 1e-6, end: float = 10.0, steps: int = 100,
               batch_size: int = 32, smoothing: float = 0.9, diverge: float = 4.0,
               seed: int = 0) -> pd.DataFrame:
    """One short pass with the learning rate growing from ``start`` to ``end``; the loss per step.

    ``make_model()`` returns a *fresh, compiled* model (the test changes its
    weights, so it never touches yours).  Step ``i`` trains one batch at
    ``start * (end / start) ** (i / (steps - 1))``.  The pass stops early once
    the smoothed loss exceeds ``diverge`` times its lowest value (or is not a
    number).  Returns a table with columns ``step``, ``learning_rate``,
    ``loss`` (the batch's) and ``smoothed`` (an exponential moving average with
    weight ``smoothing``, bias-corrected); ``table.attrs`` holds
    :func:`suggest`'s ``suggested``, ``lowest`` and ``steepest`` rates and
    ``rule``.

    Example:
        >>> import keras
        >>> def make():
        ...     m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        ...     m.compile(keras.optimizers.SGD(), "mse"); return m
        >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
        >>> t = range_test(make, x, x.sum(1), steps=30, batch_size=16)
        >>> list(t.columns), t.attrs["suggested"] < t.attrs["lowest"]
        (['step', 'learning_rate', 'loss', 'smoothed'], True)
    """
    import pandas as pd

    if not (0 < start < end) or steps < 5:
        raise ValueError(f"need 0 < start < end and steps >= 5, got start={start}, end={end}, "
                         f"steps={steps}")
    keras.utils.set_random_seed(seed)
    model = make_model()
    if getattr(model, "optimizer", None) is None:
        raise ValueError("make_model() must return a compiled model (model.compile(...))")
    rates = start * (end / start) ** (np.arange(steps) / (steps - 1))
    rows, average, best = [], 0.0, math.inf
    x, y = np.asarray(x), np.asarray(y)
    for i, (xb, yb) in enumerate(_batches(x, y, batch_size, steps, seed)):
        model.optimizer.learning_rate = float(rates[i])
        loss = float(np.asarray(model.train_on_batch(xb, yb, return_dict=True)["loss"]))
        average = smoothing * average + (1 - smoothing) * loss
        smoothed = average / (1 - smoothing ** (i + 1))
        rows.append({"step": i, "learning_rate": float(rates[i]), "loss": loss,
                     "smoothed": smoothed})
        if not math.isfinite(smoothed) or smoothed > diverge * best:
            break
        best = min(best, smoothed)
    table = pd.DataFrame(rows)
    table.attrs.update(suggest(table))
    return table


def suggest(table: pd.DataFrame) -> dict[str, Any]:
    """Rates read off a range test: ``lowest``, ``suggested`` (a tenth of it), ``steepest``.

    ``lowest`` is the rate at the lowest smoothed loss; ``suggested`` the
    course's rule, a tenth of that (still on the falling part of the curve,
    well before it turns up); ``steepest`` the rate where the smoothed loss
    falls fastest per factor of rate, the other common rule, read on the
    falling part only: after the first tenth of the steps (where the average
    is still settling) and before the lowest point (the lowest rate itself
    when the curve has no falling part).  ``rule`` says the rule in words.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"learning_rate": [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0],
        ...                   "smoothed": [1.0, 0.95, 0.5, 0.3, 0.25, 2.0]})
        >>> s = suggest(t); s["lowest"], s["suggested"], s["steepest"]
        (1.0, 0.1, 0.01)
    """
    finite = table[np.isfinite(table["smoothed"])]
    low = int(finite["smoothed"].to_numpy().argmin())
    lowest = float(finite["learning_rate"].iloc[low])
    steepest = lowest
    skip = len(finite) // 10  # the first steps: the average is still settling
    if low - skip >= 2:  # the falling part, the lowest point itself left out
        before = finite.iloc[skip:low]
        slope = np.gradient(before["smoothed"].to_numpy(),
                            np.log10(before["learning_rate"].to_numpy()))
        steepest = float(before["learning_rate"].iloc[int(slope.argmin())])
    return {"lowest": lowest, "suggested": lowest / 10, "steepest": steepest,
            "rule": "a tenth of the rate at the lowest smoothed loss"}


def warmup_cosine(peak: float, total_steps: int, warmup_steps: int | None = None,
                  final_fraction: float = 0.0) -> keras.optimizers.schedules.LearningRateSchedule:
    """A rate that rises linearly from 0 to ``peak``, then decays along a cosine to the end.

    ``warmup_steps`` defaults to a tenth of ``total_steps``; the rate ends at
    ``final_fraction * peak``.  Keras' own ``CosineDecay`` (with its warm-up
    arguments), so it saves and reloads with the model.  Pass it as an
    optimizer's ``learning_rate``.

    Example:
        >>> s = warmup_cosine(1e-3, total_steps=100)
        >>> [round(float(s(step)), 6) for step in (0, 5, 10, 55, 100)]
        [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    warmup = int(round(0.1 * total_steps)) if warmup_steps is None else int(warmup_steps)
    if not (0 <= warmup < total_steps) or peak <= 0:
        raise ValueError(f"need peak > 0 and 0 <= warmup_steps < total_steps, got peak={peak}, "
                         f"warmup_steps={warmup}, total_steps={total_steps}")
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=total_steps - warmup, alpha=final_fraction,
        warmup_target=peak, warmup_steps=warmup)


class GroupRates(keras.Model):
    """A model whose training step applies one optimizer per group of its variables.

    Built by :func:`rates_per_group`, which shares the layers of the model it
    wraps; ``groups`` is a list of ``(optimizer, variables)`` pairs.  The step
    is Keras' own (``TensorFlowTrainer.train_step``) with the update split.

    Example (one step of Adam moves each weight by about its group's rate):
        >>> import keras, numpy as np
        >>> inp = keras.Input((2,))
        >>> m = keras.Model(inp, keras.layers.Dense(1, name="head")(
        ...     keras.layers.Dense(2, name="block5_dense")(inp)))
        >>> g = rates_per_group(m, {"block5": 1e-4}, rest=1e-2)
        >>> g.compile(loss="mse")
        >>> before = [w.copy() for w in g.get_weights()]
        >>> _ = g.train_on_batch(np.ones((4, 2), "float32"), np.full((4, 1), 9.0, "float32"))
        >>> [f"{np.abs(a - b).max():.0e}" for a, b in zip(g.get_weights(), before)]
        ['1e-04', '1e-04', '1e-02', '1e-02']
    """

    groups: list[tuple[keras.optimizers.Optimizer, list[keras.Variable]]]

    def train_step(self, data: Any) -> dict:
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=True) as tape:  # the forward pass and the loss
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=True)
            # Mixed precision: each group's LossScaleOptimizer scales the loss its own way
            # (float16 gradients would underflow); otherwise scale_loss returns it unchanged.
            scaled = [optimizer.scale_loss(loss) for optimizer, _ in self.groups]
        for (optimizer, group), group_loss in zip(self.groups, scaled, strict=True):
            optimizer.apply(tape.gradient(group_loss, group), group)  # each its own step
        del tape
        for metric in self.metrics:  # the loss's tracker: each batch weighs its size,
            if metric.name == "loss":  # as in Keras' own step
                metric.update_state(loss, sample_weight=keras.ops.shape(y_pred)[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def _group_of(layer_name: str, prefixes: list[str]) -> str | None:
    """The longest prefix ``layer_name`` starts with (the most specific), or None."""
    return max((p for p in prefixes if layer_name.startswith(p)), key=len, default=None)


Rate = float | keras.optimizers.schedules.LearningRateSchedule


def rates_per_group(model: keras.Model, rates: Mapping[str, Rate], rest: Rate) -> GroupRates:
    """A model sharing ``model``'s layers, compiled with one Adam per group of layers.

    ``rates`` maps a layer-name prefix to a learning rate (a number or a
    schedule): ``{"block5": 1e-5}`` gives every trainable layer whose name
    starts with ``block5`` that rate (a layer two prefixes match takes the longer
    one's); every other trainable layer (the head) gets ``rest``.  The returned
    model's layers *are* ``model``'s (training it trains ``model``); its ``fit``
    and ``history`` are Keras' own, compiled with the loss and metrics
    :func:`nbhelpers.training.compile_model` chooses for ``model``'s output (not
    ``model``'s own compile settings).  Its ``groups`` lists the ``(optimizer,
    variables)`` pairs (where the layers compute in ``mixed_float16``, each Adam is
    wrapped in a ``LossScaleOptimizer``, as ``compile`` wraps one, and a group whose
    gradients overflow skips its step alone).  The groups are fixed here: call it
    again after changing a layer's ``trainable``.  Raises ValueError when nothing is
    trainable, or a prefix takes no trainable layer.  Save ``model`` itself, not the
    returned one (with :func:`nbhelpers.training.fit`, pass ``checkpoint=False``:
    Keras cannot reload a ``GroupRates`` file).

    Example:
        >>> import keras
        >>> inp = keras.Input((3,))
        >>> m = keras.Model(inp, keras.layers.Dense(1, "sigmoid", name="head")(
        ...     keras.layers.Dense(4, name="block5_dense")(inp)))
        >>> g = rates_per_group(m, {"block5": 1e-5}, rest=1e-4)
        >>> [(f"{float(opt.learning_rate):g}", len(vs)) for opt, vs in g.groups]
        [('1e-05', 2), ('0.0001', 2)]
        >>> g.get_layer("head") is m.get_layer("head")
        True
    """
    from . import training

    layers = [layer for layer in model.layers if layer.trainable_weights]
    if not layers:
        raise ValueError(f"rates_per_group: {model.name!r} has no trainable layer (unfreeze "
                         f"the ones to train first, e.g. nbh.models.unfreeze_from).")
    prefixes = list(rates)
    unmatched = [p for p in prefixes if not any(_group_of(la.name, prefixes) == p
                                                for la in layers)]
    if unmatched:
        raise ValueError(f"rates_per_group: {', '.join(map(repr, unmatched))} takes no "
                         f"trainable layer (none starts with it, or a longer prefix takes "
                         f"them); trainable layers: {', '.join(la.name for la in layers)}.")
    groups = []
    mixed = any(la.dtype_policy.name == "mixed_float16" for la in layers)
    for prefix, rate in [*rates.items(), (None, rest)]:
        variables = [v for la in layers if _group_of(la.name, prefixes) == prefix
                     for v in la.trainable_weights]
        if variables:
            optimizer = keras.optimizers.Adam(learning_rate=rate)
            if mixed:  # what compile() does for one optimizer under mixed precision
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(variables)  # built here: fit builds only the compiled one
            groups.append((optimizer, variables))
    wrapped = GroupRates(model.inputs, model.outputs, name=f"{model.name}_rates")
    wrapped.groups = groups
    # the first group's optimizer is the compiled one (fit builds and counts steps with it);
    # compile_model's learning rate is the optimizer's own, so its argument is unused
    training.compile_model(wrapped, learning_rate=float("nan"), optimizer=groups[0][0])
    return wrapped
