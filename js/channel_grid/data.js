// Decoding the payload traits (_acts, _images, _patches, _units, _visuals, _back, _colormaps)
// into the view.
import { decode, bytesOf } from "../lib/tensor.js";
import { makeLut } from "../lib/colormap.js";
import { fmtBytes } from "../lib/panels.js";
import { prefixNames } from "../lib/tokens.js";
import { noKernel } from "../lib/kernel.js";
import { DEFAULT_OBJECTIVES, currentImage, currentUnit, objectiveFor } from "./state.js";

/** `_acts` -> {layer, signed, N, C, H, W, x: Float32Array N*C*H*W, prefix}. */
function loadActs(raw) {
  if (!raw || !raw.acts) return null;
  const shape = (raw.acts.shape || []).map(Number);
  if (shape.length !== 4 || !shape.every((d) => d > 0)) throw new Error(`activations must be N x C x H x W, got [${shape}]`);
  const [N, C, H, W] = shape;
  return { layer: String(raw.layer), signed: !!raw.signed, N, C, H, W, x: decode(raw.acts).data, prefix: loadPrefix(raw, N, C) };
}

/** A token layer's prefix tokens (class, register tokens...): {names, P, x: Float32Array N*P*C}, or null. */
function loadPrefix(raw, N, C) {
  if (!raw.prefix) return null;
  const shape = (raw.prefix.shape || []).map(Number);
  if (shape.length !== 3 || shape[0] !== N || shape[2] !== C) throw new Error(`prefix tokens must be ${N} x P x ${C}, got [${shape}]`);
  return { names: prefixNames(raw.prefix_names, shape[1]), P: shape[1], x: decode(raw.prefix).data };
}

/** `_images` -> [{bytes, W0, H0, ch}] per image. */
function loadImages(raw) {
  if (!raw || !raw.pixels) return [];
  const [N, H0, W0, ch] = raw.pixels.shape.map(Number);
  const bytes = bytesOf(raw.pixels);
  const per = H0 * W0 * ch;
  return Array.from({ length: N }, (_, n) => ({ bytes: bytes.subarray(n * per, (n + 1) * per), W0, H0, ch }));
}

/** A uint8 payload of K x h x w x 3 (or C x k x h x w x 3) as per-item image records. */
function loadStack(payload, lead) {
  if (!payload) return null;
  const shape = payload.shape.map(Number);
  const [h, w, ch] = shape.slice(lead);
  const per = h * w * ch;
  const bytes = bytesOf(payload);
  const count = shape.slice(0, lead).reduce((a, b) => a * b, 1);
  return { shape, items: Array.from({ length: count }, (_, i) => ({ bytes: bytes.subarray(i * per, (i + 1) * per), W0: w, H0: h, ch })) };
}

/** view.A from `_acts`, and the layer's size and what was shipped for it on the details line. */
export function loadActivations(view) {
  const { model, details } = view;
  const A = view.status.attempt("activations", () => loadActs(model.get("_acts")));
  view.A = A;
  details.set("payload", A ? `${A.layer}: ${A.C} channels of ${A.H}×${A.W} for ${A.N} images, shipped as float16 (${fmtBytes(bytesOf(model.get("_acts").acts).byteLength)})` : "");
}

export function loadImageList(view) {
  view.images = view.status.attempt("images", () => loadImages(view.model.get("_images"))) || [];
}

/** The dataset scan (top patches, unit statistics) and the activation-maximisation images. */
export function loadUnitData(view) {
  const { model, status } = view;
  const raw = model.get("_patches");
  view.patches = raw ? status.attempt("patches", () => ({ ...loadStack(raw.patches, 2), layer: raw.layer, values: raw.values, n_images: raw.n_images, score: raw.score || DEFAULT_OBJECTIVES.scan, explains: raw.explains })) : null;
  view.units = model.get("_units") || null;
  const vis = model.get("_visuals");
  view.visuals = vis ? status.attempt("visualisations", () => ({ ...loadStack(vis.images, 1), layer: vis.layer, channels: vis.channels })) : null;
}

export function loadLuts(view) {
  const maps = view.model.get("_colormaps") || {};
  view.luts = {};
  for (const name of Object.keys(maps)) view.luts[name] = makeLut(maps[name]);
}

/** The back view in `_back` as an image record when it is of the unit, image and settings shown, else null. */
export function backRecord(view) {
  const { model } = view;
  const raw = model.get("_back");
  if (!raw || !raw.pixels) return null;
  if (!view.backCache || view.backCache.raw !== raw) {
    const [H0, W0, ch] = raw.pixels.shape.map(Number);
    view.backCache = { raw, rec: { bytes: bytesOf(raw.pixels), W0, H0, ch, objective: raw.objective || DEFAULT_OBJECTIVES.back } };
  }
  const { raw: r, rec } = view.backCache;
  const current = r.layer === model.get("layer") && r.channel === currentUnit(view) && r.image === currentImage(view)
    && (!noKernel(model) || (r.mode === model.get("back_mode") && r.filter === model.get("back_filter")
      && rec.objective === objectiveFor(view, "back")));
  return current ? rec : null;
}
