"""``ChannelGrid``: every channel of a layer at a glance, live in a notebook.

The Deep Visualization Toolbox of Yosinski, Clune, Nguyen, Fuchs and Lipson
("Understanding Neural Networks Through Deep Visualization", ICML Deep Learning
Workshop 2015), for any PyTorch model: a grid of all channels of one layer, a zoom
pane, the back view (gradient, deconvnet, guided backprop) of the selected unit, its
top-activating dataset patches and its activation-maximisation image, computed on
demand instead of in a 40-hour offline precompute.

The kernel ships one layer's activations for all images (float16); the browser
normalises, colours and redraws the grid itself, so switching images, normalisation,
boost, gamma and the selected unit's zoom never wait for the kernel. The kernel is
called for a new layer, the back view, a dataset scan and activation maximisation.
Every number the browser shows can be recomputed in Python: :meth:`tile_values` gives
the normalised values the tiles are coloured by.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from torch import nn

from ..units import backview, grid, scan
from ..units.predictions import class_probabilities, top_classes
from ..core import colormaps, wire
from ..core.capture import capture_maps
from ..core.images import check_input_size, as_image_list, display_pixels, to_batch
from ..core.layouts import prefix_names
from .base import STATIC, XaiWidget
from .channel_grid_payload import acts_payload
from .channel_grid_picture import GridFigure
from .channel_grid_relevance import RelevanceMode
from .checks import Choice, Fraction, Index, PanelSize, Real, Refused, Span, at_least, index_in, validates
from .long_tasks import LongTasks
from .unit_panes import BACK_MODES, DEFAULT_OBJECTIVES, UnitPanes

__all__ = ["ChannelGrid"]

DISPLAY = 256  # long side of the shipped input pixels (zoom and back panes)
ZOOM_MODES = ("unit", "back", "off")
# Beyond these, nearly every value lands at one end of the 256-colour scale
# ((1/255) ** 0.05 = 0.76; 0.9 ** 20 = 0.12).
MIN_GAMMA, MAX_GAMMA = 0.05, 20.0


class ChannelGrid(RelevanceMode, UnitPanes, GridFigure, LongTasks, XaiWidget):
    """All channels of one layer of a live model as tiles, with DeepVis's panes.

    Parameters
    ----------
    model : nn.Module
        Any PyTorch model on any device; run in eval mode and left exactly as given.
    images : sequence
        The input strip: PIL images, arrays or tensors (see :mod:`xai_widgets.core.images`)
        that give model inputs of one size.
    layer : str, optional
        The layer shown first (default: the first with a spatial output). ``u``/``o`` or
        the layer list switch layers; ``w.layer = name`` too.
    preprocess : callable, optional
        PIL image -> C x H x W tensor; default [0, 1] floats matched to the model.
    classes : sequence of str, optional
        Class names for the top-5 probabilities (default ``class 0``, ``class 1``, ...).
    dataset : iterable, optional
        Images (or (image, label) pairs, a torch Dataset or DataLoader) for the top-k scan
        (:meth:`scan`, or the Scan button). Labels, when present, give each unit's class
        selectivity.
    concepts : dict of name -> N x H x W bool masks, optional
        Per-pixel concept masks aligned with ``dataset``; the scan then also scores every
        unit by Network Dissection IoU and labels its tile with its best concept.
    normalise : callable, optional
        Differentiable tensor transform applied to optimised images before the model
        (for example an ImageNet mean/std normalisation) when ``preprocess`` normalises.
    size : int
        Width of the grid in CSS pixels (default 560).
    max_bytes : int
        Payload budget for one layer's activations of all images (default 64 MiB).
    layouts : dict, optional
        ``{layer: "NCHW" | "NHWC" | xw.Tokens(prefix, grid)}`` for layers whose layout is
        not detected (:mod:`xai_widgets.core.layouts`). A channels-last layer's tiles are its
        channels; a token layer's tiles are its embedding dimensions over the patch grid,
        and its prefix tokens' values (class token, ...) are in ``w.prefix`` and shown in
        the unit pane.
    output : int, str or callable, optional
        Which part of the model's output holds the logits when it is not a plain tensor
        (a tuple, a dict, a Hugging Face output): an index, a key or a callable
        (:mod:`xai_widgets.core.outputs`).

    Synced state: ``layer``, ``image`` (index in the strip), ``selected`` (the channel),
    ``normalisation`` ("layer", "channel" or "fixed" with ``vrange``), ``boost``,
    ``gamma``, ``colormap`` (for non-negative layers; signed layers use the diverging
    map), ``back_mode`` ("off", "grad", "deconv", "guided"), ``back_filter`` ("raw",
    "norm"), ``zoom`` ("unit", "back", "off"), ``pattern`` (tiles show each unit's best
    patch), ``opacity`` (of the unit over the input in the zoom pane), ``unit_objective``
    (what one number the back view, the dataset scan and activation maximisation take of the
    selected unit's map: "mean", "max" or "sum" over space for all three, or "default" for
    DeepVis's choice per pane, :data:`xai_widgets.widgets.unit_panes.DEFAULT_OBJECTIVES`),
    ``mode`` ("activation", or "relevance": each tile the unit's conditional relevance heatmap for
    ``relevance_class``, None for the prediction, sorted by relevance; see
    :class:`~xai_widgets.widgets.channel_grid_relevance.RelevanceMode`).
    """

    _esm = STATIC / "channel_grid.js"

    _css = STATIC / "channel_grid.css"
    _layer_list = traitlets.List().tag(sync=True)
    _images = traitlets.Dict().tag(sync=True)
    _acts = traitlets.Dict().tag(sync=True)
    _probs = traitlets.List().tag(sync=True)
    _back = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    _patches = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    _units = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    _visuals = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    _colormaps = traitlets.Dict().tag(sync=True)
    _can_scan = traitlets.Bool(False).tag(sync=True)

    layer = traitlets.Unicode("").tag(sync=True)
    image = Index(0).tag(sync=True)
    selected = Index(0).tag(sync=True)
    normalisation = Choice(grid.NORMALISATIONS, default_value="layer").tag(sync=True)
    vrange = Span().tag(sync=True)
    boost = Fraction(0.0).tag(sync=True)
    gamma = Real(1.0, min=MIN_GAMMA, max=MAX_GAMMA).tag(sync=True)
    colormap = Choice(("gray", "viridis"), default_value="gray").tag(sync=True)
    back_mode = Choice(BACK_MODES, default_value="off").tag(sync=True)
    back_filter = Choice(backview.FILTERS, default_value="raw").tag(sync=True)
    zoom = Choice(ZOOM_MODES, default_value="unit").tag(sync=True)
    pattern = traitlets.Bool(False).tag(sync=True)
    opacity = Fraction(0.6).tag(sync=True)
    unit_objective = Choice(("default",) + grid.OBJECTIVES, default_value="default").tag(sync=True)
    size = PanelSize(560).tag(sync=True)

    _browser_traits = frozenset({"layer", "image", "selected", "normalisation", "vrange", "boost", "gamma",
                                 "colormap", "back_mode", "back_filter", "zoom", "pattern", "opacity",
                                 "unit_objective", "mode", "relevance_class"})

    def __init__(
        self,
        model: nn.Module,
        images: Sequence,
        *,
        layer: str | None = None,
        preprocess: Callable | None = None,
        classes: Sequence[str] | None = None,
        dataset=None,
        concepts: dict | None = None,
        normalise: Callable | None = None,
        size: int = 560,
        max_bytes: int = 64 * wire.MiB,
        layouts: dict | None = None,
        output=None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        images = as_image_list(images)
        if not images:
            raise ValueError("no images: pass at least one image for the input strip")
        self.model, self.preprocess, self.dataset = model, preprocess, dataset
        self.concepts, self.normalise, self.max_bytes = concepts, normalise, at_least("max_bytes", max_bytes)
        self.layouts = layouts
        self._inputs = to_batch(images, model, preprocess)  # N x C x H x W on the CPU
        check_input_size(self._inputs, "ChannelGrid")
        self._layer_infos, self._ambiguous = grid.tile_layers(model, self._inputs[:1], layouts)
        if not self._layer_infos:
            raise ValueError("the model has no layer with feature maps (N x C x H x W, N x H x W x C), tokens "
                             "or an N x C output to show")
        self._cache: dict[str, torch.Tensor] = {}  # layer -> N x C x H x W float32 (CPU), as captured
        self.prefix: dict[str, tuple[list[str], torch.Tensor]] = {}  # token layer -> (names, N x P x C)
        self._payload: dict = {}
        self.tops: dict[str, scan.TopK] = {}  # layer -> top-k scan result
        self.dissections: dict[str, scan.Dissection] = {}  # layer -> Network Dissection
        self.visuals: dict[str, dict[int, torch.Tensor]] = {}  # layer -> {channel: 3 x H x W image}
        self._visual_objectives: dict[str, dict[int, str]] = {}  # layer -> {channel: what it maximised}
        self.back_gradient: torch.Tensor | None = None  # the raw gradient behind the back pane
        probs = class_probabilities(model, self._inputs, output)
        names = list(classes) if classes is not None else None
        if probs is not None and names is not None and len(names) != probs.shape[1]:
            raise ValueError(f"{len(names)} class names for a model with {probs.shape[1]} outputs")
        self.probabilities = probs
        self.classes = names
        self._relevance_setup()
        first = layer or next((L["name"] for L in self._layer_infos if len(L["shape"]) == 3),
                              self._layer_infos[0]["name"])
        hw = tuple(self._inputs.shape[-2:])
        pixels = np.stack([display_pixels(img, hw, DISPLAY, i) for i, img in enumerate(images)])
        super().__init__(
            size=size,
            _layer_list=self._layer_infos,
            _images={"pixels": wire.encode(pixels, "uint8"), "titles": [f"image {i}" for i in range(len(images))]},
            _probs=top_classes(probs, names),
            _colormaps={name: table.tobytes() for name, table in colormaps.LUTS.items()},
            _can_scan=dataset is not None,
            _class_names=[] if probs is None else [self.class_name(k) for k in range(probs.shape[1])],
        )
        self.layer = first  # validated and loaded by the observers below

    # ------------------------------------------------------------------ layers
    def _card_parts(self) -> dict:
        """The card: the layer and unit shown, the tiles' normalisation and panes, how to read them."""
        relevance = self.mode == "relevance"
        target = "the predicted class" if self.relevance_class is None else self.class_name(self.relevance_class)
        objective = (self.unit_objective if self.unit_objective != "default"
                     else ", ".join(f"{k}: {v}" for k, v in DEFAULT_OBJECTIVES.items()))
        tiles = ("each unit's conditional relevance R(x | class, unit) for " + target + ", tiles sorted by relevance"
                 if relevance else "each unit's activation map for the shown image")
        scale = ("diverging, grey centre = 0 (red: for the class, blue: against)" if relevance
                 else "diverging, grey centre = 0 (red: positive, blue: negative)" if self.signed
                 else f"{self.colormap}, dark = low")
        return {
            "question": ("Which units of this layer carry the decision, and where?" if relevance
                         else "What does each unit of this layer respond to, and where?"),
            "explanandum": {"layer": self.layer, "units": self.channels,
                            "selected unit": self.selected, "image": f"{self.image} of {len(self._inputs)}"},
            "explainer": {"method": ("Concept Relevance Propagation (Achtibat et al., Nature Machine Intelligence "
                                     "2023)" if relevance else "activation tiles with DeepVis's panes (Yosinski et "
                                     "al., ICML Deep Learning Workshop 2015)"),
                          "mode": self.mode, "normalisation": self.normalisation,
                          "fixed range": self.vrange if self.normalisation == "fixed" else "not used",
                          "boost": self.boost, "gamma": self.gamma, "back view": self.back_mode,
                          "back filter": self.back_filter, "unit objective": objective},
            "interpretation": {"tiles": tiles, "colour scale": scale,
                               "normalisation": {"layer": "one range for all tiles of the layer",
                                                 "channel": "each tile over its own min to max",
                                                 "fixed": "the fixed range above"}[self.normalisation],
                               "click": "selects a unit: its panes (zoom, back view, top images) follow"},
        }

    @property
    def layer_names(self) -> list[str]:
        """The layers the grid can show, in execution order."""
        return [L["name"] for L in self._layer_infos]

    @validates("layer")
    def _validate_layer(self, proposal):
        name = proposal["value"]
        if name in self._ambiguous:
            raise Refused(str(self._ambiguous[name]))
        if name not in self.layer_names:
            import difflib

            close = difflib.get_close_matches(name, self.layer_names, n=4, cutoff=0.4)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise Refused(f"unknown layer {name!r}{hint} (w.layer_names lists the layers)")
        acts = self._layer_acts(name)
        wire.check_budget(acts.numel() * 2, self.max_bytes, f"layer {name!r} ({tuple(acts.shape)} float16)",
                          "Show fewer images, a deeper layer, or raise max_bytes.", Refused)
        return name

    def _layer_acts(self, name: str) -> torch.Tensor:
        if name not in self._cache:
            acts = capture_maps(self.model, self._inputs, [name], layouts=self.layouts)[name]
            self._cache[name] = acts.maps.float().cpu()
            if acts.prefix is not None:
                self.prefix[name] = (prefix_names(self.model, acts.layout), acts.prefix.float().cpu())
        return self._cache[name]

    @traitlets.observe("layer")
    def _on_layer(self, change):
        acts = self._cache[change["new"]]
        self.selected = min(self.selected, acts.shape[1] - 1)
        self._acts = acts_payload(change["new"], acts, self.prefix.get(change["new"]))
        self._payload = self._acts["acts"]
        self._send_unit_data()
        self._update_back()

    @property
    def signed(self) -> bool:
        """Whether the current layer has negative values (then tiles use the diverging map)."""
        return bool(self._acts.get("signed"))

    @property
    def channels(self) -> int:
        return int(self._payload["shape"][1])

    # ------------------------------------------------------------------ validation
    @validates("image")
    def _validate_image(self, proposal):
        return index_in("image", proposal["value"], len(self._inputs), "an image index")

    @validates("selected")
    def _validate_selected(self, proposal):
        if not self._payload:
            return proposal["value"]
        return index_in("selected", proposal["value"], self.channels, "a channel index")

    # ------------------------------------------------------------------ what the tiles show
    def activations(self, image: int | None = None) -> torch.Tensor:
        """The current layer's C x H x W activations of ``image`` (default: the one shown), float32.

        Parameters
        ----------
        image : int or None, optional
            The image's index in the strip. Default None: the ``image`` trait.

        Returns
        -------
        torch.Tensor
            C x H x W float32 on the CPU, as captured (a copy), not the float16 values
            the browser received.

        Raises
        ------
        IndexError
            If ``image`` is out of range.
        """
        return self._cache[self.layer][self.image if image is None else image].clone()

    def tile_values(self, image: int | None = None) -> torch.Tensor:
        """The values in [0, 1] the tiles are coloured by (see :func:`xai_widgets.units.grid.normalise`).

        Computed from the float16 values the browser received, with the widget's
        normalisation, range, boost and gamma; colour index ``floor(t * 255 + 0.5)``.

        Parameters
        ----------
        image : int or None, optional
            The image's index in the strip. Default None: the ``image`` trait.

        Returns
        -------
        torch.Tensor
            C x H x W float64 values in [0, 1].

        Raises
        ------
        IndexError
            If ``image`` is out of range.
        """
        n = self.image if image is None else image
        acts = torch.from_numpy(wire.decode(self._payload)[n])
        return grid.normalise(acts, self.normalisation, vrange=self.vrange, boost=self.boost,
                              gamma=self.gamma, signed=self.signed)

    def channel_stats(self, image: int | None = None) -> dict:
        """Per channel max, mean and (row, col) of the max: what hovering a tile shows.

        Computed from the float16 values the browser received.

        Parameters
        ----------
        image : int or None, optional
            The image's index in the strip. Default None: the ``image`` trait.

        Returns
        -------
        dict of str to torch.Tensor
            ``{"max": C float64, "mean": C float64, "argmax": C x 2 int64}`` (see
            :func:`xai_widgets.units.grid.channel_stats`).

        Raises
        ------
        IndexError
            If ``image`` is out of range.
        """
        n = self.image if image is None else image
        return grid.channel_stats(torch.from_numpy(wire.decode(self._payload)[n]))

    def __repr__(self) -> str:
        return f"ChannelGrid({len(self._inputs)} images, layer={self.layer!r}, {len(self.layer_names)} layers)"
