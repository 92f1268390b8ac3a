// Per frame (every `step` while scrubbing or playing): the frame with its overlay and probed
// pixel, the legend, the class bars and the chart cursors.
import { fmtValue } from "../lib/chart.js";
import { scaledImage } from "../lib/panels.js";
import { num, currentStep, pixel, stepScale } from "./state.js";
import { tintSigned, tintMask } from "./tint.js";
import { moveCursors } from "./charts.js";

export function drawFrame(view) {
  const { M, panel } = view;
  if (!M || !panel) return;
  const t0 = performance.now();
  const i = currentStep(view);
  panel.ctx.imageSmoothingEnabled = false;
  panel.ctx.setTransform(1, 0, 0, 1, 0, 0);
  panel.ctx.drawImage(frameCanvas(view, i), 0, 0, panel.canvas.width, panel.canvas.height);
  const ov = view.model.get("overlay");
  drawOverlay(view, ov, i);
  markPixel(view);
  showStep(view, i);
  drawLegend(view, ov, i);
  drawBars(view, i);
  moveCursors(view, i);
  view.markPainted();
  view.el.dispatchEvent(new CustomEvent("xw-paint", { detail: { work: performance.now() - t0, step: i } }));
}

/** Frame i at the data's resolution, scaled once per result. */
function frameCanvas(view, i) {
  const cache = view.frameCache;
  if (!cache.has(i)) cache.set(i, scaledImage(view.M.frames[i], view.M.W, view.M.H));
  return cache.get(i);
}

function drawOverlay(view, ov, i) {
  const { M, panel } = view;
  const alpha = num(view, "opacity", 0.6);
  const HW = M.H * M.W;
  if (ov === "mask") tintMask(panel, M.mask, alpha);
  else if ((ov === "diff" || ov === "masked") && i < M.n - 1) {
    if (!view.stepDiff) view.stepDiff = new Float32Array(HW);
    const d = view.stepDiff;
    for (let p = 0; p < HW; p++) d[p] = M.diffs[i * HW + p] * (ov === "masked" ? M.mask[p] : 1);
    tintSigned(panel, d, stepScale(M, ov, i), alpha, view.diverging);
  }
}

/** A yellow square around the probed pixel. */
function markPixel(view) {
  const px = pixel(view);
  if (!px) return;
  const { M, panel } = view;
  const ctx = panel.ctx;
  ctx.strokeStyle = "#ffff00";
  ctx.lineWidth = 2;
  const sx = panel.canvas.width / M.W;
  const sy = panel.canvas.height / M.H;
  ctx.strokeRect(px.col * sx + 1, px.row * sy + 1, sx - 2, sy - 2);
}

/** Step i on the frame's data-step, its caption, the strip's current thumbnail and the slider. */
function showStep(view, i) {
  const { M, ui } = view;
  view.panel.canvas.dataset.step = String(i);
  ui.frameCaption.textContent = `step ${i + 1} of ${M.n} (α = ${fmtValue(M.alphas[i])}): ${i === 0 ? "other (morphed)" : i === M.n - 1 ? "self (reconstruction)" : "on the path"}`;
  for (const c of ui.strip.children) c.setAttribute("aria-current", String(Number(c.dataset.step) === nearestStrip(ui.strip, i)));
  if (ui.slider.value !== String(i)) ui.slider.value = String(i);
}

function nearestStrip(strip, i) {
  let best = 0;
  for (const c of strip.children) {
    const s = Number(c.dataset.step);
    if (Math.abs(s - i) < Math.abs(best - i)) best = s;
  }
  return best;
}

function drawLegend(view, ov, i) {
  const { M, ui: { legend } } = view;
  legend.el.hidden = ov === "none";
  legend.scale.hidden = ov === "mask";
  if (ov === "mask") {
    legend.caption.textContent = "green: the mask m in [0, 1] (opacity = m × opacity)";
    legend.caption.hidden = false;
    return;
  }
  const last = i >= M.n - 1;
  const m = stepScale(M, ov, i) || 1;
  const what = ov === "masked" ? "m × (x[i+1] − x[i])" : "x[i+1] − x[i]";
  legend.draw(view.diverging, -m, m, { fmt: (v) => fmtValue(v, { digits: 2 }),
    caption: last ? `${what}: none after the last step`
      : `${what}: red brighter, blue darker at the next step; scale ± the largest change at step ${i + 1}` });
}

function drawBars(view, i) {
  const { M } = view;
  Array.from(M.probs.subarray(i * M.K, (i + 1) * M.K)).forEach((v, k) => {
    const [bar, pct] = view.barCells[k];
    bar.style.width = `${Math.max(1, Math.round(100 * v))}px`;
    pct.textContent = `${(100 * v).toFixed(1)}%`;
  });
}
