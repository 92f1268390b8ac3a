// The Semantic Morphing replay: the image at iteration `sm_step`, its losses and entropy.
import { fmtValue, fmtPercent } from "../lib/chart.js";
import { clampInt, scaledImage } from "../lib/panels.js";
import { SELF, OTHER, CURSOR } from "./style.js";
import { num } from "./state.js";
import { sized } from "./build.js";

export function drawReplay(view) {
  const { M, ui } = view;
  if (!M || !M.sm) return;
  const T = M.sm.images.length;
  const t = clampInt(Math.round(num(view, "sm_step", T - 1)), 0, T - 1);
  const img = scaledImage(M.sm.images[t], M.W, M.H);
  ui.smCanvas.width = img.width;
  ui.smCanvas.height = img.height;
  ui.smCanvas.getContext("2d").drawImage(img, 0, 0);
  sized(ui.smCanvas, 112);
  if (ui.smSlider.value !== String(t)) ui.smSlider.value = String(t);
  drawReplayCharts(view, t);
  const xs = M.sm.iters;
  ui.smText.textContent = `iteration ${xs[t]} of ${xs[xs.length - 1]}${M.sm.success ? " · reached the target" : " · did not reach the target"}`;
}

function drawReplayCharts({ M, charts }, t) {
  const sm = M.sm;
  const base = { xs: sm.iters, highlight: t, dots: false, color: SELF, cursor: CURSOR, xTitle: "iteration" };
  charts.smLoss.draw({ ...base, ys: sm.total, name: "total", yRange: [0, 0], yTitle: "loss (normalised terms)", tip: `total ${fmtValue(sm.total[t])}`,
    series: [{ name: "objective", ys: sm.objective, color: OTHER }, { name: "norm term", ys: sm.likelihood, color: SELF, dash: [4, 3] }] });
  charts.smLoss.setKey([{ color: SELF, label: "total" }, { color: OTHER, label: "−logit(other)" }, { color: SELF, dash: [4, 3], label: "norm term" }]);
  charts.smEntropy.draw({ ...base, ys: sm.entropy, name: "entropy", series: [{ name: "p(other)", ys: sm.p_other, color: OTHER }], yRange: [0, 1],
    yTitle: "entropy (bits), probability", tip: `entropy ${fmtValue(sm.entropy[t])} · p(other) ${fmtPercent(sm.p_other[t])}` });
  charts.smEntropy.setKey([{ color: SELF, label: "two-class entropy" }, { color: OTHER, label: "p(other)" }]);
}
