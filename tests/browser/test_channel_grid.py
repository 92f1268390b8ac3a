"""ChannelGrid in Chromium: tile pixels against ``grid.tile_image``, keys and clicks, and the
kernel round trips (layer switch, back view, dataset scan) in a live JupyterLab.

The tile canvas holds one pixel per activation cell, so every drawn cell is compared with
the colour Python computes from :meth:`ChannelGrid.tile_values` (the same float16 values the
browser decoded, normalised by :func:`xai_widgets.units.grid.normalise`).
"""
from __future__ import annotations

import base64
import contextlib
import io

import numpy as np
import pytest
from PIL import Image

import xai_widgets as xw
from xai_widgets import colormaps, grid

from lab import offline_page

READY = "[data-xw-painted] .xw-channel-grid"
READ_CANVAS = """(sel) => document.querySelector(sel).toDataURL('image/png')"""


def read_canvas(page, selector: str) -> np.ndarray:
    url = page.evaluate(READ_CANVAS, selector)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def expected_tiles(w) -> tuple[np.ndarray, np.ndarray]:
    """(RGB the tiles should show, mask of tile pixels) for the widget's current settings."""
    t = w.tile_values().numpy()
    rows, cols = grid.tile_layout(t.shape[0])
    lut = colormaps.lut("diverging" if w.signed else w.colormap)
    rgb = grid.tile_image(t, lut, rows, cols, pad=1, background=(1, 2, 3))
    inside = grid.tile_image(np.ones_like(t), np.full((256, 3), 255, np.uint8), rows, cols, pad=1,
                             background=(0, 0, 0))[..., 0] == 255
    return rgb, inside


def assert_tiles_match(page, w, what: str) -> None:
    drawn = read_canvas(page, ".xw-channel-grid canvas.xw-tiles")
    rgb, inside = expected_tiles(w)
    assert drawn.shape[:2] == rgb.shape[:2], f"{what}: canvas {drawn.shape[:2]}, expected {rgb.shape[:2]}"
    assert (drawn[..., 3][inside] == 255).all() and (drawn[..., 3][~inside] == 0).all(), f"{what}: alpha"
    diff = np.abs(drawn[..., :3].astype(int) - rgb.astype(int)).max(axis=-1)[inside]
    assert diff.max() == 0, f"{what}: {np.count_nonzero(diff)} of {diff.size} cells differ (max {diff.max()})"


@pytest.fixture(scope="module")
def demo():
    return xw.demo.shapes_model(), xw.demo.shapes_images(3, seed=4)


@contextlib.contextmanager
def export_page(chromium, w, path):
    """``w.to_html(path)`` open offline (lab.offline_page checks errors and requests), focused."""
    w.to_html(path)
    with offline_page(chromium, path, ready=READY, viewport=(1400, 1000)) as page:
        page.focus(".xw-channel-grid")
        yield page


@pytest.mark.parametrize("layer, colormap", [("conv2", "gray"), ("relu3", "viridis")])
def test_tiles_match_python_under_every_normalisation_key(chromium, demo, tmp_path, layer, colormap):
    """Signed (conv2: diverging map) and non-negative (relu3) layers; the keys n, t, T and ]
    change normalisation, gamma, boost and image in the browser, mirrored here in Python."""
    model, images = demo
    w = xw.ChannelGrid(model, images, layer=layer)
    w.colormap = colormap
    w.vrange = [-0.5, 2.0]
    with export_page(chromium, w, tmp_path / "grid.html") as page:
        assert_tiles_match(page, w, "whole-layer range")
        steps = [("n", "normalisation", "channel"), ("n", "normalisation", "fixed"), ("t", "gamma", 0.7),
                 ("T", "boost", 0.3), ("]", "image", 1), ("n", "normalisation", "layer"), ("t", "gamma", 0.5)]
        for key, trait, value in steps:
            page.keyboard.press(key)
            setattr(w, trait, value)
            assert_tiles_match(page, w, f"after {key!r} ({trait} = {value})")


def test_click_and_arrow_keys_select_units_and_the_legend_states_the_range(chromium, demo, tmp_path):
    model, images = demo
    w = xw.ChannelGrid(model, images, layer="relu2")  # 32 channels: 6 tiles wide
    with export_page(chromium, w, tmp_path / "keys.html") as page:
        box = page.locator(".xw-channel-grid canvas.xw-tiles").bounding_box()
        scale = box["width"] / page.evaluate("document.querySelector('.xw-channel-grid canvas.xw-tiles').width")
        tile = 64 + 1  # 64 x 64 cells + padding
        x = box["x"] + (1 + 2 * tile + 10) * scale  # tile column 2
        y = box["y"] + (1 + 1 * tile + 10) * scale  # tile row 1
        page.mouse.click(x, y)
        readout = page.locator(".xw-channel-grid .xw-readout")
        assert "unit 8 " in readout.inner_text()  # row 1 * 6 + col 2
        page.keyboard.press("ArrowRight")
        assert "unit 9 " in readout.inner_text()
        page.keyboard.press("ArrowDown")
        assert "unit 15 " in readout.inner_text()
        page.keyboard.press("Shift+ArrowLeft")  # DeepVis's fast move: 3 units
        assert "unit 12 " in readout.inner_text()
        stats = w.channel_stats()
        info = page.locator(".xw-channel-grid .xw-unitinfo").inner_text()
        assert f"at ({int(stats['argmax'][12][0])}, {int(stats['argmax'][12][1])})" in info
        # the selected tile is outlined in DeepVis green on the marks canvas
        marks = read_canvas(page, ".xw-channel-grid canvas.xw-marks")
        dpr = marks.shape[1] / box["width"]
        r, c = divmod(12, 6)
        edge_y = int((1 + r * tile + 32) * scale * dpr)
        edge_x = int((1 + c * tile) * scale * dpr) - 1
        assert tuple(marks[edge_y, edge_x, :3]) == (128, 255, 128)
        lo, hi = float(w.activations().min()), float(w.activations().max())
        ticks = page.locator(".xw-channel-grid .xw-ticks").inner_text().split()
        assert float(ticks[0]) == pytest.approx(lo, abs=1e-2) and float(ticks[-1]) == pytest.approx(hi, rel=1e-2)
        assert "one range for the whole layer" in page.locator(".xw-legend-caption").inner_text()


@pytest.fixture
def own_kernel(lab):
    """The lab is shared: stop this test's kernel so later tests find only their own."""
    yield lab
    lab.shutdown_kernels()


def test_live_layer_switch_back_view_and_scan(page, own_kernel):
    """In JupyterLab: clicks and keys reach Python; the kernel answers with a new layer, the
    back view and, after the Scan button, the top patches."""
    lab = own_kernel
    lab.open_notebook(page, "grid_live.ipynb", [
        "import xai_widgets as xw\n"
        "model = xw.demo.shapes_model()\n"
        "data = xw.demo.shapes_dataset(48, seed=2)\n"
        "w = xw.ChannelGrid(model, xw.demo.shapes_images(3, seed=4), layer='relu2', dataset=data,\n"
        "                   classes=xw.demo.CLASSES)\n"
        "w",
    ])
    page.wait_for_selector(READY, timeout=30_000)
    canvas = page.locator(".xw-channel-grid canvas.xw-tiles")
    box = canvas.bounding_box()
    scale = box["width"] / page.evaluate("document.querySelector('.xw-channel-grid canvas.xw-tiles').width")
    page.mouse.click(box["x"] + (1 + 3 * 65 + 5) * scale, box["y"] + 5 * scale)  # tile 3
    page.wait_for_timeout(500)
    assert lab.run("print(w.selected)").strip() == "3"
    page.keyboard.press("o")  # next layer
    page.wait_for_function(
        "() => document.querySelector('.xw-channel-grid .xw-legend-caption').textContent.startsWith('pool2')",
        timeout=20_000)
    assert lab.run("print(w.layer)").strip() == "pool2"
    page.keyboard.press("b")  # back view: gradient
    page.wait_for_selector(".xw-channel-grid canvas.xw-back", timeout=30_000)
    assert lab.run("print(w._back['mode'], w._back['channel'])").strip() == "grad 3"
    page.click(".xw-channel-grid .xw-scan")
    page.wait_for_selector(".xw-channel-grid canvas.xw-patchgrid:not([hidden])", timeout=60_000)
    out = lab.run("print(sorted(w.tops), w.tops['pool2'].patches.shape)").strip()
    assert out.startswith("['pool2']")
    assert "top 9 patches of 48 images" in page.locator(".xw-channel-grid").inner_text()
    page.focus(".xw-channel-grid")
    page.keyboard.press("s")  # pattern mode: each tile shows its unit's best patch
    page.wait_for_selector(".xw-channel-grid canvas.xw-patterns:not([hidden])", timeout=10_000)
    assert page.locator(".xw-channel-grid canvas.xw-tiles").is_hidden()
    assert lab.run("print(w.pattern)").strip() == "True"
    patterns = read_canvas(page, ".xw-channel-grid canvas.xw-patterns")
    assert patterns[..., 3].mean() > 200 and patterns[..., :3].std() > 20  # drawn patches, not a blank
