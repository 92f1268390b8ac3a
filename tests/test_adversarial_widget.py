"""AdversarialExplorer in Python: the payload against direct attack calls, the accuracy-vs-L2
curve against imperceptibility / success, the background computation with cancel and recompute,
the payload budget, refusals, hygiene and exports."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import adversarial as adv, wire
from xai_widgets.attribution import attribute
from xai_widgets.widgets.adversarial import AdversarialExplorer
from xai_widgets.widgets.adversarial_payload import images_payload, payload_size

from toy_models import assert_untouched, snapshot

torch.set_num_threads(1)
HALF = 2.0 ** -11  # float16's relative precision (unit roundoff)


def made(*args, **kwargs) -> AdversarialExplorer:
    """An explorer whose background computation has finished."""
    w = AdversarialExplorer(*args, **kwargs)
    w.wait()
    assert w.ready, w.message
    return w


@pytest.fixture(scope="module")
def demo():
    model = xw.demo.shapes_model()
    data = xw.demo.shapes_dataset(8, seed=3)
    x = xw.demo.model.to_tensor(data.images)[:3]
    return model, x, torch.as_tensor(data.labels)[:3]


@pytest.fixture(scope="module")
def bim_widget(demo):
    model, x, y = demo
    return made(model, x, y, attack="bim", epsilons=[1 / 255, 4 / 255], steps=3,
                               classes=xw.demo.shapes.CLASSES)


def _shipped_adv(w, e, t):
    return w._state["x"] + wire.decode(w._data["delta"])[e, t]


def test_fgsm_frames_are_the_direct_calls_within_float16(demo):
    model, x, y = demo
    eps = [2 / 255, 8 / 255]
    w = made(model, x, y, epsilons=eps, classes=xw.demo.shapes.CLASSES)
    assert w._data["delta"]["dtype"] == "float16" and w._data["delta"]["shape"] == [2, 1, 3, 3, 128, 128]
    for e, ep in enumerate(eps):
        direct = adv.fgsm(model, x, y, ep).numpy()
        delta = direct - x.numpy()
        # float16 rounds delta (|delta| <= eps) to half a unit in its last place
        np.testing.assert_allclose(_shipped_adv(w, e, 0), direct, rtol=0, atol=ep * HALF + 1e-7)
        assert np.abs(delta).max() <= ep + 1e-6
        pred = model(torch.as_tensor(direct)).argmax(1)
        assert w.flipped(e, 0) == (pred != y).tolist()
        assert w._data["top_adv"][e][0][0][0][0] == xw.demo.shapes.CLASSES[int(pred[0])]
        np.testing.assert_allclose(w._data["linf"][e][0], np.abs(delta).reshape(3, -1).max(1), rtol=HALF, atol=1e-9)


def test_bim_iterates_and_attribution_are_the_direct_calls(demo, bim_widget):
    model, x, y = demo
    w = bim_widget
    for e, ep in enumerate(w.epsilons):
        _, steps = adv.bim(model, x, y, ep, 3, keep_steps=True)
        for t in range(3):
            np.testing.assert_allclose(_shipped_adv(w, e, t), steps[t + 1].numpy(), rtol=0, atol=3 * ep * HALF + 1e-7)
            torch.testing.assert_close(w.adversarial(e, t), steps[t + 1])
    # the attribution of x' for its own prediction, shipped in float16
    last = steps[-1]
    pred = model(last).argmax(1)
    ref = attribute(model, last, "gradient", target=pred.tolist()).maps.numpy()
    got = wire.decode(w._data["map_adv"])[1, 2]
    np.testing.assert_allclose(got, ref, rtol=HALF, atol=np.abs(ref).max() * 1e-6)


def test_accuracy_curve_is_imperceptibility_and_success(demo, bim_widget):
    model, x, y = demo
    w = bim_widget
    correct = ~adv.success(model, x, y)
    for t in range(3):
        l2, acc = w.curve(t)
        for e, ep in enumerate(w.epsilons):
            x_adv = adv.bim(model, x, y, ep, t + 1)
            assert l2[e] == pytest.approx(adv.imperceptibility(x, x_adv, correct), rel=1e-6)
            flipped = adv.success(model, x_adv, y)[correct]
            assert acc[e] == pytest.approx(1 - float(flipped.float().mean()))
    assert w._data["mean_l2"] == [list(w.curve(t)[0]) for t in range(3)]


def test_carlini_wagner_scales_delta_and_clips(demo):
    model, x, y = demo
    w = made(model, x, y, attack="cw", epsilons=[1, 3], attack_options={"steps": 10})
    delta = adv.carlini_wagner(model, x, y, steps=10)
    for e, s in enumerate([1, 3]):
        ref = (x + s * delta).clamp(0, 1).numpy()
        np.testing.assert_allclose(_shipped_adv(w, e, 0), ref, rtol=0, atol=float(np.abs(ref - x.numpy()).max()) * HALF
                                   + 1e-7)


def test_pixels_are_the_rounded_bytes(bim_widget):
    w = bim_widget
    v = _shipped_adv(w, 1, 2)[0].astype(np.float64)
    expected = np.floor(np.clip(v, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(w.pixels(0, 1, 2), expected)
    d = wire.decode(w._data["delta"])[1, 2, 0].astype(np.float64)
    amp = w.pixels(0, 1, 2, "perturbation").astype(int)
    np.testing.assert_array_equal(amp, np.floor(127.5 + 127.5 * d / np.abs(d).max() + 0.5).transpose(1, 2, 0))
    assert amp.min() == 0 and amp.max() == 255  # the full colour range, symmetric


def test_model_left_as_it_was(demo):
    model, x, y = demo
    model.train()
    snap = snapshot(model)
    try:
        made(model, x[:2], y[:2], epsilons=[4 / 255])
        assert_untouched(model, snap)
    finally:
        model.eval()


def test_frame_traits_refuse_out_of_range(bim_widget):
    w = bim_widget
    w.set_state({"eps_index": 7})
    assert w.eps_index == 1 and "eps_index" in w.message
    w.set_state({"iteration": 3})
    assert w.iteration == 2 and "iteration" in w.message
    w.set_state({"eps_index": 0})
    assert w.eps_index == 0
    w.eps_index = 1


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(attack="pgd"), ValueError, "attack must be one of"),
    (dict(epsilons=[4 / 255, 1 / 255]), ValueError, "strictly increasing"),
    (dict(epsilons=[-1.0]), ValueError, "finite numbers >= 0"),
    (dict(epsilons=[]), ValueError, "epsilons is empty"),
    (dict(epsilons="1"), TypeError, "sequence of numbers"),
    (dict(method="magic"), ValueError, "method must be one of"),
    (dict(attack="bim", steps=0), ValueError, "steps must be an integer >= 1"),
    (dict(bounds=(1, 0)), ValueError, "low < high"),
    (dict(bounds=(0.2, 0.5)), ValueError, "inside bounds"),
    (dict(labels=[0.5, 1.0, 2.0]), ValueError, "integer classes"),
    (dict(labels=[0, 1]), ValueError, "one per image"),
    (dict(checklist="yes"), TypeError, "checklist must be True or False"),
    (dict(max_bytes=1000), ValueError, "raise max_bytes"),
])
def test_refusals(demo, kwargs, error, match):
    model, x, y = demo
    kwargs.setdefault("labels", y)
    with pytest.raises(error, match=match):
        AdversarialExplorer(model, x, **kwargs)


def test_refuses_when_every_image_is_wrong(demo):
    model, x, y = demo
    wrong = (model(x).argmax(1) + 1) % 6
    with pytest.raises(ValueError, match="misclassifies every image"):
        AdversarialExplorer(model, x, wrong, epsilons=[1 / 255])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        AdversarialExplorer("model", x)


def test_checklist_lines_are_the_checklist(demo):
    model, x, y = demo
    w = made(model, x, y, epsilons=[2 / 255, 8 / 255], checklist=True)
    ref = adv.obfuscation_checklist(model, x, y, epsilons=[2 / 255, 8 / 255])
    keys = ["iterative_stronger", "monotone", "unbounded_succeeds", "random_weaker"]
    assert [ok for _, ok in w.checklist] == [ref[k] for k in keys] and len(w.checklist) == 4
    assert w.checklist_result == ref


def test_exports(bim_widget, tmp_path):
    w = bim_widget
    small = w.render_png(panel=64)
    big = w.render_png(panel=64, scale=2)
    assert big.size == (2 * small.size[0], pytest.approx(2 * small.size[1], abs=4))
    path = w.to_png(tmp_path / "adv.png", scale=1.5)
    assert path.exists() and path.stat().st_size > 1000
    html = w.to_html(tmp_path / "adv.html").read_text()
    assert "AdversarialExplorer" in html and len(html) > 100_000
    bundle, _ = w._repr_mimebundle_()
    assert bundle["image/png"][:4] == b"\x89PNG"
    assert "AdversarialExplorer(bim, 3 images, 2 budgets" in repr(w)


def test_cancel_leaves_a_valid_widget_and_recompute_gives_the_same_frames(demo, bim_widget):
    model, x, y = demo
    model.train()
    snap = snapshot(model)
    try:
        w = AdversarialExplorer(model, x, y, attack="bim", epsilons=[1 / 255, 4 / 255], steps=3, background=False)
        assert w.ready
        # cancel as the recomputation reports its start: the first check of the flag stops it
        w.observe(lambda change: change["new"].get("running") and w.cancel(), "progress")
        w.recompute()
        w.wait()
        assert_untouched(model, snap)
    finally:
        model.eval()
    assert not w.ready and not w.busy and w._data == {} and w.checklist == []
    assert "cancelled" in w.message
    with pytest.raises(RuntimeError, match="recompute"):
        w.adversarial(0, 0)
    with pytest.raises(RuntimeError, match="recompute"):
        w.payload_bytes
    assert "no frames" in repr(w)
    picture = w.render_png(panel=64)  # a placeholder saying so, not an error
    assert picture.size[0] == 8 + 5 * 72 and len(picture.getcolors(1 << 16)) > 2
    w.unobserve_all("progress")
    w._on_custom_msg(w, {"type": "recompute"}, [])  # the view's Recompute button
    w.wait()
    assert w.ready and w.message == ""
    for e in range(2):
        for t in range(3):
            torch.testing.assert_close(w.adversarial(e, t), bim_widget.adversarial(e, t), rtol=0, atol=0)
    assert w._data["linf"] == bim_widget._data["linf"]


def test_payload_is_its_size_and_the_budget_refuses_before_any_attack(demo, bim_widget):
    model, x, y = demo
    w = bim_widget
    expected = payload_size(tuple(x.shape), 2, 3, x_bytes=1)  # the demo's images are 8-bit: x goes as uint8
    shipped = sum(len(bytes(w._data[k]["data"])) for k in ("x", "delta", "map_clean", "map_adv"))
    assert w.payload_bytes == expected == shipped and w._data["x"]["dtype"] == "uint8"
    calls = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        with pytest.raises(ValueError, match=r"fewer epsilons or \(BIM\) fewer steps, or raise max_bytes"):
            AdversarialExplorer(model, x, y, attack="bim", epsilons=[1 / 255, 4 / 255], steps=3,
                                max_bytes=payload_size(tuple(x.shape), 2, 3) - 1)  # refused at the float32 bound
    finally:
        hook.remove()
    assert calls == []  # refused before the model ran
    ok = made(model, x, y, attack="bim", epsilons=[1 / 255, 4 / 255], steps=3, max_bytes=payload_size(x.shape, 2, 3))
    assert ok.payload_bytes == expected


def test_clean_images_ship_as_uint8_only_when_that_is_lossless(demo):
    _, x, _ = demo
    levels = images_payload(x, (0.0, 1.0))
    assert levels["dtype"] == "uint8" and len(levels["data"]) == x.numel()
    assert np.abs(wire.decode(levels) - x.numpy()).max() <= 2.0 ** -20  # k / 255, rounded once
    off_grid = (x + 0.3 / 255).clamp(0, 1)  # between the 8-bit levels
    floats = images_payload(off_grid, (0.0, 1.0))
    assert floats["dtype"] == "float32" and np.array_equal(wire.decode(floats), off_grid.numpy())
    other = images_payload(x * 2 - 1, (-1.0, 1.0))  # 8-bit levels of another range
    assert other["dtype"] == "uint8" and np.abs(wire.decode(other) - (x * 2 - 1).numpy()).max() <= 2 * 2.0 ** -20


def test_cancel_stops_a_long_attack_within_its_iterations(demo):
    model, x, y = demo
    # one C&W optimisation of ten million steps (about a day here): only a check inside it can stop it soon
    w = AdversarialExplorer(model, x[:1], y[:1], attack="cw", epsilons=[1.0], attack_options={"steps": 10 ** 7})
    w.cancel()
    w.wait(timeout=60)
    assert not w.busy and not w.ready and "cancelled" in w.message
