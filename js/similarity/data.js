// Decoding `_data`: the images' pixels and each layer's activation vectors, checked, with the
// vectors handed to SplitDots (the memory the hover works on, on one thread or two).
import { bytesOf, decode } from "../lib/tensor.js";
import { SplitDots } from "../lib/dot_threads.js";
import { prefixNames } from "../lib/tokens.js";

/** The [h, w, C] or [P, C] shape of a tensor payload, checked to have `rank` dimensions. */
function shapeOf(t, rank, what) {
  const shape = t && Array.isArray(t.shape) ? t.shape.map(Number) : [];
  if (shape.length !== rank || !shape.every((d) => d >= 0)) throw new Error(`${what} has shape [${shape}]`);
  return shape;
}

/** The one value of `values` (all images' channel or token counts), else a throw. */
function common(values, what) {
  if (values.some((v) => v !== values[0])) throw new Error(`${what} differs between images`);
  return values.length ? values[0] : 0;
}

/** Pixels of `_data.images`. */
function loadImages(raw) {
  if (!raw || !Array.isArray(raw.images)) throw new Error("_data.images is missing");
  return raw.images.map((im, n) => {
    const p = im && im.pixels;
    if (!p || !Array.isArray(p.shape)) throw new Error(`image ${n}: pixels tensor missing`);
    const [H0, W0, ch = 1] = p.shape.map(Number);
    if (!(H0 > 0 && W0 > 0) || ![1, 3, 4].includes(ch) || p.shape.length > 3) {
      throw new Error(`image ${n}: pixels must have shape [H, W, 3], got [${p.shape}]`);
    }
    const bytes = bytesOf(p);
    if (bytes.length < H0 * W0 * ch) throw new Error(`image ${n}: pixel data too short`);
    return { title: im.title == null ? `image ${n}` : String(im.title), W0, H0, ch, bytes };
  });
}

/** One `_data.layers` entry checked: its grids, channel count and prefix tokens (P may be 0). */
function layerSpec(L, k, N) {
  const name = L && L.name != null ? String(L.name) : `layer ${k}`;
  const acts = L && Array.isArray(L.acts) ? L.acts : [];
  if (acts.length !== N) throw new Error(`layer ${name}: ${acts.length} activation tensors for ${N} images`);
  const shapes = acts.map((a, n) => shapeOf(a, 3, `layer ${name}, image ${n}: activations [h, w, C]`));
  if (shapes.some((s) => !s.every((d) => d > 0))) throw new Error(`layer ${name}: empty activations`);
  const C = common(shapes.map((s) => s[2]), `layer ${name}: channel count`);
  const prefix = L && Array.isArray(L.prefix) ? L.prefix : [];
  if (prefix.length && prefix.length !== N) throw new Error(`layer ${name}: ${prefix.length} prefix tensors for ${N} images`);
  const tokenShapes = prefix.map((t, n) => shapeOf(t, 2, `layer ${name}, image ${n}: prefix tokens [P, C]`));
  if (tokenShapes.some((s) => s[1] !== C)) throw new Error(`layer ${name}: prefix tokens need ${C} channels`);
  const P = common(tokenShapes.map((s) => s[0]), `layer ${name}: prefix token count`);
  const names = prefixNames(L && L.prefix_names, P);
  const grids = shapes.map(([h, w]) => ({ h, w }));
  const worst = L && L.reduction && Array.isArray(L.reduction.worst) ? L.reduction.worst : [];
  const list = (key) => (L && Array.isArray(L[key]) ? L[key] : []);
  const cells = grids.reduce((s, g) => s + g.h * g.w, 0);
  // scales: the 8-bit codes' per-vector scales (none for float16 vectors)
  return { name, acts, grids, C, prefix, P, prefixNames: names, cells, worst,
    scales: list("scales"), prefixScales: list("prefix_scales") };
}

/**
 * A layer's vectors for SplitDots: the cells of every image, then every image's prefix tokens;
 * float16 halves, or 8-bit codes (`codes`: int8 or uint8, every tensor alike) with each
 * vector's scale (`spec.scales`, `spec.prefixScales`: h x w or P float32 per image).
 */
function vectorsOf(spec, N, codes) {
  const { acts, grids, C, cells, prefix, P, name } = spec;
  const dtype = codes ? String(acts[0].dtype) : "float16";
  if (codes && dtype !== "int8" && dtype !== "uint8") {
    throw new TypeError(`8-bit codes must be int8 or uint8, got ${dtype}`);
  }
  const counts = grids.map((g) => g.h * g.w);
  const tokenCounts = prefix.map(() => P);
  return {
    C,
    cellCount: cells,
    tokenCount: N * P,
    levels: codes ? (dtype === "uint8" ? 255 : 127) : 0,
    cells: acts.map((a, n) => ({ values: vectorValues(a, counts[n] * C, dtype), count: counts[n] })),
    tokens: prefix.map((t) => ({ values: vectorValues(t, P * C, dtype), count: P })),
    scales: codes
      ? { cells: scalesOf(spec.scales, counts, name), tokens: scalesOf(spec.prefixScales, tokenCounts, name) }
      : null,
  };
}

/** The n float16 values of shipped bytes as 16-bit words (copied when the bytes sit at an odd offset). */
function halfWords(bytes, n) {
  if (bytes.byteOffset & 1) bytes = bytes.slice(0, 2 * n); // a Uint16Array view needs an even offset
  return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
}

/** A payload's n values as the typed array the hover copies (16-bit words of halves, or codes), checked. */
function vectorValues(payload, n, dtype) {
  if (payload.dtype !== dtype) throw new TypeError(`activation vectors must be ${dtype}, got ${payload.dtype}`);
  const bytes = bytesOf(payload);
  const need = dtype === "float16" ? 2 * n : n;
  if (bytes.length < need) throw new RangeError(`tensor data has ${bytes.length} bytes, shape needs ${need}`);
  if (dtype === "float16") return halfWords(bytes, n);
  return dtype === "int8" ? new Int8Array(bytes.buffer, bytes.byteOffset, n) : bytes.subarray(0, n);
}

/** Every vector's scale, from one float32 payload per image of `counts[n]` values. */
function scalesOf(list, counts, name) {
  if (list.length !== counts.length) {
    throw new Error(`layer ${name}: ${list.length} scale tensors for ${counts.length} images`);
  }
  const out = new Float32Array(counts.reduce((a, b) => a + b, 0)); // float32 as shipped
  let at = 0;
  list.forEach((payload, n) => {
    const values = decode(payload).data;
    if (values.length !== counts[n]) {
      throw new Error(`layer ${name}, image ${n}: ${values.length} scales for ${counts[n]} vectors`);
    }
    out.set(values, at);
    at += counts[n];
  });
  return out;
}

/** A layer's view of the results: per image its cells' similarities, and where its cells start. */
function layerResults(spec, result) {
  const sims = [];
  const starts = [];
  let start = 0;
  for (const g of spec.grids) {
    starts.push(start);
    sims.push(result.out.subarray(start, start + g.h * g.w));
    start += g.h * g.w;
  }
  const dropped = { acts: null, prefix: null, scales: null, prefixScales: null }; // the payloads, copied to SplitDots
  return { ...spec, ...dropped, out: result.out, tokenOut: result.tokenOut, sims, starts, shaded: false };
}

/** Decode and validate `_data`; the activations go to SplitDots (both parts on this thread, or one in a worker). */
export function loadData(raw) {
  const images = loadImages(raw);
  const N = images.length;
  const specs = (Array.isArray(raw.layers) ? raw.layers : []).map((L, k) => layerSpec(L, k, N));
  const codes = raw.hover_codes === true; // Python's choice (hover_precision): 8-bit codes of the vectors
  const dots = new SplitDots(specs.map((spec) => vectorsOf(spec, N, codes)));
  const shipped = (...lists) => lists.flat().reduce((sum, t) => sum + bytesOf(t).length, 0);
  const bytes = images.reduce((sum, im) => sum + im.bytes.length, 0)
    + specs.reduce((sum, L) => sum + shipped(L.acts, L.prefix, L.scales, L.prefixScales), 0);
  const layers = specs.map((spec, j) => layerResults(spec, dots.results[j]));
  const similarity = raw.similarity == null ? "cosine" : String(raw.similarity);
  return { images, layers, dots, codes, bytes, similarity, key: null, smin: NaN, smax: NaN };
}
