// The `_dec` trait decoded once per change, the blend of an image with its reconstruction (the
// integer formula Python's blend_pixels uses) and the prediction shown at a blend step.
import { bytesOf } from "../lib/tensor.js";
import { makeLut } from "../lib/colormap.js";

function raw(payload) {
  return { bytes: bytesOf(payload), shape: Array.from(payload.shape, Number) };
}

/** The decoded payload M, or null before anything is shipped. */
export function decodeDecoder(dec) {
  if (!dec || !dec.images) return null;
  const images = raw(dec.images);
  const [N, H, W, ch] = images.shape;
  return {
    N, H, W, ch, images: images.bytes, recons: raw(dec.recons).bytes, std: raw(dec.std).bytes,
    steps: Number(dec.steps), top: dec.top.map(Number), prob: dec.prob.map(Number),
    classes: dec.classes.map(String), ic: dec.ic_nmi.map(Number), bc: Number(dec.bc_nmi),
    pairs: Number(dec.pairs), bins: Number(dec.bins), stdHi: Number(dec.std_hi), lut: makeLut(dec.lut),
  };
}

const clamp = (v, n) => Math.min(Math.max(Number.isFinite(v) ? Math.round(v) : 0, 0), n - 1);

/** The image index and blend step of the traits, clamped to what there is. */
export function shown(view) {
  const { M, model } = view;
  return { i: clamp(Number(model.get("index")), M.N), k: clamp(Number(model.get("step")), M.steps) };
}

/** Image i's pixels (H x W x ch bytes) of `images` or `recons`. */
export function pixelsOf(M, which, i) {
  const size = M.H * M.W * M.ch;
  return M[which].subarray(i * size, (i + 1) * size);
}

/** (1 - b) x + b A(x) at b = k / (steps - 1), rounded half up, in integers as Python does. */
export function blendBytes(M, i, k) {
  const x = pixelsOf(M, "images", i);
  const a = pixelsOf(M, "recons", i);
  const d = M.steps - 1;
  const half = Math.floor(d / 2);
  const out = new Uint8Array(x.length);
  for (let p = 0; p < x.length; p++) out[p] = Math.floor(((d - k) * x[p] + k * a[p] + half) / d);
  return out;
}

/** "blend 0.40: circle (97.1%)", as Python's prediction_line. */
export function predictionText(M, i, k) {
  const at = i * M.steps + k;
  const b = (k / (M.steps - 1)).toFixed(2);
  return `blend ${b}: ${M.classes[M.top[at]]} (${(100 * M.prob[at]).toFixed(1)}%)`;
}

/** The two caption lines defining and giving IC-nMI and BC-nMI, as Python's nmi_caption. */
export function nmiLines(M, i) {
  const mean = M.ic.reduce((s, v) => s + v, 0) / M.ic.length;
  return [
    `IC-nMI = NMI(x, A(x)) = ${M.ic[i].toFixed(3)} for this image, mean ${mean.toFixed(3)} over ${M.ic.length}; `
      + `BC-nMI = mean NMI(A(x_i), A(x_j)) over ${M.pairs} pairs = ${M.bc.toFixed(3)}`,
    `NMI(X, Y) = 2 I(X; Y) / (H(X) + H(Y)) of the intensities in ${M.bins} bins; `
      + "high BC-nMI: the decoder draws the same whatever the input",
  ];
}
