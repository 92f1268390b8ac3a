"""Seeding torch's global generators for library code that draws from them, without side effects."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def seeded(seed: int, device) -> Iterator[None]:
    """Seed the global generators of the CPU and of ``device`` for the duration of a ``with`` block.

    Inside: the global generators of the CPU and of ``device`` seeded with ``seed`` (code such as
    Captum's noise, ``reset_parameters`` or dropout draws from them). After: the caller's states
    back. Only those generators are touched: ``torch.manual_seed`` would also reseed every other
    GPU, and queue a seed for a GPU not started yet that would outlive the block.

    Parameters
    ----------
    seed : int
        The seed (converted with ``int``) for the CPU generator and, when ``device`` is a CUDA device,
        for that GPU's generator.
    device : torch.device or str
        Anything ``torch.device`` accepts. A CUDA device has its generator seeded too; any other
        device seeds the CPU generator only.

    Yields
    ------
    None
        Control to the body of the block; the generator states are restored on exit, also when the
        body raises.
    """
    device = torch.device(device)
    gpus = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.random.default_generator.manual_seed(int(seed))
        for gpu in gpus:
            with torch.cuda.device(gpu):
                torch.cuda.manual_seed(int(seed))
        yield
