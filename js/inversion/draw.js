// Canvases: the image, each layer's pre-images and spread at the snapshot shown (putImageData of
// the shipped bytes, one canvas pixel per image pixel), and the loss chart with its cursor.
import { lineKey } from "../lib/chart.js";
import { putIndices, putPixels } from "../lib/pixels.js";
import { log10s, stepOf, snapshotBytes, spreadBytes } from "./data.js";
import { CURSOR, layerColour } from "./style.js";
import { fmt } from "./layout.js";

/** Everything for a new payload or size: the image, the chart, the legend, then the step. */
export function drawAll(view) {
  const { M, ui } = view;
  if (!M) return;
  [ui.image.width, ui.image.height] = [M.W, M.H];
  putPixels(ui.image, M.image, M.W, M.H, M.ch);
  drawChart(view);
  ui.legend.draw(M.lut, 0, M.spreadHi, { caption: "spread: standard deviation across the pre-images, per pixel (input units)" });
  drawStep(view);
  view.markPainted();
}

/** The loss curves: log10 of each layer's mean loss over its starts, after each step. */
function drawChart(view) {
  const { M, ui } = view;
  if (!M.layers.length) {
    ui.chartBox.hidden = true;
    return;
  }
  ui.chartBox.hidden = false;
  const xs = Array.from({ length: M.iterations + 1 }, (_, t) => t);
  const [first, ...rest] = M.layers;
  ui.chart.draw({
    xs, ys: log10s(first.loss), name: first.name, color: layerColour(0), cursor: CURSOR, dots: false,
    highlight: M.steps[stepOf(view)], xTitle: "iteration", yTitle: "log10 loss (mean over starts)", yRange: [0, 0],
    series: rest.map((lay, i) => ({ name: lay.name, ys: log10s(lay.loss), color: layerColour(i + 1), width: 2 })),
  });
  ui.chartKey.replaceChildren(lineKey(M.layers.map((lay, i) => ({ color: layerColour(i), label: lay.name }))));
}

/** The snapshot shown: every panel, the slider, its caption and the chart's cursor. */
export function drawStep(view) {
  const { M, ui } = view;
  if (!M || !M.layers.length) return;
  const k = stepOf(view);
  const t = M.steps[k];
  const showSpread = !!view.model.get("spread");
  for (const { l, cells, spread, mean } of view.rows) {
    const lay = M.layers[l];
    mean.textContent = `mean loss ${fmt(lay.loss[t])}`;
    cells.forEach((c, s) => {
      putPixels(c.canvas, snapshotBytes(M, lay, k, s), M.W, M.H, M.ch);
      c.canvas.dataset.step = String(k);
      c.cap.textContent = `loss ${fmt(lay.losses[k * M.n + s])}`;
    });
    spread.box.hidden = !showSpread;
    if (showSpread) {
      putIndices(spread.canvas, spreadBytes(M, lay, k), M.W, M.H, M.lut);
      spread.canvas.dataset.step = String(k);
    }
  }
  ui.legendBox.hidden = !showSpread;
  ui.spreadBox.checked = showSpread;
  ui.slider.max = String(M.steps.length - 1);
  if (ui.slider.value !== String(k)) ui.slider.value = String(k);
  ui.stepText.textContent = `iteration ${t} of ${M.iterations}${t === M.iterations ? " (the final pre-images)" : ""}; `
    + "losses: ‖Φ(x) − Φ(image)‖² / ‖Φ(image)‖² at this iteration";
  const tip = M.layers.map((lay) => `${lay.name} ${fmt(lay.loss[t])}`).join(" · ");
  ui.chart.moveHighlight(t, tip);
}
