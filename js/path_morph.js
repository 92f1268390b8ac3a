// Path-mask attribution with a morphing slider ("Path-mask attribution" via VAE semantic
// morphing, from a thesis) as an anywidget front end. Every frame of the latent path, the mask,
// the step differences, per-step charts and the Semantic Morphing history arrive once
// (`_morph`); scrubbing, playing, overlays and the pixel probe run in the browser only.
// The kernel is asked for one thing: a new target class (`target`), with progress.
//
// Layout follows the width given (root data-layout): the linked charts beside the frame when
// two columns of them fit there ("charts-beside"), else under it ("charts-below"), sized to fill.
//
// Synced traits (xai_widgets/widgets/path_morph.py): _morph, _colormaps, progress, message,
// step, overlay, opacity, pixel, sm_step, target, size; in a to_html page only, _no_kernel
// (lib/kernel.js).
import { widgetShell } from "./lib/dom.js";
import { onWidth } from "./lib/fit.js";
import { GAP, SELF, OTHER } from "./path_morph/style.js";
import { loadLut, currentStep, frameSize } from "./path_morph/state.js";
import { createView, fit } from "./path_morph/layout.js";
import { build, buildBars } from "./path_morph/build.js";
import { buildCharts } from "./path_morph/charts.js";
import { drawFrame } from "./path_morph/frame.js";
import { drawReplay } from "./path_morph/replay.js";
import { wireControls, syncControls, stop } from "./path_morph/events.js";

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-path-morph", {
    label: "path morph: left/right arrows step along the path, space plays",
    vars: { gap: GAP, self: SELF, other: OTHER },
  });
  const view = createView(model, el, shell);
  wireControls(view);
  wireModel(view);
  loadLut(view);
  refreshAll(view);
  return () => {
    stop(view);
    shell.life.dispose();
    view.root.remove();
    view.M = null;
  };
}

/** Everything again, for a new result, colormap or size. */
function refreshAll(view) {
  view.frameCache.clear();
  view.stepDiff = null;
  build(view);
  if (view.M) {
    buildBars(view);
    fit(view);
    buildCharts(view, currentStep(view));
  }
  syncControls(view);
  drawFrame(view);
  drawReplay(view);
}

function wireModel(view) {
  const { onModel } = view;
  const refresh = () => refreshAll(view);
  onModel("change:_morph", refresh);
  onModel("change:_colormaps", () => {
    loadLut(view);
    refreshAll(view);
  });
  onModel("change:size", refresh);
  for (const name of ["step", "overlay", "opacity"]) onModel(`change:${name}`, () => {
    syncControls(view);
    drawFrame(view);
  });
  onModel("change:pixel", () => {
    if (view.M) buildCharts(view, currentStep(view));
    drawFrame(view);
  });
  onModel("change:sm_step", () => drawReplay(view));
  view.life.add(onWidth(view.root, (w) => {
    view.avail = Math.max(1, w - 16); // the root's padding
    if (view.panel && view.panel.W !== frameSize(view)) refresh(); // the frame changes size
    else fit(view);
  }));
  onModel("change:progress", () => syncControls(view));
}

export default { render };
