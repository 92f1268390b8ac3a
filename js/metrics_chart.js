// Metrics chart (xai_widgets.metrics as a view): deletion / insertion curves or the
// model-parameter randomisation check, one line per method, as an anywidget front end.
// All numbers arrive once in `_chart` ({kind, panels: [{id, title, subtitle, xTitle, yTitle,
// xs, xlabels, yRange, series: [{name, ys, color, dash, label}]}]}); hovering a chart or the
// arrow keys read the values at one x out, in the browser only.
//
// For tests and curious users, each chart's canvas carries, besides LineChart's own data-x /
// data-values / data-points (of the main series, data-main), data-series: JSON
// [{name, points: [[x, y|null], ...]}] for every series in CSS pixels of the canvas, and
// data-yrange: the [lo, hi] of its y axis.
//
// Synced traits (xai_widgets/widgets/metrics_chart.py): _chart, size, message.
import { LineChart, CHART_STYLE, fmtNumber } from "./lib/chart.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { widgetStyle } from "./lib/style.js";

const CURSOR = "rgba(128,128,128,0.55)";

const STYLE = widgetStyle(
  ".xw-metrics",
  `
.xw-metrics:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: -2px; }
.xw-metrics .xw-panels { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.xw-metrics .xw-panel-col { display: flex; flex-direction: column; gap: 2px; }
.xw-metrics .xw-caption { font-weight: 600; max-width: var(--xw-width, 440px); }
.xw-metrics .xw-sub { color: var(--jp-ui-font-color2, #616161); font-size: var(--jp-ui-font-size0, 11px); max-width: var(--xw-width, 440px); }
.xw-metrics .xw-chart canvas { cursor: crosshair; }
.xw-metrics .xw-key { display: grid; grid-template-columns: max-content max-content; gap: 2px 8px; align-items: center;
  margin: 2px 0 0 46px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color1, #222);
  font-variant-numeric: tabular-nums; }
.xw-metrics .xw-key canvas { display: block; }
.xw-metrics .xw-readout { margin-top: 6px; min-height: 1.35em; white-space: pre-wrap; font-variant-numeric: tabular-nums; }
${CHART_STYLE}
`,
);

/** The y range LineChart will use: the panel's nominal range widened to every finite value. */
function yRangeOf(panel) {
  let [lo, hi] = panel.yRange || [0, 1];
  for (const s of panel.series) {
    for (const v of s.ys) {
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (!(hi > lo)) hi = lo + 1;
  return [lo, hi];
}

/** A small swatch of a series' line (dashes included) for the key. */
function swatch(color, dash) {
  const c = elem("canvas");
  const dpr = window.devicePixelRatio || 1;
  c.width = Math.round(28 * dpr);
  c.height = Math.round(10 * dpr);
  c.style.width = "28px";
  c.style.height = "10px";
  const ctx = c.getContext("2d");
  ctx.scale(dpr, dpr);
  ctx.strokeStyle = color;
  ctx.lineWidth = 2.5;
  ctx.setLineDash(dash || []);
  ctx.beginPath();
  ctx.moveTo(1, 5);
  ctx.lineTo(27, 5);
  ctx.stroke();
  return c;
}

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(
    model, el, "xw-metrics", STYLE, "metrics chart: left/right arrows read the values at each point");
  const body = elem("div", "xw-panels");
  const hint = hintLine([["", "Hover a chart, or "], ["kbd", "←"], ["", "/"], ["kbd", "→"], ["", " to read every method's value at one point."]]);
  root.append(body, status.readout, hint, status.errorBox, status.messageBox);
  el.appendChild(root);

  let views = []; // [{panel, chart, key}]
  let index = -1;

  function xText(panel, i) {
    if (panel.xlabels) return String(panel.xlabels[i] ?? "");
    return fmtNumber(panel.xs[i]);
  }

  function build() {
    const data = status.attempt("metrics chart", () => {
      const d = model.get("_chart");
      if (!d || !Array.isArray(d.panels)) throw new Error("no chart data");
      return d;
    });
    body.replaceChildren();
    views = [];
    if (!data) return;
    const width = Math.max(200, getNum(model, "size", 440));
    root.style.setProperty("--xw-width", `${width}px`);
    for (const panel of data.panels) {
      const col = elem("div", `xw-panel-col xw-panel-${panel.id}`);
      const chart = new LineChart({ width, height: Math.round(width * 0.62), label: panel.title });
      chart.canvas.dataset.panel = panel.id;
      const key = elem("div", "xw-key");
      for (const s of panel.series) {
        const label = elem("span", "xw-key-label", s.label);
        label.dataset.series = s.name;
        key.append(swatch(s.color, s.dash), label);
      }
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
      // The main series (LineChart's `ys`, drawn last, on top) is the first solid one.
      let main = series.findIndex((s) => !s.dash || s.dash.length === 0);
      if (main < 0) main = 0;
      const others = series.filter((_, i) => i !== main).map((s) => ({ ys: s.ys, color: s.color, width: 2, dash: s.dash || [] }));
      const yRange = yRangeOf(panel);
      const fmtX = panel.xlabels
        ? (x) => (Number.isInteger(x) && x >= 0 && x < panel.xlabels.length ? String(panel.xlabels[x]) : "")
        : fmtNumber;
      chart.draw({ xs, ys: series[main].ys, series: others, yRange, highlight: -1, dots: false,
        color: series[main].color, cursor: CURSOR, xTitle: panel.xTitle, yTitle: panel.yTitle, fmtX });
      // every series' points with LineChart's own mapping (its y range is exactly yRange here)
      const P = chart.plot();
      const n = xs.length;
      const [xlo, xhi] = n > 1 && xs[n - 1] > xs[0] ? [xs[0], xs[n - 1]] : [xs[0] - 1, xs[0] + 1];
      const X = (x) => P.x0 + ((x - xlo) / (xhi - xlo)) * (P.x1 - P.x0);
      const Y = (y) => P.y1 - ((y - yRange[0]) / (yRange[1] - yRange[0])) * (P.y1 - P.y0);
      chart.canvas.dataset.series = JSON.stringify(series.map((s) => ({
        name: s.name, points: xs.map((x, i) => [X(x), Number.isFinite(s.ys[i]) ? Y(s.ys[i]) : null]) })));
      chart.canvas.dataset.yrange = JSON.stringify(yRange);
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
      const values = panel.series.map((s) => `${s.name} ${s.ys[k] == null ? "none" : fmtNumber(Number(s.ys[k]))}`);
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
  build();

  return () => {
    life.dispose();
    root.remove();
    views = [];
  };
}

export default { render };
