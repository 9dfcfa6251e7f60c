"""Predictions: one home for running a model and for the one array convention.

Every other module (``evaluate``, ``explain``, ``deploy``, ``ood``) gets its numbers
from here, so "the model's answer" means the same thing everywhere:

* **class probabilities** ``y_prob``: ``(N, C)``, ``C >= 2``, rows summing to 1 -- also
  for two classes, where column 1 is P(class 1).  A sigmoid's ``(N,)`` or ``(N, 1)``
  P(class 1) becomes ``[1 - p, p]`` (:func:`class_probabilities`).
* **logits** (class scores before the sigmoid/softmax): ``(N, 1)`` for one sigmoid unit
  (the log-odds of class 1), ``(N, C)`` for a softmax, as the model's ``"logits"`` layer
  gives them (:func:`logits_output`, :func:`logits_model`).
* **log-odds** of each class, ``(N, C)``, from the logits (:func:`class_log_odds`).

=============================  ===============================================================
name                           what it gives
=============================  ===============================================================
:func:`predict`                ``(y_true, y_prob)`` over a data set, labels read in the same pass
:func:`predict_proba`          ``y_prob`` alone
:func:`predict_logits`         ``(y_true, logits)``
:func:`predict_with_logits`    ``(y_true, logits, y_prob)`` from one pass
:func:`predict_function`       a function ``images -> y_prob`` (or log-odds) for LIME, SHAP,
                               an exported model, an app
=============================  ===============================================================

Notebooks reach these names where they teach them: ``nbh.evaluate.predict`` (notebook 07),
``nbh.explain.predict_function`` (08 and 09), ``nbh.deploy.predict_function`` (12): one
function, re-exported where it is taught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import INFERENCE_BATCH_SIZE

if TYPE_CHECKING:
    import keras

__all__ = [
    "class_probabilities",
    "as_labels",
    "predict",
    "predict_proba",
    "logits_output",
    "logits_model",
    "predict_logits",
    "predict_with_logits",
    "class_log_odds",
    "predict_function",
    "forward",
]

def class_probabilities(out: Any) -> np.ndarray:
    """Predictions as ``(N, C)`` float64 class probabilities, ``C >= 2``: the one convention.

    A sigmoid's ``(N,)`` or ``(N, 1)`` P(class 1) becomes ``[1 - p, p]``; an ``(N, C)``
    softmax output is checked (values in [0, 1], rows summing to 1) and returned.  The
    converter every metric of :mod:`nbhelpers.evaluate` applies to its input.  Used in
    notebook 07.

    Example:
        >>> class_probabilities(np.array([0.25])).tolist()
        [[0.75, 0.25]]
    """
    p = np.asarray(out, dtype="float64")
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim not in (1, 2) or (p.ndim == 2 and p.shape[1] < 2):
        raise ValueError(
            f"expected predictions of shape (N,), (N, 1) or (N, C) with C >= 2, got {p.shape}")
    if p.size and (np.nanmin(p) < -1e-6 or np.nanmax(p) > 1 + 1e-6 or not np.isfinite(p).all()):
        raise ValueError(
            "predictions are not probabilities (values outside [0, 1]); does the model end "
            "in a sigmoid/softmax layer? If it outputs logits, wrap it: "
            "lambda x: scipy.special.softmax(model(x), axis=1), or pass the logits to "
            "apply_temperature(logits, 1.0)"
        )
    p = np.clip(p, 0.0, 1.0)
    if p.ndim == 1:
        return np.column_stack([1.0 - p, p])
    if p.size and not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("rows of (N, C) predictions must sum to 1 (a softmax output); "
                         "for independent sigmoid outputs (multi-label) this module does not apply")
    return p


def _batch_fn(model: Any) -> Callable[[Any], Any]:
    """One batch of images -> the model's output, for a Keras model or a plain function."""
    if hasattr(model, "predict_on_batch"):
        return model.predict_on_batch
    if callable(model):
        return model
    raise TypeError(f"expected a Keras model or a function of a batch, got {type(model).__name__}")


def as_labels(y: Any) -> np.ndarray:
    """Integer labels ``(N,)``; one-hot labels ``(N, C)`` become their arg-max.

    Example:
        >>> as_labels(np.array([[0, 1], [1, 0]])).tolist()
        [1, 0]
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    return y.reshape(-1).astype(int)


def _is_dataset(data: Any) -> bool:
    return hasattr(data, "element_spec")  # tf.data.Dataset, without importing TensorFlow


def _gather(model: Any, data: Any, batch_size: int) -> tuple[np.ndarray | None, Any]:
    """Run ``model`` over ``data`` and gather the labels in the same pass: raw outputs, one
    array, or a list of arrays for a Keras model with several outputs."""
    fn = _batch_fn(model)
    several = len(getattr(model, "outputs", None) or ()) > 1
    if _is_dataset(data):
        ys, outs = [], []
        for batch in data:
            x, y = (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)
            outs.append(fn(x))
            if y is not None:
                ys.append(as_labels(y))
        if not outs:
            raise ValueError("the data set is empty")
        y_true = np.concatenate(ys).astype(int) if ys else None
        if several:  # one array per output
            return y_true, [np.concatenate([np.asarray(o[i]) for o in outs])
                            for i in range(len(outs[0]))]
        return y_true, np.concatenate([np.asarray(o) for o in outs])
    if isinstance(data, tuple) and len(data) == 2:
        x, y_true = np.asarray(data[0]), as_labels(data[1])
    else:
        x, y_true = np.asarray(data), None
    if hasattr(model, "predict") and hasattr(model, "predict_on_batch"):  # Keras: batches itself
        out = model.predict(x, batch_size=batch_size, verbose=0)
        if several:
            return y_true, [np.asarray(o) for o in out]
    else:
        out = np.concatenate(
            [np.asarray(fn(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        )
    return y_true, np.asarray(out)


def predict(
    model: Any, data: Any, batch_size: int = 32
) -> tuple[np.ndarray | None, np.ndarray]:
    """Predict class probabilities and gather the true labels in the same pass: ``(y_true, y_prob)``.

    ``y_prob`` is ``(N, C)``, ``C >= 2`` (two classes too: column 1 is P(class 1)).
    ``model`` is a Keras model or any function ``batch -> probabilities``.  ``data`` is
    a ``tf.data.Dataset`` of ``(images, labels)`` batches (labels gathered in the same
    iteration, so they line up even if the data set shuffles), a tuple ``(x, y)`` of
    arrays, or an array of images (then ``y_true`` is ``None``).

    Example:
        >>> f = lambda x: np.asarray(x).mean(axis=(1, 2, 3)) / 255.0   # a "sigmoid" P(class 1)
        >>> x = np.stack([np.full((4, 4, 3), v) for v in (0.0, 51.0, 255.0)])
        >>> y_true, y_prob = predict(f, (x, np.array([0, 0, 1])))
        >>> y_true.tolist(), y_prob.round(2).tolist()
        ([0, 0, 1], [[1.0, 0.0], [0.8, 0.2], [0.0, 1.0]])
    """
    y_true, out = _gather(model, data, batch_size)
    return y_true, class_probabilities(out)


def predict_proba(model: Any, x_or_ds: Any, batch_size: int = 32) -> np.ndarray:
    """Predicted class probabilities ``(N, C)``, ``C >= 2``, for two classes as for more.

    ``model``: a Keras model or a function ``batch -> probabilities``; ``x_or_ds``:
    an array of images or a ``tf.data.Dataset`` (labels, if any, are ignored; use
    :func:`predict` to get them too).  Taught in notebooks 08, 09, 10 and 11.

    Example:
        >>> softmax3 = lambda x: np.tile([0.2, 0.3, 0.5], (len(x), 1))
        >>> predict_proba(softmax3, np.zeros((5, 8, 8, 3))).shape
        (5, 3)
        >>> predict_proba(lambda x: np.full((len(x), 1), 0.9), np.zeros((2, 8, 8, 3))).round(2)
        array([[0.1, 0.9],
               [0.1, 0.9]])
    """
    return predict(model, x_or_ds, batch_size=batch_size)[1]


def logits_output(model: keras.Model) -> Any:
    """The symbolic tensor of ``model``'s class scores (before its sigmoid/softmax).

    What :func:`logits_model` and the gradient methods of :mod:`nbhelpers.explain`
    (Grad-CAM, SHAP) differentiate.  The course's models have a layer ``"logits"``; a model that ends in an
    ``Activation``/``Softmax`` layer gives that layer's input; a model that ends in
    ``Dense(activation="sigmoid" | "softmax")`` gets a copy of that Dense layer without
    its activation (same weights), applied to the same input.

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
        >>> tuple(logits_output(m).shape)
        (None, 1)
    """
    import keras

    names = [layer.name for layer in model.layers]
    if "logits" in names:
        return model.get_layer("logits").output
    if not model.layers:
        raise ValueError("the model has no layers")
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    act_name = getattr(act, "__name__", str(act))
    if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and act_name in ("sigmoid", "softmax")):
        return last.input
    if isinstance(last, keras.layers.Dense) and act_name in ("sigmoid", "softmax"):
        scores = keras.layers.Dense.from_config(
            {**last.get_config(), "activation": "linear", "name": f"{last.name}_before_{act_name}"})
        out = scores(last.input)
        scores.set_weights(last.get_weights())
        return out
    raise ValueError(
        f"cannot find the class scores (logits) of model {model.name!r}: it has no layer named "
        f"'logits', and its last layer {last.name!r} ({type(last).__name__}, activation "
        f"{act_name!r}) is not a sigmoid/softmax Dense or Activation layer. Build the model "
        f"with nbh.models.build_classifier (it ends in 'logits' + 'predictions'), or end it in "
        f"Dense(units) named 'logits' followed by Activation('sigmoid' or 'softmax')."
    )


def logits_model(model: keras.Model) -> keras.Model:
    """A model from ``model``'s input to its class scores (logits), sharing its weights.

    Uses the ``"logits"`` layer of the course's models; for a model that ends in
    ``Dense(activation="sigmoid")`` (or ``"softmax"``) it applies that layer without
    its activation.  Anything else is refused with a message saying what to build.
    Used by :func:`predict_logits` (notebook 07); notebook 09 builds it to explain a class's
    score (Grad-CAM itself reads :func:`logits_output`).

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
        >>> m.layers[0].set_weights([np.array([[30.0], [0.0]]), np.zeros(1)])
        >>> x = np.array([[1.0, 0.0]])
        >>> float(m.predict(x, verbose=0)[0, 0]), float(logits_model(m).predict(x, verbose=0)[0, 0])
        (1.0, 30.0)
    """
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, logits_output(model), name=f"{model.name}_logits")


def predict_logits(
    model: keras.Model, data: Any, batch_size: int = 32
) -> tuple[np.ndarray | None, np.ndarray]:
    """The class scores before the sigmoid/softmax, with the true labels: ``(y_true, logits)``.

    ``logits`` is what the model's ``"logits"`` layer outputs (see :func:`logits_model`):
    ``(N, 1)`` for one sigmoid unit (the log-odds of class 1), ``(N, C)`` for a softmax.
    ``data`` as in :func:`predict` (labels gathered in the same pass).  What temperature
    scaling fits on (:func:`fit_temperature`).  Needs a Keras model: a plain function
    only gives probabilities (then see ``nbh.evaluate.to_logits``).  Taught in notebook 07.

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
        >>> m.layers[0].set_weights([np.array([[30.0], [-30.0]]), np.zeros(1)])
        >>> y_true, z = predict_logits(m, (np.eye(2), np.array([1, 0])))
        >>> y_true.tolist(), z.tolist()
        ([1, 0], [[30.0], [-30.0]])
    """
    if not hasattr(model, "layers"):
        raise TypeError(
            f"predict_logits needs a Keras model (it reads the model's 'logits' layer), got "
            f"{type(model).__name__}; a function that returns probabilities has no logits: use "
            f"to_logits(predict_proba(f, data)) (clipped: very confident predictions lose their rank)")
    y_true, out = _gather(logits_model(model), data, batch_size)
    return y_true, _logit_columns(out)


def _logit_columns(out: Any) -> np.ndarray:
    """A logits layer's output as ``(N, 1)`` or ``(N, C)`` float64 (as the layer gives them)."""
    out = np.asarray(out, dtype="float64")
    return out.reshape(-1, 1) if out.ndim == 1 else out


def predict_with_logits(
    model: keras.Model, data: Any, batch_size: int = 32
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """:func:`predict_logits` and :func:`predict` in one pass: ``(y_true, logits, y_prob)``.

    The logits (``(N, 1)`` or ``(N, C)``) and the probabilities (``(N, C)``, ``C >= 2``)
    come out of the same forward pass (a model with the two outputs, sharing the weights),
    so a split costs one pass over the network, not two.  Taught in notebook 07.

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="sigmoid")])
        >>> m.layers[0].set_weights([np.array([[2.0], [-2.0]]), np.zeros(1)])
        >>> y_true, z, p = predict_with_logits(m, (np.eye(2), np.array([1, 0])))
        >>> y_true.tolist(), z.tolist(), p.round(3).tolist()
        ([1, 0], [[2.0], [-2.0]], [[0.119, 0.881], [0.881, 0.119]])
    """
    import keras

    if not hasattr(model, "layers"):
        raise TypeError(f"predict_with_logits needs a Keras model (it reads the model's "
                        f"'logits' layer), got {type(model).__name__}")
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    both = keras.Model(inputs, [logits_output(model), model.outputs[0]],
                       name=f"{model.name}_logits_and_probabilities")
    y_true, (logits, probs) = _gather(both, data, batch_size)
    return y_true, _logit_columns(logits), class_probabilities(probs)


# ----------------------------------------------------------------- labels and confidence


def class_log_odds(logits: Any) -> np.ndarray:
    """Each class's log-odds ``log P(c) / (1 - P(c))``, ``(N, C)``, computed from logits.

    One sigmoid unit ``(N, 1)``: ``[-z, z]``.  Softmax logits ``(N, C)``:
    ``z_c - logsumexp(z_j, j != c)``, which for two classes is ``z_1 - z_0``.
    Unlike the probability it keeps moving when the model is sure: P = 1.0 in
    float32 for any log-odds above about 17, the log-odds stay 17, 30 or 80.
    What ``predict_function(model, output="log_odds")`` answers with.

    Example:
        >>> class_log_odds(np.array([[2.0]])).tolist()
        [[-2.0, 2.0]]
        >>> np.round(class_log_odds(np.array([[3.0, 1.0, 1.0]])), 3).tolist()
        [[1.307, -2.127, -2.127]]
    """
    z = np.asarray(logits, dtype="float64")
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, C), got shape {z.shape}")
    if z.shape[1] == 1:
        return np.concatenate([-z, z], axis=1)
    out = np.empty_like(z)
    for c in range(z.shape[1]):
        others = np.delete(z, c, axis=1)
        m = others.max(axis=1, keepdims=True)
        out[:, c] = z[:, c] - (m[:, 0] + np.log(np.exp(others - m).sum(axis=1)))
    return out


_FORWARD: Any = None  # weakref.WeakKeyDictionary: model -> its compiled forward pass


def forward(model: keras.Model) -> Callable[[Any], Any]:
    """``batch -> outputs`` (NumPy) through ``model`` in inference mode, compiled once per model.

    A direct call (``model(x)``) runs layer by layer and keeps every layer's
    output until it returns: ResNet50 on 64 images at 160 px left TensorFlow
    holding 5 GB (measured); the compiled graph frees each output once the next
    layer has read it (0.4 GB).  Unlike ``model.predict_on_batch`` it runs on
    one device whatever distribution strategy is in scope (``predict_on_batch``
    under ``MirroredStrategy`` returned one row per image per replica).  Used for
    cached features and the explanations' batched predictions.

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
        >>> m.layers[0].set_weights([np.array([[1.0], [2.0]])])
        >>> forward(m)(np.array([[1.0, 1.0], [0.0, 1.0]], "float32")).tolist()
        [[3.0], [2.0]]
    """
    import weakref

    import tensorflow as tf

    global _FORWARD
    if _FORWARD is None:
        _FORWARD = weakref.WeakKeyDictionary()
    step = _FORWARD.get(model)
    if step is None:
        ref = weakref.ref(model)  # the cache must not keep the model alive
        step = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True)
        _FORWARD[model] = step

    def run(batch: Any, _model: keras.Model = model) -> Any:  # holds the model while in use
        return tf.nest.map_structure(np.asarray, step(batch))

    return run


_LOGITS: Any = None  # weakref.WeakKeyDictionary: model -> its logits model


def _logits_model_of(model: keras.Model) -> keras.Model:
    """``logits_model(model)``, built once per model: a new model would be traced again."""
    import weakref

    global _LOGITS
    if _LOGITS is None:
        _LOGITS = weakref.WeakKeyDictionary()
    if model not in _LOGITS:
        _LOGITS[model] = logits_model(model)
    return _LOGITS[model]


def _batch_step(model: Any) -> Callable[[np.ndarray], Any]:
    """One batch -> the model's raw outputs, for every form of a model."""
    import keras

    if isinstance(model, keras.Model):
        return forward(model)  # traced once: no model.predict set-up per call
    if hasattr(model, "signatures") and hasattr(model, "serve") and not hasattr(model, "layers"):
        import tensorflow as tf  # what tf.saved_model.load returns: call its serving function

        return lambda batch: model.serve(tf.constant(batch))
    return lambda batch: model(batch, training=False)  # an exported model, a plain function


def predict_function(model: Any, batch_size: int = INFERENCE_BATCH_SIZE, scale: float = 1.0,
                     output: str = "probability") -> Callable[[np.ndarray], np.ndarray]:
    """A function ``images -> (N, C)`` class probabilities that runs the model in batches.

    The *batched predict function* LIME and SHAP call, and an app or an exported model
    answers through.  ``model``: a Keras model (its compiled forward pass,
    ``forward``: traced once, no ``model.predict`` set-up per call; a direct
    ``model(x)`` is slower and leaves TensorFlow holding far more memory), an exported
    model (``nbh.deploy.TFLiteModel``, ``nbh.deploy.SavedModelRunner``, the object
    ``tf.saved_model.load`` returns) or any function ``(images, training=False) ->
    outputs``.  It runs on chunks of ``batch_size``.  ``scale`` multiplies the images
    first (LIME works on images in ``[0, 1]``, the model wants ``[0, 255]``:
    ``scale=255``).  The output is ``(N, C)``, ``C >= 2``, also for a one-unit sigmoid
    model (``[1 - p, p]``): the same numbers as :func:`predict_proba`.
    ``output="log_odds"`` gives each class's log-odds instead (:func:`class_log_odds`,
    from the logits of a Keras model: they never saturate).
    Taught in ``08_explaining_with_lime``; used in 09 and 12.

    Example:
        >>> import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="logits"),
        ...                       keras.layers.Activation("sigmoid")])
        >>> m.layers[0].set_weights([np.array([[2.0], [0.0]]), np.zeros(1)])
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> predict_function(m)(x).round(3).tolist()
        [[0.119, 0.881], [0.5, 0.5]]
        >>> predict_function(m, output="log_odds")(x).round(3).tolist()
        [[-2.0, 2.0], [-0.0, 0.0]]
        >>> predict_function(lambda x, training=False: np.full((len(x), 1), 0.25))(x).tolist()
        [[0.75, 0.25], [0.75, 0.25]]
    """
    if output not in ("probability", "log_odds"):
        raise ValueError(f"output must be 'probability' or 'log_odds', not {output!r}")
    if output == "log_odds" and not hasattr(model, "layers"):
        raise TypeError(f"output='log_odds' needs a Keras model (it reads the model's 'logits' "
                        f"layer), got {type(model).__name__}")
    step = _batch_step(_logits_model_of(model) if output == "log_odds" else model)

    def predict(images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype="float32")
        if scale != 1.0:
            x = x * np.float32(scale)
        outs = np.concatenate([np.asarray(step(x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)], axis=0)
        return class_log_odds(outs) if output == "log_odds" else class_probabilities(outs)

    return predict
