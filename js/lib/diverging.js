// Signed maps (attributions, relevance) on a canvas: the diverging colour map over a fixed,
// symmetric scale [-s, s], either drawn alone ("side") or shaded over the image in grey with
// an opacity that grows with |value| ("overlay"), so that zero leaves the image visible.
//
// Integer arithmetic only after the LUT index, so Python reproduces every byte:
// xai_widgets/core/diverging.py `shade` is the reference the browser tests compare with.
//   k     = lutIndex(v, -s, s)                 (floor(clamp((v + s) / 2s) * 255 + 0.5); -1 for NaN)
//   grey  = 96 + (((77 R + 150 G + 29 B + 128) >> 8) >> 1)   (the image's luma, faded to 96..223)
//   a8    = floor(opacity * |k - 127.5| / 127.5 * 255 + 0.5)
//   out   = floor((grey * (255 - a8) + lut[k] * a8 + 127) / 255)   per channel; NaN: grey
import { lutIndex } from "./colormap.js";

const NAN_GREY = 128; // a NaN value drawn alone

/**
 * The image in faded grey (96..223) that maps are shaded over: 96 + (luma >> 1), luma =
 * (77 R + 150 G + 29 B + 128) >> 8, for `n` pixels of `ch` bytes from byte `offset`.
 * Fading keeps the image readable under the colours without competing with them.
 */
export function greyed(bytes, n, ch = 3, offset = 0) {
  const out = new Uint8Array(n);
  for (let i = 0, p = offset; i < n; i++, p += ch) {
    const y = ch >= 3 ? (77 * bytes[p] + 150 * bytes[p + 1] + 29 * bytes[p + 2] + 128) >> 8 : bytes[p];
    out[i] = 96 + (y >> 1);
  }
  return out;
}

/** Overlay alpha (0..255) of every LUT index at `opacity` in [0, 1]. */
export function alphaTable(opacity) {
  const a = new Uint8Array(256);
  for (let k = 0; k < 256; k++) a[k] = Math.floor(opacity * Math.abs(k - 127.5) / 127.5 * 255 + 0.5);
  return a;
}

/**
 * Write `values` (n signed numbers) as opaque RGBA into `out` (Uint8ClampedArray, 4n bytes).
 * `grey` (Uint8Array n, or null) with `alpha` (alphaTable) shades over the image; without
 * `grey` the colours are drawn alone.
 */
export function shadeSigned(out, values, s, lut, grey, alpha) {
  const rgb = lut.rgb;
  const n = values.length;
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    const k = lutIndex(values[i], -s, s);
    if (grey) {
      const g = grey[i];
      if (k < 0) {
        out[o] = out[o + 1] = out[o + 2] = g;
      } else {
        const a = alpha[k];
        const b = g * (255 - a) + 127;
        out[o] = ((b + rgb[3 * k] * a) / 255) | 0;
        out[o + 1] = ((b + rgb[3 * k + 1] * a) / 255) | 0;
        out[o + 2] = ((b + rgb[3 * k + 2] * a) / 255) | 0;
      }
    } else if (k < 0) {
      out[o] = out[o + 1] = out[o + 2] = NAN_GREY;
    } else {
      out[o] = rgb[3 * k];
      out[o + 1] = rgb[3 * k + 1];
      out[o + 2] = rgb[3 * k + 2];
    }
    out[o + 3] = 255;
  }
}

/** A signed number with its sign ("+0.0123", "−0.0123"), 3 significant digits. */
export function fmtSigned(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const s = (+Math.abs(v).toPrecision(3)).toString();
  return `${v < 0 ? "−" : "+"}${s}`;
}
