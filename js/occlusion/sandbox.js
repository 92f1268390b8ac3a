// The paint sandbox: a mask painted in the browser with a round brush (Shift erases), sent to
// the kernel once per stroke, on release; the kernel answers with the perturbed image (`_sandbox`).
import { bytesOf } from "../lib/tensor.js";
import { NEEDS_KERNEL, kernelOnly } from "../lib/kernel.js";
import { num, pct, setTrait } from "./state.js";
import { blit, showRGB, pixelAt } from "./pixels.js";
import { drawTop, drawReadout } from "./draw.js";

const PAINT = [255, 0, 255]; // the sandbox's painted region
const PAINT_ALPHA = 0.5;

/** app.mask (H*W bytes, 1 = painted) from the `sandbox_mask` trait. */
export function loadMask(app) {
  const { D } = app;
  if (!D) return;
  app.mask = new Uint8Array(D.W * D.H);
  const raw = app.model.get("sandbox_mask");
  if (raw && (raw.byteLength || raw.length)) {
    const bytes = bytesOf(raw);
    if (bytes.length === app.mask.length) app.mask.set(bytes);
  }
}

/** The paint panel: the image with the mask over it, and the brush outline at the cursor. */
export function drawPaint(app) {
  const { D, paintPanel, mask, cursor } = app;
  if (!D || !paintPanel) return;
  const d = paintPanel.img.data;
  const { image } = D;
  for (let i = 0, o = 0, p = 0; i < D.W * D.H; i++, o += 4, p += 3) {
    const a = mask[i] ? PAINT_ALPHA : 0;
    d[o] = Math.round(image[p] * (1 - a) + PAINT[0] * a);
    d[o + 1] = Math.round(image[p + 1] * (1 - a) + PAINT[1] * a);
    d[o + 2] = Math.round(image[p + 2] * (1 - a) + PAINT[2] * a);
    d[o + 3] = 255;
  }
  blit(paintPanel);
  if (cursor) {
    const ctx = paintPanel.ctx;
    const s = paintPanel.canvas.width / D.W;
    ctx.strokeStyle = app.painting && app.painting.erase ? "#00e5ff" : "#ffff00";
    ctx.lineWidth = Math.max(1, window.devicePixelRatio || 1);
    ctx.beginPath();
    ctx.arc((cursor[0] + 0.5) * s, (cursor[1] + 0.5) * s, num(app, "brush", 6) * s, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

/** The kernel's perturbed image and its top-5. */
export function drawSandbox(app) {
  const S = app.model.get("_sandbox") || {};
  const { D, pertPanel, ui } = app;
  if (!D || !pertPanel) return;
  if (S.image) showRGB(pertPanel, bytesOf(S.image));
  ui.pertCaption.textContent = S.painted ? `perturbed (${S.kind}, ${pct(S.painted)} of the image)` : "perturbed (paint first)";
  drawTop(app, ui.sbTopList, S, "perturbed");
  drawReadout(app);
}

/** One brush disc at pixel (x, y): painted, or cleared when `erase`. */
function stamp(app, x, y, erase) {
  const { D, mask } = app;
  const r = num(app, "brush", 6);
  const r2 = r * r;
  const v = erase ? 0 : 1;
  for (let dy = -Math.floor(r); dy <= r; dy++) {
    const yy = y + dy;
    if (yy < 0 || yy >= D.H) continue;
    for (let dx = -Math.floor(r); dx <= r; dx++) {
      const xx = x + dx;
      if (xx >= 0 && xx < D.W && dx * dx + dy * dy <= r2) mask[yy * D.W + xx] = v;
    }
  }
}

/** Discs from the stroke's last point to (x, y), half a radius apart, so a fast stroke leaves no gaps. */
function strokeTo(app, x, y) {
  const { painting } = app;
  const [x0, y0] = painting.last;
  const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / Math.max(1, num(app, "brush", 6) / 2)));
  for (let s = 1; s <= steps; s++) stamp(app, Math.round(x0 + ((x - x0) * s) / steps), Math.round(y0 + ((y - y0) * s) / steps), painting.erase);
  painting.last = [x, y];
}

function sendMask(app) {
  setTrait(app, "sandbox_mask", new DataView(app.mask.slice().buffer));
  if (kernelOnly(app.model, "The prediction for a new painting")) app.ui.pertCaption.textContent = `perturbed: the prediction for this painting ${NEEDS_KERNEL}`;
}

export function clearMask(app) {
  if (!app.mask) return;
  app.mask.fill(0);
  drawPaint(app);
  sendMask(app);
}

/** Painting with the pointer, and the clear button. */
export function listenSandbox(app) {
  const { listen, ui } = app;
  const draw = () => drawPaint(app);
  listen(ui.paintBox, "pointerdown", (ev) => {
    if (!app.D || ev.target !== app.paintPanel.canvas || ev.button !== 0) return;
    app.paintPanel.canvas.setPointerCapture(ev.pointerId);
    const [x, y] = pixelAt(app.D, ev, app.paintPanel.canvas);
    app.painting = { erase: ev.shiftKey, last: [x, y] };
    app.cursor = [x, y];
    stamp(app, x, y, app.painting.erase);
    drawPaint(app);
    ev.preventDefault();
  });
  listen(ui.paintBox, "pointermove", (ev) => {
    if (!app.D || ev.target !== app.paintPanel.canvas) return;
    const [x, y] = pixelAt(app.D, ev, app.paintPanel.canvas);
    app.cursor = [x, y];
    if (app.painting) strokeTo(app, x, y);
    app.paintQueue.queue(draw); // painting stays in the browser: nothing is sent while moving
  });
  const release = () => {
    if (!app.painting) return;
    app.painting = null;
    drawPaint(app);
    sendMask(app); // one message per stroke, on release
  };
  listen(ui.paintBox, "pointerup", release);
  listen(ui.paintBox, "pointercancel", release);
  listen(ui.paintBox, "pointerleave", () => {
    if (app.painting) return;
    app.cursor = null;
    app.paintQueue.queue(draw);
  });
  listen(ui.clearButton, "click", () => clearMask(app));
}
