// Queries (a cell {row, col} of the original) and the similarities to one.

/** Internal query of `query`-trait value q, null when it is no cell of D's grid. */
export function validateQuery(D, q) {
  if (!D || !q || typeof q !== "object") return null;
  const { row, col } = q;
  if (!(Number.isInteger(row) && Number.isInteger(col) && row >= 0 && col >= 0 && row < D.h && col < D.w)) return null;
  return { row, col };
}

export const sameCell = (a, b) => a === b || (!!a && !!b && a.row === b.row && a.col === b.col);

/** The cell of copy k showing the content of original cell (row, col), or null. */
export function corresponding(D, k, q) {
  const i = q.row * D.w + q.col;
  const r = D.corr[k].rows[i];
  const c = D.corr[k].cols[i];
  return r >= 0 && c >= 0 && r < D.h && c < D.w ? [r, c] : null;
}

/**
 * Fill every image's similarities to original cell q (skipped when unchanged) and the view's
 * curve: per copy, the similarity at the cell showing q's content (NaN where it left the image).
 */
export function computeSims(view, q) {
  const { D } = view;
  const key = `${q.row},${q.col}`;
  if (D.key === key) return;
  D.arena.loadQuery(D.q, D.images[0].vecs, (q.row * D.w + q.col) * D.C, D.C);
  D.arena.dots(D.q, D.all, D.C, D.images.length * D.cells, D.out);
  view.curve = D.corr.map((_, k) => {
    const rc = corresponding(D, k, q);
    return rc ? D.images[k + 1].sims[rc[0] * D.w + rc[1]] : NaN;
  });
  D.key = key;
}
