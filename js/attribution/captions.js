// Text under and about the maps: slider positions, convergence notes, compact numbers.
import { fmtNumber } from "../lib/chart.js";

/** A legend tick in 3 significant digits: ".0389", the leading zero costs width. */
export function fmtTick(v) {
  const t = (+v.toPrecision(3)).toString();
  return t.startsWith("0.") ? t.slice(1) : t;
}

export function fmtBytes(b) {
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MiB`;
  if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(0)} KiB`;
  return `${b} B`;
}

const valueText = (sl, p) => `${sl.word} = ${fmtNumber(sl.values[p])}${sl.unit ? ` ${sl.unit}` : ""}`;
const areaRatio = (sl, i, p) => ` · Φ(m⊗x)/Φ(x) = ${(sl.scores[i][p] / sl.full[i]).toFixed(2)}`;

/** The slider's position in a narrow column; the full caption is the tooltip and the readout's. */
export function shortCaption(m, i, p) {
  const sl = m.slider;
  let text = valueText(sl, p);
  const score = sl.scores ? sl.scores[i][p] : null;
  if (sl.name === "area" && score != null && sl.full && sl.full[i]) text += areaRatio(sl, i, p);
  return text;
}

/** The slider's position with its score (EP's kept fraction, IG's F(x_α)) and IG's convergence δ. */
export function sliderCaption(m, i, p) {
  const sl = m.slider;
  let text = valueText(sl, p);
  const score = sl.scores ? sl.scores[i][p] : null;
  if (sl.name === "area" && score != null && sl.full && sl.full[i] != null && sl.full[i] !== 0) {
    text += areaRatio(sl, i, p);
  } else if (sl.name === "alpha" && score != null) {
    text += ` · F(x_α) = ${fmtNumber(score)}`;
  }
  if (sl.name === "alpha" && m.info.delta) text += ` · δ = ${fmtNumber(m.info.delta[i])}`;
  return text;
}

/** A slider-less cell's caption: its convergence δ and notes, where the method has them. */
export function cellCaption(m, i) {
  const parts = [];
  if (m.info.delta) parts.push(`convergence δ = ${fmtNumber(m.info.delta[i])}`);
  if (m.info.notes && m.info.notes[i]) parts.push(String(m.info.notes[i]));
  return parts.join(" · ");
}

/** What the image column shows while slider `sl` is active: IG's x̄ + α(x − x̄), EP's m ⊗ x. */
export function sliderImageLabel(sl, p) {
  if (sl.name === "alpha") return `x̄ + α(x − x̄), α = ${fmtNumber(sl.values[p])}`;
  if (sl.name === "area") return `m ⊗ x, area ${fmtNumber(sl.values[p])}`;
  return `${sl.name} = ${fmtNumber(sl.values[p])}`;
}
