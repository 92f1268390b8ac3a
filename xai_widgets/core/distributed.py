"""Dataset passes on Ray: the dataset cut into shards, each shard processed by a Ray worker on its
own device, the partial results (:mod:`xai_widgets.core.partials`, and the scans' own in
:mod:`xai_widgets.units.partials`) merged in dataset order by the caller. Used by the dataset
scans and Network Dissection (:mod:`xai_widgets.units.scan`), Net2Vec's probe
(:mod:`xai_widgets.concepts.net2vec`) and the dataset metrics
(:mod:`xai_widgets.attribution.dataset_metrics`).

Ray (Moritz, Nishihara, Wang et al., "Ray: A Distributed Framework for Emerging AI
Applications", OSDI 2018) runs the shards as tasks. Ray is imported here only, and only when a
scan asks for it (``engine="ray"`` or a ``ray.data.Dataset``); ``pip install "xai_widgets[ray]"``.

* Cluster: an already initialised Ray is used (``ray.init(address="ray://...")`` or
  ``ray.init(address="auto")`` before the scan); otherwise the scan calls ``ray.init()``, which
  joins the cluster named by ``RAY_ADDRESS`` when that is set, else starts Ray on this machine.
* Shards: contiguous runs of images in the dataset's order, cut at multiples of
  ``batch_size``, so each worker forwards exactly the batches the single pass forwards and
  numbers its images globally (the first image of a shard is ``Shard.first``). ``workers``
  shards (default: one per CPU of the cluster, one per GPU when the model is on a GPU).
* Datasets: a ``ray.data.Dataset`` (materialised once; its images are numbered in the
  materialised row order, cut with ``split_at_indices``, which keeps it; rows hold an
  ``"image"`` column and optionally ``"label"``, or a single column with the image); a
  torch DataLoader with a sequential sampler (its dataset is sent once, and each worker
  reads its range with the loader's batch size and collate function); or anything with
  ``len`` and integer indexing (a list, an array, a map-style torch Dataset), sent once to
  the object store, each worker reading ``dataset[i]`` for its range.
* Model: serialised once with ``torch.save`` through Ray's cloudpickle (a class defined in a
  notebook travels by value) and loaded on each worker onto ``"cuda"`` (the GPU Ray gives
  the worker) when the model is on a GPU, else onto the CPU.
"""
from __future__ import annotations

import functools
import io
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..core import tasks
from ..core.capture import model_device

__all__ = ["ENGINES", "Shard", "engine_for", "is_ray_dataset", "require_ray", "run", "shards", "worker_device"]

ENGINES = ("local", "ray")
INSTALL = 'pip install "xai_widgets[ray]"'
_POLL_S = 0.2  # how often a waiting scan looks at its cancel flag


def is_ray_dataset(obj) -> bool:
    """Whether ``obj`` is a ``ray.data.Dataset`` (without importing Ray).

    Parameters
    ----------
    obj : object
        Anything.

    Returns
    -------
    bool
        True for a Ray Dataset.
    """
    data = sys.modules.get("ray.data")
    return data is not None and isinstance(obj, data.Dataset)


def engine_for(engine: str | None, dataset, workers: int | None) -> str:
    """The engine a scan of ``dataset`` runs on, after checking the options.

    Parameters
    ----------
    engine : {"local", "ray"} or None
        The engine asked for; None: "ray" for a ``ray.data.Dataset``, else "local".
    dataset : object
        The scan's dataset.
    workers : int or None
        Ray's number of shards, or None.

    Returns
    -------
    str
        "local" or "ray".

    Raises
    ------
    ValueError
        For an unknown engine, a Ray Dataset with ``engine="local"``, ``workers`` with the
        local engine or a ``workers`` that is not a positive int.
    """
    if engine is None:
        engine = "ray" if is_ray_dataset(dataset) else "local"
    if engine not in ENGINES:
        raise ValueError(f"engine must be 'local', 'ray' or None, got {engine!r}")
    if engine == "local" and is_ray_dataset(dataset):
        raise ValueError("a ray.data.Dataset is scanned on Ray: pass engine='ray' (or leave engine at None)")
    if workers is not None:
        if engine == "local":
            raise ValueError("workers is an option of engine='ray'; the local engine runs in this process")
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValueError(f"workers must be a positive int or None, got {workers!r}")
    return engine


def require_ray():
    """The ``ray`` module, initialised (``ray.init()`` when no cluster is connected yet).

    Returns
    -------
    module
        ``ray``.

    Raises
    ------
    ImportError
        When Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise ImportError(f'engine="ray" needs Ray, which is not installed: {INSTALL}') from None
    if not ray.is_initialized():
        ray.init()
    return ray


def worker_device(device) -> str:
    """The device a worker computes on for a model on ``device``: "cuda" (the worker's own GPU) or "cpu".

    Parameters
    ----------
    device : torch.device or str
        The model's device here.

    Returns
    -------
    str
        "cuda" or "cpu".
    """
    return "cuda" if torch.device(device).type == "cuda" else "cpu"


@dataclass
class Shard:
    """Images ``first`` to ``stop`` (exclusive) of a dataset, in its order.

    Attributes
    ----------
    first, stop : int
        Global positions of the shard's first image and one past its last.
    kind : {"ray", "loader", "items"}
        How ``source`` is read.
    source : object
        A ``ray.data.Dataset`` of the shard's rows, or an object reference to the whole
        dataset (a loader's dataset for "loader").
    batch_size : int or None
        The loader's batch size ("loader").
    loader : dict or None
        The loader's ``collate_fn`` and ``drop_last`` ("loader").
    """

    first: int
    stop: int
    kind: str
    source: Any
    batch_size: int | None = None
    loader: dict | None = None

    def data(self):
        """The shard's images: an iterator of items (image or (image, label)) or a DataLoader.

        Returns
        -------
        iterator or torch.utils.data.DataLoader
            What the worker's function reads (a dataset pass reads any of them).
        """
        if self.kind == "ray":
            return (_row_item(row) for row in self.source.iter_rows())
        import ray

        dataset = ray.get(self.source)
        if self.kind == "loader":
            subset = torch.utils.data.Subset(dataset, range(self.first, self.stop))
            return torch.utils.data.DataLoader(subset, batch_size=self.batch_size, **self.loader)
        return (dataset[i] for i in range(self.first, self.stop))


def _row_item(row):
    """A Ray Dataset row as an item: its "image" (with its "label"), or its only column."""
    if "image" in row:
        return (row["image"], row["label"]) if "label" in row else row["image"]
    if len(row) == 1:
        return next(iter(row.values()))
    raise ValueError(
        f"ray.data.Dataset rows must have an 'image' column (and optionally 'label') or a single column; "
        f"got the columns {sorted(row)}"
    )


def _ranges(n: int, workers: int, batch_size: int) -> list[tuple[int, int]]:
    """At most ``workers`` contiguous ranges covering range(n), cut at multiples of ``batch_size``."""
    batches = -(-n // batch_size)
    per = -(-batches // workers) * batch_size
    return [(a, min(n, a + per)) for a in range(0, n, per)]


def shards(dataset, workers: int | None, batch_size: int, device) -> list[Shard]:
    """``dataset`` cut into at most ``workers`` shards (see the module docstring).

    Parameters
    ----------
    dataset : ray.data.Dataset, torch.utils.data.DataLoader or sequence
        The scan's dataset.
    workers : int or None
        Number of shards; None: one per CPU of the cluster (per GPU for a model on a GPU).
    batch_size : int
        The scan's batch size (a DataLoader's own batch size is used instead).
    device : torch.device or str
        The model's device.

    Returns
    -------
    list of Shard
        Non-empty shards in dataset order (none for an empty dataset).

    Raises
    ------
    TypeError, ValueError
        For a dataset that cannot be cut by position, or a DataLoader that shuffles or samples.
    ImportError
        When Ray is not installed.
    """
    ray = require_ray()
    if workers is None:
        resource = "GPU" if worker_device(device) == "cuda" else "CPU"
        workers = max(1, int(ray.cluster_resources().get(resource, 1)))
    if is_ray_dataset(dataset):
        dataset = dataset.materialize()
        ranges = _ranges(dataset.count(), workers, batch_size)
        parts = dataset.split_at_indices([a for a, _ in ranges[1:]]) if ranges else []
        return [Shard(a, b, "ray", part) for (a, b), part in zip(ranges, parts)]
    if isinstance(dataset, torch.utils.data.DataLoader):
        if not isinstance(dataset.sampler, torch.utils.data.SequentialSampler) or dataset.batch_size is None:
            raise ValueError(
                "engine='ray' cuts a DataLoader's dataset by position: it needs an unshuffled loader "
                "(sequential sampler) with a batch_size"
            )
        ref = ray.put(dataset.dataset)
        options = {"collate_fn": dataset.collate_fn, "drop_last": dataset.drop_last}
        return [Shard(a, b, "loader", ref, dataset.batch_size, options)
                for a, b in _ranges(len(dataset.dataset), workers, dataset.batch_size)]
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")) or isinstance(dataset, (str, bytes)):
        raise TypeError(
            "engine='ray' cuts the dataset into shards by position: pass a ray.data.Dataset, an unshuffled "
            "DataLoader, or a dataset with len() and integer indexing (a list, an array, a map-style torch "
            f"Dataset); got {type(dataset).__name__}"
        )
    ref = ray.put(dataset)
    return [Shard(a, b, "items", ref) for a, b in _ranges(len(dataset), workers, batch_size)]


def run(fn: Callable, parts: list[Shard], args: tuple = (), *, model: torch.nn.Module | None = None,
        device=None, per_shard: list[tuple] | None = None, returns: int = 1, progress=None, cancel=None):
    """``fn(model, shard, *per_shard[i], *args)`` for every shard, one Ray task each, in parallel.

    Parameters
    ----------
    fn : callable
        A module-level function (Ray sends it by reference); its results are moved to the
        CPU (``.to("cpu")`` where they have it) before they travel back.
    parts : list of Shard
        The shards.
    args : tuple, default ()
        Arguments shared by every shard.
    model : torch.nn.Module or None, default None
        Sent to every worker (see the module docstring); None: ``fn`` gets None.
    device : torch.device, str or None, default None
        Where the work runs (a GPU per task for a CUDA device); default: the model's device.
    per_shard : list of tuple or None, default None
        Arguments of each shard (object references among them are resolved on the worker).
    returns : int, default 1
        1, or 2 when ``fn`` returns a pair whose first part stays in Ray's object store.
    progress : callable or None, default None
        ``progress(images done, total)`` as shards finish.
    cancel : threading.Event, callable or None, default None
        Checked while waiting; cancels the tasks left and raises ``tasks.Cancelled``.

    Returns
    -------
    list, or (list of object references, list)
        The results in shard order; with ``returns=2`` also the references of the first parts.
    """
    ray = require_ray()
    on = worker_device(model_device(model) if device is None else device)
    blob = None if model is None else ray.put(_model_bytes(model))
    task = _remote_work().options(num_cpus=1, num_gpus=1 if on == "cuda" else 0, num_returns=returns)
    refs = [task.remote(fn, blob, on, shard, args, *(per_shard[i] if per_shard else ()))
            for i, shard in enumerate(parts)]
    if returns == 1:
        return _gather(ray, refs, parts, progress, cancel)
    kept, summaries = [r[0] for r in refs], [r[1] for r in refs]
    return kept, _gather(ray, summaries, parts, progress, cancel)


@functools.cache
def _remote_work():
    import ray

    return ray.remote(_work)


def _model_bytes(model) -> bytes:
    import ray

    buffer = io.BytesIO()
    torch.save(model, buffer, pickle_module=ray.cloudpickle)
    return buffer.getvalue()


def _on_cpu(value):
    return value.to("cpu") if hasattr(value, "to") else value


def _work(fn, blob, device, shard, args, *extra):
    """A Ray task: load the model onto this worker's device, run ``fn``, results to the CPU."""
    model = None if blob is None else torch.load(io.BytesIO(blob), map_location=device, weights_only=False)
    out = fn(model, shard, *extra, *args)
    return tuple(map(_on_cpu, out)) if isinstance(out, tuple) else _on_cpu(out)


def _gather(ray, refs, parts, progress, cancel) -> list:
    sizes = {ref: shard.stop - shard.first for ref, shard in zip(refs, parts)}
    total, done, pending = sum(sizes.values()), 0, list(refs)
    try:
        while pending:
            tasks.check(cancel)
            ready, pending = ray.wait(pending, num_returns=1, timeout=_POLL_S)
            for ref in ready:
                done += sizes[ref]
                tasks.report(progress, done, total)
    except tasks.Cancelled:
        for ref in pending:
            ray.cancel(ref)
        raise
    return ray.get(refs)
