// Transform sweep (Fong, Mordvintsev, Vedaldi, Olah; "Interactive Similarity
// Overlays", VISxAI 2021, section "geometric transformations") as an anywidget
// front-end module. Hover a cell of the original image: every copy (rotated or
// zoomed) is shaded by cosine similarity to the hovered cell's activation vector,
// the cell showing the same content is outlined in each copy, and a line chart
// plots that cell's similarity against the transform value. Hovering a chart
// point or a copy highlights the pair.
//
// Layout: the original and the chart side by side (the chart under the original when the
// width is too small for both), so the hovered cell and its curve are on one screen; the
// copies wrap in balanced rows under them. Panel sizes follow the width (`size` is the
// largest); the layout chosen is on the root (data-layout) and in the details line.
//
// Synced traits (xai_widgets/widgets/sweep.py): _data, _colormaps, query, colormap,
// vrange, opacity, size, message. Hover never talks to the kernel; clicks, keys and
// the controls call model.set + model.save_changes.
import { widgetShell } from "./lib/dom.js";
import { bindControls } from "./lib/controls.js";
import { onWidth } from "./lib/fit.js";
import { createView, watchTheme, disposeView } from "./transform_sweep/view.js";
import { GAP, BESIDE_GAP, PAD, onResize } from "./transform_sweep/layout.js";
import { drawChart, updateLut } from "./transform_sweep/draw.js";
import { listenPointer, listenKeys } from "./transform_sweep/events.js";
import { listenModel, rebuild, syncOpacity } from "./transform_sweep/sync.js";

// Modules (js/transform_sweep/): data.js decodes `_data`, query.js computes the similarities,
// layout.js places the panels and the chart, draw.js paints them, events.js handles input,
// sync.js follows the traits; they share the view object of view.js.
function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-sweep", { vars: { pad: PAD, "beside-gap": BESIDE_GAP, gap: GAP } });
  const { life } = shell;
  const view = createView(model, el, shell);
  listenPointer(view);
  listenKeys(view);
  bindControls(shell.listen, model, view.controls);
  listenModel(view, shell.onModel);
  life.add(onWidth(view.root, () => onResize(view)));
  watchTheme(life, () => drawChart(view));

  syncOpacity(view);
  updateLut(view);
  rebuild(view);
  return () => disposeView(view, life);
}

export default { render };
