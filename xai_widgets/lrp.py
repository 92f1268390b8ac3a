"""Layer-wise Relevance Propagation via zennit (optional extra: ``pip install "xai_widgets[lrp]"``).

LRP (Bach et al. 2015) redistributes the target score layer by layer back to the pixels
with conservation, R_j = sum_k a_j ρ(w_jk) / (ε + sum_j' a_j' ρ(w_j'k)) R_k; the rule per
layer follows Montavon et al. 2019 ("Layer-wise relevance propagation: an overview", the
book's chapter 10, Fig. 10.4). zennit (Anders et al.) provides the rules, composites and
canonizers; this module picks the rules per layer, seeds the output relevance, and keeps
the user's model untouched.

Composites (``composite=``):

- ``"book"`` (default; Fig. 10.4): z^B (``ZBox``) on the first conv / linear layer in
  execution order (the pixel layer), LRP-γ (γ = ``gamma``) on the *lower* conv layers,
  LRP-ε (ε = ``epsilon``) on the *middle* conv layers, LRP-0 on the top (all ``nn.Linear``)
  layers. Depth split: of the conv layers after the first, the first ceil(n / 3) are
  "lower", the rest "middle". ε is absolute (the book's "0.25 std" does not say of what;
  after batch norm pre-activations are near unit std, so 0.25 is about 0.25 std).
- ``"epsilon"`` (LRP-ε everywhere), ``"zero"`` (LRP-0 everywhere, which equals
  gradient x input on ReLU nets), ``"gamma"`` (LRP-γ everywhere), ``"alpha1beta0"``
  (z+ / excitation backprop, positive maps), ``"alpha2beta1"`` (seed 002's αβ rule).
- ``layer_rules={name: rule}`` overrides any layer: a rule name from :data:`RULES` or any
  zennit rule object (``zennit.rules.Epsilon(0.1)``).

Other layers: activations pass relevance through, sum / average pooling uses the z-rule
(zennit ``Norm``, stabiliser 1e-9), max pooling is winner-take-all (the plain gradient), batch norm is
merged into the preceding conv / linear layer (canonisation, see below) and then passes.
LRP-0 is zennit's ``Epsilon`` with ε = 1e-9 (sign-aware stabiliser, as the book asks).

Relevance is seeded at the output with the target's logit (R = logit[A] at A, 0
elsewhere), so sum_i R_i = logit[A] up to the relevance absorbed by biases and
stabilisers. Contrastive LRP (class A versus class B) seeds +logit[A] at A and
-logit[B] at B: the relevance of logit[A] - logit[B], equal to lrp(A) - lrp(B) (the
rules are linear in the seed once the forward is fixed).

The relevance returned is the one arriving at the **first layer's input**; when the
model preprocesses elementwise inside ``forward`` (ShapesNet's ``(x - mean) / std``) the
preprocessing is treated as part of the pixel and does not rescale relevance (plain
autograd through it would multiply relevance by 1 / std and break conservation). The
box of z^B (``low``, ``high``) lives in that same first-layer input space; by default it
is the per-channel min / max of that input over the batch (which satisfies l <= x <= h).

Batch-norm canonisation (``canonize=True``): zennit's ``SequentialMergeBatchNorm`` (a BN
right after a conv / linear layer in module order, e.g. ShapesNet's ``conv -> bn``) folds
w' = w·γ/√(var+eps), b' = β − (μ − b)·γ/√(var+eps) into the layer for the duration of the
call; for a torchvision ResNet zennit's ``ResNetCanonizer`` is used. Both are undone
afterwards (parameters bit-identical). The canonised model's logits are checked against the
original's, and a mismatch raises instead of returning wrong relevance.
"""
from __future__ import annotations

import math
import sys

import torch
from torch import nn

from .attribution import _clean, _leaf, _logits, _prepare, _resolve_from_logits
from .capture import _preserved, _unknown_layer_error, layers

__all__ = ["lrp", "COMPOSITES", "RULES", "layer_rules"]

COMPOSITES = ("book", "epsilon", "zero", "gamma", "alpha1beta0", "alpha2beta1")
RULES = ("zero", "epsilon", "gamma", "zbox", "alpha1beta0", "alpha2beta1", "flat", "wsquare", "pass")
_LRP0_EPSILON = 1e-9


def _zennit():
    try:
        import zennit.canonizers
        import zennit.composites
        import zennit.core
        import zennit.rules
        import zennit.types
    except ImportError as err:
        raise ImportError(
            'LRP needs the optional dependency zennit: pip install "xai_widgets[lrp]"'
        ) from err
    return zennit


def _rule(name, *, epsilon, gamma, low, high, bias=True):
    """A zennit rule for a rule name (a zennit rule object is used as given; zennit copies
    it per layer). ``bias=False`` leaves biases out of the denominators (zero_params)."""
    zn = _zennit()
    r = zn.rules
    if isinstance(name, zn.core.Hook):
        return name
    zp = None if bias else ["bias"]
    if name == "zero":
        return r.Epsilon(epsilon=_LRP0_EPSILON, zero_params=zp)
    if name == "epsilon":
        return r.Epsilon(epsilon=float(epsilon), zero_params=zp)
    if name == "gamma":
        return r.Gamma(gamma=float(gamma), zero_params=zp)
    if name == "zbox":
        return r.ZBox(low=low, high=high, zero_params=zp)
    if name == "alpha1beta0":
        return r.AlphaBeta(alpha=1.0, beta=0.0, zero_params=zp)
    if name == "alpha2beta1":
        return r.AlphaBeta(alpha=2.0, beta=1.0, zero_params=zp)
    if name == "flat":
        return r.Flat(zero_params=zp)
    if name == "wsquare":
        return r.WSquare(zero_params=zp)
    if name == "pass":
        return r.Pass()
    raise ValueError(f"unknown LRP rule {name!r}; use one of {', '.join(RULES)} or a zennit rule object")


def _param_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Conv / linear layer names in execution order; raises for layers called twice."""
    zn = _zennit()
    modules = dict(model.named_modules())
    order = layers(model, x[:1]).names
    names, twice = [], []
    for name in order:
        base = name.split(":")[0]
        if isinstance(modules.get(base), zn.types.Linear):
            if ":" in name:
                twice.append(base)
            elif base not in names:
                names.append(base)
    if twice:
        raise ValueError(
            f"LRP needs each conv / linear module to run once per forward; {', '.join(sorted(set(twice)))} "
            "run more than once (relevance rules are per module)"
        )
    # parametric layers that did not report (e.g. returned a tuple) are appended in module order
    for name, module in modules.items():
        if name and isinstance(module, zn.types.Linear) and name not in names and name in order:
            names.append(name)
    if not names:
        raise ValueError("the model has no conv or linear layer that runs in forward: nothing for LRP to do")
    return names


def layer_rules(model: nn.Module, example_input: torch.Tensor, composite: str = "book",
                overrides: dict | None = None) -> dict[str, str]:
    """The rule name each conv / linear layer gets (execution order), for display and docs."""
    x = _prepare(model, example_input)
    return _plan(model, x, composite, overrides)


def _plan(model: nn.Module, x: torch.Tensor, composite, overrides) -> dict:
    zn = _zennit()
    if composite not in COMPOSITES:
        raise ValueError(f"unknown LRP composite {composite!r}; use one of {', '.join(COMPOSITES)}")
    names = _param_layers(model, x)
    modules = dict(model.named_modules())
    plan: dict = {}
    if composite == "book":
        convs = [n for n in names if isinstance(modules[n], zn.types.Convolution)]
        first = names[0]
        rest = [n for n in convs if n != first]
        n_lower = math.ceil(len(rest) / 3)
        lower = set(rest[:n_lower])
        for n in names:
            if n == first:
                plan[n] = "zbox"
            elif n in lower:
                plan[n] = "gamma"
            elif isinstance(modules[n], zn.types.Convolution):
                plan[n] = "epsilon"
            else:
                plan[n] = "zero"
    else:
        plan = {n: composite for n in names}
    for name, rule in (overrides or {}).items():
        if name not in modules or not name:
            raise _unknown_layer_error([name], sorted(n for n in modules if n))
        if isinstance(rule, str) and rule not in RULES:
            raise ValueError(f"unknown LRP rule {rule!r} for layer {name!r}; use one of {', '.join(RULES)} "
                             "or a zennit rule object")
        plan[name] = rule
    return plan


def _is_torchvision_resnet(model: nn.Module) -> bool:
    tv = sys.modules.get("torchvision.models.resnet")
    return tv is not None and isinstance(model, tv.ResNet)


def lrp(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, composite: str = "book",
        epsilon: float = 0.25, gamma: float = 0.25, low=None, high=None, layer_rules: dict | None = None,
        canonize: bool = True, bias: bool = True) -> torch.Tensor:
    """LRP relevance, N x C x H x W, signed (Bach et al. 2015; Montavon et al. 2019); see the module doc.

    ``composite``: one of :data:`COMPOSITES`; ``epsilon``/``gamma``: the LRP-ε / LRP-γ
    parameters; ``low``/``high``: the z^B box in the first layer's input space (numbers
    or tensors broadcastable to it, e.g. 1 x C x 1 x 1), default the per-channel min / max
    of that input over the batch; ``layer_rules``: ``{layer name: rule}`` overrides;
    ``canonize``: merge batch norm into the preceding layer for the call; ``bias``:
    True (default, the book's rules) lets biases absorb their share of relevance, False
    leaves them out of the rules' denominators (zennit ``zero_params=["bias"]``), which
    makes z^B, γ, α1β0 and LRP-0 exactly conservative (sum R = seed up to stabilisers).
    """
    x = _prepare(model, inputs)
    out = _logits(model, x)
    t, c = _resolve_from_logits(out, target, contrast)
    return _lrp(model, x, t, c, out, composite=composite, epsilon=epsilon, gamma=gamma, low=low, high=high,
                layer_rules=layer_rules, canonize=canonize, bias=bias)


def _first_input_range(model: nn.Module, module: nn.Module, x: torch.Tensor):
    seen = {}

    def hook(_m, inp):
        a = inp[0].detach()
        dims = (0,) + tuple(range(2, a.dim()))
        shape = (1, a.shape[1]) + (1,) * (a.dim() - 2)
        seen["low"] = a.amin(dim=dims).reshape(shape)
        seen["high"] = a.amax(dim=dims).reshape(shape)

    handle = module.register_forward_pre_hook(hook)
    try:
        with _preserved(model, eval_mode=True), torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen["low"], seen["high"]


def _lrp(model, x, t, c, logits, *, composite="book", epsilon=0.25, gamma=0.25, low=None, high=None,
         layer_rules=None, canonize=True, bias=True):
    """:func:`lrp` on prepared inputs, resolved classes and the model's plain ``logits`` for ``x``."""
    zn = _zennit()
    plan = _plan(model, x, composite, layer_rules)
    modules = dict(model.named_modules())
    first_name = next(iter(plan))
    first = modules[first_name]
    if "zbox" in plan.values():
        if low is None or high is None:
            lo, hi = _first_input_range(model, first, x)
            low = lo if low is None else low
            high = hi if high is None else high
        low = torch.as_tensor(low, dtype=x.dtype, device=x.device)
        high = torch.as_tensor(high, dtype=x.dtype, device=x.device)
        if bool((low > high).any()):
            raise ValueError("LRP z^B box: low must be <= high")
    name_map = []
    for name, rule in plan.items():
        name_map.append(((name,), _rule(rule, epsilon=epsilon, gamma=gamma, low=low, high=high,
                                              bias=bias)))
    canonizers = []
    if canonize:
        canonizers = ([zn.canonizers.SequentialMergeBatchNorm()] if not _is_torchvision_resnet(model)
                      else [__import__("zennit.torchvision", fromlist=["ResNetCanonizer"]).ResNetCanonizer()])
    comp = zn.composites.NameLayerMapComposite(
        name_map=name_map, layer_map=zn.composites.layer_map_base(stabilizer=_LRP0_EPSILON), canonizers=canonizers)

    first_relevance = {}

    def grab(_m, inp):
        a = inp[0]
        if isinstance(a, torch.Tensor) and a.requires_grad:
            a.register_hook(lambda g: first_relevance.__setitem__("r", g.detach()))

    leaf = _leaf(x)
    handle = first.register_forward_pre_hook(grab)  # before zennit's own pre-hook: sees the raw input
    try:
        with _clean(model), comp.context(model) as modified:
            out = modified(leaf)
            if canonize and not torch.allclose(out.detach(), logits, rtol=1e-3,
                                               atol=1e-4 * float(logits.abs().max()) + 1e-5):
                raise ValueError(
                    "batch-norm canonisation changed the model's output (a batch norm that does not directly "
                    "follow the conv / linear layer before it in module order?); pass canonize=False, or "
                    "merge the batch norms yourself"
                )
            n = out.shape[0]
            rows = torch.arange(n, device=out.device)
            seed = torch.zeros_like(out)
            seed[rows, t] = out.detach()[rows, t]
            if c is not None:
                seed[rows, c] = -out.detach()[rows, c]
            (grad,) = torch.autograd.grad(out, leaf, grad_outputs=seed)
    finally:
        handle.remove()
    r = first_relevance.get("r")
    if r is None or r.shape != x.shape:
        r = grad
    return r.detach().float()
