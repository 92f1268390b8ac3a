"""``SimilarityOverlay``: hover a patch, see how similar every patch of every image is.

Fong, Mordvintsev, Vedaldi and Olah, "Interactive Similarity Overlays", VISxAI 2021.
The kernel runs the model once, ships unit-normalised float16 activations, and the
browser computes the dot products for each hovered cell, so hovering never calls the
kernel. The numbers the browser shades are returned by :meth:`similarity_map`.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image, ImageDraw
from torch import nn

from ..core import colormaps, render, wire
from ..core.capture import capture_maps
from ..similarity.factorize import Factors, activation_factors
from ..core.images import as_image_list, check_input_size, display_pixels, model_input, panel_pixels
from ..core.layouts import prefix_names
from ..similarity.projection import SIMILARITIES, QueryCorrelations, Reduction, reduce_to_budget
from ..similarity.maps import colour_range, half_vectors, synced_cell
from .base import PREVIEW_SIDE, STATIC, OverlayWidget
from .checks import Index, PanelSize, Refused, index_in, is_index, validates, at_least, print_scale

__all__ = ["SimilarityOverlay", "factor_strengths"]



def _nbytes(vectors: dict) -> int:
    """float16 bytes of {row: ([h x w x C per image], [P x C or None per image])}."""
    return sum(t.numel() * 2 for pair in vectors.values() for part in pair for t in part if t is not None)


def _no_subnormals(halves: torch.Tensor) -> torch.Tensor:
    """A contiguous copy with float16 subnormals set to 0, as :func:`half_vectors` makes them (the
    browser's hover kernel multiplies subnormals slowly on x86)."""
    out = halves.contiguous().clone()
    return out.masked_fill_(wire.subnormal_halves(out), 0)


def _has_negative(halves: torch.Tensor) -> bool:
    """Whether a float16 tensor holds a value below 0 (read from the sign bits; -0 is not)."""
    bits = halves.view(torch.int16)
    return bool(((bits < 0) & (bits != -32768)).any())


def _all_cells(maps: list[torch.Tensor], prefix: list[torch.Tensor | None] | None = None) -> torch.Tensor:
    """Per-image C x h x w maps (and each image's P x C prefix tokens after its cells) as
    one 1 x C x 1 x (all cells) pseudo-image."""
    prefix = prefix or [None] * len(maps)
    return torch.cat([torch.cat([m.flatten(1)] + ([] if p is None else [p.T]), dim=1)
                      for m, p in zip(maps, prefix)], dim=1)[None, :, None, :]


def _split_cells(cells: torch.Tensor, like: list[torch.Tensor], prefix: list | None = None
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Undo :func:`_all_cells` (the channel count may have changed): h x w x C' maps and
    P x C' prefix tokens (or None) per image."""
    prefix = prefix or [None] * len(like)
    counts = [0 if p is None else len(p) for p in prefix]
    parts = cells[0, :, 0].split([m.shape[1] * m.shape[2] + k for m, k in zip(like, counts)], dim=1)
    maps = [part[:, :part.shape[1] - k].reshape(-1, *m.shape[1:]).permute(1, 2, 0)
            for part, m, k in zip(parts, like, counts)]
    return maps, [part[:, part.shape[1] - k:].T if k else None for part, k in zip(parts, counts)]


def _cell_at(index: int, like: list[torch.Tensor], prefix: list) -> dict:
    """Where cell ``index`` of :func:`_all_cells` lies: ``{"image", "row", "col"}`` for a patch,
    ``{"image", "token"}`` for a prefix token."""
    for image, (m, p) in enumerate(zip(like, prefix or [None] * len(like))):
        h, w = m.shape[1:]
        if index < h * w:
            return {"image": image, "row": index // w, "col": index % w}
        index -= h * w
        tokens = 0 if p is None else len(p)
        if index < tokens:
            return {"image": image, "token": index}
        index -= tokens
    raise IndexError("cell index beyond the last image")


def _reduction_report(r: Reduction, like: list[torch.Tensor], prefix: list) -> dict:
    """What ``w.reduction`` says about one row (see its docstring); JSON-ready."""
    c = r.correlations
    worst = [{**_cell_at(col, like, prefix), "correlation": round(v, 4)} for _, _, col, v in c.worst]
    return {"d": r.d, "channels": r.channels, "fidelity": round(c.fidelity, 4), "mean": round(c.mean, 4),
            "min": round(c.min, 4), "criterion": QueryCorrelations.CRITERION, "queries": c.n_queries, "worst": worst}


def factor_strengths(factors: Factors) -> torch.Tensor:
    """N x k x h x w strengths in [0, 1]: each group's map divided by its maximum over all images."""
    peak = factors.maps.amax(dim=(0, 2, 3), keepdim=True)
    return factors.maps / peak.clamp_min(1e-12)


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
        self._titles = titles
        self._layouts = layouts
        self._prefix_names: dict[str, list[str]] = {}
        # The traits check opacity, size, vrange and colormap before any work.
        super().__init__(opacity=opacity, size=size, auto_range=auto_range,
                         **({} if vrange is None else {"vrange": list(vrange)}),
                         **({} if colormap is None else {"colormap": colormap}))
        self._images: list = []
        self._layers = None  # as the user gave them
        self._rows: list[tuple[str, str, str]] = []  # (row name, model key, layer name)
        self._state: dict = {}
        self._apply(images, layers)
        signed = self._signed()
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
        self._apply(images, self._layers)

    @property
    def layers(self):
        """The layers shown, as given (a list, or a dict per model); assign to recompute."""
        return list(self._layers) if isinstance(self._layers, list) else dict(self._layers)

    @layers.setter
    def layers(self, layers) -> None:
        self._apply(self._images, layers)

    @property
    def similarity(self) -> str:
        """The similarity the view shades: "cosine", "dot" or "centred" (set at construction)."""
        return self._similarity

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

    def _row_specs(self, layers) -> list[tuple[str, str, str]]:
        """(row name, model key, layer name) for every row, validating the layers argument."""
        if isinstance(layers, dict):
            unknown = set(layers) - set(self.models)
            if unknown:
                raise ValueError(f"layers given for unknown models {sorted(unknown)}; models: {sorted(self.models)}")
            per_model = {key: layers.get(key, []) for key in self.models}
        else:
            per_model = {key: layers for key in self.models}
        rows = []
        for key, names in per_model.items():
            names = [names] if isinstance(names, str) else list(names)
            if not all(isinstance(n, str) for n in names):
                raise ValueError(f"layers must be layer names, got {names!r}")
            rows += [(f"{key}/{name}" if key else name, key, name) for name in names]
        if not rows:
            raise ValueError(f"no layers: pass a layer name, a list of names or a dict per model, got {layers!r}")
        names = [row for row, _, _ in rows]
        if len(set(names)) != len(names):
            raise ValueError(f"a layer is listed twice: {names}")
        return rows

    def set_inputs(self, images: Sequence | None = None, layers=None, titles=None) -> None:
        """Change images, layers and titles together (one recomputation)."""
        if titles is not None:
            self._titles = titles
        self._apply(self._images if images is None else images, self._layers if layers is None else layers)

    def _apply(self, images: Sequence, layers) -> None:
        """Compute everything for new inputs, then commit; on error nothing changes."""
        images = as_image_list(images)
        if not images:
            raise ValueError("no images: pass at least one image")
        layers = [layers] if isinstance(layers, str) else layers if isinstance(layers, dict) else list(layers)
        rows = self._row_specs(layers)
        titles = list(self._titles) if self._titles is not None else [f"image {i}" for i in range(len(images))]
        if len(titles) != len(images):
            raise ValueError(f"{len(titles)} titles for {len(images)} images")
        pixel_bytes = len(images) * 3 * self.size * self.size  # checked from shapes, before any forward
        wire.check_budget(pixel_bytes, self.max_bytes,
                          f"the display pixels alone ({len(images)} images at size={self.size}: {wire.fmt_bytes(pixel_bytes)})",
                          "They leave nothing for the activations. Show fewer images, pass a smaller size, "
                          "or raise max_bytes.")
        state = self._compute(images, rows, titles)
        self._images, self._layers, self._rows, self._state = images, layers, rows, state
        self.query = None
        self._factors = None
        self.factor_focus = -1
        self._data = state["data"]
        self.message = "; ".join(
            f"{row}: {r['channels']} channels projected to {r['d']} to fit max_bytes (95% of query cells keep "
            f"map correlation >= {r['fidelity']:.3f}; mean {r['mean']:.3f}, worst {r['min']:.3f})"
            for row, r in state["reduction"].items())

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

    def _activations(self, images: list, rows: list[tuple[str, str, str]]) -> tuple[dict, dict, list]:
        """Raw maps ``{row: [C x h x w per image]}`` and prefix tokens ``{row: [P x C or None
        per image]}`` in float32 on the model's device, and the model inputs of the first
        model (they set the display geometry)."""
        acts_by_row: dict[str, list] = {row: [None] * len(images) for row, _, _ in rows}
        prefix_by_row: dict[str, list] = {row: [None] * len(images) for row, _, _ in rows}
        display_inputs = None
        for key, model in self.models.items():
            wanted = {layer: row for row, k, layer in rows if k == key}
            if not wanted:
                continue
            inputs = [model_input(img, model, self.preprocess, i) for i, img in enumerate(images)]
            for x in inputs:
                check_input_size(x, "SimilarityOverlay")
            display_inputs = display_inputs or inputs
            groups: dict[tuple, list[int]] = defaultdict(list)  # one forward per input size
            for i, x in enumerate(inputs):
                groups[tuple(x.shape)].append(i)
            for idx in groups.values():
                acts = capture_maps(model, torch.cat([inputs[i] for i in idx]), list(wanted),
                                    layouts=self._layouts_for(key))
                for layer, row in wanted.items():
                    self._prefix_names[row] = prefix_names(model, acts[layer].layout)
                    maps, prefix = acts[layer].maps.float(), acts[layer].prefix
                    for k, i in enumerate(idx):
                        acts_by_row[row][i] = maps[k]
                        prefix_by_row[row][i] = None if prefix is None else prefix[k].float()
        return acts_by_row, prefix_by_row, display_inputs

    def _layouts_for(self, key: str) -> dict | None:
        """The ``layouts=`` entries for one model: a per-model dict, or one dict for all."""
        layouts = self._layouts
        if layouts and key in layouts and isinstance(layouts[key], dict):
            return layouts[key]
        return layouts

    def _compute(self, images: list, rows: list[tuple[str, str, str]], titles: list[str]) -> dict:
        raw, prefix, inputs = self._activations(images, rows)
        unit = {row: self._vectors(maps, prefix[row]) for row, maps in raw.items()}
        # signs of the unit vectors are the activations' (before any projection mixes them)
        negative = self._similarity == "centred" or any(_has_negative(m) for maps, _ in unit.values() for m in maps)
        pixel_bytes = len(inputs) * 3 * self.size * self.size
        reduction: dict = {}
        if _nbytes(unit) + pixel_bytes > self.max_bytes:
            if not self.reduce:
                self._check_budget(unit, pixel_bytes)
            unit, reduction = self._reduce(raw, prefix, self.max_bytes - pixel_bytes)
        pixels = [display_pixels(img, x.shape[-2:], self.size, i) for i, (img, x) in enumerate(zip(images, inputs))]
        payloads = {row: [wire.encode(m, "float16") for m in maps] for row, (maps, _) in unit.items()}
        prefix_payloads = {row: [wire.encode(p, "float16") for p in tokens] for row, (_, tokens) in unit.items()
                           if tokens[0] is not None}
        layers = []
        for row in payloads:
            layer = {"name": row, "acts": payloads[row]}
            if row in reduction:
                layer["reduction"] = reduction[row]
            if row in prefix_payloads:
                layer.update(prefix=prefix_payloads[row], prefix_names=self._prefix_names[row])
            layers.append(layer)
        data = {
            "images": [{"title": str(t), "pixels": wire.encode(p, "uint8")} for t, p in zip(titles, pixels)],
            "layers": layers,
            "similarity": self._similarity,
        }
        shipped = sum(wire.payload_bytes(p) for group in (payloads, prefix_payloads) for ps in group.values() for p in ps)
        shipped += sum(wire.payload_bytes(im["pixels"]) for im in data["images"])
        return {"data": data, "payloads": payloads, "prefix_payloads": prefix_payloads, "reduction": reduction,
                "input_hw": [tuple(x.shape[-2:]) for x in inputs], "titles": titles, "negative": negative,
                "bytes": shipped}

    def _vectors(self, maps: list[torch.Tensor], prefix: list) -> tuple[list[torch.Tensor], list]:
        """h x w x C float16 vectors (and P x C prefix tokens) per image whose plain dot
        products are the chosen similarity (one cell = one contiguous vector for the browser),
        written in one pass from the C x h x w maps (:func:`xai_widgets.similarity.half_vectors`).
        "centred" subtracts one mean over every cell and token of every image."""
        mean = None
        if self._similarity == "centred":
            total = sum(m.sum(dim=(1, 2), dtype=torch.float64) for m in maps)
            total = total + sum(p.sum(0, dtype=torch.float64) for p in prefix if p is not None)
            mean = total / sum(m[0].numel() + (0 if p is None else len(p)) for m, p in zip(maps, prefix))
        cells = [half_vectors(m.permute(1, 2, 0), self._similarity, mean) for m in maps]
        tokens = [None if p is None else half_vectors(p, self._similarity, mean) for p in prefix]
        return cells, tokens

    def _reduce(self, raw: dict, prefix: dict, budget: int) -> tuple[dict, dict]:
        """Project every row onto its top principal directions, as few as keep at least 95% of
        query cells at map correlation >= ``min_fidelity`` (see
        :func:`xai_widgets.similarity.projection.reduce_to_budget`)."""
        reductions = reduce_to_budget({row: _all_cells(maps, prefix[row]) for row, maps in raw.items()}, budget,
                                      similarity=self._similarity, min_fidelity=self.min_fidelity)
        vectors = {}
        for row, r in reductions.items():  # float16 like the unreduced rows, one contiguous vector per cell
            maps, tokens = _split_cells(r.payload, raw[row], prefix[row])
            vectors[row] = ([_no_subnormals(m) for m in maps], [None if t is None else _no_subnormals(t) for t in tokens])
        report = {row: _reduction_report(r, raw[row], prefix[row]) for row, r in reductions.items()}
        return vectors, report

    def _check_budget(self, unit: dict, pixel_bytes: int) -> None:
        act_bytes = {name: _nbytes({name: pair}) for name, pair in unit.items()}
        biggest = max(act_bytes, key=act_bytes.get)
        h, w, c = unit[biggest][0][0].shape
        wire.check_budget(
            sum(act_bytes.values()) + pixel_bytes, self.max_bytes, "this view",
            f"The largest layer is {biggest!r} ({h}x{w}x{c} per image, {wire.fmt_bytes(act_bytes[biggest])} in "
            "all). Show fewer images or layers, choose deeper (smaller) layers, use smaller inputs, pass "
            "reduce=True to project channels, or raise max_bytes if the browser can take it.")

    def _signed(self) -> bool:
        return self._state["negative"]

    # ---------------------------------------------------------------- queries
    def grid(self, image: int, layer: str) -> tuple[int, int]:
        """The (rows, cols) of ``image``'s activation grid at ``layer``."""
        h, w, _ = self._payload(layer, image)["shape"]
        return h, w

    def _payload(self, layer: str, image: int) -> dict:
        if layer not in self._state["payloads"]:
            raise ValueError(f"unknown layer {layer!r}; this view shows {self.rows}")
        if not (is_index(image) and 0 <= image < len(self._images)):
            raise ValueError(f"image must be an index in 0..{len(self._images) - 1}, got {image!r}")
        return self._state["payloads"][layer][image]

    @validates("query")
    def _validate_query(self, proposal):
        return self._check_query(proposal["value"])

    def _check_query(self, q) -> dict | None:
        """A query as the widget holds it, or :class:`~.checks.Refused` saying what is accepted."""
        if q is None:
            return None
        keys = set(q) if isinstance(q, dict) else None
        if keys not in ({"image", "layer", "row", "col"}, {"image", "layer", "token"}):
            raise Refused(
                "query must be None, a dict with keys image, layer, row, col (a patch) or with keys "
                f"image, layer, token (a prefix token of a token layer); got {q!r:.80}"
            )
        layer = q["layer"]
        if not isinstance(layer, str) or layer not in self.rows:
            raise Refused(f"query layer {layer!r:.80} is not shown; shown rows: {self.rows}")
        image = index_in("query image", q["image"], len(self._images), "an image index")
        if "token" in q:
            names = self.prefix_names(layer)
            if not is_index(q["token"]) or not 0 <= q["token"] < len(names):
                have = f"prefix tokens {names}" if names else "no prefix tokens"
                raise Refused(f"query token {q['token']!r}: layer {layer!r} has {have}")
            return {"image": image, "layer": layer, "token": int(q["token"])}
        h, w = self.grid(image, layer)
        row, col = q["row"], q["col"]
        if not (is_index(row) and is_index(col)):
            raise Refused(f"query row and col must be integers, got {row!r:.40}, {col!r:.40}")
        if not (0 <= row < h and 0 <= col < w):
            raise Refused(f"query cell ({row}, {col}) is outside the {h}x{w} grid of {layer!r}")
        return {"image": image, "layer": layer, "row": int(row), "col": int(col)}

    def prefix_names(self, layer: str) -> list[str]:
        """The prefix tokens of a token layer (``["class"]`` for a ViT), [] for other layers."""
        if layer not in self._state["payloads"]:
            raise ValueError(f"unknown layer {layer!r}; this view shows {self.rows}")
        return list(self._prefix_names.get(layer, [])) if layer in self._state["prefix_payloads"] else []

    def token_map(self, image: int, layer: str, token: int) -> torch.Tensor | list[torch.Tensor]:
        """Similarity of prefix token ``token`` of ``image`` (e.g. the class token) to every
        patch of every image at ``layer``: N x h x w (a list for different grid sizes), the
        numbers the browser shades when that token is hovered."""
        self._check_query({"image": image, "layer": layer, "token": token})
        q = self._decoded_prefix(layer)[image][token]
        return self._stacked([torch.from_numpy(m @ q) for m in self._decoded(layer)])

    def token_scores(self, image: int, layer: str, row: int, col: int) -> torch.Tensor:
        """Similarity of patch (row, col) of ``image`` to every image's prefix tokens: N x P,
        the numbers the browser shades the token chips with while that patch is hovered."""
        self._check_query({"image": image, "layer": layer, "row": row, "col": col})
        if not self.prefix_names(layer):
            raise ValueError(f"layer {layer!r} has no prefix tokens")
        q = self._decoded(layer)[image][row, col]
        return torch.stack([torch.from_numpy(p @ q) for p in self._decoded_prefix(layer)])

    @staticmethod
    def _stacked(maps: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
        return torch.stack(maps) if len({tuple(m.shape) for m in maps}) == 1 else maps

    def query_cells(self, image: int, layer: str, row: int, col: int) -> dict[str, tuple[int, int]]:
        """The query cell in every shown layer: the same image location (cell centre) as (row, col)."""
        src = self.grid(image, layer)
        return {name: synced_cell(row, col, src, self.grid(image, name)) for name in self.rows}

    def similarity_map(self, image: int, layer: str, row: int, col: int) -> torch.Tensor | list[torch.Tensor]:
        """Similarity (cosine by default) of every cell of every image to cell (row, col) of ``image`` at ``layer``.

        Computed from exactly the float16 unit vectors shipped to the browser, so these are
        the numbers it shades. Both sum the C products in float32, in different orders; each
        is within C * 2^-24 * sum_k |q_k v_k| of the exact sum (the browser's within
        (C / 16 + 19) * 2^-24 of it), so for unit vectors they agree to about 1e-6 at C = 512.
        Returns an N x h x w tensor, or a list of h_n x w_n tensors when the images have
        different grid sizes at this layer.
        """
        self._check_query({"image": image, "layer": layer, "row": row, "col": col})
        maps = self._decoded(layer)
        q = maps[image][row, col]
        return self._stacked([torch.from_numpy(m @ q) for m in maps])

    def _decoded(self, layer: str) -> list[np.ndarray]:
        """The shipped vectors of ``layer`` as float32 arrays, decoded once per input change."""
        return self._decoded_from("payloads", layer)

    def _decoded_prefix(self, layer: str) -> list[np.ndarray]:
        """The shipped P x C prefix tokens of ``layer`` as float32 arrays."""
        return self._decoded_from("prefix_payloads", layer)

    def _decoded_from(self, which: str, layer: str) -> list[np.ndarray]:
        cache = self._state.setdefault("decoded", {}).setdefault(which, {})
        if layer not in cache:
            cache[layer] = [wire.decode(p) for p in self._state[which][layer]]
        return cache[layer]

    # ---------------------------------------------------------------- factors
    def factors(self, layer: str, k: int = 4, **options) -> Factors:
        """NMF groups of the activations of row ``layer`` over every cell of every image.

        The matrix-factorisation companion of the overlays (Fong et al. 2021); computed in
        torch on the model's device by
        :func:`xai_widgets.similarity.factorize.activation_factors` (``options`` go to it). Deterministic,
        so this returns the factorisation :meth:`show_factors` displays.
        """
        spec = [r for r in self._rows if r[0] == layer]
        if not spec:
            raise ValueError(f"unknown row {layer!r}; this view shows {self.rows}")
        key = (layer, k, tuple(sorted(options.items())))
        cache = self._state.setdefault("factors", {})
        if key not in cache:
            maps = self._activations(self._images, spec)[0][layer]
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
        """
        if layer is None:
            self._factors = None
            return None
        result = self.factors(layer, k, **options)
        strengths = factor_strengths(result)
        colors = [colormaps.QUALITATIVE[f % len(colormaps.QUALITATIVE)] for f in range(result.maps.shape[1])]
        self.factor_focus = -1
        self._factors = {
            "layer": layer,
            "k": int(result.maps.shape[1]),
            "colors": [list(c) for c in colors],
            "labels": [f"group {f}" for f in range(result.maps.shape[1])],
            "maps": [wire.encode(m.permute(1, 2, 0), "uint8", lo=0.0, hi=1.0) for m in strengths],
        }
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
        lo, hi = self.vrange
        if self.auto_range:
            values = np.concatenate([np.asarray(m).ravel() for ms in maps.values() for m in ms])
            lo, hi = float(values.min()), float(values.max())
        lo, hi = colour_range(self.colormap, lo, hi)

        # Every length at scale 1, in whole pixels; px() scales them, so scale=2 doubles exactly.
        px = render.scaler(scale)
        N = len(self._images)
        per_row = N if columns is None else max(1, min(N, int(at_least("columns", columns, 1))))
        groups = -(-N // per_row)
        per_row = -(-N // groups)  # balanced: 8 in columns of 6 become 4 + 4
        dims = [render.display_size(hw, panel) for hw in self._state["input_hw"]]
        cell_w, cell_h = max(d[0] for d in dims), max(d[1] for d in dims)
        f, small, gap = max(12, panel // 16), max(11, round(max(12, panel // 16) * 0.8)), max(6, panel // 40)
        line = round(f * 1.25)
        fnt, sfnt = render.font(f), render.font(small)
        grids = {name: "x".join(map(str, self.grid(0, name))) for name in self.rows}
        label_w = max(max(fnt.getlength(name), sfnt.getlength(grids[name])) for name in self.rows)
        label_w = int(np.ceil(label_w)) + gap
        left = gap + label_w + gap  # x of the first panel column
        titles = [render.wrap_text(str(t), fnt, cell_w, 2) for t in self._state["titles"]]
        width = left + per_row * (cell_w + gap)

        placed = []  # (kind, x, y, payload) at scale 1
        y = gap
        for g in range(groups):
            members = list(range(g * per_row, min(N, (g + 1) * per_row)))
            for k, n in enumerate(members):
                for i, text in enumerate(titles[n]):
                    placed.append(("title", left + k * (cell_w + gap) + cell_w // 2, y + i * line, text))
            y += max(len(titles[n]) for n in members) * line + gap // 2
            for name in self.rows:
                placed.append(("label", gap + label_w, y + cell_h // 2, name))
                for k, n in enumerate(members):
                    placed.append(("panel", left + k * (cell_w + gap), y, (name, n)))
                y += cell_h + gap
            y += gap  # between groups, and before the legend
        what = _SIMILARITY_NAMES.get(self._similarity, "similarity")
        key = render.legend(self.colormap, lo, hi, bar_width=max(160, min(per_row * (cell_w + gap) - gap, 2 * panel)),
                         font_size=small, caption=render.similarity_caption(what, self.colormap),
                         max_width=width - left, scale=scale)
        key_pad, (key_w1, key_h1) = key.info["pad"], key.info["size1"]
        key_x = left - key_pad  # the bar starts under the first panel column
        fig = Image.new("RGB", (px(max(width, key_x + key_w1 + gap)), px(y + key_h1 + gap)), render.BACKGROUND)
        draw = ImageDraw.Draw(fig)
        tfnt, tsfnt = render.font(px(f)), render.font(px(small))
        mark = max(2, panel // 150)
        for kind, x, top, item in placed:
            if kind == "title":
                draw.text((px(x), px(top)), item, fill=render.TEXT, font=tfnt, anchor="ma")
            elif kind == "label":
                draw.text((px(x), px(top) - px(1)), item, fill=render.TEXT, font=tfnt, anchor="rb")
                draw.text((px(x), px(top) + px(1)), grids[item], fill=render.MUTED, font=tsfnt, anchor="rt")
            else:
                name, n = item
                W1, H1 = dims[n]
                base = panel_pixels(self._images[n], self._state["input_hw"][n], (px(W1), px(H1)), n)
                img = Image.fromarray(base)
                if name in maps:
                    rgb = colormaps.apply(np.asarray(maps[name][n]), self.colormap, lo, hi)
                    img = Image.fromarray(render.overlay(base, rgb, opacity))
                if show_worst:
                    _outline_worst(img, self.grid(n, name), self._state["reduction"].get(name), n, px(mark))
                if n == q["image"] and name in cells:
                    render.mark_query(img, self.grid(n, name), *cells[name], width=px(mark))
                fig.paste(img, (px(x), px(top)))
        fig.paste(key, (px(key_x), px(y)))
        return fig

    def _default_query(self) -> dict:
        layer = self.rows[0]
        h, w = self.grid(0, layer)
        return {"image": 0, "layer": layer, "row": h // 2, "col": w // 2}

    def __repr__(self) -> str:
        return (f"SimilarityOverlay({len(self._images)} images, rows={self.rows}, "
                f"ships {wire.fmt_bytes(self.payload_bytes)})")


# -------------------------------------------------------------------- static figures
# Shared with TransformSweep's render_png. Every length is given at scale 1 in whole pixels
# and multiplied by ``scale`` when drawn, so a figure at scale 2 is the same picture at
# exactly twice the width and height.

_SIMILARITY_NAMES = {"cosine": "cosine similarity", "dot": "dot product", "centred": "cosine after centring"}


WORST_OUTLINE = (255, 0, 255)  # magenta: apart from the yellow query mark and from every colormap's ends


def _outline_worst(img: Image.Image, grid, report: dict | None, image: int, width: int) -> None:
    """Outline, on image ``image``'s panel, the worst query cells of a row's reduction report."""
    for cell in (report or {}).get("worst", []):
        if cell["image"] == image and "row" in cell:
            render.outline_cell(img, grid, cell["row"], cell["col"], width=max(1, width // 2), colour=WORST_OUTLINE)
