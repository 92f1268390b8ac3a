"""Bad values refused and states kept valid, per defect found by fuzzing the widgets, and the
rule behind them: every trait the browser can set validates itself and refuses with a
TraitError (so traitlets keeps the previous value)."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
import traitlets

import xai_widgets as xw
from xai_widgets.morph import ConvVAE, SeedCNN
from xai_widgets.widgets.checks import Index, Real, Refused, Span

from test_widget_states import WIDGETS
from toy_models import SharedReLUNet, assert_untouched, snapshot


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return SharedReLUNet().eval()


def images(n, h=20, w=24):
    return [torch.rand(3, h, w, generator=torch.Generator().manual_seed(i)) for i in range(n)]


# ------------------------------------------------------------------ the rule
SELF_VALIDATING = (traitlets.Enum, traitlets.Bool, Index, Real, Span)


@pytest.mark.parametrize("name", list(WIDGETS))
def test_every_browser_trait_validates_itself_or_has_a_checked_validator(name):
    widget = WIDGETS[name][0]()[0]
    for key in widget._browser_traits:
        trait = widget.traits()[key]
        handler = widget._trait_validators.get(key)
        if handler is not None:  # a check on the widget's data: must refuse with a TraitError
            assert getattr(handler.func, "refuses_with_trait_error", False), f"{name}.{key}: use checks.validates"
        else:
            assert isinstance(trait, SELF_VALIDATING), f"{name}.{key} ({type(trait).__name__}) is not validated"
    for key, handler in widget._trait_validators.items():
        assert getattr(handler.func, "refuses_with_trait_error", False), f"{name}.{key}: use checks.validates"


# ------------------------------------------------------------------ the defects
def test_path_morph_keeps_its_target_when_the_browser_sends_a_bad_one():
    torch.manual_seed(0)
    w = xw.PathMorph(SeedCNN().eval(), ConvVAE(latent_dim=16).eval(),
                     torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1)), steps=6,
                     options={"morph": {"max_iter": 10}, "mask": {"iterations": 5}, "candidates": 2})
    target = w.target
    for bad in (10 ** 9, -1, True, int(w.result.s), "3", 2.0):
        w.set_state({"target": bad})
        w.wait()
        assert w.target == target and type(w.target) is int, bad
        assert w.message.startswith("Ignored target"), w.message
    assert not w.busy and int(w.result.o) == target  # no re-targeting was started
    with pytest.raises(ValueError, match="class index in 0..9"):
        w.retarget(10 ** 9)


def test_attribution_explorer_refuses_positions_without_every_slider(net):
    w = xw.AttributionExplorer(net, images(2), methods=["gradient", "smoothgrad"],
                               options={"smoothgrad": {"samples": 2, "noise_levels": (0.0, 0.2)}})
    good = dict(w.positions)
    with pytest.raises(traitlets.TraitError, match="smoothgrad"):
        w.positions = {}
    w.set_state({"positions": {}})
    assert w.positions == good and "Ignored positions" in w.message
    w.set_state({"positions": {"smoothgrad": [True, 0]}})
    assert w.positions == good
    w.set_state({"positions": {"smoothgrad": [1, 0]}})
    assert w.positions == {"smoothgrad": [1, 0]}
    assert w.pixels(0, "smoothgrad").shape[-1] == 4 and w.render_png().size[0] > 0


def test_channel_grid_refuses_booleans_as_indices(net):
    g = xw.ChannelGrid(net, images(2))
    for key in ("image", "selected"):
        with pytest.raises(traitlets.TraitError, match=f"{key} must be"):
            setattr(g, key, True)
        g.set_state({key: True})
        assert getattr(g, key) == 0 and type(getattr(g, key)) is int
    g.set_state({"image": 1, "selected": 3})
    assert (g.image, g.selected) == (1, 3)
    assert g.tile_values().shape[0] == g.channels


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 0.0, -1.0, 1e6])
def test_channel_grid_refuses_a_gamma_outside_its_range(net, bad):
    g = xw.ChannelGrid(net, images(1))
    with pytest.raises(traitlets.TraitError, match="gamma must be a finite number in"):
        g.gamma = bad
    g.set_state({"gamma": bad})
    assert g.gamma == 1.0 and np.isfinite(g.tile_values().numpy()).all()


@pytest.mark.parametrize("key, bad", [("opacity", 2.0), ("opacity", -1e9), ("opacity", math.nan), ("opacity", True),
                                      ("vrange", [math.nan, 1.0]), ("vrange", [1.0, 1.0]), ("vrange", [0.0, math.inf]),
                                      ("vrange", [1.0, 0.0])])
def test_similarity_overlay_validates_opacity_and_vrange(net, key, bad):
    w = xw.SimilarityOverlay(net, images(2), ["conv1"])
    good = getattr(w, key)
    with pytest.raises(traitlets.TraitError):
        setattr(w, key, bad)
    w.set_state({key: bad})
    assert getattr(w, key) == good and w.message.startswith(f"Ignored {key}")
    with pytest.raises(traitlets.TraitError):  # refused at construction too
        xw.SimilarityOverlay(net, images(1), ["conv1"], **{key: bad})
    assert w.render_png(panel=64).size[0] > 0


def _count_forwards(model):
    calls = []
    return calls, model.register_forward_pre_hook(lambda *_: calls.append(1))


@pytest.mark.parametrize("build", [
    lambda m, img: xw.OcclusionExplorer(m, img),
    lambda m, img: xw.SimilarityOverlay(m, [img], ["conv2"]),
    lambda m, img: xw.AttributionExplorer(m, [img]),
    lambda m, img: xw.ChannelGrid(m, [img]),
    lambda m, img: xw.TransformSweep(m, img, "conv2"),
], ids=["OcclusionExplorer", "SimilarityOverlay", "AttributionExplorer", "ChannelGrid", "TransformSweep"])
def test_oversize_images_are_refused_from_their_shape_before_any_forward(build):
    model = xw.demo.shapes_model()
    before = snapshot(model)
    huge = np.zeros((4000, 4000, 3), np.uint8)
    calls, handle = _count_forwards(model)
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=r"4000 x 4000 = 16.0 M pixels per image, over the 1,048,576 .*Resize"):
            build(model, huge)
    finally:
        handle.remove()
    assert not calls, "the model ran before the size was checked"
    assert time.perf_counter() - start < 30  # only the conversion of the image itself, no model work
    assert_untouched(model, before)


def test_raising_the_pixel_limit_lets_a_user_take_larger_inputs(net, monkeypatch):
    monkeypatch.setattr(xw.images, "MAX_PIXELS", 40 * 40)
    w = xw.SimilarityOverlay(net, [np.zeros((40, 40, 3), np.uint8)], ["conv1"])
    assert w.grid(0, "conv1") == (40, 40)
    monkeypatch.setattr(xw.images, "MAX_PIXELS", 40 * 40 - 1)
    with pytest.raises(ValueError, match="over the 1,599"):
        xw.SimilarityOverlay(net, [np.zeros((40, 40, 3), np.uint8)], ["conv1"])


def _smallest_square(model):
    """The reference: the first side at which the plain forward runs, by trying each."""
    for side in range(1, 64):
        try:
            with torch.no_grad():
                model(torch.zeros(1, 3, side, side))
            return side
        except RuntimeError:
            continue


def test_too_small_images_say_the_smallest_size_the_model_accepts():
    model = xw.demo.shapes_model().eval()
    side = _smallest_square(model)
    assert side > 1
    for build in (lambda img: xw.SimilarityOverlay(model, [img], ["conv2"]), lambda img: xw.OcclusionExplorer(model, img),
                  lambda img: xw.AttributionExplorer(model, [img]), lambda img: xw.ChannelGrid(model, [img])):
        with pytest.raises(ValueError, match=rf"too small for this model\. The smallest square input it accepts "
                                             rf"is {side} x {side} pixels"):
            build(np.zeros((1, 1, 3), np.uint8))
    xw.SimilarityOverlay(model, [np.zeros((side, side, 3), np.uint8)], ["conv2"])  # and that one works


@pytest.mark.parametrize("size", [0, -5, 31, 4096, True, 2.5])
def test_panel_sizes_say_what_is_accepted(net, size):
    with pytest.raises(ValueError, match=r"size must be an integer in \[32, 2048\]"):
        xw.SimilarityOverlay(net, images(1), ["conv1"], size=size)
    with pytest.raises(ValueError, match=r"size must be an integer in \[32, 2048\]"):
        xw.TransformSweep(net, images(1)[0], "conv1", size=size)


@pytest.mark.parametrize("name", ["SimilarityOverlay", "TransformSweep", "ChannelGrid", "AttributionExplorer",
                                  "OcclusionExplorer", "PathMorph", "MetricsChart", "ClassBias"])
def test_every_figure_takes_one_scale_rule(name):
    from test_widget_states import WIDGETS

    widget = WIDGETS[name][0]()[0]  # (widget, models)
    for bad in (0, -1, 0.1, 9, float("nan"), float("inf"), True, "2", None):
        with pytest.raises(Refused, match=r"scale must be a number in \[0\.25, 8\]"):
            widget.render_png(scale=bad)
    assert widget.render_png(scale=np.float32(0.5)).size[0] > 0
