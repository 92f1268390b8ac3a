"""InversionExplorer in Chromium: the replay slider draws the snapshot Python computed for that
step (pixels compared), the loss chart's cursor follows it, and the spread toggle draws the
spread in the shipped colour table."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import colormaps
from xai_widgets.widgets.inversion_payload import decoded_pixels

from lab import READ_GRID, offline_page

READY = "[data-xw-painted] .xw-inversion"
PANEL = '.xw-inversion canvas.xw-panel[data-role="{role}"][data-layer="{layer}"]{extra}'


@pytest.fixture(scope="module")
def widget():
    torch.set_num_threads(1)
    model = xw.demo.shapes_model()
    x = xw.to_batch(xw.demo.shapes_images(1, seed=2), model)
    return xw.InversionExplorer(model, x, ["relu1", "relu3"], n=2, iterations=12, snapshots=4, background=False)


def drawn(page, selector: str) -> np.ndarray:
    """Every pixel of a 128 x 128 panel canvas (one canvas pixel per image pixel), RGB."""
    return np.asarray(page.evaluate(READ_GRID, [selector, 128, 128]), dtype=int)


def shipped(widget, layer: int, k: int, s: int) -> np.ndarray:
    """Python's pre-image s of a layer at snapshot k, as the bytes shipped (128 * 128 x 3)."""
    return decoded_pixels(widget._inv["layers"][layer]["snapshots"])[k, s].reshape(-1, 3).astype(int)


def test_slider_replays_pythons_snapshots_and_moves_the_loss_cursor(chromium, widget, tmp_path):
    widget.step, widget.spread = 4, False
    path = widget.to_html(tmp_path / "inversion.html")
    steps = widget._inv["steps"]
    with offline_page(chromium, path, ready=READY, viewport=(960, 1100), output_width=900) as page:
        for k in (4, 1, 0, 3):
            page.evaluate("k => { const s = document.querySelector('.xw-inversion input.xw-slider');"
                          " s.value = String(k); s.dispatchEvent(new Event('input')); }", k)
            for l, layer in enumerate(["relu1", "relu3"]):
                for s in range(2):
                    sel = PANEL.format(role="preimage", layer=layer, extra=f'[data-index="{s}"]')
                    assert page.get_attribute(sel, "data-step") == str(k)
                    assert np.abs(drawn(page, sel) - shipped(widget, l, k, s)).max() <= 1, (layer, s, k)
            assert page.get_attribute(".xw-inversion .xw-chart-loss canvas", "data-highlight") == str(steps[k])
        # snapshots differ along the descent: the comparison above could fail
        assert np.abs(shipped(widget, 0, 0, 0) - shipped(widget, 0, 3, 0)).max() > 20

        assert page.is_hidden(PANEL.format(role="spread", layer="relu3", extra=""))
        page.check(".xw-inversion input.xw-spread-toggle")
        sel = PANEL.format(role="spread", layer="relu3", extra="")
        raw = decoded_pixels(widget._inv["layers"][1]["spread"])[3].ravel()
        expected = colormaps.apply(raw, "viridis", 0, 255).astype(int)
        assert np.abs(drawn(page, sel) - expected).max() <= 1
        width = page.evaluate("() => document.querySelector('.xw-inversion').scrollWidth")
        assert width <= 900, f"the widget is {width} px wide in a 900 px output"
