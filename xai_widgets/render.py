"""Static figures in Python (PIL): the same views the browser draws, at print resolution.

Geometry matches the browser exactly: in a panel of W x H pixels showing an h x w grid,
pixel (x, y) belongs to cell (floor(y * h / H), floor(x * w / W)).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import colormaps

__all__ = ["cell_index", "overlay", "outline_cell", "legend", "grid_figure", "font"]

YELLOW = (255, 255, 0)
BACKGROUND = (255, 255, 255)
TEXT = (34, 34, 34)


def font(size: int) -> ImageFont.ImageFont:
    """Pillow's bundled scalable font (no system fonts needed)."""
    return ImageFont.load_default(size=size)


def cell_index(n_pixels: int, n_cells: int) -> np.ndarray:
    """For each pixel along one axis, the cell it falls in."""
    return np.minimum((np.arange(n_pixels) * n_cells) // n_pixels, n_cells - 1)


def overlay(base: np.ndarray, cell_rgb: np.ndarray, opacity: float) -> np.ndarray:
    """Blend an h x w x 3 grid of cell colours, nearest-neighbour upsampled, over ``base`` (H x W x 3)."""
    H, W = base.shape[:2]
    rows, cols = cell_index(H, cell_rgb.shape[0]), cell_index(W, cell_rgb.shape[1])
    up = cell_rgb[rows[:, None], cols[None, :]].astype(np.float32)
    out = base.astype(np.float32) * (1 - opacity) + up * opacity
    return out.round().clip(0, 255).astype(np.uint8)


def outline_cell(img: Image.Image, grid: Sequence[int], row: int, col: int, width: int = 2) -> None:
    """Draw the yellow query outline just inside cell (row, col) of an h x w grid."""
    h, w = grid
    W, H = img.size
    x0, x1 = col * W / w, (col + 1) * W / w
    y0, y1 = row * H / h, (row + 1) * H / h
    ImageDraw.Draw(img).rectangle(
        [round(x0), round(y0), round(x1) - 1, round(y1) - 1], outline=YELLOW, width=width
    )


def legend(name: str, lo: float, hi: float, width: int, font_size: int, label: str) -> Image.Image:
    """A horizontal colour bar with lo / mid / hi tick labels and a caption under them."""
    fnt = font(font_size)
    ticks = [(0.0, lo), (0.5, (lo + hi) / 2), (1.0, hi)]
    pad = max(int(fnt.getlength(f"{v:.3g}")) for _, v in ticks) // 2 + 4  # room for end labels
    bar_h = font_size
    height = bar_h + 6 + 2 * (font_size + 6)
    img = Image.new("RGB", (width, height), BACKGROUND)
    bar = colormaps.lut(name)[np.linspace(0, 255, width - 2 * pad).round().astype(int)]
    img.paste(Image.fromarray(np.repeat(bar[None], bar_h, axis=0)), (pad, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle([pad, 0, width - pad - 1, bar_h - 1], outline=TEXT)
    for frac, value in ticks:
        x = pad + frac * (width - 2 * pad - 1)
        draw.line([x, bar_h, x, bar_h + 4], fill=TEXT)
        draw.text((x, bar_h + 6), f"{value:.3g}", fill=TEXT, font=fnt, anchor="ma")  # small ranges keep digits
    draw.text((width // 2, bar_h + 6 + font_size + 6), label, fill=TEXT, font=fnt, anchor="ma")
    return img


def grid_figure(
    panels: Sequence[Sequence[Image.Image]],
    col_titles: Sequence[str],
    row_labels: Sequence[str],
    footer: Image.Image | None = None,
    gap: int = 8,
) -> Image.Image:
    """Lay panels out in rows (one per row label) under column titles, with an optional footer."""
    cell_h = max(p.size[1] for row in panels for p in row)
    fnt = font(max(12, cell_h // 14))
    # a column as wide as its widest panel or title, so no title runs into the next or off the edge
    cell_w = max([p.size[0] for row in panels for p in row] + [int(fnt.getlength(t)) + gap for t in col_titles])
    # a label column only when some row has a label
    label_w = max(120, max(int(fnt.getlength(s)) for s in row_labels) + 2 * gap) if any(row_labels) else gap
    title_h = fnt.size + 2 * gap
    width = label_w + len(col_titles) * (cell_w + gap)  # a gap after each panel: the right margin
    foot_h = footer.size[1] + gap if footer is not None else 0
    height = title_h + len(panels) * (cell_h + gap) + gap + foot_h
    fig = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(fig)
    for j, title in enumerate(col_titles):
        draw.text((label_w + j * (cell_w + gap) + cell_w // 2, gap), title, fill=TEXT, font=fnt, anchor="ma")
    for i, row in enumerate(panels):
        y = title_h + i * (cell_h + gap)
        draw.text((gap, y + cell_h // 2), row_labels[i], fill=TEXT, font=fnt, anchor="lm")
        for j, panel in enumerate(row):
            fig.paste(panel, (label_w + j * (cell_w + gap) + (cell_w - panel.size[0]) // 2, y))  # under its title
    if footer is not None:
        fig.paste(footer, (label_w, height - foot_h))
    return fig
