"""Static-figure helpers (xai_widgets.core.render)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from xai_widgets.core import render


def test_legend_ticks_keep_the_digits_of_a_small_range(monkeypatch):
    drawn = []
    original = ImageDraw.ImageDraw.text

    def spy(self, xy, text, *args, **kwargs):
        drawn.append(text)
        return original(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", spy)
    img = render.legend("gray", 0.0, 0.004, max_width=300, font_size=12, caption="activation")
    assert drawn == ["0", "0.002", "0.004", "activation"]  # not 0.00 three times
    assert img.size[0] == 300
    drawn.clear()
    render.legend("gray", -1.0, 1.0, max_width=300, font_size=12, caption="cosine")
    assert drawn == ["-1", "0", "1", "cosine"]


def test_legend_ticks_sit_on_their_values_and_long_captions_wrap_inside():
    caption = "a caption long enough to need more than one line at this width, so it wraps"
    img = render.legend("viridis", -2.0, 6.0, max_width=260, font_size=12, caption=caption)
    assert img.size[0] == 260  # the bar and its end labels fill the width; the caption wraps inside
    a = np.asarray(img).astype(int)
    pad, bar_h = img.info["pad"], max(8, round(12 * 0.8))
    bar = np.nonzero((np.abs(a[bar_h // 2] - 255).sum(1) > 0))[0]
    assert bar.min() == pad and bar.max() == 260 - pad - 1  # the bar between the end labels' overhangs
    ticks = np.nonzero(a[bar_h + 1].sum(1) < 3 * 128)[0]  # the tick marks just under the bar
    expected = [pad + (v + 2) / 8 * (bar.max() - bar.min()) for v in (-2, 2, 6)]
    assert len(ticks) >= 3 and all(np.abs(ticks - x).min() <= 1 for x in expected)
    assert img.size[1] > bar_h + 4 * 12  # more than one caption line
    double = render.legend("viridis", -2.0, 6.0, max_width=260, font_size=12, caption=caption, scale=2)
    assert double.size == (2 * img.size[0], 2 * img.size[1])


def test_grid_figure_without_row_labels_has_no_label_column():
    panel = Image.new("RGB", (50, 40), (255, 0, 0))
    plain = np.asarray(render.grid_figure([[panel]], ["t"], [""]))
    labelled = np.asarray(render.grid_figure([[panel]], ["t"], ["a row"]))
    red = lambda fig: np.nonzero((fig[..., 0] == 255) & (fig[..., 1] == 0))[1]  # noqa: E731
    assert red(plain).min() == 8 and plain.shape[1] == 8 + 50 + 8  # the gap, the panel, the gap
    assert red(labelled).min() >= 120  # a label column first


def test_grid_figure_titles_wider_than_their_panels_stay_apart_and_inside():
    panel = Image.new("RGB", (40, 40), (255, 0, 0))
    titles = ["a long title for a small panel", "another long title"]
    fig = render.grid_figure([[panel, panel]], titles, [""])
    fnt = render.font(12)
    widths = [fnt.getlength(t) for t in titles]
    ink = np.asarray(fig)[: 8 + 12 + 4].min(axis=2) < 128  # the title band: dark text pixels
    cols = np.nonzero(ink.any(axis=0))[0]
    assert cols.min() >= 0 and cols.max() < fig.size[0] - 1  # nothing cut at either edge
    assert fig.size[0] >= 8 + sum(widths) + 8  # room for both titles side by side
    gaps = np.diff(cols)
    assert gaps.max() >= 8  # a clear gap between the two titles: they do not run together
