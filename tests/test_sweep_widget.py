"""TransformSweep in Python: payload, correspondence, numbers, validation, hygiene, exports."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image
from torch import nn

from xai_widgets import colormaps, wire
from xai_widgets.core.capture import capture
from xai_widgets.core.images import model_input
from xai_widgets.similarity import colour_range
from xai_widgets.similarity.transforms import cell_correspondence, rotate, scale
from xai_widgets.widgets.sweep import DEFAULT_VALUES, TransformSweep

from float_bounds import EPS32, sum_tol
from toy_models import assert_untouched, snapshot


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)  # non-square: rotations use the pixel aspect


def pointwise_net():
    """1x1 convolutions only: activations move exactly with the pixels (rotation-equivariant at 90 degrees)."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 6, 1))


def reference_curves(model, image, layer, kind, values):
    """Independent reference: full-precision activations of explicitly transformed inputs,
    correspondence straight from cell_correspondence, cosines in float64 numpy."""
    x = model_input(image, model, None, 0)
    warp = {"rotate": rotate, "scale": scale}[kind]
    copies = torch.cat([warp(x, v) for v in values])
    acts = capture(model, torch.cat([x, copies]), [layer])[layer].double().numpy()
    orig, swept = acts[0], acts[1:]
    h, w = orig.shape[1:]
    out = np.full((len(values), h, w), np.nan)
    for k, v in enumerate(values):
        rows, cols, valid = cell_correspondence(kind, v, (h, w), x.shape[-2:])
        for i in range(h):
            for j in range(w):
                if valid[i, j]:
                    a, b = orig[:, i, j], swept[k][:, rows[i, j], cols[i, j]]
                    na, nb = np.linalg.norm(a), np.linalg.norm(b)
                    out[k, i, j] = a @ b / (na * nb) if na > 0 and nb > 0 else 0.0
    return out


def test_payload_is_unit_float16_once_per_copy_with_pixels(shared_net, image):
    w = TransformSweep(shared_net, image, "relu:1", "rotate", [0, 30, 90], size=64)
    data = w._data
    assert data["values"] == [0.0, 30.0, 90.0] and data["grid"] == [12, 16] and data["layer"] == "relu:1"
    entries = [data["original"]] + data["copies"]
    assert len(entries) == 4
    for e in entries:
        assert e["acts"]["dtype"] == "float16" and e["acts"]["shape"] == [12, 16, 8]
        assert wire.payload_bytes(e["acts"]) == 12 * 16 * 8 * 2
        norms = np.linalg.norm(wire.decode(e["acts"]), axis=-1)
        np.testing.assert_allclose(norms[norms > 0], 1.0, atol=2e-3)
        assert e["pixels"]["dtype"] == "uint8" and e["pixels"]["shape"] == [48, 64, 3]
    assert [c["title"] for c in data["copies"]] == ["0°", "30°", "90°"]
    # the rotated display pixels keep their zero-fill corners (the artefact the chart shows)
    corner = wire.decode(data["copies"][1]["pixels"])[:3, :3]
    assert corner.max() == 0
    assert w.values == [0.0, 30.0, 90.0] and w.grid == (12, 16)


@pytest.mark.parametrize("kind, values", [("rotate", [-45, 0, 30, 90, 180]), ("scale", [0.5, 1, 1.5, 2])])
def test_shipped_correspondence_equals_cell_correspondence(shared_net, image, kind, values):
    w = TransformSweep(shared_net, image, "relu:1", kind, values)
    h, w_ = w.grid
    rows_t, cols_t, valid_t = w.correspondence()
    for k, v in enumerate(values):
        rows, cols, valid = cell_correspondence(kind, v, (h, w_), (12, 16))
        copy = w._data["copies"][k]
        assert copy["rows"] == rows.flatten().tolist() and copy["cols"] == cols.flatten().tolist()
        assert torch.equal(rows_t[k], rows) and torch.equal(cols_t[k], cols) and torch.equal(valid_t[k], valid)
    if kind == "scale":  # zooming in by 2 loses the outer cells: -1 there
        assert (np.array(w._data["copies"][-1]["rows"]) == -1).any()


@pytest.mark.parametrize("kind, values, layer", [("rotate", [0, 20, 90, 135], "relu:1"),
                                                 ("scale", [0.5, 0.75, 1, 2], "conv2")])
def test_similarity_curve_matches_an_independent_reference(shared_net, image, kind, values, layer):
    w = TransformSweep(shared_net, image, layer, kind, values)
    ref = reference_curves(shared_net, image, layer, kind, values)
    got = w.similarity_curves().numpy()
    assert got.shape == ref.shape
    assert np.array_equal(np.isnan(got), np.isnan(ref))  # gaps exactly where the content left
    np.testing.assert_allclose(got, ref, atol=3e-3, equal_nan=True)  # float16 on the wire
    for row, col in [(0, 0), (5, 9), (11, 15)]:
        np.testing.assert_allclose(w.similarity_curve(row, col).numpy(), ref[:, row, col], atol=3e-3, equal_nan=True)
    # the curve is the similarity map of each copy read at the corresponding cell
    rows, cols, valid = (t.numpy() for t in w.correspondence())
    for k in range(len(values)):
        if valid[k, 5, 9]:
            assert w.similarity_map(k, 5, 9)[rows[k, 5, 9], cols[k, 5, 9]] == pytest.approx(got[k, 5, 9], abs=1e-6)
    mean = w.mean_curve().numpy()
    # means of n cosines (|c| <= 1) summed in different orders, then one float32 rounding
    n = got[0].size
    np.testing.assert_allclose(mean, np.nanmean(got, axis=(1, 2)), atol=sum_tol(n, n) / n + EPS32, rtol=0)
    assert w._data["mean"] == pytest.approx(mean.tolist(), abs=EPS32)  # the same means before rounding to float32


def test_rotation_by_zero_is_one_at_every_valid_cell(shared_net, image):
    w = TransformSweep(shared_net, image, "conv1", "rotate", [0, 45])  # conv1: no dead (zero) vectors
    curves = w.similarity_curves().numpy()
    assert not np.isnan(curves[0]).any()
    np.testing.assert_allclose(curves[0], 1.0, atol=2e-3)
    assert np.isnan(curves[1]).any()  # corners of a 45-degree turn leave a 12x16 image
    q = w.similarity_map(None, 3, 4)
    assert q.shape == (12, 16) and q[3, 4] == pytest.approx(1.0, abs=2e-3)


def test_90_degree_rotation_finds_the_known_cell():
    n = 8
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (n, n, 3), dtype=np.uint8)
    model = pointwise_net()
    w = TransformSweep(model, img, "2", "rotate", [0, 90, 180])
    rows, cols, valid = w.correspondence()
    assert valid.all()
    for i in range(n):
        for j in range(n):
            # transforms' convention: counter-clockwise on screen, (i, j) -> (n - 1 - j, i)
            assert (rows[1, i, j].item(), cols[1, i, j].item()) == (n - 1 - j, i)
            assert (rows[2, i, j].item(), cols[2, i, j].item()) == (n - 1 - i, n - 1 - j)
    # a pointwise model sees exactly permuted pixels: the same content is similarity 1
    np.testing.assert_allclose(w.similarity_curves().numpy(), 1.0, atol=2e-3)
    m = w.similarity_map(1, 2, 6)
    assert m[n - 1 - 6, 2] == pytest.approx(1.0, abs=2e-3)
    assert int(m.argmax()) == (n - 1 - 6) * n + 2


def test_callable_transform_with_its_correspondence(shared_net, image):
    def flip(images, value):
        return images.flip(-1)

    def mirror(x, y, value):
        return -x, y

    w = TransformSweep(shared_net, image, "relu:1", flip, [0], correspondence=mirror)
    rows, cols, valid = w.correspondence()
    assert valid.all() and torch.equal(cols[0], torch.arange(15, -1, -1).expand(12, 16))
    assert w._data["axis"] == "flip value"
    ref_pixels = np.asarray(wire.decode(w._data["original"]["pixels"]))[:, ::-1]
    np.testing.assert_array_equal(wire.decode(w._data["copies"][0]["pixels"]), ref_pixels)


def test_default_values_and_colour_scale(shared_net, image):
    w = TransformSweep(shared_net, image, "relu:1")
    assert w.values == DEFAULT_VALUES["rotate"] and w.values[0] == 0 and w.values[-1] == 180
    assert w.colormap == "gray" and w.vrange == [0.0, 1.0]  # post-ReLU: cosines in [0, 1]
    s = TransformSweep(shared_net, image, "conv1", "scale")
    assert 1.0 in s.values and min(s.values) < 1 < max(s.values)
    assert s.colormap == "diverging" and s.vrange == [-1.0, 1.0]  # signed activations


def test_hygiene_over_every_public_call(shared_net, image, tmp_path):
    shared_net.train()
    before = snapshot(shared_net)
    w = TransformSweep(shared_net, image, "relu:1", "rotate", [0, 45])
    w.similarity_curve(1, 2)
    w.similarity_map(1, 1, 2)
    w.render_png(query={"row": 1, "col": 2}, panel=48)
    w.to_html(tmp_path / "sweep.html")
    w._repr_mimebundle_()
    assert_untouched(shared_net, before)


def test_messages_from_the_browser_are_validated_never_raised(shared_net, image):
    w = TransformSweep(shared_net, image, "relu:1", "rotate", [0, 90])
    w.set_state({"query": {"row": 99, "col": 0}})
    assert w.query is None and "outside the 12x16 grid" in w.message
    w.set_state({"query": {"row": 1}})
    assert w.query is None and "keys row, col" in w.message
    w.set_state({"query": {"row": "1", "col": 2}})
    assert w.query is None and "integers" in w.message
    w.set_state({"_data": {}})
    assert "read-only" in w.message and w._data["copies"]
    w.set_state({"opacity": 5})
    assert w.opacity == 0.7 and "opacity" in w.message
    w.set_state({"query": {"row": 3, "col": 4}, "colormap": "viridis"})
    assert w.query == {"row": 3, "col": 4} and w.colormap == "viridis"
    w.set_state({"query": None})
    assert w.query is None
    w._on_custom_msg(w, {"type": "hover"}, [])
    assert "unknown message" in w.message
    w.query = {"row": 2, "col": 3}  # from Python
    assert w.query == {"row": 2, "col": 3}
    with pytest.raises(traitlets.TraitError, match="outside"):
        w.query = {"row": 12, "col": 0}


def test_bad_constructor_arguments(shared_net, image):
    cases = [
        (dict(model="net"), TypeError, "torch.nn.Module"),
        (dict(image=[image, image]), TypeError, "one image"),
        (dict(layer=["relu"]), TypeError, "one layer name"),
        (dict(layer="nope"), ValueError, "unknown layer"),
        (dict(transform="shear"), ValueError, "'rotate', 'scale'"),
        (dict(transform=3), TypeError, "'rotate', 'scale' or a callable"),
        (dict(transform=lambda x, v: x, values=[1]), ValueError, "correspondence"),
        (dict(transform=lambda x, v: x, correspondence=lambda x, y, v: (x, y), values=None), ValueError, "values="),
        (dict(transform="rotate", correspondence=lambda x, y, v: (x, y)), ValueError, "only for a callable"),
        (dict(values=[]), ValueError, "empty"),
        (dict(values="0 90"), TypeError, "sequence of numbers"),
        (dict(values=[0, "90"]), ValueError, "finite numbers"),
        (dict(values=[0, float("nan")]), ValueError, "finite numbers"),
        (dict(values=[90, 0]), ValueError, "strictly increasing"),
        (dict(transform="scale", values=[0, 1]), ValueError, "> 0"),
        (dict(size=3), ValueError, "size"),
        (dict(opacity=1.5), ValueError, "opacity"),
        (dict(colormap="jet"), ValueError, "colormap must be one of"),
        (dict(max_bytes=1000), ValueError, "max_bytes"),
        (dict(image="x.png"), TypeError, "PIL image"),
    ]
    for overrides, exc, text in cases:
        args = dict(model=shared_net, image=image, layer="relu:1", transform="rotate", values=[0, 90])
        args.update(overrides)
        with pytest.raises(exc, match=text):
            TransformSweep(args.pop("model"), args.pop("image"), args.pop("layer"), args.pop("transform"),
                           args.pop("values"), **args)
    w = TransformSweep(shared_net, image, "relu:1", "rotate", [0, 90])
    with pytest.raises(ValueError, match="outside"):
        w.similarity_curve(12, 0)
    with pytest.raises(ValueError, match="integers"):
        w.similarity_curve(1.5, 0)
    with pytest.raises(ValueError, match="copy must be an index in 0..1"):
        w.similarity_map(2, 0, 0)


def test_png_render_shades_and_outlines_like_the_browser(shared_net, image):
    w = TransformSweep(shared_net, image, "relu:1", "rotate", [0, 90, 180], opacity=1.0)
    img = w.render_png(query={"row": 3, "col": 5}, panel=96)
    assert isinstance(img, Image.Image) and img.size[0] > 4 * 96 and img.size[1] > 96 + 220
    grey = w.render_png(panel=64).convert("L")  # default query: the centre cell
    assert grey.size[0] > 0
    data, _ = w._repr_mimebundle_()
    assert data["image/png"].startswith(b"\x89PNG") and w.message == ""


def test_to_html_embeds_the_sweep(shared_net, image, tmp_path):
    w = TransformSweep(shared_net, image, "relu:1", "scale", [0.5, 1, 2])
    path = w.to_html(tmp_path / "sweep.html")
    text = path.read_text(encoding="utf-8")
    assert "zoom factor" in text and "xw-state" in text
    assert repr(w).startswith("TransformSweep(scale, 3 values")


def test_png_scale_2_is_the_same_picture_at_twice_the_size(shared_net, image):
    from test_similarity_widget import assert_same_picture_at_twice_the_size

    w = TransformSweep(shared_net, image, "relu:1", "rotate", [0, 45, 90, 135, 180])
    for kwargs in (dict(panel=96), dict(panel=120, columns=2)):
        assert_same_picture_at_twice_the_size(w.render_png(**kwargs), w.render_png(scale=2, **kwargs))
    with pytest.raises(ValueError, match="scale must be"):
        w.render_png(scale=float("nan"))


def test_png_puts_the_chart_beside_the_original_and_holds_the_legend(shared_net, image):
    from test_similarity_widget import content_box

    w = TransformSweep(shared_net, image, "relu:1", "rotate", list(range(0, 181, 15)), colormap="diverging")
    fig = w.render_png(panel=120, opacity=1.0)
    arr = np.asarray(fig)
    rows, cols, ink = content_box(fig)
    gap = 6  # max(6, panel // 30)
    assert rows[0] <= 2 * gap and rows[-1] >= fig.size[1] - 2 * gap
    assert cols[0] <= 2 * gap and cols[-1] >= fig.size[0] - 2 * gap
    # the chart's curve (its blue) is level with the original, right of it: no column of its own
    blue = (arr[..., 0] == 25) & (arr[..., 1] == 118) & (arr[..., 2] == 210)
    ys, xs = np.nonzero(blue)
    assert len(ys) and ys.max() < 250 and xs.min() > 120, "the chart is not beside the original"
    # the diverging legend, drawn over [-1, 1]: most of its colours in one row
    table = set(map(tuple, colormaps.lut("diverging")))
    assert any(len(table & set(map(tuple, arr[y]))) >= 100 for y in range(arr.shape[0]))
    assert w.vrange == [0.0, 1.0] and colour_range("diverging", *w.vrange) == (-1.0, 1.0)
