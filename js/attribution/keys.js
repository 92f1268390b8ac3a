// Keyboard: arrows move between classes, maps and sliders (a slider's own keys are handled here,
// not left to the browser: a host page such as JupyterLab may claim them); v, [ ], c anywhere.
import { clampInt } from "../lib/panels.js";
import { num, positionOf, viewMode, setTrait } from "./state.js";
import { syncControls } from "./header.js";
import { describeCell } from "./probe.js";
import { pickClass } from "./classes.js";
import { moveSlider } from "./sliders.js";

const cellCanvas = (app, i, j) => (app.rows[i] && app.rows[i].cells[j] ? app.rows[i].cells[j].P.canvas : null);
const sliderOf = (app, i, j) => (app.rows[i] && app.rows[i].cells[j] ? app.rows[i].cells[j].input || null : null);
const classButtons = (app, i) => (app.rows[i] ? [...app.rows[i].topBox.querySelectorAll("button")] : []);
function focus(node) {
  if (!node) return false;
  node.focus();
  return true;
}

function sliderKey(app, ev, i, j) {
  const S = app.M.methods[j].slider.S;
  const p = positionOf(app, j, i);
  const next = { ArrowLeft: p - 1, ArrowRight: p + 1, Home: 0, End: S - 1, PageDown: p - 4, PageUp: p + 4 }[ev.key];
  if (ev.key === "ArrowUp") return focus(cellCanvas(app, i, j));
  if (ev.key === "ArrowDown") return focus(cellCanvas(app, i + 1, j)) || true;
  if (next === undefined) return false;
  moveSlider(app, i, j, clampInt(next, 0, S - 1), true);
  return true;
}

function panelKey(app, ev, i, j) {
  let done = false;
  const buttons = () => classButtons(app, i);
  if (ev.key === "ArrowLeft") done = j > 0 ? focus(cellCanvas(app, i, j - 1)) : focus(buttons().find((b) => b.classList.contains("xw-a")) || buttons()[0]);
  else if (ev.key === "ArrowRight") done = focus(cellCanvas(app, i, j + 1)) || true;
  else if (ev.key === "ArrowDown") done = focus(sliderOf(app, i, j)) || focus(cellCanvas(app, i + 1, j)) || true;
  else if (ev.key === "ArrowUp") done = focus(sliderOf(app, i - 1, j)) || focus(cellCanvas(app, i - 1, j)) || true;
  if (done && document.activeElement && document.activeElement.classList.contains("xw-panel")) {
    const a = document.activeElement.dataset;
    describeCell(app, Number(a.image), Number(a.col));
  }
  return done;
}

function classKey(app, ev, i) {
  const t = ev.target;
  const list = classButtons(app, i);
  const n = list.indexOf(t);
  if (ev.key === "ArrowDown") return focus(list[n + 1]) || focus(classButtons(app, i + 1)[0]) || true;
  if (ev.key === "ArrowUp") return focus(list[n - 1]) || focus(classButtons(app, i - 1).slice(-1)[0]) || true;
  if (ev.key === "ArrowRight") return focus(cellCanvas(app, i, 0)) || true;
  if (ev.key === "Enter" && ev.shiftKey) {
    pickClass(app, i, Number(t.dataset.class), true);
    return true;
  }
  return false;
}

/** Keys outside text inputs and selects: view, opacity, contrast picking, and arrows from the root. */
function widgetKey(app, ev) {
  const t = ev.target;
  if (t.tagName === "INPUT" || t.tagName === "SELECT") return false;
  if (ev.key === "v") {
    setTrait(app, "view", viewMode(app) === "overlay" ? "side" : "overlay");
    return true;
  }
  if (ev.key === "[" || ev.key === "]") {
    const op = Math.round(20 * Math.min(1, Math.max(0, num(app, "opacity", 0.8) + (ev.key === "]" ? 0.1 : -0.1)))) / 20;
    setTrait(app, "opacity", op);
    return true;
  }
  if (ev.key === "c") {
    app.contrastMode = !app.contrastMode;
    syncControls(app);
    return true;
  }
  return t === app.root && ev.key.startsWith("Arrow") ? focus(cellCanvas(app, 0, 0)) : false;
}

export function onKey(app, ev) {
  if (ev.altKey || ev.ctrlKey || ev.metaKey || !app.M) return;
  const t = ev.target;
  const ds = (t && t.dataset) || {};
  const i = Number(ds.image);
  const j = Number(ds.col);
  const is = (cls) => t.classList && t.classList.contains(cls);
  let done = false;
  if (is("xw-slider")) done = sliderKey(app, ev, i, j);
  else if (is("xw-panel")) done = panelKey(app, ev, i, j);
  else if (is("xw-class")) done = classKey(app, ev, i);
  if (!done) done = widgetKey(app, ev);
  if (done) {
    ev.preventDefault();
    ev.stopPropagation();
  }
}
