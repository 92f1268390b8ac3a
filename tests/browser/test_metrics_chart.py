"""MetricsChart in Chromium (standalone HTML export, network off): the drawn points of every
line against the Python curve values, the line colours on the canvas, keyboard read-out, and the
dark theme's colours."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import metrics

from lab import offline_page

READY = "[data-xw-painted] .xw-metrics"
MARGIN = {"left": 46, "right": 14, "top": 22, "bottom": 38}  # js/lib/chart.js LineChart.margin
# RGB of the canvas around (x, y) CSS px: the 5 x 5 neighbourhood, for anti-aliased lines.
READ_AROUND = """
([panel, pts]) => {
  const c = document.querySelector(`.xw-metrics canvas[data-panel="${panel}"]`);
  const s = c.width / c.getBoundingClientRect().width;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  return pts.map(([x, y]) => {
    const out = [];
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      const i = 4 * (Math.round(y * s + dy) * c.width + Math.round(x * s + dx));
      out.push([px[i], px[i + 1], px[i + 2], px[i + 3]]);
    }
    return out;
  });
}
"""


def _gradient(model, x):
    x = x.clone().requires_grad_(True)
    out = model(x)
    (g,) = torch.autograd.grad(out.gather(1, out.argmax(1, keepdim=True)).sum(), x)
    return g.sum(1)


@pytest.fixture(scope="module")
def charts():
    model = xw.demo.shapes_model()
    x = xw.demo.to_tensor(xw.demo.shapes_dataset(3, seed=1000).images)
    g = _gradient(model, x)
    maps = {"gradient": g, "abs gradient": g.abs(), "centre": xw.metrics.centre_map(g.shape),
            "random": metrics.random_map(g.shape, seed=0)}
    curves = {name: [metrics.deletion_curve(model, x, m, steps=12),
                     metrics.deletion_curve(model, x, m, steps=12, mode="insertion")] for name, m in maps.items()}
    rand = {"gradient": metrics.randomisation_check(model, x, lambda mdl, inp, t: _gradient(mdl, inp),
                                                    layers=["fc", "conv4", "conv3", "conv1"])}
    return xw.MetricsChart.deletion(curves, size=420), xw.MetricsChart.randomisation(rand, size=420)


def expected_points(panel: dict, width: int) -> tuple[dict, list]:
    """Each series' [x, y] in CSS px, from the Python values and LineChart's geometry."""
    height = round(width * 0.62)
    xs = np.asarray(panel["xs"], float)
    values = [v for s in panel["series"] for v in s["ys"] if v is not None]
    lo, hi = min([panel["yRange"][0]] + values), max([panel["yRange"][1]] + values)
    x0, x1 = MARGIN["left"], width - MARGIN["right"]
    y0, y1 = MARGIN["top"], height - MARGIN["bottom"]
    out = {}
    for s in panel["series"]:
        X = x0 + (xs - xs[0]) / (xs[-1] - xs[0]) * (x1 - x0)
        Y = [None if v is None else y1 - (v - lo) / (hi - lo) * (y1 - y0) for v in s["ys"]]
        out[s["name"]] = [[float(a), b] for a, b in zip(X, Y)]
    return out, [lo, hi]


def check_panel(page, w, panel):
    canvas = f'.xw-metrics canvas[data-panel="{panel["id"]}"]'
    drawn = {s["name"]: s["points"] for s in json.loads(page.get_attribute(canvas, "data-series"))}
    expected, yrange = expected_points(panel, w.size)
    assert json.loads(page.get_attribute(canvas, "data-yrange")) == pytest.approx(yrange)
    assert set(drawn) == set(expected)
    for name, pts in expected.items():
        got = drawn[name]
        assert [p[1] is None for p in got] == [p[1] is None for p in pts]
        np.testing.assert_allclose([p for p in np.asarray(got, float).ravel() if np.isfinite(p)],
                                   [p for p in np.asarray(pts, float).ravel() if np.isfinite(p)], atol=1e-6,
                                   err_msg=f"{panel['id']}: {name}")
    # LineChart's own data-points (its main series) agree with ours
    main = page.get_attribute(canvas, "data-main")
    np.testing.assert_allclose(json.loads(page.get_attribute(canvas, "data-points")), drawn[main], atol=1e-9)
    np.testing.assert_allclose(json.loads(page.get_attribute(canvas, "data-values")),
                               next(s["ys"] for s in panel["series"] if s["name"] == main), atol=1e-9)
    # the lines are really there: at each series' vertices far (> 5 px) from every other series'
    # line, the canvas shows that series' colour
    for s in panel["series"]:
        rgb = np.array([int(s["color"][i:i + 2], 16) for i in (1, 3, 5)])
        others = [np.asarray(o["points"], float) for o in json.loads(page.get_attribute(canvas, "data-series"))
                  if o["name"] != s["name"]]
        pts = [p for p in expected[s["name"]]
               if all(_distance_to_polyline(np.asarray(p), o) > 5 for o in others)]
        if s["dash"]:
            continue  # dashes leave gaps at vertices; the solid lines are checked
        assert pts, f"no isolated vertex to check for {s['name']}"
        around = np.asarray(page.evaluate(READ_AROUND, [panel["id"], pts]), float)
        nearest = np.abs(around[..., :3] - rgb).sum(-1).min(axis=1)  # best match near each vertex
        assert (nearest <= 60).mean() >= 0.9, f"{panel['id']}: {s['name']} not drawn in {s['color']}: {nearest}"


def _distance_to_polyline(p: np.ndarray, poly: np.ndarray) -> float:
    best = np.inf
    for a, b in zip(poly[:-1], poly[1:]):
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-12), 0, 1)
        best = min(best, float(np.linalg.norm(p - (a + t * (b - a)))))
    return best


def test_deletion_chart_points_match_python(chromium, charts, tmp_path):
    w, _ = charts
    path = w.to_html(tmp_path / "deletion.html")
    with offline_page(chromium, path, ready=READY) as page:
        assert page.locator(".xw-metrics canvas[data-panel]").count() == 2
        for panel in w.panels:
            check_panel(page, w, panel)
        labels = page.locator('.xw-panel-deletion .xw-key-label').all_inner_texts()
        assert labels == [s["label"] for s in w.panels[0]["series"]]
        # keyboard: read the values at the third point of both charts
        page.focus(".xw-metrics")
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        for p in w.panels:
            assert page.get_attribute(f'canvas[data-panel="{p["id"]}"]', "data-highlight") == "2"
        text = page.inner_text(".xw-metrics .xw-readout")
        gradient = w.results["gradient"][0].mean_scores[2]
        assert f"Gradient {float(f'{gradient:.3g}'):g}" in text  # readable title, 3 significant digits
        page.keyboard.press("Escape")
        assert page.get_attribute('canvas[data-panel="deletion"]', "data-highlight") == "-1"


def test_randomisation_chart_and_dark_theme(chromium, charts, tmp_path):
    _, w = charts
    path = w.to_html(tmp_path / "randomisation.html")
    with offline_page(chromium, path, ready=READY) as page:
        (panel,) = w.panels
        assert panel["xlabels"] == ["original", "fc", "conv4", "conv3", "conv1"]
        check_panel(page, w, panel)
        # dark theme: the axes and tick labels take JupyterLab's variables on redraw
        page.add_style_tag(content=":root { --jp-ui-font-color2: rgb(200, 201, 202); "
                                   "--jp-layout-color1: rgb(17, 17, 17); }")
        page.evaluate("() => { window.xwModel.set('size', 421); }")
        assert page.evaluate("() => getComputedStyle(document.querySelector('.xw-metrics .xw-chart')).color") \
            == "rgb(200, 201, 202)"
        assert page.evaluate("() => getComputedStyle(document.querySelector('.xw-metrics')).backgroundColor") \
            == "rgb(17, 17, 17)"
        # the axis line (left edge of the plot) is drawn in the theme's text colour
        axis = page.evaluate(READ_AROUND, ["randomisation", [[MARGIN["left"] + 0.5, 100]]])[0]
        assert any(abs(r - 200) + abs(g - 201) + abs(b - 202) < 30 and a > 200 for r, g, b, a in axis)
