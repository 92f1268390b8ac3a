// Decoding `_data`: the images' pixels and each layer's activation vectors, checked, with the
// vectors handed to SplitDots (the memory the hover works on, on one thread or two).
import { bytesOf } from "../lib/tensor.js";
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
  return { name, acts, grids, C, prefix, P, prefixNames: names, cells: grids.reduce((s, g) => s + g.h * g.w, 0), worst };
}

/** A layer's vectors for SplitDots: the cells of every image, then every image's prefix tokens. */
function vectorsOf(spec, N) {
  const { acts, grids, C, cells, prefix, P } = spec;
  return {
    C,
    cellCount: cells,
    tokenCount: N * P,
    cells: acts.map((a, n) => ({ bytes: halfBytes(a, grids[n].h * grids[n].w * C), count: grids[n].h * grids[n].w })),
    tokens: prefix.map((t) => ({ bytes: halfBytes(t, P * C), count: P })),
  };
}

/** The shipped bytes of a float16 tensor of n values, checked. */
function halfBytes(payload, n) {
  if (payload.dtype !== "float16") throw new TypeError(`activation vectors must be float16, got ${payload.dtype}`);
  const bytes = bytesOf(payload);
  if (bytes.length < 2 * n) throw new RangeError(`tensor data has ${bytes.length} bytes, shape needs ${2 * n}`);
  return bytes;
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
  return { ...spec, acts: null, prefix: null, out: result.out, tokenOut: result.tokenOut, sims, starts, shaded: false };
}

/** Decode and validate `_data`; the activations go to SplitDots (both parts on this thread, or one in a worker). */
export function loadData(raw) {
  const images = loadImages(raw);
  const N = images.length;
  const specs = (Array.isArray(raw.layers) ? raw.layers : []).map((L, k) => layerSpec(L, k, N));
  const codes = raw.hover_codes === true; // Python's choice (hover_precision): 8-bit codes of the vectors
  const dots = new SplitDots(specs.map((spec) => vectorsOf(spec, N)), { codes });
  const shipped = (ts) => ts.reduce((sum, t) => sum + bytesOf(t).length, 0);
  const bytes = images.reduce((sum, im) => sum + im.bytes.length, 0)
    + specs.reduce((sum, L) => sum + shipped(L.acts) + shipped(L.prefix), 0);
  const layers = specs.map((spec, j) => layerResults(spec, dots.results[j]));
  const similarity = raw.similarity == null ? "cosine" : String(raw.similarity);
  return { images, layers, dots, codes, bytes, similarity, key: null, smin: NaN, smax: NaN };
}
