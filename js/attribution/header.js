// The header row: view, opacity, scaling and contrast-picking controls and the task progress.
import { elem } from "../lib/dom.js";
import { progressControl } from "../lib/controls.js";
import { num, viewMode, rowScaling, setTrait } from "./state.js";

const option = (text, value) => Object.assign(elem("option", null, text), { value });

/** The header's elements; its controls go in `app.ui`. */
export function buildHeader(app) {
  const header = elem("div", "xw-header");
  const viewLabel = elem("label", null, "view");
  const viewSelect = elem("select", "xw-view");
  viewSelect.append(option("over the image", "overlay"), option("side by side", "side"));
  viewLabel.appendChild(viewSelect);
  const opLabel = elem("label", null, "opacity");
  const opInput = Object.assign(elem("input", "xw-opacity"), { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(opInput);
  const contrastLabel = elem("label", "xw-contrast-toggle");
  const contrastBox = Object.assign(elem("input", "xw-contrast"), { type: "checkbox" });
  contrastLabel.title = "when on, clicking a class picks it as the contrast class B (same as Shift-click)";
  contrastLabel.append(contrastBox, document.createTextNode("click picks contrast B"));
  const scalingLabel = elem("label", null, "scale");
  const scalingSelect = elem("select", "xw-scaling");
  scalingSelect.append(option("per method (column)", "column"), option("per image (row)", "row"));
  scalingLabel.title = "column: one scale per method over all images, colours compare down a column; "
    + "row: each image's maps on that image's own scale, colours compare within a map only";
  scalingLabel.appendChild(scalingSelect);
  const scalingRule = elem("span", "xw-sub xw-scaling-rule");
  const progress = progressControl(app.model, app.listen, (p) => (p.total
    ? `${p.task}: ${Math.floor((100 * (Number(p.done) || 0)) / Number(p.total))}%`
    : String(p.task || "")));
  header.append(viewLabel, opLabel, scalingLabel, scalingRule, contrastLabel, progress.box);
  app.ui = { viewSelect, opLabel, opInput, contrastLabel, contrastBox, scalingSelect, scalingRule, progress };
  return header;
}

/** The header's controls from the traits (and the local contrast-picking mode). */
export function syncControls(app) {
  const { viewSelect, opLabel, opInput, contrastLabel, contrastBox, scalingSelect, scalingRule, progress } = app.ui;
  const side = viewMode(app) === "side";
  viewSelect.value = viewMode(app);
  scalingSelect.value = rowScaling(app) ? "row" : "column";
  scalingRule.textContent = rowScaling(app) ? "each map on ± s of its own image (stated under it): s = 99.5th pct |R| of that image's maps"
    : "one ± s per method: s = 99.5th pct |R| over all its images";
  opInput.value = String(num(app, "opacity", 0.8));
  opLabel.classList.toggle("xw-disabled", side);
  opInput.disabled = side;
  contrastBox.checked = app.contrastMode;
  contrastLabel.classList.toggle("xw-contrast-on", app.contrastMode);
  progress.sync();
}

/** Controls -> traits: opacity live while dragging and saved on release. */
export function listenHeader(app) {
  const { listen, model } = app;
  const { viewSelect, scalingSelect, opInput, contrastBox } = app.ui;
  listen(viewSelect, "change", () => setTrait(app, "view", viewSelect.value));
  listen(scalingSelect, "change", () => setTrait(app, "scaling", scalingSelect.value));
  listen(opInput, "input", () => model.set("opacity", Number(opInput.value)));
  listen(opInput, "change", () => setTrait(app, "opacity", Number(opInput.value)));
  listen(contrastBox, "change", () => {
    app.contrastMode = contrastBox.checked;
    syncControls(app);
  });
}
