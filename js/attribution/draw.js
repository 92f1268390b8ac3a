// Canvas drawing: each map in the diverging colours (over the greyed image or alone), its slider
// and caption, and the image column (or the active slider's image).
import { elem } from "../lib/dom.js";
import { fmtNumber } from "../lib/chart.js";
import { shadeSigned } from "../lib/diverging.js";
import { alphaTableNow, positionOf, valuesAt, drawnScale, viewMode, rowScaling, imageTitle } from "./state.js";
import { fmtTick, shortCaption, sliderCaption, cellCaption, sliderImageLabel } from "./captions.js";
import { build } from "./layout.js";
import { syncControls } from "./header.js";
import { drawClasses } from "./classes.js";

/** Map (i, j) at its slider's position, with the slider, its best-position mark and the caption. */
export function drawCell(app, i, j) {
  const rec = app.rows[i] && app.rows[i].cells[j];
  if (!rec) return;
  const { M } = app;
  const m = M.methods[j];
  const p = positionOf(app, j, i);
  const values = valuesAt(app, j, i, p);
  const over = viewMode(app) === "overlay";
  shadeSigned(rec.P.img.data, values, drawnScale(app, j, i), app.lut, over ? M.grey[i] : null, over ? alphaTableNow(app) : null);
  rec.P.ctx.putImageData(rec.P.img, 0, 0);
  const ds = rec.P.canvas.dataset;
  ds.position = String(p);
  ds.view = viewMode(app);
  ds.drawn = String((Number(ds.drawn) || 0) + 1);
  if (m.slider) {
    if (rec.input.value !== String(p)) rec.input.value = String(p);
    const full = sliderCaption(m, i, p);
    setCaption(app, rec.caption, j, i, shortCaption(m, i, p));
    rec.caption.title = full;
    markBest(rec.track, m.slider, i);
  } else {
    setCaption(app, rec.caption, j, i, cellCaption(m, i));
  }
}

/** The ▲ under the slider at its best position a* (drawn once per position). */
function markBest(track, sl, i) {
  const best = sl.best ? Number(sl.best[i]) : -1;
  if (best < 0 || track.dataset.best === String(best)) return;
  track.dataset.best = String(best);
  const reaches = !(sl.scores && sl.full) || sl.scores[i][best] >= sl.full[i];
  const label = `a* = ${fmtNumber(sl.values[best])}${reaches ? "" : " (none reach Φ(x))"}`;
  const right = best > (sl.S - 1) / 2; // the ▲ sits under the thumb, the text runs inward
  const mark = elem("span", "xw-best", right ? `${label} ▲` : `▲ ${label}`);
  mark.style.transform = right ? "translateX(calc(-100% + 0.5em))" : "translateX(-0.5em)";
  mark.title = reaches ? "a*: the smallest area whose preserved region scores at least as high as the whole image"
    : "no area reaches the whole image's score; a* is the largest area";
  mark.style.left = `${sl.S > 1 ? (100 * best) / (sl.S - 1) : 0}%`;
  track.replaceChildren(mark);
}

/** A cell's caption: with per-image scaling its own ±s first, then `text`; hidden when empty. */
function setCaption(app, node, j, i, text) {
  const parts = [];
  if (rowScaling(app)) parts.push(elem("span", "xw-rowscale", `±${fmtTick(app.M.methods[j].rowScales[i])}`));
  if (text) parts.push(document.createTextNode(parts.length ? ` · ${text}` : text));
  node.replaceChildren(...parts);
  node.hidden = parts.length === 0;
}

/** The image column: the image, or the active slider's image (IG's x̄ + α(x − x̄), EP's m ⊗ x). */
export function drawImage(app, i) {
  const row = app.rows[i];
  if (!row) return;
  const { M, active } = app;
  let bytes = M.images[i];
  let ch = M.ch;
  let label = imageTitle(M, i);
  if (active && active.i === i) {
    const sl = M.methods[active.j].slider;
    if (sl && sl.images) {
      const p = positionOf(app, active.j, i);
      const per = M.HW * sl.imageCh;
      bytes = sl.images.subarray((i * sl.S + p) * per, (i * sl.S + p + 1) * per);
      ch = sl.imageCh;
      label = sliderImageLabel(sl, p);
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

function drawAll(app) {
  const { M } = app;
  if (!M) return;
  const t0 = performance.now();
  for (let i = 0; i < M.N; i++) {
    drawImage(app, i);
    drawClasses(app, i);
    for (let j = 0; j < M.methods.length; j++) drawCell(app, i, j);
  }
  syncControls(app);
  app.markPainted();
  app.el.dispatchEvent(new CustomEvent("xw-paint", { detail: { work: performance.now() - t0 } }));
}

/** Every map again (view, scaling or opacity changed), and the header. */
export function redrawMaps(app) {
  const { M } = app;
  if (!M) return;
  for (let i = 0; i < M.N; i++) for (let j = 0; j < M.methods.length; j++) drawCell(app, i, j);
  syncControls(app);
}

export function refreshAll(app) {
  build(app);
  drawAll(app);
}
