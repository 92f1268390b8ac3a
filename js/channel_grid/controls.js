// The header (view settings) and the action row (kernel tasks): their elements, the traits they
// show (syncControls) and the traits they set.
import { elem } from "../lib/dom.js";
import { progressControl } from "../lib/controls.js";
import {
  GAMMAS, BOOSTS, BACK_CYCLE, ZOOMS, OBJECTIVE_TEXT,
  num, setTrait, setLayer, setBack, ask, currentImage, patchesShown,
} from "./state.js";

/** A labelled select appended to `header`. */
function select(header, label, cls, options) {
  const lab = elem("label", null, label);
  const s = elem("select", cls);
  s.append(...options.map(([v, text]) => Object.assign(elem("option", null, text), { value: v })));
  lab.appendChild(s);
  header.appendChild(lab);
  return s;
}

/** div.xw-header with every view setting; its controls go into view.ui. */
export function buildHeader(view) {
  const { ui } = view;
  const header = elem("div", "xw-header");
  ui.layerSelect = select(header, "layer", "xw-layer-select", []);
  ui.layerLabel = ui.layerSelect.parentElement;
  ui.normSelect = select(header, "normalise", "xw-norm", [["layer", "whole layer"], ["channel", "per channel"], ["fixed", "fixed range"]]);
  ui.rangeBox = elem("span", "xw-range");
  ui.loInput = Object.assign(elem("input", "xw-lo"), { type: "number", step: "any", title: "low end of the fixed range" });
  ui.hiInput = Object.assign(elem("input", "xw-hi"), { type: "number", step: "any", title: "high end of the fixed range" });
  ui.rangeBox.append(ui.loInput, document.createTextNode(" – "), ui.hiInput);
  header.appendChild(ui.rangeBox);
  ui.boostSelect = select(header, "boost", "xw-boost", BOOSTS.map((b) => [String(b), String(b)]));
  ui.gammaSelect = select(header, "gamma", "xw-gamma", GAMMAS.map((g) => [String(g), String(g)]));
  ui.cmapSelect = select(header, "colormap", "xw-colormap", [["gray", "gray"], ["viridis", "viridis"]]);
  ui.modeSelect = select(header, "tiles", "xw-mode", [["activation", "activation (unit order)"], ["relevance", "relevance (sorted by R_c)"]]);
  ui.modeSelect.title = "activation: what each unit responds to · relevance: what each unit contributed to the class (CRP)";
  ui.classSelect = select(header, "for class", "xw-class", []);
  ui.classSelect.title = "the class whose decision relevance mode explains";
  ui.backSelect = select(header, "back view", "xw-backmode", BACK_CYCLE.map(([m, f]) => [`${m}/${f}`, m === "off" ? "off" : `${m} (${f})`]));
  ui.zoomSelect = select(header, "zoom", "xw-zoom", ZOOMS.map((z) => [z, z]));
  ui.objectiveSelect = select(header, "unit as", "xw-objective", [
    ["default", "each pane's default"], ...Object.entries(OBJECTIVE_TEXT).map(([k, text]) => [k, `its ${text}`])]);
  ui.objectiveSelect.title = "what the back view, the top patches and activation maximisation take of the unit's map";
  const patternLabel = elem("label", null, "patterns");
  ui.patternBox = Object.assign(elem("input", "xw-pattern"), { type: "checkbox", title: "tiles show each unit's best dataset patch (needs a scan)" });
  patternLabel.prepend(ui.patternBox);
  const opLabel = elem("label", null, "opacity");
  ui.opInput = Object.assign(elem("input", "xw-opacity"), { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(ui.opInput);
  header.append(patternLabel, opLabel);
  return header;
}

/** div.xw-actions: the kernel tasks (scan, activation maximisation) and their progress. */
export function buildActions(view, listen) {
  const { ui } = view;
  const actions = elem("div", "xw-header xw-actions");
  ui.scanButton = elem("button", "xw-scan", "Scan dataset");
  ui.visButton = elem("button", "xw-vis-unit", "What does this unit want to see?");
  ui.visAllButton = elem("button", "xw-vis-all", "… every unit");
  ui.progress = progressControl(view.model, listen);
  actions.append(ui.scanButton, ui.visButton, ui.visAllButton, ui.progress.box);
  return actions;
}

/** The class select: the prediction, then every class by name (from `_class_names`). */
export function buildClassList(view) {
  const names = view.model.get("_class_names") || [];
  view.ui.classSelect.replaceChildren(Object.assign(elem("option", null, "predicted"), { value: "" }),
    ...names.map((name, k) => Object.assign(elem("option", null, String(name)), { value: String(k) })));
  syncMode(view);
}

function syncMode(view) {
  const { model, ui } = view;
  ui.modeSelect.value = model.get("mode");
  const k = model.get("relevance_class");
  ui.classSelect.value = k == null ? "" : String(k);
  ui.classSelect.disabled = model.get("mode") !== "relevance";
}

/** Controls -> traits. */
export function wireControls(view, listen) {
  const { model, ui } = view;
  const set = (name, value) => setTrait(view, name, value);
  listen(ui.normSelect, "change", () => set("normalisation", ui.normSelect.value));
  const setRange = () => {
    const lo = Number(ui.loInput.value);
    const hi = Number(ui.hiInput.value);
    if (Number.isFinite(lo) && Number.isFinite(hi)) set("vrange", [lo, hi]);
  };
  listen(ui.loInput, "change", setRange);
  listen(ui.hiInput, "change", setRange);
  listen(ui.boostSelect, "change", () => set("boost", Number(ui.boostSelect.value)));
  listen(ui.gammaSelect, "change", () => set("gamma", Number(ui.gammaSelect.value)));
  listen(ui.cmapSelect, "change", () => set("colormap", ui.cmapSelect.value));
  listen(ui.backSelect, "change", () => setBack(view, ...ui.backSelect.value.split("/")));
  listen(ui.zoomSelect, "change", () => set("zoom", ui.zoomSelect.value));
  listen(ui.modeSelect, "change", () => set("mode", ui.modeSelect.value));
  listen(ui.classSelect, "change", () => set("relevance_class", ui.classSelect.value === "" ? null : Number(ui.classSelect.value)));
  listen(ui.objectiveSelect, "change", () => set("unit_objective", ui.objectiveSelect.value));
  listen(ui.layerSelect, "change", () => {
    setLayer(view, ui.layerSelect.value);
    ui.layerSelect.value = model.get("layer"); // refused (no kernel): show the layer still shown
  });
  listen(ui.patternBox, "change", () => set("pattern", ui.patternBox.checked));
  listen(ui.opInput, "input", () => model.set("opacity", Number(ui.opInput.value)));
  listen(ui.opInput, "change", () => set("opacity", Number(ui.opInput.value)));
  listen(ui.scanButton, "click", () => ask(view, { type: "scan" }, "Scanning the dataset"));
  listen(ui.visButton, "click", () => ask(view, { type: "visualise", channels: "selected" }, "Activation maximisation"));
  listen(ui.visAllButton, "click", () => ask(view, { type: "visualise", channels: "all" }, "Activation maximisation"));
}

/** Traits -> the header's controls. */
function syncSettings(view) {
  const { model, ui, A } = view;
  ui.normSelect.value = model.get("normalisation");
  const vr = model.get("vrange") || [0, 1];
  if (document.activeElement !== ui.loInput) ui.loInput.value = String(vr[0]);
  if (document.activeElement !== ui.hiInput) ui.hiInput.value = String(vr[1]);
  ui.rangeBox.hidden = model.get("normalisation") !== "fixed";
  ui.boostSelect.value = String(num(view, "boost", 0));
  ui.gammaSelect.value = String(num(view, "gamma", 1));
  ui.cmapSelect.value = model.get("colormap");
  ui.cmapSelect.disabled = !!(A && A.signed);
  ui.cmapSelect.title = A && A.signed ? "this layer has negative values: shown in the diverging map" : "";
  const bm = `${model.get("back_mode")}/${model.get("back_mode") === "off" ? "raw" : model.get("back_filter")}`;
  if (![...ui.backSelect.options].some((o) => o.value === bm)) {
    ui.backSelect.appendChild(Object.assign(elem("option", null, bm.replace("/", " (") + ")"), { value: bm }));
  }
  ui.backSelect.value = bm;
  ui.zoomSelect.value = model.get("zoom");
  ui.objectiveSelect.value = model.get("unit_objective");
  ui.layerSelect.value = model.get("layer");
  ui.patternBox.checked = !!model.get("pattern");
  ui.patternBox.disabled = !patchesShown(view);
  ui.opInput.value = String(num(view, "opacity", 0.6));
  syncMode(view);
}

/** Traits -> every control: the header, the current layer and image, the task buttons. */
export function syncControls(view) {
  const { model, ui } = view;
  syncSettings(view);
  for (const b of ui.layerList.children) b.setAttribute("aria-current", String(b.dataset.layer === model.get("layer")));
  for (const b of ui.strip.children) b.setAttribute("aria-current", String(Number(b.dataset.image) === currentImage(view)));
  const running = ui.progress.sync();
  ui.scanButton.disabled = running || !model.get("_can_scan");
  ui.scanButton.title = !model.get("_can_scan") ? "pass dataset= to ChannelGrid to scan"
    : model.get("mode") === "relevance" ? "each unit's top-k patches by its relevance for the class (CRP reference samples)"
      : "top-k patches and unit statistics over the dataset";
  ui.visButton.disabled = running;
  ui.visAllButton.disabled = running;
}
