"""``InversionExplorer``: what each layer keeps of an image.

For each layer, :func:`xai_widgets.inversion.invert` finds ``n`` pre-images: images, each from
its own noise start, whose representation at that layer matches the image's (Mahendran and
Vedaldi, CVPR 2015; IJCV 2016). What they share is what the layer keeps; what varies between
them (the spread view) is what it throws away. The widget ships every layer's snapshots along
the descent once: the replay slider, the loss curves and the spread toggle run in the browser.
The inversions run in the background, layer after layer, with progress and Cancel; ``w.result``
holds the :class:`~xai_widgets.inversion.Inversion` of each finished layer.
"""
from __future__ import annotations

import inspect
from typing import Mapping, Sequence

import torch
import traitlets
from PIL import Image
from torch import nn

from ..core import wire
from ..core.capture import layers as layers_of, unknown_layer_error
from ..core.images import check_model_input
from ..inversion import Inversion, invert, snapshot_steps
from .base import STATIC, XaiWidget
from .checks import Index, PanelSize, at_least, index_in, print_scale, validates
from .inversion_payload import inversion_payload, payload_size, shipped_bytes
from .inversion_picture import inversion_picture
from .long_tasks import LongTasks

__all__ = ["InversionExplorer", "MAX_BYTES"]

#: The default payload budget, ``max_bytes`` (notebook 09's four layers ship about 6.3 MiB).
MAX_BYTES = 32 * wire.MiB

# invert()'s own defaults: with the settings given, every setting the descent runs with (for the card)
_INVERT_DEFAULTS = {k: p.default for k, p in inspect.signature(invert).parameters.items()
                    if p.default is not inspect.Parameter.empty and k not in ("progress", "cancel")}
# what invert() does for a setting left at None
_NONE_MEANS = {"box": "the whole representation", "bound": "B = alpha-mean colour norm of the image",
               "tv_scale": "B / 6.5", "eta0": "(B^2 / alpha) / 100", "layouts": "detected"}


class InversionExplorer(LongTasks, XaiWidget):
    """Pre-images of one image at several layers, their replay, losses and spread.

    Parameters
    ----------
    model : torch.nn.Module
        The network; left exactly as it was.
    image : torch.Tensor
        One model input: C x H x W or 1 x C x H x W (e.g. ``xw.to_batch(image, model)[:1]``).
    layers : str or sequence of str
        The layers inverted (``xw.layers(model, x)`` lists them), one row each.
    n : int, default 3
        Pre-images per layer, each from its own start.
    iterations : int, default 400
        Steps of each layer's descent.
    snapshots : int, default 10
        Snapshots kept along each descent (plus the start), for the replay slider.
    background : bool, default True
        Run the inversions in a background thread: the widget shows each layer as it is done,
        with a progress bar and Cancel, and ``w.wait()`` blocks until all are. False runs them
        in the calling cell with a progress bar.
    size : int, default 112
        Side of each image panel in CSS pixels.
    options : mapping or None, default None
        More keyword arguments for :func:`~xai_widgets.inversion.invert` (``weight``,
        ``alpha``, ``beta``, ``bound``, ``tv_scale``, ``momentum``, ``eta0``, ``noise``,
        ``seed``, ``box``, ``layouts``).
    max_bytes : int, default :data:`MAX_BYTES` (32 MiB)
        Payload budget: every layer's snapshots and spreads as uint8 pixels
        (:func:`~xai_widgets.widgets.inversion_payload.payload_size`) must fit, or the
        constructor refuses before any descent, naming the options that lower it.

    Attributes
    ----------
    result : list of Inversion
        The finished layers' inversions, in the order of ``layers``.
    step : int
        The snapshot shown (index into the snapshot steps); the browser's slider sets it.
    spread : bool
        Show each layer's per-pixel spread across its pre-images.

    Raises
    ------
    TypeError
        If ``model`` is not a ``torch.nn.Module``, ``image`` is not a tensor or a layer name is
        not a string.
    ValueError
        If the image is not one model input, a layer is unknown, a count is not a positive
        integer, ``options`` holds an argument :func:`invert` does not take, or the payload
        would exceed ``max_bytes``.
    """

    _esm = STATIC / "inversion.js"
    _css = STATIC / "inversion.css"
    _inv = traitlets.Dict().tag(sync=True)
    step = Index(0).tag(sync=True)
    spread = traitlets.Bool(False).tag(sync=True)
    size = PanelSize(112).tag(sync=True)

    _browser_traits = frozenset({"step", "spread"})
    _OPTIONS = frozenset({"weight", "alpha", "beta", "bound", "tv_scale", "momentum", "eta0", "noise", "seed", "box",
                          "layouts"})

    def __init__(self, model: nn.Module, image: torch.Tensor, layers: str | Sequence[str], *, n: int = 3,
                 iterations: int = 400, snapshots: int = 10, background: bool = True, size: int = 112,
                 options: Mapping | None = None, max_bytes: int = MAX_BYTES):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.image = _one_image(image, model)
        self.layer_names = _layer_names(model, layers, self.image)
        self._settings = {"n": at_least("n", n), "iterations": at_least("iterations", iterations),
                          "snapshots": at_least("snapshots", snapshots), **_options(options, self._OPTIONS)}
        self.max_bytes = at_least("max_bytes", max_bytes)
        self._check_budget()
        super().__init__(size=size)
        self.result: list[Inversion] = []
        self._inv = inversion_payload(self.image, self.result, self.layer_names)
        self._run_task("inversion", self._work, background=background)

    def _check_budget(self) -> None:
        """Refuse, before any descent, a payload over ``max_bytes``, naming what lowers it."""
        n, k = self._settings["n"], len(snapshot_steps(self._settings["iterations"], self._settings["snapshots"]))
        _, C, H, W = self.image.shape
        wire.check_budget(payload_size(self.image.shape, len(self.layer_names), n, k), self.max_bytes,
                          f"InversionExplorer ({len(self.layer_names)} layers x {n} pre-images x {k} snapshots "
                          f"of {C}x{H}x{W})", "Pass fewer layers, a smaller n or fewer snapshots, or raise max_bytes.")

    @property
    def payload_bytes(self) -> int:
        """Bytes the view's payload sends to the browser now: pixels and the JSON of the losses."""
        return shipped_bytes(self._inv)

    def _work(self, progress, cancel) -> None:
        per = self._settings["iterations"]
        total = per * len(self.layer_names)
        for i, layer in enumerate(self.layer_names):
            def layer_progress(done, _total, before=i * per):
                progress(before + done, total)

            inv = invert(self.model, layer, self.image, progress=layer_progress, cancel=cancel, **self._settings)
            self.result.append(inv)
            self._inv = inversion_payload(self.image, self.result, self.layer_names)
            if len(self.result) == 1:
                self.step = len(inv.snapshot_steps) - 1  # start at the end of the descent

    @validates("step")
    def _validate_step(self, proposal):
        if not getattr(self, "result", None):
            return proposal["value"]
        return index_in("step", proposal["value"], len(self.result[0].snapshot_steps), "a snapshot index")

    # ------------------------------------------------------------------ the numbers behind the views
    @property
    def steps(self) -> list[int]:
        """The iteration of each snapshot (the slider's positions); empty before the first layer is done."""
        return list(self.result[0].snapshot_steps) if self.result else []

    def _card_parts(self) -> dict:
        """The card: the layers inverted, the descent's settings, how to read pre-images and spread."""
        steps = self.steps
        return {
            "question": "What does each layer keep of the image, and what does it throw away?",
            "explanandum": {"image": " x ".join(map(str, self.image.shape[1:])), "layers": self.layer_names,
                            "done": [inv.layer for inv in self.result] or "none yet"},
            "explainer": {"method": "representation inversion (Mahendran and Vedaldi, CVPR 2015; IJCV 2016)",
                          **{k: _NONE_MEANS.get(k, "none") if v is None else v
                             if isinstance(v, (str, int, float, bool, list, tuple)) else type(v).__name__
                             for k, v in {**_INVERT_DEFAULTS, **self._settings}.items()}},
            "interpretation": {
                "pre-images": "images from their own noise starts whose representation at the layer matches the "
                              "image's: what they share the layer keeps",
                "spread": ("on: per-pixel spread across the pre-images, what the layer throws away" if self.spread
                           else "off (the toggle shows the per-pixel spread across the pre-images)"),
                "step": f"iteration {steps[self.step]} of {steps[-1]}" if steps else "not yet computed",
                "chart": "each layer's loss along the descent, the step shown marked"},
        }

    def _preview_panel(self) -> int:
        return min(self.size, 96)

    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The view at the current ``step``: the image, each layer's pre-images (and spread when
        ``spread`` is on) with their losses, and the loss curves with the step marked.

        Parameters
        ----------
        panel : int or None, optional
            Each image panel's side before ``scale`` (default: ``size``, at least 32).
        scale : float, optional
            Multiplies every length, 0.25 to 8 (default 1; 2 or 3 for print).

        Returns
        -------
        PIL.Image.Image
            RGB, on a white background.

        Raises
        ------
        Refused
            For a ``scale`` outside 0.25 to 8 or not a number.
        """
        scale = print_scale(scale)
        side = int(round(max(32, panel or self.size) * scale))
        return inversion_picture(self._inv, self.step, self.spread, side, scale)

    def __repr__(self) -> str:
        done = ", ".join(inv.layer for inv in self.result) or "none yet"
        return f"InversionExplorer(layers={self.layer_names!r}, n={self._settings['n']}, done: {done})"


def _one_image(image, model: nn.Module) -> torch.Tensor:
    """One model input as a 1 x C x H x W tensor, or a clear refusal."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch tensor (a model input, e.g. xw.to_batch(img, model)[:1]), "
                        f"got {type(image).__name__}")
    if image.dim() == 3:
        image = image[None]
    if image.dim() != 4 or len(image) != 1:
        raise ValueError(f"image must be one C x H x W image or a 1 x C x H x W batch, got shape {tuple(image.shape)}")
    check_model_input(image, model, "InversionExplorer", "image")
    return image.detach()


def _layer_names(model: nn.Module, layers, image: torch.Tensor) -> list[str]:
    """The requested layers as a list of known, distinct names (the package's unknown-layer error)."""
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("layers is empty: pass at least one layer name (xw.layers(model, x) lists them)")
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"layer names must be strings, got {names!r:.120}")
    if len(set(names)) != len(names):
        raise ValueError(f"layers must be distinct, got {names!r:.120}")
    known = layers_of(model, image).names  # one forward pass: the layers whose output is a tensor
    missing = [name for name in names if name not in known]
    if missing:
        raise unknown_layer_error(missing, known)
    return names


def _options(options, accepted: frozenset) -> dict:
    """``options`` as a dict of :func:`invert` arguments, or a refusal naming the accepted ones."""
    options = dict(options or {})
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"options {unknown} are not taken; accepted: {sorted(accepted)}")
    return options
