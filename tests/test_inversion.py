"""Inversion of representations (Mahendran and Vedaldi 2015, 2016) and Norton's feature isolation."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import xai_widgets as xw
from xai_widgets import inversion
from xai_widgets.core.tasks import Cancelled
from xai_widgets.inversion.objective import alpha_norm_grad, total_variation_grad

torch.set_num_threads(1)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, stride=2, padding=1),
                         nn.Tanh()).double()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), alpha=st.sampled_from([2.0, 3.0, 6.0]), beta=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
       h=st.integers(2, 6), w=st.integers(2, 6))
def test_prior_gradients_equal_autograd(seed, alpha, beta, h, w):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, h, w, generator=gen, dtype=torch.float64, requires_grad=True)
    center = torch.randn(1, 3, 1, 1, generator=gen, dtype=torch.float64)
    (ga,) = torch.autograd.grad(inversion.alpha_norm(x, alpha, 0.8, center).sum(), [x])
    (gt,) = torch.autograd.grad(inversion.total_variation(x, beta, 0.3).sum(), [x])
    torch.testing.assert_close(alpha_norm_grad(x.detach(), alpha, 0.8, center), ga, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(total_variation_grad(x.detach(), beta, 0.3), gt, rtol=1e-10, atol=1e-12)


def test_priors_by_hand():
    # one 2 x 2 single-channel image: differences 1 (right, top row), 2 (down, left column)...
    x = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]], dtype=torch.float64)
    zero = torch.zeros(1, 1, 1, 1, dtype=torch.float64)
    # R_TV, beta 2, V 1: right differences (1, 2), down differences (2, 3); / (H W)
    assert inversion.total_variation(x, 2.0, 1.0).item() == pytest.approx((1 + 4 + 4 + 9) / 4)
    # R_alpha, alpha 2, B 1: squared norms 0, 1, 4, 16 over H W
    assert inversion.alpha_norm(x, 2.0, 1.0, zero).item() == pytest.approx(21 / 4)


def test_objective_gradient_equals_central_differences():
    model = _net()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 6, 6, generator=gen, dtype=torch.float64)
    with xw.model_lock(model):
        target = model(torch.rand(1, 3, 6, 6, generator=gen, dtype=torch.float64)).detach()
    kw = dict(weight=3.0, alpha=6.0, beta=2.0, bound=0.7, tv_scale=0.7 / 6.5,
              center=torch.full((1, 3, 1, 1), 0.5, dtype=torch.float64))
    _, grad = inversion.objective(model, "3", x, target, **kw)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (0, 1, 2, 3), (0, 2, 5, 5), (0, 0, 3, 1)]:
        plus, minus = x.clone(), x.clone()
        plus[idx] += eps
        minus[idx] -= eps
        numeric = (inversion.objective(model, "3", plus, target, **kw)[0]["objective"]
                   - inversion.objective(model, "3", minus, target, **kw)[0]["objective"]) / (2 * eps)
        assert grad[idx].item() == pytest.approx(numeric.item(), rel=1e-6, abs=1e-8)


def test_invertible_layer_recovers_the_image():
    # An orthogonal 1 x 1 convolution loses nothing: with the loss weighted far above the
    # priors, the pre-image must be the image.
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 1, bias=False)
    conv.weight.data = torch.linalg.qr(torch.randn(3, 3))[0][:, :, None, None]
    model = nn.Sequential(conv)
    image = xw.to_batch(xw.demo.shapes_images(1, seed=2), xw.demo.shapes_model())[0, :, ::4, ::4].contiguous()
    r = inversion.invert(model, "0", image, n=2, iterations=300, weight=1e4)
    assert r.loss.max() < 1e-3
    err = (r.images - image).pow(2).mean(dim=(1, 2, 3)).sqrt()
    assert err.max() < 0.02 * float(image.max() - image.min())


@pytest.fixture(scope="module")
def demo():
    model = xw.demo.shapes_model()
    images = xw.to_batch(xw.demo.shapes_images(2, seed=5), model)
    return model, images


def test_early_layers_keep_more_of_the_image_than_late_ones(demo):
    model, images = demo
    for image in images:
        err = {layer: (inversion.invert(model, layer, image, n=1, iterations=200).images[0] - image).pow(2).mean()
               for layer in ("relu1", "relu4")}
        assert err["relu1"] < 0.5 * err["relu4"]


def test_pre_images_of_a_batch_equal_single_runs_and_the_model_is_untouched(demo):
    model, images = demo
    model64 = xw.demo.shapes_model().double().train()
    before = {k: v.clone() for k, v in model64.state_dict().items()}
    image = images[0].double()
    both = inversion.invert(model64, "relu2", image, n=2, iterations=20, seed=7)
    second = inversion.invert(model64, "relu2", image, n=1, iterations=20, seed=8)
    torch.testing.assert_close(both.images[1], second.images[0], rtol=0, atol=1e-6)
    assert not torch.equal(both.images[0], both.images[1])
    assert model64.training and all(m.training for m in model64.modules())
    assert all(torch.equal(before[k], v) for k, v in model64.state_dict().items())
    assert all(p.grad is None for p in model64.parameters())


def test_history_snapshots_and_settings(demo):
    model, images = demo
    r = inversion.invert(model, "relu1", images[0], n=2, iterations=30, snapshots=3)
    assert r.snapshot_steps == [0, 10, 20, 30]
    assert r.snapshots.shape == (4, 2, 3, 128, 128)
    torch.testing.assert_close(r.snapshots[-1], r.images)
    assert r.history["loss"].shape == (30, 2)
    h = r.history
    torch.testing.assert_close(h["objective"], 100 * h["loss"] + h["alpha"] + h["tv"], rtol=1e-5, atol=1e-6)
    # B makes R_alpha of the target exactly 1; V = B / 6.5; eta0 = (B^2 / alpha) / 100 in 8-bit units
    s = r.settings
    x = images[0].double()
    c = x.mean((1, 2), keepdim=True)
    expected_b = (x - c).pow(2).sum(0).pow(3).mean().item() ** (1 / 6)
    assert s["bound"] == pytest.approx(expected_b, rel=1e-5)
    assert s["tv_scale"] == pytest.approx(s["bound"] / 6.5)
    assert s["eta0"] == pytest.approx((s["unit"] * s["bound"]) ** 2 / 6 / 100)
    assert s["unit"] == pytest.approx(255 / float(images[0].max() - images[0].min()))


def test_region_mask_and_isolate():
    mask = inversion.region_mask((0, 0, 64, 32), (128, 128), (4, 4))
    expected = np.zeros((4, 4))
    expected[:2, :1] = 1
    np.testing.assert_array_equal(mask[0, 0].numpy(), expected)
    tiny = inversion.region_mask((10, 10, 12, 12), (128, 128), (4, 4))
    assert tiny.sum() == 1 and tiny[0, 0, 0, 0] == 1
    image = torch.rand(3, 20, 20)
    out = inversion.isolate(image, (5, 6, 10, 12), seed=1)
    assert torch.equal(out[:, 5:10, 6:12], image[:, 5:10, 6:12])
    outside = torch.ones(20, 20, dtype=torch.bool)
    outside[5:10, 6:12] = False
    assert not torch.equal(out[:, outside], image[:, outside])
    assert out.min() >= image.min() and out.max() <= image.max()
    torch.testing.assert_close(out, inversion.isolate(image, (5, 6, 10, 12), seed=1))


def test_region_inversion_matches_only_the_region(demo):
    model, images = demo
    r = inversion.invert(model, "relu2", images[0], n=1, iterations=5, box=(0, 0, 64, 64))
    assert r.settings["box"] == (0, 0, 64, 64)
    assert math.isfinite(float(r.loss[0]))


@pytest.mark.parametrize("kwargs, words", [
    (dict(n=0), "n must be an int > 0"),
    (dict(iterations=2.5), "iterations must be an int"),
    (dict(weight=-1.0), "weight must be a finite number >= 0"),
    (dict(beta=0.5), "beta must be a finite number >= 1"),
    (dict(momentum=1.0), "momentum must be in [0, 1)"),
    (dict(box=(0, 0, 200, 10)), "box must be (top, left, bottom, right)"),
    (dict(bound=float("nan")), "bound must be a finite number > 0"),
])
def test_bad_settings_are_refused(demo, kwargs, words):
    model, images = demo
    with pytest.raises(ValueError) as info:
        inversion.invert(model, "relu1", images[0], iterations=kwargs.pop("iterations", 1), **kwargs)
    assert words in str(info.value)


def test_bad_targets_are_refused(demo):
    model, images = demo
    with pytest.raises(ValueError, match="one C x H x W image"):
        inversion.invert(model, "relu1", images, iterations=1)
    with pytest.raises(ValueError, match="nolayer"):
        inversion.invert(model, "nolayer", images[0], iterations=1)
    with pytest.raises(ValueError, match="C x H x W tensor"):
        inversion.isolate(images, (0, 0, 4, 4))


def test_cancel_leaves_the_model_as_it_was(demo):
    model, images = demo
    model.train()
    try:
        with pytest.raises(Cancelled):
            inversion.invert(model, "relu1", images[0], iterations=50, cancel=lambda: True)
        assert model.training
    finally:
        model.eval()
