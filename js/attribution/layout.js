// The grid's DOM, fitted to the width: an image column and one column per method, wrapped into
// blocks (each with the image again) when the columns do not fit; the legends atop the columns.
import { elem } from "../lib/dom.js";
import { fitPanels } from "../lib/fit.js";
import { ColorLegend } from "../lib/legend.js";
import { displaySize } from "../lib/panels.js";
import { fmtNumber } from "../lib/chart.js";
import { load, num, rowScaling, imageTitle } from "./state.js";
import { fmtTick, fmtBytes } from "./captions.js";

export const LIST_W = 150; // the top-5 list beside each image
export const GAP = 12; // between columns
const MIN_MAP = 80; // the smallest map a column shrinks to before the columns wrap
const CHAR_PX = 6.5; // widest digit of the legend's 11 px font (lib/legend.js)

function pixelCanvas(cls, w, h, cssW, cssH) {
  const c = elem("canvas", cls);
  c.width = w;
  c.height = h;
  c.style.width = `${cssW}px`;
  c.style.height = `${cssH}px`;
  if (cssW >= 2 * w) c.classList.add("xw-pixelated"); // crisp map pixels when much enlarged
  const ctx = c.getContext("2d");
  return { canvas: c, ctx, img: ctx.createImageData(w, h) };
}

/** A hidden box marking the hovered pixel over a canvas. */
function probeBox() {
  const pr = elem("div", "xw-probe");
  pr.hidden = true;
  return pr;
}

/**
 * Map size and blocks for the width: the image column (image + top-5 list) and the method
 * columns side by side at the preferred size, shrunk down to MIN_MAP; past that the method
 * columns wrap into further blocks, each with the image again. {size, per, blocks}
 */
export function plan(app) {
  const avail = Math.max(LIST_W + 2 * MIN_MAP, app.width - 16); // the root's 8 px padding each side
  const pref = Math.max(48, num(app, "size", 128));
  const n = app.M.methods.length;
  const fixed = LIST_W + 8;
  const all = fitPanels(avail, n + 1, pref, { min: MIN_MAP, gap: GAP, fixed });
  if (all.rows === 1) return { size: all.size, per: n, blocks: 1 };
  const fit = Math.max(1, Math.floor((avail - fixed + GAP) / (Math.min(MIN_MAP, pref) + GAP)) - 1);
  const blocks = Math.ceil(n / fit);
  const per = Math.ceil(n / blocks); // balanced: 8 columns as 4 + 4, not 6 + 2
  return { size: fitPanels(avail, per + 1, pref, { min: MIN_MAP, gap: GAP, fixed }).size, per, blocks };
}

/** Decode the shipped traits and build the grid for them: app.rows (per image) and app.heads (per method). */
export function build(app) {
  app.M = app.status.attempt("attribution maps", () => load(app.model.get("_images"), app.model.get("_probs"), app.model.get("_maps")));
  app.grid.replaceChildren();
  app.rows = [];
  app.heads = [];
  app.active = null;
  app.probe = null;
  const M = app.M;
  if (!M) return;
  const P0 = plan(app);
  app.planKey = JSON.stringify(P0);
  const [cssW, cssH] = displaySize(M.W, M.H, P0.size);
  const size = { cssW, cssH, colW: Math.max(cssW, MIN_MAP) };
  for (let i = 0; i < M.N; i++) app.rows.push({ images: [], cells: [], cssW, cssH });
  const blocks = [];
  for (let b = 0; b < P0.blocks; b++) {
    const methods = M.methods.map((m, j) => j).slice(b * P0.per, (b + 1) * P0.per);
    const block = elem("div", "xw-grid");
    block.dataset.block = String(b);
    block.style.gridTemplateColumns = `${cssW + (b === 0 ? 8 + LIST_W : 0)}px repeat(${methods.length}, ${size.colW}px)`;
    buildBlock(app, block, b, methods, size);
    blocks.push(block);
  }
  app.grid.replaceChildren(...blocks);
  drawLegends(app);
  describeLayout(app, P0, cssW);
}

function describeLayout(app, P0, cssW) {
  const { M, root, details } = app;
  const layout = P0.blocks === 1 ? `${M.methods.length} method columns beside the image, maps ${cssW} px`
    : `${M.methods.length} method columns in ${P0.blocks} blocks of up to ${P0.per} (too many to fit ${app.width} px), maps ${cssW} px`;
  root.dataset.layout = `${P0.blocks} block${P0.blocks > 1 ? "s" : ""} x ${P0.per} columns, ${cssW} px`;
  details.set("layout", `layout: ${layout}; the map size follows the output's width (preferred: size = ${num(app, "size", 128)} px)`);
  details.set("bytes", M.bytes != null ? `ships ${fmtBytes(M.bytes)}: images, maps and every slider position, so the page needs no kernel to scrub` : "");
}

/** One block: a header row (the image column, a legend per method), then a row per image. */
function buildBlock(app, block, b, methods, size) {
  const head0 = elem("div", "xw-colhead");
  head0.append(elem("div", "xw-caption", "image"));
  if (b === 0) head0.append(elem("div", "xw-sub", "top-5 classes: click to explain"));
  block.appendChild(head0);
  for (const j of methods) block.appendChild(methodHead(app, j, size.colW));
  for (let i = 0; i < app.M.N; i++) {
    block.appendChild(imageCell(app, i, b, size));
    for (const j of methods) block.appendChild(mapCell(app, i, j, size));
  }
}

function methodHead(app, j, colW) {
  const m = app.M.methods[j];
  const h = elem("div", "xw-colhead");
  h.dataset.method = m.key;
  h.dataset.col = String(j);
  const title = elem("div", "xw-caption", m.title);
  title.title = m.title;
  const L = new ColorLegend();
  h.append(title, L.el);
  app.heads[j] = { L, width: colW };
  return h;
}

/** Image i at the start of block b; the first block's also holds its title, explained classes and top-5. */
function imageCell(app, i, b, { cssW, cssH }) {
  const { M } = app;
  const row = app.rows[i];
  const first = elem("div", "xw-cell xw-image-cell");
  first.dataset.image = String(i);
  const frame = elem("div", "xw-frame");
  const P = pixelCanvas("xw-image", M.W, M.H, cssW, cssH);
  P.canvas.dataset.image = String(i);
  const pr = probeBox();
  frame.append(P.canvas, pr);
  first.appendChild(frame);
  row.images.push({ P, probe: pr });
  if (b === 0) {
    const side = elem("div", "xw-side");
    const title = elem("div", "xw-sub", imageTitle(M, i));
    const explains = elem("div", "xw-explains");
    const topBox = elem("div", "xw-top");
    topBox.setAttribute("role", "group");
    topBox.setAttribute("aria-label", `classes of image ${i}`);
    side.append(title, explains, topBox);
    first.appendChild(side);
    Object.assign(row, { title, explains, topBox, first });
  }
  return first;
}

/** Method j's map of image i, with its slider (and best-position track) or its caption. */
function mapCell(app, i, j, { cssW, cssH }) {
  const m = app.M.methods[j];
  const cell = elem("div", "xw-cell");
  cell.dataset.image = String(i);
  cell.dataset.method = m.key;
  const fr = elem("div", "xw-frame");
  const C = pixelCanvas("xw-panel", app.M.W, app.M.H, cssW, cssH);
  Object.assign(C.canvas.dataset, { image: String(i), method: m.key, col: String(j) });
  C.canvas.tabIndex = 0;
  C.canvas.setAttribute("role", "img");
  C.canvas.setAttribute("aria-label", `${m.title} for image ${i}`);
  const cp = probeBox();
  fr.append(C.canvas, cp);
  cell.appendChild(fr);
  const rec = { P: C, probe: cp, cell };
  if (m.slider) {
    const sl = m.slider;
    const input = Object.assign(elem("input", "xw-slider"), { type: "range", min: "0", max: String(sl.S - 1), step: "1" });
    Object.assign(input.dataset, { image: String(i), method: m.key, col: String(j) });
    input.setAttribute("aria-label", `${m.title} ${sl.name} for image ${i}`);
    const track = elem("div", "xw-track");
    track.hidden = !sl.best; // only a slider with a best position marks it
    const caption = elem("div", "xw-sub xw-slider-caption");
    cell.append(input, track, caption);
    Object.assign(rec, { input, track, caption });
  } else {
    const caption = elem("div", "xw-sub xw-cell-caption");
    cell.appendChild(caption);
    rec.caption = caption;
  }
  app.rows[i].cells[j] = rec;
  return cell;
}

/** Each method's legend: its column scale ±s, or, per image, ±s of each row (stated under each map). */
export function drawLegends(app) {
  if (!app.M) return;
  const perRow = rowScaling(app);
  app.M.methods.forEach((m, j) => {
    const h = app.heads[j];
    if (!h) return;
    const s3 = fmtTick(m.scale); // 3 digits fit a narrow column; the tooltip has more
    const ends = perRow ? ["−s", "+s"] : [`−${s3}`, `+${s3}`];
    const pad = Math.ceil((Math.max(...ends.map((t) => t.length)) * CHAR_PX) / 2);
    const bar = h.width - 2 * pad;
    const zero = bar >= 4 * pad + 2 * CHAR_PX; // a 0 tick only where it cannot touch the end labels
    const ticks = zero ? [-m.scale, 0, m.scale] : [-m.scale, m.scale];
    const labels = zero ? [ends[0], "0", ends[1]] : ends;
    h.L.draw(app.lut, -m.scale, m.scale, { ticks, labels, caption: perRow ? "row scale" : "column scale", width: bar });
    h.L.el.title = perRow ? `each map on ± its own image's ${m.rule}${m.slider ? " over its slider positions" : ""}; colours compare within a map only`
      : `one fixed scale for the whole column: ±${fmtNumber(m.scale)}, the ${m.rule} over all images${m.slider ? " and slider positions" : ""}`;
  });
}
