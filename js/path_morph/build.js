// The DOM of one result, rebuilt when `_morph` or the size changes: the endpoints and their
// red/blue maps, the frame panel, the strip of frames and the class bars.
import { elem } from "../lib/dom.js";
import { scaledImage, makePanel, drawBase } from "../lib/panels.js";
import { fmtValue } from "../lib/chart.js";
import { SELF, OTHER, STRIP, THUMB } from "./style.js";
import { loadMorph, payloadBytes, frameSize, className } from "./state.js";
import { tintSigned } from "./tint.js";

/** Decode `_morph` into view.M (null, with the error shown, when it fails) and build its DOM. */
export function build(view) {
  const { model, ui } = view;
  view.M = view.status.attempt("path morph", () => loadMorph(model.get("_morph")));
  const { M } = view;
  ui.endRow.replaceChildren();
  ui.frameBox.replaceChildren();
  ui.strip.replaceChildren();
  if (!M) return;
  ui.details.set("payload", `payload: ${fmtValue(payloadBytes(model.get("_morph")) / 1024, { digits: 3, unit: "KiB" })} of frames, maps and curves, sent once`);
  const size = frameSize(view);
  buildEndpoints(view, Math.round(size / 2));
  view.panel = makePanel(size, size, M.W, M.H, { role: "frame" });
  ui.frameBox.appendChild(view.panel.canvas);
  ui.slider.max = String(M.n - 1);
  for (let j = 0; j < STRIP; j++) {
    const i = Math.round((j * (M.n - 1)) / (STRIP - 1));
    const c = sized(scaledImage(M.frames[i], THUMB, THUMB), THUMB);
    c.dataset.step = String(i);
    c.title = `step ${i + 1} of ${M.n}`;
    ui.strip.appendChild(c);
  }
  if (M.sm) {
    ui.smSlider.max = String(M.sm.images.length - 1);
    ui.smRow.hidden = false;
  } else ui.smRow.hidden = true;
}

/** Original, reconstruction and morphed images, the two red/blue maps and the warnings, `thumb` px wide. */
function buildEndpoints(view, thumb) {
  const { M } = view;
  const E = M.endpoints;
  const endpoint = (rec, caption, cls) => {
    const col = elem("div", `xw-col ${cls}`);
    col.append(elem("div", "xw-sub", caption));
    if (rec) col.appendChild(sized(scaledImage(rec, thumb, thumb), thumb, "xw-thumb"));
    return col;
  };
  view.ui.endRow.append(
    endpoint(E.original, `original: ${M.labels.original || ""}`, "xw-end-original"),
    endpoint(E.reconstruction, `reconstruction: ${M.labels.reconstruction || ""}`, "xw-end-reconstruction"),
    endpoint(E.morphed, `morphed: ${M.labels.morphed || ""}`, "xw-end-morphed"),
    signedPanel(view, E.reconstruction, "red/blue over self", thumb, "xw-signed-self"),
    signedPanel(view, E.morphed, "red/blue over other", thumb, "xw-signed-other"),
  );
  const warn = elem("div", "xw-sub xw-warn");
  warn.textContent = M.warnings.join("\n");
  warn.hidden = !M.warnings.length;
  view.ui.endRow.appendChild(warn);
}

/** `canvas` shown `w` CSS px wide at its own aspect ratio, with class `cls` when given. */
export function sized(canvas, w, cls) {
  canvas.style.width = `${w}px`;
  canvas.style.height = `${(w * canvas.height) / canvas.width}px`;
  if (cls) canvas.classList.add(cls);
  return canvas;
}

/** The signed map S = m (x_n - x_1) in red/blue over an endpoint image, as in the thesis's result figures. */
function signedPanel(view, rec, caption, w, cls) {
  const { M } = view;
  const col = elem("div", `xw-col ${cls}`);
  col.append(elem("div", "xw-sub", caption));
  if (!rec) return col;
  const P = makePanel(w, w, M.W, M.H, { role: cls });
  drawBase(P, scaledImage(rec, w, w));
  tintSigned(P, M.signed, M.signedMax, 0.85, view.diverging);
  P.canvas.classList.add("xw-thumb");
  col.appendChild(P.canvas);
  return col;
}

/** The class bars, one per class in class order (a fixed order reads better while scrubbing). */
export function buildBars(view) {
  const { M, ui } = view;
  ui.bars.replaceChildren();
  view.barCells = [];
  for (let k = 0; k < M.K; k++) {
    const b = elem("button", k === M.s ? "xw-self" : k === M.o ? "xw-other" : null, className(M, k));
    b.type = "button";
    b.dataset.class = String(k);
    b.title = k === M.s ? "self (the reconstruction's class)" : k === M.o ? "other (the morph target)" : `morph toward ${className(M, k)}`;
    const bar = elem("div", "xw-bar");
    if (k === M.s) bar.style.background = SELF;
    if (k === M.o) bar.style.background = OTHER;
    const pct = elem("span", "xw-sub");
    ui.bars.append(b, bar, pct);
    view.barCells.push([bar, pct]);
  }
}
