// Image panels shared by the widgets: sizing, the scaled base image, the per-cell similarity overlay.
import { elem } from "./dom.js";

export const OUTLINE = "#ffff00"; // the query cell's outline (widgets reuse it for other query marks)

export const clampInt = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);

/** Display size (CSS px) of an image W0 x H0 whose long side is `size` (rounded half up, >= 1). */
export function displaySize(W0, H0, size) {
  if (W0 >= H0) return [size, Math.max(1, Math.floor((size * H0) / W0 + 0.5))];
  return [Math.max(1, Math.floor((size * W0) / H0 + 0.5)), size];
}

/** Backing-store size (device px) of a W x H CSS-px canvas. */
function backingSize(W, H) {
  const dpr = window.devicePixelRatio || 1;
  return [Math.max(1, Math.round(W * dpr)), Math.max(1, Math.round(H * dpr))];
}

/** Canvas of image pixels ({bytes, W0, H0, ch}: 1, 3 or 4 channels) scaled (smoothed) once to the backing size of W x H. */
export function scaledImage({ bytes, W0, H0, ch = 3 }, W, H) {
  const src = elem("canvas");
  src.width = W0;
  src.height = H0;
  const sctx = src.getContext("2d");
  const img = sctx.createImageData(W0, H0);
  const d = img.data;
  for (let i = 0, p = 0, o = 0; i < W0 * H0; i++, p += ch, o += 4) {
    d[o] = bytes[p];
    d[o + 1] = ch >= 3 ? bytes[p + 1] : bytes[p];
    d[o + 2] = ch >= 3 ? bytes[p + 2] : bytes[p];
    d[o + 3] = 255;
  }
  sctx.putImageData(img, 0, 0);
  const base = elem("canvas");
  [base.width, base.height] = backingSize(W, H);
  const bctx = base.getContext("2d");
  bctx.imageSmoothingEnabled = true;
  bctx.imageSmoothingQuality = "high";
  bctx.drawImage(src, 0, 0, W0, H0, 0, 0, base.width, base.height);
  return base;
}

/**
 * A panel: canvas.xw-panel (data-* from `data`) of W x H CSS px over a w x h cell grid,
 * with a w x h canvas holding one overlay texel per cell (`px`: its pixels as uint32).
 */
export function makePanel(W, H, w, h, data) {
  const canvas = elem("canvas", "xw-panel");
  Object.assign(canvas.dataset, data);
  [canvas.width, canvas.height] = backingSize(W, H);
  canvas.style.width = `${W}px`;
  canvas.style.height = `${H}px`;
  const small = elem("canvas");
  small.width = w;
  small.height = h;
  const sctx = small.getContext("2d");
  const img = sctx.createImageData(w, h);
  return { canvas, ctx: canvas.getContext("2d"), W, H, w, h, small, sctx, img, px: new Uint32Array(img.data.buffer) };
}

/** Reset the panel's transform and alpha and draw its base image. */
export function drawBase(P, base) {
  P.ctx.setTransform(1, 0, 0, 1, 0, 0);
  P.ctx.globalAlpha = 1;
  P.ctx.drawImage(base, 0, 0);
}

/** Shade every cell by `sims` through `lut` over [lo, hi] at opacity `alpha` (NaN: transparent). */
export function drawOverlay(P, sims, lut, lo, hi, alpha) {
  const { ctx, px } = P;
  const table = lut.rgba32;
  const span = hi > lo ? hi - lo : 1; // degenerate range: as colormaps.apply in Python
  for (let i = 0; i < sims.length; i++) {
    let t = (sims[i] - lo) / span;
    if (t < 0) t = 0;
    else if (t > 1) t = 1;
    px[i] = t === t ? table[Math.floor(t * 255 + 0.5)] : 0;
  }
  P.sctx.putImageData(P.img, 0, 0);
  // one texel per cell, nearest neighbour
  ctx.imageSmoothingEnabled = false;
  ctx.globalAlpha = alpha;
  ctx.drawImage(P.small, 0, 0, P.w, P.h, 0, 0, P.canvas.width, P.canvas.height);
  ctx.globalAlpha = 1;
}

/** Outline cell (r, c) of the panel's grid. */
export function outlineCell(P, r, c) {
  const { ctx } = P;
  ctx.setTransform(P.canvas.width / P.W, 0, 0, P.canvas.height / P.H, 0, 0);
  const x0 = (c * P.W) / P.w;
  const x1 = ((c + 1) * P.W) / P.w;
  const y0 = (r * P.H) / P.h;
  const y1 = ((r + 1) * P.H) / P.h;
  ctx.lineWidth = 2;
  ctx.strokeStyle = OUTLINE;
  ctx.strokeRect(x0 + 1, y0 + 1, Math.max(0, x1 - x0 - 2), Math.max(0, y1 - y0 - 2));
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}
