// The model's traits -> the view: new data, the pinned query, the controls' traits.
import { loadData } from "./data.js";
import { computeSims, sameQuery, toExternal, validateQuery } from "./query.js";
import { paint } from "./draw.js";
import { layout, relayout, describeData } from "./layout.js";
import { setFactors, fillFactorLayers } from "./factors.js";
import { syncControls, updateLut } from "./header.js";

/** Pin internal query q (null: unpin): the `query` trait, then the view. */
export function setQuery(view, q) {
  view.model.set("query", toExternal(view.D, q));
  view.model.save_changes();
  syncPinned(view);
}

function syncPinned(view) {
  const q = validateQuery(view.D, view.model.get("query"));
  if (sameQuery(q, view.pinned)) return;
  view.pinned = q;
  paint(view);
}

/** Decode `_data` and build the view for it, with `_factors` value rawFactors. */
export function rebuild(view, rawFactors) {
  const { model } = view;
  view.hover = null;
  view.pointerCell = null;
  if (view.D) view.D.dots.dispose();
  view.D = view.status.attempt("similarity widget", () => loadData(model.get("_data")));
  if (view.D) view.D.dots.onChange = () => describeData(view);
  view.pinned = validateQuery(view.D, model.get("query"));
  layout(view);
  describeData(view);
  view.worstLabel.hidden = !view.D || !view.D.layers.some((L) => L.worst.length); // only when a row was reduced
  setFactors(view, rawFactors);
  paint(view);
  warmUp(view);
}

/**
 * WebAssembly code starts in V8's baseline tier and is optimised in the background once it has
 * run: the view's first hover took 20-25 ms at 25 MB of vectors, the next ones 4. So, once the
 * view is drawn, one query's similarities are computed and dropped (nothing is drawn).
 */
function warmUp(view) {
  const { D } = view;
  if (!D || !D.layers.length) return;
  if (view.warmTimer === undefined) view.life.add(() => clearTimeout(view.warmTimer)); // one slot per view
  clearTimeout(view.warmTimer);
  view.warmTimer = setTimeout(() => {
    if (view.D === D && !view.hover && !view.pinned) computeSims(D, { image: 0, layer: 0, row: 0, col: 0 }, () => {});
  }, 0);
}

export function listenModel(view, onModel) {
  const { model } = view;
  const repaint = () => paint(view);
  const recolour = () => {
    updateLut(view);
    paint(view);
  };
  const resync = () => {
    syncControls(view);
    paint(view);
  };
  // New data makes the factors stale (Python resets `_factors` with it).
  onModel("change:_data", () => rebuild(view, null));
  onModel("change:_factors", () => {
    setFactors(view, model.get("_factors"));
    paint(view);
  });
  onModel("change:factor_focus", () => {
    fillFactorLayers(view);
    paint(view);
  });
  onModel("change:size", () => relayout(view));
  onModel("change:query", () => syncPinned(view));
  onModel("change:colormap", recolour);
  onModel("change:_colormaps", recolour);
  onModel("change:opacity", resync);
  onModel("change:auto_range", resync);
  onModel("change:show_worst", resync);
  onModel("change:vrange", repaint);
}
