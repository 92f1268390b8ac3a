"""What :class:`~xai_widgets.widgets.attribution.AttributionExplorer` ships to the browser:
the display images and, per method, its column (the maps in units of the column's scale,
the scale and its rule, each image's own scale, notes and the slider's map series), as
wire-encoded arrays (:mod:`xai_widgets.core.wire`)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..attribution import methods as attribution
from ..core import wire
from ..core.diverging import scale_of
from ..core.images import display_pixels, hwc_pixels, to_uint8


def display_images(inputs: torch.Tensor, images: Sequence, preprocess) -> np.ndarray:
    """The images the grid shows, at the model input's size.

    Parameters
    ----------
    inputs : torch.Tensor
        N x C x H x W model inputs.
    images : sequence
        The images as given (PIL images, arrays or tensors), one per input.
    preprocess : callable or None
        The widget's preprocessing; without one the input itself is the image.

    Returns
    -------
    np.ndarray
        N x H x W x 3 uint8.
    """
    H, W = inputs.shape[-2:]
    if preprocess is None:
        rgb = inputs if inputs.shape[1] == 3 else inputs[:, :1].repeat(1, 3, 1, 1)
        return hwc_pixels(rgb)
    out = []
    for i, img in enumerate(images):
        px = display_pixels(img, (H, W), max(H, W), i)
        if px.shape[:2] != (H, W):
            px = np.asarray(Image.fromarray(px).resize((W, H), Image.Resampling.LANCZOS))
        out.append(px)
    return np.stack(out)


def slider_pixels(images: torch.Tensor, x: torch.Tensor, rescale: bool) -> torch.Tensor:
    """A map series' model-input images as display pixels.

    Without preprocessing the input is the image in [0, 1]; with one (e.g. a mean/std
    normalisation) each channel is mapped back by the range of the image's own input.

    Parameters
    ----------
    images : torch.Tensor
        S x C x H x W model-input images (one per slider position).
    x : torch.Tensor
        C x H x W: the image's own model input.
    rescale : bool
        Whether the inputs were preprocessed (then map each channel back by ``x``'s range).

    Returns
    -------
    torch.Tensor
        S x H x W x C uint8.
    """
    t = images.detach().float().cpu()
    if rescale:
        lo = x.amin(dim=(1, 2)).view(1, -1, 1, 1)
        hi = x.amax(dim=(1, 2)).view(1, -1, 1, 1)
        t = (t - lo) / (hi - lo).clamp_min(1e-12)
    return to_uint8(t).permute(0, 2, 3, 1).contiguous()


def series_words(key: str) -> dict:
    """How the browser labels a method's map series: the symbol and unit of its record's axis.

    Parameters
    ----------
    key : str
        A method name with a map series (a key of ``xai_widgets.attribution.METHODS``).

    Returns
    -------
    dict
        ``{"word": symbol, "unit": unit}`` of the record's ``series`` axis.

    Raises
    ------
    KeyError
        If ``key`` is not a method name.
    """
    axis = attribution.METHODS[key].series
    return {"word": axis.symbol, "unit": axis.unit}


def _finite(v: float):
    return float(v) if math.isfinite(v) else None  # JSON has no inf or nan


def method_info(res: Sequence[attribution.Attribution]) -> dict:
    """Per-image facts of a column: the completeness gap δ (when every image has one) and the
    method's notes (when any image has one).

    Parameters
    ----------
    res : sequence of Attribution
        One result per image.

    Returns
    -------
    dict
        ``"delta"``: a list of float, one per image, present when every result's ``info``
        has ``"delta"``; ``"notes"``: a list of str (empty where none), present when any
        result's ``info`` has a non-empty ``"note"``. Empty when neither applies.
    """
    info = {}
    if all("delta" in r.info for r in res):
        info["delta"] = [float(r.info["delta"].reshape(-1)[0]) for r in res]
    notes = [r.info.get("note", "") for r in res]
    if any(notes):
        info["notes"] = notes
    return info


def slider_payload(key: str, res: Sequence[attribution.Attribution], s: float, inputs: torch.Tensor,
                   rescale: bool) -> dict:
    """A slider column's map series: every position's maps (in units of ``s``), its values and
    labels, and, where the method has them, the images, scores, full-image score and best
    position per image.

    Parameters
    ----------
    key : str
        The method's name.
    res : sequence of Attribution
        One result per image, each with a ``series`` of the same positions.
    s : float
        The column's scale.
    inputs : torch.Tensor
        N x C x H x W model inputs (for the series' images).
    rescale : bool
        Whether the inputs were preprocessed (see :func:`slider_pixels`).

    Returns
    -------
    dict
        The slider's payload.
    """
    sl0 = res[0].series
    S = len(sl0.values)
    if any(len(r.series.values) != S for r in res):
        raise ValueError(f"{key}: the slider positions differ between images")
    maps = torch.stack([r.series.maps[0].detach().float().cpu() for r in res])  # N x S x H x W
    out = {"name": sl0.name, "values": [float(v) for v in sl0.values], "index": [int(r.series.index) for r in res],
           "maps": wire.encode(maps / s, "float16"), **series_words(key),
           "images": None, "scores": None, "full": None, "best": None}
    if all(r.series.images is not None for r in res):
        imgs = torch.stack([slider_pixels(r.series.images[0], inputs[i], rescale) for i, r in enumerate(res)])
        out["images"] = wire.encode(imgs, "uint8")  # N x S x H x W x C
    if all(r.series.scores is not None for r in res):
        out["scores"] = [[_finite(v) for v in r.series.scores[0].reshape(-1).tolist()] for r in res]
    if all("full_score" in r.info for r in res):
        out["full"] = [_finite(float(torch.as_tensor(r.info["full_score"]).reshape(-1)[0])) for r in res]
    if all("best" in r.info for r in res):
        out["best"] = [int(torch.as_tensor(r.info["best"]).reshape(-1)[0]) for r in res]
    return out


def method_entry(key: str, title: str, res: Sequence[attribution.Attribution], inputs: torch.Tensor,
                 rescale: bool) -> dict:
    """One method's column: its title (with the layer, for a layer method), its scale over every image and slider position
    (:func:`xai_widgets.core.diverging.scale_of`), each image's own scale, the shown maps in
    units of the scale, the per-image facts and, for a method with a map series on every
    image, the slider.

    Parameters
    ----------
    key : str
        The method's key (a name, or a Captum object's class name).
    title : str
        The method's title.
    res : sequence of Attribution
        One result per image.
    inputs : torch.Tensor
        N x C x H x W model inputs.
    rescale : bool
        Whether the inputs were preprocessed (see :func:`slider_pixels`).

    Returns
    -------
    dict
        The entry, with ``scale``, ``rule`` and ``row_scales`` among its keys.
    """
    sliders = [r.series for r in res]
    has_slider = all(sl is not None for sl in sliders)
    stacks = [(sl.maps if has_slider else r.maps).detach().float().cpu().reshape(-1) for r, sl in zip(res, sliders)]
    s, rule = scale_of([t.numpy() for t in stacks])
    layer = next((r.info.get("layer") for r in res if r.info.get("layer")), None)
    maps = torch.stack([r.maps[0].detach().float().cpu() for r in res])  # N x H x W
    entry = {"key": key, "title": f"{title} ({layer})" if layer else title, "scale": s, "rule": rule,
             "row_scales": [scale_of([t.numpy()])[0] for t in stacks],
             "maps": wire.encode(maps / s, "float16"), "info": method_info(res)}
    if has_slider:
        entry["slider"] = slider_payload(key, res, s, inputs, rescale)
    return entry


def cell_values(entry: dict, i: int, position: int | None) -> np.ndarray:
    """The values the browser holds for a cell, in units of the column's scale (via float16).

    Parameters
    ----------
    entry : dict
        The method's column (:func:`method_entry`).
    i : int
        The image (row).
    position : int or None
        The slider position shown (ignored for a method without a slider).

    Returns
    -------
    np.ndarray
        H x W values.
    """
    sl = entry.get("slider")
    if sl is None:
        return wire.decode(entry["maps"])[i]
    p = int(position)
    if not 0 <= p < len(sl["values"]):
        raise ValueError(f"position must be in 0..{len(sl['values']) - 1}, got {p}")
    return wire.decode(sl["maps"])[i, p]


def shipped_bytes(images: dict, probs: dict, methods: Sequence[dict]) -> int:
    """Bytes of binary data shipped (:func:`xai_widgets.core.wire.payload_bytes`).

    Parameters
    ----------
    images, probs : dict
        The widget's ``_images`` and ``_probs`` payloads.
    methods : sequence of dict
        The columns (:func:`method_entry`).

    Returns
    -------
    int
        The images, the probabilities and every column's maps, slider maps and slider images.
    """
    total = wire.payload_bytes(images["pixels"]) + wire.payload_bytes(probs["probs"])
    for m in methods:
        total += wire.payload_bytes(m["maps"])
        sl = m.get("slider")
        if sl:
            total += wire.payload_bytes(sl["maps"]) + (wire.payload_bytes(sl["images"]) if sl["images"] else 0)
    return total
