"""SimilarityOverlay's "worst cells" toggle, in the exported page: shown only when a row was
projected to fit the budget, and it outlines in magenta exactly the cells the reduction
reports as served worst (read from the pixels the browser drew)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import wire

from lab import offline_page
from test_channel_grid import read_canvas

pytestmark = pytest.mark.browser
MAGENTA = (255, 0, 255)
SIZE = 200


@pytest.fixture(scope="module")
def widgets():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU())
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(4)]
    full = xw.SimilarityOverlay(model, imgs, "1", size=SIZE)
    pixels = sum(wire.payload_bytes(im["pixels"]) for im in full._data["images"])
    budget = wire.payload_bytes(full._data["layers"][0]["acts"][0]) * 4 * 3 // 4 + pixels
    return full, xw.SimilarityOverlay(model, imgs, "1", size=SIZE, max_bytes=budget)


def magenta_cells(page, image: int, grid=(20, 20)) -> tuple[set, np.ndarray]:
    """The cells of image `image`'s panel holding magenta pixels, and the magenta mask."""
    px = read_canvas(page, f".xw-similarity canvas.xw-panel[data-image='{image}']")
    mask = np.all(px[..., :3] == MAGENTA, axis=-1)
    ys, xs = np.nonzero(mask)
    return {(y * grid[0] // px.shape[0], x * grid[1] // px.shape[1]) for y, x in zip(ys, xs)}, mask


def test_the_toggle_outlines_exactly_the_worst_cells(chromium, widgets, tmp_path):
    full, reduced = widgets
    worst = reduced.reduction["1"]["worst"]
    assert len(worst) == 10 and all("row" in c for c in worst)
    reduced.show_worst = True
    try:
        path = reduced.to_html(tmp_path / "worst.html")
    finally:
        reduced.show_worst = False
    with offline_page(chromium, path, viewport=(1200, 900)) as page:
        toggle = page.locator(".xw-similarity .xw-worst-toggle input")
        assert toggle.is_visible() and toggle.is_checked()
        for image in range(4):
            cells, _ = magenta_cells(page, image)
            assert cells == {(c["row"], c["col"]) for c in worst if c["image"] == image}
        toggle.uncheck()  # off: no magenta anywhere
        page.wait_for_timeout(100)
        assert not any(magenta_cells(page, image)[1].any() for image in range(4))
    with offline_page(chromium, full.to_html(tmp_path / "full.html"), viewport=(1200, 900)) as page:
        assert not page.locator(".xw-similarity .xw-worst-toggle").is_visible()  # nothing was reduced
