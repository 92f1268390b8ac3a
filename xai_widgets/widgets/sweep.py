"""``TransformSweep``: how a patch's representation survives rotating or zooming the image.

Fong, Mordvintsev, Vedaldi and Olah, "Interactive Similarity Overlays", VISxAI 2021,
section "geometric transformations". The image is transformed at every value of a sweep
(:func:`xai_widgets.transforms.sweep`), the model runs once on the original and all the
copies, and the browser receives the unit-normalised float16 activation vectors of one
layer together with, for every copy, where each cell of the original went
(:meth:`xai_widgets.transforms.Sweep.correspondence`). Hovering a cell of the original then
shades every copy by cosine similarity to it, outlines the cell showing the same content
in each copy, and draws the similarity to that cell against the transform value: a
qualitative and a quantitative view of the same numbers. Hovering never calls the kernel.

The zero fill of rotated corners and of zoomed-out borders is left as it is: the model sees
those black regions as content, and the panels show them.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from .. import colormaps, render, wire
from ..capture import capture_maps, model_device
from ..images import check_input_size, display_pixels, model_input
from ..similarity import unit_vectors
from ..transforms import KINDS, sweep
from .base import OverlayWidget
from .checks import PanelSize, Refused, is_index, validates, at_least

__all__ = ["TransformSweep", "DEFAULT_VALUES"]

MiB = 1 << 20

#: Values used when ``values`` is not given: every 15 degrees up to a half turn; zoom
#: factors from half size to double size (denser below 1, where the zero border grows).
DEFAULT_VALUES = {
    "rotate": [float(v) for v in range(0, 181, 15)],
    "scale": [0.5, 0.625, 0.75, 0.875, 1.0, 1.25, 1.5, 1.75, 2.0],
}

_AXIS_LABELS = {"rotate": "rotation (degrees, counter-clockwise)", "scale": "zoom factor"}


def _fmt_value(v: float) -> str:
    return f"{v:.4g}"


def _fmt_bytes(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n / 1024:.1f} KiB"


class TransformSweep(OverlayWidget):
    """Similarity of a patch to the same content in rotated or zoomed copies of the image.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model, on any device; it runs once, in eval mode, on the original and
        every copy in one batch, and is left exactly as given.
    image : PIL image, numpy array or tensor
        One image (see :mod:`xai_widgets.images`).
    layer : str
        The layer whose activation vectors are compared (``xw.layers(model, x)`` lists them).
    transform : "rotate" | "scale" | callable
        ``"rotate"``: values in degrees, counter-clockwise on screen. ``"scale"``: zoom factors
        about the centre (2 shows the central half; 0.5 the whole image at half size in a zero
        border). A callable ``transform(images, value)`` (N x C x H x W in, same shape out)
        needs ``correspondence`` too (see :mod:`xai_widgets.transforms`).
    values : sequence of numbers, strictly increasing
        The transform values, one copy each (include the identity, 0 degrees or factor 1, to
        see it in the chart). Default: :data:`DEFAULT_VALUES` (required for a callable).
    correspondence : callable, optional
        ``correspondence(x, y, value) -> (x2, y2)`` for a callable transform.
    preprocess : callable, optional
        PIL image -> C x H x W tensor. The transform is applied to its output, the model's
        input. Zero fill is zero in that space: with a normalising preprocess the model sees
        the mean colour where the panels (which transform the display pixels the same way)
        show black.
    size : int
        Long side of each image panel in CSS pixels.
    opacity : float
        Overlay opacity, 0 to 1.
    colormap : "gray" | "viridis" | "diverging", optional
        Default: "gray" over [0, 1] when every activation is non-negative, else "diverging"
        over [-1, 1]. The chart's y axis uses the same range.
    max_bytes : int
        Payload budget (activations + pixels); over it the constructor refuses, saying what
        to change.
    layouts : dict, optional
        ``{layer: "NCHW" | "NHWC" | xw.Tokens(prefix, grid)}`` when the layer's layout is
        not detected (:mod:`xai_widgets.layouts`); a token layer is compared patch by patch
        (its prefix tokens have no position under the transform; the widget's message says so).

    ``w.query`` (``{"row", "col"}`` of the original's grid, or None) is the pinned cell;
    setting it from Python pins it in the view. :meth:`similarity_curve` and
    :meth:`similarity_map` return exactly the numbers the chart draws and the panels shade.
    """

    _bundle = "transform_sweep"
    size = PanelSize(160).tag(sync=True)

    _browser_traits = frozenset({"query", "colormap", "opacity"})

    def __init__(
        self,
        model: nn.Module,
        image,
        layer: str,
        transform: str | Callable = "rotate",
        values: Sequence[float] | None = None,
        *,
        correspondence: Callable | None = None,
        preprocess: Callable | None = None,
        size: int = 160,
        opacity: float = 0.7,
        colormap: str | None = None,
        max_bytes: int = 64 * MiB,
        layouts: dict | None = None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(image, (list, tuple)):
            raise TypeError("TransformSweep takes one image (a PIL image, numpy array or tensor), "
                            f"got a {type(image).__name__}; make one widget per image")
        if not isinstance(layer, str):
            raise TypeError(f"layer must be one layer name (a str), got {layer!r:.80}")
        kind = self._check_transform(transform, correspondence)
        values = self._check_values(kind, values)

        self.model = model
        self._image = image
        self._layer = layer
        self._kind = kind
        self._values = values
        self._correspondence = correspondence
        self.preprocess = preprocess
        self.layouts = layouts
        self.max_bytes = at_least("max_bytes", max_bytes)
        self._state = {}
        # The traits check size, opacity and colormap before any work.
        super().__init__(opacity=opacity, size=size, colormap=colormap or "gray")
        self._state = self._compute(self.size)
        signed = self._state["negative"]
        with self.hold_sync():
            self._data = self._state["data"]
            self.colormap = colormap or ("diverging" if signed else "gray")
            self.vrange = [-1.0, 1.0] if signed else [0.0, 1.0]
        if self._state["prefix"]:  # said, not silently dropped
            self.message = (f"{self._layer!r} is a token layer: the sweep follows its patches; its "
                            f"{self._state['prefix']} prefix token(s) (class, ...) have no position to follow")

    # ------------------------------------------------------------ validation
    @staticmethod
    def _check_transform(transform, correspondence):
        if isinstance(transform, str):
            if transform not in KINDS:
                raise ValueError(f"transform must be one of {KINDS} or a callable "
                                 f"transform(images, value), got {transform!r}")
            if correspondence is not None:
                raise ValueError(f"correspondence is only for a callable transform; {transform!r} has its own")
            return transform
        if callable(transform):
            if not callable(correspondence):
                raise ValueError("a callable transform needs correspondence=f(x, y, value) -> (x2, y2) "
                                 "saying where each point of the original lands (see xai_widgets.transforms)")
            return transform
        raise TypeError(f"transform must be 'rotate', 'scale' or a callable, got {type(transform).__name__}")

    @staticmethod
    def _check_values(kind, values) -> list[float]:
        if values is None:
            if callable(kind):
                raise ValueError("a callable transform needs values=[...], the transform values to sweep")
            return list(DEFAULT_VALUES[kind])
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, torch.Tensor)):
            raise TypeError(f"values must be a sequence of numbers, got {type(values).__name__}")
        values = [v.item() if isinstance(v, (np.generic, torch.Tensor)) else v for v in values]
        if not values:
            raise ValueError("values is empty: give at least one transform value")
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v)]
        if bad:
            raise ValueError(f"values must be finite numbers, got {bad[0]!r}")
        values = [float(v) for v in values]
        if any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(f"values must be strictly increasing (they are the chart's x axis), got {values}")
        if kind == "scale" and values[0] <= 0:
            raise ValueError(f"scale values are zoom factors and must be > 0, got {values[0]}")
        return values

    # ------------------------------------------------------------ computation
    def _compute(self, size: int) -> dict:
        device = model_device(self.model)
        x = model_input(self._image, self.model, self.preprocess, 0)
        check_input_size(x, "TransformSweep")
        x = x.to(device)
        kind, values = self._kind, self._values
        s = sweep(x, kind, values, correspondence=self._correspondence)
        captured = capture_maps(self.model, torch.cat([x, s.images]), [self._layer], layouts=self.layouts)[self._layer]
        acts = captured.maps.float()  # (V + 1) x C x h x w; a token layer's patch grid
        n, c, h, w = acts.shape
        input_hw = tuple(x.shape[-2:])
        base = display_pixels(self._image, input_hw, size)
        pixel_bytes = n * base.size
        act_bytes = n * h * w * c * 2
        if act_bytes + pixel_bytes > self.max_bytes:
            raise ValueError(
                f"this view would ship {_fmt_bytes(act_bytes + pixel_bytes)} to the browser, over "
                f"max_bytes={_fmt_bytes(self.max_bytes)}: layer {self._layer!r} is {h}x{w}x{c} for each of "
                f"{n} images (the original and {n - 1} copies). Sweep fewer values, choose a deeper "
                "(smaller) layer, use a smaller input or size, or raise max_bytes."
            )
        unit = unit_vectors(acts).permute(0, 2, 3, 1)  # (V + 1) x h x w x C
        copies = self._display_copies(base)
        rows, cols, valid = s.correspondence((h, w))
        payloads = [wire.encode(u, "float16") for u in unit]
        titles = [self._title(v) for v in values]
        data = {
            "layer": self._layer,
            "axis": self._axis_label(),
            "values": values,
            "grid": [h, w],
            "original": {"title": "original", "pixels": wire.encode(base, "uint8"), "acts": payloads[0]},
            "copies": [
                {
                    "title": titles[k],
                    "pixels": wire.encode(copies[k], "uint8"),
                    "acts": payloads[k + 1],
                    "rows": rows[k].flatten().tolist(),
                    "cols": cols[k].flatten().tolist(),
                }
                for k in range(len(values))
            ],
        }
        vecs = np.stack([wire.decode(p) for p in payloads])  # exactly what the browser has (float32)
        rows, cols, valid = rows.cpu().numpy(), cols.cpu().numpy(), valid.cpu().numpy()
        orig = vecs[0].astype(np.float64)
        curves = np.stack([  # summed in float64, like the browser
            (vecs[k + 1][rows[k].clip(0), cols[k].clip(0)].astype(np.float64) * orig).sum(-1)
            for k in range(len(values))
        ])
        curves[~valid] = np.nan
        counts = valid.sum(axis=(1, 2))
        mean = np.where(counts > 0, np.nansum(curves, axis=(1, 2)) / np.maximum(counts, 1), np.nan)
        data["mean"] = [float(m) if np.isfinite(m) else None for m in mean]
        return {
            "data": data,
            "vectors": vecs,  # (V + 1) x h x w x C float32, exactly the shipped float16 values
            "rows": rows, "cols": cols, "valid": valid,
            "curves": curves.astype(np.float32),
            "mean": mean.astype(np.float32),
            "input_hw": input_hw,
            "titles": titles,
            "negative": bool((acts < 0).any()),
            "grid": (h, w),
            "prefix": 0 if captured.prefix is None else captured.prefix.shape[1],
        }

    def _display_copies(self, base: np.ndarray) -> np.ndarray:
        """The display pixels transformed like the model input: V x H' x W' x 3 uint8."""
        t = torch.from_numpy(np.array(base, copy=True)).permute(2, 0, 1)[None].float() / 255.0
        try:
            out = sweep(t, self._kind, self._values, correspondence=self._correspondence).images
        except Exception as exc:
            if not callable(self._kind):
                raise
            raise ValueError(
                "the transform is applied to the display pixels too (a 1 x 3 x H x W float tensor in "
                f"[0, 1], H x W = {base.shape[0]} x {base.shape[1]}) and raised {type(exc).__name__}: {exc}. "
                "Make it work for any image size and 3 channels."
            ) from exc
        return (out.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()

    def _title(self, v: float) -> str:
        if self._kind == "rotate":
            return f"{_fmt_value(v)}°"
        if self._kind == "scale":
            return f"×{_fmt_value(v)}"
        return f"{_fmt_value(v)}"

    def _axis_label(self) -> str:
        if isinstance(self._kind, str):
            return _AXIS_LABELS[self._kind]
        name = getattr(self._kind, "__name__", "")
        return f"{name} value" if name and name.isidentifier() else "transform value"

    # ------------------------------------------------------------ properties
    @property
    def layer(self) -> str:
        return self._layer

    @property
    def transform(self) -> str | Callable:
        return self._kind

    @property
    def values(self) -> list[float]:
        """The transform values, one copy each (the chart's x axis)."""
        return list(self._values)

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of the layer's activation grid (the same for the original and every copy)."""
        return self._state["grid"]

    def correspondence(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The shipped ``rows, cols, valid`` (each V x h x w): cell (i, j) of the original shows
        the same content as cell (rows[k, i, j], cols[k, i, j]) of copy k; -1 where invalid."""
        s = self._state
        return torch.from_numpy(s["rows"]), torch.from_numpy(s["cols"]), torch.from_numpy(s["valid"])

    # ---------------------------------------------------------------- queries
    def _check_cell(self, row, col) -> tuple[int, int]:
        h, w = self.grid
        if not (is_index(row) and is_index(col)):
            raise ValueError(f"row and col must be integers, got {row!r}, {col!r}")
        if not (0 <= row < h and 0 <= col < w):
            raise ValueError(f"cell ({row}, {col}) is outside the {h}x{w} grid of {self._layer!r}")
        return int(row), int(col)

    @validates("query")
    def _validate_query(self, proposal):
        return self._check_query(proposal["value"])

    def _check_query(self, q) -> dict | None:
        if q is None:
            return None
        if not isinstance(q, dict) or set(q) != {"row", "col"}:
            raise Refused(f"query must be None or a dict with keys row, col; got {q!r:.80}")
        row, col = self._check_cell(q["row"], q["col"])
        return {"row": row, "col": col}

    def similarity_curve(self, row: int, col: int) -> torch.Tensor:
        """Cosine similarity of cell (row, col) of the original to its corresponding cell in
        each copy: length V, NaN where the content left the image. The chart's y values,
        computed from exactly the float16 vectors the browser has."""
        row, col = self._check_cell(row, col)
        return torch.from_numpy(self._state["curves"][:, row, col].copy())

    def similarity_curves(self) -> torch.Tensor:
        """Every cell's curve at once: V x h x w (NaN where invalid)."""
        return torch.from_numpy(self._state["curves"].copy())

    def mean_curve(self) -> torch.Tensor:
        """Mean over the valid cells of :meth:`similarity_curves`, per value (the chart's dashed line)."""
        return torch.from_numpy(self._state["mean"].copy())

    def similarity_map(self, copy: int | None, row: int, col: int) -> torch.Tensor:
        """Cosine similarity of every cell of copy ``copy`` (an index into ``values``; None for
        the original) to cell (row, col) of the original: the h x w numbers that panel is
        shaded by."""
        row, col = self._check_cell(row, col)
        vecs = self._state["vectors"]
        if copy is None:
            k = 0
        elif is_index(copy) and 0 <= copy < len(self._values):
            k = int(copy) + 1
        else:
            raise ValueError(f"copy must be an index in 0..{len(self._values) - 1} (into values) or None "
                             f"for the original, got {copy!r}")
        q = vecs[0][row, col].astype(np.float64)
        return torch.from_numpy((vecs[k].astype(np.float64) @ q).astype(np.float32))

    # ---------------------------------------------------------------- reports
    def _default_query(self) -> dict:
        h, w = self.grid
        return {"row": h // 2, "col": w // 2}

    def render_png(self, query: dict | None = None, panel: int = 240, opacity: float | None = None,
                   columns: int | None = None) -> Image.Image:
        """The view as a PIL image: the original and every copy shaded for ``query`` (default the
        pinned query, else the centre cell), outlines, the chart and the colour legend.

        ``panel`` is the long side of each image panel in pixels; ``columns`` panels per row
        of copies (default: balanced rows of at most 6), right of the original.
        """
        q = self._check_query(query or self.query or self._default_query())
        row, col = q["row"], q["col"]
        opacity = self.opacity if opacity is None else type(self).opacity.validate(self, opacity)
        lo, hi = self.vrange
        h, w = self.grid
        base = display_pixels(self._image, self._state["input_hw"], panel)
        copies = self._display_copies(base)
        width = max(2, panel // 120)
        panels = []
        for k in range(-1, len(self._values)):
            sims = self.similarity_map(None if k < 0 else k, row, col).numpy()
            img = Image.fromarray(render.overlay(base if k < 0 else copies[k],
                                                 colormaps.apply(sims, self.colormap, lo, hi), opacity))
            if k < 0:
                render.outline_cell(img, (h, w), row, col, width=width)
            elif self._state["valid"][k, row, col]:
                render.outline_cell(img, (h, w), int(self._state["rows"][k, row, col]),
                                    int(self._state["cols"][k, row, col]), width=width)
            panels.append(img)
        # Pillow's bundled font has no multiplication sign
        titles = ["original"] + [t.replace("×", "x") for t in self._state["titles"]]
        n_copies = len(panels) - 1
        fit = max(1, columns or 6)
        ncols = -(-n_copies // -(-n_copies // fit))  # balanced rows of at most `fit` copies
        nrows = -(-n_copies // ncols)
        gap = 8
        fnt = render.font(max(12, panel // 14))
        pw, ph = panels[0].size
        title_h = fnt.size + gap
        left = gap + pw + 2 * gap  # the original, then a separator
        grid_w = left + ncols * (pw + gap)
        chart = _chart_png(self._values, self.similarity_curve(row, col).numpy(), self._state["mean"],
                           width=max(grid_w - 2 * gap, 360), height=max(220, panel), lo=lo, hi=hi,
                           xlabel=self._state["data"]["axis"], title=f"{self._layer}: cell ({row}, {col})")
        key = _legend_png(self.colormap, lo, hi, width=min(600, max(240, 2 * panel)), font_size=max(12, panel // 18))
        fig_w = max(grid_w, chart.size[0] + 2 * gap)
        fig_h = gap + nrows * (title_h + ph + gap) + chart.size[1] + gap + key.size[1] + gap
        fig = Image.new("RGB", (fig_w, fig_h), render.BACKGROUND)
        draw = ImageDraw.Draw(fig)
        for i, (img, title) in enumerate(zip(panels, titles)):
            if i == 0:
                x0, y0 = gap, gap
            else:
                x0 = left + ((i - 1) % ncols) * (pw + gap)
                y0 = gap + ((i - 1) // ncols) * (title_h + ph + gap)
            draw.text((x0 + pw // 2, y0), title, fill=render.TEXT, font=fnt, anchor="ma")
            fig.paste(img, (x0, y0 + title_h))
        y = gap + nrows * (title_h + ph + gap)
        draw.line([left - gap, gap, left - gap, y - gap], fill=(224, 224, 224), width=1)
        fig.paste(chart, (gap, y))
        fig.paste(key, (gap + chart.size[0] - key.size[0], y + chart.size[1] + gap))
        return fig

    def __repr__(self) -> str:
        kind = self._kind if isinstance(self._kind, str) else "custom"
        return f"TransformSweep({kind}, {len(self._values)} values, layer={self._layer!r}, grid={self.grid})"


# -------------------------------------------------------------------- chart


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
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


def _legend_png(name: str, lo: float, hi: float, *, width: int, font_size: int) -> Image.Image:
    """A colour bar with lo / mid / hi labels and its caption, nothing clipped."""
    fnt = render.font(font_size)
    caption = "cosine similarity"
    pad = int(fnt.getlength(caption)) + 12
    bar_w, bar_h = width - pad - 24, max(10, font_size)
    img = Image.new("RGB", (width, bar_h + font_size + 10), render.BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.text((0, bar_h // 2), caption, fill=render.TEXT, font=fnt, anchor="lm")
    x0 = pad + 12
    bar = colormaps.lut(name)[np.linspace(0, 255, bar_w).round().astype(int)]
    img.paste(Image.fromarray(np.repeat(bar[None], bar_h, axis=0)), (x0, 0))
    draw.rectangle([x0, 0, x0 + bar_w - 1, bar_h - 1], outline=render.TEXT)
    for frac, value in ((0.0, lo), (0.5, (lo + hi) / 2), (1.0, hi)):
        x = x0 + frac * (bar_w - 1)
        draw.line([x, bar_h, x, bar_h + 3], fill=render.TEXT)
        draw.text((x, bar_h + 4), f"{value:g}", fill=render.TEXT, font=fnt, anchor="ma")
    return img


def _chart_png(xs, ys, mean, *, width, height, lo, hi, xlabel, title) -> Image.Image:
    """A plain line chart: similarity against transform value, gaps where NaN, dashed mean."""
    img = Image.new("RGB", (width, height), render.BACKGROUND)
    draw = ImageDraw.Draw(img)
    fnt = render.font(max(11, height // 18))
    left, right, top, bottom = 10 + int(fnt.getlength("-0.00")) + 10, 16, fnt.size + 14, 2 * fnt.size + 20
    x0, x1 = xs[0], xs[-1]
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    finite = [v for v in list(ys) + list(mean) if np.isfinite(v)]
    y0, y1 = min([lo] + finite), max([hi] + finite)
    px = lambda x: left + (x - x0) / (x1 - x0) * (width - left - right)  # noqa: E731
    py = lambda y: height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)  # noqa: E731
    grid_c, axis_c, line_c, mean_c = (224, 224, 224), (120, 120, 120), (25, 118, 210), (150, 150, 150)
    for t in nice_ticks(y0, y1, 4):
        draw.line([left, py(t), width - right, py(t)], fill=grid_c)
        draw.text((left - 6, py(t)), f"{t:g}", fill=render.TEXT, font=fnt, anchor="rm")
    for t in nice_ticks(x0, x1, 6):
        draw.line([px(t), height - bottom, px(t), height - bottom + 4], fill=axis_c)
        draw.text((px(t), height - bottom + 6), f"{t:g}", fill=render.TEXT, font=fnt, anchor="ma")
    draw.line([left, top, left, height - bottom, width - right, height - bottom], fill=axis_c)
    draw.text(((left + width - right) / 2, height - 2), xlabel, fill=render.TEXT, font=fnt, anchor="md")
    draw.text((left, 4), f"similarity to the corresponding cell · {title}   (dashed: mean over all cells)",
              fill=render.TEXT, font=fnt, anchor="la")

    def segments(values):
        run = []
        for x, y in zip(xs, values):
            if np.isfinite(y):
                run.append((px(x), py(y)))
            elif run:
                yield run
                run = []
        if run:
            yield run

    for run in segments(mean):  # dashed mean over all cells
        for (ax, ay), (bx, by) in zip(run, run[1:]):
            n = max(1, int(math.hypot(bx - ax, by - ay) // 6))
            for i in range(0, n, 2):
                draw.line([ax + (bx - ax) * i / n, ay + (by - ay) * i / n,
                           ax + (bx - ax) * (i + 1) / n, ay + (by - ay) * (i + 1) / n], fill=mean_c, width=1)
    r = max(3, height // 70)
    for run in segments(ys):
        if len(run) > 1:
            draw.line(run, fill=line_c, width=2)
        for x, y in run:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=line_c)
    return img
