// `_data` decoded once, and readings of the live traits the modules share. `view` is the one
// context object render() builds (../concept_explorer.js).
import { decode, bytesOf } from "../lib/tensor.js";
import { getNum } from "../lib/dom.js";

/** `_data` decoded: names, scores, weights (Q x C), examples and their pixels, masks, activations. */
export function loadData(raw) {
  if (!raw || !raw.names || !raw.weights) return null;
  const weights = decode(raw.weights);
  const [Q, C] = weights.shape;
  const images = decode(raw.images);
  const [, dh, dw] = images.shape;
  const logits = decode(raw.logits);
  const acts = decode(raw.acts);
  return {
    Q, C, dh, dw, S: logits.shape[1], h: acts.shape[2], w: acts.shape[3],
    layer: String(raw.layer), names: raw.names.map(String), categories: raw.categories.map(String),
    iou: raw.iou, single: raw.single, order: raw.order, nearest: raw.nearest, examples: raw.examples,
    weights: weights.data, images: bytesOf(raw.images), logits: logits.data,
    singleMasks: bytesOf(raw.single_masks), truth: bytesOf(raw.truth), acts: bytesOf(raw.acts), actMax: raw.act_max,
  };
}

/** The concept shown (the `concept` trait, clamped to the concepts). */
export function conceptOf(view) {
  const q = getNum(view.model, "concept", 0);
  return Number.isInteger(q) && q >= 0 && q < view.D.Q ? q : 0;
}

/** The selected channel, -1 for none. */
export function channelOf(view) {
  const c = getNum(view.model, "channel", -1);
  return Number.isInteger(c) && c >= 0 && c < view.D.C ? c : -1;
}

/** Concept q's weights as an array. */
export const weightsOf = (D, q) => D.weights.subarray(q * D.C, (q + 1) * D.C);

export function setTrait(view, name, value) {
  view.model.set(name, value);
  view.model.save_changes();
}

/** A score as shown: two decimals, "–" when undefined. */
export const fmtScore = (v) => (v == null || !Number.isFinite(Number(v)) ? "–" : Number(v).toFixed(2));
