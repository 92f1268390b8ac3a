// Similarity overlays (Fong, Mordvintsev, Vedaldi, Olah; VISxAI 2021) as an
// anywidget front-end module. Hover any cell of any image: every cell of every
// image is shaded by the cosine similarity of its activation vector to the
// hovered cell's vector, one grid row per layer, one column per image.
//
// With `_factors` set, one row also shows its NMF groups (lib/factors.js): every
// panel of that row is tinted by factor under the similarity overlay, with a
// legend of chips that focus one group (`factor_focus`).
//
// Synced traits (see xai_widgets/widgets): _data, query, colormap, _colormaps,
// vrange, auto_range, opacity, size, message, _factors, factor_focus. Hover never
// talks to the kernel; only clicks / keys / controls call model.set + model.save_changes.
import { decode, bytesOf } from "./lib/tensor.js";
import { makeLut, drawColorbar } from "./lib/colormap.js";
import { DotArena, arenaBytes } from "./lib/simdot.js";
import { loadFactors, fillFactorPixels } from "./lib/factors.js";

const STYLE = `
.xw-similarity {
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color1, #fff);
  padding: 8px;
  box-sizing: border-box;
  max-width: 100%;
  line-height: 1.35;
}
.xw-similarity * { box-sizing: border-box; }
.xw-similarity .xw-header { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }
.xw-similarity .xw-header label { display: inline-flex; align-items: center; gap: 6px; cursor: pointer; }
.xw-similarity select {
  font: inherit; color: var(--jp-ui-font-color1, #222); background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 2px; padding: 1px 4px;
}
.xw-similarity input[type="range"] { width: 100px; accent-color: var(--jp-brand-color1, #1976d2); }
.xw-similarity input[type="checkbox"] { accent-color: var(--jp-brand-color1, #1976d2); margin: 0; }
.xw-similarity .xw-legend { display: inline-flex; flex-direction: column; gap: 1px; }
.xw-similarity .xw-colorbar { display: block; box-shadow: 0 0 0 1px var(--jp-border-color2, #e0e0e0); }
.xw-similarity .xw-ticks {
  display: flex; justify-content: space-between; gap: 8px;
  font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #555);
  font-variant-numeric: tabular-nums;
}
.xw-similarity .xw-factors { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 6px; margin-top: 6px; }
.xw-similarity .xw-factor-caption { color: var(--jp-ui-font-color2, #616161); margin-right: 2px; }
.xw-similarity .xw-factor-chip {
  display: inline-flex; align-items: center; gap: 5px; padding: 1px 8px 1px 5px; cursor: pointer;
  font: inherit; color: var(--jp-ui-font-color1, #222); background: var(--jp-layout-color2, #eee);
  border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 10px;
}
.xw-similarity .xw-factor-chip:hover { border-color: var(--jp-brand-color1, #1976d2); }
.xw-similarity .xw-factor-chip:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.xw-similarity .xw-factor-chip[aria-pressed="true"] {
  border-color: var(--jp-brand-color1, #1976d2); box-shadow: inset 0 0 0 1px var(--jp-brand-color1, #1976d2); font-weight: 600;
}
.xw-similarity .xw-factors.xw-focused .xw-factor-chip[aria-pressed="false"] { color: var(--jp-ui-font-color2, #616161); }
.xw-similarity .xw-swatch {
  width: 12px; height: 12px; border-radius: 2px; box-shadow: 0 0 0 1px var(--jp-border-color2, #e0e0e0);
}
.xw-similarity .xw-hint { margin: 4px 0 6px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #616161); }
.xw-similarity .xw-hint kbd {
  font-family: var(--jp-code-font-family, monospace); font-size: inherit;
  border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 3px; padding: 0 3px;
  background: var(--jp-layout-color2, #eee);
}
.xw-similarity .xw-grid {
  display: grid; gap: 6px 8px; align-items: start; justify-items: start;
  width: max-content; max-width: 100%; overflow: auto; padding: 4px; border-radius: 3px; outline: none;
}
.xw-similarity .xw-grid:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.xw-similarity .xw-title {
  align-self: end; font-weight: 600; text-align: center; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; width: 100%;
}
.xw-similarity .xw-rowlabel { align-self: center; justify-self: end; text-align: right; padding-right: 4px; white-space: nowrap; }
.xw-similarity .xw-rowlabel .xw-shape {
  display: block; color: var(--jp-ui-font-color2, #616161); font-size: var(--jp-ui-font-size0, 11px);
  font-variant-numeric: tabular-nums;
}
.xw-similarity canvas.xw-panel {
  display: block; cursor: crosshair; touch-action: none;
  box-shadow: 0 0 0 1px var(--jp-border-color2, #e0e0e0);
}
.xw-similarity .xw-readout {
  margin-top: 6px; min-height: 1.35em; white-space: pre-wrap;
  font-variant-numeric: tabular-nums; color: var(--jp-ui-font-color1, #222);
}
.xw-similarity .xw-message, .xw-similarity .xw-error {
  margin-top: 6px; padding: 6px 8px; border-radius: 3px; white-space: pre-wrap;
  color: var(--jp-ui-font-color1, #222);
}
.xw-similarity .xw-message {
  border: 1px solid var(--jp-warn-color1, #f57c00); background: rgba(245, 124, 0, 0.12);
}
.xw-similarity .xw-error {
  border: 1px solid var(--jp-error-color1, #d32f2f); background: rgba(211, 47, 47, 0.12);
}
.xw-similarity [hidden] { display: none !important; }
`;

const OUTLINE = "#ffff00";

function elem(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function clampInt(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

function fmtTick(v) {
  if (!Number.isFinite(v)) return String(v);
  const s = (+v.toFixed(3)).toString();
  return s === "-0" ? "0" : s;
}

function fmtSim(v) {
  return Number.isFinite(v) ? v.toFixed(3) : String(v);
}

/** Display size (CSS px) of an image W0 x H0 whose long side is `size` (rounded half up, >= 1). */
function displaySize(W0, H0, size) {
  if (W0 >= H0) return [size, Math.max(1, Math.floor((size * H0) / W0 + 0.5))];
  return [Math.max(1, Math.floor((size * W0) / H0 + 0.5)), size];
}

/** Decode and validate `_data`; activations go into one DotArena (contiguous per layer). */
function loadData(raw) {
  if (!raw || !Array.isArray(raw.images)) throw new Error("_data.images is missing");
  const images = raw.images.map((im, n) => {
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
  const N = images.length;
  const layerSpecs = (Array.isArray(raw.layers) ? raw.layers : []).map((L, k) => {
    const name = L && L.name != null ? String(L.name) : `layer ${k}`;
    const acts = L && Array.isArray(L.acts) ? L.acts : [];
    if (acts.length !== N) throw new Error(`layer ${name}: ${acts.length} activation tensors for ${N} images`);
    let C = -1;
    const grids = acts.map((a, n) => {
      const shape = a && Array.isArray(a.shape) ? a.shape.map(Number) : [];
      if (shape.length !== 3 || !(shape[0] > 0 && shape[1] > 0 && shape[2] > 0)) {
        throw new Error(`layer ${name}, image ${n}: activations must have shape [h, w, C]`);
      }
      if (C < 0) C = shape[2];
      else if (shape[2] !== C) throw new Error(`layer ${name}: channel count differs between images`);
      return { h: shape[0], w: shape[1] };
    });
    return { name, acts, grids, C: Math.max(C, 0) };
  });
  // One arena: per layer [all images' vectors f32][query f64][similarities f64].
  const f32 = [];
  const f64 = [];
  for (const L of layerSpecs) {
    L.cells = L.grids.reduce((s, g) => s + g.h * g.w, 0);
    f32.push(L.cells * L.C);
    f64.push(L.C, L.cells);
  }
  const arena = new DotArena(arenaBytes(f32, f64));
  const layers = layerSpecs.map((spec) => {
    const { name, acts, grids, C, cells } = spec;
    const all = arena.allocF32(cells * C);
    const q = arena.allocF64(C);
    const out = arena.allocF64(cells);
    const vecs = [];
    const sims = [];
    let start = 0;
    grids.forEach((g, n) => {
      const count = g.h * g.w;
      const dst = all.subarray(start * C, (start + count) * C);
      dst.set(decode(acts[n]).data.subarray(0, count * C));
      vecs.push(dst);
      sims.push(out.subarray(start, start + count));
      start += count;
    });
    return { name, C, cells, grids, all, q, out, vecs, sims };
  });
  return { images, layers, arena, key: null, smin: NaN, smax: NaN };
}

/** Query cell (row, col) at layer j for internal query q (layer index, image index). */
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

/** Fill every layer's similarity buffers for query q (skipped when unchanged). */
function computeSims(D, q) {
  const key = `${q.image},${q.layer},${q.row},${q.col}`;
  if (D.key === key) return;
  let smin = Infinity;
  let smax = -Infinity;
  for (let j = 0; j < D.layers.length; j++) {
    const L = D.layers[j];
    const [r, c] = cellAt(D, q, j);
    const g = L.grids[q.image];
    const src = L.vecs[q.image];
    const base = (r * g.w + c) * L.C;
    const qv = L.q;
    for (let i = 0; i < L.C; i++) qv[i] = src[base + i];
    D.arena.dots(qv, L.all, L.C, L.cells, L.out);
    const out = L.out;
    for (let i = 0; i < out.length; i++) {
      const s = out[i];
      if (s < smin) smin = s;
      if (s > smax) smax = s;
    }
  }
  D.key = key;
  D.smin = smin;
  D.smax = smax;
}

function render({ model, el }) {
  const disposers = [];
  const listen = (target, type, fn, opts) => {
    target.addEventListener(type, fn, opts);
    disposers.push(() => target.removeEventListener(type, fn, opts));
  };
  const onModel = (name, fn) => {
    model.on(name, fn);
    disposers.push(() => model.off(name, fn));
  };

  // ------------------------------------------------------------------ DOM
  const root = elem("div", "xw-similarity");
  root.appendChild(elem("style", null, STYLE));

  const header = elem("div", "xw-header");
  const cmapLabel = elem("label", null, "colormap");
  const cmapSelect = elem("select", "xw-colormap");
  cmapLabel.appendChild(cmapSelect);
  const opLabel = elem("label", null, "opacity");
  const opInput = elem("input", "xw-opacity");
  opInput.type = "range";
  opInput.min = "0";
  opInput.max = "1";
  opInput.step = "0.05";
  opLabel.appendChild(opInput);
  const autoLabel = elem("label");
  const autoInput = elem("input", "xw-auto-range");
  autoInput.type = "checkbox";
  autoLabel.append(autoInput, document.createTextNode("auto range"));
  const legend = elem("div", "xw-legend");
  const colorbar = elem("canvas", "xw-colorbar");
  const ticks = elem("div", "xw-ticks");
  const tickLo = elem("span", "xw-tick xw-tick-lo");
  const tickMid = elem("span", "xw-tick xw-tick-mid");
  const tickHi = elem("span", "xw-tick xw-tick-hi");
  ticks.append(tickLo, tickMid, tickHi);
  legend.append(colorbar, ticks);
  header.append(cmapLabel, opLabel, autoLabel, legend);

  // NMF legend: caption + one toggle chip per group; shown only while `_factors` is set.
  const factorBar = elem("div", "xw-factors");
  factorBar.setAttribute("role", "group");
  factorBar.hidden = true;
  const factorCaption = elem("span", "xw-factor-caption");
  const factorChips = elem("span", "xw-factor-chips");
  factorBar.append(factorCaption, factorChips);

  const hint = elem("div", "xw-hint");
  const hintParts = [
    ["", "hover: compare · click: pin / unpin · focus the grid, then "],
    ["kbd", "←↑↓→"],
    ["", " move & pin · "],
    ["kbd", "["],
    ["", " "],
    ["kbd", "]"],
    ["", " previous / next image · "],
    ["kbd", "Esc"],
    ["", " unpin"],
  ];
  for (const [tag, text] of hintParts) hint.append(tag ? elem(tag, null, text) : document.createTextNode(text));

  const grid = elem("div", "xw-grid");
  grid.tabIndex = 0;
  grid.setAttribute("role", "application");
  grid.setAttribute("aria-label", "similarity grid");
  grid.setAttribute("data-lm-suppress-shortcuts", "true");
  const readout = elem("div", "xw-readout");
  readout.setAttribute("aria-live", "polite");
  const errorBox = elem("div", "xw-error");
  errorBox.hidden = true;
  const messageBox = elem("div", "xw-message");
  messageBox.setAttribute("role", "status");
  messageBox.hidden = true;
  root.append(header, factorBar, hint, grid, readout, errorBox, messageBox);
  el.appendChild(root);

  // ---------------------------------------------------------------- state
  let D = null; // decoded data
  let panels = []; // panels[j][n] = {canvas, ctx, W, H, small, sctx, img, px}
  let bases = []; // bases[n]: canvas holding the image scaled to its panel backing size
  let pinned = null; // internal query {image, layer (index), row, col}
  let hover = null; // internal cell under the pointer (same shape) or null
  let factors = null; // loadFactors() result + tints: one small canvas per image (the factor row's tint)
  let lut = null;
  let lutName = "";
  let painted = false;

  const getNum = (name, dflt) => {
    const v = Number(model.get(name));
    return Number.isFinite(v) ? v : dflt;
  };

  function toExternal(q) {
    return q && D ? { image: q.image, layer: D.layers[q.layer].name, row: q.row, col: q.col } : null;
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
    const g = D.layers[layer].grids[image];
    if (!(Number.isInteger(row) && Number.isInteger(col) && row >= 0 && col >= 0 && row < g.h && col < g.w)) return null;
    return { image, layer, row, col };
  }

  const sameQuery = (a, b) =>
    a === b || (!!a && !!b && a.image === b.image && a.layer === b.layer && a.row === b.row && a.col === b.col);

  function setQuery(q) {
    model.set("query", toExternal(q));
    model.save_changes();
    syncPinned();
  }

  // ------------------------------------------------------------- drawing
  function currentRange(active) {
    if (model.get("auto_range") && active && D && Number.isFinite(D.smin)) return [D.smin, D.smax];
    const vr = model.get("vrange");
    const lo = Array.isArray(vr) ? Number(vr[0]) : NaN;
    const hi = Array.isArray(vr) ? Number(vr[1]) : NaN;
    return [Number.isFinite(lo) ? lo : 0, Number.isFinite(hi) ? hi : 1];
  }

  function updateLut() {
    const maps = model.get("_colormaps") || {};
    let name = model.get("colormap");
    if (!(name in maps)) name = Object.keys(maps)[0] || "";
    lutName = name;
    lut = makeLut(maps[name]);
    if (!lut) {
      // No table from Python: a plain grey ramp keeps the widget usable.
      const ramp = new Uint8Array(768);
      for (let i = 0; i < 768; i++) ramp[i] = Math.floor(i / 3);
      lut = makeLut(ramp);
    }
    const names = Object.keys(maps);
    if (cmapSelect.options.length !== names.length || names.some((n, i) => cmapSelect.options[i].value !== n)) {
      cmapSelect.replaceChildren(
        ...names.map((n) => {
          const o = elem("option", null, n);
          o.value = n;
          return o;
        }),
      );
    }
    cmapSelect.value = lutName;
    drawColorbar(colorbar, lut, 160, 10);
  }

  function updateLegend(active) {
    if (model.get("auto_range") && !active) {
      tickLo.textContent = "";
      tickMid.textContent = "auto range";
      tickHi.textContent = "";
      return;
    }
    const [lo, hi] = currentRange(active);
    tickLo.textContent = fmtTick(lo);
    tickMid.textContent = fmtTick((lo + hi) / 2);
    tickHi.textContent = fmtTick(hi);
  }

  function drawPanel(j, n, active, lo, hi, alpha) {
    const P = panels[j][n];
    const ctx = P.ctx;
    const bw = P.canvas.width;
    const bh = P.canvas.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
    ctx.drawImage(bases[n], 0, 0);
    if (factors && j === factors.row) {
      // one texel per cell, nearest neighbour: the same cell geometry as the similarity overlay
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(factors.tints[n], 0, 0, P.w, P.h, 0, 0, bw, bh);
    }
    if (!active) return;
    const L = D.layers[j];
    const sims = L.sims[n];
    const px = P.px;
    const table = lut.rgba32;
    const span = hi > lo ? hi - lo : 1; // degenerate range: as colormaps.apply in Python
    for (let i = 0; i < sims.length; i++) {
      let t = (sims[i] - lo) / span;
      if (t < 0) t = 0;
      else if (t > 1) t = 1;
      // NaN similarity -> transparent cell
      px[i] = t === t ? table[Math.floor(t * 255 + 0.5)] : 0;
    }
    P.sctx.putImageData(P.img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = alpha;
    ctx.drawImage(P.small, 0, 0, P.w, P.h, 0, 0, bw, bh);
    ctx.globalAlpha = 1;
    if (n === active.image) {
      const [r, c] = cellAt(D, active, j);
      ctx.setTransform(bw / P.W, 0, 0, bh / P.H, 0, 0);
      const x0 = (c * P.W) / P.w;
      const x1 = ((c + 1) * P.W) / P.w;
      const y0 = (r * P.H) / P.h;
      const y1 = ((r + 1) * P.H) / P.h;
      ctx.lineWidth = 2;
      ctx.strokeStyle = OUTLINE;
      ctx.strokeRect(x0 + 1, y0 + 1, Math.max(0, x1 - x0 - 2), Math.max(0, y1 - y0 - 2));
      ctx.setTransform(1, 0, 0, 1, 0, 0);
    }
  }

  /** Redraw everything that depends on the active query; returns the active query. */
  function paint() {
    if (!D) return null;
    const active = pinned || hover;
    if (active) computeSims(D, active);
    const [lo, hi] = currentRange(active);
    const alpha = Math.min(1, Math.max(0, getNum("opacity", 0.7)));
    for (let j = 0; j < panels.length; j++) {
      for (let n = 0; n < panels[j].length; n++) drawPanel(j, n, active, lo, hi, alpha);
    }
    updateLegend(active);
    updateReadout();
    if (!painted) {
      painted = true;
      // the wall-clock time of the first frame (benchmarks compare it with the kernel's clock)
      el.dataset.xwPainted = String(performance.timeOrigin + performance.now());
    }
    return active;
  }

  let pointerCell = null; // cell under the pointer, kept for the readout while pinned
  function updateReadout() {
    const parts = [];
    if (D && pinned) {
      parts.push(`pinned: layer ${D.layers[pinned.layer].name} · image ${pinned.image} · cell (${pinned.row}, ${pinned.col})`);
    }
    if (D && pointerCell && (pinned || hover)) {
      const { layer: j, image: n, row, col } = pointerCell;
      const s = D.layers[j].sims[n][row * D.layers[j].grids[n].w + col];
      parts.push(`${pinned ? "pointer: " : ""}layer ${D.layers[j].name} · image ${n} · cell (${row}, ${col}) · similarity ${fmtSim(s)}`);
    }
    const text = parts.join("   |   ");
    if (readout.textContent !== text) readout.textContent = text;
  }

  // --------------------------------------------------------------- layout
  function layout() {
    grid.replaceChildren();
    panels = [];
    bases = [];
    if (!D) return;
    const size = Math.max(1, Math.round(getNum("size", 256)));
    const dpr = window.devicePixelRatio || 1;
    const N = D.images.length;
    grid.style.gridTemplateColumns = `auto repeat(${N}, max-content)`;
    grid.appendChild(elem("div", "xw-corner"));
    const dims = D.images.map((im) => displaySize(im.W0, im.H0, size));
    D.images.forEach((im, n) => {
      const t = elem("div", "xw-title", im.title);
      t.title = im.title;
      t.style.maxWidth = `${dims[n][0]}px`;
      grid.appendChild(t);
      // Source pixels -> canvas, then scaled (smoothed) once to the panel backing size.
      const src = elem("canvas");
      src.width = im.W0;
      src.height = im.H0;
      const sctx = src.getContext("2d");
      const img = sctx.createImageData(im.W0, im.H0);
      const d = img.data;
      const b = im.bytes;
      const ch = im.ch;
      for (let i = 0, p = 0, o = 0; i < im.W0 * im.H0; i++, p += ch, o += 4) {
        d[o] = b[p];
        d[o + 1] = ch >= 3 ? b[p + 1] : b[p];
        d[o + 2] = ch >= 3 ? b[p + 2] : b[p];
        d[o + 3] = 255;
      }
      sctx.putImageData(img, 0, 0);
      const [W, H] = dims[n];
      const base = elem("canvas");
      base.width = Math.max(1, Math.round(W * dpr));
      base.height = Math.max(1, Math.round(H * dpr));
      const bctx = base.getContext("2d");
      bctx.imageSmoothingEnabled = true;
      bctx.imageSmoothingQuality = "high";
      bctx.drawImage(src, 0, 0, im.W0, im.H0, 0, 0, base.width, base.height);
      bases.push(base);
    });
    D.layers.forEach((L, j) => {
      const label = elem("div", "xw-rowlabel");
      label.appendChild(elem("span", "xw-layername", L.name));
      const g0 = L.grids[0];
      label.appendChild(elem("span", "xw-shape", g0 ? `${g0.h}×${g0.w}×${L.C}` : ""));
      grid.appendChild(label);
      const row = [];
      D.images.forEach((im, n) => {
        const [W, H] = dims[n];
        const canvas = elem("canvas", "xw-panel");
        canvas.dataset.layer = String(j);
        canvas.dataset.image = String(n);
        canvas.width = bases[n].width;
        canvas.height = bases[n].height;
        canvas.style.width = `${W}px`;
        canvas.style.height = `${H}px`;
        grid.appendChild(canvas);
        const { h, w } = L.grids[n];
        const small = elem("canvas");
        small.width = w;
        small.height = h;
        const sctx = small.getContext("2d");
        const img = sctx.createImageData(w, h);
        row.push({
          canvas,
          ctx: canvas.getContext("2d"),
          W,
          H,
          w,
          h,
          small,
          sctx,
          img,
          px: new Uint32Array(img.data.buffer),
        });
      });
      panels.push(row);
    });
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  // -------------------------------------------------------------- factors
  function focusedFactor() {
    const f = model.get("factor_focus");
    return factors && Number.isInteger(f) && f >= 0 && f < factors.k ? f : -1;
  }

  /** Load `_factors` for the current data: the legend and one small canvas per image. */
  function setFactors(raw) {
    factors = null;
    if (D) {
      try {
        factors = loadFactors(raw, D.layers);
        showError("");
      } catch (err) {
        showError(`factor groups: ${err && err.message ? err.message : err}`);
      }
    }
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
    try {
      D = loadData(model.get("_data"));
      showError("");
    } catch (err) {
      D = null;
      showError(`similarity widget: ${err && err.message ? err.message : err}`);
    }
    pinned = validateQuery(model.get("query"));
    layout();
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
    opInput.value = String(getNum("opacity", 0.7));
    autoInput.checked = !!model.get("auto_range");
  }

  function syncMessage() {
    const m = model.get("message");
    const text = m == null ? "" : String(m);
    messageBox.textContent = text;
    messageBox.hidden = text.length === 0;
  }

  // ---------------------------------------------------------------- hover
  // Pointer moves are throttled to animation frames: when no frame callback is
  // pending the move is handled at once (lowest latency); moves arriving while
  // one is pending are coalesced and the latest is handled in the next frame.
  let pending = null; // {ev, cell}
  let rafId = 0;

  function hitTest(ev) {
    const t = ev.target;
    if (!D || !t || !t.classList || !t.classList.contains("xw-panel")) return null;
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

  function processHover(ev, cell) {
    const t0 = performance.now();
    const before = pinned || hover;
    const beforePointer = pointerCell;
    pointerCell = cell;
    hover = cell;
    const active = pinned || hover;
    let repainted = false;
    if (!sameQuery(before, active)) {
      paint();
      repainted = true;
    } else if (!sameQuery(beforePointer, cell)) {
      updateReadout();
    }
    // latency: pointer event creation -> painted (includes the browser's input delivery);
    // work: time spent here (hit-test excluded), i.e. recompute + redraw.
    if (!repainted) return;
    const now = performance.now();
    el.dispatchEvent(
      new CustomEvent("xw-paint", {
        detail: { latency: now - ev.timeStamp, work: now - t0, query: toExternal(active) },
      }),
    );
  }

  function onFrame() {
    rafId = 0;
    if (!pending) return;
    const p = pending;
    pending = null;
    rafId = requestAnimationFrame(onFrame);
    processHover(p.ev, p.cell);
  }

  function queueHover(ev, cell) {
    if (rafId) {
      pending = { ev, cell };
      return;
    }
    rafId = requestAnimationFrame(onFrame);
    processHover(ev, cell);
  }

  // pointerrawupdate (Chromium, secure contexts) is delivered as soon as the input
  // arrives, while pointermove waits for the next animation frame (rAF-aligned input),
  // which costs up to a frame of latency. Listen to both: whichever comes first does the
  // work, the other finds the same cell and repaints nothing.
  listen(grid, "pointermove", (ev) => queueHover(ev, hitTest(ev)));
  if ("onpointerrawupdate" in window) listen(grid, "pointerrawupdate", (ev) => queueHover(ev, hitTest(ev)));
  listen(grid, "pointerout", (ev) => {
    const t = ev.target;
    if (!t || !t.classList || !t.classList.contains("xw-panel")) return;
    const to = ev.relatedTarget;
    if (to && to.classList && to.classList.contains("xw-panel") && grid.contains(to)) return;
    queueHover(ev, null);
  });
  listen(grid, "click", (ev) => {
    const cell = hitTest(ev);
    if (!cell) return;
    pointerCell = cell;
    if (pending) pending = null;
    if (pinned) {
      hover = cell;
      setQuery(null);
    } else {
      setQuery(cell);
    }
  });
  listen(root, "keydown", (ev) => {
    if (!D || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (ev.key === "Escape") {
      if (!pinned) return;
      ev.preventDefault();
      ev.stopPropagation();
      setQuery(null);
      return;
    }
    if (ev.target !== grid || D.images.length === 0 || D.layers.length === 0) return;
    const q = pinned ? { ...pinned } : { image: 0, layer: 0, row: 0, col: 0 };
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
        return;
    }
    const g = D.layers[q.layer].grids[q.image];
    q.row = clampInt(q.row, 0, g.h - 1);
    q.col = clampInt(q.col, 0, g.w - 1);
    ev.preventDefault();
    ev.stopPropagation();
    pointerCell = null;
    setQuery(q);
  });

  // ------------------------------------------------------------- controls
  listen(cmapSelect, "change", () => {
    model.set("colormap", cmapSelect.value);
    model.save_changes();
  });
  listen(opInput, "input", () => model.set("opacity", Number(opInput.value)));
  listen(opInput, "change", () => {
    model.set("opacity", Number(opInput.value));
    model.save_changes();
  });
  listen(autoInput, "change", () => {
    model.set("auto_range", autoInput.checked);
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
  onModel("change:vrange", () => paint());
  onModel("change:message", syncMessage);

  updateLut();
  syncControls();
  syncMessage();
  rebuild(model.get("_factors"));

  return () => {
    for (const dispose of disposers.splice(0)) dispose();
    if (rafId) cancelAnimationFrame(rafId);
    rafId = 0;
    pending = null;
    root.remove();
    D = null;
    factors = null;
    panels = [];
    bases = [];
  };
}

export default { render };
