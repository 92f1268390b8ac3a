"""What ClassBias ships to the browser: the label counts coloured by partition, each partition's share
and accuracy, and, with predictions, the class distance and the balanced grouping at every group
count (so that the group slider needs no kernel)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..bias import LabelHistogram, balanced_groups
from ..core import colormaps, wire

__all__ = ["PARTITION_COLOURS", "NO_PARTITION", "DISTANCE_COLORMAP", "class_partitions", "groupings",
           "class_bias_payload"]

#: One colour per partition, in the order given (Tableau 10 without its grey).
PARTITION_COLOURS = [c for name, c in colormaps.TABLEAU10.items() if name != "grey"]
#: Classes in no partition.
NO_PARTITION = colormaps.TABLEAU10["grey"]
DISTANCE_COLORMAP = "viridis"


def class_partitions(k: int, partitions: Mapping[str, Sequence[int]]) -> list[int]:
    """Each class's partition index (in the order of ``partitions``), -1 for a class in none.

    Parameters
    ----------
    k : int
        The number of classes.
    partitions : mapping of str to sequence of int
        ``{name: classes}``, non-overlapping.

    Returns
    -------
    list of int
        K indices.
    """
    out = [-1] * k
    for i, members in enumerate(partitions.values()):
        for c in members:
            out[int(c)] = i
    return out


def groupings(distance: np.ndarray, seed: int = 0) -> dict[int, list[int]]:
    """The balanced greedy grouping at every group count G from 2 to K // 2.

    Parameters
    ----------
    distance : numpy.ndarray
        K x K class distances.
    seed : int, default 0
        Seed of the grouping's tie-breaking.

    Returns
    -------
    dict of int to list of int
        ``{G: group of each class}``; empty for fewer than 4 classes.
    """
    k = distance.shape[0]
    return {g: balanced_groups(distance, g, seed=seed).tolist() for g in range(2, k // 2 + 1)}


def class_bias_payload(names: Sequence[str], hist: LabelHistogram, partitions: Mapping[str, Sequence[int]],
                       threshold: float, confusion: np.ndarray | None, distance: np.ndarray | None,
                       groups: Mapping[int, list] | None) -> dict:
    """The ``_bias`` trait.

    Parameters
    ----------
    names : sequence of str
        The K class names.
    hist : LabelHistogram
        :func:`xai_widgets.bias.label_histogram` of the labels (and predictions).
    partitions : mapping of str to sequence of int
        The user's partitions, in order.
    threshold : float
        The over-representation threshold, times the mean count.
    confusion, distance : numpy.ndarray or None
        K x K confusion counts and class distances (None without predictions).
    groups : mapping of int to list of int or None
        :func:`groupings` of ``distance``.

    Returns
    -------
    dict
        ``names``, ``counts`` (wire, float32), ``partition`` (per class), ``partitions``
        ([{name, color, share, accuracy, classes}], then the whole set as ``total``), ``over``,
        ``threshold``, ``mean``, and with predictions ``classAccuracy`` (wire, NaN for a class
        without samples), ``confusion`` and ``distance`` (wire, K x K), ``distanceRange``,
        ``groupCounts`` and ``groupings`` (wire, one row of K groups per count), ``lut``.
    """
    counts = np.asarray(hist.counts, dtype=np.float32)
    parts = [{"name": name, "color": PARTITION_COLOURS[i % len(PARTITION_COLOURS)], "share": hist.shares[name],
              "accuracy": hist.accuracy[name], "classes": [int(c) for c in members]}
             for i, (name, members) in enumerate(partitions.items())]
    out = {"names": list(names), "counts": wire.encode(counts, "float32"),
           "partition": class_partitions(len(names), partitions), "partitions": parts, "noPartition": NO_PARTITION,
           "total": {"share": hist.shares["all"], "accuracy": hist.accuracy["all"]},
           "over": [int(c) for c in hist.over_represented], "threshold": float(threshold),
           "mean": float(counts.mean()) if len(counts) else 0.0, "confusion": None}
    if confusion is None or distance is None:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.diag(confusion) / confusion.sum(1)
    off = distance[~np.eye(len(distance), dtype=bool)]
    counts_g = sorted(groups or {})
    out.update({"classAccuracy": wire.encode(per_class.astype(np.float32), "float32"),
                "confusion": wire.encode(confusion.astype(np.float32), "float32"),
                "distance": wire.encode(distance.astype(np.float32), "float32"),
                "distanceRange": [float(off.min()), float(off.max())] if off.size else [0.0, 1.0],
                "groupCounts": counts_g,
                "groupings": wire.encode(np.asarray([groups[g] for g in counts_g], np.float32).reshape(
                    len(counts_g), len(names)), "float32"),
                "lut": colormaps.LUTS[DISTANCE_COLORMAP].tobytes()})
    return out
