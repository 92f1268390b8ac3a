"""Shared by the bench scripts: wall-clock timing that waits for the GPU when there is one."""
from __future__ import annotations

import time

import torch


def timed(fn, device: str):
    """(seconds, result) of ``fn()``; on CUDA, queued kernels are finished before and after."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t, out
