// Painting the histogram (bars coloured by partition, the over-representation line, ▲ marks)
// and the class-distance heat map ordered by the current grouping, with the group list.
import { getNum } from "../lib/dom.js";
import { niceTicks, fmtNumber } from "../lib/chart.js";
import { barColour, classOrder } from "./data.js";

const GRID = "rgba(128, 128, 128, 0.3)";
const SLANT = (35 * Math.PI) / 180;

/** A canvas of w x h CSS px at the device's pixel ratio; returns its 2-D context in CSS px. */
function sized(canvas, w, h) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

function themeFont(el) {
  const style = getComputedStyle(el);
  const size = parseFloat(style.fontSize) || 12;
  return { color: style.color || "#808080", font: `${size}px ${style.fontFamily || "sans-serif"}` };
}

/** The plot rectangle of the histogram and whether the class names are slanted. */
function histogramLayout(ctx, D, W) {
  const widest = Math.max(...D.names.map((n) => ctx.measureText(n).width), 0);
  const step = (W - 48) / Math.max(1, D.k);
  const slanted = widest + 4 > step;
  const bottom = slanted ? Math.ceil(widest * Math.sin(SLANT) + 18) : 20;
  const H = Math.round(W * 0.5) + bottom;
  return { P: { x0: 40, y0: 18, x1: W - 8, y1: H - bottom }, H, slanted, step };
}

function paintBars(ctx, D, P, hi, step) {
  const bars = [];
  for (let c = 0; c < D.k; c++) {
    const h = (D.counts[c] / hi) * (P.y1 - P.y0);
    const x = P.x0 + c * step + 0.15 * step;
    ctx.fillStyle = barColour(D, c);
    ctx.fillRect(x, P.y1 - h, 0.7 * step, h);
    bars.push([x, P.y1 - h, 0.7 * step, h]);
  }
  return bars;
}

function paintHistogramText(ctx, D, L, bars, ticks, theme) {
  const { P, slanted, step } = L;
  ctx.fillStyle = theme.color;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  for (const c of D.over) ctx.fillText("▲", bars[c][0] + bars[c][2] / 2, bars[c][1] - 2);
  ctx.textBaseline = "top";
  D.names.forEach((name, c) => {
    const x = P.x0 + (c + 0.5) * step;
    if (!slanted) ctx.fillText(name, x, P.y1 + 4);
    else {
      ctx.save();
      ctx.translate(x, P.y1 + 4);
      ctx.rotate(-SLANT);
      ctx.textAlign = "right";
      ctx.fillText(name, 0, 0);
      ctx.restore();
    }
  });
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const [t, y] of ticks) ctx.fillText(fmtNumber(t), P.x0 - 5, y);
}

export function drawHistogram(view) {
  const { D, ui, width: W } = view;
  const theme = themeFont(view.root);
  const probe = ui.hist.getContext("2d");
  probe.font = theme.font;
  const L = histogramLayout(probe, D, W);
  const { P } = L;
  const ctx = sized(ui.hist, W, L.H);
  ctx.font = theme.font;
  const hi = Math.max(1, ...D.counts, D.threshold * D.mean);
  const Y = (v) => P.y1 - (v / hi) * (P.y1 - P.y0);
  const ticks = niceTicks(0, hi, 4).map((t) => [t, Y(t)]);
  ctx.strokeStyle = GRID;
  ctx.beginPath();
  for (const [, y] of ticks) {
    ctx.moveTo(P.x0, Math.round(y) + 0.5);
    ctx.lineTo(P.x1, Math.round(y) + 0.5);
  }
  ctx.stroke();
  const bars = paintBars(ctx, D, P, hi, L.step);
  ctx.strokeStyle = theme.color;
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(P.x0, Y(D.threshold * D.mean));
  ctx.lineTo(P.x1, Y(D.threshold * D.mean));
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.beginPath();
  ctx.moveTo(P.x0 + 0.5, P.y0);
  ctx.lineTo(P.x0 + 0.5, P.y1 + 0.5);
  ctx.lineTo(P.x1, P.y1 + 0.5);
  ctx.stroke();
  paintHistogramText(ctx, D, L, bars, ticks, theme);
  Object.assign(ui.hist.dataset, { bars: JSON.stringify(bars), counts: JSON.stringify(Array.from(D.counts)),
    plot: JSON.stringify([P.x0, P.y0, P.x1, P.y1]), top: String(hi) });
}

/** The heat map's geometry: a label column, then K x K cells. */
export function distanceLayout(view) {
  const { D, width: W } = view;
  const ctx = view.ui.dist.getContext("2d");
  ctx.font = themeFont(view.root).font;
  const widest = Math.max(...D.names.map((n) => ctx.measureText(n).width));
  const label = Math.min(Math.round(W * 0.3), Math.ceil(widest) + 8);
  const cell = (W - label) / D.k;
  return { x0: label, y0: 0, cell, side: W - label };
}

function paintCells(ctx, D, order, G) {
  const [lo, hi] = D.distanceRange;
  const rgb = D.lutObj.rgb;
  order.forEach((a, i) => order.forEach((b, j) => {
    if (a === b) return;
    const t = hi > lo ? (D.distanceM[a * D.k + b] - lo) / (hi - lo) : 0.5;
    const v = Math.round(Math.min(1, Math.max(0, t)) * 255);
    ctx.fillStyle = `rgb(${rgb[3 * v]}, ${rgb[3 * v + 1]}, ${rgb[3 * v + 2]})`;
    ctx.fillRect(G.x0 + j * G.cell, G.y0 + i * G.cell, Math.ceil(G.cell), Math.ceil(G.cell));
  }));
}

export function drawDistance(view) {
  const { D, ui, model } = view;
  if (!D || !D.confused) return;
  const g = getNum(model, "groups", 2);
  const groupOf = D.groupsAt[g] || null;
  const order = classOrder(groupOf, D.k);
  const theme = themeFont(view.root);
  const G = distanceLayout(view);
  const ctx = sized(ui.dist, view.width, G.side);
  paintCells(ctx, D, order, G);
  ctx.font = theme.font;
  ctx.fillStyle = theme.color;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  order.forEach((c, i) => ctx.fillText(D.names[c], G.x0 - 4, G.y0 + (i + 0.5) * G.cell, G.x0 - 6));
  const ids = groupOf ? [...new Set(groupOf)].sort((a, b) => a - b) : [];
  const members = ids.map((k) => order.filter((c) => groupOf[c] === k));
  ctx.strokeStyle = theme.color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  let at = 0;
  for (const m of members.slice(0, -1)) {
    at += m.length;
    ctx.moveTo(G.x0 + at * G.cell, G.y0);
    ctx.lineTo(G.x0 + at * G.cell, G.y0 + G.side);
    ctx.moveTo(G.x0, G.y0 + at * G.cell);
    ctx.lineTo(G.x0 + G.side, G.y0 + at * G.cell);
  }
  ctx.stroke();
  ui.slider.value = String(g);
  ui.groupValue.textContent = groupOf ? String(g) : "none";
  ui.groupList.replaceChildren(...members.map((m, k) => {
    const li = document.createElement("li");
    li.textContent = `group ${k + 1}: ${m.map((c) => D.names[c]).join(", ")}`;
    return li;
  }));
  Object.assign(ui.dist.dataset, { order: JSON.stringify(order), groups: JSON.stringify(groupOf),
    cell: JSON.stringify([G.x0, G.y0, G.cell]) });
  const [lo, hi] = D.distanceRange;
  ui.legend.draw(D.lutObj, lo, hi, { caption: "class distance: dark close, light far" });
}

export function drawAll(view) {
  if (!view.D || !view.width) return;
  drawHistogram(view);
  drawDistance(view);
  view.markPainted();
}
