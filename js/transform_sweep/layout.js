// The panels and the chart fitted to the width the widget is given: the original and the chart
// side by side (the chart under the original when both do not fit), the copies in balanced rows.
import { elem, getNum } from "../lib/dom.js";
import { displaySize, scaledImage, makePanel, fmtBytes } from "../lib/panels.js";
import { fitPanels, fitsBeside, availableWidth } from "../lib/fit.js";
import { paint, updateHighlight } from "./draw.js";

export const GAP = 8; // px between copies
export const BESIDE_GAP = 16; // px between the original and the chart
export const PAD = 4; // px of padding around the panels (room for the focus outline)
const MIN_COPY = 120; // px: the smallest copy before they wrap into more rows
const MIN_CHART = 320; // px: the narrowest chart beside the original
const MAX_CHART = 960; // px: wider charts only stretch the same points apart

/** A figure per image at `size` px (the original in the lead, the copies in their grid), into view.panels. */
function addPanels(view, size) {
  view.D.images.forEach((im, i) => {
    const [W, H] = displaySize(im.W0, im.H0, size);
    const cell = elem("figure", i === 0 ? "xw-cell xw-original" : "xw-cell");
    const cap = elem("figcaption", null, im.title);
    cap.title = im.title;
    cap.style.maxWidth = `${W}px`;
    const P = makePanel(W, H, view.D.w, view.D.h, { copy: String(i - 1) });
    cell.append(cap, P.canvas);
    (i === 0 ? view.lead : view.copiesGrid).appendChild(cell);
    view.panels.push({ ...P, cell, base: scaledImage(im, W, H) });
  });
}

/** The layout chosen, on the root (data-layout) and in the details line, with the data's facts. */
function announceLayout(view) {
  const { D, details } = view;
  const { room, size, perRow, rows, chart, largest } = view.laidOut;
  view.root.dataset.layout = JSON.stringify({ chart, perRow, rows, size, width: room });
  details.set("layout", `layout: chart ${chart} the original; `
    + `${D.V} copies in ${rows} row${rows > 1 ? "s" : ""} of up to ${perRow}; panels ${size} px `
    + `(size=${largest} is the largest)${room ? ` for ${room} px` : ""}`);
  details.set("data", `layer ${D.layer}: ${D.h}×${D.w} cells × ${D.C} channels, for the original and ${D.V} copies; `
    + `ships ${fmtBytes(D.bytes)} (unit float16 activation vectors and display pixels)`);
}

/**
 * Panels for the width available: the copies as large as `size` and as fit in balanced rows
 * (fitPanels), the original as large as a copy, the chart beside it when both fit, else under it.
 */
export function layout(view) {
  const { D, root, lead } = view;
  lead.replaceChildren();
  view.copiesGrid.replaceChildren();
  view.panels = [];
  view.laidOut = null;
  if (!D) {
    root.dataset.layout = "";
    return;
  }
  const largest = Math.max(16, Math.round(getNum(view.model, "size", 160)));
  const room = availableWidth(root);
  const inner = room > 0 ? room - 2 * PAD : 0;
  const fit = inner > 0 ? fitPanels(inner, D.V, largest, { min: Math.min(MIN_COPY, largest), gap: GAP })
    : { size: largest, perRow: Math.min(D.V, 6), rows: Math.ceil(D.V / Math.min(D.V, 6)) };
  view.caption.textContent = D.layer;
  addPanels(view, fit.size);
  lead.appendChild(view.chartBox);
  view.copiesGrid.style.setProperty("--xw-columns", String(fit.perRow));
  const origW = view.panels[0].W;
  const beside = inner <= 0 || fitsBeside(inner, origW, MIN_CHART, BESIDE_GAP);
  // beside: the rest of the width; under: the whole width (too narrow for both side by side)
  const chartW = beside ? Math.max(MIN_CHART, inner > 0 ? inner - origW - BESIDE_GAP : 480) : inner;
  view.chart.resize(Math.min(MAX_CHART, chartW), Math.max(180, Math.min(240, view.panels[0].H + 24)));
  view.laidOut = { room, size: fit.size, perRow: fit.perRow, rows: fit.rows, chart: beside ? "beside" : "under", largest };
  announceLayout(view);
}

/** Lay out and draw again (new width or `size`). */
export function relayout(view) {
  layout(view);
  updateHighlight(view);
  paint(view);
}

/** Lay out again when the width available changes. */
export function onResize(view) {
  if (!view.D || !view.laidOut || availableWidth(view.root) === view.laidOut.room) return;
  relayout(view);
}
