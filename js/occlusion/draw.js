// Drawing the occlusion tab: features tinted in their colours (the hovered one red) with their
// numbers, the relevance map and its legend, the occluded image with its top-5, the readout and
// the analysis' finding cards.
import { elem } from "../lib/dom.js";
import { bytesOf } from "../lib/tensor.js";
import { fmtNumber } from "../lib/chart.js";
import { shadeSigned } from "../lib/diverging.js";
import { num, className, isSandbox, occluded, occludedSet, currentView, pct, points, numbers } from "./state.js";
import { pixelPanel, blit, showRGB } from "./pixels.js";

const HOVER = [255, 0, 0]; // Norton 2018 highlights a hovered feature's pixels in red (§5.3.5)
const HOVER_ALPHA = 0.8;
const TOP = 5;
const LABEL_FONT = "bold 12px system-ui, sans-serif";

/** The features panel's pixels: each feature blended with its colour (the hovered one red). */
function tintFeatures(app) {
  const { D, hover, featPanel } = app;
  const d = featPanel.img.data;
  const a0 = num(app, "opacity", 0.55);
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
}

/** The features panel, its numbers and caption, and the list's pressed and hovered states. */
export function drawFeatures(app) {
  const { D, featPanel } = app;
  if (!D || !featPanel) return;
  tintFeatures(app);
  const { hover } = app;
  featPanel.canvas.dataset.hover = String(hover);
  drawLabels(app);
  const occ = occluded(app);
  const hidden = app.hiddenLabels ? ` · ${app.hiddenLabels} numbers not shown (features too close; hover one to name it)` : "";
  app.ui.featCaption.textContent = `${D.n} feature${D.n === 1 ? "" : "s"}${hover >= 0 ? ` · feature ${hover + 1}: ${D.feats[hover].size} px` : hidden}`;
  app.rows.forEach((b, i) => {
    b.setAttribute("aria-pressed", String(occ.includes(i)));
    b.classList.toggle("xw-hover", i === hover);
  });
  app.markPainted();
}

/** Where feature f's number box (w x h CSS px) goes: its anchor pixel or, where that is taken, a neighbouring spot; null when none is free. */
function placeLabel(f, w, h, s, cw, chh, placed) {
  const clear = (b) => placed.every((p) => b.x + b.w <= p.x || p.x + p.w <= b.x || b.y + b.h <= p.y || p.y + p.h <= b.y);
  const x0 = (f.anchor[1] + 0.5) * s;
  const y0 = (f.anchor[0] + 0.5) * s;
  const spots = [[0, 0], [0, -h], [0, h], [-w, 0], [w, 0], [-w, -h], [w, -h], [-w, h], [w, h]];
  for (const [dx, dy] of spots) {
    const box = { x: Math.round(Math.min(cw - w, Math.max(0, x0 + dx - w / 2))),
      y: Math.round(Math.min(chh - h, Math.max(0, y0 + dy - h / 2))), w, h };
    if (clear(box)) return box;
  }
  return null;
}

/**
 * Feature numbers on a canvas over the image (never HTML), most important first, each at its
 * feature's anchor pixel or, where that box is taken, just above, below or beside it; a number
 * that fits nowhere near its feature is left out (counted in the caption). The boxes drawn
 * are in `data-labels` (CSS px).
 */
function drawLabels(app) {
  const { D, featPanel, labelCanvas, hover } = app;
  const ctx = labelCanvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, labelCanvas.width, labelCanvas.height);
  const dpr = window.devicePixelRatio || 1;
  ctx.scale(dpr, dpr);
  const s = featPanel.css / D.W; // CSS px per image pixel, both axes
  const chh = (featPanel.css * D.H) / D.W;
  const occ = new Set(occluded(app));
  ctx.font = LABEL_FONT;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.lineJoin = "round";
  ctx.lineWidth = 3;
  const placed = [];
  D.feats.forEach((f, i) => {
    const text = String(i + 1);
    const w = Math.ceil(ctx.measureText(text).width) + 4; // the 3 px outline, 1.5 px each side
    const spot = placeLabel(f, w, 16, s, featPanel.css, chh, placed);
    if (!spot) return;
    const box = { feature: i, ...spot };
    placed.push(box);
    ctx.strokeStyle = "rgba(0,0,0,0.85)";
    ctx.strokeText(text, box.x + w / 2, box.y + box.h / 2);
    ctx.fillStyle = i === hover ? "#ffff00" : occ.has(i) ? "#90caf9" : "#ffffff";
    ctx.fillText(text, box.x + w / 2, box.y + box.h / 2);
  });
  app.hiddenLabels = D.n - placed.length;
  labelCanvas.dataset.labels = JSON.stringify(placed);
}

/** The relevance map on ± its 99th percentile, with its legend and the feature threshold τ. */
export function drawRelevance(app) {
  const { D, relPanel, diverging, ui } = app;
  if (!D || !relPanel || !diverging) return;
  shadeSigned(relPanel.img.data, D.relevance, D.relScale / D.relMax, diverging, null, null); // relevance is r / rel_max
  blit(relPanel);
  ui.relCaption.textContent = `relevance (${D.method})`;
  ui.legend.draw(diverging, -D.relScale, D.relScale, { width: relPanel.css - 60,
    caption: "red: for the class, blue: against; ± the 99th percentile of |r|, beyond saturates" });
  const thr = num(app, "threshold", 5);
  ui.legendCaption.textContent = `Feature pixels: r > τ = threshold × (sum of the positive r) / (H × W pixels) = ${fmtNumber(thr)}`
    + ` × ${fmtNumber(D.tau / Math.max(1e-30, thr))} = ${fmtNumber(D.tau)}`;
}

/** The top-5 after occluding (or perturbing: `what`), each with its probability before, under headings. */
export function drawTop(app, list, pred, what) {
  const { D } = app;
  list.replaceChildren();
  if (!D || !pred || !pred.top5) return;
  list.append(elem("span", "xw-colhead", "class"), elem("span", "xw-colhead xw-now", what), elem("span", "xw-colhead", "before"));
  for (const [k, p] of pred.top5.slice(0, TOP)) {
    const name = elem("span", k === D.target ? "xw-target" : null, className(app, k));
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

/** The occluded image and top-5 of the current set, marked pending until the kernel's view matches it. */
export function drawView(app) {
  const V = currentView(app);
  const { D, occPanel, ui } = app;
  if (!D || !occPanel) return;
  const occ = occludedSet(app);
  const same = Array.isArray(V.occluded) && V.occluded.length === occ.length && V.occluded.every((v, i) => v === occ[i]);
  const pending = app.model.get("_offline_views") ? "needs the live kernel" : "computing…";
  if (V.image) showRGB(occPanel, bytesOf(V.image));
  occPanel.canvas.dataset.occluded = JSON.stringify(V.occluded || []);
  ui.occCaption.textContent = same ? `occluded: ${numbers(occ)}` : `occluded: ${numbers(occ)} (${pending})`;
  drawTop(app, ui.topList, V, "occluded");
  drawReadout(app);
}

/** The readout: p(target) before and after what the tab shown occludes or perturbs. */
export function drawReadout(app) {
  const { D } = app;
  if (!D) return;
  const sandbox = isSandbox(app);
  const V = sandbox ? app.model.get("_sandbox") || {} : currentView(app);
  if (!V.top5) return;
  const what = sandbox ? (V.painted ? `${pct(V.painted)} of the image perturbed (${V.kind})` : "nothing painted")
    : (V.occluded || []).length ? `features ${numbers(V.occluded)} occluded` : "nothing occluded";
  app.status.setReadout(`${className(app, D.target)}: p = ${pct(D.baseProbs[D.target])} → ${pct(V.target_prob)} with ${what}`
    + `${V.top1 !== D.target ? ` · top-1 now ${className(app, V.top1)}` : ""}`);
}

/** One finding of the analysis: a card with its image that applies its set when clicked, or a disabled one saying why it is missing. */
function findingCard(app, f, thumb) {
  const { D } = app;
  const card = elem("button", `xw-finding xw-finding-${f.kind}`);
  card.type = "button";
  card.dataset.kind = f.kind;
  if (f.image && D) {
    const P = pixelPanel(D.W, D.H, thumb, `finding-${f.kind}`);
    showRGB(P, bytesOf(f.image));
    card.appendChild(P.canvas);
    card.append(elem("div", "xw-caption", f.title), elem("div", null, f.kind === "smallest_keep"
      ? `keep ${numbers(f.kept)} (occlude ${numbers(f.occluded)})` : `occlude ${numbers(f.occluded)}`),
    elem("div", "xw-sub", `p(${className(app, D.target)}) ${pct(D.baseProbs[D.target])} → ${pct(f.target_prob)} (${points(f.change)})`),
    elem("div", "xw-sub", `top-1: ${className(app, f.top1)}${f.exhaustive ? "" : " · best of those evaluated"}`));
    card.dataset.occluded = JSON.stringify(f.occluded);
    card.title = "click to apply this set";
  } else {
    card.disabled = true;
    const P = elem("canvas");
    P.width = P.height = 1;
    P.style.width = P.style.height = `${thumb}px`;
    card.append(P, elem("div", "xw-caption", f.title), elem("div", "xw-sub", f.missing || "not found"));
  }
  return card;
}

export function drawFindings(app) {
  const { D, ui } = app;
  ui.findings.replaceChildren();
  const A = app.model.get("_analysis") || {};
  if (!A.findings) {
    ui.anaSub.textContent = D && D.n ? "Analyse occludes sets of features (forward passes only) to find which matter." : "";
    return;
  }
  const thumb = Math.round(Math.max(96, num(app, "size", 256)) / 2.5);
  for (const f of A.findings) ui.findings.appendChild(findingCard(app, f, thumb));
  ui.anaSub.textContent = `${A.evaluated} sets evaluated${A.exhaustive ? " (every subset: exact answers)" : " (budget reached: sampled)"}`;
}
