// Interaction on the occlusion tab (hover and toggle features on the panels and the list, the
// settings, the analysis), the keyboard, and the traits that redraw what.
import { makeLut } from "../lib/colormap.js";
import { clampInt } from "../lib/panels.js";
import { kernelOnly } from "../lib/kernel.js";
import { num, occluded, isSandbox, setTrait } from "./state.js";
import { pixelAt } from "./pixels.js";
import { syncControls } from "./chrome.js";
import { refreshAll } from "./layout.js";
import { drawFeatures, drawView, drawFindings, drawRelevance } from "./draw.js";
import { loadMask, drawPaint, drawSandbox, clearMask, listenSandbox } from "./sandbox.js";
import { drawSynthesis, listenSynthesis } from "./synthesis.js";

function setHover(app, i) {
  const h = app.D && i >= 0 && i < app.D.n ? i : -1;
  if (h === app.hover) return;
  app.hover = h;
  drawFeatures(app);
}

function toggle(app, i) {
  if (!app.D || i < 0 || i >= app.D.n) return;
  const occ = new Set(occluded(app));
  if (occ.has(i)) occ.delete(i);
  else occ.add(i);
  setTrait(app, "occluded", [...occ].sort((a, b) => a - b));
}

const occludeAll = (app) => setTrait(app, "occluded", app.D.feats.map((_, i) => i));

/** What the kernel recomputes: in a to_html page the control goes back and the message says why. */
function kernelTrait(app, name, value, what) {
  if (kernelOnly(app.model, what)) syncControls(app);
  else setTrait(app, name, value);
}

/** Hover and click on the features and occluded panels, and on the feature list. */
function listenFeatures(app) {
  const { listen, ui } = app;
  const featureAt = (ev, canvas) => {
    const [col, row] = pixelAt(app.D, ev, canvas);
    return app.D.labels[row * app.D.W + col] - 1;
  };
  for (const box of [ui.featStack, ui.occBox]) {
    const panel = () => (box === ui.featStack ? app.featPanel.canvas : app.occPanel.canvas);
    listen(box, "pointermove", (ev) => {
      if (!app.D || ev.target.tagName !== "CANVAS") return;
      const canvas = panel();
      app.hoverQueue.queue(() => setHover(app, featureAt(ev, canvas)));
    });
    listen(box, "pointerleave", () => {
      app.hoverQueue.drop();
      setHover(app, -1);
    });
    listen(box, "click", (ev) => {
      if (!app.D) return;
      const f = featureAt(ev, panel());
      if (f >= 0) toggle(app, f);
    });
  }
  listen(ui.flist, "pointerover", (ev) => {
    const b = ev.target.closest(".xw-feature");
    if (b) setHover(app, Number(b.dataset.index));
  });
  listen(ui.flist, "pointerleave", () => setHover(app, -1));
  listen(ui.flist, "click", (ev) => {
    const b = ev.target.closest(".xw-feature");
    if (b) toggle(app, Number(b.dataset.index));
  });
}

/** Buttons, range inputs (shown live, saved on release) and selects. */
function listenControls(app) {
  const { listen, ui, model } = app;
  listen(ui.allButton, "click", () => app.D && occludeAll(app));
  listen(ui.noneButton, "click", () => setTrait(app, "occluded", []));
  listen(ui.findings, "click", (ev) => {
    const card = ev.target.closest(".xw-finding");
    if (card && card.dataset.occluded) setTrait(app, "occluded", JSON.parse(card.dataset.occluded));
  });
  listen(ui.analyseButton, "click", () => kernelOnly(model, "Analysing the features") || model.send({ type: "analyse" }));
  const round = (v) => Math.round(Number(v));
  for (const [c, name, parse] of [[ui.thr, "threshold", Number], [ui.dist, "distance", Number], [ui.minSize, "min_size", round], [ui.brush, "brush", round]]) {
    listen(c.input, "input", () => {
      c.value.textContent = c.fmt(Number(c.input.value));
    });
    listen(c.input, "change", () => {
      if (name !== "brush" && kernelOnly(model, "Finding features with new settings")) {
        c.input.value = String(model.get(name)); // back to the features this page shows
        c.value.textContent = c.fmt(Number(model.get(name)));
      } else setTrait(app, name, parse(c.input.value));
    });
  }
  listen(ui.opac.input, "input", () => model.set("opacity", Number(ui.opac.input.value)));
  listen(ui.opac.input, "change", () => setTrait(app, "opacity", Number(ui.opac.input.value)));
  listen(ui.modeSelect, "change", () => kernelTrait(app, "mode", ui.modeSelect.value, "Occluding with another occluder"));
  listen(ui.patchSelect, "change", () => kernelTrait(app, "patch", Number(ui.patchSelect.value), "Occluding with another patch size"));
  listen(ui.tabs, "click", (ev) => {
    const b = ev.target.closest("button");
    if (b && b.dataset.tab) setTrait(app, "tab", b.dataset.tab);
  });
  listen(ui.kindSelect, "change", () => kernelTrait(app, "sandbox_kind", ui.kindSelect.value, "Perturbing with another kind"));
}

/** A key on the occlusion tab: number keys toggle, arrows move the highlight, a / Esc occlude all / none. False when not ours. */
function occlusionKey(app, k, tag) {
  if (/^[0-9]$/.test(k)) toggle(app, k === "0" ? 9 : Number(k) - 1);
  else if (k === "ArrowDown" || k === "ArrowUp") setHover(app, clampInt(app.hover + (k === "ArrowDown" ? 1 : -1), 0, app.D.n - 1));
  else if ((k === "Enter" || k === " ") && app.hover >= 0 && tag !== "BUTTON") toggle(app, app.hover);
  else if (k === "a") occludeAll(app);
  else if (k === "Escape") {
    setTrait(app, "occluded", []);
    setHover(app, -1);
  } else return false;
  return true;
}

/** A key on the sandbox tab: c clears, [ ] change the brush. False when not ours. */
function sandboxKey(app, k) {
  if (k === "c") clearMask(app);
  else if (k === "[" || k === "]") setTrait(app, "brush", clampInt(num(app, "brush", 6) + (k === "]" ? 1 : -1), 1, 32));
  else return false;
  return true;
}

function onKey(app, ev) {
  if (ev.altKey || ev.ctrlKey || ev.metaKey || !app.D) return;
  const tag = ev.target.tagName;
  if (tag === "INPUT" || tag === "SELECT") return;
  const sandbox = isSandbox(app);
  const k = ev.key;
  if (k === "t") setTrait(app, "tab", sandbox ? "occlusion" : "sandbox");
  else if (!(sandbox ? sandboxKey(app, k) : occlusionKey(app, k, tag))) return;
  ev.preventDefault();
  ev.stopPropagation();
}

/** Trait changes: new data or size rebuilds; the rest redraws what shows it. */
function listenModel(app) {
  const { onModel, model } = app;
  const rebuild = () => refreshAll(app);
  const sync = () => syncControls(app);
  onModel("change:_data", rebuild);
  onModel("change:size", rebuild);
  onModel("change:_colormaps", () => {
    app.diverging = makeLut((model.get("_colormaps") || {}).diverging);
    drawRelevance(app);
  });
  onModel("change:occluded", () => {
    drawFeatures(app);
    drawView(app);
  });
  onModel("change:opacity", () => {
    syncControls(app);
    drawFeatures(app);
  });
  onModel("change:_view", () => drawView(app));
  onModel("change:_analysis", () => drawFindings(app));
  onModel("change:_sandbox", () => drawSandbox(app));
  onModel("change:_synthesis", () => drawSynthesis(app));
  onModel("change:sandbox_mask", () => {
    if (app.painting) return;
    loadMask(app);
    drawPaint(app);
  });
  for (const name of ["threshold", "distance", "min_size", "mode", "patch", "sandbox_kind", "brush", "tab", "progress"]) {
    onModel(`change:${name}`, sync);
  }
  onModel("change:brush", () => drawPaint(app));
}

/** Every listener of the widget. */
export function listenAll(app) {
  listenFeatures(app);
  listenControls(app);
  listenSandbox(app);
  listenSynthesis(app);
  app.listen(app.root, "keydown", (ev) => onKey(app, ev));
  listenModel(app);
}
