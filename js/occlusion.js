// Feature occlusion (Norton, "Deep Introspection", 2018, ch. 3 and 5.2) as an
// anywidget front end. The image, relevance map and feature label map arrive once (`_data`);
// colouring the features, the hover highlight, the brush and the sandbox mask are drawn here
// without the kernel. The kernel is asked for: the occluded image + top-5 of a new set of
// occluded features (`occluded`: numbers only), new features (`threshold`, `distance`,
// `min_size`), the occluder (`mode`, `patch`), the analysis (message "analyse", progress,
// "cancel"), a feature's synthesis (message "synthesise": pre-images of the feature alone, Norton
// 2018 ch. 4) and the sandbox's prediction (`sandbox_mask`, sent once on pointer release).
//
// Synced traits (xai_widgets/widgets/occlusion.py): _data, _view, _analysis, _sandbox, _synthesis,
// _colormaps, occluded, threshold, distance, min_size, mode, patch, opacity, sandbox_mask,
// sandbox_kind, brush, tab, size, progress, message; in a to_html page only, _offline_views and
// _no_kernel (lib/kernel.js).
import { makeLut } from "./lib/colormap.js";
import { widgetShell } from "./lib/dom.js";
import { onWidth, detailsLine } from "./lib/fit.js";
import { frameQueue } from "./lib/hover.js";
import { buildChrome } from "./occlusion/chrome.js";
import { GAP, plan, refreshAll } from "./occlusion/layout.js";
import { listenAll } from "./occlusion/events.js";

function render({ model, el }) {
  const shell = widgetShell(
    model, el, "xw-occlusion", { label: "feature occlusion: number keys toggle features, arrows move the highlight", vars: { gap: GAP } });
  // The one context the modules share: the model, the DOM (ui, the panels), the decoded data (D) and the view state.
  const app = {
    model, el, ...shell,
    hoverQueue: frameQueue(),
    paintQueue: frameQueue(),
    details: detailsLine("details"),
    D: null,
    diverging: null,
    featPanel: null,
    labelCanvas: null,
    relPanel: null,
    occPanel: null,
    paintPanel: null,
    pertPanel: null,
    hover: -1,
    rows: [], // the feature list's buttons
    mask: null, // Uint8Array H*W, the sandbox's painted pixels
    painting: null, // {erase, last: [x, y]} while the pointer is down
    cursor: null, // [x, y] in image pixels under the pointer on the paint panel
    hiddenLabels: 0, // feature numbers left out: no room beside the others
  };
  const { life, root } = app;
  life.add(() => {
    app.hoverQueue.dispose();
    app.paintQueue.dispose();
  });
  buildChrome(app);
  el.appendChild(root);
  app.width = Math.floor(root.clientWidth) || 900; // the root's width, followed by onWidth

  listenAll(app);
  app.diverging = makeLut((model.get("_colormaps") || {}).diverging);
  refreshAll(app);
  life.add(onWidth(root, (w) => {
    const before = app.D ? plan(app).css : 0;
    app.width = w;
    if (app.D && plan(app).css !== before) refreshAll(app); // only when the panels change size
  }));

  return () => {
    life.dispose();
    root.remove();
    app.D = null;
  };
}

export default { render };
