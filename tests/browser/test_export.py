"""``to_html``: one file, opened from disk with the network off, where hover and pin still work."""
from __future__ import annotations

import numpy as np
import torch

import xai_widgets as xw
from xai_widgets import colormaps

from lab import PAINTED

from toy_models import SharedReLUNet


def cell_centre_colours(page, layer: int, image: int, grid) -> np.ndarray:
    return np.asarray(page.evaluate(
        """([layer, image, h, w]) => {
          const c = document.querySelector(`canvas.xw-panel[data-layer="${layer}"][data-image="${image}"]`);
          const css = c.getBoundingClientRect(), sx = c.width / css.width, sy = c.height / css.height;
          const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = [];
          for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
            const i = 4 * (Math.floor((r + 0.5) * css.height / h * sy) * c.width + Math.floor((q + 0.5) * css.width / w * sx));
            out.push([px[i], px[i + 1], px[i + 2]]);
          }
          return out;
        }""", [layer, image, *grid]))


def test_exported_file_hovers_and_pins_offline(chromium, tmp_path):
    torch.manual_seed(0)
    model = SharedReLUNet()
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (12, 18, 3), dtype=np.uint8) for _ in range(2)]
    w = xw.SimilarityOverlay(model, images, ["relu", "relu:1"], size=216, opacity=1.0, titles=["a", "b"])
    path = w.to_html(tmp_path / "overlay.html")
    assert path.stat().st_size < 2_000_000

    context = chromium.new_context(offline=True, viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                  if not route.request.url.startswith(("file:", "blob:", "data:")) else route.continue_())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector(PAINTED, timeout=20_000)

    grid = w.grid(1, "relu:1")
    box = page.locator('canvas.xw-panel[data-layer="1"][data-image="1"]').bounding_box()
    page.mouse.move(box["x"] + (7 + 0.5) * box["width"] / grid[1], box["y"] + (4 + 0.5) * box["height"] / grid[0])
    page.wait_for_timeout(300)
    for image in range(2):
        drawn = cell_centre_colours(page, 1, image, grid)
        expected = colormaps.apply(w.similarity_map(1, "relu:1", 4, 7)[image].numpy().ravel(), "gray", 0.0, 1.0)
        assert np.abs(drawn.astype(int) - expected.astype(int)).max() <= 1

    # a click pins: the overlay stays when the pointer leaves
    page.mouse.click(box["x"] + 5, box["y"] + 5)
    page.mouse.move(1, 1)
    page.wait_for_timeout(300)
    pinned = cell_centre_colours(page, 1, 0, grid)
    expected = colormaps.apply(w.similarity_map(1, "relu:1", 0, 0)[0].numpy().ravel(), "gray", 0.0, 1.0)
    assert np.abs(pinned.astype(int) - expected.astype(int)).max() <= 1
    context.close()
    assert not errors, errors
    assert not requests, f"the exported page tried the network: {requests}"


def test_two_models_share_the_hovered_location(chromium, tmp_path):
    torch.manual_seed(0)
    models = {"a": SharedReLUNet(), "b": SharedReLUNet()}
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(2)]
    w = xw.SimilarityOverlay(models, images, {"a": ["relu:1"], "b": ["conv2"]}, size=192, opacity=1.0,
                             colormap="gray", vrange=(0, 1))
    path = w.to_html(tmp_path / "two.html")
    page = chromium.new_page(viewport={"width": 1000, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_selector(PAINTED, timeout=20_000)
    grid = w.grid(0, "a/relu:1")
    box = page.locator('canvas.xw-panel[data-layer="0"][data-image="0"]').bounding_box()
    page.mouse.move(box["x"] + (3 + 0.5) * box["width"] / grid[1], box["y"] + (9 + 0.5) * box["height"] / grid[0])
    page.wait_for_timeout(300)
    for layer, row in enumerate(w.rows):  # model b's row follows model a's hovered cell
        for image in range(2):
            drawn = cell_centre_colours(page, layer, image, grid)
            expected = colormaps.apply(w.similarity_map(0, row, 9, 3)[image].numpy().ravel(), "gray", 0.0, 1.0)
            assert np.abs(drawn.astype(int) - expected.astype(int)).max() <= 1, (row, image)
    assert "b/conv2" in page.locator(".xw-similarity").inner_text()
    page.close()
