"""LRP's conservation layer by layer (xai_widgets.attribution.conservation) against hand-derived sums.

The toy networks have positive inputs and positive first-layer weights, so every pre-activation z
of the layers checked is at least a margin (> 0.3, checked): the stabiliser s added to z then moves
a neuron's share by at most s / margin, and a layer's sum by that fraction of the relevance passing
through it (all positive, at most the largest sum), once per layer above; float64 rounding adds a
few ulps per sum (float_bounds.sum_tol)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from float_bounds import sum_tol
from toy_models import assert_untouched, shapes_batch, snapshot

#: the stabiliser each rule adds to z: LRP-0's epsilon in xai_widgets.attribution.lrp, zennit's AlphaBeta default
STABILISER = {"zero": 1e-9, "alpha1beta0": 1e-6}
EPS64 = float(torch.finfo(torch.float64).eps)


def mlp(bias: bool, seed: int = 0) -> nn.Sequential:
    """A 1 x 2 x 3 image flattened, 6 -> 5 -> 4 -> 3, ReLU between, float64; weights in [0.5, 1.5],
    biases in [-0.3, 0.3]."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 5, bias=bias), nn.ReLU(), nn.Linear(5, 4, bias=bias), nn.ReLU(),
                        nn.Linear(4, 3, bias=bias)).double().eval()
    with torch.no_grad():
        for layer in (net[1], net[3], net[5]):
            layer.weight.copy_(0.5 + torch.rand(layer.weight.shape, generator=g, dtype=torch.float64))
            if bias:
                layer.bias.copy_(0.6 * torch.rand(layer.bias.shape, generator=g, dtype=torch.float64) - 0.3)
    return net


def inputs(n: int = 4, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.5 + torch.rand(n, 1, 2, 3, generator=g, dtype=torch.float64)


def forward(net: nn.Sequential, x: torch.Tensor) -> list:
    """The input of every linear layer, and the logits, as numpy."""
    a = x.numpy().reshape(len(x), -1)
    seen = []
    for layer in net:
        if isinstance(layer, nn.Linear):
            seen.append(a)
            a = a @ layer.weight.detach().numpy().T + (0 if layer.bias is None else layer.bias.detach().numpy())
        elif isinstance(layer, nn.ReLU):
            a = np.maximum(a, 0)
    return seen + [a]


def bound(net, x, values, rule: str = "zero") -> float:
    """The stabiliser's and float64's largest effect on each layer's sum (see the module doc)."""
    acts = forward(net, x)
    linear = [m for m in net if isinstance(m, nn.Linear)]
    margin = min(float(np.min(a @ m.weight.detach().numpy().T + (0 if m.bias is None else m.bias.detach().numpy())))
                 for a, m in zip(acts, linear))
    assert margin > 0.3
    layers = values.shape[1]
    largest = np.abs(values).max()
    return largest * (layers * STABILISER[rule] / margin) + sum_tol(64, largest * 8, eps=EPS64)


def test_bias_free_relu_net_conserves_at_every_layer():
    net, x = mlp(bias=False), inputs()
    for composite in ("zero", "alpha1beta0"):
        c = xw.attribution.conservation.layer_conservation(net, x, composite=composite)
        assert c.layers == ["5", "3", "1"] and c.rules == [composite] * 3
        logits = forward(net, x)[-1]
        np.testing.assert_allclose(c.score, logits.max(1), rtol=0, atol=1e-12)
        assert c.target == logits.argmax(1).tolist()
        np.testing.assert_allclose(c.relevance, np.repeat(c.score[:, None], 3, 1), rtol=0,
                                   atol=bound(net, x, c.relevance, composite))


def test_with_biases_the_loss_is_each_bias_share():
    """LRP-0 with biases in the denominators: neuron k passes (z_k - b_k) / z_k of its relevance
    down, so layer fc keeps f - b_fc[t] and each layer below loses sum_k b_k R_k / z_k."""
    net, x = mlp(bias=True), inputs()
    t = 2
    c = xw.attribution.conservation.layer_conservation(net, x, target=t, composite="zero")
    a0, a1, a2, z = forward(net, x)
    W = [net[i].weight.detach().numpy() for i in (1, 3, 5)]
    b = [net[i].bias.detach().numpy() for i in (1, 3, 5)]
    r3 = np.zeros_like(z)
    r3[:, t] = z[:, t]  # the seed
    expected = []
    r = r3
    for a, w, bias in zip((a2, a1, a0), W[::-1], b[::-1]):
        zz = a @ w.T + bias
        s = np.where(zz != 0, r / zz, 0)
        r = a * (s @ w)  # R_j = a_j sum_k w_kj R_k / z_k
        expected.append(r.sum(1))
    expected = np.stack(expected, 1)
    loss_top = z[:, t] - expected[:, 0]
    np.testing.assert_allclose(loss_top, b[2][t], atol=1e-9)  # the top layer loses exactly b[t]
    np.testing.assert_allclose(c.relevance, expected, rtol=0, atol=bound(net, x, c.relevance))
    np.testing.assert_allclose(c.score, z[:, t], atol=1e-12)
    assert not np.allclose(c.relevance[:, 1:], c.score[:, None], atol=1e-3)  # something is lost below


def test_epsilon_absorbs_its_share_at_the_top():
    """LRP-epsilon: the top layer keeps z / (z + eps) of the target logit z (bias-free)."""
    net, x = mlp(bias=False), inputs()
    eps = 0.25
    c = xw.attribution.conservation.layer_conservation(net, x, composite="epsilon", epsilon=eps)
    f = c.score
    np.testing.assert_allclose(c.relevance[:, 0], f * f / (f + eps), rtol=1e-12)
    assert (np.diff(c.relevance, axis=1) < 0).all()  # every layer absorbs some


def test_shapes_model_conserves_with_z_plus_and_reports_chosen_layers():
    model, x = xw.demo.shapes_model(), shapes_batch(2, seed=3)
    before = snapshot(model)
    c = xw.attribution.conservation.layer_conservation(model, x, composite="alpha1beta0", bias=False,
                                                       layers=["conv1", "fc", "conv3"])
    assert_untouched(model, before)
    assert c.layers == ["fc", "conv3", "conv1"]
    # the pixel layer's sum is what lrp() returns
    r = xw.lrp.lrp(model, x, composite="alpha1beta0", bias=False).double().flatten(1).sum(1).numpy()
    np.testing.assert_allclose(c.relevance[:, -1], r, rtol=1e-5)
    assert np.abs(c.kept - 1).max() < 2e-3  # z+ without biases conserves (the LRP test's bound)
    assert "| conv1 |" in c.table()


def test_refuses_a_layer_that_is_not_conv_or_linear():
    model, x = xw.demo.shapes_model(), shapes_batch(1, seed=3)
    before = snapshot(model)
    with pytest.raises(ValueError, match="nope"):
        xw.attribution.conservation.layer_conservation(model, x, layers=["nope"])
    assert_untouched(model, before)
