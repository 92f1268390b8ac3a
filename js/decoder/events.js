// Sliders and keys: drawn at once in the browser (no kernel round trip), then the traits saved
// so that Python's `index` and `step` (and its PNG) follow.
import { shown } from "./data.js";
import { drawAll, drawBlend } from "./draw.js";

function set(view, name, value, n) {
  if (!view.M) return;
  view.model.set(name, Math.min(Math.max(value, 0), n - 1));
  (name === "step" ? drawBlend : drawAll)(view);
  view.model.save_changes();
}

export function wireControls(view) {
  const { ui, listen } = view;
  listen(ui.blend.input, "input", () => set(view, "step", Number(ui.blend.input.value), view.M ? view.M.steps : 1));
  listen(ui.image.input, "input", () => set(view, "index", Number(ui.image.input.value), view.M ? view.M.N : 1));
  listen(view.root, "keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.target.tagName === "INPUT" || !view.M) return;
    const { i, k } = shown(view);
    const moves = { ArrowLeft: ["step", k - 1, view.M.steps], ArrowRight: ["step", k + 1, view.M.steps],
      ArrowUp: ["index", i - 1, view.M.N], ArrowDown: ["index", i + 1, view.M.N] };
    if (!(ev.key in moves)) return;
    ev.preventDefault();
    set(view, ...moves[ev.key]);
  });
}
