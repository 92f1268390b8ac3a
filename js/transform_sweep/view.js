// The widget's fixed DOM and the one context object its modules share.
import { LineChart } from "../lib/chart.js";
import { elem, hintLine } from "../lib/dom.js";
import { headerControls } from "../lib/controls.js";
import { detailsLine } from "../lib/fit.js";
import { frameQueue } from "../lib/hover.js";

const HINT = [
  ["", "hover a cell of the original · click: pin / unpin · hover a copy or a chart point to pair them · "],
  ["kbd", "←↑↓→"], ["", " move & pin · "], ["kbd", "Esc"], ["", " unpin"],
];

/** The chart of the hovered cell's similarity against the transform value, with its key. */
function buildChart() {
  const chart = new LineChart({ label: "similarity to the corresponding cell against the transform value" });
  const chartKey = elem("div", "xw-chart-key");
  chartKey.append(elem("span", "xw-key-cell", "hovered cell"), elem("span", "xw-key-mean", "mean over all cells"));
  const chartBox = elem("div", "xw-chartbox");
  chartBox.append(chart.el, chartKey);
  return { chart, chartBox };
}

/**
 * The panels and the chart, in one focusable block: the original and the chart side by side
 * (.xw-lead), the copies under them.
 */
function buildStrip() {
  const strip = elem("div", "xw-strip");
  strip.tabIndex = 0;
  strip.setAttribute("role", "application");
  strip.setAttribute("aria-label", "original, similarity chart and transformed copies");
  strip.setAttribute("data-lm-suppress-shortcuts", "true");
  const lead = elem("div", "xw-lead");
  const copiesGrid = elem("div", "xw-copies");
  strip.append(lead, copiesGrid);
  return { strip, lead, copiesGrid };
}

/**
 * Build the DOM under `shell.root` (widgetShell) into `el`, and return the view: the elements,
 * the decoded data `D` and what is drawn from it, and the queries.
 */
export function createView(model, el, shell) {
  const { root, status } = shell;
  const header = elem("div", "xw-header");
  const caption = elem("span", "xw-caption");
  const controls = headerControls();
  header.append(caption, controls.cmapLabel, controls.opLabel, controls.legend.el);
  const parts = buildStrip();
  const details = detailsLine();
  root.append(header, hintLine(HINT), parts.strip, status.readout, details.el, status.errorBox, status.messageBox);
  el.appendChild(root);
  return {
    ...shell,
    caption,
    controls,
    ...parts,
    ...buildChart(),
    details,
    frames: frameQueue(),
    D: null, // decoded data (data.js)
    panels: [], // panels[i]: i = 0 original, i = k + 1 copy k
    laidOut: null, // the layout shown: {room, size, perRow, rows, chart: "beside" | "under", largest}
    pinned: null, // {row, col}
    hover: null, // {row, col} from the original panel
    highlight: -1, // copy index paired in the panels and the chart
    pointer: null, // {image, row, col} under the pointer (image 0 = original)
    curve: [], // per copy, the similarity at the cell showing the active cell's content
    lut: null,
  };
}

/** Redraw the chart when a JupyterLab theme switch changes the CSS variables its canvas reads. */
export function watchTheme(life, redraw) {
  const observer = new MutationObserver(redraw);
  observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class", "style"] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ["class", "style"] });
  life.add(() => observer.disconnect());
}

/** Undo render(): listeners, the pending frame, the DOM and the big buffers. */
export function disposeView(view, life) {
  life.dispose();
  view.frames.dispose();
  view.root.remove();
  view.D = null;
  view.panels = [];
}
