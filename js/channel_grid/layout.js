// The body (layer list, grid column, unit pane), fitting it to the output's width, and the parts
// rebuilt when the data or the width change: layer list, image strip, tile canvases, zoom panel.
import { elem } from "../lib/dom.js";
import { ColorLegend } from "../lib/legend.js";
import { scaledImage, makePanel } from "../lib/panels.js";
import { tileGeometry, tileCanvas } from "../lib/tiles.js";
import { GAP, PANE_PX, num, currentImage } from "./state.js";

const THUMB_PX = 48;
const WIDE_PX = 1200;
const GRID_MIN = 240; // below this the grid cannot sit beside the pane: the pane goes under it

/** div.xw-body: the layer list, the middle column (strip, grid, legend, badge key, classes) and the unit pane. */
export function buildBody(view) {
  const { ui } = view;
  ui.layerList = elem("div", "xw-layers");
  ui.layerList.setAttribute("aria-label", "layers");
  ui.middle = elem("div", "xw-middle");
  ui.strip = elem("div", "xw-strip");
  ui.gridWrap = elem("div", "xw-gridwrap");
  ui.legend = new ColorLegend();
  ui.badgeKey = elem("div", "xw-sub xw-badge-key");
  ui.badgeKey.setAttribute("aria-label", "tile badges");
  ui.probsBox = elem("div", "xw-probs");
  ui.middle.append(ui.strip, ui.gridWrap, ui.legend.el, ui.badgeKey, ui.probsBox);
  const body = elem("div", "xw-body");
  body.append(ui.layerList, ui.middle, buildSide(ui));
  return body;
}

/** div.xw-side, the unit pane: zoom, prefix tokens, back view, unit statistics, top patches and visualisation. */
function buildSide(ui) {
  ui.side = elem("div", "xw-side");
  ui.zoomCaption = elem("div", "xw-caption xw-zoomcaption");
  ui.zoomBox = elem("div", "xw-zoombox");
  ui.prefixInfo = elem("div", "xw-sub xw-prefix");
  ui.prefixInfo.setAttribute("aria-label", "prefix tokens");
  ui.backCaption = elem("div", "xw-sub");
  ui.backPair = elem("div", "xw-pair");
  ui.unitInfo = elem("div", "xw-sub xw-unitinfo");
  ui.patchCaption = elem("div", "xw-sub xw-patchcaption");
  ui.patchCanvas = elem("canvas", "xw-patchgrid");
  ui.visCaption = elem("div", "xw-sub xw-viscaption");
  ui.visCanvas = elem("canvas", "xw-visual");
  const found = elem("div", "xw-found");
  ui.patchCol = elem("div");
  ui.visCol = elem("div");
  ui.patchCol.append(ui.patchCaption, ui.patchCanvas);
  ui.visCol.append(ui.visCaption, ui.visCanvas);
  found.append(ui.patchCol, ui.visCol);
  ui.side.append(ui.zoomCaption, ui.zoomBox, ui.prefixInfo, ui.backCaption, ui.backPair, ui.unitInfo, found);
  return ui.side;
}

/**
 * Choose the layout for an output `width` px wide: the unit pane beside the grid, the layer
 * list as a column when the grid keeps its preferred width (`size`) beside it, else as the
 * select in the header; the pane under the grid only when the grid would be under GRID_MIN.
 * The caller rebuilds the grid and redraws.
 */
export function layout(view, width) {
  const { ui, fit } = view;
  const inner = width - 16; // the root's padding
  const pane = PANE_PX[width >= WIDE_PX ? 1 : 0];
  const preferred = Math.max(64, num(view, "size", 560));
  ui.layerList.hidden = false;
  const listW = ui.layerList.offsetWidth;
  const list = inner - pane - listW - 2 * GAP >= preferred;
  const room = inner - pane - GAP - (list ? listW + GAP : 0);
  const stacked = room < GRID_MIN;
  Object.assign(fit, { width, list, pane: stacked ? Math.min(pane, inner) : pane, grid: Math.min(preferred, stacked ? inner : room) });
  ui.layerList.hidden = !list;
  ui.layerLabel.hidden = list;
  ui.side.style.width = `${fit.pane}px`;
  ui.middle.style.width = `${fit.grid}px`;
  const name = stacked ? "stacked" : list ? "list-grid-pane" : "select-grid-pane";
  view.root.dataset.layout = name;
  view.details.set("layout", `layout: ${stacked ? "unit pane under the grid" : `${list ? "layer list, " : "layer select above, "}grid and unit pane side by side`}`
    + ` (grid ${fit.grid} px, pane ${fit.pane} px, output ${width} px)`);
}

const shapeText = (shape) => (Array.isArray(shape) ? shape.join("×") : "");

/** The layer list (buttons) and the layer select, from `_layer_list`. */
export function buildLayerList(view) {
  const { model, ui } = view;
  const current = model.get("layer");
  const infos = model.get("_layer_list") || [];
  ui.layerList.replaceChildren(
    ...infos.map((L) => {
      const b = elem("button", "xw-layer");
      b.type = "button";
      b.dataset.layer = String(L.name);
      b.setAttribute("aria-current", String(L.name === current));
      b.append(elem("span", null, String(L.name)), elem("span", "xw-shape", shapeText(L.shape)));
      b.title = `${L.name} (${L.type})`;
      return b;
    }),
  );
  ui.layerSelect.replaceChildren(
    ...infos.map((L) => Object.assign(elem("option", null, `${L.name} (${shapeText(L.shape)})`), { value: String(L.name) })),
  );
  ui.layerSelect.value = current;
}

/** The strip of image thumbnails. */
export function buildStrip(view) {
  const titles = (view.model.get("_images") || {}).titles || [];
  const n0 = currentImage(view);
  view.ui.strip.replaceChildren(
    ...view.images.map((im, n) => {
      const b = elem("button", "xw-thumb");
      b.type = "button";
      b.dataset.image = String(n);
      b.title = titles[n] != null ? String(titles[n]) : `image ${n}`;
      b.setAttribute("aria-current", String(n === n0));
      const [w, h] = im.W0 >= im.H0 ? [THUMB_PX, Math.max(1, Math.round((THUMB_PX * im.H0) / im.W0))] : [Math.max(1, Math.round((THUMB_PX * im.W0) / im.H0)), THUMB_PX];
      const c = scaledImage(im, w, h);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
      b.appendChild(c);
      return b;
    }),
  );
}

/** A canvas of the grid's CSS size at the device's pixel ratio. */
function overlayCanvas(G, cls) {
  const canvas = elem("canvas", cls);
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(G.cssW * dpr);
  canvas.height = Math.round(G.cssH * dpr);
  canvas.style.width = `${G.cssW}px`;
  canvas.style.height = `${G.cssH}px`;
  return canvas;
}

/** The tile canvas with its pattern and marks overlays, and the zoom panel, for the layer and width. */
export function buildGrid(view) {
  const { ui, A, fit, images } = view;
  ui.gridWrap.replaceChildren();
  view.R = null; // relevance tiles: drawn anew for this layer and width (relevance.js)
  view.RG = null;
  if (!A) return;
  if (!fit.width) return; // the width is not known yet: layout() builds it
  const G = tileGeometry(A.C, A.H, A.W, fit.grid);
  view.G = G;
  view.T = tileCanvas(G, "xw-tiles");
  Object.assign(view.T.canvas.dataset, { cols: String(G.cols), tileH: String(G.H), tileW: String(G.W) });
  view.idx = new Uint8Array(A.C * A.H * A.W);
  view.scratch = new Float64Array(A.H * A.W);
  view.marks = overlayCanvas(G, "xw-marks");
  view.patternCanvas = overlayCanvas(G, "xw-patterns");
  ui.gridWrap.append(view.T.canvas, view.patternCanvas, view.marks);
  const [H0, W0] = [images[0] ? images[0].H0 : A.H, images[0] ? images[0].W0 : A.W];
  const [zw, zh] = W0 >= H0 ? [fit.pane, Math.round((fit.pane * H0) / W0)] : [Math.round((fit.pane * W0) / H0), fit.pane];
  view.zoomPanel = makePanel(zw, zh, A.W, A.H, {});
  ui.zoomBox.replaceChildren(view.zoomPanel.canvas);
  view.zoomBases.clear();
}
