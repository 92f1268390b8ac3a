"""PatternNet and PatternAttribution (Kindermans, Schütt, Alber, Müller, Erhan, Kim and Dähne, ICLR 2018).

A linear neuron y = w^T x + b responds to a signal direction a (its *pattern*) and cancels the
distractors in the data, so its weight w mixes both: the gradient shows w, not a. Kindermans
et al. estimate each neuron's pattern from data and replace weights by patterns in the backward
pass:

* the linear estimator (section 4.1): a = cov[x, y] / (w^T cov[x, y]);
* the two-component (ReLU) estimator (section 4.2): the same on the samples where the neuron is
  on (y > 0) only, a+ = (E+[x y] - E+[x] E+[y]) / (w^T E+[x y] - w^T E+[x] E+[y]);
* PatternNet (section 5): the backward pass of the gradient with every weight w replaced by its
  pattern a (ReLU and max-pooling gates as in the gradient): the signal the network detected;
* PatternAttribution (section 5): the same with w replaced by w * a (element-wise): how much the
  signal contributed to the output, at input resolution.

Here every Conv2d and Linear layer gets patterns, fitted in one streaming pass over a dataset
(:func:`fit`); a batch norm that directly follows a convolution or linear layer is first merged
into it (y is then the value the ReLU sees, as the two-component estimator assumes). The fitted
patterns are kept for the model (the last fit of each model) so that "patternnet" and
"patternattribution" run as named methods, or can be passed as ``patterns=``, and cached on disk
(:mod:`xai_widgets.core.cache`) so that a later session loads them without a pass over the data.
"""
from __future__ import annotations

import copy
import functools
import json
import weakref
from pathlib import Path
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.cache import cache_path, dataset_part, load_npz, model_hash, save_npz
from ..core.capture import model_device, model_dtype, preserved_model
from ..core.tasks import CancelFlag, Progress, check, report
from ..core.targets import explanation_pass, grad_leaf

__all__ = ["Patterns", "fit", "fitted", "merged_copy", "pattern_backward", "ESTIMATORS"]

ESTIMATORS = ("linear", "relu")
_FITTED: "weakref.WeakKeyDictionary[nn.Module, Patterns]" = weakref.WeakKeyDictionary()
_CACHE_VERSION = 1


@dataclass
class Patterns:
    """Each linear layer's patterns, shaped like its weight, for one model (after batch-norm merging).

    Attributes
    ----------
    estimator : str
        "linear" or "relu".
    patterns : dict of str to torch.Tensor
        Layer name (of :func:`merged_copy`'s model) to pattern tensor, shaped like the weight.
    samples : int
        Images the statistics were computed on.
    counts : dict of str to torch.Tensor
        Per layer and output unit, how many (image, position) samples entered its estimate (for the
        ReLU estimator: those with y > 0).
    """

    estimator: str
    patterns: dict
    samples: int
    counts: dict = field(default_factory=dict)


def _linear_layers(model: nn.Module) -> dict:
    layers = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    for name, m in layers.items():
        if isinstance(m, nn.Conv2d) and m.groups != 1:
            raise ValueError(f"layer {name!r} is a grouped convolution; PatternNet here supports groups=1 only")
    return layers


def merged_copy(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """A deep copy of ``model`` with every batch norm that directly follows a Conv2d or Linear
    merged into it (weight * gamma / sigma, bias (b - mu) * gamma / sigma + beta) and replaced by
    an identity. "Directly follows": the batch norm's input is that layer's output tensor.

    Parameters
    ----------
    model : torch.nn.Module
        The model (not changed).
    example : torch.Tensor
        An input batch, to see which layer feeds which batch norm.

    Returns
    -------
    torch.nn.Module
        The merged copy, in eval mode.
    """
    twin = copy.deepcopy(model).eval()
    outputs, pairs = {}, []
    names = {m: n for n, m in twin.named_modules()}

    def after_linear(module, args, out):
        outputs[id(out)] = names[module]

    def before_norm(module, args):
        if id(args[0]) in outputs:
            pairs.append((outputs[id(args[0])], names[module]))

    handles = [m.register_forward_hook(after_linear) for m in twin.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles += [m.register_forward_pre_hook(before_norm) for m in twin.modules()
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    try:
        with torch.no_grad():
            twin(example)
    finally:
        for h in handles:
            h.remove()
    for lin_name, bn_name in pairs:
        lin, bn = twin.get_submodule(lin_name), twin.get_submodule(bn_name)
        with torch.no_grad():
            scale = 1 / torch.sqrt(bn.running_var + bn.eps)
            if bn.affine:
                scale = bn.weight * scale
            shift = bn.bias if bn.affine else torch.zeros_like(scale)
            bias = lin.bias if lin.bias is not None else torch.zeros_like(scale)
            lin.weight.mul_(scale.view(-1, *[1] * (lin.weight.dim() - 1)))
            lin.bias = nn.Parameter((bias - bn.running_mean) * scale + shift)
        parent, _, leaf = bn_name.rpartition(".")
        setattr(twin.get_submodule(parent) if parent else twin, leaf, nn.Identity())
    return twin


def _patches(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The layer's inputs as samples x D (D = in_channels x kernel for a convolution)."""
    if isinstance(module, nn.Linear):
        return x.reshape(-1, x.shape[-1])
    cols = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


class _Moments:
    """Streaming sums for one layer's estimator, in float64."""

    def __init__(self, units: int, dim: int, device):
        kw = dict(dtype=torch.float64, device=device)
        self.n = torch.zeros(units, **kw)
        self.sx = torch.zeros(units, dim, **kw)
        self.sy = torch.zeros(units, **kw)
        self.sxy = torch.zeros(units, dim, **kw)

    def add(self, xs: torch.Tensor, ys: torch.Tensor, relu: bool) -> None:
        xs, ys = xs.double(), ys.double()  # samples x D, samples x units
        on = (ys > 0).double() if relu else torch.ones_like(ys)
        self.n += on.sum(0)
        self.sx += on.T @ xs
        self.sy += (on * ys).sum(0)
        self.sxy += (on * ys).T @ xs

    def pattern(self, weight: torch.Tensor) -> torch.Tensor:
        w = weight.reshape(len(self.n), -1).double()
        n = self.n.clamp_min(1)[:, None]
        cov = self.sxy / n - (self.sx / n) * (self.sy[:, None] / n)  # E[xy] - E[x]E[y]
        denom = (w * cov).sum(1, keepdim=True)
        ok = (self.n[:, None] > 1) & (denom.abs() > 1e-12 * cov.abs().sum(1, keepdim=True).clamp_min(1e-300))
        pattern = torch.where(ok, cov / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(cov))
        return pattern.reshape(weight.shape)


def _batches(data, batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size]
        return
    for item in data:
        yield item[0] if isinstance(item, (tuple, list)) else item


def fit(model: nn.Module, data, *, estimator: str = "relu", batch_size: int = 64, progress: Progress = None,
        cancel: CancelFlag = None, cache_dir: str | Path | None = None, cache: bool = True,
        dataset_key: str | None = None) -> Patterns:
    """Fit every Conv2d / Linear layer's patterns on ``data`` (Kindermans et al. 2018, sections 4.1-4.2).

    Parameters
    ----------
    model : torch.nn.Module
        The network (left exactly as it was; the statistics are taken on :func:`merged_copy`).
    data : torch.Tensor or iterable
        N x C x H x W images as the model takes them, or an iterable of batches (or of
        ``(images, labels)`` pairs).
    estimator : {"relu", "linear"}, default "relu"
        The two-component estimator (statistics of the samples where y > 0), or the linear one.
    batch_size : int, default 64
        Images per forward pass when ``data`` is a tensor.
    progress : callable, optional
        ``progress(done, total)`` after each batch (total None for an iterable).
    cancel : threading.Event or callable, optional
        Checked before each batch; a cancelled fit raises and writes no cache file.
    cache_dir : str, pathlib.Path or None, default None
        Cache folder; None: ``$XAI_WIDGETS_CACHE`` or ``~/.cache/xai_widgets``.
    cache : bool, default True
        Read and write the cache: the patterns (with their counts, samples and estimator) are
        stored as an ``.npz`` (no pickles), keyed by a hash of the model's class and state_dict
        bytes, the estimator and the dataset: ``dataset_key`` when given, else a hash of
        ``len(data)`` and its first and last few items (a dataset changed only in the middle is
        not noticed: pass ``dataset_key``; an iterable without ``len`` and indexing is cached only
        with a ``dataset_key``). A cached fit loads with no forward pass. ``batch_size`` is not
        in the key (it changes the sums only by float64 rounding).
    dataset_key : str or None, default None
        Names the dataset in the cache key instead of its fingerprint.

    Returns
    -------
    Patterns
        The patterns; also remembered as this model's (see :func:`fitted`).

    Raises
    ------
    ValueError
        For an unknown estimator, empty data, or a grouped convolution.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; use one of {', '.join(ESTIMATORS)}")
    dev, dtype = model_device(model), model_dtype(model)
    path = _cache_path(model, estimator, data, cache_dir, dataset_key) if cache else None
    loaded = load_npz(path, functools.partial(_from_arrays, device=dev), "patterns")
    if loaded is not None:
        _FITTED[model] = loaded
        return loaded
    total = len(data) if isinstance(data, torch.Tensor) else None
    moments, seen, twin, layers = {}, 0, None, {}
    with preserved_model(model, eval_mode=True), torch.no_grad():
        for batch in _batches(data, batch_size):
            check(cancel)
            x = batch.to(device=dev, dtype=dtype)
            if twin is None:
                twin = merged_copy(model, x[:1])
                layers = _linear_layers(twin)
            _accumulate(twin, layers, x, moments, estimator == "relu")
            seen += len(x)
            report(progress, seen, total)
    if not seen:
        raise ValueError("data holds no images; fit needs a dataset of images as the model takes them")
    patterns = {n: moments[n].pattern(layers[n].weight.detach()).to(layers[n].weight.dtype) for n in moments}
    result = Patterns(estimator, patterns, seen, {n: moments[n].n.cpu() for n in moments})
    if path is not None:
        save_npz(path, _arrays(result), "patterns")
    _FITTED[model] = result
    return result


def _cache_path(model: nn.Module, estimator: str, data, cache_dir, dataset_key) -> Path | None:
    data_part = dataset_part(data, dataset_key)
    if data_part is None:
        return None
    return cache_path("patterns", [_CACHE_VERSION, model_hash(model), estimator, data_part], cache_dir)


def _arrays(result: Patterns) -> dict:
    """The patterns as plain arrays for the cache: float64 (exact for every float dtype), the
    layer names and dtypes in a JSON ``meta``."""
    names = list(result.patterns)
    meta = {"estimator": result.estimator, "samples": result.samples, "layers": names,
            "dtypes": [str(result.patterns[n].dtype).removeprefix("torch.") for n in names]}
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, name in enumerate(names):
        arrays[f"pattern_{i}"] = result.patterns[name].detach().cpu().double().numpy()
        arrays[f"count_{i}"] = result.counts[name].detach().cpu().double().numpy()
    return arrays


def _from_arrays(f, device) -> Patterns:
    """The patterns back from the cache's arrays, on ``device``."""
    meta = json.loads(str(f["meta"]))
    patterns, counts = {}, {}
    for i, (name, dtype) in enumerate(zip(meta["layers"], meta["dtypes"])):
        patterns[name] = torch.from_numpy(f[f"pattern_{i}"]).to(device=device, dtype=getattr(torch, dtype))
        counts[name] = torch.from_numpy(f[f"count_{i}"])
    return Patterns(meta["estimator"], patterns, int(meta["samples"]), counts)


def _accumulate(twin: nn.Module, layers: dict, x: torch.Tensor, moments: dict, relu: bool) -> None:
    """One batch's statistics of every layer: its inputs x and its outputs y = w^T x + b (the value
    the ReLU sees; covariances do not depend on b)."""
    def hook(name):
        def record(module, args, out):
            xs = _patches(module, args[0])
            ys = out.movedim(1, -1).reshape(-1, out.shape[1])
            if name not in moments:
                moments[name] = _Moments(out.shape[1], xs.shape[1], out.device)
            moments[name].add(xs, ys, relu)
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in layers.items()]
    try:
        twin(x)
    finally:
        for h in handles:
            h.remove()


def fitted(model: nn.Module) -> Patterns:
    """The patterns last fitted for ``model`` with :func:`fit`.

    Parameters
    ----------
    model : torch.nn.Module
        The model.

    Returns
    -------
    Patterns

    Raises
    ------
    ValueError
        If no patterns were fitted for this model in this session.
    """
    if model not in _FITTED:
        raise ValueError("no patterns are fitted for this model: run xw.attribution.patterns.fit(model, data) "
                         "once on a dataset (e.g. a few hundred training images), then use 'patternnet' or "
                         "'patternattribution'")
    return _FITTED[model]


def _swap_backward(layer: nn.Module, backward_weight: torch.Tensor):
    """A forward hook: the layer's output value unchanged, its gradient through ``backward_weight``."""
    def hook(module, args, out):
        x = args[0]
        if isinstance(module, nn.Linear):
            through = F.linear(x, backward_weight)
        else:
            through = F.conv2d(x, backward_weight, None, module.stride, module.padding, module.dilation)
        return out.detach() + (through - through.detach())
    return layer.register_forward_hook(hook)


def pattern_backward(model: nn.Module, x: torch.Tensor, target: torch.Tensor, contrast: torch.Tensor | None,
                     patterns: Patterns, *, attribution: bool) -> torch.Tensor:
    """PatternNet (``attribution=False``) or PatternAttribution (Kindermans et al. 2018, section 5).

    The gradient's backward pass, started from the score y (logit of the target, minus the
    contrast's), with every Conv2d / Linear weight w replaced by its pattern a (PatternNet: the
    signal estimate, a y for a linear model) or by w * a (PatternAttribution: w * a * y for a
    linear model). ReLU and max-pooling gates are the forward pass's.

    Parameters
    ----------
    model : torch.nn.Module
        The network (left exactly as it was; the pass runs on :func:`merged_copy`).
    x : torch.Tensor
        Prepared N x C x H x W batch.
    target, contrast : torch.Tensor
        Resolved classes (contrast may be None).
    patterns : Patterns
        From :func:`fit` on this model.
    attribution : bool
        PatternAttribution when True, PatternNet when False.

    Returns
    -------
    torch.Tensor
        N x C x H x W float32 maps on the model's device.

    Raises
    ------
    ValueError
        If the patterns do not match the model's layers.
    """
    with preserved_model(model, eval_mode=True):
        twin = merged_copy(model, x[:1])
    layers = _linear_layers(twin)
    if set(layers) != set(patterns.patterns) or any(
            layers[n].weight.shape != patterns.patterns[n].shape for n in layers):
        raise ValueError("these patterns were fitted on another model (their layers or shapes differ); "
                         "fit them on this one with xw.attribution.patterns.fit(model, data)")
    handles = []
    for name, layer in layers.items():
        a = patterns.patterns[name].to(device=layer.weight.device, dtype=layer.weight.dtype)
        handles.append(_swap_backward(layer, layer.weight.detach() * a if attribution else a))
    try:
        with explanation_pass(twin):
            leaf = grad_leaf(x)
            logits = twin(leaf)
            rows = torch.arange(len(x), device=logits.device)
            score = logits[rows, target] - (logits[rows, contrast] if contrast is not None else 0)
            (grad,) = torch.autograd.grad(score.sum(), [leaf])
    finally:
        for h in handles:
            h.remove()
    return (grad * score.detach().view(-1, *[1] * (grad.dim() - 1))).float()
