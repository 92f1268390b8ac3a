// Sliders, traits and redraws: scrubbing draws from the shipped frames with no kernel call;
// the chosen frame is saved to the kernel on release.
import { loadColormap } from "../lib/controls.js";
import { epsText, curveOf, loadData } from "./data.js";
import { buildRow, fillChecklist, fillTop, writeRow } from "./layout.js";
import { paintRow, paintStatic } from "./draw.js";

const clampIdx = (v, n) => Math.min(Math.max(0, Number(v) | 0), Math.max(0, n - 1));

/** Draw frame (e, t): every row, the slider labels and the chart's marker. */
export function showFrame(view, e, t) {
  const { D } = view;
  if (!D) return;
  view.e = clampIdx(e, D.E);
  view.t = clampIdx(t, D.T);
  view.root.dataset.epsIndex = String(view.e);
  view.root.dataset.iteration = String(view.t);
  view.eps.input.value = String(view.e);
  view.iter.input.value = String(view.t);
  view.eps.value.textContent = epsText(D, view.e);
  view.iter.value.textContent = `step ${view.t + 1} of ${D.T}`;
  for (const R of view.rows) {
    paintRow(view, R, view.e, view.t);
    writeRow(D, R, view.e, view.t);
  }
  drawChart(view);
  view.markPainted();
}

export function drawChart(view) {
  const { D } = view;
  if (!D) return;
  const c = curveOf(D, view.t);
  const hl = c.order.indexOf(view.e);
  view.chart.draw({
    xs: c.xs, ys: c.ys, yRange: [0, 1], highlight: hl, xTitle: "mean ‖δ‖₂ / ‖x‖₂", yTitle: "accuracy",
    fmtX: (v) => String(+v.toPrecision(2)),
    tip: `${epsText(D, view.e)}: accuracy ${(100 * c.ys[hl]).toFixed(0)}%`,
  });
}

/** Rebuild everything from `_data` (rows, slider ranges, static panels). */
export function rebuild(view) {
  const { model, status } = view;
  view.lut = loadColormap(model, view.cmap);
  view.D = status.attempt("decoding the data", () => loadData(model.get("_data")));
  const D = view.D;
  view.rowsBox.replaceChildren();
  view.rows = [];
  for (const part of [view.eps.label, view.iter.label, view.top]) part.hidden = !D;
  syncTask(view);
  if (!D) return;
  view.eps.input.max = String(D.E - 1);
  view.iter.input.max = String(D.T - 1);
  view.iter.label.hidden = D.T < 2;
  const size = Number(model.get("size")) || 128;
  for (let i = 0; i < D.N; i++) {
    const R = buildRow(D, i, size);
    fillTop(R.before, D.raw.top_clean[i], D.raw.classes[D.raw.labels[i]]);
    paintStatic(view, R);
    view.rows.push(R);
    view.rowsBox.append(R.row);
  }
  view.attackText.textContent = `${D.raw.attack.toUpperCase()} · ${D.N} images · ${D.E} budgets`
    + (D.T > 1 ? ` × ${D.T} steps` : "");
  showFrame(view, model.get("eps_index"), model.get("iteration"));
}

/** The progress bar and Cancel while the kernel computes; Recompute when there are no frames and nothing runs. */
export function syncTask(view) {
  const running = view.progress.sync();
  view.recompute.hidden = running || !!view.D;
  view.root.dataset.ready = String(!!view.D);
  if (!view.D) view.attackText.textContent = running ? "computing the attacks…" : "no frames";
}

/** Slider input redraws at once; release saves the frame to the kernel. */
export function listenSliders(view) {
  const { listen, model } = view;
  listen(view.recompute, "click", () => model.send({ type: "recompute" }));
  listen(view.eps.input, "input", () => showFrame(view, view.eps.input.value, view.t));
  listen(view.iter.input, "input", () => showFrame(view, view.e, view.iter.input.value));
  const save = () => {
    model.set("eps_index", view.e);
    model.set("iteration", view.t);
    model.save_changes();
  };
  listen(view.eps.input, "change", save);
  listen(view.iter.input, "change", save);
}

/** Trait changes from Python. */
export function listenModel(view) {
  const { onModel, model } = view;
  onModel("change:_data", () => rebuild(view));
  onModel("change:size", () => rebuild(view));
  const follow = () => showFrame(view, model.get("eps_index"), model.get("iteration"));
  onModel("change:eps_index", follow);
  onModel("change:iteration", follow);
  onModel("change:checklist", () => fillChecklist(view.checklistBox, model.get("checklist")));
  onModel("change:progress", () => syncTask(view));
}
