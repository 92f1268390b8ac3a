"""Small models with the traps real models have, a batch of demo images, and a hygiene check."""
from __future__ import annotations

import torch
from torch import nn

from xai_widgets.demo import to_tensor
from xai_widgets.demo.shapes import make_shapes


class SharedReLUNet(nn.Module):
    """A ResNet-style block: one ReLU module called twice, an in-place ReLU, batch norm."""

    def __init__(self, in_ch: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)  # shared: called after bn1 and after the residual sum
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.conv2(h) + h)
        return self.fc(self.pool(h).flatten(1))


class Raises(nn.Module):
    """Raises inside the forward after the first layer has run."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bad = nn.Linear(3, 3)

    def forward(self, x):
        return self.bad(self.conv(x))  # shape mismatch -> RuntimeError


def shapes_batch(n: int, seed: int) -> torch.Tensor:
    """``n`` demo shapes images at 64 px as an N x 3 x 64 x 64 batch in [0, 1]."""
    return to_tensor(make_shapes(n, seed=seed, size=64).images)


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": {n: m.training for n, m in model.named_modules()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "objects": {n: id(t) for n, t in [*model.named_parameters(), *model.named_buffers()]},
    }


def assert_untouched(model: nn.Module, before: dict) -> None:
    """Every hygiene guarantee of the capture module, checked against a snapshot."""
    for name, module in model.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks", "_forward_hooks_with_kwargs"):
            assert not getattr(module, attr, {}), f"{attr} left on {name or 'root'}"
    assert {n: m.training for n, m in model.named_modules()} == before["training"]
    assert {n: p.requires_grad for n, p in model.named_parameters()} == before["requires_grad"]
    for name, p in model.named_parameters():
        assert p.grad is None, f".grad left on {name}"
    assert {n: id(t) for n, t in [*model.named_parameters(), *model.named_buffers()]} == before["objects"], \
        "parameters or buffers were added, removed or replaced"
    after = model.state_dict()
    for k, v in before["state"].items():
        assert torch.equal(after[k], v), f"{k} changed"
