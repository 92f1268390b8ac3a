"""Colour lookup tables (256 x 3 uint8), the single source for the browser and for PNG export.

* ``gray``: black to white: "brighter denotes more similar" (Fong, DPhil thesis, 2020, Fig 1.5).
* ``viridis``: perceptually uniform sequential map of van der Walt and Smith (matplotlib,
  2015), rebuilt here by linear interpolation between 16 of its published colours.
* ``QUALITATIVE``: Okabe and Ito's colour-blind-safe palette ("Color Universal Design",
  2008) without its black, for categories such as NMF factor groups.
* ``TABLEAU10``: Tableau 10 (Maureen Stone, Tableau Software, 2016), ten hues chosen to stay
  apart and to read on light and dark backgrounds alike, by name, for chart lines and labels.
* ``diverging``: Moreland's cool-warm diverging map ("Diverging Color Maps for Scientific
  Visualization", 2009) anchored at its blue, neutral grey and red end points, for signed
  values (negative blue, zero grey, positive red).
"""
from __future__ import annotations

import numpy as np

__all__ = ["LUTS", "QUALITATIVE", "TABLEAU10", "lut", "apply"]

QUALITATIVE = [(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
               (0, 114, 178), (213, 94, 0), (204, 121, 167)]

TABLEAU10 = {"blue": "#4e79a7", "orange": "#f28e2b", "red": "#e15759", "teal": "#76b7b2", "green": "#59a14f",
             "yellow": "#edc948", "purple": "#b07aa1", "pink": "#ff9da7", "brown": "#9c755f", "grey": "#bab0ac"}

_VIRIDIS_ANCHORS = [
    (68, 1, 84), (72, 26, 108), (71, 47, 125), (65, 68, 135), (57, 86, 140), (49, 104, 142),
    (42, 120, 142), (35, 136, 142), (31, 152, 139), (34, 168, 132), (53, 183, 121),
    (84, 197, 104), (122, 209, 81), (165, 219, 54), (210, 226, 27), (253, 231, 37),
]
_COOLWARM_ANCHORS = [(59, 76, 192), (124, 159, 249), (192, 212, 245), (221, 221, 221),
                     (242, 203, 183), (238, 132, 104), (180, 4, 38)]


def _interpolate(anchors) -> np.ndarray:
    anchors = np.asarray(anchors, dtype=np.float64)
    x = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    table = np.stack([np.interp(t, x, anchors[:, k]) for k in range(3)], axis=1)
    return table.round().astype(np.uint8)


LUTS: dict[str, np.ndarray] = {
    "gray": np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1),
    "viridis": _interpolate(_VIRIDIS_ANCHORS),
    "diverging": _interpolate(_COOLWARM_ANCHORS),
}


def lut(name: str) -> np.ndarray:
    """The 256 x 3 table of a colormap by name.

    Parameters
    ----------
    name : str
        A key of :data:`LUTS`: ``"gray"``, ``"viridis"`` or ``"diverging"``.

    Returns
    -------
    numpy.ndarray
        256 x 3 uint8 RGB table (the array held in :data:`LUTS` itself, not a copy).

    Raises
    ------
    ValueError
        If ``name`` is not a known colormap.
    """
    if name not in LUTS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {sorted(LUTS)}")
    return LUTS[name]


def apply(values: np.ndarray, name: str, lo: float, hi: float) -> np.ndarray:
    """RGB uint8 colours of ``values`` under the map ``name`` over the range [lo, hi].

    The index is ``floor(clip((v - lo) / (hi - lo), 0, 1) * 255 + 0.5)``, exactly as the
    browser's ``Math.round`` does.

    Parameters
    ----------
    values : array_like
        Numbers of any shape (converted to float64).
    name : str
        Colormap name, a key of :data:`LUTS` (see :func:`lut`).
    lo, hi : float
        The values given the first and the last colour; values outside are clipped. When
        ``hi <= lo`` the span ``hi - lo`` is taken as 1.

    Returns
    -------
    numpy.ndarray
        uint8 array of shape ``values.shape + (3,)``.

    Raises
    ------
    ValueError
        If ``name`` is not a known colormap.
    """
    span = hi - lo if hi > lo else 1.0
    t = np.clip((np.asarray(values, dtype=np.float64) - lo) / span, 0.0, 1.0)
    return lut(name)[np.floor(t * 255 + 0.5).astype(np.int64)]
