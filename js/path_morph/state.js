// `_morph` decoded once, and the trait readers the other modules share through the view.
import { decode, bytesOf } from "../lib/tensor.js";
import { makeLut } from "../lib/colormap.js";
import { getNum } from "../lib/dom.js";
import { clampInt } from "../lib/panels.js";

/** `_morph` decoded once: typed arrays and per-frame image records. */
export function loadMorph(raw) {
  if (!raw || !raw.frames) return null;
  const [n, H, W, ch] = raw.frames.shape.map(Number);
  const image = (p) => (p ? { bytes: bytesOf(p), H0: p.shape[0], W0: p.shape[1], ch: p.shape[2] } : null);
  const probs = decode(raw.probs);
  const K = probs.shape[1];
  const sm = raw.sm && raw.sm.frames ? { ...raw.sm, images: loadStack(raw.sm.frames) } : null;
  return {
    n, H, W, ch, K, frames: loadStack(raw.frames),
    classes: raw.classes, s: raw.s, o: raw.o,
    alphas: raw.alphas,
    diffs: decode(raw.diffs).data, // (n-1) x H x W
    mask: decode(raw.mask).data, // H x W in [0, 1]
    signed: decode(raw.signed).data,
    grads: raw.grads ? decode(raw.grads).data : null, // n x H x W
    probs: probs.data,
    entropy: raw.entropy, window: raw.window, gains: raw.gains, cumulative: raw.cumulative,
    norms: raw.norms, bands: raw.bands, summary: raw.summary,
    endpoints: Object.fromEntries(Object.entries(raw.endpoints || {}).map(([k, v]) => [k, image(v)])),
    labels: raw.labels || {}, warnings: raw.warnings || [], signedMax: raw.signed_max,
    diffScale: raw.diff_scale, maskedScale: raw.masked_scale,
    sm,
  };
}

/** A T x H x W x ch image stack as T image records sharing its bytes. */
function loadStack(p) {
  const [T, H, W, ch] = p.shape.map(Number);
  const bytes = bytesOf(p);
  const per = H * W * ch;
  return Array.from({ length: T }, (_, i) => ({ bytes: bytes.subarray(i * per, (i + 1) * per), W0: W, H0: H, ch }));
}

/** Bytes of the binary arrays shipped in `_morph` (the one payload of a result). */
export function payloadBytes(raw) {
  let total = 0;
  const walk = (v) => {
    if (v && typeof v === "object") {
      if (typeof v.byteLength === "number") total += v.byteLength;
      else Object.values(v).forEach(walk);
    }
  };
  walk(raw);
  return total;
}

export function loadLut(view) {
  const maps = view.model.get("_colormaps") || {};
  view.diverging = makeLut(maps.diverging);
}

export const num = (view, name, d) => getNum(view.model, name, d);

/** The step shown, clamped to the path (0 before a result). */
export const currentStep = (view) => (view.M ? clampInt(Math.round(num(view, "step", 0)), 0, view.M.n - 1) : 0);

export function setTrait(view, name, value) {
  view.model.set(name, value);
  view.model.save_changes();
}

export const className = (M, k) => (M && M.classes[k] != null ? String(M.classes[k]) : `class ${k}`);

/** The probed pixel {row, col}, or null when none is set or it lies outside the frame. */
export function pixel(view) {
  const { M } = view;
  const p = view.model.get("pixel");
  if (!M || !p || !Number.isInteger(p.row) || !Number.isInteger(p.col)) return null;
  return p.row >= 0 && p.row < M.H && p.col >= 0 && p.col < M.W ? p : null;
}

/** The frame's side, CSS px: the `size` trait, within the width given (0 until laid out). */
export const frameSize = (view) => Math.max(64, Math.min(num(view, "size", 224), view.avail || Infinity));

/**
 * The step-difference overlay's scale at step i: the largest |change| of that step. The radial
 * path's end steps are many times its middle ones, so one scale for the whole path would leave
 * every middle step invisible; the legend says the scale of the step shown.
 */
export const stepScale = (M, ov, i) => (ov === "masked" ? M.maskedScale : M.diffScale)[Math.min(i, M.n - 2)] || 0;
