// Pointer and keyboard input. Hovering the original sets the query cell; hovering a copy or a
// chart point pairs them (`highlight`). One hit test and one queued closure per pointer event,
// at most one paint per animation frame (lib/hover.js).
import { clampInt } from "../lib/panels.js";
import { listenMoves, isPanel, leavesPanels, dispatchPaint, pinKeys } from "../lib/hover.js";
import { sameCell } from "./query.js";
import { paint, updateHighlight, updateReadout } from "./draw.js";
import { setQuery } from "./sync.js";

/** {image, row, col} under the pointer (image 0 = original, k + 1 = copy k) or null. */
function hitTest(view, ev) {
  const t = ev.target;
  const { D } = view;
  if (!D || !isPanel(t)) return null;
  const i = Number(t.dataset.copy) + 1;
  const P = view.panels[i];
  if (!P) return null;
  const rect = t.getBoundingClientRect();
  const x = ((ev.clientX - rect.left) * P.W) / (rect.width || P.W);
  const y = ((ev.clientY - rect.top) * P.H) / (rect.height || P.H);
  return { image: i, row: clampInt(Math.floor((y * D.h) / P.H), 0, D.h - 1), col: clampInt(Math.floor((x * D.w) / P.W), 0, D.w - 1) };
}

function processHover(view, ev, hit) {
  const t0 = performance.now();
  const before = view.pinned || view.hover;
  view.pointer = hit;
  if (hit && hit.image === 0) view.hover = { row: hit.row, col: hit.col };
  const nextHighlight = hit ? hit.image - 1 : view.highlight;
  const active = view.pinned || view.hover;
  if (!sameCell(before, active)) {
    paint(view);
    dispatchPaint(view.el, ev, t0, active);
  }
  if (nextHighlight !== view.highlight) {
    view.highlight = nextHighlight;
    updateHighlight(view);
  } else {
    updateReadout(view);
  }
}

/** Pair copy k (-1: none) with its chart point, when it changes. */
function setHighlight(view, k) {
  if (k === view.highlight) return;
  view.highlight = k;
  updateHighlight(view);
}

/** Leaving the panels and the chart altogether clears the hover. */
function leaveStrip(view) {
  view.pointer = null;
  const before = view.pinned || view.hover;
  view.hover = null;
  view.highlight = -1;
  if (!sameCell(before, view.pinned)) paint(view);
  updateHighlight(view);
}

/** A click on the original pins its cell; while pinned, a click there unpins (and hovers it). */
function onClick(view, ev) {
  const hit = hitTest(view, ev);
  if (!hit || hit.image !== 0) return;
  view.frames.drop();
  view.pointer = hit;
  if (view.pinned) {
    view.hover = { row: hit.row, col: hit.col };
    setQuery(view, null);
  } else {
    setQuery(view, hit);
  }
}

export function listenPointer(view) {
  const { listen, strip, chart } = view;
  const { queue } = view.frames;
  listenMoves(listen, strip, (ev) => {
    if (view.chartBox.contains(ev.target)) return; // the chart's own listeners pair it with the copies
    const hit = hitTest(view, ev);
    queue(() => processHover(view, ev, hit));
  });
  listen(strip, "pointerout", (ev) => {
    if (!leavesPanels(ev, strip)) return;
    // off the panels: keep the hovered cell (to reach the chart), drop the pointer readout
    queue(() => {
      view.pointer = null;
      updateReadout(view);
    });
  });
  listen(strip, "pointerleave", () => queue(() => leaveStrip(view)));
  listen(chart.canvas, "pointermove", (ev) => {
    const k = chart.nearest(ev);
    queue(() => setHighlight(view, k));
  });
  listen(chart.canvas, "pointerleave", () => queue(() => setHighlight(view, -1)));
  listen(strip, "click", (ev) => onClick(view, ev));
}

const MOVES = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };

/** The cell an arrow key on the focused strip pins (from the active cell, else the centre), or null. */
function moveTo(view, ev) {
  const { D } = view;
  const m = MOVES[ev.key];
  if (!D || ev.target !== view.strip || !m) return null;
  const q = view.pinned || view.hover || { row: D.h >> 1, col: D.w >> 1 };
  view.pointer = null;
  return { row: clampInt(q.row + m[0], 0, D.h - 1), col: clampInt(q.col + m[1], 0, D.w - 1) };
}

export function listenKeys(view) {
  view.listen(view.root, "keydown", pinKeys(() => view.pinned, (q) => setQuery(view, q), (ev) => moveTo(view, ev)));
}
