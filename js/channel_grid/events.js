// Pointer and keyboard: hovering and clicking tiles, the layer list and the image strip, and the
// DeepVis keys.
import { listenMoves } from "../lib/hover.js";
import { clampInt } from "../lib/panels.js";
import { tileAt } from "../lib/tiles.js";
import {
  GAMMAS, BOOSTS, BACK_CYCLE, ZOOMS, NORMS,
  num, setTrait, setLayer, setBack, ask, currentImage, currentUnit, patchesShown,
} from "./state.js";
import { drawMarks } from "./marks.js";
import { updateReadout } from "./update.js";
import { relevanceShown, shownGeometry, slotOf, unitAt } from "./relevance.js";

/** The tile cell under the pointer: {channel, row, col}, or null. */
function pointerTile(view, ev) {
  const rel = relevanceShown(view) && view.R && ev.target === view.R.canvas;
  const G = rel ? view.RG : view.G;
  if (!G || !(rel || ev.target === view.T.canvas || ev.target === view.patternCanvas)) return null;
  const rect = ev.target.getBoundingClientRect();
  const x = ((ev.clientX - rect.left) * G.gw) / rect.width;
  const y = ((ev.clientY - rect.top) * G.gh) / rect.height;
  const hit = tileAt(G, Math.floor(x), Math.floor(y));
  return hit && rel ? { ...hit, channel: unitAt(view, hit.channel), relevance: true } : hit;
}

/** Hover (throttled to frames by `frames`) and clicks on the grid, the layer list and the strip. */
export function wirePointer(view, listen, frames) {
  const { ui } = view;
  listenMoves(listen, ui.gridWrap, (ev) =>
    frames.queue(() => {
      const h = pointerTile(view, ev);
      const { hover } = view;
      const same = (h && hover && h.channel === hover.channel && h.row === hover.row && h.col === hover.col) || (!h && !hover);
      if (same) return;
      view.hover = h;
      drawMarks(view);
      updateReadout(view);
    }),
  );
  listen(ui.gridWrap, "pointerleave", () =>
    frames.queue(() => {
      view.hover = null;
      if (view.G) drawMarks(view);
      updateReadout(view);
    }),
  );
  listen(ui.gridWrap, "click", (ev) => {
    const h = pointerTile(view, ev);
    if (h) setTrait(view, "selected", h.channel);
    view.root.focus({ preventScroll: true });
  });
  listen(ui.layerList, "click", (ev) => {
    const b = ev.target.closest(".xw-layer");
    if (b) setLayer(view, b.dataset.layer);
  });
  listen(ui.strip, "click", (ev) => {
    const b = ev.target.closest(".xw-thumb");
    if (b) setTrait(view, "image", Number(b.dataset.image));
  });
}

const cycle = (list, value, step = 1) => list[(Math.max(0, list.indexOf(value)) + step + list.length) % list.length];

/** Arrow keys (shift: 3 cells, as DeepVis's capital I/J/K/L) move the selected unit in the grid. */
function moveUnit(view, key, step) {
  const { A } = view;
  const G = shownGeometry(view);
  const c = slotOf(view, currentUnit(view)); // relevance mode moves through the tiles in their sorted order
  const to = {
    ArrowLeft: () => clampInt(c - step, 0, A.C - 1),
    ArrowRight: () => clampInt(c + step, 0, A.C - 1),
    ArrowUp: () => (c - step * G.cols >= 0 ? c - step * G.cols : c % G.cols),
    ArrowDown: () => (c + step * G.cols < A.C ? c + step * G.cols : c),
  }[key];
  if (!to) return false;
  setTrait(view, "selected", unitAt(view, to()));
  return true;
}

/** The other keys; false when `key` is not one of them. */
function settingKey(view, key) {
  const { model, A } = view;
  const infos = model.get("_layer_list") || [];
  const li = infos.findIndex((L) => L.name === model.get("layer"));
  if (key === "u" || key === "o") {
    const to = clampInt(li + (key === "o" ? 1 : -1), 0, infos.length - 1);
    if (to !== li) setLayer(view, infos[to].name);
  } else if (key === "[" || key === "]" || key === "w" || key === "e") {
    setTrait(view, "image", clampInt(currentImage(view) + (key === "]" || key === "e" ? 1 : -1), 0, A.N - 1));
  } else if (key === "z") setTrait(view, "zoom", cycle(ZOOMS, model.get("zoom")));
  else if (key === "b") {
    const cur = BACK_CYCLE.findIndex(([m, f]) => m === model.get("back_mode") && (m === "off" || f === model.get("back_filter")));
    setBack(view, ...BACK_CYCLE[(cur + 1) % BACK_CYCLE.length]);
  } else if (key === "t") setTrait(view, "gamma", cycle(GAMMAS, num(view, "gamma", 1)));
  else if (key === "T") setTrait(view, "boost", cycle(BOOSTS, num(view, "boost", 0)));
  else if (key === "n") setTrait(view, "normalisation", cycle(NORMS, model.get("normalisation")));
  else if (key === "s") {
    if (patchesShown(view)) setTrait(view, "pattern", !model.get("pattern"));
  } else if (key === "v") ask(view, { type: "visualise", channels: "selected" }, "Activation maximisation");
  else if (key === "Escape") {
    for (const [k, v] of [["boost", 0], ["gamma", 1], ["back_mode", "off"], ["zoom", "unit"], ["pattern", false], ["normalisation", "layer"]]) model.set(k, v);
    model.save_changes();
  } else return false;
  return true;
}

export function wireKeys(view, listen) {
  listen(view.root, "keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !view.A) return;
    if (ev.target !== view.root && ev.target.tagName !== "CANVAS") return; // typing in an input
    const handled = moveUnit(view, ev.key, ev.shiftKey ? 3 : 1) || settingKey(view, ev.key);
    if (handled) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  });
}
