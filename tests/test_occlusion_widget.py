"""OcclusionExplorer in Python: what it shows against the core calls, browser input, the
background analysis, the paint sandbox and model hygiene."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

import xai_widgets as xw
from xai_widgets import wire
from xai_widgets.attribution import feature_occlusion as features
from xai_widgets.widgets.occlusion import OcclusionExplorer

from float_bounds import rounded_tol
from toy_models import SharedReLUNet, assert_untouched, snapshot


@pytest.fixture(scope="module")
def setup():
    model = xw.demo.shapes_model().train()  # train mode on purpose: every forward must use eval and restore it
    before = snapshot(model)
    image = xw.demo.shapes_dataset(2, seed=1).images[0]
    w = OcclusionExplorer(model, image, attribution="grad_x_input", classes=xw.demo.CLASSES)
    return model, before, w


@pytest.fixture(scope="module")
def setup64():
    """The same widget on a float64 model, for predictions compared across kernel paths (other
    batch sizes, other memory alignment): the probabilities are float64 results rounded once
    to float32, within rounded_tol(1.0) on any CPU kernel set, where a float32 network's
    rounding has no useful bound."""
    model = xw.demo.shapes_model().double().train()
    image = xw.demo.shapes_dataset(2, seed=1).images[0]
    return model, OcclusionExplorer(model, image, attribution="grad_x_input", classes=xw.demo.CLASSES)


def top5(probs: torch.Tensor) -> list:
    t = torch.topk(probs, 5)
    return [[int(k), float(p)] for p, k in zip(t.values, t.indices)]


def test_features_are_the_flood_fill_numbered_by_single_feature_drop(setup64):
    model, w = setup64
    raw = features.find_features(w.relevance, threshold=5.0, distance=1.5, min_size=20)
    assert sorted(map(lambda f: f.tobytes(), raw)) == sorted(map(lambda f: f.tobytes(), w.features))
    x = w.input[0]
    p0 = float(w.base_probs[w.target])
    singles = features.class_probs(model, torch.stack([features.occlude(x, w.features, [k], **w.occluder_options)
                                                       for k in range(len(w.features))]))
    np.testing.assert_allclose(w.drops.numpy(), p0 - singles[:, w.target].numpy(), atol=rounded_tol(1.0), rtol=0)
    assert (np.diff(w.drops.numpy()) <= 0).all()
    info = w._data["features"]
    assert [f["size"] for f in info] == [len(f) for f in w.features]
    labels = wire.decode(w._data["labels"])
    np.testing.assert_array_equal(labels, features.label_map(w.features, labels.shape))
    assert w.method == "grad_x_input" and w._data["method"] == "grad_x_input"
    assert w.value_range == (0.0, 1.0)


def test_toggles_show_the_top5_of_a_direct_forward_of_occlude(setup64):
    model, w = setup64
    for chosen in ([0], [0, 2], list(range(len(w.features))), []):
        w.set_state({"occluded": list(reversed(chosen))})  # as the browser sends it
        assert w.occluded == sorted(chosen)
        img = features.occlude(w.input[0], w.features, chosen, mode=w.mode, patch=w.patch, seed=w.seed,
                               value_range=w.value_range)
        want = features.class_probs(model, img[None])[0]
        got = w._view["top5"]
        assert [k for k, _ in got] == [k for k, _ in top5(want)]
        np.testing.assert_allclose([p for _, p in got], [p for _, p in top5(want)], atol=rounded_tol(1.0), rtol=0)
        assert w._view["occluded"] == sorted(chosen)
        np.testing.assert_array_equal(wire.decode(w._view["image"]),
                                      np.round(img.permute(1, 2, 0).numpy() * 255))
        assert torch.equal(w.occluded_image(), img)


def test_occluder_changes_keep_the_occluded_pixels_and_settings_refind_features(setup):
    _, _, w = setup
    w.occluded = [0, 1]
    pixels_before = {tuple(p) for k in w.occluded for p in w.features[k].tolist()}
    w.set_state({"patch": 4})
    assert {tuple(p) for k in w.occluded for p in w.features[k].tolist()} == pixels_before
    assert w._view["occluded"] == w.occluded
    w.set_state({"mode": "noise"})
    assert torch.equal(w.occluded_image(), features.occlude(w.input[0], w.features, w.occluded, mode="noise",
                                                            patch=4, value_range=(0.0, 1.0)))
    w.set_state({"mode": "pixelate", "patch": 8, "threshold": 3.0})
    raw = features.find_features(w.relevance, threshold=3.0, distance=1.5, min_size=20)
    assert len(w.features) == len(raw) and w.occluded == [] and w._data["features"]
    w.set_state({"threshold": 5.0})


def test_bad_browser_values_are_refused_with_a_message(setup):
    _, _, w = setup
    n = len(w.features)
    w.occluded = [0]
    for update, text in [({"occluded": [n]}, f"0..{n - 1}"), ({"occluded": ["x"]}, "occluded"),
                         ({"threshold": -1.0}, "threshold"), ({"distance": 40.0}, "distance"),
                         ({"min_size": -3}, "min_size"), ({"patch": 0}, "patch"), ({"mode": "blur"}, "mode"),
                         ({"sandbox_mask": memoryview(b"abc")}, "H x W"), ({"opacity": 2.0}, "opacity"),
                         ({"_data": {}}, "read-only")]:
        w.set_state(update)
        assert text in w.message, (update, w.message)
    assert w.occluded == [0] and w.threshold == 5.0 and w.patch == 8 and w.mode == "pixelate"


def test_analyse_in_the_background_equals_the_core_call(setup):
    model, _, w = setup
    w._on_custom_msg(w, {"type": "analyse"}, [])
    w.wait(120)
    assert not w.busy and w.analysis is not None
    direct = features.analyse(model, w.input[0], w.features, target=w.target, **w.occluder_options)
    assert [f and f.occluded for f in w.analysis.findings] == [f and f.occluded for f in direct.findings]
    shown = w._analysis["findings"]
    assert [f["kind"] for f in shown] == ["most_important", "smallest_keep", "smallest_flip", "largest_change"]
    for entry, f in zip(shown, direct.findings):
        if f is None:
            assert entry["missing"]
        else:
            assert entry["occluded"] == list(f.occluded) and entry["change"] == pytest.approx(f.change, abs=1e-6)
            np.testing.assert_array_equal(wire.decode(entry["image"]), np.round(f.image.permute(1, 2, 0).numpy() * 255))
    w.set_state({"patch": 4})  # a new occluder makes the analysis stale
    assert w.analysis is None and w._analysis == {}
    w.set_state({"patch": 8})


def test_sandbox_prediction_equals_perturb_directly(setup64):
    model, w = setup64
    painted = np.zeros((128, 128), np.uint8)
    painted[30:70, 40:90] = 1
    w.set_state({"sandbox_mask": memoryview(painted.tobytes())})  # what the browser sends on release
    assert w.painted().sum() == painted.sum()
    for kind in features.SANDBOX_KINDS:
        w.set_state({"sandbox_kind": kind})
        keep = torch.from_numpy(1.0 - painted)
        img = xw.perturbation.perturb(w.input, keep[None].float(), kind=kind)
        want = features.class_probs(model, img)[0]
        assert [k for k, _ in w._sandbox["top5"]] == [k for k, _ in top5(want)]
        np.testing.assert_allclose([p for _, p in w._sandbox["top5"]], [p for _, p in top5(want)],
                                   atol=rounded_tol(1.0), rtol=0)
        assert w._sandbox["painted"] == pytest.approx(painted.mean())
    w.paint(np.zeros((128, 128)))
    assert w._sandbox["painted"] == 0 and torch.equal(w.sandbox_image(), w.input[0])
    with pytest.raises(ValueError, match="H x W"):
        w.paint(np.zeros((4, 4)))


def test_png_and_html_exports(setup, tmp_path):
    _, _, w = setup
    w.analyse()
    w.paint(np.pad(np.ones((28, 28)), 50))
    img = w.render_png()
    assert img.size[0] > 3 * w.size and img.size[1] > 3 * w.size  # three rows: features, analysis, sandbox
    data, _ = w._repr_mimebundle_()
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert repr(w).startswith("OcclusionExplorer(")
    html = w.to_html(tmp_path / "occ.html").read_text()
    assert "xw-state" in html and len(html) < 3_000_000
    w.paint(np.zeros((128, 128)))


def test_export_ships_the_view_of_every_occlusion_set_up_to_six_features(setup64):
    model, w = setup64
    n = len(w.features)
    views = w._export_state()["_offline_views"]
    assert len(views) == 2 ** n
    for key in ("", "0", ",".join(map(str, range(n)))):
        chosen = [int(k) for k in key.split(",") if k]
        img = features.occlude(w.input[0], w.features, chosen, mode=w.mode, patch=w.patch, seed=w.seed,
                               value_range=w.value_range)
        want = features.class_probs(model, img[None])[0]
        assert views[key]["occluded"] == chosen
        assert [k for k, _ in views[key]["top5"]] == [k for k, _ in top5(want)]
        np.testing.assert_allclose([p for _, p in views[key]["top5"]], [p for _, p in top5(want)],
                                   atol=rounded_tol(1.0), rtol=0)
        np.testing.assert_array_equal(wire.decode(views[key]["image"]), np.round(img.permute(1, 2, 0).numpy() * 255))
    many = OcclusionExplorer(model, w.input, attribution="grad_x_input", threshold=1.0, min_size=0)
    assert len(many.features) > 6 and many._export_state() == {"_offline_views": {}}


def test_the_model_is_untouched_after_every_call(setup):
    model, before, w = setup
    assert_untouched(model, before)
    assert model.training


class Gated(SharedReLUNet):
    """Forward passes wait for `gate` while `hold` is set: an analysis that runs as long as a test wants."""

    def __init__(self):
        super().__init__()
        self.hold, self.gate = threading.Event(), threading.Event()

    def forward(self, x):
        if self.hold.is_set():
            self.gate.wait(30)
        return super().forward(x)


def test_toggles_during_an_analysis_wait_for_it_then_apply():
    torch.manual_seed(0)
    model = Gated()
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    r = torch.zeros(24, 24)
    for k in range(4):
        r[2 + 5 * k:5 + 5 * k, 3:20] = 1.0 + k
    w = OcclusionExplorer(model, x, attribution=r, threshold=0.5, min_size=5)
    assert len(w.features) == 4
    model.hold.set()
    w._on_custom_msg(w, {"type": "analyse"}, [])
    w.set_state({"occluded": [1, 2]})
    assert w.occluded == [1, 2] and w._view["occluded"] == [] and "Analysing" in w.message
    model.hold.clear()
    model.gate.set()
    w.wait(60)
    assert w._view["occluded"] == [1, 2] and w.analysis is not None and w.message == ""
    want = features.class_probs(model, w.occluded_image()[None])[0]
    assert w._view["top1"] == int(want.argmax())


def test_bad_construction_is_refused_clearly():
    model = SharedReLUNet()
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(TypeError, match="nn.Module"):
        OcclusionExplorer("model", x)
    with pytest.raises(ValueError, match="class index in 0..3"):
        OcclusionExplorer(model, x, attribution=torch.zeros(16, 16), target=4)
    with pytest.raises(ValueError, match="classes has 2 names"):
        OcclusionExplorer(model, x, attribution=torch.zeros(16, 16), classes=["a", "b"])
    with pytest.raises(ValueError, match="must match the model input, 16 x 16"):
        OcclusionExplorer(model, x, attribution=torch.zeros(8, 8))
    w = OcclusionExplorer(model, x, attribution=torch.zeros(16, 16))  # no relevance: no features
    assert w.features == [] and w._data["features"] == []
    with pytest.raises(ValueError, match="no features"):
        w.analyse()
    w._on_custom_msg(w, {"type": "analyse"}, [])
    assert "no features" in w.message


def cielab(rgb) -> np.ndarray:
    """sRGB (0..255) -> CIELAB under D65 (CIE 1976), for colour differences."""
    c = np.asarray(rgb, dtype=float) / 255
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]])
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def test_feature_swatches_stay_apart_and_away_from_the_hover_red():
    from xai_widgets.widgets.occlusion import palette

    lab = cielab(palette(8))
    apart = [np.linalg.norm(lab[a] - lab[b]) for a in range(8) for b in range(a + 1, 8)]
    assert min(apart) > 27  # CIE76 ΔE: every pair clearly different
    first = [np.linalg.norm(lab[a] - lab[b]) for a in range(5) for b in range(a + 1, 5)]
    assert min(first) > 35  # the usual handful of features: far apart
    assert min(np.linalg.norm(lab - cielab([255, 0, 0]), axis=1)) > 35  # none reads as the hover highlight
    assert palette(10)[8:] == palette(2)  # past 8 they repeat; the numbers tell those apart


def test_png_scale_two_is_the_same_picture_at_twice_the_size(setup):
    from PIL import Image

    _, _, w = setup
    one, two = w.render_png(), w.render_png(scale=2)
    assert two.size == (2 * one.size[0], 2 * one.size[1])
    down = np.asarray(two.resize(one.size, Image.Resampling.BOX), dtype=float)
    diff = np.abs(down - np.asarray(one, dtype=float))
    assert diff.mean() < 6 and (diff.max(-1) > 60).mean() < 0.05  # only glyph hinting differs


def test_synthesis_gallery_is_invert_on_the_isolated_feature(setup):
    model, before, w = setup
    k, seed = 1, 4
    syn = w.synthesise(k, n=3, iterations=15, seed=seed)
    assert_untouched(model, before)
    rows, cols = w.features[k][:, 0], w.features[k][:, 1]
    box = (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    assert syn.box == tuple(int(v) for v in box) and syn.layer == "relu4"  # the last layer with a spatial map
    # Norton's noise method by hand: the image inside the box, uniform noise in [0, 1] outside
    iso = xw.inversion.isolate(w.input[0], box, seed=seed, low=0.0, high=1.0)
    inside = torch.zeros(128, 128, dtype=torch.bool)
    inside[box[0]:box[2], box[1]:box[3]] = True
    assert torch.equal(iso[:, inside], w.input[0][:, inside]) and torch.equal(syn.isolated, iso)
    ref = xw.inversion.invert(model, "relu4", iso, n=3, box=box, iterations=15, seed=seed, snapshots=0)
    assert torch.equal(syn.inversion.images, ref.images) and torch.equal(syn.inversion.loss, ref.loss)
    shipped = wire.decode(w._synthesis["images"])
    expected = np.round(np.clip(ref.images.permute(0, 2, 3, 1).numpy(), 0, 1) * 255)  # the [0, 1] display range
    np.testing.assert_array_equal(shipped, expected)
    np.testing.assert_array_equal(wire.decode(w._synthesis["isolated"]),
                                  np.round(iso.permute(1, 2, 0).numpy() * 255))
    probs = torch.softmax(model.eval()(ref.images), 1)
    model.train()
    for s in range(3):
        assert [c for c, _ in w._synthesis["top5"][s]] == probs[s].topk(5).indices.tolist()
        assert w._synthesis["loss"][s] == pytest.approx(float(ref.loss[s]))
    # what must hold: every start's descent lowers its loss over the box's cells, and the
    # pre-images differ from start to start outside the box, where nothing is matched
    history = ref.history["loss"]
    assert (ref.loss < history[0]).all()
    outside = ref.images[:, :, ~inside]
    assert all((outside[a] - outside[b]).abs().max() > 0.05 for a, b in ((0, 1), (0, 2), (1, 2)))
    assert w._synthesis["feature"] == k and w._synthesis["box"] == list(syn.box)


def test_synthesise_from_the_browser_runs_in_the_background_and_cancels(setup):
    model, before, w = setup
    w.synthesis_options = {"n": 2, "iterations": 5, "seed": 0, "layer": "relu3"}
    w._on_custom_msg(w, {"type": "synthesise", "feature": 0}, [])
    w.wait()
    assert w.synthesis.feature == 0 and w.synthesis.layer == "relu3" and len(w.synthesis.inversion.images) == 2
    shown = dict(w._synthesis)
    w.observe(lambda change: change["new"].get("running") and w.cancel(), "progress")
    try:
        w._on_custom_msg(w, {"type": "synthesise", "feature": 1}, [])
        w.wait()
    finally:
        w.unobserve_all("progress")
    assert "synthesise cancelled" in w.message and w._synthesis == shown and w.synthesis.feature == 0
    w._on_custom_msg(w, {"type": "synthesise", "feature": 99}, [])
    assert "feature" in w.message and not w.busy
    assert_untouched(model, before)


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(feature=99), ValueError, "feature"),
    (dict(feature=0, n=0), ValueError, "n must be an integer >= 1"),
    (dict(feature=0, layer="relu9"), ValueError, "unknown layer 'relu9'"),
    (dict(feature=0, layer=3), TypeError, "layer must be a layer name"),
])
def test_synthesise_refuses_bad_arguments(setup, kwargs, error, text):
    _, _, w = setup
    with pytest.raises(error, match=text):
        w.synthesise(**kwargs)


def test_the_picture_shows_the_synthesis_gallery(setup64):
    model, w = setup64
    before = w.render_png(panel=96)
    syn = w.synthesise(0, n=2, iterations=3)
    after = w.render_png(panel=96)
    assert after.size[1] > before.size[1] + 96  # one more row of panels
    # the pre-images are pasted at their pixels: find the first one's panel in the new row
    first = np.asarray(Image.fromarray(w._pixels(syn.inversion.images[0])).resize((96, 96), Image.NEAREST))
    row = np.asarray(after)[before.size[1] - 10:]
    x = 10 + 1 * (96 + 10)  # the second panel of the row (the isolated feature is the first)
    assert any(np.array_equal(row[y:y + 96, x:x + 96], first) for y in range(row.shape[0] - 95)), \
        "the first pre-image is not in the picture's last row"
