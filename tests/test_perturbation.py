"""Meaningful and extremal perturbations (xai_widgets.attribution.perturbation) against independent references.

References: numpy sorts for the area loss (Fong et al. 2019 eq 4), numpy loops for the
(smooth-)max convolution (eqs 6-7), dense numpy Gaussian matrices for the blur (2019
section 3.4), and toy models whose evidence is known: a fixed box of image texture.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from float_bounds import EPS32, rounded_tol
from toy_models import SharedReLUNet, assert_untouched, snapshot
from xai_widgets import perturbation as P
from xai_widgets.core.tasks import Cancelled

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------- references

def np_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """pi_g(x; u, sigma) = sum_v g(u - v) x(v) / sum_v g(u - v) over the whole image, no truncation."""
    def matrix(n):
        d = np.arange(n)[:, None] - np.arange(n)[None, :]
        g = np.exp(-d.astype(np.float64) ** 2 / (2 * sigma ** 2))
        return g / g.sum(axis=1, keepdims=True)
    gh, gw = matrix(x.shape[-2]), matrix(x.shape[-1])
    return np.einsum("ij,ncjk,lk->ncil", gh, x.astype(np.float64), gw)


def np_max_conv(params: np.ndarray, step: int, sigma: float, size, coldness: float | None) -> np.ndarray:
    """Eq 6 (coldness None) or eq 7's smooth max over k(|u - c_v| / sigma) * m(v), one pixel at a time,
    v over the cells within 1 + ceil(sigma / step) cells of u's cell (and inside the grid)."""
    p, gh, gw = params.shape
    h, w = size
    r = 1 + math.ceil(sigma / step)
    out = np.zeros((p, h, w))
    for y in range(h):
        for x in range(w):
            i, j = y // step, x // step
            ks, vs = [], []
            for a in range(max(0, i - r), min(gh, i + r + 1)):
                for b in range(max(0, j - r), min(gw, j + r + 1)):
                    cy, cx = a * step + (step - 1) / 2, b * step + (step - 1) / 2
                    z = math.hypot(y - cy, x - cx) / sigma
                    ks.append(math.exp(-2 * max(z - 0.5, 0.0) ** 2))
                    vs.append((a, b))
            for n in range(p):
                f = np.array([k * params[n, a, b] for k, (a, b) in zip(ks, vs)])
                if coldness is None:
                    out[n, y, x] = f.max()
                else:
                    e = np.exp(coldness * (f - f.max()))
                    out[n, y, x] = (f * e).sum() / e.sum()
    return out


class BoxTexture(nn.Module):
    """Class 0 scores the high-frequency energy (squared Laplacian) of the image inside a fixed
    box, minus ``outside`` times the energy outside it; class 1 is a constant. Blurring the box
    destroys class 0's evidence; blurring the outside raises it when ``outside`` > 0."""

    def __init__(self, size=(24, 28), box=(6, 15, 7, 17), scale=100.0, outside=0.3, other=5.0):
        super().__init__()
        self.lap = nn.Conv2d(3, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            k = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])
            self.lap.weight.copy_(k.expand(1, 3, 3, 3) / 3)
        inside = torch.zeros(size)
        y0, y1, x0, x1 = box
        inside[y0:y1, x0:x1] = 1
        self.register_buffer("inside", inside / inside.sum())
        self.register_buffer("outside_w", (1 - inside) / (1 - inside).sum())
        self.scale, self.outside = scale, outside
        self.other = nn.Parameter(torch.tensor([other]))

    def forward(self, x):
        e = self.lap(x).pow(2)[:, 0]
        s0 = ((e * self.inside).sum((1, 2)) - self.outside * (e * self.outside_w).sum((1, 2))) * self.scale
        return torch.stack([s0, self.other.expand(len(x))], 1)


def box_mask(size=(24, 28), box=(6, 15, 7, 17)) -> torch.Tensor:
    m = torch.zeros(size, dtype=torch.bool)
    m[box[0]:box[1], box[2]:box[3]] = True
    return m


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def texture(n=1, size=(24, 28), seed=0) -> torch.Tensor:
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------- area loss

def test_area_loss_matches_numpy_sort():
    rng = np.random.default_rng(0)
    masks = rng.random((2, 3, 5, 7)).astype(np.float32)
    areas = [0.1, 0.43, 0.88]
    n = 35
    expected = np.zeros((2, 3))
    for i in range(2):
        for a, area in enumerate(areas):
            ones = int(round(area * n))
            ref = np.r_[np.zeros(n - ones), np.ones(ones)]
            expected[i, a] = ((np.sort(masks[i, a].ravel()) - ref) ** 2).sum()
    got = P.area_loss(torch.from_numpy(masks), areas, reduction="sum")
    # float32 sums of n non-negative squares (each one difference and one product): within
    # (n + 2) roundings of u = eps / 2 relative; the mean divides once more
    np.testing.assert_allclose(got.numpy(), expected, rtol=(n + 2) * EPS32 / 2)
    np.testing.assert_allclose(P.area_loss(torch.from_numpy(masks), torch.tensor(areas)).numpy(), expected / n,
                               rtol=(n + 3) * EPS32 / 2)


def test_area_loss_is_zero_for_a_mask_of_the_right_area():
    rng = np.random.default_rng(1)
    h, w, area = 12, 10, 0.25
    flat = np.zeros(h * w, dtype=np.float32)
    flat[: round(area * h * w)] = 1
    rng.shuffle(flat)
    mask = torch.from_numpy(flat.reshape(1, h, w))
    assert float(P.area_loss(mask, [area])) == 0.0
    assert float(P.area_loss(mask, [0.5])) > 0
    with pytest.raises(ValueError, match="areas"):
        P.area_loss(mask, [0.2, 0.3])


# ---------------------------------------------------------------------------- smooth masks

def test_smooth_masks_match_a_numpy_max_convolution():
    rng = np.random.default_rng(2)
    params = rng.random((2, 5, 6)).astype(np.float64)
    size, step, sigma = (13, 17), 3, 4.0
    p = torch.from_numpy(params)
    hard = P.smooth_masks(p, step=step, sigma=sigma, coldness=math.inf, size=size)
    np.testing.assert_allclose(hard.numpy(), np_max_conv(params, step, sigma, size, None), atol=1e-12)
    soft = P.smooth_masks(p, step=step, sigma=sigma, coldness=20.0, size=size)
    np.testing.assert_allclose(soft.numpy(), np_max_conv(params, step, sigma, size, 20.0), atol=1e-10)
    # the smooth max tends to the max as the coldness 1/T grows (eq 7)
    gaps = [float((P.smooth_masks(p, step=step, sigma=sigma, coldness=c, size=size) - hard).abs().max())
            for c in (1.0, 20.0, 200.0, 2000.0)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 2e-3 < gaps[0]
    assert float((soft - hard).max()) <= 1e-12  # a weighted mean never exceeds the max


def test_smooth_masks_range_lemma_1_and_all_ones():
    params = torch.rand(3, 1, 8, 9, generator=torch.Generator().manual_seed(3))
    size = (50, 60)  # non-square, not a multiple of the step
    m = P.smooth_masks(params, step=7, sigma=21.0, size=size)
    assert m.shape == (3, 50, 60) and float(m.min()) >= 0 and float(m.max()) <= 1
    # Lemma 1 for the max-convolution: k(0) = 1, so m-bar <= m <= 1, and m-bar = 1 gives m = 1
    hard = P.smooth_masks(params, step=7, sigma=21.0, coldness=math.inf, size=size)
    up = params[:, 0].repeat_interleave(7, 1).repeat_interleave(7, 2)[:, :50, :60]
    assert bool((hard >= up).all()) and float(hard.max()) <= 1
    ones = torch.ones(2, 8, 9)
    assert torch.equal(P.smooth_masks(ones, coldness=math.inf, size=size), torch.ones(2, *size))
    # with the smooth max (1/T = 20) an all-ones parameter mask stays close to 1
    assert float(P.smooth_masks(ones, size=size).min()) > 0.98


def test_smooth_masks_backward_is_the_gradient():
    p = torch.rand(2, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4)).requires_grad_()
    assert torch.autograd.gradcheck(lambda q: P.smooth_masks(q, step=3, sigma=4.0, coldness=5.0, size=(11, 14)), (p,))


def test_smooth_masks_reject_a_small_grid():
    with pytest.raises(ValueError, match="mask_grid"):
        P.smooth_masks(torch.ones(1, 3, 3), step=7, size=(32, 32))
    assert P.mask_grid((224, 224), 7) == (32, 32) and P.mask_grid((50, 60), 7) == (8, 9)


# ---------------------------------------------------------------------------- perturbation operators

@pytest.mark.parametrize("kind", P.KINDS)
def test_perturb_keeps_the_input_exactly_where_the_mask_is_one(kind):
    x = texture(2, (9, 13))
    before = x.clone()
    assert torch.equal(P.perturb(x, torch.ones(2, 9, 13), kind), x)
    assert torch.equal(x, before)


def test_perturb_blur_matches_dense_gaussian_blur():
    x = texture(1, (30, 44), seed=5)
    # 1e-4 is for the kernel's truncation at 4 sigma (the reference has none), not for rounding
    for max_blur in (3.0, 10.0):  # 10: the kernel is truncated at 4 sigma = 40 px < 44
        got = P.perturb(x, torch.zeros(1, 30, 44), "blur", max_blur=max_blur)
        np.testing.assert_allclose(got.numpy(), np_blur(x.numpy(), max_blur), atol=1e-4)
    # m = 1/2 sits between pyramid levels 3 and 4 of 8 (sigma = max_blur * 4/7 and 3/7)
    got = P.perturb(x, torch.full((1, 30, 44), 0.5), "blur", max_blur=7.0)
    expected = 0.5 * (np_blur(x.numpy(), 4.0) + np_blur(x.numpy(), 3.0))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-4)
    pyramid = P.blur_pyramid(x, levels=5, max_sigma=4.0)
    assert pyramid.shape == (1, 5, 3, 30, 44) and torch.equal(pyramid[:, -1], x)
    np.testing.assert_allclose(pyramid[:, 1].numpy(), np_blur(x.numpy(), 3.0), atol=1e-4)


def test_perturb_constant_fade_and_noise_formulas():
    x = texture(2, (40, 36), seed=6)
    m = torch.rand(2, 1, 40, 36, generator=torch.Generator().manual_seed(7))
    mean = x.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(P.perturb(x, m, "constant"), m * x + (1 - m) * mean)
    torch.testing.assert_close(P.perturb(x, m, "fade"), m * x)
    eta = P.perturb(x, torch.zeros(2, 40, 36), "noise", seed=3)
    torch.testing.assert_close(P.perturb(x, m, "noise", seed=3), m * x + (1 - m) * eta)
    torch.testing.assert_close(eta.mean(dim=(2, 3)), mean[:, :, 0, 0], atol=0.03, rtol=0)
    torch.testing.assert_close(eta.std(dim=(2, 3)), x.std(dim=(2, 3)), atol=0.03, rtol=0)
    assert torch.equal(P.perturb(x, m, "noise", seed=3), P.perturb(x, m, "noise", seed=3))
    assert not torch.equal(eta, P.perturb(x, torch.zeros(2, 40, 36), "noise", seed=4))
    # one H x W mask for the whole batch
    torch.testing.assert_close(P.perturb(x, m[0, 0], "fade"), m[0, 0] * x)


def test_perturb_is_differentiable_and_checks_its_arguments():
    x = texture(1, (10, 12))
    m = torch.full((1, 10, 12), 0.3, requires_grad=True)
    P.perturb(x, m, "blur").sum().backward()
    assert m.grad is not None and float(m.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        P.perturb(x, torch.full((1, 10, 12), 1.5))
    with pytest.raises(ValueError, match="N x H x W"):
        P.perturb(x, torch.ones(2, 10, 12))
    with pytest.raises(ValueError, match="kind must be one of"):
        P.perturb(x, torch.ones(1, 10, 12), "pixelate")
    with pytest.raises(ValueError, match="N x C x H x W"):
        P.perturb(x[0], torch.ones(1, 10, 12))


# ---------------------------------------------------------------------------- extremal perturbation

def test_extremal_preserves_the_box_and_finds_the_optimal_area():
    model = BoxTexture()
    x = texture()
    box = box_mask()
    areas = (0.05, float(box.float().mean()), 0.5)
    # 400 iterations with lambda growing twice as fast reach TorchRay's final lambda (300 * 1.0035^800);
    # no flip jitter: this toy model is not mirror-symmetric (a flipped image has its evidence elsewhere)
    r = P.extremal_perturbation(model, x, 0, areas=areas, step=2, sigma=3.0, iterations=400, regul_growth=1.007,
                                jitter=False)
    assert r.masks.shape == (1, 3, 24, 28) and r.perturbed.shape == (1, 3, 3, 24, 28)
    assert float(r.masks.min()) >= 0 and float(r.masks.max()) <= 1
    with torch.no_grad():
        full = model(x)[0, 0]
        shown = model(r.perturbed[0])[:, 0]
    torch.testing.assert_close(r.full_score[0], full)
    torch.testing.assert_close(r.scores[0], shown, rtol=1e-4, atol=1e-4)  # scores = Phi(m (x) x)
    torch.testing.assert_close(r.image_scores, r.scores)
    # the mask of the box's area covers the box
    assert iou(r.masks[0, 1] > 0.5, box) > 0.5
    assert float(r.masks[0, 1][box].mean()) > 0.8 > 0.2 > float(r.masks[0, 1][~box].mean())
    # monotone in the area (up to 2% of the score) and the mask areas are as asked
    s = r.scores[0]
    assert all(float(s[i + 1]) >= float(s[i]) - 0.02 * float(full) for i in range(2))
    torch.testing.assert_close(r.masks[0].mean(dim=(1, 2)), torch.tensor(areas), atol=0.06, rtol=0)
    # keeping the box alone beats the whole image (the outside counts against class 0), 5% does not
    assert float(s[0]) < float(full) <= float(s[1])
    assert int(r.best[0]) == 1
    assert r.history.shape == (1, 3, 400) and r.settings["iterations"] == 400


def test_extremal_best_is_the_first_area_reaching_the_full_score():
    model = BoxTexture(outside=0.0)  # nothing beats the whole image: no area reaches it
    r = P.extremal_perturbation(model, texture(), 0, areas=(0.1, 0.3), step=2, sigma=3.0, iterations=5)
    reached = r.scores >= r.full_score[:, None]
    expected = int(reached[0].float().argmax()) if bool(reached.any()) else 1
    assert int(r.best[0]) == expected


@pytest.mark.parametrize("variant, iterations", [("preserve", 31), ("dual", 11)])  # odd: the flip follows the iteration
def test_extremal_batched_equals_one_area_at_a_time(variant, iterations):
    # float64: batches of 4, 3 and 1 masks run other kernels, and the optimisation amplifies
    # their float32 rounding; in float64 it stays ~1e-13, and the results (returned as float32)
    # are float64 values rounded once: within rounded_tol of their scale (energies ~240, masks
    # <= 1), while a mask optimised with another's area or lambda differs by far more
    model = BoxTexture().double()
    x = texture(2, seed=8).double()
    kw = dict(areas=(0.1, 0.3), variant=variant, step=2, sigma=3.0, iterations=iterations)
    target, contrast = ([0, 0], None) if variant == "preserve" else (0, [1, 1])
    batched = P.extremal_perturbation(model, x, target, contrast=contrast, batch_areas=True, **kw)
    single = P.extremal_perturbation(model, x, target, contrast=contrast, **kw)  # "auto": one pair at a time on a CPU
    assert (batched.settings["batch_areas"], single.settings["batch_areas"]) == (4, 1)
    energy_tol = rounded_tol(single.history.abs().max())
    torch.testing.assert_close(batched.history, single.history, rtol=0, atol=energy_tol)
    torch.testing.assert_close(batched.objective, single.objective, rtol=0, atol=energy_tol)
    torch.testing.assert_close(batched.masks, single.masks, rtol=0, atol=rounded_tol(1.0))
    assert torch.equal(batched.best, single.best)
    if variant == "preserve":  # three pairs per batch: batches of 3 and 1
        chunked = P.extremal_perturbation(model, x, target, contrast=contrast, batch_areas=3, **kw)
        torch.testing.assert_close(chunked.objective, batched.objective, rtol=0, atol=energy_tol)
        assert chunked.settings["batch_areas"] == 3
    with pytest.raises(ValueError, match="batch_areas"):
        P.extremal_perturbation(model, x, target, contrast=contrast, batch_areas=0, **kw)


def test_extremal_delete_and_dual_rewards():
    model = BoxTexture()
    x = texture(1, seed=9)
    d = P.extremal_perturbation(model, x, 0, areas=(0.2,), variant="delete", step=2, sigma=3.0, iterations=20)
    with torch.no_grad():
        phi = model(d.perturbed[0])[:, 0]
        blurred = model(P.perturb(x, torch.zeros(1, 24, 28), "blur", max_blur=20.0))[0, 0]
    torch.testing.assert_close(d.image_scores[0], phi, rtol=1e-4, atol=1e-4)  # the image with the mask deleted
    torch.testing.assert_close(d.scores, -d.image_scores)
    torch.testing.assert_close(d.full_score[0], -blurred, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(d.reference[0, 1], blurred, rtol=1e-4, atol=1e-4)
    # the dual score against a recomputation in other batches: in float64. The score is
    # returned rounded once to float32 (rounded_tol of its four terms), and so is the mask the
    # recomputation starts from: rounding m (<= 1) by u = eps / 2 moves the score by at most
    # u * sum |d score / d m| (first order; the second is ~u^2)
    model64, x64 = BoxTexture().double(), x.double()
    u = P.extremal_perturbation(model64, x64, 0, contrast=1, areas=(0.2,), variant="dual", step=2, sigma=3.0,
                                iterations=3)
    m = u.masks[0].double().requires_grad_(True)
    keep = model64(P.perturb(x64, m, "blur", max_blur=20.0))
    drop = model64(P.perturb(x64, 1 - m, "blur", max_blur=20.0))
    expected = (keep[0, 0] - keep[0, 1]) - (drop[0, 0] - drop[0, 1])
    (slope,) = torch.autograd.grad(expected, m)
    tol = rounded_tol(keep[0].abs().sum() + drop[0].abs().sum()) + EPS32 / 2 * float(slope.abs().sum())
    torch.testing.assert_close(u.scores[0, 0].double(), expected.detach(), rtol=0, atol=tol)


def test_a_spatial_output_is_averaged_over_space():
    """A fully convolutional model (N x K x h x w) is scored, and its targets resolved, on the
    space-averaged output (TorchRay's reward)."""
    model = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3, padding=1))
    torch.manual_seed(0)
    x = texture(2, seed=3)
    with torch.no_grad():
        mean = model(x).mean(dim=(2, 3))
    r = P.extremal_perturbation(model, x, areas=(0.3,), step=4, sigma=6.0, iterations=2)
    assert r.settings["target"].tolist() == mean.argmax(1).tolist()
    torch.testing.assert_close(r.full_score, mean.gather(1, r.settings["target"][:, None])[:, 0])
    m = P.meaningful_perturbation(model, x, 1, iterations=2, mask_scale=4)
    with torch.no_grad():
        torch.testing.assert_close(m.scores, model(m.perturbed).mean(dim=(2, 3)).softmax(1)[:, 1])


def test_extremal_paper_schedule():
    lam = P._lambdas("paper", 9, 300.0, 1.0)
    assert lam == [300.0] * 3 + [600.0] * 3 + [1200.0] * 3
    torch_lam = P._lambdas("torchray", 800, 300.0, 1.0035)
    assert torch_lam[0] == 300.0 and abs(torch_lam[-1] - 300 * 1.0035 ** 799) < 1e-6
    r = P.extremal_perturbation(BoxTexture(), texture(), 0, areas=(0.2,), step=2, sigma=3.0, iterations=3,
                                schedule="paper")
    assert r.settings["regul_growth"] == 1.0 and r.settings["schedule"] == "paper"


def test_extremal_rejects_bad_arguments():
    model, x = BoxTexture(), texture()
    for areas in ((0.0,), (1.0,), (0.2, 1.5), (), (-0.1,)):
        with pytest.raises(ValueError, match="areas"):
            P.extremal_perturbation(model, x, 0, areas=areas, iterations=1)
    with pytest.raises(ValueError, match="variant must be one of"):
        P.extremal_perturbation(model, x, 0, variant="keep", iterations=1)
    with pytest.raises(ValueError, match="perturbation must be one of"):
        P.extremal_perturbation(model, x, 0, perturbation="pixelate", iterations=1)
    with pytest.raises(ValueError, match="schedule must be one of"):
        P.extremal_perturbation(model, x, 0, schedule="fast", iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        P.extremal_perturbation(model, x, 0, iterations=0)
    with pytest.raises(TypeError, match="inputs"):
        P.extremal_perturbation(model, x.numpy(), 0, iterations=1)


# ---------------------------------------------------------------------------- meaningful perturbation

def test_meaningful_deletion_removes_the_box():
    model = BoxTexture(scale=10.0, outside=0.0, other=1.0)
    x = texture()
    box = box_mask()
    with torch.no_grad():
        p0 = float(model(x).softmax(1)[0, 0])
    # l1 raised for a 24 x 28 image (the paper's 1e-4 is for 224 x 224 sums); mask at 1/4 resolution
    r = P.meaningful_perturbation(model, x, 0, perturbation="constant", l1=1e-3, iterations=150, mask_scale=4,
                                  mask_blur=1.0, jitter=2)
    saliency = 1 - r.mask[0]
    assert r.mask.shape == (1, 24, 28) and r.perturbed.shape == (1, 3, 24, 28)
    assert float(saliency[box].mean()) > 0.7 and float(saliency[~box].mean()) < 0.2
    assert iou(saliency > 0.5, box) > 0.5
    assert float(r.scores[0]) < 0.5 * p0
    with torch.no_grad():
        torch.testing.assert_close(r.scores, model(r.perturbed).softmax(1)[:, 0])
    assert 0 <= float(r.init_radius[0]) and r.history.shape == (1, 150)


def test_meaningful_blur_deletion_and_preservation_rank_the_box_first():
    model = BoxTexture(scale=10.0, outside=0.0, other=1.0)
    x = texture()
    box = box_mask()
    kw = dict(l1=1e-3, iterations=60, mask_scale=4, mask_blur=1.0, jitter=2)
    deletion = P.meaningful_perturbation(model, x, 0, **kw)
    saliency = 1 - deletion.mask[0]
    assert float(saliency[box].mean()) > 3 * float(saliency[~box].mean())
    keep = P.meaningful_perturbation(model, x, 0, game="preservation", perturbation="constant", init=1.0, **kw)
    assert float(keep.mask[0][box].mean()) > 0.8 > float(keep.mask[0][~box].mean()) + 0.3
    assert math.isnan(float(keep.init_radius[0]))


def test_meaningful_rejects_bad_arguments():
    model, x = BoxTexture(), texture()
    with pytest.raises(ValueError, match="game must be one of"):
        P.meaningful_perturbation(model, x, 0, game="keep", iterations=1)
    with pytest.raises(ValueError, match="perturbation must be one of"):
        P.meaningful_perturbation(model, x, 0, perturbation="swirl", iterations=1)
    with pytest.raises(ValueError, match="init"):
        P.meaningful_perturbation(model, x, 0, init="square", iterations=1)
    with pytest.raises(TypeError, match="model"):
        P.meaningful_perturbation(lambda t: t, x, 0, iterations=1)


# ---------------------------------------------------------------------------- model hygiene

def test_both_methods_leave_the_model_untouched(shared_net):
    model = shared_net.train()
    before = snapshot(model)
    x = torch.rand(2, 3, 20, 26, generator=torch.Generator().manual_seed(10))
    x_before = x.clone()
    r = P.extremal_perturbation(model, x, [0, 3], contrast=[1, 2], areas=(0.2, 0.5), variant="dual", step=4,
                                sigma=6.0, iterations=3)
    assert r.masks.shape == (2, 2, 20, 26) and r.scores.shape == (2, 2)
    m = P.meaningful_perturbation(model, x, None, iterations=3, mask_scale=4)
    assert m.mask.shape == (2, 20, 26) and m.scores.shape == (2,)
    assert_untouched(model, before)
    assert torch.equal(x, x_before)
    assert model.training


@pytest.mark.parametrize("method", ["extremal", "meaningful"])
def test_cancel_midway_raises_and_leaves_the_model_untouched(shared_net, method):
    model = shared_net.train()
    before = snapshot(model)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(11))
    seen = []
    progress = lambda done, total: seen.append((done, total))  # noqa: E731
    cancel = lambda: len(seen) >= 3  # noqa: E731
    with pytest.raises(Cancelled):
        if method == "extremal":
            P.extremal_perturbation(model, x, 0, areas=(0.3,), step=4, sigma=6.0, iterations=50, progress=progress,
                                    cancel=cancel)
        else:
            P.meaningful_perturbation(model, x, 0, iterations=50, mask_scale=4, progress=progress, cancel=cancel)
    assert seen == [(1, 50), (2, 50), (3, 50)]
    assert_untouched(model, before)
    assert model.training
