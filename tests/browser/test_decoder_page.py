"""DecoderExplorer in Chromium: the blend slider draws exactly the pixels Python blends at that
step and moves the prediction readout; the image slider changes the image; the std map is drawn
in the shipped colour table; the widget fits a 900 px output."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from xai_widgets import colormaps
from xai_widgets.widgets.decoder_payload import blend_pixels
from xai_widgets.widgets.decoder_picture import prediction_line
from xai_widgets.widgets.inversion_payload import decoded_pixels

from lab import READ_GRID, offline_page

READY = "[data-xw-painted] .xw-decoder"
PANEL = '.xw-decoder canvas.xw-panel[data-role="{}"]'
STEPS = 6


class Replace(nn.Module):
    """A toy autoencoder drawing one fixed image whatever its input: the blend walks from the
    image to that image, so the classifier's top class must change along it."""

    def __init__(self, target: torch.Tensor):
        super().__init__()
        self.register_buffer("target", target)

    def forward(self, x):
        return self.target.expand_as(x).clone()


@pytest.fixture(scope="module")
def widget():
    torch.set_num_threads(1)
    data = xw.demo.shapes_dataset(12, seed=2)
    x = xw.demo.to_tensor(data.images)
    other = int(np.flatnonzero((data.labels != data.labels[0]) & (data.labels != data.labels[1]))[0])
    w = xw.DecoderExplorer(xw.demo.shapes_model(), Replace(x[other]), x[:2], steps=STEPS, classes=xw.demo.CLASSES)
    assert w.top[0, 0] != w.top[0, -1], "the toy must change the prediction along the blend"
    return w


def drawn(page, role: str) -> np.ndarray:
    return np.asarray(page.evaluate(READ_GRID, [PANEL.format(role), 128, 128]), dtype=int)


def set_slider(page, cls: str, value: int) -> None:
    page.evaluate("([c, v]) => { const s = document.querySelector(`.xw-decoder input.${c}`);"
                  " s.value = String(v); s.dispatchEvent(new Event('input')); }", [cls, value])


def test_blend_slider_draws_pythons_blend_and_moves_the_prediction(chromium, widget, tmp_path):
    widget.index, widget.step = 0, STEPS - 1
    path = widget.to_html(tmp_path / "decoder.html")
    x8, a8 = decoded_pixels(widget._dec["images"]), decoded_pixels(widget._dec["recons"])
    with offline_page(chromium, path, ready=READY, viewport=(960, 1000), output_width=900) as page:
        readouts = {}
        for k in (STEPS - 1, 0, 2, 3):
            set_slider(page, "xw-blend", k)
            assert page.get_attribute(PANEL.format("blend"), "data-step") == str(k)
            expected = blend_pixels(x8[0], a8[0], k, STEPS).reshape(-1, 3).astype(int)
            assert np.array_equal(drawn(page, "blend"), expected), k
            readouts[k] = page.text_content(".xw-decoder .xw-prediction")
            assert readouts[k] == prediction_line(widget._dec, 0, k)
            assert xw.demo.CLASSES[widget.top[0, k]] in readouts[k]
        assert readouts[0] != readouts[STEPS - 1]  # the readout follows the slider
        # the blends differ along the slider: the pixel comparison above could fail
        assert np.abs(blend_pixels(x8[0], a8[0], 0, STEPS).astype(int) - a8[0]).max() > 50

        set_slider(page, "xw-image", 1)
        assert np.array_equal(drawn(page, "image"), x8[1].reshape(-1, 3).astype(int))
        assert page.text_content(".xw-decoder .xw-prediction") == prediction_line(widget._dec, 1, 3)

        raw = decoded_pixels(widget._dec["std"]).ravel()
        assert np.abs(drawn(page, "std") - colormaps.apply(raw, "viridis", 0, 255).astype(int)).max() <= 1
        caption = page.text_content(".xw-decoder .xw-nmi")
        assert "IC-nMI = NMI(x, A(x))" in caption and "2 I(X; Y) / (H(X) + H(Y))" in caption
        width = page.evaluate("() => document.querySelector('.xw-decoder').scrollWidth")
        assert width <= 900, f"the widget is {width} px wide in a 900 px output"
