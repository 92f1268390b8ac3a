"""Static-figure helpers (xai_widgets.render)."""
from __future__ import annotations

from PIL import ImageDraw

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
