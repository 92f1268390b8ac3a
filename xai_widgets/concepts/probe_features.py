"""The dataset pass of Net2Vec's probes: each filter's top-quantile threshold T_k over the probe
set, the binarised maps [A_k > T_k], the best single filters' IoU counts and (for the
classification probe) the channel means, in this process or on Ray.

Fong and Vedaldi, "Net2Vec: Quantifying and Explaining how Concepts are Encoded by Filters in
Deep Neural Networks", CVPR 2018, section 3.1: T_k is the level exceeded by ``quantile`` of all
of filter k's activations over the probe set (Network Dissection's threshold, Bau et al., CVPR
2017, section 3.1), and a single filter is scored by the set IoU of its binary map upsampled
bilinearly to the masks' resolution (> 0.5).

Everything here merges exactly (:mod:`xai_widgets.core.partials`): the threshold is the m-th
largest value, found from each shard's m largest (:class:`~xai_widgets.core.partials.TopValues`),
and the IoU counts are int64 sums (:class:`~xai_widgets.core.partials.IoUCounts`). With
``engine="ray"`` (:mod:`xai_widgets.core.distributed`) the probe images are cut into shards at
multiples of ``batch_size``, so each worker forwards the batches one process forwards: on the
same kind of device the thresholds, binary maps and counts are those of one process, and so
is the probe trained on them.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core import distributed
from ..core.capture import capture_maps, model_device
from ..core.images import to_batch
from ..core.partials import IoUCounts, TopValues

__all__ = ["ProbeFeatures", "probe_features", "layer_acts", "above_count", "best_single"]


@dataclass
class ProbeFeatures:
    """What Net2Vec's probes read of the probe set.

    Attributes
    ----------
    thresholds : torch.Tensor or None
        Segmentation: per filter, T_k (float32, C).
    binary : torch.Tensor or None
        Segmentation: N x C x h x w bool, [A_k > T_k] at the layer's resolution.
    single : IoUCounts or None
        Segmentation: filters x concepts counts of the upsampled binary maps (> 0.5) against
        the masks, over the held-out images.
    means : torch.Tensor or None
        Classification: N x C float32 channel means.
    """

    thresholds: torch.Tensor | None = None
    binary: torch.Tensor | None = None
    single: IoUCounts | None = None
    means: torch.Tensor | None = None


def layer_acts(model, layer: str, x: torch.Tensor, batch_size: int, layouts) -> torch.Tensor:
    """``layer``'s maps of the batch ``x`` (N x C x h x w float32 on the CPU), ``batch_size`` images a forward.

    Parameters
    ----------
    model : torch.nn.Module
        The model (left as given).
    layer : str
        The layer.
    x : torch.Tensor
        N x C x H x W model inputs.
    batch_size : int
        Images per forward.
    layouts : mapping or None
        ``{layer: layout}`` when the layout is not detected.

    Returns
    -------
    torch.Tensor
        N x C x h x w float32.
    """
    return torch.cat([capture_maps(model, x[i:i + batch_size], [layer], layouts=layouts)[layer].maps.float().cpu()
                      for i in range(0, len(x), batch_size)])


def above_count(quantile: float, n_values: int) -> int:
    """m: how many of a filter's ``n_values`` activations its threshold is the m-th largest of.

    Parameters
    ----------
    quantile : float
        The top fraction (0.005 in the paper).
    n_values : int
        Activations per filter over the probe set (N h w).

    Returns
    -------
    int
        ``max(1, ceil(quantile * n_values))``.
    """
    return max(1, int(math.ceil(quantile * n_values)))


def best_single(counts: IoUCounts) -> list[tuple[int, float]]:
    """Per concept, the filter of largest set IoU and that IoU (Network Dissection's score).

    Parameters
    ----------
    counts : IoUCounts
        filters x concepts counts (:attr:`ProbeFeatures.single`).

    Returns
    -------
    list of (int, float)
        Per concept, the first filter of largest IoU and the IoU (float64).
    """
    union = counts.fired[:, None] + counts.area[None] - counts.inter
    iou = counts.inter.double() / union.clamp_min(1).double()  # filters x concepts
    best = iou.argmax(0)
    return [(int(k), float(iou[k, q])) for q, k in enumerate(best)]


def probe_features(model, layer: str, images, n: int, masks: torch.Tensor, test: torch.Tensor, *, task: str,
                   quantile: float, preprocess, batch_size: int, layouts, engine: str, workers) -> ProbeFeatures:
    """The probe set's features for Net2Vec's ``task``, in this process or on Ray.

    Parameters
    ----------
    model : torch.nn.Module
        The model (left as given).
    layer : str
        The layer probed.
    images : torch.Tensor or sequence of images
        The ``n`` probe images: the model's input batch (N x C x H x W, made with ``preprocess``)
        for the local engine; for Ray, a sequence the workers read by position and prepare.
    n : int
        Their number.
    masks : torch.Tensor or None
        concepts x N x H' x W' bool (segmentation; None for classification).
    test : torch.Tensor
        The held-out images' indices.
    task : {"segmentation", "classification"}
        The probe.
    quantile : float
        The top fraction of each filter's activations above its threshold.
    preprocess : callable or None
        PIL image -> model input (on Ray; the local batch is already prepared).
    batch_size : int
        Images per forward.
    layouts : mapping or None
        ``{layer: layout}`` when the layout is not detected.
    engine : {"local", "ray"}
        Where the pass runs.
    workers : int or None
        Ray's number of shards (None: one per CPU, or GPU for a model on a GPU).

    Returns
    -------
    ProbeFeatures
        Thresholds, binary maps and single-filter counts (segmentation) or channel means.
    """
    held_out = torch.zeros(n, dtype=torch.bool)
    held_out[test] = True
    if engine == "ray":
        return _on_ray(model, layer, images, n, masks, held_out, task, quantile, preprocess, batch_size, layouts,
                       workers)
    acts = layer_acts(model, layer, images, batch_size, layouts)
    if task == "classification":
        return ProbeFeatures(means=acts.mean((2, 3)))
    above = above_count(quantile, acts.numel() // acts.shape[1])
    t = _top_values(acts, above).threshold(above - 1)
    binary, single = _binarised(acts, t, masks[:, held_out], held_out, batch_size)
    return ProbeFeatures(t, binary, single)


def _top_values(acts: torch.Tensor, keep: int) -> TopValues:
    return TopValues.of(acts.transpose(0, 1).reshape(acts.shape[1], -1), keep)


def _binarised(acts, thresholds, masks, held_out, batch_size) -> tuple[torch.Tensor, IoUCounts]:
    """[A_k > T_k] of every image, and the single filters' counts over the held-out ones
    (``masks``: concepts x held-out images x H' x W')."""
    binary = acts > thresholds[None, :, None, None]
    held = binary[held_out]
    step = max(1, batch_size // 8)  # C upsampled maps per image: smaller batches
    parts = []
    for i in range(0, len(held), step):
        b = held[i:i + step].float()
        if tuple(b.shape[-2:]) != tuple(masks.shape[-2:]):
            b = F.interpolate(b, size=tuple(masks.shape[-2:]), mode="bilinear", align_corners=False)
        fired = (b > 0.5).float().transpose(0, 1).flatten(1)  # C x (B H' W')
        parts.append(IoUCounts.of(fired, masks[:, i:i + step].flatten(1).T.float()))
    if not parts:
        zeros = torch.zeros(acts.shape[1], len(masks), dtype=torch.int64)
        return binary, IoUCounts(zeros, zeros[:, 0], zeros[0])
    return binary, functools.reduce(IoUCounts.merge, parts)


def _on_ray(model, layer, images, n, masks, held_out, task, quantile, preprocess, batch_size, layouts, workers):
    """Round one on the workers: each shard's maps (kept in Ray's object store) and top values
    (or channel means); round two: the binary maps at the merged thresholds and their counts."""
    device = model_device(model)
    shards = distributed.shards(images, workers, batch_size, device)
    if task == "classification":
        means = distributed.run(_shard_means, shards, (layer, preprocess, batch_size, layouts), model=model)
        return ProbeFeatures(means=torch.cat(means))
    acts, tops = distributed.run(_shard_tops, shards, (layer, preprocess, batch_size, layouts, n, quantile),
                                 model=model, returns=2)
    top = functools.reduce(TopValues.merge, tops)
    above = above_count(quantile, top.n)
    t = top.threshold(above - 1)
    per_shard = [(a, masks[:, s.first:s.stop][:, held_out[s.first:s.stop]].clone(), held_out[s.first:s.stop])
                 for a, s in zip(acts, shards)]
    parts = distributed.run(_shard_binary, shards, (t, batch_size), per_shard=per_shard, device=device)
    return ProbeFeatures(t, torch.cat([b for b, _ in parts]), functools.reduce(IoUCounts.merge, [c for _, c in parts]))


def _shard_acts(model, shard, layer, preprocess, batch_size, layouts) -> torch.Tensor:
    return layer_acts(model, layer, to_batch(list(shard.data()), model, preprocess), batch_size, layouts)


def _shard_means(model, shard, layer, preprocess, batch_size, layouts) -> torch.Tensor:
    """A worker's channel means (classification probe)."""
    return _shard_acts(model, shard, layer, preprocess, batch_size, layouts).mean((2, 3))


def _shard_tops(model, shard, layer, preprocess, batch_size, layouts, n, quantile):
    """Round one on a worker: its shard's maps and each filter's m largest values, m from all
    ``n`` images' activations (every shard has the same h x w)."""
    acts = _shard_acts(model, shard, layer, preprocess, batch_size, layouts)
    return acts, _top_values(acts, above_count(quantile, n * acts.shape[2] * acts.shape[3]))


def _shard_binary(_model, _shard, acts, masks, held_out, thresholds, batch_size):
    """Round two on a worker: its binary maps and held-out counts at the merged thresholds."""
    return _binarised(acts, thresholds, masks, held_out, batch_size)
