// Queries: a patch {image, layer, row, col} or a prefix token {image, layer, token}, with
// `layer` an index internally and a name in the `query` trait; and the similarities to one.

/** A query of a prefix token ({image, layer, token}) rather than of a patch ({image, layer, row, col}). */
export const isToken = (q) => !!q && q.token !== undefined;

/** Query cell (row, col) at layer j for internal patch query q (layer index, image index). */
export function cellAt(D, q, j) {
  if (j === q.layer) return [q.row, q.col];
  const gk = D.layers[q.layer].grids[q.image];
  const gj = D.layers[j].grids[q.image];
  // Cell under the centre of the query cell: floor((r + 0.5) / h_k * h_j), evaluated as
  // ((r + 0.5) * h_j) / h_k so that exact boundaries stay exact (same as Python's synced_cell).
  return [
    Math.min(Math.floor(((q.row + 0.5) * gj.h) / gk.h), gj.h - 1),
    Math.min(Math.floor(((q.col + 0.5) * gj.w) / gk.w), gj.w - 1),
  ];
}

/**
 * Where layer j's query vector for q is ({source, index} for SplitDots), or null when q shades
 * nothing there: a patch query shades every layer (at the same image location), a token query
 * only its own layer, since other layers have no such token.
 */
function queryVector(D, q, j) {
  const L = D.layers[j];
  if (isToken(q)) return j === q.layer ? { source: "tokens", index: q.image * L.P + q.token } : null;
  const [r, c] = cellAt(D, q, j);
  return { source: "cells", index: L.starts[q.image] + r * L.grids[q.image].w + c };
}

/** Record query q's results as computed: which layers are shaded, the cells' range (NaNs skipped). */
function finish(D, key, queries) {
  let smin = Infinity;
  let smax = -Infinity;
  D.layers.forEach((L, j) => {
    L.shaded = !!queries[j];
    if (!L.shaded) return;
    const [lo, hi] = D.dots.results[j].range; // read while the results were written
    smin = Math.min(smin, lo);
    smax = Math.max(smax, hi);
  });
  D.key = key;
  D.smin = smin;
  D.smax = smax;
}

/**
 * Make every layer's similarities those of query q; the range is the cells'. Returns true when
 * they are ready now (or already were); false when a worker computes half of them: then
 * `then()` runs once they are (not if another query was asked for meanwhile).
 */
export function computeSims(D, q, then) {
  const key = `${q.image},${q.layer},${q.row},${q.col},${q.token}`;
  if (D.key === key) return true;
  const queries = D.layers.map((_, j) => queryVector(D, q, j));
  const now = D.dots.request(queries, () => {
    finish(D, key, queries);
    then();
  });
  if (now) finish(D, key, queries);
  return now;
}

/** The `query` trait's form of internal query q (the layer by name). */
export function toExternal(D, q) {
  if (!q || !D) return null;
  const layer = D.layers[q.layer].name;
  return isToken(q) ? { image: q.image, layer, token: q.token } : { image: q.image, layer, row: q.row, col: q.col };
}

/** Internal query of `query`-trait value q (layer by name or index), null when it names nothing in D. */
export function validateQuery(D, q) {
  if (!D || !q || typeof q !== "object") return null;
  let layer = -1;
  if (typeof q.layer === "string") layer = D.layers.findIndex((L) => L.name === q.layer);
  else if (Number.isInteger(q.layer)) layer = q.layer;
  const image = q.image;
  const { row, col } = q;
  if (!(layer >= 0 && layer < D.layers.length)) return null;
  if (!(Number.isInteger(image) && image >= 0 && image < D.images.length)) return null;
  if (q.token !== undefined) {
    const ok = Number.isInteger(q.token) && q.token >= 0 && q.token < D.layers[layer].P;
    return ok ? { image, layer, token: q.token } : null;
  }
  const g = D.layers[layer].grids[image];
  if (!(Number.isInteger(row) && Number.isInteger(col) && row >= 0 && col >= 0 && row < g.h && col < g.w)) return null;
  return { image, layer, row, col };
}

export const sameQuery = (a, b) =>
  a === b ||
  (!!a && !!b && a.image === b.image && a.layer === b.layer && a.row === b.row && a.col === b.col && a.token === b.token);

export function describe(D, q) {
  const L = D.layers[q.layer];
  if (isToken(q)) return `${L.prefixNames[q.token]} token of image ${q.image} · layer ${L.name}`;
  return `layer ${L.name} · image ${q.image} · cell (${q.row}, ${q.col})`;
}

/** The active query's similarity at cell or token q; null where q's row is not shaded. */
export function valueAt(D, q) {
  const L = D.layers[q.layer];
  if (!L.shaded) return null;
  return isToken(q) ? L.tokenOut[q.image * L.P + q.token] : L.sims[q.image][q.row * L.grids[q.image].w + q.col];
}
