"""The static picture of a :class:`~xai_widgets.widgets.sweep.TransformSweep`.

:func:`sweep_figure` draws, with PIL, what the browser shows for one query cell: the shaded
original beside the similarity chart (:func:`chart_png`), every shaded copy with the cell
showing the same content outlined, and the colour legend. Every length is given at scale 1
in whole pixels and multiplied by ``scale`` when drawn, so a figure at scale 2 is the same
picture at exactly twice the width and height.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..core import colormaps, render
from ..core.charts import nice_ticks
from ..core.images import panel_pixels
from .checks import at_least

__all__ = ["sweep_figure", "chart_png"]


def sweep_figure(
    image,
    input_hw: tuple[int, int],
    copies_of: Callable[[np.ndarray], np.ndarray],
    titles: Sequence[str],
    maps: Sequence[np.ndarray],
    grid: tuple[int, int],
    cell: tuple[int, int],
    matches: Sequence[tuple[int, int] | None],
    chart: dict,
    *,
    colormap: str,
    lo: float,
    hi: float,
    opacity: float,
    panel: int,
    columns: int | None,
    scale: float,
) -> Image.Image:
    """The sweep view for one query cell as a PIL image.

    Parameters
    ----------
    image : PIL image, numpy array or tensor
        The original image (see :mod:`xai_widgets.core.images`).
    input_hw : (H, W)
        The model-input size: it sets the panels' aspect.
    copies_of : callable
        H x W x 3 uint8 display pixels -> V x H x W x 3 uint8, transformed like the model input.
    titles : sequence of str
        ``"original"`` then one title per copy.
    maps : sequence of h x w arrays
        The original's similarity map then each copy's, shaded over the panels.
    grid : (h, w)
        The layer's activation grid.
    cell : (row, col)
        The query cell of the original, marked on it.
    matches : sequence of (row, col) or None
        Per copy, the cell showing the query cell's content (None: it left the image), marked.
    chart : dict
        Keyword arguments of :func:`chart_png` other than the size and the scale: ``xs``,
        ``ys``, ``mean``, ``lo``, ``hi``, ``xlabel``, ``title``.
    colormap : str
        The colormap's name (:mod:`xai_widgets.core.colormaps`).
    lo, hi : float
        The colour range.
    opacity : float
        Overlay opacity, 0 to 1.
    panel : int
        Long side of an image panel in pixels at scale 1.
    columns : int or None
        Copies per row (None: balanced rows of at most 6).
    scale : float
        Multiplies every length (panels, text, lines, margins).

    Returns
    -------
    PIL.Image.Image
        The RGB figure.
    """
    px = render.scaler(scale)
    # Every length at scale 1, in whole pixels; px() scales them, so scale=2 doubles exactly.
    pw, ph = render.display_size(input_hw, panel)
    n_copies = len(matches)
    fit = max(1, at_least("columns", columns, 1) if columns is not None else 6)
    ncols = -(-n_copies // -(-n_copies // fit))  # balanced rows of at most `fit` copies
    nrows = -(-n_copies // ncols)
    gap, f = max(6, panel // 30), max(12, panel // 14)
    fnt = render.font(f)
    titles = [t.replace("×", "x") for t in titles]  # Pillow's font has no ×
    lines = [render.wrap_text(t, fnt, pw, 2) for t in titles]
    line = round(f * 1.2)
    title_h = max(len(x) for x in lines) * line + gap // 2
    grid_w = ncols * (pw + gap) - gap
    chart_w = max(grid_w - pw - 2 * gap, 360)
    chart_h = max(title_h + ph, 200)
    width = gap + max(grid_w, pw + 2 * gap + chart_w) + gap
    top = gap + chart_h + 2 * gap  # the copies start under the original and the chart
    # the legend: in the last row of copies when it has room to spare, else under the copies
    rows_end = top + nrows * (title_h + ph + gap)
    free_x = gap + (n_copies - (nrows - 1) * ncols) * (pw + gap) + gap
    legend = dict(font_size=max(11, round(f * 0.8)), caption=render.similarity_caption("cosine similarity", colormap),
                  scale=scale)
    key = None
    if width - gap - free_x >= 200:
        key = render.legend(colormap, lo, hi, bar_width=min(width - gap - free_x - 40, max(240, 2 * panel)),
                            max_width=width - gap - free_x, **legend)
        key_w, key_h = key.info["size1"]
        key_x, key_y = free_x, rows_end - gap - key_h
        if key_w > width - gap - free_x or key_h > ph:
            key = None
    if key is None:
        key = render.legend(colormap, lo, hi, bar_width=min(width - 2 * gap, max(240, 2 * panel)),
                            max_width=width - 2 * gap, **legend)
        key_w, key_h = key.info["size1"]
        key_x, key_y = gap, rows_end
    height = max(rows_end, key_y + key_h + gap)
    fig = Image.new("RGB", (px(max(width, key_x + key_w + gap)), px(height)), render.BACKGROUND)
    draw = ImageDraw.Draw(fig)
    tfnt = render.font(px(f))
    base = panel_pixels(image, input_hw, (px(pw), px(ph)), 0)
    copies = copies_of(base)
    mark = max(2, panel // 120)
    for k in range(-1, n_copies):
        img = Image.fromarray(render.overlay(base if k < 0 else copies[k],
                                             colormaps.apply(maps[k + 1], colormap, lo, hi), opacity))
        if k < 0:
            render.mark_query(img, grid, *cell, width=px(mark))
            x0, y0 = gap, gap + (chart_h - title_h - ph) // 2
        else:
            if matches[k] is not None:
                render.mark_query(img, grid, *matches[k], width=px(mark))
            x0 = gap + (k % ncols) * (pw + gap)
            y0 = top + (k // ncols) * (title_h + ph + gap)
        for i, text in enumerate(lines[k + 1]):
            draw.text((px(x0 + pw / 2), px(y0 + i * line)), text, fill=render.TEXT, font=tfnt, anchor="ma")
        fig.paste(img, (px(x0), px(y0 + title_h)))
    fig.paste(chart_png(**chart, width=px(chart_w), height=px(chart_h), scale=scale), (px(gap + pw + 2 * gap), px(gap)))
    fig.paste(key, (px(key_x), px(key_y)))
    return fig


def chart_png(xs, ys, mean, *, width, height, lo, hi, xlabel, title, scale: float = 1.0) -> Image.Image:
    """A plain line chart: similarity against transform value, gaps where NaN, dashed mean.

    Parameters
    ----------
    xs : sequence of float
        The transform values, increasing.
    ys : sequence of float
        The query cell's similarity per value (NaN: no corresponding cell; a gap).
    mean : sequence of float
        The mean over all cells per value, drawn dashed.
    width, height : int
        The chart's size in output pixels; text, margins and lines are sized at scale 1
        (from ``height / scale``) and multiplied by ``scale``.
    lo, hi : float
        The y range at least covered (the colour range).
    xlabel, title : str
        The x axis label, and the heading's start.
    scale : float, default 1.0
        The print scale.

    Returns
    -------
    PIL.Image.Image
        The RGB chart.
    """
    px = render.scaler(scale)
    img = Image.new("RGB", (width, height), render.BACKGROUND)
    draw = ImageDraw.Draw(img)
    f = max(11, round(height / scale) // 18)
    fnt1 = render.font(f)
    fnt = render.font(px(f))
    left1 = 10 + int(fnt1.getlength("-0.00")) + 10
    heading = render.wrap_text(f"{title}: similarity to the corresponding cell (dashed: mean over all cells)", fnt1,
                        round(width / scale) - left1 - 16, 2)
    left, right, top, bottom = px(left1), px(16), px(len(heading) * (f + 4) + 10), px(2 * f + 20)
    x0, x1 = xs[0], xs[-1]
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    finite = [v for v in list(ys) + list(mean) if np.isfinite(v)]
    y0, y1 = min([lo] + finite), max([hi] + finite)
    px_x = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    px_y = lambda y: height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    grid_c, axis_c, line_c, mean_c = (224, 224, 224), (120, 120, 120), (25, 118, 210), (150, 150, 150)
    thin = max(1, px(1))
    for t in nice_ticks(y0, y1, 4):
        draw.line([left, px_y(t), width - right, px_y(t)], fill=grid_c, width=thin)
        draw.text((left - px(6), px_y(t)), f"{t:g}", fill=render.TEXT, font=fnt, anchor="rm")
    for t in nice_ticks(x0, x1, 6):
        draw.line([px_x(t), height - bottom, px_x(t), height - bottom + px(4)], fill=axis_c, width=thin)
        draw.text((px_x(t), height - bottom + px(6)), f"{t:g}", fill=render.TEXT, font=fnt, anchor="ma")
    draw.line([left, top, left, height - bottom, width - right, height - bottom], fill=axis_c, width=thin)
    draw.text(((left + width - right) / 2, height - px(2)), xlabel, fill=render.TEXT, font=fnt, anchor="md")
    for i, text in enumerate(heading):
        draw.text((left, px(4 + i * (f + 4))), text, fill=render.TEXT, font=fnt, anchor="la")

    def segments(values):
        run = []
        for x, y in zip(xs, values):
            if np.isfinite(y):
                run.append((px_x(x), px_y(y)))
            elif run:
                yield run
                run = []
        if run:
            yield run

    dash = px(6)
    for run in segments(mean):  # dashed mean over all cells
        for (ax, ay), (bx, by) in zip(run, run[1:]):
            n = max(1, int(math.hypot(bx - ax, by - ay) // dash))
            for i in range(0, n, 2):
                draw.line([ax + (bx - ax) * i / n, ay + (by - ay) * i / n,
                           ax + (bx - ax) * (i + 1) / n, ay + (by - ay) * (i + 1) / n], fill=mean_c, width=thin)
    r = px(max(3, round(height / scale) // 70))
    for run in segments(ys):
        if len(run) > 1:
            draw.line(run, fill=line_c, width=px(2))
        for x, y in run:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=line_c)
    return img
