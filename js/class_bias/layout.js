// Building the two panels (histogram with its key; class distance with its slider, legend and
// group list) and fitting them to the width given: side by side when both fit, else stacked.
import { elem, getNum } from "../lib/dom.js";
import { fitPanels } from "../lib/fit.js";
import { ColorLegend } from "../lib/legend.js";
import { GAP, partitionLine } from "./data.js";

function keyItem(colour, text) {
  const item = elem("span", "xw-key-item");
  const swatch = elem("span", "xw-swatch");
  if (colour) swatch.style.background = colour;
  else swatch.classList.add("xw-swatch-none");
  item.append(swatch, elem("span", "xw-key-label", text));
  return item;
}

function histogramColumn(view) {
  const { D, ui } = view;
  const col = elem("div", "xw-bias-col xw-bias-hist");
  ui.hist = elem("canvas", "xw-bias-canvas");
  ui.hist.dataset.role = "histogram";
  const key = elem("div", "xw-bias-key");
  for (const p of D.partitions) key.appendChild(keyItem(p.color, partitionLine(p.name, p.share, p.accuracy)));
  key.appendChild(keyItem(null, partitionLine("all", D.total.share, D.total.accuracy)));
  const over = D.over.map((c) => D.names[c]);
  const note = `dashed: ${D.threshold} × the mean count; ▲ over-represented`
    + (over.length ? ` (${over.join(", ")})` : " (none)");
  col.append(elem("div", "xw-caption", "Label frequency per class"), ui.hist, elem("div", "xw-sub", note), key);
  return col;
}

function distanceColumn(view) {
  const { D, ui, model } = view;
  const col = elem("div", "xw-bias-col xw-bias-dist");
  ui.dist = elem("canvas", "xw-bias-canvas");
  ui.dist.dataset.role = "distance";
  const row = elem("label", "xw-group-control");
  ui.slider = elem("input", "xw-slider");
  ui.slider.type = "range";
  ui.slider.min = String(D.groupCounts[0] ?? 2);
  ui.slider.max = String(D.groupCounts[D.groupCounts.length - 1] ?? 2);
  ui.slider.step = "1";
  ui.slider.value = String(getNum(model, "groups", 2));
  ui.slider.disabled = D.groupCounts.length < 2;
  ui.groupValue = elem("span", "xw-group-value");
  row.append(elem("span", null, "groups G"), ui.slider, ui.groupValue);
  if (!D.groupCounts.length) row.hidden = true;
  ui.legend = new ColorLegend({ width: 160, label: "class distance colour scale" });
  ui.groupList = elem("ol", "xw-group-list");
  col.append(elem("div", "xw-caption", "Class distance (confused classes are close)"), row, ui.dist, ui.legend.el,
    ui.groupList);
  return col;
}

/** view.ui anew from view.D: the panels in view.body. */
export function buildView(view) {
  if (!view.body) {
    view.body = elem("div", "xw-bias-panels");
    view.root.append(view.body, view.status.readout, view.status.errorBox, view.status.messageBox);
  }
  view.body.replaceChildren();
  view.ui = {};
  if (!view.D) return;
  view.body.appendChild(histogramColumn(view));
  if (view.D.confused) view.body.appendChild(distanceColumn(view));
}

/** Each panel's width from the room there is; sets --xw-width and data-layout on the root. */
export function fitView(view) {
  if (!view.D) return;
  const n = view.D.confused ? 2 : 1;
  const preferred = Math.max(240, getNum(view.model, "size", 440));
  const fit = view.avail > 0 ? fitPanels(view.avail, n, preferred, { min: 300, gap: GAP })
    : { size: preferred, rows: 1 };
  view.width = Math.min(fit.size, view.avail > 0 ? view.avail : fit.size);
  view.root.style.setProperty("--xw-width", `${view.width}px`);
  view.root.dataset.layout = fit.rows > 1 ? "stacked" : "side-by-side";
}
