// The explorer's state: the shipped traits decoded once (load), and readings of the live traits
// (slider positions, view, scaling, requested classes) that every module draws from. `app` is
// the one context object render() builds (../attribution.js).
import { decode, bytesOf } from "../lib/tensor.js";
import { makeLut } from "../lib/colormap.js";
import { getNum } from "../lib/dom.js";
import { clampInt } from "../lib/panels.js";
import { greyed, alphaTable } from "../lib/diverging.js";

/** One method of `_maps` decoded: its maps and, where it has one, its slider's maps at every position. */
function loadMethod(m) {
  const out = { key: m.key, title: m.title, scale: Number(m.scale), rule: m.rule, maps: decode(m.maps).data, info: m.info || {},
    rowScales: (m.row_scales || []).map(Number) };
  if (m.slider) {
    const sl = m.slider;
    out.slider = {
      name: sl.name, word: sl.word == null ? String(sl.name) : String(sl.word), values: sl.values, S: sl.values.length, index: sl.index,
      maps: decode(sl.maps).data,
      images: sl.images ? bytesOf(sl.images) : null, imageCh: sl.images ? Number(sl.images.shape[4]) : 0,
      scores: sl.scores || null, full: sl.full || null, best: sl.best || null, unit: sl.unit || "",
    };
  }
  return out;
}

/** The shipped state decoded once: typed arrays per method. */
export function load(rawImages, rawProbs, rawMaps) {
  if (!rawImages || !rawImages.pixels || !rawMaps || !rawMaps.methods) return null;
  const [N, H, W, ch] = rawImages.pixels.shape.map(Number);
  const HW = H * W;
  const pixels = bytesOf(rawImages.pixels);
  const images = Array.from({ length: N }, (_, i) => pixels.subarray(i * HW * ch, (i + 1) * HW * ch));
  const grey = images.map((b) => greyed(b, HW, ch));
  const probs = rawProbs && rawProbs.probs ? decode(rawProbs.probs) : null;
  return {
    N, H, W, ch, HW, images, grey,
    K: probs ? probs.shape[1] : 0,
    probs: probs ? probs.data : null,
    classes: (rawProbs && rawProbs.classes) || [],
    titles: rawImages.titles || [],
    methods: rawMaps.methods.map(loadMethod),
    computed: rawMaps.computed || { targets: [], contrasts: [] },
    bytes: rawMaps.bytes,
  };
}

export const num = (app, name, d) => getNum(app.model, name, d);
export const className = (app, k) => (app.M && app.M.classes[k] != null ? String(app.M.classes[k]) : `class ${k}`);
export const viewMode = (app) => (app.model.get("view") === "side" ? "side" : "overlay");
export const rowScaling = (app) => app.model.get("scaling") === "row";
export const imageTitle = (M, i) => (M.titles[i] != null ? String(M.titles[i]) : `image ${i}`);

export function setTrait(app, name, value) {
  app.model.set(name, value);
  app.model.save_changes();
}

/** The diverging colour table; a grey ramp when Python sent none. */
export function loadLut(app) {
  const maps = app.model.get("_colormaps") || {};
  app.lut = makeLut(maps.diverging);
  if (!app.lut) {
    const ramp = new Uint8Array(768);
    for (let i = 0; i < 768; i++) ramp[i] = Math.floor(i / 3);
    app.lut = makeLut(ramp);
  }
}

/** The overlay's alpha table for the `opacity` trait, rebuilt only when the opacity changes. */
export function alphaTableNow(app) {
  const op = Math.min(1, Math.max(0, num(app, "opacity", 0.8)));
  if (op !== app.alphaFor) {
    app.alphaFor = op;
    app.alphas = alphaTable(op);
  }
  return app.alphas;
}

/** Position of method j's slider for image i: the `positions` trait, else the method's own index. */
export function positionOf(app, j, i) {
  const m = app.M.methods[j];
  const sl = m.slider;
  if (!sl) return 0;
  const pos = app.model.get("positions") || {};
  const list = pos[m.key];
  const p = Array.isArray(list) ? Number(list[i]) : NaN;
  return Number.isInteger(p) ? clampInt(p, 0, sl.S - 1) : clampInt(Number(sl.index[i]) || 0, 0, sl.S - 1);
}

/** Method j's map of image i at slider position p, in units of the column's scale. */
export function valuesAt(app, j, i, p) {
  const m = app.M.methods[j];
  const HW = app.M.HW;
  if (m.slider) return m.slider.maps.subarray((i * m.slider.S + p) * HW, (i * m.slider.S + p + 1) * HW);
  return m.maps.subarray(i * HW, (i + 1) * HW);
}

/** Method j's map of image i at its current slider position. */
export const valuesNow = (app, j, i) => valuesAt(app, j, i, positionOf(app, j, i));

/** The scale cell (i, j) is drawn on, in units of its column's scale (what the maps ship in). */
export function drawnScale(app, j, i) {
  const m = app.M.methods[j];
  const own = m.rowScales[i];
  return rowScaling(app) && own > 0 ? own / m.scale : 1;
}

/** The classes asked for: the `targets` and `contrasts` traits. */
export function requested(app) {
  const t = app.model.get("targets") || [];
  const c = app.model.get("contrasts") || [];
  return { targets: t, contrasts: c };
}

/** A slider moved: local state only while dragging; `save` on release tells the kernel. */
export function setPosition(app, i, j, p, save) {
  const { model, M } = app;
  const key = M.methods[j].key;
  const pos = { ...(model.get("positions") || {}) };
  const list = Array.isArray(pos[key]) ? pos[key].slice() : M.methods[j].slider.index.slice();
  list[i] = p;
  pos[key] = list;
  model.set("positions", pos);
  if (save) model.save_changes();
}
