"""ConceptExplorer's pixels and static picture. :func:`mask_pixels` and :func:`channel_pixels`
are the exact twins of ``js/concept_explorer/draw.js`` (integer blending after the mask or
colour index), so the browser tests compare the canvases with them byte for byte."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from ..core import colormaps, render

__all__ = ["COMBINATION", "SINGLE", "TRUTH", "mask_pixels", "channel_pixels", "logit_of", "concept_picture"]

COMBINATION = (213, 94, 0)  # Okabe-Ito vermillion: the learned combination's mask
SINGLE = (0, 114, 178)  # Okabe-Ito blue: the best single filter's mask
TRUTH = (255, 255, 0)  # the concept's own mask, outlined


def logit_of(threshold: float) -> float:
    """The logit a probability threshold p compares with: log(p / (1 - p)) (0 for p = 0.5).

    Parameters
    ----------
    threshold : float
        A probability in (0, 1).

    Returns
    -------
    float
        The logit.
    """
    return math.log(threshold / (1 - threshold))


def _alpha(opacity: float) -> int:
    return int(math.floor(opacity * 255 + 0.5))


def _blend(base: np.ndarray, colour, alpha: int) -> np.ndarray:
    b = base.astype(np.int64)
    return ((b * (255 - alpha) + np.asarray(colour, np.int64) * alpha + 127) // 255).astype(np.uint8)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the image's border counts as outside)."""
    m = np.pad(mask, 1)
    inner = m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~inner


def mask_pixels(image: np.ndarray, mask: np.ndarray, colour, opacity: float, truth: np.ndarray) -> np.ndarray:
    """An example as drawn: ``mask`` filled with ``colour`` at ``opacity`` over the image, and
    the concept's mask ``truth`` outlined in :data:`TRUTH`.

    With a = floor(opacity * 255 + 0.5), a masked pixel is (p (255 - a) + c a + 127) // 255.

    Parameters
    ----------
    image : numpy.ndarray
        dh x dw x 3 uint8.
    mask, truth : numpy.ndarray
        dh x dw bool.
    colour : tuple of int
        The fill's RGB.
    opacity : float
        In [0, 1].

    Returns
    -------
    numpy.ndarray
        dh x dw x 3 uint8.
    """
    out = image.copy()
    out[mask] = _blend(image[mask], colour, _alpha(opacity))
    out[_outline(truth)] = TRUTH
    return out


def channel_pixels(image: np.ndarray, acts: np.ndarray, opacity: float) -> np.ndarray:
    """A channel's activation (uint8 colour indices, h x w) in viridis over the image, cells
    upsampled by nearest neighbour (:func:`xai_widgets.core.render.cell_index`), blended at
    ``opacity`` as in :func:`mask_pixels`.

    Parameters
    ----------
    image : numpy.ndarray
        dh x dw x 3 uint8.
    acts : numpy.ndarray
        h x w uint8: the activation over [0, the channel's maximum on the examples].
    opacity : float
        In [0, 1].

    Returns
    -------
    numpy.ndarray
        dh x dw x 3 uint8.
    """
    dh, dw = image.shape[:2]
    rows, cols = render.cell_index(dh, acts.shape[0]), render.cell_index(dw, acts.shape[1])
    colours = colormaps.lut("viridis")[acts[rows[:, None], cols[None, :]]]
    return _blend(image, colours, _alpha(opacity))


def _bars(weights: np.ndarray, order: np.ndarray, width: int, height: int) -> Image.Image:
    """The sorted weights as bars in the diverging colours over +-max|w|, zero in the middle."""
    img = Image.new("RGB", (width, height), render.BACKGROUND)
    draw = ImageDraw.Draw(img)
    m = float(np.abs(weights).max()) or 1.0
    colours = colormaps.apply(weights[order][None], "diverging", -m, m)[0]
    mid, step = height / 2, width / len(order)
    for j, w in enumerate(weights[order]):
        y = mid - float(w) / m * (mid - 1)
        draw.rectangle([j * step, min(y, mid), max(j * step, (j + 1) * step - 1), max(y, mid)],
                       fill=tuple(int(c) for c in colours[j]))
    draw.line([0, mid, width, mid], fill=render.MUTED)
    return img


def concept_picture(title: str, weights: np.ndarray, order: np.ndarray, rows: list[tuple[str, list[np.ndarray]]],
                    captions: list[str], lines: list[str], panel: int, scale: float) -> Image.Image:
    """The static figure: a title, the sorted weight bars, the example strips, text lines.

    Parameters
    ----------
    title : str
        The concept and its scores.
    weights : numpy.ndarray
        C weights of the concept.
    order : numpy.ndarray
        The channels by weight, largest first.
    rows : list of (str, list of numpy.ndarray)
        Each strip's label and its example pixels (dh x dw x 3 uint8).
    captions : list of str
        One per example (the column titles).
    lines : list of str
        Text under the strips (neighbours, arithmetic).
    panel : int
        Side of an example in pixels before ``scale``.
    scale : float
        Multiplies every length.

    Returns
    -------
    PIL.Image.Image
        RGB figure.
    """
    px = render.scaler(scale, minimum=1)
    side = px(panel)
    cells = [[Image.fromarray(p).resize((side, side), Image.NEAREST) for p in strip] for _, strip in rows]
    strips = render.grid_figure(cells, captions, [label for label, _ in rows]) if cells and cells[0] else None
    width = strips.size[0] if strips else px(10 * panel)
    fnt = render.font(px(14))
    pad = px(8)
    bars = _bars(np.asarray(weights, np.float64), np.asarray(order), width - 2 * pad, px(90))
    text_h = (len(lines) + 1) * (fnt.size + pad)
    height = pad + fnt.size + pad + bars.size[1] + pad + (strips.size[1] if strips else 0) + text_h
    fig = Image.new("RGB", (width, height), render.BACKGROUND)
    draw = ImageDraw.Draw(fig)
    draw.text((pad, pad), title, fill=render.TEXT, font=fnt)
    y = 2 * pad + fnt.size
    fig.paste(bars, (pad, y))
    y += bars.size[1] + pad
    if strips:
        fig.paste(strips, (0, y))
        y += strips.size[1]
    for line in lines:
        draw.text((pad, y), line, fill=render.TEXT, font=fnt)
        y += fnt.size + pad
    return fig
