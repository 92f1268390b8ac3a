"""Shared fixtures."""
from __future__ import annotations

import pytest
import torch

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
