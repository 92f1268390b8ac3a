"""PathMorph in Python: what it ships against the method's own result, validation, re-targeting, hygiene."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import traitlets

import xai_widgets as xw
from xai_widgets import wire
from xai_widgets.morph import ConvVAE, SeedCNN

from toy_models import assert_untouched, snapshot

FAST = {"morph": {"max_iter": 25}, "mask": {"iterations": 15}, "candidates": 8}


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return SeedCNN().eval(), ConvVAE(latent_dim=16).eval()


@pytest.fixture(scope="module")
def widget(models):
    classifier, vae = models
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return xw.PathMorph(classifier, vae, x, steps=12, options=FAST, classes=list("abcdefghij"))


def test_ships_every_frame_once_as_uint8_and_the_numbers_behind_the_panels(widget):
    r, m = widget.result, widget._morph
    frames = wire.decode(m["frames"])
    assert m["frames"]["dtype"] == "uint8" and frames.shape == (12, 28, 28, 1)
    np.testing.assert_allclose(frames[..., 0], np.round(r.frames[:, 0].numpy() * 255), atol=1)
    diffs = wire.decode(m["diffs"])
    np.testing.assert_allclose(diffs, (r.frames[1:] - r.frames[:-1])[:, 0].numpy(), atol=1e-3)
    np.testing.assert_array_equal(wire.decode(m["mask"]), r.mask.mask.numpy())
    np.testing.assert_allclose(wire.decode(m["probs"]), r.frame_probs.numpy(), rtol=1e-6)
    assert m["gains"] == pytest.approx(r.mask.gains.tolist(), abs=1e-7)
    assert m["cumulative"][-1] == pytest.approx(float(r.mask.gains.sum()), abs=1e-6)
    assert (m["s"], m["o"]) == (r.s, r.o) and m["classes"][r.s] == "abcdefghij"[r.s]
    json.dumps({k: v for k, v in m.items() if k not in ("frames", "diffs", "mask", "signed", "grads", "probs",
                                                       "endpoints", "sm")}, allow_nan=False)
    assert widget.step == 11  # starts at self, the reconstruction


def test_step_difference_is_the_overlay_the_browser_draws(widget):
    r = widget.result
    d = widget.step_difference(3)
    torch.testing.assert_close(d, (r.frames[4] - r.frames[3]).mean(dim=0))
    torch.testing.assert_close(widget.step_difference(3, masked=True), d * r.mask.mask)
    last = r.frames.shape[0] - 1  # the last frame has no next one: a clear refusal, not an IndexError
    for bad in (last, -1, 2.5):
        with pytest.raises(ValueError, match=rf"step must be a frame in 0\.\.{last - 1}"):
            widget.step_difference(bad)


def test_browser_input_is_validated(widget):
    widget.set_state({"step": 40})
    assert widget.step == 11 and "0..11" in widget.message
    widget.set_state({"pixel": {"row": 30, "col": 2}})
    assert widget.pixel is None and "28 x 28" in widget.message
    widget.set_state({"target": widget.result.s})
    assert "own class" in widget.message
    widget.set_state({"opacity": 3})
    assert widget.opacity == 0.6
    widget.set_state({"step": 2, "pixel": {"row": 3, "col": 4}})
    assert widget.step == 2 and widget.pixel == {"row": 3, "col": 4}


def test_retarget_morphs_toward_the_chosen_class_and_keeps_the_models_untouched(models):
    classifier, vae = models
    before_c, before_v = snapshot(classifier), snapshot(vae)
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    w = xw.PathMorph(classifier, vae, x, steps=8, options=FAST)
    other = next(k for k in range(10) if k not in (w.result.s, w.result.o))
    w.retarget(other)
    assert w.result.o == other and w.target == other and w._morph["o"] == other
    assert w.result.reconstruction is not None
    another = next(k for k in range(10) if k not in (w.result.s, other))
    w.set_state({"target": another})  # the class bars: runs in the background
    w.wait(120)
    assert w.result.o == another and not w.progress["running"]
    assert_untouched(classifier, before_c)
    assert_untouched(vae, before_v)


def test_bad_inputs_are_refused_clearly(models):
    classifier, vae = models
    x = torch.rand(1, 1, 28, 28)
    with pytest.raises(TypeError, match="classifier must be a torch.nn.Module"):
        xw.PathMorph("cnn", vae, x)
    with pytest.raises(TypeError, match="encode"):
        xw.PathMorph(classifier, classifier, x)
    w = xw.PathMorph(classifier, vae, x, steps=6, options=FAST)
    with pytest.raises(ValueError, match="class index in 0..9"):
        w.retarget(12)


def test_png_has_the_seed_fig_4_12_layout(widget):
    img = widget.render_png()
    assert img.size[0] >= 4 * 112 and img.size[1] > 3 * 112
    data, _ = widget._repr_mimebundle_()
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_step_difference_scale_is_per_step(widget):
    """Each step's overlay scale is that step's largest |change| (numpy), so no step is drawn on
    another step's scale: the radial path's first step is many times the middle ones."""
    frames = widget.result.frames.double().numpy().mean(axis=1)
    d = frames[1:] - frames[:-1]
    mask = widget.result.mask.mask.double().numpy()
    np.testing.assert_allclose(widget._morph["diff_scale"], np.abs(d).reshape(len(d), -1).max(1), rtol=1e-5)
    np.testing.assert_allclose(widget._morph["masked_scale"], np.abs(d * mask).reshape(len(d), -1).max(1), rtol=1e-5)
    assert "diff_max" not in widget._morph


def test_norm_bands_are_in_the_units_of_the_path(models):
    """The class-norm band follows the path's codes: sampled codes (norm sqrt(|mu|^2 + sum sigma^2)
    in expectation) get the norms of encoder samples, not of encoder means."""
    classifier, vae = models
    gen = torch.Generator().manual_seed(3)
    train_x, train_y = torch.rand(40, 1, 28, 28, generator=gen), torch.arange(40) % 10
    norms = xw.morph.class_norms(vae, train_x, train_y, 10)
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    w = xw.PathMorph(classifier, vae, x, steps=8, options=FAST, norms=norms)
    b, r = w._morph["bands"], w.result
    sampled = int(r.reconstruction.index[0]) > 0
    mean, std = (norms.sample_mean, norms.sample_std) if sampled else (norms.mean, norms.std)
    assert b["kind"] == ("sample" if sampled else "mean")
    assert b["s"] == pytest.approx([float(mean[r.s]), float(std[r.s])])
    assert b["o"] == pytest.approx([float(mean[r.o]), float(std[r.o])])
    assert b["target"] == pytest.approx(float(norms.mean[r.o]))
    # the path's end (c_self) lies within 3 std of its band; the encoder-mean band misses a sampled code
    end = float(r.diagnostics.norms[-1])
    assert abs(end - b["s"][0]) <= 3 * b["s"][1] + 1e-6
    if sampled:
        assert abs(end - float(norms.mean[r.s])) > 3 * float(norms.std[r.s])


def test_png_scale_and_svg_charts(widget, tmp_path):
    import xml.etree.ElementTree as ET

    one, two = widget.render_png(), widget.render_png(scale=2)
    # images, charts and text double; the grid's fixed label gutter does not
    assert 1.7 <= two.size[0] / one.size[0] <= 2.05 and 1.7 <= two.size[1] / one.size[1] <= 2.05
    widget.to_png(tmp_path / "m.png", scale=1.5)
    path = widget.to_svg(tmp_path / "m.svg")
    lines = {e.get("data-series"): e for e in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}polyline")
             if e.get("data-series")}
    panels = {p["id"]: p for p in widget.chart_panels()}
    for name, data in [("gain", panels["gains"]["series"][0]["ys"][:-1]), ("norm", panels["norms"]["series"][0]["ys"])]:
        pts = np.array([[float(v) for v in p.split(",")] for p in lines[name].get("points").split()])
        xs = np.arange(1, len(data) + 1)
        # an affine map of (step, value): x grows with the step, y falls as the value rises
        for col, values, sign in [(0, xs, 1), (1, np.asarray(data, float), -1)]:
            A = np.c_[values, np.ones_like(values)]
            coef, *_ = np.linalg.lstsq(A, pts[:, col], rcond=None)
            np.testing.assert_allclose(A @ coef, pts[:, col], atol=0.02)
            assert np.ptp(values) > 1e-9 and np.sign(coef[0]) == sign
