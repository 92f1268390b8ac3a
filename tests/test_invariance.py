"""Input-shift invariance (Kindermans et al. 2019): f2(x + m) = f1(x), and which methods notice the shift."""
import numpy as np
import pytest
import torch
from torch import nn

from xai_widgets.attribution import invariance, lrp
from xai_widgets.core.capture import capture
from toy_models import assert_untouched, snapshot

torch.set_num_threads(1)


class Net(nn.Module):
    """A per-channel normalisation, a zero-padded convolution, a linear head: the demo's shape in small."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.register_buffer("mean", torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(24, 4)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv((x - self.mean) / 0.25))).flatten(1))


@pytest.fixture
def batch():
    return torch.rand(2, 3, 10, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.mark.parametrize("shift", [1.0, [0.5, -2.0, 3.0]])
def test_every_activation_of_the_shifted_model_is_the_same(batch, shift):
    f1 = Net().double()
    f2 = invariance.shifted_model(f1, batch, shift)
    m = torch.tensor(shift, dtype=torch.float64).view(1, -1, 1, 1)
    a = capture(f1, batch, ["relu", "pool", "fc"])
    b = capture(f2, batch + m, ["relu", "pool", "fc"])
    for name in ("relu", "pool", "fc"):
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-12)
    # the shift reaches the convolution as d = m / 0.25 and is folded into its bias: b - W d
    d = (m / 0.25).flatten().expand(3)
    torch.testing.assert_close(f2.conv[1].bias, f1.conv.bias - f1.conv.weight.sum((2, 3)) @ d, rtol=0, atol=1e-12)


def test_the_published_table(batch):
    model = Net().train()
    snap = snapshot(model)
    report = invariance.input_shift_invariance(model, batch.float(), shift=1.0)
    expected = {"gradient": True, "grad_x_input": False, "smoothgrad": True,
                "integrated_gradients (zero baseline)": False, "integrated_gradients (data-minimum baseline)": True,
                "grad_cam": True, "patternnet": True, "patternattribution": True}
    if lrp.available(model, batch.float()):
        expected["lrp (epsilon)"] = False
    assert report.invariant == expected
    assert_untouched(model, snap)
    assert "| gradient | 0 | yes |" in report.table()


def test_gradient_times_input_moves_by_the_gradient_times_the_shift(batch):
    report = invariance.input_shift_invariance(Net(), batch, shift=0.7,
                                               checks=[("g", "gradient", {}), ("gx", "grad_x_input", {})])
    grad = report.maps["g"][0]
    gx1, gx2 = report.maps["gx"]
    # sum_c g_c (x_c + m) - sum_c g_c x_c = m * sum_c g_c, and the gradient pixel map is sum_c g_c
    # the methods compute in float64 and sum the 3 channels in float32: a few roundings of
    # terms no larger than the largest map value
    bound = 8 * 2 ** -24 * float(max(gx1.abs().max(), gx2.abs().max()))
    assert float(((gx2.double() - gx1.double()) - 0.7 * grad.double()).abs().max()) <= bound


def test_refusals(batch):
    class Squares(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return self.conv(x * x).flatten(1)

    with pytest.raises(ValueError, match="not a per-channel affine map"):
        invariance.shifted_model(Squares().double(), batch, 1.0)
    with pytest.raises(ValueError, match="one number per input channel"):
        invariance.shifted_model(Net().double(), batch, [1.0, 2.0])
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        invariance.shifted_model(nn.Sequential(nn.Flatten()), batch, 1.0)


def test_split_neurons_computes_the_same_function_with_twice_the_units(batch):
    f1 = Net().double()
    f2 = invariance.split_neurons(f1, batch, "conv", theta=0.5)
    assert f2.conv.out_channels == 12 and f2.fc.in_features == 48
    torch.testing.assert_close(f2(batch), f1(batch), rtol=0, atol=1e-12)
    # each copy sees the same activation; the next layer reads them with w + theta and -theta
    torch.testing.assert_close(f2.fc.weight[:, 24:], torch.full((4, 24), -0.5, dtype=torch.float64))


def test_implementation_invariance_by_hand(batch):
    model = Net().train()
    snap = snapshot(model)
    report = invariance.implementation_invariance(model, batch, "conv", theta=0.5)
    for name in ("gradient", "grad_x_input", "integrated_gradients", "grad_cam", "patternattribution"):
        assert report.invariant[name], name
    # PatternNet: both copies carry the unit's whole signal back (their patterns equal the unit's),
    # so the map doubles exactly
    a, b = report.maps["patternnet"]
    torch.testing.assert_close(b, 2 * a, rtol=1e-5, atol=1e-7)
    if lrp.available(model, batch.float()):
        assert report.invariant["lrp (epsilon)"]  # z-proportional: (w + theta) h and -theta h add back up
        assert not report.invariant["lrp (gamma)"]  # (w + theta)+ and (-theta)+ do not
    assert_untouched(model, snap)
    assert report.change == {"layer": "conv", "theta": 0.5}


def test_split_refusals(batch):
    with pytest.raises(ValueError, match="not a Conv2d or Linear layer that runs"):
        invariance.split_neurons(Net().double(), batch, "relu")
    with pytest.raises(ValueError, match="no Conv2d or Linear layer runs after 'fc'"):
        invariance.split_neurons(Net().double(), batch, "fc")


class Halves(nn.Module):
    """Montavon's toy max(0, a1 - a2) as an image model: a1, a2 the means of the left and right halves."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, (16, 32), bias=False)
        w = torch.full((1, 1, 16, 32), 1 / 256)
        w[..., 16:] = -1 / 256
        self.conv.weight.data = w
        self.relu = nn.ReLU()

    def forward(self, x):
        a = self.relu(self.conv(x)).flatten(1)
        return torch.cat([a, -a], 1)


def test_continuity_gradient_times_input_jumps_where_the_unit_turns_on():
    # The patch hides part of the left half (the unit is off) and then of the right half (on):
    # gradient x input jumps from 0 to w * x at the switch; epsilon-LRP's relevance grows from 0
    # with the output (Montavon 2019, section 13.4).
    x = torch.full((1, 16, 32), 0.47)
    x[:, :, 16:] = 0.45
    gi = invariance.continuity(Halves(), x, "grad_x_input", patch=4, positions=29, fill=0.0, target=0)
    assert gi.positions == list(range(29))
    on = [i for i, m in enumerate(gi.maps) if m.abs().max() > 0]
    first = on[0]
    assert on == list(range(first, 29)) and first > 0
    # the jump at the switch: from the zero map to w * x there (the pixel map of one channel)
    occluded = x.clone()
    occluded[:, 6:10, first:first + 4] = 0.0
    w_x = (Halves().conv.weight.detach()[0, 0] * occluded[0]).double().norm()
    expected = w_x / gi.maps.double().flatten(1).norm(dim=1).mean()
    assert gi.steps[first - 1] == pytest.approx(float(expected), rel=1e-5)
    assert gi.jump > 5
    if lrp.available(Halves(), x[None]):
        eps = invariance.continuity(Halves(), x, "lrp", patch=4, positions=29, fill=0.0, target=0, composite="epsilon")
        assert eps.jump < gi.jump / 2
    assert gi.embedding.shape == (29, 2) and 0 < gi.explained.sum() <= 1 + 1e-9


def test_continuity_refusals():
    with pytest.raises(ValueError, match="must fit"):
        invariance.continuity(Halves(), torch.zeros(1, 16, 32), "gradient", patch=40)
    with pytest.raises(ValueError, match="C x H x W"):
        invariance.continuity(Halves(), torch.zeros(2, 1, 16, 32), "gradient")


def test_metrics_chart_draws_the_continuity_steps(tmp_path):
    import xai_widgets as xw

    x = torch.full((1, 16, 32), 0.47)
    x[:, :, 16:] = 0.45
    runs = {m: invariance.continuity(Halves(), x, m, patch=4, positions=29, fill=0.0, target=0)
            for m in ("grad_x_input", "gradient")}
    chart = xw.MetricsChart.continuity(runs)
    (panel,) = chart.panels
    assert panel["xs"] == [i + 0.5 for i in range(28)]
    for series, (name, run) in zip(panel["series"], runs.items()):
        assert series["name"] == name
        np.testing.assert_allclose(series["ys"], run.steps)
    assert chart.render_png().size[0] >= 240
    other = invariance.continuity(Halves(), x, "gradient", patch=4, positions=10, fill=0.0, target=0)
    with pytest.raises(ValueError, match="share the patch positions"):
        xw.MetricsChart.continuity({"a": runs["gradient"], "b": other})
    with pytest.raises(TypeError, match="invariance.Continuity"):
        xw.MetricsChart.continuity({"a": 1})
