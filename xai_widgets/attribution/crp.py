"""Concept Relevance Propagation: what each unit of a layer contributed to one decision.

Achtibat, Dreyer, Eisenbraun, Bosse, Wiegand, Samek and Lapuschkin, "From attribution maps to
human-understandable explanations through Concept Relevance Propagation", Nature Machine
Intelligence 5, 1006-1019 (2023). Activation answers "what does this unit respond to";
relevance answers "what did this unit contribute to this decision".

LRP (:mod:`xai_widgets.attribution.lrp`, the same composites and rules) seeds the target
class's logit at the output and propagates it down. At a layer with channels c, the
relevance of a channel for the decision is the sum of the relevance of its neurons i
(the paper's Eq. 5 with a concept = one channel):

    R_c = sum_{i in c} R_i

and the conditional relevance R(x | theta) of Eq. 3 and 4, with the condition theta = {class
y, channel c}, is LRP from the class output in which every neuron of the layer outside
channel c passes no relevance down: the layer's relevance is masked, R_i -> R_i delta_{i in
c}, and propagation continues to the input with the same rules (the paper's Eq. 4,
"masking" of the upper-layer relevance). The result is channel c's conditional heatmap.

Because every LRP rule is linear in the relevance it receives once the forward pass is
fixed, the conditional heatmaps of all channels add up to the plain LRP heatmap, and with a
conservative composite (biases left out of the rules, ``bias=False``) each conditional
heatmap sums to its channel's R_c and the R_c sum to the class logit (Eq. 2, conservation).

The channels are computed in batches: the input is repeated along the batch, and copy j's
relevance at the layer is masked to channel j, so one LRP pass gives ``chunk`` heatmaps.

Relevance-based reference samples (the paper's section "Relevance-based reference sample
selection", Eq. 11): over a dataset, each channel's top-k images by R_c for a class (a fixed
one, or each image's own prediction, the paper's default), where activation-based
selection (DeepVis, :func:`xai_widgets.units.scan.scan`) ranks them by the channel's
activation; the patch is the receptive field of the channel's most relevant neuron.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from ..core import tasks
from ..core.capture import preserved_model, unknown_layer_error
from ..core.images import model_input
from ..core.targets import model_logits, prepare_inputs, targets_from_logits
from . import lrp as lrp_module

__all__ = ["channel_relevance", "conditional_heatmaps", "conditional_relevance", "Conditional",
           "reference_samples", "References", "CITATION"]

CITATION = ("Achtibat et al., From attribution maps to human-understandable explanations through Concept "
            "Relevance Propagation, Nature Machine Intelligence 2023")
LRP_OPTIONS = ("composite", "epsilon", "gamma", "low", "high", "layer_rules", "canonize", "bias")


@dataclass
class Conditional:
    """One image's decision split over the channels of a layer (see :func:`conditional_relevance`).

    Attributes
    ----------
    layer : str
        The layer.
    target : int
        The class explained.
    logit : float
        The class's logit for the image (the relevance seeded at the output).
    relevance : torch.Tensor
        C channel relevances R_c (float32, CPU).
    channels : list of int
        The channels whose heatmaps are in ``heatmaps``.
    heatmaps : torch.Tensor
        K x H x W conditional heatmaps R(x | class, channel) at input resolution, summed over
        the input's colour channels (float32, CPU), in the order of ``channels``.
    heatmap : torch.Tensor
        H x W plain LRP heatmap of the class (float32, CPU).
    """

    layer: str
    target: int
    logit: float
    relevance: torch.Tensor
    channels: list
    heatmaps: torch.Tensor
    heatmap: torch.Tensor

    @property
    def order(self) -> list[int]:
        """All channels by R_c, most relevant first (ties by channel index)."""
        r = self.relevance.double().numpy()
        return [int(c) for c in np.lexsort((np.arange(len(r)), -r))]

    def share(self, channel: int) -> float:
        """R_c over the layer's total |R| (sum of |R_c'|): the channel's share of the decision, signed.

        Parameters
        ----------
        channel : int
            The channel.

        Returns
        -------
        float
            In [-1, 1]; 0 when every channel has zero relevance.
        """
        total = float(self.relevance.double().abs().sum())
        return float(self.relevance[channel]) / total if total > 0 else 0.0


def _layer_module(model: nn.Module, layer) -> tuple[nn.Module, int]:
    """The module of ``layer`` and which call of it (``name:k`` is the k-th call, 0 the first)."""
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str), got {type(layer).__name__}")
    base, _, call = layer.partition(":")
    modules = dict(model.named_modules())
    if not base or base not in modules or (call and not call.isdigit()):
        raise unknown_layer_error([layer], sorted(n for n in modules if n))
    return modules[base], int(call or 0)


def _check_options(options: dict) -> dict:
    unknown = sorted(set(options) - set(LRP_OPTIONS))
    if unknown:
        raise TypeError(f"unknown LRP option(s) {', '.join(unknown)}; CRP takes {', '.join(LRP_OPTIONS)} "
                        "(see xw.attribution.lrp.lrp)")
    return options


def _propagate(model, x, t, logits, layer, mask, options):
    """LRP of class ``t`` on ``x``; with ``mask`` (B x C) the relevance at ``layer`` is multiplied
    by it. Returns (relevance at the layer's output before the mask, relevance at the input)."""
    module, call = _layer_module(model, layer)
    seen = {"calls": 0}

    def forward_hook(_m, _args, out):
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            return  # the inspecting passes run without grad
        seen["calls"] += 1
        if seen["calls"] - 1 != call:
            return
        if out.dim() not in (2, 4):
            raise ValueError(f"layer {layer!r} gives a {out.dim()}-d output {tuple(out.shape)}; CRP here needs "
                             "N x C x H x W feature maps or N x C units")

        def tensor_hook(grad):
            seen["relevance"] = grad.detach().clone()
            if mask is not None:
                return grad * mask.to(grad.dtype).view(*mask.shape, *([1] * (grad.dim() - 2)))
            return None

        out.register_hook(tensor_hook)

    handle = module.register_forward_hook(forward_hook)
    try:
        r_in = lrp_module.relevance(model, x, t, None, logits, **options)
    finally:
        handle.remove()
    if "relevance" not in seen:
        raise ValueError(f"layer {layer!r} did not run in the model's forward pass (or runs fewer than "
                         f"{call + 1} times): no relevance reaches it")
    return seen["relevance"].float(), r_in


def _prepared(model, x, target, layer):
    x = prepare_inputs(model, x)
    _layer_module(model, layer)
    logits = model_logits(model, x)
    t, _ = targets_from_logits(logits, target, None)
    return x, t, logits


def channel_relevance(model: nn.Module, x: torch.Tensor, target=None, layer: str = "", **options) -> torch.Tensor:
    """Each channel's relevance R_c for the decision: LRP relevance at ``layer`` summed over its positions.

    Achtibat et al. 2023, Eq. 5 (a concept = a channel); the relevance is LRP's
    (:func:`xai_widgets.attribution.lrp.lrp`, seeded with the class logit).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (N x K logits); it is left exactly as it was.
    x : torch.Tensor
        N x C x H x W float batch.
    target : None, int, sequence of int or 1-D tensor, optional
        The class explained: None (default) each image's prediction, an int for all images, or one
        per image.
    layer : str
        The layer (a name of ``model.named_modules()``; ``name:k`` for the k-th call of a module run
        several times). Its output must be N x C x H x W or N x C.
    **options
        LRP settings of :func:`xai_widgets.attribution.lrp.lrp`: ``composite`` ("book" default),
        ``epsilon``, ``gamma``, ``low``, ``high``, ``layer_rules``, ``canonize``, ``bias``.

    Returns
    -------
    torch.Tensor
        N x C float32 channel relevances on the CPU.

    Raises
    ------
    TypeError
        If ``layer`` is not a string, an option is unknown, or the input is not a float tensor.
    ValueError
        If the layer is unknown or does not run, its output is not N x C x H x W or N x C, a class
        is out of range, or LRP refuses the model (see :mod:`~xai_widgets.attribution.lrp`).
    """
    options = _check_options(options)
    x, t, logits = _prepared(model, x, target, layer)
    with preserved_model(model, eval_mode=True):
        r_layer, _ = _propagate(model, x, t, logits, layer, None, options)
    return _per_channel(r_layer).cpu()


def _per_channel(r: torch.Tensor) -> torch.Tensor:
    return r.flatten(2).sum(2) if r.dim() == 4 else r


def conditional_heatmaps(model: nn.Module, x: torch.Tensor, target=None, layer: str = "", channels=None, *,
                         chunk: int = 16, progress=None, cancel=None, **options) -> torch.Tensor:
    """Each channel's conditional heatmap R(x | class, channel) at input resolution.

    Achtibat et al. 2023, Eq. 3 and 4: LRP from the class output with the relevance at
    ``layer`` masked to one channel, propagated to the input with the same rules, summed over
    the input's colour channels. The heatmaps of all channels add up to the plain LRP heatmap.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; it is left exactly as it was.
    x : torch.Tensor
        One image, 1 x C x H x W (or C x H x W).
    target : None or int, optional
        The class explained; None (default) the model's prediction.
    layer : str
        The layer, as in :func:`channel_relevance`.
    channels : None, int or sequence of int, optional
        The channels; None (default) all of them.
    chunk : int, optional
        Channels per LRP pass (the input is repeated ``chunk`` times along the batch). Default 16.
    progress : callable or None, optional
        ``progress(done, total)`` after each chunk.
    cancel : threading.Event, callable or None, optional
        Checked before each chunk (:mod:`xai_widgets.core.tasks`).
    **options
        LRP settings, as in :func:`channel_relevance`.

    Returns
    -------
    torch.Tensor
        K x H x W float32 heatmaps on the CPU, in the order of ``channels``.

    Raises
    ------
    TypeError, ValueError
        As :func:`channel_relevance`; also for more than one image, a channel out of range or a
        non-positive ``chunk``.
    """
    return conditional_relevance(model, x, target, layer, channels, chunk=chunk, progress=progress, cancel=cancel,
                                 **options).heatmaps


def _one_image(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        x = x[None]
    if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[0] != 1:
        raise ValueError(f"conditional heatmaps explain one image at a time; got a batch of {x.shape[0]}")
    return x


def _channel_list(channels, count: int) -> list[int]:
    if channels is None:
        return list(range(count))
    chosen = [channels] if isinstance(channels, (int, np.integer)) else list(channels)
    for c in chosen:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < count:
            raise ValueError(f"channel {c!r} is not a channel index of the layer (0 to {count - 1})")
    return [int(c) for c in chosen]


def conditional_relevance(model: nn.Module, x: torch.Tensor, target=None, layer: str = "", channels=None, *,
                          chunk: int = 16, progress=None, cancel=None, **options) -> Conditional:
    """Channel relevances, conditional heatmaps and the plain heatmap of one image in one go.

    See :func:`channel_relevance` (Eq. 5) and :func:`conditional_heatmaps` (Eq. 3 and 4) of
    Achtibat et al. 2023.

    Parameters
    ----------
    model, x, target, layer, channels, chunk, progress, cancel, **options
        As for :func:`conditional_heatmaps`.

    Returns
    -------
    Conditional
        R_c of every channel, the heatmaps of ``channels``, the plain heatmap and the logit.

    Raises
    ------
    TypeError, ValueError
        As :func:`conditional_heatmaps`.
    """
    options = _check_options(options)
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    x, t, logits = _prepared(model, _one_image(x), target, layer)
    with preserved_model(model, eval_mode=True):
        r_layer, r_in = _propagate(model, x, t, logits, layer, None, options)
        relevance = _per_channel(r_layer)[0]
        chosen = _channel_list(channels, relevance.numel())
        maps = []
        for start in range(0, len(chosen), chunk):
            tasks.check(cancel)
            part = chosen[start:start + chunk]
            mask = torch.zeros(len(part), relevance.numel(), device=x.device)
            mask[torch.arange(len(part)), torch.tensor(part)] = 1
            reps = (len(part),) + (1,) * (x.dim() - 1)
            _, r = _propagate(model, x.repeat(*reps), t.repeat(len(part)), logits.repeat(len(part), 1), layer, mask,
                              options)
            maps.append(r.sum(1).cpu())
            tasks.report(progress, start + len(part), len(chosen))
    heatmaps = torch.cat(maps) if maps else torch.zeros((0, *x.shape[2:]))
    return Conditional(layer, int(t[0]), float(logits[0, t[0]]), relevance.cpu(), chosen, heatmaps,
                       r_in[0].sum(0).cpu())


# ----------------------------------------------------------------------------- reference samples


@dataclass
class References:
    """Each channel's top-k dataset images by relevance (see :func:`reference_samples`).

    Attributes
    ----------
    layer : str
        The layer.
    target : int or None
        The class explained; None: each image's predicted class.
    k : int
        Images kept per channel (fewer when the dataset is smaller).
    n_images : int
        Images scanned.
    values : numpy.ndarray
        C x k channel relevances R_c, descending (ties keep the earlier image first).
    indices : numpy.ndarray
        C x k image positions in the dataset's iteration order.
    classes : numpy.ndarray
        C x k classes explained for those images.
    locations : numpy.ndarray
        C x k x 2 (row, col) of the channel's most relevant position in the layer's grid ((0, 0)
        for an N x C layer).
    patches : numpy.ndarray or None
        C x k x ph x pw x 3 uint8 patches from ``crop``, or None without one.
    """

    layer: str
    target: int | None
    k: int
    n_images: int
    values: np.ndarray
    indices: np.ndarray
    classes: np.ndarray
    locations: np.ndarray
    patches: np.ndarray | None = None


def _input_batches(dataset, model, preprocess, batch_size: int) -> Iterable[torch.Tensor]:
    """Model-input batches of a dataset: a N x C x H x W float tensor or a DataLoader's float batches
    (model inputs as they are), or images or (image, label) pairs (converted by
    ``images.model_input``); a map-style dataset (len and getitem, no iter) is read by index."""
    if isinstance(dataset, torch.Tensor):
        yield from (dataset[start:start + batch_size] for start in range(0, len(dataset), batch_size))
        return
    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__") and not hasattr(dataset, "__iter__"):
        indexed = dataset
        dataset = (indexed[i] for i in range(len(indexed)))
    inputs = []
    for i, item in enumerate(dataset):
        image = item[0] if isinstance(item, (tuple, list)) else item
        if isinstance(image, torch.Tensor) and image.dim() == 4 and image.is_floating_point():
            yield image  # a DataLoader batch
            continue
        inputs.append(model_input(image, model, preprocess, i))
        if len(inputs) == batch_size:
            yield torch.cat(inputs)
            inputs = []
    if inputs:
        yield torch.cat(inputs)


class _Top:
    """The running top k per channel: values, image indices, classes, cells and patches."""

    def __init__(self, k: int):
        self.k, self.parts = k, None

    def update(self, values, images, classes, cells, patches):
        new = [values.T, images.expand(values.shape[1], -1), classes.expand(values.shape[1], -1),
               cells.transpose(0, 1), None if patches is None else patches.transpose(0, 1)]
        if self.parts is not None:
            new = [None if a is None else torch.cat([a, b], 1) for a, b in zip(self.parts, new)]
        top = torch.sort(new[0], dim=1, descending=True, stable=True).indices[:, :self.k]
        self.parts = [None if a is None else a.gather(1, top.view(*top.shape, *([1] * (a.dim() - 2))).expand(
            *top.shape, *a.shape[2:])) for a in new]


def reference_samples(model: nn.Module, layer: str, dataset, *, target=None, k: int = 9, preprocess=None,
                      batch_size: int = 32, crop: Callable | None = None, progress=None, cancel=None,
                      **options) -> References:
    """Relevance-based reference samples: each channel's top-``k`` images by its relevance R_c.

    Achtibat et al. 2023, section "Relevance-based reference sample selection" (Eq. 11): the
    images are ranked by the channel's relevance for a class, not by its activation, so they
    show what the unit contributes to that decision. One LRP pass per batch (each image
    explains ``target``, or its own predicted class when None).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; it is left exactly as it was.
    layer : str
        The layer, as in :func:`channel_relevance`.
    dataset : torch.Tensor or iterable
        An N x C x H x W float tensor of model inputs, a DataLoader of such batches (with or without
        labels), or images or (image, label) pairs (labels are not used; a torch map-style Dataset is
        read by index), converted by :func:`xai_widgets.core.images.model_input`.
    target : None or int, optional
        The class explained for every image; None (default) each image's prediction.
    k : int, optional
        Images kept per channel. Default 9.
    preprocess : callable or None, optional
        Passed to ``model_input`` for each image (not applied to a tensor dataset).
    batch_size : int, optional
        Images per LRP pass. Default 32.
    crop : callable or None, optional
        ``crop(x, rows, cols) -> B x C x ph x pw x 3 uint8``: each channel's patch of each image of
        the batch ``x`` around the channel's most relevant cell (``rows``, ``cols``: B x C). None
        (default) keeps no patches.
    progress : callable or None, optional
        ``progress(done, None)`` after each batch.
    cancel : threading.Event, callable or None, optional
        Checked before each batch.
    **options
        LRP settings, as in :func:`channel_relevance`.

    Returns
    -------
    References
        The top-k values, image indices, classes, cells and (with ``crop``) patches per channel.

    Raises
    ------
    TypeError, ValueError
        As :func:`channel_relevance`; also for a non-positive ``k`` or ``batch_size``, or an empty
        dataset.
    xai_widgets.core.tasks.Cancelled
        When ``cancel`` is set.
    """
    options = _check_options(options)
    for name, value in (("k", k), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    _layer_module(model, layer)
    running, done = _Top(int(k)), 0
    for xb in _input_batches(dataset, model, preprocess, int(batch_size)):
        tasks.check(cancel)
        x, t, logits = _prepared(model, xb, target, layer)
        with preserved_model(model, eval_mode=True):
            r_layer, _ = _propagate(model, x, t, logits, layer, None, options)
        r_layer = r_layer.cpu()
        flat = r_layer.flatten(2) if r_layer.dim() == 4 else r_layer[:, :, None]
        cell = flat.argmax(2)
        width = r_layer.shape[3] if r_layer.dim() == 4 else 1
        rows, cols = cell // width, cell % width
        patches = None if crop is None else torch.as_tensor(crop(x.cpu(), rows, cols))
        running.update(flat.sum(2), done + torch.arange(len(x))[None], t.cpu()[None], torch.stack([rows, cols], -1),
                       patches)
        done += len(x)
        tasks.report(progress, done, None)
    if running.parts is None:
        raise ValueError("the dataset is empty: it yielded no images")
    values, indices, classes, cells, patches = running.parts
    return References(layer, None if target is None else int(target), values.shape[1], done, values.numpy(),
                      indices.numpy(), classes.numpy(), cells.numpy(), None if patches is None else patches.numpy())
