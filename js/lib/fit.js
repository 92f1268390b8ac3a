// Fitting a widget to the width it is given: the width of its output, followed as it changes
// (ResizeObserver), and the panel size and wrapping that make n panels fit in it.
import { elem } from "./dom.js";

/**
 * Call `fn(width)` with the content width of `el` (CSS px) once it is known and again whenever
 * it changes by a pixel or more, at most once per frame. Returns a disposer.
 * An element not yet in the document has width 0: `fn` waits until it has one.
 */
export function onWidth(el, fn) {
  let last = -1;
  let frame = 0;
  const check = () => {
    frame = 0;
    const w = Math.floor(el.clientWidth);
    if (w > 0 && Math.abs(w - last) >= 1) {
      last = w;
      fn(w);
    }
  };
  const schedule = () => {
    if (!frame) frame = requestAnimationFrame(check);
  };
  if (typeof ResizeObserver === "undefined") {
    check();
    return () => {};
  }
  const observer = new ResizeObserver(schedule);
  observer.observe(el);
  schedule();
  return () => {
    observer.disconnect();
    if (frame) cancelAnimationFrame(frame);
  };
}

/**
 * Panel size and wrapping for `n` panels in `avail` CSS px, each `preferred` px at most and
 * `min` px at least, with `gap` px between panels and `fixed` px taken by other columns
 * (row labels). One row when the panels fit at >= `min` px; else the fewest balanced rows
 * (a row never holds more panels than the one above it). {size, perRow, rows}
 */
export function fitPanels(avail, n, preferred, { min = 96, gap = 8, fixed = 0 } = {}) {
  const count = Math.max(1, n);
  const room = Math.max(1, avail - fixed);
  const slot = (k) => Math.floor((room - gap * (k - 1)) / k);
  let perRow = count;
  while (perRow > 1 && slot(perRow) < Math.min(min, preferred)) perRow--;
  const rows = Math.ceil(count / perRow);
  perRow = Math.ceil(count / rows); // balance: 8 in rows of 6 + 2 become 4 + 4
  const size = Math.max(Math.min(min, preferred, room), Math.min(preferred, slot(perRow)));
  return { size: Math.max(1, size), perRow, rows };
}

/** Whether a block of `width` px fits beside one of `taken` px in `avail` px (with `gap`). */
export const fitsBeside = (avail, taken, width, gap = 16) => taken + gap + width <= avail;

/**
 * The "details" line under a widget: a closed <details> whose summary reads `summary`, holding
 * what a reader rarely needs (payload sizes, the layout chosen). `set(key, text)` fills or
 * replaces one line of it; keys keep their first order.
 */
export function detailsLine(summary = "details") {
  const el = elem("details", "xw-details");
  el.appendChild(elem("summary", null, summary));
  const lines = new Map();
  return {
    el,
    set(key, text) {
      let line = lines.get(key);
      if (!line) {
        line = elem("div", `xw-detail xw-detail-${key}`);
        lines.set(key, line);
        el.appendChild(line);
      }
      line.textContent = text;
      line.hidden = !text;
    },
  };
}

/** Content width of the root (CSS px), 0 while it is not in the document. */
export function availableWidth(root) {
  if (!root.isConnected) return 0;
  const cs = getComputedStyle(root);
  return Math.max(0, Math.floor(root.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)));
}
