"""The static picture of :class:`~xai_widgets.widgets.occlusion.OcclusionExplorer`: the
numbered features, the relevance with its legend and the occluded image with its top-5
against before; the analysis and the sandbox when they have results."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..attribution import feature_occlusion as features
from ..core import colormaps, render
from .occlusion_payload import KIND_TITLES, anchor, top_classes

PAINT = np.array([255, 0, 255])  # the painted region's tint (magenta, half opaque)


def top5_lines(probs: torch.Tensor, base_probs: torch.Tensor, classes: Sequence[str], what: str) -> list[str]:
    """The top-5 of a perturbed image, each class with its probability before in brackets.

    Parameters
    ----------
    probs, base_probs : torch.Tensor
        K class probabilities after and before the perturbation.
    classes : sequence of str
        The class names.
    what : str
        What was perturbed ("occluded", "perturbed"), for the heading.

    Returns
    -------
    list of str
        The heading, then one line per class.
    """
    return [f"top-5: {what} (before)"] + [f"{classes[k]}: {100 * p:.1f}%  ({100 * float(base_probs[k]):.1f}%)"
                                          for k, p in top_classes(probs)]


def render_view(image: np.ndarray, relevance: np.ndarray, found: Sequence[np.ndarray],
                colours: Sequence[tuple[int, int, int]], occluded: Sequence[int], occluded_image: np.ndarray,
                probs: torch.Tensor, base_probs: torch.Tensor, classes: Sequence[str], *, method: str,
                rel_scale: float, opacity: float, findings: Sequence | None = None,
                sandbox: tuple[np.ndarray, np.ndarray, str, torch.Tensor] | None = None,
                synthesis: tuple[np.ndarray, Sequence[np.ndarray], Sequence[str]] | None = None, panel: int,
                scale: float = 1) -> Image.Image:
    """The explorer's view as a PIL image: numbered features, relevance with its colour
    legend, occluded image and its top-5 against before; a row of the analysis's findings
    and a row of the sandbox when given.

    Parameters
    ----------
    image : np.ndarray
        H x W x 3 uint8: the image.
    relevance : np.ndarray
        H x W relevance map.
    found : sequence of np.ndarray
        The features in number order, each M x 2 (row, col) pixels.
    colours : sequence of RGB
        One colour per feature.
    occluded : sequence of int
        The occluded features' indices.
    occluded_image : np.ndarray
        H x W x 3 uint8: the image with them occluded.
    probs, base_probs : torch.Tensor
        K class probabilities of the occluded and of the original image.
    classes : sequence of str
        The class names.
    method : str
        Where the relevance came from.
    rel_scale : float
        The relevance panel's colour scale (over ``[-rel_scale, rel_scale]``).
    opacity : float
        Of the feature colours over the image.
    findings : sequence, optional
        Per metric of :data:`~xai_widgets.widgets.occlusion_payload.KIND_TITLES`, None (none
        found) or (occluded feature indices, H x W x 3 uint8 image); None for no analysis row.
    sandbox : tuple, optional
        (H x W bool painted region, H x W x 3 uint8 perturbed image, perturbation kind, its K
        class probabilities); None for no sandbox row.
    synthesis : tuple, optional
        (H x W x 3 uint8 isolated feature, its pre-images as H x W x 3 uint8, one title per
        panel); None for no synthesis row.
    panel : int
        Side of an image panel in pixels (at least 96).
    scale : float
        A multiplier of every length, for print (2 gives twice the pixels, same picture).

    Returns
    -------
    PIL.Image.Image
        The RGB picture.
    """
    u = render.scaler(scale, minimum=1)
    side = max(96, panel)
    H, W = relevance.shape
    ph = round(side * H / W)
    fs = max(10, side // 22)
    small, label_font = render.font(u(fs)), render.font(u(max(11, side // 18)))
    measure = render.font(fs)  # widths measured at scale 1, so every size scales exactly
    gap, line = 10, fs + 6

    def big(arr):
        return Image.fromarray(arr).resize((u(side), u(ph)), Image.NEAREST)

    base = image.astype(np.float32)
    labels = features.label_map(found, (H, W))
    table = np.array([(0, 0, 0)] + list(colours), dtype=np.float32)
    a = np.where(labels > 0, opacity, 0.0)[..., None]
    feat = big((base * (1 - a) + table[labels] * a).round().clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(feat)
    for k, f in enumerate(found):
        r, c = anchor(f)
        draw.text(((c + 0.5) * feat.size[0] / W, (r + 0.5) * feat.size[1] / H), str(k + 1), fill=(255, 255, 255),
                  font=label_font, anchor="mm", stroke_width=u(2), stroke_fill=(0, 0, 0))
    m = rel_scale
    rel = big(colormaps.apply(relevance, "diverging", -m, m))
    legend = render.legend("diverging", -m, m, max_width=u(side), font_size=u(fs),
                           caption="relevance, 99th pct |r| (beyond saturates)")
    rows = [([feat, rel, big(occluded_image)], [f"{len(found)} features", f"relevance ({method})",
                                                f"occluded: {', '.join(str(i + 1) for i in occluded) or 'none'}"],
             top5_lines(probs, base_probs, classes, "occluded"), legend)]
    if findings is not None:
        thumbs, titles = [], []
        for kind, f in zip(KIND_TITLES, findings):
            thumbs.append(big(f[1]) if f is not None else Image.new("RGB", feat.size, render.BACKGROUND))
            shown = "none found" if f is None else ", ".join(str(i + 1) for i in f[0]) or "nothing"
            titles.append(f"{KIND_TITLES[kind][1]}: occlude {shown}")
        rows.append((thumbs, titles, [], None))
    if sandbox is not None:
        painted, pixels, kind, sandbox_probs = sandbox
        p = painted[..., None]
        tint = (base * (1 - 0.5 * p) + PAINT * 0.5 * p).round().astype(np.uint8)
        rows.append(([big(tint), big(pixels)], ["painted", f"perturbed ({kind})"],
                     top5_lines(sandbox_probs, base_probs, classes, "perturbed"), None))
    if synthesis is not None:
        isolated, preimages, titles = synthesis
        rows.append(([big(isolated)] + [big(p) for p in preimages], list(titles), [], None))
    legend_h = 3 * fs + 18  # render.legend's height at scale 1
    text_w = max([int(measure.getlength(t)) + 4 for _, _, text, _ in rows for t in text] or [0])
    width = gap + max(len(p) * (side + gap) + (text_w + gap if t else 0) for p, _, t, _ in rows)
    heights = [line + max(ph + (legend_h if lg else 0), len(t) * line) + gap for _, _, t, lg in rows]
    fig = Image.new("RGB", (u(width), u(sum(heights) + gap)), render.BACKGROUND)
    d = ImageDraw.Draw(fig)
    y = gap
    for (panels, titles, text, lg), h in zip(rows, heights):
        for j, (p, t) in enumerate(zip(panels, titles)):
            x = gap + j * (side + gap)
            d.text((u(x), u(y)), render.ellipsis(t, small, u(side)), fill=render.TEXT, font=small)
            fig.paste(p, (u(x), u(y + line)))
            if lg is not None and j == 1:  # the relevance panel's colour scale under it
                fig.paste(lg, (u(x), u(y + line + ph + 2)))
        x = gap + len(panels) * (side + gap)
        for i, t in enumerate(text):
            d.text((u(x), u(y + line + i * line)), t, fill=render.TEXT, font=small)
        y += h
    return fig
