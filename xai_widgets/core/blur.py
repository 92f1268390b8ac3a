"""Gaussian blur of image batches, normalised at the borders (shared by the perturbation methods,
the deletion / insertion baselines and the Integrated-Gradients blur baseline)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["gaussian_blur"]


def _gauss_1d(sigma: float, length: int, device, dtype) -> torch.Tensor:
    """Sampled Gaussian exp(-d^2 / 2 sigma^2), truncated at 4 sigma (and at the image side)."""
    radius = max(1, min(int(math.ceil(4.0 * sigma)), length - 1))
    d = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    return torch.exp(-(d * d) / (2.0 * sigma * sigma))


def _blur_axis(x: torch.Tensor, sigma: float, axis: int) -> torch.Tensor:
    """Normalised 1-D Gaussian blur of N x C x H x W along H (axis 2) or W (axis 3).

    Each output is sum_v g(u - v) x(v) / sum_v g(u - v) over the pixels v inside the image,
    Fong et al. 2019 section 3.4's pi_g (so borders are not darkened by zero padding)."""
    n, c, h, w = x.shape
    length = h if axis == 2 else w
    k = _gauss_1d(sigma, length, x.device, x.dtype)
    r = (k.numel() - 1) // 2
    shape = (k.numel(), 1) if axis == 2 else (1, k.numel())
    pad = (r, 0) if axis == 2 else (0, r)
    weight = k.view(1, 1, *shape).expand(c, 1, *shape)
    out = F.conv2d(x, weight, padding=pad, groups=c)
    ones = torch.ones(1, 1, length, 1, device=x.device, dtype=x.dtype)
    norm = F.conv2d(ones, k.view(1, 1, -1, 1), padding=(r, 0)).view(-1)
    return out / (norm.view(1, 1, -1, 1) if axis == 2 else norm.view(1, 1, 1, -1))


def gaussian_blur(inputs: torch.Tensor, sigma: float) -> torch.Tensor:
    """Isotropic Gaussian blur of N x C x H x W images, normalised at the borders.

    ``pi_g(x; u, sigma) = sum_v g(u - v) x(v) / sum_v g(u - v)`` with
    ``g(d) = exp(-|d|^2 / 2 sigma^2)`` over the pixels of the image (Fong et al. 2019 eq in
    section 3.4), computed separably with the kernel truncated at 4 sigma. ``sigma = 0``
    returns the input unchanged.

    Parameters
    ----------
    inputs : torch.Tensor
        N x C x H x W floating-point batch; the kernel is built on its device and in its dtype.
    sigma : float
        Standard deviation of the Gaussian, in pixels; must be >= 0. The kernel radius is also at most
        H - 1 (along H) and W - 1 (along W), and at least 1.

    Returns
    -------
    torch.Tensor
        N x C x H x W blurred batch on the same device and in the same dtype; ``inputs`` itself (not a
        copy) when ``sigma`` is 0.

    Raises
    ------
    ValueError
        If ``sigma`` is negative.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return inputs
    return _blur_axis(_blur_axis(inputs, float(sigma), 2), float(sigma), 3)
