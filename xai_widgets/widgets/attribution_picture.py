"""The static picture of :class:`~xai_widgets.widgets.attribution.AttributionExplorer`: the
images x methods grid as one PIL image, drawn from the payload the browser gets (the same
titles, scales and captions) and the RGBA cells the browser draws."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..core import render

TOP = 5  # classes listed beside each image
TARGET_COLOUR, CONTRAST_COLOUR = (0, 114, 178), (213, 94, 0)  # class A and class B (Okabe-Ito blue, vermilion)
SLIDER_WORDS = {"area": "area", "alpha": "α", "noise": "noise"}


def fmt(v: float) -> str:
    """A number in at most 4 significant digits (``inf`` and ``nan`` as Python writes them).

    Parameters
    ----------
    v : float
        The number.

    Returns
    -------
    str
        ``v`` rounded to 4 significant digits in ``%g`` form (e.g. ``"0.01235"``,
        ``"123500"``); ``"inf"``, ``"-inf"`` or ``"nan"`` when not finite.
    """
    if not math.isfinite(v):
        return str(v)
    return f"{float(f'{v:.4g}'):g}"


def cell_note(entry: dict, i: int, position: int | None) -> str:
    """What a cell states besides its scale: the method's note for the image, else its
    completeness gap δ, or, for a method with a slider, the position shown (with the kept
    score ratio ``Φ(m⊗x)/Φ(x)`` for extremal perturbation's area).

    Parameters
    ----------
    entry : dict
        The method's payload entry (``_maps["methods"][j]`` of the widget).
    i : int
        The image (row).
    position : int or None
        The slider position shown for the cell; None for a method without a slider.

    Returns
    -------
    str
        The note, "" when there is nothing to state.
    """
    sl = entry.get("slider")
    notes = entry["info"].get("notes")
    if notes and notes[i]:
        return notes[i]
    if sl is None:
        d = entry["info"].get("delta")
        return f"δ = {fmt(d[i])}" if d else ""
    text = f"{SLIDER_WORDS.get(sl['name'], sl['name'])} {fmt(sl['values'][position])}"
    if sl["name"] == "area" and sl["scores"] and sl["full"] and sl["full"][i]:
        text += f" · Φ ratio {sl['scores'][i][position] / sl['full'][i]:.2f}"
    return text


def cell_caption(entry: dict, i: int, position: int | None, row_mode: bool = False) -> str:
    """The line under a cell: its own scale (with ``row_mode``, row scaling) and its
    :func:`cell_note`, joined by " · ".

    Parameters
    ----------
    entry : dict
        The method's payload entry.
    i : int
        The image (row).
    position : int or None
        The slider position shown, None for a method without a slider.
    row_mode : bool
        Whether cells are drawn on their image's own scale (``scaling="row"``).

    Returns
    -------
    str
        The caption, "" when there is nothing to state.
    """
    own = f"±{fmt(entry['row_scales'][i])}" if row_mode else ""
    return " · ".join(t for t in (own, cell_note(entry, i, position)) if t)


def class_lines(probs: torch.Tensor, target: int, contrast: int | None,
                names: Sequence[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """The text beside an image: what its maps explain, then its top-5 classes with their
    probabilities, class A and B always listed (and marked), each line with its colour.

    Parameters
    ----------
    probs : torch.Tensor
        K class probabilities of the image.
    target, contrast : int, int or None
        The classes explained (A, and B for "A vs B").
    names : sequence of str
        The K class names.

    Returns
    -------
    list of (str, colour)
        The lines, made drawable by :func:`xai_widgets.core.render.png_text`.
    """
    shown = probs.topk(min(TOP, probs.shape[0])).indices.tolist()
    shown += [k for k in (target, contrast) if k is not None and k not in shown]
    what = f"explains {names[target]}" if contrast is None else f"{names[target]} vs {names[contrast]}"
    lines = [(what, render.TEXT)] + [
        (f"{'A ' if k == target else 'B ' if k == contrast else ''}{names[k]} {100 * float(probs[k]):.1f}%",
         TARGET_COLOUR if k == target else CONTRAST_COLOUR if k == contrast else render.TEXT) for k in shown]
    return [(render.png_text(text), colour) for text, colour in lines]


def render_grid(display: np.ndarray, cells: Sequence[Sequence[np.ndarray]], entries: Sequence[dict],
                probabilities: torch.Tensor, targets: Sequence[int], contrasts: Sequence[int | None],
                names: Sequence[str], positions: dict, *, row_mode: bool, panel: int,
                scale: float = 1) -> Image.Image:
    """The images x methods grid as a PIL image: per image row, the image with its explained
    class and top-5 beside it, then one map per method; each method's title and legend over
    its column (with ``row_mode``, the legend is in units of each cell's own scale, stated
    under the cell).

    Parameters
    ----------
    display : np.ndarray
        N x H x W x 3 uint8 images.
    cells : sequence of sequences of np.ndarray
        ``cells[i][j]``: H x W x 3 uint8 pixels of image ``i``'s map for method ``j``.
    entries : sequence of dict
        The methods' payload entries, in column order (title, scale, rule, row scales, info,
        slider).
    probabilities : torch.Tensor
        N x K class probabilities.
    targets, contrasts : sequences
        The classes each image's maps explain (contrast None for a class alone).
    names : sequence of str
        The K class names.
    positions : dict
        ``{method key: slider position per image}`` for the methods with a slider.
    row_mode : bool
        Whether cells are drawn on their image's own scale (``scaling="row"``).
    panel : int
        Long side of a map in pixels (at least 64).
    scale : float
        A multiplier of every length, for print (2 gives twice the pixels, same picture).

    Returns
    -------
    PIL.Image.Image
        The RGB picture.
    """
    u = render.scaler(scale, minimum=1)
    side = max(64, int(panel))
    N, H, W = display.shape[:3]
    cw, ch = (side, max(1, round(side * H / W))) if W >= H else (max(1, round(side * W / H)), side)
    fs = max(10, side // 11)
    fnt, small = render.font(u(fs)), render.font(u(max(9, fs - 2)))
    measure = render.font(max(9, fs - 2))  # widths measured at scale 1, so all sizes scale exactly
    gap, line = max(6, side // 16), fs + 2
    lists = [class_lines(probabilities[i], targets[i], contrasts[i], names) for i in range(N)]
    list_w = min(2 * cw, max(int(measure.getlength(t)) for rows in lists for t, _ in rows) + 4)
    shown = [{e["key"]: int(positions[e["key"]][i]) if e.get("slider") else None for e in entries} for i in range(N)]
    captions = [[cell_caption(e, i, shown[i][e["key"]], row_mode) for e in entries] for i in range(N)]
    cap_h = line if any(any(row) for row in captions) else 0
    row_h = [max(ch + cap_h, len(rows) * line) for rows in lists]
    lfs = max(9, fs - 2)
    head_h = line + 3 * lfs + 20  # the title, then render.legend (bar, ticks, caption)
    col0 = cw + gap + list_w
    width = gap + col0 + len(entries) * (gap + cw) + gap
    height = gap + head_h + sum(row_h) + gap * N
    fig = Image.new("RGB", (u(width), u(height)), render.BACKGROUND)
    draw = ImageDraw.Draw(fig)
    x0 = lambda j: gap + (0 if j == 0 else col0 + gap + (j - 1) * (cw + gap))  # noqa: E731
    for j, e in enumerate(entries, start=1):
        draw.text((u(x0(j)), u(gap)), render.ellipsis(e["title"], fnt, u(cw)), fill=render.TEXT, font=fnt)
        if row_mode:
            lo, hi, rule = -1.0, 1.0, "x each image's s"
        else:
            lo, hi, rule = -e["scale"], e["scale"], f"column: {e['rule']}"
        fig.paste(render.legend("diverging", lo, hi, max_width=u(cw), font_size=u(lfs),
                                caption=render.ellipsis(rule, small, u(cw))),
                  (u(x0(j)), u(gap + line)))
    y = gap + head_h
    for i in range(N):
        img = Image.fromarray(display[i]).resize((u(cw), u(ch)), Image.Resampling.LANCZOS)
        fig.paste(img, (u(x0(0)), u(y)))
        for n, (text, colour) in enumerate(lists[i]):
            draw.text((u(x0(0) + cw + gap), u(y + n * line)), render.ellipsis(text, small, u(list_w)), fill=colour,
                      font=small)
        for j in range(1, len(entries) + 1):
            px = Image.fromarray(cells[i][j - 1]).resize((u(cw), u(ch)), Image.Resampling.NEAREST)
            fig.paste(px, (u(x0(j)), u(y)))
            if captions[i][j - 1]:
                draw.text((u(x0(j)), u(y + ch + 1)), render.ellipsis(captions[i][j - 1], small, u(cw)),
                          fill=render.TEXT, font=small)
        y += row_h[i] + gap
    return fig
