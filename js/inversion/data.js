// The `_inv` trait decoded once per change: the image, and per layer its snapshots (raw uint8
// bytes, drawn as they are: 0 and 255 are the payload's display range), spreads and losses.
import { bytesOf } from "../lib/tensor.js";
import { makeLut } from "../lib/colormap.js";

/** Raw bytes of a uint8 payload and its shape. */
function raw(payload) {
  return { bytes: bytesOf(payload), shape: Array.from(payload.shape, Number) };
}

/** log10 of positive values; NaN (a gap in the chart) elsewhere. */
export const log10s = (ys) => ys.map((v) => (v != null && v > 0 ? Math.log10(v) : NaN));

const num = (v) => (v == null ? NaN : Number(v));

/** The decoded payload M, or null before anything is shipped. */
export function decodeInversion(inv) {
  if (!inv || !inv.image) return null;
  const image = raw(inv.image);
  const [H, W, ch] = image.shape;
  const layers = (inv.layers || []).map((lay) => ({
    name: String(lay.name), snaps: raw(lay.snapshots), spread: raw(lay.spread),
    loss: lay.loss.map(num), losses: lay.losses.map(num), final: lay.final.map(num),
  }));
  return {
    H, W, ch, image: image.bytes, layers, pending: (inv.pending || []).map(String),
    steps: (inv.steps || []).map(Number), iterations: Number(inv.iterations) || 0, n: Number(inv.n) || 0,
    spreadHi: Number(inv.spread_hi), lut: makeLut(inv.lut), range: inv.range,
  };
}

/** The snapshot index shown: the `step` trait clamped to the snapshots there are. */
export function stepOf(view) {
  const K = view.M ? view.M.steps.length : 0;
  const k = Math.round(Number(view.model.get("step")));
  return K ? Math.min(Math.max(Number.isFinite(k) ? k : K - 1, 0), K - 1) : 0;
}

/** The bytes of pre-image s of a layer at snapshot k (H x W x ch). */
export function snapshotBytes(M, lay, k, s) {
  const size = M.H * M.W * M.ch;
  const at = (k * M.n + s) * size;
  return lay.snaps.bytes.subarray(at, at + size);
}

/** The spread bytes of a layer at snapshot k (H x W, indices into the colour table). */
export function spreadBytes(M, lay, k) {
  const size = M.H * M.W;
  return lay.spread.bytes.subarray(k * size, (k + 1) * size);
}
