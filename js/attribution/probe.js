// The hovered pixel, marked on every map of its image, and the readout line: the value under the
// pointer (and every other method's there), or a summary of the focused map.
import { lutIndex } from "../lib/colormap.js";
import { clampInt } from "../lib/panels.js";
import { fmtNumber } from "../lib/chart.js";
import { fmtSigned } from "../lib/diverging.js";
import { className, positionOf, valuesNow, drawnScale, rowScaling } from "./state.js";
import { sliderCaption } from "./captions.js";

/** Mark pixel `pr` ({i, row, col}) on every canvas of image pr.i; none when null. */
export function showProbe(app, pr) {
  const { M } = app;
  for (const [i, row] of app.rows.entries()) {
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

/** "Title value" of every method at pixel (r, c) of image i, but method `skip`. */
function valuesThere(app, i, r, c, skip) {
  return app.M.methods.map((o, jj) => (jj === skip ? null : `${o.title} ${fmtSigned(o.scale * valuesNow(app, jj, i)[r * app.M.W + c])}`))
    .filter(Boolean).join(" · ");
}

/** The readout of map (i, j) at pixel (r, c), and data-probe for the tests. */
export function readoutAt(app, i, j, r, c) {
  const m = app.M.methods[j];
  const p = positionOf(app, j, i);
  const u = valuesNow(app, j, i)[r * app.M.W + c]; // in units of the column's scale
  const v = u * m.scale;
  const sc = drawnScale(app, j, i);
  const k = lutIndex(u, -sc, sc);
  const where = m.slider ? ` at ${m.slider.word} ${fmtNumber(m.slider.values[p])}` : "";
  const others = valuesThere(app, i, r, c, j);
  app.status.setReadout(`image ${i}, pixel (row ${r}, col ${c}): ${m.title}${where} = ${fmtSigned(v)}`
    + ` (${k < 0 ? "NaN" : fmtSigned(u / sc)} of the ${rowScaling(app) ? "image's" : "column's"} scale)${others ? `  |  ${others}` : ""}`);
  app.root.dataset.probe = JSON.stringify({ image: i, method: m.key, row: r, col: c, value: v });
}

/** The readout of a focused map: what it explains, its range, scale and slider position. */
export function describeCell(app, i, j) {
  const { M } = app;
  const name = (k) => className(app, k);
  const m = M.methods[j];
  const vals = valuesNow(app, j, i);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of vals) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const ct = M.computed.targets[i];
  const cc = M.computed.contrasts[i];
  const what = cc == null ? name(ct) : `${name(ct)} vs ${name(cc)}`;
  const scale = rowScaling(app) ? `this image's scale ±${fmtNumber(m.rowScales[i])}` : `column scale ±${fmtNumber(m.scale)}`;
  const slider = m.slider ? ` · ${sliderCaption(m, i, positionOf(app, j, i))}` : "";
  app.status.setReadout(`image ${i} · ${m.title} explaining ${what}: values ${fmtSigned(lo * m.scale)} … ${fmtSigned(hi * m.scale)}, `
    + `${scale} (${m.rule})${slider}`);
}

/** Pointer over a map or image: probe the pixel under it, at most once per frame. */
export function onPointer(app, ev) {
  const t = ev.target;
  if (!app.M || !t || !t.classList || !(t.classList.contains("xw-panel") || t.classList.contains("xw-image"))) return;
  const { clientX, clientY } = ev;
  app.frames.queue(() => {
    const { M, probe } = app;
    if (!M) return;
    const rect = t.getBoundingClientRect();
    const i = Number(t.dataset.image);
    const c = clampInt(Math.floor(((clientX - rect.left) * M.W) / rect.width), 0, M.W - 1);
    const r = clampInt(Math.floor(((clientY - rect.top) * M.H) / rect.height), 0, M.H - 1);
    if (probe && probe.i === i && probe.row === r && probe.col === c && probe.t === t) return;
    app.probe = { i, row: r, col: c, t };
    showProbe(app, app.probe);
    if (t.dataset.col != null) readoutAt(app, i, Number(t.dataset.col), r, c);
    else app.status.setReadout(`image ${i}, pixel (row ${r}, col ${c}): ${valuesThere(app, i, r, c, -1)}`);
  });
}
