"""What :class:`~xai_widgets.widgets.occlusion.OcclusionExplorer` ships to the browser: the
features with the relevance behind them, the view of an occlusion set or a painted
perturbation with its prediction, and the analysis (Norton 2018's four metrics, §3.5), as
wire-encoded arrays (:mod:`xai_widgets.core.wire`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..attribution import feature_occlusion as features
from ..core import wire
from ..core.images import to_uint8

TOP = 5
KIND_TITLES = {  # Norton 2018's four metrics (§3.5): title, short title for the PNG
    "most_important": ("most important feature", "most important"),
    "smallest_keep": ("smallest set to keep the prediction", "smallest kept set"),
    "smallest_flip": ("smallest set that flips the prediction", "smallest flipping set"),
    "largest_change": ("largest change of confidence", "largest change"),
}


def input_pixels(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> np.ndarray:
    """Model-input values as display pixels, through a fixed per-channel range.

    Parameters
    ----------
    x : torch.Tensor
        C x H x W model input.
    lo, hi : torch.Tensor
        The per-channel range shown as 0 and 255 (values beyond it are clipped).

    Returns
    -------
    np.ndarray
        H x W x 3 uint8 (a one-channel input as grey).
    """
    t = ((x.detach().float().cpu() - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)
    t = to_uint8(t)
    if t.shape[0] == 1:
        t = t.repeat(3, 1, 1)
    return np.ascontiguousarray(t[:3].permute(1, 2, 0).numpy())


def anchor(f: np.ndarray) -> np.ndarray:
    """The (row, col) of a feature's pixel nearest its centre, where its number is drawn.

    Parameters
    ----------
    f : numpy.ndarray
        K x 2 (row, col) pixels of one feature (K >= 1).

    Returns
    -------
    numpy.ndarray
        The (row, col) of the feature's pixel nearest the mean of its pixels (the first
        such on ties).
    """
    return f[np.argmin(((f - f.mean(axis=0)) ** 2).sum(axis=1))]


def top_classes(probs: torch.Tensor) -> list[list]:
    """The top-5 ``[class, probability]`` pairs of K class probabilities, most probable first.

    Parameters
    ----------
    probs : torch.Tensor
        K class probabilities.

    Returns
    -------
    list of list
        ``min(5, K)`` pairs ``[int class, float probability]``.
    """
    top = torch.topk(probs, min(TOP, probs.shape[0]))
    return [[int(k), float(p)] for p, k in zip(top.values, top.indices)]


def prediction(probs: torch.Tensor, target: int) -> dict:
    """A prediction as the browser shows it.

    Parameters
    ----------
    probs : torch.Tensor
        K class probabilities.
    target : int
        The class followed.

    Returns
    -------
    dict
        ``top5`` (:func:`top_classes`), ``target_prob`` and ``top1``.
    """
    return {"top5": top_classes(probs), "target_prob": float(probs[target]), "top1": int(probs.argmax())}


def view_payload(pixels: np.ndarray, occluded: Sequence[int], probs: torch.Tensor, target: int) -> dict:
    """The view of one occlusion set.

    Parameters
    ----------
    pixels : np.ndarray
        H x W x 3 uint8: the occluded image.
    occluded : sequence of int
        The occluded features' indices.
    probs : torch.Tensor
        K class probabilities of the occluded image.
    target : int
        The class followed.

    Returns
    -------
    dict
        The image, the occluded indices and the :func:`prediction`.
    """
    return {"image": wire.encode(pixels, "uint8"), "occluded": list(occluded), **prediction(probs, target)}


def features_payload(pixels: np.ndarray, relevance: np.ndarray, rel_scale: float, tau: float,
                     found: Sequence[np.ndarray], drops: torch.Tensor, colours: Sequence[tuple[int, int, int]],
                     classes: Sequence[str], target: int, method: str, base_probs: torch.Tensor) -> dict:
    """Everything the browser draws without the kernel: the image, the relevance (in units of
    its maximum), the numbered features as a label map with their facts and colours, and the
    prediction before any occlusion.

    Parameters
    ----------
    pixels : np.ndarray
        H x W x 3 uint8: the image.
    relevance : np.ndarray
        H x W relevance map.
    rel_scale : float
        The relevance panel's colour scale.
    tau : float
        The flood fill's relevance cutoff.
    found : sequence of np.ndarray
        The features, in number order, each an M x 2 array of (row, col) pixels.
    drops : torch.Tensor
        Per feature, the drop of p(target) when it alone is occluded.
    colours : sequence of RGB
        One colour per feature.
    classes : sequence of str
        The class names.
    target : int
        The class explained.
    method : str
        Where the relevance came from.
    base_probs : torch.Tensor
        K class probabilities of the image.

    Returns
    -------
    dict
        The payload.
    """
    H, W = relevance.shape
    n = len(found)
    labels = features.label_map(found, (H, W))
    rel_max = float(np.abs(relevance).max()) or 1.0
    info = [{"size": int(len(f)), "relevance": float(relevance[f[:, 0], f[:, 1]].sum()),
             "drop": float(drops[k]), "anchor": [int(v) for v in anchor(f)], "color": list(colours[k])}
            for k, f in enumerate(found)]
    return {
        "H": int(H), "W": int(W),
        "image": wire.encode(pixels, "uint8"),
        "relevance": wire.encode(torch.from_numpy(relevance / rel_max), "float16"),
        "rel_max": rel_max,
        "rel_scale": rel_scale,
        "tau": tau,
        "labels": wire.encode(labels.astype(np.uint8) if n < 256 else labels.astype(np.float32),
                              "uint8" if n < 256 else "float32"),
        "features": info,
        "classes": classes,
        "target": target,
        "method": method,
        "base_probs": [float(p) for p in base_probs],
    }


def analysis_payload(a: features.Analysis, lo: torch.Tensor, hi: torch.Tensor) -> dict:
    """The analysis's findings, one per metric of :data:`KIND_TITLES` (its image through the
    display range ``lo``, ``hi``; or why none was found), and how many sets it evaluated.

    Parameters
    ----------
    a : Analysis
        The result of :func:`xai_widgets.attribution.feature_occlusion.analyse`.
    lo, hi : torch.Tensor
        The per-channel display range (:func:`input_pixels`).

    Returns
    -------
    dict
        The payload.
    """
    findings = []
    within = "" if a.exhaustive else f" within {a.evaluated} forward passes"
    missing = {"smallest_flip": f"no set of features changes the top-1{within}",
               "smallest_keep": f"no kept set keeps the prediction{within}"}
    for kind, f in zip(KIND_TITLES, a.findings):
        entry = {"kind": kind, "title": KIND_TITLES[kind][0]}
        if f is None:
            entry["missing"] = missing[kind]
        else:
            entry.update(occluded=list(f.occluded), kept=list(f.kept),
                         image=wire.encode(input_pixels(f.image, lo, hi), "uint8"), target_prob=f.target_prob,
                         change=f.change, top1=f.top1, exhaustive=f.exhaustive)
        findings.append(entry)
    return {"findings": findings, "evaluated": a.evaluated, "exhaustive": a.exhaustive}
