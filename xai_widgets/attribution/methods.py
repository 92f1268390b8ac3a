"""Attribution maps for image classifiers: the gradient family (via Captum), LRP, perturbations.

One entry point, :func:`attribute`, returns an :class:`Attribution` (signed N x H x W pixel
maps plus the resolved targets and, for methods with a parameter worth scrubbing, a
precomputed :class:`MapSeries`). Each named method is one :class:`Method` record in
:data:`METHODS` (its title, citation, options, map series and compute function), from which
:func:`attribute` and the widgets take everything. The gradient family is also available as
plain functions returning input-shaped (N x C x H x W) signed attributions on the model's
device::

    maps = attribute(model, x, "integrated_gradients", steps=64).maps   # N x H x W
    attr, delta = integrated_gradients(model, x, target=3)              # N x C x H x W, N

Methods (``METHOD_NAMES``) and their papers:

========================== ===================================================== ===========
name                       what it computes                                       contrast
========================== ===================================================== ===========
``gradient``               signed gradient dS/dx (Simonyan et al. 2014)           yes
``grad_x_input``           x * dS/dx (Shrikumar et al. 2016; Kindermans 2016)      yes
``smoothgrad``             mean gradient under Gaussian noise (Smilkov 2017)      yes
``integrated_gradients``   (x - x̄) * path-averaged gradient (Sundararajan 2017)   yes
``grad_cam``               ReLU(sum_k alpha_k A_k) (Selvaraju et al. 2017)        yes
``occlusion``              score drop under a sliding patch (Zeiler & Fergus 2014) yes
``lrp``                    layer-wise relevance (Bach 2015; Montavon 2019), zennit yes
``rise``                   probability-weighted random masks (Petsiuk 2018)        yes
``lime``                   local linear surrogate on superpixels (Ribeiro 2016)   yes
``patternnet``             backward pass with learned patterns (Kindermans 2018)  yes
``patternattribution``     backward pass with weights x patterns (Kindermans 2018) yes
``meaningful_perturbation`` 1 - learned deletion mask (Fong & Vedaldi 2017)       yes*
``extremal_perturbation``  extremal masks at fixed areas (Fong et al. 2019)       yes*
========================== ===================================================== ===========

(*) delegated to :mod:`xai_widgets.attribution.perturbation`, which receives ``contrast`` as given.
A Captum ``Attribution`` object passed as ``method`` does not support ``contrast`` (it is
built on the user's model, not on our contrastive score); a clear error says so.

Conventions
-----------
- ``S`` is the pre-softmax logit of the target class. With ``contrast`` (class A versus
  class B) the model is wrapped in a module whose single output is ``logit[A] - logit[B]``
  per image, and that output is explained; for the methods that are linear in the score
  (gradient, grad x input, IG, smoothgrad, occlusion) this equals method(A) - method(B).
- Pixel maps (``Attribution.maps``, :func:`pixel_map`) are the **sum over input channels**
  of the N x C x H x W attribution, at input resolution, signed. For occlusion every
  channel of a pixel carries the window's score drop, so its pixel map is C times the mean
  score drop; for Grad-CAM (one channel) the sum is the map itself.
- Hygiene: every model use runs under ``capture.preserved_model(model, eval_mode=True)``; Captum
  and zennit hooks are removed (also when the model raises); requires_grad flags,
  parameters, buffers and training flags are untouched; no ``.grad`` is left; the user's
  input tensor is never modified (we differentiate with respect to a private copy).
- Captum is imported lazily (it takes seconds to import), zennit only for ``lrp``.
"""
from __future__ import annotations

import difflib
import inspect
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import lime, lrp, patterns, perturbation, rise
from ..core.blur import gaussian_blur
from ..core.capture import call_hooks, unknown_layer_error
from ..core.layouts import NC, Layout, Tracker, check_layouts
from ..core.outputs import Logits, with_output
from ..core.rng import seeded
from ..core.targets import (ContrastiveScore, explanation_pass, grad_leaf, model_logits, prepare_inputs,
                            resolve_targets, targets_from_logits)
from ..core.tasks import check, report

__all__ = [
    "METHODS", "METHOD_NAMES", "CONTRASTIVE_METHODS", "Method", "SeriesAxis", "MapSeries", "Attribution", "resolve_targets", "attribute",
    "gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion",
    "pixel_map", "ContrastiveScore", "unknown_method_error",
]


DEFAULT_NOISE_LEVELS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
DEFAULT_ALPHA_POSITIONS = 16


@dataclass
class MapSeries:
    """A method's maps over one of its parameters, precomputed so a view can scrub them without the kernel.

    The parameter is e.g. SmoothGrad's noise, Integrated Gradients' alpha or extremal perturbation's area.

    ``name`` is the parameter and ``values`` its values; ``maps`` is N x S x H x W (signed
    pixel maps, one per value), ``index`` the value whose maps equal :attr:`Attribution.maps`.
    ``images`` (N x S x C x H x W) is the image at each value (IG: the interpolated image; EP:
    the perturbed image), ``scores`` (N x S) the model score (target, or target - contrast) there.

    Attributes
    ----------
    name : str
        The parameter the series runs over ("noise", "alpha" or "area").
    values : list of float
        The S values of the parameter.
    maps : torch.Tensor
        N x S x H x W signed pixel maps, one per value.
    index : int
        Position in ``values`` whose maps equal :attr:`Attribution.maps`.
    images : torch.Tensor or None
        N x S x C x H x W image at each value, or None (default) when the method has none.
    scores : torch.Tensor or None
        N x S model score (target, or target - contrast) at each value, or None (default).
    """

    name: str
    values: list
    maps: torch.Tensor
    index: int
    images: torch.Tensor | None = None
    scores: torch.Tensor | None = None


@dataclass
class Attribution:
    """What every method returns through :func:`attribute`: signed N x H x W pixel maps and how they were made.

    How they were made: the classes explained, the map series when asked for, method extras in ``info``.

    Attributes
    ----------
    method : str
        The method's name (a key of :data:`METHODS`, or the class name of a Captum object).
    maps : torch.Tensor
        N x H x W signed pixel maps (sum over input channels) at input resolution.
    target : torch.Tensor
        N class indices (long) whose score was explained.
    contrast : torch.Tensor or None
        N class indices (long) of the contrast class B, or None without a contrast.
    series : MapSeries or None
        The precomputed map series (``attribute(..., series=True)``), or None (default).
    info : dict
        Method extras, e.g. ``attr`` (N x C x H x W attribution), ``delta`` (IG), ``layer`` (Grad-CAM);
        empty by default.
    """

    method: str
    maps: torch.Tensor
    target: torch.Tensor
    contrast: torch.Tensor | None
    series: MapSeries | None = None
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SeriesAxis:
    """The parameter a method's :class:`MapSeries` runs over, as views label it.

    Attributes
    ----------
    parameter : str
        The parameter's name, equal to :attr:`MapSeries.name` (e.g. "noise", "alpha", "area").
    symbol : str
        How a view writes it: "σ", "α", "area a".
    unit : str
        Written after the value, e.g. "× range"; empty (default) for none.
    """

    parameter: str  # MapSeries.name
    symbol: str  # how a view writes it: "σ", "α", "area a"
    unit: str = ""  # after the value, e.g. "× range"


@dataclass(frozen=True)
class Method:
    """One named attribution method: everything :func:`attribute` and the widgets need.

    ``compute(model, x, target, contrast, logits, options, series, progress, cancel)`` returns
    an :class:`Attribution`; ``x`` is the prepared batch, ``target`` / ``contrast`` resolved
    class tensors, ``logits`` the model's output for ``x``, ``options`` the user's keyword
    options (already checked), ``series`` whether to precompute the :class:`MapSeries`.
    ``options`` names the options it accepts, or is the function whose keyword parameters
    they are. ``series`` is the axis of its map series, if it has one.

    Attributes
    ----------
    name : str
        The method's name, its key in :data:`METHODS` (e.g. "integrated_gradients").
    title : str
        Human-readable title for views and charts (e.g. "Integrated Gradients").
    citation : str
        The paper(s) it comes from, as authors + year.
    compute : callable
        ``compute(model, x, target, contrast, logits, options, series, progress, cancel) -> Attribution``.
    options : tuple of str or callable
        The option names it accepts, or a function whose keyword parameters (other than model, inputs,
        target, contrast, progress and cancel) are the options.
    series : SeriesAxis or None
        The axis of its map series, or None (default) when it has none.
    """

    name: str
    title: str
    citation: str
    compute: Callable[..., Attribution]
    options: tuple[str, ...] | Callable
    series: SeriesAxis | None = None


# --------------------------------------------------------------------------------------
# Captum plumbing
# --------------------------------------------------------------------------------------

def _fargs(t: torch.Tensor, c: torch.Tensor | None, sel=slice(None)) -> tuple:
    return (t[sel],) if c is None else (t[sel], c[sel])


def _captum():
    try:
        import captum.attr as ca
    except ImportError as err:  # pragma: no cover - captum is a hard dependency
        raise ImportError("the gradient methods need Captum: pip install captum") from err
    return ca


def _chunks(n: int, size: int):
    size = max(1, int(size))
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an int or a pair of ints (height, width), got {value!r}") from err
    if a < 1 or b < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return a, b


# --------------------------------------------------------------------------------------
# the gradient family (Captum)
# --------------------------------------------------------------------------------------

def gradient(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None) -> torch.Tensor:
    """Signed input gradient dS/dx, N x C x H x W (Simonyan, Vedaldi & Zisserman 2014).

    Captum ``Saliency(abs=False)``: the raw signed gradient, not Simonyan's absolute value
    (take ``.abs()`` or the channel max of it for the paper's display). It answers "where
    would a change of the input change the score most" (the book's sensitivity), not
    "what contributed"; for a linear model it is the weight vector whatever the input.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (the user's tensor is never modified).
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose score S is explained: None (default) is each image's top-1 prediction,
        an int is used for all images, a sequence / 1-D tensor gives one class per image (see
        :func:`resolve_targets`).
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``: the score becomes
        ``logit[target] - logit[contrast]`` per image. None (default) explains the target logit alone.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 signed gradient on the model's device.
    """
    x = prepare_inputs(model, inputs, image=False)
    t, c = resolve_targets(model, x, target, contrast)
    return _gradient(model, x, t, c)


def _gradient(model, x, t, c, times_input: bool = False):
    """Captum ``Saliency(abs=False)``, or ``InputXGradient`` with ``times_input``."""
    ca = _captum()
    score = ContrastiveScore(model)
    explainer, kw = (ca.InputXGradient(score), {}) if times_input else (ca.Saliency(score), {"abs": False})
    with explanation_pass(model):
        out = explainer.attribute(grad_leaf(x), target=0, additional_forward_args=_fargs(t, c), **kw)
    return out.detach().float()


def grad_x_input(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None) -> torch.Tensor:
    """Gradient x input, x * dS/dx, N x C x H x W (Shrikumar et al. 2016; Kindermans et al. 2016).

    Captum ``InputXGradient``. For a ReLU network without biases it sums to the score
    (and equals LRP-0 / epsilon-LRP with epsilon -> 0, Montavon et al. 2019, Prop. 3).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (the user's tensor is never modified).
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose score S is explained: None (default) is each image's top-1 prediction,
        an int is used for all images, a sequence / 1-D tensor gives one class per image (see
        :func:`resolve_targets`).
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``: the score becomes
        ``logit[target] - logit[contrast]`` per image. None (default) explains the target logit alone.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 signed attribution (input times gradient) on the model's device.
    """
    x = prepare_inputs(model, inputs, image=False)
    t, c = resolve_targets(model, x, target, contrast)
    return _gradient(model, x, t, c, times_input=True)


def smoothgrad(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, noise: float = 0.15,
               samples: int = 25, seed: int = 0, batch_size: int | None = None,
               progress=None, cancel=None) -> torch.Tensor:
    """SmoothGrad: the gradient averaged over noisy copies of the input (Smilkov et al. 2017).

    Captum ``NoiseTunnel(Saliency, nt_type="smoothgrad")`` with ``nt_samples=samples``. The
    noise standard deviation is ``noise x (max - min)`` of *each* input image (the paper's
    "noise level" as a fraction of the input range, 10-20 % recommended; Captum's own
    ``stdevs`` is absolute, so we convert per image). Signed (no abs / square).
    ``seed`` makes the noise reproducible without touching the global RNG state (forked);
    image i uses seed ``seed + i``. ``batch_size`` = noisy samples per forward (default all).
    Progress is reported between images.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (the user's tensor is never modified).
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose score S is explained: None (default) is each image's top-1 prediction,
        an int is used for all images, a sequence / 1-D tensor gives one class per image (see
        :func:`resolve_targets`).
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``: the score becomes
        ``logit[target] - logit[contrast]`` per image. None (default) explains the target logit alone.
    noise : float, optional
        Noise standard deviation as a fraction of each image's value range (max - min); finite and >= 0.
        Default 0.15.
    samples : int, optional
        Number of noisy copies averaged per image (>= 1). Default 25.
    seed : int, optional
        Base seed; image i uses ``seed + i``. Default 0.
    batch_size : int, optional
        Noisy samples per forward pass; None (default) runs all samples in one forward.
    progress : callable, optional
        ``progress(done, total)``, called as the work advances; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        When set (or when the callable returns True) the computation stops with ``Cancelled``;
        None (default) never cancels.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 signed mean gradient on the model's device.

    Raises
    ------
    ValueError
        If ``samples`` < 1 or ``noise`` is negative or not finite.
    """
    x = prepare_inputs(model, inputs, image=False)
    t, c = resolve_targets(model, x, target, contrast)
    return _smoothgrad(model, x, t, c, (float(noise),), samples, seed, batch_size, progress, cancel)[:, 0]


def _smoothgrad(model, x, t, c, levels, samples, seed, batch_size, progress, cancel):
    """N x S x (C x H x W): one smoothgrad map per noise level; the same noise draws (scaled)."""
    ca = _captum()
    samples = int(samples)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    for level in levels:
        if not (level >= 0 and math.isfinite(level)):
            raise ValueError(f"noise must be a finite fraction >= 0 of the input range, got {level}")
    n = x.shape[0]
    out = torch.empty((n, len(levels)) + tuple(x.shape[1:]), device=x.device, dtype=torch.float32)
    total = n * len(levels)
    done = 0
    with explanation_pass(model):
        nt = ca.NoiseTunnel(ca.Saliency(ContrastiveScore(model)))
        for i in range(n):
            xi = x[i:i + 1]
            span = float(xi.max() - xi.min())
            for s, level in enumerate(levels):
                check(cancel)
                with seeded(int(seed) + i, x.device):
                    out[i, s] = nt.attribute(
                        grad_leaf(xi), nt_type="smoothgrad", nt_samples=samples,
                        nt_samples_batch_size=batch_size, stdevs=float(level) * span,
                        target=0, abs=False, additional_forward_args=_fargs(t, c, slice(i, i + 1)),
                    ).detach()[0].float()
                done += 1
                report(progress, done, total)
    return out


def _baseline(x: torch.Tensor, baseline) -> torch.Tensor:
    """x̄ for IG: None/"zero" = zeros, a number = constant, "blur" = Gaussian blur (σ = 5 % of
    the image size), "mean" = each image's per-channel mean, or a tensor broadcastable to x."""
    if baseline is None or (isinstance(baseline, str) and baseline in ("zero", "zeros", "black")):
        return torch.zeros_like(x)
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if isinstance(baseline, str):
        if baseline == "mean":
            if x.dim() < 3:
                return x.mean(dim=tuple(range(1, x.dim())), keepdim=True).expand_as(x).clone()
            return x.mean(dim=tuple(range(2, x.dim())), keepdim=True).expand_as(x).clone()
        if baseline == "blur":
            if x.dim() != 4:
                raise ValueError("baseline='blur' needs N x C x H x W images")
            return gaussian_blur(x, max(1.0, 0.05 * max(x.shape[-2:])))
        raise ValueError(
            f"unknown baseline {baseline!r}: use None / 'zero', 'mean', 'blur', a number, or a tensor"
        )
    if isinstance(baseline, torch.Tensor):
        b = baseline.detach().to(device=x.device, dtype=x.dtype)
        try:
            return torch.broadcast_to(b, x.shape).clone()
        except RuntimeError as err:
            raise ValueError(
                f"baseline of shape {tuple(b.shape)} does not broadcast to the inputs {tuple(x.shape)}"
            ) from err
    raise TypeError(f"baseline must be None, a string, a number or a tensor, got {type(baseline).__name__}")


_IG_METHODS = ("gausslegendre", "riemann_right", "riemann_left", "riemann_middle", "riemann_trapezoid")


def integrated_gradients(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, baseline=None,
                         steps: int = 50, method: str = "gausslegendre", internal_batch_size: int | None = None,
                         progress=None, cancel=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated Gradients, (x - x̄) * integral_0^1 dS(x̄ + α(x - x̄))/dx dα (Sundararajan et al. 2017).

    Captum ``IntegratedGradients(...).attribute(n_steps=steps, method=method,
    return_convergence_delta=True)``. ``baseline`` x̄: None / "zero" (default, zeros),
    "mean", "blur", a number, or a tensor broadcastable to the inputs. ``method``:
    Captum's quadrature ("gausslegendre" default, or "riemann_right|left|middle|trapezoid").
    Returns ``(attributions N x C x H x W, delta N)`` where delta is Captum's convergence
    delta, ``sum(attr) - (S(x) - S(x̄))`` per image (completeness: it shrinks as ``steps``
    grows). Images are processed one at a time (progress between images);
    ``internal_batch_size`` bounds the path points per forward (memory).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (the user's tensor is never modified).
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose score S is explained: None (default) is each image's top-1 prediction,
        an int is used for all images, a sequence / 1-D tensor gives one class per image (see
        :func:`resolve_targets`).
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``: the score becomes
        ``logit[target] - logit[contrast]`` per image. None (default) explains the target logit alone.
    baseline : None, str, float or torch.Tensor, optional
        The baseline image x̄: None / "zero" (default, zeros), "mean" (each image's per-channel mean),
        "blur" (Gaussian blur with σ = 5 % of the image size), a number (constant image), or a tensor
        broadcastable to the inputs.
    steps : int, optional
        Number of integration steps along the path (positive int). Default 50.
    method : str, optional
        Captum's quadrature: "gausslegendre" (default), "riemann_right", "riemann_left",
        "riemann_middle" or "riemann_trapezoid".
    internal_batch_size : int, optional
        Path points per forward pass; None (default) evaluates all ``steps`` points at once.
    progress : callable, optional
        ``progress(done, total)``, called as the work advances; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        When set (or when the callable returns True) the computation stops with ``Cancelled``;
        None (default) never cancels.

    Returns
    -------
    attributions : torch.Tensor
        N x C x H x W float32 signed attributions on the model's device.
    delta : torch.Tensor
        N float32 convergence deltas, ``sum(attr) - (S(x) - S(x̄))`` per image.

    Raises
    ------
    ValueError
        If ``steps`` is not a positive int, ``method`` is unknown, or ``baseline`` is unknown or
        does not broadcast to the inputs.
    TypeError
        If ``baseline`` is of an unsupported type.
    """
    x = prepare_inputs(model, inputs, image=False)
    t, c = resolve_targets(model, x, target, contrast)
    return _integrated_gradients(model, x, t, c, baseline, steps, method, internal_batch_size, progress, cancel)


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    return steps


def _integrated_gradients(model, x, t, c, baseline, steps, method, internal_batch_size, progress, cancel):
    ca = _captum()
    steps = _check_steps(steps)
    if method not in _IG_METHODS:
        raise ValueError(f"unknown IG method {method!r}; choose one of {', '.join(_IG_METHODS)}")
    base = _baseline(x, baseline)
    n = x.shape[0]
    attrs, deltas = [], []
    with explanation_pass(model):
        ig = ca.IntegratedGradients(ContrastiveScore(model))
        for i in range(n):
            check(cancel)
            a, d = ig.attribute(
                grad_leaf(x[i:i + 1]), baselines=base[i:i + 1], target=0,
                additional_forward_args=_fargs(t, c, slice(i, i + 1)), n_steps=steps, method=method,
                internal_batch_size=internal_batch_size, return_convergence_delta=True,
            )
            attrs.append(a.detach().float())
            deltas.append(d.detach().float().reshape(-1))
            report(progress, i + 1, n)
    return torch.cat(attrs), torch.cat(deltas)


def _ig_path(model, x, t, c, baseline, steps, positions, internal_batch_size, progress, cancel):
    """IG along the path from one batch of path gradients (right Riemann sum), with the
    accumulated attribution at S positions (the map series).

    Scheme: with α_k = k / steps (k = 1..steps) and g_k = dS/dx at x̄ + α_k (x - x̄),
    IG(α) = (x - x̄) * (1/steps) * sum_{k : α_k <= α} g_k. At the S positions
    α_j = k_j / steps, k_j = round(j * steps / S) (j = 1..S, so the last is α = 1), the maps
    are these partial sums (IG(1) is the full map) and the scores S(x̄ + α_j (x - x̄)) come
    from the same forward passes. Completeness along the path: sum IG(α) ≈ S(x̄ + α(x-x̄)) - S(x̄).
    """
    steps = _check_steps(steps)
    positions = int(positions)
    if positions < 1:
        raise ValueError(f"positions must be >= 1, got {positions}")
    s_count = min(positions, steps)
    ks = sorted({max(1, int(round(j * steps / s_count))) for j in range(1, s_count + 1)})
    base = _baseline(x, baseline)
    n = x.shape[0]
    fwd = ContrastiveScore(model)
    chunk = int(internal_batch_size) if internal_batch_size else steps
    alphas = torch.arange(1, steps + 1, device=x.device, dtype=x.dtype) / steps
    full = torch.empty((n,) + tuple(x.shape[1:]), device=x.device, dtype=torch.float32)
    maps = torch.empty((n, len(ks)) + tuple(x.shape[1:]), device=x.device, dtype=torch.float32)
    scores = torch.empty((n, len(ks)), device=x.device, dtype=torch.float32)
    base_scores = torch.empty(n, device=x.device, dtype=torch.float32)
    view = (-1,) + (1,) * (x.dim() - 1)
    k_index = torch.tensor([k - 1 for k in ks], device=x.device)
    with explanation_pass(model):
        for i in range(n):
            check(cancel)
            xi, bi = x[i:i + 1], base[i:i + 1]
            grads, outs = [], []
            for sl in _chunks(steps, chunk):
                check(cancel)
                a = alphas[sl].view(view)
                pts = (bi + a * (xi - bi)).detach().requires_grad_(True)
                m = pts.shape[0]
                args = tuple(v[i:i + 1].expand(m) for v in _fargs(t, c))
                s = fwd(pts, *args)
                (g,) = torch.autograd.grad(s.sum(), pts)
                grads.append(g.detach())
                outs.append(s.detach().reshape(-1))
            g = torch.cat(grads)
            cum = torch.cumsum(g, 0) / steps * (xi - bi)
            maps[i] = cum[k_index].float()
            full[i] = cum[-1].float()
            scores[i] = torch.cat(outs)[k_index].float()
            with torch.no_grad():
                base_scores[i] = fwd(bi, *(v[i:i + 1] for v in _fargs(t, c))).reshape(()).float()
            report(progress, i + 1, n)
    values = [k / steps for k in ks]
    a_t = torch.tensor(values, device=x.device, dtype=x.dtype).view((1, -1) + (1,) * (x.dim() - 1))
    images = (base[:, None] + a_t * (x - base)[:, None]).float()
    delta = full.flatten(1).sum(1) - (scores[:, -1] - base_scores)
    return full, delta, values, maps, images, scores


def _resolve_layer(model: nn.Module, layer) -> tuple[str, nn.Module]:
    if isinstance(model, Logits):  # layer names are the user's model's
        model = model.model
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, module
        raise ValueError("layer is a module that is not part of the model")
    modules = dict(model.named_modules())
    if layer is None:
        convs = [name for name, m in modules.items() if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("the model has no nn.Conv2d layer: pass layer='name' (a layer with "
                             "N x C x h x w output) to grad_cam")
        return convs[-1], modules[convs[-1]]
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a dotted layer name, an nn.Module or None, got {type(layer).__name__}")
    if layer not in modules or not layer:
        raise unknown_layer_error([layer], sorted(n for n in modules if n))
    return layer, modules[layer]


def grad_cam(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, layer=None,
             relu: bool = True, layouts: dict | None = None) -> torch.Tensor:
    """Grad-CAM: ReLU(sum_k α_k A_k), α_k = spatial mean of dS/dA_k (Selvaraju et al. 2017, eqs. 1-2).

    ``A`` is the output of ``layer`` (a dotted module name or the module) as N x C x h x w
    maps, whatever its layout (:mod:`xai_widgets.core.layouts`): channels-last maps are permuted
    and a token layer is reshaped to its patch grid with its prefix tokens left out, as
    Gildenblat's pytorch-grad-cam does for ViT and Swin with a ``reshape_transform``.
    Default layer: the last ``nn.Conv2d`` of a CNN that the score's gradient reaches (a
    freshly initialised timm ResNet zero-initialises its blocks' last scale); for a model with
    channels-last or token feature maps (ConvNeXt, Swin, ViT), the last such layer (in
    execution order) that the gradient reaches (after a ViT's last attention, only the class
    token does). A layer the gradient does not reach is refused with an error.
    The map is upsampled bilinearly to the input size. Returns N x 1 x H x W;
    ``relu=False`` keeps the signed map (useful for contrastive explanations).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (the user's tensor is never modified).
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose score S is explained: None (default) is each image's top-1 prediction,
        an int is used for all images, a sequence / 1-D tensor gives one class per image (see
        :func:`resolve_targets`).
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``: the score becomes
        ``logit[target] - logit[contrast]`` per image. None (default) explains the target logit alone.
    layer : str, torch.nn.Module or None, optional
        The layer whose output is A (the feature maps A_k, k the channel): a dotted module name or the
        module itself. None (default) picks the layer described above.
    relu : bool, optional
        Apply the ReLU of the paper (default True); False keeps the signed map.
    layouts : dict, optional
        ``{layer name: layout}`` for maps whose layout is not detected (see
        :mod:`xai_widgets.core.layouts`); None (default) detects every layout.

    Returns
    -------
    torch.Tensor
        N x 1 x H x W float32 map at input resolution on the model's device.

    Raises
    ------
    ValueError
        If the layer is unknown, has no feature maps, did not run, or the score's gradient does not
        reach it (or no such layer exists when ``layer`` is None).
    TypeError
        If ``layer`` is neither a name, a module nor None.
    """
    x = prepare_inputs(model, inputs)
    t, c = resolve_targets(model, x, target, contrast)
    return _grad_cam(model, x, t, c, layer, relu, layouts)[0]


def _grad_cam(model, x, t, c, layer, relu, layouts=None):
    """The upsampled map and the resolved layer name (see :func:`grad_cam`)."""
    base = model.model if isinstance(model, Logits) else model
    wanted = _resolve_layer(model, layer)[0] if layer is not None else None
    tracker = Tracker(base, x, check_layouts(layouts))
    kept: dict[str, tuple[torch.Tensor, Layout]] = {}

    def keep(name, _module, output):
        layout = tracker.layouts.get(name)
        if wanted is not None and name == wanted and not isinstance(layout, Layout):
            raise ValueError(f"grad_cam needs a layer with feature maps; {name!r} has output "
                             f"{getattr(output, 'shape', type(output).__name__)} of layout {layout} "
                             "(pass layouts={layer: ...} if it is a map whose layout is not detected)")
        if (wanted is None or name == wanted) and isinstance(layout, Layout) and layout is not NC:
            kept[name] = (output, layout)
            return output.clone()  # later in-place ops (ReLU(inplace=True)) change the clone, not A

    with explanation_pass(model), call_hooks(base, keep, tracker):
        score = ContrastiveScore(model)(grad_leaf(x), *_fargs(t, c)).sum()
        names = list(kept)
        grads = torch.autograd.grad(score, [kept[n][0] for n in names], allow_unused=True) if names else ()
    grads = dict(zip(names, grads))
    name = wanted or _default_cam_layer(model, kept, grads)
    if name not in kept:
        raise ValueError(f"layer {name!r} did not run in the forward pass")
    output, layout = kept[name]
    if not _reaches(grads[name], layout):
        raise ValueError(f"grad_cam at {name!r}: the score's gradient is zero at every cell there, so nothing "
                         "after it reaches the score (a zero-initialised scale, or a ViT after its last attention, "
                         "where only the class token reaches the head); pick an earlier layer, e.g. the first "
                         "norm of a ViT's last block")
    acts, g = layout.maps(output.detach()).float(), layout.maps(grads[name]).float()
    cam = (g.mean((2, 3), keepdim=True) * acts).sum(1, keepdim=True)
    return _upsample(F.relu(cam) if relu else cam, x.shape[-2:]), name


def _reaches(grad: torch.Tensor | None, layout: Layout) -> bool:
    """Whether the score's gradient is nonzero somewhere on the layer's maps (prefix tokens aside)."""
    return grad is not None and bool(layout.maps(grad).any())


def _default_cam_layer(model, kept: dict, grads: dict) -> str:
    """The last nn.Conv2d of a CNN that the gradient reaches; for a model with channels-last
    or token maps, the last such map the gradient reaches."""
    base = model.model if isinstance(model, Logits) else model
    modules = dict(base.named_modules())
    cnn = all(layout.name == "NCHW" for _, layout in kept.values())
    candidates = [n for n in kept if not cnn or isinstance(modules.get(n), nn.Conv2d)]
    if cnn and not candidates:
        _resolve_layer(model, None)  # raises: no nn.Conv2d
    reached = [n for n in candidates if _reaches(grads[n], kept[n][1])
               and tuple(kept[n][1].maps(kept[n][0]).shape[-2:]) != (1, 1)]
    if not reached:
        raise ValueError("grad_cam found no feature map that the score's gradient reaches; pass layer=")
    return reached[-1]


def _upsample(attr: torch.Tensor, size) -> torch.Tensor:
    ca = _captum()
    if tuple(attr.shape[-2:]) == tuple(size):
        return attr.float()
    return ca.LayerAttribution.interpolate(attr.float(), tuple(size), interpolate_mode="bilinear")


def occlusion(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, window=16, stride=8,
              fill: float = 0.0, batch_size: int = 16, progress=None, cancel=None) -> torch.Tensor:
    """Occlusion: the score drop S(x) - S(x with a patch set to ``fill``) (Zeiler & Fergus 2014).

    Captum ``Occlusion`` with a ``window`` (int or (h, w)) sliding by ``stride`` over the
    spatial dims, covering all channels; every input element gets the mean drop of the
    windows covering it (N x C x H x W, all channels equal). ``batch_size`` occluded images
    per forward (Captum's ``perturbations_per_eval``). Images one at a time, progress between.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (the user's tensor is never modified).
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose score S is explained: None (default) is each image's top-1 prediction,
        an int is used for all images, a sequence / 1-D tensor gives one class per image (see
        :func:`resolve_targets`).
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``: the score becomes
        ``logit[target] - logit[contrast]`` per image. None (default) explains the target logit alone.
    window : int or tuple of (int, int), optional
        Patch size in pixels, square or (height, width); at most the image size. Default 16.
    stride : int or tuple of (int, int), optional
        Step of the sliding patch in pixels, int or (height, width). Default 8.
    fill : float, optional
        The value the occluded pixels are set to. Default 0.0.
    batch_size : int, optional
        Occluded images per forward pass. Default 16.
    progress : callable, optional
        ``progress(done, total)``, called as the work advances; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        When set (or when the callable returns True) the computation stops with ``Cancelled``;
        None (default) never cancels.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 mean score drop (all channels equal) on the model's device.

    Raises
    ------
    ValueError
        If ``window`` or ``stride`` is not positive, or the window is larger than the image.
    TypeError
        If ``window`` or ``stride`` is not an int or a pair of ints.
    """
    x = prepare_inputs(model, inputs)
    t, c = resolve_targets(model, x, target, contrast)
    return _occlusion(model, x, t, c, window, stride, fill, batch_size, progress, cancel)


def _occlusion(model, x, t, c, window, stride, fill, batch_size, progress, cancel):
    ca = _captum()
    wh, ww = _pair(window, "window")
    sh, sw = _pair(stride, "stride")
    ch, h, w = x.shape[1:]
    if wh > h or ww > w:
        raise ValueError(f"window {wh}x{ww} is larger than the image {h}x{w}")
    n = x.shape[0]
    out = []
    with explanation_pass(model):
        occ = ca.Occlusion(ContrastiveScore(model))
        for i in range(n):
            check(cancel)
            a = occ.attribute(
                x[i:i + 1].clone(), sliding_window_shapes=(ch, wh, ww), strides=(ch, sh, sw),
                baselines=float(fill), target=0, additional_forward_args=_fargs(t, c, slice(i, i + 1)),
                perturbations_per_eval=max(1, int(batch_size)),
            )
            out.append(a.detach().float())
            report(progress, i + 1, n)
    return torch.cat(out)


def pixel_map(attr: torch.Tensor) -> torch.Tensor:
    """N x C x H x W attributions -> N x H x W pixel maps: the **sum over input channels**.

    Parameters
    ----------
    attr : torch.Tensor
        N x C x H x W attribution.

    Returns
    -------
    torch.Tensor
        N x H x W pixel maps (same dtype and device as ``attr``).

    Raises
    ------
    ValueError
        If ``attr`` is not a 4-D tensor.
    """
    if not isinstance(attr, torch.Tensor) or attr.dim() != 4:
        raise ValueError(
            f"pixel_map needs N x C x H x W attributions, got "
            f"{tuple(attr.shape) if isinstance(attr, torch.Tensor) else type(attr).__name__}"
        )
    return attr.sum(1)


# --------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------

def _check_options(spec: Method, options: dict) -> None:
    """Refuse options the method does not take, naming those it does."""
    allowed = spec.options
    if callable(allowed):
        allowed = tuple(p for p in inspect.signature(allowed).parameters
                        if p not in ("model", "inputs", "target", "contrast", "progress", "cancel"))
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise TypeError(
            f"{spec.name} got unknown option(s) {', '.join(repr(k) for k in unknown)}; "
            f"it accepts: {', '.join(allowed) if allowed else '(no options)'}"
        )


def unknown_method_error(method) -> ValueError:
    """The error for a method name that is not registered: the close names, and where all are listed.

    Parameters
    ----------
    method : object
        What was passed as the method (its ``str`` is matched against the registered names).

    Returns
    -------
    ValueError
        The error (returned, not raised): up to three close names, then every registered
        method and the Captum alternative.
    """
    close = difflib.get_close_matches(str(method), list(METHODS), n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return ValueError(
        f"unknown attribution method {method!r}{hint}; the methods are: {', '.join(METHODS)}, "
        "or a captum.attr Attribution object built on the model"
    )


def _is_captum_object(method) -> bool:
    ca = sys.modules.get("captum.attr")
    if ca is None:
        return False
    return isinstance(method, ca.Attribution)


def _attribute_captum(method, model: nn.Module, x: torch.Tensor, t, c, options: dict, progress) -> Attribution:
    """:func:`attribute` for a ``captum.attr`` object built on ``model``."""
    info: dict[str, Any] = {}
    if c is not None:
        raise ValueError(
            f"contrast is not supported for a Captum object ({type(method).__name__}): it is built on "
            "the model, not on the contrastive score. Build it on "
            "xw.attribution.ContrastiveScore(model) and pass additional_forward_args=(target, contrast), "
            f"or use a named method ({', '.join(CONTRASTIVE_METHODS)})"
        )
    name = type(method).__name__
    with explanation_pass(model):
        res = method.attribute(grad_leaf(x), target=t.tolist(), **options)
    if isinstance(res, tuple):
        if len(res) == 2 and isinstance(res[1], torch.Tensor) and res[1].dim() <= 1:
            info["delta"] = res[1].detach().float()
        res = res[0]
    if not isinstance(res, torch.Tensor) or res.dim() != 4:
        raise ValueError(f"{name} returned {getattr(res, 'shape', type(res).__name__)}; "
                         "expected N x C x h x w attributions")
    res = _upsample(res.detach(), x.shape[-2:])
    info["attr"] = res
    report(progress, 1, 1)
    return Attribution(name, pixel_map(res), t, c, None, info)


def attribute(model: nn.Module, inputs: torch.Tensor, method, *, target=None, contrast=None, series: bool = False,
              output=None, progress=None, cancel=None, **options) -> Attribution:
    """Explain ``model``'s score for ``inputs`` (N x C x H x W) with ``method``; see the module doc.

    ``method`` is a name from :data:`METHOD_NAMES` or a ``captum.attr`` Attribution object
    built on ``model`` (its ``.attribute(inputs, target=..., **options)`` is called; layer
    attributions such as ``LayerGradCam`` are upsampled bilinearly to the input size; the
    name is the class name). ``options`` are the method's keyword options. ``target`` and
    ``contrast`` follow :func:`resolve_targets`; with ``contrast`` the map explains
    ``logit[target] - logit[contrast]``.

    ``series=True`` precomputes the method's :class:`MapSeries`:

    - ``smoothgrad``: ``"noise"`` over ``noise_levels`` (default 0, .05, .1, .15, .2, .3;
      ``noise`` is added if missing), index = position of ``noise``; the same noise draws
      (scaled) at every level, so level 0 is the plain gradient.
    - ``integrated_gradients``: ``"alpha"`` over ``positions`` (default 16) values in (0, 1];
      images x̄ + α(x - x̄), maps = IG accumulated from 0 to α, scores = S at the image.
      All from ONE batch of ``steps`` path gradients (right Riemann sum, see
      :func:`_ig_path`), so with ``series=True`` the IG map is the right-Riemann estimate
      (``info["scheme"]``) rather than Captum's ``method``; delta is computed the same way.
    - ``extremal_perturbation``: ``"area"`` over the optimised areas, maps = masks,
      images = perturbed images, scores = the model scores; ``index`` = the most common
      best area (per image: ``info["best"]``).

    Other methods ignore ``series``. ``info`` holds method extras: ``delta`` (IG),
    ``layer`` (Grad-CAM), ``best``/``best_area``/``full_score`` (EP), ``mask``/``scores``
    (MP), ``attr`` (the N x C x H x W attribution for the gradient family and LRP).

    ``output``: which part of the model's output holds the logits when it is not a plain
    tensor (an index, a key or a callable; see :mod:`xai_widgets.core.outputs`).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch (the user's tensor is never modified).
    method : str or captum.attr.Attribution
        A name from :data:`METHOD_NAMES`, or a Captum attribution object built on ``model``.
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose score S is explained: None (default) is each image's top-1 prediction,
        an int is used for all images, a sequence / 1-D tensor gives one class per image (see
        :func:`resolve_targets`).
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B of a contrastive explanation, in the same forms as ``target``: the score becomes
        ``logit[target] - logit[contrast]`` per image. None (default) explains the target logit alone.
    series : bool, optional
        Precompute the method's :class:`MapSeries` (default False).
    output : int, str or callable, optional
        Which part of the model's output holds the logits; None (default) for a plain tensor.
    progress : callable, optional
        ``progress(done, total)``, called as the work advances; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        When set (or when the callable returns True) the computation stops with ``Cancelled``;
        None (default) never cancels.
    **options
        The method's keyword options (those of its :class:`Method` record), e.g. ``steps=64``.

    Returns
    -------
    Attribution
        The signed N x H x W maps, the resolved target / contrast classes, the series (or None) and
        the method extras in ``info``.

    Raises
    ------
    ValueError
        If ``method`` is not a known name or Captum object, or ``contrast`` is given with a Captum object.
    TypeError
        If an option is not one the method accepts.
    """
    if isinstance(method, str):
        if method not in METHODS:
            raise unknown_method_error(method)
    elif not _is_captum_object(method):
        raise unknown_method_error(method)

    model = with_output(model, output)
    x = prepare_inputs(model, inputs)
    out = model_logits(model, x)
    t, c = targets_from_logits(out, target, contrast)
    if not isinstance(method, str):
        return _attribute_captum(method, model, x, t, c, options, progress)
    spec = METHODS[method]
    _check_options(spec, options)
    return spec.compute(model, x, t, c, out, options, series, progress, cancel)


# --------------------------------------------------------------------------------------
# the registry: one record per method
# --------------------------------------------------------------------------------------

def _from_attr(name: str, attr: torch.Tensor, t, c, series: MapSeries | None = None, **info) -> Attribution:
    """The record of a method with an input-shaped attribution: its pixel map, and ``attr`` in info."""
    return Attribution(name, pixel_map(attr), t, c, series, {"attr": attr, **info})


def _compute_gradient(model, x, t, c, logits, options, series, progress, cancel):
    check(cancel)
    attr = _gradient(model, x, t, c)
    report(progress, 1, 1)
    return _from_attr("gradient", attr, t, c)


def _compute_grad_x_input(model, x, t, c, logits, options, series, progress, cancel):
    check(cancel)
    attr = _gradient(model, x, t, c, times_input=True)
    report(progress, 1, 1)
    return _from_attr("grad_x_input", attr, t, c)


def _compute_smoothgrad(model, x, t, c, logits, options, series, progress, cancel):
    noise = float(options.get("noise", 0.15))
    levels = [noise]
    if series:
        levels = sorted({float(v) for v in options.get("noise_levels", DEFAULT_NOISE_LEVELS)} | {noise})
    maps = _smoothgrad(model, x, t, c, tuple(levels), options.get("samples", 25), options.get("seed", 0),
                       options.get("batch_size"), progress, cancel)
    index = levels.index(noise)
    ms = MapSeries("noise", levels, maps.sum(2), index) if series else None
    return _from_attr("smoothgrad", maps[:, index], t, c, ms, noise=noise)


def _compute_integrated_gradients(model, x, t, c, logits, options, series, progress, cancel):
    steps = options.get("steps", 50)
    ms = None
    if series:
        attr, delta, values, maps, images, scores = _ig_path(
            model, x, t, c, options.get("baseline"), steps, options.get("positions", DEFAULT_ALPHA_POSITIONS),
            options.get("internal_batch_size"), progress, cancel)
        ms = MapSeries("alpha", values, maps.sum(2), len(values) - 1, images, scores)
        scheme = "riemann_right"
    else:
        scheme = options.get("method", "gausslegendre")
        attr, delta = _integrated_gradients(model, x, t, c, options.get("baseline"), steps, scheme,
                                            options.get("internal_batch_size"), progress, cancel)
    return _from_attr("integrated_gradients", attr, t, c, ms, scheme=scheme, delta=delta, steps=steps)


def _compute_grad_cam(model, x, t, c, logits, options, series, progress, cancel):
    check(cancel)
    attr, layer = _grad_cam(model, x, t, c, options.get("layer"), options.get("relu", True), options.get("layouts"))
    report(progress, 1, 1)
    return _from_attr("grad_cam", attr, t, c, layer=layer)


def _compute_occlusion(model, x, t, c, logits, options, series, progress, cancel):
    attr = _occlusion(model, x, t, c, options.get("window", 16), options.get("stride", 8),
                      options.get("fill", 0.0), options.get("batch_size", 16), progress, cancel)
    return _from_attr("occlusion", attr, t, c)


def _compute_lrp(model, x, t, c, logits, options, series, progress, cancel):
    check(cancel)
    attr = lrp.relevance(model, x, t, c, logits, **options)
    report(progress, 1, 1)
    return _from_attr("lrp", attr, t, c)


def _compute_rise(model, x, t, c, logits, options, series, progress, cancel):
    n_masks = options.get("masks", 4000)
    counts = sorted({max(1, round(n_masks * f)) for f in (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1)}) if series else None
    values, maps = rise.rise_partial_sums(model, x, t, c, counts=counts, progress=progress, cancel=cancel,
                                          **options)
    ms = MapSeries("masks", [float(v) for v in values], maps, len(values) - 1) if series else None
    return Attribution("rise", maps[:, -1], t, c, ms, {"masks": values[-1]})


def _compute_lime(model, x, t, c, logits, options, series, progress, cancel):
    attr = lime.lime_attributions(model, x, t, c, progress=progress, cancel=cancel, **options)
    return _from_attr("lime", attr, t, c)


def _pattern_method(name: str, attribution: bool):
    def compute(model, x, t, c, logits, options, series, progress, cancel):
        check(cancel)
        fitted = options.get("patterns") or patterns.fitted(model)
        attr = patterns.pattern_backward(model, x, t, c, fitted, attribution=attribution)
        report(progress, 1, 1)
        return _from_attr(name, attr, t, c, estimator=fitted.estimator)
    return compute


def _compute_extremal_perturbation(model, x, t, c, logits, options, series, progress, cancel):
    ep = perturbation.extremal_perturbation(model, x, target=t, contrast=c, progress=progress, cancel=cancel,
                                            **options)
    n = x.shape[0]
    best = ep.best.to(device=ep.masks.device, dtype=torch.long)
    maps = ep.masks[torch.arange(n, device=ep.masks.device), best].float()
    info = dict(best=best, best_area=torch.tensor([ep.areas[int(b)] for b in best.tolist()]),
                areas=list(ep.areas), scores=ep.scores, full_score=ep.full_score,
                objective=getattr(ep, "objective", None))
    ms = None
    if series:
        index = int(torch.mode(best.cpu()).values) if n > 1 else int(best[0])
        ms = MapSeries("area", [float(a) for a in ep.areas], ep.masks.float(), index,
                       ep.perturbed, ep.image_scores)  # the score of the image shown
    return Attribution("extremal_perturbation", maps, t, c, ms, info)


def _compute_meaningful_perturbation(model, x, t, c, logits, options, series, progress, cancel):
    mp = perturbation.meaningful_perturbation(model, x, target=t, contrast=c, progress=progress, cancel=cancel,
                                              **options)
    return Attribution("meaningful_perturbation", (1.0 - mp.mask).float(), t, c, None,
                       dict(mask=mp.mask, scores=mp.scores, perturbed=mp.perturbed))


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("gradient", "Gradient", "Simonyan et al. 2014", _compute_gradient, ()),
    Method("grad_x_input", "Gradient × input", "Shrikumar et al. 2016", _compute_grad_x_input, ()),
    Method("smoothgrad", "SmoothGrad", "Smilkov et al. 2017", _compute_smoothgrad,
           ("noise", "samples", "seed", "batch_size", "noise_levels"), SeriesAxis("noise", "σ", "× range")),
    Method("integrated_gradients", "Integrated Gradients", "Sundararajan et al. 2017", _compute_integrated_gradients,
           ("baseline", "steps", "method", "internal_batch_size", "positions"), SeriesAxis("alpha", "α")),
    Method("grad_cam", "Grad-CAM", "Selvaraju et al. 2017", _compute_grad_cam, ("layer", "relu", "layouts")),
    Method("occlusion", "Occlusion", "Zeiler & Fergus 2014", _compute_occlusion, ("window", "stride", "fill", "batch_size")),
    Method("lrp", "LRP", "Bach et al. 2015; Montavon et al. 2019", _compute_lrp, lrp.lrp),
    Method("patternnet", "PatternNet", "Kindermans et al. 2018", _pattern_method("patternnet", False), ("patterns",)),
    Method("patternattribution", "PatternAttribution", "Kindermans et al. 2018",
           _pattern_method("patternattribution", True), ("patterns",)),
    Method("lime", "LIME", "Ribeiro et al. 2016", _compute_lime, lime.lime),
    Method("rise", "RISE", "Petsiuk et al. 2018", _compute_rise, rise.rise, SeriesAxis("masks", "N", "masks")),
    Method("meaningful_perturbation", "Meaningful perturbation", "Fong & Vedaldi 2017",
           _compute_meaningful_perturbation, perturbation.meaningful_perturbation),
    Method("extremal_perturbation", "Extremal perturbation", "Fong et al. 2019", _compute_extremal_perturbation,
           perturbation.extremal_perturbation, SeriesAxis("area", "area a")),
)}
METHOD_NAMES = tuple(METHODS)  # the built-in methods
# Methods that explain logit[A] - logit[B] when ``contrast`` is given (all named methods;
# a Captum object passed as ``method`` is the exception).
CONTRASTIVE_METHODS = METHOD_NAMES
