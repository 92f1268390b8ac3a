"""What a :class:`~xai_widgets.widgets.sweep.TransformSweep` ships to the browser.

:func:`sweep_state` transforms the image at every value
(:func:`xai_widgets.similarity.transforms.sweep`), runs the model once on the original and
all the copies, and wire-encodes the layer's unit-normalised float16 vectors, the display
pixels transformed the same way (:func:`display_copies`) and, per copy, where each cell of
the original went. The curves the chart draws are computed from exactly the shipped vectors
(:func:`xai_widgets.similarity.transforms.corresponding_similarity`).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..core import wire
from ..core.capture import capture_maps, model_device
from ..core.images import check_input_size, display_pixels, model_input, to_uint8
from ..similarity.maps import half_vectors
from ..similarity.transforms import Kind, corresponding_similarity, sweep

__all__ = ["sweep_state", "display_copies", "copy_title", "axis_label"]

_AXIS_LABELS = {"rotate": "rotation (degrees, counter-clockwise)", "scale": "zoom factor"}


def sweep_state(model: nn.Module, image, layer: str, kind: Kind, values: list[float], *,
                correspondence: Callable | None, preprocess: Callable | None, layouts: dict | None,
                size: int, max_bytes: int) -> dict:
    """Everything the widget holds for its inputs, its browser payload included.

    Parameters
    ----------
    model : nn.Module
        The model; it runs once on the original and every copy in one batch.
    image : PIL image, numpy array or tensor
        The original (see :mod:`xai_widgets.core.images`).
    layer : str
        The layer whose activation vectors are compared.
    kind : str or callable
        ``"rotate"``, ``"scale"`` or a callable transform (see :mod:`xai_widgets.similarity.transforms`).
    values : list of float
        The transform values, one copy each.
    correspondence : callable or None
        The point correspondence of a callable ``kind``.
    preprocess : callable or None
        PIL image -> C x H x W tensor, the model input the transform is applied to.
    layouts : dict or None
        ``{layer: layout}`` where the layer's layout is not detected.
    size : int
        Long side of the display pixels shipped per image.
    max_bytes : int
        Payload budget for the vectors and the pixels.

    Returns
    -------
    dict
        ``data`` (the ``_data`` trait); ``vectors`` ((V + 1) x h x w x C float32, exactly
        the shipped float16 values); ``rows``, ``cols``, ``valid`` (V x h x w, the shipped
        correspondence); ``curves`` (V x h x w) and ``mean`` (V) float32, NaN where
        undefined; ``input_hw``; ``titles`` (one per copy); ``negative`` (whether any
        activation is below 0); ``grid`` (h, w); ``prefix`` (prefix tokens dropped) and
        ``bytes`` (shipped).

    Raises
    ------
    ValueError
        When the payload does not fit ``max_bytes``, saying what to change.
    """
    device = model_device(model)
    x = model_input(image, model, preprocess, 0)
    check_input_size(x, "TransformSweep")
    x = x.to(device)
    s = sweep(x, kind, values, correspondence=correspondence)
    captured = capture_maps(model, torch.cat([x, s.images]), [layer], layouts=layouts)[layer]
    acts = captured.maps.float()  # (V + 1) x C x h x w; a token layer's patch grid
    n, c, h, w = acts.shape
    input_hw = tuple(x.shape[-2:])
    base = display_pixels(image, input_hw, size)
    wire.check_budget(
        n * h * w * c * 2 + n * base.size, max_bytes,
        f"this view (layer {layer!r}, {h}x{w}x{c} for each of {n} images: the original and {n - 1} copies)",
        "Sweep fewer values, choose a deeper (smaller) layer, use a smaller input or size, or raise max_bytes.")
    unit = half_vectors(acts.permute(0, 2, 3, 1))  # (V + 1) x h x w x C unit vectors in float16
    copies = display_copies(base, kind, values, correspondence)
    rows, cols, valid = s.correspondence((h, w))
    payloads = [wire.encode(u, "float16") for u in unit]
    titles = [copy_title(kind, v) for v in values]
    data = {
        "layer": layer,
        "axis": axis_label(kind),
        "values": values,
        "grid": [h, w],
        "original": {"title": "original", "pixels": wire.encode(base, "uint8"), "acts": payloads[0]},
        "copies": [
            {
                "title": titles[k],
                "pixels": wire.encode(copies[k], "uint8"),
                "acts": payloads[k + 1],
                "rows": rows[k].flatten().tolist(),
                "cols": cols[k].flatten().tolist(),
            }
            for k in range(len(values))
        ],
    }
    vecs = np.stack([wire.decode(p) for p in payloads])  # exactly what the browser has (float32)
    rows, cols, valid = rows.cpu().numpy(), cols.cpu().numpy(), valid.cpu().numpy()
    curves, mean = corresponding_similarity(vecs, rows, cols, valid)
    data["mean"] = [float(m) if np.isfinite(m) else None for m in mean]
    shipped = sum(wire.payload_bytes(e[k]) for e in [data["original"], *data["copies"]] for k in ("pixels", "acts"))
    return {
        "bytes": shipped,
        "data": data,
        "vectors": vecs,
        "rows": rows, "cols": cols, "valid": valid,
        "curves": curves.astype(np.float32),
        "mean": mean.astype(np.float32),
        "input_hw": input_hw,
        "titles": titles,
        "negative": bool((acts < 0).any()),
        "grid": (h, w),
        "prefix": 0 if captured.prefix is None else captured.prefix.shape[1],
    }


def display_copies(base: np.ndarray, kind: Kind, values: Sequence[float], correspondence: Callable | None
                   ) -> np.ndarray:
    """Display pixels transformed like the model input.

    Parameters
    ----------
    base : numpy.ndarray
        H' x W' x 3 uint8 display pixels of the original.
    kind, values, correspondence
        As for :func:`xai_widgets.similarity.transforms.sweep`.

    Returns
    -------
    numpy.ndarray
        V x H' x W' x 3 uint8, one copy per value.

    Raises
    ------
    ValueError
        When a callable transform fails on the display pixels, saying what it was given.
    """
    t = torch.from_numpy(np.array(base, copy=True)).permute(2, 0, 1)[None].float() / 255.0
    try:
        out = sweep(t, kind, values, correspondence=correspondence).images
    except Exception as exc:
        if not callable(kind):
            raise
        raise ValueError(
            "the transform is applied to the display pixels too (a 1 x 3 x H x W float tensor in "
            f"[0, 1], H x W = {base.shape[0]} x {base.shape[1]}) and raised {type(exc).__name__}: {exc}. "
            "Make it work for any image size and 3 channels."
        ) from exc
    return to_uint8(out).permute(0, 2, 3, 1).numpy()


def copy_title(kind: Kind, value: float) -> str:
    """A copy's title: ``"45°"`` for a rotation, ``"×2"`` for a zoom, the value otherwise.

    Parameters
    ----------
    kind : str or callable
        ``"rotate"``, ``"scale"`` or a callable transform.
    value : float
        The copy's transform value.

    Returns
    -------
    str
        ``value`` in at most 4 significant digits, with ``°`` after it for ``"rotate"``
        and ``×`` before it for ``"scale"``.
    """
    if kind == "rotate":
        return f"{value:.4g}°"
    if kind == "scale":
        return f"×{value:.4g}"
    return f"{value:.4g}"


def axis_label(kind: Kind) -> str:
    """The chart's x axis label: what the values are (a callable transform's name if it has one).

    Parameters
    ----------
    kind : str or callable
        ``"rotate"``, ``"scale"`` or a callable transform.

    Returns
    -------
    str
        ``"rotation (degrees, counter-clockwise)"``, ``"zoom factor"``, ``"<name> value"``
        for a callable whose ``__name__`` is an identifier, else ``"transform value"``.

    Raises
    ------
    KeyError
        If ``kind`` is a string other than ``"rotate"`` and ``"scale"``.
    """
    if isinstance(kind, str):
        return _AXIS_LABELS[kind]
    name = getattr(kind, "__name__", "")
    return f"{name} value" if name and name.isidentifier() else "transform value"
