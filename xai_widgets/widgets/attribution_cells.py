"""The cells of :class:`~xai_widgets.widgets.attribution.AttributionExplorer` computed: one
:func:`xai_widgets.attribution.attribute` call per (image, method), under one progress bar
that Cancel stops between calls."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ..attribution import methods as attribution
from ..core.tasks import check

STEPS = 1000  # progress resolution of one (image, method) cell


def attribute_cell(model: nn.Module, x: torch.Tensor, key: str, spec, target: int, contrast: int | None,
                   options: dict, progress: Callable | None = None, cancel=None) -> attribution.Attribution:
    """One cell: ``attribute(model, x, spec, target=target, contrast=contrast, series=True,
    **options)``; a Captum object explains one class, not "A vs B", so with a contrast its
    cell is empty (NaN) with a note that says why.

    Parameters
    ----------
    model : nn.Module
        The model explained.
    x : torch.Tensor
        1 x C x H x W: the image's model input.
    key : str
        The method's key (a name, or a Captum object's class name).
    spec : str or object
        The method as given (a name or a Captum object).
    target, contrast : int, int or None
        The class explained, and class B for "A vs B".
    options : dict
        The method's keyword options.
    progress, cancel : optional
        Passed to :func:`~xai_widgets.attribution.attribute`.

    Returns
    -------
    Attribution
        The cell's result (a batch of one image, with its map series where the method has one).
    """
    if contrast is not None and not isinstance(spec, str):
        H, W = x.shape[-2:]
        return attribution.Attribution(
            key, torch.full((1, H, W), float("nan")), torch.tensor([target]), torch.tensor([contrast]), None,
            {"note": "no A vs B for a Captum object"})
    return attribution.attribute(model, x, spec, target=target, contrast=contrast, series=True,
                                 progress=progress, cancel=cancel, **options)


def attribute_cells(model: nn.Module, inputs: torch.Tensor, units: Sequence[tuple[int, str, object]],
                    targets: Sequence[int], contrasts: Sequence[int | None], options: dict,
                    progress: Callable, cancel) -> dict:
    """Every cell of ``units``, in order, with :func:`attribute_cell`.

    Parameters
    ----------
    model : nn.Module
        The model explained.
    inputs : torch.Tensor
        N x C x H x W model inputs.
    units : sequence of (int, str, object)
        The cells: (image, method key, method as given).
    targets, contrasts : sequences
        The classes explained per image (contrast None for a class alone).
    options : dict
        ``{method key: keyword options}``.
    progress : callable
        ``progress(done, total)``: each cell counts :data:`STEPS`, its own progress within.
    cancel : optional
        Checked between cells (and inside them, by the methods that can stop).

    Returns
    -------
    dict
        ``{(image, key): Attribution}``, complete: a cancelled run raises instead.
    """
    total = len(units) * STEPS
    new = {}
    for u, (i, key, spec) in enumerate(units):
        check(cancel)

        def sub(done, tot, u=u):
            frac = min(1.0, done / tot) if tot else 0.0
            progress(u * STEPS + int(frac * (STEPS - 1)), total)

        new[(i, key)] = attribute_cell(model, inputs[i:i + 1], key, spec, targets[i], contrasts[i],
                                       options.get(key, {}), sub, cancel)
        progress((u + 1) * STEPS, total)
    check(cancel)
    return new
