// Activation vectors split by channel into two parts, so two threads can share a hover.
//
// Every vector's first c1 = floor(C / 2) channels form part A and the other C - c1 part B;
// each part holds, per layer, its slice of every cell's vector and of every prefix token's,
// contiguous, with its own query and result buffers in a DotArena. The vectors are float16
// halves or 8-bit codes, as shipped.
//
// float16: a similarity is fl(dot_A + dot_B), each part's dot product summed as DotArena.dots
// documents, the two added once in float32. Against the exact dot product the error is at
// most (ceil(C / 2) / 16 + 20) * 2^-24 * sum_k |q_k v_k|: each part's bound (DotArena.dots)
// over its own terms, and one more rounding for the addition.
// codes: each part's integer dot product is exact; a similarity is ((dot_A + dot_B) * s_q) * s_v
// in float64, rounded once to float32 (s: the vectors' scales, shipped with the codes).
// Either way the sum is the same whichever thread computed a part, so the hover's numbers do
// not depend on whether a Web Worker was available.
import { regionBytes } from "./simdot.js";

/** Channels [0, c1) of every vector are part A, [c1, C) part B. */
export const splitPoint = (C) => C >> 1;

/**
 * Part `which` ("A" or "B") of a layer of C channels, `cells` cell vectors and `tokens` token
 * vectors; `levels` is 0 for float16 vectors, else the codes' range L (127 signed, 255 unsigned).
 */
export function partShape({ C, cells, tokens, levels = 0 }, which) {
  const c1 = splitPoint(C);
  return { C: which === "A" ? c1 : C - c1, cells, tokens, levels };
}

/** Bytes per vector value, query value and result of a part shape. */
const widths = ({ levels }) => (levels ? [1, 2, 4] : [2, 4, 4]);

/** Bytes an arena needs for these part shapes. */
export function partsBytes(shapes) {
  return regionBytes(shapes.flatMap((s) => {
    const [v, q, r] = widths(s);
    return [v * s.cells * s.C, v * s.tokens * s.C, q * s.C, r * s.cells, r * s.tokens];
  }));
}

/** A part's vectors as a plain typed array of n values (for the worker's copy). */
export function plainVectors({ levels }, n) {
  if (!levels) return new Uint16Array(n);
  return levels === 255 ? new Uint8Array(n) : new Int8Array(n);
}

/** A part's regions in `arena`: vectors (cells, tokens), query, results (out, tokenOut). */
export function allocPart(arena, { C, cells, tokens, levels = 0 }) {
  if (!levels) {
    return { C, levels, cells: arena.allocHalf(cells * C), tokens: arena.allocHalf(tokens * C), q: arena.allocF32(C),
      out: arena.allocF32(cells), tokenOut: arena.allocF32(tokens) };
  }
  const unsigned = levels === 255;
  return { C, levels, cells: arena.allocCodes(cells * C, unsigned), tokens: arena.allocCodes(tokens * C, unsigned),
    q: arena.allocI16(C), out: arena.allocI32(cells), tokenOut: arena.allocI32(tokens) };
}

/**
 * Copy the channels [from, from + width) of `count` vectors of C values (float16 words or
 * codes, as the region holds) into `region` starting at vector `at`.
 */
export function fillPart(region, values, C, from, width, at, count) {
  if (width === C) {
    region.set(values.subarray(0, count * C), at * C); // every channel: one block copy
  } else {
    for (let i = 0; i < count; i++) region.set(values.subarray(i * C + from, i * C + from + width), (at + i) * width);
  }
}

/**
 * The part's dot products against its slice of query vector `index` of `source` ("cells" or
 * "tokens"): part.out for every cell, part.tokenOut for every token.
 */
export function partDots(arena, part, { source, index }) {
  const { C } = part;
  const load = part.levels ? "loadCodes" : "loadQuery";
  const dots = part.levels ? "codeDots" : "dots";
  arena[load](part.q, source === "tokens" ? part.tokens : part.cells, index * C, C);
  arena[dots](part.q, part.cells, C, part.out.length, part.out);
  if (part.tokenOut.length) arena[dots](part.q, part.tokens, C, part.tokenOut.length, part.tokenOut);
}

/**
 * out[i] = a[i] + b[i] rounded to float32 (a Float32Array store of a double sum of two floats
 * rounds correctly); for codes, ((a[i] + b[i]) * sq) * scales[i] (exact integers, scaled in float64).
 * Returns the smallest and largest of out (NaNs skipped; [Infinity, -Infinity] when none), read
 * in the same pass rather than in another over the results.
 */
export function addParts(out, a, b, scales = null, sq = 1) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < out.length; i++) {
    out[i] = scales ? (a[i] + b[i]) * sq * scales[i] : a[i] + b[i];
    const s = out[i];
    if (s < lo) lo = s;
    if (s > hi) hi = s;
  }
  return [lo, hi];
}
