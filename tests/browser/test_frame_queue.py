"""Hover and the frame clock: work done at a pointerrawupdate must not ask for an animation frame.

Chromium delivers pointerrawupdate as soon as the input arrives; the pointermove of the same
input comes once a frame starts. On an idle page that pointermove starts a frame at once, unless
a frame was already requested, which puts it (and the paint) on the next vsync tick, up to 16.7 ms
later. So the similarity widget computes and draws at the raw update, leaves the frame to the
pointermove, and, should no pointermove come, ends the hold itself and draws the latest query."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch
from torch import nn

import xai_widgets as xw

from lab import offline_page

PANEL = '.xw-similarity canvas.xw-panel[data-layer="0"][data-image="%d"]'

# Counts requestAnimationFrame calls made while a pointerrawupdate is being dispatched (between a
# capture listener on the window and a bubbling one), and records each paint's query.
PROBE = """() => {
  window.__inRaw = false; window.__rafInRaw = 0; window.__rafCalls = 0; window.__paints = [];
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (f) => { window.__rafCalls++; if (window.__inRaw) window.__rafInRaw++; return raf(f); };
  window.addEventListener('pointerrawupdate', () => { window.__inRaw = true; }, true);
  window.addEventListener('pointerrawupdate', () => { window.__inRaw = false; });
  document.querySelector('[data-xw-painted]').addEventListener('xw-paint', (e) => window.__paints.push(e.detail.query));
}"""


@pytest.fixture(scope="module")
def page_path(tmp_path_factory):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 1), nn.ReLU())
    g = torch.Generator().manual_seed(1)
    w = xw.SimilarityOverlay(model, [torch.rand(3, 8, 8, generator=g) for _ in range(2)], "1", size=96)
    return w.to_html(tmp_path_factory.mktemp("frames") / "frames.html")


@contextmanager
def probed(chromium, path):
    with offline_page(chromium, path) as page:
        assert page.evaluate("() => 'onpointerrawupdate' in window"), "this Chromium has no pointerrawupdate"
        page.evaluate(PROBE)
        yield page


def cell_xy(page, image: int, row: int, col: int) -> tuple[float, float]:
    box = page.locator(PANEL % image).bounding_box()
    return box["x"] + (col + 0.5) * box["width"] / 8, box["y"] + (row + 0.5) * box["height"] / 8


def test_raw_update_draws_without_asking_for_a_frame(chromium, page_path):
    with probed(chromium, page_path) as page:
        for image, row, col in [(0, 1, 2), (1, 5, 6), (0, 7, 0)]:
            page.mouse.move(*cell_xy(page, image, row, col))
            page.wait_for_timeout(80)
        paints = page.evaluate("window.__paints")
        assert [(q["image"], q["row"], q["col"]) for q in paints] == [(0, 1, 2), (1, 5, 6), (0, 7, 0)]
        assert page.evaluate("window.__rafCalls") > 0, "the pointermove should ask for the frame"
        assert page.evaluate("window.__rafInRaw") == 0, "a frame was requested during a raw update"


def test_raw_updates_without_pointermove_end_the_hold_and_draw_the_latest(chromium, page_path):
    """Two raw updates and no pointermove (dispatched by script): the first draws at once, the
    second waits for the hold and is drawn once it ends; nothing is lost."""
    with probed(chromium, page_path) as page:
        first, second = cell_xy(page, 1, 0, 3), cell_xy(page, 1, 4, 4)
        page.evaluate("""([a, b, sel]) => {
          const panel = document.querySelector(sel);
          for (const [x, y] of [a, b])
            panel.dispatchEvent(new PointerEvent('pointerrawupdate', { clientX: x, clientY: y, bubbles: true }));
        }""", [first, second, PANEL % 1])
        assert [(q["row"], q["col"]) for q in page.evaluate("window.__paints")] == [(0, 3)]
        page.wait_for_timeout(150)
        assert [(q["row"], q["col"]) for q in page.evaluate("window.__paints")] == [(0, 3), (4, 4)]
        assert page.evaluate("window.__rafInRaw") == 0
