"""One attribution method scored over a dataset: the pointing game and the deletion and
insertion games of :mod:`xai_widgets.attribution.metrics`, image batch by image batch, in this
process or on Ray.

* Pointing game: Zhang et al. 2016 ("Top-down neural attention by excitation backprop",
  ECCV), TorchRay's protocol (Fong et al. 2019): a hit when the map's first maximum lies
  within ``tolerance`` pixels of the object; the mean of per-class accuracies and the hit rate.
* Deletion and insertion: Petsiuk et al. 2018 ("RISE", BMVC, section 4.1), the area under the
  class score as the most relevant pixels are removed or revealed.

Each image batch gives one row per image (the map's point and distance to the object, both
curves and their areas, the class explained: :class:`~xai_widgets.core.partials.Rows`). Rows
merge by concatenation in dataset order, and the dataset's numbers (mean areas, hit rates,
per-class accuracies) are computed once from all rows. With ``engine="ray"``
(:mod:`xai_widgets.core.distributed`) the dataset is cut into shards at multiples of
``batch_size``, so every image goes through the same batch as in one process: on the same
kind of device the rows, and so every number, equal the single process's exactly.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..core import distributed
from ..core.capture import model_device
from ..core.images import to_batch
from ..core.partials import Rows
from ..core.tasks import check, report
from .methods import attribute
from .metrics import Curve, PointingGame, deletion_curve, pointing_game

__all__ = ["DatasetMetrics", "evaluate"]

MODES = ("deletion", "insertion")


@dataclass
class DatasetMetrics:
    """What :func:`evaluate` found: one method's scores over a dataset.

    Attributes
    ----------
    method : str
        The method scored.
    deletion, insertion : Curve
        Every image's curve (``.mean_area`` is the dataset's area).
    pointing : PointingGame or None
        Every image's point and distance, scored at the tolerance asked for (None without masks).
    """

    method: str
    deletion: Curve
    insertion: Curve
    pointing: PointingGame | None

    @property
    def n_images(self) -> int:
        """How many images were scored."""
        return len(self.deletion.area)

    def summary(self) -> dict[str, float]:
        """The dataset's numbers.

        Returns
        -------
        dict of str to float
            ``deletion_area`` and ``insertion_area`` (means over images), and with masks
            ``pointing`` (mean of per-class accuracies) and ``pointing_hit_rate`` (per image).
        """
        out = {"deletion_area": self.deletion.mean_area, "insertion_area": self.insertion.mean_area}
        if self.pointing is not None:
            out.update(pointing=self.pointing.mean_accuracy, pointing_hit_rate=self.pointing.hit_rate)
        return out


def evaluate(model, dataset, method: str = "gradient", *, masks=None, target="label", tolerance: float = 15,
             steps: int = 20, baseline="blur", score: str = "probability", blur_sigma: float = 10.0,
             batch_size: int = 16, curve_batch: int = 64, preprocess: Callable | None = None,
             options: dict | None = None, engine: str | None = None, workers: int | None = None,
             progress=None, cancel=None) -> DatasetMetrics:
    """Score ``method``'s maps over ``dataset``: pointing game, deletion and insertion.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning logits (left exactly as given).
    dataset : sequence
        Items that are an image or an ``(image, label)`` pair, with ``len`` and integer indexing
        (a list, an array, a map-style torch Dataset, ``xw.demo.shapes_dataset(...)``), or a
        ``ray.data.Dataset`` (Ray only).
    method : str, default "gradient"
        A method of :func:`xai_widgets.attribution.methods.attribute`.
    masks : N x H x W bool array or None, default None
        Each image's object pixels, at the maps' resolution (the model input's); None: no
        pointing game.
    target : "label", None or int, default "label"
        The class explained and followed by the curves: each item's label, the model's
        prediction, or one class for all.
    tolerance : float, default 15
        The pointing game's hit distance in pixels.
    steps : int, default 20
        Steps of the deletion and insertion curves.
    baseline : str, number or tensor, default "blur"
        What removed pixels become (:func:`xai_widgets.attribution.metrics.deletion_curve`).
    score : {"probability", "logit"}, default "probability"
        The score followed.
    blur_sigma : float, default 10.0
        Sigma of the "blur" baseline in pixels.
    batch_size : int, default 16
        Images per attribution batch (and the unit Ray's shards are cut at).
    curve_batch : int, default 64
        Perturbed images per forward of the curves.
    preprocess : callable or None, default None
        PIL image -> model input, as elsewhere.
    options : dict or None, default None
        The method's options.
    engine : {"local", "ray"} or None, default None
        Where the batches run; None: "ray" for a ``ray.data.Dataset``, else "local".
    workers : int or None, default None
        Ray's number of shards (default one per CPU of the cluster, per GPU for a model on a GPU).
    progress : callable or None, default None
        ``progress(images done, total)``.
    cancel : threading.Event, callable or None, default None
        Stops the work with :class:`xai_widgets.core.tasks.Cancelled`.

    Returns
    -------
    DatasetMetrics
        Every image's curves and point, and the dataset's numbers (:meth:`DatasetMetrics.summary`).

    Raises
    ------
    ValueError
        For an empty dataset, masks that do not match it, ``target="label"`` on items without
        labels, a bad engine, ``workers`` or ``batch_size``, or what the metrics refuse.
    TypeError
        For a dataset without ``len`` and indexing (a DataLoader: pass its dataset).
    ImportError
        If ``engine="ray"`` and Ray is not installed.
    """
    engine = distributed.engine_for(engine, dataset, workers)
    if isinstance(dataset, torch.utils.data.DataLoader) or not (
            distributed.is_ray_dataset(dataset) or hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"dataset must be a sequence of images or (image, label) items with len() and indexing "
                        f"(for a DataLoader, pass its dataset); got {type(dataset).__name__}")
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not (target is None or target == "label" or isinstance(target, (int, np.integer))):
        raise ValueError(f"target must be 'label', None (the prediction) or a class index, got {target!r}")
    masks = None if masks is None else np.asarray(masks, bool)
    settings = (method, dict(options or {}), target, tolerance, steps, baseline, score, blur_sigma, curve_batch,
                preprocess, int(batch_size))
    if engine == "ray":
        shards = distributed.shards(dataset, workers, batch_size, model_device(model))
        _check_masks(masks, shards[-1].stop if shards else 0)
        parts = distributed.run(_shard_rows, shards, settings, model=model, progress=progress, cancel=cancel,
                                per_shard=[(None if masks is None else masks[s.first:s.stop],) for s in shards])
    else:
        _check_masks(masks, len(dataset))

        def counted(done, _total):
            report(progress, done, len(dataset))

        parts = [_rows(model, iter(dataset[i] for i in range(len(dataset))), 0, masks, *settings, counted, cancel)]
    rows = functools.reduce(Rows.merge, [p for p, _ in parts]) if parts else None
    if rows is None or rows.stop == rows.first:
        raise ValueError("the dataset is empty: it has no images")
    return _result(rows.columns, parts[0][1], method, tolerance, score)


def _check_masks(masks, n: int) -> None:
    if masks is not None and (masks.ndim != 3 or len(masks) != n):
        raise ValueError(f"masks must be N x H x W with one mask per image ({n}), got shape {masks.shape}")


def _items(items) -> tuple[list, list | None]:
    """Images and labels (None when the items have none) of a batch of items."""
    pairs = [isinstance(it, tuple) and len(it) == 2 for it in items]
    if any(pairs) and not all(pairs):
        raise ValueError("some items are (image, label) pairs and some are not: give every image a label or none")
    if not all(pairs):
        return list(items), None
    return [im for im, _ in items], [int(y) for _, y in items]


def _rows(model, items, first, masks, method, options, target, tolerance, steps, baseline, score, blur_sigma,
          curve_batch, preprocess, batch_size, progress=None, cancel=None) -> tuple[Rows, dict]:
    """Rows of the items from position ``first`` on, ``batch_size`` images at a time."""
    parts, info, done = [], {}, first
    while True:
        check(cancel)
        batch = [it for _, it in zip(range(batch_size), items)]
        if not batch:
            break
        images, labels = _items(batch)
        if target == "label" and labels is None:
            raise ValueError("target='label' needs (image, label) items; pass target=None to explain the prediction")
        x = to_batch(images, model, preprocess)
        explained = torch.tensor(labels) if target == "label" else target
        explanation = attribute(model, x, method, target=explained, **options)
        maps, explained = explanation.maps.detach().float().cpu(), explanation.target.cpu()
        columns = {"target": explained.numpy()}
        for mode in MODES:
            curve = deletion_curve(model, x, maps, explained, mode=mode, steps=steps, baseline=baseline, score=score,
                                   blur_sigma=blur_sigma, batch_size=curve_batch)
            columns[f"{mode}_scores"], columns[f"{mode}_area"] = curve.scores, curve.area
            info = {"fractions": curve.fractions, "baseline": curve.baseline}
        if masks is not None:
            grouped = np.asarray(labels) if labels is not None else explained.numpy()
            game = pointing_game(maps, masks[done - first:done - first + len(x)], grouped, tolerance=tolerance)
            columns.update(points=game.points, distances=game.distances, labels=game.labels)
        parts.append(Rows(done, columns))
        done += len(x)
        report(progress, done, None)
    return (functools.reduce(Rows.merge, parts) if parts else Rows(first, {})), info


def _shard_rows(model, shard, masks, *settings) -> tuple[Rows, dict]:
    """A Ray worker's rows of its shard."""
    return _rows(model, iter(shard.data()), shard.first, masks, *settings)


def _result(columns: dict, info: dict, method: str, tolerance: float, score: str) -> DatasetMetrics:
    curves = [Curve(mode=mode, fractions=info["fractions"], scores=columns[f"{mode}_scores"],
                    area=columns[f"{mode}_area"], target=columns["target"], score=score, baseline=info["baseline"])
              for mode in MODES]
    pointing = None
    if "points" in columns:
        unscored = PointingGame(hits=np.zeros(0, bool), points=columns["points"], distances=columns["distances"],
                                labels=columns["labels"], tolerance=float(tolerance))
        pointing = unscored.at(tolerance)
    return DatasetMetrics(method, *curves, pointing)
