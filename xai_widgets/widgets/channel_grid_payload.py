"""What ChannelGrid ships to the browser for a layer: its activations and, once scanned or
visualised, patches, unit statistics, detector badges and activation-maximisation images."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..core import colormaps, wire
from ..core.images import to_uint8

__all__ = ["CONCEPT_COLOURS", "OTHER_CONCEPTS", "acts_payload", "concept_colours", "patches_payload", "unit_summary",
           "visuals_payload"]

#: Detector badges take a colour per concept (Tableau 10 without the red and orange of the dead
#: and constant badges, and without grey, which marks "other concepts" when there are more).
CONCEPT_COLOURS = [colormaps.TABLEAU10[n] for n in ("blue", "teal", "green", "yellow", "purple", "pink", "brown")]
OTHER_CONCEPTS = colormaps.TABLEAU10["grey"]


def concept_colours(labels: Sequence[str]) -> dict[str, str]:
    """{concept: badge colour}: the concepts with most detectors first; past the palette, grey."""
    counts: dict[str, int] = {}
    for label in labels:
        if label:
            counts[label] = counts.get(label, 0) + 1
    ranked = sorted(counts, key=lambda name: (-counts[name], name))
    coloured = len(CONCEPT_COLOURS) if len(ranked) <= len(CONCEPT_COLOURS) else len(CONCEPT_COLOURS) - 1
    return {name: CONCEPT_COLOURS[i] if i < coloured else OTHER_CONCEPTS for i, name in enumerate(ranked)}


def acts_payload(layer: str, acts: torch.Tensor, prefix: tuple[list[str], torch.Tensor] | None) -> dict:
    """One layer's N x C x H x W activations as float16, whether any is negative (then the
    browser colours with the diverging map), and a token layer's prefix tokens (names, N x P x C)."""
    payload = {"layer": layer, "signed": bool((acts < 0).any()), "acts": wire.encode(acts, "float16")}
    if prefix is not None:
        names, tokens = prefix
        payload.update(prefix=wire.encode(tokens, "float16"), prefix_names=names)
    return payload


def patches_payload(layer: str, top) -> dict:
    """The top-k patches of every unit of ``layer`` (a :class:`xai_widgets.units.scan.TopK`)."""
    return {"layer": layer, "patches": wire.encode(top.patches, "uint8"),
            "values": top.values.astype(np.float32).tolist(),
            "indices": top.indices.tolist(), "n_images": top.n_images, "score": top.score}


def unit_summary(layer: str, top, dissection, classes: Sequence[str] | None) -> dict:
    """Per-unit statistics of a scan (dead, constant, active fraction, class selectivity) and,
    with a Network Dissection, each unit's best concept, its IoU and the badge colours."""
    s = top.stats
    names = None
    if s.selective_class is not None:
        names = [classes[int(k)] if classes and 0 <= int(k) < len(classes) else f"class {int(k)}"
                 for k in s.selective_class]
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
    each maximised (``default`` for channels without a record)."""
    chans = sorted(store)
    imgs = torch.stack([store[c] for c in chans])
    if imgs.shape[1] == 1:
        imgs = imgs.repeat(1, 3, 1, 1)
    return {"layer": layer, "channels": chans, "images": wire.encode(to_uint8(imgs).permute(0, 2, 3, 1), "uint8"),
            "objectives": [objectives.get(c, default) for c in chans]}


def _json_floats(values: np.ndarray) -> list:
    """Rounded floats for JSON, NaN (undefined, e.g. the selectivity of a dead unit) as None."""
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values]
