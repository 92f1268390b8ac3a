"""Relevance conservation layer by layer: how much of the explained score LRP keeps at each layer.

LRP (Bach, Binder, Montavon, Klauschen, Müller and Samek, "On pixel-wise explanations for
non-linear classifier decisions by layer-wise relevance propagation", PLoS ONE 10(7), 2015,
Eq. 2) asks that the relevance be conserved from layer to layer, sum_i R_i^(l) = sum_j R_j^(l+1)
= f(x); Montavon, Binder, Lapuschkin, Samek and Müller ("Layer-wise relevance propagation: an
overview", in Explainable AI, LNAI 11700, 2019, section 10.2) note which rules keep it: LRP-0 and
z+ (alpha1beta0) redistribute all of a neuron's relevance to its inputs when the layer has no
bias, while LRP-epsilon absorbs the share eps / (z_k + eps) of each neuron's relevance and a bias
b_k the share b_k / z_k. :func:`layer_conservation` measures sum_i R_i^(l) at the input of every
conv / linear layer, so a chart shows where relevance is lost (or created: a negative bias
share adds relevance).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import lrp
from ..core.capture import preserved_model, unknown_layer_error
from ..core.targets import model_logits, prepare_inputs, targets_from_logits

__all__ = ["Conservation", "layer_conservation"]


@dataclass
class Conservation:
    """Total LRP relevance at the input of each conv / linear layer, from the output down.

    Attributes
    ----------
    layers : list of str
        The conv / linear layers, from the output down (the last one reads the pixels).
    rules : list of str
        The rule each of ``layers`` got (a rule name, or a zennit rule's class name).
    relevance : numpy.ndarray
        N x L float64: sum_i R_i at the input of each of ``layers``, per image.
    score : numpy.ndarray
        N float64: f(x), the target's logit, the relevance seeded at the output.
    target : list of int
        The class explained per image.
    composite : str
        The LRP composite.
    """

    layers: list
    rules: list
    relevance: np.ndarray
    score: np.ndarray
    target: list
    composite: str

    @property
    def kept(self) -> np.ndarray:
        """N x L: the relevance at each layer over f(x) (1 = conserved; NaN where f(x) is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.score[:, None] != 0, self.relevance / self.score[:, None], np.nan)

    def table(self) -> str:
        """The mean over images as a Markdown table (layer, rule, relevance, share of f(x))."""
        mean, score = self.relevance.mean(0), float(self.score.mean())
        rows = [f"| output | seed | {score:.4g} | 1 |"]
        rows += [f"| {n} | {r} | {v:.4g} | {v / score if score else float('nan'):.3g} |"
                 for n, r, v in zip(self.layers, self.rules, mean)]
        return "\n".join(["| layer (input of) | rule | sum of relevance | share of f(x) |", "| --- | --- | --- | --- |",
                          *rows])


def layer_conservation(model: nn.Module, inputs: torch.Tensor, target=None, *, composite: str = "epsilon",
                       layers=None, epsilon: float = 0.25, gamma: float = 0.25, bias: bool = True,
                       layer_rules: dict | None = None, canonize: bool = True) -> Conservation:
    """LRP relevance summed at the input of every conv / linear layer, and the score it started from.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (N x K logits); left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W batch.
    target : None, int or sequence of int, optional
        The class explained (None: each image's top-1).
    composite : str, default "epsilon"
        One of :data:`~xai_widgets.attribution.lrp.COMPOSITES`.
    layers : sequence of str or None, default None
        The layers reported (conv / linear names); None for all of them.
    epsilon, gamma, bias, layer_rules, canonize
        As :func:`xai_widgets.attribution.lrp.lrp`; ``bias=False`` leaves biases out of the rules.

    Returns
    -------
    Conservation
        Per image and layer, the relevance sum, and f(x).

    Raises
    ------
    ValueError
        For a model LRP does not support, an unknown composite, or a name in ``layers`` that is
        not a conv / linear layer of the model.
    """
    x = prepare_inputs(model, inputs)
    plan = lrp.layer_rules(model, x, composite, layer_rules)
    chosen = list(plan) if layers is None else [str(n) for n in layers]
    unknown = [n for n in chosen if n not in plan]
    if unknown:
        raise unknown_layer_error(unknown, list(plan))
    logits = model_logits(model, x)
    t, _ = targets_from_logits(logits, target, None)
    modules = dict(model.named_modules())
    seen: dict = {}

    def grab(name):
        def hook(_m, args):
            if args and isinstance(args[0], torch.Tensor) and args[0].requires_grad:
                args[0].register_hook(lambda g: seen.__setitem__(name, g.detach().flatten(1).double().sum(1)))
        return hook

    with preserved_model(model, eval_mode=True):
        # registered before zennit's hooks, so each sees the layer's raw input
        handles = [modules[n].register_forward_pre_hook(grab(n)) for n in chosen]
        try:
            lrp.relevance(model, x, t, None, logits, composite=composite, epsilon=epsilon, gamma=gamma,
                          layer_rules=layer_rules, canonize=canonize, bias=bias)
        finally:
            for h in handles:
                h.remove()
    order = [n for n in plan if n in chosen][::-1]  # from the output down
    sums = torch.stack([seen[n] for n in order], 1).cpu().numpy()
    rows = torch.arange(len(t))
    score = logits[rows, t].double().cpu().numpy()
    rules = [r if isinstance(r, str) else type(r).__name__ for r in (plan[n] for n in order)]
    return Conservation(order, rules, sums, score, t.tolist(), composite)
