"""The static picture of an :class:`~xai_widgets.widgets.adversarial.AdversarialExplorer`.

:func:`adversarial_figure` draws, with PIL, one frame of what the browser shows: per image x,
the amplified perturbation, x' and the attributions of x and x' (the diverging colours of
:func:`xai_widgets.core.diverging.shade`, the bytes the browser draws), a line with the top
class before and after, the flip and the norms; then the accuracy-vs-L2 chart
(:func:`xai_widgets.core.charts.chart_scene`).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..core import render
from ..core.charts import chart_scene, scene_png
from ..core.diverging import shade

__all__ = ["adversarial_figure", "pending_figure", "HEADINGS", "eps_label"]

HEADINGS = ("x", "perturbation (amplified)", "x'", "attribution of x", "attribution of x'")


def eps_label(attack: str, eps: float) -> str:
    """The slider's label for one budget: ``"eps = 2/255"`` (FGSM, BIM) or ``"2 x delta"`` (C&W).

    Parameters
    ----------
    attack : str
        ``"fgsm"``, ``"bim"`` or ``"cw"``.
    eps : float
        The budget or multiple.

    Returns
    -------
    str
        The label.
    """
    if attack == "cw":
        return f"{eps:g} x delta"
    return f"eps = {eps * 255:.4g}/255"


def _panel(pixels: np.ndarray, side: int) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pixels[..., :3])).resize((side, side), Image.Resampling.NEAREST)


def adversarial_figure(widget, e: int, t: int, *, panel: int, scale: float) -> Image.Image:
    """One frame of the explorer as a PIL image.

    Parameters
    ----------
    widget : AdversarialExplorer
        The explorer (its shipped state is drawn).
    e, t : int
        The eps index and the iteration index.
    panel : int
        Panel size in pixels at scale 1.
    scale : float
        Multiplier of every length.

    Returns
    -------
    PIL.Image.Image
        The RGB figure.
    """
    px = render.scaler(scale)
    st, data = widget._state, widget._state["data"]
    n = len(widget.inputs)
    gap, f = 8, max(11, panel // 10)
    fnt = render.font(px(f))
    line = round(f * 1.3)
    width = gap + 5 * (panel + gap)
    row_h = line + panel + 2 * line + gap
    top = gap + line
    chart_w = min(width - 2 * gap, 360)
    mean_l2, accuracy = widget.curve(t)
    order = np.argsort(mean_l2, kind="stable")
    eps_text = eps_label(widget.attack, widget.epsilons[e])
    p = {"title": f"accuracy vs mean relative L2 ({widget.attack.upper()}, initially correct images)",
         "subtitle": f"current: {eps_text}" + (f", iteration {t + 1}" if widget.steps > 1 else ""),
         "xTitle": "mean ||delta||_2 / ||x||_2", "yTitle": "accuracy", "xs": [float(mean_l2[i]) for i in order],
         "yRange": [0, 1], "series": [{"name": "accuracy", "label": "accuracy per eps", "color": "#1976d2",
                                        "dash": [], "ys": [float(accuracy[i]) for i in order]}]}
    chart = scene_png([chart_scene(p, chart_w, scale)])
    fig = Image.new("RGB", (px(width), px(top + n * row_h) + chart.height + px(gap)), render.BACKGROUND)
    draw = ImageDraw.Draw(fig)
    for k, head in enumerate(HEADINGS):
        draw.text((px(gap + k * (panel + gap) + panel / 2), px(gap)), head, fill=render.TEXT, font=fnt, anchor="ma")
    side = px(panel)
    for i in range(n):
        y0 = top + i * row_h
        s = st["scales"][i]
        panels = [widget.pixels(i, e, t, "clean"), widget.pixels(i, e, t, "perturbation"),
                  widget.pixels(i, e, t, "adversarial"), shade(st["maps_clean"][i], s),
                  shade(st["maps_adv"][e, t, i], s)]
        label = data["classes"][data["labels"][i]]
        before, after = data["top_clean"][i][0], data["top_adv"][e][t][i][0]
        flip = ("misclassified before the attack" if data["pred"][i] != data["labels"][i]
                else f"FLIPPED to {data['classes'][int(st['pred_adv'][e, t, i])]}" if widget.flipped(e, t)[i]
                else "not flipped")
        draw.text((px(gap), px(y0)), render.png_text(f"image {i}: true class {label}; {flip}"), fill=render.TEXT,
                  font=fnt)
        for k, pix in enumerate(panels):
            fig.paste(_panel(pix, side), (px(gap + k * (panel + gap)), px(y0 + line)))
        y1 = y0 + line + panel + 2
        draw.text((px(gap), px(y1)), render.png_text(
            f"before: {before[0]} {100 * before[1]:.1f}%   after: {after[0]} {100 * after[1]:.1f}%"),
            fill=render.TEXT, font=fnt)
        draw.text((px(gap), px(y1 + line)), render.png_text(
            f"||delta||_inf = {st['linf'][e, t, i] * 255:.3g}/255   ||delta||_2 = {st['l2'][e, t, i]:.3g}   "
            f"attribution scale +-{s:.3g}"), fill=render.TEXT, font=fnt)
    fig.paste(chart, (px(gap), px(top + n * row_h)))
    return fig


def pending_figure(text: str, *, panel: int, scale: float) -> Image.Image:
    """The picture of an explorer with no frames yet (attacks running, cancelled or failed): one line saying so.

    Parameters
    ----------
    text : str
        What the view shows instead of the frames (the state message).
    panel, scale
        As :func:`adversarial_figure`: the figure is as wide as one row of its five panels.

    Returns
    -------
    PIL.Image.Image
        The text on the figure's background.
    """
    px = render.scaler(scale)
    gap, f = 8, max(11, panel // 10)
    width = gap + 5 * (panel + gap)
    fnt = render.font(px(f))
    lines = render.wrap_text(render.png_text(text), fnt, px(width - 2 * gap), max_lines=4)
    fig = Image.new("RGB", (px(width), px(2 * gap) + len(lines) * px(round(f * 1.3))), render.BACKGROUND)
    draw = ImageDraw.Draw(fig)
    for k, line in enumerate(lines):
        draw.text((px(gap), px(gap) + k * px(round(f * 1.3))), line, fill=render.TEXT, font=fnt)
    return fig
