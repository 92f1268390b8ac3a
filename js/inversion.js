// What each layer keeps (Mahendran and Vedaldi 2015, 2016): per layer, pre-images of one image
// whose representation matches the image's, their losses and their spread, as an anywidget
// front end. Every snapshot of every descent arrives once (`_inv`); the replay slider, the loss
// chart's cursor and the spread toggle run in the browser only. The kernel runs the inversions,
// layer by layer, with progress and Cancel (lib/controls.js progressControl).
//
// For tests: canvas.xw-panel[data-role="preimage"] (data-layer, data-index, data-step) holds one
// canvas pixel per image pixel; [data-role="spread"] the spread's colours; [data-role="image"]
// the image. The chart canvas (.xw-chart-loss canvas) has data-highlight (the iteration).
//
// Synced traits (xai_widgets/widgets/inversion.py): _inv, step, spread, size, progress, message.
import { widgetShell } from "./lib/dom.js";
import { onWidth } from "./lib/fit.js";
import { GAP, LABEL } from "./inversion/style.js";
import { decodeInversion } from "./inversion/data.js";
import { createView, buildRows, fit } from "./inversion/layout.js";
import { drawAll, drawStep } from "./inversion/draw.js";
import { wireControls } from "./inversion/events.js";

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-inversion", {
    label: "inversion explorer: left/right arrows replay the descent",
    vars: { gap: GAP, label: LABEL },
  });
  const view = createView(model, el, shell);
  const refresh = () => {
    view.M = view.status.attempt("decoding the inversions", () => decodeInversion(model.get("_inv")));
    buildRows(view);
    fit(view);
    drawAll(view);
  };
  wireControls(view);
  view.onModel("change:_inv", refresh);
  view.onModel("change:size", refresh);
  view.onModel("change:step", () => drawStep(view));
  view.onModel("change:spread", () => drawStep(view));
  view.onModel("change:progress", () => view.ui.progress.sync());
  view.life.add(onWidth(view.root, (w) => {
    view.avail = Math.max(1, w - 16); // the root's padding
    fit(view);
    drawAll(view);
  }));
  view.ui.progress.sync();
  refresh();
  return () => {
    shell.life.dispose();
    view.root.remove();
    view.M = null;
  };
}

export default { render };
