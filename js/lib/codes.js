// 8-bit codes of float16 activation vectors, for a hover that reads half the bytes and does
// integer arithmetic (simdot.js codeDots): where the vectors are many, reading them all on
// every pointer move costs more than a frame's share, and a float16 dot product spends most of
// its instructions widening halves.
//
// Each vector x (its C float16 values) gets one scale s = m / L, m = max_k |x_k|, and codes
// c_k = round(x_k * (1 / s)) (in float64, halves rounded up), so x_k is s * c_k within s / 2. L = 255 (unsigned codes) when no vector of the layer has a negative value,
// else L = 127 (signed). A similarity is then s_q * s_v * sum_k c_q,k c_v,k: the integer sum
// exact, scaled in float64 and rounded once to float32. This is linear quantisation with one
// scale per vector (Jacob et al. 2018, "Quantization and Training of Neural Networks for
// Efficient Integer-Arithmetic-Only Inference", section 2, with a zero point of 0).
import { halfValues } from "./simdot.js";

/** Whether any of the halves is negative (-0 is not): the codes are then signed. */
export function anyNegative(words) {
  for (let i = 0; i < words.length; i++) if (words[i] > 0x8000) return true;
  return false;
}

/** The code range L for a layer whose vectors include negative values or not. */
export const codeLevels = (negative) => (negative ? 127 : 255);

/** Per vector i < count of C halves in `words`: scales[at + i] = m / L, m its largest |value|. */
export function codeScales(words, C, count, levels, scales, at) {
  const H = halfValues();
  for (let i = 0; i < count; i++) {
    let top = 0; // the largest |value| has the largest magnitude bits (finite halves)
    for (let k = i * C, end = k + C; k < end; k++) top = Math.max(top, words[k] & 0x7fff);
    scales[at + i] = H[top] / levels;
  }
}

/**
 * Codes of channels [from, from + width) of `count` vectors of C halves (`words`) into
 * `region` (width codes per vector) from vector `at`, with the vectors' scales from `scales[at]`
 * (a code region: Int8Array or Uint8Array, as the scales' levels).
 */
export function fillCodes(region, words, scales, C, from, width, at, count) {
  const H = halfValues();
  for (let i = 0; i < count; i++) {
    const inv = scales[at + i] > 0 ? 1 / scales[at + i] : 0;
    const src = i * C + from;
    const dst = (at + i) * width;
    for (let k = 0; k < width; k++) region[dst + k] = Math.round(H[words[src + k]] * inv);
  }
}
