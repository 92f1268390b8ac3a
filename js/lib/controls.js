// Header controls shared by the widgets: colormap select, opacity slider, colour legend, task progress.
import { makeLut } from "./colormap.js";
import { elem } from "./dom.js";
import { ColorLegend } from "./legend.js";

/** The controls' elements and the colour legend (`legend.el` goes in the header). */
export function headerControls() {
  const cmapLabel = elem("label", null, "colormap");
  const cmapSelect = elem("select", "xw-colormap");
  cmapLabel.appendChild(cmapSelect);
  const opLabel = elem("label", null, "opacity");
  const opInput = elem("input", "xw-opacity");
  Object.assign(opInput, { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(opInput);
  return { cmapLabel, cmapSelect, opLabel, opInput, legend: new ColorLegend() };
}

const stepsDone = (p) => `${p.task}: ${p.done}${p.total ? ` / ${p.total}` : ""}`;

/**
 * span.xw-progress showing the `progress` trait ({running, task, done, total}): a bar (indeterminate
 * without a total), the text `caption(p)` and a Cancel button that sends {type: "cancel"}.
 * sync() shows the trait and returns whether a task is running.
 */
export function progressControl(model, listen, caption = stepsDone) {
  const box = elem("span", "xw-progress");
  const bar = elem("progress");
  const text = elem("span", "xw-sub");
  const cancel = Object.assign(elem("button", "xw-cancel", "Cancel"), { type: "button" });
  box.append(bar, text, cancel);
  box.hidden = true;
  listen(cancel, "click", () => model.send({ type: "cancel" }));
  return {
    box,
    sync() {
      const p = model.get("progress") || {};
      box.hidden = !p.running;
      if (p.running) {
        if (p.total) {
          bar.max = Number(p.total);
          bar.value = Number(p.done) || 0;
        } else bar.removeAttribute("value");
        text.textContent = caption(p);
      }
      return !!p.running;
    },
  };
}

/** Controls -> model: colormap on change, opacity live while dragging and saved on release. */
export function bindControls(listen, model, { cmapSelect, opInput }) {
  listen(cmapSelect, "change", () => {
    model.set("colormap", cmapSelect.value);
    model.save_changes();
  });
  listen(opInput, "input", () => model.set("opacity", Number(opInput.value)));
  listen(opInput, "change", () => {
    model.set("opacity", Number(opInput.value));
    model.save_changes();
  });
}

/** LUT of the `colormap` trait (first of `_colormaps` if unknown); syncs the select. */
export function loadColormap(model, { cmapSelect }) {
  const maps = model.get("_colormaps") || {};
  let name = model.get("colormap");
  if (!(name in maps)) name = Object.keys(maps)[0] || "";
  let lut = makeLut(maps[name]);
  if (!lut) {
    // No table from Python: a plain grey ramp keeps the widget usable.
    const ramp = new Uint8Array(768);
    for (let i = 0; i < 768; i++) ramp[i] = Math.floor(i / 3);
    lut = makeLut(ramp);
  }
  const names = Object.keys(maps);
  if (cmapSelect.options.length !== names.length || names.some((n, i) => cmapSelect.options[i].value !== n)) {
    cmapSelect.replaceChildren(...names.map((n) => Object.assign(elem("option", null, n), { value: n })));
  }
  cmapSelect.value = name;
  return lut;
}

/** The `vrange` trait as finite [lo, hi] (default [0, 1]). */
export function vrangeOf(model) {
  const vr = model.get("vrange");
  const lo = Array.isArray(vr) ? Number(vr[0]) : NaN;
  const hi = Array.isArray(vr) ? Number(vr[1]) : NaN;
  return [Number.isFinite(lo) ? lo : 0, Number.isFinite(hi) ? hi : 1];
}
