"""LIME for images (Ribeiro, Singh and Guestrin, "Why should I trust you?", KDD 2016, sections 3-4).

The image is cut into superpixels; LIME samples images with random subsets of them hidden, scores
each with the model, and fits a weighted linear model on the binary "which superpixels are kept"
vectors, weighting each sample by its closeness to the whole image (Eq. 1-2): each superpixel's
coefficient is its attribution.

Superpixels come from scikit-image's SLIC (Achanta et al., TPAMI 2012), the segmentation the
field uses and maintains (the optional extra ``xai_widgets[lime]``); the sampling and fit are
Captum's ``Lime``. Defaults are those of Ribeiro et al.'s image explainer: 1000 samples, hidden
superpixels filled with their mean colour, the kernel sqrt(exp(-d^2 / w^2)) with w = 0.25 on the
cosine distance d between the kept-superpixel vector and the all-kept one, a ridge regression
(alpha 1). SLIC: about 50 segments, compactness 10.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..core.capture import preserved_model
from ..core.rng import seeded
from ..core.targets import ContrastiveScore, prepare_inputs, resolve_targets
from ..core.tasks import CancelFlag, Progress, check, report

__all__ = ["lime", "lime_attributions", "superpixels", "kernel_weight"]


def _skimage_slic():
    try:
        from skimage.segmentation import slic
    except ImportError as err:
        raise ImportError('LIME needs scikit-image for its superpixels: pip install "xai_widgets[lime]"') from err
    return slic


def superpixels(image: torch.Tensor, segments: int = 50, compactness: float = 10.0) -> torch.Tensor:
    """SLIC superpixels of one C x H x W image (Achanta et al. 2012, via scikit-image).

    Parameters
    ----------
    image : torch.Tensor
        C x H x W image; its values are scaled to [0, 1] over the image for the segmentation.
    segments : int, default 50
        About how many superpixels.
    compactness : float, default 10
        SLIC's balance of colour against space (higher: squarer segments).

    Returns
    -------
    torch.Tensor
        H x W long labels 0..K-1 on ``image``'s device.
    """
    x = image.detach().float().cpu()
    lo, hi = float(x.min()), float(x.max())
    pixels = ((x - lo) / (hi - lo if hi > lo else 1.0)).permute(1, 2, 0).numpy().astype(np.float64)
    labels = _skimage_slic()(pixels, n_segments=int(segments), compactness=float(compactness), start_label=0,
                             channel_axis=-1 if pixels.shape[-1] > 1 else None)
    _, dense = np.unique(labels, return_inverse=True)  # consecutive labels
    return torch.from_numpy(dense.reshape(labels.shape)).to(image.device)


def kernel_weight(kept: torch.Tensor, width: float = 0.25) -> torch.Tensor:
    """Ribeiro et al.'s sample weight: sqrt(exp(-d^2 / w^2)), d the cosine distance of the kept vector to all-kept.

    Parameters
    ----------
    kept : torch.Tensor
        S x K binary vectors (1: superpixel kept).
    width : float, default 0.25
        The kernel width w.

    Returns
    -------
    torch.Tensor
        S weights in (0, 1]; 0 for a sample that keeps nothing (cosine undefined).
    """
    k = kept.float()
    norm = k.norm(dim=1) * math.sqrt(k.shape[1])
    cos = torch.where(norm > 0, k.sum(1) / norm.clamp_min(1e-12), torch.zeros_like(norm))
    d = 1 - cos
    return torch.where(norm > 0, torch.exp(-d ** 2 / width ** 2).sqrt(), torch.zeros_like(d))


def _fill(x: torch.Tensor, labels: torch.Tensor, fill) -> torch.Tensor:
    """The image a fully hidden sample shows: each superpixel's mean colour, or a constant."""
    if fill != "mean":
        return torch.full_like(x, float(fill))
    flat, lab = x.flatten(1), labels.flatten()
    k = int(lab.max()) + 1
    sums = torch.zeros(x.shape[0], k, dtype=x.dtype, device=x.device).index_add_(1, lab, flat)
    counts = torch.bincount(lab, minlength=k).to(x.dtype)
    return (sums / counts)[:, lab].view_as(x)


def lime(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, samples: int = 1000,
         segments: int = 50, compactness: float = 10.0, kernel_width: float = 0.25, fill="mean",
         batch_size: int = 64, seed: int = 0, progress: Progress = None, cancel: CancelFlag = None) -> torch.Tensor:
    """LIME attributions: each superpixel's coefficient in a locally weighted linear model of the score.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (N x K logits; the logit of the target is explained, minus the contrast's);
        left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch.
    target, contrast : None, int, sequence of int or 1-D tensor, optional
        As the other methods (None: each image's top-1).
    samples : int, default 1000
        Perturbed images per image.
    segments, compactness : int, float
        SLIC's settings (see :func:`superpixels`).
    kernel_width : float, default 0.25
        w of the sample weights (:func:`kernel_weight`).
    fill : "mean" or float, default "mean"
        What a hidden superpixel shows: its mean colour, or a constant.
    batch_size : int, default 64
        Perturbed images per forward pass.
    seed : int, default 0
        Seed of the samples.
    progress : callable, optional
        ``progress(done, total)`` after each image.
    cancel : threading.Event or callable, optional
        Checked before each image.

    Returns
    -------
    torch.Tensor
        N x C x H x W attributions (every pixel of a superpixel, every channel, carries its
        coefficient), float32 on the model's device.

    Raises
    ------
    ValueError
        For a setting out of range.
    ImportError
        Without scikit-image.
    """
    x = prepare_inputs(model, inputs)
    t, c = resolve_targets(model, x, target, contrast)
    return lime_attributions(model, x, t, c, samples=samples, segments=segments, compactness=compactness,
                             kernel_width=kernel_width, fill=fill, batch_size=batch_size, seed=seed,
                             progress=progress, cancel=cancel)


def lime_attributions(model, x, t, c, *, samples=1000, segments=50, compactness=10.0, kernel_width=0.25, fill="mean",
                      batch_size=64, seed=0, progress=None, cancel=None) -> torch.Tensor:
    """:func:`lime` on a prepared batch with resolved classes (what the method registry calls)."""
    for value, name in ((samples, "samples"), (segments, "segments"), (batch_size, "batch_size")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an int >= 2, got {value!r}")
    if isinstance(kernel_width, bool) or not isinstance(kernel_width, (int, float)) or not kernel_width > 0:
        raise ValueError(f"kernel_width must be a positive number, got {kernel_width!r}")
    if fill != "mean" and (isinstance(fill, bool) or not isinstance(fill, (int, float))):
        raise ValueError(f"fill must be 'mean' or a number, got {fill!r}")
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import Lime

    def similarity(original, perturbed, kept, **kwargs):
        return kernel_weight(kept, kernel_width)

    out = []
    with preserved_model(model, eval_mode=True), torch.no_grad():
        explainer = Lime(ContrastiveScore(model), interpretable_model=SkLearnRidge(alpha=1.0),
                         similarity_func=similarity)
        for i in range(len(x)):
            check(cancel)
            labels = superpixels(x[i], segments, compactness)
            xi = x[i:i + 1]
            with seeded(seed + i, x.device):  # Captum draws the samples from the global generator
                attr = explainer.attribute(xi, baselines=_fill(xi[0], labels, fill)[None], target=0,
                                           additional_forward_args=(t[i:i + 1],) + (
                                               (c[i:i + 1],) if c is not None else ()),
                                           feature_mask=labels[None, None].expand_as(xi), n_samples=samples,
                                           perturbations_per_eval=batch_size)
            out.append(attr.float())
            report(progress, i + 1, len(x))
    return torch.cat(out)
