"""Net2Vec: concepts as weighted combinations of a layer's filters.

Fong and Vedaldi, "Net2Vec: Quantifying and Explaining how Concepts are Encoded by Filters in
Deep Neural Networks", CVPR 2018 (and Fong's DPhil thesis, Oxford 2020, chapter 5). Network
Dissection (Bau et al., CVPR 2017) asks which single filter matches a concept; Net2Vec learns
a weight per filter so that a combination of filters segments the concept, and finds that most
concepts are encoded by several filters (the combination's IoU is above the best single
filter's) and that the weight vectors behave as embeddings (cosine neighbours and vector
arithmetic are meaningful).

The segmentation probe, as published (section 3.1 of the paper):

* each filter k is binarised at its top-quantile threshold T_k over the probe set (the level
  exceeded by 0.5% of all its activations), at the layer's resolution; the binary maps are
  then upsampled bilinearly to the concept masks' resolution;
* the concept's mask is predicted as M(x; w) = sigmoid(sum_k w_k [A_k(x) > T_k]) (no bias);
* w minimises the per-pixel binary cross-entropy with the concept mask L, weighted by
  alpha = 1 - (the concept's pixel frequency on the training split) for concept pixels and
  1 - alpha for the rest, with SGD (learning rate 1e-4, momentum 0.9, batches of 64, 30
  epochs);
* the score is the set IoU on a held-out split: sum over images of |(M > 0.5) & L| over sum
  of |(M > 0.5) | L|. The best single filter is scored the same way by its upsampled binary
  map (> 0.5): Network Dissection's IoU.

The published optimiser needs many epochs on a small probe set; ``optimizer="adam"`` (learning
rate 0.1) reaches it in a few, and is what the tests and the demo use.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core import distributed
from ..core.images import to_batch
from .classification import balanced_accuracy, fit_logistic
from .probe_features import best_single, probe_features

__all__ = ["ConceptEmbeddings", "net2vec", "concept_logits", "filter_masks", "decile_examples"]

QUANTILE = 0.005  # top fraction of a filter's activations above its threshold (Bau et al. 2017)
OPTIMIZERS = {"sgd": 1e-4, "adam": 0.1}  # default learning rate of each


@dataclass
class ConceptEmbeddings:
    """What :func:`net2vec` learned: one weight vector per concept over a layer's filters.

    Attributes
    ----------
    layer : str
        The layer probed.
    names : list of str
        The concepts, in the order of the rows of ``weights``.
    weights : numpy.ndarray
        Concepts x channels float32: each concept's filter weights w.
    single : list of tuple of (int, float)
        Per concept, the best single filter on the held-out split and its score (set IoU;
        for the classification probe, the balanced accuracy of the top-1 retraining).
    settings : dict
        The probe's settings (task, quantile, optimiser, learning rate, epochs, batch size, split).
    iou : numpy.ndarray or None
        Segmentation: per concept, the set IoU of the learned combination on the held-out split.
    image_iou : list of numpy.ndarray or None
        Segmentation: per concept, the IoU on each held-out image where the concept occurs or
        is predicted (NaN where neither).
    thresholds : numpy.ndarray or None
        Segmentation: per channel, the binarisation threshold T_k.
    accuracy : numpy.ndarray or None
        Classification: per concept, the held-out balanced accuracy with all filters.
    top_f : dict of int to numpy.ndarray or None
        Classification: ``{F: per-concept balanced accuracy}`` retrained on the F filters of
        largest ``|w_k|``.
    test : numpy.ndarray or None
        Segmentation: the held-out images' indices into the probe set, in the order of the
        entries of ``image_iou``.
    """

    layer: str
    names: list[str]
    weights: np.ndarray
    single: list[tuple[int, float]]
    settings: dict
    iou: np.ndarray | None = None
    image_iou: list[np.ndarray] | None = None
    thresholds: np.ndarray | None = None
    accuracy: np.ndarray | None = None
    top_f: dict[int, np.ndarray] | None = None
    test: np.ndarray | None = None

    def _row(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"unknown concept {name!r}; the concepts are: {', '.join(self.names)}")
        return self.names.index(name)

    def _unit(self) -> np.ndarray:
        norms = np.linalg.norm(self.weights, axis=1, keepdims=True)
        return self.weights / np.where(norms > 0, norms, 1)

    def nearest(self, name: str, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` concepts whose normalised embeddings are closest (cosine) to ``name``'s.

        Parameters
        ----------
        name : str
            A concept of ``names``.
        n : int, default 5
            How many neighbours (the concept itself excluded).

        Returns
        -------
        list of (str, float)
            ``(concept, cosine similarity)``, most similar first.

        Raises
        ------
        ValueError
            If ``name`` is not a concept.
        """
        return self._closest(self._unit()[self._row(name)], n, exclude={name})

    def arithmetic(self, expression: str, n: int = 5) -> list[tuple[str, float]]:
        """Concepts nearest to a sum of normalised embeddings, e.g. ``"red + square - blue"``.

        Parameters
        ----------
        expression : str
            Concept names joined by ``+`` and ``-`` (a leading ``-`` allowed).
        n : int, default 5
            How many concepts to return (those in the expression excluded).

        Returns
        -------
        list of (str, float)
            ``(concept, cosine similarity to the sum)``, most similar first.

        Raises
        ------
        ValueError
            If the expression is empty, malformed or names an unknown concept.
        """
        terms = re.findall(r"\s*([+-]?)\s*([^+-]+?)\s*(?=[+-]|$)", expression.strip())
        if not terms or "".join(s + t for s, t in terms).replace(" ", "") != expression.replace(" ", ""):
            raise ValueError(f"expression must be concept names joined by + and -, got {expression!r}")
        unit = self._unit()
        total = sum((-1 if sign == "-" else 1) * unit[self._row(name)] for sign, name in terms)
        return self._closest(total, n, exclude={name for _, name in terms})

    def _closest(self, vector: np.ndarray, n: int, exclude: set) -> list[tuple[str, float]]:
        v = vector / max(float(np.linalg.norm(vector)), 1e-12)
        sims = self._unit() @ v
        ranked = [i for i in np.argsort(-sims, kind="stable") if self.names[i] not in exclude]
        return [(self.names[i], float(sims[i])) for i in ranked[:n]]


def net2vec(model: nn.Module, layer: str, images, concepts: Mapping[str, np.ndarray], *,
            task: str = "segmentation", preprocess: Callable | None = None, quantile: float = QUANTILE,
            optimizer: str = "sgd",
            lr: float | None = None, epochs: int = 30, batch_size: int = 64, holdout: float = 0.25,
            seed: int = 0, layouts: Mapping | None = None, engine: str | None = None,
            workers: int | None = None) -> ConceptEmbeddings:
    """Learn each concept's filter weights at ``layer`` with the segmentation probe of Net2Vec.

    Parameters
    ----------
    model : torch.nn.Module
        Any image model; run in eval mode and left as given.
    layer : str
        The layer probed (N x C x h x w maps, or a layout from ``layouts``).
    images : sequence of images, N x H x W x 3 array or dataset
        The probe images, e.g. a :class:`xai_widgets.demo.concepts.ConceptSet` (its ``images``
        are used).
    concepts : mapping of str to numpy.ndarray
        ``{concept: N x H' x W' bool mask}`` aligned with ``images`` (any mask resolution); the
        classification probe uses whether each mask has a pixel.
    task : {"segmentation", "classification"}, default "segmentation"
        The probe: per-pixel masks from binarised filters, or image-level presence from the
        channel means (:mod:`xai_widgets.concepts.classification`).
    preprocess : callable, optional
        PIL image -> model input, as elsewhere (:mod:`xai_widgets.core.images`).
    quantile : float, default 0.005
        The fraction of each filter's activations above its threshold.
    optimizer : {"sgd", "adam"}, default "sgd"
        "sgd": the published SGD with momentum 0.9; "adam": Adam, which converges in far fewer steps.
    lr : float, optional
        Learning rate; default 1e-4 for "sgd" (published), 0.1 for "adam".
    epochs : int, default 30
        Passes over the training split.
    batch_size : int, default 64
        Images per step.
    holdout : float, default 0.25
        Fraction of images (chosen with ``seed``) held out for the IoU.
    seed : int, default 0
        Seed of the split and of the batch order.
    layouts : mapping, optional
        ``{layer: layout}`` when the layer's layout is not detected.
    engine : {"local", "ray"} or None, default None
        Where the pass over the probe images runs (:mod:`xai_widgets.concepts.probe_features`):
        in this process, or on Ray workers, each forwarding a shard of the images and computing
        its part of the thresholds, binary maps and single-filter counts, merged exactly. The
        probe itself is trained here on the gathered binary maps. None: "local".
    workers : int or None, default None
        With ``engine="ray"``, the number of shards (default one per CPU of the cluster).

    Returns
    -------
    ConceptEmbeddings
        Weights, held-out IoUs and the best single filters.

    Raises
    ------
    ValueError
        If the masks do not match the images in number, a concept is empty in the training
        split, or a setting (``engine``, ``workers`` included) is out of range.
    TypeError
        If the images have no length.
    ImportError
        If ``engine="ray"`` and Ray is not installed.
    """
    images = getattr(images, "images", images)
    engine = distributed.engine_for(engine, images, workers)
    lr = _check_settings(quantile, optimizer, lr, epochs, batch_size, holdout)
    if task not in ("segmentation", "classification"):
        raise ValueError(f"task must be 'segmentation' or 'classification', got {task!r}")
    if engine == "local":
        images = to_batch(images, model, preprocess)  # refuses bad images before the masks are checked
    n = _count(images)
    names, masks = _check_concepts(concepts, n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    n_test = max(1, int(round(holdout * n)))
    test, train = order[:n_test], order[n_test:]
    if len(train) == 0:
        raise ValueError(f"holdout={holdout} leaves no training images of {n}")
    settings = {"task": task, "quantile": quantile, "optimizer": optimizer, "lr": lr, "epochs": epochs,
                "batch_size": batch_size, "holdout": holdout, "seed": seed, "train": len(train), "test": n_test}
    options = {"task": task, "quantile": quantile, "preprocess": preprocess, "batch_size": batch_size,
               "layouts": layouts, "engine": engine, "workers": workers}
    if task == "classification":
        present = torch.stack([m.flatten(1).any(1) for m in masks])  # concepts x N
        features = probe_features(model, layer, images, n, None, test, **options)
        return _classification_probe(layer, names, features.means, present, train, test, settings)
    masks = torch.stack(masks)  # concepts x N x H' x W'
    features = probe_features(model, layer, images, n, masks, test, **options)
    binary = features.binary  # N x C x h x w, at the layer's resolution
    weights = _fit(binary[train], masks[:, train], names, optimizer, lr, epochs, batch_size, seed)
    hits, unions, image_iou = _scores(binary[test], masks[:, test], weights, batch_size)
    return ConceptEmbeddings(layer, names, weights.numpy().astype(np.float32), best_single(features.single),
                             settings, iou=hits / np.maximum(unions, 1), image_iou=list(image_iou.T),
                             thresholds=features.thresholds.numpy(), test=test.numpy())


def _count(images) -> int:
    """The number of probe images (a batch tensor's first axis, a sequence's length)."""
    try:
        return len(images)
    except TypeError:
        raise TypeError(f"images must be a sequence of images, an N x H x W x 3 array or a dataset with len(); "
                        f"got {type(images).__name__}") from None


def concept_logits(emb: ConceptEmbeddings, acts: torch.Tensor, size) -> torch.Tensor:
    """The segmentation probe's logits sum_k w_k up([A_k > T_k]) for every concept (Fong and
    Vedaldi 2018, section 3.1): the predicted mask is ``logits > 0`` (M > 0.5).

    Parameters
    ----------
    emb : ConceptEmbeddings
        A segmentation probe's result (its ``weights`` and ``thresholds``).
    acts : torch.Tensor
        N x C x h x w activations of ``emb.layer``.
    size : tuple of int
        (H, W) of the result; the layer's maps are upsampled bilinearly to it.

    Returns
    -------
    torch.Tensor
        N x concepts x H x W float32 logits, on the CPU.

    Raises
    ------
    ValueError
        If ``emb`` has no thresholds (a classification probe) or ``acts`` has the wrong channels.
    """
    return _logits(torch.as_tensor(emb.weights), _binarised(emb, acts), size)


def filter_masks(emb: ConceptEmbeddings, acts: torch.Tensor, channels, size) -> torch.Tensor:
    """Single filters' masks as Network Dissection scores them (Bau et al., CVPR 2017):
    the binary map [A_k > T_k] upsampled bilinearly to ``size``, above 0.5.

    Parameters
    ----------
    emb : ConceptEmbeddings
        A segmentation probe's result (its ``thresholds``).
    acts : torch.Tensor
        N x C x h x w activations of ``emb.layer``.
    channels : sequence of int
        The filters.
    size : tuple of int
        (H, W) of the masks.

    Returns
    -------
    torch.Tensor
        N x len(channels) x H x W bool, on the CPU.

    Raises
    ------
    ValueError
        If ``emb`` has no thresholds (a classification probe) or ``acts`` has the wrong channels.
    """
    b = _binarised(emb, acts)[:, list(channels)].float()
    if tuple(b.shape[-2:]) != tuple(size):
        b = F.interpolate(b, size=tuple(size), mode="bilinear", align_corners=False)
    return b > 0.5


def _binarised(emb: ConceptEmbeddings, acts: torch.Tensor) -> torch.Tensor:
    if emb.thresholds is None:
        raise ValueError("these embeddings have no filter thresholds: use net2vec(task='segmentation')")
    acts = torch.as_tensor(acts).float().cpu()
    if acts.dim() != 4 or acts.shape[1] != len(emb.thresholds):
        raise ValueError(f"acts must be N x {len(emb.thresholds)} x h x w (the layer's channels), "
                         f"got {tuple(acts.shape)}")
    return acts > torch.as_tensor(emb.thresholds)[None, :, None, None]


def decile_examples(values, n: int = 10) -> np.ndarray:
    """Positions of the entries at the middle of each of ``n`` equal quantile bins of ``values``
    (deciles for n = 10), lowest first: Fong's non-maximal visualisation (DPhil thesis, 2020,
    chapter 5) shows a concept's segmentations across the range of per-image IoU, not only the best.

    With the finite entries sorted (stable) as v_(0) <= ... <= v_(m-1), bin j gives the entry of
    rank floor((j + 1/2) m / n); NaN entries are skipped. With fewer than ``n`` finite entries,
    ranks repeat.

    Parameters
    ----------
    values : array_like
        One number per item (NaN: not scored).
    n : int, default 10
        The number of bins.

    Returns
    -------
    numpy.ndarray
        ``n`` int64 positions into ``values`` (empty when no entry is finite).
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(v))
    if not len(finite):
        return np.zeros(0, np.int64)
    ranked = finite[np.argsort(v[finite], kind="stable")]
    ranks = np.floor((np.arange(n) + 0.5) * len(ranked) / n).astype(np.int64)
    return ranked[np.minimum(ranks, len(ranked) - 1)]


def _classification_probe(layer, names, means, present, train, test, settings) -> ConceptEmbeddings:
    """Logistic regression on standardised channel means; balanced accuracy with all filters
    and retrained on the top F by |w_k| (F = 1, 2, 4, ... up to all)."""
    mu, sd = means[train].mean(0), means[train].std(0).clamp_min(1e-12)
    z = (means - mu) / sd

    def fit(cols, rows=slice(None)):
        return fit_logistic(z[train][:, cols], present[rows, train], optimizer=settings["optimizer"], lr=settings["lr"],
                            epochs=settings["epochs"], batch_size=settings["batch_size"], seed=settings["seed"])

    w, b = fit(slice(None))
    accuracy = balanced_accuracy((z[test] @ w.T + b).T > 0, present[:, test])
    order = w.abs().argsort(1, descending=True)  # concepts x C
    top_f: dict[int, np.ndarray] = {}
    sizes = sorted({min(2 ** i, z.shape[1]) for i in range(int(math.log2(z.shape[1])) + 2)})
    for f in sizes:
        scores = []
        for q in range(len(names)):  # each concept keeps its own F filters
            cols = order[q, :f]
            wq, bq = fit(cols, slice(q, q + 1))
            scores.append(float(balanced_accuracy((z[test][:, cols] @ wq.T + bq).T > 0, present[q:q + 1, test])[0]))
        top_f[f] = np.array(scores)
    single = [(int(order[q, 0]), float(top_f[1][q])) for q in range(len(names))]
    return ConceptEmbeddings(layer, names, w.numpy().astype(np.float32), single, settings,
                             accuracy=accuracy.numpy(), top_f=top_f)


def _check_concepts(concepts, n: int) -> tuple[list[str], list[torch.Tensor]]:
    if not isinstance(concepts, Mapping) or not concepts:
        raise ValueError("concepts must be a non-empty dict {name: N x H x W bool mask}")
    names, masks = [], []
    for name, mask in concepts.items():
        m = torch.as_tensor(np.asarray(mask)).bool()
        if m.dim() != 3 or m.shape[0] != n:
            raise ValueError(f"concept {name!r}: masks of shape {tuple(m.shape)}; expected {n} x H x W "
                             "(one mask per image)")
        names.append(str(name))
        masks.append(m)
    return names, masks


def _check_settings(quantile, optimizer, lr, epochs, batch_size, holdout) -> float:
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    lr = OPTIMIZERS[optimizer] if lr is None else lr
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    for what, v in (("epochs", epochs), ("batch_size", batch_size)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"{what} must be an int >= 1, got {v!r}")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}")
    return float(lr)


def _logits(weights: torch.Tensor, binary: torch.Tensor, size) -> torch.Tensor:
    """sum_k w_k up(B_k) for every concept: B x concepts x H x W. Bilinear upsampling is linear,
    so the weighted sum is taken at the layer's resolution and only it is upsampled."""
    low = torch.einsum("qc,bchw->bqhw", weights, binary.float())
    if tuple(low.shape[-2:]) == tuple(size):
        return low
    return F.interpolate(low, size=tuple(size), mode="bilinear", align_corners=False)


def _fit(binary, masks, names, optimizer, lr, epochs, batch_size, seed) -> torch.Tensor:
    """Every concept's weights (concepts x channels), by the weighted per-pixel BCE of
    sigmoid(sum_k w_k B_k) against its mask; concepts do not share parameters, so one joint
    optimisation is the same as one per concept."""
    frequency = masks.flatten(1).float().mean(1)  # per concept, on the training split
    if (frequency == 0).any():
        empty = [n for n, f in zip(names, frequency) if f == 0]
        raise ValueError(f"concepts {empty} have no pixels in the training split; use more images")
    alpha = (1 - frequency).view(1, -1, 1, 1)
    w = torch.zeros(len(names), binary.shape[1], requires_grad=True)
    opt = torch.optim.SGD([w], lr=lr, momentum=0.9) if optimizer == "sgd" else torch.optim.Adam([w], lr=lr)
    g = torch.Generator().manual_seed(int(seed))
    for _ in range(epochs):
        for idx in torch.randperm(len(binary), generator=g).split(batch_size):
            label = masks[:, idx].transpose(0, 1).float()  # B x concepts x H x W
            weight = alpha * label + (1 - alpha) * (1 - label)
            per_pixel = F.binary_cross_entropy_with_logits(_logits(w, binary[idx], label.shape[-2:]), label,
                                                           weight=weight, reduction="none")
            loss = per_pixel.mean((0, 2, 3)).sum()  # each concept's own mean loss: as if fitted alone
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach()


def _scores(binary, masks, weights, batch_size) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per concept, set IoU counts (hits, unions) of the prediction M > 0.5, and the IoU of each
    image (N x concepts, NaN where neither the mask nor the prediction has a pixel)."""
    hits = torch.zeros(len(weights), dtype=torch.float64)
    unions = torch.zeros_like(hits)
    per_image = []
    for i in range(0, len(binary), batch_size):
        m = masks[:, i:i + batch_size].transpose(0, 1)
        pred = _logits(weights, binary[i:i + batch_size], m.shape[-2:]) > 0
        inter, union = (pred & m).flatten(2).sum(2).double(), (pred | m).flatten(2).sum(2).double()
        hits, unions = hits + inter.sum(0), unions + union.sum(0)
        per_image.append(torch.where(union > 0, inter / union.clamp_min(1), torch.nan))
    return hits.numpy(), unions.numpy(), torch.cat(per_image).numpy()
