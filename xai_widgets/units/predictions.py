"""What the model predicts for the images a unit view shows: the top-5 pane of the Deep
Visualization Toolbox (Yosinski, Clune, Nguyen, Fuchs and Lipson, "Understanding Neural
Networks Through Deep Visualization", ICML Deep Learning Workshop 2015), for any model whose
output (or a part of it) is N x K logits."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..core.capture import model_device, model_dtype, preserved_model
from ..core.outputs import pick
from ..core.targets import class_label

__all__ = ["class_probabilities", "top_classes"]


def class_probabilities(model: nn.Module, x: torch.Tensor, output=None) -> torch.Tensor | None:
    """Softmax of the model's logits for a batch, or None when the output is not N x K logits.

    Parameters
    ----------
    model : torch.nn.Module
        Run in eval mode without gradients, on its own device and dtype, and left as given.
    x : torch.Tensor
        N x C x H x W model inputs (any device).
    output : int, str or callable, optional
        Which part of a structured output holds the logits (:func:`xai_widgets.core.outputs.pick`).

    Returns
    -------
    torch.Tensor or None
        N x K float32 probabilities on the CPU; None for a feature extractor (a dict of maps, a
        1-wide or non-2-D output) when ``output`` is not given.

    Raises
    ------
    ValueError
        If ``output`` is given and does not select a tensor of the output.
    """
    with preserved_model(model, eval_mode=True), torch.no_grad():
        out = model(x.to(model_device(model), model_dtype(model)))
    try:
        out = pick(out, output)
    except ValueError:
        if output is not None:
            raise
        return None
    if out.dim() != 2 or out.shape[1] < 2:
        return None
    return out.float().softmax(1).cpu()


def top_classes(probs: torch.Tensor | None, names: Sequence[str] | None, k: int = 5) -> list:
    """The ``k`` most probable classes of each image, as the browser lists them.

    Parameters
    ----------
    probs : torch.Tensor or None
        N x K probabilities (None: no classifier output).
    names : sequence of str or None
        Class names (default ``"class 0"``, ``"class 1"``, ...).
    k : int, default 5
        How many classes per image (at most K).

    Returns
    -------
    list
        Per image, ``[[name, probability], ...]`` most probable first; ``[]`` when ``probs`` is None.
    """
    if probs is None:
        return []
    p, idx = probs.topk(min(k, probs.shape[1]), dim=1)
    return [[[class_label(names, c), float(v)] for v, c in zip(pv, ic)] for pv, ic in zip(p, idx)]
