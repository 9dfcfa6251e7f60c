"""The whole ImageNet classifier (1000 classes), and naming its answers offline.

:func:`load_imagenet_classifier` builds a backbone with its ImageNet top, flat, its
``Preprocess`` layer first.  VGG16's dense top (124 M weights) is drawn or read a
slice of rows at a time (:func:`load_h5_in_slices`), so building it costs its own
size in memory and no more.  :func:`decode_predictions` names the top classes from
the class index that ships inside nbhelpers (:func:`imagenet_class_index`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import config
from .backbones import backbone_spec
from .loading import require_weights, weighted_layers
from .preprocessing import Preprocess


def load_imagenet_classifier(name: str = "vgg16", weights: str | Path | None = "imagenet"
                             ) -> keras.Model:
    """The whole ImageNet model (``include_top=True``, 224 x 224 px, 1000 classes), flat.

    Like :func:`load_backbone` it takes raw RGB in ``[0, 255]`` and starts
    with the ``"preprocess"`` layer; offline, ``"imagenet"`` fails at once
    naming the file.  ``weights=None`` gives the same model untrained (the
    offline profile); a path loads that weights file.  VGG16's dense top
    (124 M weights) is filled a slice of rows at a time, so building it costs
    its own size in memory and no more (Keras' whole-matrix initialisation
    and loading peak near four times that: over Binder's 2 GB).  Used in
    ``02_inside_vgg16``.

    Example:
        >>> load_imagenet_classifier("mobilenetv2", weights=None).output.shape
        (None, 1000)
    """
    spec = backbone_spec(name)
    if weights == "imagenet":
        require_weights(spec.top_weights_file, spec.top_weights_url, spec.name)
    inputs = keras.Input(shape=(224, 224, 3), name="image")
    x = Preprocess(spec.preprocessing, name="preprocess")(inputs)
    if not spec.dense_top:
        app = spec.application()(include_top=True, weights=weights, input_tensor=x)
        return keras.Model(inputs, app.output, name=f"{spec.name}_imagenet")
    base = spec.application()(include_top=False, weights=None, input_tensor=x)
    # Keras' own top and layer names, created with zeros (no whole-matrix random draw)
    dense = [keras.layers.Dense(units, activation="relu", name=f"fc{i}", kernel_initializer="zeros")
             for i, units in enumerate(spec.dense_top, start=1)]
    dense.append(keras.layers.Dense(1000, activation="softmax", name="predictions",
                                    kernel_initializer="zeros", dtype="float32"))
    y = keras.layers.Flatten(name="flatten")(base.output)
    for layer in dense:
        y = layer(y)
    model = keras.Model(inputs, y, name=f"{spec.name}_imagenet")
    if weights is None:
        _glorot_in_slices(dense)
        return _predicts_through_xla(model)
    path = (keras.utils.get_file(spec.top_weights_file, spec.top_weights_url,
                                 cache_subdir="models", file_hash=spec.top_weights_md5)
            if weights == "imagenet" else str(Path(weights).expanduser()))
    if not Path(path).is_file():
        raise FileNotFoundError(f"No weights file at {path}: pass weights='imagenet', None "
                                f"or the path of {spec.top_weights_file}.")
    load_h5_in_slices(model, path)
    return _predicts_through_xla(model)


def _predicts_through_xla(model: keras.Model) -> keras.Model:
    """Compile ``model`` so that ``predict`` runs through XLA.

    TensorFlow's oneDNN matrix product keeps a reordered copy of a large Dense
    kernel after the first call (VGG16's fc1: about 400 MB more, measured);
    XLA's does not, and predicts as fast on a CPU.
    """
    model.compile(jit_compile=True)
    return model


#: Rows of a weight matrix read or drawn at a time (VGG16's fc1: 2048 rows = 32 MiB).
SLICE_ROWS = 2048


def _assign_rows(variable: Any, start: int, rows: Any) -> None:
    """``variable[start:start + len(rows)] = rows`` in place (TensorFlow's scatter update).

    Slice assignment (``v[a:b].assign``) first reads the whole variable, and the
    read makes TensorFlow copy the whole matrix before writing into it.
    """
    import tensorflow as tf

    variable.value.scatter_update(tf.IndexedSlices(rows, tf.range(start, start + len(rows))))


def _glorot_in_slices(layers: Sequence[keras.layers.Layer], rows: int = SLICE_ROWS) -> None:
    """Dense layers' default kernels (Glorot-uniform, Keras' default), drawn ``rows`` at a time.

    ``keras.utils.set_random_seed`` makes the draw repeatable.
    """
    seed = keras.random.SeedGenerator()
    for layer in layers:
        fan_in, fan_out = layer.kernel.shape
        limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
        for start in range(0, fan_in, rows):
            part = (min(rows, fan_in - start), fan_out)
            _assign_rows(layer.kernel, start, keras.random.uniform(
                part, -limit, limit, dtype=layer.kernel.dtype, seed=seed))


def load_h5_in_slices(model: keras.Model, path: str | Path, rows: int = SLICE_ROWS) -> None:
    """Load a Keras ImageNet ``.h5`` file (the legacy layout) into ``model``, rows at a time.

    What ``model.load_weights(path)`` does for these files (layers with weights
    matched in order, each layer's weights in the file's order), but each
    matrix is read from the file and assigned ``rows`` rows at a time, so the
    only memory it needs beyond the model is one slice.  Raises ``ValueError``
    naming the file and the layer when the file does not fit the model.

    Example:
        >>> import tempfile, h5py
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> path = Path(tempfile.mkdtemp()) / "w.h5"
        >>> with h5py.File(path, "w") as f:
        ...     f.attrs["layer_names"] = [b"d"]
        ...     g = f.create_group("d"); g.attrs["weight_names"] = [b"d_W:0", b"d_b:0"]
        ...     _ = g.create_dataset("d_W:0", data=np.ones((3, 2))); _ = g.create_dataset("d_b:0", data=[5., 6.])
        >>> load_h5_in_slices(m, path, rows=2)
        >>> m.predict(np.ones((1, 3)), verbose=0).tolist()
        [[8.0, 9.0]]
    """
    import h5py

    def text(value: Any) -> str:
        return value.decode("utf8") if isinstance(value, bytes) else str(value)

    layers = weighted_layers(model)
    with h5py.File(path, "r") as f:
        if "layer_names" not in f.attrs:
            raise ValueError(f"{path} is not a Keras weights file in the .h5 layout "
                             f"(no layer_names): load it with model.load_weights instead.")
        groups = [f[text(n)] for n in f.attrs["layer_names"]]
        groups = [g for g in groups if len(g.attrs.get("weight_names", []))]
        if len(groups) != len(layers):
            raise ValueError(f"{path} holds weights for {len(groups)} layers; {model.name} has "
                             f"{len(layers)} layers with weights. Is it the file of another model?")
        for layer, group in zip(layers, groups, strict=True):
            datasets = [group[text(n)] for n in group.attrs["weight_names"]]
            variables = layer.trainable_weights + layer.non_trainable_weights  # legacy order
            shapes = [tuple(d.shape) for d in datasets]
            if shapes != [tuple(v.shape) for v in variables]:
                raise ValueError(f"{path}: the weights stored for layer {group.name.strip('/')!r} "
                                 f"have shapes {shapes}, layer {layer.name!r} needs "
                                 f"{[tuple(v.shape) for v in variables]}.")
            for variable, data in zip(variables, datasets, strict=True):
                if not variable.shape:
                    variable.assign(data[()])
                    continue
                for start in range(0, data.shape[0], rows):
                    stop = min(start + rows, data.shape[0])
                    _assign_rows(variable, start, data[start:stop].astype(variable.dtype))


_CLASS_INDEX_FILE = "imagenet_class_index.json"


def imagenet_class_index() -> dict[int, tuple[str, str]]:
    """ImageNet's 1000 classes: ``{index: (wordnet_id, name)}``, without a download.

    nbhelpers ships ``resources/imagenet_class_index.json`` (the file Keras'
    ``decode_predictions`` downloads), so this works offline and on Colab; the
    data folder and the Keras cache are looked in too, and Keras downloads it
    as a last resort.

    Example:
        >>> imagenet_class_index()[281]
        ('n02123045', 'tabby')
    """
    import json

    here = Path(__file__).resolve().parent.parent / "resources" / _CLASS_INDEX_FILE
    for path in (here, config.data_dir() / _CLASS_INDEX_FILE,
                 config.keras_cache_dir() / _CLASS_INDEX_FILE):
        if path.is_file():
            break
    else:
        path = Path(keras.utils.get_file(
            _CLASS_INDEX_FILE,
            "https://storage.googleapis.com/download.tensorflow.org/data/" + _CLASS_INDEX_FILE,
            cache_subdir="models",
        ))
    raw = json.loads(path.read_text())
    return {int(k): (v[0], v[1]) for k, v in raw.items()}


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top-``top`` ImageNet classes per image: ``[(wordnet_id, name, probability), ...]``.

    What ``keras.applications.vgg16.decode_predictions`` returns, but offline
    (it downloads the class index).  Taught in ``02_inside_vgg16``.

    Example:
        >>> p = np.zeros((1, 1000)); p[0, 281] = 0.9; p[0, 285] = 0.1
        >>> decode_predictions(p, top=2)[0]
        [('n02123045', 'tabby', 0.9), ('n02124075', 'Egyptian_cat', 0.1)]
    """
    probs = np.asarray(preds)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        raise ValueError(f"expected predictions of shape (N, 1000), got {probs.shape}")
    index = imagenet_class_index()
    out = []
    for row in probs:
        best = np.argsort(row)[::-1][:top]
        out.append([(*index[int(i)], float(row[i])) for i in best])
    return out
