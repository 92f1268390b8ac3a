"""Meaningful and extremal perturbations: saliency masks learned by perturbing the image.

Two methods, written from the papers (TorchRay's code was not consulted: only a list of its
parameters was used for its defaults):

* **Meaningful perturbation**, Fong & Vedaldi, "Interpretable Explanations of Black Boxes by
  Meaningful Perturbation", ICCV 2017 (chapter 3 of Fong's DPhil thesis, Oxford 2020):
  :func:`meaningful_perturbation`, the deletion and preservation games of eq 3 with the
  artefact remedies of eq 4 (low-resolution mask upsampled and blurred, total variation,
  random jitter).
* **Extremal perturbation**, Fong, Patrick & Vedaldi, "Understanding Deep Networks via
  Extremal Perturbations and Smooth Masks", ICCV 2019 (chapter 4 of the
  thesis): :func:`extremal_perturbation`, a mask of each fixed area that maximises
  the model's score (eq 2), the area imposed by the sorted-mask loss (eq 4), masks made
  smooth by a smooth-max convolution of a low-resolution parameter mask (eqs 6-7), and the
  smallest area reaching the whole image's score (eq 3).

Mask convention everywhere: **1 = keep the pixel, 0 = perturb it fully** (the papers'
convention; chapter 1 of the thesis uses the opposite one). A meaningful-perturbation saliency map
is ``1 - mask``; an extremal mask is the salient region itself (see :class:`Extremal`).

The perturbation operators (:func:`perturb`, :func:`blur_pyramid`) are shared with the
occlusion sandbox: blur with sigma = max_blur * (1 - m) (the ch 3 formula, printed as
sigma_0 * m, corrected for 1 = keep, and ch 4's sigma_max * (1 - m)), computed from a pyramid of
progressively blurred images interpolated per pixel (Fong et al. 2019 footnote 2); fade to
black (2019 footnote 1); the mean colour; Gaussian noise (2017 section 4.1).

Model hygiene: every model call runs inside ``capture.preserved_model(model, eval_mode=True)``;
gradients are taken with ``torch.autograd.grad`` with respect to the mask parameters only, so
no weight gradient is computed or stored and no ``requires_grad`` flag is touched.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..core.blur import gaussian_blur
from ..core.capture import preserved_model, model_device
from ..core.images import check_finite, check_model_input
from ..core.outputs import pick
from ..core.targets import targets_from_logits
from ..core.tasks import check, report

__all__ = [
    "KINDS", "VARIANTS", "SCHEDULES", "GAMES", "Extremal", "Meaningful", "perturb", "blur_pyramid",
    "gaussian_blur", "smooth_masks", "mask_grid", "area_loss", "extremal_perturbation", "meaningful_perturbation",
]

KINDS = ("blur", "fade", "constant", "noise")
VARIANTS = ("preserve", "delete", "dual")
SCHEDULES = ("torchray", "paper")
GAMES = ("deletion", "preservation")

# Defaults of the two extremal schedules (TorchRay's and the paper's): iterations and the lambda growth per iteration
_SCHEDULE_ITERATIONS = {"torchray": 800, "paper": 1600}
_SCHEDULE_GROWTH = {"torchray": 1.0035, "paper": 1.0}
_MOMENTUM, _DAMPENING = 0.9, 0.9  # TorchRay's SGD; the paper gives momentum 0.9 only


# --------------------------------------------------------------------------------------------
# Perturbation operators
# --------------------------------------------------------------------------------------------

def blur_pyramid(inputs: torch.Tensor, levels: int = 8, max_sigma: float = 20.0) -> torch.Tensor:
    """The perturbation pyramid of Fong et al. 2019 footnote 2: N x L x C x H x W.

    Level ``l`` is ``inputs`` blurred with sigma_l = max_sigma * (1 - l / (L - 1)) (see
    :func:`gaussian_blur`): level 0 is the most blurred image, level L - 1 the unperturbed
    input (exactly). ``inputs``: N x C x H x W float.

    Parameters
    ----------
    inputs : torch.Tensor
        N x C x H x W float images.
    levels : int, optional
        Number of pyramid levels L (>= 2). Default 8.
    max_sigma : float, optional
        Blur sigma of level 0 in pixels (>= 0). Default 20.0.

    Returns
    -------
    torch.Tensor
        N x L x C x H x W pyramid, on the inputs' device.
    """
    x = _images(inputs)
    levels = _int_at_least(levels, 2, "levels")
    max_sigma = _number_at_least(max_sigma, 0.0, "max_sigma")
    out = [gaussian_blur(x, max_sigma * (1.0 - level / (levels - 1))) for level in range(levels - 1)]
    return torch.stack([*out, x], dim=1)


class _Perturber:
    """m (x) x for one batch of images, with the pyramid (or mean colour, noise) made once.

    ``apply(keep, rows)``: ``keep`` P x H x W in [0, 1] (1 = unperturbed), ``rows`` the image
    index of each of the P masks (None: P == N, mask p on image p) -> P x C x H x W."""

    def __init__(self, x: torch.Tensor, kind: str, levels: int, max_blur: float, seed: int):
        self.kind, self.x = kind, x
        if kind == "blur":
            self.pyramid = blur_pyramid(x, levels, max_blur)
        elif kind in ("constant", "noise"):
            mean = x.mean(dim=(2, 3), keepdim=True)
            if kind == "constant":
                self.fill = mean.expand_as(x)
            else:
                gen = torch.Generator().manual_seed(int(seed))
                z = torch.randn(x.shape, generator=gen, dtype=torch.float32).to(x.device, x.dtype)
                self.fill = mean + x.std(dim=(2, 3), keepdim=True, correction=0) * z

    def apply(self, keep: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind == "blur":
            pyr = self.pyramid if rows is None else self.pyramid[rows]
            top = pyr.shape[1] - 1
            t = keep.clamp(0, 1) * top  # continuous pyramid level: 0 = most blurred, top = the image
            lo = t.detach().floor().clamp(max=top - 1).long()
            frac = (t - lo.to(t.dtype)).unsqueeze(1)
            index = lo[:, None, None].expand(-1, 1, pyr.shape[2], -1, -1)
            low = pyr.gather(1, index)[:, 0]
            high = pyr.gather(1, index + 1)[:, 0]
            return (1 - frac) * low + frac * high  # exact at frac 0 and 1
        x = self.x if rows is None else self.x[rows]
        k = keep.unsqueeze(1)
        if self.kind == "fade":
            return k * x
        fill = self.fill if rows is None else self.fill[rows]
        return k * x + (1 - k) * fill


def perturb(inputs: torch.Tensor, masks: torch.Tensor, kind: str = "blur", *, max_blur: float = 10.0,
            levels: int = 8, seed: int = 0) -> torch.Tensor:
    """Perturb images where a mask is below 1: N x C x H x W -> N x C x H x W.

    ``masks``: N x H x W, N x 1 x H x W, or one H x W mask for every image, values in [0, 1],
    **1 = keep the pixel**, 0 = perturb it fully. ``kind``:

    * ``"blur"``: Gaussian blur with sigma = ``max_blur`` * (1 - m(u)) at each pixel (Fong &
      Vedaldi 2017 section 4.1 with sigma_0 = 10, its printed sigma_0 * m corrected to
      sigma_0 * (1 - m) as in Fong et al. 2019 section 3.4), computed as in Fong et al. 2019
      footnote 2: a pyramid of ``levels`` images blurred with sigma = max_blur * l / (L - 1)
      (:func:`blur_pyramid`), linearly interpolated between the two levels around
      (L - 1) * m(u). m = 1 returns the pixel exactly, m = 0 the pixel blurred with max_blur.
    * ``"fade"``: m * x, fade to black (Fong et al. 2019 footnote 1).
    * ``"constant"``: m * x + (1 - m) * mu, mu the image's mean colour (2017 section 4.1).
    * ``"noise"``: m * x + (1 - m) * eta, eta i.i.d. Gaussian per pixel and channel (2017
      section 4.1, which gives no mean or spread: we draw eta = mu_c + s_c * z with mu_c and
      s_c the mean and standard deviation of the image's channel c, z ~ N(0, 1) from a
      generator seeded with ``seed``, so the noise is as strong as the image's own contrast
      and reproducible).

    Differentiable with respect to ``masks``. The result is on the inputs' device.

    Parameters
    ----------
    inputs : torch.Tensor
        N x C x H x W float images.
    masks : torch.Tensor
        N x H x W, N x 1 x H x W or H x W masks in [0, 1], 1 = keep the pixel.
    kind : str, optional
        One of :data:`KINDS`: "blur" (default), "fade", "constant" or "noise".
    max_blur : float, optional
        Blur sigma in pixels where the mask is 0 (sigma_0 of Fong & Vedaldi 2017), >= 0. Default 10.0.
    levels : int, optional
        Number of pyramid levels L for "blur" (>= 2). Default 8.
    seed : int, optional
        Seed of the generator of the "noise" perturbation. Default 0.

    Returns
    -------
    torch.Tensor
        N x C x H x W perturbed images on the inputs' device.

    Raises
    ------
    TypeError
        If ``masks`` is not a tensor.
    ValueError
        If the masks do not fit the inputs, have values outside [0, 1], or ``kind`` is unknown.
    """
    x = _images(inputs)
    kind = _choice(kind, KINDS, "kind")
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks must be a torch.Tensor, got {type(masks).__name__}")
    m = masks.to(device=x.device, dtype=x.dtype)
    n, _, h, w = x.shape
    if m.dim() == 2:
        m = m.expand(n, h, w)
    elif m.dim() == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.dim() != 3 or tuple(m.shape) != (n, h, w):
        raise ValueError(f"masks of shape {tuple(masks.shape)} do not fit inputs of shape {tuple(x.shape)}; "
                         f"give N x H x W, N x 1 x H x W or H x W = ({n}, {h}, {w}) masks")
    low, high = float(m.detach().min()), float(m.detach().max())
    if low < 0 or high > 1:
        raise ValueError(f"mask values must lie in [0, 1] (1 = keep), got [{low:g}, {high:g}]")
    max_blur = _number_at_least(max_blur, 0.0, "max_blur")
    levels = _int_at_least(levels, 2, "levels")
    return _Perturber(x, kind, levels, max_blur, seed).apply(m)


# --------------------------------------------------------------------------------------------
# Smooth masks and the area loss (Fong et al. 2019 sections 3.3 and 3.5)
# --------------------------------------------------------------------------------------------

def mask_grid(size: Sequence[int], step: int = 7) -> tuple[int, int]:
    """Shape of the low-resolution parameter mask for an image of ``size`` = (H, W).

    (ceil(H / step), ceil(W / step)), one parameter per ``step`` x ``step`` cell.

    Parameters
    ----------
    size : sequence of int
        The image size (H, W) in pixels.
    step : int, optional
        Cell size in pixels (>= 1). Default 7.

    Returns
    -------
    tuple of (int, int)
        The grid shape (ceil(H / step), ceil(W / step)).
    """
    h, w = (int(s) for s in size)
    step = _int_at_least(step, 1, "step")
    return (-(-h // step), -(-w // step))


def _radius(step: int, sigma: float) -> int:
    # neighbourhood of coarse cells each pixel looks at: 1 + ceil(sigma / step) cells each way
    # (TorchRay's radius), where the kernel has fallen well below 1
    return 1 + int(math.ceil(sigma / step))


@functools.lru_cache(maxsize=32)
def _mask_kernel(step: int, sigma: float, radius: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """k(|u - c_v| / sigma) for a pixel at offset (oy, ox) inside its cell and the centre c_v of
    the neighbour cell (dy, dx), k(z) = exp(-2 max(z - 1/2, 0)^2): a 1 x K x 1 x step x 1 x step
    tensor (K = (2r+1)^2 neighbours), cached on ``device``."""
    d = torch.arange(-radius, radius + 1, dtype=torch.float64)
    o = torch.arange(step, dtype=torch.float64)
    centre = (step - 1) / 2.0
    delta = o[None, :] - (d[:, None] * step + centre)  # (2r+1) x step
    dist = torch.sqrt(delta[:, None, :, None] ** 2 + delta[None, :, None, :] ** 2)
    k = torch.exp(-2.0 * torch.clamp(dist / sigma - 0.5, min=0.0) ** 2)
    return k.reshape(1, (2 * radius + 1) ** 2, 1, step, 1, step).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=32)
def _mask_outside(radius: int, gh: int, gw: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """1 x K x gh x 1 x gw x 1: 0 where neighbour k of cell (i, j) lies inside the gh x gw grid,
    -inf where it lies outside (left out of the smooth max)."""
    inside = _neighbours(torch.ones(1, gh, gw, dtype=torch.float64), radius)
    return torch.zeros_like(inside).masked_fill(inside < 0.5, -math.inf)[:, :, :, None, :, None].to(device, dtype)


def _neighbours(p: torch.Tensor, radius: int) -> torch.Tensor:
    """P x gh x gw -> P x K x gh x gw: the values of the (2r+1)^2 cells around each cell (zero outside)."""
    count, gh, gw = p.shape
    size = 2 * radius + 1
    padded = F.pad(p, (radius, radius, radius, radius))
    windows = padded.unfold(1, size, 1).unfold(2, size, 1)  # P x gh x gw x size x size (a view)
    return windows.permute(0, 3, 4, 1, 2).reshape(count, size * size, gh, gw)


def smooth_masks(params: torch.Tensor, *, step: int = 7, sigma: float = 21.0, coldness: float = 20.0,
                 size: Sequence[int]) -> torch.Tensor:
    """Smooth full-resolution masks from low-resolution parameters (Fong et al. 2019 section 3.5).

    ``params``: P x h x w or P x 1 x h x w, the auxiliary mask m-bar in [0, 1] on a grid of
    ``step`` x ``step`` pixel cells (cell (i, j) centred at pixel (i + 1/2) step - 1/2), with
    h * step >= H and w * step >= W (see :func:`mask_grid`). Returns P x H x W masks

        m(u) = smax_{v; T} k(|u - c_v| / sigma) * m-bar(v),   k(z) = exp(-2 max(z - 1/2, 0)^2)

    the max-convolution of eq 6 upsampled like a transposed convolution (section 3.5,
    "Implementation details"), with the max replaced by the smooth max of eq 7,
    smax_T f = sum f e^{f/T} / sum e^{f/T}, coldness = 1/T (20 in the paper and TorchRay).
    The kernel is TorchRay's (flat out to sigma / 2, then a Gaussian fall-off); the paper's
    printed exp(max{0, z - 1}^2 / 4) lost its minus sign.
    v runs over the cells within ``1 + ceil(sigma / step)`` cells of u's cell
    (cells outside the grid are left out of the smooth max, not counted as zeros).
    ``coldness=math.inf`` gives the hard max of eq 6, for which Lemma 1 holds exactly:
    k(0) = 1, so m-bar(cell of u) <= m(u) <= 1. The smooth max is a weighted mean of the same
    values, so it lies between their mean and their max: m <= 1 still, but an all-ones m-bar
    gives m slightly below 1 where the kernel of neighbour cells is below 1.

    Differentiable with respect to ``params`` (a hand-written backward for the smooth max).

    Parameters
    ----------
    params : torch.Tensor
        P x h x w or P x 1 x h x w auxiliary mask m-bar in [0, 1] (P masks).
    step : int, optional
        Cell size in pixels (>= 1). Default 7.
    sigma : float, optional
        The kernel's scale sigma in pixels (> 0). Default 21.0.
    coldness : float, optional
        1/T of the smooth max (> 0; ``math.inf`` for the hard max). Default 20.0.
    size : sequence of int
        The output size (H, W) in pixels (keyword, required).

    Returns
    -------
    torch.Tensor
        P x H x W masks, same device and dtype as ``params``.

    Raises
    ------
    TypeError
        If ``params`` is not a tensor.
    ValueError
        If ``params`` has the wrong shape, the grid does not cover ``size``, or ``step``, ``sigma``
        or ``coldness`` is out of range.
    """
    if not isinstance(params, torch.Tensor):
        raise TypeError(f"params must be a torch.Tensor, got {type(params).__name__}")
    p = params[:, 0] if params.dim() == 4 and params.shape[1] == 1 else params
    if p.dim() != 3:
        raise ValueError(f"params must be P x h x w or P x 1 x h x w, got shape {tuple(params.shape)}")
    step = _int_at_least(step, 1, "step")
    sigma = _number_at_least(sigma, 0.0, "sigma", strict=True)
    coldness = float(coldness)
    if not coldness > 0:
        raise ValueError(f"coldness (1/T) must be > 0 (math.inf: hard max), got {coldness}")
    h_out, w_out = (int(s) for s in size)
    count, gh, gw = p.shape
    if gh * step < h_out or gw * step < w_out:
        raise ValueError(f"a {gh} x {gw} parameter grid with step {step} covers {gh * step} x {gw * step} px, less "
                         f"than size {h_out} x {w_out}; use mask_grid(size, step) = {mask_grid((h_out, w_out), step)}")
    r = _radius(step, sigma)
    gh_need, gw_need = -(-h_out // step), -(-w_out // step)  # cells under the output (the rest is cropped)
    kernel = _mask_kernel(step, float(sigma), r, p.device, p.dtype)
    outside = _mask_outside(r, gh, gw, p.device, p.dtype)[:, :, :gh_need, :, :gw_need]
    # the (2r+1)^2 neighbour values of each cell, laid out like a transposed convolution's input
    values = _neighbours(p, r)[:, :, :gh_need, :gw_need]
    if math.isinf(coldness):
        f = values[:, :, :, None, :, None] * kernel + outside.clamp(min=-1.0)  # P x K x gh x s x gw x s
        out = f.amax(dim=1)
    else:
        out = _SmoothMax.apply(values, kernel, outside, coldness)
    return out.reshape(count, gh_need * step, gw_need * step)[:, :h_out, :w_out]


class _SmoothMax(torch.autograd.Function):
    """smax over the K neighbours of f = value * kernel (eq 7) at every pixel of every cell.

    ``values`` P x K x gh x gw, ``kernel`` 1 x K x 1 x s x 1 x s, ``outside`` 1 x K x gh x 1 x gw x 1
    (0, or -inf to leave a neighbour out) -> P x gh x s x gw x s. The kernel multiplies values
    broadcast over each cell's pixels, so the upsampled values are never stored; the backward
    is written by hand, d smax / d f_k = w_k (1 + (f_k - smax) / T) with w = softmax(f / T),
    summed over each cell's pixels, so the P x K x H x W intermediates are made once (they are
    the largest tensors of an extremal-perturbation step after the model's own)."""

    @staticmethod
    def forward(ctx, values, kernel, outside, coldness):
        f = values[:, :, :, None, :, None] * kernel
        w = torch.softmax(torch.add(outside, f, alpha=coldness), dim=1)
        out = torch.linalg.vecdot(w, f, dim=1)
        ctx.save_for_backward(f, w, out, kernel)
        ctx.coldness = coldness
        return out

    @staticmethod
    def backward(ctx, grad):
        f, w, out, kernel = ctx.saved_tensors
        g = (f - out[:, None]).mul_(ctx.coldness).add_(1).mul_(w).mul_(grad[:, None]).mul_(kernel)
        return g.sum(dim=(3, 5)), None, None, None


def area_loss(masks: torch.Tensor, areas, *, reduction: str = "mean") -> torch.Tensor:
    """The area constraint of Fong et al. 2019 eq 4: R_a(m) = |vecsort(m) - r_a|^2.

    ``masks``: (..., A, H, W), one mask per area; ``areas``: A fractions in [0, 1] (a
    sequence or 1-D tensor). vecsort sorts each mask's H*W values in non-decreasing order and
    r_a holds (1 - a)|Omega| zeros followed by a|Omega| ones (a|Omega| rounded to the nearest
    pixel count). Returns (..., A). ``reduction="mean"`` (default) divides by |Omega| = H*W,
    the scale the extremal-perturbation weight lambda = 300 is meant for (TorchRay averages
    the squared differences); ``"sum"`` is eq 4 as printed.
    A mask with exactly round(a H W) ones and zeros elsewhere gives 0.

    Parameters
    ----------
    masks : torch.Tensor
        (..., A, H, W) masks, one per area.
    areas : sequence of float or 1-D tensor
        A area fractions a in [0, 1].
    reduction : str, optional
        "mean" (default, divide by |Omega| = H*W) or "sum" (eq 4 as printed).

    Returns
    -------
    torch.Tensor
        (..., A) loss per mask.

    Raises
    ------
    ValueError
        If ``masks`` has fewer than 3 dimensions, the number of areas does not match A, an area is
        outside [0, 1], or ``reduction`` is unknown.
    """
    if not isinstance(masks, torch.Tensor) or masks.dim() < 3:
        raise ValueError("masks must be a tensor of shape (..., A, H, W)")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    a = torch.as_tensor(areas, dtype=torch.float64).reshape(-1)
    if a.numel() != masks.shape[-3]:
        raise ValueError(f"{a.numel()} areas for {masks.shape[-3]} masks (masks are (..., A, H, W))")
    if a.numel() and (float(a.min()) < 0 or float(a.max()) > 1):
        raise ValueError(f"areas must be fractions in [0, 1], got {a.tolist()}")
    n = masks.shape[-1] * masks.shape[-2]
    loss = _sorted_loss(masks, _area_reference(a.tolist(), n, masks.device, masks.dtype))
    return loss if reduction == "mean" else loss * n


def _area_reference(areas: Sequence[float], n: int, device, dtype) -> torch.Tensor:
    """r_a for each area: A x n, (1 - a) n zeros then a n ones (a n rounded to a pixel count)."""
    ones = torch.tensor([round(a * n) for a in areas], device=device)
    return (torch.arange(n, device=device)[None, :] >= (n - ones)[:, None]).to(dtype)


def _sorted_loss(masks: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """mean over pixels of (vecsort(m) - r_a)^2: (..., A, H, W) masks, A x n references -> (..., A)."""
    flat = masks.flatten(-2).sort(dim=-1).values
    return ((flat - ref) ** 2).mean(dim=-1)


# --------------------------------------------------------------------------------------------
# Extremal perturbation (Fong, Patrick & Vedaldi, ICCV 2019)
# --------------------------------------------------------------------------------------------

@dataclass
class Extremal:
    """Result of :func:`extremal_perturbation`; tensors on the model's device, float32.

    ``masks`` (N x A x H x W, in [0, 1]): the salient region found at each area, 1 = inside.
    For ``"preserve"`` it is the preserved region (everything else blurred); for ``"delete"``
    the deleted region (blurred, everything else kept); for ``"dual"`` both at once.
    ``scores`` (N x A): the variant's reward of the final masks, without jitter:
    Phi(m (x) x) for preserve, -Phi((1 - m) (x) x) for delete, their difference for dual
    (Phi = target logit, or target - contrast). ``full_score`` (N): the same reward for the
    whole-image mask m = 1: Phi(x) for preserve (eq 3's Phi_0), -Phi(fully perturbed x) for
    delete, Phi(x) - Phi(fully perturbed x) for dual. ``best`` (N, long): eq 3's a*, the index
    of the smallest area whose score reaches ``full_score`` (the last area if none does).
    ``perturbed`` (N x A x C x H x W): the image the model saw, m (x) x (preserve, dual) or
    (1 - m) (x) x (delete). ``objective`` (N x A): reward - lambda * area_loss of the final
    masks with the last iteration's lambda.

    Extras: ``image_scores`` (N x A), Phi of each ``perturbed`` image; ``reference`` (N x 2),
    Phi(x) and Phi(fully perturbed x) (Fig 3's reference lines); ``history`` (N x A x T), the
    objective at each iteration (with that iteration's jitter and lambda, before its step);
    ``settings``, the settings used.

    Attributes
    ----------
    areas : list of float
        The A area fractions optimised.
    masks : torch.Tensor
        N x A x H x W masks in [0, 1], 1 = inside the salient region.
    scores : torch.Tensor
        N x A reward of the final masks, without jitter.
    full_score : torch.Tensor
        N reward of the whole-image mask m = 1.
    best : torch.Tensor
        N long: eq 3's a*, an index into ``areas``.
    perturbed : torch.Tensor
        N x A x C x H x W images the model saw.
    objective : torch.Tensor
        N x A final objective, reward - lambda * area_loss.
    image_scores : torch.Tensor or None
        N x A Phi of each ``perturbed`` image.
    reference : torch.Tensor or None
        N x 2: Phi(x) and Phi(fully perturbed x).
    history : torch.Tensor or None
        N x A x T objective at each iteration.
    settings : dict
        The settings used.
    """

    areas: list[float]
    masks: torch.Tensor
    scores: torch.Tensor
    full_score: torch.Tensor
    best: torch.Tensor
    perturbed: torch.Tensor
    objective: torch.Tensor
    image_scores: torch.Tensor | None = None
    reference: torch.Tensor | None = None
    history: torch.Tensor | None = None
    settings: dict = field(default_factory=dict)


def _lambdas(schedule: str, iterations: int, weight: float, growth: float) -> list[float]:
    if schedule == "torchray":
        return [weight * growth ** t for t in range(iterations)]
    # the paper (section 4): lambda doubled at 1/3 and 2/3 of the iterations (and any growth on top)
    return [weight * 2.0 ** min(2, (3 * t) // iterations) * growth ** t for t in range(iterations)]


def extremal_perturbation(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None,
                          areas: Sequence[float] = (0.05, 0.1, 0.2, 0.4, 0.6, 0.8), variant: str = "preserve",
                          perturbation: str = "blur", iterations: int | None = None, step: int = 7,
                          sigma: float = 21.0, levels: int = 8, max_blur: float = 20.0,
                          learning_rate: float = 0.01, regul_weight: float = 300.0,
                          regul_growth: float | None = None, coldness: float = 20.0, jitter: bool = True,
                          schedule: str = "torchray", batch_areas: bool | int | str = "auto", seed: int = 0,
                          progress=None, cancel=None) -> Extremal:
    """Extremal perturbations (Fong, Patrick & Vedaldi, ICCV 2019).

    For each image and each area a in ``areas`` (fractions in (0, 1)), finds the smooth mask
    m_a maximising ``reward(m) - lambda * area_loss(m, a)`` (eq 4), then a* (eq 3, ``best``).
    The reward is Phi(m (x) x) (``variant="preserve"``), -Phi((1 - m) (x) x) (``"delete"``) or
    both at once, Phi(m (x) x) - Phi((1 - m) (x) x) (``"dual"``, the hybrid of Dabkowski & Gal),
    with Phi the target's pre-softmax score, or target minus contrast score when ``contrast``
    is given (class A versus class B). A model whose output has spatial dimensions
    (N x K x h x w) has its score averaged over them.

    Masks: parameters on a ceil(H/step) x ceil(W/step) grid, all ones at the start
    (everything preserved), turned into masks by :func:`smooth_masks` (``step``, ``sigma``,
    ``coldness``). Perturbation: ``perturbation`` as in :func:`perturb` (``"blur"`` with a
    ``levels``-level pyramid up to sigma ``max_blur``; also ``"fade"``, ``"constant"``,
    ``"noise"``). Optimiser: SGD, ``learning_rate``, momentum 0.9, dampening 0.9, the
    parameters clamped to [0, 1] after every step. ``jitter``: the perturbed image is flipped
    left-right on even iterations (0, 2, ...). Area loss: :func:`area_loss` (mean over the
    image's pixels; measured on the image only, not on a margin around it).

    ``schedule="torchray"`` (default; TorchRay's settings): 800
    iterations, lambda = ``regul_weight`` (300) multiplied by ``regul_growth`` (1.0035) every
    iteration. ``schedule="paper"`` (section 4): 1600 iterations, lambda = 300 doubled at 1/3
    and 2/3 of the iterations (``regul_growth`` 1.0 by default); the paper gives no learning
    rate or dampening, TorchRay's are used. ``iterations`` / ``regul_growth`` = None take the
    schedule's value.

    ``batch_areas=True`` optimises every (image, area) pair together: one model batch of
    N * A images per iteration (2 N A for ``"dual"``). ``batch_areas=False`` runs the same
    algorithm one (image, area) pair at a time, as the reference implementation does (one
    area per call); an int k runs k pairs per batch (to bound memory). ``"auto"`` (the
    default) batches on an accelerator, where a batch of 6 costs about what a batch of 1 does
    (6.5x faster per area on an H200), and runs one pair at a time on the CPU, where batching
    gains nothing (0.67x-1.14x on a 2-core x86 CPU) and a batch holds 6x the memory. All give the same
    masks and objectives up to floating-point noise: the pairs are independent (SGD acts
    element-wise), the jitter schedule is deterministic, and ``seed`` only seeds the
    ``"noise"`` perturbation.

    ``progress(done, total)`` after every iteration (total = iterations times the number of
    batches of pairs); ``cancel`` is checked before every iteration and raises
    :class:`~xai_widgets.core.tasks.Cancelled`. Returns :class:`Extremal`.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits, or N x K x h x w scores averaged over space); it is left
        exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (moved to the model's device).
    target : None, int, sequence of int or 1-D tensor, optional
        The class explained: None (default) is each image's top-1 prediction, an int is used for all
        images, a sequence / 1-D tensor gives one class per image.
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``; None (default) for none.
    areas : sequence of float, optional
        The area fractions a in (0, 1) to optimise a mask for. Default (0.05, 0.1, 0.2, 0.4, 0.6, 0.8).
    variant : str, optional
        One of :data:`VARIANTS`: "preserve" (default), "delete" or "dual".
    perturbation : str, optional
        One of :data:`KINDS`: "blur" (default), "fade", "constant" or "noise".
    iterations : int, optional
        Number of SGD iterations (>= 1); None (default) takes the schedule's (800 or 1600).
    step : int, optional
        Mask parameter cell size in pixels (>= 1). Default 7.
    sigma : float, optional
        Smooth-mask kernel scale in pixels (> 0). Default 21.0.
    levels : int, optional
        Number of blur pyramid levels (>= 2). Default 8.
    max_blur : float, optional
        Largest blur sigma of the pyramid in pixels (>= 0). Default 20.0.
    learning_rate : float, optional
        SGD learning rate (> 0). Default 0.01.
    regul_weight : float, optional
        The area-loss weight lambda at the first iteration (>= 0). Default 300.0.
    regul_growth : float, optional
        Factor lambda is multiplied by every iteration (> 0); None (default) takes the schedule's
        (1.0035 for "torchray", 1.0 for "paper").
    coldness : float, optional
        1/T of the smooth max in :func:`smooth_masks` (> 0; ``math.inf`` for the hard max). Default 20.0.
    jitter : bool, optional
        Flip the perturbed image left-right on even iterations (default True).
    schedule : str, optional
        One of :data:`SCHEDULES`: "torchray" (default) or "paper".
    batch_areas : bool, int or str, optional
        "auto" (default), True, False or a positive int of (image, area) pairs per batch.
    seed : int, optional
        Seed of the "noise" perturbation. Default 0.
    progress : callable, optional
        ``progress(done, total)`` after every iteration; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        Checked before every iteration; when set, raises ``Cancelled``. None (default) never cancels.

    Returns
    -------
    Extremal
        Masks, scores, a* and extras, tensors on the model's device, float32.

    Raises
    ------
    ValueError
        If an option is out of range or not one of its choices.
    TypeError
        If ``model`` is not a ``torch.nn.Module`` or ``inputs`` not a tensor.
    """
    model = _check_model(model)
    x = _inputs_for(model, inputs)
    n, c, h, w = x.shape
    areas_list = _check_areas(areas)
    variant = _choice(variant, VARIANTS, "variant")
    kind = _choice(perturbation, KINDS, "perturbation")
    schedule = _choice(schedule, SCHEDULES, "schedule")
    iterations = _SCHEDULE_ITERATIONS[schedule] if iterations is None else _int_at_least(iterations, 1, "iterations")
    growth = _SCHEDULE_GROWTH[schedule] if regul_growth is None else _number_at_least(regul_growth, 0.0, "regul_growth",
                                                                                        strict=True)
    step = _int_at_least(step, 1, "step")
    sigma = _number_at_least(sigma, 0.0, "sigma", strict=True)
    levels = _int_at_least(levels, 2, "levels")
    max_blur = _number_at_least(max_blur, 0.0, "max_blur")
    learning_rate = _number_at_least(learning_rate, 0.0, "learning_rate", strict=True)
    regul_weight = _number_at_least(regul_weight, 0.0, "regul_weight")
    coldness = float(coldness)
    if not coldness > 0:
        raise ValueError(f"coldness (1/T) must be > 0 (math.inf: hard max), got {coldness}")
    lambdas = _lambdas(schedule, iterations, regul_weight, growth)
    n_areas = len(areas_list)
    grid = mask_grid((h, w), step)
    dev = x.device

    pairs = n * n_areas
    if batch_areas == "auto":
        batch_areas = dev.type != "cpu"
    if batch_areas is True:
        chunk = pairs
    elif batch_areas is False:
        chunk = 1
    elif isinstance(batch_areas, numbers.Integral) and batch_areas >= 1:
        chunk = min(int(batch_areas), pairs)
    else:
        raise ValueError(f"batch_areas must be 'auto', True, False or a positive int (pairs per batch), "
                         f"got {batch_areas!r}")
    groups = [torch.arange(i, min(i + chunk, pairs), device=dev) for i in range(0, pairs, chunk)]
    total = iterations * len(groups)
    done = 0

    masks = torch.empty(pairs, h, w, device=dev, dtype=x.dtype)
    shown = torch.empty(pairs, c, h, w, device=dev, dtype=x.dtype)
    history = torch.zeros(pairs, iterations, device=dev, dtype=torch.float32)
    final = {key: torch.empty(pairs, device=dev, dtype=torch.float32) for key in ("reward", "image", "objective")}

    with preserved_model(model, eval_mode=True):
        tgt, con = _targets(model, x, target, contrast)
        pert = _Perturber(x, kind, levels, max_blur, seed)
        with torch.no_grad():
            phi_x = _phi(model, x, tgt, con)
            phi_0 = _phi(model, pert.apply(torch.zeros(n, h, w, device=dev, dtype=x.dtype)), tgt, con)
        full = {"preserve": phi_x, "delete": -phi_0, "dual": phi_x - phi_0}[variant]

        def evaluate(p: torch.Tensor, rows: torch.Tensor, flip: bool):
            """(masks P x H x W, reward P, Phi of the shown image P, the shown image P x C x H x W
            before its flip) for parameters p."""
            m = smooth_masks(p, step=step, sigma=sigma, coldness=coldness, size=(h, w))
            keep = {"preserve": m, "delete": 1 - m, "dual": torch.cat([m, 1 - m])}[variant]
            r = torch.cat([rows, rows]) if variant == "dual" else rows
            xhat = pert.apply(keep, r)
            phi = _phi(model, xhat.flip(-1) if flip else xhat, tgt[r], None if con is None else con[r])
            if variant == "preserve":
                return m, phi, phi, xhat
            if variant == "delete":
                return m, -phi, phi, xhat
            k = len(rows)
            return m, phi[:k] - phi[k:], phi[:k], xhat[:k]

        for idx in groups:
            rows = torch.div(idx, n_areas, rounding_mode="floor")
            ref = _area_reference([areas_list[i % n_areas] for i in idx.tolist()], h * w, dev, x.dtype)
            p = torch.ones(len(idx), *grid, device=dev, dtype=x.dtype, requires_grad=True)
            opt = torch.optim.SGD([p], lr=learning_rate, momentum=_MOMENTUM, dampening=_DAMPENING)
            with torch.enable_grad():
                for t in range(iterations):
                    check(cancel)
                    m, reward, _, _ = evaluate(p, rows, flip=jitter and t % 2 == 0)
                    energy = reward - lambdas[t] * _sorted_loss(m, ref)
                    (p.grad,) = torch.autograd.grad(-energy.sum(), [p])
                    opt.step()
                    with torch.no_grad():
                        p.clamp_(0, 1)
                    history[idx, t] = energy.detach().float()
                    done += 1
                    report(progress, done, total)
            with torch.no_grad():
                m, reward, phi, image = evaluate(p, rows, flip=False)
                masks[idx], shown[idx] = m, image
                final["reward"][idx] = reward.float()
                final["image"][idx] = phi.float()
                final["objective"][idx] = (reward - lambdas[-1] * _sorted_loss(m, ref)).float()

    scores = final["reward"].view(n, n_areas)
    reached = scores >= full.float()[:, None]
    first = torch.argmax(reached.to(torch.uint8), dim=1)
    best = torch.where(reached.any(dim=1), first, torch.full_like(first, n_areas - 1))
    return Extremal(
        areas=areas_list, masks=masks.view(n, n_areas, h, w).float(), scores=scores, full_score=full.float(),
        best=best, perturbed=shown.view(n, n_areas, c, h, w).float(), objective=final["objective"].view(n, n_areas),
        image_scores=final["image"].view(n, n_areas), reference=torch.stack([phi_x, phi_0], dim=1).float(),
        history=history.view(n, n_areas, iterations),
        settings={"variant": variant, "perturbation": kind, "schedule": schedule, "iterations": iterations,
                  "step": step, "sigma": sigma, "levels": levels, "max_blur": max_blur, "coldness": coldness,
                  "learning_rate": learning_rate, "momentum": _MOMENTUM, "dampening": _DAMPENING,
                  "regul_weight": regul_weight, "regul_growth": growth, "jitter": bool(jitter),
                  "batch_areas": chunk, "grid": grid, "target": tgt, "contrast": con},
    )


# --------------------------------------------------------------------------------------------
# Meaningful perturbation (Fong & Vedaldi, ICCV 2017)
# --------------------------------------------------------------------------------------------

@dataclass
class Meaningful:
    """Result of :func:`meaningful_perturbation`; tensors on the model's device, float32.

    ``mask`` (N x H x W, in [0, 1]): the learned mask, **1 = kept**, 0 = perturbed; the
    saliency map of the paper is ``1 - mask`` (Fig 2 caption). ``scores`` (N): the softmax
    probability of the target class on the final ``perturbed`` image (N x C x H x W), without
    jitter. Extras: ``objective`` (N), the final value of the minimised objective (eq 4,
    without jitter); ``history`` (N x T), the objective at each iteration (with its jitter,
    before its step); ``init_radius`` (N), the radius of the initial circle in mask cells
    (NaN for a constant initialisation); ``settings``.

    Attributes
    ----------
    mask : torch.Tensor
        N x H x W learned mask in [0, 1], 1 = kept.
    scores : torch.Tensor
        N softmax probability of the target on the final ``perturbed`` image.
    perturbed : torch.Tensor
        N x C x H x W final perturbed images.
    objective : torch.Tensor or None
        N final value of the minimised objective (eq 4, without jitter).
    history : torch.Tensor or None
        N x T objective at each iteration.
    init_radius : torch.Tensor or None
        N radius of the initial circle in mask cells (NaN for a constant initialisation).
    settings : dict
        The settings used.
    """

    mask: torch.Tensor
    scores: torch.Tensor
    perturbed: torch.Tensor
    objective: torch.Tensor | None = None
    history: torch.Tensor | None = None
    init_radius: torch.Tensor | None = None
    settings: dict = field(default_factory=dict)


def _total_variation(m: torch.Tensor, beta: float) -> torch.Tensor:
    """sum_u |d_y m(u)|^beta + |d_x m(u)|^beta over P x h x w masks -> P (forward differences)."""
    dy = (m[:, 1:, :] - m[:, :-1, :]).abs().pow(beta).sum(dim=(1, 2))
    dx = (m[:, :, 1:] - m[:, :, :-1]).abs().pow(beta).sum(dim=(1, 2))
    return dy + dx


def _upsample(p: torch.Tensor, size: tuple[int, int], blur: float) -> torch.Tensor:
    """P x h x w parameters -> P x H x W mask: bilinear upsampling, then a Gaussian blur of
    sigma ``blur`` pixels (Fong & Vedaldi 2017 section 4.3: M = g_sigma_m * upsampled m)."""
    up = F.interpolate(p[:, None], size=size, mode="bilinear", align_corners=False)
    return gaussian_blur(up, blur)[:, 0]


def _shift(m: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate P x H x W masks by (dy, dx) >= 0 pixels, repeating the edge values."""
    if dy == 0 and dx == 0:
        return m
    h, w = m.shape[-2:]
    padded = F.pad(m[:, None], (dx, 0, dy, 0), mode="replicate")[:, 0]
    return padded[:, :h, :w]


def meaningful_perturbation(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None,
                            perturbation: str = "blur", game: str = "deletion", iterations: int = 300,
                            learning_rate: float = 0.1, l1: float = 1e-4, tv: float = 1e-2, tv_beta: float = 3.0,
                            mask_scale: int = 8, mask_blur: float = 5.0, jitter: int = 4, max_blur: float = 10.0,
                            levels: int = 8, init="circle", seed: int = 0, progress=None,
                            cancel=None) -> Meaningful:
    """Meaningful perturbation (Fong & Vedaldi, ICCV 2017).

    Learns a mask m (1 = keep) minimising eq 4 of the paper:

    * ``game="deletion"`` (default): l1 * |1 - m|_1 + tv * sum_u |grad m(u)|_beta^beta
      + E_tau f_c(Phi(x; m)), the smallest deletion that makes the score drop;
    * ``game="preservation"``: l1 * |m|_1 + tv * TV_beta(m) - E_tau f_c(Phi(x; m)), the
      smallest region that keeps it;

    with f_c the **softmax probability** of the target class (minus that of ``contrast``
    when given: delete what makes A rather than B), Phi the perturbation :func:`perturb`
    (``perturbation`` = "blur" with sigma_0 = ``max_blur`` = 10, "constant", "noise" or
    "fade").

    Defaults are the paper's (section 4.3 "Implementation details"): Adam, learning rate
    0.1, 300 iterations, l1 = 1e-4, tv = 1e-2, beta = 3, the mask parametrised at
    ceil(H / 8) x ceil(W / 8) (``mask_scale``; 28 x 28 for 224 px), upsampled bilinearly and
    blurred with a Gaussian of sigma 5 px (``mask_blur``), and jittered: at each iteration
    the upsampled mask is translated by (dy, dx) drawn uniformly from {0, ..., jitter - 1}
    (one draw per iteration for the whole batch, from a generator seeded with ``seed``).
    Choices the paper leaves open (documented, changeable): the L1 and TV terms are summed
    over the pixels of the full-resolution mask (eq 4 sums over u in Lambda, the image
    lattice), before its jitter, with forward differences for the gradient; the parameters are
    clamped to [0, 1] after every Adam step. The weights are the paper's for 224 px images:
    both terms are sums, so on much smaller or larger images scale ``l1`` and ``tv`` by
    (224 * 224) / (H * W) to keep the same balance with the score.

    ``init="circle"`` (default, the paper's): the smallest centred disc, on the parameter
    grid, that alone (deleted, or kept for the preservation game) takes the score 99% of
    the way from f_c(x) to f_c(fully perturbed x); the search tries every radius in whole
    cells in one batch per image. A number in [0, 1] starts from that constant mask instead.
    All images are optimised together (one batch of N per iteration; each image's result
    does not depend on the others). ``progress(done, iterations)`` after every iteration,
    ``cancel`` checked before every iteration. Returns :class:`Meaningful`.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits, or N x K x h x w scores averaged over space); it is left
        exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (moved to the model's device).
    target : None, int, sequence of int or 1-D tensor, optional
        The class explained: None (default) is each image's top-1 prediction, an int is used for all
        images, a sequence / 1-D tensor gives one class per image.
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``; None (default) for none.
    perturbation : str, optional
        One of :data:`KINDS`: "blur" (default), "fade", "constant" or "noise".
    game : str, optional
        One of :data:`GAMES`: "deletion" (default) or "preservation".
    iterations : int, optional
        Number of Adam iterations (>= 0). Default 300.
    learning_rate : float, optional
        Adam learning rate (> 0). Default 0.1.
    l1 : float, optional
        Weight of the L1 term, lambda_1 of eq 4 (>= 0). Default 1e-4.
    tv : float, optional
        Weight of the total-variation term, lambda_2 of eq 4 (>= 0). Default 1e-2.
    tv_beta : float, optional
        The exponent beta of the TV term (> 0). Default 3.0.
    mask_scale : int, optional
        Pixels per mask parameter cell (>= 1). Default 8.
    mask_blur : float, optional
        Sigma in pixels of the Gaussian blur of the upsampled mask (>= 0). Default 5.0.
    jitter : int, optional
        The jitter tau: translations drawn from {0, ..., jitter - 1} pixels (>= 1; 1 = no jitter).
        Default 4.
    max_blur : float, optional
        sigma_0 of the "blur" perturbation in pixels (>= 0). Default 10.0.
    levels : int, optional
        Number of blur pyramid levels (>= 2). Default 8.
    init : str or float, optional
        "circle" (default) or a constant mask value in [0, 1].
    seed : int, optional
        Seed of the jitter draws and of the "noise" perturbation. Default 0.
    progress : callable, optional
        ``progress(done, total)`` after every iteration; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        Checked before every iteration; when set, raises ``Cancelled``. None (default) never cancels.

    Returns
    -------
    Meaningful
        The learned mask, scores, perturbed images and extras, tensors on the model's device, float32.

    Raises
    ------
    ValueError
        If an option is out of range or not one of its choices.
    TypeError
        If ``model`` is not a ``torch.nn.Module`` or ``inputs`` not a tensor.
    """
    model = _check_model(model)
    x = _inputs_for(model, inputs)
    n, c, h, w = x.shape
    kind = _choice(perturbation, KINDS, "perturbation")
    game = _choice(game, GAMES, "game")
    iterations = _int_at_least(iterations, 0, "iterations")
    learning_rate = _number_at_least(learning_rate, 0.0, "learning_rate", strict=True)
    l1 = _number_at_least(l1, 0.0, "l1")
    tv = _number_at_least(tv, 0.0, "tv")
    tv_beta = _number_at_least(tv_beta, 0.0, "tv_beta", strict=True)
    mask_scale = _int_at_least(mask_scale, 1, "mask_scale")
    mask_blur = _number_at_least(mask_blur, 0.0, "mask_blur")
    jitter = _int_at_least(jitter, 1, "jitter (tau; 1 = no jitter)")
    max_blur = _number_at_least(max_blur, 0.0, "max_blur")
    levels = _int_at_least(levels, 2, "levels")
    if not (init == "circle" or (isinstance(init, numbers.Real) and not isinstance(init, bool) and 0 <= init <= 1)):
        raise ValueError(f"init must be 'circle' or a number in [0, 1], got {init!r}")
    grid = mask_grid((h, w), mask_scale)
    dev = x.device
    gen = torch.Generator().manual_seed(int(seed))
    sign = 1.0 if game == "deletion" else -1.0
    history = torch.zeros(n, iterations, device=dev, dtype=torch.float32)

    with preserved_model(model, eval_mode=True):
        tgt, con = _targets(model, x, target, contrast)
        pert = _Perturber(x, kind, levels, max_blur, seed)

        everyone = torch.arange(n, device=dev)

        def f_c(probs: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            f = probs.gather(1, tgt[r][:, None])[:, 0]
            return f if con is None else f - probs.gather(1, con[r][:, None])[:, 0]

        def prob(keep: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
            return f_c(torch.softmax(_logits(model, pert.apply(keep, rows)), dim=1), everyone if rows is None else rows)

        def objective(m: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
            area = (1 - m).sum(dim=(1, 2)) if game == "deletion" else m.sum(dim=(1, 2))
            return l1 * area + tv * _total_variation(m, tv_beta) + sign * f

        with torch.no_grad():
            if init == "circle":
                start, radius = _circle_init(prob, n, grid, (h, w), mask_blur, game, dev, x.dtype, cancel)
            else:
                start = torch.full((n, *grid), float(init), device=dev, dtype=x.dtype)
                radius = torch.full((n,), math.nan, device=dev)
        p = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([p], lr=learning_rate)
        with torch.enable_grad():
            for t in range(iterations):
                check(cancel)
                dy, dx = (int(v) for v in torch.randint(0, jitter, (2,), generator=gen))
                m = _upsample(p, (h, w), mask_blur)
                loss = objective(m, prob(_shift(m, dy, dx)))
                (p.grad,) = torch.autograd.grad(loss.sum(), [p])
                opt.step()
                with torch.no_grad():
                    p.clamp_(0, 1)
                history[:, t] = loss.detach().float()
                report(progress, t + 1, iterations)
        with torch.no_grad():
            mask = _upsample(p.detach(), (h, w), mask_blur).clamp(0, 1)
            shown = pert.apply(mask)
            probs = torch.softmax(_logits(model, shown), dim=1)
            scores = probs.gather(1, tgt[:, None])[:, 0]
            final = objective(mask, f_c(probs, everyone))

    return Meaningful(
        mask=mask.float(), scores=scores.float(), perturbed=shown.float(), objective=final.float(), history=history,
        init_radius=radius.float(),
        settings={"game": game, "perturbation": kind, "iterations": iterations, "learning_rate": learning_rate,
                  "optimiser": "Adam", "l1": l1, "tv": tv, "tv_beta": tv_beta, "mask_scale": mask_scale, "grid": grid,
                  "mask_blur": mask_blur, "jitter": jitter, "max_blur": max_blur, "levels": levels, "init": init,
                  "target": tgt, "contrast": con},
    )


def _circle_init(prob, n: int, grid: tuple[int, int], size: tuple[int, int], mask_blur: float, game: str, dev,
                 dtype, cancel) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest centred disc (in parameter cells) that moves f_c 99% of the way from the
    image's score to the fully perturbed image's score (Fong & Vedaldi 2017, section 4.3)."""
    gh, gw = grid
    yy = torch.arange(gh, device=dev, dtype=dtype)[:, None] - (gh - 1) / 2
    xx = torch.arange(gw, device=dev, dtype=dtype)[None, :] - (gw - 1) / 2
    dist = torch.sqrt(yy ** 2 + xx ** 2)
    radii = torch.arange(0, int(math.ceil(float(dist.max()))) + 2, device=dev, dtype=dtype)  # last: the whole grid
    inside = (dist[None] <= radii[:, None, None] - 0.5 + 1e-6).to(dtype)  # R x gh x gw, radius 0 = empty disc
    discs = 1 - inside if game == "deletion" else inside  # parameters: 1 = keep
    ones = torch.ones(n, *size, device=dev, dtype=dtype)
    f_image, f_blur = prob(ones), prob(torch.zeros_like(ones))
    goal = f_blur + 0.01 * (f_image - f_blur) if game == "deletion" else f_blur + 0.99 * (f_image - f_blur)
    masks = _upsample(discs, size, mask_blur).clamp(0, 1)
    start = torch.empty(n, gh, gw, device=dev, dtype=dtype)
    chosen = torch.empty(n, device=dev)
    for i in range(n):
        check(cancel)
        rows = torch.full((len(radii),), i, device=dev, dtype=torch.long)
        f = prob(masks, rows)
        ok = f <= goal[i] if game == "deletion" else f >= goal[i]
        j = int(torch.argmax(ok.to(torch.uint8))) if bool(ok.any()) else len(radii) - 1
        start[i], chosen[i] = discs[j], radii[j]
    return start, chosen


# --------------------------------------------------------------------------------------------
# Shared helpers: checks, targets, scores
# --------------------------------------------------------------------------------------------

def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module returning N x K logits, got {type(model).__name__}")
    return model


def _images(inputs) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a float torch.Tensor N x C x H x W, got {type(inputs).__name__}")
    if inputs.dim() != 4:
        raise ValueError(f"inputs must be N x C x H x W, got shape {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be a float tensor, got {inputs.dtype}")
    check_finite(inputs, "inputs")
    return inputs.detach()


def _inputs_for(model: nn.Module, inputs) -> torch.Tensor:
    check_model_input(inputs, model, "this perturbation method")
    return _images(inputs).to(model_device(model))


def _check_areas(areas) -> list[float]:
    if isinstance(areas, numbers.Real):
        areas = [areas]
    try:
        values = [float(a) for a in areas]
    except (TypeError, ValueError):
        raise TypeError(f"areas must be a sequence of fractions in (0, 1), got {areas!r}") from None
    if not values:
        raise ValueError("areas must hold at least one fraction in (0, 1), got none")
    bad = [a for a in values if not 0 < a < 1]
    if bad:
        raise ValueError(f"areas must be fractions of the image strictly between 0 and 1, got {bad}")
    return values


def _choice(value, options: Sequence[str], name: str) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}; got {value!r}")
    return value


def _int_at_least(value, low: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _number_at_least(value, low: float, name: str, strict: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")
    return float(value)


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's N x K output; spatial outputs (N x K x h x w) are averaged over space."""
    out = pick(model(x))
    if out.dim() < 2:
        raise ValueError("the model must return an N x K tensor of class scores "
                         f"(got {type(out).__name__}{'' if not isinstance(out, torch.Tensor) else tuple(out.shape)})")
    return out.flatten(2).mean(dim=2) if out.dim() > 2 else out


def _phi(model: nn.Module, x: torch.Tensor, tgt: torch.Tensor, con: torch.Tensor | None) -> torch.Tensor:
    """Target logit (minus the contrast logit) for each image."""
    out = _logits(model, x)
    phi = out.gather(1, tgt[:, None])[:, 0]
    return phi if con is None else phi - out.gather(1, con[:, None])[:, 0]


def _targets(model: nn.Module, x: torch.Tensor, target, contrast) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The shared target rule (``targets.resolve_targets``) on :func:`_logits`, so that a model
    with spatial outputs gets its targets from the space-averaged scores it is explained by."""
    with torch.no_grad():
        return targets_from_logits(_logits(model, x), target, contrast)
