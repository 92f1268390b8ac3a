"""Seeding torch's global generators for library code that draws from them, without side effects."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int, device) -> Iterator[None]:
    """Inside: the global generators of the CPU and of ``device`` seeded with ``seed`` (code such as
    Captum's noise, ``reset_parameters`` or dropout draws from them). After: the caller's states
    back. Only those generators are touched: ``torch.manual_seed`` would also reseed every other
    GPU, and queue a seed for a GPU not started yet that would outlive the block."""
    device = torch.device(device)
    gpus = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.random.default_generator.manual_seed(int(seed))
        for gpu in gpus:
            with torch.cuda.device(gpu):
                torch.cuda.manual_seed(int(seed))
        yield
