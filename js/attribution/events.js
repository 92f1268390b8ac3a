// Wiring: pointer, slider, focus and key events on the grid, and the traits that redraw what.
import { listenMoves } from "../lib/hover.js";
import { loadLut, setPosition } from "./state.js";
import { syncControls } from "./header.js";
import { drawLegends } from "./layout.js";
import { drawCell, drawImage, redrawMaps, refreshAll } from "./draw.js";
import { drawClasses, pickClass } from "./classes.js";
import { showProbe, describeCell, onPointer } from "./probe.js";
import { moveSlider, setActive } from "./sliders.js";
import { onKey } from "./keys.js";

const isSlider = (ev) => ev.target && ev.target.classList && ev.target.classList.contains("xw-slider");
const sliderAt = (t) => ({ i: Number(t.dataset.image), j: Number(t.dataset.col) });

/** Hover, class clicks, sliders (scrubbing, and the active slider on hover or focus) and keys. */
export function listenGrid(app) {
  const { listen, grid } = app;
  listenMoves(listen, grid, (ev) => onPointer(app, ev));
  listen(grid, "pointerleave", () => {
    app.frames.drop();
    app.probe = null;
    if (app.M) showProbe(app, null);
  });
  listen(grid, "click", (ev) => {
    const b = ev.target.closest && ev.target.closest("button.xw-class");
    if (!b) return;
    pickClass(app, Number(b.dataset.image), Number(b.dataset.class), ev.shiftKey || app.contrastMode);
  });
  listen(grid, "input", (ev) => {
    const t = ev.target;
    if (!t.classList.contains("xw-slider") || !app.M) return;
    moveSlider(app, Number(t.dataset.image), Number(t.dataset.col), Number(t.value), false);
  });
  listen(grid, "change", (ev) => {
    const t = ev.target;
    if (!t.classList.contains("xw-slider") || !app.M) return;
    setPosition(app, Number(t.dataset.image), Number(t.dataset.col), Number(t.value), true);
  });
  listen(grid, "focusin", (ev) => {
    if (isSlider(ev)) setActive(app, sliderAt(ev.target));
    else if (ev.target.classList && ev.target.classList.contains("xw-panel")) describeCell(app, Number(ev.target.dataset.image), Number(ev.target.dataset.col));
  });
  listen(grid, "focusout", (ev) => {
    if (isSlider(ev)) setActive(app, null);
  });
  listen(grid, "pointerover", (ev) => {
    if (isSlider(ev)) setActive(app, sliderAt(ev.target));
  });
  listen(grid, "pointerout", (ev) => {
    if (isSlider(ev) && document.activeElement !== ev.target && !(ev.buttons & 1)) setActive(app, null);
  });
  listen(app.root, "keydown", (ev) => onKey(app, ev));
}

/** Trait changes: new data rebuilds the grid; the rest redraws in place. */
export function listenModel(app) {
  const { onModel } = app;
  const rebuild = () => refreshAll(app);
  const maps = () => redrawMaps(app);
  onModel("change:_maps", rebuild);
  onModel("change:_images", rebuild);
  onModel("change:_probs", rebuild);
  onModel("change:size", rebuild);
  onModel("change:_colormaps", () => {
    loadLut(app);
    refreshAll(app);
  });
  onModel("change:view", maps);
  onModel("change:scaling", () => {
    drawLegends(app);
    redrawMaps(app);
  });
  onModel("change:opacity", () => app.frames.queue(maps));
  onModel("change:positions", () => {
    const { M } = app;
    if (!M) return;
    for (let i = 0; i < M.N; i++) M.methods.forEach((m, j) => m.slider && drawCell(app, i, j));
    if (app.active) drawImage(app, app.active.i);
  });
  const classesChanged = () => {
    if (app.M) for (let i = 0; i < app.M.N; i++) drawClasses(app, i);
  };
  onModel("change:targets", classesChanged);
  onModel("change:contrasts", classesChanged);
  onModel("change:progress", () => {
    syncControls(app);
    classesChanged();
  });
}
