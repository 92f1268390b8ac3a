"""PathMorph's static figure, after the path-mask thesis's result figures: the endpoints, the
path as a strip, the mask and red/blue maps over self and other with their legend, and the
linked charts (class probabilities, entropy, gains, latent norm)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image

from ..core import colormaps, render
from ..core.charts import chart_scene, scene_png
from .path_morph_payload import floats, pixels

__all__ = ["SELF", "OTHER", "chart_panels", "morph_picture"]

SELF, OTHER = "#0072b2", "#d55e00"  # Okabe-Ito blue and vermillion, as the browser draws them
STRIP = 12  # frames in the picture's path strip


def chart_panels(morph: dict, r, class_name: Callable[[int], str]) -> list[dict]:
    """The linked charts as chart panels ({title, xTitle, yTitle, xs, yRange, series}).

    Parameters
    ----------
    morph : dict
        The result's payload (:func:`xai_widgets.widgets.path_morph_payload.morph_payload`).
    r : MorphResult
        The result (its frame probabilities and classes).
    class_name : callable
        Class index -> the name shown.

    Returns
    -------
    list of dict
        Four panels, for :func:`xai_widgets.core.charts.chart_scene`.
    """
    n = len(morph["entropy"])
    xs = [float(i + 1) for i in range(n)]
    probs = r.frame_probs.double().cpu().numpy()
    s, o = int(r.s), int(r.o)
    line = lambda name, ys, colour, label, dash=(): {  # noqa: E731
        "name": name, "ys": ys, "color": colour, "dash": list(dash), "label": label}
    ps, po = f"p({class_name(s)})", f"p({class_name(o)})"
    b = morph["bands"]
    units = {"sample": "encoder samples", "mean": "encoder means"}.get(b["kind"])
    return [
        {"id": "probs", "title": "Class probabilities along the path", "xTitle": "path step", "yTitle": "probability",
         "xs": xs, "yRange": [0, 1], "series": [line(ps, floats(probs[:, s]), SELF, f"{ps}, self"),
                                                 line(po, floats(probs[:, o]), OTHER, f"{po}, other")]},
        {"id": "entropy", "title": "Two-class entropy along the path", "xTitle": "path step",
         "yTitle": "entropy (bits)", "xs": xs, "yRange": [0, 1],
         "series": [line("entropy", morph["entropy"], SELF, "entropy of p(self), p(other)")]},
        {"id": "gains", "title": "Gain per masked step and cumulative", "xTitle": "path step", "yTitle": "gain in f_s",
         "xs": xs, "yRange": [0, 0], "series": [line("gain", morph["gains"] + [None], SELF, "gain of the masked step"),
                                                 line("cumulative", morph["cumulative"], OTHER, "cumulative")]},
        {"id": "norms", "title": "Latent norm along the path", "xTitle": "path step", "yTitle": "latent norm ||z||",
         "subtitle": "" if units is None else f"class norms (mean ± std, {units}): self {_fmt_band(b['s'])}, "
                                               f"other {_fmt_band(b['o'])}",
         "xs": xs, "yRange": [morph["norms"][0], morph["norms"][0]],
         "series": [line("norm", morph["norms"], SELF, "||z|| along the path")]},
    ]


def morph_picture(r, panels: list[dict], titles: list[str], side: int, scale: float) -> Image.Image:
    """The whole figure of one result, top to bottom.

    Parameters
    ----------
    r : MorphResult
        The image, its path (``frames``, other -> self) and its path mask.
    panels : list of dict
        The four linked charts (:func:`chart_panels`).
    titles : list of str
        Captions of the original, the reconstruction (self) and the morphed image (other).
    side : int
        Side of each image panel in pixels (already scaled).
    scale : float
        Multiplies text, gaps and chart sizes.

    Returns
    -------
    PIL.Image.Image
        RGB figure.
    """
    frames = r.frames.detach().float().cpu()
    big = lambda x: Image.fromarray(_rgb(pixels(x))).resize((side, side), Image.NEAREST)  # noqa: E731
    mask = r.mask.mask.float().cpu().numpy()
    signed = r.mask.signed.float().cpu().mean(dim=0).numpy()
    m = float(np.abs(signed).max()) or 1.0
    green = np.zeros(mask.shape + (3,), np.uint8)
    green[..., 1] = 255
    red_blue = colormaps.apply(signed, "diverging", -m, m)

    def over(base, rgb, alpha):
        base = _rgb(pixels(base)).astype(np.float32)
        a = alpha[..., None]
        out = (base * (1 - a) + rgb.astype(np.float32) * a).round().astype(np.uint8)
        return Image.fromarray(out).resize((side, side), Image.NEAREST)

    self_img, other_img = frames[-1], frames[0]
    top = [big(r.image), big(self_img), big(other_img)]
    alpha_mask = np.clip(mask, 0, 1) * 0.8
    alpha_signed = np.clip(np.abs(signed) / m, 0, 1) * 0.85
    maps = [over(self_img, green, alpha_mask), over(other_img, green, alpha_mask),
            over(self_img, red_blue, alpha_signed), over(other_img, red_blue, alpha_signed)]
    map_titles = ["mask over self", "mask over other", "red/blue over self", "red/blue over other"]
    legend = render.legend("diverging", -m, m, max_width=max(2 * side, int(320 * scale)), font_size=int(round(11 * scale)),
                           caption="S = m (x_n - x_1): red brighter toward self, blue darker")
    chart_w = max(320, 2 * side / scale)
    charts = [scene_png([chart_scene(p, chart_w, scale) for p in pair], gap=int(8 * scale))
              for pair in (panels[:2], panels[2:])]
    parts = [render.grid_figure([top], titles, [""]),
             render.grid_figure([[_strip(frames, big, side)]], ["the path, other -> self"], [""]),
             render.grid_figure([maps], map_titles, [""]), legend, *charts]
    return _stack(parts, int(round(6 * scale)))


def _strip(frames: torch.Tensor, big, side: int) -> Image.Image:
    """STRIP frames of the path, evenly spaced, at half the panel side."""
    idx = np.linspace(0, len(frames) - 1, STRIP).round().astype(int)
    strip = Image.new("RGB", (STRIP * (side // 2 + 2), side // 2), render.BACKGROUND)
    for j, i in enumerate(idx):
        strip.paste(big(frames[i]).resize((side // 2, side // 2)), (j * (side // 2 + 2), 0))
    return strip


def _stack(parts: list[Image.Image], pad: int) -> Image.Image:
    """Images one under the other, left-aligned, ``pad`` around and between."""
    out = Image.new("RGB", (max(p.size[0] for p in parts) + 2 * pad, sum(p.size[1] + pad for p in parts) + pad),
                    render.BACKGROUND)
    y = pad
    for part in parts:
        out.paste(part, (pad, y))
        y += part.size[1] + pad
    return out


def _rgb(px: np.ndarray) -> np.ndarray:
    return np.repeat(px, 3, axis=-1) if px.shape[-1] == 1 else px


def _fmt_band(pair) -> str:
    mean, std = pair
    return "none" if mean is None or std is None else f"{mean:.3g} ± {std:.2g}"
