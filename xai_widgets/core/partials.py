"""Partial results that merge exactly: what a dataset cut into shards (on Ray,
:mod:`xai_widgets.core.distributed`) computes piece by piece, and merges into the single pass's
result. Every system with a dataset pass uses them (the scans of :mod:`xai_widgets.units.scan`,
Net2Vec's probe in :mod:`xai_widgets.concepts.net2vec`, the dataset metrics of
:mod:`xai_widgets.attribution.dataset_metrics`).

* :class:`TopValues`: per unit the ``keep`` largest values, enough for a top-quantile
  threshold (Network Dissection's T_k, Bau et al., CVPR 2017, section 3.1; Net2Vec's, Fong and
  Vedaldi, CVPR 2018, section 3.1). The threshold exceeded by m values is the (m + 1)-th
  largest; a shard keeping its own m + 1 largest values per unit holds every value that can be
  among the dataset's m + 1 largest, so the merge is exact.
* :class:`IoUCounts`: int64 intersection and area counts of binary maps and masks; they add up.
* :class:`Rows`: per-item results (one row per image) kept with their global positions; a
  merge concatenates them in dataset order, so whatever is computed from all rows afterwards
  (means, rates) is the single pass's number, bit for bit.

Each class has ``merge(other)`` (the shard first in the dataset on the left) and ``to(device)``.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["Movable", "TopValues", "IoUCounts", "Rows", "numpy_of"]

_EXACT_F32 = 1 << 24  # float32 holds every integer up to 2^24: a count of 0/1 products up to this is exact


def numpy_of(t: torch.Tensor) -> np.ndarray:
    """A tensor as a numpy array on the CPU.

    Parameters
    ----------
    t : torch.Tensor
        Any tensor.

    Returns
    -------
    numpy.ndarray
        Its values, detached, on the CPU.
    """
    return t.detach().cpu().numpy()


class Movable:
    """``to(device)`` for a partial result: every tensor attribute (and nested partial) moved."""

    def to(self, device):
        """Move every tensor attribute (and nested partial) to ``device``.

        Parameters
        ----------
        device : torch.device or str
            Where to.

        Returns
        -------
        Movable
            ``self``, moved.
        """
        for name, value in vars(self).items():
            if isinstance(value, (torch.Tensor, Movable)):
                setattr(self, name, value.to(device))
        return self


class TopValues(Movable):
    """Per unit, the ``keep`` largest of its values seen so far (unordered), its smallest value
    and how many values were seen: enough for the (keep)-th largest over all parts.

    Parameters
    ----------
    top : torch.Tensor
        units x min(keep, n) largest values.
    low : torch.Tensor
        units smallest values.
    n : int
        Values seen per unit.
    keep : int
        How many of the largest are kept.
    """

    def __init__(self, top: torch.Tensor, low: torch.Tensor, n: int, keep: int):
        self.top, self.low, self.n, self.keep = top, low, n, keep

    @classmethod
    def of(cls, values: torch.Tensor, keep: int) -> "TopValues":
        """From ``values``, units x n (topk is faster than kthvalue here)."""
        top = values.topk(min(keep, values.shape[1]), dim=1, sorted=False).values
        return cls(top, values.amin(1), values.shape[1], keep)

    @classmethod
    def stack(cls, parts: list["TopValues"]) -> "TopValues":
        """Parts holding consecutive groups of units of the same values, as one."""
        return cls(torch.cat([p.top for p in parts]), torch.cat([p.low for p in parts]), parts[0].n, parts[0].keep)

    def merge(self, other: "TopValues") -> "TopValues":
        """The same units over the values of both parts."""
        top = torch.cat([self.top, other.top], 1)
        top = top.topk(min(self.keep, top.shape[1]), dim=1, sorted=False).values
        return TopValues(top, torch.minimum(self.low, other.low), self.n + other.n, self.keep)

    def threshold(self, above: int) -> torch.Tensor:
        """T_k exceeded by ``above`` values (keep = above + 1): the (above + 1)-th largest, or
        below the smallest value when there are no more than ``above`` values."""
        if self.keep != above + 1:
            raise ValueError(f"kept the {self.keep} largest values; a threshold with {above} above needs {above + 1}")
        return self.top.amin(1) if self.n > above else self.low - 1


class IoUCounts(Movable):
    """Network Dissection's counts, int64, summed over images and pixels.

    Parameters
    ----------
    inter : torch.Tensor
        units x concepts |M_k & L_c|.
    fired : torch.Tensor
        Per unit |M_k|.
    area : torch.Tensor
        Per concept |L_c|.
    """

    def __init__(self, inter: torch.Tensor, fired: torch.Tensor, area: torch.Tensor):
        self.inter, self.fired, self.area = inter, fired, area

    @classmethod
    def of(cls, fired: torch.Tensor, concepts: torch.Tensor) -> "IoUCounts":
        """From ``fired`` units x pixels and ``concepts`` pixels x concepts (0/1 float32); the
        products are taken over at most 2^24 pixels at a time, where float32 counts exactly."""
        inter = sum((fired[:, a:a + _EXACT_F32] @ concepts[a:a + _EXACT_F32]).long()
                    for a in range(0, fired.shape[1], _EXACT_F32))
        return cls(inter, fired.sum(1, dtype=torch.int64), concepts.sum(0, dtype=torch.int64))

    @classmethod
    def stack(cls, parts: list["IoUCounts"]) -> "IoUCounts":
        """Parts holding consecutive groups of units of the same pixels, as one."""
        return cls(torch.cat([p.inter for p in parts]), torch.cat([p.fired for p in parts]), parts[0].area)

    def merge(self, other: "IoUCounts") -> "IoUCounts":
        """The same units over the pixels of both parts."""
        return IoUCounts(self.inter + other.inter, self.fired + other.fired, self.area + other.area)

    def iou(self) -> np.ndarray:
        """units x concepts IoU (0 where the union is empty), float32."""
        union = self.fired[:, None] + self.area - self.inter
        return numpy_of(torch.where(union > 0, self.inter.double() / union.clamp_min(1).double(), 0).float())


class Rows(Movable):
    """Per-item results of a contiguous run of a dataset: numpy arrays with one row per item.

    Parameters
    ----------
    first : int
        The global position of the first item.
    columns : dict of str to numpy.ndarray
        Equal-length arrays (first axis: the items, in dataset order).

    Attributes
    ----------
    first, stop : int
        Global positions of the first item and one past the last.
    columns : dict of str to numpy.ndarray
        The rows.
    """

    def __init__(self, first: int, columns: dict[str, np.ndarray]):
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"the columns must have one row per item; got lengths {sorted(lengths)}")
        self.first, self.columns = int(first), {k: np.asarray(v) for k, v in columns.items()}
        self.stop = self.first + (lengths.pop() if lengths else 0)

    def merge(self, other: "Rows") -> "Rows":
        """The rows of both runs, ``other`` the run that follows ``self`` in the dataset.

        Parameters
        ----------
        other : Rows
            The next run (its ``first`` is ``self.stop``), with the same columns.

        Returns
        -------
        Rows
            Both runs' rows concatenated.

        Raises
        ------
        ValueError
            If the runs are not consecutive or have different columns.
        """
        if other.first != self.stop or set(other.columns) != set(self.columns):
            raise ValueError(f"rows {self.first}-{self.stop} with {sorted(self.columns)} cannot be followed by "
                             f"rows {other.first}-{other.stop} with {sorted(other.columns)}")
        return Rows(self.first, {k: np.concatenate([v, other.columns[k]]) for k, v in self.columns.items()})
