"""ChannelGrid's relevance mode in Chromium: the relevance tiles' pixels against the heatmaps Python
computed, coloured by ``core.diverging.shade`` (the twin of js/lib/diverging.js) and placed in
relevance order; clicks select the unit shown in the tile, and the zoom pane shows that unit's
heatmap (its tile's pixels); switching back restores activation tiles. Live in JupyterLab,
picking a class in the class select recomputes the relevance in the kernel (in the background)
and the tiles redraw with that class's heatmaps.
"""
from __future__ import annotations

import numpy as np
import pytest

import xai_widgets as xw
from xai_widgets import grid
from xai_widgets.core import diverging

from test_channel_grid import READY, assert_tiles_match, export_page, read_canvas

pytest.importorskip("zennit")


def expected_relevance(w) -> np.ndarray:
    """RGBA of the relevance canvas: slot s (DeepVis layout, 1 px padding, transparent) holds the heatmap
    of unit order[s] through the diverging map over [-scale, scale]."""
    cond = w.relevance()
    scale, _ = w.relevance_scale()
    C, H, W = cond.heatmaps.shape
    rows, cols = grid.tile_layout(C)
    out = np.zeros((rows * (H + 1) + 1, cols * (W + 1) + 1, 4), np.uint8)
    for s, c in enumerate(cond.order):
        r, q = divmod(s, cols)
        out[1 + r * (H + 1):1 + r * (H + 1) + H, 1 + q * (W + 1):1 + q * (W + 1) + W] = diverging.shade(
            cond.heatmaps[c].numpy(), scale)
    return out


def assert_zoom_shows(page, heatmap: np.ndarray, scale: float) -> None:
    """The zoom panel holds ``heatmap`` through the diverging map, scaled up by nearest neighbour:
    the panel pixel at each heatmap pixel's centre has that pixel's colour."""
    zoom = ".xw-channel-grid .xw-zoombox canvas"
    assert page.locator(zoom).get_attribute("data-shows") == "relevance"
    drawn = read_canvas(page, zoom)
    want = diverging.shade(heatmap, scale)
    (H, W), (Hb, Wb) = heatmap.shape, drawn.shape[:2]
    assert Hb >= H and Wb >= W, "the zoom panel is smaller than the heatmap"
    ys = ((np.arange(H) + 0.5) * Hb / H).astype(int)
    xs = ((np.arange(W) + 0.5) * Wb / W).astype(int)
    diff = np.abs(drawn[ys][:, xs].astype(int) - want.astype(int)).max(axis=-1)
    assert diff.max() == 0, f"zoom: {np.count_nonzero(diff)} of {diff.size} heatmap pixels differ"


def test_relevance_tiles_are_the_heatmaps_in_relevance_order_and_switching_back_restores_activations(
        chromium, tmp_path):
    model, images = xw.demo.shapes_model(), xw.demo.shapes_images(2, seed=4)
    w = xw.ChannelGrid(model, images, layer="relu2", classes=list(xw.demo.CLASSES))
    w.mode = "relevance"
    cond = w.relevance()
    assert cond.order != sorted(cond.order)  # the order is not the units' own
    with export_page(chromium, w, tmp_path / "relevance.html") as page:
        drawn = read_canvas(page, ".xw-channel-grid canvas.xw-relevance")
        want = expected_relevance(w)
        assert drawn.shape == want.shape
        diff = np.abs(drawn.astype(int) - want.astype(int)).max(axis=-1)
        assert diff.max() == 0, f"{np.count_nonzero(diff)} of {diff.size} pixels differ"
        assert page.locator(".xw-channel-grid canvas.xw-tiles").is_hidden()
        assert "tiles sorted by R_c" in page.locator(".xw-legend-caption").inner_text()
        # the first tile holds the most relevant unit: clicking it selects that unit
        box = page.locator(".xw-channel-grid canvas.xw-relevance").bounding_box()
        scale = box["width"] / want.shape[1]
        page.mouse.click(box["x"] + 10 * scale, box["y"] + 10 * scale)
        top = cond.order[0]
        assert f"unit {top} " in page.locator(".xw-channel-grid .xw-readout").inner_text()
        info = page.locator(".xw-channel-grid .xw-unitinfo").inner_text()
        assert f"R_c = {float(cond.relevance[top]):.3g}" in info and "rank 1 of 32" in info
        assert_zoom_shows(page, cond.heatmaps[top].numpy(), w.relevance_scale()[0])
        assert f"unit {top}'s relevance for" in page.locator(".xw-channel-grid .xw-zoomcaption").inner_text()
        page.select_option(".xw-channel-grid select.xw-mode", "activation")
        w.mode = "activation"
        assert page.locator(".xw-channel-grid canvas.xw-relevance").is_hidden()
        assert_tiles_match(page, w, "back in activation mode")


@pytest.fixture
def own_kernel(lab):
    """The lab is shared: stop this test's kernel so later tests find only their own."""
    yield lab
    lab.shutdown_kernels()


def test_live_class_select_recomputes_and_redraws_that_classs_relevance(page, own_kernel):
    lab = own_kernel
    lab.open_notebook(page, "grid_relevance_live.ipynb", [
        "import xai_widgets as xw\n"
        "w = xw.ChannelGrid(xw.demo.shapes_model(), xw.demo.shapes_images(2, seed=4), layer='relu2',\n"
        "                   classes=list(xw.demo.CLASSES))\n"
        "w.mode = 'relevance'\n"
        "w",
    ])
    page.wait_for_selector(READY, timeout=30_000)
    page.wait_for_selector(".xw-channel-grid canvas.xw-relevance:not([hidden])", timeout=30_000)
    here = xw.ChannelGrid(xw.demo.shapes_model(), xw.demo.shapes_images(2, seed=4), layer="relu2",
                          classes=list(xw.demo.CLASSES))
    here.mode = "relevance"
    k = next(c for c in range(len(xw.demo.CLASSES)) if c != here.explained_class())
    page.select_option(".xw-channel-grid select.xw-class", str(k))
    caption = f"relevance for {xw.demo.CLASSES[k]}"
    page.wait_for_function(
        "(text) => document.querySelector('.xw-channel-grid .xw-legend-caption').textContent.includes(text)",
        arg=caption, timeout=60_000)
    assert lab.run("print(w.relevance_class, w._relevance['target'])").strip() == f"{k} {k}"
    here.relevance_class = k
    want = expected_relevance(here)
    drawn = read_canvas(page, ".xw-channel-grid canvas.xw-relevance")
    assert drawn.shape == want.shape
    diff = np.abs(drawn.astype(int) - want.astype(int)).max(axis=-1)
    assert diff.max() == 0, f"{np.count_nonzero(diff)} of {diff.size} pixels differ from class {k}'s heatmaps"
