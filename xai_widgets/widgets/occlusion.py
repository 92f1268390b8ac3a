"""``OcclusionExplorer``: Norton's feature occlusion tool, live in a notebook.

Norton, "Deep Introspection: Explaining Neural Networks Through Feature Occlusion and
Synthesis" (Imperial College London, 2018), ch. 3 and 5.2: the relevant pixels of an
attribution map are grouped into numbered features (flood fill), each feature can be toggled
off (occluded, by pixelisation by default) and the top-5 re-predicted at once; "Analyse"
finds the most important feature, the smallest sets that keep or flip the prediction and the
largest change. A paint sandbox (the extension Fong's thesis suggests, 7.3) perturbs any
drawn region with blur, a constant or noise. "Synthesise" shows what the network makes of one
feature on its own (Norton 2018, ch. 4, the noise method: the feature's bounding box in noise,
inverted at the penultimate layer; :mod:`.occlusion_synthesis`), as a gallery of pre-images
with their losses and top-5 classes.

The browser draws everything that must be instant (the feature colours, the hover highlight,
the brush) from data shipped once; the kernel is asked for what needs the model: one forward
pass per toggle (the browser sends only the occluded feature numbers), features for new
flood-fill settings, the analysis (in the background, with progress and Cancel) and the
sandbox's prediction (the painted mask is sent once, on pointer release). Every number shown
comes from :mod:`xai_widgets.attribution.feature_occlusion`: ``w.occluded_image()`` equals
``features.occlude(w.input[0], w.features, w.occluded, mode=w.mode, patch=w.patch,
seed=w.seed, value_range=w.value_range)``.
"""
from __future__ import annotations

import itertools
import threading
from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..core import colormaps, wire
from ..attribution import feature_occlusion as features
from ..core.capture import model_device
from ..core.images import check_input_size, model_input
from ..core.outputs import with_output
from ..core.targets import class_label
from .occlusion_payload import analysis_payload, features_payload, input_pixels, prediction, view_payload
from .occlusion_picture import render_view
from .occlusion_synthesis import Synthesis, check_layer, synthesise_feature, synthesis_payload
from .base import STATIC, XaiWidget
from .checks import Choice, Fraction, Index, PanelSize, Real, Refused, index_in, validates, at_least, print_scale
from .long_tasks import LongTasks

__all__ = ["OcclusionExplorer"]

OFFLINE_SETS = 64  # to_html ships the view of every occlusion set up to this many (6 features)
TABS = ("occlusion", "sandbox")
MAX_DISTANCE = 16.0  # px; neighbourhoods grow with its square
MAX_PATCH = 64
_BUSY = {"analyse": "Analysing", "synthesise": "Synthesising"}  # the message while a task defers updates


# Tableau 10 (Stone, Tableau Software, 2016: colours chosen to stay apart), without its red
# (red is the hover highlight, Norton 2018 §5.3.5) and grey (lost on a photograph).
TABLEAU = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194),
           (188, 189, 34), (23, 190, 207)]


def palette(n: int) -> list[tuple[int, int, int]]:
    """n feature colours from :data:`TABLEAU`; past 8 they repeat (the numbers tell those apart).

    Parameters
    ----------
    n : int
        The number of features.

    Returns
    -------
    list of tuple of int
        ``n`` RGB triples, feature ``k`` taking ``TABLEAU[k % 8]``.
    """
    return [TABLEAU[k % len(TABLEAU)] for k in range(n)]


def _mask_from_json(value, _widget):
    return b"" if value is None else bytes(value)


class OcclusionExplorer(LongTasks, XaiWidget):
    """Toggle the features an attribution map finds and watch the prediction (Norton 2018, ch. 3).

    Parameters
    ----------
    model : nn.Module
        Any classifier (N x K logits) on any device; run in eval mode, left exactly as given.
    image : image
        PIL image, array or tensor (see :mod:`xai_widgets.core.images`), or a 1 x C x H x W
        model-input tensor used as is.
    attribution : optional
        Where the relevance comes from: None (LRP when zennit is installed, as Norton 2018 used,
        else Integrated Gradients), a method name or Captum object for
        :func:`xai_widgets.attribution.attribute`, an ``Attribution``, or a ready map at the
        input's resolution (H x W, 1 x H x W or 1 x C x H x W).
    target : int, optional
        The class explained and followed (default: the image's top-1).
    classes : sequence of str, optional
        Class names for the top-5 (default ``class 0``, ``class 1``, ...).
    preprocess : callable, optional
        PIL image -> C x H x W tensor; default [0, 1] floats matched to the model.
    threshold, distance, min_size : float, float, int
        The flood fill's settings (:func:`xai_widgets.attribution.feature_occlusion.find_features`; Norton 2018's 5,
        1.5 px, 20 px, the defaults): the candidate threshold in units of the mean positive
        relevance (>= 0), the neighbour distance in pixels (in (0, 16]) and the smallest
        feature in pixels (>= 0). Traits of the same names.
    mode, patch : str, int
        The occluder (:class:`xai_widgets.attribution.feature_occlusion.Occluder`): "pixelate" (Norton 2018's), "noise"
        or "box"; the pixelisation patch side in pixels. Defaults "pixelate" and 8 (in
        1..64). Traits of the same names.
    seed : int
        The occlusion noise's seed (occlusion is deterministic). Default 0.
    max_sets : int
        Forward passes "Analyse" may spend (:func:`xai_widgets.attribution.feature_occlusion.analyse`).
        Default 1024.
    size : int
        Side of each image panel in CSS pixels. Default 256.
    output : int, str or callable, optional
        Which part of the model's output holds the logits when it is not a plain tensor
        (a tuple, a dict, a Hugging Face output): an index, a key or a callable
        (:mod:`xai_widgets.core.outputs`).

    Attributes
    ----------
    synthesis : Synthesis or None
        The last feature synthesis (:meth:`synthesise`), None before the first.
    synthesis_options : dict
        The keyword arguments of :meth:`synthesise` the view's Synthesise button uses (default
        ``n=3``, 400 iterations, seed 0, the penultimate layer); assign a dict to change them.

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module``.
    ValueError
        If ``image`` is not one image, or ``classes`` does not have one name per model
        output; also for an invalid ``target``, ``max_sets`` or map.
    """

    _esm = STATIC / "occlusion.js"

    _css = STATIC / "occlusion.css"
    _data = traitlets.Dict().tag(sync=True)
    _view = traitlets.Dict().tag(sync=True)
    _analysis = traitlets.Dict().tag(sync=True)
    _sandbox = traitlets.Dict().tag(sync=True)
    _synthesis = traitlets.Dict().tag(sync=True)
    _colormaps = traitlets.Dict().tag(sync=True)
    occluded = traitlets.List(Index()).tag(sync=True)
    threshold = Real(5.0, min=0.0).tag(sync=True)
    distance = Real(1.5, min=0.0, max=MAX_DISTANCE).tag(sync=True)
    min_size = Index(20, min=0).tag(sync=True)
    mode = Choice(features.MODES, default_value="pixelate").tag(sync=True)
    patch = Index(8, min=1, max=MAX_PATCH).tag(sync=True)
    opacity = Fraction(0.55).tag(sync=True)
    sandbox_mask = traitlets.Bytes(b"").tag(sync=True, from_json=_mask_from_json)
    sandbox_kind = Choice(features.SANDBOX_KINDS, default_value="blur").tag(sync=True)
    brush = Index(6, min=1, max=MAX_PATCH).tag(sync=True)
    tab = Choice(TABS, default_value="occlusion").tag(sync=True)
    size = PanelSize(256).tag(sync=True)

    synthesis_options: dict = {"n": 3, "iterations": 400, "seed": 0, "layer": None}  # assign a new dict per widget

    _browser_traits = frozenset({"occluded", "threshold", "distance", "min_size", "mode", "patch", "opacity",
                                 "sandbox_mask", "sandbox_kind", "brush", "tab"})

    def __init__(self, model: nn.Module, image, *, attribution=None, target: int | None = None,
                 classes: Sequence[str] | None = None, preprocess: Callable | None = None,
                 threshold: float = 5.0, distance: float = 1.5, min_size: int = 20, mode: str = "pixelate",
                 patch: int = 8, seed: int = 0, max_sets: int = 1024, size: int = 256, output=None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        model = self.model = with_output(model, output)
        x = image if isinstance(image, torch.Tensor) and image.dim() == 4 else model_input(image, model, preprocess)
        check_input_size(x, "OcclusionExplorer")
        if x.shape[0] != 1 or not x.is_floating_point():
            raise ValueError(f"image must be one image; as a tensor, 1 x C x H x W float, got {tuple(x.shape)}")
        self.input = x.detach().float()
        self.base_probs = features.class_probs(model, self.input)[0].cpu()
        self.target = features.resolve_target(self.base_probs, target)
        K = self.base_probs.shape[0]
        if classes is not None and len(classes) != K:
            raise ValueError(f"classes has {len(classes)} names; the model has {K} classes")
        self.classes = [class_label(classes, k) for k in range(K)]
        self.seed = int(seed)
        self.max_sets = at_least("max_sets", max_sets)
        x0 = self.input[0]
        in_unit = preprocess is None and float(x0.min()) >= 0.0 and float(x0.max()) <= 1.0
        # Noise and display share one range: [0, 1] for plain images, else each channel's own range.
        self.value_range = (0.0, 1.0) if in_unit else None
        self._lo, self._hi = features.value_bounds(x0.cpu(), self.value_range)
        self.relevance, self.method = features.relevance_map(model, self.input, attribution, target=self.target)
        self._lock = threading.RLock()
        self._analysing = False
        self._pending: list[str] = []
        self._internal = False
        self._ready = False  # observers wait for the first full computation
        self.analysis = None
        self.synthesis: Synthesis | None = None
        self.features: list[np.ndarray] = []
        super().__init__(size=size, threshold=threshold, distance=distance, min_size=min_size, mode=mode, patch=patch,
                         _colormaps={"diverging": colormaps.LUTS["diverging"].tobytes()})
        self._compute_features()
        self._update_sandbox()
        self._ready = True

    # ------------------------------------------------------------------ validation of browser input
    @validates("occluded")
    def _validate_occluded(self, proposal):
        ids = proposal["value"]
        n = len(self.features)
        if ids and not n:
            raise Refused("there are no features to occlude: lower the threshold or the minimum size")
        return sorted({index_in("occluded", i, n, f"a list of feature numbers (shown as 1..{n}), each") for i in ids})

    @validates("distance")
    def _validate_distance(self, proposal):
        if not proposal["value"] > 0:
            raise Refused(f"distance must be in (0, {MAX_DISTANCE}] pixels, got {proposal['value']}")
        return proposal["value"]

    @validates("sandbox_mask")
    def _validate_sandbox_mask(self, proposal):
        v = proposal["value"]
        H, W = self.input.shape[-2:]
        if len(v) not in (0, H * W):
            raise Refused(f"sandbox_mask must hold H x W = {H * W} bytes (one per pixel, "
                          f"nonzero = painted) or none, got {len(v)}")
        return v

    # ------------------------------------------------------------------ reacting (deferred while analysing)
    @traitlets.observe("threshold", "distance", "min_size")
    def _on_flood_fill(self, _change):
        self._refresh("features")

    @traitlets.observe("mode", "patch")
    def _on_occluder(self, _change):
        self._refresh("occluder")

    @traitlets.observe("occluded")
    def _on_occluded(self, _change):
        if not self._internal:
            self._refresh("view")

    @traitlets.observe("sandbox_mask", "sandbox_kind")
    def _on_sandbox(self, _change):
        self._refresh("sandbox")

    def _refresh(self, what: str) -> None:
        """Recompute now, or after the running analysis (one thread uses the model at a time)."""
        if not self._ready:
            return
        with self._lock:
            if self._analysing:
                if what not in self._pending:
                    self._pending.append(what)
                task = _BUSY.get(self.progress.get("task"), "Analysing")
                self.message = f"{task}: the view updates when it ends (or press Cancel)."
                return
            self._do(what)

    def _do(self, what: str) -> None:
        if what == "features":
            self._compute_features()
        elif what == "occluder":
            self._sort_features(keep_selection=True)
        elif what == "view":
            self._update_view()
        else:
            self._update_sandbox()

    def _flush(self) -> None:
        with self._lock:
            self._analysing = False
            pending, self._pending = self._pending, []
            for what in ("features", "occluder", "view", "sandbox"):
                if what in pending:
                    self._do(what)
            if pending and self.message.startswith(tuple(_BUSY.values())):
                self.message = ""

    # ------------------------------------------------------------------ features, occlusion, prediction
    def _compute_features(self) -> None:
        """Flood fill the relevance with the current settings, then number by importance."""
        self._raw = features.find_features(self.relevance, threshold=self.threshold, distance=self.distance,
                                           min_size=self.min_size)
        self._order = list(range(len(self._raw)))
        self._sort_features(keep_selection=False)

    def _sort_features(self, keep_selection: bool) -> None:
        """Occlude each feature alone (one batch) and number them by the drop of p(target) (Norton 2018, §3.5.2)."""
        raw_selected = [self._order[i] for i in self.occluded] if keep_selection else []
        kw = self.occluder_options
        x0 = self.input[0].to(model_device(self.model))  # occlusion runs where the model runs
        if self._raw:
            singles = features.Occluder(x0, self._raw, **kw)([[k] for k in range(len(self._raw))])
            p = features.class_probs(self.model, singles)[:, self.target].cpu()
            drops = float(self.base_probs[self.target]) - p
        else:
            drops = torch.zeros(0)
        self._order = sorted(range(len(self._raw)), key=lambda k: (-float(drops[k]), k))
        self.features = [self._raw[k] for k in self._order]
        self.drops = drops[self._order] if len(self._raw) else drops
        self._occluder = features.Occluder(x0, self.features, **kw)
        self.analysis = None
        position = {raw: i for i, raw in enumerate(self._order)}
        self._internal = True
        try:
            self.occluded = sorted(position[r] for r in raw_selected)
        finally:
            self._internal = False
        self._data = self._payload()
        self._analysis = {}
        self._update_view()

    @property
    def occluder_options(self) -> dict:
        """The keyword options of :class:`xai_widgets.attribution.feature_occlusion.Occluder` the widget uses."""
        return {"mode": self.mode, "patch": self.patch, "seed": self.seed, "value_range": self.value_range}

    def occluded_image(self, occluded: Sequence[int] | None = None) -> torch.Tensor:
        """C x H x W model input (on the model's device) with the features ``occluded`` (default: the
        current ones) occluded.

        Parameters
        ----------
        occluded : sequence of int or None, optional
            Feature indices, 0-based in the widget's numbering (shown as 1..n). Default
            None: the ``occluded`` trait.

        Returns
        -------
        torch.Tensor
            C x H x W occluded image, with the widget's occluder options.

        Raises
        ------
        ValueError, TypeError
            If an index is not a feature's.
        """
        return self._occluder([self.occluded if occluded is None else occluded])[0]

    def _update_view(self) -> None:
        img = self.occluded_image()
        self.probs = features.class_probs(self.model, img[None])[0].cpu()
        self._view = view_payload(self._pixels(img), self.occluded, self.probs, self.target)

    def _export_state(self) -> dict:
        """Extra state for :meth:`to_html`: the view of every occlusion set, keyed "0,2" (sorted
        feature indices), so toggling works in the page with no kernel; none past
        :data:`OFFLINE_SETS` sets (then a toggle there says it needs the kernel)."""
        n = len(self.features)
        if 2 ** n > OFFLINE_SETS:
            return {"_offline_views": {}}
        sets = [list(c) for k in range(n + 1) for c in itertools.combinations(range(n), k)]
        images = self._occluder(sets)
        probs = features.class_probs(self.model, images).cpu()
        return {"_offline_views": {",".join(map(str, s)): view_payload(self._pixels(img), s, p, self.target)
                                   for s, img, p in zip(sets, images, probs)}}

    def _pixels(self, x: torch.Tensor) -> np.ndarray:
        return input_pixels(x, self._lo, self._hi)

    # ------------------------------------------------------------------ sandbox
    def painted(self) -> np.ndarray:
        """H x W bool: the sandbox's painted region."""
        H, W = self.input.shape[-2:]
        if not self.sandbox_mask:
            return np.zeros((H, W), dtype=bool)
        return np.frombuffer(self.sandbox_mask, dtype=np.uint8).reshape(H, W) != 0

    def paint(self, mask) -> None:
        """Set the sandbox's painted region from an H x W array (nonzero = painted).

        The sandbox's image and prediction update (after a running analysis).

        Parameters
        ----------
        mask : array_like or torch.Tensor
            H x W, the input's height and width; nonzero where painted.

        Raises
        ------
        ValueError
            If ``mask`` is not H x W.
        """
        m = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask)
        H, W = self.input.shape[-2:]
        if m.shape != (H, W):
            raise ValueError(f"the painted mask must be H x W = ({H}, {W}), got {m.shape}")
        self.sandbox_mask = (m != 0).astype(np.uint8).tobytes()

    def sandbox_image(self) -> torch.Tensor:
        """C x H x W model input (on the model's device) perturbed where painted
        (:func:`xai_widgets.attribution.feature_occlusion.perturb_region`)."""
        painted = self.painted()
        x = self.input[0].to(model_device(self.model))
        return features.perturb_region(x, painted, kind=self.sandbox_kind) if painted.any() else x.clone()

    def _update_sandbox(self) -> None:
        img = self.sandbox_image()
        self.sandbox_probs = features.class_probs(self.model, img[None])[0].cpu()
        self._sandbox = {"image": wire.encode(self._pixels(img), "uint8"), "kind": self.sandbox_kind,
                         "painted": float(self.painted().mean()), **prediction(self.sandbox_probs, self.target)}

    # ------------------------------------------------------------------ analysis
    def analyse(self, *, background: bool = False, max_sets: int | None = None):
        """Run Norton 2018's four metrics (:func:`xai_widgets.attribution.feature_occlusion.analyse`) on the current features.

        In the calling cell with a progress bar (returns the :class:`~xai_widgets.attribution.feature_occlusion.Analysis`,
        also kept in ``w.analysis``), or, from the widget's button, in the background.

        Parameters
        ----------
        background : bool, optional
            Run in a background thread (errors are reported in ``message``). Default False:
            in the calling cell.
        max_sets : int or None, optional
            Forward passes to spend, at least the number of features + 1. Default None: the
            constructor's ``max_sets``.

        Returns
        -------
        Analysis or None
            The analysis; None when run in the background or cancelled.

        Raises
        ------
        ValueError
            If there are no features, or ``max_sets`` is too small.
        RuntimeError
            If a task is still running.
        """
        if not self.features:
            raise ValueError("there are no features to analyse: lower the threshold or the minimum size")
        budget = self.max_sets if max_sets is None else max_sets
        snapshot = list(self.features)

        def work(progress, cancel):
            with self._lock:
                self._analysing = True
            try:
                result = features.analyse(self.model, self.input[0], snapshot, target=self.target, max_sets=budget,
                                          progress=progress, cancel=cancel, **self.occluder_options)
                self.analysis = result
                self._analysis = analysis_payload(result, self._lo, self._hi)
                return result
            finally:
                self._flush()

        return self._run_task("analyse", work, background=background)

    # ------------------------------------------------------------------ synthesis
    def synthesise(self, feature: int, n: int = 3, *, layer: str | None = None, iterations: int = 400, seed: int = 0,
                   background: bool = False) -> Synthesis | None:
        """What the network makes of one feature alone (Norton 2018, ch. 4, the noise method).

        The feature's bounding box is kept and everything outside it replaced by uniform noise
        (:func:`xai_widgets.inversion.isolate`, in the explorer's value range); ``n`` pre-images
        of that image's representation at ``layer``, matched over the cells inside the box
        (:func:`xai_widgets.inversion.invert` with ``box=``), show what the layer keeps of the
        feature. The view's gallery shows them with their losses and top-5 classes.

        Parameters
        ----------
        feature : int
            The feature, 0-based in the widget's numbering (shown as 1..n).
        n : int, default 3
            Pre-images, from starts ``seed``, ``seed + 1``, ...
        layer : str or None, default None
            The layer inverted; None: the penultimate one, the last with a spatial map
            (:func:`~xai_widgets.widgets.occlusion_synthesis.penultimate_layer`).
        iterations : int, default 400
            Steps of the descent (the published number).
        seed : int, default 0
            The first start's seed, and the seed of the noise outside the box.
        background : bool, default False
            Run in a background thread (the view's button does; errors go to ``message``).
            False: in the calling cell, with a progress bar.

        Returns
        -------
        Synthesis or None
            The result (also in ``w.synthesis``); None when run in the background or cancelled.

        Raises
        ------
        ValueError, TypeError
            For a feature that is not one of the widget's, a count below 1 or an unknown layer.
        RuntimeError
            If a task is still running.
        """
        k = index_in("feature", feature, len(self.features), "a feature index (0-based; the view numbers them from 1)")
        n, iterations, seed = at_least("n", n), at_least("iterations", iterations), at_least("seed", seed, 0)
        layer = check_layer(self.model, self.input, layer)
        pixels = self.features[k]

        def work(progress, cancel):
            with self._lock:
                self._analysing = True
            try:
                result = synthesise_feature(self.model, self.input[0], k, pixels, layer=layer, n=n,
                                            iterations=iterations, seed=seed, value_range=self.value_range,
                                            progress=progress, cancel=cancel)
                self.synthesis = result
                self._synthesis = synthesis_payload(result, self._pixels)
                return result
            finally:
                self._flush()

        return self._run_task("synthesise", work, background=background)

    def _synthesise_from_browser(self, content: dict) -> None:
        """The view's Synthesise button: {"type": "synthesise", "feature": k}, in the background."""
        if self.busy:
            self.message = "A task is already running: wait for it or press Cancel."
            return
        try:
            self.synthesise(content.get("feature"), background=True, **self.synthesis_options)
        except (ValueError, TypeError) as exc:
            self.message = f"Synthesise: {exc}"

    def _on_custom_msg(self, widget, content, buffers):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "cancel":
            self.cancel()
        elif kind == "synthesise":
            self._synthesise_from_browser(content)
        elif kind == "analyse":
            if self.busy:
                self.message = "An analysis is already running."
            elif not self.features:
                self.message = "There are no features to analyse: lower the threshold or the minimum size."
            else:
                self.analyse(background=True)
        else:
            super()._on_custom_msg(widget, content, buffers)

    # ------------------------------------------------------------------ what the browser gets
    def _payload(self) -> dict:
        return features_payload(self._pixels(self.input[0]), self.relevance, self.relevance_scale(),
                                features.cutoff(self.relevance, self.threshold), self.features, self.drops,
                                palette(len(self.features)), self.classes, self.target, self.method, self.base_probs)

    def _card_parts(self) -> dict:
        """The card: the class followed, the features found and hidden, the occluder's settings."""
        t = self.target
        return {
            "question": f"Does the model still predict {self.classes[t]} when the features its relevance map "
                        "finds are hidden?",
            "explanandum": {"image": " x ".join(map(str, self.input.shape[1:])),
                            "class followed": f"{self.classes[t]} (p = {float(self.base_probs[t]):.3g} before, "
                                              f"{float(self.probs[t]):.3g} now)",
                            "features": len(self.features),
                            "occluded": [i + 1 for i in self.occluded] or "none"},
            "explainer": {"method": "feature occlusion (Norton, Deep Introspection, Imperial College London 2018, "
                                    "ch. 3)",
                          "relevance from": self.method, "threshold (x mean positive relevance)": self.threshold,
                          "distance (px)": self.distance, "min size (px)": self.min_size, "occluder": self.mode,
                          "patch (px)": self.patch, "seed": self.seed, "analysis budget (forward passes)":
                          self.max_sets, "sandbox": f"{self.sandbox_kind}, brush {self.brush} px"},
            "interpretation": {
                "relevance": f"diverging over +-{self.relevance_scale():.3g} (99th percentile of |relevance|): "
                             "red for the class, blue against, grey = 0",
                "features": "numbered regions of connected high relevance, each in its own colour",
                "bars": "the top-5 probabilities with the occluded features hidden, against before",
                "click": "a feature toggles its occlusion; Analyse finds the smallest sets that keep or flip the "
                         "prediction"},
        }

    def relevance_scale(self) -> float:
        """The relevance panel's colour scale: +-(99th percentile of |r|), larger values saturate
        (as Captum's visualisations clip outliers); the maximum when that percentile is 0."""
        a = np.abs(self.relevance)
        return float(np.percentile(a, 99)) or float(a.max()) or 1.0

    # ------------------------------------------------------------------ static figure
    def render_png(self, panel: int | None = None, scale: float = 1) -> Image.Image:
        """The explorer's view as a PIL image: numbered features, relevance with its colour
        legend, occluded image and its top-5 against before; the analysis, the sandbox and the
        feature synthesis when they have results.

        ``panel``: side of an image panel in pixels (default the widget's ``size``); ``scale``: a
        multiplier of every length, for print (2 gives twice the pixels, same picture).

        Parameters
        ----------
        panel : int or None, optional
            Side of an image panel in pixels. Default None: the ``size`` trait.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.

        Returns
        -------
        PIL.Image.Image
            The view as one image.

        Raises
        ------
        Refused
            If ``scale`` is not a number in [0.25, 8].
        """
        scale = print_scale(scale)
        findings = None if self.analysis is None else [
            None if f is None else (f.occluded, self._pixels(f.image)) for f in self.analysis.findings]
        painted = self.painted()
        sandbox = ((painted, self._pixels(self.sandbox_image()), self.sandbox_kind, self.sandbox_probs)
                   if painted.any() else None)
        return render_view(
            self._pixels(self.input[0]), self.relevance, self.features, palette(len(self.features)), self.occluded,
            self._pixels(self.occluded_image()), self.probs, self.base_probs, self.classes, method=self.method,
            rel_scale=self.relevance_scale(), opacity=self.opacity, findings=findings, sandbox=sandbox,
            synthesis=self._synthesis_panels(), panel=panel or self.size, scale=scale)

    def _synthesis_panels(self):
        """The picture's synthesis row: the isolated feature and each pre-image with its loss and top-1."""
        syn = self.synthesis
        if syn is None:
            return None
        titles = [f"feature {syn.feature + 1} in noise"] + [
            f"loss {float(loss):.3g}, {self.classes[int(p.argmax())]} {float(p.max()):.0%}"
            for loss, p in zip(syn.inversion.loss, syn.probs)]
        return self._pixels(syn.isolated), [self._pixels(img) for img in syn.inversion.images], titles

    def __repr__(self) -> str:
        return (f"OcclusionExplorer({len(self.features)} features from {self.method!r}, "
                f"target {self.classes[self.target]!r}, occluded {[i + 1 for i in self.occluded]})")
