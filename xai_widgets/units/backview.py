"""What drives a unit: the back view of the Deep Visualization Toolbox.

One backward pass from a unit (a channel of a layer reduced over space, by default summed as
DeepVis does, or one cell of it) to the input image, in one of three documented modes:

* ``"grad"``: the plain input gradient, the saliency of Simonyan, Vedaldi and Zisserman,
  "Deep Inside Convolutional Networks: Visualising Image Classification Models and
  Saliency Maps", ICLR workshop 2014.
* ``"deconv"``: the deconvnet of Zeiler and Fergus, "Visualizing and Understanding
  Convolutional Networks", ECCV 2014. Its transposed filters and max-pooling switches are
  exactly the gradient of the convolutions and poolings (Simonyan et al. 2014, section 4);
  it differs only at a ReLU, which passes ``relu(grad_output)`` back whatever the forward
  input was.
* ``"guided"``: guided backpropagation of Springenberg, Dosovitskiy, Brox and Riedmiller,
  "Striving for Simplicity: The All Convolutional Net", ICLR workshop 2015: at a ReLU the
  gradient passes only where the forward input was positive *and* the gradient arriving
  from above is positive, ``relu(grad_output) * (input > 0)``.

The deconv and guided rules act at every ``nn.ReLU`` module (in place or not, also one
module called several times). ReLUs applied as functions inside ``forward``
(``F.relu``, ``torch.relu``, ``x.clamp(min=0)``) are not changed, so there both modes fall
back to the plain gradient. The rules are hooks on this pass's autograd graph, never on
the model, and every hygiene guarantee of :mod:`xai_widgets.core.capture` holds: the forward
runs in eval mode, stops after the layer, and leaves no hook, flag change or ``.grad``.

:func:`back_display` turns the result into an image as DeepVis's back pane does.
"""
from __future__ import annotations

import operator

import numpy as np
import torch
from torch import nn

from ..core.capture import StopForward, call_hooks, preserved_model, unknown_layer_error, model_device, model_dtype
from .grid import check_objective, unit_value
from ..core.images import check_model_input
from ..core.layouts import Ambiguous, Tracker, ambiguous_error, check_layouts

__all__ = ["MODES", "FILTERS", "unit_backprop", "back_display"]

MODES = ("grad", "deconv", "guided")
FILTERS = ("raw", "norm")


def _deconv_relu(grad_inputs, grad_outputs):
    """Zeiler and Fergus: relu(grad_output), ignoring the forward mask."""
    return (grad_outputs[0].clamp(min=0),)


def _guided_relu(grad_inputs, grad_outputs):
    """Springenberg et al.: the ReLU's own gradient, grad_output * (input > 0), kept where positive."""
    return (grad_inputs[0].clamp(min=0),)


# Hooks on the ReLU's autograd node: they see the gradient before and after the ReLU, and an
# in-place ReLU has such a node too (a module's full backward hook refuses in-place outputs).
_RELU_RULES = {"grad": None, "deconv": _deconv_relu, "guided": _guided_relu}


def _model_input(x, model: nn.Module) -> torch.Tensor:
    """One image as a fresh 1 x C x H x W leaf on the model's device that requires grad."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor (one image, C x H x W or 1 x C x H x W), got {type(x).__name__}")
    batch = x[None] if x.dim() == 3 else x
    if batch.dim() != 4 or batch.shape[0] != 1:
        raise ValueError(f"x must be one image, C x H x W or 1 x C x H x W, got shape {tuple(x.shape)}")
    check_model_input(batch, model, "unit_backprop", name="x")
    if not batch.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (the model's input), got dtype {x.dtype}")
    return batch.detach().to(model_device(model), model_dtype(model), copy=True).requires_grad_()


def _check_layer(model: nn.Module, layer) -> None:
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str), got {type(layer).__name__}")
    names = sorted(name for name, _ in model.named_modules() if name)
    if layer.split(":")[0] not in names:
        raise unknown_layer_error([layer], names)


def _index(value, size: int, what: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        i = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, got {value!r}") from None
    if not 0 <= i < size:
        raise ValueError(f"{what} must be in 0..{size - 1} for this layer, got {i}")
    return i


def _objective(output, layout, layer: str, channel, location, objective: str) -> torch.Tensor:
    """The unit's value: channel ``channel`` of ``output`` reduced over space by ``objective``, or at ``location``."""
    if output is None:
        raise ValueError(f"layer {layer!r} did not run in the forward pass")
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"layer {layer!r} returns {type(output).__name__}, not a tensor")
    if isinstance(layout, Ambiguous):
        raise ambiguous_error(layer, output.shape, layout.reason)
    maps = layout.maps(output)[0]  # C x H x W whatever the layout; linear outputs are C x 1 x 1
    unit = maps[_index(channel, maps.shape[0], "channel")]
    if location is None:
        return unit_value(unit, objective)
    if not (isinstance(location, (tuple, list)) and len(location) == 2):
        raise ValueError(f"location must be (row, col) or None, got {location!r}")
    row = _index(location[0], unit.shape[0], "location row")
    col = _index(location[1], unit.shape[1], "location col")
    return unit[row, col]


def _input_gradient(objective: torch.Tensor, x: torch.Tensor, layer: str) -> torch.Tensor:
    """d objective / d x by torch.autograd.grad, which writes no ``.grad`` anywhere."""
    grad = None
    if objective.requires_grad:
        (grad,) = torch.autograd.grad(objective, x, allow_unused=True)
    if grad is None:
        raise ValueError(
            f"layer {layer!r} does not depend on the input through autograd (its output is "
            "detached or computed under torch.no_grad), so it has no gradient at the input"
        )
    return grad


def unit_backprop(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    channel: int,
    *,
    mode: str = "grad",
    location: tuple[int, int] | None = None,
    objective: str = "sum",
    layouts: dict | None = None,
) -> torch.Tensor:
    """The back view of one unit: C x H x W at the input, on the model's device.

    The unit is channel ``channel`` of ``layer``'s output (a name of
    :func:`xai_widgets.core.capture.layers`) reduced over space by ``objective``: ``"sum"`` (its
    total activation, as DeepVis backpropagates a map of ones), ``"mean"`` (the same picture,
    divided by the number of cells) or ``"max"`` (its largest cell; see
    :func:`xai_widgets.units.grid.unit_value`); or its cell ``location = (row, col)``; for linear layers (N x C outputs)
    it is the channel's value and the only cell is (0, 0). ``mode`` is one of :data:`MODES` (see the module
    docstring). ``x`` is one image, C x H x W or 1 x C x H x W, as the model takes it.
    Channels and cells are those of the layer's maps (:mod:`xai_widgets.core.layouts`; a token
    layer's channels are its embedding dimensions over the patch grid); ``layouts`` gives
    the layout of a layer that is not detected.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is left exactly as it was (no hooks, flags or ``.grad`` remain).
    x : torch.Tensor
        One floating-point image, C x H x W or 1 x C x H x W; copied to the model's device and dtype.
    layer : str
        Name of the layer whose unit is explained.
    channel : int
        Channel index in the layer's maps.
    mode : {"grad", "deconv", "guided"}, default "grad"
        The backward rule at ``nn.ReLU`` modules.
    location : tuple of (int, int) or None, default None
        ``(row, col)`` of one cell; None reduces the whole channel by ``objective``.
    objective : {"sum", "mean", "max"}, default "sum"
        The spatial reduction when ``location`` is None.
    layouts : dict or None, default None
        ``{layer: layout}`` for layers whose layout is not detected.

    Returns
    -------
    torch.Tensor
        C x H x W input gradient on the model's device, in its dtype.

    Raises
    ------
    TypeError, ValueError
        For an unknown mode, objective or layer, an invalid image, channel or location, a
        layer without a gradient path to the input, or mode "deconv" / "guided" when no
        ``nn.ReLU`` module runs before the layer.
    """
    if mode not in MODES:
        raise ValueError(f"unknown back-view mode {mode!r}; choose one of {MODES}")
    check_objective(objective)
    _check_layer(model, layer)
    x = _model_input(x, model)
    rule = _RELU_RULES[mode]
    found: dict[str, torch.Tensor] = {}
    node_hooks = []
    tracker = Tracker(model, x, check_layouts(layouts))

    def on_output(name, module, output):
        if rule is not None and isinstance(module, nn.ReLU) and getattr(output, "grad_fn", None) is not None:
            node_hooks.append(output.grad_fn.register_hook(rule))
        if name == layer:
            found["output"], found["layout"] = output, tracker.layouts.get(name)
            raise StopForward

    try:
        with preserved_model(model, eval_mode=True), torch.enable_grad():
            with call_hooks(model, on_output, tracker):
                try:
                    model(x)
                except StopForward:
                    pass
            value = _objective(found.get("output"), found.get("layout"), layer, channel, location, objective)
            if rule is not None and not node_hooks:
                raise ValueError(
                    f"mode {mode!r} changes the backward pass at nn.ReLU modules, but no nn.ReLU "
                    f"module runs before layer {layer!r}, so it would equal mode 'grad'; ReLUs "
                    "applied as functions (F.relu, torch.relu) are not changed. Use mode='grad'."
                )
            return _input_gradient(value, x, layer)[0]
    finally:
        for hook in node_hooks:
            hook.remove()


def back_display(g, filter: str = "raw") -> np.ndarray:
    """A back view (C x H x W) as an H x W x 3 float64 image in [0, 1], as DeepVis shows it.

    * ``"raw"``: DeepVis's ``norm01c``, ``0.5 + 0.5 * g / max|g|`` with the max over every
      value, so zero is mid-gray and the sign shows; the channels are the colours (an RGB
      input as is, a 1-channel input repeated to gray), so it needs 1 or 3 channels.
    * ``"norm"``: the L2 norm over channels at each pixel divided by its largest value, gray.

    An all-zero gradient gives gray 0.5 (raw) or black (norm).

    Parameters
    ----------
    g : torch.Tensor or numpy.ndarray
        C x H x W back view (e.g. from :func:`unit_backprop`), finite.
    filter : {"raw", "norm"}, default "raw"
        The display rule (:data:`FILTERS`).

    Returns
    -------
    numpy.ndarray
        H x W x 3 float64 image in [0, 1].

    Raises
    ------
    TypeError, ValueError
        For an unknown filter, a ``g`` that is not a finite C x H x W array, or "raw" with a
        channel count other than 1 or 3.
    """
    if filter not in FILTERS:
        raise ValueError(f"unknown back-view filter {filter!r}; choose one of {FILTERS}")
    if not isinstance(g, (torch.Tensor, np.ndarray)):
        raise TypeError(f"g must be a torch.Tensor or numpy array (C x H x W), got {type(g).__name__}")
    arr = torch.as_tensor(g).detach().cpu().to(torch.float64).numpy()
    if arr.ndim != 3:
        raise ValueError(f"g must be C x H x W (as unit_backprop returns), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("g contains NaN or infinite values")
    if filter == "raw":
        if arr.shape[0] not in (1, 3):
            raise ValueError(
                f'filter "raw" shows the channels as colours, which needs 1 or 3 channels, got '
                f'{arr.shape[0]}; use filter="norm"'
            )
        scale = np.abs(arr).max()
        rgb = 0.5 + 0.5 * arr / (scale if scale > 0 else 1.0)
        return np.broadcast_to(rgb.transpose(1, 2, 0), arr.shape[1:] + (3,)).copy()
    norm = np.sqrt((arr**2).sum(axis=0))
    peak = norm.max()
    gray = norm / (peak if peak > 0 else 1.0)
    return np.repeat(gray[:, :, None], 3, axis=2)
