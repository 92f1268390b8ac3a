"""DecoderExplorer's static figure: the image, the blend shown, the reconstruction and the std
map in a row, the colour legend, the prediction along the blend and the nMI caption."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..core import colormaps, render
from .decoder_payload import STD_COLORMAP, blend_pixels
from .inversion_payload import decoded_pixels

__all__ = ["nmi_caption", "prediction_line", "decoder_picture"]


def nmi_caption(dec: dict, index: int) -> list[str]:
    """The lines defining and giving IC-nMI and BC-nMI (the browser writes the same).

    Parameters
    ----------
    dec : dict
        The widget's payload.
    index : int
        The image shown.

    Returns
    -------
    list of str
        Two lines.
    """
    ic = dec["ic_nmi"]
    return [f"IC-nMI = NMI(x, A(x)) = {ic[index]:.3f} for this image, mean {np.mean(ic):.3f} over {len(ic)}; "
            f"BC-nMI = mean NMI(A(x_i), A(x_j)) over {dec['pairs']} pairs = {dec['bc_nmi']:.3f}",
            f"NMI(X, Y) = 2 I(X; Y) / (H(X) + H(Y)) of the intensities in {dec['bins']} bins; "
            "high BC-nMI: the decoder draws the same whatever the input"]


def prediction_line(dec: dict, index: int, step: int) -> str:
    """The classifier's top class at the blend shown (the browser's readout).

    Parameters
    ----------
    dec : dict
        The widget's payload.
    index : int
        The image shown.
    step : int
        The blend step shown.

    Returns
    -------
    str
        E.g. ``"blend 0.40: circle (97.1%)"``.
    """
    k = index * dec["steps"] + step
    b = step / (dec["steps"] - 1)
    return f"blend {b:.2f}: {dec['classes'][dec['top'][k]]} ({100 * dec['prob'][k]:.1f}%)"


def _panel(px: np.ndarray, side: int, nearest: bool = False) -> Image.Image:
    img = Image.fromarray(px[..., 0] if px.shape[-1] == 1 else px).convert("RGB")
    return img.resize((side, side), Image.NEAREST if nearest else Image.BILINEAR)


def decoder_picture(dec: dict, index: int, step: int, side: int, scale: float) -> Image.Image:
    """The whole figure at image ``index`` and blend ``step``.

    Parameters
    ----------
    dec : dict
        The widget's payload (:func:`~xai_widgets.widgets.decoder_payload.decoder_payload`).
    index : int
        The image shown.
    step : int
        The blend step shown.
    side : int
        Side of each image panel in pixels (already scaled).
    scale : float
        Multiplies text and gaps.

    Returns
    -------
    PIL.Image.Image
        RGB figure.
    """
    images, recons, raw = (decoded_pixels(dec[key]) for key in ("images", "recons", "std"))
    panels = [_panel(images[index], side), _panel(blend_pixels(images[index], recons[index], step, dec["steps"]), side),
              _panel(recons[index], side), _panel(colormaps.apply(raw, STD_COLORMAP, 0, 255), side, nearest=True)]
    small = int(round(11 * scale))
    legend = render.legend(STD_COLORMAP, 0.0, dec["std_hi"], font_size=small, scale=scale, bar_width=240,
                           caption="std map: standard deviation of A(x) across the images, per pixel")
    grid = render.grid_figure([panels], ["image x", f"blend b = {step / (dec['steps'] - 1):.2f}", "A(x)",
                                         "std map"], [""], footer=legend)
    fnt = render.font(max(12, int(round(12 * scale))))
    lines = [prediction_line(dec, index, step)] + nmi_caption(dec, index)
    line_h = fnt.size + int(round(4 * scale))
    width = max(grid.size[0], max(int(fnt.getlength(t)) for t in lines) + 2 * int(round(8 * scale)))
    out = Image.new("RGB", (width, grid.size[1] + line_h * len(lines) + line_h // 2), render.BACKGROUND)
    out.paste(grid, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, text in enumerate(lines):
        draw.text((int(round(8 * scale)), grid.size[1] + i * line_h), text, fill=render.TEXT if i == 0 else
                  render.MUTED, font=fnt)
    return out
