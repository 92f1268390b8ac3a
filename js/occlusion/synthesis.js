// Feature synthesis (Norton 2018, ch. 4, the noise method): a feature chosen here is kept inside
// its bounding box, noise is put everywhere else, and the kernel inverts the penultimate layer
// ({type: "synthesise", feature}; progress and Cancel as for the analysis). The gallery draws
// `_synthesis`: the isolated image, then each pre-image with its loss and top-5 classes.
//
// For tests: canvas.xw-panel[data-role="synth-isolated"], [data-role="synth-preimage"][data-index]
// (the shipped bytes, one image pixel per zoomed cell); .xw-synth-card[data-index] per pre-image.
import { elem } from "../lib/dom.js";
import { bytesOf } from "../lib/tensor.js";
import { fmtNumber } from "../lib/chart.js";
import { kernelOnly } from "../lib/kernel.js";
import { num, pct, className } from "./state.js";
import { pixelPanel, showRGB } from "./pixels.js";

/** The synthesis row: its controls (feature select, button) and the gallery. */
export function buildSynthesis(ui) {
  const col = elem("div", "xw-col xw-synthesis");
  const head = elem("div", "xw-header");
  ui.synthSelect = elem("select", "xw-synth-feature");
  const label = elem("label", null, "feature");
  label.appendChild(ui.synthSelect);
  ui.synthButton = Object.assign(elem("button", "xw-synthesise", "Synthesise"), { type: "button" });
  ui.synthButton.title = "keep the feature's bounding box, put noise elsewhere, and invert the penultimate layer "
    + "(Norton 2018, ch. 4)";
  head.append(elem("span", "xw-caption", "What the network makes of one feature alone"), label, ui.synthButton);
  ui.synthSub = elem("div", "xw-sub");
  ui.gallery = elem("div", "xw-synth-gallery");
  col.append(head, ui.synthSub, ui.gallery);
  return col;
}

/** The select lists the features (1..n); the button waits for a running task. */
export function syncSynthesis(app, running) {
  const { ui, D } = app;
  const n = D ? D.n : 0;
  if (ui.synthSelect.options.length !== n) {
    const keep = ui.synthSelect.value;
    const option = (k) => Object.assign(elem("option", null, String(k + 1)), { value: String(k) });
    ui.synthSelect.replaceChildren(...Array.from({ length: n }, (_, k) => option(k)));
    if (n) ui.synthSelect.value = keep !== "" && Number(keep) < n ? keep : "0"; // feature 1 unless one was chosen
  }
  ui.synthButton.disabled = running || n === 0;
}

/** One pre-image's card: its canvas, loss and top-5. */
function card(app, S, k, side) {
  const box = elem("div", "xw-col xw-synth-card");
  box.dataset.index = String(k);
  box.style.width = `${side}px`;
  const P = pixelPanel(app.D.W, app.D.H, side, "synth-preimage");
  P.canvas.dataset.index = String(k);
  const size = app.D.W * app.D.H * 3;
  showRGB(P, bytesOf(S.images).subarray(k * size, (k + 1) * size));
  const top = elem("ol", "xw-synth-top");
  const line = ([c, p]) => elem("li", c === app.D.target ? "xw-target" : null, `${className(app, c)} ${pct(p)}`);
  top.append(...S.top5[k].map(line));
  box.append(P.canvas, elem("div", "xw-sub", `start ${S.seed + k} · loss ${fmtNumber(S.loss[k])}`), top);
  return box;
}

/** The gallery from `_synthesis`, or a line saying what the button does. */
export function drawSynthesis(app) {
  const { ui, D } = app;
  const S = app.model.get("_synthesis") || {};
  ui.gallery.replaceChildren();
  if (!D || !S.images) {
    ui.synthSub.textContent = D && D.n
      ? "Pick a feature and press Synthesise: its pre-images at the penultimate layer appear here." : "";
    return;
  }
  const side = Math.round(Math.max(96, num(app, "size", 256)) / 2);
  const first = elem("div", "xw-col xw-synth-card");
  first.style.width = `${side}px`;
  const P = pixelPanel(D.W, D.H, side, "synth-isolated");
  showRGB(P, bytesOf(S.isolated));
  const [t, l, b, r] = S.box;
  first.append(P.canvas, elem("div", "xw-sub", `feature ${S.feature + 1} in noise`),
    elem("div", "xw-sub", `box rows ${t}–${b - 1}, cols ${l}–${r - 1}`));
  ui.gallery.append(first, ...S.loss.map((_, k) => card(app, S, k, side)));
  ui.synthSub.textContent = `Feature ${S.feature + 1}: ${S.loss.length} pre-images of ${S.layer} over the box's cells, `
    + `${S.iterations} steps each; loss ‖Φ(x) − Φ₀‖² / ‖Φ₀‖² inside the box, top-5 of each pre-image.`;
}

/** The button asks the kernel for the selected feature. */
export function listenSynthesis(app) {
  const { listen, ui, model } = app;
  listen(ui.synthButton, "click", () => kernelOnly(model, "Synthesising a feature")
    || model.send({ type: "synthesise", feature: Number(ui.synthSelect.value) }));
}
