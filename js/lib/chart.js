// A small line chart on a canvas: one series with gaps (NaN), an optional dashed
// reference series, round-number ticks, a highlighted point. Tick labels and axis
// titles are DOM text (textContent), so they follow the JupyterLab theme; the
// canvas colours are read from CSS (lib/chart.css) at draw time.
//
// For tests and for curious users the drawn numbers are on the canvas element:
// data-x (JSON x values), data-values (JSON y values, null for a gap) and
// data-points (JSON [x, y] positions in CSS pixels of the canvas, y null for a gap),
// data-series (JSON [{name, color, points}] for every line, the main one last),
// data-yrange (the y axis's [lo, hi]) and data-plot (the plot rectangle [x0, y0, x1, y1]).


const CHAR_PX = 6.2; // mean width of a character of the 11 px UI font, for fitting labels before layout
const SLANT = Math.sin((35 * Math.PI) / 180);

/** Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten. */
export function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    out.push(+t.toFixed(10));
  }
  return out;
}

export function fmtNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  const s = (+v.toPrecision(4)).toString();
  return s === "-0" ? "0" : s;
}

const SUPERSCRIPT = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };

/**
 * A number for a reader: `digits` significant digits, trailing zeros dropped, and powers of
 * ten (6.07 × 10⁻⁶) instead of long runs of zeros for very small or large magnitudes.
 * `unit` is appended after a space.
 */
export function fmtValue(v, { digits = 3, unit = "" } = {}) {
  if (!Number.isFinite(v)) return v == null || Number.isNaN(v) ? "undefined" : String(v);
  let text;
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) {
    const [m, e] = v.toExponential(digits - 1).split("e");
    text = `${+m} × 10${String(Number(e)).replace(/./g, (c) => SUPERSCRIPT[c])}`;
  } else {
    text = String(+v.toPrecision(digits));
    if (text === "-0") text = "0";
  }
  return unit ? `${text} ${unit}` : text;
}

/** A probability in [0, 1] as a percentage, with "< 0.1%" / "> 99.9%" for the extremes. */
export function fmtPercent(p) {
  if (!Number.isFinite(p)) return "undefined";
  if (p > 0 && p < 0.001) return "< 0.1%";
  if (p < 1 && p > 0.999) return "> 99.9%";
  return `${+(100 * p).toFixed(p < 0.1 ? 2 : 1)}%`;
}

/** A small swatch of a line (dashes included) or, for `mark` "dots", of a dot; `color` kept on data-color for tests. */
export function lineSwatch(color, dash, width = 24, mark = "line") {
  const c = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  c.width = Math.round(width * dpr);
  c.height = Math.round(10 * dpr);
  c.style.width = `${width}px`;
  c.style.height = "10px";
  c.dataset.color = color;
  const ctx = c.getContext("2d");
  ctx.scale(dpr, dpr);
  if (mark === "dots") {
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(width / 2, 5, 4, 0, 2 * Math.PI);
    ctx.fill();
    return c;
  }
  ctx.strokeStyle = color;
  ctx.lineWidth = 2.5;
  ctx.setLineDash(dash || []);
  ctx.beginPath();
  ctx.moveTo(1, 5);
  ctx.lineTo(width - 1, 5);
  ctx.stroke();
  return c;
}

/**
 * A key naming each line by a swatch of it, so captions need not name colours:
 * entries [{color, dash, label, name, mark}] -> div.xw-line-key (each item data-series = name).
 */
export function lineKey(entries) {
  const key = document.createElement("div");
  key.className = "xw-line-key";
  for (const e of entries) {
    const item = document.createElement("span");
    item.className = "xw-key-item";
    if (e.name != null) item.dataset.series = e.name;
    const label = document.createElement("span");
    label.className = "xw-key-label";
    label.textContent = e.label;
    item.append(lineSwatch(e.color, e.dash, 24, e.mark), label);
    key.appendChild(item);
  }
  return key;
}

function span(className, text, x, y) {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  s.style.left = `${x}px`;
  s.style.top = `${y}px`;
  return s;
}

/** The y axis's [lo, hi]: spec.yRange (default [0, 1]) grown to hold every finite value and y band. */
function yRangeOf(spec, ref, series, bands) {
  let [ylo, yhi] = spec.yRange || [0, 1];
  const bandValues = bands.filter((b) => b.axis === "y").flatMap((b) => [b.lo, b.hi]);
  for (const v of spec.ys.concat(ref, ...series.map((S) => S.ys), bandValues)) {
    if (Number.isFinite(v)) {
      if (v < ylo) ylo = v;
      if (v > yhi) yhi = v;
    }
  }
  if (!(yhi > ylo)) yhi = ylo + 1;
  return [ylo, yhi];
}

/** The plot's coordinates: xs, the plot rectangle P, both ranges and X / Y from data to CSS px. */
function axes(xs, P, [ylo, yhi], xRange) {
  const n = xs.length;
  let xlo = xRange ? xRange[0] : n ? xs[0] : 0;
  let xhi = xRange ? xRange[1] : n ? xs[n - 1] : 1;
  if (!(xhi > xlo)) {
    xlo -= 1;
    xhi += 1;
  }
  const X = (x) => P.x0 + ((x - xlo) / (xhi - xlo)) * (P.x1 - P.x0);
  const Y = (y) => P.y1 - ((y - ylo) / (yhi - ylo)) * (P.y1 - P.y0);
  return { xs, n, P, xlo, xhi, ylo, yhi, X, Y };
}

/** Ticks at the data's own x values when their labels fit, else round numbers. */
function xTicks(A, fmtX) {
  const { xs, n, P, X } = A;
  const round = niceTicks(A.xlo, A.xhi, Math.max(2, Math.min(8, Math.floor((P.x1 - P.x0) / 60))));
  if (n < 2 || n > 40) return round;
  let gap = Infinity;
  for (let i = 1; i < n; i++) gap = Math.min(gap, X(xs[i]) - X(xs[i - 1]));
  const widest = Math.max(...xs.map((x) => fmtX(x).length)) * 6.5;
  return gap >= Math.max(28, widest + 10) ? xs.slice() : round;
}

/**
 * The canvas colours from lib/chart.css. A chart drawn before its element is in the document
 * gets no computed colours: then greys that read on light and dark themes alike.
 */
function themeColors(el, spec) {
  const style = getComputedStyle(el);
  return {
    axis: style.color || "#808080",
    grid: style.borderTopColor || "rgba(128, 128, 128, 0.3)",
    line: spec.color || style.outlineColor || "#1976d2",
    ref: style.columnRuleColor || "#9e9e9e",
  };
}

function paintBands(ctx, { P, X, Y }, bands) {
  const clip = (v, a, b) => Math.min(Math.max(v, a), b); // bands may extend past the axes
  for (const band of bands) {
    ctx.fillStyle = band.color;
    if (band.axis === "x") {
      const [a, b] = [clip(X(band.lo), P.x0, P.x1), clip(X(band.hi), P.x0, P.x1)];
      ctx.fillRect(a, P.y0, b - a, P.y1 - P.y0);
    } else {
      const [a, b] = [clip(Y(band.hi), P.y0, P.y1), clip(Y(band.lo), P.y0, P.y1)];
      ctx.fillRect(P.x0, a, P.x1 - P.x0, b - a);
    }
  }
}

/** Grid lines at the y ticks, the two axes and the x tick marks. */
function paintAxes(ctx, { P, X, Y }, ticks, colors) {
  ctx.lineWidth = 1;
  ctx.strokeStyle = colors.grid;
  ctx.beginPath();
  for (const t of ticks.y) {
    const y = Math.round(Y(t)) + 0.5;
    ctx.moveTo(P.x0, y);
    ctx.lineTo(P.x1, y);
  }
  ctx.stroke();
  ctx.strokeStyle = colors.axis;
  ctx.beginPath();
  ctx.moveTo(P.x0 + 0.5, P.y0);
  ctx.lineTo(P.x0 + 0.5, P.y1 + 0.5);
  ctx.lineTo(P.x1, P.y1 + 0.5);
  for (const t of ticks.x) {
    const x = Math.round(X(t)) + 0.5;
    ctx.moveTo(x, P.y1);
    ctx.lineTo(x, P.y1 + 4);
  }
  ctx.stroke();
}

/** The highlight's cursor: a 3 px vertical line across the plot at x. */
function paintVertical(ctx, { P }, x, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 3;
  ctx.beginPath();
  ctx.moveTo(x, P.y0);
  ctx.lineTo(x, P.y1);
  ctx.stroke();
}

/** A circle of radius r around the point [x, y]. */
function paintRing(ctx, [x, y], r, color) {
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.stroke();
}

/** One line through vals, broken at every non-finite value. */
function polyline(ctx, { xs, n, X, Y }, vals, color, width, dash) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash(dash);
  ctx.beginPath();
  let open = false;
  for (let i = 0; i < n; i++) {
    const v = vals[i];
    if (!Number.isFinite(v)) {
      open = false;
      continue;
    }
    if (open) ctx.lineTo(X(xs[i]), Y(v));
    else ctx.moveTo(X(xs[i]), Y(v));
    open = true;
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

const pointsOf = ({ xs, X, Y }, vals) => xs.map((x, i) => [X(x), Number.isFinite(vals[i]) ? Y(vals[i]) : NaN]);

export const DOT_RADIUS = 4.5; // a series drawn as dots (mark "dots"), CSS px

/** One series: a line through its values, or (mark "dots") a dot at each, unjoined. */
function paintSeries(ctx, A, vals, color, width, dash, mark) {
  if (mark === "dots") paintDots(ctx, pointsOf(A, vals), -1, color, true, DOT_RADIUS);
  else polyline(ctx, A, vals, color, width, dash);
}

/** A dot of radius r at every finite point (when `dots`), the highlighted one larger. */
function paintDots(ctx, points, hl, color, dots, r = 3) {
  ctx.fillStyle = color;
  for (let i = 0; i < points.length && dots; i++) {
    const [x, y] = points[i];
    if (!Number.isFinite(y)) continue;
    ctx.beginPath();
    ctx.arc(x, y, i === hl ? r + 2 : r, 0, 2 * Math.PI);
    ctx.fill();
  }
}

export class LineChart {
  constructor({ width = 480, height = 200, label = "chart" } = {}) {
    this.el = document.createElement("div");
    this.el.className = "xw-chart";
    this.canvas = document.createElement("canvas");
    this.canvas.className = "xw-chart-canvas";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", label);
    this.labels = document.createElement("div");
    this.labels.className = "xw-chart-labels";
    this.tip = span("xw-chart-tip", "", 0, 0);
    this.tip.hidden = true;
    this.el.append(this.canvas, this.labels);
    this.baseMargin = { left: 46, right: 14, top: 22, bottom: 38 };
    this.margin = { ...this.baseMargin };
    this.labelKey = "";
    this.points = []; // [x, y|NaN] in CSS px
    this.resize(width, height);
  }

  resize(width, height) {
    const dpr = window.devicePixelRatio || 1;
    this.W = Math.max(120, Math.round(width));
    this.H = Math.max(80, Math.round(height));
    this.el.style.width = `${this.W}px`;
    this.el.style.height = `${this.H}px`;
    this.canvas.style.width = `${this.W}px`;
    this.canvas.style.height = `${this.H}px`;
    this.canvas.width = Math.round(this.W * dpr);
    this.canvas.height = Math.round(this.H * dpr);
    this.dpr = dpr;
    this.labelKey = "";
    this.tipSize = { text: -1, w: 0, h: 0 };
  }

  /**
   * Margins for one label per x: every label level when they fit between their neighbours, else
   * slanted, with the bottom margin (and the left one, for the first label) grown to hold them.
   * Returns whether the labels are slanted.
   */
  fitLabels(xs, labels) {
    const m = this.margin;
    const widths = labels.map((t) => t.length * CHAR_PX);
    const span = this.W - m.left - m.right;
    const n = xs.length;
    const gap = n > 1 ? span / (n - 1) : span;
    // neighbours' half widths must fit in the gap; the end labels must fit in the margins
    const level = widths.every((w, i) => (i === 0 || (w + widths[i - 1]) / 2 + 8 <= gap))
      && widths[0] / 2 <= m.left && widths[n - 1] / 2 <= m.right + 4;
    if (level) return false;
    const widest = Math.max(...widths);
    m.bottom = Math.max(m.bottom, Math.ceil(widest * SLANT + 34));
    m.left = Math.max(m.left, Math.ceil(widths[0] * Math.cos((35 * Math.PI) / 180) + 4));
    return true;
  }

  /** Plot rectangle in CSS px. */
  plot() {
    const m = this.margin;
    return { x0: m.left, x1: this.W - m.right, y0: m.top, y1: this.H - m.bottom };
  }

  /**
   * spec: {xs, ys, ref (optional, NaN gaps), yRange: [lo, hi], highlight: index or -1,
   *        xTitle, yTitle, fmtX (value -> label), tip (text for the highlighted point),
   *        xlabels (optional: one label per x, every one shown, slanted when they do not fit level),
   *        name (ys's name in data-series; default "main"),
   *        series (optional extra lines [{ys, color, width, dash, name, mark}], drawn under ys),
   *        mark (ys's and a series' mark: "line" (default) or "dots", a dot at each value, unjoined),
   *        xRange (optional [lo, hi] of the x axis, default the first and last x),
   *        yTicks / fmtY (optional: the y ticks instead of round numbers, and their labels),
   *        bands (optional shaded spans [{axis: "x" | "y", lo, hi, color}]),
   *        dots (default true: a dot at every point of ys; false: no dots, and the highlight
   *        is a cursor that moveHighlight moves without redrawing the plot),
   *        color / cursor (optional: ys's colour and the cursor's, instead of the theme's)}
   */
  draw(spec) {
    const { xs, ys } = spec;
    const ref = spec.ref || [];
    const series = spec.series || [];
    const bands = spec.bands || [];
    const n = xs.length;
    const labelled = Array.isArray(spec.xlabels) && spec.xlabels.length === n;
    this.margin = { ...this.baseMargin };
    const slanted = labelled && this.fitLabels(xs, spec.xlabels.map(String));
    const A = axes(xs, this.plot(), yRangeOf(spec, ref, series, bands), spec.xRange);
    const fmtX = labelled ? (x) => String(spec.xlabels[xs.indexOf(x)] ?? "") : spec.fmtX || fmtNumber;
    const y = spec.yTicks || niceTicks(A.ylo, A.yhi, 4);
    const ticks = { x: labelled ? xs.slice() : xTicks(A, fmtX), y, fmtX, fmtY: spec.fmtY || fmtNumber, slanted };
    const colors = themeColors(this.el, spec);
    const hl = Number.isInteger(spec.highlight) && spec.highlight >= 0 && spec.highlight < n ? spec.highlight : -1;
    const cursorMode = spec.dots === false; // the cursor is drawn over a cached plot by moveHighlight

    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.W, this.H);
    paintBands(ctx, A, bands);
    paintAxes(ctx, A, ticks, colors);
    if (hl >= 0 && !cursorMode) paintVertical(ctx, A, A.X(xs[hl]), colors.grid);
    if (ref.length === n) polyline(ctx, A, ref, colors.ref, 1.5, [4, 3]);
    for (const S of series) paintSeries(ctx, A, S.ys, S.color || colors.ref, S.width || 1.5, S.dash || [], S.mark);
    paintSeries(ctx, A, ys, colors.line, 2, [], spec.mark);
    this.points = pointsOf(A, ys);
    paintDots(ctx, this.points, hl, colors.line, spec.dots !== false);
    if (hl >= 0 && !cursorMode && Number.isFinite(this.points[hl][1])) paintRing(ctx, this.points[hl], 8, colors.line);
    ctx.setTransform(1, 0, 0, 1, 0, 0);

    this.labelAxes(spec, A, ticks);
    this.recordData(spec, A, colors);
    this.colors = { grid: spec.cursor || colors.grid, line: colors.line };
    this.cacheBase(cursorMode);
    this.moveHighlight(hl, spec.tip);
  }

  /** DOM tick labels and titles, rebuilt only when the axes change. */
  labelAxes(spec, A, ticks) {
    const { P, X, Y } = A;
    const key = JSON.stringify([ticks.x, ticks.y, this.W, this.H, spec.xTitle, spec.yTitle, spec.xlabels, ticks.slanted, P]);
    if (key === this.labelKey) return;
    this.labelKey = key;
    const nodes = [];
    for (const t of ticks.x) nodes.push(span(ticks.slanted ? "xw-xtick xw-slanted" : "xw-xtick", ticks.fmtX(t), X(t), P.y1 + 6));
    for (const t of ticks.y) nodes.push(span("xw-ytick", ticks.fmtY(t), P.x0 - 6, Y(t)));
    if (spec.xTitle) nodes.push(span("xw-xtitle", spec.xTitle, (P.x0 + P.x1) / 2, this.H - 13));
    if (spec.yTitle) nodes.push(span("xw-ytitle", spec.yTitle, P.x0, P.y0 - 7));
    nodes.push(this.tip);
    this.labels.replaceChildren(...nodes);
  }

  /** The drawn numbers on the canvas's data-* attributes (see the header). */
  recordData(spec, A, colors) {
    const series = spec.series || [];
    const json = (a) => JSON.stringify(a.map((v) => (Number.isFinite(v) ? v : null)));
    const pts = (a) => a.map(([x, y]) => [x, Number.isFinite(y) ? y : null]);
    const d = this.canvas.dataset;
    d.x = json(spec.xs);
    d.values = json(spec.ys);
    d.points = JSON.stringify(pts(this.points));
    d.series = JSON.stringify([
      ...series.map((S, i) => ({ name: S.name ?? `series ${i}`, color: S.color || colors.ref, points: pts(pointsOf(A, S.ys)) })),
      { name: spec.name ?? "main", color: colors.line, points: pts(this.points) }]);
    d.yrange = JSON.stringify([A.ylo, A.yhi]);
    d.plot = JSON.stringify([A.P.x0, A.P.y0, A.P.x1, A.P.y1]);
  }

  /** In cursor mode a copy of the plot without its cursor, for moveHighlight to paint over. */
  cacheBase(cursorMode) {
    if (cursorMode) {
      if (!this.base) this.base = document.createElement("canvas");
      [this.base.width, this.base.height] = [this.canvas.width, this.canvas.height];
      this.base.getContext("2d").drawImage(this.canvas, 0, 0);
    } else this.base = null;
  }

  /**
   * Move the highlighted point (and its tip). For a chart drawn with `dots: false` this
   * repaints only the cursor over the cached plot: cheap enough for every slider frame.
   */
  moveHighlight(hl, tip) {
    const n = this.points.length;
    const i = Number.isInteger(hl) && hl >= 0 && hl < n ? hl : -1;
    const P = this.plot();
    if (this.base) {
      const ctx = this.canvas.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
      ctx.drawImage(this.base, 0, 0);
      if (i >= 0) {
        const [x, y] = this.points[i];
        ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
        paintVertical(ctx, { P }, x, this.colors.grid);
        if (Number.isFinite(y)) paintRing(ctx, [x, y], 6, this.colors.line);
        ctx.setTransform(1, 0, 0, 1, 0, 0);
      }
    }
    if (i >= 0 && tip) {
      const [x, y] = this.points[i];
      const t = this.tip;
      t.textContent = tip;
      t.hidden = false;
      t.style.maxWidth = `${P.x1 - P.x0 - 4}px`;
      // Inside the plot, clear of the titles above and below it: above the point when there is
      // room, else under it. A chart not yet laid out has no sizes: estimate them.
      if (this.tipSize.text !== tip.length || !this.tipSize.w) {
        this.tipSize = { text: tip.length, w: t.offsetWidth, h: t.offsetHeight }; // one layout per new length
      }
      const w = this.tipSize.w || Math.min(P.x1 - P.x0 - 4, tip.length * CHAR_PX + 8);
      const h = this.tipSize.h || 15;
      const cy = Number.isFinite(y) ? y : (P.y0 + P.y1) / 2;
      const bottom = cy - 8 - h >= P.y0 + 2 ? cy - 8 : cy + 8 + h; // the tip's bottom edge (it is translated -100%)
      t.style.left = `${Math.min(Math.max(x, P.x0 + w / 2 + 2), P.x1 - w / 2 - 2)}px`;
      t.style.top = `${Math.min(Math.max(bottom, P.y0 + h + 2), P.y1 - 2)}px`;
      t.dataset.index = String(i);
    } else {
      this.tip.hidden = true;
    }
    this.canvas.dataset.highlight = String(i);
  }

  /** Index of the point nearest in x to a pointer event (-1 outside the plot's x span). */
  nearest(ev) {
    if (!this.points.length) return -1;
    const rect = this.canvas.getBoundingClientRect();
    const x = ((ev.clientX - rect.left) * this.W) / (rect.width || this.W);
    const P = this.plot();
    if (x < P.x0 - 12 || x > P.x1 + 12) return -1;
    let best = -1;
    let dist = Infinity;
    this.points.forEach(([px], i) => {
      const d = Math.abs(px - x);
      if (d < dist) {
        dist = d;
        best = i;
      }
    });
    return best;
  }
}
