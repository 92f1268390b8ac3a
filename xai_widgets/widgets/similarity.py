"""``SimilarityOverlay``: hover a patch, see how similar every patch of every image is.

Fong, Mordvintsev, Vedaldi and Olah, "Interactive Similarity Overlays", VISxAI 2021.
The kernel runs the model once, ships unit-normalised float16 activations, and the
browser computes the dot products for each hovered cell, so hovering never calls the
kernel. The numbers the browser shades are returned by :meth:`similarity_map`.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..core import wire
from ..similarity.factorize import Factors, activation_factors
from ..similarity.maps import synced_cell
from ..similarity.projection import SIMILARITIES
from .base import PREVIEW_SIDE, STATIC, OverlayWidget
from .checks import Index, PanelSize, Refused, index_in, is_index, validates, at_least, print_scale
from .similarity_payload import (HOVER_PRECISIONS, capture_rows, factor_strengths, factors_payload, overlay_inputs,
                                 overlay_state,
                                 reduction_message)
from .similarity_picture import similarity_figure

__all__ = ["SimilarityOverlay", "factor_strengths"]


def _dots(vectors: list[np.ndarray], q: np.ndarray) -> torch.Tensor | list[torch.Tensor]:
    """Dot products of ``q`` with every image's h x w x C vectors: one N x h x w tensor when every
    image has the same grid size, else the list of h x w tensors."""
    maps = [torch.from_numpy(m @ q) for m in vectors]
    return torch.stack(maps) if len({tuple(m.shape) for m in maps}) == 1 else maps


def _checked_query(q, rows: list[str], n_images: int, grid: Callable, prefix_names: Callable) -> dict | None:
    """Query ``q`` as the widget holds it, or :class:`~.checks.Refused` saying what is accepted;
    ``grid(image, row)`` and ``prefix_names(row)`` describe the rows shown."""
    if q is None:
        return None
    keys = set(q) if isinstance(q, dict) else None
    if keys not in ({"image", "layer", "row", "col"}, {"image", "layer", "token"}):
        raise Refused(
            "query must be None, a dict with keys image, layer, row, col (a patch) or with keys "
            f"image, layer, token (a prefix token of a token layer); got {q!r:.80}"
        )
    layer = q["layer"]
    if not isinstance(layer, str) or layer not in rows:
        raise Refused(f"query layer {layer!r:.80} is not shown; shown rows: {rows}")
    image = index_in("query image", q["image"], n_images, "an image index")
    if "token" in q:
        names = prefix_names(layer)
        if not is_index(q["token"]) or not 0 <= q["token"] < len(names):
            have = f"prefix tokens {names}" if names else "no prefix tokens"
            raise Refused(f"query token {q['token']!r}: layer {layer!r} has {have}")
        return {"image": image, "layer": layer, "token": int(q["token"])}
    h, w = grid(image, layer)
    row, col = q["row"], q["col"]
    if not (is_index(row) and is_index(col)):
        raise Refused(f"query row and col must be integers, got {row!r:.40}, {col!r:.40}")
    if not (0 <= row < h and 0 <= col < w):
        raise Refused(f"query cell ({row}, {col}) is outside the {h}x{w} grid of {layer!r}")
    return {"image": image, "layer": layer, "row": int(row), "col": int(col)}


class SimilarityOverlay(OverlayWidget):
    """Interactive similarity overlays over one or more images and layers of a live model.

    Parameters
    ----------
    model : nn.Module or dict of name -> nn.Module
        Any PyTorch model, on any device; it is run once per distinct input size, in eval
        mode, and left exactly as given. Several models (``{"trained": m1, "random init":
        m2}``) are shown one block of rows each, all driven by one shared query.
    images : sequence
        PIL images, numpy arrays or tensors, any size and aspect, RGB or greyscale
        (see :mod:`xai_widgets.core.images`).
    layers : str, sequence of str, or dict of model name -> layers
        Layer names (``xw.layers(model, x)`` lists them); one row of panels per layer. With
        several models, a dict gives each model its own layers (a plain list applies to all);
        rows are then named ``"model/layer"``.
    preprocess : callable, optional
        PIL image -> C x H x W tensor. Default: [0, 1] floats, channels matched to the model.
    titles : sequence of str, optional
        One title per image (default ``image 0``, ``image 1``, ...).
    colormap : "gray" | "viridis" | "diverging", optional
        Default: "gray" over [0, 1] when all activations are non-negative (post-ReLU, so
        cosines are in [0, 1]), otherwise "diverging" over [-1, 1]. The diverging map is
        always drawn symmetric about 0 (over [-m, m], m the larger of |lo| and |hi|, for a
        fixed and for the auto range), so its neutral grey means 0: orthogonal vectors
        (:func:`xai_widgets.similarity.colour_range`); the legend's caption says so.
    vrange : (lo, hi), optional
        Fixed colour range, the same for every image and layer so they can be compared.
    auto_range : bool
        Use the min and max of the shaded values instead of ``vrange``.
    opacity : float
        Overlay opacity, 0 to 1 (default 0.7, the reference package's).
    size : int
        The LARGEST long side of an image panel, in CSS pixels (and the resolution of the
        display pixels shipped). Panels shrink to the width of the output, down to 96 px;
        when the images do not fit in one row at that size they wrap into groups, each group
        showing its images' titles and then every layer row for those images. The layout
        chosen is stated in the widget's details line.
    similarity : "cosine" | "dot" | "centred"
        Cosine (default, Fong et al.'s choice: direction only); plain dot product (magnitude
        counts too: strongly active cells dominate; auto range by default); or cosine after
        subtracting the mean activation vector of all shown cells (removes the shared
        component that makes every post-ReLU cosine positive; signed, diverging map).
    max_bytes : int
        Payload budget for activations and pixels. Over it, with ``reduce=True`` (default)
        each row's vectors are projected onto as few principal directions as keep at least
        95% of query cells (every cell is one) at map correlation >= ``min_fidelity`` (0.99)
        with the full-precision maps, and ``w.reduction`` reports what was done, the
        distribution and the 10 worst query cells; if that still does not fit, or with
        ``reduce=False``, construction refuses with a ValueError saying what to change.
    layouts : dict, optional
        ``{layer: "NCHW" | "NHWC" | xw.Tokens(prefix, grid)}`` for layers whose layout is
        not detected (see :mod:`xai_widgets.core.layouts`); with several models, a dict per model.
        A token layer (ViT) is shown as its patch grid; its prefix tokens (class,
        distillation, register tokens) are shipped too and shown apart, under each image.
    hover_precision : "auto" | "float16" | "int8"
        What the view ships and the browser multiplies on each pointer move. "float16": the
        unit vectors, summed in float32. "int8": 8-bit codes of them, one scale per vector
        (half the bytes to ship and to read per hover, integer arithmetic: the kernel is about
        2.5x faster), whose similarities are within about 2e-3 of the float16 ones (the bound
        is in ``similarity_map``). "auto" (default) takes codes from 8 MiB of float16 vectors,
        where a float16 hover costs about a millisecond per move. Either way ``similarity_map``
        gives the numbers the browser shades, and ``max_bytes`` counts the vectors at float16.
        ``w.hover_precision`` says which the view uses.

    The pinned query is ``w.query``: a patch ``{"image", "layer", "row", "col"}``, a prefix
    token of a token layer ``{"image", "layer", "token"}`` (its own row is shaded), or None;
    setting it from Python pins it in the view. Changing ``w.images`` or ``w.layers`` recomputes.
    """

    _esm = STATIC / "similarity.js"

    _css = STATIC / "similarity.css"
    auto_range = traitlets.Bool(False).tag(sync=True)
    show_worst = traitlets.Bool(False).tag(sync=True)  # outline the cells the reduction serves worst
    size = PanelSize(192).tag(sync=True)
    _factors = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    factor_focus = Index(-1).tag(sync=True)

    _browser_traits = frozenset({"query", "colormap", "vrange", "auto_range", "opacity", "factor_focus", "show_worst"})

    def __init__(
        self,
        model: nn.Module | dict[str, nn.Module],
        images: Sequence,
        layers: str | Sequence[str] | dict,
        *,
        preprocess: Callable | None = None,
        titles: Sequence[str] | None = None,
        colormap: str | None = None,
        vrange: Sequence[float] | None = None,
        auto_range: bool = False,
        opacity: float = 0.7,
        size: int = 192,
        similarity: str = "cosine",
        max_bytes: int = 64 * wire.MiB,
        reduce: bool = True,
        min_fidelity: float = 0.99,
        layouts: dict | None = None,
        hover_precision: str = "auto",
    ):
        models = model if isinstance(model, dict) else {"": model}
        if not models or not all(isinstance(m, nn.Module) for m in models.values()):
            raise TypeError(f"model must be a torch.nn.Module or a dict of them, got {model!r:.80}")
        self.models = models
        self.preprocess = preprocess
        self.max_bytes = at_least("max_bytes", max_bytes)
        self.reduce, self.min_fidelity = bool(reduce), float(min_fidelity)
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        self._similarity = similarity
        if hover_precision not in HOVER_PRECISIONS:
            raise ValueError(f"hover_precision must be one of {HOVER_PRECISIONS}, got {hover_precision!r:.40}")
        self._hover_precision = hover_precision
        self._titles = titles
        self._layouts = layouts
        # The traits check opacity, size, vrange and colormap before any work.
        super().__init__(opacity=opacity, size=size, auto_range=auto_range,
                         **({} if vrange is None else {"vrange": list(vrange)}),
                         **({} if colormap is None else {"colormap": colormap}))
        self._images: list = []
        self._layers = None  # as the user gave them
        self._rows: list[tuple[str, str, str]] = []  # (row name, model key, layer name)
        self._state: dict = {}
        self._apply(images, layers)
        signed = self._state["negative"]
        self.colormap = colormap or ("diverging" if signed else "gray")
        self.vrange = list(vrange) if vrange is not None else ([-1.0, 1.0] if signed else [0.0, 1.0])
        if similarity == "dot" and vrange is None:
            self.auto_range = True  # dot products have no natural fixed range

    # ----------------------------------------------------------------- inputs
    @property
    def images(self) -> list:
        """The images shown; assign a new sequence to recompute."""
        return list(self._images)

    @images.setter
    def images(self, images: Sequence) -> None:
        """Show new images (one recomputation; on error nothing changes).

        Parameters
        ----------
        images : sequence
            PIL images, numpy arrays or tensors (see :mod:`xai_widgets.core.images`), at
            least one.
        """
        self._apply(images, self._layers)

    @property
    def layers(self):
        """The layers shown, as given (a list, or a dict per model); assign to recompute."""
        return list(self._layers) if isinstance(self._layers, list) else dict(self._layers)

    @layers.setter
    def layers(self, layers) -> None:
        """Show new layers (one recomputation; on error nothing changes).

        Parameters
        ----------
        layers : str, sequence of str, or dict of model name -> layers
            As the constructor's ``layers``.
        """
        self._apply(self._images, layers)

    @property
    def similarity(self) -> str:
        """The similarity the view shades: "cosine", "dot" or "centred" (set at construction)."""
        return self._similarity

    @property
    def hover_precision(self) -> str:
        """What the browser's hover multiplies for the current inputs: "float16" or "int8"
        (``hover_precision="auto"`` decides by the vectors' size)."""
        return "int8" if self._data["hover_codes"] else "float16"

    @property
    def titles(self) -> list[str]:
        """The images' titles, in order (set them with ``set_inputs(titles=...)``)."""
        return [str(t) for t in self._state["titles"]]

    @property
    def payload_bytes(self) -> int:
        """Bytes shipped to the browser: activation vectors, prefix tokens and display pixels."""
        return int(self._state["bytes"])

    @property
    def rows(self) -> list[str]:
        """The names of the rows shown: layer names, or ``"model/layer"`` with several models."""
        return [row for row, _, _ in self._rows]

    def set_inputs(self, images: Sequence | None = None, layers=None, titles=None) -> None:
        """Change images, layers and titles together (one recomputation).

        On error nothing changes. The pinned query and the factor groups are cleared.

        Parameters
        ----------
        images : sequence or None, optional
            New images (see :mod:`xai_widgets.core.images`). Default None: keep them.
        layers : str, sequence of str, dict or None, optional
            New layers, as the constructor's ``layers``. Default None: keep them.
        titles : sequence of str or None, optional
            One title per image. Default None: keep the titles given before (if none were,
            ``image 0``, ``image 1``, ...).

        Raises
        ------
        ValueError
            If the inputs are invalid or the payload exceeds ``max_bytes`` even after the
            reduction allowed.
        """
        if titles is not None:
            self._titles = titles
        self._apply(self._images if images is None else images, self._layers if layers is None else layers)

    def _apply(self, images: Sequence, layers) -> None:
        """Compute everything for new inputs, then commit; on error nothing changes."""
        images, layers, rows, titles = overlay_inputs(self.models, images, layers, self._titles)
        state = overlay_state(self.models, images, rows, titles, preprocess=self.preprocess, layouts=self._layouts,
                              size=self.size, similarity=self._similarity, max_bytes=self.max_bytes,
                              reduce=self.reduce, min_fidelity=self.min_fidelity,
                              hover_precision=self._hover_precision)
        self._images, self._layers, self._rows, self._state = images, layers, rows, state
        self.query = None
        self._factors = None
        self.factor_focus = -1
        self._data = state["data"]
        self.message = reduction_message(state["reduction"])

    @property
    def reduction(self) -> dict:
        """Per row projected to fit the budget (empty if none): ``{"d", "channels", "fidelity",
        "mean", "min", "criterion", "queries", "worst"}``. Every cell (and prefix token) with a
        defined map is a query; ``fidelity`` is the 5th percentile of the per-query correlation
        between reduced and full-precision maps, the figure ``min_fidelity`` was enforced on (at
        least 95% of query cells reach it); ``mean`` and ``min`` of the same correlations;
        ``queries`` how many; ``worst`` the 10 lowest, lowest first, as ``{"image", "row", "col",
        "correlation"}`` for a patch or ``{"image", "token", "correlation"}`` for a prefix token.
        The browser gets the same dict as ``_data["layers"][j]["reduction"]``."""
        return {row: {**r, "worst": [dict(c) for c in r["worst"]]} for row, r in self._state["reduction"].items()}

    # ---------------------------------------------------------------- queries
    def grid(self, image: int, layer: str) -> tuple[int, int]:
        """The (rows, cols) of ``image``'s activation grid at ``layer``.

        Parameters
        ----------
        image : int
            The image's index.
        layer : str
            A row name (see ``rows``).

        Returns
        -------
        tuple of (int, int)
            ``(h, w)``.

        Raises
        ------
        ValueError
            If ``layer`` is not a row shown or ``image`` is not an index in range.
        """
        if layer not in self._state["payloads"]:
            raise ValueError(f"unknown layer {layer!r}; this view shows {self.rows}")
        if not (is_index(image) and 0 <= image < len(self._images)):
            raise ValueError(f"image must be an index in 0..{len(self._images) - 1}, got {image!r}")
        h, w, _ = self._state["payloads"][layer][image]["shape"]
        return h, w

    @validates("query")
    def _validate_query(self, proposal):
        return self._check_query(proposal["value"])

    def _check_query(self, q) -> dict | None:
        """A query as the widget holds it, or :class:`~.checks.Refused` saying what is accepted."""
        return _checked_query(q, self.rows, len(self._images), self.grid, self.prefix_names)

    def prefix_names(self, layer: str) -> list[str]:
        """The prefix tokens of a token layer (``["class"]`` for a ViT), [] for other layers.

        Parameters
        ----------
        layer : str
            A row name (see ``rows``).

        Returns
        -------
        list of str
            The prefix tokens' names, in order.

        Raises
        ------
        ValueError
            If ``layer`` is not a row shown.
        """
        if layer not in self._state["payloads"]:
            raise ValueError(f"unknown layer {layer!r}; this view shows {self.rows}")
        return list(self._state["prefix_names"][layer]) if layer in self._state["prefix_payloads"] else []

    def token_map(self, image: int, layer: str, token: int) -> torch.Tensor | list[torch.Tensor]:
        """Similarity of prefix token ``token`` of ``image`` (e.g. the class token) to every
        patch of every image at ``layer``: N x h x w (a list for different grid sizes), the
        numbers the browser shades when that token is hovered.

        Parameters
        ----------
        image : int
            The image whose token is the query.
        layer : str
            A row name of a token layer (see ``rows``).
        token : int
            The prefix token's index (see :meth:`prefix_names`).

        Returns
        -------
        torch.Tensor or list of torch.Tensor
            N x h x w float32, or one h_n x w_n tensor per image when the grid sizes differ.

        Raises
        ------
        Refused
            If the image, layer or token is not shown (a ``ValueError``).
        """
        self._check_query({"image": image, "layer": layer, "token": token})
        q = self._decoded(layer, "prefix_payloads")[image][token]
        return _dots(self._decoded(layer), q)

    def token_scores(self, image: int, layer: str, row: int, col: int) -> torch.Tensor:
        """Similarity of patch (row, col) of ``image`` to every image's prefix tokens: N x P,
        the numbers the browser shades the token chips with while that patch is hovered.

        Parameters
        ----------
        image : int
            The image whose patch is the query.
        layer : str
            A row name of a token layer (see ``rows``).
        row, col : int
            The patch in the layer's grid.

        Returns
        -------
        torch.Tensor
            N x P float32, one score per image and prefix token.

        Raises
        ------
        Refused
            If the image, layer or cell is not shown (a ``ValueError``).
        ValueError
            If ``layer`` has no prefix tokens.
        """
        self._check_query({"image": image, "layer": layer, "row": row, "col": col})
        if not self.prefix_names(layer):
            raise ValueError(f"layer {layer!r} has no prefix tokens")
        q = self._decoded(layer)[image][row, col]
        return torch.stack([torch.from_numpy(p @ q) for p in self._decoded(layer, "prefix_payloads")])

    def query_cells(self, image: int, layer: str, row: int, col: int) -> dict[str, tuple[int, int]]:
        """The query cell in every shown layer: the same image location (cell centre) as (row, col).

        Parameters
        ----------
        image : int
            The image's index.
        layer : str
            The row name the cell belongs to (see ``rows``).
        row, col : int
            The cell in that row's grid (not checked; the result is clamped to each grid).

        Returns
        -------
        dict of str to tuple of (int, int)
            ``{row name: (row, col)}`` for every row shown
            (:func:`xai_widgets.similarity.maps.synced_cell`).

        Raises
        ------
        ValueError
            If ``layer`` is not a row shown or ``image`` is not an index in range.
        """
        src = self.grid(image, layer)
        return {name: synced_cell(row, col, src, self.grid(image, name)) for name in self.rows}

    def similarity_map(self, image: int, layer: str, row: int, col: int) -> torch.Tensor | list[torch.Tensor]:
        """Similarity (cosine by default) of every cell of every image to cell (row, col) of ``image`` at ``layer``.

        Computed from exactly the float16 unit vectors shipped to the browser, so these are
        the numbers it shades. Both sum the C products in float32, in different orders; each
        is within C * 2^-24 * sum_k |q_k v_k| of the exact sum (the browser's, which adds the
        dot products of the two halves of the channels, within (ceil(C / 2) / 16 + 20) * 2^-24
        of it), so for unit vectors they agree to about 1e-6 at C = 512.
        With ``hover_precision`` "int8" the view ships 8-bit codes of those vectors
        (:mod:`xai_widgets.similarity.codes`): these are then the similarities of the vectors the
        codes stand for (codes times scales, summed in float32), and the browser's, an exact
        integer sum times both scales, agree with them to about 1e-6 too. Against the float16
        vectors' similarities the codes move them by at most (s_q / 2) sum_k |v_k| +
        (s_v / 2) sum_k |s_q c_q,k|: at most 2e-3 in the four stages of a ResNet-18.
        Returns an N x h x w tensor, or a list of h_n x w_n tensors when the images have
        different grid sizes at this layer.

        Parameters
        ----------
        image : int
            The image whose cell is the query.
        layer : str
            A row name (see ``rows``).
        row, col : int
            The query cell in the layer's grid.

        Returns
        -------
        torch.Tensor or list of torch.Tensor
            N x h x w float32 similarities, or one h_n x w_n tensor per image.

        Raises
        ------
        Refused
            If the image, layer or cell is not shown (a ``ValueError``).
        """
        self._check_query({"image": image, "layer": layer, "row": row, "col": col})
        vectors = self._decoded(layer)
        return _dots(vectors, vectors[image][row, col])

    def _decoded(self, layer: str, which: str = "payloads") -> list[np.ndarray]:
        """The shipped vectors of ``layer`` (``which="prefix_payloads"``: its P x C prefix tokens)
        as float32 arrays (8-bit codes times their scales), decoded once per input change."""
        cache = self._state.setdefault("decoded", {}).setdefault(which, {})
        if layer not in cache:
            vectors = [wire.decode(p) for p in self._state[which][layer]]
            if self._state["scales"] is not None:
                scales = self._state["scales"][which][layer]
                vectors = [v * wire.decode(s)[..., None] for v, s in zip(vectors, scales)]
            cache[layer] = vectors
        return cache[layer]

    # ---------------------------------------------------------------- factors
    def factors(self, layer: str, k: int = 4, **options) -> Factors:
        """NMF groups of the activations of row ``layer`` over every cell of every image.

        The matrix-factorisation companion of the overlays (Fong et al. 2021); computed in
        torch on the model's device by
        :func:`xai_widgets.similarity.factorize.activation_factors` (``options`` go to it). Deterministic,
        so this returns the factorisation :meth:`show_factors` displays.

        The models are run again for this row; results are cached per (row, k, options)
        until the inputs change.

        Parameters
        ----------
        layer : str
            A row name (see ``rows``).
        k : int, optional
            Number of groups. Default 4.
        **options
            Keywords of ``activation_factors``: ``negative``, ``iters``, ``tol``, ``seed``,
            ``init``.

        Returns
        -------
        Factors
            ``maps`` (N x k x h x w), ``components``, ``error`` and ``negative``.

        Raises
        ------
        ValueError
            If ``layer`` is not a row shown, the images' grids differ in size at this
            layer, or ``activation_factors`` refuses ``k`` or an option.
        """
        spec = [r for r in self._rows if r[0] == layer]
        if not spec:
            raise ValueError(f"unknown row {layer!r}; this view shows {self.rows}")
        key = (layer, k, tuple(sorted(options.items())))
        cache = self._state.setdefault("factors", {})
        if key not in cache:
            maps = capture_rows(self.models, self._images, spec, self.preprocess, self._layouts)[0][layer]
            if len({tuple(m.shape) for m in maps}) != 1:
                raise ValueError("factor groups need images with the same grid size at this layer; "
                                 "resize the images or pass a preprocess that does")
            cache[key] = activation_factors(torch.stack(maps), k, **options)
        return cache[key]

    def show_factors(self, layer: str | None, k: int = 4, **options) -> Factors | None:
        """Colour every image of row ``layer`` by its NMF groups (``None`` hides them).

        Each cell takes the colour of its strongest group, with an opacity that grows with
        that group's strength relative to the group's maximum over all images
        (``factor_strengths``); clicking a group in the legend (``factor_focus``) shows it alone.

        Parameters
        ----------
        layer : str or None
            A row name (see ``rows``), or None to hide the groups.
        k : int, optional
            Number of groups. Default 4.
        **options
            Keywords of ``activation_factors`` (see :meth:`factors`).

        Returns
        -------
        Factors or None
            The factorisation shown; None when ``layer`` is None.

        Raises
        ------
        ValueError
            As :meth:`factors`.
        """
        if layer is None:
            self._factors = None
            return None
        result = self.factors(layer, k, **options)
        payload = factors_payload(layer, result)
        self.factor_focus = -1
        self._factors = payload
        return result

    @validates("factor_focus")
    def _validate_factor_focus(self, proposal):
        f = proposal["value"]
        k = self._factors["k"] if self._factors else 0
        if not -1 <= f < k:
            raise Refused(f"factor_focus must be -1 (all) or a group index below {k}, got {f}")
        return f

    # ---------------------------------------------------------------- reports
    def _preview_panel(self) -> int:
        # one row of images in PREVIEW_SIDE px, beside a layer-label column of about 120 px
        return min(super()._preview_panel(), max(32, (PREVIEW_SIDE - 120) // len(self._images) - 6))

    def render_png(self, query: dict | None = None, panel: int = 400, opacity: float | None = None,
                   scale: float = 1.0, columns: int | None = None, show_worst: bool | None = None) -> Image.Image:
        """The view as a PIL image: titles, images, overlays, query marks, layer labels and the legend.

        ``query`` defaults to the pinned query, else the centre cell of image 0 at the first
        layer; a prefix-token query (``{"image", "layer", "token"}``) shades its own row.
        ``panel`` is the long side of each image panel in pixels at ``scale=1``; ``scale``
        multiplies every length (panels, text, lines, margins): ``scale=2`` gives the same
        picture at twice the width and height. ``columns`` wraps the images into groups of
        that many, each group its titles then every layer row, as the browser does when the
        images do not fit one row (default: one row). ``show_worst=True`` (default: the view's
        ``w.show_worst``, its "worst cells" toggle) outlines in magenta, in
        each row projected to fit the budget, its 10 worst query cells (``w.reduction[row]["worst"]``;
        prefix tokens among them are not drawn, the figure has no token strip).

        Parameters
        ----------
        query : dict or None, optional
            A patch ``{"image", "layer", "row", "col"}`` or a prefix token ``{"image",
            "layer", "token"}``. Default None: the pinned query, else the centre cell of
            image 0 at the first row.
        panel : int, optional
            Long side of each image panel in pixels at ``scale=1``, at least 16. Default 400.
        opacity : float or None, optional
            Overlay opacity in [0, 1]. Default None: the ``opacity`` trait.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.0.
        columns : int or None, optional
            Images per group when wrapping. Default None: one row.
        show_worst : bool or None, optional
            Outline each reduced row's 10 worst query cells. Default None: the
            ``show_worst`` trait.

        Returns
        -------
        PIL.Image.Image
            The figure.

        Raises
        ------
        TypeError
            If ``show_worst`` is not a bool.
        Refused
            If ``query``, ``opacity``, ``scale`` or ``panel`` is not accepted.
        """
        show_worst = self.show_worst if show_worst is None else show_worst
        if not isinstance(show_worst, bool):
            raise TypeError(f"show_worst must be True or False, got {show_worst!r}")
        q = query or self.query or self._default_query()
        q = self._check_query(q)
        opacity = self.opacity if opacity is None else type(self).opacity.validate(self, opacity)
        scale = print_scale(scale)
        panel = int(at_least("panel", panel, 16))
        if "token" in q:  # a prefix token's query shades its own row only: other rows have no such token
            cells = {}
            maps = {q["layer"]: self.token_map(q["image"], q["layer"], q["token"])}
        else:
            cells = self.query_cells(q["image"], q["layer"], q["row"], q["col"])
            maps = {name: self.similarity_map(q["image"], name, *cells[name]) for name in self.rows}
        return similarity_figure(
            self._images, self._state["input_hw"], self._state["titles"],
            {name: [self.grid(n, name) for n in range(len(self._images))] for name in self.rows}, maps,
            query_image=q["image"], cells=cells, colormap=self.colormap, vrange=self.vrange,
            auto_range=self.auto_range, opacity=opacity, similarity=self._similarity, panel=panel, scale=scale,
            columns=columns, worst=self._state["reduction"] if show_worst else None)

    def _card_models(self) -> dict:
        return dict(self.models)

    def _card_parts(self) -> dict:
        """The card: the rows and images shown, the similarity and reduction, how to read the shading."""
        reduced = {row: f"{r['d']} of {r['channels']} directions, fidelity {r['fidelity']:.3g}"
                   for row, r in self._state["reduction"].items()}
        measure = {"cosine": "cosine similarity", "dot": "dot product",
                   "centred": "cosine after subtracting the mean activation vector"}[self._similarity]
        return {
            "question": "Which positions, in every image and layer shown, does the model represent like the "
                        "queried position?",
            "explanandum": {"layers": self.rows, "images": f"{len(self._images)}: " + ", ".join(self.titles),
                            "query": _query_text(self.query)},
            "explainer": {"method": "Interactive Similarity Overlays (Fong, Mordvintsev, Vedaldi and Olah, "
                                    "VISxAI 2021)",
                          "similarity": self._similarity, "reduce": self.reduce, "min fidelity": self.min_fidelity,
                          "payload budget": wire.fmt_bytes(self.max_bytes), "hover precision": self.hover_precision,
                          "reduction": reduced or "none: full activation vectors shipped"},
            "interpretation": {**self._scale_card(f"{measure} of each cell's activation vector to the query "
                                                  "cell's, at the same layer"),
                               "hover": "shades every cell by its similarity to the hovered cell",
                               "click": "pins the query (arrow keys move it)"},
        }

    def _default_query(self) -> dict:
        layer = self.rows[0]
        h, w = self.grid(0, layer)
        return {"image": 0, "layer": layer, "row": h // 2, "col": w // 2}

    def __repr__(self) -> str:
        return (f"SimilarityOverlay({len(self._images)} images, rows={self.rows}, "
                f"ships {wire.fmt_bytes(self.payload_bytes)})")


def _query_text(q: dict | None) -> str:
    """The pinned query in words, for the card."""
    if q is None:
        return "none pinned: the hovered cell"
    where = f"token {q['token']}" if "token" in q else f"cell (row {q['row']}, col {q['col']})"
    return f"image {q['image']}, layer {q['layer']}, {where}"
