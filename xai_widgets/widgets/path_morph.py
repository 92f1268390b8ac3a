"""``PathMorph``: path-mask attribution with a clickable morphing slider.

"Path-mask attribution" via VAE semantic morphing, a method from a thesis ("the thesis"): the
image is morphed in a VAE's latent space toward another class (Semantic Morphing), the
radial latent path between the two codes is decoded, and a mask is optimised so that the
path's own step changes, applied only where the mask is on, carry the classifier from
"other" to "self". The widget ships every frame, the mask, the step differences, the
per-step curves and the morphing history once; the slider, the overlays and the pixel probe
then run in the browser. Clicking another class re-runs the method in the kernel, in the
background, with progress and cancel. ``w.result`` holds the Python objects behind every
panel (:class:`xai_widgets.morph.pipeline.MorphResult`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..core import colormaps
from ..core.images import model_input
from ..core.targets import class_label
from ..morph import pipeline
from .base import STATIC, XaiWidget
from .checks import Choice, Fraction, Index, PanelSize, Refused, index_in, validates, print_scale
from .long_tasks import LongTasks
from ..core.charts import chart_scene, scene_svg
from .path_morph_payload import morph_payload
from .path_morph_picture import chart_panels, morph_picture

__all__ = ["PathMorph"]

OVERLAYS = ("none", "mask", "diff", "masked")


class PathMorph(LongTasks, XaiWidget):
    """Morph an image from its class to another in a VAE's latent space, and attribute the change.

    Parameters
    ----------
    classifier : nn.Module
        Image -> logits; left exactly as given.
    vae : object with ``encode(x) -> (mu, logvar)`` and ``decode(z) -> images in [0, 1]``
        For example :class:`xai_widgets.morph.models.ConvVAE`; left exactly as given.
    image : image
        PIL image, array or tensor (see :mod:`xai_widgets.core.images`), or a 1 x C x H x W tensor.
    target : int, optional
        The class to morph toward ("other"); default the second most probable class.
    true_label : int, optional
        The image's true class. When the classifier gets it wrong, the widget runs the thesis's
        misclassification mode: the path runs from the true class to the wrong prediction.
    steps : int
        Frames on the latent path (default 100, the thesis's).
    preprocess : callable, optional
        PIL image -> C x H x W tensor; default [0, 1] floats matched to the classifier.
        Not used for a 1 x C x H x W tensor ``image``.
    classes : sequence of str, optional
        Class names for the bars and charts.
    norms : optional
        Per-class latent-norm table (:func:`xai_widgets.morph.latent.class_norms`); computed from
        nothing if omitted, so pass it for the thesis's norm prior (the demos do).
    options : dict, optional
        More keyword arguments for :func:`xai_widgets.morph.pipeline.explain` (for example
        ``options={"morph": {"likelihood_weight": 10}, "mask": {"iterations": 1000}}``).
    size : int
        Side of the frame panel in CSS pixels (default 224).

    Raises
    ------
    TypeError
        If ``classifier`` is not a ``torch.nn.Module`` or ``vae`` lacks ``encode`` and
        ``decode``.
    ValueError
        If :func:`xai_widgets.morph.pipeline.explain` refuses the input or settings.
    RuntimeError
        If computing the path was cancelled.
    """

    _esm = STATIC / "path_morph.js"

    _css = STATIC / "path_morph.css"
    _morph = traitlets.Dict().tag(sync=True)
    _colormaps = traitlets.Dict().tag(sync=True)
    step = Index(0).tag(sync=True)
    overlay = Choice(OVERLAYS, default_value="mask").tag(sync=True)
    opacity = Fraction(0.6).tag(sync=True)
    pixel = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    sm_step = Index(0).tag(sync=True)
    target = Index(-1).tag(sync=True)
    size = PanelSize(224).tag(sync=True)

    _browser_traits = frozenset({"step", "overlay", "opacity", "pixel", "sm_step", "target"})

    def __init__(
        self,
        classifier: nn.Module,
        vae,
        image,
        *,
        target: int | None = None,
        true_label: int | None = None,
        steps: int = 100,
        preprocess: Callable | None = None,
        classes: Sequence[str] | None = None,
        norms=None,
        options: dict | None = None,
        size: int = 224,
    ):
        if not isinstance(classifier, nn.Module):
            raise TypeError(f"classifier must be a torch.nn.Module, got {type(classifier).__name__}")
        if not (callable(getattr(vae, "encode", None)) and callable(getattr(vae, "decode", None))):
            raise TypeError("vae must have encode(x) -> (mu, logvar) and decode(z) -> images, "
                            f"got {type(vae).__name__}")
        self.classifier, self.vae = classifier, vae
        x = image if isinstance(image, torch.Tensor) and image.dim() == 4 else model_input(image, classifier, preprocess)
        self._x = x
        self._classes = list(classes) if classes is not None else None
        # on_failure="continue": a failed morph still gets its path, shown with a warning
        self._settings = {"true_label": true_label, "steps": steps, "norms": norms, "on_failure": "continue",
                          **(options or {})}
        super().__init__(size=size, _colormaps={n: t.tobytes() for n, t in colormaps.LUTS.items()})
        self.result = None
        self._run(target)
        if self.result is None:
            raise RuntimeError(self.message or "the path could not be computed")

    # ------------------------------------------------------------------ computing
    def _run(self, target: int | None, background: bool = False) -> None:
        # Re-targeting keeps the best-of-K reconstruction: its choice does not depend on the target.
        again = {"reconstruction": self.result.reconstruction} if self.result is not None else {}

        def work(progress, cancel):
            result = pipeline.explain(self.classifier, self.vae, self._x, target=target, progress=progress,
                                      cancel=cancel, **again, **self._settings)
            self._show(result)
            return result

        self._run_task("path morph", work, background=background)

    def _show(self, result) -> None:
        """Commit a new result: every panel's data in one trait update."""
        self.result = result
        self._morph = self._payload(result)
        self.step = result.frames.shape[0] - 1  # start at self, the reconstruction
        self.sm_step = max(0, len(self._morph["sm"]["iters"]) - 1) if self._morph.get("sm") else 0
        self.pixel = None
        self.set_trait("target", int(result.o))

    def retarget(self, target: int) -> None:
        """Morph toward class ``target`` instead (in the calling cell, with a progress bar).

        If the computation is cancelled, the previous result stays.

        Parameters
        ----------
        target : int
            The class to morph toward ("other"): a class index other than the image's
            own class (``result.s``).

        Raises
        ------
        Refused
            If ``target`` is not a class index or is the image's own class.
        RuntimeError
            If a task is still running.
        """
        self._check_class(target)
        self._run(int(target))

    def _check_class(self, k) -> int:
        k = index_in("target", k, int(self.result.probs.shape[-1]), "a class index")
        if k == int(self.result.s):
            raise Refused(f"target {k} is the image's own class; choose another class")
        return k

    @validates("target")
    def _validate_target(self, proposal):
        return proposal["value"] if self.result is None else self._check_class(proposal["value"])

    @traitlets.observe("target")
    def _on_target(self, change):
        if self.result is not None and change["new"] != int(self.result.o) and not self.busy:
            self._run(change["new"], background=True)  # from the class bars: the kernel stays free for Cancel

    @validates("step")
    def _validate_step(self, proposal):
        if self.result is None:
            return proposal["value"]
        return index_in("step", proposal["value"], self.result.frames.shape[0], "a frame index")

    @validates("sm_step")
    def _validate_sm_step(self, proposal):
        sm = self._morph.get("sm") if self._morph else None
        if not sm:
            return proposal["value"]
        return index_in("sm_step", proposal["value"], len(sm["iters"]), "a recorded iteration")

    @validates("pixel")
    def _validate_pixel(self, proposal):
        p = proposal["value"]
        if p is None:
            return None
        H, W = self.result.frames.shape[-2:]
        if not (isinstance(p, dict) and set(p) == {"row", "col"}):
            raise Refused(f"pixel must be None or {{'row': r, 'col': c}}, got {p!r}")
        frame = f"(the frames are {H} x {W})"
        return {"row": index_in(f"pixel row {frame}", p["row"], H), "col": index_in(f"pixel col {frame}", p["col"], W)}

    def _on_custom_msg(self, widget, content, buffers):
        if isinstance(content, dict) and content.get("type") == "cancel":
            self.cancel()
        else:
            super()._on_custom_msg(widget, content, buffers)

    def _card_models(self) -> dict:
        return {"classifier": self.classifier, **({"vae": self.vae} if isinstance(self.vae, nn.Module) else {})}

    def _card_parts(self) -> dict:
        """The card: the two classes morphed between, the path's settings, how to read the overlays."""
        r = self.result
        settings = {k: (v if isinstance(v, (str, int, float, bool, type(None))) else type(v).__name__)
                    for k, v in self._settings.items() if k not in ("norms", "morph", "mask")}
        overlay = {"none": "the frame alone", "mask": "the optimised path mask (where the change counts)",
                   "diff": "this step's change of the frame", "masked": "this step's change where the mask is on"}
        return {
            "question": f"Which pixels' change turns {self.class_name(int(r.o))} ('other') into "
                        f"{self.class_name(int(r.s))} ('self') along the morphing path?",
            "explanandum": {"image": " x ".join(map(str, self._x.shape[1:])) + ", "
                                     + self._label_text(int(r.probs.argmax()), r.true_label),
                            "self": self.class_name(int(r.s)), "other": self.class_name(int(r.o)), "mode": str(r.mode)},
            "explainer": {"method": "path-mask attribution over a Semantic Morphing path in the VAE's latent space",
                          "frames": int(r.frames.shape[0]), "morph succeeded": bool(r.success),
                          "norm prior": "given" if self._settings.get("norms") is not None else "none",
                          **{k: v for k, v in settings.items() if k not in ("steps",)},
                          "morph options": _flat(self._settings.get("morph")),
                          "mask options": _flat(self._settings.get("mask"))},
            "interpretation": {"overlay": f"{self.overlay}: {overlay[self.overlay]}", "opacity": self.opacity,
                               "step": f"frame {self.step} of {int(r.frames.shape[0])} (0: 'other', last: 'self')",
                               "curves": "class probabilities and entropy along the path; the shaded band is the "
                                         "window the mask is optimised over",
                               "click": "a class bar morphs toward that class; a pixel probes its value along the "
                                        "path"},
        }

    # ------------------------------------------------------------------ what the browser shows
    def class_name(self, k: int) -> str:
        """Class ``k``'s display name (``"class k"`` when no names were given)."""
        return class_label(self._classes, k)

    def _payload(self, r) -> dict:
        labels = {"original": self._label_text(int(r.probs.argmax()), r.true_label),
                  "reconstruction": self.class_name(int(r.reconstruction.logits[0].argmax())),
                  "morphed": self.class_name(int(r.frame_probs[0].argmax()))}
        return morph_payload(r, self.class_name, labels)

    def _label_text(self, predicted: int, true_label: int | None) -> str:
        text = f"predicted {self.class_name(int(predicted))}"
        return text if true_label is None else f"{text}, true {self.class_name(int(true_label))}"

    # ------------------------------------------------------------------ the numbers behind the overlays
    def step_difference(self, step: int | None = None, masked: bool = False) -> torch.Tensor:
        """H x W grey change from frame ``step`` to the next (times the mask when ``masked``).

        Parameters
        ----------
        step : int or None, optional
            The frame, in ``0..T-2`` for T frames (the last frame has no next one). Default
            None: the ``step`` trait.
        masked : bool, optional
            Multiply the change by the path mask. Default False.

        Returns
        -------
        torch.Tensor
            H x W float32 on the CPU: ``frames[step + 1] - frames[step]`` averaged over
            the channels.

        Raises
        ------
        ValueError
            If ``step`` is not in ``0..T-2`` (the last frame, shown first, has no next one).
        """
        i = self.step if step is None else step
        frames = self.result.frames.detach().float().cpu()
        if not (isinstance(i, (int, np.integer)) and 0 <= i <= len(frames) - 2):
            raise ValueError(f"step must be a frame in 0..{len(frames) - 2} (the last frame has no next one), "
                             f"got {i!r}")
        d = (frames[i + 1] - frames[i]).mean(dim=0)
        return d * self.result.mask.mask.float().cpu() if masked else d

    # ------------------------------------------------------------------ static figure
    def chart_panels(self) -> list[dict]:
        """The linked charts (class probabilities, entropy, gains, latent norm) as chart panels
        ({title, xTitle, yTitle, xs, yRange, series}), for :meth:`to_svg` and the PNG."""
        return chart_panels(self._morph, self.result, self.class_name)

    def to_svg(self, path, panel: int = 360) -> Path:
        """Write the linked charts as one SVG file (vector lines, text as text); returns the path.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (UTF-8; overwritten).
        panel : int, optional
            Width of each chart in SVG units. Default 360.

        Returns
        -------
        pathlib.Path
            ``path`` as a ``Path``.
        """
        Path(path).write_text(scene_svg([chart_scene(p, panel) for p in self.chart_panels()]), encoding="utf-8")
        return Path(path)

    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The thesis's result-figure layout: endpoints; the path; mask (green) and red/blue maps over
        self and other with their colour legend; the per-step gains; the linked charts. ``scale``
        multiplies every size (2 or 3 for print).

        Parameters
        ----------
        panel : int or None, optional
            Twice the side of an image panel in pixels before ``scale`` (the side is at
            least 56). Default None: the ``size`` trait.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.0.

        Returns
        -------
        PIL.Image.Image
            The RGB figure.

        Raises
        ------
        Refused
            If ``scale`` is not a number in [0.25, 8].
        """
        scale, r = print_scale(scale), self.result
        titles = [f"original ({self._label_text(int(r.probs.argmax()), r.true_label)})",
                  f"reconstruction ({self.class_name(int(r.s))})", f"morphed ({self.class_name(int(r.o))})"]
        side = int(round(max(56, (panel or self.size) // 2) * scale))
        return morph_picture(r, self.chart_panels(), titles, side, scale)

    def __repr__(self) -> str:
        r = self.result
        return (f"PathMorph(self={self.class_name(int(r.s))!r}, other={self.class_name(int(r.o))!r}, "
                f"{r.frames.shape[0]} steps)") if r is not None else "PathMorph()"


def _flat(options) -> str:
    """A dict of settings as ``"key=value, ..."`` for the card (``"defaults"`` when empty)."""
    return ", ".join(f"{k}={v}" for k, v in options.items()) if options else "defaults"
