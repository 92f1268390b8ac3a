"""What ChannelGrid ships to the browser for a layer: its activations and, once scanned or
visualised, patches, unit statistics, detector badges and activation-maximisation images."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..core import colormaps, wire
from ..core.images import to_uint8
from ..core.targets import class_label

__all__ = ["CONCEPT_COLOURS", "OTHER_CONCEPTS", "acts_payload", "concept_colours", "patches_payload", "unit_summary",
           "visuals_payload", "relevance_payload", "relevance_patches_payload"]

#: Detector badges take a colour per concept (Tableau 10 without the red and orange of the dead
#: and constant badges, and without grey, which marks "other concepts" when there are more).
CONCEPT_COLOURS = [colormaps.TABLEAU10[n] for n in ("blue", "teal", "green", "yellow", "purple", "pink", "brown")]
OTHER_CONCEPTS = colormaps.TABLEAU10["grey"]


def concept_colours(labels: Sequence[str]) -> dict[str, str]:
    """{concept: badge colour}: the concepts with most detectors first; past the palette, grey.

    Parameters
    ----------
    labels : sequence of str
        Each unit's concept label; an empty string for a unit that detects none.

    Returns
    -------
    dict of str to str
        Each concept mapped to a hex colour from :data:`CONCEPT_COLOURS`, ranked by how many
        units detect it (ties by name). With more concepts than colours, the first
        ``len(CONCEPT_COLOURS) - 1`` get colours and the rest :data:`OTHER_CONCEPTS`.
    """
    counts: dict[str, int] = {}
    for label in labels:
        if label:
            counts[label] = counts.get(label, 0) + 1
    ranked = sorted(counts, key=lambda name: (-counts[name], name))
    coloured = len(CONCEPT_COLOURS) if len(ranked) <= len(CONCEPT_COLOURS) else len(CONCEPT_COLOURS) - 1
    return {name: CONCEPT_COLOURS[i] if i < coloured else OTHER_CONCEPTS for i, name in enumerate(ranked)}


def acts_payload(layer: str, acts: torch.Tensor, prefix: tuple[list[str], torch.Tensor] | None) -> dict:
    """One layer's N x C x H x W activations as float16, whether any is negative (then the
    browser colours with the diverging map), and a token layer's prefix tokens (names, N x P x C).

    Parameters
    ----------
    layer : str
        The layer's name.
    acts : torch.Tensor
        N x C x H x W activations.
    prefix : tuple of (list of str, torch.Tensor) or None
        A token layer's prefix token names and N x P x C values; None for other layers.

    Returns
    -------
    dict
        ``{"layer", "signed", "acts"}``, plus ``"prefix"`` and ``"prefix_names"`` when
        ``prefix`` is given; arrays are wire-encoded float16.
    """
    payload = {"layer": layer, "signed": bool((acts < 0).any()), "acts": wire.encode(acts, "float16")}
    if prefix is not None:
        names, tokens = prefix
        payload.update(prefix=wire.encode(tokens, "float16"), prefix_names=names)
    return payload


def patches_payload(layer: str, top) -> dict:
    """The top-k patches of every unit of ``layer`` (a :class:`xai_widgets.units.scan.TopK`).

    Parameters
    ----------
    layer : str
        The layer's name.
    top : xai_widgets.units.scan.TopK
        The scan's result for the layer.

    Returns
    -------
    dict
        ``{"layer", "patches", "values", "indices", "n_images", "score"}``: the patches
        wire-encoded as uint8, the scores and dataset indices as nested lists.
    """
    return {"layer": layer, "patches": wire.encode(top.patches, "uint8"),
            "values": top.values.astype(np.float32).tolist(),
            "indices": top.indices.tolist(), "n_images": top.n_images, "score": top.score}


def relevance_payload(cond, image: int, class_name: str, scale: float, rule: str) -> dict:
    """Relevance mode's tiles: every unit's conditional heatmap, its relevance R_c and share, and
    the order of the tiles (most relevant first), for one image and class.

    Parameters
    ----------
    cond : xai_widgets.attribution.crp.Conditional
        The channel relevances and heatmaps of every channel (in channel order).
    image : int
        The image's index in the strip.
    class_name : str
        The name of the class explained.
    scale, rule : float, str
        The colour scale [-scale, scale] of every tile and how it was chosen.

    Returns
    -------
    dict
        ``{"layer", "image", "target", "class_name", "logit", "relevance", "share", "order",
        "total", "scale", "rule", "maps"}``: ``maps`` the C x H x W heatmaps wire-encoded as
        float32 (the browser colours these exact values), the rest numbers and lists.
    """
    r = cond.relevance.double()
    return {"layer": cond.layer, "image": int(image), "target": cond.target, "class_name": class_name,
            "logit": cond.logit, "relevance": r.tolist(), "share": [cond.share(c) for c in range(len(r))],
            "order": cond.order, "total": float(r.sum()), "scale": float(scale), "rule": rule,
            "maps": wire.encode(cond.heatmaps, "float32")}


def relevance_patches_payload(layer: str, refs, which: str) -> dict:
    """The relevance-ranked patches of every unit (a :class:`xai_widgets.attribution.crp.References`),
    shaped as :func:`patches_payload`'s with ``score`` "relevance" and the class they explain.

    Parameters
    ----------
    layer : str
        The layer's name.
    refs : xai_widgets.attribution.crp.References
        The reference samples, with patches.
    which : str
        The class explained, as shown ("circle", "each image's predicted class").

    Returns
    -------
    dict
        ``{"layer", "patches", "values", "indices", "n_images", "score", "explains"}``.
    """
    return {"layer": layer, "patches": wire.encode(refs.patches, "uint8"), "values": refs.values.astype(np.float32).tolist(),
            "indices": refs.indices.tolist(), "n_images": refs.n_images, "score": "relevance", "explains": which}


def unit_summary(layer: str, top, dissection, classes: Sequence[str] | None) -> dict:
    """Per-unit statistics of a scan (dead, constant, active fraction, class selectivity) and,
    with a Network Dissection, each unit's best concept, its IoU and the badge colours.

    Parameters
    ----------
    layer : str
        The layer's name.
    top : xai_widgets.units.scan.TopK
        The scan's result for the layer (its ``stats``).
    dissection : xai_widgets.units.scan.Dissection or None
        The layer's Network Dissection; None when no concepts were given.
    classes : sequence of str or None
        Class names for the selective classes; None (or an index out of range) gives
        ``"class k"``.

    Returns
    -------
    dict
        Per-unit lists under ``"dead"``, ``"constant"``, ``"frac_active"``,
        ``"selectivity"``, ``"selective_class"``, ``"concept"`` and ``"iou"`` (None where
        not available; undefined floats as None). With a dissection, also
        ``"concept_colour"``, ``"unique_detectors"`` and ``"detector_iou"``.
    """
    s = top.stats
    names = None
    if s.selective_class is not None:
        names = [class_label(classes, k) for k in s.selective_class]
    summary = {"layer": layer, "dead": s.dead.tolist(), "constant": s.constant.tolist(),
               "frac_active": _json_floats(s.frac_active),
               "selectivity": None if s.selectivity is None else _json_floats(s.selectivity),
               "selective_class": names, "concept": None, "iou": None}
    if dissection is not None:
        summary["concept"] = [dissection.label(c) or "" for c in range(len(dissection.best))]
        summary["concept_colour"] = concept_colours(summary["concept"])
        summary["iou"] = _json_floats(dissection.iou.max(axis=1))
        summary["unique_detectors"] = int(dissection.unique_detectors)
        summary["detector_iou"] = dissection.threshold
    return summary


def visuals_payload(layer: str, store: dict[int, torch.Tensor], objectives: dict[int, str], default: str) -> dict:
    """Activation-maximisation images of ``layer`` ({channel: C x H x W in [0, 1]}) with what
    each maximised (``default`` for channels without a record).

    Parameters
    ----------
    layer : str
        The layer's name.
    store : dict of int to torch.Tensor
        ``{channel: C x H x W image in [0, 1]}``, C 1 or 3; must not be empty.
    objectives : dict of int to str
        ``{channel: what was maximised}``.
    default : str
        The objective stated for a channel missing from ``objectives``.

    Returns
    -------
    dict
        ``{"layer", "channels", "images", "objectives"}``: channels in increasing order,
        the images as wire-encoded K x H x W x 3 uint8.
    """
    chans = sorted(store)
    imgs = torch.stack([store[c] for c in chans])
    if imgs.shape[1] == 1:
        imgs = imgs.repeat(1, 3, 1, 1)
    return {"layer": layer, "channels": chans, "images": wire.encode(to_uint8(imgs).permute(0, 2, 3, 1), "uint8"),
            "objectives": [objectives.get(c, default) for c in chans]}


def _json_floats(values: np.ndarray) -> list:
    """Rounded floats for JSON, NaN (undefined, e.g. the selectivity of a dead unit) as None."""
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values]
