"""Image geometry shared by the systems: the affine maps of a rotation or a zoom about the image
centre, and resampling images with them.

Coordinates are those of ``torch.nn.functional.affine_grid`` with ``align_corners=False``
(x from -1 at the left edge to +1 at the right, y from -1 at the top to +1 at the bottom, y
pointing down as on screen). :func:`affine_matrix` gives the 2 x 2 map ``M`` sending a point
of the original to where its content appears in the transformed image; :func:`warp`
resamples with ``M``'s inverse, bilinear with zero fill. Rotations turn the content
counter-clockwise as displayed (the convention of ``PIL.Image.rotate``), as true rotations
in pixel space also for non-square images. See :mod:`xai_widgets.similarity.transforms` for
the sweeps built on them.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from .images import check_finite

__all__ = ["KINDS", "affine_matrix", "rotate", "scale", "warp", "check_hw", "as_image_batch"]

KINDS = ("rotate", "scale")


def affine_matrix(kind: str, value: float, image_hw: Sequence[int]) -> torch.Tensor:
    """The 2 x 2 float64 map ``M`` (original -> transformed, normalised coordinates, about the centre).

    ``image_hw`` matters for rotations only (a rotation in pixels is not one in normalised
    coordinates unless the image is square); only its aspect ratio is used.

    Parameters
    ----------
    kind : str
        ``"rotate"`` or ``"scale"`` (see :data:`KINDS`).
    value : float
        For ``"rotate"``, the angle in degrees, counter-clockwise as displayed; for ``"scale"``, the
        zoom factor, a finite number > 0 (> 1 enlarges the content).
    image_hw : sequence of int
        (height, width) of the image; read (and checked) for ``"rotate"`` only.

    Returns
    -------
    torch.Tensor
        2 x 2 float64 tensor on the CPU.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, the scale factor is not a positive finite number, or ``image_hw`` is
        not a positive (height, width) for a rotation.
    """
    if kind == "rotate":
        h, w = check_hw(image_hw, "image_hw")
        t = math.radians(float(value))
        c, s = math.cos(t), math.sin(t)
        # In pixels (y down) counter-clockwise on screen is [[c, s], [-s, c]]; conjugated by
        # diag(W, H) to act on normalised coordinates.
        return torch.tensor([[c, s * h / w], [-s * w / h, c]], dtype=torch.float64)
    if kind == "scale":
        f = float(value)
        if not math.isfinite(f) or f <= 0:
            raise ValueError(f"scale factor must be a positive number, got {value!r}")
        return torch.tensor([[f, 0.0], [0.0, f]], dtype=torch.float64)
    raise ValueError(f"unknown transform kind {kind!r}; expected one of {KINDS} or a callable")


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """``images`` (N x C x H x W or C x H x W) turned ``degrees`` counter-clockwise about the centre.

    Bilinear, zero fill outside, same size, same device and dtype.

    Parameters
    ----------
    images : torch.Tensor
        N x C x H x W or C x H x W finite floating-point images.
    degrees : float
        The angle, counter-clockwise as displayed.

    Returns
    -------
    torch.Tensor
        The rotated images, of the shape of ``images``.

    Raises
    ------
    TypeError, ValueError
        If ``images`` is not a finite floating-point 3-d or 4-d tensor (see :func:`as_image_batch`).
    """
    return warp(images, [affine_matrix("rotate", degrees, images.shape[-2:])])


def scale(images: torch.Tensor, factor: float) -> torch.Tensor:
    """``images`` zoomed by ``factor`` about the centre, same H x W: > 1 crops, < 1 adds a zero border.

    Parameters
    ----------
    images : torch.Tensor
        N x C x H x W or C x H x W finite floating-point images.
    factor : float
        The zoom factor, a finite number > 0.

    Returns
    -------
    torch.Tensor
        The zoomed images, of the shape, device and dtype of ``images`` (bilinear, zero fill).

    Raises
    ------
    TypeError, ValueError
        If ``factor`` is not positive and finite, or ``images`` is not a finite floating-point 3-d or
        4-d tensor (see :func:`as_image_batch`).
    """
    return warp(images, [affine_matrix("scale", factor, images.shape[-2:])])


def check_hw(hw: Sequence[int], name: str) -> tuple[int, int]:
    """``hw`` as a positive (height, width), or an error naming ``name``.

    Parameters
    ----------
    hw : sequence of int
        Two values, each converted with ``int``.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    tuple of (int, int)
        (height, width).

    Raises
    ------
    ValueError
        If ``hw`` is not two numbers, or either is below 1.
    """
    try:
        h, w = (int(v) for v in hw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (height, width), got {hw!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, got {(h, w)}")
    return h, w


def as_image_batch(images: torch.Tensor) -> torch.Tensor:
    """A finite float image batch N x C x H x W (a single C x H x W image gets a batch axis).

    Parameters
    ----------
    images : torch.Tensor
        N x C x H x W or C x H x W floating-point images (values in [0, 1]).

    Returns
    -------
    torch.Tensor
        ``images`` itself when 4-d, else ``images[None]`` (a view, not a copy).

    Raises
    ------
    TypeError
        If ``images`` is not a tensor.
    ValueError
        If it is not 3-d or 4-d, not floating point, empty, or holds NaN or infinity.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    x = images[None] if images.dim() == 3 else images
    if x.dim() != 4:
        raise ValueError(f"images must be N x C x H x W or C x H x W, got {tuple(images.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"images must be floating point (values in [0, 1]), got {x.dtype}")
    check_finite(x, "images")
    return x


def warp(images: torch.Tensor, matrices: list[torch.Tensor]) -> torch.Tensor:
    """Resample with each forward map: one matrix for the whole batch, or one per copy of a single image.

    Parameters
    ----------
    images : torch.Tensor
        N x C x H x W or C x H x W finite floating-point images. With several matrices it must be a
        single image (N = 1, or C x H x W).
    matrices : list of torch.Tensor
        2 x 2 forward maps (original -> transformed, normalised coordinates), such as those of
        :func:`affine_matrix`; each is inverted to know where to read the input.

    Returns
    -------
    torch.Tensor
        Bilinear resampling with zero fill, same H x W, device and dtype: N x C x H x W for one
        matrix, ``len(matrices)`` x C x H x W for several. A C x H x W input with one matrix gives
        C x H x W.

    Raises
    ------
    TypeError, ValueError
        If ``images`` is not a finite floating-point 3-d or 4-d tensor (see :func:`as_image_batch`).
    """
    x = as_image_batch(images)
    inverse = torch.linalg.inv(torch.stack(matrices))  # output point -> where to read the input
    theta = torch.cat([inverse, torch.zeros(len(matrices), 2, 1, dtype=torch.float64)], dim=2)
    theta = theta.to(device=x.device, dtype=x.dtype)
    if len(matrices) == 1:
        theta = theta.expand(x.shape[0], 2, 3)
    else:
        x = x.expand(len(matrices), *x.shape[1:])
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0] if images.dim() == 3 and len(matrices) == 1 else out
