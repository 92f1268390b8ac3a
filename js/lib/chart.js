// A small line chart on a canvas: one series with gaps (NaN), an optional dashed
// reference series, round-number ticks, a highlighted point. Tick labels and axis
// titles are DOM text (textContent), so they follow the JupyterLab theme; the
// canvas colours are read from CSS (see CHART_STYLE) at draw time.
//
// For tests and for curious users the drawn numbers are on the canvas element:
// data-x (JSON x values), data-values (JSON y values, null for a gap) and
// data-points (JSON [x, y] positions in CSS pixels of the canvas, y null for a gap).

export const CHART_STYLE = `
.xw-chart { position: relative; color: var(--jp-ui-font-color2, #616161);
  border-color: var(--jp-border-color2, #e0e0e0); outline-color: var(--jp-brand-color1, #1976d2);
  column-rule-color: var(--jp-ui-font-color3, #9e9e9e); font-size: var(--jp-ui-font-size0, 11px);
  font-variant-numeric: tabular-nums; user-select: none; }
.xw-chart canvas { display: block; }
.xw-chart .xw-chart-labels { position: absolute; inset: 0; pointer-events: none; }
.xw-chart .xw-chart-labels span { position: absolute; white-space: nowrap; line-height: 1; }
.xw-chart .xw-xtick { transform: translate(-50%, 0); }
.xw-chart .xw-ytick { transform: translate(-100%, -50%); }
.xw-chart .xw-xtitle { transform: translate(-50%, 0); color: var(--jp-ui-font-color1, #222); }
.xw-chart .xw-ytitle { transform: translate(0, -100%); color: var(--jp-ui-font-color1, #222); }
.xw-chart .xw-chart-tip {
  transform: translate(-50%, -100%); padding: 2px 4px; border-radius: 2px;
  color: var(--jp-ui-font-color0, #000); background: var(--jp-layout-color2, #eee);
  box-shadow: 0 0 0 1px var(--jp-border-color1, #bdbdbd);
}
`;

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

function span(className, text, x, y) {
  const s = document.createElement("span");
  s.className = className;
  s.textContent = text;
  s.style.left = `${x}px`;
  s.style.top = `${y}px`;
  return s;
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
    this.margin = { left: 46, right: 14, top: 22, bottom: 38 };
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
  }

  /** Plot rectangle in CSS px. */
  plot() {
    const m = this.margin;
    return { x0: m.left, x1: this.W - m.right, y0: m.top, y1: this.H - m.bottom };
  }

  /**
   * spec: {xs, ys, ref (optional, NaN gaps), yRange: [lo, hi], highlight: index or -1,
   *        xTitle, yTitle, fmtX (value -> label), tip (text for the highlighted point),
   *        series (optional extra lines [{ys, color, width, dash}], drawn under ys),
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
    let xlo = n ? xs[0] : 0;
    let xhi = n ? xs[n - 1] : 1;
    if (!(xhi > xlo)) {
      xlo -= 1;
      xhi += 1;
    }
    let [ylo, yhi] = spec.yRange || [0, 1];
    const bandValues = bands.filter((b) => b.axis === "y").flatMap((b) => [b.lo, b.hi]);
    for (const v of ys.concat(ref, ...series.map((S) => S.ys), bandValues)) {
      if (Number.isFinite(v)) {
        if (v < ylo) ylo = v;
        if (v > yhi) yhi = v;
      }
    }
    if (!(yhi > ylo)) yhi = ylo + 1;
    const P = this.plot();
    const X = (x) => P.x0 + ((x - xlo) / (xhi - xlo)) * (P.x1 - P.x0);
    const Y = (y) => P.y1 - ((y - ylo) / (yhi - ylo)) * (P.y1 - P.y0);
    const fmtX = spec.fmtX || fmtNumber;
    // Ticks at the data's own x values when their labels fit, else round numbers.
    let xticks = niceTicks(xlo, xhi, Math.max(2, Math.min(8, Math.floor((P.x1 - P.x0) / 60))));
    if (n >= 2 && n <= 40) {
      let gap = Infinity;
      for (let i = 1; i < n; i++) gap = Math.min(gap, X(xs[i]) - X(xs[i - 1]));
      const widest = Math.max(...xs.map((x) => fmtX(x).length)) * 6.5;
      if (gap >= Math.max(28, widest + 10)) xticks = xs.slice();
    }
    const yticks = niceTicks(ylo, yhi, 4);

    const style = getComputedStyle(this.el);
    // A chart drawn before its element is in the document gets no computed colours: use
    // greys that read on light and dark themes alike.
    const axis = style.color || "#808080";
    const grid = style.borderTopColor || "rgba(128, 128, 128, 0.3)";
    const line = spec.color || style.outlineColor || "#1976d2";
    const refColor = style.columnRuleColor || "#9e9e9e";

    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.W, this.H);
    for (const band of bands) {
      ctx.fillStyle = band.color;
      const clip = (v, a, b) => Math.min(Math.max(v, a), b); // bands may extend past the axes
      if (band.axis === "x") {
        const [a, b] = [clip(X(band.lo), P.x0, P.x1), clip(X(band.hi), P.x0, P.x1)];
        ctx.fillRect(a, P.y0, b - a, P.y1 - P.y0);
      } else {
        const [a, b] = [clip(Y(band.hi), P.y0, P.y1), clip(Y(band.lo), P.y0, P.y1)];
        ctx.fillRect(P.x0, a, P.x1 - P.x0, b - a);
      }
    }
    ctx.lineWidth = 1;
    ctx.strokeStyle = grid;
    ctx.beginPath();
    for (const t of yticks) {
      const y = Math.round(Y(t)) + 0.5;
      ctx.moveTo(P.x0, y);
      ctx.lineTo(P.x1, y);
    }
    ctx.stroke();
    ctx.strokeStyle = axis;
    ctx.beginPath();
    ctx.moveTo(P.x0 + 0.5, P.y0);
    ctx.lineTo(P.x0 + 0.5, P.y1 + 0.5);
    ctx.lineTo(P.x1, P.y1 + 0.5);
    for (const t of xticks) {
      const x = Math.round(X(t)) + 0.5;
      ctx.moveTo(x, P.y1);
      ctx.lineTo(x, P.y1 + 4);
    }
    ctx.stroke();

    const hl = Number.isInteger(spec.highlight) && spec.highlight >= 0 && spec.highlight < n ? spec.highlight : -1;
    const cursorMode = spec.dots === false; // the cursor is drawn over a cached plot by moveHighlight
    if (hl >= 0 && !cursorMode) {
      ctx.strokeStyle = grid;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.moveTo(X(xs[hl]), P.y0);
      ctx.lineTo(X(xs[hl]), P.y1);
      ctx.stroke();
    }

    const polyline = (vals, color, width, dash) => {
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
    };
    if (ref.length === n) polyline(ref, refColor, 1.5, [4, 3]);
    for (const S of series) polyline(S.ys, S.color || refColor, S.width || 1.5, S.dash || []);
    polyline(ys, line, 2, []);
    this.points = xs.map((x, i) => [X(x), Number.isFinite(ys[i]) ? Y(ys[i]) : NaN]);
    ctx.fillStyle = line;
    for (let i = 0; i < n && spec.dots !== false; i++) {
      const [x, y] = this.points[i];
      if (!Number.isFinite(y)) continue;
      ctx.beginPath();
      ctx.arc(x, y, i === hl ? 5 : 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (hl >= 0 && !cursorMode && Number.isFinite(this.points[hl][1])) {
      ctx.strokeStyle = line;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(this.points[hl][0], this.points[hl][1], 8, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);

    // DOM labels, rebuilt only when the axes change
    const key = JSON.stringify([xticks, yticks, this.W, this.H, spec.xTitle, spec.yTitle]);
    if (key !== this.labelKey) {
      this.labelKey = key;
      const nodes = [];
      for (const t of xticks) nodes.push(span("xw-xtick", fmtX(t), X(t), P.y1 + 6));
      for (const t of yticks) nodes.push(span("xw-ytick", fmtNumber(t), P.x0 - 6, Y(t)));
      if (spec.xTitle) nodes.push(span("xw-xtitle", spec.xTitle, (P.x0 + P.x1) / 2, this.H - 13));
      if (spec.yTitle) nodes.push(span("xw-ytitle", spec.yTitle, P.x0, P.y0 - 7));
      nodes.push(this.tip);
      this.labels.replaceChildren(...nodes);
    }
    const json = (a) => JSON.stringify(a.map((v) => (Number.isFinite(v) ? v : null)));
    this.canvas.dataset.x = json(xs);
    this.canvas.dataset.values = json(ys);
    this.canvas.dataset.points = JSON.stringify(this.points.map(([x, y]) => [x, Number.isFinite(y) ? y : null]));
    this.colors = { grid: spec.cursor || grid, line };
    if (cursorMode) {
      if (!this.base) this.base = document.createElement("canvas");
      [this.base.width, this.base.height] = [this.canvas.width, this.canvas.height];
      this.base.getContext("2d").drawImage(this.canvas, 0, 0);
    } else this.base = null;
    this.moveHighlight(hl, spec.tip);
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
        ctx.strokeStyle = this.colors.grid;
        ctx.lineWidth = 3;
        ctx.beginPath();
        ctx.moveTo(x, P.y0);
        ctx.lineTo(x, P.y1);
        ctx.stroke();
        if (Number.isFinite(y)) {
          ctx.strokeStyle = this.colors.line;
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.arc(x, y, 6, 0, 2 * Math.PI);
          ctx.stroke();
        }
        ctx.setTransform(1, 0, 0, 1, 0, 0);
      }
    }
    if (i >= 0 && tip) {
      const [x, y] = this.points[i];
      this.tip.textContent = tip;
      this.tip.style.left = `${Math.min(Math.max(x, P.x0 + 30), P.x1 - 30)}px`;
      this.tip.style.top = `${(Number.isFinite(y) ? y : P.y1) - 11}px`;
      this.tip.hidden = false;
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
