// Path-mask attribution with a morphing slider ("Path-mask attribution" via VAE semantic
// morphing, from a thesis) as an anywidget front end. Every frame of the latent path, the mask,
// the step differences, per-step charts and the Semantic Morphing history arrive once
// (`_morph`); scrubbing, playing, overlays and the pixel probe run in the browser only.
// The kernel is asked for one thing: a new target class (`target`), with progress.
//
// Layout follows the width given (root data-layout): the linked charts beside the frame when
// two columns of them fit there ("charts-beside"), else under it ("charts-below"), sized to fill.
//
// Synced traits (xai_widgets/widgets/path_morph.py): _morph, _colormaps, progress, message,
// step, overlay, opacity, pixel, sm_step, target, size; in a to_html page only, _no_kernel
// (lib/kernel.js).
import { decode, bytesOf } from "./lib/tensor.js";
import { makeLut } from "./lib/colormap.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { progressControl } from "./lib/controls.js";
import { ColorLegend } from "./lib/legend.js";
import { kernelOnly } from "./lib/kernel.js";
import { clampInt, scaledImage, makePanel, drawBase } from "./lib/panels.js";
import { LineChart, fmtValue, fmtPercent, lineKey } from "./lib/chart.js";
import { onWidth, fitPanels, detailsLine } from "./lib/fit.js";

const SELF = "#0072b2"; // Okabe-Ito blue: the self class
const OTHER = "#d55e00"; // vermillion: the other class
const FAINT = "rgba(128,128,128,0.35)";
const CURSOR = "rgba(128,128,128,0.55)";
const WINDOW = "rgba(213,94,0,0.15)";
const BAND_S = "rgba(0,114,178,0.15)";
const BAND_O = "rgba(213,94,0,0.15)";
const OVERLAYS = [["none", "none"], ["mask", "mask (green)"], ["diff", "step difference"], ["masked", "masked step difference"]];
const PLAY_MS = 60; // per frame while playing
const STRIP = 16; // frames in the clickable strip
const THUMB = 28; // strip thumbnails, CSS px
const GAP = 12;
const MIN_CHART = 280; // narrower charts crowd their tick labels
const MAX_CHART = 440;


/** `_morph` decoded once: typed arrays and per-frame image records. */
function loadMorph(raw) {
  if (!raw || !raw.frames) return null;
  const [n, H, W, ch] = raw.frames.shape.map(Number);
  const bytes = bytesOf(raw.frames);
  const per = H * W * ch;
  const frames = Array.from({ length: n }, (_, i) => ({ bytes: bytes.subarray(i * per, (i + 1) * per), W0: W, H0: H, ch }));
  const image = (p) => (p ? { bytes: bytesOf(p), H0: p.shape[0], W0: p.shape[1], ch: p.shape[2] } : null);
  const probs = decode(raw.probs);
  const K = probs.shape[1];
  const sm = raw.sm && raw.sm.frames ? { ...raw.sm, images: loadStack(raw.sm.frames) } : null;
  return {
    n, H, W, ch, K, frames,
    classes: raw.classes, s: raw.s, o: raw.o,
    alphas: raw.alphas,
    diffs: decode(raw.diffs).data, // (n-1) x H x W
    mask: decode(raw.mask).data, // H x W in [0, 1]
    signed: decode(raw.signed).data,
    grads: raw.grads ? decode(raw.grads).data : null, // n x H x W
    probs: probs.data,
    entropy: raw.entropy, window: raw.window, gains: raw.gains, cumulative: raw.cumulative,
    norms: raw.norms, bands: raw.bands, summary: raw.summary,
    endpoints: Object.fromEntries(Object.entries(raw.endpoints || {}).map(([k, v]) => [k, image(v)])),
    labels: raw.labels || {}, warnings: raw.warnings || [], signedMax: raw.signed_max,
    diffScale: raw.diff_scale, maskedScale: raw.masked_scale,
    sm,
  };
}

function loadStack(p) {
  const [T, H, W, ch] = p.shape.map(Number);
  const bytes = bytesOf(p);
  const per = H * W * ch;
  return Array.from({ length: T }, (_, i) => ({ bytes: bytes.subarray(i * per, (i + 1) * per), W0: W, H0: H, ch }));
}

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(
    model, el, "xw-path-morph", {
    label: "path morph: left/right arrows step along the path, space plays",
    vars: { gap: GAP, self: SELF, other: OTHER },
  });

  // ------------------------------------------------------------ controls
  const header = elem("div", "xw-header");
  const ovLabel = elem("label", null, "overlay");
  const ovSelect = elem("select", "xw-overlay");
  ovSelect.append(...OVERLAYS.map(([v, t]) => Object.assign(elem("option", null, t), { value: v })));
  ovLabel.appendChild(ovSelect);
  const opLabel = elem("label", null, "opacity");
  const opInput = Object.assign(elem("input", "xw-opacity"), { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(opInput);
  const legend = new ColorLegend();
  const progress = progressControl(model, listen);
  header.append(ovLabel, opLabel, legend.el, progress.box);

  // endpoints and the red/blue maps
  const endRow = elem("div", "xw-row xw-endpoints");
  // the path: frame, slider, strip, class bars
  const pathRow = elem("div", "xw-row");
  const frameCol = elem("div", "xw-col");
  const frameCaption = elem("div", "xw-caption");
  const frameBox = elem("div");
  const sliderRow = elem("div", "xw-header");
  const playButton = elem("button", "xw-play", "▶ play");
  const slider = Object.assign(elem("input", "xw-slider"), { type: "range", min: "0", step: "1" });
  sliderRow.append(playButton, slider);
  const strip = elem("div", "xw-strip");
  frameCol.append(frameCaption, frameBox, sliderRow, strip);
  const barsCol = elem("div", "xw-col");
  const barsCaption = elem("div", "xw-caption", "classes at this frame");
  const bars = elem("div", "xw-bars");
  const barsHint = elem("div", "xw-sub", "click a class to morph toward it");
  barsCol.append(barsCaption, bars, barsHint);
  pathRow.append(frameCol, barsCol);
  // linked charts, each with a key naming its lines (so no caption has to name a colour)
  const charts = elem("div", "xw-charts");
  const blocks = [];
  const mk = (label, cls) => {
    const chart = new LineChart({ width: 300, height: 170, label });
    chart.box = elem("div", `xw-chart-box xw-chart-${cls}`);
    chart.key = elem("div");
    chart.note = elem("div", "xw-sub xw-chart-note");
    chart.box.append(chart.el, chart.key, chart.note);
    chart.setKey = (entries) => chart.key.replaceChildren(lineKey(entries));
    blocks.push(chart);
    return chart;
  };
  const probChart = mk("class probabilities along the path", "probs");
  const entropyChart = mk("two-class entropy along the path", "entropy");
  const gainChart = mk("per-step and cumulative gain", "gains");
  const normChart = mk("latent norm along the path", "norms");
  const pixelChart = mk("pixel along the path", "pixel");
  pixelChart.box.hidden = true;
  charts.append(...blocks.map((c) => c.box));
  pathRow.appendChild(charts); // beside the frame when it fits there (see fit)
  // Semantic Morphing replay
  const smRow = elem("div", "xw-row xw-sm");
  const smCol = elem("div", "xw-col xw-sm-col");
  const smCaption = elem("div", "xw-caption", "Semantic Morphing, replayed");
  const smCanvas = elem("canvas", "xw-thumb xw-sm-image");
  const smSlider = Object.assign(elem("input", "xw-slider xw-sm-slider"), { type: "range", min: "0", step: "1" });
  const smText = elem("div", "xw-sub");
  smCol.append(smCaption, smCanvas, smSlider, smText);
  const smLoss = mk("Semantic Morphing losses", "sm-loss");
  const smEntropy = mk("Semantic Morphing entropy", "sm-entropy");
  smRow.append(smCol, smLoss.box, smEntropy.box);
  const hint = hintLine([["kbd", "←"], ["", "/"], ["kbd", "→"], ["", " step, "], ["kbd", "Home"], ["", "/"], ["kbd", "End"],
    ["", " ends, "], ["kbd", "Space"], ["", " play; click the frame for a pixel's curve along the path."]]);
  const details = detailsLine();
  root.append(header, endRow, pathRow, smRow, status.readout, hint, status.errorBox, status.messageBox, details.el);
  el.appendChild(root);

  // ------------------------------------------------------------ state
  let M = null;
  let panel = null;
  let diverging = null;
  let playing = 0; // timer id
  let barCells = [];
  let pixelSeries = null;
  const num = (name, d) => getNum(model, name, d);
  const step = () => (M ? clampInt(Math.round(num("step", 0)), 0, M.n - 1) : 0);
  const setTrait = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };
  const className = (k) => (M && M.classes[k] != null ? String(M.classes[k]) : `class ${k}`);

  function loadLut() {
    const maps = model.get("_colormaps") || {};
    diverging = makeLut(maps.diverging);
  }

  // ------------------------------------------------------------ layout
  let avail = 0; // the root's content width, CSS px (0 until laid out)
  const frameSize = () => Math.max(64, Math.min(num("size", 224), avail || Infinity));

  /** Column widths and chart sizes for the width given; redraws the charts when they change size. */
  function fit() {
    if (!M || !avail) return;
    const colW = Math.min(avail, Math.max(frameSize(), STRIP * (THUMB + 2)));
    frameCol.style.width = `${colW}px`;
    const rest = avail - colW - (barsCol.offsetWidth || 230) - 2 * GAP;
    const beside = rest >= 2 * MIN_CHART + GAP;
    const f = beside ? { size: Math.min(MAX_CHART, Math.floor((rest - GAP) / 2)), perRow: 2 }
      : fitPanels(avail, 4, MAX_CHART, { min: MIN_CHART, gap: GAP });
    charts.style.width = `${beside ? rest : avail}px`;
    const w = f.size;
    const h = Math.round(Math.min(200, Math.max(150, w * 0.42)));
    const sm = fitPanels(avail - (smCol.offsetWidth || 224) - GAP, 2, MAX_CHART, { min: MIN_CHART, gap: GAP }).size;
    let resized = false;
    for (const [c, cw] of [[probChart, w], [entropyChart, w], [gainChart, w], [normChart, w], [pixelChart, w], [smLoss, sm], [smEntropy, sm]]) {
      c.box.style.width = `${cw}px`;
      if (c.W !== cw || c.H !== h) {
        c.resize(cw, h);
        resized = true;
      }
    }
    root.dataset.layout = beside ? "charts-beside" : "charts-below";
    details.set("layout", `layout: charts ${beside ? "beside" : "under"} the frame, ${f.perRow} per row, ${w} × ${h} px each (${avail} px available)`);
    if (resized) {
      buildCharts(step());
      drawReplay();
    }
  }

  /** Bytes of the binary arrays shipped in `_morph` (the one payload of a result). */
  function payloadBytes(raw) {
    let total = 0;
    const walk = (v) => {
      if (v && typeof v === "object") {
        if (typeof v.byteLength === "number") total += v.byteLength;
        else Object.values(v).forEach(walk);
      }
    };
    walk(raw);
    return total;
  }

  function build() {
    M = status.attempt("path morph", () => loadMorph(model.get("_morph")));
    endRow.replaceChildren();
    frameBox.replaceChildren();
    strip.replaceChildren();
    if (!M) return;
    details.set("payload", `payload: ${fmtValue(payloadBytes(model.get("_morph")) / 1024, { digits: 3, unit: "KiB" })} of frames, maps and curves, sent once`);
    const size = frameSize();
    const thumb = Math.round(size / 2);
    const E = M.endpoints;
    const endpoint = (rec, caption, cls) => {
      const col = elem("div", `xw-col ${cls}`);
      col.append(elem("div", "xw-sub", caption));
      if (rec) col.appendChild(sized(scaledImage(rec, thumb, thumb), thumb, "xw-thumb"));
      return col;
    };
    endRow.append(
      endpoint(E.original, `original: ${M.labels.original || ""}`, "xw-end-original"),
      endpoint(E.reconstruction, `reconstruction: ${M.labels.reconstruction || ""}`, "xw-end-reconstruction"),
      endpoint(E.morphed, `morphed: ${M.labels.morphed || ""}`, "xw-end-morphed"),
      signedPanel(E.reconstruction, "red/blue over self", thumb, "xw-signed-self"),
      signedPanel(E.morphed, "red/blue over other", thumb, "xw-signed-other"),
    );
    const warn = elem("div", "xw-sub xw-warn");
    warn.textContent = M.warnings.join("\n");
    warn.hidden = !M.warnings.length;
    endRow.appendChild(warn);
    panel = makePanel(size, size, M.W, M.H, { role: "frame" });
    frameBox.appendChild(panel.canvas);
    slider.max = String(M.n - 1);
    for (let j = 0; j < STRIP; j++) {
      const i = Math.round((j * (M.n - 1)) / (STRIP - 1));
      const c = sized(scaledImage(M.frames[i], THUMB, THUMB), THUMB);
      c.dataset.step = String(i);
      c.title = `step ${i + 1} of ${M.n}`;
      strip.appendChild(c);
    }
    if (M.sm) {
      smSlider.max = String(M.sm.images.length - 1);
      smRow.hidden = false;
    } else smRow.hidden = true;
  }

  function sized(canvas, w, cls) {
    canvas.style.width = `${w}px`;
    canvas.style.height = `${(w * canvas.height) / canvas.width}px`;
    if (cls) canvas.classList.add(cls);
    return canvas;
  }

  /** The signed map S = m (x_n - x_1) in red/blue over an endpoint image, as in the thesis's result figures. */
  function signedPanel(rec, caption, w, cls) {
    const col = elem("div", `xw-col ${cls}`);
    col.append(elem("div", "xw-sub", caption));
    if (!rec) return col;
    const P = makePanel(w, w, M.W, M.H, { role: cls });
    drawBase(P, scaledImage(rec, w, w));
    tintSigned(P, M.signed, M.signedMax, 0.85);
    P.canvas.classList.add("xw-thumb");
    col.appendChild(P.canvas);
    return col;
  }

  // ------------------------------------------------------------ drawing
  /** Overlay signed values (red > 0, blue < 0, through the diverging map) with alpha by magnitude. */
  function tintSigned(P, values, max, opacity) {
    const px = P.img.data;
    const m = max > 0 ? max : 1;
    for (let i = 0; i < values.length; i++) {
      let t = values[i] / m;
      t = t < -1 ? -1 : t > 1 ? 1 : t;
      const k = Math.floor((0.5 + 0.5 * t) * 255 + 0.5);
      px[4 * i] = diverging.rgb[3 * k];
      px[4 * i + 1] = diverging.rgb[3 * k + 1];
      px[4 * i + 2] = diverging.rgb[3 * k + 2];
      px[4 * i + 3] = Math.round(255 * opacity * Math.abs(t));
    }
    blit(P);
  }

  function tintMask(P, mask, opacity) {
    const px = P.img.data;
    for (let i = 0; i < mask.length; i++) {
      px[4 * i] = 0;
      px[4 * i + 1] = 255;
      px[4 * i + 2] = 0;
      px[4 * i + 3] = Math.round(255 * opacity * mask[i]);
    }
    blit(P);
  }

  function blit(P) {
    P.sctx.putImageData(P.img, 0, 0);
    P.ctx.imageSmoothingEnabled = false;
    P.ctx.drawImage(P.small, 0, 0, P.w, P.h, 0, 0, P.canvas.width, P.canvas.height);
  }

  let stepDiff = null;
  function drawFrame() {
    if (!M || !panel) return;
    const t0 = performance.now();
    const i = step();
    panel.ctx.imageSmoothingEnabled = false;
    panel.ctx.setTransform(1, 0, 0, 1, 0, 0);
    panel.ctx.drawImage(frameCanvas(i), 0, 0, panel.canvas.width, panel.canvas.height);
    const ov = model.get("overlay");
    const alpha = num("opacity", 0.6);
    const HW = M.H * M.W;
    if (ov === "mask") tintMask(panel, M.mask, alpha);
    else if ((ov === "diff" || ov === "masked") && i < M.n - 1) {
      if (!stepDiff) stepDiff = new Float32Array(HW);
      for (let p = 0; p < HW; p++) stepDiff[p] = M.diffs[i * HW + p] * (ov === "masked" ? M.mask[p] : 1);
      tintSigned(panel, stepDiff, stepScale(ov, i), alpha);
    }
    if (pixel()) {
      const { row, col } = pixel();
      const ctx = panel.ctx;
      ctx.strokeStyle = "#ffff00";
      ctx.lineWidth = 2;
      const sx = panel.canvas.width / M.W;
      const sy = panel.canvas.height / M.H;
      ctx.strokeRect(col * sx + 1, row * sy + 1, sx - 2, sy - 2);
    }
    panel.canvas.dataset.step = String(i);
    frameCaption.textContent = `step ${i + 1} of ${M.n} (α = ${fmtValue(M.alphas[i])}): ${i === 0 ? "other (morphed)" : i === M.n - 1 ? "self (reconstruction)" : "on the path"}`;
    for (const c of strip.children) c.setAttribute("aria-current", String(Number(c.dataset.step) === nearestStrip(i)));
    if (slider.value !== String(i)) slider.value = String(i);
    drawLegend(ov, i);
    drawBars(i);
    moveCursors(i);
    markPainted();
    el.dispatchEvent(new CustomEvent("xw-paint", { detail: { work: performance.now() - t0, step: i } }));
  }

  const frameCache = new Map();
  function frameCanvas(i) {
    if (!frameCache.has(i)) frameCache.set(i, scaledImage(M.frames[i], M.W, M.H));
    return frameCache.get(i);
  }

  function nearestStrip(i) {
    let best = 0;
    for (const c of strip.children) {
      const s = Number(c.dataset.step);
      if (Math.abs(s - i) < Math.abs(best - i)) best = s;
    }
    return best;
  }

  /**
   * The step-difference overlay's scale at step i: the largest |change| of that step. The radial
   * path's end steps are many times its middle ones, so one scale for the whole path would leave
   * every middle step invisible; the legend says the scale of the step shown.
   */
  const stepScale = (ov, i) => (ov === "masked" ? M.maskedScale : M.diffScale)[Math.min(i, M.n - 2)] || 0;

  function drawLegend(ov, i) {
    legend.el.hidden = ov === "none";
    legend.scale.hidden = ov === "mask";
    if (ov === "mask") {
      legend.caption.textContent = "green: the mask m in [0, 1] (opacity = m × opacity)";
      legend.caption.hidden = false;
      return;
    }
    const last = i >= M.n - 1;
    const m = stepScale(ov, i) || 1;
    const what = ov === "masked" ? "m × (x[i+1] − x[i])" : "x[i+1] − x[i]";
    legend.draw(diverging, -m, m, { fmt: (v) => fmtValue(v, { digits: 2 }),
      caption: last ? `${what}: none after the last step`
        : `${what}: red brighter, blue darker at the next step; scale ± the largest change at step ${i + 1}` });
  }

  function probsAt(i) {
    return Array.from(M.probs.subarray(i * M.K, (i + 1) * M.K));
  }

  /** The class bars, one per class in class order (a fixed order reads better while scrubbing). */
  function buildBars() {
    bars.replaceChildren();
    barCells = [];
    for (let k = 0; k < M.K; k++) {
      const b = elem("button", k === M.s ? "xw-self" : k === M.o ? "xw-other" : null, className(k));
      b.type = "button";
      b.dataset.class = String(k);
      b.title = k === M.s ? "self (the reconstruction's class)" : k === M.o ? "other (the morph target)" : `morph toward ${className(k)}`;
      const bar = elem("div", "xw-bar");
      if (k === M.s) bar.style.background = SELF;
      if (k === M.o) bar.style.background = OTHER;
      const pct = elem("span", "xw-sub");
      bars.append(b, bar, pct);
      barCells.push([bar, pct]);
    }
  }

  function drawBars(i) {
    probsAt(i).forEach((v, k) => {
      const [bar, pct] = barCells[k];
      bar.style.width = `${Math.max(1, Math.round(100 * v))}px`;
      pct.textContent = `${(100 * v).toFixed(1)}%`;
    });
  }

  const steps = () => Array.from({ length: M.n }, (_, k) => k + 1);
  const probColumn = (k) => Array.from({ length: M.n }, (_, j) => M.probs[j * M.K + k]);

  /** Draw the linked charts (once per result, or when the probed pixel changes). */
  function buildCharts(i) {
    const xs = steps();
    const [ps, po] = [`p(${className(M.s)})`, `p(${className(M.o)})`];
    const base = { xs, highlight: i, dots: false, color: SELF, cursor: CURSOR, xTitle: "path step" };
    const others = [];
    for (let k = 0; k < M.K; k++) if (k !== M.s && k !== M.o) others.push({ name: `p(${className(k)})`, ys: probColumn(k), color: FAINT, width: 1 });
    probChart.draw({ ...base, ys: probColumn(M.s), name: ps, series: [...others, { name: po, ys: probColumn(M.o), color: OTHER, width: 2 }],
      yRange: [0, 1], yTitle: "class probability" });
    probChart.setKey([{ color: SELF, label: `${ps}, self` }, { color: OTHER, label: `${po}, other` }, { color: FAINT, label: "the other classes" }]);
    const w = M.window;
    entropyChart.draw({ ...base, ys: M.entropy, name: "entropy", yRange: [0, 1], yTitle: "two-class entropy (bits)",
      bands: [{ axis: "x", lo: w.lo + 1, hi: w.hi + 1, color: WINDOW }],
      series: [{ name: "window mean", ys: xs.map((x) => (Math.abs(x - (w.mean + 1)) < 0.5 ? 1 : NaN)), color: OTHER }] });
    entropyChart.setKey([{ color: SELF, label: "entropy of p(self), p(other)" }]);
    entropyChart.note.textContent = "shaded: the decision window (weighted mean ± 1.96 std)";
    gainChart.draw({ ...base, ys: [...M.gains, NaN], name: "gain", series: [{ name: "cumulative", ys: M.cumulative, color: OTHER, width: 1.5 }],
      yRange: [0, 0], yTitle: "gain in f_s" });
    gainChart.setKey([{ color: SELF, label: "gain of the masked step" }, { color: OTHER, label: "cumulative" }]);
    const b = M.bands;
    const band = (v, color) => (Number.isFinite(v[0]) && Number.isFinite(v[1]) ? [{ axis: "y", lo: v[0] - v[1], hi: v[0] + v[1], color }] : []);
    normChart.draw({ ...base, ys: M.norms, name: "‖z‖", yRange: [M.norms[0], M.norms[0]], yTitle: "latent norm ‖z‖",
      bands: [...band(b.s, BAND_S), ...band(b.o, BAND_O)] });
    normChart.setKey([{ color: SELF, label: "‖z‖ along the path" }]);
    // The bands are in the path's units: norms of encoder samples when its codes are samples.
    normChart.note.textContent = b.kind == null ? "no class-norm table given (norms=)"
      : `shaded: self (blue), other (orange) class norms, mean ± std, of ${b.kind === "sample" ? "encoder samples like the path's codes" : "encoder means like the path's codes"}`
        + (Number.isFinite(b.target) ? `; the morph's target r_o = ${fmtValue(b.target)} is a mean of ‖μ‖` : "");
    const px = pixel();
    pixelChart.box.hidden = !px;
    if (px) {
      const at = px.row * M.W + px.col;
      const ch = M.ch;
      pixelSeries = M.frames.map((f) => {
        let v = 0;
        for (let c = 0; c < ch; c++) v += f.bytes[at * ch + c];
        return v / (255 * ch);
      });
      const series = [];
      if (M.grads) {
        const g = xs.map((_, j) => M.grads[j * M.H * M.W + at]);
        const gm = Math.max(...g.map(Math.abs)) || 1;
        series.push({ name: "gradient", ys: g.map((v) => 0.5 + 0.5 * (v / gm)), color: OTHER, dash: [4, 3] });
      }
      pixelChart.draw({ ...base, ys: pixelSeries, name: "intensity", series, yRange: [0, 1], yTitle: `pixel (${px.row}, ${px.col})` });
      pixelChart.setKey([{ color: SELF, label: "intensity" }, ...(M.grads ? [{ color: OTHER, dash: [4, 3], label: "∂p_s/∂x, scaled (0.5 = 0)" }] : [])]);
    }
    moveCursors(i);
  }

  /** Per frame: only the cursors and their tips move. */
  function moveCursors(i) {
    const w = M.window;
    probChart.moveHighlight(i, `self ${fmtPercent(M.probs[i * M.K + M.s])} · other ${fmtPercent(M.probs[i * M.K + M.o])}`);
    entropyChart.moveHighlight(i, `${fmtValue(M.entropy[i])} bit${i >= w.lo && i <= w.hi ? " · in the window" : ""}`);
    gainChart.moveHighlight(i, `${i < M.n - 1 ? `${fmtValue(M.gains[i])} · ` : ""}Σ ${fmtValue(M.cumulative[i])}`);
    normChart.moveHighlight(i, `‖z‖ ${fmtValue(M.norms[i])}`);
    if (pixel() && pixelSeries) pixelChart.moveHighlight(i, fmtValue(pixelSeries[i]));
  }

  function pixel() {
    const p = model.get("pixel");
    if (!M || !p || !Number.isInteger(p.row) || !Number.isInteger(p.col)) return null;
    return p.row >= 0 && p.row < M.H && p.col >= 0 && p.col < M.W ? p : null;
  }

  function drawReplay() {
    if (!M || !M.sm) return;
    const T = M.sm.images.length;
    const t = clampInt(Math.round(num("sm_step", T - 1)), 0, T - 1);
    const img = scaledImage(M.sm.images[t], M.W, M.H);
    smCanvas.width = img.width;
    smCanvas.height = img.height;
    smCanvas.getContext("2d").drawImage(img, 0, 0);
    sized(smCanvas, 112);
    if (smSlider.value !== String(t)) smSlider.value = String(t);
    const xs = M.sm.iters;
    const base = { xs, highlight: t, dots: false, color: SELF, cursor: CURSOR, xTitle: "iteration" };
    smLoss.draw({ ...base, ys: M.sm.total, name: "total", yRange: [0, 0], yTitle: "loss (normalised terms)", tip: `total ${fmtValue(M.sm.total[t])}`,
      series: [{ name: "objective", ys: M.sm.objective, color: OTHER }, { name: "norm term", ys: M.sm.likelihood, color: SELF, dash: [4, 3] }] });
    smLoss.setKey([{ color: SELF, label: "total" }, { color: OTHER, label: "−logit(other)" }, { color: SELF, dash: [4, 3], label: "norm term" }]);
    smEntropy.draw({ ...base, ys: M.sm.entropy, name: "entropy", series: [{ name: "p(other)", ys: M.sm.p_other, color: OTHER }], yRange: [0, 1],
      yTitle: "entropy (bits), probability", tip: `entropy ${fmtValue(M.sm.entropy[t])} · p(other) ${fmtPercent(M.sm.p_other[t])}` });
    smEntropy.setKey([{ color: SELF, label: "two-class entropy" }, { color: OTHER, label: "p(other)" }]);
    smText.textContent = `iteration ${xs[t]} of ${xs[xs.length - 1]}${M.sm.success ? " · reached the target" : " · did not reach the target"}`;
  }

  function syncControls() {
    ovSelect.value = model.get("overlay");
    opInput.value = String(num("opacity", 0.6));
    progress.sync();
    playButton.textContent = playing ? "❚❚ pause" : "▶ play";
    if (M) {
      const sum = M.summary || {};
      status.setReadout(`self ${className(M.s)}, other ${className(M.o)} · the mask explains ${fmtValue(100 * (sum.fraction ?? NaN))}% of the gain `
        + `(J = ${fmtValue(sum.J)}, f_s(x_n) − f_s(x_1) = ${fmtValue(sum.total_gain)})`);
    }
  }

  function refreshAll() {
    frameCache.clear();
    stepDiff = null;
    build();
    if (M) {
      buildBars();
      fit();
      buildCharts(step());
    }
    syncControls();
    drawFrame();
    drawReplay();
  }

  // ------------------------------------------------------------ interaction
  const setStep = (i, save) => {
    if (!M) return;
    model.set("step", clampInt(i, 0, M.n - 1));
    if (save) model.save_changes(); // scrubbing stays in the browser; the kernel hears where it stopped
  };
  function stop() {
    if (!playing) return;
    clearInterval(playing);
    playing = 0;
    model.save_changes();
    syncControls();
  }
  function play() {
    if (playing || !M) return;
    if (step() >= M.n - 1) setStep(0, false);
    playing = setInterval(() => {
      if (step() >= M.n - 1) stop();
      else setStep(step() + 1, false);
    }, PLAY_MS);
    syncControls();
  }
  listen(playButton, "click", () => (playing ? stop() : play()));
  listen(slider, "input", () => {
    stop();
    setStep(Number(slider.value), false);
  });
  listen(slider, "change", () => setStep(Number(slider.value), true));
  listen(strip, "click", (ev) => {
    if (ev.target.dataset && ev.target.dataset.step) {
      stop();
      setStep(Number(ev.target.dataset.step), true);
    }
  });
  listen(frameBox, "click", (ev) => {
    if (!panel || ev.target !== panel.canvas) return;
    const rect = panel.canvas.getBoundingClientRect();
    const col = clampInt(Math.floor(((ev.clientX - rect.left) * M.W) / rect.width), 0, M.W - 1);
    const row = clampInt(Math.floor(((ev.clientY - rect.top) * M.H) / rect.height), 0, M.H - 1);
    const p = pixel();
    setTrait("pixel", p && p.row === row && p.col === col ? null : { row, col });
  });
  listen(bars, "click", (ev) => {
    const b = ev.target.closest("button");
    if (!b || !M) return;
    const k = Number(b.dataset.class);
    if (k !== M.s && k !== M.o && !kernelOnly(model, `Morphing toward ${className(k)}`)) setTrait("target", k);
  });
  listen(ovSelect, "change", () => setTrait("overlay", ovSelect.value));
  listen(opInput, "input", () => model.set("opacity", Number(opInput.value)));
  listen(opInput, "change", () => setTrait("opacity", Number(opInput.value)));
  listen(smSlider, "input", () => model.set("sm_step", Number(smSlider.value)));
  listen(smSlider, "change", () => setTrait("sm_step", Number(smSlider.value)));
  listen(root, "keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !M || ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
    const keys = { ArrowLeft: step() - 1, ArrowRight: step() + 1, Home: 0, End: M.n - 1 };
    if (ev.key in keys) {
      stop();
      setStep(keys[ev.key], true);
    } else if (ev.key === " ") playing ? stop() : play();
    else return;
    ev.preventDefault();
    ev.stopPropagation();
  });

  onModel("change:_morph", refreshAll);
  onModel("change:_colormaps", () => {
    loadLut();
    refreshAll();
  });
  onModel("change:size", refreshAll);
  for (const name of ["step", "overlay", "opacity"]) onModel(`change:${name}`, () => {
    syncControls();
    drawFrame();
  });
  onModel("change:pixel", () => {
    if (M) buildCharts(step());
    drawFrame();
  });
  onModel("change:sm_step", drawReplay);
  life.add(onWidth(root, (w) => {
    avail = Math.max(1, w - 16); // the root's padding
    const size = frameSize();
    if (panel && panel.W !== size) refreshAll(); // the frame changes size
    else fit();
  }));
  onModel("change:progress", syncControls);

  loadLut();
  refreshAll();

  return () => {
    stop();
    life.dispose();
    root.remove();
    M = null;
  };
}

export default { render };
