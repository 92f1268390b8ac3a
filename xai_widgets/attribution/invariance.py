"""Checks that tell a reliable attribution method from an unreliable one: twins of a network that
compute the same function must get the same explanation, and explanations should move smoothly.

* Input-shift invariance (Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan and Kim, "The
  (Un)reliability of Saliency Methods", in Explainable AI, LNAI 11700, 2019, section 3): f2 takes
  every input shifted by a constant m and folds -W m into its first layer's bias, so that
  f2(x + m) = f1(x) with every activation identical (:func:`shifted_model`). Their table: the
  gradient, SmoothGrad, PatternNet, PatternAttribution and Integrated Gradients with a baseline
  that moves with the data pass; gradient x input, Integrated Gradients with a zero baseline and
  epsilon-LRP fail. A zero-padded first convolution would see the shift in the image but not in
  its padding, so f2 pads with the shifted value instead.
* Implementation invariance (Sundararajan, Taly and Yan 2017, section 2): a twin whose units of
  one layer are split in two (Montavon, "Gradient-based vs. propagation-based explanations", in
  Explainable AI, LNAI 11700, 2019, section 13.5; :func:`split_neurons`).
* Continuity (Montavon 2019, section 13.4): the explanations of an occluding patch sliding across
  the image (:func:`continuity`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import lrp, patterns
from .methods import attribute
from ..core.capture import preserved_model
from ..core.targets import prepare_inputs, resolve_targets

__all__ = ["InvarianceReport", "shifted_model", "input_shift_invariance", "split_neurons", "implementation_invariance",
           "DEFAULT_CHECKS", "SPLIT_CHECKS", "Continuity", "continuity"]


class _PadWith(nn.Module):
    """Zero padding of ``x - value``, plus ``value``: padding with a per-channel constant."""

    def __init__(self, value: torch.Tensor, padding: tuple[int, int]):
        super().__init__()
        self.register_buffer("value", value.view(1, -1, 1, 1))
        self.padding = padding

    def forward(self, x):
        ph, pw = self.padding
        return F.pad(x - self.value, (pw, pw, ph, ph)) + self.value


def _first_layer(model: nn.Module, x: torch.Tensor) -> tuple[str, nn.Module, list]:
    """The first convolution or linear layer to run, and its input for each batch given."""
    seen: list = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, args):
        if not seen:
            seen.append((names[module], module))
        if seen[0][1] is module:
            inputs.append(args[0].detach())

    inputs: list = []
    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not seen:
        raise ValueError("the model has no Conv2d or Linear layer that runs; the input-shift check folds the "
                         "shift into the first one")
    return seen[0][0], seen[0][1], inputs


def _compensated(layer: nn.Module, d: torch.Tensor) -> nn.Module:
    """``layer`` with bias b - W d, so that an input shifted by d gives the original output."""
    new = copy.deepcopy(layer)
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            w_d = layer.weight @ d
        else:
            kh, kw = layer.kernel_size
            w_d = F.conv2d(d.view(1, -1, 1, 1).expand(1, -1, kh, kw), layer.weight, groups=layer.groups).flatten()
        bias = layer.bias if layer.bias is not None else torch.zeros_like(w_d)
        if new.bias is None:
            new.bias = nn.Parameter(torch.zeros_like(w_d))
        new.bias.copy_(bias - w_d)
    if isinstance(layer, nn.Conv2d) and any(layer.padding):
        if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            raise ValueError(f"the first convolution pads with {layer.padding_mode!r} / {layer.padding!r}; the "
                             "input-shift check handles zero padding given as numbers only")
        new.padding = (0, 0)
        return nn.Sequential(_PadWith(d, layer.padding), new)
    return new


def shifted_model(model: nn.Module, inputs: torch.Tensor, shift) -> nn.Module:
    """f2 of Kindermans et al. (2019, section 3): f2(x + shift) = f1(x), every activation identical.

    Parameters
    ----------
    model : torch.nn.Module
        f1 (not changed; f2 is a copy).
    inputs : torch.Tensor
        An example batch (N x C x H x W or N x D) used to find the first layer and measure the shift
        it sees.
    shift : float, sequence of float or torch.Tensor
        m: one number, or one per input channel.

    Returns
    -------
    torch.nn.Module
        f2, a deep copy of ``model`` whose first Conv2d / Linear has its bias reduced by W d (d: the
        shift that layer sees) and, when it zero-pads, pads with d instead.

    Raises
    ------
    ValueError
        If the operations before the first layer do not turn the input shift into a constant
        shift per channel, or if f2(x + m) does not reproduce f1(x).
    """
    x = prepare_inputs(model, inputs, image=False)
    m = _shift_tensor(shift, x)
    with preserved_model(model, eval_mode=True):
        name, layer, seen = _first_layer(model, torch.cat([x, x + m]))
        z1, z2 = seen[0].chunk(2)
        d = _constant_shift(z2 - z1, name)
        f2 = copy.deepcopy(model)
        parent, _, leaf = name.rpartition(".")
        setattr(f2.get_submodule(parent) if parent else f2, leaf, _compensated(layer, d))
        with torch.no_grad():
            a, b = model(x), f2.eval()(x + m)
    scale = float(a.abs().max()) or 1.0
    if not torch.allclose(a, b, rtol=0, atol=1e-4 * scale):
        raise ValueError(f"the shifted model does not reproduce the model (largest logit difference "
                         f"{float((a - b).abs().max()):.3g}); the layers before {name!r} may not be affine")
    return f2


def _shift_tensor(shift, x: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(shift, dtype=x.dtype, device=x.device)
    if m.dim() == 0:
        return m
    if m.dim() != 1 or x.dim() < 2 or len(m) != x.shape[1]:
        raise ValueError(f"shift must be a number or one number per input channel ({x.shape[1]}), got shape "
                         f"{tuple(m.shape)}")
    return m.view(1, -1, *[1] * (x.dim() - 2))


def _constant_shift(diff: torch.Tensor, name: str) -> torch.Tensor:
    per_channel = diff.transpose(0, 1).flatten(1)  # C x (N H W)
    d = per_channel.mean(1)
    if (per_channel - d[:, None]).abs().max() > 1e-5 * (1 + float(d.abs().max())):
        raise ValueError(f"a constant input shift does not reach {name!r} as a constant shift per channel: the "
                         "operations before it are not a per-channel affine map, so the shift cannot be folded "
                         "into its bias")
    return d


@dataclass
class InvarianceReport:
    """Each method's maps for a network f1 and a twin f2 that computes the same function, and whether they agree.

    Attributes
    ----------
    change : dict
        What differs between the twins: ``{"shift": m}`` (:func:`input_shift_invariance`) or
        ``{"layer": name, "theta": theta}`` (:func:`implementation_invariance`).
    names : list of str
        The checks run (e.g. "integrated_gradients (zero baseline)").
    difference : dict of str to float
        max |map1 - map2| / max |map1| over the batch, per check; NaN when f1's map is zero
        everywhere (nothing to compare; the check then does not count as invariant).
    invariant : dict of str to bool
        ``difference <= tolerance``.
    tolerance : float
        The relative difference below which two maps count as equal. Both networks run in float64
        (the maps come back in float32), where the rounding of two computations that are equal in
        exact arithmetic stays far below it.
    maps : dict of str to (torch.Tensor, torch.Tensor)
        The N x H x W maps for f1 and f2, per check.
    """

    change: dict
    names: list
    difference: dict
    invariant: dict
    tolerance: float
    maps: dict = field(repr=False, default_factory=dict)

    def table(self) -> str:
        """The report as a Markdown table (check, relative difference, invariant)."""
        def verdict(n):
            d = self.difference[n]
            return "undefined (f1's map is zero)" if d != d else "yes" if self.invariant[n] else "no"
        rows = [f"| {n} | {self.difference[n]:.2g} | {verdict(n)} |" for n in self.names]
        return "\n".join(["| method | relative difference | invariant |", "| --- | --- | --- |", *rows])


def _data_minimum(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Integrated Gradients' baseline that moves with the data: its per-channel minimum."""
    dims = [0] + list(range(2, x.dim()))
    return x.amin(dim=dims, keepdim=True)


def _patterns_of(model: nn.Module, x: torch.Tensor):
    """PatternNet's patterns fitted on the batch itself, for each network on its own data (the
    linear estimator: on a few images a class's logit may never be positive, and the two-component
    estimator would then have no samples for it)."""
    return patterns.fit(model, x, estimator="linear", cache=False)


#: The checks of :func:`input_shift_invariance`: (name, method, options, baseline moves with the data).
DEFAULT_CHECKS = (
    ("gradient", "gradient", {}),
    ("grad_x_input", "grad_x_input", {}),
    ("smoothgrad", "smoothgrad", {"samples": 8}),
    ("integrated_gradients (zero baseline)", "integrated_gradients", {"steps": 32}),
    ("integrated_gradients (data-minimum baseline)", "integrated_gradients", {"steps": 32, "baseline": _data_minimum}),
    ("grad_cam", "grad_cam", {}),
    ("lrp (epsilon)", "lrp", {"composite": "epsilon"}),
    ("patternnet", "patternnet", {"patterns": _patterns_of}),
    ("patternattribution", "patternattribution", {"patterns": _patterns_of}),
)


def input_shift_invariance(model: nn.Module, inputs: torch.Tensor, shift=1.0, *, target=None,
                           checks: Sequence = DEFAULT_CHECKS, tolerance: float = 1e-5) -> InvarianceReport:
    """Which methods give the same map for f1 at x and for its shifted twin f2 at x + m (Kindermans et al. 2019).

    Parameters
    ----------
    model : torch.nn.Module
        f1, left exactly as it was (the check runs on a float64 copy).
    inputs : torch.Tensor
        N x C x H x W batch x.
    shift : float, sequence of float or torch.Tensor, default 1.0
        m, one number or one per channel.
    target : None, int or sequence of int, optional
        The classes explained (None: f1's top-1; f2's logits are the same).
    checks : sequence of (name, method, options), default :data:`DEFAULT_CHECKS`
        Each a registered method with its options. An option that is a callable is called with
        the network and its batch (f1 and x, f2 and x + m): a baseline that moves with the data,
        PatternNet's patterns fitted on each network's own data. LRP checks are
        skipped when LRP is not available for the model.
    tolerance : float, default 1e-5
        Relative difference up to which maps count as equal. Both networks run on float64 copies
        (in float32, rounding of z + d - d moves points across ReLU kinks and SmoothGrad's maps
        differ by about 1 %); the maps come back in float32 and Grad-CAM upsamples in float32,
        which leaves differences of about 1e-6 between equal maps.

    Returns
    -------
    InvarianceReport
        Per check, the relative difference, the verdict and both maps.

    Raises
    ------
    ValueError
        As :func:`shifted_model`.
    """
    f1 = _float64_copy(model)
    x = prepare_inputs(f1, inputs)
    f2 = shifted_model(f1, x, shift)
    m = _shift_tensor(shift, x)
    return _compare(f1, x, f2, x + m, target, checks, tolerance,
                    {"shift": m.flatten().tolist() if m.dim() else float(m)})


def _float64_copy(model: nn.Module) -> nn.Module:
    """A float64 copy: in float32, rounding would hide or fake a difference at ReLU kinks."""
    with preserved_model(model, eval_mode=False):
        return copy.deepcopy(model).double()


def _compare(f1, x1, f2, x2, target, checks, tolerance, change) -> InvarianceReport:
    """Every check's maps for f1 at x1 and f2 at x2, explaining the same classes."""
    t, _ = resolve_targets(f1, x1, target)
    names, diff, same, maps = [], {}, {}, {}
    for name, method, options in checks:
        if method == "lrp" and not (lrp.available(f1, x1) and lrp.available(f2, x2)):
            continue
        a = attribute(f1, x1, method, target=t, **_resolved(options, f1, x1)).maps
        b = attribute(f2, x2, method, target=t, **_resolved(options, f2, x2)).maps
        names.append(name)
        scale = float(a.abs().max())
        diff[name] = float((a - b).abs().max()) / scale if scale > 0 else float("nan")  # nan: f1's map is 0
        same[name] = diff[name] <= tolerance
        maps[name] = (a.cpu(), b.cpu())
    return InvarianceReport(change, names, diff, same, tolerance, maps)


def _resolved(options: dict, model: nn.Module, x: torch.Tensor) -> dict:
    return {k: (v(model, x) if callable(v) else v) for k, v in options.items()}


def _next_layer(model: nn.Module, x: torch.Tensor, layer: str) -> str:
    """The Conv2d / Linear that runs right after ``layer``."""
    order: list = []
    names = {m: n for n, m in model.named_modules()}
    handles = [m.register_forward_pre_hook(lambda mod, args: order.append(names[mod]))
               for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if layer not in order:
        raise ValueError(f"{layer!r} is not a Conv2d or Linear layer that runs; the layers that do: {', '.join(order)}")
    after = order[order.index(layer) + 1:]
    if not after:
        raise ValueError(f"no Conv2d or Linear layer runs after {layer!r}: splitting needs the layer its units feed")
    return after[0]


def _doubled(layer: nn.Module) -> nn.Module:
    """``layer`` with every output unit twice (identical incoming weights and bias)."""
    new = copy.deepcopy(layer)
    with torch.no_grad():
        new.weight = nn.Parameter(torch.cat([layer.weight, layer.weight]))
        if layer.bias is not None:
            new.bias = nn.Parameter(torch.cat([layer.bias, layer.bias]))
    if isinstance(new, nn.Conv2d):
        new.out_channels *= 2
    else:
        new.out_features *= 2
    return new


def _split_inputs(layer: nn.Module, units: int, theta: float) -> nn.Module:
    """``layer`` reading each of ``units`` input units twice: outgoing weights w + theta and -theta."""
    new = copy.deepcopy(layer)
    w = layer.weight
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or w.shape[1] != units:
            raise ValueError(f"the next layer reads {w.shape[1]} channels (groups {layer.groups}), not the "
                             f"{units} units split")
        new.in_channels *= 2
        weight = torch.cat([w + theta, torch.full_like(w, -theta)], 1)
    else:
        if w.shape[1] % units:
            raise ValueError(f"the next layer reads {w.shape[1]} features, not a whole number per unit of the "
                             f"{units} split")
        # a channel's features are flattened channel-major, so the copies' features follow the originals'
        new.in_features *= 2
        weight = torch.cat([w + theta, torch.full_like(w, -theta)], 1)
    with torch.no_grad():
        new.weight = nn.Parameter(weight)
    return new


def _theta(model: nn.Module, after: str, theta: float | None) -> float:
    """The given theta, or 10 x the standard deviation of the next layer's weights."""
    return float(theta) if theta is not None else 10 * float(model.get_submodule(after).weight.detach().std())


def split_neurons(model: nn.Module, inputs: torch.Tensor, layer: str, theta: float | None = None) -> nn.Module:
    """A twin computing the same function with each unit of ``layer`` split in two (Montavon, Samek and
    Müller 2018, "Methods for interpreting and understanding deep neural networks", section 5.2).

    Each unit of ``layer`` is duplicated (same incoming weights, so the same activation h), and the
    next layer reads the copies with weights w + theta and -theta: (w + theta) h - theta h = w h.
    Batch norms are merged into the layer before them first (:func:`~.patterns.merged_copy`); the
    operations between ``layer`` and the next Conv2d / Linear must act per channel (ReLU, pooling).

    Parameters
    ----------
    model : torch.nn.Module
        f1 (not changed).
    inputs : torch.Tensor
        An example batch.
    layer : str
        The Conv2d / Linear whose units are split.
    theta : float or None, default None
        The weight moved between the copies; None: 10 x the standard deviation of the next layer's
        weights (Montavon 2019, section 13.5, on VGG-16).

    Returns
    -------
    torch.nn.Module
        f2, with f2(x) = f1(x).

    Raises
    ------
    ValueError
        If ``layer`` is not a Conv2d / Linear that runs, nothing runs after it, or the twin does not
        reproduce the model (the operations in between are not per channel).
    """
    x = prepare_inputs(model, inputs, image=False)
    with preserved_model(model, eval_mode=True):
        twin = patterns.merged_copy(model, x[:1])
        after = _next_layer(twin, x[:1], layer)
        first = twin.get_submodule(layer)
        units = first.weight.shape[0]
        theta = _theta(twin, after, theta)
        for name, module in ((layer, _doubled(first)), (after, _split_inputs(twin.get_submodule(after), units, theta))):
            parent, _, leaf = name.rpartition(".")
            setattr(twin.get_submodule(parent) if parent else twin, leaf, module)
        with torch.no_grad():
            try:
                a, b = model(x), twin(x)
            except RuntimeError as err:
                raise ValueError(f"splitting {layer!r} breaks the model ({err}); the operations between it and "
                                 f"{after!r} must act per channel") from err
    if not torch.allclose(a, b, rtol=0, atol=1e-6 * (float(a.abs().max()) or 1.0)):
        raise ValueError(f"the split model does not reproduce the model (largest logit difference "
                         f"{float((a - b).abs().max()):.3g}); the operations between {layer!r} and {after!r} "
                         "must act per channel")
    return twin


#: The checks of :func:`implementation_invariance`.
SPLIT_CHECKS = (
    ("gradient", "gradient", {}),
    ("grad_x_input", "grad_x_input", {}),
    ("integrated_gradients", "integrated_gradients", {"steps": 32}),
    ("grad_cam", "grad_cam", {}),
    ("lrp (epsilon)", "lrp", {"composite": "epsilon"}),
    ("lrp (gamma)", "lrp", {"composite": "gamma"}),
    ("patternnet", "patternnet", {"patterns": _patterns_of}),
    ("patternattribution", "patternattribution", {"patterns": _patterns_of}),
)


def implementation_invariance(model: nn.Module, inputs: torch.Tensor, layer: str, theta: float | None = None, *,
                              target=None, checks: Sequence = SPLIT_CHECKS,
                              tolerance: float = 1e-5) -> InvarianceReport:
    """Which methods give the same map for a network and its neuron-split twin (Sundararajan et al. 2017's
    implementation invariance; the split of Montavon et al. 2018, section 5.2).

    Parameters
    ----------
    model : torch.nn.Module
        f1, left exactly as it was (the check runs on a float64 copy).
    inputs : torch.Tensor
        N x C x H x W batch.
    layer : str
        The Conv2d / Linear whose units are split (see :func:`split_neurons`).
    theta : float or None, default None
        The weight moved between the copies (None: see :func:`split_neurons`).
    target : None, int or sequence of int, optional
        The classes explained.
    checks : sequence of (name, method, options), default :data:`SPLIT_CHECKS`
        As :func:`input_shift_invariance`.
    tolerance : float, default 1e-5
        Relative difference up to which maps count as equal (see :func:`input_shift_invariance`).

    Returns
    -------
    InvarianceReport
        Per check, the relative difference, the verdict and both maps.

    Raises
    ------
    ValueError
        As :func:`split_neurons`.
    """
    f1 = _float64_copy(model)
    x = prepare_inputs(f1, inputs)
    with preserved_model(f1, eval_mode=True):
        f1 = patterns.merged_copy(f1, x[:1])  # both twins without batch norm, so that only the split differs
    theta = _theta(f1, _next_layer(f1, x[:1], layer), theta)
    f2 = split_neurons(f1, x, layer, theta)
    return _compare(f1, x, f2, x, target, checks, tolerance, {"layer": layer, "theta": theta})


@dataclass
class Continuity:
    """A method's explanations of an occluding patch sliding across an image (Montavon 2019, section 13.4).

    Attributes
    ----------
    method : str
        The method.
    positions : list of int
        The patch's left edge at each step (pixels).
    maps : torch.Tensor
        P x H x W maps, one per position (CPU).
    steps : numpy.ndarray
        P - 1 distances ||R(x_{i+1}) - R(x_i)|| between neighbouring maps, divided by the mean map norm.
    jump : float
        The largest step over the median step: about 1 for a path that moves evenly, large where
        the explanation jumps (a discontinuity).
    embedding : numpy.ndarray
        P x 2 PCA coordinates of the maps (the trajectory to plot).
    explained : numpy.ndarray
        The share of the maps' variance along the two axes.
    """

    method: str
    positions: list
    maps: torch.Tensor = field(repr=False)
    steps: np.ndarray
    jump: float
    embedding: np.ndarray
    explained: np.ndarray


def continuity(model: nn.Module, image: torch.Tensor, method: str, *, patch: int | None = None, positions: int = 24,
               row: int | None = None, fill: float | None = None, target=None, **options) -> Continuity:
    """Slide an occluding patch from left to right across ``image`` and follow ``method``'s explanations.

    Montavon ("Gradient-based vs. propagation-based explanations: an axiomatic comparison", in
    Explainable AI, LNAI 11700, 2019, section 13.4) embeds the explanations of such a sequence
    by PCA: gradient x input follows an erratic trajectory, LRP a smooth one. The class explained
    is fixed for the whole path (the unoccluded image's top-1 unless ``target`` is given).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (left exactly as it was).
    image : torch.Tensor
        C x H x W image.
    method : str
        A registered method name.
    patch : int or None, default None
        The square patch's side (default a quarter of the image's height).
    positions : int, default 24
        Patch positions, evenly spaced from the left edge to the right edge.
    row : int or None, default None
        The patch's top edge (default: vertically centred).
    fill : float or None, default None
        The patch's value (default: the image's mean).
    target : None or int, optional
        The class explained.
    **options
        The method's options.

    Returns
    -------
    Continuity
        The maps, the relative steps, the jump ratio and the PCA trajectory.

    Raises
    ------
    ValueError
        If ``image`` is not C x H x W, or the patch does not fit.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise ValueError(f"image must be one C x H x W tensor, got {getattr(image, 'shape', type(image).__name__)}")
    _, h, w = image.shape
    size = int(patch) if patch is not None else max(1, h // 4)
    top = int(row) if row is not None else (h - size) // 2
    if not (0 < size <= min(h, w) and 0 <= top <= h - size) or positions < 2:
        raise ValueError(f"the patch ({size} px at row {top}) must fit the {h} x {w} image and positions must be >= 2")
    lefts = np.linspace(0, w - size, positions).round().astype(int).tolist()
    value = float(image.mean()) if fill is None else float(fill)
    batch = image[None].repeat(len(lefts), 1, 1, 1)
    for i, left in enumerate(lefts):
        batch[i, :, top:top + size, left:left + size] = value
    t, _ = resolve_targets(model, prepare_inputs(model, image[None]), target)
    maps = attribute(model, batch, method, target=int(t[0]), **options).maps.detach().double().cpu()
    flat = maps.flatten(1)
    scale = float(flat.norm(dim=1).mean()) or 1.0
    steps = ((flat[1:] - flat[:-1]).norm(dim=1) / scale).numpy()
    centred = flat - flat.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    embedding = (centred @ v[:2].T).numpy()
    explained = (s[:2] ** 2 / (s ** 2).sum().clamp_min(1e-300)).numpy()
    median = float(np.median(steps))
    jump = float(steps.max() / median) if median > 0 else float("inf") if steps.max() > 0 else 1.0
    return Continuity(method, lefts, maps.float(), steps, jump, embedding, explained)
