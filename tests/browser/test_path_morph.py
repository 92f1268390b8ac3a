"""PathMorph in Chromium: overlay pixels against Python, the chart cursor following the slider,
and scrubbing that sends nothing to the kernel."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import xai_widgets as xw
from xai_widgets import colormaps, wire
from xai_widgets.morph import ConvVAE, SeedCNN

from lab import READ_GRID, live_page, offline_page

READY = "[data-xw-painted] .xw-path-morph"
FAST = {"morph": {"max_iter": 25}, "mask": {"iterations": 15}, "candidates": 8}
FRAME = '.xw-path-morph canvas.xw-panel[data-role="frame"]'


@pytest.fixture(scope="module")
def widget():
    torch.manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return xw.PathMorph(SeedCNN().eval(), ConvVAE(latent_dim=16).eval(), x, steps=12, options=FAST)


def over(base: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Canvas source-over of a colour with 8-bit alpha on an opaque base."""
    a = np.round(alpha * 255)[:, None] / 255
    return base * (1 - a) + colour * a


def drawn_frame(page) -> np.ndarray:
    """The colour at the centre of every cell of the frame panel, row-major."""
    return np.asarray(page.evaluate(READ_GRID, [FRAME, 28, 28]), dtype=float)


def test_overlays_match_python_and_the_cursor_follows_the_keys(chromium, widget, tmp_path):
    widget.step, widget.overlay, widget.opacity = 5, "mask", 0.6
    path = widget.to_html(tmp_path / "morph.html")
    with offline_page(chromium, path, ready=READY, viewport=(1400, 1200)) as page:
        frames = wire.decode(widget._morph["frames"])[..., 0].reshape(12, -1)
        mask = widget.result.mask.mask.numpy().ravel()
        base = np.repeat(frames[5][:, None], 3, axis=1)
        expected = over(base, np.array([0, 255, 0]), 0.6 * mask)
        assert np.abs(drawn_frame(page) - expected).max() <= 2, "mask overlay"

        page.select_option(".xw-path-morph select.xw-overlay", "diff")
        d = wire.decode(widget._morph["diffs"])[5].ravel().astype(np.float64)
        m = widget._morph["diff_scale"][5]  # the scale of the step shown
        t = np.clip(d / m, -1, 1)
        lut = colormaps.lut("diverging").astype(float)
        colour = lut[np.floor((0.5 + 0.5 * t) * 255 + 0.5).astype(int)]
        expected = over(base, colour, 0.6 * np.abs(t))
        assert np.abs(drawn_frame(page) - expected).max() <= 2, "step-difference overlay"

        page.focus(".xw-path-morph")
        for key, step in [("ArrowLeft", 4), ("ArrowLeft", 3), ("End", 11), ("Home", 0)]:
            page.keyboard.press(key)
            for chart in ("probs", "entropy", "gains", "norms"):
                hl = page.get_attribute(f".xw-chart-{chart} canvas", "data-highlight")
                assert hl == str(step), f"{chart} cursor after {key}: {hl}"
            assert page.get_attribute('canvas.xw-panel[data-role="frame"]', "data-step") == str(step)
        base0 = np.repeat(frames[0][:, None], 3, axis=1)
        t0 = np.clip(wire.decode(widget._morph["diffs"])[0].ravel() / widget._morph["diff_scale"][0], -1, 1)
        expected0 = over(base0, lut[np.floor((0.5 + 0.5 * t0) * 255 + 0.5).astype(int)], 0.6 * np.abs(t0))
        assert np.abs(drawn_frame(page) - expected0).max() <= 2, "overlay after moving to step 0"


def test_scrubbing_in_jupyterlab_sends_nothing_until_release(lab, chromium):
    with live_page(chromium, lab) as (page, sent):
        lab.open_notebook(page, "morph_live.ipynb", [
            "import torch\nimport xai_widgets as xw\nfrom xai_widgets.morph import ConvVAE, SeedCNN\n"
            "torch.manual_seed(0)\n"
            "w = xw.PathMorph(SeedCNN().eval(), ConvVAE(latent_dim=16).eval(), torch.rand(1, 1, 28, 28), steps=30,\n"
            f"                 options={FAST!r})\nw",
        ])
        page.wait_for_selector(READY, timeout=30_000)
        slider = page.locator(".xw-path-morph input.xw-slider").first
        box = slider.bounding_box()
        page.mouse.move(box["x"] + box["width"] - 4, box["y"] + box["height"] / 2)
        page.mouse.down()
        time.sleep(0.5)
        before = len(sent)
        for k in range(20):  # drag from the right end toward the left: 'input' events only
            page.mouse.move(box["x"] + box["width"] * (1 - k / 25), box["y"] + box["height"] / 2)
            time.sleep(0.02)
        during = len(sent) - before
        shown = int(page.get_attribute('canvas.xw-panel[data-role="frame"]', "data-step"))
        page.mouse.up()
        page.wait_for_timeout(800)
        assert during == 0, f"scrubbing sent {during} websocket frames"
        assert shown < 29  # the frame followed the pointer
        assert int(lab.run("print(w.step)").strip()) == shown  # the release told Python where it stopped
