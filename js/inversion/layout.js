// The widget's DOM: built once per render (header, image and loss chart, replay slider) and the
// layer rows rebuilt per payload; the fit of the panels and the chart to the width given.
import { elem, hintLine } from "../lib/dom.js";
import { progressControl } from "../lib/controls.js";
import { ColorLegend } from "../lib/legend.js";
import { LineChart } from "../lib/chart.js";
import { detailsLine } from "../lib/fit.js";
import { GAP, LABEL, MIN_PANEL, CHART_H } from "./style.js";

/** The view every module works on: the shell's parts, the DOM (`ui`) and the decoded payload M. */
export function createView(model, el, shell) {
  const view = { model, el, ...shell, ui: {}, M: null, rows: [], avail: 0 };
  const { ui, status } = view;
  const header = elem("div", "xw-header");
  ui.title = elem("span", "xw-caption", "What each layer keeps");
  const spreadLabel = elem("label", null, "spread across pre-images");
  ui.spreadBox = Object.assign(elem("input", "xw-spread-toggle"), { type: "checkbox" });
  spreadLabel.prepend(ui.spreadBox);
  ui.progress = progressControl(model, view.listen, (p) => `${p.task}: ${p.done}${p.total ? ` / ${p.total} steps` : ""}`);
  header.append(ui.title, spreadLabel, ui.progress.box);
  view.root.append(header, topRow(view), sliderRow(view));
  ui.rows = elem("div", "xw-layer-rows");
  ui.legend = new ColorLegend({ label: "spread colour scale" });
  ui.legendBox = elem("div", "xw-spread-legend");
  ui.legendBox.append(ui.legend.el);
  const hint = hintLine([["kbd", "←"], ["", "/"], ["kbd", "→"], ["", " step through the descent, "], ["kbd", "Home"], ["", "/"],
    ["kbd", "End"], ["", " its start and end. Pre-images all match the layer's representation: what they share, the layer keeps."]]);
  ui.details = detailsLine();
  view.root.append(ui.rows, ui.legendBox, status.readout, hint, status.errorBox, status.messageBox, ui.details.el);
  el.appendChild(view.root);
  return view;
}

/** The image and the loss chart beside it. */
function topRow(view) {
  const { ui } = view;
  const row = elem("div", "xw-row xw-top");
  const col = elem("div", "xw-col");
  ui.image = elem("canvas", "xw-panel");
  ui.image.dataset.role = "image";
  col.append(elem("div", "xw-caption", "image"), ui.image);
  ui.chart = new LineChart({ width: 420, height: CHART_H, label: "representation loss per layer along the descent" });
  ui.chartBox = elem("div", "xw-chart-box xw-chart-loss");
  ui.chartKey = elem("div");
  ui.chartBox.append(ui.chart.el, ui.chartKey);
  row.append(col, ui.chartBox);
  return row;
}

/** The replay slider over the snapshots and its caption. */
function sliderRow(view) {
  const { ui } = view;
  const row = elem("div", "xw-row xw-replay");
  const label = elem("label", null, "replay");
  ui.slider = Object.assign(elem("input", "xw-slider"), { type: "range", min: "0", max: "0", step: "1" });
  label.append(ui.slider);
  ui.stepText = elem("span", "xw-sub xw-step-text");
  row.append(label, ui.stepText);
  return row;
}

/** A pre-image (or spread) panel: canvas at the image's own pixels, shown at `size` CSS px, and a caption. */
function panel(M, data, caption) {
  const box = elem("div", "xw-col xw-cell");
  const canvas = elem("canvas", "xw-panel");
  [canvas.width, canvas.height] = [M.W, M.H];
  Object.assign(canvas.dataset, data);
  const cap = elem("div", "xw-sub xw-cell-caption", caption);
  box.append(canvas, cap);
  return { box, canvas, cap };
}

/** One row per layer (its pre-images and spread), and a line per layer still to compute. */
export function buildRows(view) {
  const { M, ui } = view;
  view.rows = [];
  const nodes = [];
  if (M) {
    M.layers.forEach((lay, l) => {
      const row = elem("div", "xw-layer-row");
      row.dataset.layer = lay.name;
      const label = elem("div", "xw-layer-label");
      const mean = elem("div", "xw-sub xw-mean-loss");
      label.append(elem("div", "xw-caption", lay.name), mean);
      const cells = lay.final.map((_, s) => panel(M, { role: "preimage", layer: lay.name, index: String(s) }, ""));
      const spread = panel(M, { role: "spread", layer: lay.name }, "spread");
      row.append(label, ...cells.map((c) => c.box), spread.box);
      view.rows.push({ l, row, cells, spread, mean });
      nodes.push(row);
    });
    for (const name of M.pending) nodes.push(elem("div", "xw-sub xw-pending", `${name}: not computed yet`));
  }
  ui.rows.replaceChildren(...nodes);
}

export const fmt = (v) => (Number.isFinite(v) ? String(+v.toPrecision(3)) : "undefined");

/** Panels and chart sized to the width given: n pre-images and the spread per row beside the labels. */
export function fit(view) {
  const { M, ui } = view;
  if (!M) return;
  const cols = M.n + 1;
  const avail = view.avail || 900;
  const room = Math.floor((avail - LABEL - GAP * cols) / cols);
  const size = Math.max(MIN_PANEL, Math.min(Number(view.model.get("size")) || 112, room));
  const px = `${size}px`;
  for (const canvas of view.root.querySelectorAll("canvas.xw-panel")) Object.assign(canvas.style, { width: px, height: px });
  for (const cap of view.root.querySelectorAll(".xw-cell")) cap.style.width = px;
  const chartW = Math.max(280, Math.min(640, avail - size - 3 * GAP));
  if (ui.chart.W !== chartW) ui.chart.resize(chartW, CHART_H);
  view.panelSize = size;
  ui.details.set("layout", `panels ${size} px, chart ${chartW} px, for ${avail} px`);
}
