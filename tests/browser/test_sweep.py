"""TransformSweep exported with ``to_html``, driven offline in Chromium: shading, outlines, chart."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xai_widgets import colormaps
from xai_widgets.widgets.sweep import TransformSweep

from lab import offline_page
from toy_models import SharedReLUNet

READY = "[data-xw-painted] .xw-sweep"
VALUES = [0, 45, 90, 180]

PANEL_PIXELS = """([copy, h, w]) => {
  const c = document.querySelector(`canvas.xw-panel[data-copy="${copy}"]`);
  const css = c.getBoundingClientRect(), sx = c.width / css.width, sy = c.height / css.height;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const centres = [];
  for (let r = 0; r < h; r++) for (let q = 0; q < w; q++) {
    const i = 4 * (Math.floor((r + 0.5) * css.height / h * sy) * c.width + Math.floor((q + 0.5) * css.width / w * sx));
    centres.push([px[i], px[i + 1], px[i + 2]]);
  }
  const yellow = [];  // backing-pixel positions of outline-yellow pixels
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const i = 4 * (y * c.width + x);
    if (px[i] > 200 && px[i + 1] > 200 && px[i + 2] < 80) yellow.push([x, y]);
  }
  return {centres, yellow, width: c.width, height: c.height};
}"""


@pytest.fixture(scope="module")
def widget():
    torch.manual_seed(0)
    model = SharedReLUNet()
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    return TransformSweep(model, image, "relu:1", "rotate", VALUES, size=240, opacity=1.0)


@pytest.fixture
def sweep_page(chromium, widget, tmp_path):
    with offline_page(chromium, widget.to_html(tmp_path / "sweep.html"), ready=READY, viewport=(1400, 1000)) as page:
        yield page


def hover_cell(page, copy, row, col, grid):
    box = page.locator(f'canvas.xw-panel[data-copy="{copy}"]').bounding_box()
    page.mouse.move(box["x"] + (col + 0.5) * box["width"] / grid[1], box["y"] + (row + 0.5) * box["height"] / grid[0])
    page.wait_for_timeout(150)
    return box


def chart_data(page):
    return page.evaluate("""() => { const c = document.querySelector('.xw-chart-canvas');
        return {values: JSON.parse(c.dataset.values), x: JSON.parse(c.dataset.x),
                points: JSON.parse(c.dataset.points), highlight: Number(c.dataset.highlight)}; }""")


def highlighted_panels(page):
    return page.evaluate("""() => [...document.querySelectorAll('.xw-cell.xw-highlight canvas.xw-panel')]
        .map((c) => Number(c.dataset.copy))""")


def test_hover_shades_copies_outlines_the_same_content_and_draws_the_curve(sweep_page, widget):
    page = sweep_page
    h, w = widget.grid
    rows, cols, valid = (t.numpy() for t in widget.correspondence())
    # a cell whose content leaves the 45-degree copy but stays in the others
    candidates = [(r, c) for r in range(h) for c in range(w) if not valid[1, r, c] and valid[[0, 2, 3], r, c].all()]
    assert candidates, "the 45-degree turn of a 12x16 image should lose some corner cells"
    row, col = candidates[len(candidates) // 2]
    hover_cell(page, -1, row, col, (h, w))
    assert page.evaluate("document.querySelector('.xw-sweep').dataset.query") == f"{row},{col}"

    for copy in [None, *range(len(VALUES))]:
        drawn = page.evaluate(PANEL_PIXELS, [-1 if copy is None else copy, h, w])
        sims = widget.similarity_map(copy, row, col).numpy()
        expected = colormaps.apply(sims.ravel(), "gray", 0.0, 1.0).astype(int)
        centres = np.asarray(drawn["centres"], dtype=int)
        if copy is None:
            target = (row, col)
        else:
            target = (rows[copy, row, col], cols[copy, row, col]) if valid[copy, row, col] else None
        # cell centres are the colormap of exactly the numbers similarity_map returns
        assert np.abs(centres - expected).max() <= 1, f"copy {copy}"
        yellow = np.asarray(drawn["yellow"]).reshape(-1, 2)
        if target is None:
            assert len(yellow) == 0, f"copy {copy}: an outline although the content left the image"
            continue
        # the outline runs along the border of exactly that cell
        sx, sy = drawn["width"] / w, drawn["height"] / h
        x0, x1 = target[1] * sx, (target[1] + 1) * sx
        y0, y1 = target[0] * sy, (target[0] + 1) * sy
        assert len(yellow) > 4 * min(sx, sy), f"copy {copy}: no outline"
        assert yellow[:, 0].min() >= x0 - 1 and yellow[:, 0].max() <= x1 + 1
        assert yellow[:, 1].min() >= y0 - 1 and yellow[:, 1].max() <= y1 + 1
        assert yellow[:, 0].min() <= x0 + 3 and yellow[:, 0].max() >= x1 - 4  # on the border, all around
        assert yellow[:, 1].min() <= y0 + 3 and yellow[:, 1].max() >= y1 - 4

    chart = chart_data(page)
    curve = widget.similarity_curve(row, col).numpy()
    assert chart["x"] == VALUES
    assert [v is None for v in chart["values"]] == list(np.isnan(curve))  # a gap where the content left
    got = np.array([np.nan if v is None else v for v in chart["values"]])
    np.testing.assert_allclose(got, curve, atol=1e-5, equal_nan=True)
    # drawn points: x increasing with the values, no point for the gap
    xs = [p[0] for p in chart["points"]]
    assert xs == sorted(xs) and chart["points"][1][1] is None
    # tick labels are text, with numbers
    ticks = page.evaluate("[...document.querySelectorAll('.xw-chart .xw-xtick')].map(s => s.textContent)")
    assert "90" in ticks and "180" in ticks


def test_chart_and_panels_highlight_each_other_and_pinning(sweep_page, widget):
    page = sweep_page
    h, w = widget.grid
    hover_cell(page, -1, 5, 8, (h, w))
    chart = chart_data(page)
    box = page.locator(".xw-chart-canvas").bounding_box()
    for k in (2, 0, 3):
        x, y = chart["points"][k]
        page.mouse.move(box["x"] + x, box["y"] + (y if y is not None else box["height"] / 2))
        page.wait_for_timeout(120)
        assert highlighted_panels(page) == [k]
        assert chart_data(page)["highlight"] == k
    # the hovered cell is kept while the pointer is over the chart
    assert page.evaluate("document.querySelector('.xw-sweep').dataset.query") == "5,8"
    tip = page.evaluate("document.querySelector('.xw-chart-tip').textContent")
    assert tip.startswith("180°: ")

    # hovering a copy highlights its chart point
    hover_cell(page, 1, 2, 2, (h, w))
    assert chart_data(page)["highlight"] == 1 and highlighted_panels(page) == [1]

    # leaving the panels and the chart clears everything
    page.mouse.move(2, 2)
    page.wait_for_timeout(150)
    assert page.evaluate("document.querySelector('.xw-sweep').dataset.query") == ""
    assert highlighted_panels(page) == [] and chart_data(page)["highlight"] == -1

    # click pins (synced as `query`), leaving keeps it, Esc unpins
    box0 = hover_cell(page, -1, 3, 4, (h, w))
    page.mouse.click(box0["x"] + 4.5 * box0["width"] / w, box0["y"] + 3.5 * box0["height"] / h)
    page.mouse.move(2, 2)
    page.wait_for_timeout(150)
    assert page.evaluate("window.xwModel.get('query')") == {"row": 3, "col": 4}
    assert page.evaluate("document.querySelector('.xw-sweep').dataset.query") == "3,4"
    values = chart_data(page)["values"]
    np.testing.assert_allclose(np.array([np.nan if v is None else v for v in values]),
                               widget.similarity_curve(3, 4).numpy(), atol=1e-5, equal_nan=True)
    page.keyboard.press("Escape")
    page.wait_for_timeout(100)
    assert page.evaluate("window.xwModel.get('query')") is None

    # a query set from Python (the model) pins the view
    page.evaluate("window.xwModel.set('query', {row: 7, col: 1})")
    page.wait_for_timeout(100)
    assert page.evaluate("document.querySelector('.xw-sweep').dataset.query") == "7,1"
    got = json.loads(page.evaluate("document.querySelector('.xw-chart-canvas').dataset.values"))
    np.testing.assert_allclose(np.array([np.nan if v is None else v for v in got]),
                               widget.similarity_curve(7, 1).numpy(), atol=1e-5, equal_nan=True)

    # keyboard: with the panels focused, arrows move the pinned cell
    page.focus(".xw-strip")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("window.xwModel.get('query')") == {"row": 8, "col": 2}

    # render returns a cleanup that removes the view and its listeners
    page.evaluate("window.xwCleanup()")
    assert page.evaluate("document.querySelectorAll('.xw-sweep').length") == 0
    page.evaluate("window.xwModel.set('query', {row: 1, col: 1})")  # no listener left to throw
