// Channel grid (the Deep Visualization Toolbox of Yosinski et al. 2015) as an anywidget
// front end. All channels of one layer are tiles on one canvas; the browser normalises
// and colours them (lib/normalise.js), so images, normalisation, boost, gamma, zoom and
// pattern mode change without the kernel. The kernel is asked (through traits and
// messages) for a new layer, the back view, a dataset scan and activation maximisation.
//
// Synced traits (xai_widgets/widgets/channel_grid.py): _layer_list, _images, _acts,
// _probs, _back, _patches, _units, _visuals, _colormaps, _can_scan, progress, message,
// layer, image, selected, normalisation, vrange, boost, gamma, colormap, back_mode,
// back_filter, zoom, pattern, opacity, unit_objective, size, and relevance mode's mode,
// relevance_class, _relevance, _class_names (channel_grid/relevance.js); in a to_html page only,
// _no_kernel (lib/kernel.js).
//
// Layout: the width the output gives (lib/fit.js onWidth) decides the grid's width, so that the
// unit pane sits beside the grid; the layer list becomes a select above it when a column for it
// would squeeze the grid, and only a very narrow output puts the pane under the grid.
//
// For tests: the relevance tile canvas (canvas.xw-relevance: one pixel per heatmap pixel, slot i is
// unit order[i]) with data-cols / data-tile-h / data-tile-w, the root's data-layout ("list-grid-pane" | "select-grid-pane" | "stacked"), the tile
// canvas's data-cols / data-tile-h / data-tile-w, the layer buttons' data-layer and the image
// thumbnails' data-image. The modules in channel_grid/ share one view object (state.js).
import { widgetShell, hintLine } from "./lib/dom.js";
import { onWidth, detailsLine } from "./lib/fit.js";
import { frameQueue } from "./lib/hover.js";
import { GAP, createView } from "./channel_grid/state.js";
import { loadLuts } from "./channel_grid/data.js";
import { buildHeader, buildActions, wireControls } from "./channel_grid/controls.js";
import { buildBody } from "./channel_grid/layout.js";
import { wirePointer, wireKeys } from "./channel_grid/events.js";
import { loadAll, relayout, wireModel } from "./channel_grid/update.js";

const HINT = [
  ["", "Click a tile or use "], ["kbd", "←↑→↓"], ["", " to select a unit; "], ["kbd", "u"], ["", "/"], ["kbd", "o"],
  ["", " layer, "], ["kbd", "["], ["", "/"], ["kbd", "]"], ["", " image, "], ["kbd", "z"], ["", " zoom, "], ["kbd", "b"],
  ["", " back view, "], ["kbd", "t"], ["", "/"], ["kbd", "T"], ["", " gamma/boost, "], ["kbd", "n"], ["", " normalisation, "],
  ["kbd", "s"], ["", " patterns, "], ["kbd", "Esc"], ["", " reset."],
];

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-channel-grid", {
    label: "channel grid: arrows move the unit, u/o change layer, z zoom, b back view, t/T gamma/boost",
    vars: { gap: GAP },
  });
  const { life, listen, onModel, root, status } = shell;
  root.setAttribute("role", "application");
  const details = detailsLine("details");
  const view = createView(shell, details);
  const header = buildHeader(view);
  const actions = buildActions(view, listen);
  const body = buildBody(view);
  root.append(header, actions, body, status.readout, hintLine(HINT), details.el, status.errorBox, status.messageBox);
  el.appendChild(root);

  const frames = frameQueue();
  wirePointer(view, listen, frames);
  wireControls(view, listen);
  wireKeys(view, listen);
  wireModel(view, onModel);

  loadLuts(view);
  loadAll(view);
  life.add(onWidth(el, (width) => relayout(view, width)));

  return () => {
    life.dispose();
    frames.dispose();
    root.remove();
    view.A = null;
    view.T = null;
  };
}

export default { render };
