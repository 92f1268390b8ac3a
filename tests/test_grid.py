import numpy as np
import pytest
import torch

from xai_widgets import colormaps
from xai_widgets.units.grid import NORMALISATIONS, channel_stats, is_signed, normalise, tile_image, tile_layout


def reference_normalise(x, mode, vrange=None, boost=0.0, gamma=1.0, signed=None):
    """The formulas of the brief, one channel at a time in numpy (independent of grid.py)."""
    x = np.asarray(x, dtype=np.float64)
    if signed is None:
        signed = bool((x < 0).any())
    out = np.empty_like(x)
    for c, ch in enumerate(x):
        if signed:
            m = {"layer": np.abs(x).max(), "channel": np.abs(ch).max(),
                 "fixed": max(abs(v) for v in vrange or (0, 0))}[mode]
            a = np.minimum(np.abs(ch) / m, 1.0) if m > 0 else np.zeros_like(ch)
        else:
            lo, hi = {"layer": (x.min(), x.max()), "channel": (ch.min(), ch.max()), "fixed": vrange}[mode]
            a = np.clip((ch - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
        if boost > 0 and a.max() > 0:
            a = np.minimum(a / a.max() ** boost, 1.0)
        a = a**gamma
        out[c] = 0.5 + 0.5 * np.sign(ch) * a if signed else a
    return out


def test_tile_layout_matches_deepvis_examples():
    assert tile_layout(512) == (23, 23)  # ceil(sqrt(512)) = 23 cols, ceil(512 / 23) = 23 rows
    assert tile_layout(1) == (1, 1)
    assert tile_layout(10) == (3, 4)
    assert tile_layout(16) == (4, 4)
    assert tile_layout(17) == (4, 5)
    assert tile_layout(8, aspect=2.0) == (2, 4)
    assert tile_layout(64, aspect=0.25) == (16, 4)
    for n in range(1, 300):
        rows, cols = tile_layout(n)
        assert rows * cols >= n > (rows - 1) * cols
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive number of tiles"):
            tile_layout(bad)
    with pytest.raises(ValueError, match="aspect"):
        tile_layout(4, aspect=0)


# A 2-channel 2 x 2 layer, unsigned (min 0, max 4), and its values by hand under each mode.
UNSIGNED = torch.tensor([[[0.0, 1.0], [2.0, 4.0]],
                         [[0.0, 0.5], [1.0, 2.0]]])
# Signed: |x| max 4 over the layer, 2 and 4 per channel.
SIGNED = torch.tensor([[[-2.0, 0.0], [1.0, 2.0]],
                       [[-1.0, 0.5], [0.0, 4.0]]])


@pytest.mark.parametrize("kwargs, expected", [
    # layer: (x - 0) / 4
    (dict(mode="layer"), [[[0, .25], [.5, 1]], [[0, .125], [.25, .5]]]),
    # channel: ch0 / 4, ch1 / 2
    (dict(mode="channel"), [[[0, .25], [.5, 1]], [[0, .25], [.5, 1]]]),
    # fixed (1, 3): clip((x - 1) / 2, 0, 1)
    (dict(mode="fixed", vrange=(1, 3)), [[[0, 0], [.5, 1]], [[0, 0], [0, .5]]]),
    # boost 0.5 on layer: ch0 max 1 unchanged, ch1 max 0.5 -> u / sqrt(0.5) = u * sqrt(2)
    (dict(mode="layer", boost=0.5), [[[0, .25], [.5, 1]], [[0, .125 * 2**.5], [.25 * 2**.5, .5 * 2**.5]]]),
    # gamma 0.5 on layer: sqrt of the layer values
    (dict(mode="layer", gamma=0.5), [[[0, .5], [.5**.5, 1]], [[0, .125**.5], [.5, .5**.5]]]),
    # signed layer, m = 4: 0.5 + 0.5 * x / 4
    (dict(mode="layer", signed=True), [[[.5, .625], [.75, 1]], [[.5, .5625], [.625, .75]]]),
])
def test_normalise_hand_cases_unsigned(kwargs, expected):
    torch.testing.assert_close(normalise(UNSIGNED, **kwargs), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, expected", [
    # layer, m = 4: 0.5 + 0.5 * x / 4; zero -> 0.5
    (dict(mode="layer"), [[[.25, .5], [.625, .75]], [[.375, .5625], [.5, 1]]]),
    # channel, m = 2 and 4
    (dict(mode="channel"), [[[0, .5], [.75, 1]], [[.375, .5625], [.5, 1]]]),
    # fixed (-1, 1), m = 1: |x| clipped at 1
    (dict(mode="fixed", vrange=(-1, 1)), [[[0, .5], [1, 1]], [[0, .75], [.5, 1]]]),
    # fixed (-0.5, 8), m = 8 (the range used is symmetric)
    (dict(mode="fixed", vrange=(-0.5, 8)), [[[.375, .5], [.5625, .625]], [[.4375, .53125], [.5, .75]]]),
    # layer with boost 1: a / (a's channel max): ch0 a max 0.5 -> doubled, ch1 max 1
    (dict(mode="layer", boost=1.0), [[[0, .5], [.75, 1]], [[.375, .5625], [.5, 1]]]),
    # layer with gamma 0.5 on a: ch0 a = [.5, 0, .25, .5] -> sqrt
    (dict(mode="layer", gamma=0.5), [[[.5 - .5 * .5**.5, .5], [.75, .5 + .5 * .5**.5]],
                                     [[.25, .5 + .5 * .125**.5], [.5, 1]]]),
    # signed=False on signed data: min-max over the layer, lo = -2, hi = 4
    (dict(mode="layer", signed=False), [[[0, 1 / 3], [.5, 2 / 3]], [[1 / 6, 2.5 / 6], [1 / 3, 1]]]),
])
def test_normalise_hand_cases_signed(kwargs, expected):
    torch.testing.assert_close(normalise(SIGNED, **kwargs), torch.tensor(expected, dtype=torch.float64))


def test_constant_and_zero_layers_have_no_nan():
    constant = torch.full((2, 3, 3), 7.0)
    assert torch.equal(normalise(constant), torch.zeros(2, 3, 3, dtype=torch.float64))  # span 1: x - lo = 0
    assert torch.equal(normalise(constant, mode="fixed", vrange=(6.5, 8.5)), torch.full((2, 3, 3), .25, dtype=torch.float64))
    zeros = torch.zeros(2, 2, 2)
    assert torch.equal(normalise(zeros, signed=True, boost=1.0), torch.full((2, 2, 2), .5, dtype=torch.float64))
    assert torch.equal(normalise(zeros, mode="channel", boost=0.8, gamma=0.3), torch.zeros(2, 2, 2, dtype=torch.float64))


def test_boost_one_equals_per_channel_for_nonnegative_data_with_min_zero():
    torch.manual_seed(0)
    acts = torch.randn(6, 5, 5).clamp_min(0)
    acts[:, 0, 0] = 0  # every channel has min 0
    acts[3] = 0  # a dead channel stays 0
    torch.testing.assert_close(normalise(acts, boost=1.0), normalise(acts, mode="channel"))
    torch.testing.assert_close(normalise(acts, boost=1.0).amax((1, 2))[[0, 1, 2, 4, 5]],
                               torch.ones(5, dtype=torch.float64))


@pytest.mark.parametrize("mode", NORMALISATIONS)
@pytest.mark.parametrize("boost, gamma", [(0.0, 1.0), (0.3, 1.0), (1.0, 0.5), (0.8, 0.7)])
@pytest.mark.parametrize("data", ["signed", "relu"])
def test_normalise_matches_numpy_reference_on_random_data(mode, boost, gamma, data):
    g = torch.Generator().manual_seed(7)
    acts = torch.randn(6, 5, 7, generator=g) * torch.tensor([0.1, 1, 3, 0.5, 2, 1])[:, None, None]
    if data == "relu":
        acts = acts.clamp_min(0)
        acts[2] = 0.4  # a constant channel
    acts[4] = 0  # a dead channel
    vrange = (-0.7, 2.5) if mode == "fixed" else None
    for signed in (None, True, False):
        ours = normalise(acts, mode=mode, vrange=vrange, boost=boost, gamma=gamma, signed=signed)
        ref = reference_normalise(acts.numpy(), mode, vrange, boost, gamma, signed)
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-15)
        assert ours.dtype == torch.float64 and ours.shape == acts.shape
        assert 0 <= ours.min() and ours.max() <= 1
    assert is_signed(acts) == (data == "signed")


def test_normalise_accepts_numpy_and_keeps_device():
    acts = np.random.default_rng(0).normal(size=(3, 4, 4)).astype(np.float32)
    out = normalise(acts, mode="channel")
    assert isinstance(out, torch.Tensor) and out.device == torch.device("cpu")
    np.testing.assert_allclose(out.numpy(), reference_normalise(acts, "channel"), rtol=1e-12)
    acts = torch.randn(3, 4, 4, dtype=torch.float64)
    kept = acts.clone()
    for signed in (True, False):
        normalise(acts, boost=0.5, gamma=0.5, signed=signed)  # works in place on its own copy
        channel_stats(acts)
    assert torch.equal(acts, kept)


def test_normalise_errors():
    acts = torch.rand(2, 3, 3)
    with pytest.raises(ValueError, match=r"vrange=\(lo, hi\)"):
        normalise(acts, mode="fixed")
    with pytest.raises(ValueError, match="lo < hi"):
        normalise(acts, mode="fixed", vrange=(1, 0))
    with pytest.raises(ValueError, match="two numbers"):
        normalise(acts, mode="fixed", vrange=(1, 2, 3))
    with pytest.raises(ValueError, match=r"unknown normalisation 'global'.*'layer', 'channel', 'fixed'"):
        normalise(acts, mode="global")
    for boost in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"boost must be a number in \[0, 1\]"):
            normalise(acts, boost=boost)
    for gamma in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="gamma must be a positive"):
            normalise(acts, gamma=gamma)
    with pytest.raises(ValueError, match="C x H x W"):
        normalise(torch.rand(1, 2, 3, 3))
    with pytest.raises(ValueError, match="NaN"):
        normalise(torch.tensor([[[1.0, float("nan")]]]))
    with pytest.raises(TypeError, match="torch.Tensor or numpy array"):
        normalise([[[1.0]]])


def test_channel_stats_hand_case_and_brute_force():
    acts = torch.tensor([[[1.0, 3.0], [3.0, 0.0]],       # tie: first 3 in row-major order is (0, 1)
                         [[-1.0, -2.0], [-5.0, -1.0]]])  # tie: (0, 0)
    stats = channel_stats(acts)
    assert stats["max"].tolist() == [3.0, -1.0]
    assert stats["mean"].tolist() == [1.75, -2.25]
    assert stats["argmax"].tolist() == [[0, 1], [0, 0]]

    rng = np.random.default_rng(3)
    acts = rng.integers(0, 4, size=(5, 4, 6)).astype(np.float32)  # many ties
    stats = channel_stats(acts)
    for c in range(5):
        best, where = -np.inf, None
        for i in range(4):
            for j in range(6):
                if acts[c, i, j] > best:
                    best, where = acts[c, i, j], [i, j]
        assert stats["max"][c] == best
        assert stats["argmax"][c].tolist() == where
        assert stats["mean"][c].item() == pytest.approx(sum(acts[c].ravel().tolist()) / 24)
    assert stats["argmax"].dtype == torch.int64


def _expected_canvas(index, table, rows, cols, pad, background):
    """Pixel by pixel: which tile and cell (if any) is under each pixel of the canvas."""
    channels, h, w = index.shape
    canvas = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), np.uint8)
    for y in range(canvas.shape[0]):
        for x in range(canvas.shape[1]):
            gy, iy = divmod(y - pad, h + pad)
            gx, ix = divmod(x - pad, w + pad)
            c = gy * cols + gx
            inside = y >= pad and x >= pad and iy < h and ix < w and c < channels
            canvas[y, x] = table[index[c, iy, ix]] if inside else background
    return canvas


def test_tile_image_pixel_positions():
    channels, h, w = 5, 2, 3
    k = np.arange(channels * h * w).reshape(channels, h, w)
    t = torch.tensor(k / 255.0)  # colour index k exactly
    table = np.stack([np.arange(256), 255 - np.arange(256), np.full(256, 7)], axis=1).astype(np.uint8)
    rows, cols = tile_layout(channels)
    assert (rows, cols) == (2, 3)
    canvas = tile_image(t, table, rows, cols, pad=1, background=(1, 2, 3))
    assert canvas.shape == (2 * 3 + 1, 3 * 4 + 1, 3) and canvas.dtype == np.uint8
    assert canvas[0, 0].tolist() == [1, 2, 3]
    assert canvas[1, 1].tolist() == [0, 255, 7]      # channel 0, cell (0, 0)
    assert canvas[2, 3].tolist() == [5, 250, 7]      # channel 0, cell (1, 2)
    assert canvas[1, 5].tolist() == [6, 249, 7]      # channel 1 starts at column 1 + 1 * 4
    assert canvas[4, 1].tolist() == [18, 237, 7]     # channel 3 starts at row 1 + 1 * 3
    assert canvas[4, 9].tolist() == [1, 2, 3]        # grid cell (1, 2) is unused
    np.testing.assert_array_equal(canvas, _expected_canvas(k, table, rows, cols, 1, (1, 2, 3)))
    wide = tile_image(t, table, rows, cols, pad=3, background=(9, 9, 9))
    np.testing.assert_array_equal(wide, _expected_canvas(k, table, rows, cols, 3, (9, 9, 9)))


def test_tile_image_colours_as_colormaps_apply_and_linear_layers():
    torch.manual_seed(1)
    t = normalise(torch.randn(7, 4, 3), mode="channel")
    rows, cols = tile_layout(7)
    canvas = tile_image(t, "viridis", rows, cols, pad=0)
    for c in range(7):
        i, j = divmod(c, cols)
        tile = canvas[i * 4:(i + 1) * 4, j * 3:(j + 1) * 3]
        np.testing.assert_array_equal(tile, colormaps.apply(t[c].numpy(), "viridis", 0, 1))
    # index rule: floor(t * 255 + 0.5), values outside [0, 1] clipped
    linear = torch.tensor([0.0, 0.25, 0.5, 1.0, 1.5, -0.5, 0.999])[:, None, None]
    canvas = tile_image(linear, "gray", 3, 3, pad=1, background=(255, 0, 0))
    assert canvas.shape == (7, 7, 3)
    cells = [canvas[1 + 2 * (c // 3), 1 + 2 * (c % 3), 0] for c in range(7)]
    assert cells == [0, 64, 128, 255, 255, 0, 255]
    assert canvas[5, 5].tolist() == [255, 0, 0]  # the 9th cell is unused


def test_tile_image_errors():
    t = torch.rand(5, 2, 2)
    with pytest.raises(ValueError, match="rows \\* cols >= 5"):
        tile_image(t, "gray", 2, 2)
    with pytest.raises(ValueError, match="256 x 3 uint8"):
        tile_image(t, np.zeros((10, 3), np.uint8), 2, 3)
    with pytest.raises(ValueError, match="unknown colormap"):
        tile_image(t, "jet", 2, 3)
    with pytest.raises(ValueError, match="background"):
        tile_image(t, "gray", 2, 3, background=(0, 0, 300))
