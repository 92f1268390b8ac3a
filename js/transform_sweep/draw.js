// Drawing for the active cell (pinned, else hovered): the panels' overlays and outlines, the
// chart of its curve, the copy paired with a chart point (`highlight`), the legend and the readout.
import { getNum } from "../lib/dom.js";
import { loadColormap, vrangeOf } from "../lib/controls.js";
import { drawBase, drawOverlay, outlineCell, colourRange } from "../lib/panels.js";
import { computeSims, corresponding } from "./query.js";

const fmtSim = (v) => (Number.isFinite(v) ? v.toFixed(3) : "none");

/** The range colours and the chart's y axis cover (the diverging map's symmetric about 0: colourRange). */
const shownRange = (model) => colourRange(model.get("colormap"), ...vrangeOf(model));

export function updateLut(view) {
  const { model, controls } = view;
  view.lut = loadColormap(model, controls);
  const [lo, hi] = shownRange(model);
  const caption = model.get("colormap") === "diverging"
    ? "cosine similarity · grey centre = 0: orthogonal vectors (red: alike, blue: opposed)"
    : "cosine similarity";
  controls.legend.draw(view.lut, lo, hi, { caption });
}

function drawPanel(view, i, active, lo, hi, alpha) {
  const P = view.panels[i];
  drawBase(P, P.base);
  if (!active) return;
  drawOverlay(P, view.D.images[i].sims, view.lut, lo, hi, alpha);
  const rc = i === 0 ? [active.row, active.col] : corresponding(view.D, i - 1, active);
  if (rc) outlineCell(P, rc[0], rc[1]);
}

function tipText(view, k) {
  const v = view.curve[k];
  return `${view.D.images[k + 1].title}: ${Number.isFinite(v) ? v.toFixed(3) : "left the image"}`;
}

export function drawChart(view) {
  const { D, highlight } = view;
  if (!D) return;
  const active = view.pinned || view.hover;
  view.chart.draw({
    xs: D.values,
    ys: active ? view.curve : D.values.map(() => NaN),
    ref: D.mean,
    yRange: shownRange(view.model),
    highlight,
    xTitle: D.axis,
    yTitle: active ? `cell (${active.row}, ${active.col}): similarity to the same content` : "similarity to the same content",
    tip: active && highlight >= 0 ? tipText(view, highlight) : "",
  });
}

/** Show `view.highlight`: the paired copy's frame, the chart's point and the readout. */
export function updateHighlight(view) {
  const { highlight } = view;
  view.panels.forEach((P, i) => P.cell.classList.toggle("xw-highlight", i > 0 && i - 1 === highlight));
  view.root.dataset.highlight = String(highlight);
  drawChart(view);
  updateReadout(view);
}

export function updateReadout(view) {
  const { D, pinned, highlight, pointer } = view;
  if (!D) return;
  const active = pinned || view.hover;
  const parts = [];
  if (active) parts.push(`${pinned ? "pinned " : ""}cell (${active.row}, ${active.col}) of the original, layer ${D.layer}`);
  if (active && highlight >= 0) {
    const rc = corresponding(D, highlight, active);
    parts.push(rc ? `${D.images[highlight + 1].title}: same content in cell (${rc[0]}, ${rc[1]}), similarity ${fmtSim(view.curve[highlight])}`
      : `${D.images[highlight + 1].title}: the content left the image`);
  }
  if (active && pointer) {
    const s = D.images[pointer.image].sims[pointer.row * D.w + pointer.col];
    parts.push(`pointer: ${D.images[pointer.image].title} cell (${pointer.row}, ${pointer.col}) ${fmtSim(s)}`);
  }
  view.status.setReadout(parts.join("   |   "));
}

/** Redraw everything that depends on the active cell; returns it. */
export function paint(view) {
  if (!view.D) return null;
  const active = view.pinned || view.hover;
  if (active) computeSims(view, active);
  const [lo, hi] = shownRange(view.model);
  const alpha = Math.min(1, Math.max(0, getNum(view.model, "opacity", 0.7)));
  for (let i = 0; i < view.panels.length; i++) drawPanel(view, i, active, lo, hi, alpha);
  view.root.dataset.query = active ? `${active.row},${active.col}` : "";
  drawChart(view);
  updateReadout(view);
  view.markPainted();
  return active;
}
