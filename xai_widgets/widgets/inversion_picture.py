"""InversionExplorer's static figure: the image, each layer's pre-images at one snapshot (and
their spread), each with its loss, and the loss curves of every layer."""
from __future__ import annotations

import math
from itertools import accumulate

import numpy as np
from PIL import Image, ImageDraw

from ..core import colormaps, render
from ..core.charts import chart_scene, scene_png
from .inversion_payload import SPREAD_COLORMAP, decoded_pixels

__all__ = ["LAYER_COLOURS", "loss_panel", "inversion_picture"]

# Okabe-Ito, one per layer (cycled), as the browser draws the loss curves
LAYER_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")


def _fmt(v) -> str:
    return "undefined" if v is None else f"{v:.3g}"


def loss_panel(inv: dict, step: int) -> dict:
    """The loss curves (log10 of the mean loss over the starts, per layer) as a chart panel.

    Parameters
    ----------
    inv : dict
        The widget's payload (:func:`xai_widgets.widgets.inversion_payload.inversion_payload`).
    step : int
        The snapshot shown (named in the title).

    Returns
    -------
    dict
        A panel for :func:`xai_widgets.core.charts.chart_scene`.
    """
    log = lambda ys: [math.log10(v) if v is not None and v > 0 else None for v in ys]  # noqa: E731
    series = [{"name": lay["name"], "label": lay["name"], "color": LAYER_COLOURS[i % len(LAYER_COLOURS)], "dash": [],
               "ys": log(lay["loss"])} for i, lay in enumerate(inv["layers"])]
    at = inv["steps"][step] if inv["steps"] else 0
    return {"title": f"Representation loss per layer (shown: iteration {at})", "xTitle": "iteration",
            "yTitle": "log10 loss", "xs": [float(t) for t in range(inv["iterations"] + 1)], "yRange": [0, 0],
            "series": series}


def _captioned(img: Image.Image, text: str, size: int) -> Image.Image:
    fnt = render.font(size)
    out = Image.new("RGB", (img.size[0], img.size[1] + size + 6), render.BACKGROUND)
    out.paste(img, (0, 0))
    ImageDraw.Draw(out).text((img.size[0] // 2, img.size[1] + 3), text, fill=render.MUTED, font=fnt, anchor="ma")
    return out


def _image(px: np.ndarray, side: int) -> Image.Image:
    """H x W x C uint8 pixels (C = 1 or 3) as an RGB panel of side x side."""
    return Image.fromarray(px[..., 0] if px.shape[-1] == 1 else px).convert("RGB").resize((side, side), Image.BILINEAR)


def inversion_picture(inv: dict, step: int, show_spread: bool, side: int, scale: float) -> Image.Image:
    """The whole figure at snapshot ``step``, top to bottom.

    Parameters
    ----------
    inv : dict
        The widget's payload.
    step : int
        The snapshot shown.
    show_spread : bool
        Add each layer's spread across its pre-images (and the colour legend).
    side : int
        Side of each image panel in pixels (already scaled).
    scale : float
        Multiplies text, gaps and the chart's size.

    Returns
    -------
    PIL.Image.Image
        RGB figure.
    """
    big = lambda px: _image(px, side)  # noqa: E731
    small = int(round(11 * scale))
    parts = [render.grid_figure([[big(decoded_pixels(inv["image"]))]], ["image"], [""])]
    rows, labels = [], []
    t, n = (inv["steps"][step] if inv["steps"] else 0), inv["n"]
    for lay in inv["layers"]:
        frames = decoded_pixels(lay["snapshots"])[step]
        row = [_captioned(big(f), f"loss {_fmt(lay['losses'][step * n + s])}", small) for s, f in enumerate(frames)]
        if show_spread:
            raw = decoded_pixels(lay["spread"])[step]
            row.append(_captioned(Image.fromarray(colormaps.apply(raw, SPREAD_COLORMAP, 0, 255)).resize(
                (side, side), Image.NEAREST), "spread", small))
        rows.append(row)
        labels.append(f"{lay['name']}: mean loss {_fmt(lay['loss'][t])}")
    rows += [[] for _ in inv["pending"]]
    labels += [f"{name}: not computed" for name in inv["pending"]]
    if inv["layers"]:
        titles = [f"pre-image {k + 1}" for k in range(inv["n"])] + (["spread"] if show_spread else [])
        parts.append(render.grid_figure([r or [Image.new("RGB", (side, side), render.BACKGROUND)] for r in rows],
                                        titles, labels))
        if show_spread:
            parts.append(render.legend(SPREAD_COLORMAP, 0.0, inv["spread_hi"], font_size=small, scale=scale, bar_width=240,
                                       caption="spread: std across the pre-images, per pixel (input units)"))
        parts.append(scene_png([chart_scene(loss_panel(inv, step), max(320, 3 * side / scale), scale)]))
    pad = int(round(6 * scale))
    out = Image.new("RGB", (max(p.size[0] for p in parts) + 2 * pad, sum(p.size[1] + pad for p in parts) + pad),
                    render.BACKGROUND)
    for part, y in zip(parts, accumulate([pad] + [p.size[1] + pad for p in parts[:-1]])):
        out.paste(part, (pad, y))
    return out
