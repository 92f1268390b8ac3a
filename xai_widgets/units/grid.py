"""The channel grid of the Deep Visualization Toolbox: layout, normalisation, tiles.

Yosinski, Clune, Nguyen, Fuchs and Lipson, "Understanding Neural Networks Through Deep
Visualization", ICML Deep Learning Workshop 2015: every channel of one layer is drawn as a
tile of one grid, with one min-max range for the whole layer by default (so weak channels
look dark, which is itself informative), an optional per-channel "boost" and a gamma.

This module is the Python reference of the browser's grid: the front end implements the
same formulas, and the browser tests compare its pixels with :func:`tile_image` of
:func:`normalise`. Everything is computed in float64 from the activations' own values, as
JavaScript numbers are, so that both sides agree to the last colour index.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import torch

from torch import nn

from ..core import colormaps
from ..core.capture import layers
from ..core.layouts import Ambiguous, ambiguous_error

__all__ = ["NORMALISATIONS", "OBJECTIVES", "tile_layers", "check_objective", "unit_value", "tile_layout", "is_signed", "normalise", "channel_stats", "tile_image"]

NORMALISATIONS = ("layer", "channel", "fixed")
# What one number a unit (a channel's map) is summarised by: its spatial mean (the channel
# objective of Olah et al., "Feature Visualization", Distill 2017), max (DeepVis's top-9
# ranking) or sum (DeepVis's back view: a gradient of ones over the whole map).
OBJECTIVES = ("mean", "max", "sum")


def tile_layers(model: nn.Module, x: torch.Tensor, layouts=None) -> tuple[list[dict], dict]:
    """The layers a grid can show, and those it cannot because their layout is ambiguous.

    Parameters
    ----------
    model : torch.nn.Module
        The model, traced on ``x`` (see :func:`xai_widgets.core.capture.layers`).
    x : torch.Tensor
        One model input batch (one image is enough).
    layouts : dict, optional
        ``{layer: layout}`` for layers whose layout is not detected (:mod:`xai_widgets.core.layouts`).

    Returns
    -------
    list of dict
        ``{"name", "type", "shape", "layout"}`` per showable layer in execution order; ``shape``
        is its maps' C x h x w, or [C] for an N x C layer.
    dict
        ``{layer: ValueError}`` explaining each layer left out as ambiguous.
    """
    out, ambiguous = [], {}
    for info in layers(model, x, layouts=layouts):
        if isinstance(info.layout, Ambiguous):
            ambiguous[info.name] = ambiguous_error(info.name, info.shape, info.layout.reason)
        elif info.layout is not None:
            maps = info.layout.maps(torch.empty(info.shape, device="meta"))
            shape = [maps.shape[1]] if info.layout.name == "NC" else list(maps.shape[1:])
            out.append({"name": info.name, "type": info.type, "shape": shape, "layout": str(info.layout)})
    return out, ambiguous


def check_objective(objective) -> str:
    """``objective`` when it is one of :data:`OBJECTIVES`, else a ValueError naming them.

    Parameters
    ----------
    objective : str
        The unit objective to check: "mean", "max" or "sum".

    Returns
    -------
    str
        ``objective`` unchanged.

    Raises
    ------
    ValueError
        If ``objective`` is not one of :data:`OBJECTIVES`.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown unit objective {objective!r}; choose one of {OBJECTIVES}")
    return objective


def unit_value(maps: torch.Tensor, objective: str) -> torch.Tensor:
    """``maps`` (... x H x W) reduced over its last two axes by ``objective`` (:data:`OBJECTIVES`).

    The gradient of "max" goes to the largest cell (split evenly between tied cells, as
    ``torch.amax``'s is).

    Parameters
    ----------
    maps : torch.Tensor
        ... x H x W float tensor (e.g. N x C x H x W maps or one H x W channel).
    objective : {"mean", "max", "sum"}
        The spatial reduction.

    Returns
    -------
    torch.Tensor
        Tensor of shape ``maps.shape[:-2]``, differentiable, on the device of ``maps``.

    Raises
    ------
    ValueError
        If ``objective`` is unknown.
    """
    if check_objective(objective) == "max":
        return maps.amax((-2, -1))
    return maps.mean((-2, -1)) if objective == "mean" else maps.sum((-2, -1))


def tile_layout(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) of a grid for ``n`` tiles: ``cols = ceil(sqrt(n * aspect))``, ``rows = ceil(n / cols)``.

    DeepVis's ``get_tiles_height_width_ratio`` with ``aspect`` its width ratio (1.0 by
    default, ``caffevis_layers_aspect_ratio``): 512 channels give 23 x 23, 10 give 3 x 4.

    Parameters
    ----------
    n : int
        Number of tiles (channels), positive.
    aspect : float, default 1.0
        Width ratio, positive and finite.

    Returns
    -------
    tuple of (int, int)
        ``(rows, cols)``.

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer or ``aspect`` not a positive finite number.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive number of tiles, got {n!r}")
    if not (isinstance(aspect, numbers.Real) and math.isfinite(aspect) and aspect > 0):
        raise ValueError(f"aspect must be a positive finite width ratio, got {aspect!r}")
    cols = math.ceil(math.sqrt(n * aspect))
    return math.ceil(n / cols), cols


def _layer(acts, name: str = "acts") -> torch.Tensor:
    """``acts`` (tensor or array, C x H x W) as a float64 copy on its device, checked."""
    if not isinstance(acts, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(acts).__name__}")
    x = torch.as_tensor(acts).detach()
    if x.dim() != 3 or x.numel() == 0:
        raise ValueError(
            f"{name} must be one image's layer, C x H x W (linear layers as C x 1 x 1; "
            f"xai_widgets.capture_maps gives any layer so), got shape {tuple(x.shape)}"
        )
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values; the model's activations are not finite")
    return x.to(torch.float64, copy=True)  # ours to change in place


def is_signed(acts) -> bool:
    """Whether any activation of this layer, for this image, is negative (then a diverging map).

    Parameters
    ----------
    acts : torch.Tensor or numpy.ndarray
        One image's layer, C x H x W real and finite.

    Returns
    -------
    bool
        True if any value is negative.

    Raises
    ------
    TypeError, ValueError
        If ``acts`` is not a C x H x W array of finite real numbers.
    """
    return bool((_layer(acts) < 0).any())


def _check_options(mode: str, vrange, boost: float, gamma: float) -> tuple[float, float] | None:
    if mode not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {mode!r}; choose one of {NORMALISATIONS}")
    if not (isinstance(boost, numbers.Real) and 0.0 <= boost <= 1.0):
        raise ValueError(f"boost must be a number in [0, 1] (DeepVis boost_indiv), got {boost!r}")
    if not (isinstance(gamma, numbers.Real) and math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a positive finite number, got {gamma!r}")
    if mode != "fixed":
        return None
    if vrange is None:
        raise ValueError('mode "fixed" needs vrange=(lo, hi), the value range mapped to [0, 1]')
    try:
        lo, hi = (float(v) for v in vrange)
    except (TypeError, ValueError):
        raise ValueError(f"vrange must be two numbers (lo, hi), got {vrange!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"vrange must be two finite numbers with lo < hi, got {vrange!r}")
    return lo, hi


def _per_channel(x: torch.Tensor, reduce) -> torch.Tensor:
    """``reduce`` (amin, amax) over each channel's H x W, kept as C x 1 x 1 for broadcasting."""
    return reduce(x, dim=(1, 2), keepdim=True)


def _contrast(u: torch.Tensor, boost: float, gamma: float) -> torch.Tensor:
    """DeepVis boost_indiv then gamma on values in [0, 1], in place on ``u``.

    ``u / m_c ** boost`` with ``m_c`` the channel's max (channels with ``m_c = 0`` unchanged),
    clipped to [0, 1], then ``u ** gamma``. Boost 1 takes every non-zero channel to max 1.
    """
    if boost > 0:
        m = _per_channel(u, torch.amax)
        u.div_(torch.where(m > 0, m**boost, 1.0)).clamp_(0.0, 1.0)
    if gamma != 1.0:
        u.pow_(gamma)
    return u


def normalise(
    acts,
    mode: str = "layer",
    vrange: Sequence[float] | None = None,
    boost: float = 0.0,
    gamma: float = 1.0,
    signed: bool | None = None,
) -> torch.Tensor:
    """One image's layer (C x H x W) mapped to [0, 1] for display, as in DeepVis.

    Returns a float64 C x H x W tensor on the device of ``acts``. With ``x`` the activations:

    Unsigned (``signed`` False):
      * ``lo, hi``: min and max of the whole layer (``"layer"``, DeepVis's default), of each
        channel (``"channel"``), or ``vrange`` (``"fixed"``).
      * ``u = clip((x - lo) / span, 0, 1)`` with ``span = hi - lo``, or 1 where ``hi <= lo``
        (a constant layer or channel maps to 0).
      * boost: ``u = clip(u / m_c ** boost, 0, 1)`` with ``m_c`` the max of ``u`` over channel
        ``c``, skipped where ``m_c = 0`` (DeepVis ``boost_indiv``, in [0, 1]).
      * gamma: ``u = u ** gamma``. The result is ``u``.

    Signed (``signed`` True; zero is the neutral middle of a diverging map):
      * ``m``: max of ``|x|`` over the layer (``"layer"``), over each channel (``"channel"``),
        or ``max(|lo|, |hi|)`` of ``vrange`` (``"fixed"``, so the range used is [-m, m]).
      * ``a = clip(|x| / m, 0, 1)``, with ``a = 0`` where ``m = 0``.
      * boost and gamma as above, on ``a``.
      * the result is ``0.5 + 0.5 * sign(x) * a``: zero maps to 0.5.

    ``signed=None`` means :func:`is_signed` of ``acts``. ``vrange`` is required by
    ``"fixed"`` and ignored otherwise.

    Parameters
    ----------
    acts : torch.Tensor or numpy.ndarray
        One image's layer, C x H x W real and finite (linear layers as C x 1 x 1); not modified.
    mode : {"layer", "channel", "fixed"}, default "layer"
        Where the range comes from (:data:`NORMALISATIONS`).
    vrange : sequence of two floats or None, default None
        ``(lo, hi)`` with lo < hi, finite; required by ``"fixed"``.
    boost : float, default 0.0
        DeepVis ``boost_indiv`` in [0, 1]; 0 turns it off.
    gamma : float, default 1.0
        Positive finite exponent; 1 turns it off.
    signed : bool or None, default None
        Diverging (True) or sequential (False) mapping; None decides by :func:`is_signed`.

    Returns
    -------
    torch.Tensor
        C x H x W float64 values in [0, 1] on the device of ``acts``.

    Raises
    ------
    TypeError, ValueError
        For invalid ``acts`` or options.
    """
    fixed = _check_options(mode, vrange, boost, gamma)
    # In place on _layer's own copy: on CPU, fresh layer-sized temporaries cost more than the
    # arithmetic. Every step is still the formula above, in the same order.
    x = _layer(acts)
    if signed is None:
        signed = bool((x < 0).any())
    if signed:
        sign = torch.sign(x)
        a = x.abs_()
        if mode == "layer":
            m = a.max()
        elif mode == "channel":
            m = _per_channel(a, torch.amax)
        else:
            m = torch.tensor(max(abs(fixed[0]), abs(fixed[1])), dtype=x.dtype, device=x.device)
        # m = 0 only when every |x| it covers is 0, so dividing by 1 there gives a = 0.
        a.div_(torch.where(m > 0, m, 1.0)).clamp_(0.0, 1.0)
        # (a * sign) * 0.5 + 0.5 equals 0.5 + 0.5 * sign * a exactly: sign and 0.5 scale exactly.
        return _contrast(a, boost, gamma).mul_(sign).mul_(0.5).add_(0.5)
    if mode == "layer":
        lo, hi = torch.aminmax(x)
    elif mode == "channel":
        lo, hi = _per_channel(x, torch.amin), _per_channel(x, torch.amax)
    else:
        lo, hi = (torch.tensor(v, dtype=x.dtype, device=x.device) for v in fixed)
    span = torch.where(hi > lo, hi - lo, 1.0)
    return _contrast(x.sub_(lo).div_(span).clamp_(0.0, 1.0), boost, gamma)


def channel_stats(acts) -> dict[str, torch.Tensor]:
    """Per-channel figures for the hover tooltip of a C x H x W layer (float64, on its device).

    ``max`` (C): the channel's largest value; ``mean`` (C): its mean over H x W;
    ``argmax`` (C x 2, int64): (row, col) of the max, the first in row-major order on ties.

    Parameters
    ----------
    acts : torch.Tensor or numpy.ndarray
        One image's layer, C x H x W real and finite.

    Returns
    -------
    dict of str to torch.Tensor
        ``{"max": C float64, "mean": C float64, "argmax": C x 2 int64}``.

    Raises
    ------
    TypeError, ValueError
        If ``acts`` is not a C x H x W array of finite real numbers.
    """
    x = _layer(acts)
    flat = x.flatten(1)
    width = x.shape[2]
    index = flat.argmax(dim=1)  # torch documents argmax as the first maximal index
    return {
        "max": flat.amax(dim=1),
        "mean": flat.mean(dim=1),
        "argmax": torch.stack([index // width, index % width], dim=1),
    }


def _table(lut) -> np.ndarray:
    if isinstance(lut, str):
        return colormaps.lut(lut)
    table = np.asarray(lut)
    if table.shape != (256, 3) or table.dtype != np.uint8:
        raise ValueError(
            f"lut must be a colormap name {sorted(colormaps.LUTS)} or a 256 x 3 uint8 table, "
            f"got {table.dtype} array of shape {table.shape}"
        )
    return table


def _colour(background) -> np.ndarray:
    rgb = np.asarray(background)
    if rgb.shape != (3,) or not np.issubdtype(rgb.dtype, np.integer) or rgb.min() < 0 or rgb.max() > 255:
        raise ValueError(f"background must be three integers (r, g, b) in 0..255, got {background!r}")
    return rgb.astype(np.uint8)


def tile_image(
    t,
    lut,
    rows: int,
    cols: int,
    pad: int = 1,
    background: Sequence[int] = (255, 255, 255),
) -> np.ndarray:
    """The grid as the browser draws it at one pixel per cell: (rows*(H+pad)+pad) x (cols*(W+pad)+pad) x 3 uint8.

    ``t`` is C x H x W in [0, 1] (from :func:`normalise`; values outside are clipped).
    ``lut`` is a colormap name of :mod:`xai_widgets.core.colormaps` or a 256 x 3 uint8 table.
    Each value's colour is ``lut[floor(t * 255 + 0.5)]``, the rule of
    :func:`xai_widgets.core.colormaps.apply`. Channel ``k`` is the tile at grid cell
    ``(i, j) = (k // cols, k % cols)``, its top-left pixel at ``(pad + i * (H + pad),
    pad + j * (W + pad))``; padding and unused cells are ``background``. Linear layers
    (H = W = 1) are single pixels.

    Parameters
    ----------
    t : torch.Tensor or numpy.ndarray
        C x H x W values in [0, 1].
    lut : str or numpy.ndarray
        Colormap name or 256 x 3 uint8 table.
    rows, cols : int
        Grid size, non-negative with ``rows * cols >= C`` (see :func:`tile_layout`).
    pad : int, default 1
        Pixels between and around tiles, non-negative.
    background : sequence of three ints, default (255, 255, 255)
        RGB colour, 0..255, of padding and unused cells.

    Returns
    -------
    numpy.ndarray
        (rows*(H+pad)+pad) x (cols*(W+pad)+pad) x 3 uint8 image.

    Raises
    ------
    TypeError, ValueError
        For invalid ``t``, grid size, ``lut`` or ``background``.
    """
    values = _layer(t, "t").cpu().numpy()
    channels, height, width = values.shape
    if not all(isinstance(v, numbers.Integral) and v >= 0 for v in (rows, cols, pad)) or rows * cols < channels:
        raise ValueError(
            f"rows={rows!r}, cols={cols!r}, pad={pad!r}: need non-negative integers with "
            f"rows * cols >= {channels} channels (tile_layout gives such rows and cols)"
        )
    table = _table(lut)
    # The gray map is the identity on indices, so this is apply's index rule verbatim.
    index = colormaps.apply(values, "gray", 0.0, 1.0)[..., 0]
    tiles = table[index]
    canvas = np.empty((rows * (height + pad) + pad, cols * (width + pad) + pad, 3), dtype=np.uint8)
    canvas[:] = _colour(background)
    for c in range(channels):
        top = pad + (c // cols) * (height + pad)
        left = pad + (c % cols) * (width + pad)
        canvas[top : top + height, left : left + width] = tiles[c]
    return canvas
