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
  (z+ / excitation backprop, positive maps), ``"alpha2beta1"`` (the αβ rule of Bach et al. 2015
  with α = 2, β = 1, as in Norton 2018).
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
rules are linear in the seeded relevance once the forward is fixed).

The relevance returned is the one arriving at the **first layer's input**; when the
model preprocesses elementwise inside ``forward`` (ShapesNet's ``(x - mean) / std``) the
preprocessing is treated as part of the pixel and does not rescale relevance (plain
autograd through it would multiply relevance by 1 / std and break conservation). The
box of z^B (``low``, ``high``) lives in that same first-layer input space; by default it
is the per-channel min / max of that input over the batch (which satisfies l <= x <= h).

Batch-norm canonisation (``canonize=True``): a batch norm whose input is exactly a conv /
linear layer's output (found by following the tensors in one forward pass, not by module
order) is folded into that layer for the duration of the call, w' = w·γ/√(var+eps),
b' = β − (μ − b)·γ/√(var+eps) (zennit's ``NamedMergeBatchNorm``); torchvision ResNet blocks
also get zennit's canonizers that turn the residual addition into a module with the
z-rule. A batch norm that follows something else (DenseNet's BN → ReLU → conv after a
concatenation) stays and passes relevance unchanged: LRP-0 for an elementwise affine layer
with its shift left out (Hui & Binder 2019 discuss the alternatives). The canonised model's
logits are checked against the original's, and a mismatch raises instead of returning
wrong relevance.

Supported architectures. zennit applies the rules to conv / linear / batch-norm / pooling
/ activation modules; relevance crosses anything else as a plain gradient. That is right for
reshapes, concatenation and max pooling, and wrong elsewhere: a sum of two branches copies
the relevance into both, a product scales it by the other factor, a normalisation by its
Jacobian, and an attention layer counts as an activation. So before touching the model,
one forward pass looks for these and refuses with a ValueError naming the first one found:
attention layers, layer / group / instance normalisation, additions of two activations
(residual connections outside torchvision's ResNet blocks) and products of two activations
(squeeze-and-excitation gating, attention). Checked on torchvision at 64 px, random init:
VGG (vgg11_bn), ResNet (resnet18), GoogLeNet and DenseNet (densenet121) work and conserve
relevance (z+ without biases: sum R = logit to 1e-3); MobileNet v3 and EfficientNet (gating
and residual additions), ConvNeXt (layer norm) and the transformers ViT and Swin (attention)
are refused. AttnLRP's ``lxt`` package (Achtibat et al. 2024) would cover transformers, but
it monkey-patches library functions globally, and this package leaves the user's model and
environment exactly as given, so it is not used.

Hygiene: everything that touches the model runs inside
:func:`xai_widgets.core.hygiene.rollback_on_error`, so whatever fails, the model is put back
exactly as given. A failure once zennit has started changing it (a canonizer, the hooks,
the model's forward or backward under them) is re-raised as a RuntimeError that says LRP
failed part-way, that the model was restored, and what LRP supports, with the original
error as its ``__cause__``; the refusals and option errors above are ValueErrors.
"""
from __future__ import annotations

import math
import sys

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..core.capture import preserved_model, unknown_layer_error, layers, model_lock
from ..core.hygiene import rollback_on_error
from ..core.targets import explanation_pass, grad_leaf, model_logits, prepare_inputs, targets_from_logits

__all__ = ["lrp", "relevance", "COMPOSITES", "RULES", "layer_rules", "check_supported", "SUPPORTED"]

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
    """The rule name each conv / linear layer gets (execution order), for display and docs.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; it is left as it was.
    example_input : torch.Tensor
        N x C x H x W example batch (one forward pass finds the layers that run and their order).
    composite : str, optional
        One of :data:`COMPOSITES`. Default "book".
    overrides : dict, optional
        ``{layer name: rule}`` overrides, rules from :data:`RULES`; None (default) for none.

    Returns
    -------
    dict of str to str
        ``{layer name: rule name}`` for each conv / linear layer, in execution order.

    Raises
    ------
    ValueError
        If the composite is unknown or the model has no conv or linear layer that runs.
    """
    x = prepare_inputs(model, example_input)
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
            raise unknown_layer_error([name], sorted(n for n in modules if n))
        if isinstance(rule, str) and rule not in RULES:
            raise ValueError(f"unknown LRP rule {rule!r} for layer {name!r}; use one of {', '.join(RULES)} "
                             "or a zennit rule object")
        plan[name] = rule
    return plan


SUPPORTED = ("LRP here supports CNNs built of conv / linear / batch-norm / pooling / ReLU-like layers, joined "
             "by concatenation or torchvision ResNet blocks (e.g. VGG, ResNet, GoogLeNet, DenseNet); for "
             "transformers and other networks use gradient, IG, SmoothGrad, occlusion or Grad-CAM")

# torch function names (trailing / surrounding underscores stripped, "i"/"r" variants folded)
_SUMS = {"add", "sub", "subtract"}
_PRODUCTS = {"mul", "multiply", "div", "divide", "truediv", "addcmul", "addcdiv"}
_MATMULS = {"matmul", "mm", "bmm", "baddbmm", "einsum", "scaled_dot_product_attention"}
_NORMS = {"layer_norm", "group_norm", "instance_norm", "local_response_norm", "rms_norm"}


def _resnet_blocks() -> tuple:
    """torchvision's ResNet block types (zennit has canonizers for them), if torchvision is loaded."""
    tv = sys.modules.get("torchvision.models.resnet")
    return () if tv is None else (tv.BasicBlock, tv.Bottleneck)


def _densenet_canonizer(zn):
    """torchvision's DenseNet ends in ``F.relu`` and ``F.adaptive_avg_pool2d``; as functions,
    relevance crosses them as a gradient, spread evenly over the pooled positions, and the
    ReLU's gradient then drops the share of the positions it had zeroed (13 % of the logit on
    densenet121 at random init). This canonizer gives that forward modules for the two (the
    ReLU passes relevance, the average pooling takes the z-rule), as zennit's ResNet
    canonizer does for the residual sum."""
    tv = sys.modules.get("torchvision.models.densenet")

    def forward(self, x):
        out = self.canonizer_pool(self.canonizer_relu(self.features(x)))
        return self.classifier(torch.flatten(out, 1))

    def attributes(_name, module):
        if tv is not None and getattr(type(module), "forward", None) is tv.DenseNet.forward:
            return {"forward": forward.__get__(module), "canonizer_relu": nn.ReLU(),
                    "canonizer_pool": nn.AdaptiveAvgPool2d(1)}
        return None

    return zn.canonizers.AttributeCanonizer(attributes)


def _merge_batch_norm(zn, pairs):
    """zennit's ``NamedMergeBatchNorm``, with the merged batch norm made exactly the identity:
    zennit sets its running variance to 1, which leaves x / sqrt(1 + eps), 0.05 % per layer
    at GoogLeNet's eps = 1e-3 and 1 % over its depth; 1 - eps removes that."""

    class Merge(zn.canonizers.NamedMergeBatchNorm):
        @staticmethod
        def merge_batch_norm(modules, batch_norm):
            zn.canonizers.MergeBatchNorm.merge_batch_norm(modules, batch_norm)
            batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 1 - batch_norm.eps)

    return Merge(pairs)


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


class _Watch(TorchFunctionMode):
    """Sees every torch function of one forward pass and reports the first operation that
    relevance cannot cross as a gradient. ``live`` holds the tensors that carry relevance
    (from the first conv / linear output on; kept alive so their ids stay unique)."""

    def __init__(self, skip: tuple):
        super().__init__()
        self.live: dict[int, torch.Tensor] = {}
        self.stack: list[tuple[str, nn.Module]] = []  # modules running, innermost last
        self.skip = skip
        self.problem: str | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        n = sum(id(a) in self.live for a in _tensors((args, kwargs)))
        if n:
            for o in _tensors(out):
                self.live[id(o)] = o
            if self.problem is None:
                self.problem = self._check(getattr(func, "__name__", ""), n)
        return out

    def _check(self, name: str, n: int) -> str | None:
        name = name.strip("_")
        if name[:1] in ("i", "r") and name[1:] in _SUMS | _PRODUCTS | _MATMULS:
            name = name[1:]
        where, module = self.stack[-1] if self.stack else ("", None)
        if isinstance(module, self.skip):
            return None
        if name in _NORMS:
            feature = "layer / group / instance normalisation"
        elif n >= 2 and name in _SUMS:
            feature = "residual additions"
        elif n >= 2 and name in _PRODUCTS:
            feature = "multiplicative gating (e.g. squeeze-and-excitation)"
        elif n >= 2 and name in _MATMULS:
            feature = "products of two activations (attention)"
        else:
            return None
        place = f"in {where} ({type(module).__name__})" if where else "in the model's own forward"
        return f"{feature} (torch {name} {place})"


def _attention_module(model: nn.Module) -> str | None:
    for name, m in model.named_modules():
        # class names too: torchvision's Swin, timm and Hugging Face attention blocks are no MultiheadAttention
        if isinstance(m, nn.MultiheadAttention) or (name and "attention" in type(m).__name__.lower()):
            return f"attention layers ({type(m).__name__} at {name or 'the model itself'})"
    return None


def _inspect(model: nn.Module, x: torch.Tensor):
    """One forward pass on ``x[:1]``: the first unsupported feature (or None) and the
    batch norms to merge, ``[((conv / linear name,), bn name)]``: those whose input is that
    layer's output tensor, not modified in place since (an in-place ReLU in between would
    bump its version)."""
    zn = _zennit()
    watch = _Watch(_resnet_blocks())
    produced: dict[int, tuple[str, torch.Tensor, int]] = {}
    merge: dict[str, str | None] = {}

    def before(name, module):
        def hook(_m, args):
            watch.stack.append((name, module))
            if isinstance(module, zn.types.BatchNorm) and args and isinstance(args[0], torch.Tensor):
                hit = produced.get(id(args[0]))
                ok = hit is not None and hit[1] is args[0] and hit[2] == args[0]._version
                # a batch norm called twice, or after something else once, is not merged
                merge[name] = hit[0] if ok and name not in merge else None
        return hook

    def after(name, module):
        def hook(_m, _args, out):
            watch.stack.pop()
            if isinstance(module, zn.types.Linear) and isinstance(out, torch.Tensor):
                produced[id(out)] = (name, out, out._version)
                watch.live[id(out)] = out
        return hook

    handles = []
    with preserved_model(model, eval_mode=True), torch.no_grad():
        try:
            for name, module in model.named_modules():
                handles.append(module.register_forward_pre_hook(before(name, module)))
                handles.append(module.register_forward_hook(after(name, module)))
            with watch:
                model(x[:1])
        finally:
            for h in handles:
                h.remove()
    return watch.problem, [((lin,), bn) for bn, lin in merge.items() if lin is not None]


def check_supported(model: nn.Module, example_input: torch.Tensor) -> None:
    """Raise a ValueError naming the first feature of ``model`` that LRP here cannot propagate relevance through.

    See the module doc; return None when it is supported.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; it is left as it was.
    example_input : torch.Tensor
        N x C x H x W example batch used for one inspecting forward pass.

    Returns
    -------
    None
        When the model is supported.

    Raises
    ------
    ValueError
        Naming the first unsupported feature (e.g. an attention module).
    """
    x = prepare_inputs(model, example_input)
    _refuse(_attention_module(model))
    with rollback_on_error(model):
        _refuse(_inspect(model, x)[0])


def available(model: nn.Module | None = None, example_input: torch.Tensor | None = None) -> bool:
    """Whether LRP can run here: zennit is installed and, given a model and an example
    batch, :func:`check_supported` accepts it (what the widgets' defaults ask).

    Parameters
    ----------
    model : torch.nn.Module or None, default None
        The classifier to check; None checks only that zennit is installed.
    example_input : torch.Tensor or None, default None
        N x C x H x W example batch for :func:`check_supported`; needed when ``model`` is given.

    Returns
    -------
    bool
        False when zennit is not installed or :func:`check_supported` raises a ValueError (an
        unsupported model, or an input it refuses); True otherwise.

    Raises
    ------
    TypeError
        If ``model`` is given and is not a module, or ``example_input`` is not a float tensor
        (None included), as :func:`check_supported` raises it.
    """
    import importlib.util

    if importlib.util.find_spec("zennit") is None:
        return False
    if model is None:
        return True
    try:
        check_supported(model, example_input)
    except ValueError:
        return False
    return True


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise ValueError(f"LRP does not support {problem}: {SUPPORTED}")


def lrp(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, composite: str = "book",
        epsilon: float = 0.25, gamma: float = 0.25, low=None, high=None, layer_rules: dict | None = None,
        canonize: bool = True, bias: bool = True) -> torch.Tensor:
    """LRP relevance, N x C x H x W, signed (Bach et al. 2015; Montavon et al. 2019); see the module doc.

    ``composite``: one of :data:`COMPOSITES`; ``epsilon``/``gamma``: the LRP-ε / LRP-γ
    parameters; ``low``/``high``: the z^B box in the first layer's input space (numbers
    or tensors broadcastable to it, e.g. 1 x C x 1 x 1), default the per-channel min / max
    of that input over the batch; ``layer_rules``: ``{layer name: rule}`` overrides;
    ``canonize``: merge each batch norm into the conv / linear layer whose output it takes,
    for the call (the ResNet and DenseNet canonizers apply either way); ``bias``:
    True (default, the book's rules) lets biases absorb their share of relevance, False
    leaves them out of the rules' denominators (zennit ``zero_params=["bias"]``), which
    makes z^B, γ, α1β0 and LRP-0 exactly conservative (sum R = seed up to stabilisers).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (N x K logits); it is left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch.
    target : None, int, sequence of int or 1-D tensor, optional
        The class whose logit seeds the relevance: None (default) is each image's top-1 prediction, an
        int is used for all images, a sequence / 1-D tensor gives one class per image.
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B in the same forms; its logit is seeded with the opposite sign, so the relevance explains
        ``logit[target] - logit[contrast]``. None (default) for no contrast.
    composite : str, optional
        One of :data:`COMPOSITES` ("book" default, "epsilon", "zero", "gamma", "alpha1beta0",
        "alpha2beta1"): which rule each layer gets.
    epsilon : float, optional
        The ε of LRP-ε (stabiliser added to the denominators). Default 0.25.
    gamma : float, optional
        The γ of LRP-γ (weight given to positive weights). Default 0.25.
    low, high : float or torch.Tensor, optional
        Lower and upper corner of the z^B box in the first layer's input space (numbers or tensors
        broadcastable to it, e.g. 1 x C x 1 x 1); None (default) is the per-channel min / max of that
        input over the batch. ``low`` must be <= ``high``.
    layer_rules : dict, optional
        ``{layer name: rule}`` overrides, rules from :data:`RULES`; None (default) for none.
    canonize : bool, optional
        Merge each batch norm into the conv / linear layer whose output it takes, for the call
        (default True).
    bias : bool, optional
        True (default) lets biases absorb their share of relevance; False leaves them out of the
        rules' denominators.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 signed relevance at the input, on the model's device.

    Raises
    ------
    ValueError
        If the model has a feature LRP here does not support, the composite or a rule is unknown,
        ``low`` > ``high``, or canonisation changed the model's output.
    RuntimeError
        If zennit fails part-way (the model is restored exactly as it was given).
    """
    x = prepare_inputs(model, inputs)
    out = model_logits(model, x)
    t, c = targets_from_logits(out, target, contrast)
    return relevance(model, x, t, c, out, composite=composite, epsilon=epsilon, gamma=gamma, low=low, high=high,
                layer_rules=layer_rules, canonize=canonize, bias=bias)


def _first_input_range(model: nn.Module, module: nn.Module, x: torch.Tensor):
    seen = {}

    def hook(_m, inp):
        a = inp[0].detach()
        dims = (0,) + tuple(range(2, a.dim()))
        shape = (1, a.shape[1]) + (1,) * (a.dim() - 2)
        seen["low"] = a.amin(dim=dims).reshape(shape)
        seen["high"] = a.amax(dim=dims).reshape(shape)

    with preserved_model(model, eval_mode=True), torch.no_grad():
        handle = module.register_forward_pre_hook(hook)
        try:
            model(x)
        finally:
            handle.remove()
    return seen["low"], seen["high"]


def relevance(model, x, t, c, logits, *, composite="book", epsilon=0.25, gamma=0.25, low=None, high=None,
         layer_rules=None, canonize=True, bias=True):
    """:func:`lrp` on prepared inputs, resolved classes and the model's plain ``logits`` for ``x``.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier; it is left exactly as it was.
    x : torch.Tensor
        N x C x H x W prepared input batch on the model's device.
    t : torch.Tensor
        N target class indices (long): the logit explained for each image.
    c : torch.Tensor or None
        N contrast class indices (long), or None for no contrast.
    logits : torch.Tensor
        N x K plain logits of ``model`` for ``x`` (used to check that canonisation kept the output).
    composite, epsilon, gamma, low, high, layer_rules, canonize, bias
        The rule settings, as in :func:`lrp`.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 signed relevance at the input, on the model's device (raises as
        :func:`lrp` does).
    """
    zn = _zennit()
    _refuse(_attention_module(model))  # looks at module types only: before any copy or forward
    # the lock: canonizers rewrite weights in place, which no other thread may see
    with model_lock(model), rollback_on_error(model):  # whatever fails below, the model comes back as given
        problem, pairs = _inspect(model, x)
        _refuse(problem)
        plan = _plan(model, x, composite, layer_rules)
        return _propagate(zn, model, x, t, c, logits, plan, pairs, epsilon=epsilon, gamma=gamma, low=low,
                          high=high, canonize=canonize, bias=bias)


def _propagate(zn, model, x, t, c, logits, plan, pairs, *, epsilon, gamma, low, high, canonize, bias):
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
    # the structural canonizers apply whatever ``canonize`` says: without them the relevance is wrong
    canonizers = [_densenet_canonizer(zn)]
    if any(isinstance(m, _resnet_blocks()) for m in modules.values()):
        from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer
        canonizers += [ResNetBottleneckCanonizer(), ResNetBasicBlockCanonizer()]
    if canonize:
        canonizers.insert(0, _merge_batch_norm(zn, pairs))
    comp = zn.composites.NameLayerMapComposite(
        name_map=name_map, layer_map=zn.composites.layer_map_base(stabilizer=_LRP0_EPSILON), canonizers=canonizers)

    first_relevance = {}

    def grab(_m, inp):
        a = inp[0]
        if isinstance(a, torch.Tensor) and a.requires_grad:
            a.register_hook(lambda g: first_relevance.__setitem__("r", g.detach()))

    leaf = grad_leaf(x)
    handle = first.register_forward_pre_hook(grab)  # before zennit's own pre-hook: sees the raw input
    try:
        with explanation_pass(model), comp.context(model) as modified:
            out = modified(leaf)
            same = torch.allclose(out.detach(), logits, rtol=1e-3, atol=1e-4 * float(logits.abs().max()) + 1e-5)
            if same:
                n = out.shape[0]
                rows = torch.arange(n, device=out.device)
                seed = torch.zeros_like(out)
                seed[rows, t] = out.detach()[rows, t]
                if c is not None:
                    seed[rows, c] = -out.detach()[rows, c]
                (grad,) = torch.autograd.grad(out, leaf, grad_outputs=seed)
    except Exception as err:  # zennit had started changing the model: say it was put back
        raise RuntimeError(
            f"LRP failed part-way ({type(err).__name__}: {err}); the model was restored exactly as it was "
            f"given (weights, parameters, hooks, flags). {SUPPORTED}"
        ) from err
    finally:
        handle.remove()
    if not same:
        raise ValueError(
            "canonisation changed the model's output (a conv / linear output used both by its batch norm and "
            "elsewhere?); pass canonize=False, or merge the batch norms yourself"
        )
    r = first_relevance.get("r")
    if r is None or r.shape != x.shape:
        r = grad
    return r.detach().float()
