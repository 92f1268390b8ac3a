// Activation vectors split by channel into two parts, so two threads can share a hover.
//
// Every vector's first c1 = floor(C / 2) channels form part A and the other C - c1 part B;
// each part holds, per layer, its slice of every cell's vector and of every prefix token's,
// contiguous, with its own query and result buffers in a DotArena. A similarity is then
// fl(dot_A + dot_B): each part's dot product summed as DotArena.dots documents, the two added
// once in float32. The sum is the same whichever thread computed a part, so the hover's
// numbers do not depend on whether a Web Worker was available. Against the exact dot product
// the error is at most (ceil(C / 2) / 16 + 20) * 2^-24 * sum_k |q_k v_k|: each part's bound
// (DotArena.dots) over its own terms, and one more rounding for the addition.
import { arenaBytes } from "./simdot.js";

/** Channels [0, c1) of every vector are part A, [c1, C) part B. */
export const splitPoint = (C) => C >> 1;

/** Part `which` ("A" or "B") of a layer of C channels, `cells` cell vectors and `tokens` token vectors. */
export function partShape({ C, cells, tokens }, which) {
  const c1 = splitPoint(C);
  return { C: which === "A" ? c1 : C - c1, cells, tokens };
}

/** Bytes an arena needs for these part shapes. */
export function partsBytes(shapes) {
  return arenaBytes(shapes.flatMap((s) => [s.cells * s.C, s.tokens * s.C]),
    shapes.flatMap((s) => [s.C, s.cells, s.tokens]));
}

/** A part's regions in `arena`: vectors (cells, tokens), query, results (out, tokenOut). */
export function allocPart(arena, { C, cells, tokens }) {
  return {
    C,
    cells: arena.allocHalf(cells * C),
    tokens: arena.allocHalf(tokens * C),
    q: arena.allocF32(C),
    out: arena.allocF32(cells),
    tokenOut: arena.allocF32(tokens),
  };
}

/**
 * Copy the channels [from, from + part.C) of `count` vectors of C float16 channels (bytes as
 * shipped) into `region` starting at vector `at`.
 */
export function fillPart(region, bytes, C, from, width, at, count) {
  if (bytes.byteOffset & 1) bytes = bytes.slice(0, 2 * count * C); // a Uint16Array view needs an even offset
  const src = new Uint16Array(bytes.buffer, bytes.byteOffset, count * C);
  if (width === C) {
    region.set(src, at * C); // every channel: one block copy (a subarray per vector costs more than its bytes)
    return;
  }
  for (let i = 0; i < count; i++) region.set(src.subarray(i * C + from, i * C + from + width), (at + i) * width);
}

/**
 * The part's dot products against its slice of query vector `index` of `source` ("cells" or
 * "tokens"): part.out for every cell, part.tokenOut for every token.
 */
export function partDots(arena, part, { source, index }) {
  const { C } = part;
  arena.loadQuery(part.q, source === "tokens" ? part.tokens : part.cells, index * C, C);
  arena.dots(part.q, part.cells, C, part.out.length, part.out);
  if (part.tokenOut.length) arena.dots(part.q, part.tokens, C, part.tokenOut.length, part.tokenOut);
}

/** out[i] = a[i] + b[i] rounded to float32 (a Float32Array store of a double sum of two floats rounds correctly). */
export function addParts(out, a, b) {
  for (let i = 0; i < out.length; i++) out[i] = a[i] + b[i];
}
