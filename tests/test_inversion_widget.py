"""InversionExplorer: what it ships against an independent run of invert and numpy, its size
and budget, refusals, the model left as it was, background runs and cancel, and the exports."""
import json

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import wire
from xai_widgets.inversion import invert, snapshot_steps
from ipywidgets.widgets.widget import _remove_buffers
from xai_widgets.widgets.checks import Refused

torch.set_num_threads(1)

LAYERS = ["relu1", "relu3"]
FAST = dict(n=3, iterations=12, snapshots=4)


@pytest.fixture(scope="module")
def model():
    return xw.demo.shapes_model()


@pytest.fixture(scope="module")
def image(model):
    return xw.to_batch(xw.demo.shapes_images(1, seed=3), model)


@pytest.fixture(scope="module")
def widget(model, image):
    return xw.InversionExplorer(model, image, LAYERS, background=False, **FAST)


@pytest.fixture(scope="module")
def reference(model, image):
    """The same inversions, run again directly (not through the widget)."""
    return {layer: invert(model, layer, image[0], **FAST) for layer in LAYERS}


def test_snapshots_decode_to_inverts_snapshots_within_the_wire_precision(widget, reference):
    inv = widget._inv
    lo, hi = inv["range"]
    assert (lo, hi) == (0.0, 1.0)  # the demo's inputs lie in [0, 1]
    assert [lay["name"] for lay in inv["layers"]] == LAYERS and inv["pending"] == []
    for lay in inv["layers"]:
        ref = reference[lay["name"]]
        assert inv["steps"] == ref.snapshot_steps == widget.steps == [0, 3, 6, 9, 12]
        shipped = wire.decode(lay["snapshots"])  # K x S x H x W x C
        expected = np.clip(ref.snapshots.permute(0, 1, 3, 4, 2).numpy(), lo, hi)
        assert shipped.shape == expected.shape == (5, 3, 128, 128, 3)
        step = (hi - lo) / 255  # one uint8 level; rounding is off by at most half of it
        assert np.abs(shipped - expected).max() <= step / 2 + 1e-6
        # the loss curve: the mean over the starts after each step, the last one the final loss
        history = ref.history["loss"].double().numpy()
        np.testing.assert_allclose(lay["loss"][:-1], history.mean(1), rtol=1e-12)
        np.testing.assert_allclose(lay["loss"][-1], ref.loss.double().mean().item(), rtol=1e-12)
        np.testing.assert_allclose(lay["final"], ref.loss.numpy(), rtol=1e-6)
        each = np.asarray(lay["losses"]).reshape(5, 3)  # each start's loss at the snapshot steps only
        np.testing.assert_allclose(each[:-1], history[[0, 3, 6, 9]], rtol=1e-12)
        np.testing.assert_allclose(each[-1], ref.loss.numpy(), rtol=1e-6)


def test_spread_is_numpys_std_over_the_pre_images(widget, reference):
    inv = widget._inv
    expected = {name: np.std(ref.snapshots.double().numpy(), axis=1).mean(axis=1) for name, ref in reference.items()}
    top = max(e[-1].max() for e in expected.values())
    assert inv["spread_hi"] == pytest.approx(top, rel=1e-5)
    for lay in inv["layers"]:
        shipped = wire.decode(lay["spread"])  # K x H x W over [0, spread_hi]
        want = np.clip(expected[lay["name"]], 0, inv["spread_hi"])
        assert np.abs(shipped - want).max() <= inv["spread_hi"] / 255 / 2 + 1e-5
    # the last layer's pre-images differ more than the first's: relu3 throws more away
    assert expected["relu3"][-1].mean() > expected["relu1"][-1].mean()


def test_the_model_is_left_exactly_as_it_was(image):
    model = xw.demo.shapes_model().train()
    model.conv1.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    xw.InversionExplorer(model, image, ["relu2"], n=2, iterations=3, snapshots=1, background=False)
    assert model.training and all(m.training for m in model.modules())
    assert not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics included


@pytest.mark.parametrize("args, kwargs, error, text", [
    (("not a tensor", ["relu1"]), {}, TypeError, "image must be a torch tensor"),
    ((torch.rand(2, 3, 32, 32), ["relu1"]), {}, ValueError, "one C x H x W image"),
    ((torch.rand(1, 1, 32, 32), ["relu1"]), {}, ValueError, "channel"),
    ((torch.rand(1, 3, 32, 32), ["relu9"]), {}, ValueError, "unknown layer 'relu9'; did you mean"),
    ((torch.rand(1, 3, 32, 32), []), {}, ValueError, "layers is empty"),
    ((torch.rand(1, 3, 32, 32), ["relu1", "relu1"]), {}, ValueError, "distinct"),
    ((torch.rand(1, 3, 32, 32), [1]), {}, TypeError, "layer names must be strings"),
    ((torch.rand(1, 3, 32, 32), ["relu1"]), {"n": 0}, ValueError, "n must be an integer >= 1"),
    ((torch.rand(1, 3, 32, 32), ["relu1"]), {"n": True}, ValueError, "n must be an integer >= 1"),
    ((torch.rand(1, 3, 32, 32), ["relu1"]), {"iterations": 2.5}, ValueError, "iterations must be an integer >= 1"),
    ((torch.rand(1, 3, 32, 32), ["relu1"]), {"options": {"lr": 1}}, ValueError, "options ['lr'] are not taken"),
])
def test_bad_input_is_refused_with_what_is_accepted(model, args, kwargs, error, text):
    with pytest.raises(error) as info:
        xw.InversionExplorer(model, *args, background=False, **kwargs)
    assert text in str(info.value)


def test_a_model_that_is_not_a_module_is_refused(image):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        xw.InversionExplorer(lambda x: x, image, ["relu1"])


def test_browser_updates_are_validated(widget):
    widget.set_state({"step": 2})
    assert widget.step == 2
    widget.set_state({"step": 5})  # 5 snapshots: 0..4
    assert widget.step == 2 and "snapshot index in 0..4" in widget.message
    widget.set_state({"_inv": {}})
    assert "read-only" in widget.message
    with pytest.raises(Refused):
        widget.step = -1


def test_background_run_fills_every_layer_and_cancel_keeps_what_was_done(model, image):
    w = xw.InversionExplorer(model, image, ["relu1", "relu2"], n=2, iterations=4, snapshots=2)
    w.wait()
    assert [inv.layer for inv in w.result] == ["relu1", "relu2"] and not w.busy and w.message == ""
    assert w.step == 2  # the end of the descent
    slow = xw.InversionExplorer(model, image, ["relu1", "relu4"], n=2, iterations=100_000, snapshots=2)
    slow._on_custom_msg(slow, {"type": "cancel"}, [])  # the browser's Cancel button
    slow.wait()
    assert "cancelled" in slow.message and not slow.busy
    assert len(slow.result) < 2 and slow._inv["pending"] == ["relu1", "relu4"][len(slow.result):]


def test_exports(widget, tmp_path):
    widget.step, widget.spread = 4, True
    small = widget.render_png()
    big = widget.render_png(scale=2)
    assert big.size[0] > 1.5 * small.size[0] and big.size[1] > 1.5 * small.size[1]  # every length scales
    path = widget.to_png(tmp_path / "inv.png", scale=1.5)
    assert path.stat().st_size > 0
    html = widget.to_html(tmp_path / "inv.html").read_text(encoding="utf-8")
    assert "InversionExplorer" in html
    data, _ = widget._repr_mimebundle_()
    assert data["image/png"].startswith(b"\x89PNG")
    with pytest.raises(Refused):
        widget.render_png(scale=0)


def test_payload_bytes_is_what_the_comm_sends_and_the_budget_refuses_before_any_descent(model, image, widget):
    state, _, buffers = _remove_buffers(widget.get_state())  # as ipywidgets sends it
    assert widget.payload_bytes == len(json.dumps(state["_inv"])) + sum(len(b) for b in buffers)
    pixels = 3 * 128 * 128 + 2 * 5 * (3 * 3 * 128 * 128 + 128 * 128)  # image; 2 layers x 5 snapshots
    assert sum(len(b) for b in buffers) == pixels + 256 * 3  # and the colour table (RGB)
    assert snapshot_steps(12, 4) == [0, 3, 6, 9, 12] and snapshot_steps(3, 5) == [0, 1, 2, 3]
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        with pytest.raises(ValueError, match="fewer layers, a smaller n or fewer snapshots, or raise max_bytes"):
            xw.InversionExplorer(model, image, ["relu1"], n=3, iterations=12, snapshots=4, max_bytes=pixels // 2)
    finally:
        hook.remove()
    assert len(calls) == 1  # only the forward pass that lists the layers: no descent
