"""What ConceptExplorer ships to the browser: per concept its Net2Vec weights (sorted), scores
and neighbours, and for its held-out examples at each decile of per-image IoU (Fong's
non-maximal visualisation) the learned combination's logits, the best single filter's mask
and the concept's mask at display resolution, plus every channel's activations on those
examples (for the bar chart's clicks)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..concepts.net2vec import ConceptEmbeddings, concept_logits, decile_examples, filter_masks
from ..core import wire
from ..core.capture import capture_maps

__all__ = ["ExplorerData", "SLOTS", "DISPLAY", "NEAREST", "explorer_data", "explorer_payload", "display_size",
           "weight_order", "payload_bytes"]

SLOTS = 10  # examples per concept: one per decile of per-image IoU
DISPLAY = 64  # px: the long side of the example images and masks the browser draws
NEAREST = 5  # neighbours listed per concept


@dataclass
class ExplorerData:
    """The arrays behind the view (what the payload encodes and the picture draws).

    Attributes
    ----------
    slots : numpy.ndarray
        concepts x SLOTS int: each example's row in ``images`` (-1: no example).
    index : numpy.ndarray
        concepts x SLOTS int: each example's index in the probe set (-1: none).
    iou, single_iou : numpy.ndarray
        concepts x SLOTS: the example's IoU with the learned combination and with the best
        single filter, at the masks' resolution (NaN: no example).
    images : numpy.ndarray
        U x dh x dw x 3 uint8: the distinct example images at display size.
    logits : numpy.ndarray
        concepts x SLOTS x dh x dw float32 (float16 values): the combination's logits.
    single, truth : numpy.ndarray
        concepts x SLOTS x dh x dw bool: the best single filter's mask and the concept's mask.
    acts : numpy.ndarray
        U x C x h x w uint8: each channel's activation over [0, ``act_max[c]``].
    act_max : numpy.ndarray
        C float: each channel's largest activation on the examples.
    """

    slots: np.ndarray
    index: np.ndarray
    iou: np.ndarray
    single_iou: np.ndarray
    images: np.ndarray
    logits: np.ndarray
    single: np.ndarray
    truth: np.ndarray
    acts: np.ndarray
    act_max: np.ndarray


def display_size(shape) -> tuple[int, int]:
    """(dh, dw): the masks' (H, W) scaled so the long side is at most :data:`DISPLAY`.

    Parameters
    ----------
    shape : tuple of int
        (H, W) of the concept masks.

    Returns
    -------
    tuple of int
        The display resolution.
    """
    H, W = shape
    f = min(1.0, DISPLAY / max(H, W))
    return max(1, round(H * f)), max(1, round(W * f))


def explorer_data(model, x: torch.Tensor, pixels, masks: list[np.ndarray], emb: ConceptEmbeddings,
                  layouts=None, batch_size: int = 64) -> ExplorerData:
    """The examples of every concept, their masks at display size and the channels' activations.

    Parameters
    ----------
    model : torch.nn.Module
        The probed model (run in eval mode, left as given).
    x : torch.Tensor
        N x C x H x W model inputs of the probe set.
    pixels : callable
        ``(i, (dw, dh)) -> dh x dw x 3 uint8``: probe image ``i`` at display size.
    masks : list of numpy.ndarray
        Per concept, N x H' x W' bool masks, in the order of ``emb.names``.
    emb : ConceptEmbeddings
        The segmentation probe's result.
    layouts : mapping, optional
        ``{layer: layout}``, as for :func:`xai_widgets.core.capture.capture_maps`.
    batch_size : int, default 64
        Images per forward pass.

    Returns
    -------
    ExplorerData
    """
    Q = len(emb.names)
    positions = [decile_examples(emb.image_iou[q], SLOTS) for q in range(Q)]  # into the held-out images
    picks = [np.asarray(emb.test)[p] for p in positions]
    unique = sorted({int(i) for p in picks for i in p})
    if not unique:
        raise ValueError("no held-out image shows any concept or its prediction: use more images")
    acts = torch.cat([capture_maps(model, x[unique[i:i + batch_size]], [emb.layer], layouts=layouts)[emb.layer]
                      .maps.float().cpu() for i in range(0, len(unique), batch_size)])
    size = masks[0].shape[1:]
    dh, dw = display_size(size)
    where = {i: u for u, i in enumerate(unique)}
    shape = (Q, SLOTS)
    slots, index = np.full(shape, -1), np.full(shape, -1)
    iou, single_iou = np.full(shape, np.nan), np.full(shape, np.nan)
    logits = np.zeros(shape + (dh, dw), np.float32)
    single, truth = np.zeros(shape + (dh, dw), bool), np.zeros(shape + (dh, dw), bool)
    for q, pick in enumerate(picks):
        if not len(pick):
            continue
        u = [where[int(i)] for i in pick]
        k = emb.single[q][0]
        full = filter_masks(emb, acts[u], [k], size)[:, 0].numpy()
        m = np.asarray(masks[q][pick], bool)
        inter, union = (full & m).sum((1, 2)), (full | m).sum((1, 2))
        n = len(pick)
        slots[q, :n], index[q, :n] = u, pick
        iou[q, :n] = np.asarray(emb.image_iou[q])[positions[q]]
        single_iou[q, :n] = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
        logits[q, :n] = concept_logits(emb, acts[u], (dh, dw))[:, q].half().float().numpy()
        single[q, :n] = filter_masks(emb, acts[u], [k], (dh, dw))[:, 0].numpy()
        area = F.interpolate(torch.from_numpy(m).float()[:, None], size=(dh, dw), mode="area")[:, 0]
        truth[q, :n] = (area >= 0.5).numpy()
    act_max = acts.clamp_min(0).amax((0, 2, 3)).clamp_min(1e-12)
    quantised = (acts.clamp_min(0) / act_max[None, :, None, None] * 255).round().clamp(0, 255).to(torch.uint8)
    images = np.stack([pixels(i, (dw, dh)) for i in unique])
    return ExplorerData(slots, index, iou, single_iou, images, logits, single, truth, quantised.numpy(),
                        act_max.numpy())


def weight_order(weights: np.ndarray) -> np.ndarray:
    """Per concept, the channels by weight, largest (most positive) first (stable for ties)."""
    return np.argsort(-np.asarray(weights, np.float64), axis=1, kind="stable")


def explorer_payload(emb: ConceptEmbeddings, data: ExplorerData, categories: list[str]) -> dict:
    """The ``_data`` trait: everything the browser draws, shipped once.

    Parameters
    ----------
    emb : ConceptEmbeddings
        Weights, scores and neighbours.
    data : ExplorerData
        The examples (:func:`explorer_data`).
    categories : list of str
        Each concept's category, in the order of ``emb.names``.

    Returns
    -------
    dict
        JSON-able, with wire-encoded arrays (see ``js/concept_explorer/data.js``).
    """
    Q = len(emb.names)
    n = min(NEAREST, Q - 1)
    as_list = lambda a: [None if not np.isfinite(v) else float(v) for v in np.ravel(a)]  # noqa: E731
    examples = [[{"image": int(data.slots[q, s]), "index": int(data.index[q, s]), "iou": as_list([data.iou[q, s]])[0],
                  "single_iou": as_list([data.single_iou[q, s]])[0]}
                 for s in range(SLOTS) if data.slots[q, s] >= 0] for q in range(Q)]
    return {
        "layer": emb.layer, "names": list(emb.names), "categories": list(categories),
        "iou": as_list(emb.iou), "single": [[int(k), float(v)] for k, v in emb.single],
        "weights": wire.encode(np.asarray(emb.weights, np.float32), "float32"),
        "order": weight_order(emb.weights).tolist(),
        "nearest": [[[m, float(s)] for m, s in emb.nearest(name, n)] if n else [] for name in emb.names],
        "settings": {k: v for k, v in emb.settings.items() if isinstance(v, (int, float, str))},
        "examples": examples,
        "images": wire.encode(data.images, "uint8"),
        "logits": wire.encode(data.logits, "float16"),
        "single_masks": wire.encode(data.single.astype(np.uint8), "uint8"),
        "truth": wire.encode(data.truth.astype(np.uint8), "uint8"),
        "acts": wire.encode(data.acts, "uint8"),
        "act_max": as_list(data.act_max),
    }


def payload_bytes(data: ExplorerData) -> int:
    """Bytes of the arrays :func:`explorer_payload` ships (the budget's measure)."""
    return (data.images.size + data.logits.size * 2 + data.single.size + data.truth.size + data.acts.size)
