// Canvases: the sorted weight bars and the example strips. The strips' pixels are the exact
// twins of xai_widgets/widgets/concept_explorer_picture.py (mask_pixels, channel_pixels):
// integer blending a = floor(opacity * 255 + 0.5), (p (255 - a) + c a + 127) / 255 | 0, and the
// concept's mask outlined in yellow where a 4-neighbour lies outside it.
import { lutIndex } from "../lib/colormap.js";
import { weightsOf, conceptOf, channelOf, fmtScore } from "./data.js";

export const COMBINATION = [213, 94, 0]; // Okabe-Ito vermillion
export const SINGLE = [0, 114, 178]; // Okabe-Ito blue
const TRUTH = [255, 255, 0];
export const BAR_H = 120; // css px of the bar chart

/** The bars of concept q in its sorted order, diverging colours over ±max|w|. */
export function drawBars(view) {
  const { D, bars } = view;
  const q = conceptOf(view);
  const w = weightsOf(D, q);
  const order = D.order[q];
  const ctx = bars.getContext("2d");
  const W = bars.width;
  const H = bars.height;
  ctx.clearRect(0, 0, W, H);
  let m = 0;
  for (let c = 0; c < D.C; c++) m = Math.max(m, Math.abs(w[c]));
  m = m || 1;
  const mid = H / 2;
  const step = W / D.C;
  const selected = channelOf(view);
  const rgb = view.diverging ? view.diverging.rgb : null;
  for (let j = 0; j < D.C; j++) {
    const v = w[order[j]];
    const k = lutIndex(v, -m, m);
    ctx.fillStyle = rgb ? `rgb(${rgb[3 * k]},${rgb[3 * k + 1]},${rgb[3 * k + 2]})` : "#888";
    const y = mid - (v / m) * (mid - 1);
    ctx.fillRect(j * step, Math.min(y, mid), Math.max(1, step - (step > 3 ? 1 : 0)), Math.abs(y - mid) || 1);
    if (order[j] === selected || j === view.hoverBar) {
      ctx.strokeStyle = order[j] === selected ? "rgb(255,0,0)" : view.muted;
      ctx.lineWidth = 2;
      ctx.strokeRect(j * step + 1, 1, Math.max(1, step - 2), H - 2);
    }
  }
  ctx.fillStyle = view.muted;
  ctx.fillRect(0, Math.floor(mid), W, 1);
  bars.dataset.concept = String(q);
  bars.dataset.scale = String(m);
}

function outline(truth, base, dh, dw, i) {
  if (!truth[base + i]) return false;
  const r = (i / dw) | 0;
  const c = i - r * dw;
  return r === 0 || c === 0 || r === dh - 1 || c === dw - 1 || !truth[base + i - dw] || !truth[base + i + dw]
    || !truth[base + i - 1] || !truth[base + i + 1];
}

/** RGBA of example s of concept q on strip `row` ("combination", "single", "channel"). */
export function examplePixels(view, q, s, row, out) {
  const { D } = view;
  const P = D.dh * D.dw;
  const u = D.examples[q][s].image;
  const img = D.images;
  const a = Math.floor(Number(view.model.get("opacity")) * 255 + 0.5);
  const base = (q * D.S + s) * P;
  const t = Number(view.model.get("threshold"));
  const cut = Math.log(t / (1 - t));
  const channel = channelOf(view);
  const lut = view.viridis ? view.viridis.rgb : null;
  for (let i = 0, o = 0; i < P; i++, o += 4) {
    const p = 3 * (u * P + i);
    let col = null;
    let alpha = a;
    if (row === "combination" && D.logits[base + i] > cut) col = COMBINATION;
    else if (row === "single" && D.singleMasks[base + i]) col = SINGLE;
    else if (row === "channel" && lut && channel >= 0) {
      const r = (((i / D.dw) | 0) * D.h / D.dh) | 0;
      const c = (((i % D.dw) * D.w) / D.dw) | 0;
      const k = D.acts[((u * D.C + channel) * D.h + r) * D.w + c];
      col = [lut[3 * k], lut[3 * k + 1], lut[3 * k + 2]];
    } else alpha = 0;
    for (let ch = 0; ch < 3; ch++) {
      out[o + ch] = alpha ? ((img[p + ch] * (255 - alpha) + col[ch] * alpha + 127) / 255) | 0 : img[p + ch];
    }
    if (row !== "channel" && outline(D.truth, base, D.dh, D.dw, i)) [out[o], out[o + 1], out[o + 2]] = TRUTH;
    out[o + 3] = 255;
  }
}

/** Every canvas of the strips, with its caption. */
export function drawStrips(view) {
  if (!view.D) return;
  const q = conceptOf(view);
  for (const cell of view.cells) {
    const ex = view.D.examples[q][cell.slot];
    cell.box.hidden = !ex || (cell.row === "channel" && channelOf(view) < 0);
    if (cell.box.hidden) continue;
    const ctx = cell.canvas.getContext("2d");
    const im = ctx.createImageData(view.D.dw, view.D.dh);
    examplePixels(view, q, cell.slot, cell.row, im.data);
    ctx.putImageData(im, 0, 0);
    cell.canvas.dataset.index = String(ex.index);
    const score = { combination: ex.iou, single: ex.single_iou }[cell.row];
    cell.caption.textContent = cell.row === "channel" ? `image ${ex.index}` : `IoU ${fmtScore(score)}`;
  }
}
