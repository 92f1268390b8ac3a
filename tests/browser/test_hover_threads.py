"""The hover on two threads: with a core to spare, a Web Worker holds half of every vector's
channels and computes their half of each dot product. The pixels must be the ones
``similarity_map`` gives, the same as on one thread, and a page that refuses or breaks the worker
must fall back to one thread without losing a hover. With ``hover_precision="int8"`` (8-bit codes
shipped) the pixels are still ``similarity_map``'s, on one thread or two."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets import colormaps

from lab import PAINTED, READ_CELLS

CORES = "Object.defineProperty(navigator, 'hardwareConcurrency', {get: () => %d});"
REFUSED = "window.Worker = function () { throw new Error('blocked by the page policy'); };"
# a worker that starts, then dies while loading: the failure arrives later, as an error event
BROKEN = """{ const Real = window.Worker;
  window.Worker = function () { return new Real(URL.createObjectURL(new Blob(['throw new Error("broken")']))); }; }"""
ROOT = ".xw-similarity"


def make_widget(folder, n: int = 8, **options):
    """n images x 28x28 cells x 512 channels: 6.4 MB of vectors at 8, past the worker threshold."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 512, 1), nn.ReLU())
    g = torch.Generator().manual_seed(3)
    images = [torch.rand(3, 28, 28, generator=g) for _ in range(n)]
    w = xw.SimilarityOverlay(model, images, "1", size=64, opacity=1.0, max_bytes=1 << 26, **options)
    return w, w.to_html(folder / "threads.html")


@pytest.fixture(scope="module")
def widget(tmp_path_factory):
    return make_widget(tmp_path_factory.mktemp("threads"))


@pytest.fixture(scope="module")
def coded_widget(tmp_path_factory):
    """12 images: 4.8 MB of codes, past the worker threshold (the first 8 panels are compared)."""
    return make_widget(tmp_path_factory.mktemp("codes"), 12, hover_precision="int8")


def open_page(chromium, path, script: str):
    context = chromium.new_context(offline=True, viewport={"width": 1300, "height": 900})
    context.add_init_script(script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector(PAINTED, timeout=30_000)
    return context, page, errors


def hover(page, image: int, row: int, col: int) -> dict:
    box = page.locator(f'{ROOT} canvas.xw-panel[data-layer="0"][data-image="{image}"]').bounding_box()
    x, y = box["x"] + (col + 0.5) * box["width"] / 28, box["y"] + (row + 0.5) * box["height"] / 28
    page.mouse.move(x - 2, y)
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    return page.evaluate(READ_CELLS, [{f"0/{n}": [28, 28] for n in range(8)}])


def expected(w, image: int, row: int, col: int) -> dict:
    """Per panel, the colours ``similarity_map`` gives and which cells to compare: not those under
    the ring that marks the query (its cells are 2.3 px wide, so the ring lies over its neighbours)."""
    maps = w.similarity_map(image, "1", row, col)
    r, c = np.divmod(np.arange(28 * 28), 28)
    near = (np.abs(r - row) <= 3) & (np.abs(c - col) <= 3)
    return {f"0/{n}": (colormaps.apply(maps[n].numpy().ravel(), "gray", 0.0, 1.0), ~near if n == image else np.ones_like(near))
            for n in range(8)}


def assert_cells(drawn: dict, want: dict) -> None:
    for key, (colours, compared) in want.items():
        diff = np.abs(np.asarray(drawn[key], int) - colours.astype(int)).max(axis=1)[compared]
        assert diff.max() <= 1, f"panel {key}: {int((diff > 1).sum())} cells off by up to {diff.max()}"


@pytest.mark.parametrize("script, threads", [
    (CORES % 8, "2"),  # a core to spare: the worker takes half of every vector
    (CORES % 2, "1"),  # two cores: the browser's own threads hold the second
    (CORES % 8 + REFUSED, "1"),  # the page refuses workers
    (CORES % 8 + BROKEN, "1"),  # the worker dies after starting: its half comes back here
], ids=["worker", "two-cores", "refused", "broken"])
def test_every_thread_setting_draws_what_similarity_map_says(chromium, widget, script, threads):
    w, path = widget
    context, page, errors = open_page(chromium, path, script)
    try:
        first = hover(page, 3, 5, 20)  # at once, while a worker may still be loading
        page.wait_for_function(f"document.querySelector('{ROOT}').dataset.hoverThreads === '{threads}'",
                               timeout=10_000)
        assert_cells(first, expected(w, 3, 5, 20))
        assert_cells(hover(page, 6, 27, 0), expected(w, 6, 27, 0))
        assert np.ptp(np.asarray(first["0/0"])[:, 0]) > 20  # the overlay is not blank
        # browser memory: the vectors as shipped, split between the threads, plus each part's query and
        # results (three float32 per cell: part A's, part B's and their sum, 1.5 % at 512 channels)
        hover_bytes = int(page.get_attribute(ROOT, "data-hover-bytes"))
        shipped = sum(xw.wire.payload_bytes(a) for a in w._data["layers"][0]["acts"])
        assert shipped <= hover_bytes <= shipped * (1 + 3 * 4 / (2 * 512)) + 4096, (hover_bytes, shipped)
    finally:
        context.close()
    assert not errors, errors


@pytest.mark.parametrize("script", [CORES % 8, CORES % 2], ids=["worker", "one-thread"])
def test_the_cell_computed_ahead_to_warm_the_kernel_is_drawn_right_when_hovered_first(chromium, widget, script):
    """Once drawn, the view computes one query (image 0, first cell) and drops it, so the kernel's
    optimised code is ready before the first hover; hovering that very cell first must draw its
    own similarities, from the results kept, not stale or half-computed ones."""
    w, path = widget
    context, page, errors = open_page(chromium, path, script)
    try:
        page.wait_for_timeout(300)
        readout = page.text_content(f"{ROOT} .xw-readout")
        assert "similarity" not in (readout or ""), "the warm-up query must not show"
        assert_cells(hover(page, 0, 0, 0), expected(w, 0, 0, 0))
    finally:
        context.close()
    assert not errors, errors


@pytest.mark.parametrize("script, threads", [(CORES % 8, "2"), (CORES % 2, "1")], ids=["worker", "one-thread"])
def test_int8_codes_draw_what_similarity_map_says_on_one_thread_or_two(chromium, coded_widget, script, threads):
    w, path = coded_widget
    assert w.hover_precision == "int8" and w._data["hover_codes"] is True
    context, page, errors = open_page(chromium, path, script)
    try:
        page.wait_for_function(f"document.querySelector('{ROOT}').dataset.hoverThreads === '{threads}'",
                               timeout=10_000)
        for image, row, col in ((3, 5, 20), (6, 27, 0)):
            assert_cells(hover(page, image, row, col), expected(w, image, row, col))
        # browser memory: the codes as shipped, each part's query and results (three 4-byte numbers
        # per cell) and every cell's scale (float32, as shipped)
        hover_bytes = int(page.get_attribute(ROOT, "data-hover-bytes"))
        codes = sum(xw.wire.payload_bytes(a) for a in w._data["layers"][0]["acts"])
        cells = 12 * 28 * 28
        assert codes + 4 * cells <= hover_bytes <= codes + (3 * 4 + 4) * cells + 4096, (hover_bytes, codes)
        assert "8-bit codes" in page.text_content(ROOT)
    finally:
        context.close()
    assert not errors, errors
