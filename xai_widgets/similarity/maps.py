"""Similarity of activation vectors, the maths behind the interactive similarity overlays.

Fong, Mordvintsev, Vedaldi and Olah, "Interactive Similarity Overlays", VISxAI 2021
(also chapter 6 of R. Fong's DPhil thesis, 2020): for a layer l with activations
z = f_l(x) of shape C x H x W, the overlay of a query cell (i, j) is the map
(u, v) -> s(z[:, i, j], z[:, u, v]) over every cell of every image, with s the cosine
similarity. Activations are unit-normalised once along the channel axis so that
every overlay is a batch of dot products.

Zero vectors (common after a ReLU) are left at zero length, so their similarity to
anything is 0 (the reference code instead adds 1e-4 to every norm, which makes a query's
self-similarity slightly below 1).
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..core.images import check_finite
from ..core.wire import flush_subnormals_

__all__ = ["unit_vectors", "half_vectors", "cosine_map", "synced_cell", "colour_range"]


def unit_vectors(acts: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """``acts`` divided by its L2 norm along ``dim`` (channels); zero vectors stay zero.

    Each vector is first divided by its largest magnitude, so tiny activations (randomly
    initialised deep nets reach 1e-9 and below) are normalised exactly instead of being
    lost to a norm floor or to float32 underflow of their squares.

    Parameters
    ----------
    acts : torch.Tensor
        Float tensor of any shape, e.g. N x C x H x W activations.
    dim : int, default 1
        The axis holding the vector components (the channel axis of N x C x H x W).

    Returns
    -------
    torch.Tensor
        Tensor of ``acts``' shape, dtype and device whose vectors along ``dim`` have unit L2 norm;
        all-zero vectors stay zero.
    """
    peak = acts.abs().amax(dim=dim, keepdim=True)
    scaled = torch.where(peak > 0, acts / torch.where(peak > 0, peak, 1), 0)
    norms = scaled.norm(dim=dim, keepdim=True)  # in [1, sqrt(C)] for nonzero vectors
    return scaled / norms.clamp_min(1)


def half_vectors(x: torch.Tensor, similarity: str = "cosine", mean: torch.Tensor | None = None) -> torch.Tensor:
    """Float16 vectors whose plain dot products are the chosen similarity.

    Vectors along the last axis of ``x`` (any strides, e.g. a C x h x w map permuted to
    h x w x C) as a contiguous float16 tensor whose dot products are the chosen similarity,
    on ``x``'s device with no float32 copy: one pass for the norms, one multiply that writes
    the halves.

    ``"cosine"``: unit vectors (zero vectors stay zero); ``"centred"``: unit vectors of
    ``x - mean`` (``mean``: the C-vector to subtract); ``"dot"``: the values as they are,
    which must fit float16 (|x| <= 65504). Values under float16's smallest normal (2^-14) in
    magnitude become 0: the browser's hover kernel multiplies subnormals slowly on x86. Vectors whose float32 sum of
    squares could under- or overflow (norm below 1e-18 or above 1e18) are normalised by :func:`unit_vectors`,
    which is exact there.

    Parameters
    ----------
    x : torch.Tensor
        ... x C float tensor (any strides): one C-vector along the last axis per cell.
    similarity : {"cosine", "centred", "dot"}, default "cosine"
        What the dot products of the result are; any other value is treated as ``"cosine"``.
    mean : torch.Tensor or None, default None
        The C-vector subtracted first; required (and only used) for ``"centred"``.

    Returns
    -------
    torch.Tensor
        Contiguous float16 tensor of ``x``'s shape on ``x``'s device, subnormal halves set to 0.

    Raises
    ------
    ValueError
        With ``"dot"``, when a value exceeds float16's range (|x| > 65504).
    """
    if similarity == "dot":
        out = x.to(torch.float16).contiguous()
        if not torch.isfinite(out).all():
            raise ValueError("activations exceed float16's range (|x| > 65504), which similarity='dot' ships as "
                             "they are; use similarity='cosine' or 'centred', or scale the activations down")
        return flush_subnormals_(out)
    if similarity == "centred":
        x = x - mean.to(x)
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32)
    out = torch.mul(x, torch.where(norm > 0, 1 / norm, 0),
                    out=torch.empty(x.shape, dtype=torch.float16, device=x.device))
    odd = ((norm < 1e-18) | (norm > 1e18))[..., 0]
    if bool(odd.any()):
        out[odd] = unit_vectors(x[odd].float(), dim=-1).to(torch.float16)
    return flush_subnormals_(out)  # as the wire sends them, without a copy there


def cosine_map(acts: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every cell of ``acts`` (N x C x H x W) to the vector ``query`` (C).

    Returns N x H x W. Computed in the dtype of ``acts`` on its device.

    Parameters
    ----------
    acts : torch.Tensor
        N x C x H x W float activations; must be finite.
    query : torch.Tensor
        The C-vector compared with every cell; cast to the dtype and device of ``acts``.

    Returns
    -------
    torch.Tensor
        N x H x W cosine similarities in the dtype of ``acts``, on its device (0 where either
        vector is zero).

    Raises
    ------
    ValueError
        If the shapes do not match (``acts`` not 4-D, ``query`` not C values) or either holds NaN
        or infinity.
    """
    if acts.dim() != 4 or query.dim() != 1 or query.shape[0] != acts.shape[1]:
        raise ValueError(
            f"expected acts N x C x H x W and a query of C values, got {tuple(acts.shape)} "
            f"and {tuple(query.shape)}"
        )
    check_finite(acts, "acts")
    check_finite(query, "query")
    q = unit_vectors(query.to(acts)[None])[0]
    return torch.einsum("nchw,c->nhw", unit_vectors(acts), q)


def synced_cell(row: int, col: int, from_grid: Sequence[int], to_grid: Sequence[int]) -> tuple[int, int]:
    """The cell of ``to_grid`` (h, w) under the centre of cell (row, col) of ``from_grid``.

    This is how a query moves between layers of different resolution (Fong et al.'s
    layer-synced view): the same image location, not the same index.

    Parameters
    ----------
    row, col : int
        The cell of the ``from_grid`` grid.
    from_grid : sequence of two ints
        (h, w) of the grid the cell belongs to.
    to_grid : sequence of two ints
        (h, w) of the grid to move to.

    Returns
    -------
    tuple of (int, int)
        (row, col) in ``to_grid``, clamped to its last row and column.
    """
    fh, fw = from_grid
    th, tw = to_grid
    return (min(th - 1, int((row + 0.5) * th / fh)), min(tw - 1, int((col + 0.5) * tw / fw)))


def colour_range(colormap: str, lo: float, hi: float) -> tuple[float, float]:
    """The range a similarity view draws ``colormap`` over, given the range [lo, hi] asked for.

    The diverging map's neutral centre only means something at 0 (orthogonal vectors), so it
    is drawn over the symmetric [-m, m], m = max(|lo|, |hi|) (1 when both are 0): post-ReLU
    cosines, all in [0, 1], then take its red half and 0 stays grey. Other maps keep [lo, hi].
    The browser applies the same rule (``colourRange`` in js/lib/panels.js).

    Parameters
    ----------
    colormap : str
        The colormap name; only ``"diverging"`` changes the range.
    lo, hi : float
        The range asked for.

    Returns
    -------
    tuple of (float, float)
        ``(lo, hi)`` as floats, or ``(-m, m)`` for ``"diverging"``.
    """
    lo, hi = float(lo), float(hi)
    if colormap != "diverging":
        return lo, hi
    m = max(abs(lo), abs(hi))
    return (-m, m) if m > 0 else (-1.0, 1.0)
