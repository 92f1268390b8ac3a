// The widget's fixed DOM and the one context object its modules share.
import { elem, hintLine } from "../lib/dom.js";
import { detailsLine } from "../lib/fit.js";
import { frameQueue } from "../lib/hover.js";
import { buildHeader } from "./header.js";
import { buildFactorBar } from "./factors.js";

function buildGrid() {
  const grid = elem("div", "xw-grid");
  grid.tabIndex = 0;
  grid.setAttribute("role", "application");
  grid.setAttribute("aria-label", "similarity grid");
  grid.setAttribute("data-lm-suppress-shortcuts", "true");
  return grid;
}

const HINT = [
  ["", "hover: compare · click: pin / unpin · focus the grid, then "],
  ["kbd", "←↑↓→"],
  ["", " move & pin · "],
  ["kbd", "["],
  ["", " "],
  ["kbd", "]"],
  ["", " previous / next image · "],
  ["kbd", "Esc"],
  ["", " unpin"],
];

/**
 * Build the DOM under `shell.root` (widgetShell) into `el`, and return the view: the elements,
 * the decoded data `D` and what is drawn from it, and the queries.
 */
export function createView(model, el, shell) {
  const { root, status } = shell;
  const head = buildHeader();
  const bar = buildFactorBar();
  const grid = buildGrid();
  const details = detailsLine();
  root.append(head.header, bar.factorBar, hintLine(HINT), grid, status.readout, details.el, status.errorBox, status.messageBox);
  el.appendChild(root);
  return {
    ...shell,
    ...head,
    ...bar,
    grid,
    details,
    frames: frameQueue(),
    D: null, // decoded data (data.js)
    panels: [], // panels[j][n] = {canvas, ctx, W, H, small, sctx, img, px}
    chips: [], // one per prefix token of each image of each token row: {chip, swatch, j, n, k, bg}
    bases: [], // bases[n]: canvas holding the image scaled to its panel backing size
    laidOut: null, // the layout shown: {room, size, perRow, rows, labelW, largest}
    pinned: null, // internal query {image, layer (index), row, col} or {image, layer, token}
    hover: null, // internal query under the pointer or the keyboard focus (same shapes) or null
    pointerCell: null, // cell or token under the pointer, kept for the readout while pinned
    factors: null, // loadFactors() result + tints: one small canvas per image (the factor row's tint)
    lut: null,
  };
}

/** Undo render(): listeners, the pending frame, the DOM and the big buffers. */
export function disposeView(view, life) {
  life.dispose();
  view.frames.dispose();
  view.root.remove();
  if (view.D) view.D.dots.dispose(); // the worker, if any
  view.D = null;
  view.factors = null;
  view.panels = [];
  view.bases = [];
  view.chips = [];
}
