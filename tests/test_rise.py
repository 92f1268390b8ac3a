"""RISE (Petsiuk, Das and Saenko 2018) against hand computations and a model with planted evidence."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.attribution import rise as R
from toy_models import assert_untouched, snapshot

torch.set_num_threads(1)


def _bilinear(grid: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel-centre bilinear upsampling written out (PyTorch's align_corners=False)."""
    in_h, in_w = grid.shape

    def taps(out, n_in):
        src = np.clip((np.arange(out) + 0.5) * n_in / out - 0.5, 0, None)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y0, y1, fy = taps(out_h, in_h)
    x0, x1, fx = taps(out_w, in_w)
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bottom = grid[y1][:, x0] * (1 - fx) + grid[y1][:, x1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


def test_masks_are_the_shifted_crop_of_the_upsampled_grid():
    gen = np.random.default_rng(0)
    grids = (gen.random((3, 3, 3)) < 0.5).astype(np.float32)
    shifts = np.array([[0, 0], [2, 1], [3, 3]])
    h, w = 10, 11  # cells of ceil(10/3) = 4 by ceil(11/3) = 4 pixels; the upsampled grid is 16 x 16
    masks = R.rise_masks(torch.from_numpy(grids), torch.from_numpy(shifts), (h, w)).numpy()
    for g, (dy, dx), m in zip(grids, shifts, masks):
        np.testing.assert_allclose(m, _bilinear(g, 16, 16)[dy:dy + h, dx:dx + w], rtol=0, atol=1e-6)


class Planted(nn.Module):
    """Class 0's logit is 8 x the mean of a square region's first channel; class 1's is constant."""

    def __init__(self, box=(4, 6, 12, 14)):
        super().__init__()
        self.box = box
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        t, l, b, r = self.box
        region = x[:, 0, t:b, l:r].mean((1, 2))
        return torch.stack([8 * region, torch.full_like(region, 2.0)], 1) + self.bias


def test_saliency_is_equation_6_summed_by_hand():
    model = Planted()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    got = R.rise(model, x, target=0, masks=40, cells=4, keep=0.5, batch_size=7, seed=3, centre=False)
    gen = torch.Generator().manual_seed(3)  # the draw order the docstring states: grids, then shifts
    grids = (torch.rand(40, 4, 4, generator=gen) < 0.5).float()
    shifts = torch.stack([torch.randint(0, 4, (40,), generator=gen), torch.randint(0, 4, (40,), generator=gen)], 1)
    masks = R.rise_masks(grids, shifts, (16, 16)).double()
    expected = torch.zeros(2, 16, 16, dtype=torch.float64)
    for m in masks:
        p = model((x * m.float()).float()).double().softmax(1)[:, 0]
        expected += p[:, None, None] * m
    expected /= 0.5 * 40
    # float32 sums of 40 terms of size <= 1 / (0.5 * 40)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=40 * 2 ** -23)
    # centred: minus the mean masked score times each pixel's coverage, sum_i M_i / (p N)
    mean_score = torch.stack([model((x * m.float()).float()).double().softmax(1)[:, 0] for m in masks]).mean(0)
    centred = expected - mean_score[:, None, None] * masks.sum(0) / (0.5 * 40)
    got_centred = R.rise(model, x, target=0, masks=40, cells=4, keep=0.5, batch_size=7, seed=3)
    torch.testing.assert_close(got_centred.double(), centred, rtol=0, atol=80 * 2 ** -23)


def test_a_constant_model_gives_the_mean_mask_over_p():
    class Constant(nn.Module):
        def forward(self, x):
            return torch.tensor([[math.log(3.0), 0.0]]).expand(len(x), 2)

    x = torch.rand(1, 3, 12, 12)
    got = R.rise(Constant(), x, target=0, masks=64, cells=3, keep=0.25, batch_size=64, seed=0, centre=False)
    counts, parts = R.rise_partial_sums(Constant(), x, torch.tensor([0]), None, masks=64, cells=3, keep=0.25,
                                        counts=[64], seed=0, centre=False)
    assert counts == [64]
    torch.testing.assert_close(got, parts[:, 0])
    # S = 0.75 / (p N) * sum_i M_i, with the masks averaging about p: S near 0.75
    assert abs(float(got.mean()) - 0.75) < 0.15
    # centred, a model that ignores its input explains nothing: 0 up to float32 rounding
    centred = R.rise(Constant(), x, target=0, masks=64, cells=3, keep=0.25, seed=0)
    assert float(centred.abs().max()) <= 8 * 2 ** -24 * float(got.abs().max())


def test_planted_evidence_is_found():
    model = Planted()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.5
    s = R.rise(model, x, target=0, masks=1000, cells=4)[0]
    inside = torch.zeros(16, 16, dtype=torch.bool)
    inside[4:12, 6:14] = True
    assert s[inside].mean() > s[~inside].mean() + 0.05
    assert inside.flatten()[int(s.argmax())]


def test_contrast_is_the_difference_and_batches_do_not_matter():
    model = Planted()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    a = R.rise(model, x, target=0, masks=50, cells=4, batch_size=50)
    b = R.rise(model, x, target=1, masks=50, cells=4, batch_size=3)
    ab = R.rise(model, x, target=0, contrast=1, masks=50, cells=4, batch_size=17)
    torch.testing.assert_close(ab, a - b, rtol=0, atol=1e-5)


def test_registry_series_and_hygiene():
    model = Planted().train()
    snap = snapshot(model)
    x = torch.rand(1, 3, 16, 16)
    res = xw.attribution.attribute(model, x, "rise", target=0, series=True, masks=160, cells=4)
    assert res.series.name == "masks" and res.series.values == [10.0, 20.0, 40.0, 80.0, 160.0]
    torch.testing.assert_close(res.series.maps[:, -1], res.maps)
    torch.testing.assert_close(res.maps, R.rise(model, x, target=0, masks=160, cells=4))
    assert xw.attribution.METHODS["rise"].series.symbol == "N"
    assert_untouched(model, snap)


@pytest.mark.parametrize("kw, words", [(dict(masks=0), "masks must be an int >= 1"),
                                       (dict(cells=2.5), "cells must be an int >= 1"),
                                       (dict(keep=0.0), "keep must be a probability in (0, 1]"),
                                       (dict(batch_size=True), "batch_size must be an int >= 1")])
def test_bad_settings_are_refused(kw, words):
    with pytest.raises(ValueError) as info:
        R.rise(Planted(), torch.rand(1, 3, 16, 16), **kw)
    assert words in str(info.value)
