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

from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..attribution import methods as attribution, lrp
from ..core import colormaps, targets, wire
from ..core.diverging import greyed, shade
from ..core.images import check_input_size, as_image_list, to_batch
from ..core.outputs import with_output
from ..core.targets import class_label
from .attribution_cells import attribute_cells
from .attribution_inputs import (check_pairs, class_list, explained_classes, method_list, option_map,
                                 refuse_same_classes, slider_positions)
from .attribution_payload import cell_values, display_images, method_entry, shipped_bytes
from .attribution_picture import cell_caption, render_grid
from .base import STATIC, XaiWidget
from .checks import Choice, Fraction, Index, PanelSize, validates, at_least, print_scale
from .long_tasks import LongTasks

__all__ = ["AttributionExplorer", "default_methods"]

VIEWS = ("overlay", "side")
SCALINGS = ("column", "row")


def method_title(name: str) -> str:
    """How views title a method: its record's title (a Captum class, or any other name, as it is).

    Parameters
    ----------
    name : str
        A method name (a key of ``xai_widgets.attribution.METHODS``) or a Captum class name.

    Returns
    -------
    str
        The record's ``title`` for a known method, else ``name`` unchanged.
    """
    return attribution.METHODS[name].title if name in attribution.METHODS else name


def default_methods(model: nn.Module | None = None, inputs: torch.Tensor | None = None) -> tuple[str, ...]:
    """The fast methods: the gradient family, Grad-CAM, and LRP when zennit is installed and
    supports the model (not transformers, nor gated or layer-normalised CNNs).

    Parameters
    ----------
    model : nn.Module or None, optional
        The model LRP would explain. Default None.
    inputs : torch.Tensor or None, optional
        Example model inputs, N x C x H x W, for the LRP check. Default None.

    Returns
    -------
    tuple of str
        ``("gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "grad_cam")``,
        followed by ``"lrp"`` when ``xai_widgets.attribution.lrp.available(model, inputs)``.
    """
    fast = ("gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "grad_cam")
    return fast + (("lrp",) if lrp.available(model, inputs) else ())


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

    Attributes
    ----------
    targets : list of int
        Synced: the class explained per image. Setting it (or ``contrasts``) recomputes the
        images whose classes changed, in the calling cell.
    contrasts : list of int or None
        Synced: class B per image, or None where the map explains class A alone.
    positions : dict
        Synced: ``{method key: slider position per image}`` for the methods with a slider;
        synced when a slider is released.
    view : {"overlay", "side"}
        Synced: the map shaded over the image, or drawn beside it. Default ``"overlay"``.
    opacity : float
        Synced: opacity of the map over the image, in [0, 1]. Default 0.8.
    scaling : {"column", "row"}
        Synced: see the ``scaling`` parameter.
    size : int
        Synced: see the ``size`` parameter.
    inputs : torch.Tensor
        N x C x H x W model inputs, on the CPU.
    probabilities : torch.Tensor
        N x K softmax of the model's logits, on the CPU.
    results : dict
        ``{method key: list of Attribution}``, one result per image.

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module``.
    ValueError
        If there are no images, the number of class names does not match the model's
        outputs, ``target``/``contrast`` are invalid (e.g. a contrast equal to its
        target), or the payload would exceed ``max_bytes``.
    RuntimeError
        If computing the maps was cancelled.
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

    def __init__(self, model: nn.Module, images, *, methods: Sequence | None = None, target=None, contrast=None,
                 classes: Sequence[str] | None = None, preprocess: Callable | None = None, options: dict | None = None,
                 size: int = 128, scaling: str = "column", max_bytes: int = 64 * wire.MiB, output=None):
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
        self._methods = method_list(default_methods(model, self.inputs) if methods is None else methods)
        self._options = option_map(options, self.methods)
        self._display = display_images(self.inputs, images, preprocess)  # N x H x W x 3 uint8
        # what ships before any slider, from shapes, before the work: maps (float16) and images
        base = N * len(self._methods) * H * W * 2 + self._display.nbytes
        self._check_budget(base, "the maps alone")
        logits = targets.model_logits(model, targets.prepare_inputs(model, self.inputs))
        self.probabilities = logits.float().softmax(1).cpu()
        K = int(self.probabilities.shape[1])
        if classes is not None and len(classes) != K:
            raise ValueError(f"{len(classes)} class names for a model with {K} outputs")
        self.classes = [str(c) for c in classes] if classes is not None else None
        self._computed = explained_classes(logits, target, contrast, self.class_name)
        self.results: dict[str, list] = {key: [None] * N for key, _ in self._methods}
        self._scales: dict[str, tuple[float, str]] = {}
        self._row_scales: dict[str, list[float]] = {}
        self._publishing = False
        self._deferred = False
        self._ready = False
        super().__init__(
            size=size, scaling=scaling, _colormaps={name: table.tobytes() for name, table in colormaps.LUTS.items()},
            _images={"pixels": wire.encode(self._display, "uint8"), "titles": [f"image {i}" for i in range(N)]},
            _probs={"probs": wire.encode(self.probabilities, "float32"),
                    "classes": [self.class_name(k) for k in range(K)]},
            targets=list(self._computed[0]), contrasts=list(self._computed[1]))
        done = self._run_task("attribution", self._work(list(range(N)), *self._computed))
        if done is None:
            raise RuntimeError(self.message or "the attribution maps could not be computed")
        self._check_budget(self.payload_bytes, "the maps and every slider position")
        self._ready = True

    # ------------------------------------------------------------------ computing
    def _work(self, rows: list[int], targets: list, contrasts: list):
        """The task: every method for the given rows, committed at once at the end."""
        units = [(i, key, spec) for i in rows for key, spec in self._methods]

        def work(progress, cancel):
            new = attribute_cells(self.model, self.inputs, units, targets, contrasts, self._options, progress, cancel)
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
            check_pairs(targets, contrasts, self.class_name)
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
            title = method_title(key) if isinstance(spec, str) else key
            entry = method_entry(key, title, res, self.inputs, rescale=self.preprocess is not None)
            self._scales[key] = (entry["scale"], entry["rule"])
            self._row_scales[key] = entry["row_scales"]
            if "slider" in entry:  # rows just computed show their method's chosen position
                old = positions.get(key, [r.series.index for r in res])
                positions[key] = [int(res[i].series.index) if i in rows else int(old[i]) for i in range(len(res))]
            methods.append(entry)
        payload = {"methods": methods,
                   "computed": {"targets": list(self._computed[0]), "contrasts": list(self._computed[1])}}
        payload["bytes"] = shipped_bytes(self._images, self._probs, methods)
        self._publishing = True
        try:
            with self.hold_sync():
                self.positions = positions
                self._maps = payload
                self.targets, self.contrasts = list(self._computed[0]), list(self._computed[1])
        finally:
            self._publishing = False

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

    # ------------------------------------------------------------------ validation of what the browser sets
    @validates("targets", "contrasts")
    def _validate_classes(self, proposal):
        name = proposal["trait"].name
        v = class_list(proposal["value"], name, len(self.inputs), int(self.probabilities.shape[1]))
        if self._ready and not self._deferred and not self._publishing:  # set alone: no equal pair
            refuse_same_classes(*((v, self.contrasts) if name == "targets" else (self.targets, v)), name)
        return v

    @validates("positions")
    def _validate_positions(self, proposal):
        if not self._maps:
            return proposal["value"]
        sliders = {m["key"]: len(m["slider"]["values"]) for m in self._maps["methods"] if m.get("slider")}
        return slider_positions(proposal["value"], sliders, len(self.inputs))

    @traitlets.observe("targets", "contrasts")
    def _on_request(self, _change):
        if self._ready and not self._publishing and not self._deferred:
            self._request(background=False)  # from Python: in the calling cell, with a progress bar

    def set_state(self, sync_data):
        """Browser updates: a class pick sends ``targets`` and ``contrasts`` together; recompute once.

        The recomputation runs in the background; a refused pair is reported in ``message``.

        Parameters
        ----------
        sync_data : dict
            Trait names mapped to the values the browser sent.
        """
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

    def _card_parts(self) -> dict:
        """The card: the classes explained per image, every method with its effective settings and
        scale, how to read the diverging colours."""
        explained = {}
        for i, (t, c) in enumerate(zip(self.targets, self.contrasts)):
            p = float(self.probabilities[i, t])
            explained[f"image {i}"] = (f"{self.class_name(t)} (p = {p:.3g})"
                                       + ("" if c is None else f" vs {self.class_name(c)}: logit A - logit B"))
        methods = {}
        for key, method in self._methods:
            spec = attribution.METHODS.get(key) if isinstance(method, str) else None
            info = self.results[key][0].info if self.results.get(key) else {}
            settings = {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool))}
            settings.update({k: v if isinstance(v, (str, int, float, bool, list, tuple)) else type(v).__name__
                             for k, v in self._options.get(key, {}).items()})
            methods[key] = {"title": spec.title if spec else f"Captum {key}",
                            "source": spec.citation if spec else "captum.attr", **settings,
                            "scale s": f"{self.scale(key):.3g} ({self.scale_rule(key)})"}
            if key in self.positions and spec is not None and spec.series is not None:
                axis = spec.series
                methods[key]["slider per image"] = [
                    f"{axis.parameter} = {r.series.values[int(p)]:.3g} {axis.unit}".rstrip()
                    for r, p in zip(self.results[key], self.positions[key])]
        return {
            "question": "Which input pixels raise (or lower) the model's score for the class explained?",
            "explanandum": {"images": f"{len(self.inputs)} of {' x '.join(map(str, self.inputs.shape[1:]))}",
                            "classes explained": explained},
            "explainer": {"methods": methods, "scaling": self.scaling, "view": self.view},
            "interpretation": {
                "colours": "diverging over [-s, s] per method: red raises the score, blue lowers it, grey = 0",
                "scale": {"column": "one s per method over all images: colours compare down a column",
                          "row": "each image's own s: colours compare within a cell only"}[self.scaling],
                "opacity": self.opacity,
                "click": "a class bar explains that class; shift-click sets the contrast class B",
                "hover": "the readout gives the map's value at the pixel under the pointer"},
        }

    def _row(self, image) -> int:
        n = len(self.inputs)
        if not isinstance(image, (int, np.integer)) or not 0 <= image < n:
            raise ValueError(f"image must be an index in 0..{n - 1}, got {image!r}")
        return int(image)

    def class_name(self, k: int) -> str:
        """Class ``k``'s display name (``"class k"`` when no names were given)."""
        return class_label(self.classes, k)

    def attribution(self, method, image: int) -> attribution.Attribution:
        """The :class:`~xai_widgets.attribution.Attribution` behind one cell (a batch of one image).

        Parameters
        ----------
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in
            (matched by its class name).
        image : int
            The row, in ``0..N-1``.

        Returns
        -------
        Attribution
            The result of ``attribute`` for that image and method.

        Raises
        ------
        ValueError
            If ``method`` is not a column or ``image`` is not an index in range.
        """
        return self.results[self._key(method)][self._row(image)]

    def maps(self, method) -> torch.Tensor:
        """N x H x W signed maps of a method (at each image's own slider index), float32 on the CPU.

        Parameters
        ----------
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in.

        Returns
        -------
        torch.Tensor
            N x H x W float32 maps, one per image, at the position each result chose.

        Raises
        ------
        ValueError
            If ``method`` is not a column.
        """
        return torch.stack([r.maps[0].detach().float().cpu() for r in self.results[self._key(method)]])

    def scale(self, method) -> float:
        """The column's fixed scale s (maps are drawn over [-s, s]); see :data:`xai_widgets.core.diverging.SCALE_RULE`.

        Parameters
        ----------
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in.

        Returns
        -------
        float
            The scale ``s``, over all images and slider positions of the method.

        Raises
        ------
        ValueError
            If ``method`` is not a column.
        """
        return self._scales[self._key(method)][0]

    def scale_rule(self, method) -> str:
        """The rule that gave the column's scale (see :meth:`scale`).

        Parameters
        ----------
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in.

        Returns
        -------
        str
            :data:`xai_widgets.core.diverging.SCALE_RULE` (``"99.5th pct |R|"``), or the
            fallback used: ``"max |R|"``, ``"all zero"`` or ``"no finite values"``.

        Raises
        ------
        ValueError
            If ``method`` is not a column.
        """
        return self._scales[self._key(method)][1]

    def row_scale(self, image: int, method) -> float:
        """Image ``image``'s own scale for a method (the column rule over that image's maps and
        slider positions only): what ``scaling="row"`` draws its cells on.

        Parameters
        ----------
        image : int
            The row, in ``0..N-1``.
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in.

        Returns
        -------
        float
            The image's own scale ``s`` for the method.

        Raises
        ------
        ValueError
            If ``method`` is not a column or ``image`` is not an index in range.
        """
        return self._row_scales[self._key(method)][self._row(image)]

    def _drawn_scale(self, image: int, method, scaling: str | None = None) -> float:
        """The scale a cell is drawn on, in units of its column's scale (the shipped values' unit)."""
        scaling = self.scaling if scaling is None else type(self).scaling.validate(self, scaling)
        return self.row_scale(image, method) / self.scale(method) if scaling == "row" else 1.0

    def position(self, method, image: int) -> int | None:
        """The slider position shown for (image, method), None for a method without a slider.

        Parameters
        ----------
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in.
        image : int
            The row, in ``0..N-1``.

        Returns
        -------
        int or None
            The index into the method's slider values, from ``positions``.

        Raises
        ------
        ValueError
            If ``method`` is not a column or ``image`` is not an index in range.
        """
        key, i = self._key(method), self._row(image)
        pos = self.positions.get(key)
        return None if pos is None else int(pos[i])

    def shipped_values(self, image: int, method, position: int | None = None) -> np.ndarray:
        """H x W values the browser holds for a cell, in units of the scale (map / s, via float16).

        Parameters
        ----------
        image : int
            The row, in ``0..N-1``.
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in.
        position : int or None, optional
            The slider position; default None: the one shown (:meth:`position`). Ignored
            for a method without a slider.

        Returns
        -------
        numpy.ndarray
            H x W values, the map divided by the column's scale.

        Raises
        ------
        ValueError
            If ``method`` is not a column, ``image`` is not an index in range, or
            ``position`` is outside the slider's range.
        """
        key, i = self._key(method), self._row(image)
        entry = next(m for m in self._maps["methods"] if m["key"] == key)
        return cell_values(entry, i, self.position(key, i) if position is None else position)

    def pixels(self, image: int, method, position: int | None = None, *, view: str | None = None,
               opacity: float | None = None, scaling: str | None = None) -> np.ndarray:
        """H x W x 4 uint8: exactly the RGBA the browser draws in the cell (see :func:`xai_widgets.core.diverging.shade`),
        on the column's or the image's own scale (``scaling``, default the trait's).

        Parameters
        ----------
        image : int
            The row, in ``0..N-1``.
        method : str or Captum attribution object
            The column: a method key (see ``methods``) or the Captum object passed in.
        position : int or None, optional
            The slider position; default None: the one shown. Ignored for a method without
            a slider.
        view : {"overlay", "side"} or None, optional
            ``"overlay"`` blends the map over the greyed image, ``"side"`` draws it alone.
            Default None: the ``view`` trait.
        opacity : float or None, optional
            Largest alpha of the overlay, in [0, 1]. Default None: the ``opacity`` trait.
        scaling : {"column", "row"} or None, optional
            The scale drawn on. Default None: the ``scaling`` trait.

        Returns
        -------
        numpy.ndarray
            H x W x 4 uint8 RGBA.

        Raises
        ------
        ValueError
            If ``view`` is not one of the views, ``method`` is not a column, ``image`` is
            not an index in range, or ``position`` is outside the slider's range.
        Refused
            If ``opacity`` or ``scaling`` is not an accepted value.
        """
        view = self.view if view is None else view
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        values = self.shipped_values(image, method, position)
        grey = greyed(self._display[self._row(image)]) if view == "overlay" else None
        return shade(values, self._drawn_scale(image, method, scaling), grey,
                     self.opacity if opacity is None else type(self).opacity.validate(self, opacity))

    def retarget(self, image: int, target: int, contrast: int | None = None) -> None:
        """Explain class ``target`` (versus ``contrast``, if given) for one image, in the calling cell.

        The maps are recomputed with a progress bar; if that fails or is cancelled, ``targets``
        and ``contrasts`` go back to what the shown maps explain.

        Parameters
        ----------
        image : int
            The row, in ``0..N-1``.
        target : int
            The class A to explain.
        contrast : int or None, optional
            Class B: the map then explains ``logit[A] - logit[B]``. Default None: class A alone.

        Raises
        ------
        ValueError
            If ``image`` is not an index in range, ``contrast`` equals ``target``, or a
            task is still running.
        Refused
            If ``target`` or ``contrast`` is not a class index.
        """
        i = self._row(image)
        before = list(self.targets), list(self.contrasts)
        targets, contrasts = list(before[0]), list(before[1])
        targets[i], contrasts[i] = target, contrast
        self._deferred = True
        try:
            self.contrasts = contrasts
            self.targets = targets
        except Exception:  # a refused class: both go back, so they still say what the maps explain
            self.contrasts, self.targets = before[1], before[0]
            raise
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

        Parameters
        ----------
        panel : int or None, optional
            Long side of a map in pixels. Default None: ``max(size, 128)``.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.

        Returns
        -------
        PIL.Image.Image
            The grid as an RGB image.

        Raises
        ------
        Refused
            If ``scale`` is not a number in [0.25, 8].
        """
        scale = print_scale(scale)
        cells = [[self.pixels(i, key)[..., :3] for key in self.methods] for i in range(len(self.inputs))]
        return render_grid(self._display, cells, self._maps["methods"], self.probabilities, *self._computed,
                           self._probs["classes"], self.positions, row_mode=self.scaling == "row",
                           panel=panel or max(self.size, 128), scale=scale)

    def _caption(self, entry, i: int, row_mode: bool = False) -> str:
        """The line under a cell in the PNG (:func:`~xai_widgets.widgets.attribution_picture.cell_caption`)."""
        return cell_caption(entry, i, self.position(entry["key"], i), row_mode)

    def __repr__(self) -> str:
        if not self._maps:
            return "AttributionExplorer()"
        n, k = len(self.inputs), len(self._methods)
        return (f"AttributionExplorer({n} image{'s' * (n != 1)} x {k} method{'s' * (k != 1)}: "
                f"{', '.join(self.methods)}; ships {wire.fmt_bytes(self.payload_bytes)})")

