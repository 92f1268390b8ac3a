// What the classifier sees (Palacio et al., CVPR 2018): an image x, the blend (1 - b) x + b A(x)
// with its classifier-tuned reconstruction A(x), A(x) itself, and the per-pixel standard
// deviation of the reconstructions across the images, as an anywidget front end. Everything
// arrives once (`_dec`): the blend is computed here from the uint8 pixels (the integer formula
// of xai_widgets/widgets/decoder_payload.py blend_pixels), and the classifier's top class at each
// blend step was computed in Python on exactly those pixels, so the sliders need no kernel.
//
// For tests: canvas.xw-panel[data-role="image"|"blend"|"recon"|"std"] hold one canvas pixel per
// image pixel (data-index: the image, data-step: the blend step drawn); .xw-prediction is the
// readout of the top class at the blend shown; .xw-nmi the nMI caption.
//
// Synced traits (xai_widgets/widgets/decoder.py): _dec, index, step, size.
import { widgetShell } from "./lib/dom.js";
import { onWidth } from "./lib/fit.js";
import { GAP } from "./decoder/style.js";
import { decodeDecoder } from "./decoder/data.js";
import { createView, fit } from "./decoder/layout.js";
import { drawAll, drawBlend } from "./decoder/draw.js";
import { wireControls } from "./decoder/events.js";

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-decoder", {
    label: "decoder explorer: left/right arrows move the blend, up/down change the image",
    vars: { gap: GAP },
  });
  const view = createView(model, el, shell);
  const refresh = () => {
    view.M = view.status.attempt("decoding the reconstructions", () => decodeDecoder(model.get("_dec")));
    fit(view);
    drawAll(view);
  };
  wireControls(view);
  view.onModel("change:_dec", refresh);
  view.onModel("change:size", () => fit(view));
  view.onModel("change:index", () => drawAll(view));
  view.onModel("change:step", () => drawBlend(view));
  view.life.add(onWidth(view.root, (w) => {
    view.avail = Math.max(1, w - 16); // the root's padding
    fit(view);
  }));
  refresh();
  return () => {
    shell.life.dispose();
    view.root.remove();
    view.M = null;
  };
}

export default { render };
