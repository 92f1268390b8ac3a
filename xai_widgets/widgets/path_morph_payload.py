"""What PathMorph ships to the browser for one result: the frames, the step changes and
masks, the class probabilities and path diagnostics, and the Semantic Morphing replay."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..core import wire
from ..core.images import to_uint8

__all__ = ["morph_payload", "floats", "pixels"]


def pixels(x: torch.Tensor) -> np.ndarray:
    """C x H x W (or N x C x H x W) in [0, 1] -> H x W x C (N x H x W x C) uint8, channels kept.

    Parameters
    ----------
    x : torch.Tensor
        C x H x W or N x C x H x W values in [0, 1].

    Returns
    -------
    numpy.ndarray
        The same images, channels last, as uint8.
    """
    return to_uint8(x).cpu().movedim(-3, -1).numpy()


def floats(values) -> list:
    """A JSON list of floats; NaN and infinities (undefined values) become None.

    Parameters
    ----------
    values : array_like or torch.Tensor
        Numbers of any shape (flattened in row-major order).

    Returns
    -------
    list of float or None
        One entry per value.
    """
    arr = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=np.float64).ravel()
    return [float(v) if np.isfinite(v) else None for v in arr]


def morph_payload(r, class_name: Callable[[int], str], labels: dict[str, str]) -> dict:
    """The ``_morph`` trait for a :class:`xai_widgets.morph.pipeline.MorphResult` ``r``.

    Parameters
    ----------
    r : MorphResult
        The path, its path mask and diagnostics (one image).
    class_name : callable
        Class index -> the name shown.
    labels : dict
        Captions of the "original", "reconstruction" and "morphed" endpoints.

    Returns
    -------
    dict
        JSON-able, with wire-encoded arrays (see the browser's ``js/path_morph/state.js``).
    """
    frames = r.frames.detach().float().cpu()  # n x C x H x W
    diffs = (frames[1:] - frames[:-1]).mean(dim=1)  # grey step change, (n-1) x H x W
    pm = r.mask
    masked = diffs * pm.mask.float().cpu()
    signed = pm.signed.float().cpu().mean(dim=0)  # grey: one red/blue map
    w = r.window
    return {
        "classes": [class_name(k) for k in range(r.frame_probs.shape[1])],
        "s": int(r.s), "o": int(r.o), "mode": r.mode,
        "frames": wire.encode(pixels(frames), "uint8"),
        "alphas": floats(r.alpha),
        "diffs": wire.encode(diffs, "float16"),
        # one scale per step: the radial path's first and last steps are many times the middle ones
        "diff_scale": floats(diffs.abs().flatten(1).amax(dim=1)),
        "masked_scale": floats(masked.abs().flatten(1).amax(dim=1)),
        "mask": wire.encode(pm.mask.float().cpu(), "float32"),
        "signed": wire.encode(signed, "float16"),
        "signed_max": float(signed.abs().max()),
        "grads": None if r.gradients is None else wire.encode(r.gradients.float().cpu().sum(dim=1), "float16"),
        "probs": wire.encode(r.frame_probs.float().cpu(), "float32"),
        "entropy": floats(r.frame_entropy),
        "window": {"mean": floats([w.mean])[0], "lo": floats([w.low])[0], "hi": floats([w.high])[0]},
        "gains": floats(pm.gains),
        "cumulative": floats(torch.cat([torch.zeros(1), pm.cumulative.double()])),
        "norms": floats(r.diagnostics.norms),
        "bands": _bands(r),
        "summary": {"J": float(pm.J), "total_gain": float(pm.total_gain), "fraction": floats([pm.fraction])[0]},
        "endpoints": {"original": wire.encode(pixels(r.image), "uint8"),
                      "reconstruction": wire.encode(pixels(frames[-1]), "uint8"),
                      "morphed": wire.encode(pixels(frames[0]), "uint8")},
        "labels": labels,
        "warnings": list(r.warnings),
        "sm": _replay(r.morph),
    }


def _bands(r) -> dict:
    """Class-norm bands (mean ± std) of self and other, in the units of the path's codes:
    norms of encoder samples when best-of-K chose a sample (candidate > 0), else of encoder
    means; plus the Semantic Morphing norm target r_o (of encoder means, the thesis's prior)."""
    t = r.norms
    if t is None:
        return {"s": [None, None], "o": [None, None], "kind": None, "target": None}
    sampled = t.sample_mean is not None and int(r.reconstruction.index[0]) > 0
    mean, std = (t.sample_mean, t.sample_std) if sampled else (t.mean, t.std)
    pair = lambda c: floats([mean[c], std[c]])  # noqa: E731
    return {"s": pair(int(r.s)), "o": pair(int(r.o)), "kind": "sample" if sampled else "mean",
            "target": floats(t.targets(torch.tensor([int(r.o)])))[0]}


def _replay(h) -> dict | None:
    """The Semantic Morphing history of the (single) image, for the replay slider."""
    if h.thumbnails is None:
        return None
    real = h.active[:, 0]
    p_other = h.trace_probs[:, 0, int(h.o[0])]
    return {"frames": wire.encode(h.thumbnails[real, 0].movedim(1, -1).contiguous(), "uint8"),
            "iters": [int(t) for t in h.t[real]],
            "objective": floats(h.loss_objective[real, 0]), "likelihood": floats(h.loss_likelihood[real, 0]),
            "total": floats(h.loss_total[real, 0]), "entropy": floats(h.trace_entropy[real, 0]),
            "p_other": floats(p_other[real]), "success": bool(h.success[0])}
