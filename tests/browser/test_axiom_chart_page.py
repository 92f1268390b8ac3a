"""MetricsChart's axiom-check views in Chromium (standalone HTML, network off): the dots drawn where
the report's differences put them on the log axis, in their verdict's colour, the decade ticks, the
verdict read out per method, and the conservation lines against the result's sums."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import xai_widgets as xw
from xai_widgets.attribution import invariance
from xai_widgets.widgets.axiom_charts import FAIL, PASS

from lab import offline_page
from test_metrics_chart import READ_AROUND, READY, check_panel


def expected_points(panel: dict, plot: list, yrange: list) -> dict:
    """Each series' [x, y] in CSS px from the payload, the drawn plot rectangle and y range."""
    x0, y0, x1, y1 = plot
    xlo, xhi = panel.get("xRange") or (panel["xs"][0], panel["xs"][-1])
    lo, hi = yrange
    X = lambda x: x0 + (x - xlo) / (xhi - xlo) * (x1 - x0)  # noqa: E731
    Y = lambda v: None if v is None else y1 - (v - lo) / (hi - lo) * (y1 - y0)  # noqa: E731
    return {s["name"]: [[X(x), Y(v)] for x, v in zip(panel["xs"], s["ys"])] for s in panel["series"]}


@pytest.fixture(scope="module")
def shift_chart():
    diffs = {"gradient": 0.0, "grad_x_input": 1.7, "smoothgrad": 4e-8, "lrp (epsilon)": 9.1, "grad_cam": float("nan")}
    report = invariance.InvarianceReport({"shift": 1.0}, list(diffs), diffs, {n: d <= 1e-5 for n, d in diffs.items()},
                                         1e-5)
    return xw.MetricsChart.input_shift(report, size=520)


def test_invariance_dots_on_the_log_axis(chromium, shift_chart, tmp_path):
    w = shift_chart
    (panel,) = w.panels
    with offline_page(chromium, w.to_html(tmp_path / "shift.html"), ready=READY) as page:
        canvas = '.xw-metrics canvas[data-panel="input_shift"]'
        plot = json.loads(page.get_attribute(canvas, "data-plot"))
        yrange = json.loads(page.get_attribute(canvas, "data-yrange"))
        assert yrange == pytest.approx(panel["yRange"])  # the decades the payload chose
        drawn = {s["name"]: s["points"] for s in json.loads(page.get_attribute(canvas, "data-series"))}
        expected = expected_points(panel, plot, yrange)
        for name, pts in expected.items():
            got = np.asarray([[p[0], np.nan if p[1] is None else p[1]] for p in drawn[name]], float)
            np.testing.assert_allclose(got, np.asarray(pts, dtype=float), atol=1e-6, err_msg=name)
        # each dot in its verdict's colour, where log10 of the report's difference puts it
        for name, colour in (("invariant", PASS), ("not invariant", FAIL)):
            pts = [p for p in expected[name] if p[1] is not None]
            around = np.asarray(page.evaluate(READ_AROUND, ["input_shift", pts]), float)
            nearest = np.abs(around[..., :3] - [int(colour[i:i + 2], 16) for i in (1, 3, 5)]).sum(-1).min(1)
            assert (nearest <= 30).all(), (name, nearest)
        y_lrp = expected["not invariant"][3][1]
        assert y_lrp == pytest.approx(plot[3] - (math.log10(9.1) - yrange[0]) / (yrange[1] - yrange[0])
                                      * (plot[3] - plot[1]))
        ticks = page.locator(".xw-metrics .xw-ytick").all_inner_texts()
        assert ticks == [("1" if t == 0 else f"1e{t:g}") for t in panel["yticks"]]
        # the verdict per method, read out with the keyboard
        page.focus(".xw-metrics")
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        assert "grad_x_input: 1.7 (not invariant)" in page.inner_text(".xw-metrics .xw-readout")
        page.keyboard.press("End")
        assert "grad_cam: undefined" in page.inner_text(".xw-metrics .xw-readout")
        labels = page.locator(".xw-metrics .xw-key-label").all_inner_texts()
        assert labels == [s["label"] for s in panel["series"]]


def test_conservation_lines(chromium, tmp_path):
    model = xw.demo.shapes_model()
    x = xw.demo.to_tensor(xw.demo.shapes_dataset(2, seed=1000).images)
    runs = {c: xw.attribution.conservation.layer_conservation(model, x, composite=c) for c in ("epsilon", "zero")}
    w = xw.MetricsChart.conservation(runs, size=440)
    (panel,) = w.panels
    with offline_page(chromium, w.to_html(tmp_path / "conservation.html"), ready=READY) as page:
        check_panel(page, w, panel)
        assert page.locator(".xw-metrics .xw-xtick").all_inner_texts() == ["output", "fc", "conv4", "conv3", "conv2",
                                                                          "conv1"]
