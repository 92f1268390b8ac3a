// Metrics chart (xai_widgets.metrics as a view): deletion / insertion curves or the
// model-parameter randomisation check, one line per method, as an anywidget front end.
// All numbers arrive once in `_chart` ({kind, panels: [{id, title, subtitle, xTitle, yTitle,
// xs, xlabels, yRange, series: [{name, title, ys, color, dash, label, baseline}]}]}); hovering a
// chart or the arrow keys read the values at one x out, in the browser only.
//
// The charts take the width they are given: side by side when two fit at a readable width,
// else one under the other (root data-layout "side-by-side" | "stacked", said in the details).
//
// For tests and curious users, each chart's canvas carries LineChart's data-x / data-values /
// data-points (of the main series, named in data-main), data-series ([{name, color, points}]
// for every series, in CSS pixels of the canvas), data-yrange and data-plot.
//
// Synced traits (xai_widgets/widgets/metrics_chart.py): _chart, size, message.
import { LineChart, fmtValue, lineKey } from "./lib/chart.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { onWidth, fitPanels, detailsLine } from "./lib/fit.js";

const CURSOR = "rgba(128,128,128,0.55)";
const MIN_CHART = 320; // narrower charts crowd their tick labels
const GAP = 16;


function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(
    model, el, "xw-metrics", { label: "metrics chart: left/right arrows read the values at each point", vars: { gap: GAP } });
  const body = elem("div", "xw-panels");
  const hint = hintLine([["", "Hover a chart, or "], ["kbd", "←"], ["", "/"], ["kbd", "→"], ["", " to read every method's value at one point."]]);
  const details = detailsLine();
  root.append(body, status.readout, hint, status.errorBox, status.messageBox, details.el);
  el.appendChild(root);

  let views = []; // [{panel, chart}]
  let index = -1;
  let avail = 0; // content width of the root, CSS px (0 until laid out)

  const xText = (panel, i) => (panel.xlabels ? String(panel.xlabels[i] ?? "") : fmtValue(panel.xs[i]));

  function build() {
    const data = status.attempt("metrics chart", () => {
      const d = model.get("_chart");
      if (!d || !Array.isArray(d.panels)) throw new Error("no chart data");
      return d;
    });
    body.replaceChildren();
    views = [];
    if (!data) return;
    const preferred = Math.max(200, getNum(model, "size", 440));
    const n = data.panels.length;
    // before the first layout, the preferred width; then what fits, never under MIN_CHART
    const fit = avail > 0 ? fitPanels(avail, n, preferred, { min: MIN_CHART, gap: GAP }) : { size: preferred, perRow: n, rows: 1 };
    const width = Math.min(fit.size, avail > 0 ? avail : fit.size);
    root.style.setProperty("--xw-width", `${width}px`);
    root.dataset.layout = fit.rows > 1 ? "stacked" : "side-by-side";
    details.set("layout", `layout: ${n} chart${n > 1 ? "s" : ""} ${width} px wide, ${fit.rows > 1 ? "one under the other" : "side by side"}`
      + (avail > 0 ? ` (${avail} px available)` : ""));
    for (const panel of data.panels) {
      const col = elem("div", `xw-panel-col xw-panel-${panel.id}`);
      const chart = new LineChart({ width, height: Math.round(width * 0.62), label: panel.title });
      chart.canvas.dataset.panel = panel.id;
      const key = lineKey(panel.series.map((s) => ({ color: s.color, dash: s.dash, label: s.label, name: s.name })));
      col.append(elem("div", "xw-caption", panel.title), elem("div", "xw-sub", panel.subtitle || ""), chart.el, key);
      body.appendChild(col);
      views.push({ panel, chart });
    }
    draw();
  }

  function draw() {
    for (const { panel, chart } of views) {
      const xs = panel.xs.map(Number);
      const series = panel.series; // null values are gaps: LineChart skips non-finite values
      // The main series (LineChart's `ys`, drawn last, on top) is the first method's.
      let main = series.findIndex((s) => !s.baseline && (!s.dash || s.dash.length === 0));
      if (main < 0) main = 0;
      // baselines first, so every method's line lies over them
      const others = series.filter((_, i) => i !== main).sort((a, b) => Number(!!b.baseline) - Number(!!a.baseline))
        .map((s) => ({ name: s.name, ys: s.ys, color: s.color, width: s.baseline ? 1.5 : 2, dash: s.dash || [] }));
      chart.draw({ xs, ys: series[main].ys, name: series[main].name, series: others, yRange: panel.yRange || [0, 1],
        highlight: -1, dots: false, color: series[main].color, cursor: CURSOR, xTitle: panel.xTitle, yTitle: panel.yTitle,
        xlabels: panel.xlabels || undefined, fmtX: fmtValue });
      chart.canvas.dataset.main = series[main].name;
    }
    showIndex(index);
    markPainted();
  }

  function showIndex(i) {
    index = i;
    const parts = [];
    for (const { panel, chart } of views) {
      const k = i >= 0 && i < panel.xs.length ? i : -1;
      chart.moveHighlight(k, k >= 0 ? xText(panel, k) : "");
      if (k < 0) continue;
      const values = panel.series.map((s) => `${s.title || s.name} ${s.ys[k] == null ? "none" : fmtValue(Number(s.ys[k]))}`);
      parts.push(`${panel.id} at ${xText(panel, k)}: ${values.join(" · ")}`);
    }
    status.setReadout(parts.join("\n"));
  }

  listen(body, "pointermove", (ev) => {
    const view = views.find((v) => v.chart.canvas === ev.target);
    if (!view) return;
    const k = view.chart.nearest(ev);
    if (k !== index) showIndex(k);
  });
  listen(body, "pointerleave", () => showIndex(-1));
  listen(root, "keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !views.length) return;
    const n = Math.max(...views.map((v) => v.panel.xs.length));
    const keys = { ArrowLeft: Math.max(0, index - 1), ArrowRight: Math.min(n - 1, index + 1), Home: 0, End: n - 1, Escape: -1 };
    if (!(ev.key in keys)) return;
    showIndex(keys[ev.key]);
    ev.preventDefault();
    ev.stopPropagation();
  });

  onModel("change:_chart", build);
  onModel("change:size", build);
  life.add(onWidth(root, (w) => {
    avail = Math.max(1, w - 16); // the root's padding
    build();
  }));
  build();

  return () => {
    life.dispose();
    root.remove();
    views = [];
  };
}

export default { render };
