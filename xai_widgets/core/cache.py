"""Results cached on disk: content keys (model, dataset, settings) and ``.npz`` files without pickles.

A cached result is named by a hash of what it depends on: the model's class and ``state_dict``
bytes (:func:`model_hash`), the settings, and the dataset, by a name the user gives
(``dataset_key``) or else by a fingerprint of its length and first and last few items
(:func:`dataset_fingerprint`). Files are written atomically and read with ``allow_pickle=False``;
an unreadable file is ignored with a warning (the result is then recomputed). The folder is
``cache_dir``, else ``$XAI_WIDGETS_CACHE``, else ``~/.cache/xai_widgets`` (:func:`cache_root`).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import nn

__all__ = ["FINGERPRINT_ITEMS", "hash_value", "dataset_fingerprint", "model_hash", "cache_root", "dataset_part",
           "cache_path", "save_npz", "load_npz"]

FINGERPRINT_ITEMS = 3  # items hashed at each end of a dataset without a dataset_key


def hash_value(h, obj) -> None:
    """Feed an item (tensor, array, PIL image, tuple or list of them, or anything with a repr) into a hash by content.

    Parameters
    ----------
    h : hashlib hash object
        Updated in place.
    obj : object
        Tensors and arrays are hashed by shape, dtype and bytes; PIL images by mode, size and
        bytes; tuples and lists item by item; anything else by its ``repr``.
    """
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu()
        h.update(f"tensor{tuple(obj.shape)}{obj.dtype}".encode())
        h.update(obj.contiguous().reshape(-1).view(torch.uint8).numpy())  # a view: no copy
    elif isinstance(obj, np.ndarray):
        h.update(f"array{obj.shape}{obj.dtype}".encode())
        h.update(np.ascontiguousarray(obj).reshape(-1).view(np.uint8))
    elif isinstance(obj, Image.Image):
        h.update(f"pil{obj.mode}{obj.size}".encode())
        h.update(obj.tobytes())
    elif isinstance(obj, (tuple, list)):
        h.update(f"seq{len(obj)}".encode())
        for part in obj:
            hash_value(h, part)
    else:
        h.update(repr(obj).encode())


def dataset_fingerprint(dataset) -> str | None:
    """A hash of a dataset's type, length and first and last :data:`FINGERPRINT_ITEMS` items.

    A DataLoader is fingerprinted by its dataset plus its batch size, ``drop_last`` and sampler
    type. The fingerprint does not notice a change in the middle of the dataset.

    Parameters
    ----------
    dataset : sized and indexable object or torch.utils.data.DataLoader
        A list, tensor, map-style Dataset, or a DataLoader over one.

    Returns
    -------
    str or None
        The hex digest, or None when the dataset has no ``len`` and indexing (a generator, an
        iterable dataset), so that it cannot be read cheaply.
    """
    loader = isinstance(dataset, torch.utils.data.DataLoader)
    source = dataset.dataset if loader else dataset
    if not (hasattr(source, "__len__") and hasattr(source, "__getitem__")):
        return None
    try:
        n = len(source)
    except TypeError:
        return None
    h = hashlib.sha256(f"{type(source).__qualname__}:{n}".encode())
    picked = sorted(set(range(min(n, FINGERPRINT_ITEMS))) | set(range(max(0, n - FINGERPRINT_ITEMS), n)))
    try:
        for i in picked:
            hash_value(h, source[i])
    except (NotImplementedError, IndexError, KeyError, TypeError):
        return None  # not indexable after all (e.g. an IterableDataset with a len)
    if loader:
        h.update(f"loader{dataset.batch_size}{dataset.drop_last}{type(dataset.sampler).__name__}".encode())
    return h.hexdigest()


def model_hash(model: nn.Module) -> str:
    """A hash of the model's class name and every ``state_dict`` entry (name, shape, dtype, bytes).

    Parameters
    ----------
    model : torch.nn.Module
        The model (read only).

    Returns
    -------
    str
        The hex digest: any change of a weight or buffer changes it; the device does not.
    """
    h = hashlib.sha256(type(model).__qualname__.encode())
    for name, value in model.state_dict().items():
        h.update(name.encode())
        hash_value(h, value)
    return h.hexdigest()


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder.

    Parameters
    ----------
    cache_dir : str, pathlib.Path or None, default None
        The folder; None: ``$XAI_WIDGETS_CACHE``, else ``~/.cache/xai_widgets``.

    Returns
    -------
    pathlib.Path
    """
    return Path(cache_dir or os.environ.get("XAI_WIDGETS_CACHE") or Path.home() / ".cache" / "xai_widgets")


def dataset_part(dataset, dataset_key: str | None) -> str | None:
    """The dataset's part of a cache key: ``"key:<dataset_key>"``, else its :func:`dataset_fingerprint`.

    Parameters
    ----------
    dataset : object
        The dataset.
    dataset_key : str or None
        Names the dataset instead of its fingerprint.

    Returns
    -------
    str or None
        None when the dataset has neither a key nor a fingerprint (then it is not cached).
    """
    return f"key:{dataset_key}" if dataset_key is not None else dataset_fingerprint(dataset)


def cache_path(kind: str, parts: list, cache_dir: str | Path | None = None) -> Path:
    """The ``.npz`` file of one result: ``<root>/<kind>-<hash of parts>.npz``.

    Parameters
    ----------
    kind : str
        What is cached ("scan", "patterns"): the file name's prefix.
    parts : list
        JSON-serialisable key parts: a format version, :func:`model_hash`, the settings and
        :func:`dataset_part`.
    cache_dir : str, pathlib.Path or None, default None
        See :func:`cache_root`.

    Returns
    -------
    pathlib.Path
    """
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]
    return cache_root(cache_dir) / f"{kind}-{key}.npz"


def save_npz(path: Path, arrays: dict, what: str) -> None:
    """Write arrays to ``path`` atomically (readers never see half a file); warn, not raise, on failure.

    Parameters
    ----------
    path : pathlib.Path
        The ``.npz`` file; its folder is created.
    arrays : dict of str to numpy.ndarray
        Plain (non-object) arrays.
    what : str
        Named in the warning ("scan", "patterns").
    """
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        warnings.warn(f"could not write the {what} cache {path}: {exc}", stacklevel=3)
        tmp.unlink(missing_ok=True)


def load_npz(path: Path | None, build: Callable, what: str):
    """``build(npz)`` of the cached file, or None when there is none or it is unreadable (with a warning).

    Parameters
    ----------
    path : pathlib.Path or None
        The ``.npz`` file (None: no cache).
    build : callable
        Makes the result from the open ``numpy.lib.npyio.NpzFile`` (read with ``allow_pickle=False``).
    what : str
        Named in the warning ("scan", "patterns").

    Returns
    -------
    object or None
        The result, or None (to be recomputed).
    """
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return build(f)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"ignoring unreadable {what} cache {path}: {exc}", stacklevel=3)
        return None
