// Feature occlusion (Norton, "Deep Introspection", 2018, ch. 3 and 5.2) as an
// anywidget front end. The image, relevance map and feature label map arrive once (`_data`);
// colouring the features, the hover highlight, the brush and the sandbox mask are drawn here
// without the kernel. The kernel is asked for: the occluded image + top-5 of a new set of
// occluded features (`occluded`: numbers only), new features (`threshold`, `distance`,
// `min_size`), the occluder (`mode`, `patch`), the analysis (message "analyse", progress,
// "cancel") and the sandbox's prediction (`sandbox_mask`, sent once on pointer release).
//
// Synced traits (xai_widgets/widgets/occlusion.py): _data, _view, _analysis, _sandbox,
// _colormaps, occluded, threshold, distance, min_size, mode, patch, opacity, sandbox_mask,
// sandbox_kind, brush, tab, size, progress, message; in a to_html page only, _offline_views and
// _no_kernel (lib/kernel.js).
import { decode, bytesOf } from "./lib/tensor.js";
import { makeLut } from "./lib/colormap.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { progressControl } from "./lib/controls.js";
import { onWidth, fitPanels, detailsLine } from "./lib/fit.js";
import { ColorLegend } from "./lib/legend.js";
import { clampInt } from "./lib/panels.js";
import { frameQueue } from "./lib/hover.js";
import { fmtNumber } from "./lib/chart.js";
import { shadeSigned } from "./lib/diverging.js";
import { NEEDS_KERNEL, kernelOnly } from "./lib/kernel.js";

const HOVER = [255, 0, 0]; // Norton 2018 highlights a hovered feature's pixels in red (§5.3.5)
const HOVER_ALPHA = 0.8;
const PAINT = [255, 0, 255]; // the sandbox's painted region
const PAINT_ALPHA = 0.5;
const TOP = 5;
const MODES = [["pixelate", "pixelate (Norton)"], ["noise", "random pixels"], ["box", "bounding boxes"]];
const PATCHES = [2, 4, 6, 8, 12, 16, 24, 32];
const GAP = 14; // between the linked panels
const MIN_PANEL = 200; // below this the three panels stack rather than shrink
const LABEL_FONT = "bold 12px system-ui, sans-serif";
const KINDS = [["blur", "blur"], ["constant", "constant (mean colour)"], ["noise", "noise"]];


/** `_data` decoded once. */
function loadData(raw) {
  if (!raw || !raw.image) return null;
  const H = Number(raw.H);
  const W = Number(raw.W);
  const image = bytesOf(raw.image);
  if (image.length < H * W * 3) throw new Error("image payload too short");
  const labels = Int32Array.from(decode(raw.labels).data, (v) => Math.round(v));
  const relevance = decode(raw.relevance).data; // r / rel_max
  const feats = raw.features || [];
  return { H, W, image, labels, relevance, feats, n: feats.length, classes: raw.classes || [], target: raw.target,
    method: raw.method, relMax: raw.rel_max, relScale: raw.rel_scale, tau: raw.tau, baseProbs: raw.base_probs || [] };
}

/** A panel of W x H image pixels shown `css` px wide: an integer zoom of a small canvas, nearest neighbour. */
function pixelPanel(W, H, css, role) {
  const dpr = window.devicePixelRatio || 1;
  const zoom = Math.max(1, Math.ceil((css * dpr) / W));
  const canvas = elem("canvas", "xw-panel");
  canvas.dataset.role = role;
  canvas.width = W * zoom;
  canvas.height = H * zoom;
  canvas.style.width = `${css}px`;
  canvas.style.height = `${Math.round((css * H) / W)}px`;
  const small = elem("canvas");
  small.width = W;
  small.height = H;
  const sctx = small.getContext("2d");
  const img = sctx.createImageData(W, H);
  return { canvas, ctx: canvas.getContext("2d"), small, sctx, img, W, H, css };
}

function blit(P) {
  P.sctx.putImageData(P.img, 0, 0);
  P.ctx.imageSmoothingEnabled = false;
  P.ctx.setTransform(1, 0, 0, 1, 0, 0);
  P.ctx.drawImage(P.small, 0, 0, P.W, P.H, 0, 0, P.canvas.width, P.canvas.height);
}

/** Copy RGB bytes (H x W x 3) into the panel's image data (opaque). */
function putRGB(P, rgb) {
  const d = P.img.data;
  for (let i = 0, o = 0, p = 0; i < P.W * P.H; i++, o += 4, p += 3) {
    d[o] = rgb[p];
    d[o + 1] = rgb[p + 1];
    d[o + 2] = rgb[p + 2];
    d[o + 3] = 255;
  }
}

const pct = (p) => `${(100 * p).toFixed(1)}%`;
const points = (d) => `${d >= 0 ? "−" : "+"}${Math.abs(100 * d).toFixed(1)} pts`;
const numbers = (ids) => (ids.length ? ids.map((i) => i + 1).join(", ") : "none");

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(
    model, el, "xw-occlusion", { label: "feature occlusion: number keys toggle features, arrows move the highlight", vars: { gap: GAP } });
  const hoverQueue = frameQueue();
  const paintQueue = frameQueue();
  life.add(() => {
    hoverQueue.dispose();
    paintQueue.dispose();
  });

  const setTrait = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };
  const num = (name, d) => getNum(model, name, d);

  // ------------------------------------------------------------ chrome
  const tabs = elem("div", "xw-tabs");
  tabs.setAttribute("role", "tablist");
  const tabButtons = {};
  for (const [key, text] of [["occlusion", "Occlusion"], ["sandbox", "Paint sandbox"]]) {
    const b = elem("button", `xw-tab xw-tab-${key}`, text);
    b.type = "button";
    b.setAttribute("role", "tab");
    b.dataset.tab = key;
    tabButtons[key] = b;
    tabs.appendChild(b);
  }
  const note = elem("div", "xw-sub xw-note");

  // occlusion tab
  const occTab = elem("div", "xw-tabpanel xw-tabpanel-occlusion");
  const controls = elem("div", "xw-header");
  const px = (v) => `${fmtNumber(v)} px`;
  const rangeControl = (label, cls, min, max, step, fmt) => {
    const l = elem("label", null, label);
    const input = Object.assign(elem("input", cls), { type: "range", min: String(min), max: String(max), step: String(step) });
    const value = elem("span", "xw-value xw-sub");
    l.append(input, value);
    return { label: l, input, value, fmt };
  };
  const thr = rangeControl("threshold ×", "xw-threshold", 0.5, 15, 0.5, fmtNumber);
  thr.label.title = "candidate pixels: relevance r > threshold × (sum of the positive r over the image) / (H × W pixels) (default 5, as in Norton 2018)";
  const dist = rangeControl("distance", "xw-distance", 1, 4, 0.5, px);
  dist.label.title = "pixels this close (px, Euclidean) join one feature (default 1.5 = 8-neighbours)";
  const minSize = rangeControl("min size", "xw-min-size", 0, 100, 5, px);
  minSize.label.title = "features with fewer pixels are dropped (default 20)";
  const modeLabel = elem("label", null, "occluder");
  const modeSelect = elem("select", "xw-mode");
  modeSelect.append(...MODES.map(([v, t]) => Object.assign(elem("option", null, t), { value: v })));
  modeLabel.appendChild(modeSelect);
  const patchLabel = elem("label", null, "patch");
  const patchSelect = elem("select", "xw-patch");
  patchLabel.appendChild(patchSelect);
  const opac = rangeControl("colour", "xw-opacity", 0, 1, 0.05, () => "");
  controls.append(thr.label, dist.label, minSize.label, modeLabel, patchLabel, opac.label);

  const panelRow = elem("div", "xw-row");
  const featCol = elem("div", "xw-col");
  const featCaption = elem("div", "xw-caption xw-feature-caption");
  const featStack = elem("div", "xw-stack");
  featCol.append(featCaption, featStack);
  const relCol = elem("div", "xw-col");
  const relCaption = elem("div", "xw-caption");
  const relBox = elem("div");
  const legend = new ColorLegend();
  const legendCaption = elem("div", "xw-sub xw-cutoff");
  relCol.append(relCaption, relBox, legend.el, legendCaption);
  const occCol = elem("div", "xw-col");
  const occCaption = elem("div", "xw-caption");
  const occBox = elem("div");
  const topCaption = elem("div", "xw-caption xw-top-caption", "prediction");
  const topList = elem("div", "xw-top xw-top-occlusion");
  occCol.append(occCaption, occBox, topCaption, topList);
  panelRow.append(featCol, relCol, occCol);

  const lowerRow = elem("div", "xw-row");
  const listCol = elem("div", "xw-col");
  const listHead = elem("div", "xw-header");
  const listCaption = elem("span", "xw-caption", "features, most important first");
  const allButton = Object.assign(elem("button", "xw-all", "occlude all"), { type: "button" });
  const noneButton = Object.assign(elem("button", "xw-none", "show all"), { type: "button" });
  listHead.append(listCaption, allButton, noneButton);
  const listSub = elem("div", "xw-sub", "Δ: drop of p(target) when the feature alone is occluded; click to toggle");
  const flist = elem("div", "xw-flist");
  flist.setAttribute("role", "group");
  listCol.append(listHead, listSub, flist);
  const anaCol = elem("div", "xw-col xw-analysis");
  const anaHead = elem("div", "xw-header");
  const analyseButton = Object.assign(elem("button", "xw-analyse", "Analyse"), { type: "button" });
  analyseButton.title = "find the most important feature, the smallest sets that keep or flip the prediction, and the largest change";
  const progress = progressControl(model, listen, (p) => `${p.task}: ${p.done}${p.total ? ` / ${p.total}` : ""} sets`);
  anaHead.append(analyseButton, progress.box);
  const findings = elem("div", "xw-findings");
  const anaSub = elem("div", "xw-sub");
  anaCol.append(anaHead, findings, anaSub);
  lowerRow.append(listCol, anaCol);
  occTab.append(controls, panelRow, lowerRow);

  // sandbox tab
  const sbTab = elem("div", "xw-tabpanel xw-tabpanel-sandbox");
  const sbControls = elem("div", "xw-header");
  const brush = rangeControl("brush radius", "xw-brush", 1, 32, 1, px);
  const kindLabel = elem("label", null, "perturbation");
  const kindSelect = elem("select", "xw-kind");
  kindSelect.append(...KINDS.map(([v, t]) => Object.assign(elem("option", null, t), { value: v })));
  kindLabel.appendChild(kindSelect);
  const clearButton = Object.assign(elem("button", "xw-clear", "clear"), { type: "button" });
  sbControls.append(brush.label, kindLabel, clearButton);
  const sbRow = elem("div", "xw-row");
  const paintCol = elem("div", "xw-col");
  const paintCaption = elem("div", "xw-caption", "paint a region (Shift: erase)");
  const paintBox = elem("div");
  paintCol.append(paintCaption, paintBox);
  const pertCol = elem("div", "xw-col");
  const pertCaption = elem("div", "xw-caption");
  const pertBox = elem("div");
  pertCol.append(pertCaption, pertBox);
  const sbTopList = elem("div", "xw-top xw-top-sandbox");
  pertCol.append(elem("div", "xw-caption xw-top-caption", "prediction"), sbTopList);
  sbRow.append(paintCol, pertCol);
  sbTab.append(sbControls, sbRow);

  const hint = hintLine([["kbd", "1"], ["", "–"], ["kbd", "9"], ["", " toggle features, "], ["kbd", "↑"], ["", "/"], ["kbd", "↓"],
    ["", " highlight, "], ["kbd", "Enter"], ["", " toggle it, "], ["kbd", "a"], ["", " occlude all, "], ["kbd", "Esc"], ["", " show all, "],
    ["kbd", "t"], ["", " switch tab; sandbox: "], ["kbd", "["], ["", "/"], ["kbd", "]"], ["", " brush, "], ["kbd", "c"], ["", " clear."]]);
  const details = detailsLine("details");
  root.append(tabs, note, occTab, sbTab, status.readout, hint, details.el, status.errorBox, status.messageBox);
  el.appendChild(root);

  // ------------------------------------------------------------ state
  let D = null;
  let diverging = null;
  let featPanel = null;
  let labelCanvas = null;
  let relPanel = null;
  let occPanel = null;
  let paintPanel = null;
  let pertPanel = null;
  let hover = -1;
  let rows = [];
  let mask = null; // Uint8Array H*W, the sandbox's painted pixels
  let painting = null; // {erase, last: [x, y]} while the pointer is down
  let cursor = null; // [x, y] in image pixels under the pointer on the paint panel
  let width = Math.floor(root.clientWidth) || 900; // the root's width, followed by onWidth
  let hiddenLabels = 0; // feature numbers left out: no room beside the others

  const occluded = () => {
    const v = model.get("occluded");
    return Array.isArray(v) ? v.filter((i) => Number.isInteger(i) && D && i >= 0 && i < D.n) : [];
  };
  const className = (k) => (D && D.classes[k] != null ? String(D.classes[k]) : `class ${k}`);

  // ------------------------------------------------------------ layout (per `_data`)
  /** Panel size for the width: the three linked panels beside each other, shrunk down to MIN_PANEL; else stacked. */
  function plan() {
    const f = fitPanels(Math.max(MIN_PANEL, width - 16), 3, Math.max(96, num("size", 256)), { min: MIN_PANEL, gap: GAP });
    return { css: f.size, beside: f.rows === 1 };
  }

  function build() {
    D = status.attempt("occlusion data", () => loadData(model.get("_data")));
    featStack.replaceChildren();
    relBox.replaceChildren();
    occBox.replaceChildren();
    paintBox.replaceChildren();
    pertBox.replaceChildren();
    flist.replaceChildren();
    rows = [];
    if (!D) return;
    const { css, beside } = plan();
    root.dataset.layout = beside ? "beside" : "stacked";
    details.set("layout", `layout: features, relevance and occluded image ${beside ? "beside each other" : "stacked (too narrow to sit beside each other)"}, `
      + `panels ${css} px (preferred: size = ${num("size", 256)} px), following the output's width`);
    for (const col of [featCol, relCol, occCol, paintCol, pertCol]) col.style.width = `${css}px`; // captions wrap inside
    featPanel = pixelPanel(D.W, D.H, css, "features");
    labelCanvas = elem("canvas", "xw-labels");
    const dpr = window.devicePixelRatio || 1;
    labelCanvas.width = Math.round(css * dpr);
    labelCanvas.height = Math.round(((css * D.H) / D.W) * dpr);
    labelCanvas.style.width = featPanel.canvas.style.width;
    labelCanvas.style.height = featPanel.canvas.style.height;
    featStack.append(featPanel.canvas, labelCanvas);
    relPanel = pixelPanel(D.W, D.H, css, "relevance");
    legendCaption.style.maxWidth = `${css}px`;
    relBox.appendChild(relPanel.canvas);
    occPanel = pixelPanel(D.W, D.H, css, "occluded");
    occBox.appendChild(occPanel.canvas);
    paintPanel = pixelPanel(D.W, D.H, css, "paint");
    paintBox.appendChild(paintPanel.canvas);
    pertPanel = pixelPanel(D.W, D.H, css, "perturbed");
    pertBox.appendChild(pertPanel.canvas);
    if (hover >= D.n) hover = -1;
    const maxDrop = Math.max(1e-9, ...D.feats.map((g) => Math.abs(g.drop)));
    D.feats.forEach((f, i) => {
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
      flist.appendChild(b);
      rows.push(b);
    });
    loadMask();
    drawRelevance();
  }

  // ------------------------------------------------------------ drawing
  function drawFeatures() {
    if (!D || !featPanel) return;
    const d = featPanel.img.data;
    const a0 = num("opacity", 0.55);
    const colours = D.feats.map((f) => f.color);
    const { image, labels } = D;
    for (let i = 0, o = 0, p = 0; i < D.W * D.H; i++, o += 4, p += 3) {
      const L = labels[i] - 1;
      let r = image[p];
      let g = image[p + 1];
      let b = image[p + 2];
      if (L >= 0) {
        const c = L === hover ? HOVER : colours[L];
        const a = L === hover ? HOVER_ALPHA : a0;
        r = Math.round(r * (1 - a) + c[0] * a);
        g = Math.round(g * (1 - a) + c[1] * a);
        b = Math.round(b * (1 - a) + c[2] * a);
      }
      d[o] = r;
      d[o + 1] = g;
      d[o + 2] = b;
      d[o + 3] = 255;
    }
    blit(featPanel);
    featPanel.canvas.dataset.hover = String(hover);
    drawLabels();
    const occ = occluded();
    const hidden = hiddenLabels ? ` · ${hiddenLabels} numbers not shown (features too close; hover one to name it)` : "";
    featCaption.textContent = `${D.n} feature${D.n === 1 ? "" : "s"}${hover >= 0 ? ` · feature ${hover + 1}: ${D.feats[hover].size} px` : hidden}`;
    rows.forEach((b, i) => {
      b.setAttribute("aria-pressed", String(occ.includes(i)));
      b.classList.toggle("xw-hover", i === hover);
    });
    markPainted();
  }

  /**
   * Feature numbers on a canvas over the image (never HTML), most important first, each at its
   * feature's anchor pixel or, where that box is taken, just above, below or beside it; a number
   * that fits nowhere near its feature is left out (counted in the caption). The boxes drawn
   * are in `data-labels` (CSS px).
   */
  function drawLabels() {
    const ctx = labelCanvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, labelCanvas.width, labelCanvas.height);
    const dpr = window.devicePixelRatio || 1;
    ctx.scale(dpr, dpr);
    const s = featPanel.css / D.W; // CSS px per image pixel, both axes
    const cw = featPanel.css;
    const chh = (featPanel.css * D.H) / D.W;
    const occ = new Set(occluded());
    ctx.font = LABEL_FONT;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    ctx.lineWidth = 3;
    const placed = [];
    const clear = (b) => placed.every((p) => b.x + b.w <= p.x || p.x + p.w <= b.x || b.y + b.h <= p.y || p.y + p.h <= b.y);
    D.feats.forEach((f, i) => {
      const text = String(i + 1);
      const w = Math.ceil(ctx.measureText(text).width) + 4; // the 3 px outline, 1.5 px each side
      const h = 16;
      const x0 = (f.anchor[1] + 0.5) * s;
      const y0 = (f.anchor[0] + 0.5) * s;
      const spots = [[0, 0], [0, -h], [0, h], [-w, 0], [w, 0], [-w, -h], [w, -h], [-w, h], [w, h]];
      for (const [dx, dy] of spots) {
        const box = { feature: i, x: Math.round(Math.min(cw - w, Math.max(0, x0 + dx - w / 2))),
          y: Math.round(Math.min(chh - h, Math.max(0, y0 + dy - h / 2))), w, h };
        if (!clear(box)) continue;
        placed.push(box);
        ctx.strokeStyle = "rgba(0,0,0,0.85)";
        ctx.strokeText(text, box.x + w / 2, box.y + h / 2);
        ctx.fillStyle = i === hover ? "#ffff00" : occ.has(i) ? "#90caf9" : "#ffffff";
        ctx.fillText(text, box.x + w / 2, box.y + h / 2);
        break;
      }
    });
    hiddenLabels = D.n - placed.length;
    labelCanvas.dataset.labels = JSON.stringify(placed);
  }

  function drawRelevance() {
    if (!D || !relPanel || !diverging) return;
    shadeSigned(relPanel.img.data, D.relevance, D.relScale / D.relMax, diverging, null, null); // relevance is r / rel_max
    blit(relPanel);
    relCaption.textContent = `relevance (${D.method})`;
    legend.draw(diverging, -D.relScale, D.relScale, { width: relPanel.css - 60,
      caption: "red: for the class, blue: against; ± the 99th percentile of |r|, beyond saturates" });
    legendCaption.textContent = `Feature pixels: r > τ = threshold × (sum of the positive r) / (H × W pixels) = ${fmtNumber(num("threshold", 5))}`
      + ` × ${fmtNumber(D.tau / Math.max(1e-30, num("threshold", 5)))} = ${fmtNumber(D.tau)}`;
  }

  /** The top-5 after occluding (or perturbing: `what`), each with its probability before, under headings. */
  function drawTop(list, pred, what) {
    list.replaceChildren();
    if (!D || !pred || !pred.top5) return;
    list.append(elem("span", "xw-colhead", "class"), elem("span", "xw-colhead xw-now", what), elem("span", "xw-colhead", "before"));
    for (const [k, p] of pred.top5.slice(0, TOP)) {
      const name = elem("span", k === D.target ? "xw-target" : null, className(k));
      name.dataset.column = "class";
      const bar = elem("div", "xw-bar");
      bar.style.width = `${Math.max(1, Math.round(40 * p))}px`;
      const now = elem("span", null, pct(p));
      now.dataset.column = what;
      const was = D.baseProbs[k];
      const before = elem("span", "xw-sub", was != null ? pct(was) : "");
      before.dataset.column = "before";
      list.append(name, bar, now, before);
    }
  }

  // The view of the current set: the kernel's `_view`, or in a to_html page (no kernel) the
  // precomputed view of that set from `_offline_views`, when the export could ship every set.
  function currentView() {
    const offline = model.get("_offline_views");
    const key = [...new Set(occluded())].sort((a, b) => a - b).join(",");
    return (offline && offline[key]) || model.get("_view") || {};
  }

  function drawView() {
    const V = currentView();
    if (!D || !occPanel) return;
    const occ = [...new Set(occluded())].sort((a, b) => a - b);
    const same = Array.isArray(V.occluded) && V.occluded.length === occ.length && V.occluded.every((v, i) => v === occ[i]);
    const pending = model.get("_offline_views") ? "needs the live kernel" : "computing…";
    if (V.image) {
      putRGB(occPanel, bytesOf(V.image));
      blit(occPanel);
    }
    occPanel.canvas.dataset.occluded = JSON.stringify(V.occluded || []);
    occCaption.textContent = same ? `occluded: ${numbers(occ)}` : `occluded: ${numbers(occ)} (${pending})`;
    drawTop(topList, V, "occluded");
    drawReadout();
  }

  function drawReadout() {
    if (!D) return;
    const sandbox = model.get("tab") === "sandbox";
    const V = sandbox ? model.get("_sandbox") || {} : currentView();
    if (!V.top5) return;
    const what = sandbox ? (V.painted ? `${pct(V.painted)} of the image perturbed (${V.kind})` : "nothing painted")
      : (V.occluded || []).length ? `features ${numbers(V.occluded)} occluded` : "nothing occluded";
    status.setReadout(`${className(D.target)}: p = ${pct(D.baseProbs[D.target])} → ${pct(V.target_prob)} with ${what}`
      + `${V.top1 !== D.target ? ` · top-1 now ${className(V.top1)}` : ""}`);
  }

  function drawFindings() {
    findings.replaceChildren();
    const A = model.get("_analysis") || {};
    if (!A.findings) {
      anaSub.textContent = D && D.n ? "Analyse occludes sets of features (forward passes only) to find which matter." : "";
      return;
    }
    const thumb = Math.round(Math.max(96, num("size", 256)) / 2.5);
    for (const f of A.findings) {
      const card = elem("button", `xw-finding xw-finding-${f.kind}`);
      card.type = "button";
      card.dataset.kind = f.kind;
      if (f.image && D) {
        const P = pixelPanel(D.W, D.H, thumb, `finding-${f.kind}`);
        putRGB(P, bytesOf(f.image));
        blit(P);
        card.appendChild(P.canvas);
        card.append(elem("div", "xw-caption", f.title), elem("div", null, f.kind === "smallest_keep"
          ? `keep ${numbers(f.kept)} (occlude ${numbers(f.occluded)})` : `occlude ${numbers(f.occluded)}`),
        elem("div", "xw-sub", `p(${className(D.target)}) ${pct(D.baseProbs[D.target])} → ${pct(f.target_prob)} (${points(f.change)})`),
        elem("div", "xw-sub", `top-1: ${className(f.top1)}${f.exhaustive ? "" : " · best of those evaluated"}`));
        card.dataset.occluded = JSON.stringify(f.occluded);
        card.title = "click to apply this set";
      } else {
        card.disabled = true;
        const P = elem("canvas");
        P.width = P.height = 1;
        P.style.width = P.style.height = `${thumb}px`;
        card.append(P, elem("div", "xw-caption", f.title), elem("div", "xw-sub", f.missing || "not found"));
      }
      findings.appendChild(card);
    }
    anaSub.textContent = `${A.evaluated} sets evaluated${A.exhaustive ? " (every subset: exact answers)" : " (budget reached: sampled)"}`;
  }

  // sandbox
  function loadMask() {
    if (!D) return;
    mask = new Uint8Array(D.W * D.H);
    const raw = model.get("sandbox_mask");
    if (raw && (raw.byteLength || raw.length)) {
      const bytes = bytesOf(raw);
      if (bytes.length === mask.length) mask.set(bytes);
    }
  }

  function drawPaint() {
    if (!D || !paintPanel) return;
    const d = paintPanel.img.data;
    const { image } = D;
    for (let i = 0, o = 0, p = 0; i < D.W * D.H; i++, o += 4, p += 3) {
      const a = mask[i] ? PAINT_ALPHA : 0;
      d[o] = Math.round(image[p] * (1 - a) + PAINT[0] * a);
      d[o + 1] = Math.round(image[p + 1] * (1 - a) + PAINT[1] * a);
      d[o + 2] = Math.round(image[p + 2] * (1 - a) + PAINT[2] * a);
      d[o + 3] = 255;
    }
    blit(paintPanel);
    if (cursor) {
      const ctx = paintPanel.ctx;
      const s = paintPanel.canvas.width / D.W;
      ctx.strokeStyle = painting && painting.erase ? "#00e5ff" : "#ffff00";
      ctx.lineWidth = Math.max(1, window.devicePixelRatio || 1);
      ctx.beginPath();
      ctx.arc((cursor[0] + 0.5) * s, (cursor[1] + 0.5) * s, num("brush", 6) * s, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  function drawSandbox() {
    const S = model.get("_sandbox") || {};
    if (!D || !pertPanel) return;
    if (S.image) {
      putRGB(pertPanel, bytesOf(S.image));
      blit(pertPanel);
    }
    pertCaption.textContent = S.painted ? `perturbed (${S.kind}, ${pct(S.painted)} of the image)` : "perturbed (paint first)";
    drawTop(sbTopList, S, "perturbed");
    drawReadout();
  }

  function syncControls() {
    const t = model.get("tab") === "sandbox" ? "sandbox" : "occlusion";
    for (const [k, b] of Object.entries(tabButtons)) b.setAttribute("aria-selected", String(k === t));
    occTab.hidden = t !== "occlusion";
    sbTab.hidden = t !== "sandbox";
    drawReadout();
    const set = (c, v) => {
      if (document.activeElement !== c.input) c.input.value = String(v);
      c.value.textContent = c.fmt(v);
    };
    set(thr, num("threshold", 5));
    set(dist, num("distance", 1.5));
    set(minSize, num("min_size", 20));
    set(opac, num("opacity", 0.55));
    set(brush, num("brush", 6));
    modeSelect.value = model.get("mode");
    const patch = num("patch", 8);
    const opts = PATCHES.includes(patch) ? PATCHES : [...PATCHES, patch].sort((a, b) => a - b);
    if (patchSelect.options.length !== opts.length) {
      patchSelect.replaceChildren(...opts.map((p) => Object.assign(elem("option", null, `${p} px`), { value: String(p) })));
    }
    patchSelect.value = String(patch);
    patchLabel.hidden = model.get("mode") !== "pixelate";
    kindSelect.value = model.get("sandbox_kind");
    const running = progress.sync();
    analyseButton.disabled = running || !D || D.n === 0;
    allButton.disabled = noneButton.disabled = !D || D.n === 0;
    if (D) {
      note.textContent = `Relevance from ${D.method}. Features are the pixels the network found relevant, grouped into islands; `
        + "they need not be parts a person would name. Toggling one occludes it and re-runs the model.";
    }
  }

  function refreshAll() {
    build();
    syncControls();
    drawFeatures();
    drawView();
    drawFindings();
    drawPaint();
    drawSandbox();
  }

  // ------------------------------------------------------------ interaction: occlusion
  function setHover(i) {
    const h = D && i >= 0 && i < D.n ? i : -1;
    if (h === hover) return;
    hover = h;
    drawFeatures();
  }
  function toggle(i) {
    if (!D || i < 0 || i >= D.n) return;
    const occ = new Set(occluded());
    if (occ.has(i)) occ.delete(i);
    else occ.add(i);
    setTrait("occluded", [...occ].sort((a, b) => a - b));
  }
  const pixelAt = (ev, canvas) => {
    const rect = canvas.getBoundingClientRect();
    const col = Math.floor(((ev.clientX - rect.left) * D.W) / rect.width);
    const row = Math.floor(((ev.clientY - rect.top) * D.H) / rect.height);
    return [clampInt(col, 0, D.W - 1), clampInt(row, 0, D.H - 1)];
  };
  const featureAt = (ev, canvas) => {
    const [col, row] = pixelAt(ev, canvas);
    return D.labels[row * D.W + col] - 1;
  };
  for (const box of [featStack, occBox]) {
    listen(box, "pointermove", (ev) => {
      if (!D || ev.target.tagName !== "CANVAS") return;
      const canvas = box === featStack ? featPanel.canvas : occPanel.canvas;
      hoverQueue.queue(() => setHover(featureAt(ev, canvas)));
    });
    listen(box, "pointerleave", () => {
      hoverQueue.drop();
      setHover(-1);
    });
    listen(box, "click", (ev) => {
      if (!D) return;
      const canvas = box === featStack ? featPanel.canvas : occPanel.canvas;
      const f = featureAt(ev, canvas);
      if (f >= 0) toggle(f);
    });
  }
  listen(flist, "pointerover", (ev) => {
    const b = ev.target.closest(".xw-feature");
    if (b) setHover(Number(b.dataset.index));
  });
  listen(flist, "pointerleave", () => setHover(-1));
  listen(flist, "click", (ev) => {
    const b = ev.target.closest(".xw-feature");
    if (b) toggle(Number(b.dataset.index));
  });
  listen(allButton, "click", () => D && setTrait("occluded", D.feats.map((_, i) => i)));
  listen(noneButton, "click", () => setTrait("occluded", []));
  listen(findings, "click", (ev) => {
    const card = ev.target.closest(".xw-finding");
    if (card && card.dataset.occluded) setTrait("occluded", JSON.parse(card.dataset.occluded));
  });
  listen(analyseButton, "click", () => kernelOnly(model, "Analysing the features") || model.send({ type: "analyse" }));
  // what the kernel recomputes: in a to_html page the select goes back and the message says why
  const kernelTrait = (name, value, what) => {
    if (kernelOnly(model, what)) syncControls();
    else setTrait(name, value);
  };
  for (const [c, name, parse] of [[thr, "threshold", Number], [dist, "distance", Number], [minSize, "min_size", (v) => Math.round(Number(v))],
    [brush, "brush", (v) => Math.round(Number(v))]]) {
    listen(c.input, "input", () => {
      c.value.textContent = c.fmt(Number(c.input.value));
    });
    listen(c.input, "change", () => {
      if (name !== "brush" && kernelOnly(model, "Finding features with new settings")) {
        c.input.value = String(model.get(name)); // back to the features this page shows
        c.value.textContent = c.fmt(Number(model.get(name)));
      } else setTrait(name, parse(c.input.value));
    });
  }
  listen(opac.input, "input", () => model.set("opacity", Number(opac.input.value)));
  listen(opac.input, "change", () => setTrait("opacity", Number(opac.input.value)));
  listen(modeSelect, "change", () => kernelTrait("mode", modeSelect.value, "Occluding with another occluder"));
  listen(patchSelect, "change", () => kernelTrait("patch", Number(patchSelect.value), "Occluding with another patch size"));
  listen(tabs, "click", (ev) => {
    const b = ev.target.closest("button");
    if (b && b.dataset.tab) setTrait("tab", b.dataset.tab);
  });

  // ------------------------------------------------------------ interaction: sandbox
  function stamp(x, y, erase) {
    const r = num("brush", 6);
    const r2 = r * r;
    const v = erase ? 0 : 1;
    for (let dy = -Math.floor(r); dy <= r; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= D.H) continue;
      for (let dx = -Math.floor(r); dx <= r; dx++) {
        const xx = x + dx;
        if (xx >= 0 && xx < D.W && dx * dx + dy * dy <= r2) mask[yy * D.W + xx] = v;
      }
    }
  }
  function strokeTo(x, y) {
    const [x0, y0] = painting.last;
    const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / Math.max(1, num("brush", 6) / 2)));
    for (let s = 1; s <= steps; s++) stamp(Math.round(x0 + ((x - x0) * s) / steps), Math.round(y0 + ((y - y0) * s) / steps), painting.erase);
    painting.last = [x, y];
  }
  function sendMask() {
    setTrait("sandbox_mask", new DataView(mask.slice().buffer));
    if (kernelOnly(model, "The prediction for a new painting")) pertCaption.textContent = `perturbed: the prediction for this painting ${NEEDS_KERNEL}`;
  }
  listen(paintBox, "pointerdown", (ev) => {
    if (!D || ev.target !== paintPanel.canvas || ev.button !== 0) return;
    paintPanel.canvas.setPointerCapture(ev.pointerId);
    const [x, y] = pixelAt(ev, paintPanel.canvas);
    painting = { erase: ev.shiftKey, last: [x, y] };
    cursor = [x, y];
    stamp(x, y, painting.erase);
    drawPaint();
    ev.preventDefault();
  });
  listen(paintBox, "pointermove", (ev) => {
    if (!D || ev.target !== paintPanel.canvas) return;
    const [x, y] = pixelAt(ev, paintPanel.canvas);
    cursor = [x, y];
    if (painting) strokeTo(x, y);
    paintQueue.queue(drawPaint); // painting stays in the browser: nothing is sent while moving
  });
  const release = () => {
    if (!painting) return;
    painting = null;
    drawPaint();
    sendMask(); // one message per stroke, on release
  };
  listen(paintBox, "pointerup", release);
  listen(paintBox, "pointercancel", release);
  listen(paintBox, "pointerleave", () => {
    if (painting) return;
    cursor = null;
    paintQueue.queue(drawPaint);
  });
  listen(kindSelect, "change", () => kernelTrait("sandbox_kind", kindSelect.value, "Perturbing with another kind"));
  const clearMask = () => {
    if (!mask) return;
    mask.fill(0);
    drawPaint();
    sendMask();
  };
  listen(clearButton, "click", clearMask);

  // ------------------------------------------------------------ keyboard
  listen(root, "keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !D) return;
    const tag = ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT") return;
    const sandbox = model.get("tab") === "sandbox";
    const k = ev.key;
    if (k === "t") setTrait("tab", sandbox ? "occlusion" : "sandbox");
    else if (sandbox && k === "c") clearMask();
    else if (sandbox && (k === "[" || k === "]")) setTrait("brush", clampInt(num("brush", 6) + (k === "]" ? 1 : -1), 1, 32));
    else if (!sandbox && /^[0-9]$/.test(k)) toggle(k === "0" ? 9 : Number(k) - 1);
    else if (!sandbox && (k === "ArrowDown" || k === "ArrowUp")) setHover(clampInt(hover + (k === "ArrowDown" ? 1 : -1), 0, D.n - 1));
    else if (!sandbox && (k === "Enter" || k === " ") && hover >= 0 && tag !== "BUTTON") toggle(hover);
    else if (!sandbox && k === "a") setTrait("occluded", D.feats.map((_, i) => i));
    else if (!sandbox && k === "Escape") {
      setTrait("occluded", []);
      setHover(-1);
    } else return;
    ev.preventDefault();
    ev.stopPropagation();
  });

  // ------------------------------------------------------------ model events
  onModel("change:_data", refreshAll);
  onModel("change:size", refreshAll);
  onModel("change:_colormaps", () => {
    diverging = makeLut((model.get("_colormaps") || {}).diverging);
    drawRelevance();
  });
  onModel("change:occluded", () => {
    drawFeatures();
    drawView();
  });
  onModel("change:opacity", () => {
    syncControls();
    drawFeatures();
  });
  onModel("change:_view", drawView);
  onModel("change:_analysis", drawFindings);
  onModel("change:_sandbox", drawSandbox);
  onModel("change:sandbox_mask", () => {
    if (painting) return;
    loadMask();
    drawPaint();
  });
  for (const name of ["threshold", "distance", "min_size", "mode", "patch", "sandbox_kind", "brush", "tab", "progress"]) {
    onModel(`change:${name}`, syncControls);
  }
  onModel("change:brush", drawPaint);

  diverging = makeLut((model.get("_colormaps") || {}).diverging);
  refreshAll();
  life.add(onWidth(root, (w) => {
    const before = D ? plan().css : 0;
    width = w;
    if (D && plan().css !== before) refreshAll(); // only when the panels change size
  }));

  return () => {
    life.dispose();
    root.remove();
    D = null;
  };
}

export default { render };
