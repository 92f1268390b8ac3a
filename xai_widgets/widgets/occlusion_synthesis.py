"""Feature synthesis for :class:`~xai_widgets.widgets.occlusion.OcclusionExplorer`: what the
network makes of one feature on its own.

Norton, "Deep Introspection: Explaining Neural Networks Through Feature Occlusion and Synthesis"
(Imperial College London, 2018), chapter 4, the noise method: keep the feature's bounding box,
replace everything outside it by uniform noise (:func:`xai_widgets.inversion.isolate`), and invert
the penultimate layer's representation of the cells inside the box
(:func:`xai_widgets.inversion.invert` with ``box=``; Mahendran and Vedaldi 2015, 2016). Each
start gives one pre-image; the gallery shows them with their representation loss and the
model's top-5 classes for each.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..attribution import feature_occlusion as features
from ..core import wire
from ..core.capture import layers as layers_of, unknown_layer_error
from ..inversion import Inversion, invert, isolate
from .occlusion_payload import top_classes
from .path_morph_payload import floats

__all__ = ["Synthesis", "feature_box", "penultimate_layer", "check_layer", "synthesise_feature", "synthesis_payload"]


@dataclass
class Synthesis:
    """Pre-images of one feature on its own.

    Attributes
    ----------
    feature : int
        The feature's index in the explorer's numbering (shown as ``feature + 1``).
    box : tuple of int
        Its bounding box, (top, left, bottom, right) in pixels, bottom and right exclusive.
    layer : str
        The layer inverted.
    isolated : torch.Tensor
        C x H x W: the image inside the box, uniform noise outside (the inversion's target).
    inversion : Inversion
        The pre-images (``inversion.images``, n x C x H x W) and their losses (``inversion.loss``).
    probs : torch.Tensor
        n x K class probabilities of the pre-images.
    """

    feature: int
    box: tuple
    layer: str
    isolated: torch.Tensor
    inversion: Inversion
    probs: torch.Tensor


def feature_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """The bounding box of a feature's pixels.

    Parameters
    ----------
    pixels : numpy.ndarray
        K x 2 (row, col) pixels, K >= 1.

    Returns
    -------
    tuple of int
        (top, left, bottom, right), bottom and right exclusive (the convention of
        :func:`xai_widgets.inversion.isolate`).
    """
    rows, cols = pixels[:, 0], pixels[:, 1]
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def penultimate_layer(model: nn.Module, x: torch.Tensor) -> str:
    """The last layer with a spatial map (more than one cell): the layer before the classifier's
    pooling, where Norton inverts (on the demo network ``relu4``).

    Parameters
    ----------
    model : nn.Module
        The network.
    x : torch.Tensor
        1 x C x H x W model input.

    Returns
    -------
    str
        The layer's name.

    Raises
    ------
    ValueError
        If no layer has a spatial output (then pass ``layer=``).
    """
    spatial = [info.name for info in layers_of(model, x) if len(info.shape) == 4 and info.shape[2] * info.shape[3] > 1]
    if not spatial:
        raise ValueError("the model has no layer with a spatial output to invert; pass layer= (xw.layers(model, x) "
                         "lists them)")
    return spatial[-1]


def check_layer(model: nn.Module, x: torch.Tensor, layer) -> str:
    """``layer``, or the penultimate one for None, or the package's unknown-layer error.

    Parameters
    ----------
    model, x
        As :func:`penultimate_layer`.
    layer : str or None
        A layer name (``xw.layers(model, x)``), or None for :func:`penultimate_layer`.

    Returns
    -------
    str
        A layer name of the model.

    Raises
    ------
    TypeError, ValueError
        For a name that is not a string or not a layer of the model.
    """
    if layer is None:
        return penultimate_layer(model, x)
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (a string) or None, got {type(layer).__name__}")
    known = layers_of(model, x).names
    if layer not in known:
        raise unknown_layer_error([layer], known)
    return layer


def synthesise_feature(model: nn.Module, image: torch.Tensor, feature: int, pixels: np.ndarray, *, layer: str,
                       n: int, iterations: int, seed: int, value_range, progress=None, cancel=None) -> Synthesis:
    """Norton's noise method (2018, chapter 4) for one feature: isolate its box in noise, invert.

    Parameters
    ----------
    model : nn.Module
        The classifier (left as it was: :func:`invert` and the forward pass preserve it).
    image : torch.Tensor
        C x H x W model input.
    feature : int
        The feature's index (kept in the result).
    pixels : numpy.ndarray
        Its K x 2 (row, col) pixels.
    layer : str
        The layer inverted.
    n, iterations, seed : int
        Pre-images (starts ``seed``, ``seed + 1``, ...), steps of the descent, and the seed of
        the first start; the noise outside the box is drawn with ``seed`` too.
    value_range : (float, float) or None
        The noise's range (None: the image's minimum and maximum).
    progress, cancel
        The task's progress callback and cancel flag (:mod:`xai_widgets.core.tasks`).

    Returns
    -------
    Synthesis
        The box, the isolated image, the pre-images with their losses, and their class probabilities.
    """
    box = feature_box(pixels)
    low, high = value_range if value_range is not None else (None, None)
    isolated = isolate(image.detach().cpu(), box, seed=seed, low=low, high=high)
    inv = invert(model, layer, isolated, n=n, box=box, iterations=iterations, seed=seed, snapshots=0,
                 progress=progress, cancel=cancel)
    probs = features.class_probs(model, inv.images.to(image)).cpu()
    return Synthesis(feature, box, layer, isolated, inv, probs)


def synthesis_payload(syn: Synthesis, to_pixels: Callable[[torch.Tensor], np.ndarray]) -> dict:
    """The ``_synthesis`` trait: the isolated image and each pre-image as the browser draws them.

    Parameters
    ----------
    syn : Synthesis
        The synthesis.
    to_pixels : callable
        C x H x W model input -> H x W x 3 uint8 display pixels (the explorer's fixed range).

    Returns
    -------
    dict
        ``feature``, ``box``, ``layer``, ``seed``, ``iterations``, ``isolated`` (H x W x 3 uint8),
        ``images`` (n x H x W x 3 uint8), ``loss`` (each pre-image's final representation loss)
        and ``top5`` (per pre-image, ``[class, probability]`` pairs).
    """
    inv = syn.inversion
    return {"feature": syn.feature, "box": list(syn.box), "layer": syn.layer, "seed": int(inv.settings["seed"]),
            "iterations": int(inv.settings["iterations"]),
            "isolated": wire.encode(to_pixels(syn.isolated), "uint8"),
            "images": wire.encode(np.stack([to_pixels(img) for img in inv.images]), "uint8"),
            "loss": floats(inv.loss), "top5": [top_classes(p) for p in syn.probs]}
