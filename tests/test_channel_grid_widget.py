"""ChannelGrid in Python: payloads, numbers against independent references, validation, hygiene."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import traitlets

import xai_widgets as xw
from xai_widgets import backview, grid, wire
from xai_widgets.core.capture import capture

from toy_models import SharedReLUNet, assert_untouched, snapshot


@pytest.fixture(scope="module")
def demo():
    model = xw.demo.shapes_model()
    return model, xw.demo.shapes_images(4, seed=3)


@pytest.fixture
def images():
    return [torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(i)) for i in range(3)]


def test_ships_one_layer_for_all_images_as_float16(shared_net, images):
    before = snapshot(shared_net)
    w = xw.ChannelGrid(shared_net, images, layer="relu:1")
    assert_untouched(shared_net, before)
    acts = w._acts["acts"]
    assert acts["dtype"] == "float16" and acts["shape"] == [3, 8, 20, 24]
    ref = capture(shared_net, torch.stack(images), ["relu:1"])["relu:1"]
    np.testing.assert_allclose(wire.decode(acts), ref.numpy(), rtol=1e-3, atol=1e-3)
    assert w._acts["signed"] is False  # post-ReLU
    assert w.layer_names == ["conv1", "bn1", "relu", "conv2", "relu:1", "pool", "fc"]


def test_default_layer_is_the_first_spatial_one_and_linear_layers_are_1x1_tiles(shared_net, images):
    w = xw.ChannelGrid(shared_net, images)
    assert w.layer == "conv1" and w._acts["signed"] is True  # conv outputs are signed
    w.layer = "fc"
    assert w._acts["acts"]["shape"] == [3, 4, 1, 1]
    assert w.channels == 4


def test_switching_layer_clamps_the_selected_unit(demo):
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu3")
    w.selected = 60
    w.layer = "relu1"  # 16 channels
    assert w.selected == 15 and w._acts["layer"] == "relu1"


def test_tile_values_are_grid_normalise_of_the_shipped_values(demo):
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="conv2")
    w.image, w.normalisation, w.boost, w.gamma = 2, "channel", 0.5, 0.7
    shipped = torch.from_numpy(wire.decode(w._acts["acts"])[2])
    expected = grid.normalise(shipped, "channel", boost=0.5, gamma=0.7, signed=True)
    torch.testing.assert_close(w.tile_values(), expected)
    assert float(w.tile_values().min()) >= 0 and float(w.tile_values().max()) <= 1


def test_top5_probabilities_are_the_softmax_of_the_model(demo):
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, classes=xw.demo.CLASSES)
    with torch.no_grad():
        p = model(xw.to_batch(imgs, model)).softmax(1)
    for n, row in enumerate(w._probs):
        assert len(row) == 5
        names = [name for name, _ in row]
        assert names[0] == xw.demo.CLASSES[int(p[n].argmax())]
        np.testing.assert_allclose([v for _, v in row], p[n].sort(descending=True).values[:5].numpy(), rtol=1e-5)


def test_wrong_number_of_class_names_is_refused(demo):
    model, imgs = demo
    with pytest.raises(ValueError, match="3 class names for a model with 6 outputs"):
        xw.ChannelGrid(model, imgs, classes=["a", "b", "c"])


def test_back_view_follows_unit_image_and_mode(demo):
    model, imgs = demo
    before = snapshot(model)
    w = xw.ChannelGrid(model, imgs, layer="relu2")
    assert w._back is None  # off by default: nothing computed
    w.selected, w.image = 5, 1
    w.back_mode = "guided"
    assert w._back["channel"] == 5 and w._back["image"] == 1 and w._back["mode"] == "guided"
    x = xw.to_batch(imgs, model)[1:2]
    g = backview.unit_backprop(model, x, "relu2", 5, mode="guided")
    shown = backview.back_display(g.cpu(), "raw")
    pixels = wire.decode(w._back["pixels"])
    np.testing.assert_allclose(pixels, np.round(shown * 255), atol=1)
    w.back_filter = "norm"
    assert wire.decode(w._back["pixels"]).std(axis=-1).max() == 0  # norm is grey
    w.back_mode = "off"
    assert w._back is None
    assert_untouched(model, before)


def test_browser_updates_are_validated_not_raised(demo):
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu2")
    w.set_state({"layer": "relu9"})
    assert w.layer == "relu2" and "unknown layer 'relu9'" in w.message and "relu1" in w.message
    w.set_state({"selected": 99})
    assert w.selected == 0 and "0..31" in w.message
    w.set_state({"boost": 2.0})
    assert w.boost == 0 and "boost must be a finite number in [0, 1]" in w.message
    w.set_state({"gamma": 0})
    assert w.gamma == 1 and "gamma must be a finite number in [0.05, 20]" in w.message
    w.set_state({"image": 7})
    assert w.image == 0 and "0..3" in w.message
    w.set_state({"_acts": {}})
    assert "read-only" in w.message
    w.set_state({"layer": "relu3", "selected": 40})
    assert (w.layer, w.selected) == ("relu3", 40)


def test_over_budget_layer_is_refused_with_what_to_change(demo):
    model, imgs = demo
    with pytest.raises(traitlets.TraitError, match="over max_bytes"):
        xw.ChannelGrid(model, imgs, layer="relu1", max_bytes=1 << 20)  # 4 x 16 x 128 x 128 x 2 B = 2 MiB
    w = xw.ChannelGrid(model, imgs, layer="relu4", max_bytes=1 << 20)
    w.set_state({"layer": "relu1"})
    assert w.layer == "relu4" and "over max_bytes" in w.message


def test_bad_inputs_get_clear_errors(shared_net, images):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        xw.ChannelGrid("model", images)
    with pytest.raises(ValueError, match="no images"):
        xw.ChannelGrid(shared_net, [])
    with pytest.raises(ValueError, match="differ in size"):
        xw.ChannelGrid(shared_net, [torch.rand(3, 8, 8), torch.rand(3, 9, 9)])
    with pytest.raises(traitlets.TraitError, match="did you mean 'conv2', 'conv1'"):
        xw.ChannelGrid(shared_net, images, layer="conv")


def test_unknown_messages_and_scan_without_dataset_are_reported(shared_net, images):
    w = xw.ChannelGrid(shared_net, images)
    w._on_custom_msg(w, {"type": "scan"}, [])
    assert "no dataset" in w.message
    w._on_custom_msg(w, {"type": "explode"}, [])
    assert "unknown message" in w.message


def test_png_fallback_shows_the_grid_with_the_layers_colours(demo):
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu4")
    img = w.render_png()
    assert img.size[0] > 400 and img.size[1] > 300
    data, _ = w._repr_mimebundle_()
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_hygiene_on_a_model_with_a_shared_inplace_relu(images):
    torch.manual_seed(1)
    net = SharedReLUNet().train()  # training mode must survive
    before = snapshot(net)
    w = xw.ChannelGrid(net, images, layer="relu")
    for mode in ("grad", "deconv", "guided"):
        w.back_mode = mode
    w.layer = "relu:1"
    assert_untouched(net, before)
    assert net.training


@pytest.fixture(scope="module")
def shapes():
    data = xw.demo.shapes_dataset(40, seed=7, masks=True)
    return data, xw.demo.class_concepts(data)


def test_scan_ships_patches_statistics_and_concepts_per_layer(demo, shapes, tmp_path):
    model, imgs = demo
    data, concepts = shapes
    before = snapshot(model)
    w = xw.ChannelGrid(model, imgs, layer="relu3", dataset=data, classes=xw.demo.CLASSES, concepts=concepts)
    states = []
    w.observe(lambda change: states.append(change["new"]), "progress")
    top = w.scan(k=4, cache_dir=tmp_path)
    ref = xw.scan.scan(model, "relu3", data, k=4, cache=False)
    np.testing.assert_array_equal(top.indices, ref.indices)
    np.testing.assert_array_equal(wire.decode(w._patches["patches"]), ref.patches)
    assert w._patches["n_images"] == 40 and np.allclose(w._patches["values"], ref.values, rtol=1e-6)
    assert w._units["dead"] == ref.stats.dead.tolist()
    assert set(w._units["selective_class"]) <= set(xw.demo.CLASSES)
    dis = xw.scan.dissect(model, "relu3", data, concepts)
    assert w._units["concept"] == [dis.label(c) or "" for c in range(64)]
    json.dumps(w._units, allow_nan=False)  # NaN (dead units' selectivity) would break the comm
    assert states[0]["running"] and states[0]["task"] == "scan of relu3" and not states[-1]["running"]
    w.layer = "relu2"
    assert w._patches is None and w._units is None
    w.layer = "relu3"  # results are kept per layer
    assert w._patches["layer"] == "relu3"
    assert_untouched(model, before)


class StopsAfter:
    """A dataset that asks the widget to cancel once ``n`` images have been read."""

    def __init__(self, data, n, widget=None):
        self.data, self.n, self.widget = data, n, widget

    def __len__(self):
        return len(self.data)

    def __iter__(self):
        for i in range(len(self.data)):
            if i == self.n:
                self.widget.cancel()
            yield self.data[i]


def test_cancelled_scan_changes_nothing_and_says_so(demo, shapes, tmp_path):
    model, imgs = demo
    before = snapshot(model)
    w = xw.ChannelGrid(model, imgs, layer="relu2")
    data = StopsAfter(shapes[0], 12, w)
    assert w.scan(data, batch_size=8, cache_dir=tmp_path) is None
    assert "cancelled" in w.message and w.tops == {} and w._patches is None
    assert not w.progress["running"] and list(tmp_path.iterdir()) == []
    assert_untouched(model, before)


def test_scan_button_runs_in_the_background(demo, shapes, tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_WIDGETS_CACHE", str(tmp_path))
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu4", dataset=shapes[0])
    w._on_custom_msg(w, {"type": "scan"}, [])
    w.wait(120)
    assert "relu4" in w.tops and w._patches["layer"] == "relu4" and not w.progress["running"]


def test_visualise_ships_the_optimised_images_of_the_chosen_units(demo):
    model, imgs = demo
    before = snapshot(model)
    w = xw.ChannelGrid(model, imgs, layer="relu3")
    w.selected = 7
    fv = w.visualise(steps=6)
    ref = xw.featurevis.visualise_channels(model, "relu3", [7], size=(128, 128), steps=6)
    torch.testing.assert_close(fv.images, ref.images)
    assert w._visuals["channels"] == [7] and w._visuals["images"]["shape"] == [1, 128, 128, 3]
    np.testing.assert_allclose(wire.decode(w._visuals["images"])[0], np.round(ref.images[0].permute(1, 2, 0).numpy() * 255),
                               atol=1)
    w.visualise([1, 2], steps=6, batch_size=2)
    assert w._visuals["channels"] == [1, 2, 7] and sorted(w.visuals["relu3"]) == [1, 2, 7]
    with pytest.raises(ValueError, match="'all'"):
        w.visualise("every")
    assert_untouched(model, before)


def relu2(net: SharedReLUNet, x: torch.Tensor) -> torch.Tensor:
    """The second call of the shared ReLU ("relu:1"), written out by hand, with its graph."""
    h = torch.relu(net.bn1(net.conv1(x)))
    return torch.relu(net.conv2(h) + h)


def test_unit_objective_sets_what_the_back_view_scan_and_optimisation_take(shared_net, images):
    w = xw.ChannelGrid(shared_net, images, layer="relu:1", dataset=images)
    w.selected, w.back_mode = 5, "grad"
    assert (w.objective("back"), w.objective("scan"), w.objective("visualise")) == ("sum", "max", "mean")
    x = torch.stack(images)
    maps = capture(shared_net, x, ["relu:1"])["relu:1"]
    for choice, reduce in [("default", torch.sum), ("max", torch.amax), ("mean", torch.mean)]:
        w.unit_objective = choice
        x0 = x[:1].clone().requires_grad_()
        (want,) = torch.autograd.grad(reduce(relu2(shared_net.eval(), x0)[0, 5]), x0)
        torch.testing.assert_close(w.back_gradient, want[0], rtol=1e-4, atol=1e-6)
        assert w._back["objective"] == ("sum" if choice == "default" else choice)
    top = w.scan(k=2, cache=False)  # unit_objective "mean": images ranked by their maps' mean
    assert top.score == "mean" and w._patches["score"] == "mean"
    np.testing.assert_allclose(top.values[:, 0], maps.mean((2, 3)).amax(0).numpy(), rtol=1e-5)
    fv = w.visualise(steps=2, size=16)
    assert fv.params["objective"] == "mean" and w._visuals["objectives"] == ["mean"]
    with pytest.raises(traitlets.TraitError, match="unit_objective must be one of"):
        w.unit_objective = "median"


def test_png_is_tight_has_the_legend_and_scales(demo):
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu4")
    one, two = w.render_png(), w.render_png(scale=2)
    assert two.size == (2 * one.size[0], 2 * one.size[1])
    a, b = np.asarray(one).astype(int), np.asarray(two.reduce(2)).astype(int)
    # the tiles are whole-pixel squares: halving the scale-2 grid gives the scale-1 grid exactly
    t = w.tile_values().numpy()
    rows, cols = grid.tile_layout(t.shape[0])
    cell = w.size // (cols * (t.shape[2] + 1) + 1)
    top = np.argmax((a[:, 8:20] == (128, 255, 128)).all(-1).any(1))  # unit 0's green outline: the grid's top row
    box = (slice(top, top + (rows * (t.shape[1] + 1) + 1) * cell), slice(8, 8 + (cols * (t.shape[2] + 1) + 1) * cell))
    np.testing.assert_array_equal(a[box], b[box])
    assert np.abs(a - b).mean() < 3  # the text differs only by its anti-aliasing
    # the gray colour bar lies under the grid: rows holding most of the map's 256 levels
    bar_rows = [y for y in range(box[0].stop, a.shape[0]) if len(np.unique(a[y, :, 0])) > 200]
    assert bar_rows, "no colour bar under the grid"
    blank = (a != 255).any(-1)
    assert blank[:, :8].sum() == 0 and blank[:, -8:].sum() == 0  # margins of 8 px, no more
    assert blank[:, 8].any() and blank[:, -9].any()
    with pytest.raises(traitlets.TraitError, match="scale must be a number in"):
        w.render_png(scale=0)


# ----------------------------------------------------------------------------- relevance mode


def test_relevance_mode_ships_each_units_conditional_heatmap_sorted_by_relevance(demo):
    pytest.importorskip("zennit")
    model, imgs = demo
    before = snapshot(model)
    w = xw.ChannelGrid(model, imgs, layer="relu1", classes=list(xw.demo.CLASSES))
    assert w.mode == "activation" and w._relevance is None
    w.mode = "relevance"
    x = xw.to_batch(imgs, model)
    predicted = int(model(x[:1]).argmax())
    r = w._relevance
    assert (r["image"], r["target"], r["class_name"]) == (0, predicted, xw.demo.CLASSES[predicted])
    heatmaps = xw.crp.conditional_heatmaps(model, x[:1], predicted, "relu1")
    np.testing.assert_array_equal(wire.decode(r["maps"]), heatmaps.numpy())
    relevance = xw.crp.channel_relevance(model, x[:1], predicted, "relu1")[0].numpy()
    np.testing.assert_array_equal(np.float32(r["relevance"]), relevance)
    assert r["order"] == sorted(range(len(relevance)), key=lambda c: (-relevance[c], c))
    assert sum(abs(s) for s in r["share"]) == pytest.approx(1.0, abs=1e-9)
    assert r["scale"] == xw.core.diverging.scale_of([heatmaps.numpy()])[0]
    w.image = 1
    assert w._relevance["image"] == 1 and w._relevance["target"] == int(model(x[1:2]).argmax())
    w.relevance_class = 2
    assert w._relevance["target"] == 2 and w._relevance["class_name"] == xw.demo.CLASSES[2]
    w.mode = "activation"
    assert w._relevance is None
    assert_untouched(model, before)


def test_relevance_mode_and_class_are_validated(demo, shared_net, images):
    pytest.importorskip("zennit")
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu3")
    w.set_state({"relevance_class": 6})
    assert w.relevance_class is None and "class index in [0, 5]" in w.message
    w.set_state({"mode": "gradient"})
    assert w.mode == "activation" and "relevance" in w.message
    residual = xw.ChannelGrid(shared_net, images, layer="conv2")  # a residual sum: LRP refuses it
    residual.set_state({"mode": "relevance"})  # from the browser: computed (and refused) in the background
    residual.wait()
    assert residual.mode == "activation" and "residual additions" in residual.message


def test_relevance_options_redraw_and_unknown_options_are_refused(demo):
    pytest.importorskip("zennit")
    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu2")
    w.mode = "relevance"
    book = wire.decode(w._relevance["maps"])
    w.relevance_options = {"composite": "epsilon"}
    x = xw.to_batch(imgs, model)
    predicted = int(model(x[:1]).argmax())
    want = xw.crp.conditional_heatmaps(model, x[:1], predicted, "relu2", composite="epsilon").numpy()
    np.testing.assert_array_equal(wire.decode(w._relevance["maps"]), want)
    assert not np.array_equal(want, book)
    with pytest.raises(traitlets.TraitError, match="unknown LRP option"):
        w.relevance_options = {"composit": "epsilon"}
    assert w.relevance_options == {"composite": "epsilon"}


def test_relevance_asked_for_by_the_browser_runs_in_the_background_and_can_be_cancelled(demo):
    pytest.importorskip("zennit")
    model, imgs = demo
    before = snapshot(model)
    w = xw.ChannelGrid(model, imgs, layer="relu3", classes=list(xw.demo.CLASSES))
    w.set_state({"mode": "relevance"})  # the class select and the tiles select send these
    assert w.mode == "relevance"
    w.wait()
    x = xw.to_batch(imgs, model)
    predicted = int(model(x[:1]).argmax())
    assert w._relevance["target"] == predicted and not w.busy
    w.set_state({"relevance_class": 4})
    assert w.busy and w.progress["task"] == "relevance of the layer's units"  # the kernel is free meanwhile
    w.wait()
    want = xw.crp.conditional_heatmaps(model, x[:1], 4, "relu3").numpy()
    np.testing.assert_array_equal(wire.decode(w._relevance["maps"]), want)
    assert w._relevance["target"] == 4 and w.relevance(cls=4) is w.relevance()  # cached: no second computation
    w.set_state({"image": 2})
    w.cancel()  # the Cancel button
    w.wait()
    assert w.mode == "activation" and "cancelled" in w.message and w._relevance is None
    assert_untouched(model, before)


def test_relevance_png_shows_the_heatmaps_in_relevance_order_in_the_diverging_map(demo):
    pytest.importorskip("zennit")
    from xai_widgets.core import diverging, render

    model, imgs = demo
    w = xw.ChannelGrid(model, imgs, layer="relu1", size=300)
    w.mode = "relevance"
    cond, (scale, _) = w.relevance(), w.relevance_scale()
    w.selected = cond.order[-1]  # its outline is away from the first tile
    fig = np.asarray(w.render_png())
    _, H, W = cond.heatmaps.shape
    top = 8 + render.font(15).size + 8 + 1  # margin, title, gap, tile padding (1 heatmap pixel per figure pixel)
    first = fig[top:top + H, 9:9 + W]
    np.testing.assert_array_equal(first, diverging.shade(cond.heatmaps[cond.order[0]].numpy(), scale)[..., :3])
    w.mode = "activation"
    assert not np.array_equal(np.asarray(w.render_png())[top:top + H, 9:9 + W], first)


def test_relevance_scan_ranks_each_units_patches_by_its_relevance(demo):
    pytest.importorskip("zennit")
    model, imgs = demo
    data = xw.demo.shapes_dataset(10, seed=5)
    w = xw.ChannelGrid(model, imgs, layer="relu2", dataset=data)
    w.mode = "relevance"
    refs = w.relevance_scan(k=3, batch_size=4)
    x = xw.to_batch([data[i][0] for i in range(len(data))], model)
    per_image = xw.crp.channel_relevance(model, x, None, "relu2").numpy()  # each image's predicted class
    ranked = np.argsort(-per_image, axis=0, kind="stable")[:3].T
    np.testing.assert_array_equal(refs.indices, ranked)
    np.testing.assert_allclose(refs.values, np.take_along_axis(per_image.T, ranked, 1), rtol=1e-5, atol=1e-6)
    p = w._patches
    assert p["score"] == "relevance" and p["explains"] == "each image's predicted class"
    assert wire.decode(p["patches"]).shape[:2] == (per_image.shape[1], 3)
    w.mode = "activation"
    assert w._patches is None
