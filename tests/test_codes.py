"""8-bit codes of the similarity vectors (xai_widgets.similarity.codes) against numpy's reference,
and a SimilarityOverlay that ships them: the payload, and ``similarity_map`` against the
browser's arithmetic and against the float16 view's numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import xai_widgets as xw
from xai_widgets import wire
from xai_widgets.similarity.codes import from_codes, to_codes

from coded_reference import bound, coded_sims, codes_of
from toy_models import assert_untouched, snapshot

HALVES = st.floats(-60000, 60000, width=16, allow_subnormal=False)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float16, st.tuples(st.integers(1, 6), st.integers(1, 70)), elements=HALVES), signed=st.booleans())
def test_codes_match_numpy_and_stand_for_each_value_within_half_a_step(x, signed):
    if not signed:
        x = np.abs(x)
    levels, scales, codes = codes_of(x)
    got, s = to_codes(torch.from_numpy(x), levels)
    assert got.dtype == (torch.uint8 if levels == 255 else torch.int8)
    np.testing.assert_array_equal(s.numpy(), scales)
    np.testing.assert_array_equal(got.numpy().astype(np.int64), codes)
    assert np.abs(codes).max(initial=0) <= levels
    back = from_codes(got, s).numpy().astype(np.float64)
    # |x - s c| <= s / 2, up to the float32 rounding of x * (1 / s) and of s * c
    assert (np.abs(back - x) <= scales[:, None] * (0.5 + 2.0 ** -16) + 2.0 ** -23 * np.abs(x)).all()


def test_codes_leave_the_input_alone_and_refuse_other_levels():
    x = torch.rand(4, 9)
    before = x.clone()
    to_codes(x, 255)
    assert torch.equal(x, before)
    with pytest.raises(ValueError, match="levels must be 127 .* or 255"):
        to_codes(x, 128)


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(5)
    return [torch.rand(3, 12, 16, generator=g) for _ in range(3)]


@pytest.mark.parametrize("layer, dtype", [("relu:1", "uint8"), ("conv2", "int8")])
def test_an_int8_view_ships_codes_and_similarity_map_gives_the_browsers_numbers(shared_net, images, layer, dtype):
    before = snapshot(shared_net)
    w = xw.SimilarityOverlay(shared_net, images, layer, hover_precision="int8")
    full = xw.SimilarityOverlay(shared_net, images, layer, hover_precision="float16")
    assert_untouched(shared_net, before)
    L = w._data["layers"][0]
    assert w._data["hover_codes"] is True and full._data["hover_codes"] is False
    assert [a["dtype"] for a in L["acts"]] == [dtype] * 3
    assert [s["shape"] for s in L["scales"]] == [a["shape"][:2] for a in L["acts"]]
    codes = np.concatenate([wire.decode(a).reshape(-1, a["shape"][-1]) for a in L["acts"]]).astype(np.int64)
    scales = np.concatenate([wire.decode(s).ravel() for s in L["scales"]])
    # the codes are those of the float16 vectors the float16 view ships
    x = np.concatenate([wire.decode(a).reshape(-1, a["shape"][-1]) for a in full._data["layers"][0]["acts"]])
    levels, ref_scales, ref_codes = codes_of(x)
    assert levels == (255 if dtype == "uint8" else 127)
    np.testing.assert_array_equal(scales, ref_scales)
    np.testing.assert_array_equal(codes, ref_codes)
    assert w.payload_bytes == sum(wire.payload_bytes(p) for p in L["acts"] + L["scales"]) + sum(
        wire.payload_bytes(im["pixels"]) for im in w._data["images"])
    h, wd = L["acts"][0]["shape"][:2]
    qi = 1 * h * wd + 5 * wd + 9
    got = w.similarity_map(1, layer, 5, 9).numpy().ravel()
    browser = coded_sims(scales, codes, qi)
    # numpy's float32 sum of C products of the decoded vectors against the browser's exact one
    C = codes.shape[1]
    terms = (np.abs(codes * codes[qi]) * scales[:, None].astype(np.float64) * scales[qi]).sum(1)
    assert (np.abs(got - browser) <= (C + 2) * 2.0 ** -24 * terms + 2.0 ** -24 * np.abs(browser)).all()
    exact = full.similarity_map(1, layer, 5, 9).numpy().ravel()
    assert (np.abs(got - exact) <= bound(x, ref_scales, ref_codes, qi) + 1e-6).all()
    assert 0 < np.abs(got - exact).max()  # the codes do move the numbers: the check can fail


def test_prefix_tokens_ship_as_codes_too_and_token_maps_stay_within_the_bound():
    """A token layer (one class token, a 4 x 6 patch grid): its prefix tokens are coded with the
    cells, at the same code range, and ``token_map`` / ``token_scores`` read the decoded codes."""
    from test_layouts import PatchTokens
    torch.manual_seed(0)
    model = PatchTokens(dim=24).eval()
    g = torch.Generator().manual_seed(1)
    images = [torch.rand(3, 32, 48, generator=g) for _ in range(2)]
    w = xw.SimilarityOverlay(model, images, "norm", hover_precision="int8")
    full = xw.SimilarityOverlay(model, images, "norm", hover_precision="float16")
    L = w._data["layers"][0]
    assert L["acts"][0]["dtype"] == "int8" and [p["dtype"] for p in L["prefix"]] == ["int8", "int8"]
    assert [s["shape"] for s in L["prefix_scales"]] == [[1], [1]]
    cells = np.concatenate([wire.decode(a).reshape(-1, 24) for a in full._data["layers"][0]["acts"]])
    tokens = np.concatenate([wire.decode(p) for p in full._data["layers"][0]["prefix"]])
    x = np.concatenate([cells, tokens])  # the browser's order: every cell, then every token
    _, scales, codes = codes_of(x)
    qi = len(cells) + 1  # image 1's class token
    got = w.token_map(1, "norm", 0).numpy().ravel()
    exact = full.token_map(1, "norm", 0).numpy().ravel()
    assert (np.abs(got - exact) <= bound(x, scales, codes, qi)[:len(cells)] + 1e-6).all()
    np.testing.assert_array_equal(wire.decode(L["prefix"][1]).ravel(), codes[qi])
    scores = w.token_scores(0, "norm", 2, 3).numpy().ravel()  # image 0's cell (2, 3) against every token
    exact = full.token_scores(0, "norm", 2, 3).numpy().ravel()
    assert (np.abs(scores - exact) <= bound(x, scales, codes, 2 * 6 + 3)[len(cells):] + 1e-6).all()
