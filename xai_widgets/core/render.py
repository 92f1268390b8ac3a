"""Static figures in Python (PIL): the same views the browser draws, at print resolution.

Geometry matches the browser exactly: in a panel of W x H pixels showing an h x w grid,
pixel (x, y) belongs to cell (floor(y * h / H), floor(x * w / W)).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import colormaps

__all__ = ["cell_index", "overlay", "outline_cell", "mark_query", "wrap_text", "legend", "grid_figure", "font",
           "text_block", "stack_below"]

YELLOW = (255, 255, 0)
BACKGROUND = (255, 255, 255)
TEXT = (34, 34, 34)
MUTED = (97, 97, 97)  # captions
RIM = (0, 0, 0)  # around the query ring, so it shows on light and dark pixels


def font(size: int) -> ImageFont.ImageFont:
    """Pillow's bundled scalable font (no system fonts needed).

    Parameters
    ----------
    size : int
        Font size in pixels.

    Returns
    -------
    PIL.ImageFont.ImageFont
        ``ImageFont.load_default(size=size)`` (a FreeType font where Pillow has FreeType).
    """
    return ImageFont.load_default(size=size)


def cell_index(n_pixels: int, n_cells: int) -> np.ndarray:
    """For each pixel along one axis, the cell it falls in.

    Parameters
    ----------
    n_pixels : int
        Pixels along the axis (W or H).
    n_cells : int
        Cells along the axis (w or h).

    Returns
    -------
    numpy.ndarray
        int array of length ``n_pixels``: ``floor(i * n_cells / n_pixels)``, at most ``n_cells - 1``.
    """
    return np.minimum((np.arange(n_pixels) * n_cells) // n_pixels, n_cells - 1)


def overlay(base: np.ndarray, cell_rgb: np.ndarray, opacity: float) -> np.ndarray:
    """Blend an h x w x 3 grid of cell colours, nearest-neighbour upsampled, over ``base`` (H x W x 3).

    Parameters
    ----------
    base : numpy.ndarray
        H x W x 3 pixels (0..255).
    cell_rgb : numpy.ndarray
        h x w x 3 cell colours (0..255).
    opacity : float
        Weight of the cell colours, 0 (only ``base``) to 1 (only the cells).

    Returns
    -------
    numpy.ndarray
        H x W x 3 uint8 blend.
    """
    H, W = base.shape[:2]
    rows, cols = cell_index(H, cell_rgb.shape[0]), cell_index(W, cell_rgb.shape[1])
    up = cell_rgb[rows[:, None], cols[None, :]].astype(np.float32)
    out = base.astype(np.float32) * (1 - opacity) + up * opacity
    return out.round().clip(0, 255).astype(np.uint8)


def outline_cell(img: Image.Image, grid: Sequence[int], row: int, col: int, width: int = 2,
                 colour: tuple[int, int, int] = YELLOW) -> None:
    """Outline cell (row, col) of an h x w grid just inside it (yellow: the query mark).

    Parameters
    ----------
    img : PIL.Image.Image
        The panel, drawn on in place.
    grid : sequence of int
        (h, w) of the grid over the whole image.
    row, col : int
        The cell.
    width : int, default 2
        Line width in pixels.
    colour : tuple of (int, int, int), default yellow
        RGB line colour.

    Returns
    -------
    None
    """
    h, w = grid
    W, H = img.size
    x0, x1 = col * W / w, (col + 1) * W / w
    y0, y1 = row * H / h, (row + 1) * H / h
    ImageDraw.Draw(img).rectangle(
        [round(x0), round(y0), round(x1) - 1, round(y1) - 1], outline=colour, width=width
    )


def mark_query(img: Image.Image, grid, row: int, col: int, width: int = 2) -> None:
    """The query mark on cell (row, col) of an h x w grid, as the browser draws it.

    The query mark on cell (row, col) of an h x w grid, as the browser draws it: a yellow
    outline inside the cell, or, for a cell under 3 line widths (a 128 x 128 grid in a small
    panel), a yellow ring centred on the cell and clear of it, with a dark rim, so the query
    shows at any cell size.

    Parameters
    ----------
    img : PIL.Image.Image
        The panel, drawn on in place.
    grid : sequence of int
        (h, w) of the grid over the whole image.
    row, col : int
        The query cell.
    width : int, default 2
        Line width in pixels (the rim is half as wide, at least 1).

    Returns
    -------
    None
    """
    h, w = grid
    W, H = img.size
    x0, x1, y0, y1 = col * W / w, (col + 1) * W / w, row * H / h, (row + 1) * H / h
    if min(x1 - x0, y1 - y0) >= 3 * width:
        outline_cell(img, grid, row, col, width=width)
        return
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    inner = max(x1 - x0, y1 - y0) / 2 + width  # half side of the ring's hole
    rim = max(1, width // 2)
    draw = ImageDraw.Draw(img)
    for half, colour, thick in ((inner + width + rim, RIM, rim), (inner + width, YELLOW, width)):
        draw.rectangle([round(cx - half), round(cy - half), round(cx + half) - 1, round(cy + half) - 1],
                       outline=colour, width=thick)


def wrap_text(text: str, fnt, width: float, max_lines: int = 2) -> list[str]:
    """Wrap ``text`` into at most ``max_lines`` lines of ``width`` pixels, shortening it if needed.

    ``text`` in at most ``max_lines`` lines of ``width`` px in ``fnt``: wrapped at spaces (a
    word too long for a line is split), and shortened with "..." when it needs more lines.

    Parameters
    ----------
    text : str
        The text.
    fnt : PIL.ImageFont.ImageFont
        The font whose ``getlength`` measures the lines.
    width : float
        Line width in pixels.
    max_lines : int, default 2
        The most lines returned.

    Returns
    -------
    list of str
        The lines (at least one, possibly ``""``).
    """
    def lines_of(t: str) -> list[str]:
        out, cur = [], ""
        for word in t.split():
            trial = f"{cur} {word}" if cur else word
            if fnt.getlength(trial) <= width:
                cur = trial
                continue
            if cur:
                out.append(cur)
            cur = ""
            for ch in word:  # split a word wider than the line
                if cur and fnt.getlength(cur + ch) > width:
                    out.append(cur)
                    cur = ""
                cur += ch
        return out + [cur] if cur else out or [""]

    lines = lines_of(text)
    if len(lines) <= max_lines:
        return lines
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(lines_of(text[:mid].rstrip() + "...")) <= max_lines:
            lo = mid
        else:
            hi = mid - 1
    return lines_of(text[:lo].rstrip() + "...")


def scaler(scale: float, minimum: int = 0):
    """A function giving each figure length times ``scale``, in whole pixels, at least ``minimum``
    (1 for lines and cells that must not vanish at small scales).

    Parameters
    ----------
    scale : float
        Factor applied to every length.
    minimum : int, default 0
        Smallest length returned.

    Returns
    -------
    callable
        ``f(v) -> int``: ``max(minimum, round(v * scale))``.
    """
    return lambda v: max(minimum, int(round(v * scale)))


def display_size(input_hw: Sequence[int], long_side: int) -> tuple[int, int]:
    """(W, H) of a panel of long side ``long_side`` with the model input's aspect (as
    :func:`xai_widgets.core.images.display_pixels`).

    Parameters
    ----------
    input_hw : sequence of int
        The model input's (height, width).
    long_side : int
        Length of the panel's longer side in pixels.

    Returns
    -------
    tuple of int
        (width, height); the shorter side is rounded and at least 1.
    """
    h, w = input_hw
    if h >= w:
        return max(1, round(long_side * w / h)), long_side
    return long_side, max(1, round(long_side * h / w))


# Characters the bundled font has no glyph for, written out
_PNG_TEXT = str.maketrans({"×": "x", "−": "-", "α": "alpha", "δ": "delta", "Φ": "Phi", "⊗": "*", "▲": "^"})


def png_text(text: str) -> str:
    """``text`` with the characters the figures' font cannot draw written out (× as x, α as alpha).

    Parameters
    ----------
    text : str
        The text to draw.

    Returns
    -------
    str
        ``text`` with ×, −, α, δ, Φ, ⊗ and ▲ replaced by x, -, alpha, delta, Phi, * and ^.
    """
    return text.translate(_PNG_TEXT)


def ellipsis(text: str, fnt, width: int) -> str:
    """``text`` (as :func:`png_text`) shortened with an ellipsis to fit ``width`` pixels in ``fnt``.

    Parameters
    ----------
    text : str
        The text to fit.
    fnt : PIL.ImageFont.ImageFont
        The font it is drawn in (for example from :func:`font`).
    width : int
        The room in pixels.

    Returns
    -------
    str
        The text as :func:`png_text` writes it when it fits; otherwise its longest prefix that
        fits with "…" added (just "…" when no character fits).
    """
    text = png_text(text)
    if fnt.getlength(text) <= width:
        return text
    while text and fnt.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def similarity_caption(what: str, colormap: str) -> str:
    """A similarity legend's caption: what the numbers are and, on the diverging map, what its
    neutral colour means.

    Parameters
    ----------
    what : str
        What the numbers are (for example "cosine similarity").
    colormap : str
        The legend's colormap name.

    Returns
    -------
    str
        ``what``, followed on the ``"diverging"`` map by the meaning of its grey centre.
    """
    if colormap != "diverging":
        return what
    return f"{what} · grey centre = 0: orthogonal vectors (red: alike, blue: opposed)"


def _fmt_tick(v: float) -> str:
    text = f"{v:.3g}"
    return "0" if text in ("-0", "0") else text


def legend(colormap: str, lo: float, hi: float, *, font_size: int, caption: str, bar_width: int | None = None,
           max_width: int | None = None, scale: float = 1.0) -> Image.Image:
    """A colour bar over [lo, hi] with lo / middle / hi labels and a caption under it.

    A colour bar over [lo, hi] with lo / middle / hi labels centred on their ticks and a caption
    under it (wrapped to ``max_width``), nothing clipped. The bar is ``bar_width`` long, or fills
    ``max_width`` less the end labels' overhang. Lengths are at scale 1 and every one scales
    with ``scale``; ``info["pad"]`` is the bar's left offset and ``info["size1"]`` the image's
    (width, height), both at scale 1.

    Parameters
    ----------
    colormap : str
        Colormap name (see :func:`xai_widgets.core.colormaps.lut`).
    lo, hi : float
        The values at the bar's ends.
    font_size : int
        Label size in pixels at scale 1.
    caption : str
        Text under the bar, in at most three lines.
    bar_width : int or None, default None
        The bar's length at scale 1.
    max_width : int or None, default None
        The width to fill at scale 1 (used when ``bar_width`` is None, and to wrap the caption).
    scale : float, default 1.0
        Factor applied to every length.

    Returns
    -------
    PIL.Image.Image
        RGB image of the legend, with ``info["pad"]`` and ``info["size1"]``.

    Raises
    ------
    TypeError
        If neither ``bar_width`` nor ``max_width`` is given.
    ValueError
        If ``colormap`` is unknown.
    """
    if bar_width is None and max_width is None:
        raise TypeError("legend needs bar_width or max_width")
    px = lambda v: int(round(v * scale))  # noqa: E731
    fnt = font(font_size)
    ticks = [lo, (lo + hi) / 2, hi]
    labels = [_fmt_tick(v) for v in ticks]
    pad = int(np.ceil(max(fnt.getlength(t) for t in labels) / 2)) + 2
    if bar_width is None:
        bar_width = max(1, max_width - 2 * pad)
    bar_h, tick = max(8, round(font_size * 0.8)), max(3, font_size // 4)
    room = max(bar_width + 2 * pad, max_width or 0)
    lines = wrap_text(caption, fnt, room - pad, 3)
    width = max(bar_width + 2 * pad, pad + int(np.ceil(max(fnt.getlength(t) for t in lines))))
    line = round(font_size * 1.25)
    text_top = bar_h + tick + 2
    height = text_top + line + 2 + len(lines) * line
    img = Image.new("RGB", (px(width), px(height)), BACKGROUND)
    draw = ImageDraw.Draw(img)
    bw = px(pad + bar_width) - px(pad)
    bar = colormaps.lut(colormap)[np.linspace(0, 255, bw).round().astype(int)]
    img.paste(Image.fromarray(np.repeat(bar[None], px(bar_h), axis=0)), (px(pad), 0))
    draw.rectangle([px(pad), 0, px(pad) + bw - 1, px(bar_h) - 1], outline=TEXT, width=max(1, px(1)))
    tfnt = font(px(font_size))
    span = hi - lo if hi > lo else 1.0
    for value, label in zip(ticks, labels):
        x = px(pad) + (value - lo) / span * (bw - 1)
        draw.line([x, px(bar_h), x, px(bar_h + tick)], fill=TEXT, width=max(1, px(1)))
        draw.text((x, px(text_top)), label, fill=TEXT, font=tfnt, anchor="ma")
    for i, text in enumerate(lines):
        draw.text((px(pad), px(text_top + line + 2 + i * line)), text, fill=MUTED, font=tfnt, anchor="la")
    img.info["pad"], img.info["size1"] = pad, (width, height)
    return img


def grid_figure(
    panels: Sequence[Sequence[Image.Image]],
    col_titles: Sequence[str],
    row_labels: Sequence[str],
    footer: Image.Image | None = None,
    gap: int = 8,
) -> Image.Image:
    """Lay panels out in rows (one per row label) under column titles, with an optional footer.

    Parameters
    ----------
    panels : sequence of sequence of PIL.Image.Image
        One row of panels per row label, each centred under its column's title.
    col_titles : sequence of str
        One title per column.
    row_labels : sequence of str
        One label per row; when all are empty there is no label column.
    footer : PIL.Image.Image or None, default None
        An image (a legend) under the rows.
    gap : int, default 8
        Spacing in pixels.

    Returns
    -------
    PIL.Image.Image
        The RGB figure on a white background.
    """
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


def text_block(sections: Sequence, width: int, *, font_size: int = 11, scale: float = 1.0,
               max_lines: int = 6) -> Image.Image:
    """Headed sections of text rows, wrapped to ``width`` pixels: a card (:func:`.card.card_rows`) as a figure.

    Each section's heading is drawn in the text colour, then each of its rows as
    ``"label: text"`` (or ``text`` when the label is empty) in the caption colour, wrapped at
    spaces to at most ``max_lines`` lines (shortened with "..." beyond), indented under the
    heading. Characters the font cannot draw are written out (:func:`png_text`).

    Parameters
    ----------
    sections : sequence
        ``[key, heading, [[label, text], ...]]`` per section, as :func:`.card.card_rows` gives.
    width : int
        The block's width in pixels (after ``scale``).
    font_size : int, default 11
        Text size in pixels at scale 1.
    scale : float, default 1.0
        Factor applied to the font size, margins and line height.
    max_lines : int, default 6
        The most lines one row wraps to.

    Returns
    -------
    PIL.Image.Image
        RGB, ``width`` wide, on a white background.
    """
    px = scaler(scale, 1)
    fnt, pad, indent, line = font(px(font_size)), px(8), px(12), px(round(font_size * 1.3))
    lines: list[tuple[int, str, tuple[int, int, int]]] = []  # (x, text, colour)
    for _key, heading, rows in sections:
        lines += [(pad, line_text, TEXT) for line_text in wrap_text(png_text(heading), fnt, width - 2 * pad, 2)]
        for label, text in rows:
            row = f"{label}: {text}" if label else text
            lines += [(pad + indent, t, MUTED) for t in wrap_text(png_text(row), fnt, width - 2 * pad - indent,
                                                                   max_lines)]
    img = Image.new("RGB", (width, 2 * pad + len(lines) * line), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, (x, text, colour) in enumerate(lines):
        draw.text((x, pad + i * line), text, fill=colour, font=fnt, anchor="la")
    return img


def stack_below(figure: Image.Image, block: Image.Image) -> Image.Image:
    """``figure`` with ``block`` under it, left-aligned, both on white, as wide as the wider.

    Parameters
    ----------
    figure : PIL.Image.Image
        The figure; its pixels are kept as they are, at the top left.
    block : PIL.Image.Image
        What goes under it (a :func:`text_block`).

    Returns
    -------
    PIL.Image.Image
        RGB, ``max`` of the widths wide and the sum of the heights high.
    """
    out = Image.new("RGB", (max(figure.size[0], block.size[0]), figure.size[1] + block.size[1]), BACKGROUND)
    out.paste(figure.convert("RGB"), (0, 0))
    out.paste(block.convert("RGB"), (0, figure.size[1]))
    return out
