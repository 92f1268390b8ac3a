// The widget's DOM, built once per render into the view's `ui` and `charts`, and the fit of
// its columns and charts to the width given.
import { elem, hintLine } from "../lib/dom.js";
import { progressControl } from "../lib/controls.js";
import { ColorLegend } from "../lib/legend.js";
import { fitPanels, detailsLine } from "../lib/fit.js";
import { GAP, STRIP, THUMB, MIN_CHART, MAX_CHART } from "./style.js";
import { frameSize, currentStep } from "./state.js";
import { makeChart, buildCharts } from "./charts.js";
import { drawReplay } from "./replay.js";

/** The linked charts of the path: name (also its box's xw-chart-<name> class) and label. */
const PATH_CHARTS = [["probs", "class probabilities along the path"], ["entropy", "two-class entropy along the path"],
  ["gains", "per-step and cumulative gain"], ["norms", "latent norm along the path"], ["pixel", "pixel along the path"]];
const OVERLAYS = [["none", "none"], ["mask", "mask (green)"], ["diff", "step difference"], ["masked", "masked step difference"]];

/** The view every module works on: the shell's parts, the DOM (`ui`, `charts`) and the state. */
export function createView(model, el, shell) {
  const view = {
    model, el, ...shell, ui: {}, charts: {},
    M: null, panel: null, diverging: null,
    playing: 0, // timer id
    barCells: [], pixelSeries: null,
    avail: 0, // the root's content width, CSS px (0 until laid out)
    frameCache: new Map(), stepDiff: null,
  };
  const { ui } = view;
  const header = headerRow(view);
  ui.endRow = elem("div", "xw-row xw-endpoints"); // endpoints and the red/blue maps
  const pathRow = pathRowOf(view);
  const smRow = replayRow(view);
  const hint = hintLine([["kbd", "←"], ["", "/"], ["kbd", "→"], ["", " step, "], ["kbd", "Home"], ["", "/"], ["kbd", "End"],
    ["", " ends, "], ["kbd", "Space"], ["", " play; click the frame for a pixel's curve along the path."]]);
  ui.details = detailsLine();
  const { status } = view;
  view.root.append(header, ui.endRow, pathRow, smRow, status.readout, hint, status.errorBox, status.messageBox, ui.details.el);
  el.appendChild(view.root);
  return view;
}

/** Overlay and opacity controls, the overlay's legend and the kernel's progress. */
function headerRow(view) {
  const { ui } = view;
  const header = elem("div", "xw-header");
  const ovLabel = elem("label", null, "overlay");
  ui.ovSelect = elem("select", "xw-overlay");
  ui.ovSelect.append(...OVERLAYS.map(([v, t]) => Object.assign(elem("option", null, t), { value: v })));
  ovLabel.appendChild(ui.ovSelect);
  const opLabel = elem("label", null, "opacity");
  ui.opInput = Object.assign(elem("input", "xw-opacity"), { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(ui.opInput);
  ui.legend = new ColorLegend();
  ui.progress = progressControl(view.model, view.listen);
  header.append(ovLabel, opLabel, ui.legend.el, ui.progress.box);
  return header;
}

/** The path: frame, slider, strip, class bars, and the linked charts. */
function pathRowOf(view) {
  const { ui, charts } = view;
  const pathRow = elem("div", "xw-row");
  ui.frameCol = elem("div", "xw-col");
  ui.frameCaption = elem("div", "xw-caption");
  ui.frameBox = elem("div");
  const sliderRow = elem("div", "xw-header");
  ui.playButton = elem("button", "xw-play", "▶ play");
  ui.slider = Object.assign(elem("input", "xw-slider"), { type: "range", min: "0", step: "1" });
  sliderRow.append(ui.playButton, ui.slider);
  ui.strip = elem("div", "xw-strip");
  ui.frameCol.append(ui.frameCaption, ui.frameBox, sliderRow, ui.strip);
  ui.barsCol = elem("div", "xw-col");
  const barsCaption = elem("div", "xw-caption", "classes at this frame");
  ui.bars = elem("div", "xw-bars");
  const barsHint = elem("div", "xw-sub", "click a class to morph toward it");
  ui.barsCol.append(barsCaption, ui.bars, barsHint);
  pathRow.append(ui.frameCol, ui.barsCol);
  ui.chartBox = elem("div", "xw-charts");
  for (const [name, label] of PATH_CHARTS) charts[name] = makeChart(label, name);
  charts.pixel.box.hidden = true;
  ui.chartBox.append(...PATH_CHARTS.map(([name]) => charts[name].box));
  pathRow.appendChild(ui.chartBox); // beside the frame when it fits there (see fit)
  return pathRow;
}

/** The Semantic Morphing replay: its image, slider and text, and its two charts. */
function replayRow(view) {
  const { ui, charts } = view;
  ui.smRow = elem("div", "xw-row xw-sm");
  ui.smCol = elem("div", "xw-col xw-sm-col");
  const smCaption = elem("div", "xw-caption", "Semantic Morphing, replayed");
  ui.smCanvas = elem("canvas", "xw-thumb xw-sm-image");
  ui.smSlider = Object.assign(elem("input", "xw-slider xw-sm-slider"), { type: "range", min: "0", step: "1" });
  ui.smText = elem("div", "xw-sub");
  ui.smCol.append(smCaption, ui.smCanvas, ui.smSlider, ui.smText);
  charts.smLoss = makeChart("Semantic Morphing losses", "sm-loss");
  charts.smEntropy = makeChart("Semantic Morphing entropy", "sm-entropy");
  ui.smRow.append(ui.smCol, charts.smLoss.box, charts.smEntropy.box);
  return ui.smRow;
}

/** Column widths and chart sizes for the width given; redraws the charts when they change size. */
export function fit(view) {
  const { M, avail, ui, charts } = view;
  if (!M || !avail) return;
  const colW = Math.min(avail, Math.max(frameSize(view), STRIP * (THUMB + 2)));
  ui.frameCol.style.width = `${colW}px`;
  const rest = avail - colW - (ui.barsCol.offsetWidth || 230) - 2 * GAP;
  const beside = rest >= 2 * MIN_CHART + GAP;
  const f = beside ? { size: Math.min(MAX_CHART, Math.floor((rest - GAP) / 2)), perRow: 2 }
    : fitPanels(avail, 4, MAX_CHART, { min: MIN_CHART, gap: GAP });
  ui.chartBox.style.width = `${beside ? rest : avail}px`;
  const w = f.size;
  const h = Math.round(Math.min(200, Math.max(150, w * 0.42)));
  const sm = fitPanels(avail - (ui.smCol.offsetWidth || 224) - GAP, 2, MAX_CHART, { min: MIN_CHART, gap: GAP }).size;
  let resized = false;
  for (const [name, c] of Object.entries(charts)) {
    const cw = name.startsWith("sm") ? sm : w; // the replay's charts share its row
    c.box.style.width = `${cw}px`;
    if (c.W !== cw || c.H !== h) {
      c.resize(cw, h);
      resized = true;
    }
  }
  view.root.dataset.layout = beside ? "charts-beside" : "charts-below";
  ui.details.set("layout", `layout: charts ${beside ? "beside" : "under"} the frame, ${f.perRow} per row, ${w} × ${h} px each (${avail} px available)`);
  if (resized) {
    buildCharts(view, currentStep(view));
    drawReplay(view);
  }
}
