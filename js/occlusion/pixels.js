// Pixel panels: a W x H image drawn nearest-neighbour at an integer zoom, so features keep hard edges.
import { elem } from "../lib/dom.js";
import { clampInt } from "../lib/panels.js";

/** A panel of W x H image pixels shown `css` px wide: an integer zoom of a small canvas, nearest neighbour. */
export function pixelPanel(W, H, css, role) {
  const dpr = window.devicePixelRatio || 1;
  const zoom = Math.max(1, Math.ceil((css * dpr) / W));
  const canvas = elem("canvas", "xw-panel");
  canvas.dataset.role = role;
  canvas.width = W * zoom;
  canvas.height = H * zoom;
  canvas.style.width = `${css}px`;
  canvas.style.height = `${Math.round((css * H) / W)}px`;
  const small = elem("canvas");
  small.width = W;
  small.height = H;
  const sctx = small.getContext("2d");
  const img = sctx.createImageData(W, H);
  return { canvas, ctx: canvas.getContext("2d"), small, sctx, img, W, H, css };
}

export function blit(P) {
  P.sctx.putImageData(P.img, 0, 0);
  P.ctx.imageSmoothingEnabled = false;
  P.ctx.setTransform(1, 0, 0, 1, 0, 0);
  P.ctx.drawImage(P.small, 0, 0, P.W, P.H, 0, 0, P.canvas.width, P.canvas.height);
}

/** Copy RGB bytes (H x W x 3) into the panel's image data (opaque). */
function putRGB(P, rgb) {
  const d = P.img.data;
  for (let i = 0, o = 0, p = 0; i < P.W * P.H; i++, o += 4, p += 3) {
    d[o] = rgb[p];
    d[o + 1] = rgb[p + 1];
    d[o + 2] = rgb[p + 2];
    d[o + 3] = 255;
  }
}

/** The panel shows RGB bytes `rgb` (H x W x 3). */
export function showRGB(P, rgb) {
  putRGB(P, rgb);
  blit(P);
}

/** [col, row] of the image pixel (of D's W x H) under the pointer on `canvas`. */
export function pixelAt(D, ev, canvas) {
  const rect = canvas.getBoundingClientRect();
  const col = Math.floor(((ev.clientX - rect.left) * D.W) / rect.width);
  const row = Math.floor(((ev.clientY - rect.top) * D.H) / rect.height);
  return [clampInt(col, 0, D.W - 1), clampInt(row, 0, D.H - 1)];
}
