// Similarity overlays (Fong, Mordvintsev, Vedaldi, Olah; VISxAI 2021) as an
// anywidget front-end module. Hover any cell of any image: every cell of every
// image is shaded by the cosine similarity of its activation vector to the
// hovered cell's vector, one grid row per layer, one column per image.
//
// A token layer (ViT) may carry prefix tokens (class, distillation, register tokens): a
// strip of chips under each of its panels, one per token. Hovering a chip shades its row by
// that token's similarity; while a patch is the query the chips show their own similarity.
//
// With `_factors` set, one row also shows its NMF groups (lib/factors.js): every
// panel of that row is tinted by factor under the similarity overlay, with a
// legend of chips that focus one group (`factor_focus`).
//
// Layout: the panels take their size from the width the widget is given (`size` is the
// largest); when the images do not fit in one row at a readable size they wrap into groups,
// each with its images' titles and then every layer row for those images (layer labels
// repeated per group). The layout chosen is on the root (data-layout) and in the details line.
//
// Synced traits (see xai_widgets/widgets): _data, query, colormap, _colormaps,
// vrange, auto_range, opacity, size, message, _factors, factor_focus. Hover never
// talks to the kernel; only clicks / keys / controls call model.set + model.save_changes.
import { widgetShell } from "./lib/dom.js";
import { OUTLINE, WORST } from "./lib/panels.js";
import { onWidth } from "./lib/fit.js";
import { createView, disposeView } from "./similarity/view.js";
import { GAP, GRID_PAD, onResize } from "./similarity/layout.js";
import { listenPointer, listenKeys } from "./similarity/events.js";
import { listenControls, syncControls, updateLut } from "./similarity/header.js";
import { listenFactorChips } from "./similarity/factors.js";
import { listenModel, rebuild } from "./similarity/sync.js";

// Modules (js/similarity/): data.js decodes `_data`, query.js computes the similarities,
// layout.js builds the grid, draw.js paints it, events.js handles input, sync.js follows the
// traits; they share the view object of view.js.
function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-similarity", {
    vars: { gap: GAP, "grid-pad": GRID_PAD, worst: WORST, outline: OUTLINE },
  });
  const view = createView(model, el, shell);
  listenPointer(view);
  listenKeys(view);
  listenControls(view);
  listenFactorChips(view);
  listenModel(view, shell.onModel);

  updateLut(view);
  syncControls(view);
  rebuild(view, model.get("_factors"));
  shell.life.add(onWidth(view.root, () => onResize(view)));
  return () => disposeView(view, shell.life);
}

export default { render };
