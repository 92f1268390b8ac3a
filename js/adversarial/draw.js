// Painting the panels of one frame. The bytes match xai_widgets/widgets/adversarial_payload.py
// (frame_pixels, amplified_pixels) and core/diverging.py (shade), which the tests compare with.
import { shadeSigned } from "../lib/diverging.js";
import { frameOffsets } from "./data.js";

function putRgb(canvas, W, H, fill) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H);
  fill(img.data);
  ctx.putImageData(img, 0, 0);
}

/** x + delta (delta null: x) mapped from bounds to 0..255: floor(clamp(t) * 255 + 0.5). */
export function paintImage(canvas, D, i, delta, dOff) {
  const [lo, hi] = D.raw.bounds;
  const { C, HW, x } = D;
  const xOff = i * C * HW;
  putRgb(canvas, D.W, D.H, (out) => {
    for (let p = 0; p < HW; p++) {
      for (let k = 0; k < 3; k++) {
        const c = C === 1 ? 0 : k;
        const v = x[xOff + c * HW + p] + (delta ? delta[dOff + c * HW + p] : 0);
        const t = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
        out[4 * p + k] = Math.floor(t * 255 + 0.5);
      }
      out[4 * p + 3] = 255;
    }
  });
}

/** delta scaled to the full range, symmetric: floor(127.5 + 127.5 d / max|d| + 0.5); 128 where delta = 0. */
export function paintAmplified(canvas, D, delta, dOff) {
  const { C, HW } = D;
  let m = 0;
  for (let j = 0; j < C * HW; j++) m = Math.max(m, Math.abs(delta[dOff + j]));
  putRgb(canvas, D.W, D.H, (out) => {
    for (let p = 0; p < HW; p++) {
      for (let k = 0; k < 3; k++) {
        const d = delta[dOff + (C === 1 ? 0 : k) * HW + p];
        const v = m === 0 ? 128 : Math.floor(127.5 + (127.5 * d) / m + 0.5);
        out[4 * p + k] = Math.min(255, Math.max(0, v));
      }
      out[4 * p + 3] = 255;
    }
  });
  return m;
}

/** A signed map in the diverging colours over [-s, s]. */
export function paintMap(canvas, D, values, s, lut) {
  putRgb(canvas, D.W, D.H, (out) => shadeSigned(out, values, s, lut, null, null));
}

/** Every panel of image row R at frame (e, t). */
export function paintRow(view, R, e, t) {
  const { D, lut } = view;
  const o = frameOffsets(D, e, t, R.i);
  const s = D.raw.scales[R.i];
  paintImage(R.canvases.xhat, D, R.i, D.delta, o.delta);
  paintAmplified(R.canvases.delta, D, D.delta, o.delta);
  paintMap(R.canvases.mapXhat, D, D.mapAdv.subarray(o.map, o.map + D.HW), s, lut);
}

/** The panels that do not change with the frame: x and its map. */
export function paintStatic(view, R) {
  const { D, lut } = view;
  paintImage(R.canvases.x, D, R.i, null, 0);
  paintMap(R.canvases.mapX, D, D.mapClean.subarray(R.i * D.HW, (R.i + 1) * D.HW), D.raw.scales[R.i], lut);
}
