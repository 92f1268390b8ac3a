// The widget's fixed DOM: the two tabs (occlusion: settings, the three linked panels, the feature
// list and the analysis, the feature synthesis; sandbox: brush, painted and perturbed panels), built once per render.
// Every element later code touches goes in `app.ui`.
import { elem, hintLine } from "../lib/dom.js";
import { progressControl } from "../lib/controls.js";
import { ColorLegend } from "../lib/legend.js";
import { fmtNumber } from "../lib/chart.js";
import { num, isSandbox } from "./state.js";
import { drawReadout } from "./draw.js";
import { buildSynthesis, syncSynthesis } from "./synthesis.js";

const MODES = [["pixelate", "pixelate (Norton)"], ["noise", "random pixels"], ["box", "bounding boxes"]];
const PATCHES = [2, 4, 6, 8, 12, 16, 24, 32];
const KINDS = [["blur", "blur"], ["constant", "constant (mean colour)"], ["noise", "noise"]];
const HINT = [["kbd", "1"], ["", "–"], ["kbd", "9"], ["", " toggle features, "], ["kbd", "↑"], ["", "/"], ["kbd", "↓"],
  ["", " highlight, "], ["kbd", "Enter"], ["", " toggle it, "], ["kbd", "a"], ["", " occlude all, "], ["kbd", "Esc"], ["", " show all, "],
  ["kbd", "t"], ["", " switch tab; sandbox: "], ["kbd", "["], ["", "/"], ["kbd", "]"], ["", " brush, "], ["kbd", "c"], ["", " clear."]];

const px = (v) => `${fmtNumber(v)} px`;
const button = (cls, text) => Object.assign(elem("button", cls, text), { type: "button" });
const select = (cls, options) => {
  const s = elem("select", cls);
  s.append(...options.map(([v, t]) => Object.assign(elem("option", null, t), { value: v })));
  return s;
};
const labelled = (text, control) => {
  const l = elem("label", null, text);
  l.appendChild(control);
  return l;
};
const column = (...children) => {
  const col = elem("div", "xw-col");
  col.append(...children);
  return col;
};

/** A labelled range input with its value printed beside it by `fmt`. */
function rangeControl(label, cls, min, max, step, fmt) {
  const l = elem("label", null, label);
  const input = Object.assign(elem("input", cls), { type: "range", min: String(min), max: String(max), step: String(step) });
  const value = elem("span", "xw-value xw-sub");
  l.append(input, value);
  return { label: l, input, value, fmt };
}

function buildTabs(ui) {
  const tabs = elem("div", "xw-tabs");
  tabs.setAttribute("role", "tablist");
  ui.tabButtons = {};
  for (const [key, text] of [["occlusion", "Occlusion"], ["sandbox", "Paint sandbox"]]) {
    const b = button(`xw-tab xw-tab-${key}`, text);
    b.setAttribute("role", "tab");
    b.dataset.tab = key;
    ui.tabButtons[key] = b;
    tabs.appendChild(b);
  }
  ui.tabs = tabs;
  return tabs;
}

/** The feature finder's settings and the occluder. */
function occlusionControls(ui) {
  const controls = elem("div", "xw-header");
  ui.thr = rangeControl("threshold ×", "xw-threshold", 0.5, 15, 0.5, fmtNumber);
  ui.thr.label.title = "candidate pixels: relevance r > threshold × (sum of the positive r over the image) / (H × W pixels) (default 5, as in Norton 2018)";
  ui.dist = rangeControl("distance", "xw-distance", 1, 4, 0.5, px);
  ui.dist.label.title = "pixels this close (px, Euclidean) join one feature (default 1.5 = 8-neighbours)";
  ui.minSize = rangeControl("min size", "xw-min-size", 0, 100, 5, px);
  ui.minSize.label.title = "features with fewer pixels are dropped (default 20)";
  ui.modeSelect = select("xw-mode", MODES);
  ui.patchSelect = elem("select", "xw-patch");
  ui.patchLabel = labelled("patch", ui.patchSelect);
  ui.opac = rangeControl("colour", "xw-opacity", 0, 1, 0.05, () => "");
  controls.append(ui.thr.label, ui.dist.label, ui.minSize.label, labelled("occluder", ui.modeSelect), ui.patchLabel, ui.opac.label);
  return controls;
}

/** The three linked panels' columns: features, relevance (with its legend), occluded image (with the top-5). */
function panelRow(ui) {
  const row = elem("div", "xw-row");
  ui.featCaption = elem("div", "xw-caption xw-feature-caption");
  ui.featStack = elem("div", "xw-stack");
  ui.featCol = column(ui.featCaption, ui.featStack);
  ui.relCaption = elem("div", "xw-caption");
  ui.relBox = elem("div");
  ui.legend = new ColorLegend();
  ui.legendCaption = elem("div", "xw-sub xw-cutoff");
  ui.relCol = column(ui.relCaption, ui.relBox, ui.legend.el, ui.legendCaption);
  ui.occCaption = elem("div", "xw-caption");
  ui.occBox = elem("div");
  ui.topList = elem("div", "xw-top xw-top-occlusion");
  ui.occCol = column(ui.occCaption, ui.occBox, elem("div", "xw-caption xw-top-caption", "prediction"), ui.topList);
  row.append(ui.featCol, ui.relCol, ui.occCol);
  return row;
}

/** The feature list and the analysis (its button, progress and finding cards). */
function lowerRow(app, ui) {
  const row = elem("div", "xw-row");
  const listHead = elem("div", "xw-header");
  ui.allButton = button("xw-all", "occlude all");
  ui.noneButton = button("xw-none", "show all");
  listHead.append(elem("span", "xw-caption", "features, most important first"), ui.allButton, ui.noneButton);
  const listSub = elem("div", "xw-sub", "Δ: drop of p(target) when the feature alone is occluded; click to toggle");
  ui.flist = elem("div", "xw-flist");
  ui.flist.setAttribute("role", "group");
  const anaCol = elem("div", "xw-col xw-analysis");
  const anaHead = elem("div", "xw-header");
  ui.analyseButton = button("xw-analyse", "Analyse");
  ui.analyseButton.title = "find the most important feature, the smallest sets that keep or flip the prediction, and the largest change";
  ui.progress = progressControl(app.model, app.listen, (p) => `${p.task}: ${p.done}${p.total ? ` / ${p.total}` : ""} sets`);
  anaHead.append(ui.analyseButton, ui.progress.box);
  ui.findings = elem("div", "xw-findings");
  ui.anaSub = elem("div", "xw-sub");
  anaCol.append(anaHead, ui.findings, ui.anaSub);
  row.append(column(listHead, listSub, ui.flist), anaCol);
  return row;
}

function sandboxTab(ui) {
  const tab = elem("div", "xw-tabpanel xw-tabpanel-sandbox");
  const controls = elem("div", "xw-header");
  ui.brush = rangeControl("brush radius", "xw-brush", 1, 32, 1, px);
  ui.kindSelect = select("xw-kind", KINDS);
  ui.clearButton = button("xw-clear", "clear");
  controls.append(ui.brush.label, labelled("perturbation", ui.kindSelect), ui.clearButton);
  const row = elem("div", "xw-row");
  ui.paintBox = elem("div");
  ui.paintCol = column(elem("div", "xw-caption", "paint a region (Shift: erase)"), ui.paintBox);
  ui.pertCaption = elem("div", "xw-caption");
  ui.pertBox = elem("div");
  ui.sbTopList = elem("div", "xw-top xw-top-sandbox");
  ui.pertCol = column(ui.pertCaption, ui.pertBox, elem("div", "xw-caption xw-top-caption", "prediction"), ui.sbTopList);
  row.append(ui.paintCol, ui.pertCol);
  tab.append(controls, row);
  ui.sbTab = tab;
  return tab;
}

/** Build the fixed DOM into app.root (and app.ui). */
export function buildChrome(app) {
  const ui = {};
  app.ui = ui;
  const tabs = buildTabs(ui);
  ui.note = elem("div", "xw-sub xw-note");
  ui.occTab = elem("div", "xw-tabpanel xw-tabpanel-occlusion");
  const synthRow = elem("div", "xw-row");
  synthRow.appendChild(buildSynthesis(ui));
  ui.occTab.append(occlusionControls(ui), panelRow(ui), lowerRow(app, ui), synthRow);
  const sbTab = sandboxTab(ui);
  const { status } = app;
  app.root.append(tabs, ui.note, ui.occTab, sbTab, status.readout, hintLine(HINT), app.details.el, status.errorBox, status.messageBox);
}

/** The patch select holds PATCHES, and the current patch where it is not one of them. */
function syncPatch(ui, patch) {
  const opts = PATCHES.includes(patch) ? PATCHES : [...PATCHES, patch].sort((a, b) => a - b);
  if (ui.patchSelect.options.length !== opts.length) {
    ui.patchSelect.replaceChildren(...opts.map((p) => Object.assign(elem("option", null, `${p} px`), { value: String(p) })));
  }
  ui.patchSelect.value = String(patch);
}

/** Tabs, controls and buttons from the traits; the readout of the tab shown. */
export function syncControls(app) {
  const { ui, model, D } = app;
  const t = isSandbox(app) ? "sandbox" : "occlusion";
  for (const [k, b] of Object.entries(ui.tabButtons)) b.setAttribute("aria-selected", String(k === t));
  ui.occTab.hidden = t !== "occlusion";
  ui.sbTab.hidden = t !== "sandbox";
  drawReadout(app);
  const set = (c, v) => {
    if (document.activeElement !== c.input) c.input.value = String(v);
    c.value.textContent = c.fmt(v);
  };
  set(ui.thr, num(app, "threshold", 5));
  set(ui.dist, num(app, "distance", 1.5));
  set(ui.minSize, num(app, "min_size", 20));
  set(ui.opac, num(app, "opacity", 0.55));
  set(ui.brush, num(app, "brush", 6));
  ui.modeSelect.value = model.get("mode");
  syncPatch(ui, num(app, "patch", 8));
  ui.patchLabel.hidden = model.get("mode") !== "pixelate";
  ui.kindSelect.value = model.get("sandbox_kind");
  const running = ui.progress.sync();
  ui.analyseButton.disabled = running || !D || D.n === 0;
  syncSynthesis(app, running);
  ui.allButton.disabled = ui.noneButton.disabled = !D || D.n === 0;
  if (D) {
    ui.note.textContent = `Relevance from ${D.method}. Features are the pixels the network found relevant, grouped into islands; `
      + "they need not be parts a person would name. Toggling one occludes it and re-runs the model.";
  }
}
