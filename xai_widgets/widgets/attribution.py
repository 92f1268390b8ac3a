"""``AttributionExplorer``: images x attribution methods, on one fixed, stated scale per method.

A grid with one row per image and one column per method (after a first column
with the image and its top-5 classes). Every cell is the method's signed pixel map in the
diverging colour map (blue negative, grey zero, red positive) on ONE symmetric scale per
method, ``[-s, s]`` with ``s`` the 99.5th percentile of ``|R|`` over all images and slider
positions of that method (:data:`xai_widgets.core.diverging.SCALE_RULE`), stated in the column's legend. With
``scaling="row"`` each cell is drawn on its own image's scale instead (the same rule over that
image's maps only), so an image whose maps are much weaker than another's still shows its
pattern; each cell then states its scale. The map is shaded over the image in grey (opacity
growing with ``|R|``) or drawn alone beside it.

Click a class in an image's top-5 to explain it instead; Shift-click a second class to
explain "A vs B" (the score ``logit[A] - logit[B]``). The new maps are computed in the
kernel, in the background with a progress bar and Cancel, and the model is left exactly as
given. Methods with a natural slider ship every position at once and are scrubbed in the
browser: extremal perturbation's area (with ``Φ(m⊗x)/Φ(x)`` and the best area ``a*``),
Integrated Gradients' α (the interpolated image and the accumulated map) and SmoothGrad's
noise level.

Every number comes from :func:`xai_widgets.attribution.attribute`, called **per image**:
the maps of image ``i`` are exactly::

    xw.attribution.attribute(model, w.inputs[i:i+1], method, target=t_i, contrast=c_i,
                             series=True, **options[method])

(``w.attribution(method, i)`` returns that :class:`~xai_widgets.attribution.Attribution`).
``w.scale(method)`` gives the column's scale and ``w.pixels(i, method)`` the RGBA bytes the
browser draws, which the browser tests compare with.
"""
from __future__ import annotations

import importlib.util
import math
from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image, ImageDraw
from torch import nn

from ..attribution import methods as attribution, lrp
from ..core import colormaps, render, targets, wire
from ..core.diverging import greyed, scale_of, shade
from ..core.images import check_input_size, as_image_list, display_pixels, hwc_pixels, to_batch, to_uint8
from ..core.outputs import with_output
from ..core.tasks import check
from .base import STATIC, XaiWidget
from .checks import Choice, Fraction, Index, PanelSize, Refused, index_in, validates, at_least, print_scale
from .long_tasks import LongTasks

__all__ = ["AttributionExplorer", "default_methods"]

TOP = 5
VIEWS = ("overlay", "side")
SCALINGS = ("column", "row")
_STEPS = 1000  # progress resolution of one (image, method) unit


def method_title(name: str) -> str:
    """How views title a method: its record's title (a Captum class, or any other name, as it is)."""
    return attribution.METHODS[name].title if name in attribution.METHODS else name


def default_methods(model: nn.Module | None = None, inputs: torch.Tensor | None = None) -> tuple[str, ...]:
    """The fast methods: the gradient family, Grad-CAM, and LRP when zennit is installed and
    supports the model (not transformers, nor gated or layer-normalised CNNs)."""
    fast = ("gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "grad_cam")
    return fast + (("lrp",) if lrp.available(model, inputs) else ())


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    return f"{float(f'{v:.4g}'):g}"


class AttributionExplorer(LongTasks, XaiWidget):
    """A grid of images x attribution methods with a fixed, stated scale per method.

    Parameters
    ----------
    model : nn.Module
        Image -> logits (N x K), on any device; left exactly as given.
    images : sequence
        PIL images, arrays or tensors that :func:`xai_widgets.core.images.to_batch` accepts (one
        size), or one N x C x H x W tensor / N x H x W x C array.
    methods : sequence, optional
        Names from :data:`xai_widgets.attribution.METHOD_NAMES` and/or Captum attribution
        objects built on ``model`` (e.g. ``captum.attr.Saliency(model)``). Default: the fast
        ones, :func:`default_methods` (gradient, gradient x input, SmoothGrad, Integrated
        Gradients, Grad-CAM, and LRP when zennit is installed). Extremal perturbation
        (``"extremal_perturbation"``) and meaningful perturbation are optimisations, slow on
        a CPU: they run only when asked for (a few hundred iterations keep them quick, e.g.
        ``options={"extremal_perturbation": {"iterations": 200}}``).
    target : None, int or sequence of ints
        The class explained per image: None (each image's top-1), one class for all, or one
        per image. Clicking a class in the widget changes it (trait ``targets``).
    contrast : None, int or sequence of ints/None
        Optional class B per image: the maps then explain ``logit[A] - logit[B]`` ("A vs B").
        Shift-click in the widget (trait ``contrasts``). Captum objects explain a class alone;
        their cells stay empty (NaN) for an image with a contrast.
    classes : sequence of str, optional
        Class names (default ``class 0``, ``class 1``, ...).
    preprocess : callable, optional
        PIL image -> C x H x W tensor (e.g. a torchvision transform); default [0, 1] floats.
    options : dict, optional
        ``{method: {keyword: value}}``, the method's options for ``attribute`` (a Captum
        object's key is the object or its class name), e.g.
        ``{"integrated_gradients": {"steps": 64, "baseline": "blur"}}``.
    size : int, optional
        Preferred long side of one cell in CSS pixels (default 128); the browser shrinks the
        cells to the width of the output, down to a readable minimum, and wraps the method
        columns into further blocks past that.
    scaling : "column" or "row"
        "column" (default): one scale per method over all images, so colours compare down a
        column. "row": each image's maps on that image's own scale (same rule), so an image
        with weak maps is not left grey by a strong one; colours then compare within a cell
        only. Trait ``scaling``, also a control in the widget's header.
    max_bytes : int
        Payload budget (default 64 MiB): the widget refuses to build past it, saying what
        would be shipped.
    output : int, str or callable, optional
        Which part of the model's output holds the logits when it is not a plain tensor
        (a tuple, a dict, a Hugging Face output): an index, a key or a callable
        (:mod:`xai_widgets.core.outputs`).

    Synced state: ``targets`` (class per image), ``contrasts`` (class B or None per image),
    ``positions`` ({method: slider position per image}; synced when a slider is released),
    ``view`` ("overlay" or "side"), ``opacity`` (of the map over the image), ``scaling``, ``size``.
    """

    _esm = STATIC / "attribution.js"

    _css = STATIC / "attribution.css"
    _images = traitlets.Dict().tag(sync=True)
    _probs = traitlets.Dict().tag(sync=True)
    _maps = traitlets.Dict().tag(sync=True)
    _colormaps = traitlets.Dict().tag(sync=True)
    targets = traitlets.List(Index()).tag(sync=True)
    contrasts = traitlets.List(Index(allow_none=True)).tag(sync=True)
    positions = traitlets.Dict().tag(sync=True)
    view = Choice(VIEWS, default_value="overlay").tag(sync=True)
    opacity = Fraction(0.8).tag(sync=True)
    scaling = Choice(SCALINGS, default_value="column").tag(sync=True)
    size = PanelSize(128).tag(sync=True)

    _browser_traits = frozenset({"targets", "contrasts", "positions", "view", "opacity", "scaling"})

    def __init__(
        self,
        model: nn.Module,
        images,
        *,
        methods: Sequence | None = None,
        target=None,
        contrast=None,
        classes: Sequence[str] | None = None,
        preprocess: Callable | None = None,
        options: dict | None = None,
        size: int = 128,
        scaling: str = "column",
        max_bytes: int = 64 * wire.MiB,
        output=None,
    ):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        model = with_output(model, output)
        self.model, self.preprocess, self.max_bytes = model, preprocess, at_least("max_bytes", max_bytes)
        images = as_image_list(images)
        if not images:
            raise ValueError("no images: pass at least one image (PIL image, array or tensor)")
        self.inputs = to_batch(images, model, preprocess)  # N x C x H x W on the CPU
        check_input_size(self.inputs, "AttributionExplorer")
        N, _, H, W = self.inputs.shape
        self._methods = self._method_list(default_methods(model, self.inputs) if methods is None else methods)
        self._options = self._option_map(options)
        self._display = self._display_pixels(images)  # N x H x W x 3 uint8
        # what ships before any slider, from shapes, before the work: maps (float16) and images
        base = N * len(self._methods) * H * W * 2 + self._display.nbytes
        self._check_budget(base, "the maps alone")
        logits = targets.model_logits(model, targets.prepare_inputs(model, self.inputs))
        self.probabilities = logits.float().softmax(1).cpu()
        K = int(self.probabilities.shape[1])
        if classes is not None and len(classes) != K:
            raise ValueError(f"{len(classes)} class names for a model with {K} outputs")
        self.classes = [str(c) for c in classes] if classes is not None else None
        t, c = targets.targets_from_logits(logits, target, self._contrast_arg(contrast, N))
        self._computed = ([int(v) for v in t.tolist()],
                          self._contrast_list(contrast, c, N))
        self._check_pairs(*self._computed)
        self.results: dict[str, list] = {key: [None] * N for key, _ in self._methods}
        self._scales: dict[str, tuple[float, str]] = {}
        self._row_scales: dict[str, list[float]] = {}
        self._publishing = False
        self._deferred = False
        self._ready = False
        super().__init__(
            size=size,
            scaling=scaling,
            _colormaps={name: table.tobytes() for name, table in colormaps.LUTS.items()},
            _images={"pixels": wire.encode(self._display, "uint8"), "titles": [f"image {i}" for i in range(N)]},
            _probs={"probs": wire.encode(self.probabilities, "float32"),
                    "classes": [self.class_name(k) for k in range(K)]},
            targets=list(self._computed[0]),
            contrasts=list(self._computed[1]),
        )
        done = self._run_task("attribution", self._work(list(range(N)), *self._computed))
        if done is None:
            raise RuntimeError(self.message or "the attribution maps could not be computed")
        self._check_budget(self.payload_bytes, "the maps and every slider position")
        self._ready = True

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _method_list(methods) -> list[tuple[str, object]]:
        if isinstance(methods, str) or not isinstance(methods, Sequence):
            methods = [methods]
        if not methods:
            raise ValueError("no methods: pass at least one name from xw.attribution.METHOD_NAMES "
                             "or a Captum attribution object")
        out, seen = [], set()
        for m in methods:
            if isinstance(m, str):
                if m not in attribution.METHODS:
                    raise attribution._unknown_method(m)
                if m == "lrp" and importlib.util.find_spec("zennit") is None:
                    raise ImportError('the "lrp" method needs zennit: pip install "xai_widgets[lrp]"')
                key = m
            elif callable(getattr(m, "attribute", None)):
                key = type(m).__name__
            else:
                raise TypeError(f"a method must be a name from xw.attribution.METHOD_NAMES or a Captum "
                                f"attribution object (with .attribute), got {type(m).__name__}")
            if key in seen:
                raise ValueError(f"method {key!r} is listed twice; a column per method")
            seen.add(key)
            out.append((key, m))
        return out

    def _option_map(self, options) -> dict[str, dict]:
        options = options or {}
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict {{method: {{keyword: value}}}}, got {type(options).__name__}")
        keys = [k for k, _ in self._methods]
        out = {}
        for name, kw in options.items():
            key = name if isinstance(name, str) else type(name).__name__
            if key not in keys:
                raise ValueError(f"options for {key!r}, which is not among the methods ({', '.join(keys)})")
            if not isinstance(kw, dict):
                raise TypeError(f"options[{key!r}] must be a dict of keyword options, got {type(kw).__name__}")
            out[key] = dict(kw)
        return out

    @staticmethod
    def _contrast_arg(contrast, n):
        """``contrast`` for resolve_targets (validation only): None entries replaced by -1 -> skip."""
        if contrast is None:
            return None
        if isinstance(contrast, (list, tuple)) and any(v is None for v in contrast):
            if len(contrast) != n:
                raise ValueError(f"contrast must be one class (or None) per image ({n} values), got {len(contrast)}")
            return None  # checked one by one in _contrast_list
        return contrast

    def _contrast_list(self, contrast, resolved, n) -> list:
        if contrast is None:
            return [None] * n
        if resolved is not None:
            return [int(v) for v in resolved.tolist()]
        K = self.probabilities.shape[1]
        out = []
        for i, v in enumerate(contrast):
            if v is not None and not (isinstance(v, (int, np.integer)) and 0 <= int(v) < K):
                raise ValueError(f"contrast {v!r} (image {i}) is out of range: classes are 0..{K - 1}")
            out.append(None if v is None else int(v))
        return out

    def _check_pairs(self, targets, contrasts) -> None:
        for i, (t, c) in enumerate(zip(targets, contrasts)):
            if c is not None and c == t:
                raise ValueError(f"image {i}: the contrast class equals the target ({self.class_name(t)}); "
                                 "A vs B needs two different classes")

    def _display_pixels(self, images) -> np.ndarray:
        """N x H x W x 3 uint8 at the model input's size: the input itself when it is the image."""
        x = self.inputs
        H, W = x.shape[-2:]
        if self.preprocess is None:
            rgb = x if x.shape[1] == 3 else x[:, :1].repeat(1, 3, 1, 1)
            return hwc_pixels(rgb)
        out = []
        for i, img in enumerate(images):
            px = display_pixels(img, (H, W), max(H, W), i)
            if px.shape[:2] != (H, W):
                px = np.asarray(Image.fromarray(px).resize((W, H), Image.Resampling.LANCZOS))
            out.append(px)
        return np.stack(out)

    # ------------------------------------------------------------------ computing
    def _attribute_one(self, key, spec, i, target, contrast, progress, cancel):
        x = self.inputs[i:i + 1]
        if contrast is not None and not isinstance(spec, str):
            # a Captum object explains one class, not A vs B: an empty (NaN) cell that says why
            H, W = x.shape[-2:]
            return attribution.Attribution(
                key, torch.full((1, H, W), float("nan")), torch.tensor([target]), torch.tensor([contrast]), None,
                {"note": "no A vs B for a Captum object"})
        return attribution.attribute(self.model, x, spec, target=target, contrast=contrast, series=True,
                                     progress=progress, cancel=cancel, **self._options.get(key, {}))

    def _work(self, rows: list[int], targets: list, contrasts: list):
        """The task: every method for the given rows, committed at once at the end."""
        units = [(i, key, spec) for i in rows for key, spec in self._methods]
        total = len(units) * _STEPS

        def work(progress, cancel):
            new = {}
            for u, (i, key, spec) in enumerate(units):
                check(cancel)

                def sub(done, tot, u=u):
                    frac = min(1.0, done / tot) if tot else 0.0
                    progress(u * _STEPS + int(frac * (_STEPS - 1)), total)

                new[(i, key)] = self._attribute_one(key, spec, i, targets[i], contrasts[i], sub, cancel)
                progress((u + 1) * _STEPS, total)
            check(cancel)
            for (i, key), result in new.items():
                self.results[key][i] = result
            for i in rows:
                self._computed[0][i], self._computed[1][i] = targets[i], contrasts[i]
            self._publish(rows)
            return new

        return work

    def _request(self, background: bool) -> None:
        """Recompute the rows whose requested classes differ from the computed ones."""
        targets, contrasts = list(self.targets), list(self.contrasts)
        try:
            self._check_pairs(targets, contrasts)
        except ValueError:
            self._revert()
            raise
        rows = [i for i in range(len(targets))
                if (targets[i], contrasts[i]) != (self._computed[0][i], self._computed[1][i])]
        if not rows:
            return
        if self.busy:
            self._revert()
            raise ValueError(f"{self.progress['task']} is still running; wait for it or press Cancel")
        names = ", ".join(str(i) for i in rows)

        work = self._work(rows, targets, contrasts)
        if background:
            self._run_task(f"explaining image {names}", work, background=True, on_error=lambda _exc: self._revert())
            return
        try:
            self._run_task(f"explaining image {names}", work)
        finally:
            self._revert()  # cancelled, failed or done: the traits show what the maps explain

    def _revert(self) -> None:
        """Put ``targets``/``contrasts`` back to what the shown maps explain."""
        if (list(self.targets), list(self.contrasts)) == (self._computed[0], self._computed[1]):
            return
        self._publishing = True
        try:
            self.targets, self.contrasts = list(self._computed[0]), list(self._computed[1])
        finally:
            self._publishing = False

    def _guarded(self, name, work, use_tqdm):
        out = super()._guarded(name, work, use_tqdm)
        if out is None and self._ready:
            self._revert()  # cancelled in the background: back to the computed classes
        return out

    # ------------------------------------------------------------------ what ships
    def _publish(self, rows: list[int]) -> None:
        """Scales, payload and positions after new results (one ``_maps`` update)."""
        methods = []
        positions = {k: list(v) for k, v in self.positions.items()}
        for key, spec in self._methods:
            res = self.results[key]
            sliders = [r.series for r in res]
            has_slider = all(s is not None for s in sliders)
            stacks = [(s.maps if has_slider else r.maps).detach().float().cpu().reshape(-1)
                      for r, s in zip(res, sliders)]
            s, rule = scale_of([t.numpy() for t in stacks])
            self._scales[key] = (s, rule)
            self._row_scales[key] = [scale_of([t.numpy()])[0] for t in stacks]
            maps = torch.stack([r.maps[0].detach().float().cpu() for r in res])  # N x H x W
            entry = {"key": key, "title": self._title(key, spec, res), "scale": s, "rule": rule,
                     "row_scales": self._row_scales[key],
                     "maps": wire.encode(maps / s, "float16"), "info": self._info(res)}
            if has_slider:
                entry["slider"] = self._slider_payload(key, res, s)
                old = positions.get(key, [sl.index for sl in sliders])
                positions[key] = [int(sliders[i].index) if i in rows else int(old[i]) for i in range(len(res))]
            methods.append(entry)
        payload = {"methods": methods,
                   "computed": {"targets": list(self._computed[0]), "contrasts": list(self._computed[1])}}
        payload["bytes"] = self._bytes_of(payload)
        self._publishing = True
        try:
            with self.hold_sync():
                self.positions = positions
                self._maps = payload
                self.targets, self.contrasts = list(self._computed[0]), list(self._computed[1])
        finally:
            self._publishing = False

    def _bytes_of(self, maps_payload) -> int:
        total = wire.payload_bytes(self._images["pixels"]) + wire.payload_bytes(self._probs["probs"])
        for m in maps_payload["methods"]:
            total += wire.payload_bytes(m["maps"])
            sl = m.get("slider")
            if sl:
                total += wire.payload_bytes(sl["maps"]) + (wire.payload_bytes(sl["images"]) if sl["images"] else 0)
        return total

    @property
    def payload_bytes(self) -> int:
        """Bytes of binary data the widget ships to the browser (images, maps, slider positions)."""
        return int(self._maps.get("bytes", 0))

    def _check_budget(self, nbytes: int, what: str) -> None:
        N, _, H, W = self.inputs.shape
        wire.check_budget(
            nbytes, self.max_bytes, f"AttributionExplorer ({what}: {N} images of {H} x {W}, {len(self._methods)} methods)",
            "Pass fewer images or methods, smaller images, fewer slider positions (e.g. "
            "options={'integrated_gradients': {'positions': 8}}), or raise max_bytes.")

    def _title(self, key, spec, res) -> str:
        title = method_title(key) if isinstance(spec, str) else key
        layer = next((r.info.get("layer") for r in res if r.info.get("layer")), None)
        return f"{title} ({layer})" if layer else title

    @staticmethod
    def _info(res) -> dict:
        info = {}
        if all("delta" in r.info for r in res):
            info["delta"] = [float(r.info["delta"].reshape(-1)[0]) for r in res]
        notes = [r.info.get("note", "") for r in res]
        if any(notes):
            info["notes"] = notes
        return info

    @staticmethod
    def _series_words(key: str) -> dict:
        """How the browser labels a method's map series: the symbol and unit of its record's axis."""
        axis = attribution.METHODS[key].series
        return {"word": axis.symbol, "unit": axis.unit}

    def _slider_payload(self, key, res, s) -> dict:
        sl0 = res[0].series
        S = len(sl0.values)
        if any(len(r.series.values) != S for r in res):
            raise ValueError(f"{key}: the slider positions differ between images")
        maps = torch.stack([r.series.maps[0].detach().float().cpu() for r in res])  # N x S x H x W
        out = {"name": sl0.name, "values": [float(v) for v in sl0.values], "index": [int(r.series.index) for r in res],
               "maps": wire.encode(maps / s, "float16"), **self._series_words(key),
               "images": None, "scores": None, "full": None, "best": None}
        if all(r.series.images is not None for r in res):
            imgs = torch.stack([self._slider_images(i, r.series.images[0]) for i, r in enumerate(res)])
            out["images"] = wire.encode(imgs, "uint8")  # N x S x H x W x C
        if all(r.series.scores is not None for r in res):
            out["scores"] = [[_finite(v) for v in r.series.scores[0].reshape(-1).tolist()] for r in res]
        if all("full_score" in r.info for r in res):
            out["full"] = [_finite(float(torch.as_tensor(r.info["full_score"]).reshape(-1)[0])) for r in res]
        if all("best" in r.info for r in res):
            out["best"] = [int(torch.as_tensor(r.info["best"]).reshape(-1)[0]) for r in res]
        return out

    def _slider_images(self, i: int, images: torch.Tensor) -> torch.Tensor:
        """S x C x H x W model-input images -> S x H x W x C uint8 display pixels.

        Without ``preprocess`` the input is the image in [0, 1]; with one (e.g. a mean/std
        normalisation) each channel is mapped back by the range of the image's own input.
        """
        t = images.detach().float().cpu()
        if self.preprocess is not None:
            x = self.inputs[i]
            lo = x.amin(dim=(1, 2)).view(1, -1, 1, 1)
            hi = x.amax(dim=(1, 2)).view(1, -1, 1, 1)
            t = (t - lo) / (hi - lo).clamp_min(1e-12)
        return to_uint8(t).permute(0, 2, 3, 1).contiguous()

    # ------------------------------------------------------------------ validation of what the browser sets
    def _class_list(self, proposal, entry: str) -> list:
        """The proposed targets or contrasts: one ``entry`` per image, each a class index (or None)."""
        v, name = list(proposal["value"]), proposal["trait"].name
        n, K = len(self.inputs), int(self.probabilities.shape[1])
        if len(v) != n:
            raise Refused(f"{name} must hold {entry} per image ({n}), got {len(v)}")
        return [None if k is None else index_in(f"{name[:-1]} of image {i}", k, K, "a class index")
                for i, k in enumerate(v)]

    @validates("targets")
    def _validate_targets(self, proposal):
        v = self._class_list(proposal, "one class")
        if self._ready and not self._deferred and not self._publishing:
            for i, (t, c) in enumerate(zip(v, self.contrasts)):
                if c is not None and c == t:
                    raise Refused(f"image {i}: target {t} equals its contrast class; clear the "
                                  "contrast first (or use w.retarget)")
        return v

    @validates("contrasts")
    def _validate_contrasts(self, proposal):
        v = self._class_list(proposal, "one class or None")
        if self._ready and not self._deferred and not self._publishing:
            for i, (t, c) in enumerate(zip(self.targets, v)):
                if c is not None and c == t:
                    raise Refused(f"image {i}: contrast {c} equals the target; A vs B needs two classes")
        return v

    @validates("positions")
    def _validate_positions(self, proposal):
        v = proposal["value"]
        if not self._maps:
            return v
        sliders = {m["key"]: len(m["slider"]["values"]) for m in self._maps["methods"] if m.get("slider")}
        if set(v) != set(sliders):  # every slider column always has its positions
            raise Refused(f"positions must map each slider method ({', '.join(sliders) or 'none'}) to one "
                          f"position per image, got keys {sorted(map(str, v))}")
        n = len(self.inputs)
        for key, pos in v.items():
            if not isinstance(pos, list) or len(pos) != n:
                raise Refused(f"positions[{key!r}] must list one position per image ({n})")
        return {key: [index_in(f"positions[{key!r}][{i}]", p, sliders[key], "a slider position")
                      for i, p in enumerate(pos)] for key, pos in v.items()}

    @traitlets.observe("targets", "contrasts")
    def _on_request(self, _change):
        if self._ready and not self._publishing and not self._deferred:
            self._request(background=False)  # from Python: in the calling cell, with a progress bar

    def set_state(self, sync_data):
        """Browser updates: a class pick sends ``targets`` and ``contrasts`` together; recompute once."""
        self._deferred = True
        try:
            super().set_state(sync_data)
        finally:
            self._deferred = False
        if self._ready and ("targets" in sync_data or "contrasts" in sync_data):
            try:
                self._request(background=True)  # the kernel stays free to hear Cancel
            except ValueError as exc:
                self.message = f"Ignored the class choice: {exc}"

    def _on_custom_msg(self, widget, content, buffers):
        if isinstance(content, dict) and content.get("type") == "cancel":
            self.cancel()
        else:
            super()._on_custom_msg(widget, content, buffers)

    # ------------------------------------------------------------------ Python API
    @property
    def methods(self) -> list[str]:
        """The method keys, in column order (names, or a Captum object's class name)."""
        return [k for k, _ in self._methods]

    def _key(self, method) -> str:
        key = method if isinstance(method, str) else type(method).__name__
        if key not in self.results:
            raise ValueError(f"unknown method {key!r}; the columns are {', '.join(self.methods)}")
        return key

    def _row(self, image) -> int:
        n = len(self.inputs)
        if not isinstance(image, (int, np.integer)) or not 0 <= image < n:
            raise ValueError(f"image must be an index in 0..{n - 1}, got {image!r}")
        return int(image)

    def class_name(self, k: int) -> str:
        return self.classes[k] if self.classes and 0 <= k < len(self.classes) else f"class {k}"

    def attribution(self, method, image: int) -> attribution.Attribution:
        """The :class:`~xai_widgets.attribution.Attribution` behind one cell (a batch of one image)."""
        return self.results[self._key(method)][self._row(image)]

    def maps(self, method) -> torch.Tensor:
        """N x H x W signed maps of a method (at each image's own slider index), float32 on the CPU."""
        return torch.stack([r.maps[0].detach().float().cpu() for r in self.results[self._key(method)]])

    def scale(self, method) -> float:
        """The column's fixed scale s (maps are drawn over [-s, s]); see :data:`xai_widgets.core.diverging.SCALE_RULE`."""
        return self._scales[self._key(method)][0]

    def scale_rule(self, method) -> str:
        return self._scales[self._key(method)][1]

    def row_scale(self, image: int, method) -> float:
        """Image ``image``'s own scale for a method (the column rule over that image's maps and
        slider positions only): what ``scaling="row"`` draws its cells on."""
        return self._row_scales[self._key(method)][self._row(image)]

    def _drawn_scale(self, image: int, method, scaling: str | None = None) -> float:
        """The scale a cell is drawn on, in units of its column's scale (the shipped values' unit)."""
        scaling = self.scaling if scaling is None else type(self).scaling.validate(self, scaling)
        return self.row_scale(image, method) / self.scale(method) if scaling == "row" else 1.0

    def position(self, method, image: int) -> int | None:
        """The slider position shown for (image, method), None for a method without a slider."""
        key, i = self._key(method), self._row(image)
        pos = self.positions.get(key)
        return None if pos is None else int(pos[i])

    def shipped_values(self, image: int, method, position: int | None = None) -> np.ndarray:
        """H x W values the browser holds for a cell, in units of the scale (map / s, via float16)."""
        key, i = self._key(method), self._row(image)
        entry = next(m for m in self._maps["methods"] if m["key"] == key)
        sl = entry.get("slider")
        if sl is None:
            return wire.decode(entry["maps"])[i]
        p = self.position(key, i) if position is None else int(position)
        if not 0 <= p < len(sl["values"]):
            raise ValueError(f"position must be in 0..{len(sl['values']) - 1}, got {p}")
        return wire.decode(sl["maps"])[i, p]

    def pixels(self, image: int, method, position: int | None = None, *, view: str | None = None,
               opacity: float | None = None, scaling: str | None = None) -> np.ndarray:
        """H x W x 4 uint8: exactly the RGBA the browser draws in the cell (see :func:`xai_widgets.core.diverging.shade`),
        on the column's or the image's own scale (``scaling``, default the trait's)."""
        view = self.view if view is None else view
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        values = self.shipped_values(image, method, position)
        grey = greyed(self._display[self._row(image)]) if view == "overlay" else None
        return shade(values, self._drawn_scale(image, method, scaling), grey,
                     self.opacity if opacity is None else type(self).opacity.validate(self, opacity))

    def retarget(self, image: int, target: int, contrast: int | None = None) -> None:
        """Explain class ``target`` (versus ``contrast``, if given) for one image, in the calling cell."""
        i = self._row(image)
        targets, contrasts = list(self.targets), list(self.contrasts)
        targets[i], contrasts[i] = target, contrast
        self._deferred = True
        try:
            self.contrasts = contrasts
            self.targets = targets
        finally:
            self._deferred = False
        self._request(background=False)

    # ------------------------------------------------------------------ static figure
    def render_png(self, panel: int | None = None, scale: float = 1) -> Image.Image:
        """The grid as a PIL image: per image row, the image with its explained class and top-5
        beside it, then one map per method; each method's legend over its column (with
        ``scaling="row"``, the legend is in units of each cell's own scale, stated under the cell).

        ``panel``: long side of a map in pixels (default the widget's ``size``, at least 128);
        ``scale``: a multiplier of every length, for print (2 gives twice the pixels, same picture).
        """
        scale = print_scale(scale)
        u = lambda v: max(1, round(v * scale))  # noqa: E731 - every length at the print scale
        side = max(64, int(panel or max(self.size, 128)))
        N, _, H, W = self.inputs.shape
        cw, ch = (side, max(1, round(side * H / W))) if W >= H else (max(1, round(side * W / H)), side)
        fs = max(10, side // 11)
        fnt, small = render.font(u(fs)), render.font(u(max(9, fs - 2)))
        measure = render.font(max(9, fs - 2))  # widths measured at scale 1, so all sizes scale exactly
        gap, line = max(6, side // 16), fs + 2
        row_mode = self.scaling == "row"
        entries = {m["key"]: m for m in self._maps["methods"]}
        probs = self.probabilities
        lists = []
        for i in range(N):
            t, c = self._computed[0][i], self._computed[1][i]
            shown = probs[i].topk(min(TOP, probs.shape[1])).indices.tolist()
            shown += [k for k in (t, c) if k is not None and k not in shown]  # A and B always listed
            what = f"explains {self.class_name(t)}" if c is None else f"{self.class_name(t)} vs {self.class_name(c)}"
            lines = [(what, render.TEXT)] + [
                (f"{'A ' if k == t else 'B ' if k == c else ''}{self.class_name(k)} {100 * float(probs[i, k]):.1f}%",
                 (0, 114, 178) if k == t else (213, 94, 0) if k == c else render.TEXT) for k in shown]
            lists.append([(render.png_text(text), colour) for text, colour in lines])
        list_w = min(2 * cw, max(int(measure.getlength(t)) for rows in lists for t, _ in rows) + 4)
        captions = [[self._caption(entries[key], i, row_mode) for key, _ in self._methods] for i in range(N)]
        cap_h = line if any(any(row) for row in captions) else 0
        row_h = [max(ch + cap_h, len(rows) * line) for rows in lists]
        lfs = max(9, fs - 2)
        head_h = line + 3 * lfs + 20  # the title, then render.legend (bar, ticks, caption)
        col0 = cw + gap + list_w
        M = len(self._methods)
        width = gap + col0 + M * (gap + cw) + gap
        height = gap + head_h + sum(row_h) + gap * N
        fig = Image.new("RGB", (u(width), u(height)), render.BACKGROUND)
        draw = ImageDraw.Draw(fig)
        x0 = lambda j: gap + (0 if j == 0 else col0 + gap + (j - 1) * (cw + gap))  # noqa: E731
        for j, (key, _) in enumerate(self._methods, start=1):
            e = entries[key]
            draw.text((u(x0(j)), u(gap)), render.ellipsis(e["title"], fnt, u(cw)), fill=render.TEXT, font=fnt)
            if row_mode:
                lo, hi, rule = -1.0, 1.0, "x each image's s"
            else:
                lo, hi, rule = -e["scale"], e["scale"], f"column: {e['rule']}"
            fig.paste(render.legend("diverging", lo, hi, max_width=u(cw), font_size=u(lfs),
                                    caption=render.ellipsis(rule, small, u(cw))),
                      (u(x0(j)), u(gap + line)))
        y = gap + head_h
        for i in range(N):
            img = Image.fromarray(self._display[i]).resize((u(cw), u(ch)), Image.Resampling.LANCZOS)
            fig.paste(img, (u(x0(0)), u(y)))
            for n, (text, colour) in enumerate(lists[i]):
                draw.text((u(x0(0) + cw + gap), u(y + n * line)), render.ellipsis(text, small, u(list_w)), fill=colour,
                          font=small)
            for j, (key, _) in enumerate(self._methods, start=1):
                px = Image.fromarray(self.pixels(i, key)[..., :3]).resize((u(cw), u(ch)), Image.Resampling.NEAREST)
                fig.paste(px, (u(x0(j)), u(y)))
                if captions[i][j - 1]:
                    draw.text((u(x0(j)), u(y + ch + 1)), render.ellipsis(captions[i][j - 1], small, u(cw)),
                              fill=render.TEXT, font=small)
            y += row_h[i] + gap
        return fig

    def _caption(self, entry, i: int, row_mode: bool = False) -> str:
        """The line under a cell in the PNG: its own scale (row scaling), note, δ or slider position."""
        own = f"±{_fmt(entry['row_scales'][i])}" if row_mode else ""
        return " · ".join(t for t in (own, self._cell_note(entry, i)) if t)

    def _cell_note(self, entry, i: int) -> str:
        sl = entry.get("slider")
        notes = entry["info"].get("notes")
        if notes and notes[i]:
            return notes[i]
        if sl is None:
            d = entry["info"].get("delta")
            return f"δ = {_fmt(d[i])}" if d else ""
        p = self.position(entry["key"], i)
        word = {"area": "area", "alpha": "α", "noise": "noise"}.get(sl["name"], sl["name"])
        text = f"{word} {_fmt(sl['values'][p])}"
        if sl["name"] == "area" and sl["scores"] and sl["full"] and sl["full"][i]:
            text += f" · Φ ratio {sl['scores'][i][p] / sl['full'][i]:.2f}"
        return text

    def __repr__(self) -> str:
        if not self._maps:
            return "AttributionExplorer()"
        n, k = len(self.inputs), len(self._methods)
        return (f"AttributionExplorer({n} image{'s' * (n != 1)} x {k} method{'s' * (k != 1)}: "
                f"{', '.join(self.methods)}; ships {wire.fmt_bytes(self.payload_bytes)})")


def _finite(v: float):
    return float(v) if math.isfinite(v) else None


