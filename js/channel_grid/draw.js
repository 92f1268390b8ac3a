// Drawing the grid column: the tiles (or each unit's best patch), the colour legend, the zoomed
// unit over its image, and the top classes.
import { elem } from "../lib/dom.js";
import { scaledImage, drawBase, drawOverlay } from "../lib/panels.js";
import { normaliseInto } from "../lib/normalise.js";
import { drawTiles, tileRect } from "../lib/tiles.js";
import { NEEDS_KERNEL, noKernel } from "../lib/kernel.js";
import { fmt, num, opts, lutName, currentImage, currentUnit, objectiveText, patchesShown } from "./state.js";
import { backRecord } from "./data.js";
import { drawMarks } from "./marks.js";
import { updateUnitInfo } from "./pane.js";
import {
  drawRelevance, drawRelevanceZoom, relevanceCaption, relevanceMode, relevancePending, relevanceShown, showCanvas,
} from "./relevance.js";

/** Normalise and colour the shown image's activations and draw everything that shows them. */
export function redraw(view) {
  const { A, G, T, model } = view;
  if (!A || !G) return;
  const t0 = performance.now();
  const n = currentImage(view);
  view.range = normaliseInto(view.idx, view.scratch, A.x, n * A.C * A.H * A.W, A.C, A.H * A.W, opts(view));
  const lut = view.luts[lutName(view)] || view.luts.gray;
  if (lut) drawTiles(T, G, view.idx, lut);
  const relShown = relevanceShown(view);
  if (relShown) drawRelevance(view, view.luts.diverging);
  const showPatterns = !relShown && !!model.get("pattern") && patchesShown(view);
  showCanvas(view, relShown ? "relevance" : showPatterns ? "patterns" : "tiles");
  if (showPatterns) drawPatterns(view);
  drawMarks(view);
  drawLegend(view, lut);
  drawZoom(view, lut);
  updateUnitInfo(view);
  view.markPainted();
  view.el.dispatchEvent(new CustomEvent("xw-paint", { detail: { work: performance.now() - t0 } }));
}

/** Pattern mode: each tile shows its unit's best dataset patch. */
function drawPatterns(view) {
  const { patternCanvas, G, patches } = view;
  const ctx = patternCanvas.getContext("2d");
  const dpr = patternCanvas.width / G.cssW;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, G.cssW, G.cssH);
  ctx.imageSmoothingEnabled = true;
  const k = patches.shape[1];
  for (let c = 0; c < G.C; c++) {
    const [x, y, w, h] = tileRect(G, c);
    const rec = patches.items[c * k];
    if (!rec.canvas) rec.canvas = scaledImage(rec, rec.W0, rec.H0);
    ctx.drawImage(rec.canvas, x, y, w, h);
  }
}

function drawLegend(view, lut) {
  const { A, range, rel } = view;
  if (relevanceShown(view)) {
    view.ui.legend.draw(view.luts.diverging, -rel.scale, rel.scale, { fmt, caption: relevanceCaption(view) });
    return;
  }
  const o = opts(view);
  let lo;
  let hi;
  if (o.mode === "channel") [lo, hi] = A.signed ? [-1, 1] : [0, 1];
  else if (o.mode === "fixed") [lo, hi] = A.signed ? [-Math.max(Math.abs(o.vrange[0]), Math.abs(o.vrange[1])), Math.max(Math.abs(o.vrange[0]), Math.abs(o.vrange[1]))] : o.vrange;
  else [lo, hi] = A.signed ? [-range.m, range.m] : [range.lo, range.hi];
  const what = { layer: "one range for the whole layer (DeepVis)", channel: "each channel scaled to its own range", fixed: "fixed range" }[o.mode];
  const extras = [o.boost ? `boost ${o.boost}` : "", o.gamma !== 1 ? `gamma ${o.gamma}` : "", A.signed ? "signed: blue < 0 < red" : "",
    relevanceMode(view) ? relevancePending(view, noKernel(view.model)) : ""].filter(Boolean);
  view.ui.legend.draw(lut, lo, hi, { fmt, caption: `${A.layer}: ${what}${extras.length ? ` · ${extras.join(" · ")}` : ""}` });
}

/** The zoom pane: the selected unit over the image (in relevance mode its heatmap), or its back view (zoom "back"). */
function drawZoom(view, lut) {
  const { model, ui, A, zoomPanel, zoomBases, images } = view;
  const zoom = model.get("zoom");
  const c = currentUnit(view);
  const n = currentImage(view);
  ui.zoomBox.hidden = zoom === "off";
  ui.zoomCaption.hidden = zoom === "off";
  if (zoom === "off" || !zoomPanel) return;
  const back = backRecord(view);
  if (zoom !== "back" && relevanceShown(view)) {
    drawRelevanceZoom(view, c, view.luts.diverging);
    return;
  }
  zoomPanel.canvas.dataset.shows = zoom === "back" && back ? "back" : "activation";
  if (zoom === "back" && back) {
    ui.zoomCaption.textContent = `back view (${model.get("back_mode")}, ${model.get("back_filter")}) of unit ${c}'s ${objectiveText(back.objective)}`;
    drawBase(zoomPanel, scaledImage(back, zoomPanel.W, zoomPanel.H));
    return;
  }
  ui.zoomCaption.textContent = zoom !== "back" ? `unit ${c} of ${A.layer} over image ${n}`
    : noKernel(model) && model.get("back_mode") !== "off" ? `unit ${c} (its back view ${NEEDS_KERNEL})` : `unit ${c} (back view off: press b)`;
  if (!zoomBases.has(n)) zoomBases.set(n, images[n] ? scaledImage(images[n], zoomPanel.W, zoomPanel.H) : null);
  if (zoomBases.get(n)) drawBase(zoomPanel, zoomBases.get(n));
  const HW = A.H * A.W;
  drawOverlay(zoomPanel, view.idx.subarray(c * HW, (c + 1) * HW), lut, 0, 255, num(view, "opacity", 0.6));
}

/** The model's top classes for the shown image, as bars. */
export function drawProbs(view) {
  const { probsBox } = view.ui;
  const all = view.model.get("_probs") || [];
  const rows = all[currentImage(view)] || [];
  probsBox.replaceChildren();
  if (!rows.length) return;
  probsBox.appendChild(Object.assign(elem("div", "xw-caption", "top classes"), { style: "grid-column: 1 / -1" }));
  for (const [name, p] of rows) {
    const bar = elem("div", "xw-bar");
    bar.style.width = `${Math.max(1, Math.round(80 * Number(p)))}px`;
    probsBox.append(elem("span", null, String(name)), bar, elem("span", "xw-sub", `${(100 * Number(p)).toFixed(1)}%`));
  }
}
