"""ChannelGrid speed in one run: browser redraw, and the kernel round trip of a layer switch.

    .venv/bin/python bench/channel_grid.py

* redraw: a 512-channel 28 x 28 layer (a 1x1 convolution of that width stands in, 8 images)
  in headless Chromium on the widget's exported page; keys that redraw every tile without
  the kernel (t: gamma, T: boost, n: normalisation, ] and [: next and previous image), 80 presses
  after 8 warm-up presses (JIT compilation, the one-off index tables per gamma), time from
  the start of the redraw to the end of the paint of all tiles (the ``xw-paint`` event's
  ``work``), against the 16 ms frame budget of 60 fps;
* layer switch: in JupyterLab, the ``o`` key (next layer) to the new layer painted, on the
  demo model with 8 images, against the kernel-side part alone (capture + packing,
  measured in the kernel), so the ratio is what the trip and drawing add.

The scan and activation-maximisation figures are printed by bench/scan.py and
bench/featurevis.py.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
from lab import CHROMIUM, CHROMIUM_ARGS, JupyterLab  # noqa: E402

import xai_widgets as xw  # noqa: E402

READY = "[data-xw-painted] .xw-channel-grid"
PRESSES = 80
WARMUP = 8  # one press of each key first: JIT compilation and the one-off index tables per gamma
LISTEN = """() => { window.__works = []; document.querySelector('.xw-channel-grid').parentElement
  .addEventListener('xw-paint', (e) => window.__works.push(e.detail.work)); }"""


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def redraw_times(chromium, w: xw.ChannelGrid | None = None) -> list[float]:
    """Redraw times (ms) of ``w``'s exported page; default a 512-channel 28 x 28 stand-in, 8 images."""
    if w is None:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 512, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))
        images = [torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(i)) for i in range(8)]
        w = xw.ChannelGrid(model, images, layer="1")
    with tempfile.TemporaryDirectory() as tmp:
        path = w.to_html(Path(tmp) / "grid.html")
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(path.as_uri())
        page.wait_for_selector(READY, timeout=30_000)
        page.evaluate(LISTEN)
        page.focus(".xw-channel-grid")
        keys = ["t", "T", "n", "]", "t", "T", "n", "["]  # every press changes something
        for i in range(WARMUP + PRESSES):
            page.keyboard.press(keys[i % len(keys)])
            page.wait_for_function(f"() => window.__works.length >= {i + 1}")
        works = page.evaluate("() => window.__works")[WARMUP:]
        page.close()
    return works


def layer_switch_times(chromium) -> tuple[list[float], list[float]]:
    lab = JupyterLab()
    try:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        lab.open_notebook(page, "switch.ipynb", [
            "import time, json\nimport xai_widgets as xw\nfrom xai_widgets import wire\n"
            "from xai_widgets.core.capture import capture\n"
            "model = xw.demo.shapes_model()\nimages = xw.demo.shapes_images(8)\n"
            "w = xw.ChannelGrid(model, images, layer='conv1')\nw",
        ])
        page.wait_for_selector(READY, timeout=60_000)
        page.evaluate(LISTEN)
        names = json.loads(lab.run("print(json.dumps(w.layer_names))"))
        trips = []
        for i in range(1, len(names)):
            page.focus(".xw-channel-grid")
            before = page.evaluate("() => window.__works.length")
            t0 = time.perf_counter()
            page.keyboard.press("o")
            page.wait_for_function(
                f"() => document.querySelector('.xw-legend-caption').textContent.startsWith({json.dumps(names[i] + ':')})"
                f" && window.__works.length > {before}", timeout=30_000)
            trips.append((time.perf_counter() - t0) * 1000)
        kernel = json.loads(lab.run(
            "x = xw.to_batch(images, model)\nks = []\n"
            "for name in w.layer_names[1:]:\n"
            "    t0 = time.perf_counter(); a = capture(model, x, [name])[name]; wire.encode(a.float(), 'float16')\n"
            "    ks.append((time.perf_counter() - t0) * 1000)\n"
            "print(json.dumps(ks))"))
        page.close()
        return trips, kernel
    finally:
        lab.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        works = redraw_times(chromium)
        trips, kernel = layer_switch_times(chromium)
        chromium.close()
    print("| ChannelGrid | median | p95 | target / baseline | ratio |")
    print("|---|---|---|---|---|")
    print(f"| redraw, 512 x 28 x 28 layer, {len(works)} key presses | {statistics.median(works):.2f} ms | "
          f"{percentile(works, 95):.2f} ms | 16 ms frame | {percentile(works, 95) / 16:.2f} |")
    print(f"| layer switch (o key to painted), demo model, 8 images, {len(trips)} layers | "
          f"{statistics.median(trips):.0f} ms | {percentile(trips, 95):.0f} ms | capture + packing in the kernel: "
          f"{statistics.median(kernel):.0f} ms | {statistics.median(trips) / statistics.median(kernel):.1f} |")


if __name__ == "__main__":
    main()
