// AttributionExplorer: a grid of images x attribution methods, each map in the
// diverging colour map on one fixed, stated scale per method (or, with `scaling` "row", on each
// image's own scale), over the image or beside it. The maps take their size from the width
// the widget is given; method columns past what fits wrap into further blocks.
// Everything the grid shows arrives once: the images (`_images`), the class probabilities
// (`_probs`), every method's maps and, where a method has a natural slider (extremal
// perturbation's area, Integrated Gradients' alpha, SmoothGrad's noise), the maps at every
// slider position (`_maps`). Hover, scrubbing, view and opacity run in the browser only; the
// kernel hears a slider's position on release, and is asked for one thing: new target (or
// contrast) classes for an image (`targets`, `contrasts`), recomputed with progress and Cancel.
//
// Maps arrive in units of their column's scale s (map / s, float16: full precision for the
// colours however small the raw values); the readout multiplies back.
//
// Synced traits (xai_widgets/widgets/attribution.py): _images, _probs, _maps, _colormaps,
// targets, contrasts, positions, view, opacity, scaling, size, progress, message; in a to_html page
// only, _no_kernel (lib/kernel.js).
import { decode, bytesOf } from "./lib/tensor.js";
import { makeLut, lutIndex } from "./lib/colormap.js";
import { elem, widgetShell, getNum, hintLine } from "./lib/dom.js";
import { progressControl } from "./lib/controls.js";
import { onWidth, fitPanels, detailsLine } from "./lib/fit.js";
import { ColorLegend } from "./lib/legend.js";
import { clampInt, displaySize } from "./lib/panels.js";
import { NEEDS_KERNEL, noKernel } from "./lib/kernel.js";
import { fmtNumber } from "./lib/chart.js";
import { frameQueue, listenMoves } from "./lib/hover.js";
import { greyed, alphaTable, shadeSigned, fmtSigned } from "./lib/diverging.js";

const CLASS_A = "#0072b2"; // Okabe-Ito blue: the explained class
const CLASS_B = "#d55e00"; // vermillion: the contrast class
const TOP = 5;
const LIST_W = 150; // the top-5 list beside each image
const MIN_MAP = 80; // the smallest map a column shrinks to before the columns wrap
const GAP = 12; // between columns
const CHAR_PX = 6.5; // widest digit of the legend's 11 px font (lib/legend.js)


/** The shipped state decoded once: typed arrays per method. */
function load(rawImages, rawProbs, rawMaps) {
  if (!rawImages || !rawImages.pixels || !rawMaps || !rawMaps.methods) return null;
  const [N, H, W, ch] = rawImages.pixels.shape.map(Number);
  const HW = H * W;
  const pixels = bytesOf(rawImages.pixels);
  const images = Array.from({ length: N }, (_, i) => pixels.subarray(i * HW * ch, (i + 1) * HW * ch));
  const grey = images.map((b) => greyed(b, HW, ch));
  const probs = rawProbs && rawProbs.probs ? decode(rawProbs.probs) : null;
  const K = probs ? probs.shape[1] : 0;
  const methods = rawMaps.methods.map((m) => {
    const out = { key: m.key, title: m.title, scale: Number(m.scale), rule: m.rule, maps: decode(m.maps).data, info: m.info || {},
      rowScales: (m.row_scales || []).map(Number) };
    if (m.slider) {
      const sl = m.slider;
      const S = sl.values.length;
      out.slider = {
        name: sl.name, word: sl.word == null ? String(sl.name) : String(sl.word), values: sl.values, S, index: sl.index,
        maps: decode(sl.maps).data,
        images: sl.images ? bytesOf(sl.images) : null, imageCh: sl.images ? Number(sl.images.shape[4]) : 0,
        scores: sl.scores || null, full: sl.full || null, best: sl.best || null, unit: sl.unit || "",
      };
    }
    return out;
  });
  return {
    N, H, W, ch, HW, images, grey, K,
    probs: probs ? probs.data : null,
    classes: (rawProbs && rawProbs.classes) || [],
    titles: rawImages.titles || [],
    methods,
    computed: rawMaps.computed || { targets: [], contrasts: [] },
    bytes: rawMaps.bytes,
  };
}

function render({ model, el }) {
  const { life, listen, onModel, root, status, markPainted } = widgetShell(
    model, el, "xw-attribution", {
    label: "attribution explorer: arrow keys move between cells, sliders and classes",
    vars: { gap: GAP, "list-width": LIST_W, "class-a": CLASS_A, "class-b": CLASS_B },
  });
  const frames = frameQueue();
  life.add(() => frames.dispose());

  // ------------------------------------------------------------ header
  const header = elem("div", "xw-header");
  const viewLabel = elem("label", null, "view");
  const viewSelect = elem("select", "xw-view");
  viewSelect.append(
    Object.assign(elem("option", null, "over the image"), { value: "overlay" }),
    Object.assign(elem("option", null, "side by side"), { value: "side" }),
  );
  viewLabel.appendChild(viewSelect);
  const opLabel = elem("label", null, "opacity");
  const opInput = Object.assign(elem("input", "xw-opacity"), { type: "range", min: "0", max: "1", step: "0.05" });
  opLabel.appendChild(opInput);
  const contrastLabel = elem("label", "xw-contrast-toggle");
  const contrastBox = Object.assign(elem("input", "xw-contrast"), { type: "checkbox" });
  contrastLabel.title = "when on, clicking a class picks it as the contrast class B (same as Shift-click)";
  contrastLabel.append(contrastBox, document.createTextNode("click picks contrast B"));
  const scalingLabel = elem("label", null, "scale");
  const scalingSelect = elem("select", "xw-scaling");
  scalingSelect.append(
    Object.assign(elem("option", null, "per method (column)"), { value: "column" }),
    Object.assign(elem("option", null, "per image (row)"), { value: "row" }),
  );
  scalingLabel.title = "column: one scale per method over all images, colours compare down a column; "
    + "row: each image's maps on that image's own scale, colours compare within a map only";
  scalingLabel.appendChild(scalingSelect);
  const scalingRule = elem("span", "xw-sub xw-scaling-rule");
  const progress = progressControl(model, listen, (p) => (p.total
    ? `${p.task}: ${Math.floor((100 * (Number(p.done) || 0)) / Number(p.total))}%`
    : String(p.task || "")));
  header.append(viewLabel, opLabel, scalingLabel, scalingRule, contrastLabel, progress.box);
  const grid = elem("div", "xw-blocks"); // one .xw-grid per block of method columns
  const details = detailsLine("details");
  const hint = hintLine([
    ["", "Click a class to explain it, "], ["kbd", "Shift"], ["", "-click a second one to explain A vs B. "],
    ["kbd", "←"], ["kbd", "→"], ["kbd", "↑"], ["kbd", "↓"], ["", " move between classes, maps and sliders; "],
    ["kbd", "v"], ["", " view, "], ["kbd", "["], ["kbd", "]"], ["", " opacity, "], ["kbd", "c"], ["", " contrast picking."],
  ]);
  root.append(header, grid, status.readout, hint, details.el, status.errorBox, status.messageBox);
  el.appendChild(root);

  // ------------------------------------------------------------ state
  let M = null;
  let lut = null;
  let alphas = null;
  let alphaFor = NaN;
  let rows = []; // per image: {images: [{P, probe}] one per block, title, explains, topBox, cells: [...]}
  let heads = []; // per method: {L (its legend), width (of its column)}
  let width = Math.floor(root.clientWidth) || 900; // the root's width, followed by onWidth
  let planKey = "";
  let active = null; // {i, j} of the slider whose images the image column shows
  let probe = null; // {i, row, col} hovered pixel
  let contrastMode = false;
  const num = (name, d) => getNum(model, name, d);
  const className = (k) => (M && M.classes[k] != null ? String(M.classes[k]) : `class ${k}`);
  const view = () => (model.get("view") === "side" ? "side" : "overlay");
  const rowScaling = () => model.get("scaling") === "row";

  function loadLut() {
    const maps = model.get("_colormaps") || {};
    lut = makeLut(maps.diverging);
    if (!lut) {
      const ramp = new Uint8Array(768);
      for (let i = 0; i < 768; i++) ramp[i] = Math.floor(i / 3);
      lut = makeLut(ramp);
    }
  }

  function alphaTableNow() {
    const op = Math.min(1, Math.max(0, num("opacity", 0.8)));
    if (op !== alphaFor) {
      alphaFor = op;
      alphas = alphaTable(op);
    }
    return alphas;
  }

  /** Position of method j's slider for image i: the `positions` trait, else the method's own index. */
  function positionOf(j, i) {
    const sl = M.methods[j].slider;
    if (!sl) return 0;
    const pos = model.get("positions") || {};
    const list = pos[M.methods[j].key];
    const p = Array.isArray(list) ? Number(list[i]) : NaN;
    return Number.isInteger(p) ? clampInt(p, 0, sl.S - 1) : clampInt(Number(sl.index[i]) || 0, 0, sl.S - 1);
  }

  function valuesAt(j, i, p) {
    const m = M.methods[j];
    const HW = M.HW;
    if (m.slider) return m.slider.maps.subarray((i * m.slider.S + p) * HW, (i * m.slider.S + p + 1) * HW);
    return m.maps.subarray(i * HW, (i + 1) * HW);
  }

  // ------------------------------------------------------------ layout
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

  /**
   * Map size and blocks for the width: the image column (image + top-5 list) and the method
   * columns side by side at the preferred size, shrunk down to MIN_MAP; past that the method
   * columns wrap into further blocks, each with the image again. {size, per, blocks}
   */
  function plan() {
    const avail = Math.max(LIST_W + 2 * MIN_MAP, width - 16); // the root's 8 px padding each side
    const pref = Math.max(48, num("size", 128));
    const n = M.methods.length;
    const fixed = LIST_W + 8;
    const all = fitPanels(avail, n + 1, pref, { min: MIN_MAP, gap: GAP, fixed });
    if (all.rows === 1) return { size: all.size, per: n, blocks: 1 };
    const fit = Math.max(1, Math.floor((avail - fixed + GAP) / (Math.min(MIN_MAP, pref) + GAP)) - 1);
    const blocks = Math.ceil(n / fit);
    const per = Math.ceil(n / blocks); // balanced: 8 columns as 4 + 4, not 6 + 2
    return { size: fitPanels(avail, per + 1, pref, { min: MIN_MAP, gap: GAP, fixed }).size, per, blocks };
  }

  function build() {
    M = status.attempt("attribution maps", () => load(model.get("_images"), model.get("_probs"), model.get("_maps")));
    grid.replaceChildren();
    rows = [];
    heads = [];
    active = null;
    probe = null;
    if (!M) return;
    const P0 = plan();
    planKey = JSON.stringify(P0);
    const [cssW, cssH] = displaySize(M.W, M.H, P0.size);
    const colW = Math.max(cssW, MIN_MAP);
    for (let i = 0; i < M.N; i++) rows.push({ images: [], cells: [], cssW, cssH });
    const blocks = [];
    for (let b = 0; b < P0.blocks; b++) {
      const methods = M.methods.map((m, j) => j).slice(b * P0.per, (b + 1) * P0.per);
      const block = elem("div", "xw-grid");
      block.dataset.block = String(b);
      block.style.gridTemplateColumns = `${cssW + (b === 0 ? 8 + LIST_W : 0)}px repeat(${methods.length}, ${colW}px)`;
      buildBlock(block, b, methods, cssW, cssH, colW);
      blocks.push(block);
    }
    grid.replaceChildren(...blocks);
    drawLegends();
    const layout = P0.blocks === 1 ? `${M.methods.length} method columns beside the image, maps ${cssW} px`
      : `${M.methods.length} method columns in ${P0.blocks} blocks of up to ${P0.per} (too many to fit ${width} px), maps ${cssW} px`;
    root.dataset.layout = `${P0.blocks} block${P0.blocks > 1 ? "s" : ""} x ${P0.per} columns, ${cssW} px`;
    details.set("layout", `layout: ${layout}; the map size follows the output's width (preferred: size = ${num("size", 128)} px)`);
    details.set("bytes", M.bytes != null ? `ships ${fmtBytes(M.bytes)}: images, maps and every slider position, so the page needs no kernel to scrub` : "");
  }

  /** One block: a header row (the image column, a legend per method), then a row per image. */
  function buildBlock(block, b, methods, cssW, cssH, colW) {
    const head0 = elem("div", "xw-colhead");
    head0.append(elem("div", "xw-caption", "image"));
    if (b === 0) head0.append(elem("div", "xw-sub", "top-5 classes: click to explain"));
    block.appendChild(head0);
    for (const j of methods) {
      const m = M.methods[j];
      const h = elem("div", "xw-colhead");
      h.dataset.method = m.key;
      h.dataset.col = String(j);
      const title = elem("div", "xw-caption", m.title);
      title.title = m.title;
      const L = new ColorLegend();
      h.append(title, L.el);
      block.appendChild(h);
      heads[j] = { L, width: colW };
    }
    for (let i = 0; i < M.N; i++) {
      const row = rows[i];
      const first = elem("div", "xw-cell xw-image-cell");
      first.dataset.image = String(i);
      const frame = elem("div", "xw-frame");
      const P = pixelCanvas("xw-image", M.W, M.H, cssW, cssH);
      P.canvas.dataset.image = String(i);
      const pr = elem("div", "xw-probe");
      pr.hidden = true;
      frame.append(P.canvas, pr);
      first.appendChild(frame);
      row.images.push({ P, probe: pr });
      if (b === 0) {
        const side = elem("div", "xw-side");
        const title = elem("div", "xw-sub", M.titles[i] != null ? String(M.titles[i]) : `image ${i}`);
        const explains = elem("div", "xw-explains");
        const topBox = elem("div", "xw-top");
        topBox.setAttribute("role", "group");
        topBox.setAttribute("aria-label", `classes of image ${i}`);
        side.append(title, explains, topBox);
        first.appendChild(side);
        Object.assign(row, { title, explains, topBox, first });
      }
      block.appendChild(first);
      for (const j of methods) {
        const m = M.methods[j];
        const cell = elem("div", "xw-cell");
        cell.dataset.image = String(i);
        cell.dataset.method = m.key;
        const fr = elem("div", "xw-frame");
        const C = pixelCanvas("xw-panel", M.W, M.H, cssW, cssH);
        Object.assign(C.canvas.dataset, { image: String(i), method: m.key, col: String(j) });
        C.canvas.tabIndex = 0;
        C.canvas.setAttribute("role", "img");
        C.canvas.setAttribute("aria-label", `${m.title} for image ${i}`);
        const cp = elem("div", "xw-probe");
        cp.hidden = true;
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
        block.appendChild(cell);
        row.cells[j] = rec;
      }
    }
  }

  /** Each method's legend: its column scale ±s, or, per image, ±s of each row (stated under each map). */
  function drawLegends() {
    if (!M) return;
    const perRow = rowScaling();
    M.methods.forEach((m, j) => {
      const h = heads[j];
      if (!h) return;
      const s3 = fmtTick(m.scale); // 3 digits fit a narrow column; the tooltip has more
      const ends = perRow ? ["−s", "+s"] : [`−${s3}`, `+${s3}`];
      const pad = Math.ceil((Math.max(...ends.map((t) => t.length)) * CHAR_PX) / 2);
      const bar = h.width - 2 * pad;
      const zero = bar >= 4 * pad + 2 * CHAR_PX; // a 0 tick only where it cannot touch the end labels
      const ticks = zero ? [-m.scale, 0, m.scale] : [-m.scale, m.scale];
      const labels = zero ? [ends[0], "0", ends[1]] : ends;
      h.L.draw(lut, -m.scale, m.scale, { ticks, labels, caption: perRow ? "row scale" : "column scale", width: bar });
      h.L.el.title = perRow ? `each map on ± its own image's ${m.rule}${m.slider ? " over its slider positions" : ""}; colours compare within a map only`
        : `one fixed scale for the whole column: ±${fmtNumber(m.scale)}, the ${m.rule} over all images${m.slider ? " and slider positions" : ""}`;
    });
  }

  function fmtTick(v) {
    const t = (+v.toPrecision(3)).toString();
    return t.startsWith("0.") ? t.slice(1) : t; // ".0389": the leading zero costs width
  }

  function fmtBytes(b) {
    if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MiB`;
    if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(0)} KiB`;
    return `${b} B`;
  }

  // ------------------------------------------------------------ drawing
  function drawCell(i, j) {
    const rec = rows[i] && rows[i].cells[j];
    if (!rec) return;
    const m = M.methods[j];
    const p = positionOf(j, i);
    const values = valuesAt(j, i, p);
    const over = view() === "overlay";
    shadeSigned(rec.P.img.data, values, drawnScale(j, i), lut, over ? M.grey[i] : null, over ? alphaTableNow() : null);
    rec.P.ctx.putImageData(rec.P.img, 0, 0);
    const ds = rec.P.canvas.dataset;
    ds.position = String(p);
    ds.view = view();
    ds.drawn = String((Number(ds.drawn) || 0) + 1);
    if (m.slider) {
      const sl = m.slider;
      if (rec.input.value !== String(p)) rec.input.value = String(p);
      const full = sliderCaption(m, i, p);
      setCaption(rec.caption, j, i, shortCaption(m, i, p));
      rec.caption.title = full;
      const best = sl.best ? Number(sl.best[i]) : -1;
      if (best >= 0 && rec.track.dataset.best !== String(best)) {
        rec.track.dataset.best = String(best);
        const reaches = !(sl.scores && sl.full) || sl.scores[i][best] >= sl.full[i];
        const label = `a* = ${fmtNumber(sl.values[best])}${reaches ? "" : " (none reach Φ(x))"}`;
        const right = best > (sl.S - 1) / 2; // the ▲ sits under the thumb, the text runs inward
        const mark = elem("span", "xw-best", right ? `${label} ▲` : `▲ ${label}`);
        mark.style.transform = right ? "translateX(calc(-100% + 0.5em))" : "translateX(-0.5em)";
        mark.title = reaches ? "a*: the smallest area whose preserved region scores at least as high as the whole image"
          : "no area reaches the whole image's score; a* is the largest area";
        mark.style.left = `${sl.S > 1 ? (100 * best) / (sl.S - 1) : 0}%`;
        rec.track.replaceChildren(mark);
      }
    } else {
      setCaption(rec.caption, j, i, cellCaption(m, i));
    }
  }

  /** The scale cell (i, j) is drawn on, in units of its column's scale (what the maps ship in). */
  function drawnScale(j, i) {
    const m = M.methods[j];
    const own = m.rowScales[i];
    return rowScaling() && own > 0 ? own / m.scale : 1;
  }

  /** A cell's caption: with per-image scaling its own ±s first, then `text`; hidden when empty. */
  function setCaption(node, j, i, text) {
    const parts = [];
    if (rowScaling()) parts.push(elem("span", "xw-rowscale", `±${fmtTick(M.methods[j].rowScales[i])}`));
    if (text) parts.push(document.createTextNode(parts.length ? ` · ${text}` : text));
    node.replaceChildren(...parts);
    node.hidden = parts.length === 0;
  }

  /** The slider's position in a narrow column; the full caption is the tooltip and the readout's. */
  function shortCaption(m, i, p) {
    const sl = m.slider;
    let text = `${sl.word} = ${fmtNumber(sl.values[p])}${sl.unit ? ` ${sl.unit}` : ""}`;
    const score = sl.scores ? sl.scores[i][p] : null;
    if (sl.name === "area" && score != null && sl.full && sl.full[i]) text += ` · Φ(m⊗x)/Φ(x) = ${(score / sl.full[i]).toFixed(2)}`;
    return text;
  }

  function sliderCaption(m, i, p) {
    const sl = m.slider;
    const v = sl.values[p];
    const word = sl.word;
    let text = `${word} = ${fmtNumber(v)}${sl.unit ? ` ${sl.unit}` : ""}`;
    const score = sl.scores ? sl.scores[i][p] : null;
    if (sl.name === "area" && score != null && sl.full && sl.full[i] != null && sl.full[i] !== 0) {
      text += ` · Φ(m⊗x)/Φ(x) = ${(score / sl.full[i]).toFixed(2)}`;
    } else if (sl.name === "alpha" && score != null) {
      text += ` · F(x_α) = ${fmtNumber(score)}`;
    }
    if (sl.name === "alpha" && m.info.delta) text += ` · δ = ${fmtNumber(m.info.delta[i])}`;
    return text;
  }

  function cellCaption(m, i) {
    const parts = [];
    if (m.info.delta) parts.push(`convergence δ = ${fmtNumber(m.info.delta[i])}`);
    if (m.info.notes && m.info.notes[i]) parts.push(String(m.info.notes[i]));
    return parts.join(" · ");
  }

  /** The image column: the image, or the active slider's image (IG's x̄ + α(x − x̄), EP's m ⊗ x). */
  function drawImage(i) {
    const row = rows[i];
    if (!row) return;
    let bytes = M.images[i];
    let ch = M.ch;
    let label = M.titles[i] != null ? String(M.titles[i]) : `image ${i}`;
    if (active && active.i === i) {
      const m = M.methods[active.j];
      const sl = m.slider;
      if (sl && sl.images) {
        const p = positionOf(active.j, i);
        const per = M.HW * sl.imageCh;
        bytes = sl.images.subarray((i * sl.S + p) * per, (i * sl.S + p + 1) * per);
        ch = sl.imageCh;
        label = sl.name === "alpha" ? `x̄ + α(x − x̄), α = ${fmtNumber(sl.values[p])}` : sl.name === "area"
          ? `m ⊗ x, area ${fmtNumber(sl.values[p])}` : `${sl.name} = ${fmtNumber(sl.values[p])}`;
      }
    }
    for (const { P } of row.images) {
      const d = P.img.data;
      for (let q = 0, s = 0, o = 0; q < M.HW; q++, s += ch, o += 4) {
        d[o] = bytes[s];
        d[o + 1] = ch >= 3 ? bytes[s + 1] : bytes[s];
        d[o + 2] = ch >= 3 ? bytes[s + 2] : bytes[s];
        d[o + 3] = 255;
      }
      P.ctx.putImageData(P.img, 0, 0);
      P.canvas.dataset.showing = active && active.i === i ? M.methods[active.j].key : "image";
    }
    row.title.textContent = label;
  }

  function requested() {
    const t = model.get("targets") || [];
    const c = model.get("contrasts") || [];
    return { targets: t, contrasts: c };
  }

  /** Explained classes and the top-5 buttons of image i. */
  function drawClasses(i) {
    const row = rows[i];
    if (!row || !M) return;
    const ct = M.computed.targets[i];
    const cc = M.computed.contrasts[i];
    const req = requested();
    const rt = req.targets[i] != null ? Number(req.targets[i]) : ct;
    const rc = req.contrasts[i] != null ? Number(req.contrasts[i]) : null;
    const stale = rt !== ct || rc !== (cc == null ? null : cc);
    row.explains.replaceChildren();
    const a = elem("span", "xw-a", className(ct));
    if (cc == null) row.explains.append(document.createTextNode("explains "), a);
    else row.explains.append(a, document.createTextNode(" vs "), elem("span", "xw-b", className(cc)));
    if (stale) {
      const p = model.get("progress") || {};
      const want = rc == null ? className(rt) : `${className(rt)} vs ${className(rc)}`;
      const note = noKernel(model) ? `explaining ${want} ${NEEDS_KERNEL}` : p.running ? `computing ${want}…` : `asked for ${want}: waiting for the kernel`;
      row.explains.append(elem("div", "xw-sub xw-pending", note));
    }
    row.first.classList.toggle("xw-row-stale", stale);
    for (const rec of row.cells) rec.cell.classList.toggle("xw-row-stale", stale);
    const key = `${rt}/${rc}`;
    if (row.classKey === key || !M.probs) return;
    row.classKey = key;
    const had = row.topBox.contains(document.activeElement) ? document.activeElement.dataset.class : null;
    row.topBox.replaceChildren();
    const pr = M.probs.subarray(i * M.K, (i + 1) * M.K);
    const order = Array.from({ length: M.K }, (_, k) => k).sort((x, y) => pr[y] - pr[x]);
    const shown = order.slice(0, Math.min(TOP, M.K));
    for (const k of [rt, rc]) if (k != null && !shown.includes(k)) shown.push(k);
    shown.forEach((k, n) => {
      const isA = k === rt;
      const isB = rc != null && k === rc;
      const b = elem("button", `xw-class${isA ? " xw-a" : ""}${isB ? " xw-b" : ""}${n >= TOP ? " xw-extra" : ""}`);
      b.type = "button";
      b.dataset.image = String(i);
      b.dataset.class = String(k);
      b.style.setProperty("--xw-p", String(Math.max(0, Math.min(1, pr[k]))));
      b.title = isA ? `A: the explained class${rc != null ? " (Shift-click to drop the contrast)" : ""}`
        : isB ? "B: the contrast class (Shift-click to drop it)" : `click: explain ${className(k)}; Shift-click: explain A vs ${className(k)}`;
      b.append(elem("span", "xw-badge", isA ? "A" : isB ? "B" : ""), elem("span", "xw-name", className(k)),
        elem("span", "xw-pct", `${(100 * pr[k]).toFixed(1)}%`));
      b.setAttribute("aria-pressed", String(isA || isB));
      row.topBox.appendChild(b);
      if (had === String(k)) b.focus(); // keep the keyboard where it was
    });
  }

  function drawAll() {
    if (!M) return;
    const t0 = performance.now();
    for (let i = 0; i < M.N; i++) {
      drawImage(i);
      drawClasses(i);
      for (let j = 0; j < M.methods.length; j++) drawCell(i, j);
    }
    syncControls();
    markPainted();
    el.dispatchEvent(new CustomEvent("xw-paint", { detail: { work: performance.now() - t0 } }));
  }

  function syncControls() {
    viewSelect.value = view();
    scalingSelect.value = rowScaling() ? "row" : "column";
    scalingRule.textContent = rowScaling() ? "each map on ± s of its own image (stated under it): s = 99.5th pct |R| of that image's maps"
      : "one ± s per method: s = 99.5th pct |R| over all its images";
    opInput.value = String(num("opacity", 0.8));
    opLabel.classList.toggle("xw-disabled", view() === "side");
    opInput.disabled = view() === "side";
    contrastBox.checked = contrastMode;
    contrastLabel.classList.toggle("xw-contrast-on", contrastMode);
    progress.sync();
  }

  // ------------------------------------------------------------ probe and readout
  function showProbe(pr) {
    for (const [i, row] of rows.entries()) {
      const on = pr && pr.i === i;
      const boxes = [...row.images.map((im) => im.probe), ...row.cells.map((c) => c.probe)];
      for (const b of boxes) {
        b.hidden = !on;
        if (!on) continue;
        const sx = row.cssW / M.W;
        const sy = row.cssH / M.H;
        b.style.left = `${pr.col * sx}px`;
        b.style.top = `${pr.row * sy}px`;
        b.style.width = `${Math.max(2, sx)}px`;
        b.style.height = `${Math.max(2, sy)}px`;
      }
    }
  }

  function readoutAt(i, j, r, c) {
    const m = M.methods[j];
    const p = positionOf(j, i);
    const u = valuesAt(j, i, p)[r * M.W + c]; // in units of the column's scale
    const v = u * m.scale;
    const sc = drawnScale(j, i);
    const k = lutIndex(u, -sc, sc);
    const where = m.slider ? ` at ${m.slider.word} ${fmtNumber(m.slider.values[p])}` : "";
    const others = M.methods.map((o, jj) => (jj === j ? null : `${o.title} ${fmtSigned(o.scale * valuesAt(jj, i, positionOf(jj, i))[r * M.W + c])}`))
      .filter(Boolean).join(" · ");
    status.setReadout(`image ${i}, pixel (row ${r}, col ${c}): ${m.title}${where} = ${fmtSigned(v)}`
      + ` (${k < 0 ? "NaN" : fmtSigned(u / sc)} of the ${rowScaling() ? "image's" : "column's"} scale)${others ? `  |  ${others}` : ""}`);
    root.dataset.probe = JSON.stringify({ image: i, method: m.key, row: r, col: c, value: v });
  }

  function describeCell(i, j) {
    const m = M.methods[j];
    const vals = valuesAt(j, i, positionOf(j, i));
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of vals) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const ct = M.computed.targets[i];
    const cc = M.computed.contrasts[i];
    const what = cc == null ? className(ct) : `${className(ct)} vs ${className(cc)}`;
    const scale = rowScaling() ? `this image's scale ±${fmtNumber(m.rowScales[i])}` : `column scale ±${fmtNumber(m.scale)}`;
    const slider = m.slider ? ` · ${sliderCaption(m, i, positionOf(j, i))}` : "";
    status.setReadout(`image ${i} · ${m.title} explaining ${what}: values ${fmtSigned(lo * m.scale)} … ${fmtSigned(hi * m.scale)}, `
      + `${scale} (${m.rule})${slider}`);
  }

  function onPointer(ev) {
    const t = ev.target;
    if (!M || !t || !t.classList || !(t.classList.contains("xw-panel") || t.classList.contains("xw-image"))) return;
    const { clientX, clientY } = ev;
    frames.queue(() => {
      if (!M) return;
      const rect = t.getBoundingClientRect();
      const i = Number(t.dataset.image);
      const c = clampInt(Math.floor(((clientX - rect.left) * M.W) / rect.width), 0, M.W - 1);
      const r = clampInt(Math.floor(((clientY - rect.top) * M.H) / rect.height), 0, M.H - 1);
      if (probe && probe.i === i && probe.row === r && probe.col === c && probe.t === t) return;
      probe = { i, row: r, col: c, t };
      showProbe(probe);
      if (t.dataset.col != null) readoutAt(i, Number(t.dataset.col), r, c);
      else {
        const vals = M.methods.map((m, j) => `${m.title} ${fmtSigned(m.scale * valuesAt(j, i, positionOf(j, i))[r * M.W + c])}`).join(" · ");
        status.setReadout(`image ${i}, pixel (row ${r}, col ${c}): ${vals}`);
      }
    });
  }

  // ------------------------------------------------------------ classes: target and contrast
  function pickClass(i, k, asContrast) {
    if (!M) return;
    const req = requested();
    const targets = Array.from({ length: M.N }, (_, n) => (req.targets[n] != null ? Number(req.targets[n]) : M.computed.targets[n]));
    const contrasts = Array.from({ length: M.N }, (_, n) => (req.contrasts[n] != null ? Number(req.contrasts[n]) : null));
    if (asContrast) {
      if (k === targets[i]) {
        if (contrasts[i] == null) {
          status.setReadout(`${className(k)} is already class A; pick another class as the contrast B`);
          return;
        }
        contrasts[i] = null; // Shift-click on A drops the contrast
      } else contrasts[i] = contrasts[i] === k ? null : k;
    } else {
      if (k === targets[i] && contrasts[i] == null) return;
      if (k === targets[i]) contrasts[i] = null;
      else {
        targets[i] = k;
        if (contrasts[i] === k) contrasts[i] = null;
      }
    }
    model.set("targets", targets);
    model.set("contrasts", contrasts);
    model.save_changes();
    drawClasses(i);
  }

  // ------------------------------------------------------------ keyboard
  const cellCanvas = (i, j) => (rows[i] && rows[i].cells[j] ? rows[i].cells[j].P.canvas : null);
  const sliderOf = (i, j) => (rows[i] && rows[i].cells[j] ? rows[i].cells[j].input || null : null);
  const classButtons = (i) => (rows[i] ? [...rows[i].topBox.querySelectorAll("button")] : []);
  function focus(node) {
    if (!node) return false;
    node.focus();
    return true;
  }
  function onKey(ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !M) return;
    const t = ev.target;
    const ds = (t && t.dataset) || {};
    const i = Number(ds.image);
    const j = Number(ds.col);
    let done = false;
    if (t.classList && t.classList.contains("xw-slider")) {
      // Handled here, not left to the browser: a host page (JupyterLab) may claim the keys.
      const S = M.methods[j].slider.S;
      const p = positionOf(j, i);
      const next = { ArrowLeft: p - 1, ArrowRight: p + 1, Home: 0, End: S - 1, PageDown: p - 4, PageUp: p + 4 }[ev.key];
      if (ev.key === "ArrowUp") done = focus(cellCanvas(i, j));
      else if (ev.key === "ArrowDown") done = focus(cellCanvas(i + 1, j)) || true;
      else if (next !== undefined) {
        moveSlider(i, j, clampInt(next, 0, S - 1), true);
        done = true;
      }
    } else if (t.classList && t.classList.contains("xw-panel")) {
      if (ev.key === "ArrowLeft") done = j > 0 ? focus(cellCanvas(i, j - 1)) : focus(classButtons(i).find((b) => b.classList.contains("xw-a")) || classButtons(i)[0]);
      else if (ev.key === "ArrowRight") done = focus(cellCanvas(i, j + 1)) || true;
      else if (ev.key === "ArrowDown") done = focus(sliderOf(i, j)) || focus(cellCanvas(i + 1, j)) || true;
      else if (ev.key === "ArrowUp") done = focus(sliderOf(i - 1, j)) || focus(cellCanvas(i - 1, j)) || true;
      if (done && document.activeElement && document.activeElement.classList.contains("xw-panel")) {
        const a = document.activeElement.dataset;
        describeCell(Number(a.image), Number(a.col));
      }
    } else if (t.classList && t.classList.contains("xw-class")) {
      const list = classButtons(i);
      const n = list.indexOf(t);
      if (ev.key === "ArrowDown") done = focus(list[n + 1]) || focus(classButtons(i + 1)[0]) || true;
      else if (ev.key === "ArrowUp") done = focus(list[n - 1]) || focus(classButtons(i - 1).slice(-1)[0]) || true;
      else if (ev.key === "ArrowRight") done = focus(cellCanvas(i, 0)) || true;
      else if (ev.key === "Enter" && ev.shiftKey) {
        pickClass(i, Number(ds.class), true);
        done = true;
      }
    }
    if (!done && t.tagName !== "INPUT" && t.tagName !== "SELECT") {
      if (ev.key === "v") {
        setTrait("view", view() === "overlay" ? "side" : "overlay");
        done = true;
      } else if (ev.key === "[" || ev.key === "]") {
        const op = Math.round(20 * Math.min(1, Math.max(0, num("opacity", 0.8) + (ev.key === "]" ? 0.1 : -0.1)))) / 20;
        setTrait("opacity", op);
        done = true;
      } else if (ev.key === "c") {
        contrastMode = !contrastMode;
        syncControls();
        done = true;
      } else if (t === root && ev.key.startsWith("Arrow")) done = focus(cellCanvas(0, 0));
    }
    if (done) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  }

  const setTrait = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };

  /** A slider moved: local state only while dragging; `save` on release tells the kernel. */
  function setPosition(i, j, p, save) {
    const key = M.methods[j].key;
    const pos = { ...(model.get("positions") || {}) };
    const list = Array.isArray(pos[key]) ? pos[key].slice() : M.methods[j].slider.index.slice();
    list[i] = p;
    pos[key] = list;
    model.set("positions", pos);
    if (save) model.save_changes();
  }

  function setActive(a) {
    const prev = active;
    active = a;
    if (prev && (!a || prev.i !== a.i)) drawImage(prev.i);
    if (a) drawImage(a.i);
  }

  // ------------------------------------------------------------ events
  listenMoves(listen, grid, onPointer);
  listen(grid, "pointerleave", () => {
    frames.drop();
    probe = null;
    if (M) showProbe(null);
  });
  listen(grid, "click", (ev) => {
    const b = ev.target.closest && ev.target.closest("button.xw-class");
    if (!b) return;
    pickClass(Number(b.dataset.image), Number(b.dataset.class), ev.shiftKey || contrastMode);
  });
  /** Show position p of slider (i, j): drawn in the next frame; `save` tells the kernel. */
  function moveSlider(i, j, p, save) {
    setPosition(i, j, p, save);
    active = { i, j };
    frames.queue(() => {
      if (!M) return;
      drawCell(i, j);
      drawImage(i);
      if (probe && probe.i === i && probe.t && probe.t.dataset.col === String(j)) readoutAt(i, j, probe.row, probe.col);
    });
  }
  listen(grid, "input", (ev) => {
    const t = ev.target;
    if (!t.classList.contains("xw-slider") || !M) return;
    moveSlider(Number(t.dataset.image), Number(t.dataset.col), Number(t.value), false);
  });
  listen(grid, "change", (ev) => {
    const t = ev.target;
    if (!t.classList.contains("xw-slider") || !M) return;
    setPosition(Number(t.dataset.image), Number(t.dataset.col), Number(t.value), true);
  });
  const sliderTarget = (ev) => ev.target && ev.target.classList && ev.target.classList.contains("xw-slider");
  listen(grid, "focusin", (ev) => {
    if (sliderTarget(ev)) setActive({ i: Number(ev.target.dataset.image), j: Number(ev.target.dataset.col) });
    else if (ev.target.classList && ev.target.classList.contains("xw-panel")) describeCell(Number(ev.target.dataset.image), Number(ev.target.dataset.col));
  });
  listen(grid, "focusout", (ev) => {
    if (sliderTarget(ev)) setActive(null);
  });
  listen(grid, "pointerover", (ev) => {
    if (sliderTarget(ev)) setActive({ i: Number(ev.target.dataset.image), j: Number(ev.target.dataset.col) });
  });
  listen(grid, "pointerout", (ev) => {
    if (sliderTarget(ev) && document.activeElement !== ev.target && !(ev.buttons & 1)) setActive(null);
  });
  listen(root, "keydown", onKey);
  listen(viewSelect, "change", () => setTrait("view", viewSelect.value));
  listen(scalingSelect, "change", () => setTrait("scaling", scalingSelect.value));
  listen(opInput, "input", () => model.set("opacity", Number(opInput.value)));
  listen(opInput, "change", () => setTrait("opacity", Number(opInput.value)));
  listen(contrastBox, "change", () => {
    contrastMode = contrastBox.checked;
    syncControls();
  });

  function refreshAll() {
    build();
    drawAll();
  }
  const redrawMaps = () => {
    if (!M) return;
    for (let i = 0; i < M.N; i++) for (let j = 0; j < M.methods.length; j++) drawCell(i, j);
    syncControls();
  };
  onModel("change:_maps", refreshAll);
  onModel("change:_images", refreshAll);
  onModel("change:_probs", refreshAll);
  onModel("change:size", refreshAll);
  onModel("change:_colormaps", () => {
    loadLut();
    refreshAll();
  });
  onModel("change:view", redrawMaps);
  onModel("change:scaling", () => {
    drawLegends();
    redrawMaps();
  });
  onModel("change:opacity", () => frames.queue(redrawMaps));
  onModel("change:positions", () => {
    if (!M) return;
    for (let i = 0; i < M.N; i++) M.methods.forEach((m, j) => m.slider && drawCell(i, j));
    if (active) drawImage(active.i);
  });
  const classesChanged = () => {
    if (M) for (let i = 0; i < M.N; i++) drawClasses(i);
  };
  onModel("change:targets", classesChanged);
  onModel("change:contrasts", classesChanged);
  onModel("change:progress", () => {
    syncControls();
    classesChanged();
  });

  loadLut();
  refreshAll();
  life.add(onWidth(root, (w) => {
    width = w;
    if (M && JSON.stringify(plan()) !== planKey) refreshAll(); // only when the layout changes
  }));

  return () => {
    life.dispose();
    root.remove();
    M = null;
  };
}

export default { render };
