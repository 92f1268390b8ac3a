// The linked charts of the path: drawn once per result (or probed pixel); per frame only their
// cursors and tips move.
import { elem } from "../lib/dom.js";
import { LineChart, fmtValue, fmtPercent, lineKey } from "../lib/chart.js";
import { SELF, OTHER, FAINT, CURSOR, WINDOW, BAND_S, BAND_O } from "./style.js";
import { className, pixel } from "./state.js";

/** A LineChart in a box with a key naming its lines (so no caption has to name a colour) and a note. */
export function makeChart(label, cls) {
  const chart = new LineChart({ width: 300, height: 170, label });
  chart.box = elem("div", `xw-chart-box xw-chart-${cls}`);
  chart.key = elem("div");
  chart.note = elem("div", "xw-sub xw-chart-note");
  chart.box.append(chart.el, chart.key, chart.note);
  chart.setKey = (entries) => chart.key.replaceChildren(lineKey(entries));
  return chart;
}

/** Draw the linked charts (once per result, or when the probed pixel changes). */
export function buildCharts(view, i) {
  const { M, charts } = view;
  const xs = Array.from({ length: M.n }, (_, k) => k + 1);
  const base = { xs, highlight: i, dots: false, color: SELF, cursor: CURSOR, xTitle: "path step" };
  drawProbs(M, charts.probs, base);
  drawEntropy(M, charts.entropy, base);
  drawGains(M, charts.gains, base);
  drawNorms(M, charts.norms, base);
  drawPixel(view, base);
  moveCursors(view, i);
}

function drawProbs(M, chart, base) {
  const column = (k) => Array.from({ length: M.n }, (_, j) => M.probs[j * M.K + k]);
  const name = (k) => `p(${className(M, k)})`;
  const others = [];
  for (let k = 0; k < M.K; k++) if (k !== M.s && k !== M.o) others.push({ name: name(k), ys: column(k), color: FAINT, width: 1 });
  const [ps, po] = [name(M.s), name(M.o)];
  chart.draw({ ...base, ys: column(M.s), name: ps, series: [...others, { name: po, ys: column(M.o), color: OTHER, width: 2 }],
    yRange: [0, 1], yTitle: "class probability" });
  chart.setKey([{ color: SELF, label: `${ps}, self` }, { color: OTHER, label: `${po}, other` }, { color: FAINT, label: "the other classes" }]);
}

function drawEntropy(M, chart, base) {
  const w = M.window;
  chart.draw({ ...base, ys: M.entropy, name: "entropy", yRange: [0, 1], yTitle: "two-class entropy (bits)",
    bands: [{ axis: "x", lo: w.lo + 1, hi: w.hi + 1, color: WINDOW }],
    series: [{ name: "window mean", ys: base.xs.map((x) => (Math.abs(x - (w.mean + 1)) < 0.5 ? 1 : NaN)), color: OTHER }] });
  chart.setKey([{ color: SELF, label: "entropy of p(self), p(other)" }]);
  chart.note.textContent = "shaded: the decision window (weighted mean ± 1.96 std)";
}

function drawGains(M, chart, base) {
  chart.draw({ ...base, ys: [...M.gains, NaN], name: "gain", series: [{ name: "cumulative", ys: M.cumulative, color: OTHER, width: 1.5 }],
    yRange: [0, 0], yTitle: "gain in f_s" });
  chart.setKey([{ color: SELF, label: "gain of the masked step" }, { color: OTHER, label: "cumulative" }]);
}

function drawNorms(M, chart, base) {
  const b = M.bands;
  const band = (v, color) => (Number.isFinite(v[0]) && Number.isFinite(v[1]) ? [{ axis: "y", lo: v[0] - v[1], hi: v[0] + v[1], color }] : []);
  chart.draw({ ...base, ys: M.norms, name: "‖z‖", yRange: [M.norms[0], M.norms[0]], yTitle: "latent norm ‖z‖",
    bands: [...band(b.s, BAND_S), ...band(b.o, BAND_O)] });
  chart.setKey([{ color: SELF, label: "‖z‖ along the path" }]);
  // The bands are in the path's units: norms of encoder samples when its codes are samples.
  chart.note.textContent = b.kind == null ? "no class-norm table given (norms=)"
    : `shaded: self (blue), other (orange) class norms, mean ± std, of ${b.kind === "sample" ? "encoder samples like the path's codes" : "encoder means like the path's codes"}`
      + (Number.isFinite(b.target) ? `; the morph's target r_o = ${fmtValue(b.target)} is a mean of ‖μ‖` : "");
}

/** The probed pixel's intensity along the path (kept on the view for its cursor), and its gradient when shipped. */
function drawPixel(view, base) {
  const { M } = view;
  const chart = view.charts.pixel;
  const px = pixel(view);
  chart.box.hidden = !px;
  if (!px) return;
  const at = px.row * M.W + px.col;
  const ch = M.ch;
  view.pixelSeries = M.frames.map((f) => {
    let v = 0;
    for (let c = 0; c < ch; c++) v += f.bytes[at * ch + c];
    return v / (255 * ch);
  });
  const series = [];
  if (M.grads) {
    const g = base.xs.map((_, j) => M.grads[j * M.H * M.W + at]);
    const gm = Math.max(...g.map(Math.abs)) || 1;
    series.push({ name: "gradient", ys: g.map((v) => 0.5 + 0.5 * (v / gm)), color: OTHER, dash: [4, 3] });
  }
  chart.draw({ ...base, ys: view.pixelSeries, name: "intensity", series, yRange: [0, 1], yTitle: `pixel (${px.row}, ${px.col})` });
  chart.setKey([{ color: SELF, label: "intensity" }, ...(M.grads ? [{ color: OTHER, dash: [4, 3], label: "∂p_s/∂x, scaled (0.5 = 0)" }] : [])]);
}

/** Per frame: only the cursors and their tips move. */
export function moveCursors(view, i) {
  const { M, charts } = view;
  const w = M.window;
  charts.probs.moveHighlight(i, `self ${fmtPercent(M.probs[i * M.K + M.s])} · other ${fmtPercent(M.probs[i * M.K + M.o])}`);
  charts.entropy.moveHighlight(i, `${fmtValue(M.entropy[i])} bit${i >= w.lo && i <= w.hi ? " · in the window" : ""}`);
  charts.gains.moveHighlight(i, `${i < M.n - 1 ? `${fmtValue(M.gains[i])} · ` : ""}Σ ${fmtValue(M.cumulative[i])}`);
  charts.norms.moveHighlight(i, `‖z‖ ${fmtValue(M.norms[i])}`);
  if (pixel(view) && view.pixelSeries) charts.pixel.moveHighlight(i, fmtValue(view.pixelSeries[i]));
}
