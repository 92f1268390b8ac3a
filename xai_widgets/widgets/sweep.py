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
from functools import partial
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..core import wire
from ..similarity.maps import colour_range
from ..similarity.transforms import KINDS
from .base import STATIC, OverlayWidget
from .checks import PanelSize, Refused, is_index, validates, at_least, print_scale
from .sweep_payload import display_copies, sweep_state
from .sweep_picture import sweep_figure

__all__ = ["TransformSweep", "DEFAULT_VALUES"]


#: Values used when ``values`` is not given: every 15 degrees up to a half turn; zoom
#: factors from half size to double size (denser below 1, where the zero border grows).
DEFAULT_VALUES = {
    "rotate": [float(v) for v in range(0, 181, 15)],
    "scale": [0.5, 0.625, 0.75, 0.875, 1.0, 1.25, 1.5, 1.75, 2.0],
}


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
        self._state = sweep_state(model, image, layer, kind, values, correspondence=correspondence,
                                  preprocess=preprocess, layouts=layouts, size=self.size, max_bytes=self.max_bytes)
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
        computed from exactly the float16 vectors the browser has.

        Parameters
        ----------
        row, col : int
            The cell in the original's activation grid (see ``grid``).

        Returns
        -------
        torch.Tensor
            V values, one per transform value (a copy of the shipped curve).

        Raises
        ------
        ValueError
            If ``row`` or ``col`` is not an integer inside the grid.
        """
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
        shaded by.

        Parameters
        ----------
        copy : int or None
            An index into ``values``, or None for the original.
        row, col : int
            The query cell in the original's activation grid (see ``grid``).

        Returns
        -------
        torch.Tensor
            h x w float32 similarities (dot products of the shipped vectors, summed in
            float64).

        Raises
        ------
        ValueError
            If ``row`` or ``col`` is not an integer inside the grid, or ``copy`` is neither
            None nor an index into ``values``.
        """
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

        Parameters
        ----------
        query : dict or None, optional
            The query cell ``{"row", "col"}`` of the original's grid. Default None: the
            pinned query, else the centre cell.
        panel : int, optional
            Long side of each image panel in pixels at ``scale=1``, at least 16. Default 240.
        opacity : float or None, optional
            Overlay opacity in [0, 1]. Default None: the ``opacity`` trait.
        columns : int or None, optional
            Copies per row. Default None: balanced rows of at most 6.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.0.

        Returns
        -------
        PIL.Image.Image
            The figure.

        Raises
        ------
        Refused
            If ``query``, ``opacity``, ``scale`` or ``panel`` is not accepted (a ``ValueError``).
        ValueError
            If the query cell is not inside the grid.
        """
        q = self._check_query(query or self.query or self._default_query())
        row, col = q["row"], q["col"]
        opacity = self.opacity if opacity is None else type(self).opacity.validate(self, opacity)
        scale = print_scale(scale)
        panel = int(at_least("panel", panel, 16))
        lo, hi = colour_range(self.colormap, *self.vrange)
        maps = [self.similarity_map(None if k < 0 else k, row, col).numpy() for k in range(-1, len(self._values))]
        st = self._state
        matches = [(int(st["rows"][k, row, col]), int(st["cols"][k, row, col])) if st["valid"][k, row, col] else None
                   for k in range(len(self._values))]
        chart = dict(xs=self._values, ys=self.similarity_curve(row, col).numpy(), mean=st["mean"], lo=lo, hi=hi,
                     xlabel=st["data"]["axis"], title=f"{self._layer}: cell ({row}, {col})")
        copies_of = partial(display_copies, kind=self._kind, values=self._values, correspondence=self._correspondence)
        return sweep_figure(self._image, st["input_hw"], copies_of, ["original"] + st["titles"], maps, self.grid,
                            (row, col), matches, chart,
                            colormap=self.colormap, lo=lo, hi=hi, opacity=opacity, panel=panel, columns=columns,
                            scale=scale)

    def _card_parts(self) -> dict:
        """The card: the layer and transform swept, how to read the copies' shading and the chart."""
        kind = self._kind if isinstance(self._kind, str) else f"custom ({getattr(self._kind, '__name__', 'callable')})"
        unit = {"rotate": "degrees, counter-clockwise", "scale": "zoom factor about the centre"}.get(self._kind, "")
        q = self.query
        query = f"cell (row {q['row']}, col {q['col']})" if q else "none pinned: the hovered cell"
        return {
            "question": "Does the layer represent a patch the same way once the image is rotated or zoomed?",
            "explanandum": {"layer": self._layer, "grid": f"{self.grid[0]} x {self.grid[1]} cells",
                            "query": query},
            "explainer": {"method": "Interactive Similarity Overlays, geometric transformations (Fong, Mordvintsev, "
                                    "Vedaldi and Olah, VISxAI 2021)",
                          "transform": kind, "values": self._values, "unit": unit or "as the transform defines",
                          "fill": "zero outside the transformed image"},
            "interpretation": {**self._scale_card("cosine similarity of each copy's cells to the query cell of "
                                                  "the original"),
                               "outline": "the cell of each copy showing the query cell's content",
                               "chart": "similarity to that cell against the transform value (dashed: the mean "
                                        "over all cells)",
                               "hover": "a cell of the original becomes the query; click pins it"},
        }

    def __repr__(self) -> str:
        kind = self._kind if isinstance(self._kind, str) else "custom"
        return (f"TransformSweep({kind}, {len(self._values)} values, layer={self._layer!r}, grid={self.grid}, "
                f"ships {wire.fmt_bytes(self.payload_bytes)})")
