"""OcclusionExplorer's layout in an exported page at notebook output widths: nothing sticks out,
the three linked panels sit on one screen, the "before" heading is over the before numbers,
and feature numbers never overlap (those that cannot be placed are dropped, and the caption
says how many)."""
from __future__ import annotations

import numpy as np
import pytest

import xai_widgets as xw
from xai_widgets.widgets.occlusion import OcclusionExplorer

from fit_checks import assert_legends_aligned, one_screen, overflow
from lab import offline_page

READY = "[data-xw-painted] .xw-occlusion"
PANEL = '.xw-occlusion canvas.xw-panel[data-role="{}"]'


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """64 features of 3 x 3 pixels, 1 px apart, at 2 CSS px per pixel: their numbers cannot all fit."""
    r = np.zeros((128, 128))
    for k in range(64):
        row, col = 40 + 4 * (k // 8), 40 + 4 * (k % 8)
        r[row:row + 3, col:col + 3] = 1.0 + 0.01 * k
    w = OcclusionExplorer(xw.demo.shapes_model(), xw.demo.shapes_dataset(2, seed=1).images[0], attribution=r,
                          classes=xw.demo.CLASSES, threshold=1.0, distance=1.0, min_size=4)
    assert len(w.features) == 64
    return w, w.to_html(tmp_path_factory.mktemp("occ") / "crowded.html")


# The label canvas's drawn pixels, and the boxes the widget says it drew its numbers in.
LABELS = """() => {
  const c = document.querySelector('.xw-occlusion canvas.xw-labels');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const sx = c.width / c.getBoundingClientRect().width;
  const boxes = JSON.parse(c.dataset.labels);
  let outside = 0, drawn = 0;
  const inBox = boxes.map(() => 0);
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    if (d[4 * (y * c.width + x) + 3] === 0) continue;
    drawn++;
    const k = boxes.findIndex((b) => x >= b.x * sx - 1 && x <= (b.x + b.w) * sx + 1 && y >= b.y * sx - 1 && y <= (b.y + b.h) * sx + 1);
    if (k < 0) outside++; else inBox[k]++;
  }
  return {boxes, outside, drawn, inBox};
}"""


def test_feature_numbers_never_overlap_and_dropped_ones_are_counted(chromium, crowded):
    w, path = crowded
    with offline_page(chromium, path, ready=READY, output_width=850) as page:
        got = page.evaluate(LABELS)
        boxes = got["boxes"]
        assert got["drawn"] > 0 and got["outside"] == 0, "every drawn label pixel is inside a stated box"
        assert all(n > 0 for n in got["inBox"]), "every stated box holds a drawn number"
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                p, q = boxes[a], boxes[b]
                apart = p["x"] + p["w"] <= q["x"] or q["x"] + q["w"] <= p["x"] or \
                    p["y"] + p["h"] <= q["y"] or q["y"] + q["h"] <= p["y"]
                assert apart, (p, q)
        assert 0 < len(boxes) < 64
        assert [b["feature"] for b in boxes][:1] == [0], "the most important feature keeps its number"
        caption = page.inner_text(".xw-occlusion .xw-feature-caption")
        assert f"{64 - len(boxes)} numbers not shown" in caption


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    w = OcclusionExplorer(xw.demo.shapes_model(), xw.demo.shapes_dataset(2, seed=1).images[0],
                          attribution="grad_x_input", classes=xw.demo.CLASSES)
    w.analyse()
    return w, w.to_html(tmp_path_factory.mktemp("occ") / "plain.html")


def test_linked_panels_side_by_side_and_nothing_overflows(chromium, plain):
    for width in (850, 1400):
        with offline_page(chromium, plain[1], ready=READY, viewport=(width, 900), output_width=width) as page:
            assert overflow(page) == [], width
            assert_legends_aligned(page)
            panels = [PANEL.format(r) for r in ("features", "relevance", "occluded")]
            assert one_screen(page, *panels)
            tops = [page.locator(p).bounding_box()["y"] for p in panels]
            assert max(tops) - min(tops) < 1, "the three linked panels in one row"
            assert page.get_attribute(".xw-occlusion", "data-layout")


# each column heading of the top-5 table and the centres of the cells under it
COLUMNS = """() => {
  const t = document.querySelector('.xw-occlusion .xw-top-occlusion');
  const out = {};
  for (const h of t.querySelectorAll('.xw-colhead')) {
    const r = h.getBoundingClientRect();
    out[h.textContent] = {left: r.left, right: r.right, cells: []};
  }
  for (const c of t.querySelectorAll('[data-column]')) {
    const r = c.getBoundingClientRect();
    out[c.dataset.column].cells.push({text: c.textContent, centre: (r.left + r.right) / 2});
  }
  return out;
}"""


def test_before_and_now_headings_sit_over_their_numbers(chromium, plain):
    w, path = plain
    with offline_page(chromium, path, ready=READY, output_width=850) as page:
        page.focus(".xw-occlusion")
        page.keyboard.press("1")  # occlude feature 1: the numbers now differ from before
        page.wait_for_function("() => document.querySelector('canvas.xw-panel[data-role=occluded]')"
                               ".dataset.occluded === '[0]'")
        cols = page.evaluate(COLUMNS)
        probs = xw.feature_occlusion.class_probs(w.model, w.occluded_image([0])[None])[0]
        top = probs.topk(5).indices.tolist()
        before = [f"{100 * float(w.base_probs[k]):.1f}%" for k in top]
        now = [f"{100 * float(probs[k]):.1f}%" for k in top]
        assert [c["text"] for c in cols["before"]["cells"]] == before
        assert [c["text"] for c in cols["occluded"]["cells"]] == now
        for name in ("before", "occluded"):
            for c in cols[name]["cells"]:
                assert cols[name]["left"] - 2 <= c["centre"] <= cols[name]["right"] + 2, (name, c)
