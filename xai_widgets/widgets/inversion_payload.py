"""What InversionExplorer ships to the browser: the image, and per layer the snapshots of its
pre-images along the descent, the per-pixel spread across them, and the loss curves.

Images go as uint8 pixels (what the browser draws), each start's loss only at the snapshot
steps (the captions the slider shows), the mean loss at every step (the chart). The binary
part, :func:`payload_size`, is checked against the widget's ``max_bytes`` before any descent.
"""
from __future__ import annotations

from typing import Sequence

import json

import numpy as np
import torch

from ..core import colormaps, wire
from ..inversion import Inversion
from .path_morph_payload import floats

__all__ = ["display_range", "spread", "loss_curve", "inversion_payload", "decoded_pixels", "payload_size",
           "shipped_bytes", "SPREAD_COLORMAP"]

SPREAD_COLORMAP = "viridis"


def display_range(image: torch.Tensor) -> tuple[float, float]:
    """The values drawn as black and white: [0, 1], widened to the image's own range.

    Pre-images are not bounded, so they are drawn on the target's scale: an image in [0, 1]
    (the package's default model input) keeps [0, 1]; a normalised input (e.g. ImageNet's mean
    and std) gets its own minimum and maximum.

    Parameters
    ----------
    image : torch.Tensor
        The target image, any shape.

    Returns
    -------
    tuple of float
        ``(lo, hi)`` with ``lo <= 0`` and ``hi >= 1``.
    """
    return min(0.0, float(image.min())), max(1.0, float(image.max()))


def spread(images: torch.Tensor) -> torch.Tensor:
    """Per-pixel spread across pre-images: the standard deviation over the starts (population,
    ddof 0), averaged over the colour channels.

    Where the pre-images agree the layer keeps the image; where they vary it throws it away
    (Mahendran and Vedaldi 2016, section 4: different starts give different pre-images).

    Parameters
    ----------
    images : torch.Tensor
        ... x S x C x H x W pre-images (S starts).

    Returns
    -------
    torch.Tensor
        ... x H x W float32 spreads.
    """
    return images.float().std(dim=-4, correction=0).mean(dim=-3)


def loss_curve(inv: Inversion) -> torch.Tensor:
    """Each start's representation loss after each step, 0..iterations.

    ``history["loss"][t]`` is the loss of the images after t steps (measured before step t+1);
    the last row is the final loss.

    Parameters
    ----------
    inv : Inversion
        One layer's inversion.

    Returns
    -------
    torch.Tensor
        ``(iterations + 1) x S`` float64 values.
    """
    return torch.cat([inv.history["loss"].double(), inv.loss.double()[None]])


def payload_size(shape: Sequence[int], layers: int, n: int, snapshots: int) -> int:
    """Bytes of the binary part of the payload: the image and, per layer, ``snapshots`` x ``n``
    pre-images (uint8, H x W x C) and ``snapshots`` spreads (uint8, H x W).

    Parameters
    ----------
    shape : sequence of 4 int
        1, C, H, W of the image.
    layers, n, snapshots : int
        Layers, pre-images per layer and snapshots per descent (the start included).

    Returns
    -------
    int
        The bytes.
    """
    _, C, H, W = shape
    return C * H * W + layers * snapshots * (n * C * H * W + H * W)


def shipped_bytes(payload: dict) -> int:
    """Everything the ``_inv`` trait sends: its binary buffers and the JSON of the rest, as
    ipywidgets sends a state (each buffer taken out of the JSON, its key with it).

    Parameters
    ----------
    payload : dict
        An :func:`inversion_payload`.

    Returns
    -------
    int
        The buffers' bytes plus the length of the JSON text without them.
    """
    sizes = []

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if not _counted(v, sizes)}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    text = json.dumps(strip(payload))
    return sum(sizes) + len(text)


def _counted(value, sizes: list) -> bool:
    """Whether ``value`` is a binary buffer (its size then appended to ``sizes``)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        sizes.append(len(value))
        return True
    return False


def _pixels(x: torch.Tensor, lo: float, hi: float) -> dict:
    """... x C x H x W values as uint8 ... x H x W x C over [lo, hi] (clipped), on the wire."""
    return wire.encode(x.float().movedim(-3, -1).contiguous(), "uint8", lo=lo, hi=hi)


def inversion_payload(image: torch.Tensor, inversions: Sequence[Inversion], layers: Sequence[str]) -> dict:
    """The ``_inv`` trait: the image and every finished layer's pre-images, spreads and losses.

    Parameters
    ----------
    image : torch.Tensor
        1 x C x H x W target image (model input).
    inversions : sequence of Inversion
        The finished layers, in the order of ``layers``.
    layers : sequence of str
        Every requested layer (those without an inversion are shown as pending).

    Returns
    -------
    dict
        JSON-able, with wire-encoded arrays: ``image`` (H x W x C uint8), ``range`` (the values
        drawn black and white), ``spread_hi`` (the spread drawn as the colour table's top: the
        largest final spread of any layer), ``lut`` (its colour table), ``steps`` (the iteration of
        each snapshot), ``iterations``, ``n``, ``pending`` (layers not computed) and ``layers``:
        per layer ``name``, ``snapshots`` (K x S x H x W x C uint8), ``spread`` (K x H x W uint8
        over [0, spread_hi]), ``loss`` (the mean loss over the starts after each step, 0..iterations),
        ``losses`` (each start's at each snapshot step, K x S, row-major) and ``final`` (each
        pre-image's final loss).
    """
    lo, hi = display_range(image)
    spreads = [spread(inv.snapshots) for inv in inversions]
    top = max([float(s[-1].max()) for s in spreads] + [0.0]) or 1.0
    first = inversions[0] if inversions else None
    return {
        "image": _pixels(image[0].detach().cpu(), lo, hi),
        "range": [lo, hi],
        "spread_hi": top,
        "lut": colormaps.LUTS[SPREAD_COLORMAP].tobytes(),
        "steps": [] if first is None else [int(s) for s in first.snapshot_steps],
        "iterations": 0 if first is None else int(first.settings["iterations"]),
        "n": 0 if first is None else int(first.images.shape[0]),
        "pending": list(layers[len(inversions):]),
        "layers": [{"name": inv.layer, "snapshots": _pixels(inv.snapshots, lo, hi),
                    "spread": wire.encode(s, "uint8", lo=0.0, hi=top),
                    "loss": floats(loss_curve(inv).mean(1)),
                    "losses": floats(loss_curve(inv)[list(inv.snapshot_steps)]), "final": floats(inv.loss)}
                   for inv, s in zip(inversions, spreads)],
    }


def decoded_pixels(payload: dict) -> np.ndarray:
    """The raw uint8 bytes of an image payload (what the browser draws), shaped."""
    return np.frombuffer(bytes(payload["data"]), np.uint8).reshape(payload["shape"])
