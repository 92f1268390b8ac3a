// Class bias in a dataset (Palacio 2023, chapters 4 and 7), as an anywidget front end: the label
// histogram coloured by partition, each partition's share and the model's accuracy on it, and
// (with predictions) the class distance as a heat map ordered by the balanced grouping. Every
// grouping (G = 2 .. K / 2) arrives once in `_bias`: the group slider runs in the browser only
// (it sets `groups`, which the kernel merely records).
//
// For tests: canvas[data-role="histogram"] has data-bars (JSON [x, y, w, h] per class, CSS px),
// data-counts and data-plot ([x0, y0, x1, y1]); canvas[data-role="distance"] has data-order
// (the classes, top to bottom) and data-groups (each class's group); .xw-group-list lists the
// groups; hovering a bar or a cell reads its numbers out in .xw-readout.
//
// Synced traits (xai_widgets/widgets/class_bias.py): _bias, groups, size, message.
import { widgetShell } from "./lib/dom.js";
import { onWidth } from "./lib/fit.js";
import { GAP, decodeBias } from "./class_bias/data.js";
import { buildView, fitView } from "./class_bias/layout.js";
import { drawAll, drawDistance } from "./class_bias/draw.js";
import { wireEvents } from "./class_bias/events.js";

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-class-bias", {
    label: "class bias: histogram and class distance", vars: { gap: GAP },
  });
  const view = { ...shell, D: null, ui: null, avail: 0 };
  const refresh = () => {
    view.D = view.status.attempt("class bias", () => decodeBias(model.get("_bias")));
    buildView(view);
    fitView(view);
    drawAll(view);
  };
  wireEvents(view);
  view.onModel("change:_bias", refresh);
  view.onModel("change:size", () => {
    fitView(view);
    drawAll(view);
  });
  view.onModel("change:groups", () => drawDistance(view));
  view.life.add(onWidth(view.root, (w) => {
    view.avail = Math.max(1, w - 16); // the root's padding
    fitView(view);
    drawAll(view);
  }));
  el.appendChild(view.root);
  refresh();
  return () => {
    shell.life.dispose();
    view.root.remove();
    view.D = null;
  };
}

export default { render };
