"""MetricsChart exported offline at notebook output widths: nothing overflows, every layer label
is shown without overlapping another, baselines read as such in the key."""
from __future__ import annotations

import pytest

import xai_widgets as xw
from xai_widgets import metrics

from fit_checks import overflow
from lab import offline_page
from test_metrics_chart import _gradient

READY = "[data-xw-painted] .xw-metrics"
LAYERS = ["fc", "conv4", "conv3", "conv2", "conv1"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    model = xw.demo.shapes_model()
    x = xw.demo.to_tensor(xw.demo.shapes_dataset(2, seed=1000).images)
    g = _gradient(model, x)
    maps = {"gradient": g, "grad_cam": g.abs(), "centre": metrics.centre_map(g.shape)}
    curves = {k: [metrics.deletion_curve(model, x, m, steps=6), metrics.deletion_curve(model, x, m, steps=6, mode="insertion")]
              for k, m in maps.items()}
    rand = {"gradient": metrics.randomisation_check(model, x, lambda mdl, inp, t: _gradient(mdl, inp), layers=LAYERS)}
    d = tmp_path_factory.mktemp("metrics")
    return (xw.MetricsChart.deletion(curves).to_html(d / "del.html"),
            xw.MetricsChart.randomisation(rand, size=300).to_html(d / "rand.html"))


@pytest.mark.parametrize("width", [850, 1400])
def test_deletion_fits_and_names_baselines(chromium, pages, width):
    with offline_page(chromium, pages[0], ready=READY, viewport=(width, 900), output_width=width) as page:
        assert overflow(page) == []
        assert page.get_attribute(".xw-metrics", "data-layout") == "side-by-side"
        labels = page.locator(".xw-panel-deletion .xw-key-label").all_inner_texts()
        assert labels[0].startswith("Gradient ·") and labels[1].startswith("Grad-CAM ·")
        assert "baseline, dashed grey" in labels[2]


def test_every_layer_label_shown_without_overlap(chromium, pages):
    with offline_page(chromium, pages[1], ready=READY, viewport=(850, 900), output_width=850) as page:
        assert overflow(page) == []
        boxes = page.eval_on_selector_all(".xw-metrics .xw-xtick", "ts => ts.map(t => { const r = t.getBoundingClientRect(); "
                                          "return [t.textContent, r.left, r.right, r.top, r.bottom]; })")
        assert [b[0] for b in boxes] == ["original"] + LAYERS
        for a, b in zip(boxes, boxes[1:]):  # slanted boxes overlap as rectangles: compare their right ends
            assert b[2] - a[2] >= 8 or b[1] >= a[2], (a, b)
