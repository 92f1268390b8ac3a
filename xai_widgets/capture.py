"""Pulling activations out of any ``nn.Module`` with forward hooks, leaving no trace.

Layer names are the dotted names of ``model.named_modules()``. A module that runs
more than once in one forward pass (ResNet's shared ``relu``) gives one layer per
call: the first call keeps the plain name, later calls get ``:1``, ``:2``, ...
(for example ``layer1.0.relu``, ``layer1.0.relu:1``, ``layer1.0.relu:2``).

Hygiene guarantees of every public function here, also when the forward raises:
no hook is left registered; every module's ``training`` flag, every parameter's
``requires_grad`` flag, parameter and buffer values are as the caller left them;
no ``.grad`` is created. By default the forward runs in eval mode (so batch-norm
statistics are neither used from the batch nor updated) and the training flags are
restored afterwards.
"""
from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import torch
from torch import nn

__all__ = ["LayerInfo", "layers", "capture", "model_device", "as_spatial"]


@dataclass(frozen=True)
class LayerInfo:
    """One capturable layer: its name, module type and output shape (batch first)."""

    name: str
    type: str
    shape: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.name:<32} {self.type:<20} {tuple(self.shape)}"


class LayerList(list):
    """A list of :class:`LayerInfo` that prints as a table."""

    def __repr__(self) -> str:
        return "\n".join(str(info) for info in self) if self else "LayerList([])"

    @property
    def names(self) -> list[str]:
        return [info.name for info in self]


class _StopForward(Exception):
    """Raised by a hook once every requested layer is captured, to skip the rest."""


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model)."""
    for tensor in _chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _chain(*iterables: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    for iterable in iterables:
        yield from iterable


def as_spatial(t: torch.Tensor, name: str = "layer") -> torch.Tensor:
    """Batch-first activations as N x C x H x W: linear outputs (N x C) become 1 x 1 maps."""
    if t.dim() == 2:
        return t[:, :, None, None]
    if t.dim() == 4:
        return t
    raise ValueError(
        f"{name}: output of shape {tuple(t.shape)} is neither N x C (linear) nor "
        "N x C x H x W (convolutional); pick a linear or convolutional layer"
    )


@contextlib.contextmanager
def _preserved(model: nn.Module, eval_mode: bool) -> Iterator[None]:
    """Restore training flags and drop any new .grad, whatever happens inside."""
    flags = [(m, m.training) for m in model.modules()]
    had_grad = {id(p) for p in model.parameters() if p.grad is not None}
    if eval_mode:
        model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag
        for p in model.parameters():
            if p.grad is not None and id(p) not in had_grad:
                p.grad = None


@contextlib.contextmanager
def _call_hooks(model: nn.Module, on_output) -> Iterator[None]:
    """Call ``on_output(layer_name, module, output)`` for every module call; unhook in finally."""
    calls: dict[str, int] = {}
    handles = []

    def make_hook(name: str):
        def hook(module, _inputs, output):
            k = calls.get(name, 0)
            calls[name] = k + 1
            on_output(name if k == 0 else f"{name}:{k}", module, output)

        return hook

    try:
        for name, module in model.named_modules():
            if name:  # the root is the model itself, not a layer
                handles.append(module.register_forward_hook(make_hook(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _to_device(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"model input must be a torch.Tensor, got {type(x).__name__}")
    return x.to(model_device(model))


def layers(model: nn.Module, example_input: torch.Tensor, *, eval_mode: bool = True) -> LayerList:
    """List every layer of ``model`` in execution order with its output shape for ``example_input``.

    ``example_input`` is a batch (N x C x H x W for images). Modules whose output is not a
    tensor (tuples, dicts) are skipped.
    """
    found: LayerList = LayerList()

    def record(name, module, output):
        if isinstance(output, torch.Tensor):
            found.append(LayerInfo(name, type(module).__name__, tuple(output.shape)))

    x = _to_device(example_input, model)
    with _preserved(model, eval_mode), _call_hooks(model, record), torch.no_grad():
        model(x)
    return found


def _unknown_layer_error(missing: Sequence[str], known: Sequence[str]) -> ValueError:
    lines = []
    for name in missing:
        close = difflib.get_close_matches(name, known, n=4, cutoff=0.4)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        lines.append(f"unknown layer {name!r}{hint}")
    lines.append("xw.layers(model, example_input) lists every layer with its output shape.")
    return ValueError("\n".join(lines))


def capture(
    model: nn.Module,
    inputs: torch.Tensor,
    layer_names: Sequence[str],
    *,
    eval_mode: bool = True,
) -> dict[str, torch.Tensor]:
    """Outputs of ``layer_names`` for one batch, from one forward pass on the model's device.

    Returns ``{name: tensor}``, batch-first, on the model's device, detached and cloned at
    the moment the layer produced them (so a later in-place op such as
    ``ReLU(inplace=True)`` cannot alter them). The forward stops as soon as the last
    requested layer has run.
    """
    if isinstance(layer_names, str):
        layer_names = [layer_names]
    wanted = list(dict.fromkeys(layer_names))
    if not wanted:
        raise ValueError("no layers requested: pass at least one layer name")
    module_names = {name for name, _ in model.named_modules() if name}
    unknown = [n for n in wanted if n.split(":")[0] not in module_names]
    if unknown:
        raise _unknown_layer_error(unknown, sorted(module_names))

    out: dict[str, torch.Tensor] = {}
    seen: set[str] = set()

    def record(name, _module, output):
        seen.add(name)
        if name in wanted:
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returns {type(output).__name__}, not a tensor")
            out[name] = output.detach().clone()
            if len(out) == len(wanted):
                raise _StopForward

    x = _to_device(inputs, model)
    with _preserved(model, eval_mode), _call_hooks(model, record), torch.no_grad():
        try:
            model(x)
        except _StopForward:
            pass
    missing = [n for n in wanted if n not in out]
    if missing:
        raise ValueError(
            "these layers did not run in the forward pass: "
            + ", ".join(repr(n) for n in missing)
            + (f" (layers that ran: {', '.join(sorted(seen)[:12])}...)" if seen else "")
        )
    return out
