"""Large layers and many images, in one run: the three figures the scale work is judged by.

    .venv/bin/python bench/similarity_scale.py

1. hover p95 in headless Chromium at 16 images of 56x56x256 and 32 images of 28x28x512
   (target: at most 8 ms), measured as in ``bench/hover.py``;
2. payload reduction by projection on the demo model (target: at least 8x with at least
   95% of query cells at map correlation >= 0.99), the table of ``bench/projection.py``;
3. NMF on the device against scikit-learn's on the same matrix (target: at least 3x
   faster), the table of ``bench/nmf.py``.
"""
from __future__ import annotations

import runpy
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from hover import CHROMIUM, CHROMIUM_ARGS, MOVES, hover_latencies, overlay_page, percentile  # noqa: E402

CONFIGS = [(56, 256, 16), (28, 512, 32)]
TARGET_P95_MS = 8.0


def hover_table() -> None:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="xw-scale-"))
    print("| layer | images | multiply-adds per hover | hover median (ms) | hover p95 (ms) | target p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1900, "height": 1200})
        for hw, channels, n in CONFIGS:
            path, _ = overlay_page(tmp, hw, channels, n)
            lat = hover_latencies(page, path, MOVES)
            print(f"| {hw}x{hw}x{channels} | {n} | {n * hw * hw * channels / 1e6:.1f} M | "
                  f"{statistics.median(lat):.2f} | {percentile(lat, 95):.2f} | <= {TARGET_P95_MS:.0f} |")
        browser.close()


def main() -> None:
    print("## 1. Hover at scale (Chromium, WebAssembly SIMD dot products)\n")
    hover_table()
    for title, script in (("2. Payload reduction by projection (demo model)", "projection.py"),
                          ("3. NMF on the device vs scikit-learn", "nmf.py")):
        print(f"\n## {title}\n")
        sys.argv = [script]
        runpy.run_path(str(HERE / script), run_name="__main__")


if __name__ == "__main__":
    main()
