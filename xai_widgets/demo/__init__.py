"""Offline demo assets: our procedural shapes data set, a small CNN trained on it,
and a few natural photos. Nothing here downloads anything.

    model = shapes_model()
    data = shapes_dataset(16)
    logits = model(to_tensor(data.images))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .model import ShapesNet, to_tensor
from .shapes import CLASSES, ShapesSet, make_shapes

__all__ = [
    "CLASSES",
    "ShapesNet",
    "ShapesSet",
    "make_shapes",
    "photos",
    "shapes_concepts",
    "shapes_dataset",
    "shapes_images",
    "shapes_model",
    "to_tensor",
]

WEIGHTS = Path(__file__).with_name("weights") / "shapes_cnn.pt"


def shapes_model(device: str | torch.device = "cpu") -> ShapesNet:
    """The shapes CNN with its shipped weights, in eval mode; feed it RGB in [0, 1]."""
    model = ShapesNet()
    model.load_state_dict(torch.load(WEIGHTS, map_location=device, weights_only=True))
    return model.to(device).eval()


def shapes_dataset(n: int, seed: int = 0, masks: bool = False) -> ShapesSet:
    """``n`` procedural shapes images (128 px) with labels, per-object boxes and, with
    ``masks=True``, object masks (the images are the same either way)."""
    return make_shapes(n, seed=seed, masks=masks)


def shapes_concepts(data: ShapesSet) -> dict[str, np.ndarray]:
    """One concept per shape class for Network Dissection (``xai_widgets.scan.dissect``):
    ``{class name: N x H x W bool}``, the object pixels of the images of that class
    (all False in the other images). ``data`` must come from ``shapes_dataset(..., masks=True)``."""
    if data.masks is None:
        raise ValueError("this shapes set has no masks; make it with shapes_dataset(n, seed, masks=True)")
    return {
        name: data.masks & (data.labels == label)[:, None, None]
        for label, name in enumerate(data.classes)
    }


def shapes_images(n: int = 8, seed: int = 0) -> list[Image.Image]:
    """``n`` procedural shapes images as RGB PIL images; the same as ``shapes_dataset(n, seed)``."""
    return [Image.fromarray(image) for image in make_shapes(n, seed=seed).images]


def photos() -> dict[str, Image.Image]:
    """Natural photos that scikit-learn ships inside its package: "china" and "flower"."""
    # Imported here: scikit-learn is slow to import and only this function needs it.
    from sklearn.datasets import load_sample_image

    names = ("china", "flower")
    return {name: Image.fromarray(load_sample_image(f"{name}.jpg")).convert("RGB") for name in names}
