"""Latent interpolation paths between two VAE codes, their norm diagnostics, and decoding.

Source: the thesis on path-mask attribution ("the source thesis", see
:mod:`xai_widgets.morph.latent`). It builds the transformation path in latent space and
decodes it, x(alpha) = D(z(alpha)), and proposes the *radial*
interpolation z(alpha) = sqrt(1 - alpha) z0 + sqrt(alpha) z1 because the linear one dips to
lower (less likely) norms between equal-norm codes.

Why radial keeps norms only sometimes: with rho the cosine of z0
and z1, ||z(alpha)||^2 = (1 - alpha)||z0||^2 + alpha||z1||^2 + 2 sqrt(alpha(1 - alpha)) z0.z1,
so the squared norm is the linear interpolation of the endpoints' squared norms exactly
when z0 is orthogonal to z1 (random pairs of 100-d codes, the source thesis's experiment). For
nearby codes (rho -> 1, the Semantic Morphing case) the norm inflates mid-path, by
sqrt(1 + rho) at alpha = 1/2 for equal norms; sqrt(1 + rho) bounds the inflation for any
norms (AM-GM). Slerp (our addition) rotates at constant angular speed and, scaled by
the linearly interpolated norm, keeps the norm exactly on the line between the endpoints'.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..core.capture import preserved_model, model_device
from .latent import check_codes, as_vae

__all__ = ["KINDS", "alphas", "latent_path", "PathDiagnostics", "path_diagnostics", "decode_path"]

KINDS = ("radial", "linear", "slerp")


def alphas(n: int) -> torch.Tensor:
    """alpha_i = i / (n - 1), i = 0..n-1 (the first step has alpha = 0, the last alpha = 1).

    Parameters
    ----------
    n : int
        Number of steps of the path (>= 2).

    Returns
    -------
    torch.Tensor
        n float64 values alpha_i on the CPU.

    Raises
    ------
    ValueError
        If ``n`` is not an int >= 2.
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"a path needs n >= 2 steps, got {n!r}")
    return torch.linspace(0, 1, n, dtype=torch.float64)


def latent_path(z0: torch.Tensor, z1: torch.Tensor, n: int = 100, kind: str = "radial") -> torch.Tensor:
    """n codes from z0 (alpha = 0) to z1 (alpha = 1), as an n x d tensor on z0's device.

    ``kind``: ``"radial"`` (default, the source thesis's: sqrt(1 - a) z0 + sqrt(a) z1), ``"linear"``
    ((1 - a) z0 + a z1) or ``"slerp"`` (great-circle interpolation of the directions, scaled
    by (1 - a)||z0|| + a||z1||; undefined for opposite codes). Computed in float64 and cast back.
    For path-mask attribution z0 is the morphed code c_other and z1 the self code c_self
    (x_1 = other, x_n = self).

    Parameters
    ----------
    z0 : torch.Tensor
        The start code (alpha = 0), one latent code of size d (d or 1 x d); for path-mask attribution
        the morphed code c_other.
    z1 : torch.Tensor
        The end code (alpha = 1), same size as ``z0``; for path-mask attribution the self code c_self.
    n : int, optional
        Number of codes on the path (>= 2). Default 100.
    kind : str, optional
        One of :data:`KINDS`: "radial" (default), "linear" or "slerp".

    Returns
    -------
    torch.Tensor
        n x d codes with ``z0``'s dtype on its device.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, the codes differ in size or are not single codes, ``n`` < 2, or slerp
        is undefined (a zero code, or opposite codes).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    a, b = check_codes(z0, "z0"), check_codes(z1, "z1")
    if a.shape != (1, a.shape[1]) or b.shape != a.shape:
        raise ValueError(f"z0 and z1 must be two codes of the same size d, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    alpha = alphas(n).to(a.device)[:, None]
    a64, b64 = a.double(), b.double()
    if kind == "radial":
        z = torch.sqrt(1 - alpha) * a64 + torch.sqrt(alpha) * b64
    elif kind == "linear":
        z = (1 - alpha) * a64 + alpha * b64
    else:
        z = _slerp(a64, b64, alpha)
    return z.to(z0.dtype)


def _slerp(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        raise ValueError("slerp needs two non-zero codes")
    ua, ub = a / na, b / nb
    omega = torch.arccos((ua * ub).sum().clamp(-1, 1))
    if math.sin(omega) < 1e-7:
        if omega > 1:
            raise ValueError("slerp is undefined between opposite codes; use kind='radial' or 'linear'")
        direction = ua.expand(len(alpha), -1)  # the same direction: only the norm changes
    else:
        direction = (torch.sin((1 - alpha) * omega) * ua + torch.sin(alpha * omega) * ub) / torch.sin(omega)
    return ((1 - alpha) * na + alpha * nb) * direction


@dataclass
class PathDiagnostics:
    """Norm diagnostics of a path Z (n x d) with uniform alpha (CPU float64 tensors).

    ``norms`` (n): ||z_i||; ``reference`` (n): sqrt((1 - a)||z_1||^2 + a||z_n||^2), the norm
    a norm-preserving path would have (exactly the radial path's when the endpoints are
    orthogonal); ``ratio`` = norms / reference; ``cosine``: rho, the endpoints' cosine;
    ``max_ratio`` / ``min_ratio``: the extremes of ``ratio``; ``radial_bound``:
    sqrt(1 + max(rho, 0)), the largest mid-path inflation the radial path can have.

    Attributes
    ----------
    norms : torch.Tensor
        n norms ||z_i||.
    reference : torch.Tensor
        n norms of a norm-preserving path.
    ratio : torch.Tensor
        n ratios norms / reference.
    cosine : float
        rho, the cosine of the endpoints.
    max_ratio : float
        Largest ratio.
    min_ratio : float
        Smallest ratio.
    radial_bound : float
        sqrt(1 + max(rho, 0)).
    """

    norms: torch.Tensor
    reference: torch.Tensor
    ratio: torch.Tensor
    cosine: float
    max_ratio: float
    min_ratio: float
    radial_bound: float


def path_diagnostics(codes: torch.Tensor) -> PathDiagnostics:
    """Norms along a path against the norm-preserving reference.

    Parameters
    ----------
    codes : torch.Tensor
        The path (Z in the thesis): an n x d tensor of codes z_1..z_n (n >= 2), uniform in alpha.

    Returns
    -------
    PathDiagnostics
        The norms, the reference, their ratio and the endpoints' cosine (CPU float64).

    Raises
    ------
    ValueError
        If ``codes`` is not an n x d tensor with n >= 2.
    """
    if not isinstance(codes, torch.Tensor) or codes.dim() != 2 or len(codes) < 2:
        raise ValueError("codes must be an n x d tensor of codes with n >= 2, got "
                         f"{getattr(codes, 'shape', type(codes).__name__)}")
    Z = codes.detach().double().cpu()  # the path z_1..z_n, float64 on the CPU
    norms = Z.norm(dim=1)
    alpha = alphas(len(Z))
    reference = torch.sqrt((1 - alpha) * norms[0] ** 2 + alpha * norms[-1] ** 2)
    ratio = norms / reference
    cosine = float(Z[0] @ Z[-1] / (norms[0] * norms[-1]))
    return PathDiagnostics(norms, reference, ratio, cosine, float(ratio.max()), float(ratio.min()),
                           math.sqrt(1 + max(cosine, 0.0)))


def decode_path(vae, codes: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """D(z_i) for every code of the path, n x C x H x W on the VAE's device, without gradient.

    Decoded ``batch`` codes at a time (one batch for the default 100 steps) in eval mode,
    with the VAE's hygiene kept (see :mod:`xai_widgets.morph.latent`).

    Parameters
    ----------
    vae : torch.nn.Module
        The VAE (anything :func:`~xai_widgets.morph.latent.as_vae` accepts); it is left as it was.
    codes : torch.Tensor
        n x d codes of the path (Z in the thesis).
    batch : int, optional
        Codes decoded per forward pass (positive int). Default 128.

    Returns
    -------
    torch.Tensor
        n x C x H x W decoded images on the VAE's device.

    Raises
    ------
    ValueError
        If ``batch`` is not a positive int or ``codes`` is not a batch of codes.
    """
    vae = as_vae(vae)
    Z = check_codes(codes, "codes")  # the path z_1..z_n as a batch
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    dev = model_device(vae)
    with preserved_model(vae, eval_mode=True), torch.no_grad():
        return torch.cat([vae.decode(Z[i:i + batch].to(dev)) for i in range(0, len(Z), batch)])
