// The grid, fitted to the width the widget is given: a label column, then per group of images
// their titles and every layer row (panels) and token row (chips) of those images.
import { elem, getNum } from "../lib/dom.js";
import { displaySize, scaledImage, makePanel, fmtBytes, fitLines, fontOf } from "../lib/panels.js";
import { fitPanels, availableWidth } from "../lib/fit.js";
import { paint } from "./draw.js";

export const GAP = 8; // px between panel columns
export const GRID_PAD = 4; // px of padding around the grid (room for its focus outline)
const MIN_PANEL = 96; // px: the smallest panel the images are shrunk to before they wrap into groups

const TOKEN_ABBREVIATIONS = new Map([["class", "cls"], ["distillation", "dist"]]);

/** A chip's label: "cls", "dist", "r1" for "register 1", "p0" for "prefix 0", else the first 4 letters. */
function shortTokenName(name) {
  if (TOKEN_ABBREVIATIONS.has(name)) return TOKEN_ABBREVIATIONS.get(name);
  const numbered = /^(register|prefix) (\d+)$/.exec(name);
  return numbered ? `${numbered[1][0]}${numbered[2]}` : name.slice(0, 4);
}

/** The chips of image n's prefix tokens at token row j, at most `width` px wide. */
function tokenStrip(view, L, j, n, width) {
  const strip = elem("div", "xw-tokens");
  strip.style.maxWidth = `${width}px`;
  strip.setAttribute("role", "group");
  strip.setAttribute("aria-label", `prefix tokens of image ${n} at ${L.name}`);
  L.prefixNames.forEach((name, k) => {
    const chip = elem("button", "xw-token");
    chip.type = "button";
    Object.assign(chip.dataset, { layer: String(j), image: String(n), token: String(k) });
    chip.title = `${name} token · hover: compare · click: pin / unpin`;
    chip.setAttribute("aria-label", `${name} token of image ${n}`);
    const swatch = elem("span", "xw-chip");
    chip.append(swatch, elem("span", "xw-chip-label", shortTokenName(name)));
    view.chips.push({ chip, swatch, j, n, k, bg: "" });
    strip.appendChild(chip);
  });
  return strip;
}

/** Layer j's row label: its name and grid size (the channel count is in the details line). */
function rowLabel(L, j, group, cap) {
  const label = elem("div", "xw-rowlabel");
  label.appendChild(elem("span", "xw-layername", L.name));
  const g0 = L.grids[0];
  label.appendChild(elem("span", "xw-shape", g0 ? `${g0.h}×${g0.w}` : ""));
  Object.assign(label.dataset, { layer: String(j), group: String(group) });
  label.style.maxWidth = `${cap}px`;
  return label;
}

/** The label column's width, measured in the grid (labels of one group stand in for all). */
function labelColumnWidth(grid, labels) {
  grid.style.gridTemplateColumns = "max-content";
  grid.append(...labels);
  const width = Math.ceil(Math.max(0, ...labels.map((l) => l.getBoundingClientRect().width)));
  grid.replaceChildren();
  return width;
}

/** fitPanels for N images in `room` px beside a label column of `labelW` px: {size, perRow, rows}. */
const fitFor = (D, room, labelW, largest) =>
  fitPanels(room - 2 * GRID_PAD, D.images.length, largest, { min: MIN_PANEL, gap: GAP, fixed: labelW + GAP + 1 });

/** Empty cells that complete a group's short row. */
function fill(grid, k, cls) {
  for (let i = 0; i < k; i++) grid.appendChild(elem("div", `xw-fill${cls}`));
}

/** Image n's title: two lines at most, wrapped, or shortened with the full title on hover; never cut. */
function titleCell(title, width, font, n, g, start) {
  const t = elem("div", `xw-title${start}`, fitLines(title, width, font, 2));
  t.title = title;
  t.style.width = `${width}px`;
  Object.assign(t.dataset, { image: String(n), group: String(g) });
  return t;
}

/** Layer j's row of group g (`G`: layout() facts): its label, panels and, for a token layer, a chip row. */
function appendLayerRow(view, G, L, j, g, members) {
  const { grid } = view;
  grid.appendChild(g === 0 ? G.labels[j] : rowLabel(L, j, g, G.cap));
  for (const n of members) {
    const [W, H] = G.dims[n];
    const { h, w } = L.grids[n];
    const P = makePanel(W, H, w, h, { layer: String(j), image: String(n), group: String(g) });
    grid.appendChild(P.canvas);
    view.panels[j][n] = P;
  }
  fill(grid, G.perRow - members.length, "");
  if (!L.P) return;
  // prefix tokens are not patches: a row of chips of their own, under the panels
  grid.appendChild(elem("div", "xw-rowlabel xw-tokencaption", L.P > 1 ? "tokens" : "token"));
  for (const n of members) grid.appendChild(tokenStrip(view, L, j, n, G.dims[n][0]));
  fill(grid, G.perRow - members.length, "");
}

/** Group g: a corner, its images' titles, then every layer row for those images. */
function appendGroup(view, G, g) {
  const { grid, D } = view;
  const members = [];
  for (let n = g * G.perRow; n < Math.min(D.images.length, (g + 1) * G.perRow); n++) members.push(n);
  const start = g > 0 ? " xw-gstart" : "";
  const corner = elem("div", `xw-corner${start}`);
  corner.dataset.group = String(g);
  grid.appendChild(corner);
  for (const n of members) grid.appendChild(titleCell(D.images[n].title, G.dims[n][0], G.titleFont, n, g, start));
  fill(grid, G.perRow - members.length, start);
  D.layers.forEach((L, j) => appendLayerRow(view, G, L, j, g, members));
}

/**
 * Lay the grid out for the width available: panels as large as `size` and as the width
 * allows (fitPanels); images that do not fit in one row at MIN_PANEL px wrap into groups,
 * each group its titles then every layer row (and token row) of its images.
 */
export function layout(view) {
  const { D, grid, root } = view;
  grid.replaceChildren();
  view.panels = [];
  view.bases = [];
  view.chips = [];
  view.laidOut = null;
  if (!D) {
    root.dataset.layout = "";
    view.details.set("layout", "");
    return;
  }
  const largest = Math.max(1, Math.round(getNum(view.model, "size", 256)));
  const N = D.images.length;
  const room = availableWidth(root);
  const cap = room > 0 ? Math.max(72, Math.floor(room * 0.3)) : 400; // a long layer name wraps
  const labels = D.layers.map((L, j) => rowLabel(L, j, 0, cap));
  const labelW = room > 0 ? labelColumnWidth(grid, labels) : 0;
  // not in the document yet (no width): one row at `size` until onWidth reports one
  const { size, perRow, rows } = room > 0 ? fitFor(D, room, labelW, largest) : { size: largest, perRow: N, rows: 1 };
  grid.style.gridTemplateColumns = `auto repeat(${perRow}, max-content)`;
  const dims = D.images.map((im) => displaySize(im.W0, im.H0, size));
  view.bases = D.images.map((im, n) => scaledImage(im, ...dims[n]));
  view.panels = D.layers.map(() => new Array(N));
  const G = { dims, perRow, labels, cap, titleFont: fontOf(root, 600) };
  for (let g = 0; g < rows; g++) appendGroup(view, G, g);
  view.laidOut = { room, size, perRow, rows, labelW, largest };
  announceLayout(view);
}

/** The layout chosen, on the root (data-layout, JSON) and in the details line. */
function announceLayout(view) {
  const { room, size, perRow, rows, largest } = view.laidOut;
  view.root.dataset.layout = JSON.stringify({ groups: rows, perRow, size, width: room });
  const how = rows > 1 ? `${rows} groups of up to ${perRow} images, each with every layer` : "one row of images";
  view.details.set("layout", `layout: ${how}; panels ${size} px (size=${largest} is the largest)${room ? ` for ${room} px` : ""}`);
}

/** The details line's data facts: each layer's grid and channels, and what the view ships. */
export function describeData(view) {
  const { D, details } = view;
  if (!D) {
    details.set("layers", "");
    details.set("payload", "");
    return;
  }
  const shapes = D.layers.map((L) => {
    const g0 = L.grids[0];
    return `${L.name} ${g0.h}×${g0.w} cells × ${L.C} channels${L.P ? ` + ${L.P} prefix token${L.P > 1 ? "s" : ""}` : ""}`;
  });
  details.set("layers", `layers: ${shapes.join("; ")}`);
  const vectors = D.codes ? "8-bit codes of the unit activation vectors, their scales" : "unit float16 activation vectors";
  details.set("payload", `ships ${fmtBytes(D.bytes)} (${vectors} and display pixels); `
    + `hover works on ${fmtBytes(D.dots.bytes)} (those vectors as shipped, queries and results) `
    + `on ${D.dots.threads === 2 ? "two threads" : "one thread"}`);
  view.root.dataset.hoverBytes = String(D.dots.bytes); // for benchmarks
  view.root.dataset.hoverThreads = String(D.dots.threads);
}

export function relayout(view) {
  layout(view);
  paint(view);
}

/** Lay out again when a new width changes the fit (panel size or images per row). */
export function onResize(view) {
  const { D, laidOut } = view;
  if (!D || !laidOut) return;
  const room = availableWidth(view.root);
  if (room === laidOut.room) return;
  const { labelW, largest, size, perRow } = laidOut;
  if (room > 0 && laidOut.room > 0) {
    const fit = fitFor(D, room, labelW, largest);
    if (fit.size === size && fit.perRow === perRow) {
      laidOut.room = room;
      announceLayout(view);
      return;
    }
  }
  relayout(view);
}
