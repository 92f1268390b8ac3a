import threading
import time

import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.core.capture import capture, capture_maps, layers

from toy_models import Raises, SharedReLUNet, assert_untouched, snapshot


def test_layers_lists_shared_module_calls_with_distinct_names(shared_net):
    x = torch.rand(2, 3, 10, 12)
    before = snapshot(shared_net)
    found = xw.layers(shared_net, x)
    assert_untouched(shared_net, before)
    names = found.names
    assert names == ["conv1", "bn1", "relu", "conv2", "relu:1", "pool", "fc"]
    shapes = {info.name: info.shape for info in found}
    assert shapes["conv1"] == (2, 8, 10, 12)
    assert shapes["fc"] == (2, 4)
    assert "relu:1" in repr(found)


def test_capture_matches_manual_forward_and_inplace_does_not_corrupt(shared_net):
    torch.manual_seed(1)
    x = torch.randn(3, 3, 9, 9)
    shared_net.train()  # capture must run in eval mode and restore this flag
    for p in shared_net.conv2.parameters():
        p.requires_grad_(False)
    before = snapshot(shared_net)
    out = capture(shared_net, x, ["bn1", "relu", "conv2", "relu:1", "fc"])
    assert_untouched(shared_net, before)
    m = shared_net.eval()
    with torch.no_grad():  # independent reference, computed by hand
        bn1 = m.bn1(m.conv1(x))
        relu0 = bn1.clamp_min(0)
        conv2 = m.conv2(relu0)
        relu1 = (conv2 + relu0).clamp_min(0)
        fc = m.fc(relu1.mean((2, 3)))
    # bn1's output is overwritten in place by the shared ReLU; the capture is not.
    assert (out["bn1"] < 0).any()
    torch.testing.assert_close(out["bn1"], bn1)
    torch.testing.assert_close(out["relu"], relu0)
    torch.testing.assert_close(out["conv2"], conv2)
    torch.testing.assert_close(out["relu:1"], relu1)
    torch.testing.assert_close(out["fc"], fc)
    assert capture_maps(m, x, ["fc"])["fc"].maps.shape == (3, 4, 1, 1)


def test_capture_stops_early_after_last_requested_layer(shared_net):
    seen = []
    shared_net.fc.register_forward_pre_hook(lambda *a: seen.append("fc"))
    capture(shared_net, torch.rand(1, 3, 8, 8), ["conv1"])
    assert seen == []  # fc never ran
    shared_net.fc._forward_pre_hooks.clear()


def test_unknown_layer_names_suggest_close_matches(shared_net):
    before = snapshot(shared_net)
    with pytest.raises(ValueError, match=r"unknown layer 'conv3'.*'conv1'|unknown layer 'conv3'.*'conv2'"):
        capture(shared_net, torch.rand(1, 3, 8, 8), ["conv3"])
    with pytest.raises(ValueError, match="did not run"):
        capture(shared_net, torch.rand(1, 3, 8, 8), ["relu:5"])
    assert_untouched(shared_net, before)


def test_hygiene_when_forward_raises():
    model = Raises().train()
    before = snapshot(model)
    with pytest.raises(RuntimeError):
        capture(model, torch.rand(1, 3, 8, 8), ["bad"])
    assert_untouched(model, before)
    with pytest.raises(RuntimeError):
        layers(model, torch.rand(1, 3, 8, 8))
    assert_untouched(model, before)


def test_existing_grads_and_hooks_of_the_user_are_kept(shared_net):
    shared_net(torch.rand(1, 3, 6, 6)).sum().backward()
    grad = shared_net.conv1.weight.grad.clone()
    capture(shared_net, torch.rand(1, 3, 6, 6), ["conv1"])
    assert torch.equal(shared_net.conv1.weight.grad, grad)


def test_rejects_bad_inputs(shared_net):
    with pytest.raises(TypeError, match="torch.Tensor"):
        capture(shared_net, [[1.0]], ["conv1"])
    with pytest.raises(ValueError, match="at least one layer"):
        capture(shared_net, torch.rand(1, 3, 6, 6), [])
    with pytest.raises(TypeError, match="layer names must be strings"):
        capture(shared_net, torch.rand(1, 3, 6, 6), [3])


class _Slow(nn.Module):
    """A conv whose forward sleeps, so that two threads' calls overlap."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        time.sleep(0.01)
        return self.bn(self.conv(x))


def test_threads_using_one_model_take_turns():
    """A widget's background task and a call from a cell on the same model: without the
    model's lock, the second saves the first's eval flags as the user's and restores them
    (leaving the model in eval mode), and each records the other's forward in its hooks."""
    model = _Slow().train()
    before = snapshot(model)
    failures = []

    def work(seed):
        g = torch.Generator().manual_seed(seed)
        for _ in range(6):
            x = torch.rand(1, 3, 8, 8, generator=g)
            try:
                got = capture(model, x, ["conv", "bn"])
            except ValueError as exc:  # e.g. "these layers did not run": another thread's hooks fired
                failures.append(str(exc))
                continue
            with xw.model_lock(model), torch.no_grad():  # as user code would
                want = model.conv(x)
            if set(got) != {"conv", "bn"} or not torch.equal(got["conv"], want):
                failures.append(sorted(got))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert_untouched(model, before)
