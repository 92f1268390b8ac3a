// Pointer and keys: picking concepts (list, neighbours, arithmetic results), hovering and
// clicking the weight bars, the sliders, the arithmetic box. None of it waits for the kernel
// except the arithmetic box (the `expression` trait).
import { fmtSigned } from "../lib/diverging.js";
import { kernelOnly } from "../lib/kernel.js";
import { conceptOf, channelOf, weightsOf, setTrait } from "./data.js";
import { drawBars } from "./draw.js";

/** The bar under a pointer event: its position in the sorted order, or -1. */
function barAt(view, ev) {
  const rect = view.bars.getBoundingClientRect();
  const j = Math.floor(((ev.clientX - rect.left) / rect.width) * view.D.C);
  return j >= 0 && j < view.D.C ? j : -1;
}

function hoverBar(view, j) {
  if (j === view.hoverBar) return;
  view.hoverBar = j;
  const { D } = view;
  const q = conceptOf(view);
  if (j < 0) view.status.setReadout("");
  else {
    const c = D.order[q][j];
    view.status.setReadout(`channel ${c}: weight ${fmtSigned(weightsOf(D, q)[c])} (rank ${j + 1} of ${D.C})`);
  }
  drawBars(view);
}

/** Show channel c's activations (or none when it is already shown). */
function pickChannel(view, c) {
  setTrait(view, "channel", c === channelOf(view) ? -1 : c);
}

function onKey(view, ev) {
  if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.target === view.expression || !view.D) return;
  const { D } = view;
  const q = conceptOf(view);
  const order = D.order[q];
  const at = order.indexOf(channelOf(view));
  if (ev.key === "ArrowUp" || ev.key === "ArrowDown") setTrait(view, "concept", (q + (ev.key === "ArrowUp" ? D.Q - 1 : 1)) % D.Q);
  else if (ev.key === "ArrowRight") setTrait(view, "channel", order[Math.min(D.C - 1, at + 1)]);
  else if (ev.key === "ArrowLeft") setTrait(view, "channel", order[Math.max(0, at < 0 ? 0 : at - 1)]);
  else if (ev.key === "Escape" && at >= 0) setTrait(view, "channel", -1);
  else return;
  ev.preventDefault();
  ev.stopPropagation();
}

function solve(view) {
  if (kernelOnly(view.model, "Concept arithmetic")) return;
  setTrait(view, "expression", view.expression.value.slice(0, 200));
}

/** Every listener of the view. */
export function listenAll(view, redraw) {
  const { listen, root, model } = view;
  listen(root, "click", (ev) => {
    const b = ev.target.closest && ev.target.closest("button[data-concept]");
    if (b && Number(b.dataset.concept) >= 0) setTrait(view, "concept", Number(b.dataset.concept));
  });
  listen(view.bars, "pointermove", (ev) => view.D && view.queue.queue(() => hoverBar(view, barAt(view, ev))));
  listen(view.bars, "pointerleave", () => view.D && hoverBar(view, -1));
  listen(view.bars, "click", (ev) => {
    const j = view.D ? barAt(view, ev) : -1;
    if (j >= 0) pickChannel(view, view.D.order[conceptOf(view)][j]);
  });
  listen(root, "keydown", (ev) => onKey(view, ev));
  listen(view.expression, "keydown", (ev) => {
    if (ev.key === "Enter") solve(view);
  });
  listen(view.solve, "click", () => solve(view));
  for (const name of ["threshold", "opacity"]) {
    const input = view[name].input;
    listen(input, "input", () => {
      model.set(name, Number(input.value));
      redraw();
    });
    listen(input, "change", () => setTrait(view, name, Number(input.value)));
  }
}
