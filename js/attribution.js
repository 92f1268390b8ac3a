// AttributionExplorer: a grid of images x attribution methods, each map in the
// diverging colour map on one fixed, stated scale per method (or, with `scaling` "row", on each
// image's own scale), over the image or beside it. The maps take their size from the width
// the widget is given; method columns past what fits wrap into further blocks.
// Everything the grid shows arrives once: the images (`_images`), the class probabilities
// (`_probs`), every method's maps and, where a method has a natural slider (extremal
// perturbation's area, Integrated Gradients' alpha, SmoothGrad's noise), the maps at every
// slider position (`_maps`). Hover, scrubbing, view and opacity run in the browser only; the
// kernel hears a slider's position on release, and is asked for one thing: new target (or
// contrast) classes for an image (`targets`, `contrasts`), recomputed with progress and Cancel.
//
// Maps arrive in units of their column's scale s (map / s, float16: full precision for the
// colours however small the raw values); the readout multiplies back.
//
// Synced traits (xai_widgets/widgets/attribution.py): _images, _probs, _maps, _colormaps,
// targets, contrasts, positions, view, opacity, scaling, size, progress, message; in a to_html page
// only, _no_kernel (lib/kernel.js).
import { elem, widgetShell, hintLine } from "./lib/dom.js";
import { onWidth, detailsLine } from "./lib/fit.js";
import { frameQueue } from "./lib/hover.js";
import { loadLut } from "./attribution/state.js";
import { buildHeader, listenHeader } from "./attribution/header.js";
import { GAP, LIST_W, plan } from "./attribution/layout.js";
import { refreshAll } from "./attribution/draw.js";
import { listenGrid, listenModel } from "./attribution/events.js";

const CLASS_A = "#0072b2"; // Okabe-Ito blue: the explained class
const CLASS_B = "#d55e00"; // vermillion: the contrast class
const HINT = [
  ["", "Click a class to explain it, "], ["kbd", "Shift"], ["", "-click a second one to explain A vs B. "],
  ["kbd", "←"], ["kbd", "→"], ["kbd", "↑"], ["kbd", "↓"], ["", " move between classes, maps and sliders; "],
  ["kbd", "v"], ["", " view, "], ["kbd", "["], ["kbd", "]"], ["", " opacity, "], ["kbd", "c"], ["", " contrast picking."],
];

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-attribution", {
    label: "attribution explorer: arrow keys move between cells, sliders and classes",
    vars: { gap: GAP, "list-width": LIST_W, "class-a": CLASS_A, "class-b": CLASS_B },
  });
  // The one context the modules share: the model, the DOM, the decoded data (M) and the view state.
  const app = {
    model, el, ...shell,
    frames: frameQueue(),
    grid: elem("div", "xw-blocks"), // one .xw-grid per block of method columns
    details: detailsLine("details"),
    M: null,
    lut: null,
    alphas: null,
    alphaFor: NaN,
    rows: [], // per image: {images: [{P, probe}] one per block, title, explains, topBox, cells: [...]}
    heads: [], // per method: {L (its legend), width (of its column)}
    planKey: "",
    active: null, // {i, j} of the slider whose images the image column shows
    probe: null, // {i, row, col, t} hovered pixel
    contrastMode: false,
  };
  const { life, root, status } = app;
  life.add(() => app.frames.dispose());
  const header = buildHeader(app);
  root.append(header, app.grid, status.readout, hintLine(HINT), app.details.el, status.errorBox, status.messageBox);
  el.appendChild(root);
  app.width = Math.floor(root.clientWidth) || 900; // the root's width, followed by onWidth

  listenGrid(app);
  listenHeader(app);
  listenModel(app);
  loadLut(app);
  refreshAll(app);
  life.add(onWidth(root, (w) => {
    app.width = w;
    if (app.M && JSON.stringify(plan(app)) !== app.planKey) refreshAll(app); // only when the layout changes
  }));

  return () => {
    life.dispose();
    root.remove();
    app.M = null;
  };
}

export default { render };
