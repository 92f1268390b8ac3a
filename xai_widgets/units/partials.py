"""Partial results of the dataset scans (:mod:`xai_widgets.units.scan`): streaming reductions
that are updated batch by batch and merge exactly, so a dataset cut into shards and scanned
piece by piece (on Ray, :mod:`xai_widgets.core.distributed`) gives the single pass's result.

* :class:`RunningTopK`: the k best (score, image, location) per channel and their patches.
  The order is total: score descending, then global image index ascending, so a merge of
  shards reproduces the single pass's order, ties included.
* :class:`StatsAccumulator`: what :class:`xai_widgets.units.scan.UnitStats` needs; moments by
  Chan, Golub and LeVeque's pairwise combination of two groups' means and sums of squared
  deviations ("Algorithms for computing the sample variance: analysis and recommendations",
  The American Statistician 37(3), 1983) in float64; counts and maxima merge exactly, class
  sums are float64 sums (exact for integer-valued scores, else to float64 rounding).

Network Dissection's threshold and IoU counts (:class:`~xai_widgets.core.partials.TopValues`,
:class:`~xai_widgets.core.partials.IoUCounts`) are in the core: Net2Vec's probe uses them too.

Each class has ``merge(other)`` (returns the merged result; the shard scanned first on the
left) and ``to(device)``.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..core.partials import Movable, numpy_of

__all__ = ["CONSTANT_EPS", "GRAY", "Moments", "StatsAccumulator", "RunningTopK"]

GRAY = 128  # patch pixels that fall outside the image
CONSTANT_EPS = 1e-3  # a unit is constant when its std across images <= this x the layer's RMS
_NO_IMAGE = torch.iinfo(torch.int64).max  # sorts an empty top-k slot after every image


class Moments(Movable):
    """Running mean and sum of squared deviations over the batch axis (Chan, Golub and
    LeVeque's pairwise update, float64 accumulators: no cancellation over long scans).

    Merging shards in another grouping than the single pass rounds differently in float64:
    the results agree to a few float64 ulps of the values' scale, i.e. exactly after rounding
    to float32 or within one float32 step of it.
    """

    def __init__(self):
        self.n = 0
        self.mean = self.m2 = None

    def update(self, x: torch.Tensor) -> None:
        """Add a batch (B x ...): moments along the first axis."""
        var, mean = torch.var_mean(x.float(), dim=0, correction=0)
        self._add(x.shape[0], mean.double(), var.double() * x.shape[0])

    def merge(self, other: "Moments") -> "Moments":
        """The moments of both parts together (``self`` updated in place and returned)."""
        self._add(other.n, other.mean, other.m2)
        return self

    def _add(self, nb: int, mean: torch.Tensor, m2: torch.Tensor) -> None:
        if nb == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = nb, mean, m2
            return
        delta = mean - self.mean
        total = self.n + nb
        self.mean = self.mean + delta * (nb / total)
        self.m2 = self.m2 + m2 + delta.square() * (self.n * nb / total)
        self.n = total

    @property
    def std(self) -> torch.Tensor:
        return (self.m2 / self.n).clamp_min(0).sqrt()


class StatsAccumulator(Movable):
    """Everything UnitStats needs, accumulated batch by batch on the device."""

    def __init__(self):
        self.scores = Moments()  # per-image channel scores
        self.cells = Moments()  # every cell of every channel, across images
        self.active = self.peak = None
        self.class_sums = self.class_counts = None

    def update(self, acts: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Add a batch: ``acts`` B x C x H x W, ``scores`` B x C, ``labels`` B ints or None."""
        self.scores.update(scores)
        self.cells.update(acts)
        active = (scores > 0).sum(0)
        self.active = active if self.active is None else self.active + active
        peak = scores.amax(0)
        self.peak = peak if self.peak is None else torch.maximum(self.peak, peak)
        if labels is not None:
            n_classes = int(labels.max()) + 1  # labels are on the CPU: no device sync
            labels = labels.to(scores.device)
            self._grow(n_classes, scores)
            self.class_sums.index_add_(0, labels, scores.double())
            self.class_counts += torch.bincount(labels, minlength=self.class_sums.shape[0])

    def _grow(self, n_classes: int, like: torch.Tensor) -> None:
        """Room for ``n_classes`` rows of class sums (labels are discovered as they come)."""
        if self.class_sums is None:
            self.class_sums = like.new_zeros((0, like.shape[-1]), dtype=torch.float64)
            self.class_counts = torch.zeros(0, dtype=torch.int64, device=like.device)
        grow = n_classes - self.class_sums.shape[0]
        if grow > 0:
            self.class_sums = F.pad(self.class_sums, (0, 0, 0, grow))
            self.class_counts = F.pad(self.class_counts, (0, grow))

    def merge(self, other: "StatsAccumulator") -> "StatsAccumulator":
        """The statistics of both parts together (``self`` updated in place and returned).

        Raises
        ------
        ValueError
            If one part has labels and the other has none.
        """
        if other.scores.n == 0:
            return self
        if self.scores.n == 0:
            return other
        if (self.class_sums is None) != (other.class_sums is None):
            raise ValueError("some items have labels and some do not: give every image a label or none")
        self.scores.merge(other.scores)
        self.cells.merge(other.cells)
        self.active = self.active + other.active
        self.peak = torch.maximum(self.peak, other.peak)
        if other.class_sums is not None:
            self._grow(other.class_sums.shape[0], other.class_sums)
            rows = other.class_sums.shape[0]
            self.class_sums[:rows] += other.class_sums
            self.class_counts[:rows] += other.class_counts
        return self

    def result(self) -> dict[str, np.ndarray]:
        """The fields of :class:`xai_widgets.units.scan.UnitStats` (see there)."""
        n = self.scores.n
        cells = self.cells
        layer_rms = (cells.m2 / n + cells.mean.square()).mean().sqrt()
        cell_std = cells.std.flatten(1).amax(1)
        stats = {
            "max": numpy_of(self.peak),
            "mean": numpy_of(self.scores.mean.float()),
            "std": numpy_of(self.scores.std.float()),
            "frac_active": numpy_of((self.active.double() / n).float()),
            "dead": numpy_of(self.peak <= 0),
            "constant": numpy_of(cell_std <= CONSTANT_EPS * layer_rms),
        }
        if self.class_sums is not None:
            stats["selectivity"], stats["selective_class"] = _selectivity(self.class_sums, self.class_counts)
        return stats


def _selectivity(class_sums: torch.Tensor, counts: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Morcos et al.'s class selectivity index from per-class score sums (classes x C)."""
    present = counts > 0
    means = (class_sums[present] / counts[present, None]).T  # C x present classes
    best = means.argmax(1)
    classes = torch.nonzero(present).flatten()[best]
    if means.shape[1] < 2:
        return np.full(means.shape[0], np.nan, np.float32), numpy_of(classes)
    top = means.max(1).values
    rest = (means.sum(1) - top) / (means.shape[1] - 1)
    denominator = top + rest
    index = torch.where(denominator > 0, (top - rest) / denominator.where(denominator > 0, 1), torch.nan)
    return numpy_of(index.float()), numpy_of(classes)


class RunningTopK(Movable):
    """Per channel, the k best (score, image, location) so far and their patches, on the device.

    Entries are ordered by score descending, then by global image index ascending. Patches
    live in k fixed slots per channel; a new entry takes the slot of the entry it evicts, so
    each batch writes only the patches that enter the top k.

    Parameters
    ----------
    channels : int
        Number of channels C.
    k : int
        Entries kept per channel.
    patch_hw : tuple of (int, int)
        Patch height and width.
    device : torch.device or str
        Where the running top-k lives.
    """

    def __init__(self, channels: int, k: int, patch_hw: tuple[int, int], device):
        self.k = k
        self.values = torch.full((channels, k), -math.inf, device=device)
        self.index = torch.full((channels, k), -1, dtype=torch.int64, device=device)
        self.where = torch.zeros((channels, k), dtype=torch.int64, device=device)
        self.slot = torch.arange(k, device=device).expand(channels, k).clone()
        self.patches = torch.full((channels, k, *patch_hw, 3), GRAY, dtype=torch.uint8, device=device)

    def update(self, scores: torch.Tensor, where: torch.Tensor, first: int, crop: Callable) -> None:
        """Merge a batch: ``scores``/``where`` B x C (score, flat cell), ``first`` its first dataset
        index, ``crop(images, cells)`` the patches of (batch image, flat cell) pairs."""
        k, (channels, batch) = self.k, scores.T.shape
        merged = torch.cat([self.values, scores.T], 1)
        # Stable: equal scores keep the running entries (earlier images) first, then batch order.
        order = torch.sort(merged, dim=1, descending=True, stable=True).indices
        top, is_new = order[:, :k], order[:, :k] >= k
        images = (first + torch.arange(batch, device=scores.device)).expand(channels, batch)
        self.values = merged.gather(1, top)
        self.index = torch.cat([self.index, images], 1).gather(1, top)
        self.where = torch.cat([self.where, where.T], 1).gather(1, top)
        self.slot = self._reassign_slots(order, is_new)
        channel, rank = torch.nonzero(is_new, as_tuple=True)
        if channel.numel():
            cells = self.where[channel, rank]
            self.patches[channel, self.slot[channel, rank]] = crop(self.index[channel, rank] - first, cells)

    def _reassign_slots(self, order: torch.Tensor, is_new: torch.Tensor) -> torch.Tensor:
        k = self.k
        none = torch.full_like(order, -1)  # C x (k + B)
        slots = torch.cat([self.slot, none[:, k:]], 1).gather(1, order)  # -1: a batch entry
        # Slots freed by evicted entries (>= 0) sort first; the i-th new entry takes the i-th.
        freed = torch.cat([slots[:, k:], none[:, :k]], 1).sort(dim=1, descending=True).values
        rank = (is_new.cumsum(1) - 1).clamp_min(0)
        return torch.where(is_new, freed.gather(1, rank), slots[:, :k])

    def _ranked_patches(self) -> torch.Tensor:
        rows = torch.arange(self.slot.shape[0], device=self.slot.device)[:, None]
        return self.patches[rows, self.slot]

    def merge(self, other: "RunningTopK") -> "RunningTopK":
        """The k best of both parts, in the single pass's order (score descending, then image
        index ascending; empty slots last); the images of the parts must be disjoint."""
        values = torch.cat([self.values, other.values], 1)
        index = torch.cat([self.index, other.index], 1)
        by_image = torch.where(index < 0, _NO_IMAGE, index).argsort(dim=1, stable=True)
        by_score = values.gather(1, by_image).sort(dim=1, descending=True, stable=True).indices
        top = by_image.gather(1, by_score)[:, :self.k]  # lexicographic: score, then image
        patches = torch.cat([self._ranked_patches(), other._ranked_patches()], 1)
        rows = torch.arange(len(top), device=top.device)[:, None]
        self.values, self.index = values.gather(1, top), index.gather(1, top)
        self.where = torch.cat([self.where, other.where], 1).gather(1, top)
        self.patches = patches[rows, top]
        self.slot = torch.arange(self.k, device=top.device).expand(len(top), self.k).clone()
        return self

    def result(self, n_images: int, grid_w: int):
        """values, indices, (row, col) locations and patches of the min(k, n_images) kept, as numpy."""
        k = min(self.k, n_images)
        where = self.where[:, :k]
        return (
            numpy_of(self.values[:, :k]),
            numpy_of(self.index[:, :k]),
            numpy_of(torch.stack([where // grid_w, where % grid_w], -1)),
            numpy_of(self._ranked_patches()[:, :k]),
        )
