// Relevance mode (Concept Relevance Propagation, Achtibat et al., Nature Machine Intelligence
// 2023): every tile is its unit's conditional relevance heatmap R(x | class, unit) at the input's
// size, in the diverging map over one symmetric scale for the whole grid, and the tiles are
// sorted by the unit's relevance R_c (slot i shows unit order[i]). One canvas pixel per heatmap
// pixel, coloured by lib/diverging.js shadeSigned: xai_widgets/core/diverging.py `shade` gives
// the bytes the browser tests compare with.
import { decode } from "../lib/tensor.js";
import { shadeSigned } from "../lib/diverging.js";
import { tileGeometry, tileCanvas, tileOrigin, tileRect } from "../lib/tiles.js";
import { currentImage } from "./state.js";

/** `_relevance` -> view.rel: {layer, image, target, class_name, relevance, share, order, slot, scale, rule, C, H, W, x}. */
export function loadRelevance(view) {
  const raw = view.model.get("_relevance");
  view.rel = raw && raw.maps ? view.status.attempt("relevance", () => decodeRelevance(raw)) : null;
  view.RG = null;
}

function decodeRelevance(raw) {
  const shape = (raw.maps.shape || []).map(Number);
  if (shape.length !== 3) throw new Error(`relevance maps must be C x H x W, got [${shape}]`);
  const [C, H, W] = shape;
  const order = raw.order.map(Number);
  const slot = new Int32Array(C);
  order.forEach((c, i) => { slot[c] = i; });
  return { ...raw, C, H, W, order, slot, scale: Number(raw.scale), x: decode(raw.maps).data };
}

export const relevanceMode = (view) => view.model.get("mode") === "relevance";

/** Whether the tiles show relevance: the mode is on and `_relevance` is of the layer, image and class shown. */
export function relevanceShown(view) {
  const { rel, A, model } = view;
  if (!relevanceMode(view) || !rel || !A) return false;
  const k = model.get("relevance_class");
  return rel.layer === A.layer && rel.C === A.C && rel.image === currentImage(view) && (k == null || Number(k) === rel.target);
}

/** The geometry of the tiles shown: relevance tiles or activation tiles. */
export const shownGeometry = (view) => (relevanceShown(view) && view.RG ? view.RG : view.G);

/** CSS-px rectangle of unit c's tile, wherever the mode puts it. */
export function tileBox(view, c) {
  return relevanceShown(view) && view.RG ? tileRect(view.RG, view.rel.slot[c]) : tileRect(view.G, c);
}

/** The unit in slot `s` of the shown tiles, and the slot of unit `c`. */
export const unitAt = (view, s) => (relevanceShown(view) ? view.rel.order[s] : s);
export const slotOf = (view, c) => (relevanceShown(view) ? view.rel.slot[c] : c);

/** Draw the relevance tiles (built once per payload and width) into view.R.canvas. */
export function drawRelevance(view, lut) {
  const { rel, fit, ui } = view;
  if (!view.RG || view.RG.rel !== rel || view.RG.width !== fit.grid) {
    view.RG = { ...tileGeometry(rel.C, rel.H, rel.W, fit.grid), rel, width: fit.grid };
    const R = tileCanvas(view.RG, "xw-relevance");
    Object.assign(R.canvas.dataset, { cols: String(view.RG.cols), tileH: String(rel.H), tileW: String(rel.W) });
    if (view.R) view.R.canvas.remove();
    view.R = R;
    ui.gridWrap.insertBefore(R.canvas, view.marks);
    paint(view, lut);
  }
}

function paint(view, lut) {
  const { rel, RG, R } = view;
  const HW = rel.H * rel.W;
  const rgba = new Uint8ClampedArray(4 * rel.C * HW);
  shadeSigned(rgba, rel.x, rel.scale, lut, null, null);
  const out = R.img.data;
  out.fill(0);
  for (let s = 0; s < rel.C; s++) {
    const c = rel.order[s];
    const [x0, y0] = tileOrigin(RG, s);
    for (let r = 0; r < rel.H; r++) {
      const from = 4 * (c * HW + r * rel.W);
      out.set(rgba.subarray(from, from + 4 * rel.W), 4 * ((y0 + r) * RG.gw + x0));
    }
  }
  R.ctx.putImageData(R.img, 0, 0);
}

/**
 * The zoom pane in relevance mode: unit c's conditional heatmap, the same pixels as its tile
 * (opaque, nearest neighbour), not its activation. The panel's `data-shows` says which.
 */
export function drawRelevanceZoom(view, c, lut) {
  const { rel, zoomPanel: P, ui } = view;
  if (!view.relZoom || view.relZoom.rel !== rel || view.relZoom.c !== c) {
    const HW = rel.H * rel.W;
    const small = document.createElement("canvas");
    [small.width, small.height] = [rel.W, rel.H];
    const ctx = small.getContext("2d");
    const img = ctx.createImageData(rel.W, rel.H);
    shadeSigned(img.data, rel.x.subarray(c * HW, (c + 1) * HW), rel.scale, lut, null, null);
    ctx.putImageData(img, 0, 0);
    view.relZoom = { rel, c, small };
  }
  P.ctx.setTransform(1, 0, 0, 1, 0, 0);
  P.ctx.globalAlpha = 1;
  P.ctx.imageSmoothingEnabled = false;
  P.ctx.clearRect(0, 0, P.canvas.width, P.canvas.height);
  P.ctx.drawImage(view.relZoom.small, 0, 0, P.canvas.width, P.canvas.height);
  P.canvas.dataset.shows = "relevance";
  ui.zoomCaption.textContent = `unit ${c}'s relevance for ${rel.class_name} (its tile, enlarged)`;
}

/** Which canvas the grid shows: relevance tiles, patterns or activation tiles. */
export function showCanvas(view, which) {
  if (view.R) view.R.canvas.hidden = which !== "relevance";
  view.patternCanvas.hidden = which !== "patterns";
  view.T.canvas.hidden = which !== "tiles";
}

/** The legend caption in relevance mode. */
export function relevanceCaption(view) {
  const { rel } = view;
  return `${rel.layer}: relevance for ${rel.class_name} (conditional heatmaps, CRP) · tiles sorted by R_c, most relevant first`
    + ` · scale ±${rule(rel)} · blue < 0 < red`;
}

const rule = (rel) => `${Number(rel.scale).toPrecision(3)} (${rel.rule})`;

/** What relevance mode says about unit c in the unit pane and the readout. */
export function relevanceShort(view, c) {
  const { rel } = view;
  return `R_c = ${Number(rel.relevance[c]).toPrecision(3)} · ${(100 * Number(rel.share[c])).toFixed(1)}% of the layer's Σ|R_c|`;
}

/** The unit pane's line: relevanceShort, the unit's rank and the layer's total. */
export function relevanceLine(view, c) {
  const { rel } = view;
  return `relevance for ${rel.class_name}: ${relevanceShort(view, c)} · rank ${rel.slot[c] + 1} of ${rel.C} (all units: ΣR_c = ${Number(rel.total).toPrecision(3)}, logit ${Number(rel.logit).toPrecision(3)})`;
}

/** Why relevance mode shows activations instead (no payload for this image, class or layer yet). */
export function relevancePending(view, noKernel) {
  return noKernel ? "relevance for this image and class needs a live kernel: showing activations"
    : "computing relevance…";
}
