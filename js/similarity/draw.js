// Drawing for the active query (pinned, else hovered): the panels' overlays and outlines, the
// token chips, the legend and the readout. paint() runs on every hover that changes the query.
import { lutIndex } from "../lib/colormap.js";
import { getNum } from "../lib/dom.js";
import { vrangeOf } from "../lib/controls.js";
import { WORST, drawBase, drawOverlay, outlineCell, colourRange } from "../lib/panels.js";
import { isToken, cellAt, computeSims, describe, valueAt } from "./query.js";

/** What the similarity numbers are, for the legend caption (`_data.similarity`). */
const SIMILARITY_NAMES = { cosine: "cosine similarity", dot: "dot product", centred: "cosine after centring" };

function fmtTick(v) {
  if (!Number.isFinite(v)) return String(v);
  const s = (+v.toFixed(3)).toString();
  return s === "-0" ? "0" : s;
}

function fmtSim(v) {
  return Number.isFinite(v) ? v.toFixed(3) : String(v);
}

/** The range the colours are drawn over (the diverging map's symmetric about 0: colourRange). */
function currentRange(view, active) {
  const { model, D } = view;
  const auto = model.get("auto_range") && active && D && Number.isFinite(D.smin);
  const [lo, hi] = auto ? [D.smin, D.smax] : vrangeOf(model);
  return colourRange(model.get("colormap"), lo, hi);
}

/** The legend's caption: what the numbers are and, for the diverging map, what its neutral colour means. */
function legendCaption(view) {
  const what = (view.D && SIMILARITY_NAMES[view.D.similarity]) || "similarity";
  if (view.model.get("colormap") !== "diverging") return what;
  return `${what} · grey centre = 0: orthogonal vectors (red: alike, blue: opposed)`;
}

function updateLegend(view, active) {
  const { legend } = view.controls;
  const caption = legendCaption(view);
  if (view.model.get("auto_range") && !active) {
    legend.draw(view.lut, 0, 1, { ticks: [0.5], labels: ["auto range"], caption });
    return;
  }
  const [lo, hi] = currentRange(view, active);
  legend.draw(view.lut, lo, hi, { fmt: fmtTick, caption });
}

function drawPanel(view, j, n, active, lo, hi, alpha) {
  const { D, factors } = view;
  const P = view.panels[j][n];
  drawBase(P, view.bases[n]);
  if (factors && j === factors.row) {
    // one texel per cell, nearest neighbour: the same cell geometry as the similarity overlay
    P.ctx.imageSmoothingEnabled = false;
    P.ctx.drawImage(factors.tints[n], 0, 0, P.w, P.h, 0, 0, P.canvas.width, P.canvas.height);
  }
  if (active && D.layers[j].shaded) {
    drawOverlay(P, D.layers[j].sims[n], view.lut, lo, hi, alpha);
    if (!isToken(active) && n === active.image) outlineCell(P, ...cellAt(D, active, j));
  }
  if (view.model.get("show_worst")) {
    for (const w of D.layers[j].worst) if (w.image === n && w.row !== undefined) outlineCell(P, w.row, w.col, WORST);
  }
}

/** Fill each chip with its token's similarity to the query (empty where its row is not shaded). */
function paintChips(view, active, lo, hi) {
  const { D, lut } = view;
  for (const c of view.chips) {
    const L = D.layers[c.j];
    const i = lutIndex(active && L.shaded ? L.tokenOut[c.n * L.P + c.k] : NaN, lo, hi);
    const bg = i < 0 ? "" : `rgb(${lut.rgb[3 * i]}, ${lut.rgb[3 * i + 1]}, ${lut.rgb[3 * i + 2]})`;
    if (bg !== c.bg) c.swatch.style.backgroundColor = c.bg = bg;
    const worst = view.model.get("show_worst") && D.layers[c.j].worst.some((w) => w.image === c.n && w.token === c.k);
    c.chip.classList.toggle("xw-worst", worst);
    const isQuery = isToken(active) && active.layer === c.j && active.image === c.n && active.token === c.k;
    c.chip.classList.toggle("xw-query", isQuery);
    c.chip.setAttribute("aria-pressed", String(isQuery && active === view.pinned));
  }
}

/**
 * Redraw everything that depends on the active query, then call after() (if given). When a
 * worker computes half of a new query's similarities, the drawing waits for it (a millisecond
 * or two); a newer paint meanwhile supersedes this one.
 */
export function paint(view, after) {
  const { D } = view;
  if (!D) return;
  const active = view.pinned || view.hover;
  if (active && !computeSims(D, active, () => paint(view, after))) return;
  const [lo, hi] = currentRange(view, active);
  const alpha = Math.min(1, Math.max(0, getNum(view.model, "opacity", 0.7)));
  const { panels } = view;
  for (let j = 0; j < panels.length; j++) {
    for (let n = 0; n < panels[j].length; n++) drawPanel(view, j, n, active, lo, hi, alpha);
  }
  paintChips(view, active, lo, hi);
  updateLegend(view, active);
  updateReadout(view);
  view.markPainted();
  if (after) after(active);
}

/** The pinned query and the value under the pointer (kept while pinned). */
export function updateReadout(view) {
  const { D, pinned, pointerCell } = view;
  const parts = [];
  if (D && pinned) parts.push(`pinned: ${describe(D, pinned)}`);
  const s = D && pointerCell && (pinned || view.hover) ? valueAt(D, pointerCell) : null;
  if (s !== null) parts.push(`${pinned ? "pointer: " : ""}${describe(D, pointerCell)} · similarity ${fmtSim(s)}`);
  view.status.setReadout(parts.join("   |   "));
}
