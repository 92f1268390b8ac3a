// Channel tiles on one canvas, DeepVis layout: ceil(sqrt(C)) tiles wide, 1 px padding,
// one canvas pixel per activation cell (the canvas is scaled up by CSS, pixelated), so
// drawing the grid is one putImageData and every cell's colour can be read back exactly.
// The geometry equals xai_widgets/units/grid.py `tile_layout` / `tile_image`.
import { elem } from "./dom.js";

export const PAD = 1;

/** Grid geometry of C tiles of H x W cells shown `target` CSS px wide (integer zoom when it fits). */
export function tileGeometry(C, H, W, target) {
  const cols = Math.max(1, Math.ceil(Math.sqrt(C)));
  const rows = Math.max(1, Math.ceil(C / cols));
  const gw = cols * (W + PAD) + PAD;
  const gh = rows * (H + PAD) + PAD;
  const scale = target / gw; // pixelated CSS scaling: cells stay crisp at any zoom
  return { C, H, W, cols, rows, gw, gh, scale, cssW: gw * scale, cssH: gh * scale };
}

/** Top-left canvas pixel of tile c. */
export function tileOrigin(G, c) {
  return [PAD + (c % G.cols) * (G.W + PAD), PAD + Math.floor(c / G.cols) * (G.H + PAD)];
}

/** The tile (and cell in it) under canvas-pixel (x, y), or null outside every tile's box. */
export function tileAt(G, x, y) {
  const tc = Math.floor((x - PAD) / (G.W + PAD));
  const tr = Math.floor((y - PAD) / (G.H + PAD));
  if (tc < 0 || tr < 0 || tc >= G.cols || tr >= G.rows) return null;
  const c = tr * G.cols + tc;
  if (c >= G.C) return null;
  const col = Math.min(G.W - 1, Math.max(0, x - PAD - tc * (G.W + PAD)));
  const row = Math.min(G.H - 1, Math.max(0, y - PAD - tr * (G.H + PAD)));
  return { channel: c, row: Math.floor(row), col: Math.floor(col) };
}

/** A canvas of G.gw x G.gh pixels shown at G.cssW x G.cssH, pixelated; with its ImageData. */
export function tileCanvas(G, className) {
  const canvas = elem("canvas", className);
  canvas.width = G.gw;
  canvas.height = G.gh;
  canvas.style.width = `${G.cssW}px`;
  canvas.style.height = `${G.cssH}px`;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(G.gw, G.gh);
  return { canvas, ctx, img, px: new Uint32Array(img.data.buffer) };
}

/** Colour the cells (colour indices `idx`, C*H*W) into the tile canvas through `lut`; padding stays transparent. */
export function drawTiles(T, G, idx, lut) {
  const { px } = T;
  const table = lut.rgba32;
  const HW = G.H * G.W;
  px.fill(0);
  for (let c = 0; c < G.C; c++) {
    const [x0, y0] = tileOrigin(G, c);
    for (let r = 0; r < G.H; r++) {
      let p = (y0 + r) * G.gw + x0;
      let i = c * HW + r * G.W;
      for (let q = 0; q < G.W; q++, p++, i++) {
        px[p] = table[idx[i]];
      }
    }
  }
  T.ctx.putImageData(T.img, 0, 0);
}

/** CSS-px rectangle [x, y, w, h] of tile c. */
export function tileRect(G, c) {
  const [x0, y0] = tileOrigin(G, c);
  return [x0 * G.scale, y0 * G.scale, G.W * G.scale, G.H * G.scale];
}
