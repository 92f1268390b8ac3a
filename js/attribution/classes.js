// The classes beside each image: what its maps explain (A, or A vs B), a note while new classes
// are pending, and the top-5 buttons that ask the kernel for new ones.
import { elem } from "../lib/dom.js";
import { NEEDS_KERNEL, noKernel } from "../lib/kernel.js";
import { className, requested } from "./state.js";

const TOP = 5;

/** Explained classes and the top-5 buttons of image i. */
export function drawClasses(app, i) {
  const row = app.rows[i];
  const { M } = app;
  if (!row || !M) return;
  const ct = M.computed.targets[i];
  const cc = M.computed.contrasts[i];
  const req = requested(app);
  const rt = req.targets[i] != null ? Number(req.targets[i]) : ct;
  const rc = req.contrasts[i] != null ? Number(req.contrasts[i]) : null;
  const stale = rt !== ct || rc !== (cc == null ? null : cc);
  drawExplains(app, row, { ct, cc, rt, rc, stale });
  row.first.classList.toggle("xw-row-stale", stale);
  for (const rec of row.cells) rec.cell.classList.toggle("xw-row-stale", stale);
  const key = `${rt}/${rc}`;
  if (row.classKey === key || !M.probs) return;
  row.classKey = key;
  drawButtons(app, row, i, rt, rc);
}

/** "explains A" or "A vs B" as computed, and, while other classes are asked for, what happens to them. */
function drawExplains(app, row, { ct, cc, rt, rc, stale }) {
  const name = (k) => className(app, k);
  row.explains.replaceChildren();
  const a = elem("span", "xw-a", name(ct));
  if (cc == null) row.explains.append(document.createTextNode("explains "), a);
  else row.explains.append(a, document.createTextNode(" vs "), elem("span", "xw-b", name(cc)));
  if (!stale) return;
  const p = app.model.get("progress") || {};
  const want = rc == null ? name(rt) : `${name(rt)} vs ${name(rc)}`;
  const note = noKernel(app.model) ? `explaining ${want} ${NEEDS_KERNEL}` : p.running ? `computing ${want}…` : `asked for ${want}: waiting for the kernel`;
  row.explains.append(elem("div", "xw-sub xw-pending", note));
}

/** The top-5 classes of image i (and A and B where not among them), A and B marked. */
function drawButtons(app, row, i, rt, rc) {
  const { M } = app;
  const name = (k) => className(app, k);
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
      : isB ? "B: the contrast class (Shift-click to drop it)" : `click: explain ${name(k)}; Shift-click: explain A vs ${name(k)}`;
    b.append(elem("span", "xw-badge", isA ? "A" : isB ? "B" : ""), elem("span", "xw-name", name(k)),
      elem("span", "xw-pct", `${(100 * pr[k]).toFixed(1)}%`));
    b.setAttribute("aria-pressed", String(isA || isB));
    row.topBox.appendChild(b);
    if (had === String(k)) b.focus(); // keep the keyboard where it was
  });
}

/** Class k of image i clicked: explain it (A), or as the contrast B (`asContrast`); the kernel recomputes. */
export function pickClass(app, i, k, asContrast) {
  const { M, model } = app;
  if (!M) return;
  const req = requested(app);
  const targets = Array.from({ length: M.N }, (_, n) => (req.targets[n] != null ? Number(req.targets[n]) : M.computed.targets[n]));
  const contrasts = Array.from({ length: M.N }, (_, n) => (req.contrasts[n] != null ? Number(req.contrasts[n]) : null));
  if (asContrast) {
    if (k === targets[i]) {
      if (contrasts[i] == null) {
        app.status.setReadout(`${className(app, k)} is already class A; pick another class as the contrast B`);
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
  drawClasses(app, i);
}
