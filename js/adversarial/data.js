// Decoding `_data` once: the clean images, every frame's perturbation and the attribution maps.
import { decode } from "../lib/tensor.js";

/** The decoded payload, or null when `_data` is empty (before the kernel sent it). */
export function loadData(raw) {
  if (!raw || !raw.x) return null;
  const x = decode(raw.x);
  const [N, C, H, W] = x.shape;
  const E = raw.epsilons.length;
  const T = raw.steps;
  return {
    raw, N, C, H, W, E, T, HW: H * W,
    x: x.data,
    delta: decode(raw.delta).data,
    mapClean: decode(raw.map_clean).data,
    mapAdv: decode(raw.map_adv).data,
  };
}

/** Offsets of image i's perturbation and map in frame (e, t). */
export function frameOffsets(D, e, t, i) {
  const f = (e * D.T + t) * D.N + i;
  return { delta: f * D.C * D.HW, map: f * D.HW };
}

/** The slider label of budget e: "ε = 2/255" (FGSM, BIM) or "2 × δ" (C&W). */
export function epsText(D, e) {
  const v = D.raw.epsilons[e];
  if (D.raw.attack === "cw") return `${+v.toPrecision(4)} × δ`;
  return `ε = ${+(v * 255).toPrecision(4)}/255`;
}

/** The chart's points sorted by mean L2 (x must increase), and where budget e went. */
export function curveOf(D, t) {
  const l2 = D.raw.mean_l2[t];
  const acc = D.raw.accuracy[t];
  const order = l2.map((_, k) => k).sort((a, b) => l2[a] - l2[b] || a - b);
  return { xs: order.map((k) => l2[k]), ys: order.map((k) => acc[k]), order };
}
