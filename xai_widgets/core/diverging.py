"""Signed maps (attributions, relevance) as pixels: the diverging colour map over a fixed,
symmetric scale [-s, s], drawn alone or shaded over the image in faded grey with an opacity
that grows with |value|, so that zero leaves the image visible. The browser's twin is
``js/lib/diverging.js``: both use integer arithmetic after the colour index, so these
functions give the exact bytes the browser draws (the browser tests compare them).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from . import colormaps

__all__ = ["greyed", "shade", "scale_of", "SCALE_PERCENTILE", "SCALE_RULE", "NAN_GREY"]

SCALE_PERCENTILE = 99.5
SCALE_RULE = "99.5th pct |R|"
NAN_GREY = 128  # a NaN value drawn alone


def greyed(rgb: np.ndarray) -> np.ndarray:
    """The faded grey image maps are shaded over (uint8, 96..223), as the browser computes it:
    ``96 + (luma >> 1)`` with ``luma = (77 R + 150 G + 29 B + 128) >> 8``.

    Parameters
    ----------
    rgb : array_like
        Image of shape (H, W, 3) with RGB values 0..255, or (H, W, 1) whose single channel
        is taken as the luma.

    Returns
    -------
    numpy.ndarray
        (H, W) uint8 grey values in 96..223.
    """
    a = np.asarray(rgb).astype(np.int64)
    y = a[..., 0] if a.shape[-1] == 1 else (77 * a[..., 0] + 150 * a[..., 1] + 29 * a[..., 2] + 128) >> 8
    return (96 + (y >> 1)).astype(np.uint8)


def shade(values, scale: float, grey: np.ndarray | None = None, opacity: float = 1.0,
          colormap: str = "diverging") -> np.ndarray:
    """The RGBA bytes (H x W x 4 uint8) the browser draws for a signed map (js/lib/diverging.js).

    ``k = floor(clip((v + s) / 2s, 0, 1) * 255 + 0.5)`` indexes the colour map. Without
    ``grey`` the colour is drawn alone (NaN: mid grey); with ``grey`` (:func:`greyed`) it is
    blended over it with alpha ``a = floor(opacity * |k - 127.5| / 127.5 * 255 + 0.5)``:
    ``(grey * (255 - a) + colour * a + 127) // 255`` (NaN: the grey pixel).

    Parameters
    ----------
    values : array_like
        The signed map, of shape (H, W); NaN marks missing values.
    scale : float
        The half-width ``s`` of the symmetric range [-s, s] (see :func:`scale_of`); values
        outside it take the end colours. A scale that is not positive counts as a span of 1.
    grey : numpy.ndarray or None, default None
        (H, W) grey image from :func:`greyed` to blend over; None draws the colour alone.
    opacity : float, default 1.0
        Largest alpha of the blend, 0..1 (ignored without ``grey``).
    colormap : str, default "diverging"
        Colormap name (see :func:`xai_widgets.core.colormaps.lut`).

    Returns
    -------
    numpy.ndarray
        (H, W, 4) uint8 RGBA image, fully opaque.

    Raises
    ------
    ValueError
        If ``colormap`` is unknown.
    """
    v = np.asarray(values, dtype=np.float64)
    lo, hi = -float(scale), float(scale)
    span = hi - lo if hi > lo else 1.0
    t = np.clip((v - lo) / span, 0.0, 1.0)
    nan = np.isnan(t)
    k = np.floor(np.where(nan, 0.0, t) * 255 + 0.5).astype(np.int64)
    rgb = colormaps.lut(colormap)[k].astype(np.int64)
    if grey is None:
        col = np.where(nan[..., None], NAN_GREY, rgb)
    else:
        g = np.asarray(grey).astype(np.int64)[..., None]
        a = np.floor(float(opacity) * np.abs(k - 127.5) / 127.5 * 255 + 0.5).astype(np.int64)[..., None]
        col = np.where(nan[..., None], g, (g * (255 - a) + 127 + rgb * a) // 255)
    out = np.empty(v.shape + (4,), np.uint8)
    out[..., :3] = col
    out[..., 3] = 255
    return out


def scale_of(maps: Sequence[np.ndarray]) -> tuple[float, str]:
    """The column scale: the 99.5th percentile of |R| over all maps (NaN ignored).

    Falls back to max |R| when that percentile is 0 (maps that are almost all zero), and to
    1 for maps that are all zero or NaN; the second value names the rule used.

    Parameters
    ----------
    maps : sequence of numpy.ndarray
        The maps sharing one scale (any shapes; flattened together).

    Returns
    -------
    scale : float
        The scale ``s`` (positive).
    rule : str
        The rule used: ``SCALE_RULE`` ("99.5th pct |R|"), ``"max |R|"``, ``"all zero"`` or
        ``"no finite values"``.
    """
    a = np.abs(np.concatenate([np.asarray(m, dtype=np.float32).ravel() for m in maps]))
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 1.0, "no finite values"
    s = float(np.percentile(a, SCALE_PERCENTILE))
    if s > 0:
        return s, SCALE_RULE
    top = float(a.max())
    return (top, "max |R|") if top > 0 else (1.0, "all zero")
