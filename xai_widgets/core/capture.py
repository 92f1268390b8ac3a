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

Every use of a model by xai_widgets holds that model's lock (:func:`model_lock`), so a
widget's background task (a scan, an optimisation) and a call from a cell take turns:
otherwise one could save the other's eval flags as "the user's" and restore them, or
record activations from the other's forward pass through its hooks.
"""
from __future__ import annotations

import contextlib
import difflib
import threading
import weakref
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn

from .images import check_model_input, input_channels
from .layouts import Ambiguous, Layout, Tracker, ambiguous_error, check_layouts

__all__ = ["LayerInfo", "Maps", "layers", "capture", "capture_maps", "layer_output", "model_device", "model_dtype",
           "model_lock", "preserved_model", "call_hooks", "unknown_layer_error", "StopForward"]


@dataclass(frozen=True)
class LayerInfo:
    """One capturable layer: its name, module type, output shape (batch first) and layout.

    Attributes
    ----------
    name : str
        Dotted layer name (``:1``, ``:2``, ... for later calls of a module run more than once).
    type : str
        The module's class name, e.g. ``"Conv2d"``.
    shape : tuple of int
        The layer's output shape, batch first.
    layout : Layout, Ambiguous or None, default None
        The detected or given :mod:`~xai_widgets.core.layouts` layout.
    """

    name: str
    type: str
    shape: tuple[int, ...]
    layout: Layout | Ambiguous | None = None

    def __str__(self) -> str:
        return f"{self.name:<32} {self.type:<20} {str(tuple(self.shape)):<20} {self.layout or ''}"


@dataclass
class Maps:
    """A captured layer as the widgets use it.

    ``maps``: N x C x h x w (channels first, whatever the layer's own layout);
    ``prefix``: N x P x C prefix tokens of a token layer (class, distillation, register
    tokens), else None; ``layout``: the layer's :class:`~xai_widgets.core.layouts.Layout`.

    Attributes
    ----------
    maps : torch.Tensor
        N x C x h x w maps.
    prefix : torch.Tensor or None
        N x P x C prefix tokens, or None.
    layout : Layout
        The layer's layout.
    """

    maps: torch.Tensor
    prefix: torch.Tensor | None
    layout: Layout


class LayerList(list):
    """A list of :class:`LayerInfo` that prints as a table.

    Parameters
    ----------
    iterable : iterable of LayerInfo, optional
        The layers, in order (as for :class:`list`); empty when omitted.
    """

    def __repr__(self) -> str:
        return "\n".join(str(info) for info in self) if self else "LayerList([])"

    @property
    def names(self) -> list[str]:
        """The layers' names (:attr:`LayerInfo.name`), in order."""
        return [info.name for info in self]


class StopForward(Exception):
    """Raised by a hook once every requested layer is captured, to skip the rest.

    Parameters
    ----------
    *args : object
        As for any exception (none are given: it is caught by the capturing code).
    """


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model).

    Parameters
    ----------
    model : torch.nn.Module
        Any model.

    Returns
    -------
    torch.device
        The device of ``model``'s first parameter (or, failing that, buffer); ``cpu`` when it has none.
    """
    for tensor in _chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _chain(*iterables: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
    for iterable in iterables:
        yield from iterable


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's first floating parameter or buffer (float32 if none).

    Parameters
    ----------
    model : torch.nn.Module
        Any model.

    Returns
    -------
    torch.dtype
        The dtype of the first floating-point parameter or buffer, else ``torch.float32``.
    """
    for tensor in _chain(model.parameters(), model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


_LOCKS: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock xai_widgets holds while it uses ``model`` (one per model object).

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is held weakly, so the lock lives as long as the model.

    Returns
    -------
    threading.RLock
        The same lock object on every call for the same model.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


# torch's words when a convolution, pooling or padding gets an input smaller than it needs
_TOO_SMALL = ("output size is too small", "kernel size can't be greater than actual input size",
              "smaller than kernel size", "padding size should be less than")


def _smallest_input(model: nn.Module) -> int | None:
    """The smallest square side (pixels) whose forward pass runs: doubling, then bisection."""
    channels = input_channels(model) or 3

    def runs(side: int) -> bool:
        x = torch.zeros(1, channels, side, side, device=model_device(model), dtype=model_dtype(model))
        try:
            with torch.no_grad():
                model(x)
            return True
        except Exception:
            return False

    hi = 1
    while not runs(hi):
        if hi >= 1024:
            return None
        hi *= 2
    lo = hi // 2  # fails (or is 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if runs(mid) else (mid, hi)
    return hi


def _too_small_error(model: nn.Module, exc: RuntimeError) -> ValueError:
    side = _smallest_input(model)
    smallest = (f"The smallest square input it accepts is {side} x {side} pixels: below that its "
                "convolutions and pooling shrink the maps to nothing. " if side else "")
    return ValueError(f"the input is too small for this model. {smallest}Resize the image (or pass a "
                      f"preprocess that resizes it). torch said: {exc}")


@contextlib.contextmanager
def preserved_model(model: nn.Module, eval_mode: bool) -> Iterator[None]:
    """Hold the model's lock; restore training flags and drop any new .grad, whatever happens inside.

    A forward that fails because the input is smaller than the model's convolutions need is
    re-raised as a ValueError that names the smallest input the model accepts.

    Parameters
    ----------
    model : torch.nn.Module
        The model to use inside the block.
    eval_mode : bool
        True puts every module in eval mode for the block (the caller's ``training`` flags come back
        on exit); False leaves the flags as they are.

    Yields
    ------
    None

    Raises
    ------
    ValueError
        When the body raises a RuntimeError saying the input is too small for the model.
    """
    with model_lock(model):
        flags = [(m, m.training) for m in model.modules()]
        had_grad = {id(p) for p in model.parameters() if p.grad is not None}
        if eval_mode:
            model.eval()
        try:
            yield
        except RuntimeError as exc:
            if any(words in str(exc).lower() for words in _TOO_SMALL):
                raise _too_small_error(model, exc) from exc
            raise
        finally:
            for module, flag in flags:
                module.training = flag
            for p in model.parameters():
                if p.grad is not None and id(p) not in had_grad:
                    p.grad = None


@contextlib.contextmanager
def call_hooks(model: nn.Module, on_output, tracker: Tracker | None = None) -> Iterator[None]:
    """Call ``on_output(layer_name, module, output)`` for every module call; unhook in finally.

    A ``tracker`` sees every call first (with the inputs), to follow the layouts.

    Parameters
    ----------
    model : torch.nn.Module
        Every named submodule (not the root) gets a forward hook for the block.
    on_output : callable
        ``on_output(layer_name, module, output)`` with the layer name (``name``, ``name:1``, ... for
        repeated calls). Its return value is the hook's, so a non-None value replaces the output.
    tracker : Tracker or None, default None
        Fed ``record(layer_name, module, inputs, output)`` before ``on_output``.

    Yields
    ------
    None
        Control to the body, which runs the forward pass; every hook is removed on exit.
    """
    calls: dict[str, int] = {}
    handles = []

    def make_hook(name: str):
        def hook(module, inputs, output):
            k = calls.get(name, 0)
            calls[name] = k + 1
            layer = name if k == 0 else f"{name}:{k}"
            if tracker is not None:
                tracker.record(layer, module, inputs, output)
            return on_output(layer, module, output)

        return hook

    try:
        for name, module in model.named_modules():
            if name:  # the root is the model itself, not a layer
                handles.append(module.register_forward_hook(make_hook(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _to_device(x: torch.Tensor, model: nn.Module, name: str = "inputs") -> torch.Tensor:
    """The input, checked (:func:`~xai_widgets.core.images.check_model_input`), on the model's
    device, floating inputs in the model's dtype (bfloat16 models get bfloat16 images)."""
    check_model_input(x, model, "capture", name, image=False)
    return x.to(model_device(model), model_dtype(model) if x.is_floating_point() else None)


def layers(model: nn.Module, example_input: torch.Tensor, *, eval_mode: bool = True,
           layouts: Mapping | None = None) -> LayerList:
    """List every layer of ``model`` in execution order with its output shape and layout.

    ``example_input`` is a batch (N x C x H x W for images). Modules whose output is not a
    tensor (tuples, dicts) are skipped. The layout column is the detected (or given)
    :mod:`~xai_widgets.core.layouts` layout; ``?`` marks a layer that needs a ``layouts=`` entry.

    Parameters
    ----------
    model : torch.nn.Module
        The model; left as it was (one forward pass without grad).
    example_input : torch.Tensor
        A batch, moved to the model's device (floating inputs to its dtype).
    eval_mode : bool, default True
        Run the forward in eval mode (training flags restored afterwards).
    layouts : mapping or None, default None
        ``{layer name: layout}`` overrides (see :func:`~xai_widgets.core.layouts.check_layouts`).

    Returns
    -------
    LayerList
        A list of :class:`LayerInfo` that prints as a table (``.names`` gives the names).

    Raises
    ------
    TypeError, ValueError
        If ``example_input`` or ``layouts`` is not acceptable, or the input is too small for the model.
    """
    found: LayerList = LayerList()
    x = _to_device(example_input, model, "example_input")
    tracker = Tracker(model, x, check_layouts(layouts))

    def record(name, module, output):
        if isinstance(output, torch.Tensor):
            found.append(LayerInfo(name, type(module).__name__, tuple(output.shape), tracker.layouts.get(name)))

    with preserved_model(model, eval_mode), call_hooks(model, record, tracker), torch.no_grad():
        model(x)
    return found


def unknown_layer_error(missing: Sequence[str], known: Sequence[str]) -> ValueError:
    """The error for layer names the model does not have: close matches, and how to list them all.

    Parameters
    ----------
    missing : sequence of str
        The names asked for that do not exist.
    known : sequence of str
        The model's layer names, to suggest close matches from.

    Returns
    -------
    ValueError
        The error (returned, not raised), one line per missing name.
    """
    lines = []
    for name in missing:
        close = difflib.get_close_matches(name, known, n=4, cutoff=0.4)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        lines.append(f"unknown layer {name!r}{hint}")
    lines.append("xw.layers(model, example_input) lists every layer with its output shape.")
    return ValueError("\n".join(lines))


def _wanted(model: nn.Module, layer_names) -> list[str]:
    if isinstance(layer_names, str):
        layer_names = [layer_names]
    wanted = list(dict.fromkeys(layer_names))
    if not wanted:
        raise ValueError("no layers requested: pass at least one layer name")
    if not all(isinstance(n, str) for n in wanted):
        raise TypeError(f"layer names must be strings, got {wanted!r:.120}")
    module_names = {name for name, _ in model.named_modules() if name}
    unknown = [n for n in wanted if n.split(":")[0] not in module_names]
    if unknown:
        raise unknown_layer_error(unknown, sorted(module_names))
    return wanted


def _run_to(model: nn.Module, x: torch.Tensor, wanted: list[str], keep, layouts: Mapping | None
            ) -> tuple[dict[str, torch.Tensor], dict[str, Layout]]:
    """One forward up to the last of ``wanted``: ``{name: keep(output)}`` and each one's layout.

    ``layouts`` None: raw outputs, any layout (nothing is refused); a mapping (possibly
    empty): every wanted layer must have a settled layout, else the error says what to add.

    Call inside ``preserved_model``; grad mode is the caller's.
    """
    out: dict[str, torch.Tensor] = {}
    seen: set[str] = set()
    tracker = Tracker(model, x, check_layouts(layouts))

    def record(name, _module, output):
        seen.add(name)
        if name in wanted:
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returns {type(output).__name__}, not a tensor")
            layout = tracker.layouts[name]
            if layouts is not None and isinstance(layout, Ambiguous):
                raise ambiguous_error(name, output.shape, layout.reason)
            out[name] = keep(output)
            if len(out) == len(wanted):
                raise StopForward

    with call_hooks(model, record, tracker):
        try:
            model(x)
        except StopForward:
            pass
    missing = [n for n in wanted if n not in out]
    if missing:
        raise ValueError(
            "these layers did not run in the forward pass: "
            + ", ".join(repr(n) for n in missing)
            + (f" (layers that ran: {', '.join(sorted(seen)[:12])}...)" if seen else "")
        )
    return out, {name: tracker.layouts[name] for name in wanted}


def capture(
    model: nn.Module,
    inputs: torch.Tensor,
    layer_names: Sequence[str],
    *,
    eval_mode: bool = True,
) -> dict[str, torch.Tensor]:
    """Outputs of ``layer_names`` for one batch, from one forward pass on the model's device.

    Returns ``{name: tensor}``, batch-first, as the layer gives it (see
    :func:`capture_maps` for channels-first maps), on the model's device, detached and
    cloned at the moment the layer produced them (so a later in-place op such as
    ``ReLU(inplace=True)`` cannot alter them). The forward stops as soon as the last
    requested layer has run. Floating inputs are cast to the model's dtype.

    Parameters
    ----------
    model : torch.nn.Module
        The model; left as it was.
    inputs : torch.Tensor
        A batch-first input (N x C x H x W for images), moved to the model's device.
    layer_names : sequence of str or str
        Layer names (see :func:`layers`); repeats are captured once.
    eval_mode : bool, default True
        Run the forward in eval mode (training flags restored afterwards).

    Returns
    -------
    dict of str to torch.Tensor
        ``{name: output}`` for every requested layer.

    Raises
    ------
    TypeError
        If a name is not a string, or a requested layer's output is not a tensor.
    ValueError
        If no layer is requested, a name is unknown, a requested layer does not run in the forward
        pass, or ``inputs`` is not acceptable.
    """
    wanted = _wanted(model, layer_names)
    x = _to_device(inputs, model)
    with preserved_model(model, eval_mode), torch.no_grad():
        out, _ = _run_to(model, x, wanted, lambda t: t.detach().clone(), None)
    return out


def capture_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    layer_names: Sequence[str],
    *,
    layouts: Mapping | None = None,
    eval_mode: bool = True,
) -> dict[str, Maps]:
    """Like :func:`capture`, but each layer as :class:`Maps`: N x C x h x w maps plus prefix tokens.

    The layout of each layer is detected (:mod:`xai_widgets.core.layouts`) or taken from
    ``layouts={name: "NHWC" | "NCHW" | "NC" | xw.Tokens(...)}``; an ambiguous layer raises
    an error saying which entry to add. Values stay in the model's dtype and device.

    Parameters
    ----------
    model : torch.nn.Module
        The model; left as it was.
    inputs : torch.Tensor
        A batch-first input (N x C x H x W for images), moved to the model's device.
    layer_names : sequence of str or str
        Layer names (see :func:`layers`); repeats are captured once.
    layouts : mapping or None, default None
        ``{layer name: layout}`` for layers whose layout is not detected.
    eval_mode : bool, default True
        Run the forward in eval mode (training flags restored afterwards).

    Returns
    -------
    dict of str to Maps
        ``{name: Maps}`` for every requested layer, detached copies.

    Raises
    ------
    TypeError, ValueError
        As :func:`capture`, and ValueError for an ambiguous layout or a ``layouts`` entry that does not
        fit the layer.
    """
    wanted = _wanted(model, layer_names)
    x = _to_device(inputs, model)
    with preserved_model(model, eval_mode), torch.no_grad():
        raw, found = _run_to(model, x, wanted, lambda t: t.detach().clone(), layouts or {})
    return {name: _as_maps(t, found[name]) for name, t in raw.items()}


def layer_output(model: nn.Module, x: torch.Tensor, layer: str, layouts: Mapping | None = None) -> Maps:
    """``layer``'s output as :class:`Maps`, with its graph, running the model only up to it.

    Call inside ``preserved_model``; ``x`` is moved to the model's device and dtype. Nothing after
    the layer runs, so a later in-place op cannot alter the result. Gradients flow when
    grad mode is on (through the layout's permute or reshape too).

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    x : torch.Tensor
        A batch-first input.
    layer : str
        One layer name (see :func:`layers`).
    layouts : mapping or None, default None
        ``{layer name: layout}`` for a layer whose layout is not detected.

    Returns
    -------
    Maps
        The layer's maps and prefix tokens (not detached, not cloned).

    Raises
    ------
    TypeError, ValueError
        As :func:`capture_maps`.
    """
    out, found = _run_to(model, _to_device(x, model), _wanted(model, layer), lambda t: t, layouts or {})
    return _as_maps(out[layer], found[layer])


def _as_maps(t: torch.Tensor, layout: Layout) -> Maps:
    return Maps(layout.maps(t), layout.prefix_tokens(t), layout)
