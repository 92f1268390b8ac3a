"""Class bias in a dataset: how labels are spread over user-defined partitions, how the model does on
each, and which classes the model confuses (Palacio, "Towards explainable and interpretable deep
neural networks", PhD thesis, TU Kaiserslautern, 2023, chapters 4 and 7).

* :func:`label_histogram`: the label frequencies, each partition's share of the data and the
  model's accuracy on it (chapter 4: in VQA 2.0, 38 % of the answers fall in two classes);
  :func:`routed_accuracy` is the accuracy of a model routed per partition, sum of share x accuracy.
* :func:`class_distance` (Eq. 7.1-7.3): the confusion matrix without its diagonal, normalised to
  sum to 1 (D), turned into a distance 1 - D and symmetrised; classes the model confuses are close.
* :func:`balanced_groups` (section 7.2.1, after Yan et al., ICCV 2015): G groups of equal size:
  the G labels farthest on average from all others seed the groups, then the (label, group)
  pair with the smallest mean distance is joined, over groups below ceil(k / G) labels, ties
  broken at random. ``similar=False`` skips the inversion of Eq. 7.2 and groups labels the
  model does not confuse.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

__all__ = ["LabelHistogram", "label_histogram", "routed_accuracy", "confusion_matrix", "class_distance",
           "balanced_groups"]


@dataclass
class LabelHistogram:
    """Label frequencies, and per partition its share of the data and the model's accuracy.

    Attributes
    ----------
    counts : numpy.ndarray
        K counts, one per class.
    shares : dict of str to float
        Each partition's fraction of the samples.
    accuracy : dict of str to float or None
        Each partition's accuracy (None without predictions; NaN for an empty partition).
    over_represented : list of int
        The classes holding more than ``threshold`` times the mean count.
    """

    counts: np.ndarray
    shares: dict
    accuracy: dict
    over_represented: list


def _labels(values, name: str, k: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)) or (arr.size and arr.min() < 0):
        raise ValueError(f"{name} must be a 1-D sequence of class indices >= 0")
    if k is not None and arr.size and arr.max() >= k:
        raise ValueError(f"{name} holds class {int(arr.max())}, but there are {k} classes")
    return arr.astype(np.int64)


def label_histogram(labels: Sequence[int], *, classes: int | None = None,
                    partitions: Mapping[str, Sequence[int]] | None = None, predictions: Sequence[int] | None = None,
                    threshold: float = 2.0) -> LabelHistogram:
    """The label frequencies and, per user-defined partition of the classes, its share and accuracy.

    Parameters
    ----------
    labels : sequence of int
        N true classes.
    classes : int or None, default None
        K (default: the largest label + 1).
    partitions : mapping of str to sequence of int, optional
        ``{name: classes}``, non-overlapping; "all" (every sample) is always added.
    predictions : sequence of int, optional
        N predicted classes, for the accuracy per partition.
    threshold : float, default 2
        A class is over-represented above ``threshold`` x the mean count.

    Returns
    -------
    LabelHistogram

    Raises
    ------
    ValueError
        For labels that are not class indices, overlapping partitions or a length mismatch.
    """
    y = _labels(labels, "labels")
    k = int(classes) if classes is not None else int(y.max()) + 1 if y.size else 0
    y = _labels(y, "labels", k)
    counts = np.bincount(y, minlength=k)
    parts = {"all": list(range(k)), **{str(n): list(c) for n, c in (partitions or {}).items()}}
    seen: set = set()
    for name, members in parts.items():
        if name != "all":
            if seen & set(members):
                raise ValueError(f"partition {name!r} overlaps another partition (classes "
                                 f"{sorted(seen & set(members))}); partitions must not share classes")
            seen |= set(members)
            _labels(np.asarray(members, dtype=np.int64), f"partition {name!r}", k)
    pred = None if predictions is None else _labels(predictions, "predictions")
    if pred is not None and len(pred) != len(y):
        raise ValueError(f"predictions has {len(pred)} entries, labels {len(y)}")
    shares, accuracy = {}, {}
    for name, members in parts.items():
        inside = np.isin(y, members)
        shares[name] = float(inside.mean()) if y.size else float("nan")
        accuracy[name] = None if pred is None else (float((pred[inside] == y[inside]).mean()) if inside.any()
                                                    else float("nan"))
    over = np.flatnonzero(counts > threshold * counts.mean()).tolist() if k else []
    return LabelHistogram(counts, shares, accuracy, over)


def routed_accuracy(shares: Mapping[str, float], accuracies: Mapping[str, float]) -> float:
    """The accuracy of a model routed per partition: sum over partitions of share x accuracy (Palacio, chapter 4).

    Parameters
    ----------
    shares, accuracies : mapping of str to float
        Each partition's share of the data (summing to 1) and the accuracy on it.

    Returns
    -------
    float
    """
    return float(sum(shares[p] * accuracies[p] for p in shares))


def confusion_matrix(labels: Sequence[int], predictions: Sequence[int], classes: int) -> np.ndarray:
    """C with c_ij the number of samples of true class i predicted as j.

    Parameters
    ----------
    labels, predictions : sequence of int
        N true and predicted classes.
    classes : int
        K.

    Returns
    -------
    numpy.ndarray
        K x K counts.
    """
    y, p = _labels(labels, "labels", classes), _labels(predictions, "predictions", classes)
    if len(y) != len(p):
        raise ValueError(f"predictions has {len(p)} entries, labels {len(y)}")
    return np.bincount(y * classes + p, minlength=classes * classes).reshape(classes, classes)


def class_distance(confusion: np.ndarray, *, similar: bool = True) -> np.ndarray:
    """Palacio's class distance from a confusion matrix (Eq. 7.1-7.3).

    D = (C - diag C) / (sum C - tr C); with ``similar`` the distance is 1 - D (Eq. 7.2: classes
    the model confuses are close), otherwise D itself (confused classes are far); then
    symmetrised, (M + M^T) / 2. The diagonal is not used.

    Parameters
    ----------
    confusion : numpy.ndarray
        K x K confusion counts.
    similar : bool, default True
        Apply the inversion of Eq. 7.2.

    Returns
    -------
    numpy.ndarray
        K x K symmetric distances (diagonal 0).

    Raises
    ------
    ValueError
        If ``confusion`` is not square, negative, or has no off-diagonal count.
    """
    c = np.asarray(confusion, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or (c < 0).any():
        raise ValueError(f"confusion must be a square matrix of counts, got shape {c.shape}")
    off = c - np.diag(np.diag(c))
    total = off.sum()
    if total <= 0:
        raise ValueError("the confusion matrix has no off-diagonal count: the model confuses no classes, so "
                         "there is nothing to measure distances from")
    d = off / total
    m = 1 - d if similar else d
    out = (m + m.T) / 2
    np.fill_diagonal(out, 0.0)
    return out


def balanced_groups(distance: np.ndarray, groups: int, *, seed: int = 0) -> np.ndarray:
    """Greedy balanced clustering of classes (Palacio, section 7.2.1).

    Parameters
    ----------
    distance : numpy.ndarray
        K x K symmetric class distances (:func:`class_distance`).
    groups : int
        G, with 2 <= G <= K / 2.
    seed : int, default 0
        Seed of the tie-breaking.

    Returns
    -------
    numpy.ndarray
        K group indices in 0..G-1; every group holds floor(K / G) or ceil(K / G) classes.

    Raises
    ------
    ValueError
        If G is outside 2..K/2 or ``distance`` is not square.
    """
    dist = np.asarray(distance, dtype=np.float64)
    k = dist.shape[0]
    if dist.ndim != 2 or dist.shape[1] != k:
        raise ValueError(f"distance must be a square matrix, got shape {dist.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or not 2 <= groups <= k / 2:
        raise ValueError(f"groups must be an int with 2 <= groups <= {k / 2:g} (half the {k} classes), got {groups!r}")
    rng = np.random.default_rng(seed)
    capacity = math.ceil(k / groups)
    mean_to_all = dist.sum(1) / (k - 1)
    assigned = np.full(k, -1)
    pool = list(range(k))
    members: list[list[int]] = []
    for g in range(groups):  # seeds: the labels farthest from all others
        far = max(pool, key=lambda i: (mean_to_all[i], -i))
        pool.remove(far)
        assigned[far] = g
        members.append([far])
    while pool:
        best, ties = np.inf, []
        for i in pool:
            for g, m in enumerate(members):
                if len(m) >= capacity:
                    continue
                d = dist[i, m].mean()
                if d < best - 1e-12:
                    best, ties = d, [(i, g)]
                elif abs(d - best) <= 1e-12:
                    ties.append((i, g))
        i, g = ties[int(rng.integers(len(ties)))]
        pool.remove(i)
        assigned[i] = g
        members[g].append(i)
    return assigned
