"""ClassBias's static figure: the label histogram coloured by partition, with each partition's share
and accuracy, and the class distance as a heat map ordered by the current grouping, with the groups
listed under it (what the browser draws, :mod:`js/class_bias`)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..core import colormaps, render, wire
from .class_bias_payload import DISTANCE_COLORMAP

__all__ = ["class_order", "partition_line", "class_bias_picture"]


def class_order(group_of: Sequence[int] | None, k: int) -> list[int]:
    """The classes ordered by group (by class index within a group); by index without a grouping.

    Parameters
    ----------
    group_of : sequence of int or None
        The group of each class.
    k : int
        The number of classes.

    Returns
    -------
    list of int
        A permutation of 0..K-1.
    """
    return list(range(k)) if group_of is None else sorted(range(k), key=lambda c: (group_of[c], c))


def _pct(v) -> str:
    return "n/a" if v is None else "undefined" if v != v else f"{100 * v:.1f}%"


def partition_line(name: str, share: float, accuracy) -> str:
    """A partition's key text: its share of the samples and, with predictions, the accuracy on it.

    Parameters
    ----------
    name : str
        The partition.
    share : float
        Its fraction of the samples.
    accuracy : float or None
        The model's accuracy on it (None without predictions, NaN for an empty partition).

    Returns
    -------
    str
        E.g. "frequent: 52.0% of samples, accuracy 91.3%".
    """
    return f"{name}: {_pct(share)} of samples" + ("" if accuracy is None else f", accuracy {_pct(accuracy)}")


def _histogram(data: dict, width: int, scale: float) -> Image.Image:
    fs = int(round(12 * scale))
    fnt = render.font(fs)
    names, counts = data["names"], wire.decode(data["counts"]).astype(float)
    k = len(names)
    pad, top, plot_h = int(36 * scale), int(40 * scale), int(round(width * 0.45))
    label_h = int(max(fnt.getlength(n) for n in names) * math.sin(math.radians(35)) + fs + 8 * scale) if k else fs
    keys = [(p["color"], partition_line(p["name"], p["share"], p["accuracy"])) for p in data["partitions"]]
    keys.append((None, partition_line("all", data["total"]["share"], data["total"]["accuracy"])))
    line_h = fs + int(6 * scale)
    img = Image.new("RGB", (width, top + plot_h + label_h + line_h * (len(keys) + 1)), render.BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.text((4 * scale, 4 * scale), "Label frequency per class", fill=render.TEXT, font=fnt)
    hi = max(float(counts.max()) if k else 1.0, data["threshold"] * data["mean"], 1.0)
    x0, x1, y1 = pad, width - int(8 * scale), top + plot_h
    step = (x1 - x0) / max(k, 1)
    colours = [data["partitions"][i]["color"] if i >= 0 else data["noPartition"] for i in data["partition"]]
    for c in range(k):
        h = counts[c] / hi * plot_h
        left = x0 + c * step + step * 0.15
        draw.rectangle([left, y1 - h, left + step * 0.7, y1], fill=colours[c])
        if c in data["over"]:
            draw.text((left + step * 0.35, y1 - h - 2 * scale), "^", fill=render.TEXT, font=fnt, anchor="md")
        draw.text((left + step * 0.35, y1 + 4 * scale), render.png_text(names[c]), fill=render.TEXT, font=fnt,
                  anchor="ma")
    limit = y1 - data["threshold"] * data["mean"] / hi * plot_h
    for x in np.arange(x0, x1, 8 * scale):
        draw.line([x, limit, min(x + 4 * scale, x1), limit], fill=render.MUTED, width=max(1, int(scale)))
    draw.line([x0, top, x0, y1, x1, y1], fill=render.MUTED, width=max(1, int(scale)))
    draw.text((x0 - 4 * scale, top), f"{int(hi)}", fill=render.TEXT, font=fnt, anchor="ra")
    draw.text((x0 - 4 * scale, y1), "0", fill=render.TEXT, font=fnt, anchor="rd")
    y = y1 + label_h
    draw.text((x0, y), f"dashed: {data['threshold']:g} x the mean count; ^ over-represented", fill=render.MUTED,
              font=fnt)
    for colour, text in keys:
        y += line_h
        if colour:
            draw.rectangle([x0, y + 2 * scale, x0 + 10 * scale, y + fs], fill=colour)
        draw.text((x0 + 16 * scale, y), render.png_text(text), fill=render.TEXT, font=fnt)
    return img


def _heat_map(data: dict, group_of, width: int, scale: float) -> Image.Image:
    fs = int(round(12 * scale))
    fnt = render.font(fs)
    names = data["names"]
    k = len(names)
    dist = wire.decode(data["distance"]).reshape(k, k)
    order = class_order(group_of, k)
    x0 = min(int(width * 0.3), int(max(fnt.getlength(render.png_text(n)) for n in names) + 8 * scale))
    side = width - x0
    cell = side / k
    lo, hi = data["distanceRange"]
    lut = colormaps.LUTS[DISTANCE_COLORMAP]
    top = int(26 * scale)
    groups = {} if group_of is None else {g: [names[c] for c in order if group_of[c] == g]
                                          for g in sorted(set(group_of))}
    lines = [render.png_text(f"group {g + 1}: {', '.join(m)}") for g, m in groups.items()]
    line_h = fs + int(6 * scale)
    img = Image.new("RGB", (width, top + side + line_h * (len(lines) + 1)), render.BACKGROUND)
    draw = ImageDraw.Draw(img)
    title = f"Class distance, {len(groups)} groups" if groups else "Class distance"
    draw.text((4 * scale, 4 * scale), title, fill=render.TEXT, font=fnt)
    for i, a in enumerate(order):
        draw.text((x0 - 4 * scale, top + (i + 0.5) * cell), render.ellipsis(names[a], fnt, x0 - 6 * scale),
                  fill=render.TEXT, font=fnt, anchor="rm")
        for j, b in enumerate(order):
            if a == b:
                continue
            t = 0.5 if hi <= lo else (dist[a, b] - lo) / (hi - lo)
            draw.rectangle([x0 + j * cell, top + i * cell, x0 + (j + 1) * cell - 1, top + (i + 1) * cell - 1],
                           fill=tuple(int(v) for v in lut[int(round(np.clip(t, 0, 1) * 255))]))
    at = 0
    for members in groups.values():  # the groups' borders
        at += len(members)
        if at < k:
            draw.line([x0 + at * cell, top, x0 + at * cell, top + side], fill=render.TEXT, width=max(1, int(scale)))
            draw.line([x0, top + at * cell, x0 + side, top + at * cell], fill=render.TEXT, width=max(1, int(scale)))
    y = top + side + 4 * scale
    x0 = int(4 * scale)
    draw.text((x0, y), f"dark: close ({lo:.3g}), light: far ({hi:.3g})", fill=render.MUTED, font=fnt)
    for text in lines:
        y += line_h
        draw.text((x0, y), render.ellipsis(text, fnt, width - x0), fill=render.TEXT, font=fnt)
    return img


def class_bias_picture(data: dict, group_of, width: int, scale: float) -> Image.Image:
    """The histogram and, with predictions, the heat map beside it.

    Parameters
    ----------
    data : dict
        The widget's payload (:func:`~xai_widgets.widgets.class_bias_payload.class_bias_payload`).
    group_of : sequence of int or None
        The group of each class at the group count shown.
    width : int
        Each panel's width before ``scale``.
    scale : float
        Multiplies every length.

    Returns
    -------
    PIL.Image.Image
        RGB.
    """
    w = int(round(width * scale))
    panels = [_histogram(data, w, scale)]
    if data.get("distance") is not None:
        panels.append(_heat_map(data, group_of, w, scale))
    gap = int(16 * scale)
    out = Image.new("RGB", (sum(p.size[0] for p in panels) + gap * (len(panels) - 1), max(p.size[1] for p in panels)),
                    render.BACKGROUND)
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.size[0] + gap
    return out
