// Pointer, focus and keyboard input. Hover is the hot path: one hit test (one layout read) and
// one queued closure per pointer event, then at most one paint per animation frame (lib/hover.js).
import { clampInt } from "../lib/panels.js";
import { listenMoves, isPanel, leavesPanels, dispatchPaint, pinKeys } from "../lib/hover.js";
import { isToken, sameQuery, toExternal, validateQuery } from "./query.js";
import { paint, updateReadout } from "./draw.js";
import { setQuery } from "./sync.js";

/** The patch query under the pointer, or null off the panels. */
function panelCell(view, ev) {
  const t = ev.target;
  if (!view.D || !isPanel(t)) return null;
  const j = Number(t.dataset.layer);
  const n = Number(t.dataset.image);
  const P = view.panels[j] && view.panels[j][n];
  if (!P) return null;
  const rect = t.getBoundingClientRect();
  let x = ev.clientX - rect.left;
  let y = ev.clientY - rect.top;
  if (rect.width > 0 && Math.abs(rect.width - P.W) > 0.01) x *= P.W / rect.width;
  if (rect.height > 0 && Math.abs(rect.height - P.H) > 0.01) y *= P.H / rect.height;
  return {
    image: n,
    layer: j,
    row: clampInt(Math.floor((y * P.h) / P.H), 0, P.h - 1),
    col: clampInt(Math.floor((x * P.w) / P.W), 0, P.w - 1),
  };
}

const chipOf = (node) => (node && node.closest ? node.closest(".xw-token") : null);
const hoverable = (node) => isPanel(node) || !!chipOf(node);

/** The token query of the chip holding `node`, or null. */
function chipQuery(view, node) {
  const chip = chipOf(node);
  if (!chip) return null;
  const { layer, image, token } = chip.dataset;
  return validateQuery(view.D, { layer: Number(layer), image: Number(image), token: Number(token) });
}

const hitTest = (view, ev) => panelCell(view, ev) || chipQuery(view, ev.target);

function processHover(view, ev, cell) {
  const t0 = performance.now();
  const before = view.pinned || view.hover;
  const beforePointer = view.pointerCell;
  view.pointerCell = cell;
  view.hover = cell;
  const active = view.pinned || view.hover;
  if (!sameQuery(before, active)) {
    paint(view, (drawn) => dispatchPaint(view.el, ev, t0, toExternal(view.D, drawn)));
  } else if (!sameQuery(beforePointer, cell)) {
    updateReadout(view);
  }
}

const queueHover = (view, ev, cell) => view.frames.queue(() => processHover(view, ev, cell));

/** A click on a cell or chip pins it; while pinned, any click unpins (and hovers what it hit). */
function onClick(view, ev) {
  const cell = hitTest(view, ev);
  if (!cell) return;
  view.pointerCell = cell;
  view.frames.drop();
  if (view.pinned) {
    view.hover = cell;
    setQuery(view, null);
  } else {
    setQuery(view, cell);
  }
}

/** Hover, focus and click on the grid's panels and token chips. */
export function listenPointer(view) {
  const { listen, grid } = view;
  listenMoves(listen, grid, (ev) => queueHover(view, ev, hitTest(view, ev)));
  listen(grid, "pointerout", (ev) => {
    if (leavesPanels(ev, grid, hoverable)) queueHover(view, ev, null);
  });
  // A focused chip queries its token like a hovered one (Enter / Space click it: pin).
  listen(grid, "focusin", (ev) => {
    const q = chipQuery(view, ev.target);
    if (q) queueHover(view, ev, q);
  });
  listen(grid, "focusout", (ev) => {
    const q = chipQuery(view, ev.target);
    if (q && sameQuery(q, view.hover) && !chipQuery(view, ev.relatedTarget)) queueHover(view, ev, null);
  });
  listen(grid, "click", (ev) => onClick(view, ev));
}

/** Query q (a copy, changed in place) moved by `key`, or null for a key that does not move it. */
function step(D, q, key) {
  switch (key) {
    case "ArrowUp":
      q.row -= 1;
      break;
    case "ArrowDown":
      q.row += 1;
      break;
    case "ArrowLeft":
      q.col -= 1;
      break;
    case "ArrowRight":
      q.col += 1;
      break;
    case "[":
    case "]": {
      const to = clampInt(q.image + (key === "]" ? 1 : -1), 0, D.images.length - 1);
      const from = D.layers[q.layer].grids[q.image];
      const g = D.layers[q.layer].grids[to];
      q.row = Math.floor(((q.row + 0.5) * g.h) / from.h);
      q.col = Math.floor(((q.col + 0.5) * g.w) / from.w);
      q.image = to;
      break;
    }
    default:
      return null;
  }
  return q;
}

/** The cell a key on the focused grid pins (arrows move, [ ] change image), or null. */
function moveTo(view, ev) {
  const { D, pinned } = view;
  if (!D || ev.target !== view.grid || D.images.length === 0 || D.layers.length === 0) return null;
  // from the pinned cell, else from the first cell of the pinned token's panel (or of the first panel)
  const from = pinned && !isToken(pinned)
    ? { ...pinned }
    : { image: pinned ? pinned.image : 0, layer: pinned ? pinned.layer : 0, row: 0, col: 0 };
  const q = step(D, from, ev.key);
  if (!q) return null;
  const g = D.layers[q.layer].grids[q.image];
  q.row = clampInt(q.row, 0, g.h - 1);
  q.col = clampInt(q.col, 0, g.w - 1);
  view.pointerCell = null;
  return q;
}

export function listenKeys(view) {
  view.listen(view.root, "keydown", pinKeys(() => view.pinned, (q) => setQuery(view, q), (ev) => moveTo(view, ev)));
}
