"""Shared fixtures."""
from __future__ import annotations

import pytest
import torch
from hypothesis import settings

from toy_models import SharedReLUNet


@pytest.fixture
def shared_net():
    torch.manual_seed(0)
    return SharedReLUNet()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run faster on one thread than on two busy cores (and with less noise)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def exact_float32():
    """CUDA convolutions and matmuls in full float32: TF32 (cuDNN's default for convolutions)
    rounds to 10 mantissa bits, which would hide real CPU/GPU differences behind 1e-3 noise."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# Property tests: the suite's profile, and a longer one (pytest --hypothesis-profile=long).
settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=3000, deadline=None)
settings.load_profile("default")
