"""TransformSweep fitted to the width of its output, in exported pages opened in Chromium at a
notebook's default output width (850 px) and a wide one (1400 px), 900 px high: the original
and the chart are on one screen, the copies wrap under them, nothing sticks out, the legend's
labels sit on their values, and the diverging map is symmetric about 0."""
from __future__ import annotations

import pytest

import xai_widgets as xw

from fit_checks import assert_legends_aligned, legends, one_screen, overflow
from lab import offline_page

READY = "[data-xw-painted] .xw-sweep"
VIEW_H = 900
ORIGINAL = ".xw-sweep .xw-original canvas.xw-panel"
CHART = ".xw-sweep .xw-chart"

GEOMETRY = """() => {
  const root = document.querySelector('.xw-sweep');
  const box = (e) => { const b = e.getBoundingClientRect(); return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; };
  return {
    layout: JSON.parse(root.dataset.layout),
    header: root.querySelector('.xw-header').textContent,
    details: root.querySelector('.xw-details').textContent,
    original: box(root.querySelector('.xw-original canvas.xw-panel')),
    chart: box(root.querySelector('.xw-chart')),
    copies: [...root.querySelectorAll('canvas.xw-panel')].filter((c) => c.dataset.copy !== '-1')
      .map((c) => ({copy: +c.dataset.copy, ...box(c)})),
  };
}"""


@pytest.fixture(scope="module")
def sweep_html(tmp_path_factory):
    model = xw.demo.shapes_model()
    image = xw.demo.shapes_images(1, seed=21)[0]
    w = xw.TransformSweep(model, image, "relu3", "rotate", list(range(0, 181, 15)))
    w.query = {"row": 10, "col": 12}
    return w, w.to_html(tmp_path_factory.mktemp("sweep_layout") / "sweep.html")


@pytest.fixture(params=[850, 1400], ids=["850px", "1400px"])
def sweep_page(request, chromium, sweep_html):
    w, path = sweep_html
    with offline_page(chromium, path, ready=READY, viewport=(1200, VIEW_H), output_width=request.param) as page:
        page.wait_for_selector(".xw-sweep[data-layout]")
        yield request.param, page, w


def test_the_original_and_the_chart_are_on_one_screen_beside_each_other(sweep_page):
    width, page, w = sweep_page
    assert one_screen(page, ORIGINAL, CHART), f"the original and the chart are not on one screen at {width} px"
    geo = page.evaluate(GEOMETRY)
    assert geo["layout"]["chart"] == "beside"
    assert geo["chart"]["left"] >= geo["original"]["right"]
    assert geo["chart"]["top"] < geo["original"]["bottom"] and geo["original"]["top"] < geo["chart"]["bottom"]
    # and the pinned cell is drawn with its curve: one glance shows both
    assert page.evaluate("document.querySelector('.xw-sweep').dataset.query") == "10,12"


def test_copies_wrap_in_balanced_rows_under_the_original_and_the_chart(sweep_page):
    width, page, w = sweep_page
    geo = page.evaluate(GEOMETRY)
    layout, copies = geo["layout"], geo["copies"]
    V = len(w.values)
    assert sorted(c["copy"] for c in copies) == list(range(V))
    assert layout["rows"] * layout["perRow"] >= V > (layout["rows"] - 1) * layout["perRow"]
    assert layout["perRow"] - (V - (layout["rows"] - 1) * layout["perRow"]) < layout["rows"], "balanced rows"
    assert 120 <= layout["size"] <= w.size
    lead_bottom = max(geo["original"]["bottom"], geo["chart"]["bottom"])
    tops = sorted({round(c["top"]) for c in copies})
    assert len(tops) == layout["rows"] and tops[0] > lead_bottom
    for c in copies:  # in order, row by row
        assert round(c["top"]) == tops[c["copy"] // layout["perRow"]]
    assert f"panels {layout['size']} px" in geo["details"]
    # the header names the layer; its shape and the payload size are in the details line
    assert "×" not in geo["header"] and "MiB" not in geo["header"] and "KiB" not in geo["header"]
    assert "32×32 cells × 64 channels" in geo["details"] and "ships" in geo["details"]


def test_nothing_overflows_and_the_legend_labels_sit_on_their_values(sweep_page):
    _, page, _ = sweep_page
    assert overflow(page) == []
    assert_legends_aligned(page)


def test_the_diverging_map_is_drawn_symmetric_about_zero(sweep_page):
    _, page, w = sweep_page
    assert w.vrange == [0.0, 1.0]  # post-ReLU
    page.evaluate("window.xwModel.set('colormap', 'diverging')")
    page.wait_for_timeout(100)
    [lg] = legends(page)
    assert (lg["lo"], lg["hi"]) == (-1, 1) and [t["value"] for t in lg["ticks"]] == [-1, 0, 1]
    assert_legends_aligned(page)
    assert "grey centre = 0" in page.inner_text(".xw-sweep .xw-legend-caption")
    # the chart's y axis covers the same range
    ticks = page.evaluate("[...document.querySelectorAll('.xw-chart .xw-ytick')].map((s) => Number(s.textContent))")
    assert min(ticks) == -1 and max(ticks) == 1


def test_a_narrow_output_stacks_the_chart_under_the_original(chromium, sweep_html):
    _, path = sweep_html
    with offline_page(chromium, path, ready=READY, viewport=(1200, VIEW_H), output_width=480) as page:
        page.wait_for_selector(".xw-sweep[data-layout]")
        geo = page.evaluate(GEOMETRY)
        assert geo["layout"]["chart"] == "under" and geo["chart"]["top"] >= geo["original"]["bottom"]
        assert one_screen(page, ORIGINAL, CHART)
        assert overflow(page) == []
        assert_legends_aligned(page)
