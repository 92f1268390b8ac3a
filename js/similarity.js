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
import { bytesOf } from "./lib/tensor.js";
import { DotArena, arenaBytes } from "./lib/simdot.js";
import { loadFactors, fillFactorPixels } from "./lib/factors.js";
import { lutIndex } from "./lib/colormap.js";
import { prefixNames } from "./lib/tokens.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { headerControls, bindControls, loadColormap, vrangeOf } from "./lib/controls.js";
import {
  OUTLINE, WORST, clampInt, displaySize, scaledImage, makePanel, drawBase, drawOverlay, outlineCell, colourRange, fmtBytes,
  fitLines, fontOf,
} from "./lib/panels.js";
import { onWidth, fitPanels, detailsLine } from "./lib/fit.js";
import { frameQueue, listenMoves, isPanel, leavesPanels, dispatchPaint, pinKeys } from "./lib/hover.js";

const GAP = 8; // px between panel columns
const GRID_PAD = 4; // px of padding around the grid (room for its focus outline)
const MIN_PANEL = 96; // px: the smallest panel the images are shrunk to before they wrap into groups

/** What the similarity numbers are, for the legend caption (`_data.similarity`). */
const SIMILARITY_NAMES = { cosine: "cosine similarity", dot: "dot product", centred: "cosine after centring" };


function fmtTick(v) {
  if (!Number.isFinite(v)) return String(v);
  const s = (+v.toFixed(3)).toString();
  return s === "-0" ? "0" : s;
}

const TOKEN_ABBREVIATIONS = new Map([["class", "cls"], ["distillation", "dist"]]);

/** A chip's label: "cls", "dist", "r1" for "register 1", "p0" for "prefix 0", else the first 4 letters. */
function shortTokenName(name) {
  if (TOKEN_ABBREVIATIONS.has(name)) return TOKEN_ABBREVIATIONS.get(name);
  const numbered = /^(register|prefix) (\d+)$/.exec(name);
  return numbered ? `${numbered[1][0]}${numbered[2]}` : name.slice(0, 4);
}

function fmtSim(v) {
  return Number.isFinite(v) ? v.toFixed(3) : String(v);
}

/** The [h, w, C] or [P, C] shape of a tensor payload, checked to have `rank` dimensions. */
function shapeOf(t, rank, what) {
  const shape = t && Array.isArray(t.shape) ? t.shape.map(Number) : [];
  if (shape.length !== rank || !shape.every((d) => d >= 0)) throw new Error(`${what} has shape [${shape}]`);
  return shape;
}

/** The one value of `values` (all images' channel or token counts), else a throw. */
function common(values, what) {
  if (values.some((v) => v !== values[0])) throw new Error(`${what} differs between images`);
  return values.length ? values[0] : 0;
}

/** Pixels of `_data.images`. */
function loadImages(raw) {
  if (!raw || !Array.isArray(raw.images)) throw new Error("_data.images is missing");
  return raw.images.map((im, n) => {
    const p = im && im.pixels;
    if (!p || !Array.isArray(p.shape)) throw new Error(`image ${n}: pixels tensor missing`);
    const [H0, W0, ch = 1] = p.shape.map(Number);
    if (!(H0 > 0 && W0 > 0) || ![1, 3, 4].includes(ch) || p.shape.length > 3) {
      throw new Error(`image ${n}: pixels must have shape [H, W, 3], got [${p.shape}]`);
    }
    const bytes = bytesOf(p);
    if (bytes.length < H0 * W0 * ch) throw new Error(`image ${n}: pixel data too short`);
    return { title: im.title == null ? `image ${n}` : String(im.title), W0, H0, ch, bytes };
  });
}

/** One `_data.layers` entry checked: its grids, channel count and prefix tokens (P may be 0). */
function layerSpec(L, k, N) {
  const name = L && L.name != null ? String(L.name) : `layer ${k}`;
  const acts = L && Array.isArray(L.acts) ? L.acts : [];
  if (acts.length !== N) throw new Error(`layer ${name}: ${acts.length} activation tensors for ${N} images`);
  const shapes = acts.map((a, n) => shapeOf(a, 3, `layer ${name}, image ${n}: activations [h, w, C]`));
  if (shapes.some((s) => !s.every((d) => d > 0))) throw new Error(`layer ${name}: empty activations`);
  const C = common(shapes.map((s) => s[2]), `layer ${name}: channel count`);
  const prefix = L && Array.isArray(L.prefix) ? L.prefix : [];
  if (prefix.length && prefix.length !== N) throw new Error(`layer ${name}: ${prefix.length} prefix tensors for ${N} images`);
  const tokenShapes = prefix.map((t, n) => shapeOf(t, 2, `layer ${name}, image ${n}: prefix tokens [P, C]`));
  if (tokenShapes.some((s) => s[1] !== C)) throw new Error(`layer ${name}: prefix tokens need ${C} channels`);
  const P = common(tokenShapes.map((s) => s[0]), `layer ${name}: prefix token count`);
  const names = prefixNames(L && L.prefix_names, P);
  const grids = shapes.map(([h, w]) => ({ h, w }));
  const worst = L && L.reduction && Array.isArray(L.reduction.worst) ? L.reduction.worst : [];
  return { name, acts, grids, C, prefix, P, prefixNames: names, cells: grids.reduce((s, g) => s + g.h * g.w, 0), worst };
}

/**
 * A layer's vectors in the arena, all images' cells then all their prefix tokens (each
 * contiguous, so one dots() call serves each), with the query vector and the output buffers.
 */
function packLayer(arena, spec, N) {
  const { acts, grids, C, cells, prefix, P } = spec;
  const all = arena.allocHalf(cells * C);
  const tokens = arena.allocHalf(N * P * C);
  const q = arena.allocF32(C);
  const out = arena.allocF32(cells);
  const tokenOut = arena.allocF32(N * P);
  const vecs = [];
  const sims = [];
  let start = 0;
  grids.forEach((g, n) => {
    const count = g.h * g.w;
    const dst = all.subarray(start * C, (start + count) * C);
    arena.fillHalves(dst, acts[n]);
    vecs.push(dst);
    sims.push(out.subarray(start, start + count));
    start += count;
  });
  prefix.forEach((t, n) => arena.fillHalves(tokens.subarray(n * P * C, (n + 1) * P * C), t));
  return { ...spec, acts: null, prefix: null, all, tokens, q, out, tokenOut, vecs, sims, shaded: false };
}

/** Decode and validate `_data`; activations go into one DotArena (contiguous per layer). */
function loadData(raw) {
  const images = loadImages(raw);
  const N = images.length;
  const specs = (Array.isArray(raw.layers) ? raw.layers : []).map((L, k) => layerSpec(L, k, N));
  // One arena, as many bytes as the float16 payload plus the small float32 buffers: per layer
  // [cells f16][prefix tokens f16][query f32][cell sims f32][token sims f32].
  const halves = specs.flatMap((L) => [L.cells * L.C, N * L.P * L.C]);
  const f32 = specs.flatMap((L) => [L.C, L.cells, N * L.P]);
  const arena = new DotArena(arenaBytes(halves, f32));
  const shipped = (ts) => ts.reduce((sum, t) => sum + bytesOf(t).length, 0);
  const bytes = images.reduce((sum, im) => sum + im.bytes.length, 0)
    + specs.reduce((sum, L) => sum + shipped(L.acts) + shipped(L.prefix), 0);
  const layers = specs.map((spec) => packLayer(arena, spec, N));
  const similarity = raw.similarity == null ? "cosine" : String(raw.similarity);
  return { images, layers, arena, bytes, similarity, key: null, smin: NaN, smax: NaN };
}

/** A query of a prefix token ({image, layer, token}) rather than of a patch ({image, layer, row, col}). */
const isToken = (q) => !!q && q.token !== undefined;

/** Query cell (row, col) at layer j for internal patch query q (layer index, image index). */
function cellAt(D, q, j) {
  if (j === q.layer) return [q.row, q.col];
  const gk = D.layers[q.layer].grids[q.image];
  const gj = D.layers[j].grids[q.image];
  // Cell under the centre of the query cell: floor((r + 0.5) / h_k * h_j), evaluated as
  // ((r + 0.5) * h_j) / h_k so that exact boundaries stay exact (same as Python's synced_cell).
  return [
    Math.min(Math.floor(((q.row + 0.5) * gj.h) / gk.h), gj.h - 1),
    Math.min(Math.floor(((q.col + 0.5) * gj.w) / gk.w), gj.w - 1),
  ];
}

/**
 * Copy layer j's query vector for q into L.q; false when q shades nothing there. A patch
 * query shades every layer (at the same image location); a token query only its own layer,
 * since other layers have no such token.
 */
function loadQueryVector(D, q, j) {
  const L = D.layers[j];
  let src;
  let base;
  if (isToken(q)) {
    if (j !== q.layer) return false;
    src = L.tokens;
    base = (q.image * L.P + q.token) * L.C;
  } else {
    const [r, c] = cellAt(D, q, j);
    src = L.vecs[q.image];
    base = (r * L.grids[q.image].w + c) * L.C;
  }
  D.arena.loadQuery(L.q, src, base, L.C);
  return true;
}

/** Fill every layer's similarity buffers for query q (skipped when unchanged); the range is the cells'. */
function computeSims(D, q) {
  const key = `${q.image},${q.layer},${q.row},${q.col},${q.token}`;
  if (D.key === key) return;
  let smin = Infinity;
  let smax = -Infinity;
  D.layers.forEach((L, j) => {
    L.shaded = loadQueryVector(D, q, j);
    if (!L.shaded) return;
    D.arena.dots(L.q, L.all, L.C, L.cells, L.out);
    if (L.P) D.arena.dots(L.q, L.tokens, L.C, L.tokenOut.length, L.tokenOut);
    const out = L.out;
    for (let i = 0; i < out.length; i++) {
      const s = out[i];
      if (s < smin) smin = s;
      if (s > smax) smax = s;
    }
  });
  D.key = key;
  D.smin = smin;
  D.smax = smax;
}

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(model, el, "xw-similarity", {
    vars: { gap: GAP, "grid-pad": GRID_PAD, worst: WORST, outline: OUTLINE },
  });

  // ------------------------------------------------------------------ DOM
  const header = elem("div", "xw-header");
  const controls = headerControls();
  const { opInput } = controls;
  const autoLabel = elem("label");
  const autoInput = elem("input", "xw-auto-range");
  autoInput.type = "checkbox";
  autoLabel.append(autoInput, document.createTextNode("auto range"));
  const worstLabel = elem("label", "xw-worst-toggle");
  const worstInput = elem("input");
  worstInput.type = "checkbox";
  worstLabel.append(worstInput, document.createTextNode("worst cells"));
  worstLabel.title = "outline (magenta) the query cells whose maps the channel reduction keeps worst";
  worstLabel.hidden = true;
  header.append(controls.cmapLabel, controls.opLabel, autoLabel, worstLabel, controls.legend.el);

  // NMF legend: caption + one toggle chip per group; shown only while `_factors` is set.
  const factorBar = elem("div", "xw-factors");
  factorBar.setAttribute("role", "group");
  factorBar.hidden = true;
  const factorCaption = elem("span", "xw-factor-caption");
  const factorChips = elem("span", "xw-factor-chips");
  factorBar.append(factorCaption, factorChips);

  const hint = hintLine([
    ["", "hover: compare · click: pin / unpin · focus the grid, then "],
    ["kbd", "←↑↓→"],
    ["", " move & pin · "],
    ["kbd", "["],
    ["", " "],
    ["kbd", "]"],
    ["", " previous / next image · "],
    ["kbd", "Esc"],
    ["", " unpin"],
  ]);

  const grid = elem("div", "xw-grid");
  grid.tabIndex = 0;
  grid.setAttribute("role", "application");
  grid.setAttribute("aria-label", "similarity grid");
  grid.setAttribute("data-lm-suppress-shortcuts", "true");
  const details = detailsLine();
  root.append(header, factorBar, hint, grid, status.readout, details.el, status.errorBox, status.messageBox);
  el.appendChild(root);

  // ---------------------------------------------------------------- state
  let D = null; // decoded data
  let panels = []; // panels[j][n] = {canvas, ctx, W, H, small, sctx, img, px}
  let chips = []; // one per prefix token of each image of each token row: {chip, swatch, j, n, k, bg}
  let bases = []; // bases[n]: canvas holding the image scaled to its panel backing size
  let pinned = null; // internal query {image, layer (index), row, col} or {image, layer, token}
  let hover = null; // internal query under the pointer or the keyboard focus (same shapes) or null
  let factors = null; // loadFactors() result + tints: one small canvas per image (the factor row's tint)
  let lut = null;

  function toExternal(q) {
    if (!q || !D) return null;
    const layer = D.layers[q.layer].name;
    return isToken(q) ? { image: q.image, layer, token: q.token } : { image: q.image, layer, row: q.row, col: q.col };
  }

  function validateQuery(q) {
    if (!D || !q || typeof q !== "object") return null;
    let layer = -1;
    if (typeof q.layer === "string") layer = D.layers.findIndex((L) => L.name === q.layer);
    else if (Number.isInteger(q.layer)) layer = q.layer;
    const image = q.image;
    const { row, col } = q;
    if (!(layer >= 0 && layer < D.layers.length)) return null;
    if (!(Number.isInteger(image) && image >= 0 && image < D.images.length)) return null;
    if (q.token !== undefined) {
      const ok = Number.isInteger(q.token) && q.token >= 0 && q.token < D.layers[layer].P;
      return ok ? { image, layer, token: q.token } : null;
    }
    const g = D.layers[layer].grids[image];
    if (!(Number.isInteger(row) && Number.isInteger(col) && row >= 0 && col >= 0 && row < g.h && col < g.w)) return null;
    return { image, layer, row, col };
  }

  const sameQuery = (a, b) =>
    a === b ||
    (!!a && !!b && a.image === b.image && a.layer === b.layer && a.row === b.row && a.col === b.col && a.token === b.token);

  function setQuery(q) {
    model.set("query", toExternal(q));
    model.save_changes();
    syncPinned();
  }

  // ------------------------------------------------------------- drawing
  /** The range the colours are drawn over (the diverging map's symmetric about 0: colourRange). */
  function currentRange(active) {
    const auto = model.get("auto_range") && active && D && Number.isFinite(D.smin);
    const [lo, hi] = auto ? [D.smin, D.smax] : vrangeOf(model);
    return colourRange(model.get("colormap"), lo, hi);
  }

  /** The legend's caption: what the numbers are and, for the diverging map, what its neutral colour means. */
  function legendCaption() {
    const what = (D && SIMILARITY_NAMES[D.similarity]) || "similarity";
    if (model.get("colormap") !== "diverging") return what;
    return `${what} · grey centre = 0: orthogonal vectors (red: alike, blue: opposed)`;
  }

  function updateLut() {
    lut = loadColormap(model, controls);
  }

  function updateLegend(active) {
    const caption = legendCaption();
    if (model.get("auto_range") && !active) {
      controls.legend.draw(lut, 0, 1, { ticks: [0.5], labels: ["auto range"], caption });
      return;
    }
    const [lo, hi] = currentRange(active);
    controls.legend.draw(lut, lo, hi, { fmt: fmtTick, caption });
  }

  function drawPanel(j, n, active, lo, hi, alpha) {
    const P = panels[j][n];
    drawBase(P, bases[n]);
    if (factors && j === factors.row) {
      // one texel per cell, nearest neighbour: the same cell geometry as the similarity overlay
      P.ctx.imageSmoothingEnabled = false;
      P.ctx.drawImage(factors.tints[n], 0, 0, P.w, P.h, 0, 0, P.canvas.width, P.canvas.height);
    }
    if (active && D.layers[j].shaded) {
      drawOverlay(P, D.layers[j].sims[n], lut, lo, hi, alpha);
      if (!isToken(active) && n === active.image) outlineCell(P, ...cellAt(D, active, j));
    }
    if (model.get("show_worst")) {
      for (const w of D.layers[j].worst) if (w.image === n && w.row !== undefined) outlineCell(P, w.row, w.col, WORST);
    }
  }

  /** Fill each chip with its token's similarity to the query (empty where its row is not shaded). */
  function paintChips(active, lo, hi) {
    for (const c of chips) {
      const L = D.layers[c.j];
      const i = lutIndex(active && L.shaded ? L.tokenOut[c.n * L.P + c.k] : NaN, lo, hi);
      const bg = i < 0 ? "" : `rgb(${lut.rgb[3 * i]}, ${lut.rgb[3 * i + 1]}, ${lut.rgb[3 * i + 2]})`;
      if (bg !== c.bg) c.swatch.style.backgroundColor = c.bg = bg;
      const worst = model.get("show_worst") && D.layers[c.j].worst.some((w) => w.image === c.n && w.token === c.k);
      c.chip.classList.toggle("xw-worst", worst);
      const isQuery = isToken(active) && active.layer === c.j && active.image === c.n && active.token === c.k;
      c.chip.classList.toggle("xw-query", isQuery);
      c.chip.setAttribute("aria-pressed", String(isQuery && active === pinned));
    }
  }

  /** Redraw everything that depends on the active query; returns the active query. */
  function paint() {
    if (!D) return null;
    const active = pinned || hover;
    if (active) computeSims(D, active);
    const [lo, hi] = currentRange(active);
    const alpha = Math.min(1, Math.max(0, getNum(model, "opacity", 0.7)));
    for (let j = 0; j < panels.length; j++) {
      for (let n = 0; n < panels[j].length; n++) drawPanel(j, n, active, lo, hi, alpha);
    }
    paintChips(active, lo, hi);
    updateLegend(active);
    updateReadout();
    markPainted();
    return active;
  }

  let pointerCell = null; // cell or token under the pointer, kept for the readout while pinned

  function describe(q) {
    const L = D.layers[q.layer];
    if (isToken(q)) return `${L.prefixNames[q.token]} token of image ${q.image} · layer ${L.name}`;
    return `layer ${L.name} · image ${q.image} · cell (${q.row}, ${q.col})`;
  }

  /** The active query's similarity at cell or token q; null where q's row is not shaded. */
  function valueAt(q) {
    const L = D.layers[q.layer];
    if (!L.shaded) return null;
    return isToken(q) ? L.tokenOut[q.image * L.P + q.token] : L.sims[q.image][q.row * L.grids[q.image].w + q.col];
  }

  function updateReadout() {
    const parts = [];
    if (D && pinned) parts.push(`pinned: ${describe(pinned)}`);
    const s = D && pointerCell && (pinned || hover) ? valueAt(pointerCell) : null;
    if (s !== null) parts.push(`${pinned ? "pointer: " : ""}${describe(pointerCell)} · similarity ${fmtSim(s)}`);
    status.setReadout(parts.join("   |   "));
  }

  // --------------------------------------------------------------- layout
  /** The chips of image n's prefix tokens at token row j, at most `width` px wide. */
  function tokenStrip(L, j, n, width) {
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
      chips.push({ chip, swatch, j, n, k, bg: "" });
      strip.appendChild(chip);
    });
    return strip;
  }

  /** Content width of the root (CSS px), 0 while it is not in the document. */
  function availableWidth() {
    if (!root.isConnected) return 0;
    const cs = getComputedStyle(root);
    return Math.max(0, Math.floor(root.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)));
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

  let laidOut = null; // the layout shown: {room, size, perRow, rows, labelW, largest}

  /** fitPanels for N images in `room` px beside a label column of `labelW` px: {size, perRow, rows}. */
  const fitFor = (room, labelW, largest) =>
    fitPanels(room - 2 * GRID_PAD, D.images.length, largest, { min: MIN_PANEL, gap: GAP, fixed: labelW + GAP + 1 });

  /**
   * Lay the grid out for the width available: panels as large as `size` and as the width
   * allows (fitPanels); images that do not fit in one row at MIN_PANEL px wrap into groups,
   * each group its titles then every layer row (and token row) of its images.
   */
  function layout() {
    grid.replaceChildren();
    panels = [];
    bases = [];
    chips = [];
    laidOut = null;
    if (!D) {
      root.dataset.layout = "";
      details.set("layout", "");
      return;
    }
    const largest = Math.max(1, Math.round(getNum(model, "size", 256)));
    const N = D.images.length;
    const room = availableWidth();
    const cap = room > 0 ? Math.max(72, Math.floor(room * 0.3)) : 400; // a long layer name wraps
    // the label column's width, measured (labels of one group stand in for all)
    const labels = D.layers.map((L, j) => rowLabel(L, j, 0, cap));
    let labelW = 0;
    if (room > 0) {
      grid.style.gridTemplateColumns = "max-content";
      grid.append(...labels);
      labelW = Math.ceil(Math.max(0, ...labels.map((l) => l.getBoundingClientRect().width)));
      grid.replaceChildren();
    }
    // not in the document yet (no width): one row at `size` until onWidth reports one
    const { size, perRow, rows } = room > 0 ? fitFor(room, labelW, largest) : { size: largest, perRow: N, rows: 1 };
    grid.style.gridTemplateColumns = `auto repeat(${perRow}, max-content)`;
    const dims = D.images.map((im) => displaySize(im.W0, im.H0, size));
    bases = D.images.map((im, n) => scaledImage(im, ...dims[n]));
    panels = D.layers.map(() => new Array(N));
    const titleFont = fontOf(root, 600);
    const fill = (k, cls) => {
      for (let i = 0; i < k; i++) grid.appendChild(elem("div", `xw-fill${cls}`));
    };
    for (let g = 0; g < rows; g++) {
      const members = [];
      for (let n = g * perRow; n < Math.min(N, (g + 1) * perRow); n++) members.push(n);
      const start = g > 0 ? " xw-gstart" : "";
      const corner = elem("div", `xw-corner${start}`);
      corner.dataset.group = String(g);
      grid.appendChild(corner);
      for (const n of members) {
        const { title } = D.images[n];
        // two lines at most: wrapped, or shortened with the full title on hover; never cut
        const t = elem("div", `xw-title${start}`, fitLines(title, dims[n][0], titleFont, 2));
        t.title = title;
        t.style.width = `${dims[n][0]}px`;
        Object.assign(t.dataset, { image: String(n), group: String(g) });
        grid.appendChild(t);
      }
      fill(perRow - members.length, start);
      D.layers.forEach((L, j) => {
        grid.appendChild(g === 0 ? labels[j] : rowLabel(L, j, g, cap));
        for (const n of members) {
          const [W, H] = dims[n];
          const { h, w } = L.grids[n];
          const P = makePanel(W, H, w, h, { layer: String(j), image: String(n), group: String(g) });
          grid.appendChild(P.canvas);
          panels[j][n] = P;
        }
        fill(perRow - members.length, "");
        if (!L.P) return;
        // prefix tokens are not patches: a row of chips of their own, under the panels
        grid.appendChild(elem("div", "xw-rowlabel xw-tokencaption", L.P > 1 ? "tokens" : "token"));
        for (const n of members) grid.appendChild(tokenStrip(L, j, n, dims[n][0]));
        fill(perRow - members.length, "");
      });
    }
    laidOut = { room, size, perRow, rows, labelW, largest };
    announceLayout();
  }

  /** The layout chosen, on the root (data-layout, JSON) and in the details line. */
  function announceLayout() {
    const { room, size, perRow, rows, largest } = laidOut;
    root.dataset.layout = JSON.stringify({ groups: rows, perRow, size, width: room });
    const how = rows > 1 ? `${rows} groups of up to ${perRow} images, each with every layer` : "one row of images";
    details.set("layout", `layout: ${how}; panels ${size} px (size=${largest} is the largest)${room ? ` for ${room} px` : ""}`);
  }

  /** The details line's data facts: each layer's grid and channels, and what the view ships. */
  function describeData() {
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
    details.set("payload", `ships ${fmtBytes(D.bytes)} (unit float16 activation vectors and display pixels); `
      + `hover works on ${fmtBytes(D.arena.used)} (those vectors as shipped, query and results)`);
    root.dataset.hoverBytes = String(D.arena.used); // for benchmarks
  }

  /** Lay out again when a new width changes the fit (panel size or images per row). */
  function onResize() {
    if (!D || !laidOut) return;
    const room = availableWidth();
    if (room === laidOut.room) return;
    const { labelW, largest, size, perRow } = laidOut;
    if (room > 0 && laidOut.room > 0) {
      const fit = fitFor(room, labelW, largest);
      if (fit.size === size && fit.perRow === perRow) {
        laidOut.room = room;
        announceLayout();
        return;
      }
    }
    relayout();
  }

  // -------------------------------------------------------------- factors
  function focusedFactor() {
    const f = model.get("factor_focus");
    return factors && Number.isInteger(f) && f >= 0 && f < factors.k ? f : -1;
  }

  /** Load `_factors` for the current data: the legend and one small canvas per image. */
  function setFactors(raw) {
    factors = D ? status.attempt("factor groups", () => loadFactors(raw, D.layers)) : null;
    factorBar.hidden = !factors;
    factorChips.replaceChildren();
    if (!factors) return;
    const grids = D.layers[factors.row].grids;
    factors.tints = grids.map(({ h, w }) => {
      const canvas = elem("canvas");
      canvas.width = w;
      canvas.height = h;
      return canvas;
    });
    factorCaption.textContent = `NMF groups of ${factors.name}`;
    factorBar.setAttribute("aria-label", factorCaption.textContent);
    factorChips.append(
      ...factors.labels.map((label, f) => {
        const chip = elem("button", "xw-factor-chip");
        chip.type = "button";
        chip.dataset.factor = String(f);
        const swatch = elem("span", "xw-swatch");
        swatch.style.background = `rgb(${factors.colors[f].join(", ")})`;
        chip.append(swatch, elem("span", null, label));
        return chip;
      }),
    );
    fillFactorLayers();
  }

  /** Colour the factor canvases for the current `factor_focus` and mark the focused chip. */
  function fillFactorLayers() {
    if (!factors) return;
    const focus = focusedFactor();
    factors.tints.forEach((canvas, n) => {
      const fctx = canvas.getContext("2d");
      const img = fctx.createImageData(canvas.width, canvas.height);
      fillFactorPixels(img.data, factors, n, focus);
      fctx.putImageData(img, 0, 0);
    });
    factorBar.classList.toggle("xw-focused", focus >= 0);
    for (const chip of factorChips.children) {
      const pressed = Number(chip.dataset.factor) === focus;
      chip.setAttribute("aria-pressed", String(pressed));
      chip.title = pressed ? "show all groups" : "show this group alone";
    }
  }

  function rebuild(rawFactors) {
    hover = null;
    pointerCell = null;
    D = status.attempt("similarity widget", () => loadData(model.get("_data")));
    pinned = validateQuery(model.get("query"));
    layout();
    describeData();
    worstLabel.hidden = !D || !D.layers.some((L) => L.worst.length); // only when a row was reduced
    setFactors(rawFactors);
    paint();
  }

  function relayout() {
    layout();
    paint();
  }

  function syncPinned() {
    const q = validateQuery(model.get("query"));
    if (sameQuery(q, pinned)) return;
    pinned = q;
    paint();
  }

  function syncControls() {
    opInput.value = String(getNum(model, "opacity", 0.7));
    autoInput.checked = !!model.get("auto_range");
    worstInput.checked = !!model.get("show_worst");
  }

  // ---------------------------------------------------------------- hover
  const frames = frameQueue();

  function panelCell(ev) {
    const t = ev.target;
    if (!D || !isPanel(t)) return null;
    const j = Number(t.dataset.layer);
    const n = Number(t.dataset.image);
    const P = panels[j] && panels[j][n];
    if (!P) return null;
    const rect = t.getBoundingClientRect();
    let x = ev.clientX - rect.left;
    let y = ev.clientY - rect.top;
    if (rect.width > 0 && Math.abs(rect.width - P.W) > 0.01) x *= P.W / rect.width;
    if (rect.height > 0 && Math.abs(rect.height - P.H) > 0.01) y *= P.H / rect.height;
    return {
      image: n,
      layer: j,
      row: clampInt(Math.floor((y * P.h) / P.H), 0, P.h - 1),
      col: clampInt(Math.floor((x * P.w) / P.W), 0, P.w - 1),
    };
  }

  const chipOf = (node) => (node && node.closest ? node.closest(".xw-token") : null);
  const hoverable = (node) => isPanel(node) || !!chipOf(node);

  /** The token query of the chip holding `node`, or null. */
  function chipQuery(node) {
    const chip = chipOf(node);
    if (!chip) return null;
    const { layer, image, token } = chip.dataset;
    return validateQuery({ layer: Number(layer), image: Number(image), token: Number(token) });
  }

  const hitTest = (ev) => panelCell(ev) || chipQuery(ev.target);

  function processHover(ev, cell) {
    const t0 = performance.now();
    const before = pinned || hover;
    const beforePointer = pointerCell;
    pointerCell = cell;
    hover = cell;
    const active = pinned || hover;
    if (!sameQuery(before, active)) {
      paint();
      dispatchPaint(el, ev, t0, toExternal(active));
    } else if (!sameQuery(beforePointer, cell)) {
      updateReadout();
    }
  }

  const queueHover = (ev, cell) => frames.queue(() => processHover(ev, cell));
  listenMoves(listen, grid, (ev) => queueHover(ev, hitTest(ev)));
  listen(grid, "pointerout", (ev) => {
    if (leavesPanels(ev, grid, hoverable)) queueHover(ev, null);
  });
  // A focused chip queries its token like a hovered one (Enter / Space click it: pin).
  listen(grid, "focusin", (ev) => {
    const q = chipQuery(ev.target);
    if (q) queueHover(ev, q);
  });
  listen(grid, "focusout", (ev) => {
    const q = chipQuery(ev.target);
    if (q && sameQuery(q, hover) && !chipQuery(ev.relatedTarget)) queueHover(ev, null);
  });
  listen(grid, "click", (ev) => {
    const cell = hitTest(ev);
    if (!cell) return;
    pointerCell = cell;
    frames.drop();
    if (pinned) {
      hover = cell;
      setQuery(null);
    } else {
      setQuery(cell);
    }
  });
  const moveTo = (ev) => {
    if (!D || ev.target !== grid || D.images.length === 0 || D.layers.length === 0) return null;
    // from the pinned cell, else from the first cell of the pinned token's panel (or of the first panel)
    const q = pinned && !isToken(pinned)
      ? { ...pinned }
      : { image: pinned ? pinned.image : 0, layer: pinned ? pinned.layer : 0, row: 0, col: 0 };
    switch (ev.key) {
      case "ArrowUp":
        q.row -= 1;
        break;
      case "ArrowDown":
        q.row += 1;
        break;
      case "ArrowLeft":
        q.col -= 1;
        break;
      case "ArrowRight":
        q.col += 1;
        break;
      case "[":
      case "]": {
        const to = clampInt(q.image + (ev.key === "]" ? 1 : -1), 0, D.images.length - 1);
        const from = D.layers[q.layer].grids[q.image];
        const g = D.layers[q.layer].grids[to];
        q.row = Math.floor(((q.row + 0.5) * g.h) / from.h);
        q.col = Math.floor(((q.col + 0.5) * g.w) / from.w);
        q.image = to;
        break;
      }
      default:
        return null;
    }
    const g = D.layers[q.layer].grids[q.image];
    q.row = clampInt(q.row, 0, g.h - 1);
    q.col = clampInt(q.col, 0, g.w - 1);
    pointerCell = null;
    return q;
  };
  listen(root, "keydown", pinKeys(() => pinned, setQuery, moveTo));

  // ------------------------------------------------------------- controls
  bindControls(listen, model, controls);
  listen(autoInput, "change", () => {
    model.set("auto_range", autoInput.checked);
    model.save_changes();
  });
  listen(worstInput, "change", () => {
    model.set("show_worst", worstInput.checked);
    model.save_changes();
  });

  listen(factorChips, "click", (ev) => {
    const chip = ev.target.closest(".xw-factor-chip");
    if (!chip || !factors) return;
    const f = Number(chip.dataset.factor);
    model.set("factor_focus", f === focusedFactor() ? -1 : f);
    model.save_changes();
  });

  // New data makes the factors stale (Python resets `_factors` with it).
  onModel("change:_data", () => rebuild(null));
  onModel("change:_factors", () => {
    setFactors(model.get("_factors"));
    paint();
  });
  onModel("change:factor_focus", () => {
    fillFactorLayers();
    paint();
  });
  onModel("change:size", relayout);
  onModel("change:query", syncPinned);
  onModel("change:colormap", () => {
    updateLut();
    paint();
  });
  onModel("change:_colormaps", () => {
    updateLut();
    paint();
  });
  onModel("change:opacity", () => {
    syncControls();
    paint();
  });
  onModel("change:auto_range", () => {
    syncControls();
    paint();
  });
  onModel("change:show_worst", () => {
    syncControls();
    paint();
  });
  onModel("change:vrange", () => paint());

  updateLut();
  syncControls();
  rebuild(model.get("_factors"));
  life.add(onWidth(root, onResize));

  return () => {
    life.dispose();
    frames.dispose();
    root.remove();
    D = null;
    factors = null;
    panels = [];
    bases = [];
    chips = [];
  };
}

export default { render };
