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

from ..core import colormaps, render, wire
from ..core.images import model_input, to_uint8
from ..morph import pipeline
from .base import STATIC, XaiWidget
from .checks import Choice, Fraction, Index, PanelSize, Refused, index_in, validates, print_scale
from .long_tasks import LongTasks
from .metrics_chart import chart_scene, scene_png, scene_svg

__all__ = ["PathMorph"]

OVERLAYS = ("none", "mask", "diff", "masked")
SELF, OTHER = "#0072b2", "#d55e00"  # Okabe-Ito blue and vermillion, as the browser draws them
STRIP = 12  # frames in the PNG's path strip


def _pixels(x: torch.Tensor) -> np.ndarray:
    """C x H x W (or N x C x H x W) in [0, 1] -> H x W x C (N x H x W x C) uint8, channels kept."""
    return to_uint8(x).cpu().movedim(-3, -1).numpy()


def _floats(values) -> list:
    """A JSON list of floats; NaN and infinities (undefined values) become None."""
    arr = np.asarray(torch.as_tensor(values).detach().cpu(), dtype=np.float64).ravel()
    return [float(v) if np.isfinite(v) else None for v in arr]


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
    classes : sequence of str, optional
        Class names for the bars and charts.
    norms : optional
        Per-class latent-norm table (:func:`xai_widgets.morph.latent.class_norms`); computed from
        nothing if omitted, so pass it for the thesis's norm prior (the demos do).
    options : dict, optional
        More keyword arguments for :func:`xai_widgets.morph.pipeline.explain` (for example
        ``sm={"alpha_lk": 10}`` or ``mask={"iterations": 1000}``).
    size : int
        Side of the frame panel in CSS pixels.
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
        """Morph toward class ``target`` instead (in the calling cell, with a progress bar)."""
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

    # ------------------------------------------------------------------ what the browser shows
    def class_name(self, k: int) -> str:
        return self._classes[k] if self._classes and 0 <= k < len(self._classes) else f"class {k}"

    def _payload(self, r) -> dict:
        frames = r.frames.detach().float().cpu()  # n x C x H x W
        diffs = (frames[1:] - frames[:-1]).mean(dim=1)  # grey step change, (n-1) x H x W
        pm = r.mask
        masked = diffs * pm.mask.float().cpu()
        signed = pm.signed.float().cpu().mean(dim=0)  # grey: one red/blue map
        w = r.window
        return {
            "classes": [self.class_name(k) for k in range(r.frame_probs.shape[1])],
            "s": int(r.s), "o": int(r.o), "mode": r.mode,
            "frames": wire.encode(_pixels(frames), "uint8"),
            "alphas": _floats(r.alpha),
            "diffs": wire.encode(diffs, "float16"),
            # one scale per step: the radial path's first and last steps are many times the middle ones
            "diff_scale": _floats(diffs.abs().flatten(1).amax(dim=1)),
            "masked_scale": _floats(masked.abs().flatten(1).amax(dim=1)),
            "mask": wire.encode(pm.mask.float().cpu(), "float32"),
            "signed": wire.encode(signed, "float16"),
            "signed_max": float(signed.abs().max()),
            "grads": None if r.gradients is None else wire.encode(r.gradients.float().cpu().sum(dim=1), "float16"),
            "probs": wire.encode(r.frame_probs.float().cpu(), "float32"),
            "entropy": _floats(r.frame_entropy),
            "window": {"mean": _floats([w.mean])[0], "lo": _floats([w.low])[0], "hi": _floats([w.high])[0]},
            "gains": _floats(pm.gains),
            "cumulative": _floats(torch.cat([torch.zeros(1), pm.cumulative.double()])),
            "norms": _floats(r.diagnostics.norms),
            "bands": self._bands(r),
            "summary": {"J": float(pm.J), "total_gain": float(pm.total_gain), "fraction": _floats([pm.fraction])[0]},
            "endpoints": {"original": wire.encode(_pixels(r.image), "uint8"),
                          "reconstruction": wire.encode(_pixels(frames[-1]), "uint8"),
                          "morphed": wire.encode(_pixels(frames[0]), "uint8")},
            "labels": {"original": self._label_text(int(r.probs.argmax()), r.true_label),
                       "reconstruction": self.class_name(int(r.reconstruction.logits[0].argmax())),
                       "morphed": self.class_name(int(r.frame_probs[0].argmax()))},
            "warnings": list(r.warnings),
            "sm": self._replay(r.morph),
        }

    @staticmethod
    def _bands(r) -> dict:
        """Class-norm bands (mean ± std) of self and other, in the units of the path's codes:
        norms of encoder samples when best-of-K chose a sample (candidate > 0), else of encoder
        means; plus the Semantic Morphing norm target r_o (of encoder means, the thesis's prior)."""
        t = r.norms
        if t is None:
            return {"s": [None, None], "o": [None, None], "kind": None, "target": None}
        sampled = t.sample_mean is not None and int(r.reconstruction.index[0]) > 0
        mean, std = (t.sample_mean, t.sample_std) if sampled else (t.mean, t.std)
        pair = lambda c: _floats([mean[c], std[c]])  # noqa: E731
        return {"s": pair(int(r.s)), "o": pair(int(r.o)), "kind": "sample" if sampled else "mean",
                "target": _floats(t.targets(torch.tensor([int(r.o)])))[0]}

    def _replay(self, h) -> dict | None:
        """The Semantic Morphing history of the (single) image, for the replay slider."""
        if h.thumbnails is None:
            return None
        real = h.active[:, 0]
        p_other = h.trace_probs[:, 0, int(h.o[0])]
        return {"frames": wire.encode(h.thumbnails[real, 0].movedim(1, -1).contiguous(), "uint8"),
                "iters": [int(t) for t in h.t[real]],
                "objective": _floats(h.loss_objective[real, 0]), "likelihood": _floats(h.loss_likelihood[real, 0]),
                "total": _floats(h.loss_total[real, 0]), "entropy": _floats(h.trace_entropy[real, 0]),
                "p_other": _floats(p_other[real]), "success": bool(h.success[0])}

    def _label_text(self, predicted: int, true_label: int | None) -> str:
        text = f"predicted {self.class_name(int(predicted))}"
        return text if true_label is None else f"{text}, true {self.class_name(int(true_label))}"

    # ------------------------------------------------------------------ the numbers behind the overlays
    def step_difference(self, step: int | None = None, masked: bool = False) -> torch.Tensor:
        """H x W grey change from frame ``step`` to the next (times the mask when ``masked``)."""
        i = self.step if step is None else step
        frames = self.result.frames.detach().float().cpu()
        d = (frames[i + 1] - frames[i]).mean(dim=0)
        return d * self.result.mask.mask.float().cpu() if masked else d

    # ------------------------------------------------------------------ static figure
    def chart_panels(self) -> list[dict]:
        """The linked charts (class probabilities, entropy, gains, latent norm) as chart panels
        ({title, xTitle, yTitle, xs, yRange, series}), for :meth:`to_svg` and the PNG."""
        m, r = self._morph, self.result
        n = len(m["entropy"])
        xs = [float(i + 1) for i in range(n)]
        probs = r.frame_probs.double().cpu().numpy()
        s, o = int(r.s), int(r.o)
        line = lambda name, ys, colour, label, dash=(): {  # noqa: E731
            "name": name, "ys": ys, "color": colour, "dash": list(dash), "label": label}
        ps, po = f"p({self.class_name(s)})", f"p({self.class_name(o)})"
        b = m["bands"]
        units = {"sample": "encoder samples", "mean": "encoder means"}.get(b["kind"])
        return [
            {"id": "probs", "title": "Class probabilities along the path", "xTitle": "path step", "yTitle": "probability",
             "xs": xs, "yRange": [0, 1], "series": [line(ps, _floats(probs[:, s]), SELF, f"{ps}, self"),
                                                     line(po, _floats(probs[:, o]), OTHER, f"{po}, other")]},
            {"id": "entropy", "title": "Two-class entropy along the path", "xTitle": "path step",
             "yTitle": "entropy (bits)", "xs": xs, "yRange": [0, 1],
             "series": [line("entropy", m["entropy"], SELF, "entropy of p(self), p(other)")]},
            {"id": "gains", "title": "Gain per masked step and cumulative", "xTitle": "path step", "yTitle": "gain in f_s",
             "xs": xs, "yRange": [0, 0], "series": [line("gain", m["gains"] + [None], SELF, "gain of the masked step"),
                                                     line("cumulative", m["cumulative"], OTHER, "cumulative")]},
            {"id": "norms", "title": "Latent norm along the path", "xTitle": "path step", "yTitle": "latent norm ||z||",
             "subtitle": "" if units is None else f"class norms (mean ± std, {units}): self {_fmt_band(b['s'])}, "
                                                   f"other {_fmt_band(b['o'])}",
             "xs": xs, "yRange": [m["norms"][0], m["norms"][0]],
             "series": [line("norm", m["norms"], SELF, "||z|| along the path")]},
        ]

    def to_svg(self, path, panel: int = 360) -> Path:
        """Write the linked charts as one SVG file (vector lines, text as text); returns the path."""
        Path(path).write_text(scene_svg([chart_scene(p, panel) for p in self.chart_panels()]), encoding="utf-8")
        return Path(path)

    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The thesis's result-figure layout: endpoints; the path; mask (green) and red/blue maps over
        self and other with their colour legend; the per-step gains; the linked charts. ``scale``
        multiplies every size (2 or 3 for print)."""
        scale = print_scale(scale)
        r = self.result
        side = int(round(max(56, (panel or self.size) // 2) * scale))
        frames = r.frames.detach().float().cpu()
        big = lambda x: Image.fromarray(_rgb(_pixels(x))).resize((side, side), Image.NEAREST)  # noqa: E731
        mask = r.mask.mask.float().cpu().numpy()
        signed = r.mask.signed.float().cpu().mean(dim=0).numpy()
        m = float(np.abs(signed).max()) or 1.0
        green = np.zeros(mask.shape + (3,), np.uint8)
        green[..., 1] = 255
        red_blue = colormaps.apply(signed, "diverging", -m, m)

        def over(base, rgb, alpha):
            base = _rgb(_pixels(base)).astype(np.float32)
            a = alpha[..., None]
            out = (base * (1 - a) + rgb.astype(np.float32) * a).round().astype(np.uint8)
            return Image.fromarray(out).resize((side, side), Image.NEAREST)

        self_img, other_img = frames[-1], frames[0]
        top = [big(r.image), big(self_img), big(other_img)]
        top_titles = [f"original ({self._label_text(int(r.probs.argmax()), r.true_label)})",
                      f"reconstruction ({self.class_name(int(r.s))})", f"morphed ({self.class_name(int(r.o))})"]
        strip_idx = np.linspace(0, len(frames) - 1, STRIP).round().astype(int)
        strip = Image.new("RGB", (STRIP * (side // 2 + 2), side // 2), render.BACKGROUND)
        for j, i in enumerate(strip_idx):
            strip.paste(big(frames[i]).resize((side // 2, side // 2)), (j * (side // 2 + 2), 0))
        alpha_mask = np.clip(mask, 0, 1) * 0.8
        alpha_signed = np.clip(np.abs(signed) / m, 0, 1) * 0.85
        maps = [over(self_img, green, alpha_mask), over(other_img, green, alpha_mask),
                over(self_img, red_blue, alpha_signed), over(other_img, red_blue, alpha_signed)]
        map_titles = ["mask over self", "mask over other", "red/blue over self", "red/blue over other"]
        fs = int(round(11 * scale))
        legend = render.legend("diverging", -m, m, max_width=max(2 * side, int(320 * scale)), font_size=fs,
                               caption="S = m (x_n - x_1): red brighter toward self, blue darker")
        chart_w = max(320, 2 * side / scale)
        charts = [scene_png([chart_scene(p, chart_w, scale) for p in pair], gap=int(8 * scale))
                  for pair in (self.chart_panels()[:2], self.chart_panels()[2:])]
        parts = [render.grid_figure([top], top_titles, [""]),
                 render.grid_figure([[strip]], ["the path, other -> self"], [""]),
                 render.grid_figure([maps], map_titles, [""]), legend, *charts]
        pad = int(round(6 * scale))
        out = Image.new("RGB", (max(p.size[0] for p in parts) + 2 * pad, sum(p.size[1] + pad for p in parts) + pad),
                        render.BACKGROUND)
        y = pad
        for part in parts:
            out.paste(part, (pad, y))
            y += part.size[1] + pad
        return out

    def __repr__(self) -> str:
        r = self.result
        return (f"PathMorph(self={self.class_name(int(r.s))!r}, other={self.class_name(int(r.o))!r}, "
                f"{r.frames.shape[0]} steps)") if r is not None else "PathMorph()"


def _rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def _fmt_band(pair) -> str:
    mean, std = pair
    return "none" if mean is None or std is None else f"{mean:.3g} ± {std:.2g}"
