"""Static-figure helpers (xai_widgets.render)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from xai_widgets import render


def test_legend_ticks_keep_the_digits_of_a_small_range(monkeypatch):
    drawn = []
    original = ImageDraw.ImageDraw.text

    def spy(self, xy, text, *args, **kwargs):
        drawn.append(text)
        return original(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", spy)
    img = render.legend("gray", 0.0, 0.004, width=300, font_size=12, label="activation")
    assert drawn == ["0", "0.002", "0.004", "activation"]  # not 0.00 three times
    assert img.size[0] == 300
    drawn.clear()
    render.legend("gray", -1.0, 1.0, width=300, font_size=12, label="cosine")
    assert drawn == ["-1", "0", "1", "cosine"]


def test_grid_figure_without_row_labels_has_no_label_column():
    panel = Image.new("RGB", (50, 40), (255, 0, 0))
    plain = np.asarray(render.grid_figure([[panel]], ["t"], [""]))
    labelled = np.asarray(render.grid_figure([[panel]], ["t"], ["a row"]))
    red = lambda fig: np.nonzero((fig[..., 0] == 255) & (fig[..., 1] == 0))[1]  # noqa: E731
    assert red(plain).min() == 8 and plain.shape[1] == 8 + 50 + 8  # the gap, the panel, the gap
    assert red(labelled).min() >= 120  # a label column first
