"""Adversarial attacks against closed forms, their budgets, and the masked-gradient checklist."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import xai_widgets as xw
from xai_widgets import adversarial as adv
from toy_models import assert_untouched, snapshot

torch.set_num_threads(1)


def _linear(seed: int, k: int = 3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, k)).double()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), eps=st.floats(0.0, 0.5))
def test_fgsm_is_the_closed_form_on_a_linear_model(seed, eps):
    model = _linear(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 2, 2, 2, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (4,), generator=gen)
    w, b = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()
    flat = x.flatten(1).numpy()
    logits = flat @ w.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (p - np.eye(3)[y.numpy()]) @ w  # d CE / dx = W^T (softmax - onehot)
    expected = np.clip(flat + eps * np.sign(grad), 0, 1)
    got = adv.fgsm(model, x, y, eps).flatten(1).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.abs(got - flat).max() <= eps + 1e-12


@pytest.fixture(scope="module")
def demo():
    model = xw.demo.shapes_model()
    data = xw.demo.shapes_dataset(8, seed=77)
    return model, xw.demo.model.to_tensor(data.images), torch.as_tensor(data.labels)


def test_budgets_and_bounds(demo):
    model, x, y = demo
    eps = 2 / 255
    one = adv.fgsm(model, x, y, eps)
    assert (one - x).abs().max() <= eps + 1e-6 and one.min() >= 0 and one.max() <= 1
    free, steps = adv.bim(model, x, y, eps, 10, keep_steps=True)
    assert steps.shape == (11, *x.shape) and torch.equal(steps[0], x) and torch.equal(steps[-1], free)
    assert (free - x).abs().max() <= 10 * eps + 1e-6  # n steps of eps, no projection
    assert (free - x).abs().max() > eps  # the iterates do leave the eps-ball without projection
    ball = adv.bim(model, x, y, eps, 10, step=eps / 2, project=True)
    assert (ball - x).abs().max() <= eps + 1e-6


def test_iterative_success_grows_with_eps_and_beats_fgsm(demo):
    model, x, y = demo
    rates = [float(adv.success(model, adv.bim(model, x, y, e / 255, 10, step=0.25 * e / 255, project=True), y)
                   .float().mean()) for e in (1, 4, 16)]
    assert rates == sorted(rates) and rates[-1] > rates[0]


def test_checklist_passes_the_demo_and_flags_masked_gradients(demo):
    model, x, y = demo
    eps = (2 / 255, 8 / 255)
    clean = adv.obfuscation_checklist(model, x, y, epsilons=eps)
    assert clean["passed"] and clean["unbounded"] == 1.0

    class Rounded(nn.Module):
        """Quantises its input: the gradient through torch.round is zero everywhere."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, z):
            return self.inner(torch.round(z * 8) / 8)

    masked = adv.obfuscation_checklist(Rounded(model), x, y, epsilons=eps)
    assert masked["fgsm"] == [0.0, 0.0] and not masked["unbounded_succeeds"] and not masked["passed"]


def test_carlini_wagner_finds_small_successful_perturbations(demo):
    model, x, y = demo
    model.train()
    snap = snapshot(model)
    delta = adv.carlini_wagner(model, x[:4], y[:4], steps=100)
    model.eval()
    adv_x = x[:4] + delta
    assert adv_x.min() >= 0 and adv_x.max() <= 1
    flipped = adv.success(model, adv_x, y[:4])
    assert int(flipped.sum()) >= 3
    # where FGSM needs 8/255 of every pixel, C&W's L2 change is smaller
    fgsm_norm = (adv.fgsm(model, x[:4], y[:4], 8 / 255) - x[:4]).flatten(1).norm(dim=1)
    assert torch.all(delta.flatten(1).norm(dim=1)[flipped] < fgsm_norm[flipped])
    model.train()
    assert_untouched(model, snap)
    model.eval()


def test_imperceptibility_counts_only_correct_images():
    x = torch.ones(3, 1, 2, 2)
    moved = x.clone()
    moved[0] += 0.5  # ||delta|| / ||x|| = 1 / 2
    moved[2] += 5.0  # not counted: initially wrong
    assert adv.imperceptibility(x, x, torch.tensor([True, True, False])) == 0.0
    assert adv.imperceptibility(x, moved, torch.tensor([True, True, False])) == pytest.approx(0.25)
    assert np.isnan(adv.imperceptibility(x, moved, torch.tensor([False, False, False])))


def test_refusals(demo):
    model, x, y = demo
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        adv.fgsm(model, x, y, -1.0)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        adv.bim(model, x, y, 0.1, 0)
    with pytest.raises(ValueError, match="one class per image"):
        adv.fgsm(model, x, y[:3], 0.1)
    with pytest.raises(ValueError, match="bounds must be"):
        adv.fgsm(model, x, y, 0.1, bounds=(1, 0))
