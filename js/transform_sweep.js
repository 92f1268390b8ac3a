// Transform sweep (Fong, Mordvintsev, Vedaldi, Olah; "Interactive Similarity
// Overlays", VISxAI 2021, section "geometric transformations") as an anywidget
// front-end module. Hover a cell of the original image: every copy (rotated or
// zoomed) is shaded by cosine similarity to the hovered cell's activation vector,
// the cell showing the same content is outlined in each copy, and a line chart
// plots that cell's similarity against the transform value. Hovering a chart
// point or a copy highlights the pair.
//
// Layout: the original and the chart side by side (the chart under the original when the
// width is too small for both), so the hovered cell and its curve are on one screen; the
// copies wrap in balanced rows under them. Panel sizes follow the width (`size` is the
// largest); the layout chosen is on the root (data-layout) and in the details line.
//
// Synced traits (xai_widgets/widgets/sweep.py): _data, _colormaps, query, colormap,
// vrange, opacity, size, message. Hover never talks to the kernel; clicks, keys and
// the controls call model.set + model.save_changes.
import { bytesOf } from "./lib/tensor.js";
import { DotArena, arenaBytes } from "./lib/simdot.js";
import { LineChart, fmtNumber } from "./lib/chart.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { headerControls, bindControls, loadColormap, vrangeOf } from "./lib/controls.js";
import {
  clampInt, displaySize, scaledImage, makePanel, drawBase, drawOverlay, outlineCell, colourRange, fmtBytes,
} from "./lib/panels.js";
import { onWidth, fitPanels, fitsBeside, detailsLine } from "./lib/fit.js";
import { frameQueue, listenMoves, isPanel, leavesPanels, dispatchPaint, pinKeys } from "./lib/hover.js";

const GAP = 8; // px between copies
const BESIDE_GAP = 16; // px between the original and the chart
const PAD = 4; // px of padding around the panels (room for the focus outline)
const MIN_COPY = 120; // px: the smallest copy before they wrap into more rows
const MIN_CHART = 320; // px: the narrowest chart beside the original
const MAX_CHART = 960; // px: wider charts only stretch the same points apart


const fmtSim = (v) => (Number.isFinite(v) ? v.toFixed(3) : "none");

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
  const all = arena.allocHalf(n * cells * C);
  const q = arena.allocF32(C);
  const out = arena.allocF32(n * cells);
  const images = entries.map((e, i) => {
    arena.fillHalves(all.subarray(i * cells * C, (i + 1) * cells * C), e.acts);
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
  const bytes = entries.reduce((sum, e) => sum + bytesOf(e.pixels).length + bytesOf(e.acts).length, 0);
  return {
    bytes,
    layer: raw.layer == null ? "" : String(raw.layer),
    axis: raw.axis == null ? "transform value" : String(raw.axis),
    values, V, h, w, C, cells, images, corr, mean, arena, all, q, out, key: null,
  };
}

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(model, el, "xw-sweep", { vars: { pad: PAD, "beside-gap": BESIDE_GAP, gap: GAP } });

  // ------------------------------------------------------------------ DOM
  const header = elem("div", "xw-header");
  const caption = elem("span", "xw-caption");
  const controls = headerControls();
  const { opInput } = controls;
  header.append(caption, controls.cmapLabel, controls.opLabel, controls.legend.el);

  const hint = hintLine([
    ["", "hover a cell of the original · click: pin / unpin · hover a copy or a chart point to pair them · "],
    ["kbd", "←↑↓→"], ["", " move & pin · "], ["kbd", "Esc"], ["", " unpin"],
  ]);

  // The panels and the chart, in one focusable block: the original and the chart side by side
  // (.xw-lead), the copies under them.
  const strip = elem("div", "xw-strip");
  strip.tabIndex = 0;
  strip.setAttribute("role", "application");
  strip.setAttribute("aria-label", "original, similarity chart and transformed copies");
  strip.setAttribute("data-lm-suppress-shortcuts", "true");
  const lead = elem("div", "xw-lead");
  const copiesGrid = elem("div", "xw-copies");
  const chart = new LineChart({ label: "similarity to the corresponding cell against the transform value" });
  const chartKey = elem("div", "xw-chart-key");
  chartKey.append(elem("span", "xw-key-cell", "hovered cell"), elem("span", "xw-key-mean", "mean over all cells"));
  const chartBox = elem("div", "xw-chartbox");
  chartBox.append(chart.el, chartKey);
  strip.append(lead, copiesGrid);
  const details = detailsLine();
  root.append(header, hint, strip, status.readout, details.el, status.errorBox, status.messageBox);
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
    D.arena.loadQuery(D.q, D.images[0].vecs, (q.row * D.w + q.col) * D.C, D.C);
    D.arena.dots(D.q, D.all, D.C, D.images.length * D.cells, D.out);
    curve = D.corr.map((_, k) => {
      const rc = corresponding(k, q);
      return rc ? D.images[k + 1].sims[rc[0] * D.w + rc[1]] : NaN;
    });
    D.key = key;
  }

  // ------------------------------------------------------------- drawing
  /** The range colours and the chart's y axis cover (the diverging map's symmetric about 0: colourRange). */
  const shownRange = () => colourRange(model.get("colormap"), ...vrangeOf(model));

  function updateLut() {
    lut = loadColormap(model, controls);
    const [lo, hi] = shownRange();
    const caption = model.get("colormap") === "diverging"
      ? "cosine similarity · grey centre = 0: orthogonal vectors (red: alike, blue: opposed)"
      : "cosine similarity";
    controls.legend.draw(lut, lo, hi, { caption });
  }

  function drawPanel(i, active, lo, hi, alpha) {
    const P = panels[i];
    drawBase(P, P.base);
    if (!active) return;
    drawOverlay(P, D.images[i].sims, lut, lo, hi, alpha);
    const rc = i === 0 ? [active.row, active.col] : corresponding(i - 1, active);
    if (rc) outlineCell(P, rc[0], rc[1]);
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
      yRange: shownRange(),
      highlight,
      xTitle: D.axis,
      yTitle: active ? `cell (${active.row}, ${active.col}): similarity to the same content` : "similarity to the same content",
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
    status.setReadout(parts.join("   |   "));
  }

  function paint() {
    if (!D) return null;
    const active = pinned || hover;
    if (active) computeSims(active);
    const [lo, hi] = shownRange();
    const alpha = Math.min(1, Math.max(0, getNum(model, "opacity", 0.7)));
    for (let i = 0; i < panels.length; i++) drawPanel(i, active, lo, hi, alpha);
    root.dataset.query = active ? `${active.row},${active.col}` : "";
    drawChart();
    updateReadout();
    markPainted();
    return active;
  }

  // --------------------------------------------------------------- layout
  /** Content width of the root (CSS px), 0 while it is not in the document. */
  function availableWidth() {
    if (!root.isConnected) return 0;
    const cs = getComputedStyle(root);
    return Math.max(0, Math.floor(root.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)));
  }

  let laidOut = null; // {room, size, perRow, rows, chart: "beside" | "under", largest}

  /**
   * Panels for the width available: the copies as large as `size` and as fit in balanced rows
   * (fitPanels), the original as large as a copy, the chart beside it when both fit, else under it.
   */
  function layout() {
    lead.replaceChildren();
    copiesGrid.replaceChildren();
    panels = [];
    laidOut = null;
    if (!D) {
      root.dataset.layout = "";
      return;
    }
    const largest = Math.max(16, Math.round(getNum(model, "size", 160)));
    const room = availableWidth();
    const inner = room > 0 ? room - 2 * PAD : 0;
    const fit = inner > 0 ? fitPanels(inner, D.V, largest, { min: Math.min(MIN_COPY, largest), gap: GAP })
      : { size: largest, perRow: Math.min(D.V, 6), rows: Math.ceil(D.V / Math.min(D.V, 6)) };
    caption.textContent = D.layer;
    D.images.forEach((im, i) => {
      const [W, H] = displaySize(im.W0, im.H0, fit.size);
      const cell = elem("figure", i === 0 ? "xw-cell xw-original" : "xw-cell");
      const cap = elem("figcaption", null, im.title);
      cap.title = im.title;
      cap.style.maxWidth = `${W}px`;
      const P = makePanel(W, H, D.w, D.h, { copy: String(i - 1) });
      cell.append(cap, P.canvas);
      (i === 0 ? lead : copiesGrid).appendChild(cell);
      panels.push({ ...P, cell, base: scaledImage(im, W, H) });
    });
    lead.appendChild(chartBox);
    copiesGrid.style.setProperty("--xw-columns", String(fit.perRow));
    const origW = panels[0].W;
    const beside = inner <= 0 || fitsBeside(inner, origW, MIN_CHART, BESIDE_GAP);
    // beside: the rest of the width; under: the whole width (too narrow for both side by side)
    const chartW = beside ? Math.max(MIN_CHART, inner > 0 ? inner - origW - BESIDE_GAP : 480) : inner;
    chart.resize(Math.min(MAX_CHART, chartW), Math.max(180, Math.min(240, panels[0].H + 24)));
    const where = beside ? "beside" : "under";
    laidOut = { room, size: fit.size, perRow: fit.perRow, rows: fit.rows, chart: where, largest };
    root.dataset.layout = JSON.stringify({ chart: where, perRow: fit.perRow, rows: fit.rows, size: fit.size, width: room });
    details.set("layout", `layout: chart ${where} the original; `
      + `${D.V} copies in ${fit.rows} row${fit.rows > 1 ? "s" : ""} of up to ${fit.perRow}; panels ${fit.size} px `
      + `(size=${largest} is the largest)${room ? ` for ${room} px` : ""}`);
    details.set("data", `layer ${D.layer}: ${D.h}×${D.w} cells × ${D.C} channels, for the original and ${D.V} copies; `
      + `ships ${fmtBytes(D.bytes)} (unit float16 activation vectors and display pixels)`);
  }

  /** Lay out again when the width available changes. */
  function onResize() {
    if (!D || !laidOut || availableWidth() === laidOut.room) return;
    layout();
    updateHighlight();
    paint();
  }

  function rebuild() {
    hover = null;
    pointer = null;
    highlight = -1;
    curve = [];
    D = status.attempt("transform sweep", () => loadData(model.get("_data")));
    pinned = validateQuery(model.get("query"));
    layout();
    updateHighlight();
    paint();
  }

  function syncPinned() {
    const q = validateQuery(model.get("query"));
    if (same(q, pinned)) return;
    pinned = q;
    paint();
  }

  // ---------------------------------------------------------------- hover
  const frames = frameQueue();

  /** {image, row, col} under the pointer (image 0 = original, k + 1 = copy k) or null. */
  function hitTest(ev) {
    const t = ev.target;
    if (!D || !isPanel(t)) return null;
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
      dispatchPaint(el, ev, t0, active);
    }
    if (nextHighlight !== highlight) {
      highlight = nextHighlight;
      updateHighlight();
    } else {
      updateReadout();
    }
  }

  const queue = frames.queue;

  const onStripMove = (ev) => {
    if (chartBox.contains(ev.target)) return; // the chart's own listeners pair it with the copies
    const hit = hitTest(ev);
    queue(() => processHover(ev, hit));
  };
  listenMoves(listen, strip, onStripMove);
  listen(strip, "pointerout", (ev) => {
    if (!leavesPanels(ev, strip)) return;
    // off the panels: keep the hovered cell (to reach the chart), drop the pointer readout
    queue(() => {
      pointer = null;
      updateReadout();
    });
  });
  // Leaving the panels and the chart altogether clears the hover.
  listen(strip, "pointerleave", () => {
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
    frames.drop();
    pointer = hit;
    if (pinned) {
      hover = { row: hit.row, col: hit.col };
      setQuery(null);
    } else {
      setQuery(hit);
    }
  });
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  const moveTo = (ev) => {
    const m = moves[ev.key];
    if (!D || ev.target !== strip || !m) return null;
    const q = pinned || hover || { row: D.h >> 1, col: D.w >> 1 };
    pointer = null;
    return { row: clampInt(q.row + m[0], 0, D.h - 1), col: clampInt(q.col + m[1], 0, D.w - 1) };
  };
  listen(root, "keydown", pinKeys(() => pinned, setQuery, moveTo));

  // ------------------------------------------------------------- controls
  bindControls(listen, model, controls);

  onModel("change:_data", rebuild);
  onModel("change:query", syncPinned);
  onModel("change:size", () => {
    layout();
    updateHighlight();
    paint();
  });
  life.add(onWidth(root, onResize));
  for (const name of ["change:colormap", "change:_colormaps", "change:vrange"]) {
    onModel(name, () => {
      updateLut();
      paint();
    });
  }
  onModel("change:opacity", () => {
    opInput.value = String(getNum(model, "opacity", 0.7));
    paint();
  });

  // A JupyterLab theme switch changes the CSS variables the chart's canvas reads.
  const themeObserver = new MutationObserver(() => drawChart());
  themeObserver.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class", "style"] });
  themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ["class", "style"] });
  life.add(() => themeObserver.disconnect());

  opInput.value = String(getNum(model, "opacity", 0.7));
  updateLut();
  rebuild();

  return () => {
    life.dispose();
    frames.dispose();
    root.remove();
    D = null;
    panels = [];
  };
}

export default { render };
