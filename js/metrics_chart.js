// Metrics chart (xai_widgets.metrics as a view): deletion / insertion curves, the
// model-parameter randomisation and continuity checks, one line per method, and the axiom
// checks (invariance: a dot per method on a log scale; conservation: relevance per layer),
// as an anywidget front end. All numbers arrive once in `_chart` ({kind, panels: [{id, title,
// subtitle, xTitle, yTitle, xs, xlabels, xRange?, yRange, yticks?, yLog?, xnotes?, aspect?, series:
// [{name, title, ys, color, dash, label, baseline, mark?}]}]}); hovering a chart or the arrow
// keys read the values at one x out (a panel's xnotes instead, when it has them), in the
// browser only.
//
// The charts take the width they are given: side by side when two fit at a readable width,
// else one under the other (root data-layout "side-by-side" | "stacked", said in the details).
//
// For tests and curious users, each chart's canvas carries LineChart's data-x / data-values /
// data-points (of the main series, named in data-main), data-series ([{name, color, points}]
// for every series, in CSS pixels of the canvas), data-yrange and data-plot.
//
// Synced traits (xai_widgets/widgets/metrics_chart.py): _chart, size, message.
//
// The modules in metrics_chart/ share one view object ({model, root, body, charts, index, avail, ...}).
import { widgetShell, elem, hintLine } from "./lib/dom.js";
import { onWidth, detailsLine } from "./lib/fit.js";
import { GAP, buildCharts } from "./metrics_chart/layout.js";
import { drawCharts } from "./metrics_chart/draw.js";
import { wireEvents } from "./metrics_chart/events.js";

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(
    model, el, "xw-metrics", { label: "metrics chart: left/right arrows read the values at each point", vars: { gap: GAP } });
  const body = elem("div", "xw-panels");
  const hint = hintLine([["", "Hover a chart, or "], ["kbd", "←"], ["", "/"], ["kbd", "→"], ["", " to read every method's value at one point."]]);
  const details = detailsLine();
  root.append(body, status.readout, hint, status.errorBox, status.messageBox, details.el);
  el.appendChild(root);

  const view = {
    model, root, body, status, details, markPainted,
    charts: [], // [{panel, chart}]
    index: -1, // the x read out, -1 for none
    avail: 0, // content width of the root, CSS px (0 until laid out)
  };
  const build = () => {
    if (buildCharts(view)) drawCharts(view);
  };
  wireEvents(view, listen);
  onModel("change:_chart", build);
  onModel("change:size", build);
  life.add(onWidth(root, (w) => {
    view.avail = Math.max(1, w - 16); // the root's padding
    build();
  }));
  build();

  return () => {
    life.dispose();
    root.remove();
    view.charts = [];
  };
}

export default { render };
