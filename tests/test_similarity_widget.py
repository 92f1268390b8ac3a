"""SimilarityOverlay in Python: payload, numbers, validation, hygiene, static exports."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import traitlets
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import xai_widgets as xw
from xai_widgets import colormaps, wire
from xai_widgets.core.capture import capture

from toy_models import SharedReLUNet, assert_untouched, snapshot


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, (12, 16, 3), dtype=np.uint8),  # non-square numpy
        Image.fromarray(rng.integers(0, 256, (12, 16), dtype=np.uint8)),  # greyscale PIL
        torch.rand(3, 12, 16),  # tensor
    ]


def reference_maps(model, images, layer, image, row, col):
    """Independent reference: full-precision activations and explicit numpy cosines."""
    x = torch.cat([xw.images.model_input(im, model, None, i) for i, im in enumerate(images)])
    acts = capture(model, x, [layer])[layer].double().numpy()
    q = acts[image, :, row, col]
    dots = np.einsum("nchw,c->nhw", acts, q)
    norms = np.linalg.norm(acts, axis=1) * np.linalg.norm(q)
    return np.where(norms > 0, dots / np.maximum(norms, 1e-30), 0.0)


def test_payload_is_unit_float16_channels_last_and_within_two_bytes_per_activation(shared_net, images):
    before = snapshot(shared_net)
    w = xw.SimilarityOverlay(shared_net, images, ["conv1", "relu:1", "fc"])
    assert_untouched(shared_net, before)
    layers = w._data["layers"]
    assert [lay["name"] for lay in layers] == ["conv1", "relu:1", "fc"]
    conv1 = layers[0]["acts"][0]
    assert conv1["dtype"] == "float16" and conv1["shape"] == [12, 16, 8]
    assert wire.payload_bytes(conv1) == 12 * 16 * 8 * 2
    norms = np.linalg.norm(wire.decode(conv1), axis=-1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, atol=2e-3)
    assert layers[2]["acts"][0]["shape"] == [1, 1, 4]  # linear layer as a 1x1 map
    pixels = w._data["images"][1]["pixels"]
    assert pixels["dtype"] == "uint8" and pixels["shape"] == [144, 192, 3]  # long side = size


def test_similarity_map_matches_an_independent_reference(shared_net, images):
    w = xw.SimilarityOverlay(shared_net, images, ["relu:1"])
    got = w.similarity_map(2, "relu:1", 5, 9)
    assert got.shape == (3, 12, 16)
    ref = reference_maps(shared_net, images, "relu:1", 2, 5, 9)
    np.testing.assert_allclose(got.numpy(), ref, atol=3e-3)  # float16 on the wire
    assert got[2, 5, 9] == pytest.approx(1.0, abs=2e-3)


def test_images_of_different_sizes_get_their_own_grids(shared_net):
    w = xw.SimilarityOverlay(shared_net, [np.zeros((8, 8, 3), np.uint8) + 40, torch.rand(3, 10, 14)], "conv2")
    assert w.grid(0, "conv2") == (8, 8) and w.grid(1, "conv2") == (10, 14)
    maps = w.similarity_map(1, "conv2", 9, 13)
    assert isinstance(maps, list) and [tuple(m.shape) for m in maps] == [(8, 8), (10, 14)]


def test_default_colour_scale_follows_the_sign_of_the_activations(shared_net, images):
    post_relu = xw.SimilarityOverlay(shared_net, images, "relu")
    assert (post_relu.colormap, post_relu.vrange) == ("gray", [0.0, 1.0])
    signed = xw.SimilarityOverlay(shared_net, images, "conv1")
    assert (signed.colormap, signed.vrange) == ("diverging", [-1.0, 1.0])
    chosen = xw.SimilarityOverlay(shared_net, images, "conv1", colormap="viridis", vrange=(0, 0.5))
    assert (chosen.colormap, chosen.vrange) == ("viridis", [0.0, 0.5])
    assert set(chosen._colormaps) == set(colormaps.LUTS)


def test_query_sync_layers_and_validation(shared_net, images):
    w = xw.SimilarityOverlay(shared_net, images, ["relu", "fc"])
    w.query = {"image": 1, "layer": "relu", "row": 11, "col": 0}
    assert w.query_cells(1, "relu", 11, 0) == {"relu": (11, 0), "fc": (0, 0)}
    for bad in ({"image": 3, "layer": "relu", "row": 0, "col": 0},
                {"image": 0, "layer": "conv9", "row": 0, "col": 0},
                {"image": 0, "layer": "relu", "row": 12, "col": 0},
                {"image": "0", "layer": "relu", "row": 0, "col": 0},
                {"image": 0, "row": 0}):
        with pytest.raises(traitlets.TraitError):
            w.query = bad
    assert w.query == {"image": 1, "layer": "relu", "row": 11, "col": 0}


def test_messages_from_the_browser_are_validated_never_raised(shared_net, images):
    w = xw.SimilarityOverlay(shared_net, images, "relu")
    w.set_state({"query": {"image": 0, "layer": "relu", "row": 99, "col": 0}})
    assert w.query is None and "outside the 12x16 grid" in w.message
    w.set_state({"_data": {}})
    assert "read-only" in w.message and w._data["layers"]
    w.set_state({"opacity": "lots"})
    assert w.opacity == 0.7 and "opacity" in w.message
    w.set_state({"query": {"image": 2, "layer": "relu", "row": 3, "col": 4}, "colormap": "viridis"})
    assert w.query["row"] == 3 and w.colormap == "viridis"
    w._handle_custom_msg({"type": "explode"}, [])
    assert "unknown message" in w.message
    w._handle_custom_msg("not a dict", [])
    assert "unknown message" in w.message


def test_changing_images_or_layers_recomputes_and_bad_changes_change_nothing(shared_net, images):
    w = xw.SimilarityOverlay(shared_net, images, "relu")
    w.query = {"image": 0, "layer": "relu", "row": 0, "col": 0}
    w.images = images[:2]
    assert len(w._data["images"]) == 2 and w.query is None
    w.layers = ["conv2", "relu:1"]
    assert [lay["name"] for lay in w._data["layers"]] == ["conv2", "relu:1"]
    before = w._data
    with pytest.raises(ValueError, match="unknown layer 'conv7'"):
        w.layers = ["conv7"]
    with pytest.raises(ValueError, match="image 0"):
        w.images = [np.zeros((3, 3, 7))]
    assert w._data is before and w.layers == ["conv2", "relu:1"]
    w.set_inputs(images=images[:1], titles=["only"])
    assert w._data["images"][0]["title"] == "only"


def test_payload_budget_refuses_with_what_to_change(shared_net):
    big = [np.zeros((64, 64, 3), np.uint8)] * 4
    with pytest.raises(ValueError, match=r"over max_bytes=.*'conv1' \(64x64x8 per image.*fewer"):
        xw.SimilarityOverlay(shared_net, big, ["conv1"], max_bytes=50_000, reduce=False, size=32)


def test_a_budget_smaller_than_the_display_pixels_says_so_before_any_forward(shared_net):
    """Four 192 px panels are 4 * 3 * 192**2 bytes = 432 KiB: over a 100 KiB budget before any
    activation is counted (this once reported a negative budget for the activations)."""
    big = [np.zeros((64, 64, 3), np.uint8)] * 4
    calls = []
    handle = shared_net.register_forward_hook(lambda *_: calls.append(1))
    try:
        with pytest.raises(ValueError, match=r"display pixels alone \(4 images at size=192: 432.0 KiB\)"):
            xw.SimilarityOverlay(shared_net, big, ["conv1"], max_bytes=100 * 1024)
    finally:
        handle.remove()
    assert not calls


def test_bad_constructor_arguments(shared_net, images):
    with pytest.raises(TypeError, match="nn.Module"):
        xw.SimilarityOverlay("resnet", images, "relu")
    with pytest.raises(ValueError, match="no images"):
        xw.SimilarityOverlay(shared_net, [], "relu")
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        xw.SimilarityOverlay(shared_net, images, "relu", titles=["a", "b"])


def test_hygiene_over_every_public_call(shared_net, images):
    shared_net.train()
    before = snapshot(shared_net)
    w = xw.SimilarityOverlay(shared_net, images, ["bn1", "relu:1"])
    w.layers = ["conv2"]
    w.images = images[:1]
    w.similarity_map(0, "conv2", 1, 1)
    w.render_png()
    assert_untouched(shared_net, before)


def test_png_render_matches_the_browser_geometry(shared_net, images, tmp_path):
    w = xw.SimilarityOverlay(shared_net, images[:1], "relu:1", opacity=1.0)
    q = {"image": 0, "layer": "relu:1", "row": 4, "col": 6}
    fig = np.asarray(w.render_png(query=q, panel=160))
    # find the panel: the only 160x120 block whose colours are gray levels of the map
    sims = w.similarity_map(0, "relu:1", 4, 6)[0].numpy()
    expected = colormaps.apply(sims, "gray", 0.0, 1.0)
    yellow = np.argwhere((fig[..., 0] == 255) & (fig[..., 1] == 255) & (fig[..., 2] == 0))
    assert len(yellow) > 0
    # the outline's top-left corner is the top-left of cell (4, 6): 10 px cells
    y0, x0 = yellow.min(axis=0)
    top, left = y0 - 4 * 10, x0 - 6 * 10
    for r in range(12):
        for c in range(16):
            centre = fig[top + r * 10 + 5, left + c * 10 + 5]
            np.testing.assert_array_equal(centre, expected[r, c])
    out = w.to_png(tmp_path / "fig.png", query=q)
    assert Image.open(out).size[0] > 400


def test_static_fallback_for_nbconvert(shared_net, images):
    w = xw.SimilarityOverlay(shared_net, images, "relu")
    data, _ = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


def test_several_models_share_one_query_each_with_its_own_layers(images):
    torch.manual_seed(0)
    trained, other = SharedReLUNet(), SharedReLUNet()
    before = [snapshot(trained), snapshot(other)]
    w = xw.SimilarityOverlay({"trained": trained, "random init": other}, images,
                             {"trained": ["relu", "relu:1"], "random init": "conv2"})
    assert w.rows == ["trained/relu", "trained/relu:1", "random init/conv2"]
    assert [lay["name"] for lay in w._data["layers"]] == w.rows
    assert_untouched(trained, before[0])
    assert_untouched(other, before[1])
    # each row holds its own model's numbers
    alone = xw.SimilarityOverlay(other, images, "conv2")
    torch.testing.assert_close(w.similarity_map(1, "random init/conv2", 3, 4), alone.similarity_map(1, "conv2", 3, 4))
    w.query = {"image": 0, "layer": "random init/conv2", "row": 2, "col": 5}
    assert w.query_cells(0, "random init/conv2", 2, 5)["trained/relu"] == (2, 5)
    with pytest.raises(ValueError, match="unknown models"):
        w.layers = {"untrained": ["relu"]}
    with pytest.raises(ValueError, match="listed twice"):
        xw.SimilarityOverlay(trained, images, ["relu", "relu"])
    assert w.rows == ["trained/relu", "trained/relu:1", "random init/conv2"]


def test_factor_groups_shipped_as_shown_and_validated(shared_net, images):
    from xai_widgets.widgets.similarity import factor_strengths

    w = xw.SimilarityOverlay(shared_net, images, ["relu", "relu:1"])
    before = snapshot(shared_net)
    result = w.show_factors("relu:1", k=3)
    assert_untouched(shared_net, before)
    assert result is w.factors("relu:1", 3)  # the view's factorisation, not a new one
    f = w._factors
    assert (f["layer"], f["k"], len(f["colors"]), len(f["maps"])) == ("relu:1", 3, 3, 3)
    strengths = factor_strengths(result)
    np.testing.assert_allclose(strengths.amax(dim=(0, 2, 3)).numpy(), 1.0)
    shipped = np.stack([wire.decode(m) for m in f["maps"]])  # N x h x w x k, uint8 steps of 1/255
    np.testing.assert_allclose(shipped, strengths.permute(0, 2, 3, 1).numpy(), atol=0.5 / 255 + 1e-6)
    w.set_state({"factor_focus": 3})
    assert w.factor_focus == -1 and "factor_focus" in w.message
    w.set_state({"factor_focus": 1})
    assert w.factor_focus == 1
    with pytest.raises(ValueError, match="unknown row"):
        w.factors("conv9")
    w.layers = ["relu"]  # new inputs clear the groups
    assert w._factors is None and w.factor_focus == -1
    w.show_factors("relu", k=2)
    w.show_factors(None)
    assert w._factors is None


@pytest.mark.parametrize("similarity", ["dot", "centred"])
def test_similarity_choices_match_numpy(shared_net, images, similarity):
    x = torch.cat([xw.images.model_input(im, shared_net, None, i) for i, im in enumerate(images)])
    acts = capture(shared_net, x, ["relu:1"])["relu:1"].double().numpy()  # N x C x h x w
    vecs = np.moveaxis(acts, 1, -1).reshape(-1, acts.shape[1])  # all cells of all images
    if similarity == "centred":
        vecs = vecs - vecs.mean(axis=0)
        vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-8)
    ref = (vecs @ vecs.reshape(acts.shape[0], *acts.shape[2:], -1)[1, 4, 7]).reshape(acts.shape[0], *acts.shape[2:])
    w = xw.SimilarityOverlay(shared_net, images, "relu:1", similarity=similarity)
    got = w.similarity_map(1, "relu:1", 4, 7).numpy()
    scale = np.abs(ref).max()
    np.testing.assert_allclose(got / scale, ref / scale, atol=4e-3)  # float16 on the wire
    if similarity == "centred":
        assert got.min() < -0.1 and (w.colormap, w.vrange) == ("diverging", [-1.0, 1.0])
    else:
        assert w.auto_range and w.similarity == "dot"
    with pytest.raises(ValueError, match="similarity must be one of"):
        xw.SimilarityOverlay(shared_net, images, "relu:1", similarity="euclid")


def test_over_budget_rows_are_projected_keeping_the_maps(images):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU())
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(4)]
    full = xw.SimilarityOverlay(model, imgs, "1", size=32)
    budget = wire.payload_bytes(full._data["layers"][0]["acts"][0]) * 4 // 2 + 4 * 3 * 32 * 32
    w = xw.SimilarityOverlay(model, imgs, "1", size=32, max_bytes=budget)
    r = w.reduction["1"]
    assert r["d"] < 64 and r["fidelity"] >= 0.99 and "projected to" in w.message
    assert (w.colormap, w.vrange) == ("gray", [0.0, 1.0])  # still post-ReLU cosines
    assert w._data["layers"][0]["acts"][0]["shape"] == [20, 20, r["d"]]
    assert full.reduction == {} and full.message == ""
    # the shipped maps still agree with the full-precision ones
    corr = [np.corrcoef(w.similarity_map(n, "1", 7, 11).numpy().ravel(),
                        full.similarity_map(n, "1", 7, 11).numpy().ravel())[0, 1] for n in range(4)]
    assert min(corr) > 0.95
    with pytest.raises(ValueError, match="over the budget"):
        xw.SimilarityOverlay(model, imgs, "1", size=32, max_bytes=4 * 3 * 32 * 32 + 100)


# ------------------------------------------------------------------ figures
def assert_same_picture_at_twice_the_size(small: Image.Image, large: Image.Image) -> None:
    """``large`` is ``small`` at exactly twice the width and height: averaged over 2 x 2 pixels it
    matches pixel for pixel but for text and line edges, and over 8 x 8 blocks everywhere."""
    a, b = np.asarray(small, float), np.asarray(large, float)
    H, W = a.shape[:2]
    assert b.shape[:2] == (2 * H, 2 * W), (small.size, large.size)
    down = b.reshape(H, 2, W, 2, 3).mean(axis=(1, 3))
    diff = np.abs(down - a).max(axis=2)
    assert diff.mean() < 6 and (diff > 64).mean() < 0.03, (diff.mean(), (diff > 64).mean())
    hb, wb = H // 8, W // 8
    blocks = lambda x: x[:hb * 8, :wb * 8].reshape(hb, 8, wb, 8, 3).mean(axis=(1, 3))  # noqa: E731
    coarse = np.abs(blocks(down) - blocks(a)).max(axis=2)
    assert np.percentile(coarse, 99) < 24 and coarse.max() < 64, (np.percentile(coarse, 99), coarse.max())


def content_box(img: Image.Image):
    """Rows and columns holding anything but the white background."""
    ink = (np.asarray(img) != 255).any(axis=2)
    return np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0)), ink


@pytest.mark.parametrize("kwargs", [dict(panel=120), dict(panel=160, columns=2)])
def test_png_scale_2_is_the_same_picture_at_twice_the_size(shared_net, images, kwargs):
    w = xw.SimilarityOverlay(shared_net, images, ["conv1", "relu:1"],
                             titles=["first", "a second image with a long title", "third"])
    small = w.render_png(**kwargs)
    large = w.render_png(scale=2, **kwargs)
    assert_same_picture_at_twice_the_size(small, large)
    with pytest.raises(ValueError, match="scale must be"):
        w.render_png(scale=0)


def test_png_is_tight_and_holds_the_legend(shared_net, images):
    w = xw.SimilarityOverlay(shared_net, images, ["conv1", "relu:1"], colormap="diverging")
    fig = w.render_png(panel=120)
    rows, cols, ink = content_box(fig)
    gap = 6  # max(6, panel // 40)
    assert rows[0] <= 2 * gap and rows[-1] >= fig.size[1] - 2 * gap, "empty margins above or below"
    assert cols[0] <= 2 * gap and cols[-1] >= fig.size[0] - 2 * gap, "empty margins left or right"
    empty = ~ink.any(axis=1)
    longest = max((len(run) for run in np.split(empty, np.flatnonzero(np.diff(empty)) + 1) if run.all()), default=0)
    assert longest <= 2 * gap, f"an empty band {longest} px high"
    # the legend is in it: the diverging bar (most of the map's colours in one row), under the panels
    lut = colormaps.lut("diverging")
    arr = np.asarray(fig)
    table = set(map(tuple, lut))
    bar_rows = [y for y in range(arr.shape[0]) if len(table & set(map(tuple, arr[y]))) >= 100]
    assert bar_rows and min(bar_rows) > fig.size[1] * 0.6


def test_png_marks_the_query_on_cells_of_about_one_pixel(shared_net):
    rng = np.random.default_rng(1)
    big = [rng.integers(0, 256, (150, 150, 3), dtype=np.uint8)]  # conv1 is 150 x 150: 1 px cells at panel=150
    w = xw.SimilarityOverlay(shared_net, big, "conv1", opacity=1.0, colormap="viridis", size=150)
    q = {"image": 0, "layer": "conv1", "row": 70, "col": 90}
    fig = np.asarray(w.render_png(query=q, panel=150))
    plain = np.asarray(w.render_png(query={**q, "row": 10, "col": 10}, panel=150))
    yellow = lambda a: (a[..., 0] == 255) & (a[..., 1] == 255) & (a[..., 2] == 0)  # noqa: E731
    ys, xs = np.nonzero(yellow(fig) & ~yellow(plain))
    assert len(ys) >= 16, "the mark of a 1 px cell must be visible"
    # a ring of a few pixels around one point, clear of the cell itself
    assert np.ptp(ys) <= 12 and np.ptp(xs) <= 12
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    assert not yellow(fig)[int(round(cy)), int(round(cx))]


def test_colour_range_centres_the_diverging_map_on_zero():
    from xai_widgets.similarity import colour_range

    assert colour_range("diverging", 0, 1) == (-1.0, 1.0)
    assert colour_range("diverging", 0.2, 0.5) == (-0.5, 0.5)
    assert colour_range("diverging", -0.8, 0.3) == (-0.8, 0.8)
    assert colour_range("diverging", 0, 0) == (-1.0, 1.0)
    assert colour_range("gray", 0.2, 0.5) == (0.2, 0.5) and colour_range("viridis", -1, 1) == (-1.0, 1.0)


def test_png_diverging_map_is_neutral_at_zero(shared_net):
    from torch import nn
    conv = nn.Conv2d(3, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(4, 3, 1, 1, generator=torch.Generator().manual_seed(0)) + 0.1)
    model = nn.Sequential(conv, nn.ReLU()).eval()
    image = np.random.default_rng(2).integers(30, 256, (16, 16, 3), dtype=np.uint8)
    image[:, :8] = 0  # zero vectors: similarity 0
    w = xw.SimilarityOverlay(model, [image], "1", colormap="diverging", opacity=1.0)
    assert w.vrange == [0.0, 1.0]
    arr = np.asarray(w.render_png(query={"image": 0, "layer": "1", "row": 3, "col": 12}, panel=160))
    lut = colormaps.lut("diverging")
    neutral = (arr == lut[128]).all(axis=2).sum()
    assert neutral >= 0.95 * 160 * 80, "the zero half is not the neutral grey"
    assert (arr == lut[0]).all(axis=2).sum() < 50, "0 drawn as the blue end"


def test_titles_and_payload_are_public_and_the_repr_states_the_payload(shared_net, images):
    w = xw.SimilarityOverlay(shared_net, images, "relu", titles=["a", "b", "c"])
    assert w.titles == ["a", "b", "c"]
    shipped = sum(wire.payload_bytes(p) for lay in w._data["layers"] for p in lay["acts"])
    shipped += sum(wire.payload_bytes(im["pixels"]) for im in w._data["images"])
    assert w.payload_bytes == shipped and "ships" in repr(w)
    w.set_inputs(titles=["x", "y", "z"])
    assert w.titles == ["x", "y", "z"]
    assert xw.SimilarityOverlay(shared_net, images[:2], "relu").titles == ["image 0", "image 1"]


def test_the_static_preview_of_a_wide_view_is_kept_small():
    """Every display carries a PNG for static viewers, made before the first frame: a 12-image
    view (2,400 px wide at full size) is previewed at most 1,600 px long, drawn at that size
    (its text as legible as the full figure's), still a picture."""
    import io

    from xai_widgets.widgets.base import PREVIEW_SIDE

    w = xw.SimilarityOverlay(xw.demo.shapes_model(), xw.demo.shapes_images(12, seed=0), "relu2", size=192)
    assert max(w.render_png(panel=160).size) > PREVIEW_SIDE
    data, _ = w._repr_mimebundle_()
    png = Image.open(io.BytesIO(data["image/png"]))
    assert 0.8 * PREVIEW_SIDE <= max(png.size) <= PREVIEW_SIDE and len(png.convert("RGB").getcolors(1 << 20) or []) > 50
    assert png.size == w.render_png(panel=w._preview_panel()).size  # drawn at its size, not shrunk


def test_one_forwards_batch_becomes_one_run_and_its_halves_equal_the_per_image_ones():
    """The payload is built once per run of maps that are consecutive slices of one batch (one
    elementwise pass instead of one per image); the halves must be the per-image ones, bit for
    bit, and maps that are not such slices (another tensor, another size, a gap) start runs of their own."""
    from xai_widgets.similarity import half_vectors
    from xai_widgets.widgets.similarity_payload import _runs, _vectors

    g = torch.Generator().manual_seed(0)
    batch = torch.randn(4, 6, 3, 5, generator=g)
    other = torch.randn(2, 6, 2, 2, generator=g)
    maps = [batch[0], batch[1], batch[2], other[0], batch[3], other[1], batch[1]]
    assert [idx for idx, _ in _runs(maps)] == [[0, 1, 2], [3], [4], [5], [6]]
    for idx, run in _runs(maps):
        assert torch.equal(run, torch.stack([maps[i] for i in idx]))
    for similarity in ("cosine", "dot"):
        cells, _ = _vectors(maps, [None] * len(maps), similarity)
        for m, halves in zip(maps, cells):
            assert halves.is_contiguous()
            assert torch.equal(halves.view(torch.int16), half_vectors(m.permute(1, 2, 0), similarity).view(torch.int16))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0 ** -20, -(2.0 ** -20), float("nan"), -float("nan"),
                                 float("inf"), -float("inf"), 0.5, -0.25]), min_size=1, max_size=12))
def test_has_negative_matches_numpy_on_zeros_nans_and_infinities(values):
    """Below 0 counts (-inf and tiny negatives too); -0 and NaN (of either sign bit) do not."""
    from xai_widgets.widgets.similarity_payload import _has_negative

    halves = torch.tensor(values, dtype=torch.float32).to(torch.float16)
    arr = halves.float().numpy()
    assert _has_negative(halves) == bool((arr[~np.isnan(arr)] < 0).any())


def test_hover_precision_auto_takes_codes_from_the_threshold_and_explicit_choices_hold(shared_net, images, monkeypatch):
    """``hover_precision="auto"`` hovers on 8-bit codes from CODES_FROM bytes of float16 vectors
    (the threshold is lowered here to the tiny net's size); "float16" and "int8" hold at any size."""
    from xai_widgets.widgets import similarity_payload
    small = xw.SimilarityOverlay(shared_net, images, "relu:1")
    vector_bytes = sum(wire.payload_bytes(p) for p in small._data["layers"][0]["acts"])
    assert small.hover_precision == "float16" and small._data["hover_codes"] is False
    assert xw.SimilarityOverlay(shared_net, images, "relu:1", hover_precision="int8").hover_precision == "int8"
    monkeypatch.setattr(similarity_payload, "CODES_FROM", vector_bytes)
    w = xw.SimilarityOverlay(shared_net, images, "relu:1")
    assert w.hover_precision == "int8" and w._data["hover_codes"] is True
    assert w.card()["explainer"]["hover precision"] == "int8"
    assert xw.SimilarityOverlay(shared_net, images, "relu:1", hover_precision="float16").hover_precision == "float16"
    monkeypatch.setattr(similarity_payload, "CODES_FROM", vector_bytes + 1)
    assert xw.SimilarityOverlay(shared_net, images, "relu:1").hover_precision == "float16"


@pytest.mark.parametrize("bad", ["int4", "FLOAT16", None, 8])
def test_hover_precision_refuses_what_it_does_not_know(shared_net, images, bad):
    before = snapshot(shared_net)
    with pytest.raises(ValueError, match=r"hover_precision must be one of \('auto', 'float16', 'int8'\)"):
        xw.SimilarityOverlay(shared_net, images, "relu:1", hover_precision=bad)
    assert_untouched(shared_net, before)
