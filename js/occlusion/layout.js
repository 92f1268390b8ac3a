// The panels and the feature list for one `_data`, sized to the width: the three linked panels
// beside each other, shrunk down to MIN_PANEL, else stacked.
import { elem } from "../lib/dom.js";
import { fitPanels } from "../lib/fit.js";
import { fmtNumber } from "../lib/chart.js";
import { loadData, num, points } from "./state.js";
import { pixelPanel } from "./pixels.js";
import { drawFeatures, drawView, drawFindings, drawRelevance } from "./draw.js";
import { loadMask, drawPaint, drawSandbox } from "./sandbox.js";
import { syncControls } from "./chrome.js";
import { drawSynthesis } from "./synthesis.js";

export const GAP = 14; // between the linked panels
const MIN_PANEL = 200; // below this the three panels stack rather than shrink

/** Panel size for the width: the three linked panels beside each other, shrunk down to MIN_PANEL; else stacked. */
export function plan(app) {
  const f = fitPanels(Math.max(MIN_PANEL, app.width - 16), 3, Math.max(96, num(app, "size", 256)), { min: MIN_PANEL, gap: GAP });
  return { css: f.size, beside: f.rows === 1 };
}

/** Decode `_data` and build its panels and feature list (app.rows: one button per feature). */
export function build(app) {
  const { ui, details } = app;
  app.D = app.status.attempt("occlusion data", () => loadData(app.model.get("_data")));
  for (const box of [ui.featStack, ui.relBox, ui.occBox, ui.paintBox, ui.pertBox, ui.flist]) box.replaceChildren();
  app.rows = [];
  const { D } = app;
  if (!D) return;
  const { css, beside } = plan(app);
  app.root.dataset.layout = beside ? "beside" : "stacked";
  details.set("layout", `layout: features, relevance and occluded image ${beside ? "beside each other" : "stacked (too narrow to sit beside each other)"}, `
    + `panels ${css} px (preferred: size = ${num(app, "size", 256)} px), following the output's width`);
  for (const col of [ui.featCol, ui.relCol, ui.occCol, ui.paintCol, ui.pertCol]) col.style.width = `${css}px`; // captions wrap inside
  buildPanels(app, css);
  if (app.hover >= D.n) app.hover = -1;
  const maxDrop = Math.max(1e-9, ...D.feats.map((g) => Math.abs(g.drop)));
  D.feats.forEach((f, i) => {
    const b = featureButton(f, i, maxDrop);
    ui.flist.appendChild(b);
    app.rows.push(b);
  });
  loadMask(app);
  drawRelevance(app);
}

/** The five pixel panels, and the feature numbers' canvas over the features panel. */
function buildPanels(app, css) {
  const { D, ui } = app;
  app.featPanel = pixelPanel(D.W, D.H, css, "features");
  const labels = elem("canvas", "xw-labels");
  const dpr = window.devicePixelRatio || 1;
  labels.width = Math.round(css * dpr);
  labels.height = Math.round(((css * D.H) / D.W) * dpr);
  labels.style.width = app.featPanel.canvas.style.width;
  labels.style.height = app.featPanel.canvas.style.height;
  app.labelCanvas = labels;
  ui.featStack.append(app.featPanel.canvas, labels);
  app.relPanel = pixelPanel(D.W, D.H, css, "relevance");
  ui.legendCaption.style.maxWidth = `${css}px`;
  ui.relBox.appendChild(app.relPanel.canvas);
  app.occPanel = pixelPanel(D.W, D.H, css, "occluded");
  ui.occBox.appendChild(app.occPanel.canvas);
  app.paintPanel = pixelPanel(D.W, D.H, css, "paint");
  ui.paintBox.appendChild(app.paintPanel.canvas);
  app.pertPanel = pixelPanel(D.W, D.H, css, "perturbed");
  ui.pertBox.appendChild(app.pertPanel.canvas);
}

/** Feature i's list button: its coloured number, its Δ as a bar either side of 0, its size. */
function featureButton(f, i, maxDrop) {
  const b = elem("button", "xw-feature");
  b.type = "button";
  b.dataset.index = String(i);
  const badge = elem("span", "xw-badge", String(i + 1));
  badge.style.background = `rgb(${f.color.join(",")})`;
  const [r, g, bl] = f.color; // black or white numbers, whichever reads better on the swatch
  badge.style.color = 0.299 * r + 0.587 * g + 0.114 * bl > 140 ? "#000" : "#fff";
  const bar = elem("div", "xw-dropbar");
  const fill = elem("div");
  const w = (60 * Math.abs(f.drop)) / maxDrop;
  fill.style.width = `${w}px`;
  fill.style.left = f.drop >= 0 ? "60px" : `${60 - w}px`;
  bar.appendChild(fill);
  b.append(badge, bar, elem("span", "xw-sub", `Δ ${points(f.drop)}`), elem("span", "xw-sub", `${f.size} px`));
  b.title = `feature ${i + 1}: ${f.size} pixels, relevance ${fmtNumber(f.relevance)}`;
  return b;
}

/** Everything again, for new data or a new panel size. */
export function refreshAll(app) {
  build(app);
  syncControls(app);
  drawFeatures(app);
  drawView(app);
  drawFindings(app);
  drawPaint(app);
  drawSandbox(app);
  drawSynthesis(app);
}
