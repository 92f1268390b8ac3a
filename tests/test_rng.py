"""xai_widgets.core.rng.seeded: seeded draws inside, the caller's state after, no other generator touched."""
from __future__ import annotations

import pytest
import torch

import xai_widgets as xw
from xai_widgets.core.rng import seeded

from toy_models import shapes_batch


def test_draws_inside_are_the_seeds_and_the_callers_state_comes_back():
    torch.manual_seed(123)
    expected_after = torch.rand(5)
    torch.manual_seed(123)
    with seeded(7, "cpu"):
        inside = torch.randn(4)
    assert torch.equal(inside, torch.randn(4, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(torch.rand(5), expected_after)


def test_a_cpu_block_never_seeds_a_gpu(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a GPU generator was seeded (or a seed queued for an unstarted GPU)")

    monkeypatch.setattr(torch.cuda, "manual_seed_all", refuse)
    monkeypatch.setattr(torch.cuda, "manual_seed", refuse)
    with seeded(0, torch.device("cpu")):
        torch.rand(1)
    model = xw.demo.shapes_model()  # SmoothGrad draws Captum's noise inside seeded()
    a = xw.attribution.smoothgrad(model, shapes_batch(1, seed=3), samples=2, seed=4)
    b = xw.attribution.smoothgrad(model, shapes_batch(1, seed=3), samples=2, seed=4)
    assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_gpu_block_seeds_and_restores_that_gpu():
    state = torch.cuda.get_rng_state()
    with seeded(7, "cuda"):
        inside = torch.rand(3, device="cuda")
    assert torch.equal(torch.cuda.get_rng_state(), state)
    with seeded(7, "cuda"):
        assert torch.equal(torch.rand(3, device="cuda"), inside)
