"""``MetricsChart``: the curves of :mod:`xai_widgets.metrics` as a small chart view.

Two views, each built by a class method from a dict ``{method name: result}``:

* ``MetricsChart.deletion({"gradient": curve, ...})``: deletion and/or insertion curves
  (:func:`xai_widgets.metrics.deletion_curve`), one line per method, the mean over images,
  with each method's mean area under the curve in the legend; one panel per game present
  (pass a curve, or a list such as ``[deletion, insertion]``, per method).
* ``MetricsChart.randomisation({"gradient": result, ...})``: the model-parameter
  randomisation check (:func:`xai_widgets.metrics.randomisation_check`), the mean
  similarity to the trained model's maps after each randomised layer, one line per method,
  starting from "original" (a map compared with itself: 1).

Everything the browser draws is in the ``_chart`` trait (plain numbers, a few hundred at
most), so the view exports to standalone HTML and its numbers can be checked against the
results (``w.results`` holds them). Hovering or the arrow keys read values out in the browser
only. ``render_png`` draws the same chart with PIL.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import traitlets
from PIL import Image, ImageDraw

from .. import render
from ..metrics import Curve, Randomisation
from .base import XaiWidget
from .checks import Index
from .sweep import nice_ticks

__all__ = ["MetricsChart", "PALETTE"]

#: Line colours, in order of the methods: Okabe and Ito's colour-blind-safe palette (without
#: black and yellow, which vanish on dark or white backgrounds), then mid-tone extras. They
#: read on JupyterLab's light and dark themes alike; the axes and text use the theme's colours.
PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
           "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#e377c2"]
#: Baselines get dashed grey lines, so the methods stand out against them.
BASELINE_STYLE = {"centre": ("#8a8a8a", [6, 4]), "center": ("#8a8a8a", [6, 4]), "random": ("#a0a0a0", [2, 3])}
DASH = [6, 3]

_GAMES = {
    "deletion": ("Deletion: pixels removed, most relevant first (lower area is better)", "fraction of pixels deleted"),
    "insertion": ("Insertion: pixels revealed, most relevant first (higher area is better)",
                  "fraction of pixels inserted"),
}


def _floats(values) -> list:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return [float(v) if np.isfinite(v) else None for v in arr]


def _fmt2(v: float) -> str:
    """Two decimals, without a minus sign on a value that rounds to zero."""
    text = f"{v:.2f}" if np.isfinite(v) else "undefined"
    return "0.00" if text == "-0.00" else text


def _style(name: str, i: int) -> tuple[str, list]:
    if name.lower() in BASELINE_STYLE:
        return BASELINE_STYLE[name.lower()]
    colour = PALETTE[i % len(PALETTE)]
    return colour, ([] if i < len(PALETTE) else DASH)


def _check_results(results, kind: str) -> dict:
    if not isinstance(results, Mapping) or not results:
        raise TypeError(f"{kind} results must be a non-empty dict {{method name: result}}, "
                        f"got {type(results).__name__}")
    return {str(k): v for k, v in results.items()}


def _deletion_payload(results: dict) -> dict:
    by_mode: dict[str, list] = {"deletion": [], "insertion": []}
    for name, value in results.items():
        curves = [value] if isinstance(value, Curve) else value
        if not isinstance(curves, Sequence) or not curves or not all(isinstance(c, Curve) for c in curves):
            raise TypeError(f"results[{name!r}] must be a metrics.Curve or a list of them "
                            "(e.g. [deletion, insertion]), "
                            f"got {type(value).__name__}")
        for c in curves:
            if any(n == name for n, _ in by_mode[c.mode]):
                raise ValueError(f"results[{name!r}] has two {c.mode} curves; give one per game")
            by_mode[c.mode].append((name, c))
    panels = []
    names = list(results)
    for mode in ("deletion", "insertion"):
        entries = by_mode[mode]
        if not entries:
            continue
        first = entries[0][1]
        for name, c in entries[1:]:
            if c.fractions.shape != first.fractions.shape or not np.allclose(c.fractions, first.fractions):
                raise ValueError(f"the {mode} curves must share their fractions (same steps and image size); "
                                 f"{name!r} differs from {entries[0][0]!r}")
            if c.score != first.score:
                raise ValueError(f"the {mode} curves must follow the same score; {name!r} has {c.score!r}, "
                                 f"{entries[0][0]!r} has {first.score!r}")
        title, x_title = _GAMES[mode]
        y_title = ("p(target class), softmax" if first.score == "probability" else "target logit") + \
            f", mean over {first.scores.shape[0]} images"
        series = []
        for name, c in entries:
            colour, dash = _style(name, names.index(name))
            series.append({"name": name, "ys": _floats(c.mean_scores), "color": colour, "dash": dash,
                           "area": float(c.mean_area), "label": f"{name} · AUC {c.mean_area:.3f}"})
        baselines = sorted({c.baseline for _, c in entries})
        panels.append({"id": mode, "title": title, "subtitle": f"baseline: {', '.join(baselines)}",
                       "xTitle": x_title, "yTitle": y_title, "xs": _floats(first.fractions), "xlabels": None,
                       "yRange": [0.0, 1.0] if first.score == "probability" else [0.0, 0.0], "series": series})
    return {"kind": "deletion", "panels": panels}


def _randomisation_payload(results: dict, signed: bool) -> dict:
    for name, r in results.items():
        if not isinstance(r, Randomisation):
            raise TypeError(f"results[{name!r}] must be a metrics.Randomisation, got {type(r).__name__}")
    first_name, first = next(iter(results.items()))
    for name, r in results.items():
        if list(r.layers) != list(first.layers) or r.order != first.order or r.measure != first.measure:
            raise ValueError(f"the randomisation results must share layers, order and similarity; {name!r} "
                             f"({r.order}, {r.measure}, {r.layers}) differs from {first_name!r} "
                             f"({first.order}, {first.measure}, {first.layers})")
    measure = "Spearman rank correlation" if first.measure == "spearman" else "SSIM"
    what = "signed map" if signed else "|map|"
    series = []
    for i, (name, r) in enumerate(results.items()):
        colour, dash = _style(name, i)
        mean = r.mean_signed if signed else r.mean
        series.append({"name": name, "ys": [1.0] + _floats(mean), "color": colour, "dash": dash,
                       "label": f"{name} · after all layers {_fmt2(mean[-1])}"})
    order = ("cascading: each layer and all above it randomised" if first.order == "cascade"
             else "independent: one layer at a time randomised")
    panel = {"id": "randomisation", "title": f"Model-parameter randomisation ({order}), from the logits down",
             "subtitle": f"{measure} of the {what} with the trained model's; 1 = unchanged",
             "xTitle": "randomised layer",
             "yTitle": f"{measure} of {what}, mean over {first.similarity.shape[0]} images",
             "xs": [float(i) for i in range(len(first.layers) + 1)], "xlabels": ["original"] + list(first.layers),
             "yRange": [0.0, 1.0], "series": series}
    return {"kind": "randomisation", "panels": [panel]}


class MetricsChart(XaiWidget):
    """Deletion / insertion curves or the randomisation check, one line per method.

    Build it with :meth:`deletion` or :meth:`randomisation` (or ``MetricsChart(kind, results)``).

    Parameters
    ----------
    kind : "deletion" | "randomisation"
    results : dict
        ``{method name: metrics.Curve or [Curve, ...]}`` for "deletion" (deletion and insertion
        curves go to their own panels); ``{method name: metrics.Randomisation}`` for
        "randomisation" (all with the same layers, order and similarity measure).
    signed : bool
        Randomisation only: plot the similarity of the signed maps instead of |map|.
    size : int
        Width of each chart panel in CSS pixels (the height is 0.62 of it).
    """

    _bundle = "metrics_chart"
    _chart = traitlets.Dict().tag(sync=True)
    size = Index(440, min=200, max=2048).tag(sync=True)  # CSS pixels: narrower charts crowd their labels
    _browser_traits = frozenset()

    def __init__(self, kind: str, results: Mapping, *, signed: bool = False, size: int = 440):
        if kind == "deletion":
            payload = _deletion_payload(_check_results(results, kind))
        elif kind == "randomisation":
            payload = _randomisation_payload(_check_results(results, kind), bool(signed))
        else:
            raise ValueError(f"kind must be 'deletion' or 'randomisation', got {kind!r}")
        self.kind = kind
        self.results = dict(results)
        super().__init__(_chart=payload, size=size)

    @classmethod
    def deletion(cls, results: Mapping, *, size: int = 440) -> "MetricsChart":
        """Deletion and insertion curves: ``{name: curve or [deletion_curve, insertion_curve]}``."""
        return cls("deletion", results, size=size)

    @classmethod
    def randomisation(cls, results: Mapping, *, signed: bool = False, size: int = 440) -> "MetricsChart":
        """Similarity per randomised layer: ``{name: metrics.Randomisation}``."""
        return cls("randomisation", results, signed=signed, size=size)

    @property
    def panels(self) -> list[dict]:
        """What each chart draws: title, axes, x values and the series (name, ys, colour, label)."""
        return self._chart["panels"]

    # ------------------------------------------------------------------ static figure
    def render_png(self, panel: int | None = None) -> Image.Image:
        """The chart(s) as a PIL image, panels side by side, each ``panel`` px wide (default ``size``)."""
        width = max(240, int(panel or self.size))
        images = [_chart_png(p, width) for p in self.panels]
        out = Image.new("RGB", (sum(i.size[0] for i in images) + 8 * (len(images) - 1), max(i.size[1] for i in images)),
                        render.BACKGROUND)
        x = 0
        for img in images:
            out.paste(img, (x, 0))
            x += img.size[0] + 8
        return out

    def __repr__(self) -> str:
        names = [s["name"] for s in self.panels[0]["series"]] if self.panels else []
        return f"MetricsChart({self.kind!r}, panels={[p['id'] for p in self.panels]}, methods={names})"


def _dashed(draw: ImageDraw.ImageDraw, pts, fill, width, dash) -> None:
    if not dash:
        draw.line(pts, fill=fill, width=width)
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
    return lines or [""]


def _chart_png(p: dict, width: int) -> Image.Image:
    """One panel as the browser draws it: title, axes with round ticks, one line per series, legend."""
    height = int(round(width * 0.62))
    fnt = render.font(max(11, width // 36))
    series = p["series"]
    legend_h = len(series) * (fnt.size + 6) + 8
    heading = [(line, render.TEXT) for line in _wrap(p["title"], fnt, width - 16)] + \
        [(line, (97, 97, 97)) for line in _wrap(p["subtitle"], fnt, width - 16)]
    title_h = len(heading) * (fnt.size + 6) + 6
    img = Image.new("RGB", (width, title_h + height + legend_h), render.BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, (line, colour) in enumerate(heading):
        draw.text((8, 4 + i * (fnt.size + 6)), line, fill=colour, font=fnt)
    xs = np.asarray(p["xs"], np.float64)
    values = [v for s in series for v in s["ys"] if v is not None]
    lo, hi = p["yRange"]
    lo, hi = min([lo] + values), max([hi] + values)
    if not hi > lo:
        hi = lo + 1
    left, right = 12 + int(fnt.getlength("-0.00")) + 8, 16
    top, bottom = title_h + fnt.size + 10, 2 * fnt.size + 22
    y_end = title_h + height - bottom
    x0, x1 = float(xs[0]), float(xs[-1]) if xs[-1] > xs[0] else float(xs[0]) + 1
    px = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    py = lambda y: y_end - (y - lo) / (hi - lo) * (y_end - top)  # noqa: E731
    grid_c, axis_c = (224, 224, 224), (120, 120, 120)
    for t in nice_ticks(lo, hi, 4):
        draw.line([left, py(t), width - right, py(t)], fill=grid_c)
        draw.text((left - 6, py(t)), f"{t:g}", fill=render.TEXT, font=fnt, anchor="rm")
    labels = p.get("xlabels")
    if labels:
        step = max(1, math.ceil(len(labels) * max(fnt.getlength(s) for s in labels) / (width - left - right) / 0.9))
        ticks = [(float(xs[i]), labels[i]) for i in range(0, len(labels), step)]
    else:
        ticks = [(t, f"{t:g}") for t in nice_ticks(x0, x1, 5)]
    for t, text in ticks:
        draw.line([px(t), y_end, px(t), y_end + 4], fill=axis_c)
        draw.text((px(t), y_end + 6), text, fill=render.TEXT, font=fnt, anchor="ma")
    draw.line([left, top, left, y_end, width - right, y_end], fill=axis_c)
    draw.text(((left + width - right) / 2, title_h + height - 4), p["xTitle"], fill=render.TEXT, font=fnt, anchor="md")
    draw.text((left, top - 6), p["yTitle"], fill=render.TEXT, font=fnt, anchor="ld")
    for s in series[1:] + series[:1]:  # the first method on top, as in the browser
        run: list = []
        for x, y in list(zip(xs, s["ys"])) + [(None, None)]:
            if y is not None:
                run.append((px(x), py(y)))
                continue
            if len(run) > 1:
                _dashed(draw, run, s["color"], 3 if s is series[0] else 2, s["dash"])
            run = []
    y = title_h + height + 4
    for s in series:
        _dashed(draw, [(left, y + fnt.size / 2), (left + 28, y + fnt.size / 2)], s["color"], 3, s["dash"])
        draw.text((left + 36, y), s["label"], fill=render.TEXT, font=fnt)
        y += fnt.size + 6
    return img
