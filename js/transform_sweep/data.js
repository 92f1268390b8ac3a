// Decoding `_data`: the original and its copies (pixels and activation vectors, the vectors in
// one DotArena), the transform values, the cell correspondences and the mean curve.
import { bytesOf } from "../lib/tensor.js";
import { DotArena, arenaBytes } from "../lib/simdot.js";
import { fmtNumber } from "../lib/chart.js";

function loadPixels(p, what) {
  if (!p || !Array.isArray(p.shape) || p.shape.length !== 3 || Number(p.shape[2]) !== 3) {
    throw new Error(`${what}: pixels must have shape [H, W, 3]`);
  }
  const [H0, W0] = p.shape.map(Number);
  const bytes = bytesOf(p);
  if (!(H0 > 0 && W0 > 0) || bytes.length < H0 * W0 * 3) throw new Error(`${what}: pixel data too short`);
  return { W0, H0, bytes };
}

/** Decode and validate `_data`: images[0] is the original, images[k + 1] copy k. */
export function loadData(raw) {
  if (!raw || !raw.original || !Array.isArray(raw.copies) || !Array.isArray(raw.values)) {
    throw new Error("_data is incomplete (original, copies and values are needed)");
  }
  const values = raw.values.map(Number);
  const V = raw.copies.length;
  if (values.length !== V || V === 0) throw new Error(`${values.length} values for ${V} copies`);
  const [h, w] = (raw.grid || []).map(Number);
  if (!(h > 0 && w > 0)) throw new Error("_data.grid must be [h, w]");
  const cells = h * w;
  const entries = [raw.original, ...raw.copies];
  let C = -1;
  entries.forEach((e, i) => {
    const shape = e && e.acts && Array.isArray(e.acts.shape) ? e.acts.shape.map(Number) : [];
    if (shape.length !== 3 || shape[0] !== h || shape[1] !== w || !(shape[2] > 0)) {
      throw new Error(`image ${i}: activations must have shape [${h}, ${w}, C]`);
    }
    if (C < 0) C = shape[2];
    else if (shape[2] !== C) throw new Error("channel count differs between images");
  });
  const n = entries.length;
  const arena = new DotArena(arenaBytes([n * cells * C], [C, n * cells]));
  const all = arena.allocHalf(n * cells * C);
  const q = arena.allocF32(C);
  const out = arena.allocF32(n * cells);
  const images = entries.map((e, i) => {
    arena.fillHalves(all.subarray(i * cells * C, (i + 1) * cells * C), e.acts);
    const px = loadPixels(e.pixels, i === 0 ? "original" : `copy ${i - 1}`);
    const title = e.title == null ? (i === 0 ? "original" : fmtNumber(values[i - 1])) : String(e.title);
    return { ...px, title, vecs: all.subarray(i * cells * C, (i + 1) * cells * C), sims: out.subarray(i * cells, (i + 1) * cells) };
  });
  const corr = raw.copies.map((c, k) => {
    const rows = Int32Array.from(c.rows || [], Number);
    const cols = Int32Array.from(c.cols || [], Number);
    if (rows.length !== cells || cols.length !== cells) throw new Error(`copy ${k}: correspondence must list ${cells} cells`);
    return { rows, cols };
  });
  const mean = Array.isArray(raw.mean) && raw.mean.length === V ? raw.mean.map((v) => (v == null ? NaN : Number(v))) : null;
  const bytes = entries.reduce((sum, e) => sum + bytesOf(e.pixels).length + bytesOf(e.acts).length, 0);
  return {
    bytes,
    layer: raw.layer == null ? "" : String(raw.layer),
    axis: raw.axis == null ? "transform value" : String(raw.axis),
    values, V, h, w, C, cells, images, corr, mean, arena, all, q, out, key: null,
  };
}
