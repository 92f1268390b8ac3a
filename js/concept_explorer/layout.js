// The DOM: the concept picker (grouped by category, with set IoU of the combination against the
// best single filter), the sorted weight bars, neighbours and the arithmetic box beside it,
// the sliders and the strips of examples at each decile of per-image IoU under them.
import { elem, hintLine } from "../lib/dom.js";
import { BAR_H, COMBINATION, SINGLE } from "./draw.js";
import { fmtScore } from "./data.js";

export const GAP = 12;
export const PICKER_W = 230; // css px of the concept list
const LABEL_W = 92; // the strips' row labels
const CELL_GAP = 4;
export const ROWS = ["combination", "single", "channel"];

/** The fixed chrome (built once per render). */
export function buildChrome(view) {
  const { root, status } = view;
  view.picker = elem("div", "xw-picker");
  view.picker.setAttribute("role", "listbox");
  view.picker.setAttribute("aria-label", "concepts");
  view.title = elem("div", "xw-title");
  view.scores = elem("div", "xw-scores");
  view.bars = elem("canvas", "xw-bars");
  view.barCaption = elem("div", "xw-sub");
  view.nearest = elem("div", "xw-nearest");
  view.expression = Object.assign(elem("input", "xw-expression"), { type: "text", placeholder: "e.g. dots + red - blue" });
  view.expression.setAttribute("aria-label", "concept arithmetic");
  view.solve = Object.assign(elem("button", "xw-solve", "="), { type: "button" });
  view.arithResults = elem("div", "xw-arith-results");
  view.arithError = elem("div", "xw-arith-error");
  view.arithError.hidden = true;
  const arith = elem("div", "xw-arith");
  arith.append(elem("span", "xw-sub", "arithmetic"), view.expression, view.solve);
  const main = elem("div", "xw-main");
  main.append(view.title, view.scores, view.bars, view.barCaption, status.readout, view.nearest, arith,
    view.arithResults, view.arithError);
  const top = elem("div", "xw-top");
  top.append(view.picker, main);
  view.threshold = slider("threshold p", 0.01, 0.99, 0.01);
  view.opacity = slider("opacity", 0, 1, 0.05);
  const controls = elem("div", "xw-header");
  controls.append(view.threshold.label, view.opacity.label, key(COMBINATION, "combination"), key(SINGLE, "best single filter"),
    key([255, 255, 0], "concept mask", true));
  view.strip = elem("div", "xw-strip");
  root.append(top, controls, view.strip, hintLine([["", "Click a concept, a bar (a channel's activations) or a "
    + "neighbour; "], ["kbd", "↑"], ["kbd", "↓"], ["", " change concept, "], ["kbd", "←"], ["kbd", "→"],
  ["", " step through the channels, "], ["kbd", "Esc"], ["", " clears the channel."]]),
  status.messageBox, status.errorBox);
}

function slider(text, min, max, step) {
  const label = elem("label", null, text);
  const input = Object.assign(elem("input"), { type: "range", min: String(min), max: String(max), step: String(step) });
  const value = elem("span", "xw-value");
  label.append(input, value);
  return { label, input, value };
}

function key(rgb, text, outlined = false) {
  const box = elem("span", "xw-key");
  const swatch = elem("span", outlined ? "xw-swatch xw-outlined" : "xw-swatch");
  swatch.style.setProperty(outlined ? "border-color" : "background", `rgb(${rgb.join(",")})`);
  box.append(swatch, elem("span", null, text));
  return box;
}

/** The picker's rows, grouped by category in the order categories first appear. */
export function buildPicker(view) {
  const { D } = view;
  const groups = new Map();
  D.names.forEach((_, q) => {
    const cat = D.categories[q];
    if (!groups.has(cat)) groups.set(cat, []);
    groups.get(cat).push(q);
  });
  view.conceptButtons = [];
  const parts = [];
  for (const [cat, members] of groups) {
    parts.push(elem("div", "xw-cat", cat));
    for (const q of members) {
      const b = Object.assign(elem("button", "xw-concept"), { type: "button" });
      b.dataset.concept = String(q);
      b.setAttribute("role", "option");
      const meter = elem("span", "xw-meter");
      const comb = elem("span", "xw-comb");
      const one = elem("span", "xw-one");
      comb.style.width = `${Math.max(0, Math.min(1, Number(D.iou[q]) || 0)) * 100}%`;
      one.style.width = `${Math.max(0, Math.min(1, Number(D.single[q][1]) || 0)) * 100}%`;
      meter.append(comb, one);
      b.append(elem("span", "xw-name", D.names[q]), meter,
        elem("span", "xw-nums", `${fmtScore(D.iou[q])} / ${fmtScore(D.single[q][1])}`));
      b.title = `${D.names[q]}: set IoU ${fmtScore(D.iou[q])} with the combination, `
        + `${fmtScore(D.single[q][1])} with filter ${D.single[q][0]} alone`;
      view.conceptButtons.push(b);
      parts.push(b);
    }
  }
  view.picker.replaceChildren(elem("div", "xw-sub xw-picker-head", "set IoU: combination / best filter"), ...parts);
}

/** The strips' grid for the available width: a header row of deciles, one row per strip. */
export function buildStrips(view) {
  const { D } = view;
  const avail = view.avail || 900;
  const cell = Math.max(32, Math.min(Number(view.model.get("size")) || 80,
    Math.floor((avail - LABEL_W - D.S * CELL_GAP) / D.S)));
  view.strip.style.gridTemplateColumns = `${LABEL_W}px repeat(${D.S}, ${cell}px)`;
  const nodes = [elem("div", "xw-sub", "decile of IoU")];
  for (let s = 0; s < D.S; s++) nodes.push(elem("div", "xw-sub xw-colhead", `${s + 1}`));
  view.cells = [];
  view.rowLabels = {};
  for (const row of ROWS) {
    const label = elem("div", "xw-rowlabel");
    view.rowLabels[row] = label;
    nodes.push(label);
    for (let s = 0; s < D.S; s++) {
      const box = elem("div", "xw-cell");
      const canvas = Object.assign(elem("canvas", "xw-panel"), { width: D.dw, height: D.dh });
      Object.assign(canvas.style, { width: `${cell}px`, height: `${Math.round((cell * D.dh) / D.dw)}px` });
      canvas.dataset.row = row;
      canvas.dataset.slot = String(s);
      const caption = elem("div", "xw-sub");
      box.append(canvas, caption);
      view.cells.push({ row, slot: s, box, canvas, caption });
      nodes.push(box);
    }
  }
  view.strip.replaceChildren(...nodes);
}

/** Bar canvas size for the width beside the picker. */
export function sizeBars(view) {
  const w = Math.max(160, (view.avail || 900) - PICKER_W - GAP);
  if (view.bars.width !== w) view.bars.width = w;
  view.bars.height = BAR_H;
  view.bars.style.width = `${w}px`;
  view.bars.style.height = `${BAR_H}px`;
}
