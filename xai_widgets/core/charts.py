"""Line charts as drawing items, for PNG (Pillow) and SVG alike: the Python twin of the
browser's ``js/lib/chart.js`` (same round ticks, same layout rules), so a figure exported from
MetricsChart or PathMorph shows the chart the notebook showed."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from . import render

__all__ = ["nice_ticks", "chart_scene", "scene_png", "scene_svg"]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten).

    Parameters
    ----------
    lo, hi : float
        The range to cover.
    count : int, default 5
        About how many steps: the step is the smallest round one of at least (hi - lo) / count.

    Returns
    -------
    list of float
        The ticks from the first multiple of the step at or above ``lo`` to ``hi``; ``[lo]``
        when ``hi`` is not above ``lo``.
    """
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _hex(colour) -> str:
    return colour if isinstance(colour, str) else "#%02x%02x%02x" % tuple(colour)


GRID, AXIS, SUBTLE = "#e0e0e0", "#787878", "#616161"
DOT_RADIUS = 4.5  # a series drawn as dots, as js/lib/chart.js
SLANT = 35  # degrees: x labels that do not fit level


def chart_scene(p: dict, width: int, scale: float = 1.0) -> tuple[int, int, list]:
    """One panel (the ``_chart`` panel format) laid out as drawing items, for PNG and SVG alike.

    Returns (width, height, items); items are ``("line", points, colour, width, dash, name)``,
    ``("dot", (x, y), colour, radius, name)`` and ``("text", (x, y), text, colour, size, anchor,
    angle)`` with PIL's two-letter anchors. The
    layout is tight: the heading, the plot, x labels (every one, slanted when they do not fit
    level) and the key take the height they need.

    Parameters
    ----------
    p : dict
        The panel: ``title`` (str), optional ``subtitle`` (str), ``xTitle`` and ``yTitle``
        (str), ``xs`` (increasing x values), optional ``xlabels`` (one label per x, or None
        for round numeric ticks), optional ``xRange`` ([lo, hi] of the x axis, default the first
        and last x), ``yRange`` ([lo, hi], widened to every value), optional ``yticks`` (the y
        ticks instead of round numbers) and ``yLog`` (the ys are log10 of the values: ticks read
        "1e-5") and ``series`` (list of dicts with ``name``, ``label``, ``color``, ``dash`` (list of
        lengths, empty for solid), ``ys`` (values, None for gaps), optional ``baseline`` (bool) and
        ``mark`` ("line", the default, or "dots": a dot at each value, unjoined)), and optional
        ``aspect`` (the chart's height over its width, default 0.62). The first series is drawn
        thickest and on top.
    width : int
        Panel width in pixels at scale 1.
    scale : float, default 1.0
        Factor applied to every length and font size.

    Returns
    -------
    width : int
        Panel width in pixels, scaled.
    height : int
        Panel height in pixels, scaled.
    items : list of tuple
        The drawing items, in drawing order.
    """
    fs = int(round(max(11, width / 36) * scale))
    width = int(round(width * scale))
    fnt = render.font(fs)
    line_h = fs + int(round(6 * scale))
    series = p["series"]
    items: list = []
    y = int(round(4 * scale))
    for text, colour in [(t, render.TEXT) for t in _wrap(p["title"], fnt, width - 16)] + \
            [(t, SUBTLE) for t in _wrap(p.get("subtitle", ""), fnt, width - 16)]:
        items.append(("text", (8 * scale, y), text, colour, fs, "la", 0))
        y += line_h
    xs = np.asarray(p["xs"], np.float64)
    values = [v for s in series for v in s["ys"] if v is not None]
    lo, hi = p["yRange"]
    lo, hi = min([lo] + values), max([hi] + values)
    if not hi > lo:
        hi = lo + 1
    yticks = p.get("yticks") or nice_ticks(lo, hi, 4)
    ytick = _log_tick if p.get("yLog") else _tick
    left = int(12 * scale + max(fnt.getlength(ytick(t)) for t in yticks) + 8 * scale)
    x0, x1 = p.get("xRange") or (float(xs[0]), float(xs[-1]) if xs[-1] > xs[0] else float(xs[0]) + 1)
    labels = p.get("xlabels")
    if labels:
        ticks = [(float(xs[i]), str(labels[i])) for i in range(len(labels))]
    else:
        ticks = [(t, _tick(t)) for t in nice_ticks(x0, x1, 5)]
    widths = [fnt.getlength(text) for _, text in ticks]
    right = int(max(16 * scale, widths[-1] / 2 + 4 * scale))
    span = width - left - right
    gap = span / max(1, len(ticks) - 1)
    slanted = bool(labels) and any((a + b) / 2 + 8 * scale > gap for a, b in zip(widths, widths[1:]))
    if slanted:
        left = max(left, int(widths[0] * math.cos(math.radians(SLANT)) + 6 * scale))
        span = width - left - right
    label_h = (max(widths) * math.sin(math.radians(SLANT)) + fs) if slanted else fs
    top = y + line_h  # room for the y title
    plot_h = int(round(width * p.get("aspect", 0.62) - 60 * scale))
    y_end = top + plot_h
    px = lambda x: left + (x - x0) / (x1 - x0) * span  # noqa: E731
    py = lambda v: y_end - (v - lo) / (hi - lo) * plot_h  # noqa: E731
    items.append(("text", (left, top - 6 * scale), p["yTitle"], render.TEXT, fs, "ld", 0))
    for t in yticks:
        items.append(("line", [(left, py(t)), (width - right, py(t))], GRID, 1, [], None))
        items.append(("text", (left - 6 * scale, py(t)), ytick(t), render.TEXT, fs, "rm", 0))
    for t, text in ticks:
        items.append(("line", [(px(t), y_end), (px(t), y_end + 4 * scale)], AXIS, 1, [], None))
        items.append(("text", (px(t), y_end + 6 * scale), text, render.TEXT, fs, "ra" if slanted else "ma",
                      SLANT if slanted else 0))
    items.append(("line", [(left, top), (left, y_end), (width - right, y_end)], AXIS, 1, [], None))
    y = y_end + 6 * scale + label_h + 6 * scale
    items.append(("text", (left + span / 2, y), p["xTitle"], render.TEXT, fs, "ma", 0))
    y += line_h + 4 * scale
    baselines_first = sorted(series, key=lambda s: (not s.get("baseline"), s is series[0]))
    for s in baselines_first:  # baselines under the methods, the first method on top
        if s.get("mark") == "dots":
            items += [("dot", (px(x), py(v)), s["color"], DOT_RADIUS * scale, s["name"])
                      for x, v in zip(xs, s["ys"]) if v is not None]
            continue
        run: list = []
        lw = max(1, round((3 if s is series[0] else 1.5 if s.get("baseline") else 2) * scale))
        for x, v in list(zip(xs, s["ys"])) + [(None, None)]:
            if v is not None:
                run.append((px(x), py(v)))
            elif run:
                items.append(("line", run, s["color"], lw, [d * scale for d in s["dash"]], s["name"]))
                run = []
    for s in series:
        cy = y + fs / 2
        if s.get("mark") == "dots":
            items.append(("dot", (left + 14 * scale, cy), s["color"], 4 * scale, None))
        else:
            items.append(("line", [(left, cy), (left + 28 * scale, cy)], s["color"], max(1, round(3 * scale)),
                          [d * scale for d in s["dash"]], None))
        items.append(("text", (left + 36 * scale, y), s["label"], render.TEXT, fs, "la", 0))
        y += line_h
    return width, int(math.ceil(y + 4 * scale)), items


def _tick(t: float) -> str:
    return f"{t:g}"


def _log_tick(t: float) -> str:
    """The label of 10^t: "1" at t = 0, else "1e-5"."""
    return "1" if t == 0 else f"1e{t:g}"


def scene_png(scenes: list, gap: int = 8) -> Image.Image:
    """Scenes (from :func:`chart_scene`) side by side as one PIL image.

    Parameters
    ----------
    scenes : list of tuple
        ``(width, height, items)`` triples from :func:`chart_scene`, left to right.
    gap : int, default 8
        Pixels between two scenes.

    Returns
    -------
    PIL.Image.Image
        RGB image on the figures' background, as wide as the scenes and gaps and as tall as
        the tallest scene.
    """
    out = Image.new("RGB", (sum(w for w, _, _ in scenes) + gap * (len(scenes) - 1), max(h for _, h, _ in scenes)),
                    render.BACKGROUND)
    x0 = 0
    for w, _, items in scenes:
        draw = ImageDraw.Draw(out)
        for item in items:
            if item[0] == "line":
                _, pts, colour, lw, dash, _name = item
                _dashed(draw, [(x0 + x, y) for x, y in pts], colour, lw, dash)
            elif item[0] == "dot":
                _, (x, y), colour, r, _name = item
                draw.ellipse([x0 + x - r, y - r, x0 + x + r, y + r], fill=colour)
            else:
                _, (x, y), text, colour, size, anchor, angle = item
                fnt = render.font(size)
                text = text.replace("×", "x")  # Pillow's bundled font has no multiplication sign
                if not angle:
                    draw.text((x0 + x, y), text, fill=colour, font=fnt, anchor=anchor)
                    continue
                # slanted: draw level on a transparent tile, rotate about its right-top corner
                tw, th = int(fnt.getlength(text)) + 2, size + 4
                tile = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
                ImageDraw.Draw(tile).text((tw - 1, 0), text, fill=colour, font=fnt, anchor="ra")
                rot = tile.rotate(angle, expand=True, resample=Image.BICUBIC)
                a = math.radians(angle)
                # where the tile's right-top corner lands in the rotated tile
                cx, cy = tw / 2, th / 2
                rx = (tw - cx) * math.cos(a) + (0 - cy) * math.sin(a) + rot.size[0] / 2
                ry = -(tw - cx) * math.sin(a) + (0 - cy) * math.cos(a) + rot.size[1] / 2
                out.paste(rot, (int(round(x0 + x - rx)), int(round(y - ry))), rot)
        x0 += w + gap
    return out


_SVG_ANCHOR = {"l": "start", "m": "middle", "r": "end"}
_SVG_BASELINE = {"a": "hanging", "m": "central", "d": "text-after-edge", "s": "alphabetic"}


def scene_svg(scenes: list, gap: int = 8) -> str:
    """Scenes (from :func:`chart_scene`) side by side as one SVG document (text kept as text).
    Each data line is a ``<polyline>`` whose ``data-series`` names its series.

    Parameters
    ----------
    scenes : list of tuple
        ``(width, height, items)`` triples from :func:`chart_scene`, left to right.
    gap : int, default 8
        Pixels between two scenes.

    Returns
    -------
    str
        The SVG document, one element a line, ending in a newline.
    """
    from xml.sax.saxutils import escape, quoteattr

    width = sum(w for w, _, _ in scenes) + gap * (len(scenes) - 1)
    height = max(h for _, h, _ in scenes)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
           f'<rect width="{width}" height="{height}" fill="{_hex(render.BACKGROUND)}"/>']
    x0 = 0
    for w, _, items in scenes:
        out.append(f'<g transform="translate({x0} 0)">')
        for item in items:
            if item[0] == "line":
                _, pts, colour, lw, dash, name = item
                attrs = f' stroke-dasharray="{" ".join(f"{d:g}" for d in dash)}"' if dash else ""
                if name is not None:
                    attrs += f" data-series={quoteattr(str(name))}"
                points = " ".join(f"{x:.2f},{y:.2f}" for x, y in pts)
                out.append(f'<polyline points="{points}" fill="none" stroke="{_hex(colour)}" '
                           f'stroke-width="{lw:g}" stroke-linejoin="round"{attrs}/>')
            elif item[0] == "dot":
                _, (x, y), colour, r, name = item
                attrs = "" if name is None else f" data-series={quoteattr(str(name))}"
                out.append(f'<circle cx="{x:.2f}" cy="{y:.2f}" r="{r:g}" fill="{_hex(colour)}"{attrs}/>')
            else:
                _, (x, y), text, colour, size, anchor, angle = item
                rotate = f' transform="rotate({-angle} {x:.2f} {y:.2f})"' if angle else ""
                out.append(f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size}" fill="{_hex(colour)}" '
                           f'text-anchor="{_SVG_ANCHOR[anchor[0]]}" dominant-baseline="{_SVG_BASELINE[anchor[1]]}"'
                           f'{rotate}>{escape(text)}</text>')
        out.append("</g>")
        x0 += w + gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _dashed(draw: ImageDraw.ImageDraw, pts, fill, width, dash) -> None:
    if not dash:
        draw.line(pts, fill=fill, width=width, joint="curve")
        return
    on, off = dash[0], dash[1] if len(dash) > 1 else dash[0]
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        length = math.hypot(bx - ax, by - ay)
        t = 0.0
        while t < length:
            t1 = min(length, t + on)
            draw.line([ax + (bx - ax) * t / length, ay + (by - ay) * t / length,
                       ax + (bx - ax) * t1 / length, ay + (by - ay) * t1 / length], fill=fill, width=width)
            t = t1 + off


def _wrap(text: str, fnt, width: int) -> list[str]:
    """Greedy word wrap of ``text`` to lines at most ``width`` px wide in ``fnt``."""
    lines: list[str] = []
    for word in text.split():
        if lines and fnt.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines
