// The model's traits -> the view: new data, the pinned cell, size, colours and opacity.
import { getNum } from "../lib/dom.js";
import { loadData } from "./data.js";
import { sameCell, validateQuery } from "./query.js";
import { paint, updateHighlight, updateLut } from "./draw.js";
import { layout, relayout } from "./layout.js";

/** Pin cell q (null: unpin): the `query` trait, then the view. */
export function setQuery(view, q) {
  view.model.set("query", q ? { row: q.row, col: q.col } : null);
  view.model.save_changes();
  syncPinned(view);
}

function syncPinned(view) {
  const q = validateQuery(view.D, view.model.get("query"));
  if (sameCell(q, view.pinned)) return;
  view.pinned = q;
  paint(view);
}

/** Decode `_data` and build the view for it. */
export function rebuild(view) {
  view.hover = null;
  view.pointer = null;
  view.highlight = -1;
  view.curve = [];
  view.D = view.status.attempt("transform sweep", () => loadData(view.model.get("_data")));
  view.pinned = validateQuery(view.D, view.model.get("query"));
  layout(view);
  updateHighlight(view);
  paint(view);
}

export function syncOpacity(view) {
  view.controls.opInput.value = String(getNum(view.model, "opacity", 0.7));
}

export function listenModel(view, onModel) {
  onModel("change:_data", () => rebuild(view));
  onModel("change:query", () => syncPinned(view));
  onModel("change:size", () => relayout(view));
  for (const name of ["change:colormap", "change:_colormaps", "change:vrange"]) {
    onModel(name, () => {
      updateLut(view);
      paint(view);
    });
  }
  onModel("change:opacity", () => {
    syncOpacity(view);
    paint(view);
  });
}
