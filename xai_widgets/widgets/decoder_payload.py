"""What DecoderExplorer ships: the images and their reconstructions as uint8 pixels, the
classifier's top class along the blend between them, IC-nMI and BC-nMI, and the std map.

The blend is done on the uint8 pixels with integer arithmetic (:func:`blend_pixels`), the same
in Python and in the browser (js/decoder/data.js), so the classifier's predictions shipped for
each blend step are those of exactly the pixels on screen."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..core import colormaps, wire
from ..decoder import BINS, bc_nmi, ic_nmi, reconstruct, std_map
from ..core.capture import model_device, preserved_model

__all__ = ["STD_COLORMAP", "as_pixels", "blend_pixels", "blend_predictions", "decoder_payload"]

STD_COLORMAP = "viridis"


def as_pixels(x: torch.Tensor) -> np.ndarray:
    """N x C x H x W values in [0, 1] as N x H x W x C uint8 (rounded, clipped).

    Parameters
    ----------
    x : torch.Tensor
        Images in [0, 1].

    Returns
    -------
    numpy.ndarray
        uint8 pixels.
    """
    return (x.detach().cpu().double().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def blend_pixels(image: np.ndarray, recon: np.ndarray, k: int, steps: int) -> np.ndarray:
    """``(1 - b) x + b A(x)`` at ``b = k / (steps - 1)``, on uint8 pixels, rounded half up.

    ``floor(((steps - 1 - k) x + k a + (steps - 1) // 2) / (steps - 1))`` in integers: the
    browser computes the same expression, so both draw the same bytes.

    Parameters
    ----------
    image, recon : numpy.ndarray
        uint8 pixels of the same shape.
    k : int
        The blend step, 0 (the image) to ``steps - 1`` (the reconstruction).
    steps : int
        Number of blend steps, at least 2.

    Returns
    -------
    numpy.ndarray
        uint8 pixels.
    """
    d = steps - 1
    total = (d - k) * image.astype(np.int64) + k * recon.astype(np.int64) + d // 2
    return (total // d).astype(np.uint8)


@torch.no_grad()
def blend_predictions(classifier: nn.Module, images: np.ndarray, recons: np.ndarray,
                      steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's top class and its softmax probability at every blend step of every image.

    Parameters
    ----------
    classifier : torch.nn.Module
        Images (N x C x H x W in [0, 1]) to logits; left as it was.
    images, recons : numpy.ndarray
        N x H x W x C uint8 pixels of the images and of their reconstructions.
    steps : int
        Blend steps.

    Returns
    -------
    tuple of numpy.ndarray
        N x steps int64 classes and N x steps float64 probabilities.
    """
    device = model_device(classifier)
    top, prob = [], []
    with preserved_model(classifier, eval_mode=True):
        for k in range(steps):
            x = torch.from_numpy(blend_pixels(images, recons, k, steps)).permute(0, 3, 1, 2).float().div(255)
            p = classifier(x.to(device)).double().softmax(1).cpu()
            best = p.max(1)
            top.append(best.indices.numpy())
            prob.append(best.values.numpy())
    return np.stack(top, 1), np.stack(prob, 1)


def decoder_payload(classifier: nn.Module, autoencoder: nn.Module, images: torch.Tensor, steps: int,
                    classes: Sequence[str]) -> dict:
    """The ``_dec`` trait: everything the browser draws, computed once.

    Parameters
    ----------
    classifier : torch.nn.Module
        f, left as it was.
    autoencoder : torch.nn.Module
        A = D o E, left as it was.
    images : torch.Tensor
        N >= 2 images N x C x H x W in [0, 1].
    steps : int
        Blend steps from the image (0) to its reconstruction (steps - 1).
    classes : sequence of str
        A name per class.

    Returns
    -------
    dict
        JSON-able, with wire-encoded arrays: ``images`` and ``recons`` (N x H x W x C uint8),
        ``steps``, ``top`` and ``prob`` (N x steps, row-major: the top class and its probability at
        each blend step), ``classes``, ``ic_nmi`` (per image), ``bc_nmi`` (the mean over all pairs),
        ``pairs``, ``bins``, ``std`` (H x W uint8 over [0, std_hi]), ``std_hi`` and ``lut``.
    """
    pixels = as_pixels(images)
    recon = reconstruct(autoencoder, images)
    recon_pixels = as_pixels(recon)
    top, prob = blend_predictions(classifier, pixels, recon_pixels, steps)
    shown = recon_pixels.astype(np.float64) / 255  # the measures on what is drawn
    spread = std_map(np.moveaxis(shown, -1, 1))
    pairs = bc_nmi(shown)
    hi = float(spread.max()) or 1.0
    return {
        "images": wire.encode(pixels, "uint8"), "recons": wire.encode(recon_pixels, "uint8"), "steps": int(steps),
        "top": [int(c) for c in top.ravel()], "prob": [float(p) for p in prob.ravel()], "classes": list(classes),
        "ic_nmi": [float(v) for v in ic_nmi(pixels.astype(np.float64) / 255, shown)],
        "bc_nmi": float(pairs.mean()), "pairs": len(pairs), "bins": BINS,
        "std": wire.encode(spread, "uint8", lo=0.0, hi=hi), "std_hi": hi,
        "lut": colormaps.LUTS[STD_COLORMAP].tobytes(),
    }
