// NMF factor groups drawn over the panels of one row (the "NMF companion" of the
// similarity overlays, Fong et al., VISxAI 2021).
//
// `_factors` (from Python): null or
//   {layer: row name, k, colors: [[r, g, b] x k], labels: [str x k],
//    maps: [payload per image]}
// where each map payload decodes (tensor.js) to shape [h, w, k]: the strength of factor f
// at cell (r, c), in [0, 1].
import { decode } from "./tensor.js";

/** Peak opacity of a factor colour (at strength 1). */
export const FACTOR_ALPHA = 0.8;

/**
 * Decode and validate `_factors` against the decoded `_data` layers (name + grids[n] = {h, w}).
 * Returns null for null, else {row (layer index), name, k, colors, labels, maps: [Float32Array]};
 * throws an Error saying what is wrong.
 */
export function loadFactors(raw, layers) {
  if (raw == null) return null;
  const row = layers.findIndex((L) => L.name === raw.layer);
  if (row < 0) throw new Error(`layer ${raw.layer} is not a shown row`);
  const k = Number(raw.k);
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`k must be a positive integer, got ${raw.k}`);
  const colors = Array.isArray(raw.colors) ? raw.colors : [];
  const labels = Array.isArray(raw.labels) ? raw.labels : [];
  if (colors.length !== k) throw new Error(`${colors.length} colours for ${k} groups`);
  const rgb = colors.map((c, f) => {
    const v = Array.isArray(c) ? c.slice(0, 3).map(Number) : [];
    if (v.length !== 3 || !v.every((x) => x >= 0 && x <= 255)) throw new Error(`group ${f}: colour must be [r, g, b] in 0..255`);
    return v.map(Math.round);
  });
  const grids = layers[row].grids;
  const payloads = Array.isArray(raw.maps) ? raw.maps : [];
  if (payloads.length !== grids.length) throw new Error(`${payloads.length} maps for ${grids.length} images`);
  const maps = payloads.map((p, n) => {
    const { h, w } = grids[n];
    const t = decode(p);
    if (t.shape.length !== 3 || t.shape[0] !== h || t.shape[1] !== w || t.shape[2] !== k) {
      throw new Error(`image ${n}: map shape [${t.shape}] is not the row's grid [${h}, ${w}, ${k}]`);
    }
    return t.data;
  });
  return {
    row,
    name: layers[row].name,
    k,
    colors: rgb,
    labels: rgb.map((_, f) => (labels[f] == null ? `group ${f}` : String(labels[f]))),
    maps,
  };
}

/**
 * Fill `rgba` (ImageData bytes of the h x w grid) with the factor colours of one image.
 * focus < 0: each cell gets the colour of its dominant factor (argmax of strength, ties to
 * the lowest index); focus = f: colour f. Alpha byte = round(strength * FACTOR_ALPHA * 255).
 * Drawn (source-over) on an opaque base, a cell becomes
 *   round(base * (1 - a') + colour * a'),  a' = alpha byte / 255,
 * up to 1 level from the canvas's premultiplied-alpha rounding.
 */
export function fillFactorPixels(rgba, F, n, focus) {
  const map = F.maps[n];
  const k = F.k;
  for (let i = 0, o = 0; o < rgba.length; i += k, o += 4) {
    let f = focus;
    if (f < 0) {
      f = 0;
      for (let g = 1; g < k; g++) if (map[i + g] > map[i + f]) f = g;
    }
    let s = map[i + f];
    s = s > 0 ? (s < 1 ? s : 1) : 0; // NaN -> 0
    const c = F.colors[f];
    rgba[o] = c[0];
    rgba[o + 1] = c[1];
    rgba[o + 2] = c[2];
    rgba[o + 3] = Math.round(s * FACTOR_ALPHA * 255);
  }
}
