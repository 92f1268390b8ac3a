// The widget's DOM: the sliders, one row of panels per image, the chart and the checklist.
import { LineChart, fmtPercent, fmtValue } from "../lib/chart.js";
import { elem } from "../lib/dom.js";

export const HEADINGS = ["x", "perturbation (amplified)", "x′", "attribution of x", "attribution of x′"];
const KEYS = ["x", "delta", "xhat", "mapX", "mapXhat"];

/** A labelled range slider: {label, input, value (the text after it)}. */
export function slider(name, className) {
  const label = elem("label", className, name);
  const input = Object.assign(elem("input"), { type: "range", min: "0", step: "1" });
  const value = elem("span", "xw-adv-value");
  label.append(input, value);
  return { label, input, value };
}

function figure(D, key, heading, size) {
  const fig = elem("figure", `xw-adv-cell xw-adv-${key}`);
  const canvas = Object.assign(elem("canvas", "xw-panel"), { width: D.W, height: D.H });
  canvas.style.width = `${size}px`;
  canvas.style.height = `${Math.round((size * D.H) / D.W)}px`;
  fig.append(canvas, elem("figcaption", null, heading));
  return { fig, canvas };
}

/** One image's row: title with the flip marker, the five panels, top-5 before / after, norms. */
export function buildRow(D, i, size) {
  const row = elem("div", "xw-adv-row");
  row.dataset.image = String(i);
  const title = elem("div", "xw-adv-title");
  const name = elem("span", "xw-adv-name", `image ${i} · true class ${D.raw.classes[D.raw.labels[i]]}`);
  const flip = elem("span", "xw-adv-flip");
  title.append(name, flip);
  const panels = elem("div", "xw-adv-panels");
  const canvases = {};
  KEYS.forEach((key, k) => {
    const { fig, canvas } = figure(D, key, HEADINGS[k], size);
    canvases[key] = canvas;
    panels.append(fig);
  });
  const before = elem("ol", "xw-adv-top xw-adv-before");
  const after = elem("ol", "xw-adv-top xw-adv-after");
  const tops = elem("div", "xw-adv-tops");
  tops.append(elem("span", "xw-sub", "top-5 before"), before, elem("span", "xw-sub", "top-5 after"), after);
  const norms = elem("div", "xw-adv-norms");
  row.append(title, panels, tops, norms);
  return { i, row, flip, canvases, before, after, norms };
}

/** Fill an <ol> with [name, probability] pairs; the true class is marked. */
export function fillTop(ol, pairs, trueName) {
  ol.replaceChildren(...pairs.map(([name, p]) => {
    const li = elem("li", name === trueName ? "xw-adv-true" : null, `${name} ${fmtPercent(p)}`);
    return li;
  }));
}

/** The texts of row R at frame (e, t): top-5 after, flip marker and norms. */
export function writeRow(D, R, e, t) {
  const raw = D.raw;
  const trueName = raw.classes[raw.labels[R.i]];
  fillTop(R.after, raw.top_adv[e][t][R.i], trueName);
  const wasRight = raw.pred[R.i] === raw.labels[R.i];
  const flipped = raw.pred_adv[e][t][R.i] !== raw.labels[R.i];
  R.row.dataset.flipped = String(flipped);
  R.flip.dataset.flipped = String(flipped);
  R.flip.textContent = !wasRight ? "misclassified before the attack" : flipped
    ? `flipped → ${raw.classes[raw.pred_adv[e][t][R.i]]}` : "not flipped";
  const linf = raw.linf[e][t][R.i];
  R.norms.textContent = `‖δ‖∞ = ${fmtValue(linf * 255)}/255 · ‖δ‖₂ = ${fmtValue(raw.l2[e][t][R.i])}`
    + ` · attribution scale ±${fmtValue(raw.scales[R.i])} (${raw.method})`;
}

/** The accuracy-vs-L2 chart with its caption. */
export function buildChart() {
  const chart = new LineChart({ width: 360, height: 200, label: "accuracy against mean relative L2 change" });
  const box = elem("div", "xw-adv-chartbox");
  const caption = elem("div", "xw-sub", "accuracy vs mean ‖δ‖₂/‖x‖₂ (initially correct images), one point per budget");
  box.append(caption, chart.el);
  return { chart, chartBox: box };
}

/** The checklist's lines (text, pass) as a list; hidden when empty. */
export function fillChecklist(box, lines) {
  box.hidden = !lines || !lines.length;
  if (box.hidden) return;
  const items = lines.map(([text, pass]) => {
    const li = elem("li", pass ? "xw-adv-pass" : "xw-adv-fail", `${pass ? "pass" : "FAIL"} · ${text}`);
    li.dataset.pass = String(pass);
    return li;
  });
  const list = elem("ul");
  list.append(...items);
  box.replaceChildren(elem("div", "xw-caption", "masked-gradient checklist (Athalye et al. 2018)"), list);
}
