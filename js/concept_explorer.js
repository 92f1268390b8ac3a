// Net2Vec concept embeddings (Fong and Vedaldi, CVPR 2018; Fong's DPhil thesis, ch. 5) as an
// anywidget front end. `_data` arrives once: per concept its set IoU against the best single
// filter, its weights over the layer's channels (and their sorted order), its neighbours, and
// its held-out examples at each decile of per-image IoU with the combination's logits, the
// single filter's mask, the concept's mask and every channel's activations on them. Picking a
// concept, hovering and clicking bars, the mask threshold and the opacity are drawn here; the
// kernel answers only the arithmetic box (`expression` -> `_arithmetic`).
//
// For tests: picker and neighbour buttons carry data-concept; strip canvases data-row
// ("combination", "single", "channel") and data-slot (the decile, 0-based) and data-index
// (the probe image); the bar canvas data-concept; the root data-concept and data-channel.
//
// Synced traits (xai_widgets/widgets/concept_explorer.py): _data, _colormaps, _arithmetic,
// concept, channel, threshold, opacity, expression, size, message; in a to_html page only,
// _no_kernel (lib/kernel.js).
import { makeLut } from "./lib/colormap.js";
import { widgetShell } from "./lib/dom.js";
import { onWidth } from "./lib/fit.js";
import { frameQueue } from "./lib/hover.js";
import { loadData } from "./concept_explorer/data.js";
import { GAP, PICKER_W, buildChrome, buildPicker, buildStrips, sizeBars } from "./concept_explorer/layout.js";
import { drawStrips } from "./concept_explorer/draw.js";
import { showConcept, showArithmetic, showControls } from "./concept_explorer/sync.js";
import { listenAll } from "./concept_explorer/events.js";

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-concept-explorer", {
    label: "concept explorer: up/down change concept, left/right step through the channels",
    vars: { gap: GAP, picker: PICKER_W },
  });
  const view = { ...shell, D: null, queue: frameQueue(), hoverBar: -1, cells: [], conceptButtons: [], avail: 0 };
  buildChrome(view);
  el.appendChild(view.root);
  view.muted = getComputedStyle(view.root).getPropertyValue("--jp-ui-font-color2").trim() || "#757575";
  const redraw = () => {
    showControls(view);
    drawStrips(view);
  };
  listenAll(view, redraw);
  const rebuild = () => {
    view.D = view.status.attempt("Reading the data", () => loadData(model.get("_data")));
    const maps = model.get("_colormaps") || {};
    view.diverging = makeLut(maps.diverging);
    view.viridis = makeLut(maps.viridis);
    if (!view.D) return;
    buildPicker(view);
    sizeBars(view);
    buildStrips(view);
    showControls(view);
    showConcept(view);
    showArithmetic(view);
    view.markPainted();
  };
  const { onModel, life } = view;
  onModel("change:_data", rebuild);
  onModel("change:_colormaps", rebuild);
  onModel("change:size", rebuild);
  onModel("change:concept", () => showConcept(view));
  onModel("change:channel", () => showConcept(view));
  onModel("change:threshold", redraw);
  onModel("change:opacity", redraw);
  onModel("change:_arithmetic", () => showArithmetic(view));
  rebuild();
  life.add(onWidth(view.root, (w) => {
    view.avail = Math.max(1, w - 16); // the root's padding
    rebuild();
  }));
  return () => {
    view.queue.dispose();
    life.dispose();
    view.root.remove();
    view.D = null;
  };
}

export default { render };
