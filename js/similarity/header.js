// The header: colormap and opacity, the "auto range" and "worst cells" toggles, the colour
// legend; and the two-way sync of those controls with their traits.
import { elem, getNum } from "../lib/dom.js";
import { headerControls, bindControls, loadColormap } from "../lib/controls.js";

function checkbox(labelClass, inputClass, text) {
  const label = elem("label", labelClass);
  const input = elem("input", inputClass);
  input.type = "checkbox";
  label.append(input, document.createTextNode(text));
  return { label, input };
}

/** div.xw-header and the controls in it. */
export function buildHeader() {
  const header = elem("div", "xw-header");
  const controls = headerControls();
  const auto = checkbox(null, "xw-auto-range", "auto range");
  const worst = checkbox("xw-worst-toggle", null, "worst cells");
  worst.label.title = "outline (magenta) the query cells whose maps the channel reduction keeps worst";
  worst.label.hidden = true; // shown only when a row was reduced
  header.append(controls.cmapLabel, controls.opLabel, auto.label, worst.label, controls.legend.el);
  return { header, controls, autoInput: auto.input, worstInput: worst.input, worstLabel: worst.label };
}

export function syncControls(view) {
  const { model } = view;
  view.controls.opInput.value = String(getNum(model, "opacity", 0.7));
  view.autoInput.checked = !!model.get("auto_range");
  view.worstInput.checked = !!model.get("show_worst");
}

export function updateLut(view) {
  view.lut = loadColormap(view.model, view.controls);
}

/** Controls -> model. */
export function listenControls(view) {
  const { listen, model, autoInput, worstInput } = view;
  bindControls(listen, model, view.controls);
  listen(autoInput, "change", () => {
    model.set("auto_range", autoInput.checked);
    model.save_changes();
  });
  listen(worstInput, "change", () => {
    model.set("show_worst", worstInput.checked);
    model.save_changes();
  });
}
