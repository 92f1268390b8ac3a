"""xai_widgets.core.hygiene.rollback_on_error on a toy module: every change undone on failure, none on success."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_widgets.core.hygiene import rollback_on_error


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, bias=False)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3, 2)
        self.head = nn.Linear(3, 2)
        self.head.weight = self.fc.weight  # tied: one tensor, two modules

    def forward(self, x):
        h = self.bn(self.conv(x)).relu().mean((2, 3))
        return self.fc(h) + self.head(h)


def hook_dicts(module):
    """Every hook container of this torch version, by attribute name (our own list, not the module's)."""
    return {k: dict(v) for k, v in vars(module).items() if "hooks" in k and isinstance(v, dict)}


def record(model):
    """An independent record of everything the context manager promises to restore."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "objects": {n: id(t) for n, t in [*model.named_parameters(remove_duplicate=False),
                                          *model.named_buffers(remove_duplicate=False)]},
        "storage": {n: t.data_ptr() for n, t in model.named_parameters()},
        "modules": [(n, id(m)) for n, m in model.named_modules()],
        "hooks": {n: hook_dicts(m) for n, m in model.named_modules()},
        "training": {n: m.training for n, m in model.named_modules()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        "grad": {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()},
        "attrs": {n: sorted(vars(m)) for n, m in model.named_modules()},
    }


def assert_same(model, before):
    after = record(model)
    for key in ("objects", "storage", "modules", "hooks", "training", "requires_grad", "attrs"):
        assert after[key] == before[key], key
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k
    for k, g in before["grad"].items():
        assert (after["grad"][k] is None) == (g is None) and (g is None or torch.equal(after["grad"][k], g)), k
    assert "forward" not in vars(model) and "forward" not in vars(model.conv)


def vandalise(model, calls):
    """What a canonizer / hook machinery failing part-way can leave behind."""
    with torch.no_grad():
        model.conv.weight.mul_(3)                                  # in place
        model.fc.weight.data = torch.zeros(2, 3)                  # swapped storage (zennit's merge)
        model.bn.running_mean.add_(1)                             # a buffer
    model.conv.bias = nn.Parameter(torch.zeros(3))                # a parameter added
    del model.bn._buffers["running_var"]                          # a buffer removed
    model.register_buffer("scratch", torch.ones(1))
    model.extra = nn.ReLU()                                       # a submodule added
    model.bn = nn.Identity()                                      # a submodule replaced
    model.conv.register_forward_hook(lambda *a: calls.append("fwd"))
    model.conv.register_forward_pre_hook(lambda *a: calls.append("pre"))
    model.fc.register_full_backward_hook(lambda *a: calls.append("bwd"))
    model.fc.register_forward_hook(lambda *a: calls.append("kw"), with_kwargs=True)
    model._register_state_dict_hook(lambda *a: calls.append("sd"))
    model.conv.forward = lambda x: x                              # instance-level forward
    model.train()
    model.conv.weight.requires_grad_(False)
    model.head.bias.grad = torch.ones(2)                          # a new .grad
    with torch.no_grad():
        model.fc.bias.grad.mul_(5)                                # an existing .grad changed


@pytest.fixture
def toy():
    torch.manual_seed(0)
    model = Toy().eval()
    model.fc.bias.grad = torch.full((2,), 0.5)  # a user's own .grad, kept
    user_calls = []
    handle = model.fc.register_forward_hook(lambda *a: user_calls.append("user"))  # a user's own hook, kept
    return model, user_calls, handle


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_everything_restored_when_the_body_raises(toy, error):
    model, user_calls, handle = toy
    weight = model.conv.weight
    view = model.fc.weight.data  # a user's view of the storage stays live
    x = torch.rand(1, 2, 5, 5)
    with torch.no_grad():
        ref = model(x)
    before = record(model)
    calls = []
    with pytest.raises(error):
        with rollback_on_error(model):
            vandalise(model, calls)
            assert record(model)["state"].keys() != before["state"].keys()  # the vandalism did happen
            raise error("part-way")
    assert_same(model, before)
    assert model.conv.weight is weight and model.head.weight is model.fc.weight
    assert view.data_ptr() == model.fc.weight.data_ptr() and torch.equal(view, model.fc.weight)
    assert model.conv.bias is None and isinstance(model.bn, nn.BatchNorm2d) and not hasattr(model, "extra")
    calls.clear()
    user_calls.clear()
    with torch.no_grad():
        out = model(x)
    assert torch.equal(out, ref) and calls == [] and user_calls == ["user"]
    handle.remove()  # the user's handle still points at the live hook dict
    model(x)
    assert user_calls == ["user"]


def test_nothing_reverted_on_success(toy):
    model, _, _ = toy
    calls = []
    with rollback_on_error(model) as same:
        assert same is model
        vandalise(model, calls)
    assert "scratch" in dict(model.named_buffers()) and model.conv.bias is not None
    assert torch.equal(model.fc.weight, torch.zeros(2, 3)) and model.training
    assert "forward" in vars(model.conv) and isinstance(model.bn, nn.Identity)
    assert not model.conv.weight.requires_grad and model.head.bias.grad is not None
    assert model.conv._forward_hooks and model.fc._backward_hooks


def test_nested_failure_in_submodule_only():
    """Restores what was reachable at entry, including modules later detached from the tree."""
    torch.manual_seed(0)
    model = Toy()
    conv = model.conv
    before_conv = conv.weight.clone()
    with pytest.raises(ValueError):
        with rollback_on_error(model):
            model.conv = nn.Conv2d(2, 3, 1)
            with torch.no_grad():
                conv.weight.zero_()  # the detached original is still the user's object
            raise ValueError
    assert model.conv is conv and torch.equal(conv.weight, before_conv)
