// Slider, keys and the spread toggle: drawn at once in the browser (no kernel round trip), then
// the traits saved so that Python's `step` and `spread` (and its PNG) follow.
import { stepOf } from "./data.js";
import { drawStep } from "./draw.js";

function setStep(view, k) {
  const { M, model } = view;
  if (!M || !M.steps.length) return;
  const K = M.steps.length;
  model.set("step", Math.min(Math.max(k, 0), K - 1));
  drawStep(view);
  model.save_changes();
}

export function wireControls(view) {
  const { ui, listen, model } = view;
  listen(ui.slider, "input", () => setStep(view, Number(ui.slider.value)));
  listen(ui.spreadBox, "change", () => {
    model.set("spread", ui.spreadBox.checked);
    drawStep(view);
    model.save_changes();
  });
  listen(view.root, "keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || ev.target === ui.slider) return;
    const K = view.M ? view.M.steps.length : 0;
    const moves = { ArrowLeft: stepOf(view) - 1, ArrowRight: stepOf(view) + 1, Home: 0, End: K - 1 };
    if (!(ev.key in moves) || !K) return;
    ev.preventDefault();
    setStep(view, moves[ev.key]);
  });
}
