// The one colour legend every widget uses: a bar of a colour table over [lo, hi], tick marks
// at chosen values and a label centred on each mark, so a label always sits over the colour
// it names. A caption under the bar says what the scale is.
//
// For tests: every label span carries data-value (the number it names) and the bar canvas
// data-lo / data-hi; a label's centre is at bar.left + (value - lo) / (hi - lo) * bar.width.
import { elem } from "./dom.js";
import { fmtNumber } from "./chart.js";


const CHAR_PX = 6.5; // widest digit of an 11 px UI font, rounded up: labels never leave the legend

/**
 * A legend (`el`): `draw(lut, lo, hi, opts)` paints the bar and places the ticks.
 * `width` is the bar's length in CSS px; the legend is wider by half its widest label on each
 * side, so the end labels stay centred on the ends of the bar.
 */
export class ColorLegend {
  constructor({ width = 160, height = 10, label = "colour scale" } = {}) {
    this.el = elem("div", "xw-legend");
    this.el.setAttribute("role", "img");
    this.el.setAttribute("aria-label", label);
    this.scale = elem("div", "xw-legend-scale");
    this.bar = elem("canvas", "xw-colorbar");
    this.ticks = elem("div", "xw-ticks");
    this.caption = elem("div", "xw-legend-caption");
    this.caption.hidden = true;
    this.scale.append(this.bar, this.ticks);
    this.el.append(this.scale, this.caption);
    this.width = width;
    this.height = height;
  }

  /**
   * opts: ticks (values to mark; default lo, middle, hi), fmt (value -> label text),
   * labels (texts instead of fmt, one per tick), caption (text under the bar; "" hides it).
   */
  draw(lut, lo, hi, opts = {}) {
    const W = Math.max(16, Math.round(opts.width || this.width));
    const fmt = opts.fmt || fmtNumber;
    const values = opts.ticks || [lo, (lo + hi) / 2, hi];
    const texts = values.map((v, i) => (opts.labels && opts.labels[i] != null ? String(opts.labels[i]) : fmt(v)));
    const key = JSON.stringify([lo, hi, W, values, texts, opts.caption]);
    if (lut === this.lut && key === this.key) return; // hover redraws: nothing changed
    this.lut = lut;
    this.key = key;
    const pad = Math.ceil((Math.max(1, ...texts.map((t) => t.length)) * CHAR_PX) / 2);
    paintBar(this.bar, lut, W, this.height);
    this.bar.style.marginLeft = `${pad}px`;
    this.bar.dataset.lo = String(lo);
    this.bar.dataset.hi = String(hi);
    this.scale.style.width = `${W + 2 * pad}px`;
    const span = hi > lo ? hi - lo : 1;
    const nodes = [];
    values.forEach((v, i) => {
      const x = pad + Math.min(1, Math.max(0, (v - lo) / span)) * W;
      const mark = elem("span", "xw-tickmark");
      mark.style.left = `${x - 0.5}px`;
      const tick = elem("span", "xw-tick", texts[i]);
      tick.style.left = `${x}px`;
      tick.dataset.value = String(v);
      nodes.push(mark, tick);
    });
    this.ticks.replaceChildren(...nodes);
    if (opts.caption != null) {
      this.caption.textContent = opts.caption;
      this.caption.hidden = !opts.caption;
    }
  }
}

/** Paint the colour table (`{rgba32}`, 256 entries) left to right into `canvas` of cssW x cssH. */
export function paintBar(canvas, lut, cssW, cssH) {
  const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
  canvas.style.width = `${cssW}px`;
  canvas.style.height = `${cssH}px`;
  canvas.width = Math.max(1, Math.round(cssW * dpr));
  canvas.height = Math.max(1, Math.round(cssH * dpr));
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!lut) return;
  const strip = elem("canvas");
  strip.width = 256;
  strip.height = 1;
  const sctx = strip.getContext("2d");
  const img = sctx.createImageData(256, 1);
  new Uint32Array(img.data.buffer).set(lut.rgba32);
  sctx.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(strip, 0, 0, 256, 1, 0, 0, canvas.width, canvas.height);
}
