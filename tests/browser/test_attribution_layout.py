"""AttributionExplorer's layout in an exported page at notebook output widths: nothing sticks
out, rows are about as tall as their maps, legends are aligned, and the per-image (row) scale
makes a faint image's maps visible where the per-method (column) scale leaves them grey."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import InputXGradient, Saliency
from torch import nn

import xai_widgets as xw

from fit_checks import assert_legends_aligned, one_screen, overflow
from lab import offline_page

READY = "[data-xw-painted] .xw-attribution"
FAST = {"integrated_gradients": {"steps": 4, "positions": 3}, "smoothgrad": {"samples": 2, "noise_levels": (0.0, 0.1)}}
# the height of the tallest cell of each row, and of the maps in it
ROWS = """() => {
  const out = [];
  for (const c of document.querySelectorAll('.xw-attribution canvas.xw-panel[data-col="0"]')) {
    const i = c.dataset.image;
    const cells = document.querySelectorAll(`.xw-attribution .xw-cell[data-image="${i}"]`);
    const heights = [...cells].map((e) => e.getBoundingClientRect().height);
    out.push({map: c.getBoundingClientRect().height, row: Math.max(...heights)});
  }
  return out;
}"""


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """Eight method columns: more than fit beside each other at 850 px."""
    model = xw.demo.shapes_model()
    x = F.interpolate(xw.demo.to_tensor(xw.demo.shapes_dataset(12, seed=1).images[[0, 5]]), size=32, mode="area")
    methods = ["gradient", "grad_x_input", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion",
               Saliency(model), InputXGradient(model)]
    w = xw.AttributionExplorer(model, x, methods=methods, classes=xw.demo.CLASSES,
                               options={**FAST, "occlusion": {"window": 8, "stride": 8}})
    return w, w.to_html(tmp_path_factory.mktemp("attr") / "many.html")


@pytest.mark.parametrize("width", [850, 1400])
def test_nothing_overflows_rows_are_compact_and_legends_aligned(chromium, many, width):
    w, path = many
    with offline_page(chromium, path, ready=READY, viewport=(width, 900), output_width=width) as page:
        assert overflow(page) == []
        assert_legends_aligned(page)
        rows = page.evaluate(ROWS)
        assert len(rows) == 2
        for r in rows:  # the map, a slider and one caption line under it: no top-5 list tall as three maps
            assert r["row"] <= r["map"] + 40, rows
        # an image's class list and its first maps are seen together
        assert one_screen(page, '.xw-attribution .xw-image-cell[data-image="0"]',
                          '.xw-attribution canvas.xw-panel[data-image="0"][data-col="0"]')
        layout = page.get_attribute(".xw-attribution", "data-layout")
        assert layout, "the layout chosen is stated"
        # what a reader rarely needs sits in the closed details line, not in the header
        assert "MiB" not in page.inner_text(".xw-attribution .xw-header")
        assert "KiB" in page.text_content(".xw-attribution .xw-details") or "MiB" in page.text_content(
            ".xw-attribution .xw-details")


class Linear(nn.Module):
    """Logits linear in the image, so gradient x input scales with it."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(2, 3, 16, 16, generator=g))

    def forward(self, x):
        return torch.einsum("nchw,kchw->nk", x, self.w)


SPREAD = """([image]) => {
  const c = document.querySelector(`.xw-attribution canvas.xw-panel[data-image="${image}"]`);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let coloured = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 40) coloured++;
  }
  return coloured / (d.length / 4);
}"""


def test_row_scale_shows_a_faint_image_the_column_scale_leaves_grey(chromium, tmp_path):
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    images = torch.cat([x, x / 100])  # image 1's gradient x input is 100 times smaller
    w = xw.AttributionExplorer(Linear(), images, methods=["grad_x_input"], target=0)
    maps = w.maps("grad_x_input").numpy()
    np.testing.assert_allclose(maps[1] * 100, maps[0], rtol=1e-4, atol=1e-6)
    w.view = "side"
    with offline_page(chromium, w.to_html(tmp_path / "column.html"), ready=READY, output_width=850) as page:
        assert page.evaluate(SPREAD, [0]) > 0.3
        assert page.evaluate(SPREAD, [1]) < 0.02, "column scale: the faint image's map is grey"
        assert "column" in page.inner_text(".xw-attribution .xw-legend-caption")
        page.select_option(".xw-attribution select.xw-scaling", "row")
        page.wait_for_timeout(200)
        assert page.evaluate(SPREAD, [1]) > 0.3, "row scale: the faint image's map shows its colours"
        assert "row" in page.inner_text(".xw-attribution .xw-legend-caption")
        # each row states its own scale, the faint one 100 times smaller
        shown = page.locator('.xw-attribution .xw-rowscale').all_inner_texts()
        assert len(shown) == 2 and shown[0] != shown[1]
        assert_legends_aligned(page)
    r0, r1 = w.row_scale(0, "grad_x_input"), w.row_scale(1, "grad_x_input")
    assert r0 == pytest.approx(100 * r1, rel=1e-3)
    assert r0 == pytest.approx(float(np.percentile(np.abs(maps[0]), 99.5)), rel=1e-5)
