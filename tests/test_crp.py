"""Concept Relevance Propagation (xw.crp): channel relevances, conditional heatmaps, reference samples.

References: the LRP-0 identity (relevance at a layer = activation x gradient on ReLU nets,
Montavon et al. 2019), conservation on bias-free nets, linearity of the rules in the relevance
they receive, and a hand-built model whose answer is known. Models are float64 where sums are
compared, so the only rounding is the float32 result (tests/float_bounds.py).
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import xai_widgets as xw
from xai_widgets.attribution import crp, lrp
from float_bounds import rounded_tol
from toy_models import assert_untouched, snapshot

pytest.importorskip("zennit")


def conv_net(seed: int, bias: bool = True, dtype=torch.float64) -> nn.Module:
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=bias), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                      nn.Conv2d(6, 12, 3, padding=1, bias=bias), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                      nn.Linear(48, 5, bias=bias))
    return m.to(dtype).eval()


def image(seed: int, size: int = 12) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_channel_relevance_is_activation_times_gradient_under_lrp0():
    """LRP-0 on a ReLU net gives each neuron a * dlogit/da (biases included), so R_c = sum a * grad."""
    model, x = conv_net(1), image(2)
    acts = {}
    handle = model[3].register_forward_hook(lambda _m, _i, out: acts.__setitem__("a", out))
    out = model(x)
    handle.remove()
    t = int(out.argmax())
    (g,) = torch.autograd.grad(out[0, t], acts["a"])
    terms = (g * acts["a"]).detach()
    ref = terms.sum((2, 3))[0]
    got = crp.channel_relevance(model, x, None, "3", composite="zero")[0].double()
    assert torch.allclose(got, ref, rtol=0, atol=rounded_tol(terms.abs().sum()))


def test_channel_relevances_sum_to_the_logit_on_a_bias_free_net():
    """LRP-0 (stabiliser 1e-9, far below float32's step) conserves relevance layer by layer without biases."""
    model, x = conv_net(3, bias=False), image(4)
    logit = model(x)[0].max().item()
    r = crp.channel_relevance(model, x, None, "3", composite="zero", bias=False)[0].double()
    assert abs(float(r.sum()) - logit) <= rounded_tol(r.abs().sum())


def test_each_conditional_heatmap_sums_to_its_channel_relevance_on_a_bias_free_net():
    model, x = conv_net(5, bias=False), image(6)
    c = crp.conditional_relevance(model, x, None, "3", composite="zero", bias=False, chunk=5)
    assert c.heatmaps.shape == (12, 12, 12) and c.channels == list(range(12))
    sums = c.heatmaps.double().sum((1, 2))
    tol = rounded_tol(1.0) * (c.heatmaps.double().abs().sum((1, 2)) + c.relevance.double().abs())  # per channel
    assert ((sums - c.relevance.double()).abs() <= tol).all()
    assert abs(float(c.relevance.double().sum()) - c.logit) <= rounded_tol(c.relevance.double().abs().sum())


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), composite=st.sampled_from(lrp.COMPOSITES), layer=st.sampled_from(["0", "3", "4"]))
def test_the_conditional_heatmaps_of_all_channels_add_up_to_the_lrp_heatmap(seed, composite, layer):
    """Every rule is linear in the relevance it receives, so masking to each channel in turn and adding
    the results gives back the unmasked LRP heatmap (with biases, batch-free chunks of 5)."""
    model, x = conv_net(seed), image(seed + 1)
    heatmaps = crp.conditional_heatmaps(model, x, None, layer, chunk=5, composite=composite).double()
    plain = lrp.lrp(model, x, None, composite=composite)[0].sum(0).double()
    tol = rounded_tol(1.0) * (heatmaps.abs().sum(0) + plain.abs())  # per pixel
    assert ((heatmaps.sum(0) - plain).abs() <= tol).all()


class TwoChannels(nn.Module):
    """Channel 0 feeds only class 0, channel 1 only class 1 (positive weights, no biases)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.rand(2, 3, 3, 3, generator=torch.Generator().manual_seed(0)))
            self.fc.weight.copy_(torch.eye(2))
        self.double()

    def forward(self, x):
        return self.fc(self.relu(self.conv(x)).mean((2, 3)))


def test_a_channel_that_does_not_feed_the_class_gets_no_relevance():
    model, x = TwoChannels(), image(7, 8)
    logits = model(x)[0].detach()
    for target in (0, 1):
        c = crp.conditional_relevance(model, x, target, "conv", composite="zero", bias=False)
        other = 1 - target
        assert c.relevance[other] == 0 and torch.count_nonzero(c.heatmaps[other]) == 0
        assert abs(float(c.relevance[target]) - float(logits[target])) <= rounded_tol(logits[target].abs())
        assert c.order[0] == target and c.share(target) == 1.0


def test_reference_samples_rank_images_by_the_channels_relevance():
    """In TwoChannels, channel 0's relevance for class 0 is logit 0, which grows with the image's
    brightness; channel 1 gives class 0 nothing, so its values are all 0 (ties keep dataset order)."""
    model = TwoChannels()
    base = image(8, 8)
    scales = torch.tensor([0.5, 3.0, 1.0, 2.0, 0.25], dtype=torch.float64)
    data = base * scales[:, None, None, None]

    def crop(x, rows, cols):  # each patch carries its image's brightness and the cell it was taken at
        out = torch.zeros(*rows.shape, 1, 1, 3, dtype=torch.uint8)
        out[..., 0] = (x.mean((1, 2, 3)) / base.mean() * 4).round().to(torch.uint8)[:, None, None, None]
        out[..., 1], out[..., 2] = rows[..., None, None], cols[..., None, None]
        return out

    ref = crp.reference_samples(model, "conv", data, target=0, k=3, batch_size=2, crop=crop, composite="zero",
                                bias=False)
    assert ref.n_images == 5 and ref.k == 3
    assert ref.indices[0].tolist() == [1, 3, 2] and ref.indices[1].tolist() == [0, 1, 2]
    logits = model(data)[:, 0].detach()
    assert torch.allclose(torch.from_numpy(ref.values[0]).double(), logits[[1, 3, 2]],
                          rtol=0, atol=rounded_tol(logits.abs().max()))
    assert (ref.values[1] == 0).all() and (ref.classes == 0).all()
    assert ref.patches[0, :, 0, 0, 0].tolist() == [12, 8, 4]  # brightness 3, 2, 1 (x4)
    assert (ref.patches[:, :, 0, 0, 1:] == ref.locations).all()
    predicted = crp.reference_samples(model, "conv", data, k=2, composite="zero", bias=False)
    assert (predicted.classes == model(data).argmax(1)[predicted.indices].numpy()).all()


class SharedReLU(nn.Module):
    """Batch norm (merged into its conv during LRP), an in-place ReLU module called twice."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2, self.fc = nn.Conv2d(8, 8, 3, padding=1), nn.Linear(8, 4)

    def forward(self, x):
        h = self.relu(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(h.mean((2, 3)))


def test_the_model_is_left_exactly_as_it_was():
    model = SharedReLU().train()
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
    before = snapshot(model)
    x = torch.rand(2, 3, 10, 10)
    crp.channel_relevance(model, x, 1, "conv2")
    crp.conditional_heatmaps(model, x[:1], 2, "relu:1", chunk=3)
    crp.reference_samples(model, "conv1", x, k=1)
    assert_untouched(model, before)
    assert model.training


def test_bad_input_is_refused_with_what_is_accepted():
    model, x = conv_net(9), image(9)
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        crp.channel_relevance(model, x, 0, "nope")
    with pytest.raises(ValueError, match=r"out of range|\[0, 5\)"):
        crp.channel_relevance(model, x, 5, "3")
    with pytest.raises(ValueError, match="channel 12 is not a channel index of the layer \\(0 to 11\\)"):
        crp.conditional_heatmaps(model, x, 0, "3", channels=[0, 12])
    with pytest.raises(ValueError, match="one image at a time"):
        crp.conditional_heatmaps(model, x.repeat(2, 1, 1, 1), 0, "3")
    with pytest.raises(TypeError, match="unknown LRP option"):
        crp.channel_relevance(model, x, 0, "3", rule="zero")
    with pytest.raises(ValueError, match="chunk must be a positive int"):
        crp.conditional_heatmaps(model, x, 0, "3", chunk=0)
    with pytest.raises(ValueError, match="runs fewer than 2 times"):
        crp.channel_relevance(model, x, 0, "3:1")
    with pytest.raises(ValueError, match="empty"):
        crp.reference_samples(model, "3", [])


def test_crp_is_exported():
    assert xw.crp is crp and xw.attribution.crp is crp
