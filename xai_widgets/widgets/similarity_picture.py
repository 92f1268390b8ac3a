"""The static picture of a :class:`~xai_widgets.widgets.similarity.SimilarityOverlay`.

:func:`similarity_figure` draws, with PIL, what the browser shows for one query: titles,
images shaded by their similarity maps, the query marks, the layer labels and the colour
legend. Every length is given at scale 1 in whole pixels and multiplied by ``scale`` when
drawn, so a figure at scale 2 is the same picture at exactly twice the width and height.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..core import colormaps, render
from ..core.images import panel_pixels
from ..similarity.maps import colour_range
from .checks import at_least

__all__ = ["similarity_figure", "WORST_OUTLINE"]

SIMILARITY_NAMES = {"cosine": "cosine similarity", "dot": "dot product", "centred": "cosine after centring"}

WORST_OUTLINE = (255, 0, 255)  # magenta: apart from the yellow query mark and from every colormap's ends


def similarity_figure(
    images: Sequence,
    input_hw: Sequence[tuple[int, int]],
    titles: Sequence,
    grids: Mapping[str, Sequence[tuple[int, int]]],
    maps: Mapping[str, Sequence],
    *,
    query_image: int,
    cells: Mapping[str, tuple[int, int]],
    colormap: str,
    vrange: Sequence[float],
    auto_range: bool,
    opacity: float,
    similarity: str,
    panel: int,
    scale: float,
    columns: int | None,
    worst: Mapping[str, dict | None] | None,
) -> Image.Image:
    """The overlay view for one query as a PIL image.

    Parameters
    ----------
    images : sequence
        The images as given to the widget (see :mod:`xai_widgets.core.images`).
    input_hw : sequence of (H, W)
        Each image's model-input size: it sets the panel's aspect.
    titles : sequence
        One title per image.
    grids : mapping of row name -> sequence of (h, w)
        Every row shown, in order, with each image's activation grid.
    maps : mapping of row name -> sequence of h x w arrays
        The similarity maps of the shaded rows, one per image; rows not in it are drawn unshaded.
    query_image : int
        The image whose panels carry the query mark.
    cells : mapping of row name -> (row, col)
        The query cell per row, marked on ``query_image`` (empty for a prefix-token query).
    colormap : str
        The colormap's name (:mod:`xai_widgets.core.colormaps`).
    vrange : (lo, hi)
        The fixed colour range, used unless ``auto_range``.
    auto_range : bool
        Colour over the min and max of ``maps`` instead of ``vrange``.
    opacity : float
        Overlay opacity, 0 to 1.
    similarity : str
        "cosine", "dot" or "centred": names the shaded values in the legend's caption.
    panel : int
        Long side of an image panel in pixels at scale 1.
    scale : float
        Multiplies every length (panels, text, lines, margins).
    columns : int or None
        Images per group of rows (None: all in one row); groups are balanced.
    worst : mapping of row name -> reduction report or None, or None
        Per row the report whose ``"worst"`` query cells are outlined; None outlines none.

    Returns
    -------
    PIL.Image.Image
        The RGB figure.
    """
    lo, hi = vrange
    if auto_range:
        values = np.concatenate([np.asarray(m).ravel() for ms in maps.values() for m in ms])
        lo, hi = float(values.min()), float(values.max())
    lo, hi = colour_range(colormap, lo, hi)

    # Every length at scale 1, in whole pixels; px() scales them, so scale=2 doubles exactly.
    px = render.scaler(scale)
    N = len(images)
    rows = list(grids)
    per_row = N if columns is None else max(1, min(N, int(at_least("columns", columns, 1))))
    groups = -(-N // per_row)
    per_row = -(-N // groups)  # balanced: 8 in columns of 6 become 4 + 4
    dims = [render.display_size(hw, panel) for hw in input_hw]
    cell_w, cell_h = max(d[0] for d in dims), max(d[1] for d in dims)
    f, small, gap = max(12, panel // 16), max(11, round(max(12, panel // 16) * 0.8)), max(6, panel // 40)
    line = round(f * 1.25)
    fnt, sfnt = render.font(f), render.font(small)
    sizes = {name: "x".join(map(str, grids[name][0])) for name in rows}
    label_w = max(max(fnt.getlength(name), sfnt.getlength(sizes[name])) for name in rows)
    label_w = int(np.ceil(label_w)) + gap
    left = gap + label_w + gap  # x of the first panel column
    wrapped = [render.wrap_text(str(t), fnt, cell_w, 2) for t in titles]
    width = left + per_row * (cell_w + gap)

    placed = []  # (kind, x, y, payload) at scale 1
    y = gap
    for g in range(groups):
        members = list(range(g * per_row, min(N, (g + 1) * per_row)))
        for k, n in enumerate(members):
            for i, text in enumerate(wrapped[n]):
                placed.append(("title", left + k * (cell_w + gap) + cell_w // 2, y + i * line, text))
        y += max(len(wrapped[n]) for n in members) * line + gap // 2
        for name in rows:
            placed.append(("label", gap + label_w, y + cell_h // 2, name))
            for k, n in enumerate(members):
                placed.append(("panel", left + k * (cell_w + gap), y, (name, n)))
            y += cell_h + gap
        y += gap  # between groups, and before the legend
    what = SIMILARITY_NAMES.get(similarity, "similarity")
    key = render.legend(colormap, lo, hi, bar_width=max(160, min(per_row * (cell_w + gap) - gap, 2 * panel)),
                        font_size=small, caption=render.similarity_caption(what, colormap),
                        max_width=width - left, scale=scale)
    key_pad, (key_w1, key_h1) = key.info["pad"], key.info["size1"]
    key_x = left - key_pad  # the bar starts under the first panel column
    fig = Image.new("RGB", (px(max(width, key_x + key_w1 + gap)), px(y + key_h1 + gap)), render.BACKGROUND)
    draw = ImageDraw.Draw(fig)
    tfnt, tsfnt = render.font(px(f)), render.font(px(small))
    mark = max(2, panel // 150)
    for kind, x, top, item in placed:
        if kind == "title":
            draw.text((px(x), px(top)), item, fill=render.TEXT, font=tfnt, anchor="ma")
        elif kind == "label":
            draw.text((px(x), px(top) - px(1)), item, fill=render.TEXT, font=tfnt, anchor="rb")
            draw.text((px(x), px(top) + px(1)), sizes[item], fill=render.MUTED, font=tsfnt, anchor="rt")
        else:
            name, n = item
            W1, H1 = dims[n]
            base = panel_pixels(images[n], input_hw[n], (px(W1), px(H1)), n)
            img = Image.fromarray(base)
            if name in maps:
                rgb = colormaps.apply(np.asarray(maps[name][n]), colormap, lo, hi)
                img = Image.fromarray(render.overlay(base, rgb, opacity))
            if worst is not None:
                _outline_worst(img, grids[name][n], worst.get(name), n, px(mark))
            if n == query_image and name in cells:
                render.mark_query(img, grids[name][n], *cells[name], width=px(mark))
            fig.paste(img, (px(x), px(top)))
    fig.paste(key, (px(key_x), px(y)))
    return fig


def _outline_worst(img: Image.Image, grid, report: dict | None, image: int, width: int) -> None:
    """Outline, on image ``image``'s panel, the worst query cells of a row's reduction report."""
    for cell in (report or {}).get("worst", []):
        if cell["image"] == image and "row" in cell:
            render.outline_cell(img, grid, cell["row"], cell["col"], width=max(1, width // 2), colour=WORST_OUTLINE)
