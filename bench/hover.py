"""Hover speed, browser memory and first-frame time of SimilarityOverlay, against baselines, in one run.

    .venv/bin/python bench/hover.py [--quick] [--hover-only]

Rows: 8 images x 28x28x512, 16 x 56x56x256 and 32 x 28x28x512 (a 1x1 convolution of the right
width stands in for the layer, so only the sizes matter). In one headless Chromium, per row,
three pages take turns, ROUNDS rounds of MOVES pointer moves each:

* the widget's own page (``to_html`` export);
* a naive page: the same float16 vectors decoded to float32 at load, and on each pointer move
  a plain JS cosine loop (dot product and both norms) over every cell of every image, drawn
  as grey canvases;
* an empty page: a canvas whose pointer handler does nothing.

Two latencies per hover: **work**, pointer event to the end of the page's computing and
drawing; **frame**, pointer event to the end of the next animation frame after that work
(``requestAnimationFrame`` then a task: the frame is produced; the widget, which works at the
``pointerrawupdate``, asks for it once that input's ``pointermove`` is dispatched, as the other
pages do). The empty page's frame
latency is the floor any page pays. Also: the bytes the widget's hover works on against the
float16 payload (browser memory for the activations), and the PNG-sprite baseline (every map
precomputed in Python, one PNG sheet per image pair).

The widget's page uses the threads this machine gives it: a Web Worker takes half of every
vector's channels where the browser reports four cores or more, else the main thread does all.
The kernel alone on one thread and on two (Node, bench/kernel_threads.mjs), on float16 vectors
and on 8-bit codes, shows what the second thread gains where a core is free. The widget hovers on
codes from 8 MiB of vectors (``hover_precision="auto"``), so the two 25 MB rows use them.

Then, in JupyterLab (skipped with ``--hover-only``): first frame (Python call to first painted
frame) against the bare forward plus the transfer of the same bytes; the widget's construction
(built in this process, no front end attached) against the same; kernel messages per hover
(should be 0) and a kernel round trip per hover (browser -> kernel -> bytes back -> drawn).
"""
from __future__ import annotations

import argparse
import base64
import inspect
import io
import json
import os
import statistics
import subprocess
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

SIZES = [(8, 28, 512), (16, 56, 256), (32, 28, 512)]  # images, grid side, channels
ROUNDS = 3
MOVES = 60  # per page per round
REPEATS = 5  # first-frame timings are single events, which move by 10-30 % here: take the median of five
PANEL = 160


def label(n: int, hw: int, channels: int) -> str:
    return f"{n} x {hw}x{hw}x{channels}"


def layer_model(channels: int) -> nn.Module:
    """A stand-in whose layer '1' outputs N x channels x H x W for an H x W input."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, channels, 1), nn.ReLU())


def inputs(n: int, hw: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(n)
    return [torch.rand(3, hw, hw, generator=g) for _ in range(n)]


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


# Each page records, per hover, {work, frame} in window.__lat (ms since the pointer event).
FRAME_JS = """
window.__lat = [];
window.__frame = (evT, work) => requestAnimationFrame(() => setTimeout(() =>
  window.__lat.push({ work, frame: performance.now() - evT })));
"""

# The widget works at the pointerrawupdate, before the pointermove that starts the frame; a
# frame requested that early would itself push the paint to the next vsync tick. So the frame
# of a paint is requested once the pointermove of its input is dispatched (capture phase, so
# before the widget's own handler), as the naive and empty pages do from their pointermove.
WIDGET_LISTENER = """() => { %s
  let lastMove = -1;
  const waiting = [];
  const flush = () => { while (waiting.length && waiting[0].evT <= lastMove + 1) {
    const { evT, work } = waiting.shift(); window.__frame(evT, work); } };
  document.addEventListener('pointermove', (ev) => { lastMove = ev.timeStamp; flush(); }, true);
  document.querySelector('[data-xw-painted]').addEventListener('xw-paint', (e) => {
    waiting.push({ evT: performance.now() - e.detail.latency, work: e.detail.latency });
    flush();
  }); }""" % FRAME_JS

NAIVE_PAGE = """<!doctype html><meta charset="utf-8"><body style="margin:8px">
<script>
%(frame)s
const N = %(n)d, h = %(h)d, w = %(w)d, C = %(c)d, S = %(panel)d;
const raw = Uint8Array.from(atob("%(b64)s"), (ch) => ch.charCodeAt(0));
const halves = new Uint16Array(raw.buffer);
const v = new Float32Array(halves.length);  // float32, decoded once at load
for (let i = 0; i < halves.length; i++) {
  const x = halves[i], e = (x >> 10) & 31, m = x & 1023;
  const a = e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
  v[i] = x & 0x8000 ? -a : a;
}
const canvases = [];
for (let n = 0; n < N; n++) {
  const c = document.createElement("canvas"); c.width = w; c.height = h;
  c.style.cssText = `width:${S}px;height:${S}px;image-rendering:pixelated;margin:2px`;
  document.body.appendChild(c); canvases.push(c);
}
const img = new ImageData(w, h);
canvases[0].addEventListener("pointermove", (ev) => {
  const r = canvases[0].getBoundingClientRect();
  const row = Math.min(h - 1, Math.floor((ev.clientY - r.top) / r.height * h));
  const col = Math.min(w - 1, Math.floor((ev.clientX - r.left) / r.width * w));
  const qb = (row * w + col) * C;
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < h * w; i++) {
      const b = (n * h * w + i) * C;
      let dot = 0, qq = 0, vv = 0;
      for (let k = 0; k < C; k++) { const a = v[qb + k], x = v[b + k]; dot += a * x; qq += a * a; vv += x * x; }
      const sim = dot / Math.sqrt(qq * vv) || 0;
      const g = Math.max(0, Math.min(255, Math.round(sim * 255)));
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g; img.data[4 * i + 3] = 255;
    }
    canvases[n].getContext("2d").putImageData(img, 0, 0);
  }
  const work = performance.now() - ev.timeStamp;
  window.__frame(ev.timeStamp, work);
});
</script>"""

EMPTY_PAGE = """<!doctype html><meta charset="utf-8"><body style="margin:8px">
<canvas width="%(panel)d" height="%(panel)d" style="background:#ddd"></canvas>
<script>%(frame)s
document.querySelector("canvas").addEventListener("pointermove", (ev) => window.__frame(ev.timeStamp, 0));
</script>"""


def hover_round(page, selector: str, moves: int, seed: int) -> list[dict]:
    """Move the pointer over the first panel `moves` times; the latencies the page recorded.

    The gaps between moves are drawn from 20-60 ms: a fixed gap locks to the 60 Hz frame clock
    and measures one phase of it (at 50 ms every page waits about 14 ms for the next frame, at
    30 ms an idle page never does), while random gaps sample every phase. Every page gets the
    same gaps (the same seed)."""
    page.evaluate("() => { window.__lat.length = 0; }")
    box = page.locator(selector).first.bounding_box()
    rng = np.random.default_rng(seed)
    for _ in range(moves):
        fx, fy = rng.uniform(0.05, 0.95, 2)
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_timeout(int(rng.integers(20, 61)))
    page.wait_for_timeout(300)
    return page.evaluate("() => window.__lat.slice()")


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


def pages_for(tmp: Path, n: int, hw: int, channels: int) -> tuple[dict, dict]:
    """The three pages of one row, and the row's payload facts."""
    w = xw.SimilarityOverlay(layer_model(channels), inputs(n, hw), "1", size=PANEL, max_bytes=1 << 31)
    acts = w._data["layers"][0]["acts"] + w._data["layers"][0].get("scales", [])
    decoded = np.stack(w._decoded("1"))  # the vectors shipped (8-bit codes times their scales, or halves)
    halves = decoded.astype("<f2").tobytes()  # for the naive page, which decodes float16
    stem = f"{n}-{hw}-{channels}"
    paths = {"widget": w.to_html(tmp / f"{stem}-widget.html"),
             "naive": tmp / f"{stem}-naive.html", "empty": tmp / f"{stem}-empty.html"}
    paths["naive"].write_text(NAIVE_PAGE % {"frame": FRAME_JS, "n": n, "h": hw, "w": hw, "c": channels,
                                            "panel": PANEL, "b64": base64.b64encode(halves).decode()})
    paths["empty"].write_text(EMPTY_PAGE % {"frame": FRAME_JS, "panel": PANEL})
    facts = {"payload_bytes": sum(wire.payload_bytes(a) for a in acts), "acts": decoded,
             "precision": w.hover_precision}
    return paths, facts


def browser_rows(quick: bool) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="xw-bench-"))
    rounds, moves = (1, 30) if quick else (ROUNDS, MOVES)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n, hw, channels in SIZES:
            paths, facts = pages_for(tmp, n, hw, channels)
            tabs = {}
            for name, path in paths.items():
                page = browser.new_page(viewport={"width": 1900, "height": 1200})
                page.goto(path.as_uri())
                if name == "widget":
                    page.wait_for_selector(PAINTED, timeout=120_000)
                    page.evaluate(WIDGET_LISTENER)
                else:
                    page.wait_for_function("() => Array.isArray(window.__lat)", timeout=120_000)
                tabs[name] = page
            selectors = {"widget": "canvas.xw-panel", "naive": "canvas", "empty": "canvas"}
            lat = {name: [] for name in tabs}
            for r in range(rounds):
                for name, page in tabs.items():
                    page.bring_to_front()
                    lat[name] += hover_round(page, selectors[name], moves, seed=r)
            hover_bytes = int(tabs["widget"].get_attribute(".xw-similarity", "data-hover-bytes"))
            for page in tabs.values():
                page.close()
            sprite_bytes, sprite_s = sprite_baseline(facts["acts"])
            p95 = {name: {k: percentile([x[k] for x in v], 95) for k in ("work", "frame")} for name, v in lat.items()}
            rows.append({"layer": label(n, hw, channels), "images": n, "hovers": {k: len(v) for k, v in lat.items()},
                         "widget_work_median_ms": statistics.median(x["work"] for x in lat["widget"]),
                         "widget_work_p95_ms": p95["widget"]["work"], "naive_work_p95_ms": p95["naive"]["work"],
                         "widget_frame_p95_ms": p95["widget"]["frame"], "naive_frame_p95_ms": p95["naive"]["frame"],
                         "empty_frame_p95_ms": p95["empty"]["frame"],
                         "payload_bytes": facts["payload_bytes"], "hover_bytes": hover_bytes,
                         "precision": facts["precision"],
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
    nbytes = n * (hw * hw * channels * 2 + 3 * PANEL * PANEL)
    for _ in range(REPEATS):
        cells += [
            f"m = layer_model({channels}); xs = [torch.rand(3, {hw}, {hw}) for _ in range({n})]\n"
            f"t = time.perf_counter(); _ = m(torch.stack(xs)); fwd = time.perf_counter() - t\n"
            f"stamps.append({{'fwd': fwd, 't_transfer': time.time()}})\n"
            f"Transfer(blob=bytes({nbytes}))",
            f"stamps[-1]['t_widget'] = time.time()\n"
            f"w = xw.SimilarityOverlay(m, xs, '1', size={PANEL}, max_bytes=1 << 31)\nw",
        ]
    cells.append("RoundTrip(torch.stack([torch.from_numpy(xw.wire.decode(a)) for a in w._data['layers'][0]['acts']]))")
    return cells


def lab_rows(quick: bool) -> list[dict]:
    """First-frame time, kernel messages per hover and the kernel round-trip baseline, in
    JupyterLab; each size in a fresh notebook and kernel, as a user would meet it."""
    from playwright.sync_api import sync_playwright

    configs = [(label(n, hw, ch), hw, ch, n) for n, hw, ch in (SIZES[:1] if quick else SIZES)]
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
            "first_frame_ratio": statistics.median(ratio), "construction_s": construction_s(hw, channels, n),
            "kernel_msgs_per_hover": kernel_messages_while_hovering(page, panel, sent),
            "roundtrip_median_ms": statistics.median(rtl), "roundtrip_p95_ms": percentile(rtl, 95)}


def construction_s(hw: int, channels: int, n: int) -> float:
    """Median seconds to build the widget here, with no front end attached (so no transfer)."""
    m, xs = layer_model(channels), inputs(n, hw)
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        xw.SimilarityOverlay(m, xs, "1", size=PANEL, max_bytes=1 << 31)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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


def kernel_threads(rounds: int) -> dict:
    """The hover kernel on one thread and on two (bench/kernel_threads.mjs, in Node): the browser
    only uses the second where the machine has four cores or more."""
    script = Path(__file__).with_name("kernel_threads.mjs")
    done = subprocess.run(["node", str(script), str(rounds)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer moves and rows, for a smoke run")
    ap.add_argument("--hover-only", action="store_true", help="skip the JupyterLab part")
    ap.add_argument("--json", type=Path, help="also write the raw rows here")
    args = ap.parse_args()
    hover = browser_rows(args.quick)
    print("\n| layer | widget work median / p95 (ms) | naive work p95 (ms) | ratio | widget frame p95 (ms) | "
          "empty page frame p95 (ms) | frame excess (ms) | payload | hover works on | PNG-sprite payload |")
    print("|" + " --- |" * 10)
    for h in hover:
        print(f"| {h['layer']} | {h['widget_work_median_ms']:.2f} / {h['widget_work_p95_ms']:.2f} | "
              f"{h['naive_work_p95_ms']:.1f} | {h['widget_work_p95_ms'] / h['naive_work_p95_ms']:.3f} | "
              f"{h['widget_frame_p95_ms']:.1f} | {h['empty_frame_p95_ms']:.1f} | "
              f"{h['widget_frame_p95_ms'] - h['empty_frame_p95_ms']:+.1f} | {fmt_bytes(h['payload_bytes'])} | "
              f"{fmt_bytes(h['hover_bytes'])} ({h['hover_bytes'] / h['payload_bytes']:.3f}x, {h['precision']}) | "
              f"{fmt_bytes(h['sprite_bytes'])} |")
    kernel = kernel_threads(50 if args.quick else 300)
    print(f"\nkernel alone (Node, {os.cpu_count()} cores), 32 x 28x28x512, median / p95:")
    for key, what in (("half", "float16"), ("codes", "8-bit codes")):
        k = kernel[key]
        print(f"- {what}, {fmt_bytes(k['bytes'])}: one thread {k['one']['median']:.2f} / {k['one']['p95']:.2f} ms, "
              f"two threads {k['two']['median']:.2f} / {k['two']['p95']:.2f} ms "
              f"({k['one']['median'] / k['two']['median']:.2f}x)")
    lab = [] if args.hover_only else lab_rows(args.quick)
    if lab:
        print("\n| layer | first frame (s) | forward + transfer (s) | ratio | construction (s) | ratio | "
              "kernel msgs per hover | kernel round trip median / p95 (ms) |")
        print("|" + " --- |" * 8)
        for r in lab:
            base = r['forward_s'] + r['transfer_s']
            print(f"| {r['layer']} | {r['first_frame_s']:.2f} | {base:.2f} | {r['first_frame_ratio']:.2f} | "
                  f"{r['construction_s']:.2f} | {r['construction_s'] / base:.2f} | {r['kernel_msgs_per_hover']:.0f} | "
                  f"{r['roundtrip_median_ms']:.1f} / {r['roundtrip_p95_ms']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"hover": hover, "lab": lab}, indent=1))


if __name__ == "__main__":
    main()
