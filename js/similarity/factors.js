// The NMF groups of one row (`_factors`, lib/factors.js): a legend of chips that focus one group
// (`factor_focus`) and one small tint canvas per image, drawn under that row's overlay.
import { loadFactors, fillFactorPixels } from "../lib/factors.js";
import { elem } from "../lib/dom.js";

/** The legend: caption + one toggle chip per group; shown only while `_factors` is set. */
export function buildFactorBar() {
  const factorBar = elem("div", "xw-factors");
  factorBar.setAttribute("role", "group");
  factorBar.hidden = true;
  const factorCaption = elem("span", "xw-factor-caption");
  const factorChips = elem("span", "xw-factor-chips");
  factorBar.append(factorCaption, factorChips);
  return { factorBar, factorCaption, factorChips };
}

function focusedFactor(view) {
  const f = view.model.get("factor_focus");
  return view.factors && Number.isInteger(f) && f >= 0 && f < view.factors.k ? f : -1;
}

function factorChip(factors, label, f) {
  const chip = elem("button", "xw-factor-chip");
  chip.type = "button";
  chip.dataset.factor = String(f);
  const swatch = elem("span", "xw-swatch");
  swatch.style.background = `rgb(${factors.colors[f].join(", ")})`;
  chip.append(swatch, elem("span", null, label));
  return chip;
}

/** Load `_factors` for the current data: the legend and one small canvas per image. */
export function setFactors(view, raw) {
  const { D, factorBar, factorCaption, factorChips } = view;
  const factors = D ? view.status.attempt("factor groups", () => loadFactors(raw, D.layers)) : null;
  view.factors = factors;
  factorBar.hidden = !factors;
  factorChips.replaceChildren();
  if (!factors) return;
  factors.tints = D.layers[factors.row].grids.map(({ h, w }) => {
    const canvas = elem("canvas");
    canvas.width = w;
    canvas.height = h;
    return canvas;
  });
  factorCaption.textContent = `NMF groups of ${factors.name}`;
  factorBar.setAttribute("aria-label", factorCaption.textContent);
  factorChips.append(...factors.labels.map((label, f) => factorChip(factors, label, f)));
  fillFactorLayers(view);
}

/** Colour the factor canvases for the current `factor_focus` and mark the focused chip. */
export function fillFactorLayers(view) {
  const { factors } = view;
  if (!factors) return;
  const focus = focusedFactor(view);
  factors.tints.forEach((canvas, n) => {
    const fctx = canvas.getContext("2d");
    const img = fctx.createImageData(canvas.width, canvas.height);
    fillFactorPixels(img.data, factors, n, focus);
    fctx.putImageData(img, 0, 0);
  });
  view.factorBar.classList.toggle("xw-focused", focus >= 0);
  for (const chip of view.factorChips.children) {
    const pressed = Number(chip.dataset.factor) === focus;
    chip.setAttribute("aria-pressed", String(pressed));
    chip.title = pressed ? "show all groups" : "show this group alone";
  }
}

/** A chip click focuses its group, or shows all groups again when it is the focused one. */
export function listenFactorChips(view) {
  const { model } = view;
  view.listen(view.factorChips, "click", (ev) => {
    const chip = ev.target.closest(".xw-factor-chip");
    if (!chip || !view.factors) return;
    const f = Number(chip.dataset.factor);
    model.set("factor_focus", f === focusedFactor(view) ? -1 : f);
    model.save_changes();
  });
}
