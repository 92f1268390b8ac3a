import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xai_widgets.units.backview import FILTERS, MODES, back_display, unit_backprop
from xai_widgets.demo import shapes_dataset, shapes_model, to_tensor

from toy_models import assert_untouched, snapshot


class RefReLU(torch.autograd.Function):
    """The three ReLU backward rules written out, for an independent functional reference."""

    @staticmethod
    def forward(ctx, x, mode):
        ctx.save_for_backward(x)
        ctx.mode = mode
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        rule = {"grad": grad * (x > 0), "deconv": grad.clamp(min=0), "guided": grad.clamp(min=0) * (x > 0)}
        return rule[ctx.mode], None


def shared_net_reference(net, x, mode, layer, channel, location=None):
    """SharedReLUNet's forward by hand with RefReLU at both calls of its shared ReLU."""
    m = copy.deepcopy(net).eval()
    x = x[None].detach().clone().requires_grad_()
    h = RefReLU.apply(m.bn1(m.conv1(x)), mode)
    if layer == "relu:1" or layer == "fc":
        h = RefReLU.apply(m.conv2(h) + h, mode)
    if layer == "fc":
        h = m.fc(m.pool(h).flatten(1))[:, :, None, None]
    unit = h[0, channel]
    objective = unit.sum() if location is None else unit[location]
    return torch.autograd.grad(objective, x)[0][0]


def test_grad_equals_analytic_gradient_of_linear_relu_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(8, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    x = torch.randn(2, 2, 2, dtype=torch.float64)
    w1, b1, w2 = net[1].weight.detach(), net[1].bias.detach(), net[3].weight.detach()
    mask = (w1 @ x.flatten() + b1 > 0).double()
    assert 0 < mask.sum() < 5  # some hidden units on, some off
    for k in range(3):  # d y_k / dx = w2[k] diag(mask) w1
        expected = ((w2[k] * mask) @ w1).reshape(2, 2, 2)
        torch.testing.assert_close(unit_backprop(net, x, "3", k), expected)
    for j in range(5):  # the ReLU layer itself: mask_j w1[j]
        torch.testing.assert_close(unit_backprop(net, x[None], "2", j), (mask[j] * w1[j]).reshape(2, 2, 2))


def test_grad_equals_finite_differences_at_a_location_and_summed():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3)).double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    eps = 1e-6
    for objective, location in [(lambda out: out[0, 1, 1, 2], (1, 2)), (lambda out: out[0, 0].sum(), None)]:
        numeric = torch.zeros_like(x)
        with torch.no_grad():
            for i in range(x.numel()):
                step = torch.zeros(x.numel(), dtype=torch.float64)
                step[i] = eps
                step = step.view_as(x)
                numeric.view(-1)[i] = (objective(net(x + step)) - objective(net(x - step))) / (2 * eps)
        channel = 1 if location else 0
        torch.testing.assert_close(unit_backprop(net, x, "2", channel, location=location), numeric[0],
                                   rtol=1e-6, atol=1e-8)


def hand_net(inplace=False):
    """x (2) -> Linear W1 (3 x 2) -> ReLU -> Linear w2 (1 x 3), no biases."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 3, bias=False), nn.ReLU(inplace=inplace), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0], [1.0, 1.0]]))
        net[3].weight.copy_(torch.tensor([[3.0, -2.0, 1.0]]))
    return net


@pytest.mark.parametrize("inplace", [False, True])
def test_deconv_and_guided_by_hand(inplace):
    # x = (1, 2): h = W1 x = (-1, 4, 3), forward mask (h > 0) = (0, 1, 1), y = w2 . relu(h) = -8 + 3.
    # The gradient arriving at the ReLU's output is w2 = (3, -2, 1); the input gets W1^T g_h.
    #   grad:   g_h = w2 * mask             = (0, -2, 1) -> W1^T g_h = (0 - 4 + 1, 0 - 2 + 1) = (-3, -1)
    #   deconv: g_h = relu(w2)              = (3,  0, 1) -> W1^T g_h = (3 + 0 + 1, -3 + 0 + 1) = (4, -2)
    #   guided: g_h = relu(w2) * mask       = (0,  0, 1) -> W1^T g_h = (1, 1)
    # Unit 0 of the ReLU layer itself (h = -1, off): the backward seed is 1, so grad and guided give
    # 1 * mask_0 * W1[0] = 0, deconv relu(1) * W1[0] = (1, -1).
    net = hand_net(inplace)
    x = torch.tensor([1.0, 2.0])[:, None, None]  # C x H x W = 2 x 1 x 1
    expected = {"grad": [-3.0, -1.0], "deconv": [4.0, -2.0], "guided": [1.0, 1.0]}
    for mode, values in expected.items():
        torch.testing.assert_close(unit_backprop(net, x, "3", 0, mode=mode), torch.tensor(values)[:, None, None])
    relu_unit0 = {"grad": [0.0, 0.0], "deconv": [1.0, -1.0], "guided": [0.0, 0.0]}
    for mode, values in relu_unit0.items():
        torch.testing.assert_close(unit_backprop(net, x, "2", 0, mode=mode), torch.tensor(values)[:, None, None])
    # a linear layer's only cell is (0, 0)
    torch.testing.assert_close(unit_backprop(net, x, "3", 0, mode="deconv", location=(0, 0)),
                               torch.tensor([4.0, -2.0])[:, None, None])
    assert net[2].inplace is inplace


def test_guided_equals_grad_when_every_grad_output_is_positive():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU())
    with torch.no_grad():
        net[2].weight.abs_()  # the backward seed (1 on channel 2) reaches the first ReLU as W2^T(...) >= 0
    x = torch.randn(3, 9, 9)
    grad = unit_backprop(net, x, "3", 2, mode="grad")
    torch.testing.assert_close(unit_backprop(net, x, "3", 2, mode="guided"), grad)
    assert not torch.allclose(unit_backprop(net, x, "3", 2, mode="deconv"), grad)  # deconv ignores the masks
    inplace = copy.deepcopy(net)
    inplace[1].inplace = inplace[3].inplace = True
    for mode in MODES:
        torch.testing.assert_close(unit_backprop(inplace, x, "3", 2, mode=mode), unit_backprop(net, x, "3", 2, mode=mode))


@pytest.mark.parametrize("mode", MODES)
def test_shared_inplace_relu_matches_functional_reference_and_is_untouched(shared_net, mode):
    torch.manual_seed(3)
    x = torch.randn(3, 7, 7)
    shared_net.train()  # must run in eval mode and come back in training mode
    for p in shared_net.conv2.parameters():
        p.requires_grad_(False)
    before = snapshot(shared_net)
    for layer, channel, location in [("relu", 1, None), ("relu:1", 3, None), ("relu:1", 5, (2, 4)), ("fc", 2, None)]:
        ours = unit_backprop(shared_net, x, layer, channel, mode=mode, location=location)
        assert_untouched(shared_net, before)
        assert shared_net.relu.inplace is True
        expected = shared_net_reference(shared_net, x, mode, layer, channel, location)
        torch.testing.assert_close(ours, expected)
        assert ours.abs().sum() > 0


def test_existing_grads_are_kept(shared_net):
    shared_net(torch.rand(1, 3, 6, 6)).sum().backward()
    grads = {n: p.grad.clone() for n, p in shared_net.named_parameters()}
    unit_backprop(shared_net, torch.rand(3, 6, 6), "conv2", 0, mode="guided")
    for n, p in shared_net.named_parameters():
        assert torch.equal(p.grad, grads[n]), n


def test_demo_model_hygiene_and_shapes():
    model = shapes_model().train()
    before = snapshot(model)
    x = to_tensor(shapes_dataset(1).images)[0]
    results = {mode: unit_backprop(model, x, "relu3", 5, mode=mode) for mode in MODES}
    assert_untouched(model, before)
    for g in results.values():
        assert g.shape == (3, 128, 128) and torch.isfinite(g).all() and g.abs().sum() > 0
    assert not torch.allclose(results["deconv"], results["grad"])
    assert not torch.allclose(results["guided"], results["grad"])


class RaisesAfterReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()
        self.bad = nn.Linear(3, 3)

    def forward(self, x):
        return self.bad(self.relu(self.conv(x)))  # shape mismatch -> RuntimeError


class FunctionalReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(F.relu(self.conv(x)))


class Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x.detach())


def test_errors_and_hygiene_on_errors(shared_net):
    x = torch.rand(3, 8, 8)
    before = snapshot(shared_net)
    with pytest.raises(ValueError, match=r"unknown back-view mode 'backprop'.*'grad', 'deconv', 'guided'"):
        unit_backprop(shared_net, x, "conv2", 0, mode="backprop")
    with pytest.raises(ValueError, match="unknown layer 'conv3'.*did you mean"):
        unit_backprop(shared_net, x, "conv3", 0)
    with pytest.raises(ValueError, match="did not run"):
        unit_backprop(shared_net, x, "relu:4", 0)
    for channel in (8, -1):
        with pytest.raises(ValueError, match=r"channel must be in 0\.\.7"):
            unit_backprop(shared_net, x, "conv1", channel, mode="guided")
    with pytest.raises(TypeError, match="channel must be an integer"):
        unit_backprop(shared_net, x, "conv1", 1.0)
    with pytest.raises(ValueError, match=r"location row must be in 0\.\.7"):
        unit_backprop(shared_net, x, "conv1", 0, location=(8, 0))
    with pytest.raises(ValueError, match=r"location col must be in 0\.\.0"):
        unit_backprop(shared_net, x, "fc", 0, location=(0, 1))
    with pytest.raises(ValueError, match="location must be"):
        unit_backprop(shared_net, x, "conv1", 0, location=3)
    with pytest.raises(ValueError, match="one image"):
        unit_backprop(shared_net, torch.rand(2, 3, 8, 8), "conv1", 0)
    with pytest.raises(TypeError, match="float tensor"):
        unit_backprop(shared_net, torch.zeros(3, 8, 8, dtype=torch.uint8), "conv1", 0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        unit_backprop(shared_net, np.zeros((3, 8, 8)), "conv1", 0)
    assert_untouched(shared_net, before)

    functional = FunctionalReLU()
    before = snapshot(functional)
    for mode in ("deconv", "guided"):
        with pytest.raises(ValueError, match="no nn.ReLU module runs before layer 'head'.*F.relu"):
            unit_backprop(functional, x, "head", 0, mode=mode)
    assert unit_backprop(functional, x, "head", 0).shape == (3, 8, 8)
    assert_untouched(functional, before)

    with pytest.raises(ValueError, match="does not depend on the input"):
        unit_backprop(Detached(), x, "conv", 0)

    raises = RaisesAfterReLU().train()
    before = snapshot(raises)
    for mode in MODES:
        with pytest.raises(RuntimeError):
            unit_backprop(raises, x, "bad", 0, mode=mode)
    assert_untouched(raises, before)


def test_back_display_by_hand():
    g = torch.tensor([[[2.0, -1.0]], [[0.0, 4.0]], [[-4.0, 1.0]]])  # 3 x 1 x 2, max |g| = 4
    np.testing.assert_allclose(back_display(g), [[[0.75, 0.5, 0.0], [0.375, 1.0, 0.625]]])
    gray = back_display(torch.tensor([[[-2.0, 0.0, 1.0]]]))  # 1 channel repeated
    np.testing.assert_allclose(gray, np.repeat(np.array([[0.0, 0.5, 0.75]])[:, :, None], 3, axis=2))
    norm = back_display(np.array([[[3.0, 0.0]], [[4.0, 1.0]]]), filter="norm")  # norms 5 and 1
    np.testing.assert_allclose(norm, [[[1.0] * 3, [0.2] * 3]])


def test_back_display_zero_and_random():
    for filt, value in zip(FILTERS, (0.5, 0.0)):
        out = back_display(torch.zeros(3, 4, 5), filter=filt)
        assert out.shape == (4, 5, 3) and (out == value).all()
    g = torch.randn(3, 6, 7)
    for filt in FILTERS:
        out = back_display(g, filter=filt)
        assert out.shape == (6, 7, 3) and out.dtype == np.float64
        assert out.min() >= 0 and out.max() <= 1
        assert np.abs(out - 0.5).max() == 0.5 if filt == "raw" else out.max() == 1.0  # the extreme reaches the end
    np.testing.assert_allclose(back_display(g), 0.5 + 0.5 * g.permute(1, 2, 0).double().numpy() / g.abs().max().item())


def test_back_display_errors():
    with pytest.raises(ValueError, match='needs 1 or 3 channels, got 2; use filter="norm"'):
        back_display(torch.rand(2, 3, 3))
    assert back_display(torch.rand(2, 3, 3), filter="norm").shape == (3, 3, 3)
    with pytest.raises(ValueError, match=r"unknown back-view filter 'gray'.*\('raw', 'norm'\)"):
        back_display(torch.rand(3, 3, 3), filter="gray")
    with pytest.raises(ValueError, match="C x H x W"):
        back_display(torch.rand(1, 3, 3, 3))
    with pytest.raises(ValueError, match="NaN"):
        back_display(torch.tensor([[[float("nan")]]]))


def _doubling_net() -> nn.Sequential:
    """out = 2 x (a 1 x 1 convolution): every objective's gradient is known by hand."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(2.0)
    return net


@pytest.mark.parametrize("objective", ["sum", "mean", "max"])
def test_the_unit_objective_sets_what_is_backpropagated(objective):
    x = torch.tensor([[[0.1, 0.5, 0.2], [0.3, 0.9, 0.0], [0.4, 0.6, 0.7]]])
    # d sum(2x)/dx = 2 everywhere; the mean divides by the 9 cells; the max is the centre cell's 2.
    want = {"sum": torch.full((1, 3, 3), 2.0), "mean": torch.full((1, 3, 3), 2.0 / 9),
            "max": torch.tensor([[[0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]])}[objective]
    torch.testing.assert_close(unit_backprop(_doubling_net(), x, "0", 0, objective=objective), want)


def test_an_unknown_objective_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown unit objective 'median'.*'mean', 'max', 'sum'"):
        unit_backprop(_doubling_net(), torch.rand(1, 3, 3), "0", 0, objective="median")
