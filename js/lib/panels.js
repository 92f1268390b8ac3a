// Image panels shared by the widgets: sizing, the scaled base image, the per-cell similarity overlay.
import { elem } from "./dom.js";

export const OUTLINE = "#ffff00"; // the query cell's outline (widgets reuse it for other query marks)
export const WORST = "#ff00ff"; // cells a reduction serves worst: apart from the query mark and every colormap's ends
const RIM = "rgba(0, 0, 0, 0.85)"; // the dark rim of the small-cell query mark
const MARK_MIN = 6; // CSS px: cells smaller than this get a ring around them instead of an outline inside

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

/**
 * Mark cell (r, c) of the panel's grid as the query: a 2 px outline just inside the cell, or,
 * when the cell is under MARK_MIN CSS px on screen (a 128 x 128 grid in a 150 px panel), a
 * ring centred on the cell, clear of it by 2 px, with a dark rim so it shows on any colour.
 */
export function outlineCell(P, r, c, colour = OUTLINE) {
  const { ctx } = P;
  ctx.setTransform(P.canvas.width / P.W, 0, 0, P.canvas.height / P.H, 0, 0);
  const x0 = (c * P.W) / P.w;
  const x1 = ((c + 1) * P.W) / P.w;
  const y0 = (r * P.H) / P.h;
  const y1 = ((r + 1) * P.H) / P.h;
  ctx.strokeStyle = colour;
  if (Math.min(x1 - x0, y1 - y0) >= MARK_MIN) {
    ctx.lineWidth = 2;
    ctx.strokeRect(x0 + 1, y0 + 1, x1 - x0 - 2, y1 - y0 - 2);
  } else {
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    const inner = Math.max(x1 - x0, y1 - y0) / 2 + 2; // half side of the ring's hole
    ctx.lineWidth = 2;
    ctx.strokeRect(cx - inner - 1, cy - inner - 1, 2 * inner + 2, 2 * inner + 2);
    ctx.lineWidth = 1;
    ctx.strokeStyle = RIM;
    ctx.strokeRect(cx - inner - 2.5, cy - inner - 2.5, 2 * inner + 5, 2 * inner + 5);
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
}

/**
 * The range a colour map is drawn over: [lo, hi], except the diverging map, whose neutral
 * centre must mean 0 (orthogonal vectors): it is drawn over [-m, m], m = max(|lo|, |hi|)
 * (1 when both are 0). Python's `xai_widgets.similarity.colour_range` is the same rule.
 */
export function colourRange(colormap, lo, hi) {
  if (colormap !== "diverging") return [lo, hi];
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  return m > 0 ? [-m, m] : [-1, 1];
}

/** Bytes as "12.3 KiB" / "4.5 MiB". */
export function fmtBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** Lines `text` takes at `width` px, wrapped at spaces as the browser does (a word wider than a line breaks anywhere). */
function linesNeeded(text, width, measure) {
  const space = measure(" ");
  let lines = 1;
  let line = 0;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    let w = measure(word);
    const need = line ? line + space + w : w;
    if (need <= width) {
      line = need;
      continue;
    }
    if (line) lines++;
    for (; w > width; w -= width) lines++;
    line = w;
  }
  return lines;
}

/**
 * `text` as it fits in `maxLines` lines of `width` px in `font` (a CSS font shorthand): itself,
 * or its longest prefix that fits with "…" after it. Give the element the full text as `title`.
 */
export function fitLines(text, width, font, maxLines = 2) {
  const ctx = measureContext();
  ctx.font = font;
  const measure = (s) => ctx.measureText(s).width;
  const room = Math.max(1, width - 2); // a little slack for the browser's own rounding
  if (linesNeeded(text, room, measure) <= maxLines) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (linesNeeded(`${text.slice(0, mid).trimEnd()}…`, room, measure) <= maxLines) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo).trimEnd()}…`;
}

let measurer = null;
function measureContext() {
  if (!measurer) measurer = elem("canvas").getContext("2d");
  return measurer;
}

/** The CSS font shorthand of element `el` at `weight` (for fitLines). */
export function fontOf(el, weight) {
  const cs = el && el.isConnected ? getComputedStyle(el) : null;
  if (!cs || !cs.fontFamily) return `${weight || 400} 13px sans-serif`;
  return `${weight || cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
}
