// Trait changes -> the view: texts, pressed states, neighbours, arithmetic results, canvases.
import { elem } from "../lib/dom.js";
import { fmtSigned } from "../lib/diverging.js";
import { conceptOf, channelOf, weightsOf, fmtScore } from "./data.js";
import { drawBars, drawStrips } from "./draw.js";

/** Everything that depends on the concept or the channel. */
export function showConcept(view) {
  const { D } = view;
  if (!D) return;
  const q = conceptOf(view);
  const [k, single] = D.single[q];
  const c = channelOf(view);
  view.title.textContent = `${D.names[q]} (${D.categories[q]}) at ${D.layer}`;
  view.scores.textContent = `set IoU (held out): combination ${fmtScore(D.iou[q])} · best single filter ${k}: `
    + `${fmtScore(single)}`;
  view.barCaption.textContent = `weights of the ${D.C} filters, sorted; click a bar to see that channel's activations`;
  for (const b of view.conceptButtons) b.setAttribute("aria-selected", String(Number(b.dataset.concept) === q));
  scrollToConcept(view, q);
  view.rowLabels.combination.textContent = "combination";
  view.rowLabels.single.textContent = `filter ${k}`;
  view.rowLabels.channel.textContent = c >= 0 ? `channel ${c} (${fmtSigned(weightsOf(D, q)[c])})` : "";
  view.rowLabels.channel.hidden = c < 0;
  const near = (D.nearest[q] || []).map(([name, s]) => conceptLink(view, name, s));
  view.nearest.replaceChildren(elem("span", "xw-sub", "nearest"), ...near);
  view.root.dataset.concept = String(q);
  view.root.dataset.channel = String(c);
  drawBars(view);
  drawStrips(view);
}

/** Scroll the picker (not the page) so that concept q's row shows. */
function scrollToConcept(view, q) {
  const b = view.conceptButtons.find((x) => Number(x.dataset.concept) === q);
  const p = view.picker;
  if (!b || !p.clientHeight) return;
  if (b.offsetTop < p.scrollTop || b.offsetTop + b.offsetHeight > p.scrollTop + p.clientHeight) {
    p.scrollTop = Math.max(0, b.offsetTop - (p.clientHeight - b.offsetHeight) / 2);
  }
}

/** A button naming a concept and its cosine similarity; clicking it shows that concept. */
export function conceptLink(view, name, score) {
  const b = Object.assign(elem("button", "xw-near"), { type: "button" });
  const q = view.D.names.indexOf(name);
  b.dataset.concept = String(q);
  b.dataset.score = String(score);
  b.append(elem("span", null, name), elem("span", "xw-sub", ` ${Number(score).toFixed(2)}`));
  return b;
}

/** The `_arithmetic` trait: its results as links, or its error as text. */
export function showArithmetic(view) {
  const a = view.model.get("_arithmetic") || {};
  const results = Array.isArray(a.results) ? a.results : [];
  const links = results.map(([name, s]) => conceptLink(view, name, s));
  view.arithResults.replaceChildren(...(links.length ? [elem("span", "xw-sub", "= nearest"), ...links] : []));
  view.arithResults.dataset.expression = a.expression ? String(a.expression) : "";
  view.arithError.textContent = a.error ? String(a.error) : "";
  view.arithError.hidden = !a.error;
  if (a.expression != null && document.activeElement !== view.expression) view.expression.value = String(a.expression);
}

/** Slider positions and values from the traits. */
export function showControls(view) {
  const t = Number(view.model.get("threshold"));
  const o = Number(view.model.get("opacity"));
  view.threshold.input.value = String(t);
  view.threshold.value.textContent = t.toFixed(2);
  view.opacity.input.value = String(o);
  view.opacity.value.textContent = o.toFixed(2);
}
