// Transform sweep (Fong, Mordvintsev, Vedaldi, Olah; "Interactive Similarity
// Overlays", VISxAI 2021, section "geometric transformations") as an anywidget
// front-end module. Hover a cell of the original image: every copy (rotated or
// zoomed) is shaded by cosine similarity to the hovered cell's activation vector,
// the cell showing the same content is outlined in each copy, and a line chart
// plots that cell's similarity against the transform value. Hovering a chart
// point or a copy highlights the pair.
//
// Synced traits (xai_widgets/widgets/sweep.py): _data, _colormaps, query, colormap,
// vrange, opacity, size, message. Hover never talks to the kernel; clicks, keys and
// the controls call model.set + model.save_changes.
import { decode, bytesOf } from "./lib/tensor.js";
import { makeLut, drawColorbar } from "./lib/colormap.js";
import { DotArena, arenaBytes } from "./lib/simdot.js";
import { LineChart, CHART_STYLE, fmtNumber } from "./lib/chart.js";

const STYLE = `
.xw-sweep {
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color1, #fff);
  padding: 8px; box-sizing: border-box; max-width: 100%; line-height: 1.35;
}
.xw-sweep * { box-sizing: border-box; }
.xw-sweep .xw-header { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }
.xw-sweep .xw-header label { display: inline-flex; align-items: center; gap: 6px; cursor: pointer; }
.xw-sweep .xw-caption { font-weight: 600; }
.xw-sweep select {
  font: inherit; color: var(--jp-ui-font-color1, #222); background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 2px; padding: 1px 4px;
}
.xw-sweep input[type="range"] { width: 100px; accent-color: var(--jp-brand-color1, #1976d2); }
.xw-sweep .xw-legend { display: inline-flex; flex-direction: column; gap: 1px; }
.xw-sweep .xw-colorbar { display: block; box-shadow: 0 0 0 1px var(--jp-border-color2, #e0e0e0); }
.xw-sweep .xw-ticks {
  display: flex; justify-content: space-between; gap: 8px;
  font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #555); font-variant-numeric: tabular-nums;
}
.xw-sweep .xw-hint { margin: 4px 0 6px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #616161); }
.xw-sweep .xw-hint kbd {
  font-family: var(--jp-code-font-family, monospace); font-size: inherit;
  border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 3px; padding: 0 3px; background: var(--jp-layout-color2, #eee);
}
.xw-sweep .xw-body { width: max-content; max-width: 100%; }
.xw-sweep .xw-strip {
  display: flex; flex-wrap: nowrap; gap: 8px; align-items: flex-start; padding: 4px; border-radius: 3px; outline: none;
}
.xw-sweep .xw-copies { display: grid; gap: 6px 8px; grid-template-columns: repeat(var(--xw-columns, 6), max-content); }
.xw-sweep .xw-strip:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.xw-sweep .xw-cell { margin: 0; display: flex; flex-direction: column; align-items: center; gap: 2px; border-radius: 3px; }
.xw-sweep .xw-cell figcaption {
  font-variant-numeric: tabular-nums; color: var(--jp-ui-font-color2, #616161); max-width: 100%;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
}
.xw-sweep .xw-cell.xw-original figcaption { font-weight: 600; color: var(--jp-ui-font-color1, #222); }
.xw-sweep .xw-cell.xw-original { padding-right: 8px; border-right: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 0; }
.xw-sweep canvas.xw-panel { display: block; touch-action: none; box-shadow: 0 0 0 1px var(--jp-border-color2, #e0e0e0); }
.xw-sweep .xw-original canvas.xw-panel { cursor: crosshair; }
.xw-sweep .xw-cell.xw-highlight canvas.xw-panel { box-shadow: 0 0 0 3px var(--jp-brand-color1, #1976d2); }
.xw-sweep .xw-cell.xw-highlight figcaption { color: var(--jp-brand-color1, #1976d2); font-weight: 600; }
.xw-sweep .xw-chart { margin: 10px 0 0 4px; }
.xw-sweep .xw-chart canvas { cursor: pointer; }
.xw-sweep .xw-chart-key { display: flex; gap: 14px; margin: 2px 0 0 50px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #616161); }
.xw-sweep .xw-chart-key span::before { content: ""; display: inline-block; width: 18px; vertical-align: middle; margin-right: 5px; }
.xw-sweep .xw-key-cell::before { border-top: 2px solid var(--jp-brand-color1, #1976d2); }
.xw-sweep .xw-key-mean::before { border-top: 2px dashed var(--jp-ui-font-color3, #9e9e9e); }
.xw-sweep .xw-readout { margin-top: 6px; min-height: 1.35em; white-space: pre-wrap; font-variant-numeric: tabular-nums; }
.xw-sweep .xw-message, .xw-sweep .xw-error {
  margin-top: 6px; padding: 6px 8px; border-radius: 3px; white-space: pre-wrap; color: var(--jp-ui-font-color1, #222);
}
.xw-sweep .xw-message { border: 1px solid var(--jp-warn-color1, #f57c00); background: rgba(245, 124, 0, 0.12); }
.xw-sweep .xw-error { border: 1px solid var(--jp-error-color1, #d32f2f); background: rgba(211, 47, 47, 0.12); }
.xw-sweep [hidden] { display: none !important; }
${CHART_STYLE}
`;

const OUTLINE = "#ffff00";

function elem(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

const clampInt = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);
const fmtSim = (v) => (Number.isFinite(v) ? v.toFixed(3) : "none");

function displaySize(W0, H0, size) {
  if (W0 >= H0) return [size, Math.max(1, Math.floor((size * H0) / W0 + 0.5))];
  return [Math.max(1, Math.floor((size * W0) / H0 + 0.5)), size];
}

function loadPixels(p, what) {
  if (!p || !Array.isArray(p.shape) || p.shape.length !== 3 || Number(p.shape[2]) !== 3) {
    throw new Error(`${what}: pixels must have shape [H, W, 3]`);
  }
  const [H0, W0] = p.shape.map(Number);
  const bytes = bytesOf(p);
  if (!(H0 > 0 && W0 > 0) || bytes.length < H0 * W0 * 3) throw new Error(`${what}: pixel data too short`);
  return { W0, H0, bytes };
}

/** Decode and validate `_data`: images[0] is the original, images[k + 1] copy k. */
function loadData(raw) {
  if (!raw || !raw.original || !Array.isArray(raw.copies) || !Array.isArray(raw.values)) {
    throw new Error("_data is incomplete (original, copies and values are needed)");
  }
  const values = raw.values.map(Number);
  const V = raw.copies.length;
  if (values.length !== V || V === 0) throw new Error(`${values.length} values for ${V} copies`);
  const [h, w] = (raw.grid || []).map(Number);
  if (!(h > 0 && w > 0)) throw new Error("_data.grid must be [h, w]");
  const cells = h * w;
  const entries = [raw.original, ...raw.copies];
  let C = -1;
  entries.forEach((e, i) => {
    const shape = e && e.acts && Array.isArray(e.acts.shape) ? e.acts.shape.map(Number) : [];
    if (shape.length !== 3 || shape[0] !== h || shape[1] !== w || !(shape[2] > 0)) {
      throw new Error(`image ${i}: activations must have shape [${h}, ${w}, C]`);
    }
    if (C < 0) C = shape[2];
    else if (shape[2] !== C) throw new Error("channel count differs between images");
  });
  const n = entries.length;
  const arena = new DotArena(arenaBytes([n * cells * C], [C, n * cells]));
  const all = arena.allocF32(n * cells * C);
  const q = arena.allocF64(C);
  const out = arena.allocF64(n * cells);
  const images = entries.map((e, i) => {
    all.subarray(i * cells * C, (i + 1) * cells * C).set(decode(e.acts).data.subarray(0, cells * C));
    const px = loadPixels(e.pixels, i === 0 ? "original" : `copy ${i - 1}`);
    const title = e.title == null ? (i === 0 ? "original" : fmtNumber(values[i - 1])) : String(e.title);
    return { ...px, title, vecs: all.subarray(i * cells * C, (i + 1) * cells * C), sims: out.subarray(i * cells, (i + 1) * cells) };
  });
  const corr = raw.copies.map((c, k) => {
    const rows = Int32Array.from(c.rows || [], Number);
    const cols = Int32Array.from(c.cols || [], Number);
    if (rows.length !== cells || cols.length !== cells) throw new Error(`copy ${k}: correspondence must list ${cells} cells`);
    return { rows, cols };
  });
  const mean = Array.isArray(raw.mean) && raw.mean.length === V ? raw.mean.map((v) => (v == null ? NaN : Number(v))) : null;
  return {
    layer: raw.layer == null ? "" : String(raw.layer),
    axis: raw.axis == null ? "transform value" : String(raw.axis),
    values, V, h, w, C, cells, images, corr, mean, arena, all, q, out, key: null,
  };
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
  const root = elem("div", "xw-sweep");
  root.appendChild(elem("style", null, STYLE));
  const header = elem("div", "xw-header");
  const caption = elem("span", "xw-caption");
  const cmapLabel = elem("label", null, "colormap");
  const cmapSelect = elem("select", "xw-colormap");
  cmapLabel.appendChild(cmapSelect);
  const opLabel = elem("label", null, "opacity");
  const opInput = elem("input", "xw-opacity");
  Object.assign(opInput, { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(opInput);
  const legend = elem("div", "xw-legend");
  const colorbar = elem("canvas", "xw-colorbar");
  const ticks = elem("div", "xw-ticks");
  const tickLo = elem("span", "xw-tick");
  const tickMid = elem("span", "xw-tick");
  const tickHi = elem("span", "xw-tick");
  ticks.append(tickLo, tickMid, tickHi);
  legend.append(colorbar, ticks);
  header.append(caption, cmapLabel, opLabel, legend);

  const hint = elem("div", "xw-hint");
  for (const [tag, text] of [
    ["", "hover a cell of the original · click: pin / unpin · hover a copy or a chart point to pair them · "],
    ["kbd", "←↑↓→"], ["", " move & pin · "], ["kbd", "Esc"], ["", " unpin"],
  ]) hint.append(tag ? elem(tag, null, text) : document.createTextNode(text));

  const body = elem("div", "xw-body");
  const strip = elem("div", "xw-strip");
  strip.tabIndex = 0;
  strip.setAttribute("role", "application");
  strip.setAttribute("aria-label", "original and transformed copies");
  strip.setAttribute("data-lm-suppress-shortcuts", "true");
  const copiesGrid = elem("div", "xw-copies");
  const chart = new LineChart({ label: "similarity to the corresponding cell against the transform value" });
  const chartKey = elem("div", "xw-chart-key");
  chartKey.append(elem("span", "xw-key-cell", "hovered cell"), elem("span", "xw-key-mean", "mean over all cells"));
  body.append(strip, chart.el, chartKey);
  const readout = elem("div", "xw-readout");
  readout.setAttribute("aria-live", "polite");
  const errorBox = elem("div", "xw-error");
  errorBox.hidden = true;
  const messageBox = elem("div", "xw-message");
  messageBox.setAttribute("role", "status");
  messageBox.hidden = true;
  root.append(header, hint, body, readout, errorBox, messageBox);
  el.appendChild(root);

  // ---------------------------------------------------------------- state
  let D = null;
  let panels = []; // panels[i]: i = 0 original, i = k + 1 copy k
  let pinned = null; // {row, col}
  let hover = null; // {row, col} from the original panel
  let highlight = -1; // copy index paired in the panels and the chart
  let pointer = null; // {image, row, col} under the pointer (image 0 = original)
  let curve = [];
  let lut = null;
  let painted = false;

  const getNum = (name, dflt) => {
    const v = Number(model.get(name));
    return Number.isFinite(v) ? v : dflt;
  };
  const same = (a, b) => a === b || (!!a && !!b && a.row === b.row && a.col === b.col);

  function validateQuery(q) {
    if (!D || !q || typeof q !== "object") return null;
    const { row, col } = q;
    if (!(Number.isInteger(row) && Number.isInteger(col) && row >= 0 && col >= 0 && row < D.h && col < D.w)) return null;
    return { row, col };
  }

  function setQuery(q) {
    model.set("query", q ? { row: q.row, col: q.col } : null);
    model.save_changes();
    syncPinned();
  }

  /** The cell of copy k showing the content of original cell (row, col), or null. */
  function corresponding(k, q) {
    const i = q.row * D.w + q.col;
    const r = D.corr[k].rows[i];
    const c = D.corr[k].cols[i];
    return r >= 0 && c >= 0 && r < D.h && c < D.w ? [r, c] : null;
  }

  function computeSims(q) {
    const key = `${q.row},${q.col}`;
    if (D.key === key) return;
    const src = D.images[0].vecs;
    const base = (q.row * D.w + q.col) * D.C;
    for (let i = 0; i < D.C; i++) D.q[i] = src[base + i];
    D.arena.dots(D.q, D.all, D.C, D.images.length * D.cells, D.out);
    curve = D.corr.map((_, k) => {
      const rc = corresponding(k, q);
      return rc ? D.images[k + 1].sims[rc[0] * D.w + rc[1]] : NaN;
    });
    D.key = key;
  }

  // ------------------------------------------------------------- drawing
  function range() {
    const vr = model.get("vrange");
    const lo = Array.isArray(vr) ? Number(vr[0]) : NaN;
    const hi = Array.isArray(vr) ? Number(vr[1]) : NaN;
    return [Number.isFinite(lo) ? lo : 0, Number.isFinite(hi) ? hi : 1];
  }

  function updateLut() {
    const maps = model.get("_colormaps") || {};
    let name = model.get("colormap");
    if (!(name in maps)) name = Object.keys(maps)[0] || "";
    lut = makeLut(maps[name]);
    if (!lut) {
      const ramp = new Uint8Array(768);
      for (let i = 0; i < 768; i++) ramp[i] = Math.floor(i / 3);
      lut = makeLut(ramp);
    }
    const names = Object.keys(maps);
    if (cmapSelect.options.length !== names.length || names.some((n, i) => cmapSelect.options[i].value !== n)) {
      cmapSelect.replaceChildren(...names.map((n) => Object.assign(elem("option", null, n), { value: n })));
    }
    cmapSelect.value = name;
    drawColorbar(colorbar, lut, 160, 10);
    const [lo, hi] = range();
    tickLo.textContent = fmtNumber(lo);
    tickMid.textContent = fmtNumber((lo + hi) / 2);
    tickHi.textContent = fmtNumber(hi);
  }

  function outline(P, r, c) {
    const { ctx } = P;
    const bw = P.canvas.width;
    const bh = P.canvas.height;
    ctx.setTransform(bw / P.W, 0, 0, bh / P.H, 0, 0);
    const x0 = (c * P.W) / D.w;
    const x1 = ((c + 1) * P.W) / D.w;
    const y0 = (r * P.H) / D.h;
    const y1 = ((r + 1) * P.H) / D.h;
    ctx.lineWidth = 2;
    ctx.strokeStyle = OUTLINE;
    ctx.strokeRect(x0 + 1, y0 + 1, Math.max(0, x1 - x0 - 2), Math.max(0, y1 - y0 - 2));
    ctx.setTransform(1, 0, 0, 1, 0, 0);
  }

  function drawPanel(i, active, lo, hi, alpha) {
    const P = panels[i];
    const { ctx } = P;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
    ctx.drawImage(P.base, 0, 0);
    if (!active) return;
    const sims = D.images[i].sims;
    const px = P.px;
    const table = lut.rgba32;
    const span = hi > lo ? hi - lo : 1;
    for (let j = 0; j < sims.length; j++) {
      let t = (sims[j] - lo) / span;
      if (t < 0) t = 0;
      else if (t > 1) t = 1;
      px[j] = t === t ? table[Math.floor(t * 255 + 0.5)] : 0;
    }
    P.sctx.putImageData(P.img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.globalAlpha = alpha;
    ctx.drawImage(P.small, 0, 0, D.w, D.h, 0, 0, P.canvas.width, P.canvas.height);
    ctx.globalAlpha = 1;
    const rc = i === 0 ? [active.row, active.col] : corresponding(i - 1, active);
    if (rc) outline(P, rc[0], rc[1]);
  }

  function tipText(k) {
    const v = curve[k];
    return `${D.images[k + 1].title}: ${Number.isFinite(v) ? v.toFixed(3) : "left the image"}`;
  }

  function drawChart() {
    if (!D) return;
    const active = pinned || hover;
    chart.draw({
      xs: D.values,
      ys: active ? curve : D.values.map(() => NaN),
      ref: D.mean,
      yRange: range(),
      highlight,
      xTitle: D.axis,
      yTitle: active ? `similarity of cell (${active.row}, ${active.col}) to the same content` : "similarity to the same content (hover a cell of the original)",
      tip: active && highlight >= 0 ? tipText(highlight) : "",
    });
  }

  function updateHighlight() {
    panels.forEach((P, i) => P.cell.classList.toggle("xw-highlight", i > 0 && i - 1 === highlight));
    root.dataset.highlight = String(highlight);
    drawChart();
    updateReadout();
  }

  function updateReadout() {
    if (!D) return;
    const active = pinned || hover;
    const parts = [];
    if (active) parts.push(`${pinned ? "pinned " : ""}cell (${active.row}, ${active.col}) of the original, layer ${D.layer}`);
    if (active && highlight >= 0) {
      const rc = corresponding(highlight, active);
      parts.push(rc ? `${D.images[highlight + 1].title}: same content in cell (${rc[0]}, ${rc[1]}), similarity ${fmtSim(curve[highlight])}`
        : `${D.images[highlight + 1].title}: the content left the image`);
    }
    if (active && pointer) {
      const s = D.images[pointer.image].sims[pointer.row * D.w + pointer.col];
      parts.push(`pointer: ${D.images[pointer.image].title} cell (${pointer.row}, ${pointer.col}) ${fmtSim(s)}`);
    }
    const text = parts.join("   |   ");
    if (readout.textContent !== text) readout.textContent = text;
  }

  function paint() {
    if (!D) return null;
    const active = pinned || hover;
    if (active) computeSims(active);
    const [lo, hi] = range();
    const alpha = Math.min(1, Math.max(0, getNum("opacity", 0.7)));
    for (let i = 0; i < panels.length; i++) drawPanel(i, active, lo, hi, alpha);
    root.dataset.query = active ? `${active.row},${active.col}` : "";
    drawChart();
    updateReadout();
    if (!painted) {
      painted = true;
      el.dataset.xwPainted = String(performance.timeOrigin + performance.now());
    }
    return active;
  }

  // --------------------------------------------------------------- layout
  function layout() {
    strip.replaceChildren();
    copiesGrid.replaceChildren();
    panels = [];
    if (!D) return;
    const size = Math.max(16, Math.round(getNum("size", 160)));
    const dpr = window.devicePixelRatio || 1;
    caption.textContent = `${D.layer} · ${D.h}×${D.w}×${D.C}`;
    D.images.forEach((im, i) => {
      const [W, H] = displaySize(im.W0, im.H0, size);
      const cell = elem("figure", i === 0 ? "xw-cell xw-original" : "xw-cell");
      const cap = elem("figcaption", null, im.title);
      cap.title = im.title;
      cap.style.maxWidth = `${W}px`;
      const canvas = elem("canvas", "xw-panel");
      canvas.dataset.copy = String(i - 1);
      canvas.width = Math.max(1, Math.round(W * dpr));
      canvas.height = Math.max(1, Math.round(H * dpr));
      canvas.style.width = `${W}px`;
      canvas.style.height = `${H}px`;
      cell.append(cap, canvas);
      (i === 0 ? strip : copiesGrid).appendChild(cell);
      // source pixels -> canvas -> scaled (smoothed) once to the backing size
      const src = elem("canvas");
      src.width = im.W0;
      src.height = im.H0;
      const sctx0 = src.getContext("2d");
      const img0 = sctx0.createImageData(im.W0, im.H0);
      const d = img0.data;
      for (let p = 0, s = 0, o = 0; p < im.W0 * im.H0; p++, s += 3, o += 4) {
        d[o] = im.bytes[s];
        d[o + 1] = im.bytes[s + 1];
        d[o + 2] = im.bytes[s + 2];
        d[o + 3] = 255;
      }
      sctx0.putImageData(img0, 0, 0);
      const base = elem("canvas");
      base.width = canvas.width;
      base.height = canvas.height;
      const bctx = base.getContext("2d");
      bctx.imageSmoothingEnabled = true;
      bctx.imageSmoothingQuality = "high";
      bctx.drawImage(src, 0, 0, im.W0, im.H0, 0, 0, base.width, base.height);
      const small = elem("canvas");
      small.width = D.w;
      small.height = D.h;
      const sctx = small.getContext("2d");
      const img = sctx.createImageData(D.w, D.h);
      panels.push({ cell, canvas, ctx: canvas.getContext("2d"), W, H, base, small, sctx, img, px: new Uint32Array(img.data.buffer) });
    });
    strip.appendChild(copiesGrid);
    fitColumns();
  }

  /** Copies in balanced rows that fit the available width; the chart as wide as the panels. */
  function fitColumns() {
    if (!D || !panels.length) return;
    const gap = 8;
    const cellW = Math.max(...panels.slice(1).map((P) => P.W)) + gap;
    const origW = panels[0].W + 2 * gap + 1 + gap; // panel, padding + separator, gap to the copies
    const avail = root.clientWidth > 0 ? root.clientWidth - 16 - 8 : origW + 6 * cellW;
    const fit = Math.max(1, Math.floor((avail - origW + gap) / cellW));
    const rows = Math.ceil(D.V / fit);
    const cols = Math.ceil(D.V / rows);
    copiesGrid.style.setProperty("--xw-columns", String(cols));
    const width = Math.max(340, Math.min(origW + cols * cellW - gap, Math.max(340, avail)));
    if (Math.round(width) !== chart.W) {
      chart.resize(width, 210);
      drawChart();
    }
  }

  function rebuild() {
    hover = null;
    pointer = null;
    highlight = -1;
    curve = [];
    try {
      D = loadData(model.get("_data"));
      showError("");
    } catch (err) {
      D = null;
      showError(`transform sweep: ${err && err.message ? err.message : err}`);
    }
    pinned = validateQuery(model.get("query"));
    layout();
    updateHighlight();
    paint();
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function syncPinned() {
    const q = validateQuery(model.get("query"));
    if (same(q, pinned)) return;
    pinned = q;
    paint();
  }

  function syncMessage() {
    const m = model.get("message");
    const text = m == null ? "" : String(m);
    messageBox.textContent = text;
    messageBox.hidden = text.length === 0;
  }

  // ---------------------------------------------------------------- hover
  let pending = null;
  let rafId = 0;

  /** {image, row, col} under the pointer (image 0 = original, k + 1 = copy k) or null. */
  function hitTest(ev) {
    const t = ev.target;
    if (!D || !t || !t.classList || !t.classList.contains("xw-panel")) return null;
    const i = Number(t.dataset.copy) + 1;
    const P = panels[i];
    if (!P) return null;
    const rect = t.getBoundingClientRect();
    const x = ((ev.clientX - rect.left) * P.W) / (rect.width || P.W);
    const y = ((ev.clientY - rect.top) * P.H) / (rect.height || P.H);
    return { image: i, row: clampInt(Math.floor((y * D.h) / P.H), 0, D.h - 1), col: clampInt(Math.floor((x * D.w) / P.W), 0, D.w - 1) };
  }

  function processHover(ev, hit) {
    const t0 = performance.now();
    const before = pinned || hover;
    pointer = hit;
    if (hit && hit.image === 0) hover = { row: hit.row, col: hit.col };
    const nextHighlight = hit ? hit.image - 1 : highlight;
    const active = pinned || hover;
    if (!same(before, active)) {
      paint();
      el.dispatchEvent(new CustomEvent("xw-paint", { detail: { latency: performance.now() - ev.timeStamp, work: performance.now() - t0, query: active } }));
    }
    if (nextHighlight !== highlight) {
      highlight = nextHighlight;
      updateHighlight();
    } else {
      updateReadout();
    }
  }

  function onFrame() {
    rafId = 0;
    if (!pending) return;
    const p = pending;
    pending = null;
    rafId = requestAnimationFrame(onFrame);
    p.fn();
  }

  function queue(fn) {
    if (rafId) {
      pending = { fn };
      return;
    }
    rafId = requestAnimationFrame(onFrame);
    fn();
  }

  const onStripMove = (ev) => {
    const hit = hitTest(ev);
    queue(() => processHover(ev, hit));
  };
  listen(strip, "pointermove", onStripMove);
  if ("onpointerrawupdate" in window) listen(strip, "pointerrawupdate", onStripMove);
  listen(strip, "pointerout", (ev) => {
    const t = ev.target;
    if (!t || !t.classList || !t.classList.contains("xw-panel")) return;
    const to = ev.relatedTarget;
    if (to && to.classList && to.classList.contains("xw-panel") && strip.contains(to)) return;
    // off the panels: keep the hovered cell (to reach the chart), drop the pointer readout
    queue(() => {
      pointer = null;
      updateReadout();
    });
  });
  // Leaving the panels and the chart altogether clears the hover.
  listen(body, "pointerleave", () => {
    queue(() => {
      pointer = null;
      const before = pinned || hover;
      hover = null;
      highlight = -1;
      if (!same(before, pinned)) paint();
      updateHighlight();
    });
  });
  listen(chart.canvas, "pointermove", (ev) => {
    const k = chart.nearest(ev);
    queue(() => {
      if (k !== highlight) {
        highlight = k;
        updateHighlight();
      }
    });
  });
  listen(chart.canvas, "pointerleave", () => {
    queue(() => {
      if (highlight !== -1) {
        highlight = -1;
        updateHighlight();
      }
    });
  });
  listen(strip, "click", (ev) => {
    const hit = hitTest(ev);
    if (!hit || hit.image !== 0) return;
    pending = null;
    pointer = hit;
    if (pinned) {
      hover = { row: hit.row, col: hit.col };
      setQuery(null);
    } else {
      setQuery(hit);
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
    if (ev.target !== strip) return;
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const m = moves[ev.key];
    if (!m) return;
    const q = pinned || hover || { row: D.h >> 1, col: D.w >> 1 };
    ev.preventDefault();
    ev.stopPropagation();
    pointer = null;
    setQuery({ row: clampInt(q.row + m[0], 0, D.h - 1), col: clampInt(q.col + m[1], 0, D.w - 1) });
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

  onModel("change:_data", rebuild);
  onModel("change:query", syncPinned);
  onModel("change:size", () => {
    layout();
    updateHighlight();
    paint();
  });
  for (const name of ["change:colormap", "change:_colormaps", "change:vrange"]) {
    onModel(name, () => {
      updateLut();
      paint();
    });
  }
  onModel("change:opacity", () => {
    opInput.value = String(getNum("opacity", 0.7));
    paint();
  });
  onModel("change:message", syncMessage);

  const resizeObserver = new ResizeObserver(() => fitColumns());
  resizeObserver.observe(root);
  disposers.push(() => resizeObserver.disconnect());

  // A JupyterLab theme switch changes the CSS variables the chart's canvas reads.
  const themeObserver = new MutationObserver(() => drawChart());
  themeObserver.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class", "style"] });
  themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ["class", "style"] });
  disposers.push(() => themeObserver.disconnect());

  opInput.value = String(getNum("opacity", 0.7));
  updateLut();
  syncMessage();
  rebuild();

  return () => {
    for (const dispose of disposers.splice(0)) dispose();
    if (rafId) cancelAnimationFrame(rafId);
    rafId = 0;
    pending = null;
    root.remove();
    D = null;
    panels = [];
  };
}

export default { render };
