"""Where the channels are: the layout of a captured layer's output, and its patch grid.

A CNN's conv layers give ``N x C x H x W`` (``"NCHW"``). Transformers and some modern
CNNs keep channels last: torchvision's ConvNeXt block internals and every Swin stage give
``N x H x W x C`` (``"NHWC"``); a ViT's encoder gives tokens ``N x L x C`` whose first ``P``
entries are *prefix* tokens (class, distillation, register tokens) followed by an
``h x w`` patch grid in row-major order (:class:`Tokens`). Linear outputs ``N x C`` are
``"NC"`` (one cell). Every widget works on ``N x C x h x w`` maps; :meth:`Layout.maps`
gives them (differentiably, so gradient methods can use them too) and
:meth:`Layout.prefix_tokens` gives the prefix tokens, kept apart.

Detection (:class:`Tracker`, fed every module call of one forward pass) uses, in order:

1. an explicit ``layouts={layer: "NHWC"}`` or ``{layer: Tokens(prefix=1, grid=(14, 14))}``;
2. the output tensor itself when a submodule already produced it (a ``Sequential``
   returns its last child's output object);
3. module types that fix the layout: convolutions, 2-d batch norm and 2-d pooling are
   channels-first; ``nn.Linear`` on a 4-d input acts on the last axis, so channels-last;
   a ``Permute`` module (torchvision) moves the channel axis of its input's layout;
4. shape-preserving modules (activations, dropout, residual blocks) keep the layout of
   their input; a token layer keeps the prefix and grid of its input while ``L`` is kept;
5. the channel count a module declares (``normalized_shape``, ``num_features``) when it
   matches only one axis;
6. the shape: ``h x w`` must be the input's ``H x W`` divided by one common stride (up to
   the rounding of padding), so ``N x 96 x 16 x 16`` from a 64 x 64 image can only be
   channels-first. A token count ``L = P + h x w`` is matched to the most recent
   feature map's grid (a ViT's patch embedding), with ``P`` checked against the model's
   ``num_prefix_tokens`` (timm) or class token (torchvision), or else to the one grid
   that cuts the input into square patches;
7. when the shape fits both readings (small maps), an input made by functions between
   modules (``relu(conv(x) + y)``) takes the layout of the earlier outputs of its shape,
   when they all agree and the shape is not a cube (C = h = w, where a permuted map has
   the same shape).

Where the evidence leaves two readings (``N x 16 x 16 x 16`` from an unknown module) the
layer's layout is :class:`Ambiguous`: capturing it raises an error that names the layer,
its shape and the ``layouts=`` entry to write. Nothing is guessed silently.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

__all__ = ["Layout", "NCHW", "NHWC", "NC", "Tokens", "Ambiguous", "parse", "check_layouts", "prefix_names", "Tracker"]

_MAX_PREFIX = 16  # class + distillation + register tokens; no published ViT has more
_CHANNELS_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm, nn.GroupNorm,
                   nn.modules.instancenorm._InstanceNorm, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                   nn.AdaptiveMaxPool2d, nn.LPPool2d, nn.Upsample, nn.PixelShuffle, nn.LocalResponseNorm)


class Layout:
    """How a layer's output holds its channels; see the module documentation.

    Attributes
    ----------
    name : str
        The layout's name as shown in layer tables (``"NCHW"``, ``"NHWC"``, ``"NC"``, ``"tokens P+hxw"``).
    """

    name = ""

    def maps(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` as N x C x h x w (a view or a permuted view; gradients flow).

        Parameters
        ----------
        t : torch.Tensor
            A layer's output in this layout.

        Returns
        -------
        torch.Tensor
            N x C x h x w maps.

        Raises
        ------
        ValueError
            If ``t``'s shape does not fit the layout.
        """
        raise NotImplementedError

    def prefix_tokens(self, t: torch.Tensor) -> torch.Tensor | None:
        """The prefix tokens, N x P x C, or None for layouts without them.

        Parameters
        ----------
        t : torch.Tensor
            A layer's output in this layout.

        Returns
        -------
        torch.Tensor or None
            N x P x C prefix tokens, or None.
        """
        return None

    def __repr__(self) -> str:
        return repr(self.name)

    def __str__(self) -> str:
        return self.name


class _Fixed(Layout):
    """A fixed layout: the instances :data:`NCHW`, :data:`NHWC` and :data:`NC`.

    Parameters
    ----------
    name : str
        ``"NCHW"``, ``"NHWC"`` or ``"NC"``.
    dims : int
        The number of dimensions of an output in this layout (4 or 2).
    to_nchw : callable
        Turns such an output into N x C x h x w maps (``NC`` gives 1 x 1 maps).
    """
    def __init__(self, name: str, dims: int, to_nchw):
        self.name, self.dims, self._to_nchw = name, dims, to_nchw

    def maps(self, t):
        if t.dim() != self.dims:
            raise ValueError(f"a {self.name} layout needs a {self.dims}-d output, got shape {tuple(t.shape)}")
        return self._to_nchw(t)


NCHW = _Fixed("NCHW", 4, lambda t: t)
NHWC = _Fixed("NHWC", 4, lambda t: t.permute(0, 3, 1, 2))
NC = _Fixed("NC", 2, lambda t: t[:, :, None, None])
_BY_NAME = {layout.name: layout for layout in (NCHW, NHWC, NC)}


@dataclass(frozen=True)
class Tokens(Layout):
    """Tokens ``N x L x C``: ``prefix`` tokens, then an ``h x w`` patch grid, row by row.

    ``grid=None`` takes the one grid of ``L - prefix`` cells with the input image's aspect.

    Parameters
    ----------
    prefix : int, default 0
        P, the number of prefix tokens (class, distillation, register tokens), >= 0.
    grid : tuple of (int, int) or None, default None
        (h, w), the patch grid's rows and columns, positive.

    Raises
    ------
    ValueError
        If ``prefix`` is not an integer >= 0 or ``grid`` is not two positive integers.
    """

    prefix: int = 0
    grid: tuple[int, int] | None = None

    def __post_init__(self):
        if isinstance(self.prefix, bool) or not isinstance(self.prefix, int) or self.prefix < 0:
            raise ValueError(f"Tokens(prefix=...) must be an integer >= 0, got {self.prefix!r}")
        if self.grid is not None:
            grid = tuple(self.grid)
            if len(grid) != 2 or not all(isinstance(g, int) and not isinstance(g, bool) and g > 0 for g in grid):
                raise ValueError(f"Tokens(grid=...) must be (rows, cols) of positive integers, got {self.grid!r}")
            object.__setattr__(self, "grid", grid)

    @property
    def name(self) -> str:
        """``"tokens P+hxw"`` (``"tokens P+?"`` while the grid is not resolved)."""
        grid = "?" if self.grid is None else f"{self.grid[0]}x{self.grid[1]}"
        return f"tokens {self.prefix}+{grid}"

    def _check(self, t: torch.Tensor) -> tuple[int, int]:
        if self.grid is None:
            raise ValueError("Tokens(grid=None) has not been resolved against an input yet")
        h, w = self.grid
        if t.dim() != 3 or t.shape[1] != self.prefix + h * w:
            raise ValueError(f"tokens with {self.prefix} prefix + {h} x {w} patches need an N x "
                             f"{self.prefix + h * w} x C output, got shape {tuple(t.shape)}")
        return h, w

    def maps(self, t):
        """The patch tokens of ``t`` as N x C x h x w maps (prefix tokens dropped; gradients flow).

        Parameters
        ----------
        t : torch.Tensor
            N x L x C tokens with ``L = prefix + h * w``.

        Returns
        -------
        torch.Tensor
            N x C x h x w maps, the patch grid read row by row.

        Raises
        ------
        ValueError
            If the grid is None (not resolved against an input yet), or ``t`` is not
            N x (prefix + h * w) x C.
        """
        h, w = self._check(t)
        return t[:, self.prefix:].transpose(1, 2).reshape(t.shape[0], t.shape[2], h, w)

    def prefix_tokens(self, t):
        """The first ``prefix`` tokens of ``t``, N x P x C, or None when ``prefix`` is 0.

        Parameters
        ----------
        t : torch.Tensor
            N x L x C tokens with ``L = prefix + h * w``.

        Returns
        -------
        torch.Tensor or None
            N x P x C prefix tokens (a view of ``t``), or None.

        Raises
        ------
        ValueError
            If the grid is None (not resolved against an input yet), or ``t`` is not
            N x (prefix + h * w) x C.
        """
        self._check(t)
        return t[:, :self.prefix] if self.prefix else None

    def __repr__(self) -> str:
        return f"Tokens(prefix={self.prefix}, grid={self.grid})"


@dataclass(frozen=True)
class Ambiguous:
    """A layer whose layout the evidence does not settle; ``reason`` says why.

    Attributes
    ----------
    reason : str
        Why the layout is not settled.
    name : str
        Always ``"?"``.
    """

    reason: str
    name = "?"

    def __str__(self) -> str:
        return "?"


def parse(value, layer: str) -> Layout:
    """A user's ``layouts=`` entry: ``"NCHW"``, ``"NHWC"``, ``"NC"`` or a :class:`Tokens`.

    Parameters
    ----------
    value : Layout or str
        A layout, or its name in any case.
    layer : str
        The layer name, used in the error message.

    Returns
    -------
    Layout
        The layout (``value`` itself when it is one).

    Raises
    ------
    ValueError
        If ``value`` is neither a layout nor one of the names.
    """
    if isinstance(value, Layout):
        return value
    if isinstance(value, str) and value.upper() in _BY_NAME:
        return _BY_NAME[value.upper()]
    raise ValueError(f"layouts[{layer!r}] = {value!r}: use 'NCHW', 'NHWC', 'NC' or "
                     "xw.Tokens(prefix=P, grid=(h, w)) (P class / register tokens before an h x w patch grid)")


def check_layouts(layouts: Mapping | None) -> dict[str, Layout]:
    """Validate a ``layouts=`` argument: {layer name: layout}.

    Parameters
    ----------
    layouts : mapping or None
        ``{layer name: layout or layout name}``; None for no overrides.

    Returns
    -------
    dict of str to Layout
        The entries parsed with :func:`parse` (an empty dict for None).

    Raises
    ------
    TypeError
        If ``layouts`` is not a mapping.
    ValueError
        If an entry is not a layout.
    """
    if layouts is None:
        return {}
    if not isinstance(layouts, Mapping):
        raise TypeError(f"layouts must be a dict {{layer name: layout}}, got {type(layouts).__name__}")
    return {str(name): parse(value, name) for name, value in layouts.items()}


def _plausible(h: int, w: int, H: int, W: int) -> bool:
    """Can an h x w map come from an H x W image through one common stride s?

    Padding and valid convolutions round each side: |H / s - h| <= 2 (same for w).
    """
    def strides(n, N):
        return N / (n + 2), (N / (n - 2) if n > 2 else math.inf)

    lo_h, hi_h = strides(h, H)
    lo_w, hi_w = strides(w, W)
    return max(lo_h, lo_w) <= min(hi_h, hi_w)


def _declared_channels(module: nn.Module) -> int | None:
    shape = getattr(module, "normalized_shape", None)
    if isinstance(shape, (tuple, list)) and len(shape) == 1:
        return int(shape[0])
    features = getattr(module, "num_features", None)
    return features if isinstance(features, int) else None


def _prefix_count(model: nn.Module) -> int | None:
    """Prefix tokens the model says it has: timm's ``num_prefix_tokens``, torchvision's class token."""
    n = getattr(model, "num_prefix_tokens", None)
    if isinstance(n, int):
        return n
    if isinstance(getattr(model, "class_token", None), torch.Tensor):
        return 1
    return None


class Tracker:
    """Follows one forward pass and decides each layer's layout (see the module doc).

    Call :meth:`record` for every module call in execution order; ``layouts`` then maps
    every layer name whose output is a tensor to a :class:`Layout` or :class:`Ambiguous`.

    Parameters
    ----------
    model : torch.nn.Module
        The model (its prefix token count is read from it).
    x : torch.Tensor
        The input batch: N is its first axis and H x W its last two.
    overrides : mapping of str to Layout or None, default None
        Layouts given by the user (see :func:`check_layouts`).

    Attributes
    ----------
    model : torch.nn.Module
        The model.
    hw : tuple of (int, int)
        The input's H x W.
    batch : int
        The input's N.
    overrides : dict of str to Layout
        The given layouts.
    layouts : dict of str to Layout or Ambiguous
        The layout of every recorded layer whose output is a tensor.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, overrides: Mapping[str, Layout] | None = None):
        self.model = model
        self.hw = tuple(x.shape[-2:])
        self.batch = x.shape[0]
        self.overrides = dict(overrides or {})
        self.layouts: dict[str, Layout | Ambiguous] = {}
        self._by_tensor: dict[int, tuple[weakref.ref, Layout]] = {}  # id -> (tensor, layout)
        self._grid: tuple[int, int] | None = None  # the latest feature map's h x w
        self._by_shape: dict[tuple, set] = {}  # 4-d shape -> the layouts seen with it
        self._remember(x, NCHW if x.dim() == 4 else None)

    def _known(self, t) -> Layout | None:
        if not isinstance(t, torch.Tensor):
            return None
        entry = self._by_tensor.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def _remember(self, t: torch.Tensor, layout) -> None:
        if isinstance(layout, Layout):
            self._by_tensor[id(t)] = (weakref.ref(t), layout)

    def record(self, name: str, module: nn.Module, inputs: tuple, output) -> None:
        """Decide the layout of one module call's output and remember it.

        Parameters
        ----------
        name : str
            The layer name (``name:1``, ... for a repeated call).
        module : torch.nn.Module
            The module called.
        inputs : tuple
            Its positional inputs (the first tensor among them is its input).
        output : object
            Its output; anything but a tensor is ignored.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            If a given layout does not fit the output.
        """
        if not isinstance(output, torch.Tensor):
            return
        first = next((i for i in inputs if isinstance(i, torch.Tensor)), None)
        if name in self.overrides:
            layout = self._resolve_override(name, self.overrides[name], output)
        else:
            layout = self._known(output) or self._detect(module, first, output)
        self.layouts[name] = layout
        self._remember(output, layout)
        if isinstance(layout, Layout) and output.dim() == 4:
            self._grid = tuple(layout.maps(output).shape[-2:])
            self._by_shape.setdefault(tuple(output.shape), set()).add(layout)

    def _resolve_override(self, name, layout: Layout, output) -> Layout:
        if isinstance(layout, Tokens) and layout.grid is None and output.dim() == 3:
            grids = self._aspect_grids(output.shape[1], [layout.prefix])
            if len(grids) != 1:
                raise ValueError(f"layer {name!r}: no {self.hw[0]} x {self.hw[1]}-shaped grid of "
                                 f"{output.shape[1] - layout.prefix} patches; give Tokens(grid=(h, w))")
            layout = grids[0]
        try:
            layout.maps(output)
        except ValueError as err:
            raise ValueError(f"layouts[{name!r}] does not fit the layer's output: {err}") from None
        return layout

    # ------------------------------------------------------------------ detection
    def _detect(self, module: nn.Module, first, output: torch.Tensor):
        if output.shape[0] != self.batch:
            return Ambiguous(f"its first axis has {output.shape[0]} entries for a batch of {self.batch} images, so it "
                             "is not one entry per image (attention windows or heads?)")
        if output.dim() == 2:
            return NC
        if output.dim() == 4:
            return self._detect_4d(module, first, output)
        if output.dim() == 3:
            return self._detect_tokens(first, output)
        return Ambiguous(f"a {output.dim()}-d output is neither N x C, N x C x H x W, N x H x W x C nor tokens N x L x C")

    def _detect_4d(self, module, first, output):
        shape = tuple(output.shape)
        if isinstance(module, _CHANNELS_FIRST):
            return NCHW
        if isinstance(module, nn.Linear):
            return NHWC
        upstream = self._known(first)
        dims = getattr(module, "dims", None)
        if upstream in (NCHW, NHWC) and isinstance(dims, (list, tuple)) and sorted(dims) == [0, 1, 2, 3]:
            channel_axis = list(dims).index(1 if upstream is NCHW else 3)  # a Permute module
            if channel_axis in (1, 3):
                return NCHW if channel_axis == 1 else NHWC
        if upstream in (NCHW, NHWC) and tuple(first.shape) == shape:
            return upstream
        readings = [layout for layout, (h, w) in ((NCHW, shape[2:]), (NHWC, shape[1:3]))
                    if _plausible(h, w, *self.hw)]
        declared = _declared_channels(module)
        if declared is not None:
            readings = [r for r in readings if shape[1 if r is NCHW else 3] == declared]
        if len(readings) == 1:
            return readings[0]
        seen = self._by_shape.get(shape, set())
        cube = shape[1] == shape[2] == shape[3]  # then a permuted map has the same shape: no evidence
        if len(readings) == 2 and len(seen) == 1 and not cube:  # e.g. relu(conv(x) + y)
            return next(iter(seen))
        return Ambiguous(f"both N x C x H x W and N x H x W x C fit {shape} for a {self.hw[0]} x {self.hw[1]} input"
                         if readings else f"no reading of {shape} is a feature map of a {self.hw[0]} x {self.hw[1]} input")

    def _detect_tokens(self, first, output):
        length = output.shape[1]
        upstream = self._known(first)
        if isinstance(upstream, Tokens) and first.dim() == 3 and first.shape[1] == length:
            return upstream
        declared = _prefix_count(self.model)
        allowed = [0] if declared is None else sorted({0, declared})
        if self._grid is not None:
            h, w = self._grid
            p = length - h * w
            if 0 <= p <= _MAX_PREFIX and (declared is None or p in allowed):
                return Tokens(p, (h, w))
        grids = self._aspect_grids(length, allowed)
        if len(grids) == 1:
            return grids[0]
        return Ambiguous(f"{length} tokens fit no single patch grid of the {self.hw[0]} x {self.hw[1]} input"
                         + ("" if declared is None else f" with {declared} prefix tokens"))

    def _aspect_grids(self, length: int, prefixes) -> list[Tokens]:
        """The token layouts ``P + h x w = length`` where an integer patch side p cuts the input
        into h x w patches (h = H // p or ceil(H / p), the same for w)."""
        H, W = self.hw
        found = set()
        for p in prefixes:
            n = length - p
            for side in range(1, max(H, W) + 1):
                for h in {H // side, -(-H // side)}:
                    for w in {W // side, -(-W // side)}:
                        if h > 0 and w > 0 and h * w == n:
                            found.add(Tokens(p, (h, w)))
        return sorted(found, key=lambda t: (t.prefix, t.grid))


def prefix_names(model: nn.Module, layout) -> list[str]:
    """Display names of a token layer's prefix tokens, in order.

    Display names of a token layer's prefix tokens, in order (timm and torchvision order:
    class, distillation, registers); ``prefix 0``, ``prefix 1``, ... when the model does not say.

    Parameters
    ----------
    model : torch.nn.Module
        The model (its ``cls_token``, ``class_token``, ``dist_token`` and ``reg_token`` are read).
    layout : Layout or Ambiguous or None
        The layer's layout.

    Returns
    -------
    list of str
        One name per prefix token; empty unless ``layout`` is a :class:`Tokens` with prefix tokens.
    """
    if not isinstance(layout, Tokens) or not layout.prefix:
        return []
    names = []
    for attr, label in (("cls_token", "class"), ("class_token", "class"), ("dist_token", "distillation")):
        if isinstance(getattr(model, attr, None), torch.Tensor) and label not in names:
            names.append(label)
    registers = getattr(model, "reg_token", None)
    if isinstance(registers, torch.Tensor):
        names += [f"register {i + 1}" for i in range(registers.shape[1])]
    return names if len(names) == layout.prefix else [f"prefix {i}" for i in range(layout.prefix)]


def ambiguous_error(name: str, shape, reason: str) -> ValueError:
    """The error for capturing a layer whose layout is not settled.

    Parameters
    ----------
    name : str
        The layer's name.
    shape : sequence of int
        The layer's output shape.
    reason : str
        Why the layout is ambiguous (:attr:`Ambiguous.reason`).

    Returns
    -------
    ValueError
        The error (returned, not raised), naming the layer and shape and showing the
        ``layouts=`` entries that settle it.
    """
    return ValueError(
        f"layer {name!r} with output shape {tuple(shape)}: its layout is ambiguous ({reason}). Say which it is, "
        f"e.g. layouts={{{name!r}: 'NCHW'}} (channels first), {{{name!r}: 'NHWC'}} (channels last) or "
        f"{{{name!r}: xw.Tokens(prefix=1, grid=(14, 14))}} (tokens: prefix tokens, then an h x w patch grid)"
    )
