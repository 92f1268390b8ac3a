"""ChannelGrid's static picture: the grid with the selected unit outlined, its colour legend,
and the zoom pane (the unit over the image), for reports and static notebook viewers."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..core import colormaps, render, wire
from ..units import grid
from .checks import print_scale

__all__ = ["GridFigure", "grid_picture", "legend_range", "legend_caption", "relevance_values"]

SELECTED_RGB = (128, 255, 128)  # DeepVis's cursor colour, (.5, 1, .5)
LEGEND_PX = 60  # height kept for the figure's legend, so a figure at scale s is s times as large


class GridFigure:
    """ChannelGrid's ``render_png`` (a mixin): it reads the grid's traits, ``tile_values()``,
    ``activations()`` and, in relevance mode, ``relevance_figure()``."""

    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The grid (selected unit outlined in green) with its colour legend under it and the
        zoom pane beside it, each titled, with no empty margins, as a PIL image. In relevance
        mode the tiles are the conditional relevance heatmaps, sorted by relevance.

        ``panel`` is the grid's width in pixels (default ``size``); tiles are scaled by whole
        pixels so every cell stays a sharp square. ``scale`` multiplies every length (tiles,
        zoom pane, text, lines): ``scale=2`` gives the same picture at twice the pixels.

        Parameters
        ----------
        panel : int or None, optional
            The grid's width in pixels. Default None: the ``size`` trait.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.0.

        Returns
        -------
        PIL.Image.Image
            The figure as an RGB image.

        Raises
        ------
        Refused
            If ``scale`` is not a number in [0.25, 8].
        """
        image = wire.decode(self._images["pixels"])[self.image].astype(np.uint8)
        if self.mode == "relevance":
            values, selected, cmap, legend, titles = self.relevance_figure()
        else:
            values, selected, cmap = self.tile_values().numpy(), self.selected, "diverging" if self.signed else self.colormap
            legend = (*legend_range(self.normalisation, self.signed, self.vrange, self.activations()),
                      legend_caption(self.layer, self.normalisation, self.boost, self.gamma))
            titles = (f"{self.layer}: {values.shape[0]} channels, image {self.image}", f"unit {self.selected} over the image")
        return grid_picture(values, selected, cmap, image, self.opacity, legend, titles, panel or self.size, print_scale(scale))


def grid_picture(values: np.ndarray, selected: int, colormap: str, image: np.ndarray, opacity: float,
                 legend: tuple[float, float, str], titles: tuple[str, str], panel: int, scale: float) -> Image.Image:
    """The picture ChannelGrid.render_png returns.

    Parameters
    ----------
    values : numpy.ndarray
        C x H x W tile values in [0, 1] (the browser's colour indices are ``floor(t * 255 + 0.5)``).
    selected : int
        The channel outlined, and shown over the image in the zoom pane.
    colormap : str
        The colour table's name (:mod:`xai_widgets.core.colormaps`).
    image : numpy.ndarray
        H' x W' x 3 uint8 display pixels under the zoom pane's unit.
    opacity : float
        Of the unit over the image.
    legend : (float, float, str)
        The values at the ends of the colour bar, and its caption.
    titles : (str, str)
        Over the grid, and over the zoom pane.
    panel : int
        The grid's width in pixels before scaling; tiles are scaled by whole pixels.
    scale : float
        Multiplies every length (tiles, pane, text, lines).

    Returns
    -------
    PIL.Image.Image
        RGB picture without empty margins.
    """
    px = render.scaler(scale, minimum=1)
    C, H, W = values.shape
    rows, cols = grid.tile_layout(C)
    table = colormaps.lut(colormap)
    tiles = grid.tile_image(values, table, rows, cols, pad=1, background=render.BACKGROUND)
    base = max(1, panel // tiles.shape[1])
    cell, line = px(base), px(max(2, base // 2))
    fig_grid = Image.fromarray(tiles).resize((tiles.shape[1] * cell, tiles.shape[0] * cell), Image.NEAREST)
    r, c = divmod(selected, cols)
    x0, y0 = (1 + c * (W + 1)) * cell, (1 + r * (H + 1)) * cell
    ImageDraw.Draw(fig_grid).rectangle([x0 - line, y0 - line, x0 + W * cell + line - 1, y0 + H * cell + line - 1],
                                       outline=SELECTED_RGB, width=line)
    unit_rgb = table[np.floor(values[selected] * 255 + 0.5).astype(np.int64)]
    zoom = Image.fromarray(render.overlay(image, unit_rgb, opacity))
    zoom = zoom.resize((px(zoom.size[0]), px(zoom.size[1])), Image.LANCZOS)
    lo, hi, caption = legend
    key = render.legend(colormap, lo, hi, max_width=min(px(480), fig_grid.size[0]), font_size=px(13), caption=caption)
    pad, gap, fnt = px(8), px(16), render.font(px(15))
    title_h = fnt.size + pad
    left_h = fig_grid.size[1] + pad + max(key.size[1], px(LEGEND_PX))
    width = pad + fig_grid.size[0] + gap + zoom.size[0] + pad
    fig = Image.new("RGB", (width, pad + title_h + max(left_h, zoom.size[1]) + pad), render.BACKGROUND)
    draw = ImageDraw.Draw(fig)
    top, right = pad + title_h, pad + fig_grid.size[0] + gap
    draw.text((pad, pad), titles[0], fill=render.TEXT, font=fnt)
    draw.text((right, pad), titles[1], fill=render.TEXT, font=fnt)
    fig.paste(fig_grid, (pad, top))
    fig.paste(key, (pad, top + fig_grid.size[1] + pad))
    fig.paste(zoom, (right, top))
    return fig


def legend_range(normalisation: str, signed: bool, vrange: tuple[float, float], acts: torch.Tensor) -> tuple[float, float]:
    """The activation values at the ends of the colour bar (relative ones per channel).

    Parameters
    ----------
    normalisation : {"layer", "channel", "fixed"}
        The grid's normalisation.
    signed : bool
        Whether the layer has negative values (then the range is symmetric about 0).
    vrange : tuple of float
        ``(lo, hi)``, used with ``"fixed"``.
    acts : torch.Tensor
        The shown image's activations, used with ``"layer"``.

    Returns
    -------
    tuple of float
        ``(lo, hi)``: ``(0, 1)`` or ``(-1, 1)`` for ``"channel"``; otherwise the range (of
        ``vrange`` or of ``acts``), as ``(-m, m)`` with ``m`` its largest magnitude when
        ``signed``.
    """
    if normalisation == "channel":
        return (-1.0, 1.0) if signed else (0.0, 1.0)
    if normalisation == "fixed":
        lo, hi = vrange
        m = max(abs(lo), abs(hi))
    else:
        lo, hi = float(acts.min()), float(acts.max())
        m = float(acts.abs().max())
    return (-m, m) if signed else (lo, hi)


def legend_caption(layer: str, normalisation: str, boost: float, gamma: float) -> str:
    """What the colour bar's scale is: the normalisation, boost and gamma.

    Parameters
    ----------
    layer : str
        The layer's name.
    normalisation : {"layer", "channel", "fixed"}
        The grid's normalisation.
    boost : float
        The boost; stated when not 0.
    gamma : float
        The gamma; stated when not 1.

    Returns
    -------
    str
        E.g. ``"conv1: one range for the whole layer, gamma 0.5"``.

    Raises
    ------
    KeyError
        If ``normalisation`` is not one of the three.
    """
    what = {"layer": "one range for the whole layer", "channel": "each channel scaled to its own range",
            "fixed": "fixed range"}[normalisation]
    extra = "".join([f", boost {boost:g}" if boost else "", f", gamma {gamma:g}" if gamma != 1 else ""])
    return f"{layer}: {what}{extra}"


def relevance_values(heatmaps: torch.Tensor, order: list, scale: float) -> np.ndarray:
    """Relevance mode's tiles as :func:`grid_picture` values: the heatmaps in ``order`` mapped from
    [-scale, scale] to [0, 1] (the diverging map's index ``floor(t * 255 + 0.5)``, as
    :func:`xai_widgets.core.diverging.shade` and the browser colour them).

    Parameters
    ----------
    heatmaps : torch.Tensor
        C x H x W signed heatmaps, in channel order.
    order : list of int
        The channel shown in each tile.
    scale : float
        The half-width of the symmetric colour range (positive).

    Returns
    -------
    numpy.ndarray
        C x H x W float64 values in [0, 1].
    """
    v = heatmaps.double().numpy()[order]
    return np.clip((v + scale) / (2 * scale), 0.0, 1.0)
