"""``TransformSweep``: how a patch's representation survives rotating or zooming the image.

Fong, Mordvintsev, Vedaldi and Olah, "Interactive Similarity Overlays", VISxAI 2021,
section "geometric transformations". The image is transformed at every value of a sweep
(:func:`xai_widgets.similarity.transforms.sweep`), the model runs once on the original and all the
copies, and the browser receives the unit-normalised float16 activation vectors of one
layer together with, for every copy, where each cell of the original went
(:meth:`xai_widgets.similarity.transforms.Sweep.correspondence`). Hovering a cell of the original then
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

from ..core import colormaps, render, wire
from ..core.capture import capture_maps, model_device
from ..core.images import check_input_size, display_pixels, model_input, panel_pixels, to_uint8
from ..similarity.maps import colour_range, half_vectors
from ..similarity.transforms import KINDS, sweep
from .base import STATIC, OverlayWidget
from .checks import PanelSize, Refused, is_index, validates, at_least, print_scale

__all__ = ["TransformSweep", "DEFAULT_VALUES"]


#: Values used when ``values`` is not given: every 15 degrees up to a half turn; zoom
#: factors from half size to double size (denser below 1, where the zero border grows).
DEFAULT_VALUES = {
    "rotate": [float(v) for v in range(0, 181, 15)],
    "scale": [0.5, 0.625, 0.75, 0.875, 1.0, 1.25, 1.5, 1.75, 2.0],
}

_AXIS_LABELS = {"rotate": "rotation (degrees, counter-clockwise)", "scale": "zoom factor"}


def _fmt_value(v: float) -> str:
    return f"{v:.4g}"


class TransformSweep(OverlayWidget):
    """Similarity of a patch to the same content in rotated or zoomed copies of the image.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model, on any device; it runs once, in eval mode, on the original and
        every copy in one batch, and is left exactly as given.
    image : PIL image, numpy array or tensor
        One image (see :mod:`xai_widgets.core.images`).
    layer : str
        The layer whose activation vectors are compared (``xw.layers(model, x)`` lists them).
    transform : "rotate" | "scale" | callable
        ``"rotate"``: values in degrees, counter-clockwise on screen. ``"scale"``: zoom factors
        about the centre (2 shows the central half; 0.5 the whole image at half size in a zero
        border). A callable ``transform(images, value)`` (N x C x H x W in, same shape out)
        needs ``correspondence`` too (see :mod:`xai_widgets.similarity.transforms`).
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
        The LARGEST long side of an image panel, in CSS pixels (and the resolution of the
        display pixels shipped). The original and the chart sit side by side (the chart under
        the original when the output is too narrow for both), the copies wrap in balanced rows
        under them, and panels shrink to the width of the output (down to 120 px) before
        another row of copies is started; the details line states the layout chosen.
    opacity : float
        Overlay opacity, 0 to 1.
    colormap : "gray" | "viridis" | "diverging", optional
        Default: "gray" over [0, 1] when every activation is non-negative, else "diverging"
        over [-1, 1]. The diverging map is drawn symmetric about 0 (neutral grey = 0,
        orthogonal vectors; :func:`xai_widgets.similarity.colour_range`). The chart's y axis
        covers the same range.
    max_bytes : int
        Payload budget (activations + pixels); over it the constructor refuses, saying what
        to change.
    layouts : dict, optional
        ``{layer: "NCHW" | "NHWC" | xw.Tokens(prefix, grid)}`` when the layer's layout is
        not detected (:mod:`xai_widgets.core.layouts`); a token layer is compared patch by patch
        (its prefix tokens have no position under the transform; the widget's message says so).

    ``w.query`` (``{"row", "col"}`` of the original's grid, or None) is the pinned cell;
    setting it from Python pins it in the view. :meth:`similarity_curve` and
    :meth:`similarity_map` return exactly the numbers the chart draws and the panels shade.
    """

    _esm = STATIC / "transform_sweep.js"

    _css = STATIC / "transform_sweep.css"
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
        max_bytes: int = 64 * wire.MiB,
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
                                 "saying where each point of the original lands (see xai_widgets.similarity.transforms)")
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
        wire.check_budget(
            act_bytes + pixel_bytes, self.max_bytes,
            f"this view (layer {self._layer!r}, {h}x{w}x{c} for each of {n} images: the original and {n - 1} copies)",
            "Sweep fewer values, choose a deeper (smaller) layer, use a smaller input or size, or raise max_bytes.")
        unit = half_vectors(acts.permute(0, 2, 3, 1))  # (V + 1) x h x w x C unit vectors in float16
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
        curves = np.stack([  # in float64: within the browser's float32 bound of its numbers
            (vecs[k + 1][rows[k].clip(0), cols[k].clip(0)].astype(np.float64) * orig).sum(-1)
            for k in range(len(values))
        ])
        curves[~valid] = np.nan
        counts = valid.sum(axis=(1, 2))
        mean = np.where(counts > 0, np.nansum(curves, axis=(1, 2)) / np.maximum(counts, 1), np.nan)
        data["mean"] = [float(m) if np.isfinite(m) else None for m in mean]
        shipped = sum(wire.payload_bytes(e[k]) for e in [data["original"], *data["copies"]] for k in ("pixels", "acts"))
        return {
            "bytes": shipped,
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
        return to_uint8(out).permute(0, 2, 3, 1).numpy()

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
    def payload_bytes(self) -> int:
        """Bytes shipped to the browser: activation vectors and display pixels."""
        return int(self._state["bytes"])

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
                   columns: int | None = None, scale: float = 1.0) -> Image.Image:
        """The view as a PIL image: the original and the chart side by side, every copy under
        them, shaded for ``query`` (default the pinned query, else the centre cell), the query
        marks, and the colour legend.

        ``panel`` is the long side of each image panel in pixels at ``scale=1``; ``columns``
        copies per row (default: balanced rows of at most 6). ``scale`` multiplies every length
        (panels, text, lines, margins): ``scale=2`` is the same picture at twice the width and height.
        """
        q = self._check_query(query or self.query or self._default_query())
        row, col = q["row"], q["col"]
        opacity = self.opacity if opacity is None else type(self).opacity.validate(self, opacity)
        scale = print_scale(scale)
        panel = int(at_least("panel", panel, 16))
        lo, hi = colour_range(self.colormap, *self.vrange)
        h, w = self.grid
        px = render.scaler(scale)

        # Every length at scale 1, in whole pixels; px() scales them, so scale=2 doubles exactly.
        pw, ph = render.display_size(self._state["input_hw"], panel)
        n_copies = len(self._values)
        fit = max(1, at_least("columns", columns, 1) if columns is not None else 6)
        ncols = -(-n_copies // -(-n_copies // fit))  # balanced rows of at most `fit` copies
        nrows = -(-n_copies // ncols)
        gap, f = max(6, panel // 30), max(12, panel // 14)
        fnt = render.font(f)
        titles = ["original"] + [t.replace("×", "x") for t in self._state["titles"]]  # Pillow's font has no ×
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
        legend = dict(font_size=max(11, round(f * 0.8)), caption=render.similarity_caption("cosine similarity", self.colormap),
                      scale=scale)
        key = None
        if width - gap - free_x >= 200:
            key = render.legend(self.colormap, lo, hi, bar_width=min(width - gap - free_x - 40, max(240, 2 * panel)),
                             max_width=width - gap - free_x, **legend)
            key_w, key_h = key.info["size1"]
            key_x, key_y = free_x, rows_end - gap - key_h
            if key_w > width - gap - free_x or key_h > ph:
                key = None
        if key is None:
            key = render.legend(self.colormap, lo, hi, bar_width=min(width - 2 * gap, max(240, 2 * panel)),
                             max_width=width - 2 * gap, **legend)
            key_w, key_h = key.info["size1"]
            key_x, key_y = gap, rows_end
        height = max(rows_end, key_y + key_h + gap)
        fig = Image.new("RGB", (px(max(width, key_x + key_w + gap)), px(height)), render.BACKGROUND)
        draw = ImageDraw.Draw(fig)
        tfnt = render.font(px(f))
        base = panel_pixels(self._image, self._state["input_hw"], (px(pw), px(ph)), 0)
        copies = self._display_copies(base)
        mark = max(2, panel // 120)
        for k in range(-1, n_copies):
            sims = self.similarity_map(None if k < 0 else k, row, col).numpy()
            img = Image.fromarray(render.overlay(base if k < 0 else copies[k],
                                                 colormaps.apply(sims, self.colormap, lo, hi), opacity))
            if k < 0:
                render.mark_query(img, (h, w), row, col, width=px(mark))
                x0, y0 = gap, gap + (chart_h - title_h - ph) // 2
            else:
                if self._state["valid"][k, row, col]:
                    render.mark_query(img, (h, w), int(self._state["rows"][k, row, col]),
                              int(self._state["cols"][k, row, col]), width=px(mark))
                x0 = gap + (k % ncols) * (pw + gap)
                y0 = top + (k // ncols) * (title_h + ph + gap)
            for i, text in enumerate(lines[k + 1]):
                draw.text((px(x0 + pw / 2), px(y0 + i * line)), text, fill=render.TEXT, font=tfnt, anchor="ma")
            fig.paste(img, (px(x0), px(y0 + title_h)))
        chart = _chart_png(self._values, self.similarity_curve(row, col).numpy(), self._state["mean"],
                           width=px(chart_w), height=px(chart_h), lo=lo, hi=hi, xlabel=self._state["data"]["axis"],
                           title=f"{self._layer}: cell ({row}, {col})", scale=scale)
        fig.paste(chart, (px(gap + pw + 2 * gap), px(gap)))
        fig.paste(key, (px(key_x), px(key_y)))
        return fig

    def __repr__(self) -> str:
        kind = self._kind if isinstance(self._kind, str) else "custom"
        return (f"TransformSweep({kind}, {len(self._values)} values, layer={self._layer!r}, grid={self.grid}, "
                f"ships {wire.fmt_bytes(self.payload_bytes)})")


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


def _chart_png(xs, ys, mean, *, width, height, lo, hi, xlabel, title, scale: float = 1.0) -> Image.Image:
    """A plain line chart: similarity against transform value, gaps where NaN, dashed mean.
    ``width`` and ``height`` are in output pixels; text, margins and lines are sized at scale 1
    (from ``height / scale``) and multiplied by ``scale``."""
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
