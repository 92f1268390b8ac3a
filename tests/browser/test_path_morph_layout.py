"""PathMorph exported offline at notebook output widths: nothing overflows, the legend lines up,
frame and charts share a screen, mid-path step differences are visible, chart keys and tips."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import wire
from xai_widgets.morph import ConvVAE, SeedCNN

from fit_checks import assert_legends_aligned, one_screen, overflow
from lab import READ_GRID, offline_page

READY = "[data-xw-painted] .xw-path-morph"
FAST = {"morph": {"max_iter": 25}, "mask": {"iterations": 15}, "candidates": 8}
FRAME = '.xw-path-morph canvas.xw-panel[data-role="frame"]'
STEPS = 40


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    w = xw.PathMorph(SeedCNN().eval(), ConvVAE(latent_dim=16).eval(), x, steps=STEPS, options=FAST)
    w.overlay, w.opacity, w.step = "diff", 0.6, STEPS // 2
    return w, w.to_html(tmp_path_factory.mktemp("morph") / "morph.html")


@pytest.mark.parametrize("width, layout", [(850, "charts-below"), (1400, "charts-beside")])
def test_fits_the_output_width(chromium, exported, width, layout):
    _, path = exported
    with offline_page(chromium, path, ready=READY, viewport=(width, 900), output_width=width) as page:
        page.wait_for_selector(f'.xw-path-morph[data-layout="{layout}"]')
        assert overflow(page) == []
        assert_legends_aligned(page)
        assert one_screen(page, FRAME, ".xw-chart-probs", ".xw-chart-norms")
        assert "layout: charts" in page.text_content(".xw-path-morph .xw-detail-layout")


def test_mid_path_step_differences_are_visible(chromium, exported):
    """At every middle step, the pixels that change most in that step (numpy) are visibly tinted."""
    w, path = exported
    frames = wire.decode(w._morph["frames"])[..., 0].reshape(STEPS, -1).astype(float)
    diffs = wire.decode(w._morph["diffs"]).reshape(STEPS - 1, -1).astype(float)
    with offline_page(chromium, path, ready=READY, viewport=(1400, 900), output_width=1400) as page:
        for i in (STEPS // 4, STEPS // 2, 3 * STEPS // 4):
            page.evaluate(f"() => window.xwModel.set('step', {i})")
            drawn = np.asarray(page.evaluate(READ_GRID, [FRAME, 28, 28]), float)
            strong = np.abs(diffs[i]) >= 0.5 * np.abs(diffs[i]).max()
            change = np.abs(drawn - frames[i][:, None]).max(axis=1)
            assert strong.any() and (change[strong] >= 20).all(), f"step {i}: {np.sort(change[strong])[:5]}"
            ticks = [float(v) for v in page.eval_on_selector_all(".xw-legend .xw-tick", "ts => ts.map(t => t.dataset.value)")]
            assert max(ticks) == pytest.approx(w._morph["diff_scale"][i], rel=1e-6)  # the legend states the scale


def test_keys_name_the_colours_drawn_and_tips_stay_in_the_plot(chromium, exported):
    _, path = exported
    with offline_page(chromium, path, ready=READY, viewport=(1400, 900), output_width=1400) as page:
        for chart in ("probs", "gains", "entropy", "norms"):
            box = f".xw-chart-{chart}"
            title = page.inner_text(f"{box} .xw-ytitle")
            assert not any(word in title for word in ("red", "blue", "orange")), title
            series = {s["name"]: s for s in json.loads(page.get_attribute(f"{box} canvas.xw-chart-canvas", "data-series"))}
            for swatch in page.query_selector_all(f"{box} .xw-line-key canvas"):
                colour = swatch.get_attribute("data-color")
                assert any(s["color"] == colour for s in series.values()), (chart, colour)
            for keyed in page.query_selector_all(f"{box} .xw-line-key canvas"):
                colour = keyed.get_attribute("data-color")
                s = next(s for s in series.values() if s["color"] == colour)
                pts = [p for p in s["points"] if p[1] is not None][1:-1:3]
                rgb = page.evaluate("""([sel, pts]) => { const c = document.querySelector(sel); const k = c.width / c.getBoundingClientRect().width;
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  return pts.map(([x, y]) => { let best = 1e9; for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
                    const i = 4 * (Math.round(y * k + dy) * c.width + Math.round(x * k + dx)); const h = parseInt(%s.slice(1), 16);
                    best = Math.min(best, Math.abs(d[i] - (h >> 16)) + Math.abs(d[i + 1] - ((h >> 8) & 255)) + Math.abs(d[i + 2] - (h & 255))); }
                    return best; }); }""" % json.dumps(colour) if colour.startswith("#") else "() => []",
                    [f"{box} canvas.xw-chart-canvas", pts])
                if colour.startswith("#"):
                    assert np.mean(np.asarray(rgb) <= 60) >= 0.8, (chart, colour, rgb)
            tip = page.eval_on_selector(f"{box} .xw-chart-tip", "t => { const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, t.textContent]; }")
            plot = json.loads(page.get_attribute(f"{box} canvas.xw-chart-canvas", "data-plot"))
            c = page.locator(f"{box} canvas.xw-chart-canvas").bounding_box()
            assert c["x"] + plot[0] - 1 <= tip[0] and tip[2] <= c["x"] + plot[2] + 1, (chart, tip, plot)
            assert c["y"] + plot[1] - 1 <= tip[1] and tip[3] <= c["y"] + plot[3] + 1, (chart, tip, plot)
            assert "0.0000" not in tip[4] and "e-" not in tip[4], tip[4]
