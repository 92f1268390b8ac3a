// Drawing the lines of every chart, and the values at one x (the cursor and the readout).
import { fmtValue } from "../lib/chart.js";

const CURSOR = "rgba(128,128,128,0.55)";

const xText = (panel, i) => (panel.xlabels ? String(panel.xlabels[i] ?? "") : fmtValue(panel.xs[i]));
// A log panel's ys are log10 of its values: ticks read 1e-5, the readout the value itself.
const logTick = (t) => (t === 0 ? "1" : `1e${t}`);
const valueOf = (panel, v) => (panel.yLog ? 10 ** Number(v) : Number(v));

export function drawCharts(view) {
  for (const { panel, chart } of view.charts) {
    const xs = panel.xs.map(Number);
    const series = panel.series; // null values are gaps: LineChart skips non-finite values
    // The main series (LineChart's `ys`, drawn last, on top) is the first method's.
    let main = series.findIndex((s) => !s.baseline && (!s.dash || s.dash.length === 0));
    if (main < 0) main = 0;
    // baselines first, so every method's line lies over them
    const others = series.filter((_, i) => i !== main).sort((a, b) => Number(!!b.baseline) - Number(!!a.baseline))
      .map((s) => ({
        name: s.name, ys: s.ys, color: s.color, width: s.baseline ? 1.5 : 2, dash: s.dash || [], mark: s.mark,
      }));
    chart.draw({ xs, ys: series[main].ys, name: series[main].name, series: others, yRange: panel.yRange || [0, 1],
      highlight: -1, dots: false, color: series[main].color, cursor: CURSOR, xTitle: panel.xTitle, yTitle: panel.yTitle,
      xlabels: panel.xlabels || undefined, fmtX: fmtValue, mark: series[main].mark, xRange: panel.xRange || undefined,
      yTicks: panel.yticks || undefined, fmtY: panel.yLog ? logTick : undefined });
    chart.canvas.dataset.main = series[main].name;
  }
  showIndex(view, view.index);
  view.markPainted();
}

/** Highlight x index `i` on every chart (-1: none) and read every method's value there out. */
export function showIndex(view, i) {
  view.index = i;
  const parts = [];
  for (const { panel, chart } of view.charts) {
    const k = i >= 0 && i < panel.xs.length ? i : -1;
    chart.moveHighlight(k, k >= 0 ? xText(panel, k) : "");
    if (k < 0) continue;
    const values = panel.xnotes ? [panel.xnotes[k]]
      : panel.series.map((s) => `${s.title || s.name} ${s.ys[k] == null ? "none" : fmtValue(valueOf(panel, s.ys[k]))}`);
    parts.push(`${panel.id} at ${xText(panel, k)}: ${values.join(" · ")}`);
  }
  view.status.setReadout(parts.join("\n"));
}
