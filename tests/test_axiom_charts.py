"""MetricsChart's axiom-check views (input-shift and implementation invariance, conservation): the
payload against the reports' numbers, and the figure's pixels where the dots should be."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets.attribution import conservation, invariance
from xai_widgets.core.charts import chart_scene
from xai_widgets.widgets.axiom_charts import FAIL, PASS

torch.set_num_threads(1)


class Net(nn.Module):
    """A zero-padded convolution, ReLU, pooling and a linear head (biases everywhere)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(24, 4)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def batch():
    return torch.rand(2, 3, 10, 10, generator=torch.Generator().manual_seed(1))


def report_of(diffs: dict, tolerance: float = 1e-5, change=None) -> invariance.InvarianceReport:
    """A report with the given relative differences (the verdicts as input_shift_invariance gives them)."""
    return invariance.InvarianceReport(change or {"shift": 1.0}, list(diffs), dict(diffs),
                                       {n: d <= tolerance for n, d in diffs.items()}, tolerance)


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def test_input_shift_payload_against_a_real_report(batch):
    checks = [c for c in invariance.DEFAULT_CHECKS if c[0] in ("gradient", "grad_x_input")]
    report = invariance.input_shift_invariance(Net(), batch, checks=checks)
    chart = xw.MetricsChart.input_shift(report)
    (panel,) = chart.panels
    assert panel["xlabels"] == ["gradient", "grad_x_input"] and panel["yLog"]
    ok, bad, threshold = panel["series"]
    assert [y is not None for y in ok["ys"]] == [True, False]  # the published verdicts
    assert [y is not None for y in bad["ys"]] == [False, True]
    d = report.difference["grad_x_input"]
    assert 10 ** bad["ys"][1] == pytest.approx(d, rel=1e-12)
    lo = panel["yRange"][0]
    assert ok["ys"][0] == (math.log10(report.difference["gradient"]) if report.difference["gradient"] > 0 else lo)
    assert threshold["ys"] == [math.log10(report.tolerance)] * 2 and threshold["baseline"]
    assert "invariant: gradient" in panel["subtitle"] and "not invariant: grad_x_input" in panel["subtitle"]
    assert panel["xnotes"][1] == f"{d:.3g} (not invariant)"


def test_log_axis_zero_and_undefined_differences():
    diffs = {"a": 0.0, "b": 3e-9, "c": 0.5, "d": float("nan"), "e": 2e-5}
    (panel,) = xw.MetricsChart.input_shift(report_of(diffs)).panels
    lo, hi = panel["yRange"]
    assert (lo, hi) == (-10.0, 1.0)  # a decade under 3e-9, one over 0.5
    ok, bad, _ = panel["series"]
    assert ok["ys"] == [lo, math.log10(3e-9), None, None, None]
    assert bad["ys"] == [None, None, math.log10(0.5), None, math.log10(2e-5)]
    assert panel["yticks"][0] >= lo and panel["yticks"][-1] == hi and len(panel["yticks"]) <= 7
    assert all(t == int(t) for t in panel["yticks"])
    assert panel["xnotes"][0] == "0 (invariant)" and panel["xnotes"][3].startswith("undefined")
    assert "a difference of 0 is drawn at the bottom" in panel["subtitle"]


def test_implementation_view_and_refusals():
    impl = report_of({"gradient": 0.0, "lrp (gamma)": 0.26}, change={"layer": "conv3", "theta": 0.5})
    chart = xw.MetricsChart.implementation(impl)
    assert "conv3" in chart.panels[0]["title"] and chart.kind == "implementation"
    card = chart.card()
    assert card["explanandum"]["methods compared"] == ["gradient", "lrp (gamma)"]
    assert "implementation invariance" in card["explainer"]["metric"] and card["question"].endswith("?")
    with pytest.raises(ValueError, match=r"implementation_invariance\(\); draw it with MetricsChart.implementation"):
        xw.MetricsChart.input_shift(impl)
    with pytest.raises(ValueError, match=r"input_shift_invariance\(\); draw it with MetricsChart.input_shift"):
        xw.MetricsChart.implementation(report_of({"gradient": 0.0}))
    with pytest.raises(TypeError, match="InvarianceReport"):
        xw.MetricsChart.input_shift({"gradient": 0.0})
    with pytest.raises(ValueError, match="no method"):
        xw.MetricsChart.input_shift(report_of({}))


def test_the_figure_draws_each_dot_in_its_verdicts_colour(tmp_path):
    chart = xw.MetricsChart.input_shift(report_of({"a": 1e-7, "b": 0.3, "c": 2e-6, "d": 4.0}))
    image = np.asarray(chart.render_png().convert("RGB"), dtype=int)
    _, _, items = chart_scene(chart.panels[0], chart.size)
    plotted = [(pos, colour) for kind, pos, colour, _, name in (i for i in items if i[0] == "dot") if name]
    assert len(plotted) == 4
    assert [c for _, c in sorted(plotted)] == [PASS, FAIL, PASS, FAIL]
    for (x, y), colour in plotted:
        assert np.abs(image[int(round(y)), int(round(x))] - hex_rgb(colour)).sum() <= 6
    svg = chart.to_svg(tmp_path / "shift.svg").read_text()
    assert svg.count('<circle') == 4 + 2 and svg.count('data-series="not invariant"') == 2


def test_conservation_payload_against_the_result():
    model = Net()
    x = torch.rand(3, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    runs = {c: conservation.layer_conservation(model, x, composite=c) for c in ("epsilon", "zero")}
    (panel,) = xw.MetricsChart.conservation(runs).panels
    assert panel["xlabels"] == ["output", "fc", "conv"]
    score = runs["epsilon"].score.mean()
    for s, (name, run) in zip(panel["series"], runs.items()):
        assert s["name"] == name
        np.testing.assert_allclose(s["ys"], [score, *run.relevance.mean(0)], rtol=1e-12)
    assert panel["series"][-1]["ys"] == [pytest.approx(score)] * 3 and panel["series"][-1]["baseline"]
    single = xw.MetricsChart.conservation(runs["zero"])
    assert single.panels[0]["series"][0]["name"] == "LRP (zero)"
    other = conservation.layer_conservation(model, x, composite="zero", layers=["fc"])
    with pytest.raises(ValueError, match="share layers"):
        xw.MetricsChart.conservation({"a": runs["zero"], "b": other})
    with pytest.raises(TypeError, match="Conservation"):
        xw.MetricsChart.conservation({"a": 1})
