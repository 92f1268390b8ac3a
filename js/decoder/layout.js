// The widget's DOM, built once per render: header, the four panels, the sliders with the
// prediction readout, the std map's legend and the nMI caption; the fit of the panels to the width.
import { elem, hintLine } from "../lib/dom.js";
import { ColorLegend } from "../lib/legend.js";
import { detailsLine } from "../lib/fit.js";
import { GAP, MIN_PANEL, PANELS } from "./style.js";

/** A panel: a canvas at the image's own pixels, shown at the fitted size, under its title. */
function panel(role, title) {
  const box = elem("div", "xw-col");
  const canvas = elem("canvas", "xw-panel");
  canvas.dataset.role = role;
  const cap = elem("div", "xw-caption", title);
  box.append(cap, canvas);
  return { box, canvas, cap };
}

function slider(className, text) {
  const label = elem("label", null, text);
  const input = Object.assign(elem("input", `xw-slider ${className}`),
    { type: "range", min: "0", max: "0", step: "1" });
  label.append(input);
  return { label, input };
}

/** The view every module works on: the shell's parts, the DOM (`ui`) and the decoded payload M. */
export function createView(model, el, shell) {
  const view = { model, el, ...shell, ui: {}, M: null, avail: 0 };
  const { ui, status } = view;
  const header = elem("div", "xw-header");
  header.append(elem("span", "xw-caption", "What the classifier sees: the image against its tuned reconstruction"));
  ui.panels = { image: panel("image", "image x"), blend: panel("blend", "blend"), recon: panel("recon", "A(x)"),
    std: panel("std", "std map") };
  const row = elem("div", "xw-row xw-panels");
  row.append(...Object.values(ui.panels).map((p) => p.box));
  ui.blend = slider("xw-blend", "blend x → A(x)");
  ui.image = slider("xw-image", "image");
  ui.prediction = elem("span", "xw-prediction");
  ui.prediction.setAttribute("aria-live", "polite");
  ui.imageText = elem("span", "xw-sub xw-image-text");
  const controls = elem("div", "xw-row xw-controls");
  controls.append(ui.blend.label, ui.prediction, ui.image.label, ui.imageText);
  ui.legend = new ColorLegend({ label: "std map colour scale" });
  ui.nmi = elem("div", "xw-sub xw-nmi");
  const hint = hintLine([["kbd", "←"], ["", "/"], ["kbd", "→"], ["", " blend, "], ["kbd", "↑"], ["", "/"],
    ["kbd", "↓"], ["", " image. The classifier's top class is shown for exactly the pixels drawn."]]);
  ui.details = detailsLine();
  view.root.append(header, row, controls, ui.legend.el, ui.nmi, status.readout, hint, status.errorBox,
    status.messageBox, ui.details.el);
  el.appendChild(view.root);
  return view;
}

/** Panels sized to the width given: four in a row, at most `size` CSS px each. */
export function fit(view) {
  const { M, ui } = view;
  if (!M) return;
  const avail = view.avail || 900;
  const room = Math.floor((avail - GAP * (PANELS - 1)) / PANELS);
  const size = Math.max(MIN_PANEL, Math.min(Number(view.model.get("size")) || 160, room));
  for (const p of Object.values(ui.panels)) Object.assign(p.canvas.style, { width: `${size}px`, height: `${size}px` });
  view.panelSize = size;
  ui.details.set("layout", `panels ${size} px for ${avail} px`);
}
