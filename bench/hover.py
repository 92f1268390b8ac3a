"""Hover speed, payload and first-frame time of SimilarityOverlay, against two baselines, in one run.

    .venv/bin/python bench/hover.py [--quick]

Rows: 1, 8 and 16 images at layer sizes 28x28x512 and 56x56x256 (a 1x1 convolution of the
right width stands in for the layer, so only the sizes matter).

* hover: pointer event to painted canvas, measured in headless Chromium on the widget's own
  page (the ``xw-paint`` event the widget fires after each repaint), 150 moves per row;
* payload: bytes the widget ships (float16 activations + uint8 display pixels);
* baseline (a), the reference package's design: every similarity map precomputed in Python
  and shipped as grey PNG sprite sheets, one per ordered image pair; payload and precompute
  time (measured on one pair with vectorised numpy, multiplied by the number of pairs);
* baseline (b), a kernel round trip per hover: browser -> kernel message, map computed in
  torch, bytes back, drawn; measured in JupyterLab (see ``--lab``);
* first frame: Python call to first painted frame in JupyterLab, against the bare model
  forward plus the transfer of the same bytes (a do-nothing widget shipping the payload);
  medians of 3 repeats, the ratio being the median of the per-repeat ratios.
"""
from __future__ import annotations

import argparse
import inspect
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
from lab import CHROMIUM, CHROMIUM_ARGS, PAINTED, JupyterLab  # noqa: E402

import xai_widgets as xw  # noqa: E402
from xai_widgets import wire  # noqa: E402

SIZES = {"28x28x512": (28, 512), "56x56x256": (56, 256)}
COUNTS = (1, 8, 16)
MOVES = 150
REPEATS = 3  # first-frame timings are single events: take the median of a few


def layer_model(channels: int) -> nn.Module:
    """A stand-in whose layer 'act' outputs N x channels x H x W for an H x W input."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, channels, 1), nn.ReLU())


def inputs(n: int, hw: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(n)
    return [torch.rand(3, hw, hw, generator=g) for _ in range(n)]


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def hover_latencies(page, path: Path, moves: int) -> list[float]:
    """Move the pointer over cells of the first panel and collect paint latencies."""
    page.goto(path.as_uri())
    page.wait_for_selector(PAINTED, timeout=60_000)
    page.evaluate("""() => { window.__lat = [];
        document.querySelector('[data-xw-painted]').addEventListener('xw-paint', e => window.__lat.push(e.detail.latency)); }""")
    box = page.locator("canvas.xw-panel").first.bounding_box()
    rng = np.random.default_rng(0)
    for _ in range(moves):
        fx, fy = rng.uniform(0.05, 0.95, 2)
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_timeout(20)
    page.wait_for_timeout(200)
    return page.evaluate("() => window.__lat")


def sprite_baseline(acts: np.ndarray) -> tuple[int, float]:
    """Bytes and seconds of the precomputed-sprite design, from one image pair, times N^2 pairs."""
    n, h, w, c = acts.shape
    a = acts[0].reshape(h * w, c)
    b = acts[min(1, n - 1)].reshape(h * w, c)
    t0 = time.perf_counter()
    sims = (a @ b.T).clip(0, 1)  # every query cell of image a against every cell of image b
    sheet = sims.reshape(h, w, h, w).transpose(0, 2, 1, 3).reshape(h * h, w * w)
    buf = io.BytesIO()
    Image.fromarray((sheet * 255).astype(np.uint8)).save(buf, format="PNG")
    seconds = time.perf_counter() - t0
    pairs = n * n
    return len(buf.getvalue()) * pairs * 4 // 3, seconds * pairs  # base64 in the notebook: +33 %


def overlay_page(tmp: Path, hw: int, channels: int, n: int) -> tuple[Path, xw.SimilarityOverlay]:
    """An exported SimilarityOverlay of n images whose one layer is hw x hw x channels."""
    w = xw.SimilarityOverlay(layer_model(channels), inputs(n, hw), "1", size=160, max_bytes=1 << 30)
    return w.to_html(tmp / f"{hw}x{hw}x{channels}-{n}.html"), w


def browser_rows(quick: bool) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="xw-bench-"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1900, "height": 1200})
        for label, (hw, channels) in SIZES.items():
            for n in COUNTS:
                path, w = overlay_page(tmp, hw, channels, n)
                payload = sum(wire.payload_bytes(a) for lay in w._data["layers"] for a in lay["acts"])
                pixels = sum(wire.payload_bytes(im["pixels"]) for im in w._data["images"])
                lat = hover_latencies(page, path, 40 if quick else MOVES)
                acts = np.stack([wire.decode(a) for a in w._data["layers"][0]["acts"]])
                sprite_bytes, sprite_s = sprite_baseline(acts)
                rows.append({"layer": label, "images": n, "hover_median_ms": statistics.median(lat),
                             "hover_p95_ms": percentile(lat, 95), "paints": len(lat),
                             "payload_bytes": payload + pixels,
                             "bytes_per_activation": payload / acts.size,
                             "sprite_bytes": sprite_bytes, "sprite_precompute_s": sprite_s})
        browser.close()
    return rows


ROUND_TRIP_ESM = """
export default { render({ model, el }) {
  const c = document.createElement('canvas'); c.className = 'rt-panel'; c.width = 160; c.height = 160;
  el.appendChild(c); const ctx = c.getContext('2d'); let t0 = 0;
  const move = (ev) => { t0 = performance.now(); const r = c.getBoundingClientRect();
    model.send({ x: (ev.clientX - r.left) / r.width, y: (ev.clientY - r.top) / r.height }); };
  c.addEventListener('pointermove', move);
  model.on('msg:custom', (msg, buffers) => {
    const v = new Uint8Array(buffers[0].buffer, buffers[0].byteOffset, buffers[0].byteLength);
    const img = ctx.createImageData(msg.w, msg.h);
    for (let i = 0; i < v.length; i++) { img.data[4*i] = img.data[4*i+1] = img.data[4*i+2] = v[i]; img.data[4*i+3] = 255; }
    ctx.putImageData(img, 0, 0);
    requestAnimationFrame(() => el.dispatchEvent(new CustomEvent('rt-paint', { detail: performance.now() - t0 })));
  });
  return () => c.removeEventListener('pointermove', move);
} };
"""

TRANSFER_ESM = """
export default { render({ model, el }) {
  const mark = () => { el.dataset.received = String(performance.timeOrigin + performance.now()); };
  if (model.get('blob')) requestAnimationFrame(mark);
} };
"""

LAB_SETUP = f"""
import time, json, torch, anywidget, traitlets
from torch import nn
import xai_widgets as xw

{inspect.getsource(layer_model)}
class RoundTrip(anywidget.AnyWidget):
    _esm = {ROUND_TRIP_ESM!r}
    def __init__(self, acts):
        super().__init__()
        self.acts = acts  # N x H x W x C unit vectors, on the model's device
        self.on_msg(self._answer)
    def _answer(self, _w, msg, _b):
        n, h, w, c = self.acts.shape
        q = self.acts[0, min(h - 1, int(msg['y'] * h)), min(w - 1, int(msg['x'] * w))]
        sims = (self.acts @ q).clamp(0, 1).mul(255).byte()
        self.send({{'h': h, 'w': w * n}}, buffers=[sims.permute(1, 0, 2).reshape(h, n * w).contiguous().numpy().tobytes()])

class Transfer(anywidget.AnyWidget):
    _esm = {TRANSFER_ESM!r}
    blob = traitlets.Bytes().tag(sync=True)
"""


def lab_cells(hw: int, channels: int, n: int) -> list[str]:
    """Per repeat: bare forward + transfer of the same bytes, then the widget; last, a
    round-trip widget on the same activations."""
    cells = [LAB_SETUP, "stamps = []"]
    nbytes = n * (hw * hw * channels * 2 + 3 * 160 * 160)
    for _ in range(REPEATS):
        cells += [
            f"m = layer_model({channels}); xs = [torch.rand(3, {hw}, {hw}) for _ in range({n})]\n"
            f"t = time.perf_counter(); _ = m(torch.stack(xs)); fwd = time.perf_counter() - t\n"
            f"stamps.append({{'fwd': fwd, 't_transfer': time.time()}})\n"
            f"Transfer(blob=bytes({nbytes}))",
            f"stamps[-1]['t_widget'] = time.time()\n"
            f"w = xw.SimilarityOverlay(m, xs, '1', size=160, max_bytes=1 << 30)\nw",
        ]
    cells.append("RoundTrip(torch.stack([torch.from_numpy(xw.wire.decode(a)) for a in w._data['layers'][0]['acts']]))")
    return cells


def lab_rows(quick: bool) -> list[dict]:
    """First-frame time, kernel messages per hover and the kernel round-trip baseline, in
    JupyterLab; each size in a fresh notebook and kernel, as a user would meet it."""
    from playwright.sync_api import sync_playwright

    configs = [(label, hw, ch, n) for label, (hw, ch) in SIZES.items() for n in ((1, 8) if quick else COUNTS)]
    lab = JupyterLab(windowing="contentVisibility")  # JupyterLab's default, as users have it
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1900, "height": 1200})
            sent = []
            page.on("websocket", lambda ws: ws.on("framesent", lambda _f: sent.append(1)))
            for k, config in enumerate(configs):
                lab.open_notebook(page, f"bench{k}.ipynb", lab_cells(*config[1:]), timeout=600)
                rows.append(lab_row(lab, page, sent, *config))
                lab.shutdown_kernels()
            browser.close()
    finally:
        lab.close()
    return rows


def lab_row(lab, page, sent, label, hw, channels, n) -> dict:
    page.wait_for_function(f"() => document.querySelectorAll('[data-xw-painted]').length >= {REPEATS}",
                           timeout=120_000)
    stamps = json.loads(lab.run("print(json.dumps(stamps))"))
    received = page.evaluate("() => [...document.querySelectorAll('[data-received]')].map(e => +e.dataset.received)")
    painted = page.evaluate("() => [...document.querySelectorAll('[data-xw-painted]')].map(e => +e.dataset.xwPainted)")
    transfer = [r / 1000 - st["t_transfer"] for r, st in zip(received, stamps)]
    first = [p / 1000 - st["t_widget"] for p, st in zip(painted, stamps)]
    fwd = [st["fwd"] for st in stamps]
    ratio = [f / (w + t) for f, w, t in zip(first, fwd, transfer)]
    panel = page.locator("[data-xw-painted] canvas.xw-panel").first
    rtl = round_trip_latencies(page, page.locator("canvas.rt-panel").first)
    return {"layer": label, "images": n, "forward_s": statistics.median(fwd),
            "transfer_s": statistics.median(transfer), "first_frame_s": statistics.median(first),
            "first_frame_ratio": statistics.median(ratio),
            "kernel_msgs_per_hover": kernel_messages_while_hovering(page, panel, sent),
            "roundtrip_median_ms": statistics.median(rtl), "roundtrip_p95_ms": percentile(rtl, 95)}


def kernel_messages_while_hovering(page, canvas, sent) -> float:
    """Websocket frames the page sends per pointer move over a live widget (should be 0)."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.wait_for_timeout(300)
    before = len(sent)
    for i in range(30):
        page.mouse.move(box["x"] + (i % 10 + 0.5) / 10 * box["width"], box["y"] + (i // 10 + 0.5) / 3 * box["height"])
        page.wait_for_timeout(15)
    page.wait_for_timeout(300)
    return (len(sent) - before) / 30


def round_trip_latencies(page, canvas) -> list[float]:
    """Pointer move -> kernel computes the map -> bytes back -> painted, per hover (baseline b)."""
    canvas.scroll_into_view_if_needed()
    page.evaluate("(c) => { window.__rt = []; c.parentElement.addEventListener('rt-paint', e => window.__rt.push(e.detail)); }",
                  canvas.element_handle())
    page.wait_for_timeout(300)
    box = canvas.bounding_box()
    for i in range(40):
        page.mouse.move(box["x"] + (i % 8 + 0.5) / 8 * box["width"], box["y"] + (i // 8 + 0.5) / 5 * box["height"])
        page.wait_for_timeout(60)
    page.wait_for_timeout(500)
    latencies = page.evaluate("() => window.__rt")
    if not latencies:
        raise RuntimeError("the round-trip baseline painted nothing: was the pointer over its canvas?")
    return latencies


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer moves and rows, for a smoke run")
    ap.add_argument("--json", type=Path, help="also write the raw rows here")
    args = ap.parse_args()
    hover = browser_rows(args.quick)
    lab = lab_rows(args.quick)
    print("\n| layer | images | hover median / p95 (ms) | kernel round trip median / p95 (ms) | ratio p95 | "
          "kernel msgs per hover | payload | bytes / activation | PNG-sprite payload | sprite precompute (s) | "
          "first frame (s) | forward + transfer (s) | ratio |")
    print("|" + " --- |" * 13)
    by_key = {(r["layer"], r["images"]): r for r in lab}
    for h in hover:
        r = by_key.get((h["layer"], h["images"]), {})
        rt95 = r.get("roundtrip_p95_ms", float("nan"))
        print(f"| {h['layer']} | {h['images']} | {h['hover_median_ms']:.2f} / {h['hover_p95_ms']:.2f} | "
              f"{r.get('roundtrip_median_ms', float('nan')):.1f} / {rt95:.1f} | {rt95 / h['hover_p95_ms']:.0f}x | "
              f"{r.get('kernel_msgs_per_hover', float('nan')):.0f} | {fmt_bytes(h['payload_bytes'])} | "
              f"{h['bytes_per_activation']:.2f} | {fmt_bytes(h['sprite_bytes'])} | {h['sprite_precompute_s']:.2f} | "
              f"{r.get('first_frame_s', float('nan')):.2f} | "
              f"{r.get('forward_s', float('nan')) + r.get('transfer_s', float('nan')):.2f} | "
              f"{r.get('first_frame_ratio', float('nan')):.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"hover": hover, "lab": lab}, indent=1))


if __name__ == "__main__":
    main()
