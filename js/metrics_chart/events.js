// Hovering a chart or the arrow keys choose the x whose values are read out.
import { showIndex } from "./draw.js";

export function wireEvents(view, listen) {
  listen(view.body, "pointermove", (ev) => {
    const hit = view.charts.find((v) => v.chart.canvas === ev.target);
    if (!hit) return;
    const k = hit.chart.nearest(ev);
    if (k !== view.index) showIndex(view, k);
  });
  listen(view.body, "pointerleave", () => showIndex(view, -1));
  listen(view.root, "keydown", (ev) => {
    const { charts, index } = view;
    if (ev.altKey || ev.ctrlKey || ev.metaKey || !charts.length) return;
    const n = Math.max(...charts.map((v) => v.panel.xs.length));
    const keys = { ArrowLeft: Math.max(0, index - 1), ArrowRight: Math.min(n - 1, index + 1), Home: 0, End: n - 1, Escape: -1 };
    if (!(ev.key in keys)) return;
    showIndex(view, keys[ev.key]);
    ev.preventDefault();
    ev.stopPropagation();
  });
}
