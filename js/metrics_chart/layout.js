// Fitting the charts to the width given and building one column (caption, chart, key) per panel.
import { LineChart, lineKey } from "../lib/chart.js";
import { elem, getNum } from "../lib/dom.js";
import { fitPanels } from "../lib/fit.js";

export const GAP = 16;
const MIN_CHART = 320; // narrower charts crowd their tick labels

/** The chart width for `n` panels; sets the root's --xw-width, data-layout and the details line. */
function fitCharts(view, n) {
  const { avail, root } = view;
  const preferred = Math.max(200, getNum(view.model, "size", 440));
  // before the first layout, the preferred width; then what fits, never under MIN_CHART
  const fit = avail > 0 ? fitPanels(avail, n, preferred, { min: MIN_CHART, gap: GAP }) : { size: preferred, perRow: n, rows: 1 };
  const width = Math.min(fit.size, avail > 0 ? avail : fit.size);
  root.style.setProperty("--xw-width", `${width}px`);
  root.dataset.layout = fit.rows > 1 ? "stacked" : "side-by-side";
  view.details.set("layout", `layout: ${n} chart${n > 1 ? "s" : ""} ${width} px wide, ${fit.rows > 1 ? "one under the other" : "side by side"}`
    + (avail > 0 ? ` (${avail} px available)` : ""));
  return width;
}

/** view.charts anew from `_chart`: [{panel, chart}], one column each in view.body; false when there is no data. */
export function buildCharts(view) {
  const data = view.status.attempt("metrics chart", () => {
    const d = view.model.get("_chart");
    if (!d || !Array.isArray(d.panels)) throw new Error("no chart data");
    return d;
  });
  view.body.replaceChildren();
  view.charts = [];
  if (!data) return false;
  const width = fitCharts(view, data.panels.length);
  for (const panel of data.panels) {
    const col = elem("div", `xw-panel-col xw-panel-${panel.id}`);
    const chart = new LineChart({ width, height: Math.round(width * (panel.aspect || 0.62)), label: panel.title });
    chart.canvas.dataset.panel = panel.id;
    const key = lineKey(panel.series.map((s) => ({
      color: s.color, dash: s.dash, label: s.label, name: s.name, mark: s.mark,
    })));
    col.append(elem("div", "xw-caption", panel.title), elem("div", "xw-sub", panel.subtitle || ""), chart.el, key);
    view.body.appendChild(col);
    view.charts.push({ panel, chart });
  }
  return true;
}
