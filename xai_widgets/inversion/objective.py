"""The inversion objective: a normalised representation loss plus two natural-image priors.

Mahendran and Vedaldi ("Understanding Deep Image Representations by Inverting Them", CVPR
2015, Eq. 1 and section 3.2; "Visualizing Deep Convolutional Neural Networks Using Natural
Pre-images", IJCV 2016, Eq. 2-5) invert a representation Phi by minimising

    E(x) = C * ||Phi(x) - Phi0||^2 / ||Phi0||^2 + R_alpha(x) + R_TV(x)

with an alpha-norm prior that keeps pixel colours bounded and a total-variation prior that keeps
images piecewise smooth, each normalised so that a typical natural image scores about 1.
Norton ("Deep Introspection", 2018, chapter 4) uses the same objective for feature synthesis and
gives both gradients by hand (section 4.1.2); they are here as functions so that the optimiser
needs autograd only through the network, and so that they can be checked against autograd and
central differences.

Images are S x C x H x W batches; every function returns one value per image.
"""
from __future__ import annotations

import torch

__all__ = ["representation_loss", "alpha_norm", "alpha_norm_grad", "total_variation", "total_variation_grad"]


def representation_loss(features: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The normalised Euclidean loss ||Phi(x) - Phi0||^2 / ||Phi0||^2 (Mahendran and Vedaldi 2015, Eq. 1).

    Parameters
    ----------
    features : torch.Tensor
        S x ... representations Phi(x) of the S images being optimised.
    target : torch.Tensor
        1 x ... or S x ... target representation Phi0.
    mask : torch.Tensor or None, default None
        A 0/1 weight broadcastable to ``features`` (e.g. 1 x 1 x h x w): only the masked part of
        the representation is matched (the region of Mahendran and Vedaldi 2016, section 4.2).

    Returns
    -------
    torch.Tensor
        S losses; 0 when Phi(x) equals Phi0 where the mask is 1.
    """
    m = 1.0 if mask is None else mask
    diff = ((features - target) * m).flatten(1)
    norm = (target * m).expand_as(features).flatten(1).pow(2).sum(1)
    return diff.pow(2).sum(1) / norm.clamp_min(torch.finfo(norm.dtype).tiny)


def _pixel_norms(x: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    return (x - center).pow(2).sum(1, keepdim=True)  # S x 1 x H x W squared colour norms


def alpha_norm(x: torch.Tensor, alpha: float, bound: float, center: torch.Tensor) -> torch.Tensor:
    """The isotropic alpha-norm prior R_alpha (Mahendran and Vedaldi 2016, Eq. 4).

    R_alpha(x) = 1 / (H W B^alpha) * sum_{v,u} (sum_k (x(v,u,k) - c_k)^2)^(alpha / 2): the alpha-th
    power of each pixel's colour norm, measured from the centre ``c`` (the mean the network's
    input was centred on), normalised so that an image whose pixels have norm B scores 1.

    Parameters
    ----------
    x : torch.Tensor
        S x C x H x W images.
    alpha : float
        The exponent (6 in the papers).
    bound : float
        B, the typical pixel norm.
    center : torch.Tensor
        1 x C x 1 x 1 colour the prior pulls towards.

    Returns
    -------
    torch.Tensor
        S values.
    """
    h, w = x.shape[-2:]
    return _pixel_norms(x, center).pow(alpha / 2).flatten(1).sum(1) / (h * w * bound ** alpha)


def alpha_norm_grad(x: torch.Tensor, alpha: float, bound: float, center: torch.Tensor) -> torch.Tensor:
    """The gradient of :func:`alpha_norm` (Norton 2018, section 4.1.2).

    dR_alpha/dx_k = alpha / (H W B^alpha) * (sum_k' (x_k' - c_k')^2)^(alpha/2 - 1) * (x_k - c_k).

    Parameters
    ----------
    x, alpha, bound, center
        As :func:`alpha_norm`.

    Returns
    -------
    torch.Tensor
        The gradient, shaped like ``x``.
    """
    h, w = x.shape[-2:]
    return alpha / (h * w * bound ** alpha) * _pixel_norms(x, center).pow(alpha / 2 - 1) * (x - center)


def _differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences to the right and down, 0 in the last column and row (the missing
    neighbour contributes nothing, as Norton 2018 section 4.1.2 found works)."""
    right = torch.zeros_like(x)
    down = torch.zeros_like(x)
    right[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    down[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    return right, down


def total_variation(x: torch.Tensor, beta: float, scale: float) -> torch.Tensor:
    """The total-variation prior R_TV^beta (Mahendran and Vedaldi 2016, Eq. 5).

    R_TV(x) = 1 / (H W V^beta) * sum_{u,v,k} ((x(v,u+1,k) - x(v,u,k))^2 + (x(v+1,u,k) - x(v,u,k))^2)^(beta / 2).

    Parameters
    ----------
    x : torch.Tensor
        S x C x H x W images.
    beta : float
        The exponent (2 in Norton 2018; beta = 1 gives spikes).
    scale : float
        V, the typical neighbour difference (Norton: B / 6.5).

    Returns
    -------
    torch.Tensor
        S values.
    """
    h, w = x.shape[-2:]
    right, down = _differences(x)
    return (right.pow(2) + down.pow(2)).pow(beta / 2).flatten(1).sum(1) / (h * w * scale ** beta)


def total_variation_grad(x: torch.Tensor, beta: float, scale: float) -> torch.Tensor:
    """dR_TV/dx, for any beta >= 1 (for beta = 2, Norton 2018 section 4.1.2 with its sign corrected).

    Each term D = dx^2 + dy^2 at pixel p involves p, its right and its lower neighbour:
    d D^(beta/2) = beta/2 D^(beta/2 - 1) (2 dx d(dx) + 2 dy d(dy)). For beta < 2 the factor is
    infinite where D = 0; D is floored at the smallest normal float there (the subgradient 0).

    Parameters
    ----------
    x, beta, scale
        As :func:`total_variation`.

    Returns
    -------
    torch.Tensor
        The gradient, shaped like ``x``.
    """
    h, w = x.shape[-2:]
    right, down = _differences(x)
    d = right.pow(2) + down.pow(2)
    if beta < 2:
        d = d.clamp_min(torch.finfo(d.dtype).tiny)
    factor = beta * d.pow(beta / 2 - 1) / (h * w * scale ** beta)  # beta/2 * 2
    gx, gy = factor * right, factor * down
    grad = -(gx + gy)
    grad[..., :, 1:] += gx[..., :, :-1]
    grad[..., 1:, :] += gy[..., :-1, :]
    return grad
