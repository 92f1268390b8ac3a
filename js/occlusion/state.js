// The widget's state: `_data` decoded once (loadData) and readings of the live traits that the
// modules share. `app` is the one context object render() builds (../occlusion.js).
import { decode, bytesOf } from "../lib/tensor.js";
import { getNum } from "../lib/dom.js";

/** `_data` decoded once. */
export function loadData(raw) {
  if (!raw || !raw.image) return null;
  const H = Number(raw.H);
  const W = Number(raw.W);
  const image = bytesOf(raw.image);
  if (image.length < H * W * 3) throw new Error("image payload too short");
  const labels = Int32Array.from(decode(raw.labels).data, (v) => Math.round(v));
  const relevance = decode(raw.relevance).data; // r / rel_max
  const feats = raw.features || [];
  return { H, W, image, labels, relevance, feats, n: feats.length, classes: raw.classes || [], target: raw.target,
    method: raw.method, relMax: raw.rel_max, relScale: raw.rel_scale, tau: raw.tau, baseProbs: raw.base_probs || [] };
}

export const pct = (p) => `${(100 * p).toFixed(1)}%`;
export const points = (d) => `${d >= 0 ? "−" : "+"}${Math.abs(100 * d).toFixed(1)} pts`;
export const numbers = (ids) => (ids.length ? ids.map((i) => i + 1).join(", ") : "none");

export const num = (app, name, d) => getNum(app.model, name, d);
export const className = (app, k) => (app.D && app.D.classes[k] != null ? String(app.D.classes[k]) : `class ${k}`);
export const isSandbox = (app) => app.model.get("tab") === "sandbox";

export function setTrait(app, name, value) {
  app.model.set(name, value);
  app.model.save_changes();
}

/** The `occluded` trait: the valid feature indices in it. */
export function occluded(app) {
  const v = app.model.get("occluded");
  return Array.isArray(v) ? v.filter((i) => Number.isInteger(i) && app.D && i >= 0 && i < app.D.n) : [];
}

/** The occluded set, sorted and without repeats. */
export const occludedSet = (app) => [...new Set(occluded(app))].sort((a, b) => a - b);

// The view of the current set: the kernel's `_view`, or in a to_html page (no kernel) the
// precomputed view of that set from `_offline_views`, when the export could ship every set.
export function currentView(app) {
  const offline = app.model.get("_offline_views");
  const key = occludedSet(app).join(",");
  return (offline && offline[key]) || app.model.get("_view") || {};
}
