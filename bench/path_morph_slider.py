"""PathMorph slider: time to show another frame in Chromium, with each overlay.

    .venv/bin/python bench/path_morph_slider.py

The widget for demo digit 0 (100 path steps; the mask with 200 iterations, since only the
browser is timed) is exported with ``to_html`` and opened in headless Chromium. The Left
arrow steps the slider back 98 times per overlay, after 10 warm-up presses. Each time is
from the start of the frame's redraw to the end of its painting: the frame, the overlay,
the class bars and the four linked charts with their cursors (the ``xw-paint`` event's
``work``). The target is p95 at most 4 ms.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
from lab import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

import xai_widgets as xw  # noqa: E402

READY = "[data-xw-painted] .xw-path-morph"
LISTEN = """() => { window.__works = []; document.querySelector('.xw-path-morph').parentElement
  .addEventListener('xw-paint', (e) => window.__works.push(e.detail.work)); }"""
WARMUP, PRESSES = 10, 88


def main() -> None:
    from playwright.sync_api import sync_playwright

    cnn, vae, images, labels = xw.demo.digits()
    _, _, train_x, train_y = xw.demo.digits("train")
    norms = xw.morph.class_norms(vae, train_x, train_y, 10)
    w = xw.PathMorph(cnn, vae, images[0], norms=norms, classes=xw.demo.DIGIT_CLASSES,
                     options={"mask": {"iterations": 200}})
    rows = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for overlay in ("none", "mask", "diff", "masked"):
            w.overlay, w.step = overlay, 99
            page = chromium.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(w.to_html(Path(tmp) / f"{overlay}.html").as_uri())
            page.wait_for_selector(READY, timeout=30_000)
            page.evaluate(LISTEN)
            page.focus(".xw-path-morph")
            for i in range(WARMUP + PRESSES):
                page.keyboard.press("ArrowLeft")
                page.wait_for_function(f"() => window.__works.length >= {i + 1}")
            works = page.evaluate("() => window.__works")[WARMUP:]
            rows.append((overlay, statistics.median(works), float(np.percentile(works, 95))))
            page.close()
        chromium.close()
    print("| overlay | frame change median | p95 | target p95 | ratio |")
    print("|---|---|---|---|---|")
    for overlay, med, p95 in rows:
        print(f"| {overlay} | {med:.2f} ms | {p95:.2f} ms | 4 ms | {p95 / 4:.2f} |")


if __name__ == "__main__":
    main()
