"""``to_html``: one file, opened from disk with the network off, where hover and pin still work."""
from __future__ import annotations

import numpy as np
import torch

import xai_widgets as xw
from xai_widgets import colormaps

from lab import READ_CELLS, offline_page
from toy_models import SharedReLUNet


def cell_centre_colours(page, layer: int, image: int, grid) -> np.ndarray:
    key = f"{layer}/{image}"
    return np.asarray(page.evaluate(READ_CELLS, [{key: list(grid)}])[key])


def hover(page, layer: int, image: int, row: int, col: int, grid) -> dict:
    box = page.locator(f'canvas.xw-panel[data-layer="{layer}"][data-image="{image}"]').bounding_box()
    page.mouse.move(box["x"] + (col + 0.5) * box["width"] / grid[1], box["y"] + (row + 0.5) * box["height"] / grid[0])
    page.wait_for_timeout(300)
    return box


def assert_shaded_as(w, page, layer: int, image: int, grid, query) -> None:
    drawn = cell_centre_colours(page, layer, image, grid)
    expected = colormaps.apply(w.similarity_map(*query)[image].numpy().ravel(), "gray", 0.0, 1.0)
    assert np.abs(drawn.astype(int) - expected.astype(int)).max() <= 1, (layer, image, query)


def test_exported_file_hovers_and_pins_offline(chromium, tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (12, 18, 3), dtype=np.uint8) for _ in range(2)]
    w = xw.SimilarityOverlay(SharedReLUNet(), images, ["relu", "relu:1"], size=216, opacity=1.0, titles=["a", "b"])
    path = w.to_html(tmp_path / "overlay.html")
    assert path.stat().st_size < 2_000_000
    grid = w.grid(1, "relu:1")
    with offline_page(chromium, path) as page:
        box = hover(page, 1, 1, 4, 7, grid)
        for image in range(2):
            assert_shaded_as(w, page, 1, image, grid, (1, "relu:1", 4, 7))
        # a click pins: the overlay stays when the pointer leaves
        page.mouse.click(box["x"] + 5, box["y"] + 5)
        page.mouse.move(1, 1)
        page.wait_for_timeout(300)
        assert_shaded_as(w, page, 1, 0, grid, (1, "relu:1", 0, 0))


def test_two_models_share_the_hovered_location(chromium, tmp_path):
    torch.manual_seed(0)
    models = {"a": SharedReLUNet(), "b": SharedReLUNet()}
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(2)]
    w = xw.SimilarityOverlay(models, images, {"a": ["relu:1"], "b": ["conv2"]}, size=192, opacity=1.0,
                             colormap="gray", vrange=(0, 1))
    grid = w.grid(0, "a/relu:1")
    with offline_page(chromium, w.to_html(tmp_path / "two.html")) as page:
        hover(page, 0, 0, 9, 3, grid)
        for layer, row in enumerate(w.rows):  # model b's row follows model a's hovered cell
            for image in range(2):
                assert_shaded_as(w, page, layer, image, grid, (0, row, 9, 3))
        assert "b/conv2" in page.locator(".xw-similarity").inner_text()
