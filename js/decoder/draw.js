// Canvases: the image, its blend and reconstruction (putImageData of the bytes, one canvas pixel
// per image pixel), the std map in the shipped colour table; the readout and the caption.
import { elem } from "../lib/dom.js";
import { putIndices, putPixels } from "../lib/pixels.js";
import { blendBytes, nmiLines, pixelsOf, predictionText, shown } from "./data.js";

/** A canvas sized to the image, W x H. */
function sized(canvas, W, H) {
  if (canvas.width !== W || canvas.height !== H) [canvas.width, canvas.height] = [W, H];
  return canvas;
}

/** Everything for a new payload or image: the image, A(x), the std map, the caption, the blend. */
export function drawAll(view) {
  const { M, ui } = view;
  if (!M) return;
  const { i } = shown(view);
  putPixels(sized(ui.panels.image.canvas, M.W, M.H), pixelsOf(M, "images", i), M.W, M.H, M.ch);
  putPixels(sized(ui.panels.recon.canvas, M.W, M.H), pixelsOf(M, "recons", i), M.W, M.H, M.ch);
  putIndices(sized(ui.panels.std.canvas, M.W, M.H), M.std, M.W, M.H, M.lut);
  for (const p of [ui.panels.image, ui.panels.recon]) p.canvas.dataset.index = String(i);
  ui.legend.draw(M.lut, 0, M.stdHi, { caption: "std map: standard deviation of A(x) across the images, per pixel" });
  ui.nmi.replaceChildren(...nmiLines(M, i).map((line) => elem("div", null, line)));
  ui.image.input.max = String(M.N - 1);
  if (ui.image.input.value !== String(i)) ui.image.input.value = String(i);
  ui.imageText.textContent = `${i + 1} of ${M.N}`;
  drawBlend(view);
  view.markPainted();
}

/** The blend shown, its slider and the classifier's top class there. */
export function drawBlend(view) {
  const { M, ui } = view;
  if (!M) return;
  const { i, k } = shown(view);
  const canvas = ui.panels.blend.canvas;
  putPixels(sized(canvas, M.W, M.H), blendBytes(M, i, k), M.W, M.H, M.ch);
  Object.assign(canvas.dataset, { index: String(i), step: String(k) });
  ui.panels.blend.cap.textContent = `blend b = ${(k / (M.steps - 1)).toFixed(2)}`;
  ui.blend.input.max = String(M.steps - 1);
  if (ui.blend.input.value !== String(k)) ui.blend.input.value = String(k);
  ui.prediction.textContent = predictionText(M, i, k);
  ui.prediction.dataset.step = String(k);
}
