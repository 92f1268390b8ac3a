"""Gradient-family attribution (xai_widgets.attribution) against independent references."""
from __future__ import annotations

import copy
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xai_widgets as xw
from xai_widgets.attribution import methods as A
from xai_widgets.core.tasks import Cancelled
from float_bounds import EPS32, rounded_tol, sum_tol
from toy_models import assert_untouched, shapes_batch, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------ fixtures and toy models

@pytest.fixture(scope="module")
def shapes():
    return xw.demo.shapes_model(), shapes_batch(2, seed=5)


class SqrtModel(nn.Module):
    """y = x1 + sqrt(x2), the salience toy of Ancona et al. (ch. 9 of "Explainable AI", LNAI 11700,
    2019, §9.3.1): one output."""

    def forward(self, x):
        return (x[:, 0] + torch.sqrt(x[:, 1]))[:, None]


def linear_book_model():
    """E[y | x] = 1.05 x1 + 1.50 x2 (book Eq. 9.3), float64 so 1.05 is exact enough."""
    lin = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.05, 1.50]], dtype=torch.float64))
    return lin


class TinyNet(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


class RaisesLater(nn.Module):
    """Runs normally ``ok`` times, then raises inside forward after its conv layer ran."""

    def __init__(self, ok=1):
        super().__init__()
        self.ok = ok
        self.calls = 0
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = self.bn(self.conv(x))
        self.calls += 1
        if self.calls > self.ok:
            raise RuntimeError("boom")
        return self.fc(h.mean((2, 3)))


def hooks_left(model):
    return [(name, attr) for name, m in model.named_modules()
            for attr in ("_forward_hooks", "_backward_hooks", "_forward_pre_hooks")
            if getattr(m, attr)]


def top1(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


@pytest.fixture(scope="module")
def shapes64(shapes):
    """The same model and images in float64, for comparing two kernel paths (batched vs one
    image, a score difference vs two scores, Captum vs ours): the library computes in the
    model's dtype and returns float32, so both sides are float64 results rounded once and
    agree to ``rounded_tol`` on any CPU kernel set (float32 sums through a conv net have no
    useful worst-case bound)."""
    model, x = shapes
    return copy.deepcopy(model).double(), x.double()


# ------------------------------------------------------------------ book anchors

def test_ig_book_sqrt_anchor_and_grad_x_input_incomplete():
    x = torch.tensor([[4.0, 4.0]])
    ig, delta = A.integrated_gradients(SqrtModel(), x, target=0, steps=200)
    assert torch.allclose(ig[0], torch.tensor([4.0, 2.0]), atol=1e-2), ig
    assert abs(float(ig.sum()) - 6.0) < 1e-2 and abs(float(delta)) < 1e-2
    gxi = A.grad_x_input(SqrtModel(), x, target=0)
    assert torch.allclose(gxi[0], torch.tensor([4.0, 1.0]), atol=1e-5), gxi


def test_linear_book_anchor_gradient_vs_grad_x_input():
    model = linear_book_model()
    x = torch.tensor([[100000.0, 10000.0]], dtype=torch.float64)
    g = A.gradient(model, x, target=0)
    gxi = A.grad_x_input(model, x, target=0)
    assert torch.allclose(g[0].double(), torch.tensor([1.05, 1.50], dtype=torch.float64), rtol=1e-6)
    assert torch.allclose(gxi[0].double(), torch.tensor([105000.0, 15000.0], dtype=torch.float64), rtol=1e-6)
    assert abs(float(gxi.sum()) - 120000.0) < 0.1


# ------------------------------------------------------------------ references

def test_gradient_matches_autograd(shapes):
    model, x = shapes
    t = top1(model, x)
    xr = x.clone().requires_grad_(True)
    out = model(xr)
    (ref,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), xr)
    model.zero_grad(set_to_none=True)
    got = A.gradient(model, x)
    assert torch.allclose(got, ref, atol=1e-6, rtol=1e-5)
    assert torch.allclose(A.grad_x_input(model, x), ref * x, atol=1e-6, rtol=1e-5)
    assert torch.equal(A.attribute(model, x, "gradient").maps, A.pixel_map(got))
    assert torch.equal(A.pixel_map(got), got.sum(1))


def test_ig_completeness_and_delta_on_shapes(shapes):
    model, x = shapes
    x = x[:1]
    t = top1(model, x)
    with torch.no_grad():
        gap = float(model(x)[0, t] - model(torch.zeros_like(x))[0, t])
    deltas = []
    for steps in (4, 16, 64):
        attr, delta = A.integrated_gradients(model, x, steps=steps, method="riemann_trapezoid")
        total = float(attr.sum())
        # the reported delta is exactly sum(attr) - (f(x) - f(baseline))
        assert abs(float(delta[0]) - (total - gap)) < 1e-3 * max(1.0, abs(gap))
        deltas.append(abs(float(delta[0])))
    assert deltas[2] < deltas[1] < deltas[0]  # the Riemann error shrinks as steps grow
    attr, delta = A.integrated_gradients(model, x, steps=64)  # Gauss-Legendre
    assert abs(float(attr.sum()) - gap) < 0.01 * abs(gap) + 0.05, (float(attr.sum()), gap)
    assert abs(float(delta[0])) < 0.01 * abs(gap) + 0.05


def test_ig_baselines(shapes):
    model, x = shapes
    x = x[:1]
    for baseline in (0.5, "mean", "blur", torch.full((3, 1, 1), 0.25)):
        attr, delta = A.integrated_gradients(model, x, target=1, baseline=baseline, steps=32)
        b = A._baseline(x, baseline)
        with torch.no_grad():
            gap = float(model(x)[0, 1] - model(b)[0, 1])
        assert abs(float(attr.sum()) - gap - float(delta[0])) < 1e-3 * max(1.0, abs(gap))
    with pytest.raises(ValueError, match="baseline"):
        A.integrated_gradients(model, x, baseline="sky")
    with pytest.raises(ValueError, match="broadcast"):
        A.integrated_gradients(model, x, baseline=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="IG method"):
        A.integrated_gradients(model, x, method="simpson")


def test_grad_cam_matches_hand_formula(shapes):
    model, x = shapes
    t = top1(model, x)
    store = {}
    handle = model.conv3.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        out = model(x)
        act = store["a"]
        (g,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), act)
    finally:
        handle.remove()
    alpha = g.mean((2, 3), keepdim=True)
    cam = F.relu((alpha * act).sum(1, keepdim=True)).detach()
    ref = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    got = A.grad_cam(model, x, layer="conv3")
    assert got.shape == (2, 1, 64, 64)
    assert torch.allclose(got, ref, atol=1e-6, rtol=1e-4)
    assert (got >= 0).all()
    signed = A.grad_cam(model, x, layer="conv3", relu=False)
    assert (signed < 0).any()
    # the default layer is the last Conv2d
    res = A.attribute(model, x, "grad_cam")
    assert res.info["layer"] == "conv4"


def test_grad_cam_layer_errors(shapes):
    model, x = shapes
    with pytest.raises(ValueError, match="did you mean 'conv4'"):
        A.grad_cam(model, x, layer="conv5")
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        A.grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), torch.rand(1, 3, 2, 2))


def test_occlusion_matches_hand_loop():
    torch.manual_seed(0)
    model = TinyNet().eval().double()  # float64: the hand loop runs other batches than occlusion's
    x = torch.rand(2, 3, 9, 8, dtype=torch.float64)
    window, stride, fill = (3, 2), 2, 0.5
    t = top1(model, x)
    ref = torch.zeros(2, 9, 8, dtype=torch.float64)
    count = torch.zeros(9, 8, dtype=torch.float64)
    with torch.no_grad():
        base = model(x).gather(1, t[:, None])[:, 0]
        for r in range(0, 9 - 3 + 1, 2):
            for c in range(0, 8 - 2 + 1, 2):
                xo = x.clone()
                xo[:, :, r:r + 3, c:c + 2] = fill
                drop = base - model(xo).gather(1, t[:, None])[:, 0]
                ref[:, r:r + 3, c:c + 2] += drop[:, None, None]
                count[r:r + 3, c:c + 2] += 1
    ref = torch.where(count > 0, ref / count.clamp(min=1), torch.zeros(()))
    got = A.occlusion(model, x, window=window, stride=stride, fill=fill, batch_size=5)
    assert got.shape == x.shape and got.dtype == torch.float32
    tol = rounded_tol(ref.abs().max())  # float64 results rounded once (a channel sum: 3 x)
    for ch in range(3):
        torch.testing.assert_close(got[:, ch].double(), ref, atol=tol, rtol=0)
    torch.testing.assert_close(A.attribute(model, x, "occlusion", window=window, stride=stride, fill=fill).maps.double(),
                               3 * ref, atol=3 * tol, rtol=0)


def test_smoothgrad_noise_zero_is_gradient_and_seeded(shapes, shapes64):
    model, x = shapes
    g = A.gradient(model, x)
    # noise 0: the mean of 3 copies of the gradient, but of a batch of 3 copies of one image,
    # not of the batch of 2 images (other kernels), so compared in float64
    g64 = A.gradient(*shapes64)
    sg0 = A.smoothgrad(*shapes64, noise=0.0, samples=3)
    torch.testing.assert_close(sg0, g64, atol=rounded_tol(g64.abs().max()), rtol=0)
    a = A.smoothgrad(model, x, noise=0.2, samples=4, seed=3)
    state = torch.get_rng_state()
    b = A.smoothgrad(model, x, noise=0.2, samples=4, seed=3)
    assert torch.equal(state, torch.get_rng_state())  # global RNG untouched
    assert torch.equal(a, b)
    assert not torch.allclose(a, g, atol=1e-4)


def test_smoothgrad_noise_scale_is_fraction_of_range():
    # A model whose gradient is the input itself: d/dx (x^2 / 2) = x, so the smoothgrad
    # of one sample is x + noise, whose std reveals sigma = noise * (max - min).
    class Half(nn.Module):
        def forward(self, x):
            return (0.5 * x ** 2).flatten(1).sum(1, keepdim=True)

    x = torch.zeros(1, 1, 64, 64)
    x[..., 0, 0] = 10.0  # range 10
    sg = A.smoothgrad(Half(), x, target=0, noise=0.1, samples=1, seed=0)
    assert abs(float((sg - x).std()) - 1.0) < 0.05


# ------------------------------------------------------------------ contrast

def test_contrast_equals_difference_for_linear_methods(shapes, shapes64):
    model, x = shapes
    for name, kw in (("gradient", {}), ("grad_x_input", {}), ("integrated_gradients", {"steps": 8}),
                     ("occlusion", {"window": 32, "stride": 16})):
        # float64: the backward pass of a score difference and of two scores run other kernels
        both = A.attribute(*shapes64, name, target=[1, 2], contrast=3, **kw)
        a = A.attribute(*shapes64, name, target=[1, 2], **kw)
        b = A.attribute(*shapes64, name, target=3, **kw)
        # maps are float32 channel sums of float64 results rounded once, and a - b rounds once
        # more: within 4 eps * sum_c (|a_c| + |b_c|)
        scale = float((a.info["attr"].abs() + b.info["attr"].abs()).sum(1).max())
        torch.testing.assert_close(both.maps, a.maps - b.maps, atol=4 * EPS32 * scale, rtol=0, msg=name)
        assert both.contrast.tolist() == [3, 3] and both.target.tolist() == [1, 2]
    # grad-cam's contrast is Grad-CAM of the score difference (not linear because of ReLU)
    cam = A.grad_cam(model, x, target=1, contrast=2, relu=False)
    diff = A.grad_cam(model, x, target=1, relu=False) - A.grad_cam(model, x, target=2, relu=False)
    # Each side sums sum_c mean_hw(g_c) A_c in float32 (h*w terms per mean, C per channel sum, 4
    # bilinear weights), bounded by S = sum_c mean_hw(|g1_c| + |g2_c|) |A_c|; the gradients of
    # the score difference and of the two scores differ by one rounding (another eps * S).
    store = {}
    handle = model.conv4.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    try:
        out = model(x)
        g1, g2 = (torch.autograd.grad(out[:, k].sum(), store["a"], retain_graph=True)[0] for k in (1, 2))
    finally:
        handle.remove()
    act = store["a"].detach()
    S = float(((g1.abs() + g2.abs()).mean((2, 3), keepdim=True) * act.abs()).sum(1).max())
    C, h, w = act.shape[1:]
    torch.testing.assert_close(cam, diff, atol=sum_tol(C + h * w + 4, S) + EPS32 * S, rtol=0)


def test_contrastive_score_module(shapes):
    model, x = shapes
    s = A.ContrastiveScore(model)(x, torch.tensor([1, 2]), torch.tensor([0, 0]))
    with torch.no_grad():
        out = model(x)
    assert torch.allclose(s[:, 0], torch.stack([out[0, 1] - out[0, 0], out[1, 2] - out[1, 0]]).detach())


# ------------------------------------------------------------------ captum passthrough

def test_captum_objects_pass_through(shapes, shapes64):
    from captum.attr import IntegratedGradients, LayerGradCam, Saliency

    model, x = shapes
    sal = A.attribute(model, x, Saliency(model), abs=False, target=[0, 4])
    assert sal.method == "Saliency"
    assert torch.allclose(sal.maps, A.attribute(model, x, "gradient", target=[0, 4]).maps, atol=1e-6)
    ig = A.attribute(model, x, IntegratedGradients(model), n_steps=8, return_convergence_delta=True)
    named = A.attribute(model, x, "integrated_gradients", steps=8)
    assert torch.allclose(ig.maps, named.maps, atol=1e-5)
    # the deltas come from forward passes of other batches: compared in float64
    m64, x64 = shapes64
    ig = A.attribute(m64, x64, IntegratedGradients(m64), n_steps=8, return_convergence_delta=True)
    named = A.attribute(m64, x64, "integrated_gradients", steps=8)
    torch.testing.assert_close(ig.info["delta"], named.info["delta"], atol=rounded_tol(named.info["delta"].abs().max()),
                               rtol=0)
    cam = A.attribute(model, x, LayerGradCam(model, model.conv4))
    assert cam.maps.shape == (2, 64, 64)
    assert torch.allclose(cam.maps, A.attribute(model, x, "grad_cam", relu=False).maps, atol=1e-6)
    with pytest.raises(ValueError, match="contrast is not supported"):
        A.attribute(model, x, Saliency(model), contrast=1)


# ------------------------------------------------------------------ sliders

def test_ig_alpha_slider(shapes, shapes64):
    from captum.attr import IntegratedGradients

    model, x = shapes
    res = A.attribute(model, x, "integrated_gradients", series=True, steps=32, positions=8, baseline=0.25)
    s = res.series
    assert s.name == "alpha" and s.values[-1] == 1.0 and len(s.values) == 8
    assert s.values == sorted(s.values) and s.values[0] > 0
    assert s.maps.shape == (2, 8, 64, 64) and s.images.shape == (2, 8, 3, 64, 64) and s.scores.shape == (2, 8)
    assert s.index == 7 and torch.equal(s.maps[:, -1], res.maps)
    for j, a in enumerate(s.values):
        assert torch.allclose(s.images[:, j], 0.25 + a * (x - 0.25), atol=1e-6)
    with torch.no_grad():
        ref_scores = torch.stack([model(s.images[:, j]).gather(1, res.target[:, None])[:, 0]
                                  for j in range(8)], 1)
    assert torch.allclose(s.scores, ref_scores, atol=1e-4)
    # the full map is the right-Riemann IG; independent check against Captum, whose batches of
    # steps differ from ours: in float64
    m64, x64 = shapes64
    res64 = A.attribute(m64, x64, "integrated_gradients", series=True, steps=32, positions=8, baseline=0.25)
    ref = IntegratedGradients(m64).attribute(x64.clone().requires_grad_(), baselines=0.25, target=res64.target,
                                             n_steps=32, method="riemann_right").detach()
    torch.testing.assert_close(res64.info["attr"].double(), ref, atol=rounded_tol(ref.abs().max()), rtol=0)
    # completeness along the path: sum IG(alpha) ~ S(image at alpha) - S(baseline)
    with torch.no_grad():
        fb = model(torch.full_like(x, 0.25)).gather(1, res.target[:, None])[:, 0]
    assert torch.allclose(res.info["delta"], s.maps[:, -1].flatten(1).sum(1) - (s.scores[:, -1] - fb), atol=1e-4)
    assert res.info["scheme"] == "riemann_right"


def test_smoothgrad_noise_slider(shapes, shapes64):
    model, x = shapes
    res = A.attribute(model, x, "smoothgrad", series=True, noise=0.12, samples=3,
                      noise_levels=(0.0, 0.1, 0.2))
    s = res.series
    assert s.name == "noise" and s.values == [0.0, 0.1, 0.12, 0.2] and s.index == 2
    assert s.maps.shape == (2, 4, 64, 64)
    # noise 0 is the gradient, of a batch of copies of one image (other kernels): in float64
    # (maps: float32 channel sums of float64 results rounded once, within 3 eps * sum_c |g_c|)
    sweep64 = A.attribute(*shapes64, "smoothgrad", series=True, noise=0.12, samples=3, noise_levels=(0.0, 0.1, 0.2))
    g64 = A.attribute(*shapes64, "gradient")
    scale = float(g64.info["attr"].abs().sum(1).max())
    torch.testing.assert_close(sweep64.series.maps[:, 0], g64.maps, atol=3 * EPS32 * scale, rtol=0)
    assert torch.equal(s.maps[:, 2], res.maps)
    plain = A.attribute(model, x, "smoothgrad", noise=0.12, samples=3)
    assert plain.series is None and torch.allclose(plain.maps, res.maps, atol=1e-6)


def test_sweep_ignored_by_other_methods(shapes):
    model, x = shapes
    assert A.attribute(model, x, "grad_x_input", series=True).series is None


# ------------------------------------------------------------------ perturbation delegation

def test_extremal_and_meaningful_delegate(shapes, monkeypatch):
    from xai_widgets import perturbation

    model, x = shapes
    n, areas = 2, [0.1, 0.2, 0.4]
    seen = {}

    def fake_ep(model, inputs, target=None, *, contrast=None, areas=(0.1,), iterations=800, seed=0,
                progress=None, cancel=None):
        seen.update(target=target, contrast=contrast, areas=areas, iterations=iterations)
        masks = torch.arange(n * len(areas) * 64 * 64, dtype=torch.float32).reshape(n, len(areas), 64, 64)
        return perturbation.Extremal(list(areas), masks, torch.rand(n, len(areas)), torch.rand(n),
                                     torch.tensor([1, 2]), torch.rand(n, len(areas), 3, 64, 64),
                                     torch.rand(n, len(areas)), torch.rand(n, len(areas)))

    def fake_mp(model, inputs, target=None, *, contrast=None, iterations=300, progress=None, cancel=None):
        return perturbation.Meaningful(torch.full((n, 64, 64), 0.25), torch.rand(n), inputs.clone())

    monkeypatch.setattr(perturbation, "extremal_perturbation", fake_ep)
    monkeypatch.setattr(perturbation, "meaningful_perturbation", fake_mp)
    res = A.attribute(model, x, "extremal_perturbation", target=2, contrast=[0, 1], series=True,
                      areas=areas, iterations=5)
    assert seen["target"].tolist() == [2, 2] and seen["contrast"].tolist() == [0, 1]
    assert seen["iterations"] == 5
    masks = fake_ep(model, x, areas=areas).masks
    assert torch.equal(res.maps[0], masks[0, 1]) and torch.equal(res.maps[1], masks[1, 2])
    assert res.info["best"].tolist() == [1, 2] and res.info["best_area"].tolist() == pytest.approx([0.2, 0.4])
    assert res.series.name == "area" and res.series.values == areas and res.series.maps.shape == (2, 3, 64, 64)
    assert res.series.images.shape == (2, 3, 3, 64, 64) and res.series.scores.shape == (2, 3)
    assert A.attribute(model, x, "extremal_perturbation", areas=areas).series is None
    with pytest.raises(TypeError, match="unknown option"):
        A.attribute(model, x, "extremal_perturbation", nonsense=1)
    mp = A.attribute(model, x, "meaningful_perturbation")
    assert torch.allclose(mp.maps, torch.full((2, 64, 64), 0.75))


# ------------------------------------------------------------------ hygiene

ALL_FAST = (("gradient", {}), ("grad_x_input", {}), ("smoothgrad", {"samples": 2}),
            ("integrated_gradients", {"steps": 4}), ("grad_cam", {}),
            ("occlusion", {"window": 16, "stride": 16}))


@pytest.mark.parametrize("name,kw", ALL_FAST + (("integrated_gradients", {"steps": 4, "series": True}),
                                                ("smoothgrad", {"samples": 2, "series": True})))
def test_hygiene_after_every_method(shared_net, name, kw):
    model = shared_net.train()
    model.conv2.weight.requires_grad_(False)
    snap = snapshot(model)
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    x0 = x.detach().clone()
    with torch.no_grad():  # a user's no_grad must not break gradient methods
        res = A.attribute(model, x, name, target=[2, 3], contrast=[1, 0], **kw)
    assert res.maps.shape == (2, 16, 16) and torch.isfinite(res.maps).all()
    assert_untouched(model, snap)
    assert not hooks_left(model)
    assert torch.equal(x.detach(), x0) and x.grad is None and x.requires_grad


@pytest.mark.parametrize("name,kw", ALL_FAST)
def test_hygiene_when_model_raises(name, kw):
    torch.manual_seed(0)
    model = RaisesLater(ok=1).train()
    snap = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        A.attribute(model, torch.rand(1, 3, 16, 16), name, **kw)
    assert_untouched(model, snap)
    assert not hooks_left(model)
    from toy_models import Raises
    model = Raises()
    snap = snapshot(model)
    with pytest.raises(RuntimeError):
        A.attribute(model, torch.rand(1, 3, 8, 8), name, target=0, **kw)
    assert_untouched(model, snap)


# ------------------------------------------------------------------ progress, cancel, errors

def test_progress_and_cancel(shapes):
    model, x = shapes
    calls = []
    A.attribute(model, x, "integrated_gradients", steps=4, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]
    calls.clear()
    A.attribute(model, x, "occlusion", window=32, stride=32, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2, 2)
    snap = snapshot(model)
    stop = threading.Event()
    stop.set()
    for name in ("smoothgrad", "integrated_gradients", "occlusion", "gradient"):
        with pytest.raises(Cancelled):
            A.attribute(model, x, name, cancel=stop)
    with pytest.raises(Cancelled):
        A.attribute(model, x, "integrated_gradients", series=True, cancel=lambda: True)
    assert_untouched(model, snap)


def test_errors(shapes):
    model, x = shapes
    with pytest.raises(ValueError, match="integrated_gradients") as err:
        A.attribute(model, x, "integrated_gradient")
    assert "gradient, grad_x_input" in str(err.value)
    with pytest.raises(ValueError, match="out of range"):
        A.attribute(model, x, "gradient", target=6)
    with pytest.raises(ValueError, match="out of range"):
        A.attribute(model, x, "gradient", target=[0, -1])
    with pytest.raises(ValueError, match="one class per image"):
        A.attribute(model, x, "gradient", target=[0, 1, 2])
    with pytest.raises(ValueError, match="two different classes"):
        A.attribute(model, x, "gradient", target=1, contrast=[1, 2])
    with pytest.raises(TypeError, match="bool"):
        A.attribute(model, x, "gradient", target=True)
    with pytest.raises(ValueError, match="N x C x H x W"):
        A.attribute(model, x[0], "gradient")
    with pytest.raises(TypeError, match="torch.Tensor"):
        A.attribute(model, x.numpy(), "gradient")
    with pytest.raises(TypeError, match="float tensor"):
        A.attribute(model, (x * 255).to(torch.uint8), "gradient")
    with pytest.raises(ValueError, match="captum.attr Attribution object"):
        A.attribute(model, x, len)
    with pytest.raises(TypeError, match="unknown option.*'steps'"):
        A.attribute(model, x, "gradient", steps=3)
    with pytest.raises(ValueError, match="window"):
        A.occlusion(model, x, window=100)
    with pytest.raises(ValueError, match="steps"):
        A.integrated_gradients(model, x, steps=0)
    with pytest.raises(ValueError, match="pixel_map"):
        A.pixel_map(torch.zeros(2, 3))


def test_resolve_targets(shapes):
    model, x = shapes
    t, c = A.resolve_targets(model, x)
    assert t.dtype == torch.long and torch.equal(t, top1(model, x)) and c is None
    t, c = A.resolve_targets(model, x, torch.tensor(3), (1, 2))
    assert t.tolist() == [3, 3] and c.tolist() == [1, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_follows_model(exact_float32):
    model = xw.demo.shapes_model("cuda")
    x = shapes_batch(2, seed=5)  # CPU input
    snap = snapshot(model)
    for name, kw in ALL_FAST:
        res = A.attribute(model, x, name, **kw)
        assert res.maps.device.type == "cuda"
    res = A.attribute(model, x, "integrated_gradients", steps=4, series=True)
    assert res.series.maps.device.type == "cuda"
    ref = A.attribute(model.cpu(), x, "gradient").maps
    model.cuda()
    assert torch.allclose(A.attribute(model, x, "gradient").maps.cpu(), ref, atol=1e-4)
    assert_untouched(model, snap)
