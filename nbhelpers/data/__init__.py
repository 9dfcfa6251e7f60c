"""Data: a registry of data sets, download + cache, validation, splits, tf.data pipelines.

Taught in ``03_preparing_the_data``.  The way through is one direction, one module per step
(the names below are also ``nbh.data.<name>``, but for :func:`~nbhelpers.data.files.inspect`):

===============  ========================================================================
module           owns
===============  ========================================================================
``sources``      **where the files come from**: :data:`REGISTRY` names each data set
                 once (URL, SHA-256, layout, licence); :func:`fetch` downloads an archive
                 into ``cfg.cache_dir`` with ``keras.utils.get_file`` (or reuses it);
                 :func:`resolve_source`, :func:`check_source`
``faces``        the offline profile's data set: :func:`write_faces` writes
                 scikit-image's bundled faces as PNG files
``archives``     archives unpacked once, whole or not at all (downloads and your ``.zip``)
``layout``       **your folder's shape**: :func:`folder_layout` -- one folder per class,
                 already split (``train/``, ``val/``, ``test/``), an archive, a wrapper
``files``        **one file**: what it is (:func:`~nbhelpers.data.files.inspect`: HEIC,
                 EXIF rotation, truncated, not an image, ...), its upright RGB copy, and
                 reading it (:func:`read_image`, :func:`decode_and_resize`,
                 :func:`load_image_file`)
``scanning``     **are they usable**: :func:`scan` checks every file of a folder (links,
                 hidden files and OS clutter too) and returns a :class:`ValidationReport`
``scan_cache``   the scan's cache: a file unchanged since the last scan is not opened again
``splits``       **which image goes where**: counting (:func:`class_counts`), the
                 stratified, seeded :func:`split_files` and :func:`stratified_sample`,
                 :func:`check_splits`, and the :func:`fingerprint` of a split
``preparation``  :func:`prepare`: the steps above, from a source to a :class:`Prepared`
                 (one function per folder shape)
``resizing``     **a photo made square**: :func:`resize` by squashing, cropping the centre
                 or padding (:data:`RESIZE_POLICIES`, the course's :data:`DEFAULT_RESIZE`)
``pipeline``     **tensors**: :func:`dataset` / :func:`make_datasets` (``tf.data``),
                 :func:`augmentation`, :func:`load_split`, :func:`throughput`; a
                 pipeline's :class:`SplitIdentity` (what the feature cache keys on)
``errors``       :class:`DataError` and the refusals of :func:`prepare`, each saying what
                 to do
===============  ========================================================================

In words: :func:`scan` opens every file with PIL (verify, then decode) and
returns one row per file, by path, saying what is wrong and what happens to
it.  Skipped: corrupt, truncated, empty, unreadable and non-image files, hidden
files and OS clutter, broken or looping links and links to folders,
duplicates, and *label conflicts* (the same image in two classes: no copy is
kept).  Converted to RGB (read through a PNG copy when TensorFlow cannot
decode them itself): grayscale, RGBA, CMYK, palette and 16-bit images, TIFF,
WebP, animations, EXIF-rotated photos.  Kept with a warning: misnamed files
and images too small to be useful.  :func:`prepare` turns the usable files
into stratified, seeded train / validation / test lists and refuses, with a
message saying what to do, when a folder is missing, there are fewer than two
classes, a class is empty, a class is too small to split, or the same image
would land in two splits.  :func:`make_datasets` builds the ``tf.data``
pipelines: parallel decoding, resizing to ``cfg.image_size`` (squashed, unless a
``resize_policy=`` says crop or pad), a cache of the
decoded images *before* any random augmentation, batching and prefetching.

Your own images: ``prepare(cfg, "path/to/folder")``, or set ``NBH_DATA_SOURCE`` to the
folder so that every notebook's ``prepare(cfg)`` reads it instead of the profile's data set.

Images leave this package as float32 RGB in ``[0, 255]``.  The backbone's own
preprocessing (VGG16: RGB -> BGR and ImageNet mean subtraction) is *not* done
here: it is the first layer of the model (``nbhelpers.models``, layer
``"preprocess"``), so that a saved model carries it and nobody applies it twice.
"""

from __future__ import annotations

from ..artifacts import file_hash
from .archives import ARCHIVE_EXTENSIONS, MAX_EXPANSION
from .errors import (
    ChecksumError,
    DataError,
    DownloadError,
    DuplicateImageError,
    EmptyClassError,
    MissingFolderError,
    TooFewClassesError,
    TooFewImagesError,
)
from .faces import write_faces
from .files import (
    SUPPORTED_EXTENSIONS,
    SUPPORTED_FORMATS,
    NotAnImageError,
    decode_and_resize,
    load_image_file,
    read_image,
)
from .layout import SPLIT_FOLDER_NAMES, Layout, folder_layout
from .pipeline import (
    SplitIdentity,
    augmentation,
    dataset,
    load_split,
    make_datasets,
    throughput,
)
from .preparation import Prepared, prepare
from .resizing import DEFAULT_RESIZE, MEAN_RGB, RESIZE_POLICIES, resize
from .scanning import MIN_SIDE, ValidationReport, min_useful_side, scan
from .sources import REGISTRY, DataSource, check_source, fetch, register, resolve_source
from .splits import (
    Item,
    check_splits,
    class_counts,
    digest,
    entry_name,
    fingerprint,
    imbalance_ratio,
    labels_of,
    sample_sizes,
    sort_items,
    split_files,
    stratified_sample,
)

__all__ = [
    "NotAnImageError",
    "load_image_file",
    "REGISTRY",
    "DataSource",
    "register",
    "fetch",
    "write_faces",
    "scan",
    "ValidationReport",
    "Prepared",
    "prepare",
    "DEFAULT_RESIZE",
    "MEAN_RGB",
    "RESIZE_POLICIES",
    "resize",
    "resolve_source",
    "folder_layout",
    "Layout",
    "SPLIT_FOLDER_NAMES",
    "ARCHIVE_EXTENSIONS",
    "MAX_EXPANSION",
    "split_files",
    "stratified_sample",
    "sample_sizes",
    "check_splits",
    "make_datasets",
    "SplitIdentity",
    "dataset",
    "throughput",
    "load_split",
    "decode_and_resize",
    "augmentation",
    "read_image",
    "file_hash",
    "check_source",
    "fingerprint",
    "entry_name",
    "sort_items",
    "digest",
    "min_useful_side",
    "MIN_SIDE",
    "Item",
    "labels_of",
    "class_counts",
    "imbalance_ratio",
    "DataError",
    "MissingFolderError",
    "TooFewClassesError",
    "EmptyClassError",
    "TooFewImagesError",
    "DuplicateImageError",
    "DownloadError",
    "ChecksumError",
    "SUPPORTED_EXTENSIONS",
    "SUPPORTED_FORMATS",
]
