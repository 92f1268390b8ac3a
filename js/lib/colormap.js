// Colour lookup tables shared with Python (xai_widgets): each LUT is 256 * 3
// uint8 RGB bytes. No colours are defined here; the tables come from Python so
// the browser overlay and the PNG export use exactly the same colours.
import { bytesOf } from "./tensor.js";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** {rgb: Uint8Array(768), rgba32: Uint32Array(256) (opaque, ImageData byte order)} or null. */
export function makeLut(raw) {
  if (raw == null) return null;
  let bytes;
  try {
    bytes = bytesOf(raw);
  } catch (err) {
    return null;
  }
  if (bytes.length < 768) return null;
  const rgb = bytes.slice(0, 768);
  const rgba32 = new Uint32Array(256);
  const px = new Uint8Array(rgba32.buffer);
  for (let i = 0; i < 256; i++) {
    px[4 * i] = rgb[3 * i];
    px[4 * i + 1] = rgb[3 * i + 1];
    px[4 * i + 2] = rgb[3 * i + 2];
    px[4 * i + 3] = 255;
  }
  if (!LITTLE_ENDIAN) {
    // ImageData is byte-ordered RGBA; a Uint32 write must match that order.
    for (let i = 0; i < 256; i++) {
      const v = rgba32[i];
      rgba32[i] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
    }
  }
  return { rgb, rgba32 };
}

/** LUT index of a value: t = clamp((v - lo) / (hi - lo), 0, 1), index = floor(t * 255 + 0.5); -1 for NaN. */
export function lutIndex(v, lo, hi) {
  let t = (v - lo) / (hi > lo ? hi - lo : 1); // degenerate range: span 1, as in Python
  if (!(t === t)) return -1; // NaN
  if (t < 0) t = 0;
  else if (t > 1) t = 1;
  return Math.floor(t * 255 + 0.5);
}
