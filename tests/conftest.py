"""Shared fixtures."""
from __future__ import annotations

import pytest
import torch

from toy_models import SharedReLUNet


@pytest.fixture
def shared_net():
    torch.manual_seed(0)
    return SharedReLUNet()
