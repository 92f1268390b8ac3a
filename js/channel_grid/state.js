// The view every channel-grid module shares (DOM nodes, decoded data, the layout chosen),
// the settings the keys cycle through, and the trait readers and writers.
import { getNum } from "../lib/dom.js";
import { clampInt } from "../lib/panels.js";
import { kernelOnly } from "../lib/kernel.js";

export const GAMMAS = [1, 0.7, 0.5, 0.3]; // DeepVis `t`
export const BOOSTS = [0, 0.3, 0.5, 0.8, 1]; // DeepVis `T`
export const BACK_CYCLE = [["off", "raw"], ["grad", "raw"], ["grad", "norm"], ["deconv", "raw"], ["guided", "raw"]];
export const ZOOMS = ["unit", "back", "off"];
export const NORMS = ["layer", "channel", "fixed"];
export const GAP = 12; // px between the layer list, the grid and the unit pane
export const PANE_PX = [248, 300]; // unit pane width: narrow outputs, outputs of WIDE_PX or more
// The one number each pane takes of a unit's map with unit_objective "default" (DeepVis's choices,
// as the Python widget's DEFAULT_OBJECTIVES).
export const DEFAULT_OBJECTIVES = { back: "sum", scan: "max", visualise: "mean" };
export const OBJECTIVE_TEXT = { sum: "sum over space", mean: "spatial mean", max: "spatial max" };

export const fmt = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3)) : String(v));
export const objectiveText = (name) => OBJECTIVE_TEXT[name] || String(name);

/** The state of one render(): `ui` holds the DOM nodes, the rest what is decoded and drawn. */
export function createView(shell, details) {
  return {
    ...shell,
    details,
    ui: {},
    A: null, // activations of the current layer (data.js loadActs)
    images: [],
    G: null, // tile geometry
    T: null, // tile canvas
    marks: null, // overlay canvas for outlines and badges
    patternCanvas: null,
    idx: null, // colour index of every cell of the shown image
    scratch: null,
    range: null,
    hover: null,
    keyHover: null, // the tiles a hovered badge-key entry names: c -> bool
    patches: null,
    visuals: null,
    units: null,
    luts: {},
    zoomPanel: null,
    zoomBases: new Map(), // image index -> its picture scaled to the zoom pane, made once
    backCache: null,
    rel: null, // relevance mode's payload (relevance.js loadRelevance)
    RG: null, // relevance tiles' geometry
    R: null, // relevance tile canvas
    fit: { width: 0, grid: 0, pane: PANE_PX[0], list: true }, // the layout chosen (layout.js)
  };
}

export const num = (view, name, d) => getNum(view.model, name, d);

export function setTrait(view, name, value) {
  view.model.set(name, value);
  view.model.save_changes();
}

/** Normalisation options of lib/normalise.js from the traits. */
export function opts(view) {
  const { model } = view;
  const vr = model.get("vrange") || [0, 1];
  return {
    mode: NORMS.includes(model.get("normalisation")) ? model.get("normalisation") : "layer",
    vrange: [Number(vr[0]) || 0, Number(vr[1]) || 0],
    boost: num(view, "boost", 0),
    gamma: num(view, "gamma", 1),
    signed: view.A ? view.A.signed : false,
  };
}

export const lutName = (view) => (view.A && view.A.signed ? "diverging" : view.model.get("colormap"));
export const currentImage = (view) => (view.A ? clampInt(num(view, "image", 0), 0, view.A.N - 1) : 0);
export const currentUnit = (view) => (view.A ? clampInt(num(view, "selected", 0), 0, view.A.C - 1) : 0);
/** The scan summary when it is of the layer shown, else null. */
export const unitsShown = (view) => (view.units && view.units.layer === view.A.layer ? view.units : null);
/** Whether the top patches are of the layer shown. */
export const patchesShown = (view) => !!(view.patches && view.A && view.patches.layer === view.A.layer);

/** What `pane` ("back", "scan", "visualise") takes of a unit's map under the chosen unit_objective. */
export function objectiveFor(view, pane) {
  const chosen = view.model.get("unit_objective");
  return OBJECTIVE_TEXT[chosen] ? chosen : DEFAULT_OBJECTIVES[pane];
}

export function setLayer(view, name) {
  if (name !== view.model.get("layer") && !kernelOnly(view.model, `Showing layer ${name}`)) setTrait(view, "layer", name);
}

export function setBack(view, mode, filter) {
  view.model.set("back_mode", mode);
  if (mode !== "off") view.model.set("back_filter", filter);
  view.model.save_changes();
}

/** Send `msg` to the kernel, or say that `what` needs one. */
export function ask(view, msg, what) {
  if (!kernelOnly(view.model, what)) view.model.send(msg);
}
