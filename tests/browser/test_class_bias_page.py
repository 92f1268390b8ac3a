"""ClassBias in Chromium (standalone HTML export, network off): the bars drawn as tall as the counts and
in their partition's colour, hovering a bar and a cell, the group slider regrouping without a kernel,
and the dark theme."""
from __future__ import annotations

import json

import numpy as np
import pytest

import xai_widgets as xw
from xai_widgets.widgets.class_bias_payload import NO_PARTITION, PARTITION_COLOURS

from lab import offline_page

READY = "[data-xw-painted] .xw-class-bias"
NAMES = ["cat", "dog", "fox", "owl", "eel", "bee", "ant", "yak"]
PIXEL = """
([role, x, y]) => {
  const c = document.querySelector(`.xw-class-bias canvas[data-role="${role}"]`);
  const s = c.width / c.getBoundingClientRect().width;
  return Array.from(c.getContext('2d').getImageData(Math.round(x * s), Math.round(y * s), 1, 1).data);
}
"""


@pytest.fixture(scope="module")
def widget():
    rng = np.random.default_rng(0)
    y = rng.choice(8, size=400, p=[0.4] + [0.6 / 7] * 7)
    p = np.where(rng.random(400) < 0.7, y, rng.integers(0, 8, 400))
    return xw.ClassBias(y, p, classes=NAMES, partitions={"pets": [0, 1], "wild": [2, 3, 4]}, size=400)


def rgb(colour: str) -> list:
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def test_bars_match_the_counts_and_the_partitions(chromium, widget, tmp_path):
    with offline_page(chromium, widget.to_html(tmp_path / "bias.html"), ready=READY) as page:
        canvas = '.xw-class-bias canvas[data-role="histogram"]'
        bars = np.asarray(json.loads(page.get_attribute(canvas, "data-bars")), float)
        x0, y0, x1, y1 = json.loads(page.get_attribute(canvas, "data-plot"))
        counts = widget.histogram.counts
        top = float(page.get_attribute(canvas, "data-top"))
        assert top == counts.max()  # over 2 x the mean: the tallest bar sets the axis
        np.testing.assert_allclose(bars[:, 3] / (y1 - y0), counts / counts.max(), atol=1e-9)
        np.testing.assert_allclose(bars[:, 1] + bars[:, 3], y1, atol=1e-9)  # every bar stands on the axis
        colours = [PARTITION_COLOURS[0]] * 2 + [PARTITION_COLOURS[1]] * 3 + [NO_PARTITION] * 3
        for (x, y, w, h), colour in zip(bars, colours):
            r, g, b, a = page.evaluate(PIXEL, ["histogram", x + w / 2, y + h / 2])
            assert np.abs(np.array([r, g, b]) - rgb(colour)).sum() <= 6 and a == 255, colour
        keys = page.locator(".xw-class-bias .xw-bias-key .xw-key-label").all_inner_texts()
        assert keys[0] == f"pets: {100 * widget.histogram.shares['pets']:.1f}% of samples, " \
                          f"accuracy {100 * widget.histogram.accuracy['pets']:.1f}%"
        # hovering the first bar reads its numbers out
        box = page.locator(canvas).bounding_box()
        page.mouse.move(box["x"] + bars[0, 0] + bars[0, 2] / 2, box["y"] + bars[0, 1] + 5)
        text = page.inner_text(".xw-class-bias .xw-readout")
        assert text.startswith(f"cat: {counts[0]} samples") and "over-represented" in text


def test_the_slider_regroups_in_the_browser(chromium, widget, tmp_path):
    with offline_page(chromium, widget.to_html(tmp_path / "bias.html"), ready=READY) as page:
        canvas = '.xw-class-bias canvas[data-role="distance"]'
        assert json.loads(page.get_attribute(canvas, "data-groups")) == widget.groupings[2]
        for g in (3, 4):
            page.focus(".xw-class-bias input.xw-slider")
            page.keyboard.press("ArrowRight")
            assert json.loads(page.get_attribute(canvas, "data-groups")) == widget.groupings[g]
            order = json.loads(page.get_attribute(canvas, "data-order"))
            assert order == sorted(range(8), key=lambda c: (widget.groupings[g][c], c))
            items = page.locator(".xw-class-bias .xw-group-list li").all_inner_texts()
            assert len(items) == g
            assert items[0] == "group 1: " + ", ".join(NAMES[c] for c in order if widget.groupings[g][c] == 0)
            assert page.evaluate("() => window.xwModel.get('groups')") == g
        # the cell under the pointer: row order[0], column order[1]
        x0, y0, cell = json.loads(page.get_attribute(canvas, "data-cell"))
        box = page.locator(canvas).bounding_box()
        page.mouse.move(box["x"] + x0 + 1.5 * cell, box["y"] + y0 + 0.5 * cell)
        a, b = NAMES[order[0]], NAMES[order[1]]
        d = widget.distance[order[0], order[1]]
        assert page.inner_text(".xw-class-bias .xw-readout").startswith(f"{a} vs {b}: distance {d:.3f}")
        # the cell's colour: the viridis entry of its distance
        lo, hi = widget._bias["distanceRange"]
        lut = xw.colormaps.LUTS["viridis"][int(round((d - lo) / (hi - lo) * 255))]
        r, g, b_, _ = page.evaluate(PIXEL, ["distance", x0 + 1.5 * cell, y0 + 0.5 * cell])
        assert np.abs(np.array([r, g, b_]) - lut).sum() <= 6


def test_dark_theme(chromium, widget, tmp_path):
    with offline_page(chromium, widget.to_html(tmp_path / "bias.html"), ready=READY) as page:
        page.add_style_tag(content=":root { --jp-ui-font-color1: rgb(200, 201, 202); "
                                   "--jp-layout-color1: rgb(17, 17, 17); }")
        page.evaluate("() => { window.xwModel.set('size', 401); }")
        assert page.evaluate("() => getComputedStyle(document.querySelector('.xw-class-bias')).backgroundColor") \
            == "rgb(17, 17, 17)"
        x0, y0, x1, y1 = json.loads(page.get_attribute('.xw-class-bias canvas[data-role="histogram"]', "data-plot"))
        r, g, b, a = page.evaluate(PIXEL, ["histogram", x0 + 0.2, (y0 + y1) / 2])  # the y axis, in the theme's text
        assert abs(r - 200) + abs(g - 201) + abs(b - 202) < 40 and a > 150
