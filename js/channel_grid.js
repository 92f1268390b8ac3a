// Channel grid (the Deep Visualization Toolbox of Yosinski et al. 2015) as an anywidget
// front end. All channels of one layer are tiles on one canvas; the browser normalises
// and colours them (lib/normalise.js), so images, normalisation, boost, gamma, zoom and
// pattern mode change without the kernel. The kernel is asked (through traits and
// messages) for a new layer, the back view, a dataset scan and activation maximisation.
//
// Synced traits (xai_widgets/widgets/channel_grid.py): _layer_list, _images, _acts,
// _probs, _back, _patches, _units, _visuals, _colormaps, _can_scan, progress, message,
// layer, image, selected, normalisation, vrange, boost, gamma, colormap, back_mode,
// back_filter, zoom, pattern, opacity, unit_objective, size; in a to_html page only, _no_kernel
// (lib/kernel.js).
//
// Layout: the width the output gives (lib/fit.js onWidth) decides the grid's width, so that the
// unit pane sits beside the grid; the layer list becomes a select above it when a column for it
// would squeeze the grid, and only a very narrow output puts the pane under the grid.
import { decode, bytesOf } from "./lib/tensor.js";
import { makeLut } from "./lib/colormap.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { progressControl } from "./lib/controls.js";
import { ColorLegend } from "./lib/legend.js";
import { clampInt, scaledImage, makePanel, drawBase, drawOverlay, fmtBytes } from "./lib/panels.js";
import { onWidth, detailsLine } from "./lib/fit.js";
import { frameQueue, listenMoves } from "./lib/hover.js";
import { normaliseInto, channelStats } from "./lib/normalise.js";
import { prefixNames } from "./lib/tokens.js";
import { tileGeometry, tileAt, tileCanvas, drawTiles, tileRect } from "./lib/tiles.js";
import { NEEDS_KERNEL, noKernel, kernelOnly } from "./lib/kernel.js";

const GAMMAS = [1, 0.7, 0.5, 0.3]; // DeepVis `t`
const BOOSTS = [0, 0.3, 0.5, 0.8, 1]; // DeepVis `T`
const BACK_CYCLE = [["off", "raw"], ["grad", "raw"], ["grad", "norm"], ["deconv", "raw"], ["guided", "raw"]];
const ZOOMS = ["unit", "back", "off"];
const NORMS = ["layer", "channel", "fixed"];
const SELECTED = "#80ff80"; // DeepVis cursor (.5, 1, .5)
const HOVER = "#ffff00";
const BADGES = { dead: "#e15759", constant: "#f28e2b" }; // Tableau 10's red and orange
const THUMB_PX = 48;
const GAP = 12; // px between the layer list, the grid and the unit pane
const PANE_PX = [248, 300]; // unit pane width: narrow outputs, outputs of WIDE_PX or more
const WIDE_PX = 1200;
const GRID_MIN = 240; // below this the grid cannot sit beside the pane: the pane goes under it
// The one number each pane takes of a unit's map with unit_objective "default" (DeepVis's choices,
// as the Python widget's DEFAULT_OBJECTIVES).
const DEFAULT_OBJECTIVES = { back: "sum", scan: "max", visualise: "mean" };
const OBJECTIVE_TEXT = { sum: "sum over space", mean: "spatial mean", max: "spatial max" };


const fmt = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3)) : String(v));

/** The badge of unit c from the scan summary `u`: "dead", "constant", "detector" (a concept above the IoU threshold) or null. */
const badgeOf = (u, c) => (u.dead[c] ? "dead" : u.constant[c] ? "constant" : u.concept && u.concept[c] ? "detector" : null);
/** Dead and constant badges have their own colours; a detector's is its concept's. */
const badgeColour = (u, c, kind) => (kind === "detector" ? u.concept_colour[u.concept[c]] : BADGES[kind]);

function shapeText(shape) {
  return Array.isArray(shape) ? shape.join("×") : "";
}

/** `_acts` -> {layer, signed, N, C, H, W, x: Float32Array N*C*H*W, prefix}. */
function loadActs(raw) {
  if (!raw || !raw.acts) return null;
  const shape = (raw.acts.shape || []).map(Number);
  if (shape.length !== 4 || !shape.every((d) => d > 0)) throw new Error(`activations must be N x C x H x W, got [${shape}]`);
  const [N, C, H, W] = shape;
  return { layer: String(raw.layer), signed: !!raw.signed, N, C, H, W, x: decode(raw.acts).data, prefix: loadPrefix(raw, N, C) };
}

/** A token layer's prefix tokens (class, register tokens...): {names, P, x: Float32Array N*P*C}, or null. */
function loadPrefix(raw, N, C) {
  if (!raw.prefix) return null;
  const shape = (raw.prefix.shape || []).map(Number);
  if (shape.length !== 3 || shape[0] !== N || shape[2] !== C) throw new Error(`prefix tokens must be ${N} x P x ${C}, got [${shape}]`);
  return { names: prefixNames(raw.prefix_names, shape[1]), P: shape[1], x: decode(raw.prefix).data };
}

/** `_images` -> [{bytes, W0, H0, ch}] per image. */
function loadImages(raw) {
  if (!raw || !raw.pixels) return [];
  const [N, H0, W0, ch] = raw.pixels.shape.map(Number);
  const bytes = bytesOf(raw.pixels);
  const per = H0 * W0 * ch;
  return Array.from({ length: N }, (_, n) => ({ bytes: bytes.subarray(n * per, (n + 1) * per), W0, H0, ch }));
}

/** A uint8 payload of K x h x w x 3 (or C x k x h x w x 3) as per-item image records. */
function loadStack(payload, lead) {
  if (!payload) return null;
  const shape = payload.shape.map(Number);
  const [h, w, ch] = shape.slice(lead);
  const per = h * w * ch;
  const bytes = bytesOf(payload);
  const count = shape.slice(0, lead).reduce((a, b) => a * b, 1);
  return { shape, items: Array.from({ length: count }, (_, i) => ({ bytes: bytes.subarray(i * per, (i + 1) * per), W0: w, H0: h, ch })) };
}

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(
    model, el, "xw-channel-grid", {
      label: "channel grid: arrows move the unit, u/o change layer, z zoom, b back view, t/T gamma/boost",
      vars: { gap: GAP },
    });
  root.setAttribute("role", "application");

  // ------------------------------------------------------------ controls
  const header = elem("div", "xw-header");
  const select = (label, cls, options) => {
    const lab = elem("label", null, label);
    const s = elem("select", cls);
    s.append(...options.map(([v, text]) => Object.assign(elem("option", null, text), { value: v })));
    lab.appendChild(s);
    header.appendChild(lab);
    return s;
  };
  const layerSelect = select("layer", "xw-layer-select", []);
  const layerLabel = layerSelect.parentElement;
  const normSelect = select("normalise", "xw-norm", [["layer", "whole layer"], ["channel", "per channel"], ["fixed", "fixed range"]]);
  const rangeBox = elem("span", "xw-range");
  const loInput = Object.assign(elem("input", "xw-lo"), { type: "number", step: "any", title: "low end of the fixed range" });
  const hiInput = Object.assign(elem("input", "xw-hi"), { type: "number", step: "any", title: "high end of the fixed range" });
  rangeBox.append(loInput, document.createTextNode(" – "), hiInput);
  header.appendChild(rangeBox);
  const boostSelect = select("boost", "xw-boost", BOOSTS.map((b) => [String(b), String(b)]));
  const gammaSelect = select("gamma", "xw-gamma", GAMMAS.map((g) => [String(g), String(g)]));
  const cmapSelect = select("colormap", "xw-colormap", [["gray", "gray"], ["viridis", "viridis"]]);
  const backSelect = select("back view", "xw-backmode", BACK_CYCLE.map(([m, f]) => [`${m}/${f}`, m === "off" ? "off" : `${m} (${f})`]));
  const zoomSelect = select("zoom", "xw-zoom", ZOOMS.map((z) => [z, z]));
  const objectiveSelect = select("unit as", "xw-objective", [
    ["default", "each pane's default"], ...Object.entries(OBJECTIVE_TEXT).map(([k, text]) => [k, `its ${text}`])]);
  objectiveSelect.title = "what the back view, the top patches and activation maximisation take of the unit's map";
  const patternLabel = elem("label", null, "patterns");
  const patternBox = Object.assign(elem("input", "xw-pattern"), { type: "checkbox", title: "tiles show each unit's best dataset patch (needs a scan)" });
  patternLabel.prepend(patternBox);
  const opLabel = elem("label", null, "opacity");
  const opInput = Object.assign(elem("input", "xw-opacity"), { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(opInput);
  header.append(patternLabel, opLabel);

  const actions = elem("div", "xw-header xw-actions");
  const scanButton = elem("button", "xw-scan", "Scan dataset");
  const visButton = elem("button", "xw-vis-unit", "What does this unit want to see?");
  const visAllButton = elem("button", "xw-vis-all", "… every unit");
  const progress = progressControl(model, listen);
  actions.append(scanButton, visButton, visAllButton, progress.box);

  // ------------------------------------------------------------ body
  const layerList = elem("div", "xw-layers");
  layerList.setAttribute("aria-label", "layers");
  const middle = elem("div", "xw-middle");
  const strip = elem("div", "xw-strip");
  const gridWrap = elem("div", "xw-gridwrap");
  const legend = new ColorLegend();
  const badgeKey = elem("div", "xw-sub xw-badge-key");
  badgeKey.setAttribute("aria-label", "tile badges");
  const probsBox = elem("div", "xw-probs");
  middle.append(strip, gridWrap, legend.el, badgeKey, probsBox);

  const side = elem("div", "xw-side");
  const zoomCaption = elem("div", "xw-caption xw-zoomcaption");
  const zoomBox = elem("div", "xw-zoombox");
  const prefixInfo = elem("div", "xw-sub xw-prefix");
  prefixInfo.setAttribute("aria-label", "prefix tokens");
  const backCaption = elem("div", "xw-sub");
  const backPair = elem("div", "xw-pair");
  const unitInfo = elem("div", "xw-sub xw-unitinfo");
  const patchCaption = elem("div", "xw-sub xw-patchcaption");
  const patchCanvas = elem("canvas", "xw-patchgrid");
  const visCaption = elem("div", "xw-sub xw-viscaption");
  const visCanvas = elem("canvas", "xw-visual");
  const found = elem("div", "xw-found");
  const patchCol = elem("div");
  const visCol = elem("div");
  patchCol.append(patchCaption, patchCanvas);
  visCol.append(visCaption, visCanvas);
  found.append(patchCol, visCol);
  side.append(zoomCaption, zoomBox, prefixInfo, backCaption, backPair, unitInfo, found);

  const body = elem("div", "xw-body");
  body.append(layerList, middle, side);
  const hint = hintLine([
    ["", "Click a tile or use "], ["kbd", "←↑→↓"], ["", " to select a unit; "], ["kbd", "u"], ["", "/"], ["kbd", "o"],
    ["", " layer, "], ["kbd", "["], ["", "/"], ["kbd", "]"], ["", " image, "], ["kbd", "z"], ["", " zoom, "], ["kbd", "b"],
    ["", " back view, "], ["kbd", "t"], ["", "/"], ["kbd", "T"], ["", " gamma/boost, "], ["kbd", "n"], ["", " normalisation, "],
    ["kbd", "s"], ["", " patterns, "], ["kbd", "Esc"], ["", " reset."],
  ]);
  const details = detailsLine("details");
  root.append(header, actions, body, status.readout, hint, details.el, status.errorBox, status.messageBox);
  el.appendChild(root);

  // ------------------------------------------------------------ state
  let A = null; // activations of the current layer
  let images = [];
  let G = null; // tile geometry
  let T = null; // tile canvas
  let marks = null; // overlay canvas for outlines and badges
  let patternCanvas = null;
  let idx = null; // colour index of every cell of the shown image
  let scratch = null;
  let range = null;
  let hover = null;
  let keyHover = null; // the tiles a hovered badge-key entry names: c -> bool
  let patches = null;
  let visuals = null;
  let units = null;
  let luts = {};
  let zoomPanel = null;
  const zoomBases = new Map(); // image index -> its picture scaled to the zoom pane, made once
  const fit = { width: 0, grid: 0, pane: PANE_PX[0], list: true }; // the layout chosen (layout())

  const num = (name, d) => getNum(model, name, d);
  const setTrait = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };
  const opts = () => {
    const vr = model.get("vrange") || [0, 1];
    return {
      mode: NORMS.includes(model.get("normalisation")) ? model.get("normalisation") : "layer",
      vrange: [Number(vr[0]) || 0, Number(vr[1]) || 0],
      boost: num("boost", 0),
      gamma: num("gamma", 1),
      signed: A ? A.signed : false,
    };
  };
  const lutName = () => (A && A.signed ? "diverging" : model.get("colormap"));
  const currentImage = () => (A ? clampInt(num("image", 0), 0, A.N - 1) : 0);
  const currentUnit = () => (A ? clampInt(num("selected", 0), 0, A.C - 1) : 0);
  /** What `pane` ("back", "scan", "visualise") takes of a unit's map under the chosen unit_objective. */
  const objectiveFor = (pane) => OBJECTIVE_TEXT[model.get("unit_objective")] ? model.get("unit_objective") : DEFAULT_OBJECTIVES[pane];
  const objectiveText = (name) => OBJECTIVE_TEXT[name] || String(name);

  function loadLuts() {
    const maps = model.get("_colormaps") || {};
    luts = {};
    for (const name of Object.keys(maps)) luts[name] = makeLut(maps[name]);
  }

  // ------------------------------------------------------------ layout
  function buildLayerList() {
    const current = model.get("layer");
    const infos = model.get("_layer_list") || [];
    layerList.replaceChildren(
      ...infos.map((L) => {
        const b = elem("button", "xw-layer");
        b.type = "button";
        b.dataset.layer = String(L.name);
        b.setAttribute("aria-current", String(L.name === current));
        b.append(elem("span", null, String(L.name)), elem("span", "xw-shape", shapeText(L.shape)));
        b.title = `${L.name} (${L.type})`;
        return b;
      }),
    );
    layerSelect.replaceChildren(
      ...infos.map((L) => Object.assign(elem("option", null, `${L.name} (${shapeText(L.shape)})`), { value: String(L.name) })),
    );
    layerSelect.value = current;
  }

  /**
   * Choose the layout for an output `width` px wide: the unit pane beside the grid, the layer
   * list as a column when the grid keeps its preferred width (`size`) beside it, else as the
   * select in the header; the pane under the grid only when the grid would be under GRID_MIN.
   */
  function layout(width) {
    const inner = width - 16; // the root's padding
    const pane = PANE_PX[width >= WIDE_PX ? 1 : 0];
    const preferred = Math.max(64, num("size", 560));
    layerList.hidden = false;
    const listW = layerList.offsetWidth;
    const list = inner - pane - listW - 2 * GAP >= preferred;
    const room = inner - pane - GAP - (list ? listW + GAP : 0);
    const stacked = room < GRID_MIN;
    Object.assign(fit, { width, list, pane: stacked ? Math.min(pane, inner) : pane, grid: Math.min(preferred, stacked ? inner : room) });
    layerList.hidden = !list;
    layerLabel.hidden = list;
    side.style.width = `${fit.pane}px`;
    middle.style.width = `${fit.grid}px`;
    const name = stacked ? "stacked" : list ? "list-grid-pane" : "select-grid-pane";
    root.dataset.layout = name;
    details.set("layout", `layout: ${stacked ? "unit pane under the grid" : `${list ? "layer list, " : "layer select above, "}grid and unit pane side by side`}`
      + ` (grid ${fit.grid} px, pane ${fit.pane} px, output ${width} px)`);
    buildGrid();
    refresh();
  }

  function buildStrip() {
    const titles = (model.get("_images") || {}).titles || [];
    const n0 = currentImage();
    strip.replaceChildren(
      ...images.map((im, n) => {
        const b = elem("button", "xw-thumb");
        b.type = "button";
        b.dataset.image = String(n);
        b.title = titles[n] != null ? String(titles[n]) : `image ${n}`;
        b.setAttribute("aria-current", String(n === n0));
        const [w, h] = im.W0 >= im.H0 ? [THUMB_PX, Math.max(1, Math.round((THUMB_PX * im.H0) / im.W0))] : [Math.max(1, Math.round((THUMB_PX * im.W0) / im.H0)), THUMB_PX];
        const c = scaledImage(im, w, h);
        c.style.width = `${w}px`;
        c.style.height = `${h}px`;
        b.appendChild(c);
        return b;
      }),
    );
  }

  function buildGrid() {
    gridWrap.replaceChildren();
    if (!A) return;
    if (!fit.width) return; // the width is not known yet: layout() builds it
    G = tileGeometry(A.C, A.H, A.W, fit.grid);
    T = tileCanvas(G, "xw-tiles");
    T.canvas.dataset.cols = String(G.cols);
    T.canvas.dataset.tileH = String(G.H);
    T.canvas.dataset.tileW = String(G.W);
    idx = new Uint8Array(A.C * A.H * A.W);
    scratch = new Float64Array(A.H * A.W);
    marks = elem("canvas", "xw-marks");
    const dpr = window.devicePixelRatio || 1;
    marks.width = Math.round(G.cssW * dpr);
    marks.height = Math.round(G.cssH * dpr);
    marks.style.width = `${G.cssW}px`;
    marks.style.height = `${G.cssH}px`;
    patternCanvas = elem("canvas", "xw-patterns");
    patternCanvas.width = marks.width;
    patternCanvas.height = marks.height;
    patternCanvas.style.width = marks.style.width;
    patternCanvas.style.height = marks.style.height;
    gridWrap.append(T.canvas, patternCanvas, marks);
    const [H0, W0] = [images[0] ? images[0].H0 : A.H, images[0] ? images[0].W0 : A.W];
    const [zw, zh] = W0 >= H0 ? [fit.pane, Math.round((fit.pane * H0) / W0)] : [Math.round((fit.pane * W0) / H0), fit.pane];
    zoomPanel = makePanel(zw, zh, A.W, A.H, {});
    zoomBox.replaceChildren(zoomPanel.canvas);
    zoomBases.clear();
  }

  // ------------------------------------------------------------ drawing
  function redraw() {
    if (!A || !G) return;
    const t0 = performance.now();
    const n = currentImage();
    range = normaliseInto(idx, scratch, A.x, n * A.C * A.H * A.W, A.C, A.H * A.W, opts());
    const lut = luts[lutName()] || luts.gray;
    if (lut) drawTiles(T, G, idx, lut);
    const showPatterns = !!model.get("pattern") && patches && patches.layer === A.layer;
    patternCanvas.hidden = !showPatterns;
    T.canvas.hidden = showPatterns;
    if (showPatterns) drawPatterns();
    drawMarks();
    drawLegend(lut);
    drawZoom(lut);
    updateUnitInfo();
    markPainted();
    el.dispatchEvent(new CustomEvent("xw-paint", { detail: { work: performance.now() - t0 } }));
  }

  function drawPatterns() {
    const ctx = patternCanvas.getContext("2d");
    const dpr = patternCanvas.width / G.cssW;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, G.cssW, G.cssH);
    ctx.imageSmoothingEnabled = true;
    const k = patches.shape[1];
    for (let c = 0; c < G.C; c++) {
      const [x, y, w, h] = tileRect(G, c);
      const rec = patches.items[c * k];
      if (!rec.canvas) rec.canvas = scaledImage(rec, rec.W0, rec.H0);
      ctx.drawImage(rec.canvas, x, y, w, h);
    }
  }

  function drawMarks() {
    const ctx = marks.getContext("2d");
    const dpr = marks.width / G.cssW;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, G.cssW, G.cssH);
    const u = units && units.layer === A.layer ? units : null;
    const counts = { dead: 0, constant: 0, detector: 0 };
    if (u) {
      for (let c = 0; c < G.C; c++) {
        const kind = badgeOf(u, c);
        const [x, y, w, h] = tileRect(G, c);
        if (kind) {
          counts[kind]++;
          const s = Math.max(5, Math.min(12, w / 3));
          ctx.fillStyle = badgeColour(u, c, kind);
          ctx.beginPath();
          ctx.moveTo(x + w - s, y);
          ctx.lineTo(x + w, y);
          ctx.lineTo(x + w, y + s);
          ctx.fill();
        }
        if (keyHover && !keyHover(c)) {
          ctx.fillStyle = "rgba(0,0,0,0.6)"; // a key entry is hovered: the tiles it does not name step back
          ctx.fillRect(x, y, w, h);
        } else if (keyHover) {
          ctx.strokeStyle = badgeColour(u, c, kind); // and the ones it names are framed in its colour
          ctx.lineWidth = 2;
          ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
        }
      }
    }
    const outline = (c, color, width) => {
      const [x, y, w, h] = tileRect(G, c);
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.strokeRect(x - width / 2, y - width / 2, w + width, h + width);
    };
    if (hover && hover.channel !== currentUnit()) outline(hover.channel, HOVER, 1.5);
    outline(currentUnit(), SELECTED, 2.5);
    drawBadgeKey(u, counts);
  }

  /**
   * The key to the tile badges, with how many tiles carry each; hovering an entry dims the
   * tiles it does not name. A unit is a detector when its best concept's IoU is above the
   * threshold the dissection used (Network Dissection, Bau et al. 2017, section 3.1: 0.04);
   * each concept has its colour, and "distinct concepts" counts those with a detector.
   */
  function drawBadgeKey(u, counts) {
    const key = JSON.stringify([u && u.layer, counts]);
    if (marks.dataset.badges === key) return; // hover redraws: nothing changed
    marks.dataset.badges = key;
    badgeKey.hidden = !u;
    if (!u) return;
    const entry = (colour, text, picks) => {
      const span = elem("span", "xw-badge");
      const swatch = elem("span", "xw-swatch");
      swatch.style.background = colour;
      span.append(swatch, document.createTextNode(text));
      span.addEventListener("pointerenter", () => { keyHover = picks; drawMarks(); });
      span.addEventListener("pointerleave", () => { keyHover = null; drawMarks(); });
      return span;
    };
    const parts = [];
    if (counts.dead) parts.push(entry(BADGES.dead, `dead (never active): ${counts.dead}`, (c) => badgeOf(u, c) === "dead"));
    if (counts.constant) parts.push(entry(BADGES.constant, `constant: ${counts.constant}`, (c) => badgeOf(u, c) === "constant"));
    if (u.concept) {
      const rule = elem("span", "xw-badge-rule");
      rule.textContent = `detectors, best concept IoU > ${u.detector_iou} (Network Dissection, Bau et al. 2017): `
        + `${counts.detector} of ${A.C} units, ${u.unique_detectors} distinct concepts`;
      parts.push(rule);
      const isDetector = (c) => badgeOf(u, c) === "detector";
      const byColour = new Map(); // colour -> concepts: past the palette, several share grey
      for (const [name, colour] of Object.entries(u.concept_colour)) byColour.set(colour, [...(byColour.get(colour) || []), name]);
      for (const [colour, names] of byColour) {
        const picks = (c) => isDetector(c) && names.includes(u.concept[c]);
        let n = 0;
        for (let c = 0; c < A.C; c++) n += picks(c);
        parts.push(entry(colour, `${names.length > 1 ? `${names.length} other concepts` : names[0]} ${n}`, picks));
      }
    }
    badgeKey.replaceChildren(...parts);
  }

  function drawLegend(lut) {
    const o = opts();
    let lo;
    let hi;
    if (o.mode === "channel") [lo, hi] = A.signed ? [-1, 1] : [0, 1];
    else if (o.mode === "fixed") [lo, hi] = A.signed ? [-Math.max(Math.abs(o.vrange[0]), Math.abs(o.vrange[1])), Math.max(Math.abs(o.vrange[0]), Math.abs(o.vrange[1]))] : o.vrange;
    else [lo, hi] = A.signed ? [-range.m, range.m] : [range.lo, range.hi];
    const what = { layer: "one range for the whole layer (DeepVis)", channel: "each channel scaled to its own range", fixed: "fixed range" }[o.mode];
    const extras = [o.boost ? `boost ${o.boost}` : "", o.gamma !== 1 ? `gamma ${o.gamma}` : "", A.signed ? "signed: blue < 0 < red" : ""].filter(Boolean);
    legend.draw(lut, lo, hi, { fmt, caption: `${A.layer}: ${what}${extras.length ? ` · ${extras.join(" · ")}` : ""}` });
  }

  function drawZoom(lut) {
    const zoom = model.get("zoom");
    const c = currentUnit();
    const n = currentImage();
    zoomBox.hidden = zoom === "off";
    zoomCaption.hidden = zoom === "off";
    if (zoom === "off" || !zoomPanel) return;
    const back = backRecord();
    if (zoom === "back" && back) {
      zoomCaption.textContent = `back view (${model.get("back_mode")}, ${model.get("back_filter")}) of unit ${c}'s ${objectiveText(back.objective)}`;
      drawBase(zoomPanel, scaledImage(back, zoomPanel.W, zoomPanel.H));
      return;
    }
    zoomCaption.textContent = zoom !== "back" ? `unit ${c} of ${A.layer} over image ${n}`
      : noKernel(model) && model.get("back_mode") !== "off" ? `unit ${c} (its back view ${NEEDS_KERNEL})` : `unit ${c} (back view off: press b)`;
    if (!zoomBases.has(n)) zoomBases.set(n, images[n] ? scaledImage(images[n], zoomPanel.W, zoomPanel.H) : null);
    if (zoomBases.get(n)) drawBase(zoomPanel, zoomBases.get(n));
    const HW = A.H * A.W;
    drawOverlay(zoomPanel, idx.subarray(c * HW, (c + 1) * HW), lut, 0, 255, num("opacity", 0.6));
  }

  let backCache = null;
  function backRecord() {
    const raw = model.get("_back");
    if (!raw || !raw.pixels) return null;
    if (!backCache || backCache.raw !== raw) {
      const [H0, W0, ch] = raw.pixels.shape.map(Number);
      backCache = { raw, rec: { bytes: bytesOf(raw.pixels), W0, H0, ch, objective: raw.objective || DEFAULT_OBJECTIVES.back } };
    }
    const r = backCache.raw;
    const current = r.layer === model.get("layer") && r.channel === currentUnit() && r.image === currentImage()
      && (!noKernel(model) || (r.mode === model.get("back_mode") && r.filter === model.get("back_filter")
        && backCache.rec.objective === objectiveFor("back")));
    return current ? backCache.rec : null;
  }

  function drawBackPair() {
    const n = currentImage();
    const mode = model.get("back_mode");
    const back = backRecord();
    const px = Math.floor((fit.pane - 6) / 2);
    const cells = [];
    if (images[n]) cells.push(scaledImage(images[n], px, Math.round((px * images[n].H0) / images[n].W0)));
    if (back) {
      const c = scaledImage(back, px, Math.round((px * back.H0) / back.W0));
      c.classList.add("xw-back");
      cells.push(c);
    }
    for (const c of cells) {
      c.style.width = `${px}px`;
      c.style.height = `${(px * c.height) / c.width}px`;
    }
    backPair.replaceChildren(...cells);
    const unit = `unit ${currentUnit()}'s ${objectiveText(back ? back.objective : objectiveFor("back"))}`;
    backCaption.textContent = mode === "off" ? "input · back view off (b cycles grad / deconv / guided)"
      : back ? `input · back view: ${mode} (${model.get("back_filter")}) of ${unit}`
        : noKernel(model) ? `input · the ${mode} back view of ${unit} ${NEEDS_KERNEL}` : `input · computing ${mode} of ${unit}…`;
  }

  function updateUnitInfo() {
    if (!A) return;
    const c = currentUnit();
    const n = currentImage();
    const s = channelStats(A.x, n * A.C * A.H * A.W, c, A.H, A.W);
    const lines = [`unit ${c} of ${A.layer} · image ${n}: max ${fmt(s.max)} at (${s.row}, ${s.col}), mean ${fmt(s.mean)}`];
    const u = units && units.layer === A.layer ? units : null;
    if (u) {
      const flags = [u.dead[c] ? "DEAD (never active)" : "", u.constant[c] ? "CONSTANT" : ""].filter(Boolean);
      lines.push(`dataset: active in ${(100 * u.frac_active[c]).toFixed(1)}% of images${flags.length ? ` · ${flags.join(" · ")}` : ""}`);
      if (u.selectivity) lines.push(`class selectivity ${fmt(u.selectivity[c])} (prefers ${u.selective_class[c]})`);
      if (u.concept) lines.push(`concept: ${u.concept[c] || `none with IoU > ${u.detector_iou}`} (best IoU ${fmt(u.iou[c])})`);
    }
    unitInfo.textContent = lines.join("\n");
    showPrefix(n, c);
    drawPatchGrid(c);
    drawVisual(c);
  }

  /** The prefix tokens' values (not in the tile grid, which holds the patches) for image n, channel c. */
  function showPrefix(n, c) {
    const p = A.prefix;
    prefixInfo.hidden = !p;
    if (!p) return;
    prefixInfo.textContent = p.names.map((name, t) => `${name} token: ${p.x[(n * p.P + t) * A.C + c].toFixed(3)}`).join("\n");
  }

  /** Widths of the top-patch and the activation-maximisation columns side by side in the pane. */
  function foundWidths() {
    const vis = Math.floor(fit.pane * 0.36);
    return [fit.pane - 6 - vis, vis];
  }

  function drawPatchGrid(c) {
    const ok = patches && patches.layer === A.layer;
    const [colW] = foundWidths();
    patchCol.style.width = `${colW}px`;
    patchCanvas.hidden = !ok;
    const wanted = objectiveFor("scan");
    if (!ok) {
      const what = `top patches (by its ${objectiveText(wanted)})`;
      patchCaption.textContent = !model.get("_can_scan") ? `${what}: pass dataset= to scan`
        : noKernel(model) ? `${what}: the dataset scan ${NEEDS_KERNEL}` : `${what}: press Scan dataset`;
      return;
    }
    const k = patches.shape[1];
    const per = Math.ceil(Math.sqrt(k));
    const rowsN = Math.ceil(k / per);
    const P = Math.max(8, Math.floor(colW / per) - 2);
    const dpr = window.devicePixelRatio || 1;
    patchCanvas.width = Math.round(per * (P + 2) * dpr);
    patchCanvas.height = Math.round(rowsN * (P + 2) * dpr);
    patchCanvas.style.width = `${per * (P + 2)}px`;
    patchCanvas.style.height = `${rowsN * (P + 2)}px`;
    const ctx = patchCanvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    for (let j = 0; j < k; j++) {
      const rec = patches.items[c * k + j];
      if (!rec.canvas) rec.canvas = scaledImage(rec, rec.W0, rec.H0);
      ctx.drawImage(rec.canvas, (j % per) * (P + 2) + 1, Math.floor(j / per) * (P + 2) + 1, P, P);
    }
    const vals = patches.values[c] || [];
    const stale = patches.score !== wanted ? ` · scan again to rank by its ${objectiveText(wanted)}` : "";
    patchCaption.textContent = `top ${k} patches of ${patches.n_images} images by its ${objectiveText(patches.score)}`
      + ` (${fmt(vals[0])} … ${fmt(vals[k - 1])})${stale}`;
  }

  function drawVisual(c) {
    const ok = visuals && visuals.layer === A.layer ? visuals.channels.indexOf(c) : -1;
    const [, px] = foundWidths();
    visCol.style.width = `${px}px`;
    visCanvas.hidden = ok < 0;
    const wanted = objectiveFor("visualise");
    if (ok < 0) {
      const what = `what it wants to see (maximising its ${objectiveText(wanted)})`;
      visCaption.textContent = noKernel(model) ? `${what}: activation maximisation ${NEEDS_KERNEL}`
        : `${what}: not computed yet (v, or the button above)`;
      return;
    }
    const rec = visuals.items[ok];
    const img = scaledImage(rec, px, px);
    visCanvas.width = img.width;
    visCanvas.height = img.height;
    visCanvas.style.width = `${px}px`;
    visCanvas.style.height = `${px}px`;
    visCanvas.getContext("2d").drawImage(img, 0, 0);
    const used = (visuals.objectives || [])[ok] || DEFAULT_OBJECTIVES.visualise;
    visCaption.textContent = `what it wants to see: the image maximising its ${objectiveText(used)}`
      + (used !== wanted ? ` (press v for its ${objectiveText(wanted)})` : "");
  }

  function drawProbs() {
    const all = model.get("_probs") || [];
    const rows = all[currentImage()] || [];
    probsBox.replaceChildren();
    if (!rows.length) return;
    probsBox.appendChild(Object.assign(elem("div", "xw-caption", "top classes"), { style: "grid-column: 1 / -1" }));
    for (const [name, p] of rows) {
      const bar = elem("div", "xw-bar");
      bar.style.width = `${Math.max(1, Math.round(80 * Number(p)))}px`;
      probsBox.append(elem("span", null, String(name)), bar, elem("span", "xw-sub", `${(100 * Number(p)).toFixed(1)}%`));
    }
  }

  function updateReadout() {
    if (!A) {
      status.setReadout("");
      return;
    }
    const n = currentImage();
    const back = model.get("back_mode");
    const parts = [`${A.layer} · unit ${currentUnit()} · image ${n} · back view ${back === "off" ? "off" : `${back} (${model.get("back_filter")})`}`];
    if (hover) {
      const s = channelStats(A.x, n * A.C * A.H * A.W, hover.channel, A.H, A.W);
      const i = n * A.C * A.H * A.W + hover.channel * A.H * A.W + hover.row * A.W + hover.col;
      parts.push(`hover: unit ${hover.channel} · max ${fmt(s.max)} at (${s.row}, ${s.col}) · mean ${fmt(s.mean)} · cell (${hover.row}, ${hover.col}) = ${fmt(A.x[i])}`);
      const u = units && units.layer === A.layer ? units : null;
      if (u && u.concept && u.concept[hover.channel]) parts.push(`concept ${u.concept[hover.channel]}`);
    }
    status.setReadout(parts.join("\n"));
  }

  function syncControls() {
    normSelect.value = model.get("normalisation");
    const vr = model.get("vrange") || [0, 1];
    if (document.activeElement !== loInput) loInput.value = String(vr[0]);
    if (document.activeElement !== hiInput) hiInput.value = String(vr[1]);
    rangeBox.hidden = model.get("normalisation") !== "fixed";
    boostSelect.value = String(num("boost", 0));
    gammaSelect.value = String(num("gamma", 1));
    cmapSelect.value = model.get("colormap");
    cmapSelect.disabled = !!(A && A.signed);
    cmapSelect.title = A && A.signed ? "this layer has negative values: shown in the diverging map" : "";
    const bm = `${model.get("back_mode")}/${model.get("back_mode") === "off" ? "raw" : model.get("back_filter")}`;
    if (![...backSelect.options].some((o) => o.value === bm)) {
      backSelect.appendChild(Object.assign(elem("option", null, bm.replace("/", " (") + ")"), { value: bm }));
    }
    backSelect.value = bm;
    zoomSelect.value = model.get("zoom");
    objectiveSelect.value = model.get("unit_objective");
    layerSelect.value = model.get("layer");
    patternBox.checked = !!model.get("pattern");
    patternBox.disabled = !(patches && A && patches.layer === A.layer);
    opInput.value = String(num("opacity", 0.6));
    for (const b of layerList.children) b.setAttribute("aria-current", String(b.dataset.layer === model.get("layer")));
    for (const b of strip.children) b.setAttribute("aria-current", String(Number(b.dataset.image) === currentImage()));
    const running = progress.sync();
    scanButton.disabled = running || !model.get("_can_scan");
    scanButton.title = model.get("_can_scan") ? "top-k patches and unit statistics over the dataset" : "pass dataset= to ChannelGrid to scan";
    visButton.disabled = running;
    visAllButton.disabled = running;
  }

  // ------------------------------------------------------------ data loading
  /** The layer's size and what was shipped for it: for the details line, not the header. */
  function describeActs() {
    const raw = model.get("_acts");
    details.set("payload", A ? `${A.layer}: ${A.C} channels of ${A.H}×${A.W} for ${A.N} images, shipped as float16 (${fmtBytes(bytesOf(raw.acts).byteLength)})` : "");
  }

  function loadAll() {
    A = status.attempt("activations", () => loadActs(model.get("_acts")));
    describeActs();
    images = status.attempt("images", () => loadImages(model.get("_images"))) || [];
    loadUnitData();
    buildLayerList();
    buildStrip();
    buildGrid();
    refresh();
  }

  function loadUnitData() {
    const raw = model.get("_patches");
    patches = raw ? status.attempt("patches", () => ({ ...loadStack(raw.patches, 2), layer: raw.layer, values: raw.values, n_images: raw.n_images, score: raw.score || DEFAULT_OBJECTIVES.scan })) : null;
    units = model.get("_units") || null;
    const vis = model.get("_visuals");
    visuals = vis ? status.attempt("visualisations", () => ({ ...loadStack(vis.images, 1), layer: vis.layer, channels: vis.channels })) : null;
  }

  function refresh() {
    syncControls();
    redraw();
    drawBackPair();
    drawProbs();
    updateReadout();
  }

  // ------------------------------------------------------------ interaction
  const frames = frameQueue();
  function pointerTile(ev) {
    if (!G || (ev.target !== T.canvas && ev.target !== patternCanvas)) return null;
    const rect = ev.target.getBoundingClientRect();
    const x = ((ev.clientX - rect.left) * G.gw) / rect.width;
    const y = ((ev.clientY - rect.top) * G.gh) / rect.height;
    return tileAt(G, Math.floor(x), Math.floor(y));
  }
  listenMoves(listen, gridWrap, (ev) =>
    frames.queue(() => {
      const h = pointerTile(ev);
      const same = (h && hover && h.channel === hover.channel && h.row === hover.row && h.col === hover.col) || (!h && !hover);
      if (same) return;
      hover = h;
      drawMarks();
      updateReadout();
    }),
  );
  listen(gridWrap, "pointerleave", () =>
    frames.queue(() => {
      hover = null;
      if (G) drawMarks();
      updateReadout();
    }),
  );
  listen(gridWrap, "click", (ev) => {
    const h = pointerTile(ev);
    if (h) setTrait("selected", h.channel);
    root.focus({ preventScroll: true });
  });
  const setLayer = (name) => {
    if (name !== model.get("layer") && !kernelOnly(model, `Showing layer ${name}`)) setTrait("layer", name);
  };
  const ask = (msg, what) => {
    if (!kernelOnly(model, what)) model.send(msg);
  };
  listen(layerList, "click", (ev) => {
    const b = ev.target.closest(".xw-layer");
    if (b) setLayer(b.dataset.layer);
  });
  listen(strip, "click", (ev) => {
    const b = ev.target.closest(".xw-thumb");
    if (b) setTrait("image", Number(b.dataset.image));
  });
  listen(normSelect, "change", () => setTrait("normalisation", normSelect.value));
  const setRange = () => {
    const lo = Number(loInput.value);
    const hi = Number(hiInput.value);
    if (Number.isFinite(lo) && Number.isFinite(hi)) setTrait("vrange", [lo, hi]);
  };
  listen(loInput, "change", setRange);
  listen(hiInput, "change", setRange);
  listen(boostSelect, "change", () => setTrait("boost", Number(boostSelect.value)));
  listen(gammaSelect, "change", () => setTrait("gamma", Number(gammaSelect.value)));
  listen(cmapSelect, "change", () => setTrait("colormap", cmapSelect.value));
  listen(backSelect, "change", () => setBack(...backSelect.value.split("/")));
  listen(zoomSelect, "change", () => setTrait("zoom", zoomSelect.value));
  listen(objectiveSelect, "change", () => setTrait("unit_objective", objectiveSelect.value));
  listen(layerSelect, "change", () => {
    setLayer(layerSelect.value);
    layerSelect.value = model.get("layer"); // refused (no kernel): show the layer still shown
  });
  listen(patternBox, "change", () => setTrait("pattern", patternBox.checked));
  listen(opInput, "input", () => model.set("opacity", Number(opInput.value)));
  listen(opInput, "change", () => setTrait("opacity", Number(opInput.value)));
  listen(scanButton, "click", () => ask({ type: "scan" }, "Scanning the dataset"));
  listen(visButton, "click", () => ask({ type: "visualise", channels: "selected" }, "Activation maximisation"));
  listen(visAllButton, "click", () => ask({ type: "visualise", channels: "all" }, "Activation maximisation"));

  function setBack(mode, filter) {
    model.set("back_mode", mode);
    if (mode !== "off") model.set("back_filter", filter);
    model.save_changes();
  }

  const cycle = (list, value, step = 1) => list[(Math.max(0, list.indexOf(value)) + step + list.length) % list.length];

  function onKey(ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !A) return;
    if (ev.target !== root && ev.target.tagName !== "CANVAS") return; // typing in an input
    const c = currentUnit();
    const step = ev.shiftKey ? 3 : 1; // DeepVis: capital I/J/K/L move 3 cells
    const infos = model.get("_layer_list") || [];
    const li = infos.findIndex((L) => L.name === model.get("layer"));
    const key = ev.key;
    let handled = true;
    if (key === "ArrowLeft") setTrait("selected", clampInt(c - step, 0, A.C - 1));
    else if (key === "ArrowRight") setTrait("selected", clampInt(c + step, 0, A.C - 1));
    else if (key === "ArrowUp") setTrait("selected", c - step * G.cols >= 0 ? c - step * G.cols : c % G.cols);
    else if (key === "ArrowDown") setTrait("selected", c + step * G.cols < A.C ? c + step * G.cols : c);
    else if (key === "u" || key === "o") {
      const to = clampInt(li + (key === "o" ? 1 : -1), 0, infos.length - 1);
      if (to !== li) setLayer(infos[to].name);
    } else if (key === "[" || key === "]" || key === "w" || key === "e") {
      setTrait("image", clampInt(currentImage() + (key === "]" || key === "e" ? 1 : -1), 0, A.N - 1));
    } else if (key === "z") setTrait("zoom", cycle(ZOOMS, model.get("zoom")));
    else if (key === "b") {
      const cur = BACK_CYCLE.findIndex(([m, f]) => m === model.get("back_mode") && (m === "off" || f === model.get("back_filter")));
      setBack(...BACK_CYCLE[(cur + 1) % BACK_CYCLE.length]);
    } else if (key === "t") setTrait("gamma", cycle(GAMMAS, num("gamma", 1)));
    else if (key === "T") setTrait("boost", cycle(BOOSTS, num("boost", 0)));
    else if (key === "n") setTrait("normalisation", cycle(NORMS, model.get("normalisation")));
    else if (key === "s") {
      if (patches && patches.layer === A.layer) setTrait("pattern", !model.get("pattern"));
    } else if (key === "v") ask({ type: "visualise", channels: "selected" }, "Activation maximisation");
    else if (key === "Escape") {
      for (const [k, v] of [["boost", 0], ["gamma", 1], ["back_mode", "off"], ["zoom", "unit"], ["pattern", false], ["normalisation", "layer"]]) model.set(k, v);
      model.save_changes();
    } else handled = false;
    if (handled) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  }
  listen(root, "keydown", onKey);

  // ------------------------------------------------------------ model events
  onModel("change:_acts", () => {
    hover = null;
    A = status.attempt("activations", () => loadActs(model.get("_acts")));
    describeActs();
    buildGrid();
    refresh();
  });
  onModel("change:_images", loadAll);
  onModel("change:_layer_list", buildLayerList);
  for (const name of ["_patches", "_units", "_visuals"]) {
    onModel(`change:${name}`, () => {
      loadUnitData();
      refresh();
    });
  }
  onModel("change:image", refresh);
  for (const name of ["selected", "normalisation", "vrange", "boost", "gamma", "colormap", "zoom", "pattern", "opacity"]) {
    onModel(`change:${name}`, refresh);
  }
  for (const name of ["_back", "back_mode", "back_filter"]) {
    onModel(`change:${name}`, () => {
      syncControls();
      drawBackPair();
      if (model.get("zoom") === "back") redraw();
      updateReadout();
    });
  }
  onModel("change:layer", syncControls);
  onModel("change:progress", syncControls);
  onModel("change:_can_scan", syncControls);
  onModel("change:_probs", drawProbs);
  onModel("change:size", () => fit.width && layout(fit.width));
  onModel("change:unit_objective", refresh);
  onModel("change:_colormaps", () => {
    loadLuts();
    redraw();
  });

  loadLuts();
  loadAll();
  life.add(onWidth(el, layout));

  return () => {
    life.dispose();
    frames.dispose();
    root.remove();
    A = null;
    T = null;
  };
}

export default { render };
