"""AttributionExplorer in Python: what it ships against attribute(), the scale rule, the pixels
the browser must draw, re-targeting and contrast (foreground and background), cancel, hygiene,
validation of browser input, the PNG and the payload budget."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from captum.attr import Saliency

import xai_widgets as xw
from xai_widgets import attribution, wire
from xai_widgets.core.diverging import SCALE_PERCENTILE, SCALE_RULE, greyed, shade

from toy_models import SharedReLUNet, assert_untouched, snapshot

OPTIONS = {"smoothgrad": {"samples": 3, "noise_levels": (0.0, 0.1, 0.2)},
           "integrated_gradients": {"steps": 8, "positions": 4}}
METHODS = ["gradient", "smoothgrad", "integrated_gradients"]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return SharedReLUNet().eval()


@pytest.fixture(scope="module")
def images():
    return [torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(i)) for i in range(3)]


@pytest.fixture(scope="module")
def widget(net, images):
    return xw.AttributionExplorer(net, images, methods=METHODS, options=OPTIONS, classes=list("abcd"))


def direct(w, key, i, target=None, contrast=None):
    """The plain-Python call behind one cell."""
    t = w.targets[i] if target is None else target
    return attribution.attribute(w.model, w.inputs[i:i + 1], key, target=t, contrast=contrast, series=True,
                                 **OPTIONS.get(key, {}))


def entry(w, key):
    return next(m for m in w._maps["methods"] if m["key"] == key)


def test_shipped_maps_and_sliders_are_the_attribute_calls(widget):
    w = widget
    assert w.methods == METHODS and len(w.targets) == 3 and w.contrasts == [None] * 3
    probs = torch.softmax(w.model(w.inputs), 1)
    assert w.targets == probs.argmax(1).tolist()  # default: each image's top-1
    np.testing.assert_allclose(wire.decode(w._probs["probs"]), probs.detach().numpy(), rtol=1e-5, atol=1e-7)
    for key in METHODS:
        e, s = entry(w, key), w.scale(key)
        shipped = wire.decode(e["maps"]) * s
        assert e["maps"]["dtype"] == "float16" and shipped.shape == (3, 20, 24)
        for i in range(3):
            ref = direct(w, key, i)
            np.testing.assert_allclose(shipped[i], ref.maps[0].numpy(), atol=2e-3 * s, rtol=1e-3)
            torch.testing.assert_close(w.attribution(key, i).maps, ref.maps)
            if ref.series is None:
                assert "slider" not in e
                continue
            sl = e["slider"]
            assert sl["name"] == ref.series.name and sl["values"] == pytest.approx(ref.series.values)
            assert sl["index"][i] == ref.series.index and w.position(key, i) == ref.series.index
            np.testing.assert_allclose(wire.decode(sl["maps"])[i] * s, ref.series.maps[0].numpy(), atol=2e-3 * s,
                                       rtol=1e-3)
            if ref.series.images is not None:  # IG: the interpolated images x̄ + α(x − x̄)
                imgs = wire.decode(sl["images"])[i]  # S x H x W x C uint8
                expect = (ref.series.images[0].clamp(0, 1) * 255).round().permute(0, 2, 3, 1).numpy()
                np.testing.assert_allclose(imgs, expect, atol=1)
                assert sl["scores"][i] == pytest.approx(ref.series.scores[0].tolist(), rel=1e-4, abs=1e-5)
    ig = entry(w, "integrated_gradients")
    assert ig["info"]["delta"] == pytest.approx([float(direct(w, "integrated_gradients", i).info["delta"][0])
                                                 for i in range(3)], rel=1e-3, abs=1e-5)
    assert w.payload_bytes == (wire.payload_bytes(w._images["pixels"]) + wire.payload_bytes(w._probs["probs"])
                               + sum(wire.payload_bytes(m["maps"]) + (wire.payload_bytes(m["slider"]["maps"])
                                     + (wire.payload_bytes(m["slider"]["images"]) if m["slider"]["images"] else 0)
                                     if m.get("slider") else 0) for m in w._maps["methods"]))


def test_one_fixed_scale_per_method_follows_the_stated_rule(widget):
    w = widget
    for key in METHODS:
        res = [w.attribution(key, i) for i in range(3)]
        values = np.concatenate([(r.series.maps if r.series is not None else r.maps).numpy().ravel() for r in res])
        assert w.scale(key) == pytest.approx(float(np.percentile(np.abs(values), SCALE_PERCENTILE)), rel=1e-6)
        assert entry(w, key)["rule"] == SCALE_RULE == "99.5th pct |R|"
        assert entry(w, key)["scale"] == w.scale(key)


def test_pixels_are_the_drawing_rule_on_the_shipped_values(widget):
    w = widget
    vals = w.shipped_values(1, "gradient")
    grey = greyed(w._display[1])
    over = w.pixels(1, "gradient")
    assert over.shape == (20, 24, 4) and over.dtype == np.uint8 and (over[..., 3] == 255).all()
    np.testing.assert_array_equal(over, shade(vals, 1.0, grey, w.opacity))
    side = w.pixels(1, "gradient", view="side")
    np.testing.assert_array_equal(side[..., :3], xw.colormaps.apply(vals, "diverging", -1.0, 1.0))
    # hand-checked corners of the rule: zero is the map's grey centre, ±s its ends
    lut = xw.colormaps.lut("diverging")
    px = shade(np.array([[0.0, 1.0, -1.0, 5.0, np.nan]]), 1.0, np.full((1, 5), 200), 1.0)
    assert px[0, 1, :3].tolist() == lut[255].tolist() and px[0, 2, :3].tolist() == lut[0].tolist()
    assert px[0, 3, :3].tolist() == lut[255].tolist() and px[0, 4, :3].tolist() == [200] * 3
    assert abs(int(px[0, 0, 0]) - 200) <= 1  # alpha ~0 at zero: the image shows through
    # the slider position picks the map
    p = w.position("integrated_gradients", 0)
    assert not np.array_equal(w.pixels(0, "integrated_gradients", 0), w.pixels(0, "integrated_gradients", p))


def test_a_refused_retarget_leaves_targets_and_contrasts_saying_what_the_maps_explain(net, images):
    w = xw.AttributionExplorer(net, images[:2], methods=["gradient"])
    targets, contrasts, maps = list(w.targets), list(w.contrasts), w.attribution("gradient", 0).maps.clone()
    k = (w.targets[0] + 1) % 4
    with pytest.raises(Exception, match="99"):
        w.retarget(0, 99, contrast=k)  # the contrast is valid, the target is not
    assert w.targets == targets and w.contrasts == contrasts
    assert w._maps["computed"]["targets"] == targets and w._maps["computed"]["contrasts"] == contrasts
    torch.testing.assert_close(w.attribution("gradient", 0).maps, maps)


def test_retarget_and_contrast_recompute_in_the_cell_and_in_the_background(net, images):
    before = snapshot(net)
    w = xw.AttributionExplorer(net, images[:2], methods=["gradient", "integrated_gradients"],
                               options={"integrated_gradients": OPTIONS["integrated_gradients"]})
    k = (w.targets[0] + 1) % 4
    w.retarget(0, k)  # foreground, in the calling cell
    assert w.targets[0] == k and w._maps["computed"]["targets"][0] == k
    torch.testing.assert_close(w.attribution("gradient", 0).maps, direct(w, "gradient", 0, k).maps)
    b = (k + 1) % 4
    w.retarget(0, k, contrast=b)  # A vs B
    assert w.contrasts == [b, None] and w._maps["computed"]["contrasts"] == [b, None]
    ref = direct(w, "integrated_gradients", 0, k, b)
    np.testing.assert_allclose(wire.decode(entry(w, "integrated_gradients")["maps"])[0]
                               * w.scale("integrated_gradients"), ref.maps[0].numpy(),
                               atol=2e-3 * w.scale("integrated_gradients"))
    # a plain trait assignment from Python also recomputes in the cell
    t2 = (w.targets[1] + 2) % 4
    w.targets = [k, t2]
    assert w._maps["computed"]["targets"] == [k, t2]
    # the browser: targets and contrasts arrive together, recomputed once in the background
    c1 = (t2 + 1) % 4
    w.set_state({"targets": [k, t2], "contrasts": [None, c1]})
    w.wait(120)
    assert not w.busy and w._maps["computed"] == {"targets": [k, t2], "contrasts": [None, c1]}
    torch.testing.assert_close(w.attribution("gradient", 1).maps, direct(w, "gradient", 1, t2, c1).maps)
    assert w.attribution("gradient", 0).contrast is None  # row 0 was recomputed without B
    assert_untouched(net, before)


class CancellingSaliency(Saliency):
    """A Captum method that presses Cancel on the widget while it runs."""

    widget = None

    def attribute(self, *args, **kwargs):
        if self.widget is not None:
            self.widget.cancel()
        return super().attribute(*args, **kwargs)


def test_cancel_keeps_the_old_maps_and_leaves_the_model_untouched(net, images):
    before = snapshot(net)
    sal = CancellingSaliency(net)
    w = xw.AttributionExplorer(net, images[:2], methods=[sal, "gradient"])
    assert w.methods == ["CancellingSaliency", "gradient"]
    old_targets, old_maps = list(w.targets), w._maps
    sal.widget = w
    k = (old_targets[0] + 1) % 4
    w.retarget(0, k)  # foreground: cancelled between methods
    assert "cancelled" in w.message and w.targets == old_targets and w._maps is old_maps
    w.set_state({"targets": [k, old_targets[1]], "contrasts": [None, None]})  # background
    w.wait(60)
    assert w.targets == old_targets and w._maps is old_maps and not w.busy
    assert_untouched(net, before)


def test_a_captum_object_has_no_contrast_cell(net, images):
    w = xw.AttributionExplorer(net, images[:2], methods=[Saliency(net), "gradient"],
                               contrast=[None, 0], target=[1, 1])
    vals = w.shipped_values(1, "Saliency")
    assert np.isnan(vals).all() and entry(w, "Saliency")["info"]["notes"][1]
    assert not np.isnan(w.shipped_values(0, "Saliency")).any()
    # NaN is drawn as the grey image under it (overlay) or mid grey (side)
    np.testing.assert_array_equal(w.pixels(1, "Saliency")[..., 0], greyed(w._display[1]))
    ref = attribution.attribute(net, w.inputs[1:2], "gradient", target=1, contrast=0)
    torch.testing.assert_close(w.attribution("gradient", 1).maps, ref.maps)


def test_browser_values_are_validated_with_a_message(widget):
    w = widget
    t0, c0, p0 = list(w.targets), list(w.contrasts), dict(w.positions)
    w.set_state({"targets": [9, 0, 0]})
    assert w.targets == t0 and "out of range" in w.message
    w.set_state({"targets": [0, 0]})
    assert w.targets == t0 and "one class per image" in w.message
    w.set_state({"contrasts": list(t0)})
    assert w.contrasts == c0 and "two different classes" in w.message
    w.set_state({"positions": {"gradient": [0, 0, 0]}})
    assert w.positions == p0 and "must map each slider method" in w.message
    w.set_state({"positions": {**p0, "integrated_gradients": [0, 99, 0]}})
    assert w.positions == p0 and "0..3" in w.message
    w.set_state({"view": "sideways"})
    assert w.view == "overlay" and "view" in w.message
    w.set_state({"opacity": 2.0})
    assert w.opacity == 0.8 and "[0, 1]" in w.message
    w.set_state({"_maps": {}})
    assert w._maps and "read-only" in w.message
    w.set_state({"positions": {**p0, "integrated_gradients": [0, 1, 2]}, "view": "side", "opacity": 0.5})
    assert w.position("integrated_gradients", 2) == 2 and w.view == "side" and w.opacity == 0.5
    w.set_state({"positions": p0, "view": "overlay", "opacity": 0.8})


def test_bad_construction_is_refused_clearly(net, images):
    with pytest.raises(ValueError, match="unknown attribution method 'gradients'.*did you mean 'gradient'"):
        xw.AttributionExplorer(net, images, methods=["gradients"])
    with pytest.raises(ValueError, match="no images"):
        xw.AttributionExplorer(net, [], methods=["gradient"])
    with pytest.raises(ValueError, match="out of range.*0..3"):
        xw.AttributionExplorer(net, images, methods=["gradient"], target=7)
    with pytest.raises(ValueError, match="two different classes"):
        xw.AttributionExplorer(net, images, methods=["gradient"], target=1, contrast=1)
    with pytest.raises(ValueError, match="not among the methods"):
        xw.AttributionExplorer(net, images, methods=["gradient"], options={"grad_cam": {}})
    with pytest.raises(TypeError, match="unknown option"):
        xw.AttributionExplorer(net, images, methods=["gradient"], options={"gradient": {"steps": 3}})
    with pytest.raises(ValueError, match="3 class names for a model with 4 outputs"):
        xw.AttributionExplorer(net, images, methods=["gradient"], classes=list("abc"))
    with pytest.raises(ValueError, match="listed twice"):
        xw.AttributionExplorer(net, images, methods=["gradient", "gradient"])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        xw.AttributionExplorer("net", images)
    with pytest.raises(TypeError, match="Captum attribution object"):
        xw.AttributionExplorer(net, images, methods=[42])


def test_payload_budget_refuses_with_the_numbers(net, images):
    with pytest.raises(ValueError, match=r"would ship [0-9.]+ [KM]iB .*max_bytes=1000 B"):
        xw.AttributionExplorer(net, images, methods=["gradient"], max_bytes=1000)
    # the sliders count too: the maps alone fit, every IG position does not
    with pytest.raises(ValueError, match="every slider position"):
        xw.AttributionExplorer(net, images, methods=["integrated_gradients"], max_bytes=25_000,
                               options={"integrated_gradients": {"steps": 8, "positions": 8}})


def test_png_and_repr(widget):
    img = widget.render_png()
    assert img.size[0] > 4 * 128 and img.size[1] > 3 * 128
    # tight: the rows are the maps' height plus a caption line, not a tall top-5 list under each image
    assert img.size[1] < 3 * 128 * 1.45 + 120
    assert len(img.getcolors(1 << 20) or []) > 50  # a real picture
    data, _ = widget._repr_mimebundle_()
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert repr(widget).startswith("AttributionExplorer(3 images x 3 methods")
    assert data["text/plain"].startswith("AttributionExplorer")


def test_extremal_perturbation_area_slider(net):
    x = [torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(7))]
    opts = {"extremal_perturbation": {"iterations": 4, "areas": (0.1, 0.4), "step": 4, "sigma": 4.0, "levels": 3}}
    w = xw.AttributionExplorer(net, x, methods=["extremal_perturbation"], options=opts)
    ref = attribution.attribute(net, w.inputs, "extremal_perturbation", target=w.targets[0], series=True,
                                **opts["extremal_perturbation"])
    sl = entry(w, "extremal_perturbation")["slider"]
    assert sl["name"] == "area" and sl["values"] == pytest.approx([0.1, 0.4])
    assert sl["best"] == [int(ref.info["best"][0])] and sl["index"] == [ref.series.index]
    assert sl["full"][0] == pytest.approx(float(ref.info["full_score"][0]), rel=1e-5)
    assert sl["scores"][0] == pytest.approx(ref.series.scores[0].tolist(), rel=1e-5)
    assert wire.decode(sl["images"]).shape == (1, 2, 32, 32, 3)  # m ⊗ x at each area
    np.testing.assert_allclose(wire.decode(sl["maps"])[0] * w.scale("extremal_perturbation"),
                               ref.series.maps[0].numpy(), atol=2e-3)


def test_png_scale_two_is_the_same_picture_at_twice_the_size(widget):
    one, two = widget.render_png(scale=1), widget.render_png(scale=2)
    assert two.size == (2 * one.size[0], 2 * one.size[1])
    down = np.asarray(two.resize(one.size, Image.Resampling.BOX), dtype=float)
    diff = np.abs(down - np.asarray(one, dtype=float))
    # the same picture: only glyph hinting and the image's resampling differ, pixel by pixel
    assert diff.mean() < 6 and (diff.max(-1) > 60).mean() < 0.05
    with pytest.raises(ValueError, match="scale"):
        widget.render_png(scale=0)


def test_row_scaling_draws_each_image_on_its_own_scale(net, images):
    x = torch.stack(images[:2])
    x[1] *= 0.01  # far weaker gradients x input than image 0's
    w = xw.AttributionExplorer(net, x, methods=["grad_x_input"], target=0)
    maps = w.maps("grad_x_input").numpy()
    for i in range(2):
        assert w.row_scale(i, "grad_x_input") == pytest.approx(float(np.percentile(np.abs(maps[i]), 99.5)), rel=1e-5)
    ratio = w.row_scale(1, "grad_x_input") / w.scale("grad_x_input")
    assert ratio < 0.05
    vals = w.shipped_values(1, "grad_x_input")
    np.testing.assert_array_equal(w.pixels(1, "grad_x_input", view="side", scaling="row"),
                                  shade(vals, ratio))
    np.testing.assert_array_equal(w.pixels(1, "grad_x_input", view="side"), shade(vals, 1.0))
    grey = xw.colormaps.lut("diverging")[128]
    spread = lambda px: np.abs(px[..., :3].astype(int) - grey).max(-1)  # noqa: E731
    assert np.mean(spread(w.pixels(1, "grad_x_input", view="side")) > 30) < 0.02  # column: near grey
    assert np.mean(spread(w.pixels(1, "grad_x_input", view="side", scaling="row")) > 30) > 0.25
    w.scaling = "row"
    assert w._row_scales and "±" in w._caption(next(m for m in w._maps["methods"]), 1, True)
    assert w.render_png().size[0] > 0
    w.set_state({"scaling": "diagonal"})
    assert w.scaling == "row" and "scaling" in w.message
