// Hovering a bar or a cell reads its numbers out; the group slider regroups in the browser.
import { getNum } from "../lib/dom.js";
import { classOrder, pct } from "./data.js";
import { distanceLayout, drawDistance } from "./draw.js";

const local = (canvas, ev) => {
  const r = canvas.getBoundingClientRect();
  return [ev.clientX - r.left, ev.clientY - r.top];
};

function barText(D, c) {
  const total = D.counts.reduce((a, b) => a + b, 0);
  const part = D.partition[c] >= 0 ? `partition ${D.partitions[D.partition[c]].name}` : "no partition";
  const acc = D.confused ? ` · accuracy ${pct(D.classAccuracy[c])}` : "";
  const over = D.over.includes(c) ? " · over-represented" : "";
  return `${D.names[c]}: ${D.counts[c]} samples (${pct(D.counts[c] / total)}) · ${part}${acc}${over}`;
}

function cellText(D, a, b) {
  const C = (i, j) => D.confusionM[i * D.k + j];
  return `${D.names[a]} vs ${D.names[b]}: distance ${D.distanceM[a * D.k + b].toFixed(3)} · ${D.names[a]} taken for `
    + `${D.names[b]} ${C(a, b)} times, ${D.names[b]} for ${D.names[a]} ${C(b, a)} times`;
}

function hover(view, ev) {
  const { D, ui } = view;
  if (!D) return;
  if (ev.target === ui.hist) {
    const [x] = local(ui.hist, ev);
    const bars = JSON.parse(ui.hist.dataset.bars || "[]");
    const c = bars.findIndex(([bx, , bw]) => x >= bx - 0.15 * bw && x <= bx + 1.15 * bw);
    view.status.setReadout(c >= 0 ? barText(D, c) : "");
  } else if (ev.target === ui.dist) {
    const [x, y] = local(ui.dist, ev);
    const G = distanceLayout(view);
    const i = Math.floor((y - G.y0) / G.cell);
    const j = Math.floor((x - G.x0) / G.cell);
    const order = classOrder(D.groupsAt[getNum(view.model, "groups", 2)] || null, D.k);
    const inside = i >= 0 && j >= 0 && i < D.k && j < D.k && order[i] !== order[j];
    view.status.setReadout(inside ? cellText(D, order[i], order[j]) : "");
  }
}

export function wireEvents(view) {
  view.listen(view.root, "pointermove", (ev) => hover(view, ev));
  view.listen(view.root, "pointerleave", () => view.status.setReadout(""));
  view.listen(view.root, "input", (ev) => {
    if (!view.ui || ev.target !== view.ui.slider) return;
    view.model.set("groups", Number(ev.target.value));
    view.model.save_changes();
    drawDistance(view);
  });
}
