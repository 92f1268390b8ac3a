// Decoder for the xai_widgets tensor wire format (see xai_widgets/core/wire.py).
//
// A payload is a plain object
//   {shape: [..], dtype: "float32" | "float16" | "uint8", scale, offset, data}
// where `data` is the raw little-endian, C-contiguous bytes. Coming from the
// kernel it is a DataView (an ipywidgets binary buffer) that may sit at any,
// possibly unaligned, byteOffset of its ArrayBuffer. Values are the raw
// numbers for float types, and raw * scale + offset for uint8.

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Raw bytes of a DataView / ArrayBuffer / typed array as a Uint8Array view (no copy). */
export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Uint8Array.from(data);
  throw new TypeError("tensor data must be a DataView, ArrayBuffer or typed array");
}

/** Raw bytes of a payload (or of a bare buffer), e.g. uint8 RGB image pixels. */
export function bytesOf(payload) {
  if (payload && !ArrayBuffer.isView(payload) && !(payload instanceof ArrayBuffer) && "data" in payload) {
    return asBytes(payload.data);
  }
  return asBytes(payload);
}

export function numel(shape) {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// float16 bits -> float32 bits, all 65536 values, computed once on first use.
// Same integer algorithm as numpy's npy_halfbits_to_floatbits, so the decoded
// values (NaN payloads, signed zeros and subnormals included) are bit-identical
// to numpy's float16 -> float32 conversion.
let HALF_TO_FLOAT_BITS = null;
function halfTable() {
  if (HALF_TO_FLOAT_BITS) return HALF_TO_FLOAT_BITS;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = h & 0x7c00;
    let man = h & 0x03ff;
    if (exp === 0) {
      if (man === 0) {
        t[h] = sign; // signed zero
      } else {
        // subnormal half -> normal float
        let e = 113; // 127 - 15 + 1
        while ((man & 0x0400) === 0) {
          man <<= 1;
          e--;
        }
        man &= 0x03ff;
        t[h] = (sign | (e << 23) | (man << 13)) >>> 0;
      }
    } else if (exp === 0x7c00) {
      t[h] = (sign | 0x7f800000 | (man << 13)) >>> 0; // inf / NaN (payload kept)
    } else {
      t[h] = (sign | ((exp + 0x1c000) << 13) | (man << 13)) >>> 0; // rebias 15 -> 127
    }
  }
  HALF_TO_FLOAT_BITS = t;
  return t;
}

/** Typed-array view of `n` elements of `Ctor` over the bytes, copying only when misaligned. */
function alignedView(bytes, Ctor, n) {
  const size = Ctor.BYTES_PER_ELEMENT;
  const need = n * size;
  if (bytes.byteLength < need) {
    throw new RangeError(`tensor data has ${bytes.byteLength} bytes, shape needs ${need}`);
  }
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  return new Ctor(bytes.slice(0, need).buffer, 0, n);
}

/**
 * Decode a tensor payload into {shape, data: Float32Array} (C order).
 * Not cached: callers decode once (e.g. when `_data` changes) and keep the result.
 * For aligned little-endian float32 data the result is a view on the payload's buffer.
 */
export function decode(payload) {
  const shape = Array.from(payload.shape, Number);
  const n = numel(shape);
  const dtype = payload.dtype;
  const bytes = asBytes(payload.data);
  let out;
  if (dtype === "float32") {
    if (LITTLE_ENDIAN) {
      out = alignedView(bytes, Float32Array, n);
    } else {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    }
  } else if (dtype === "float16") {
    const table = halfTable();
    out = new Float32Array(n);
    const bits = new Uint32Array(out.buffer); // copy bit patterns: keeps NaN payloads exact
    if (LITTLE_ENDIAN) {
      const src = alignedView(bytes, Uint16Array, n);
      for (let i = 0; i < n; i++) bits[i] = table[src[i]];
    } else {
      if (bytes.byteLength < 2 * n) throw new RangeError("tensor data too short for its shape");
      for (let i = 0; i < n; i++) bits[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
    }
  } else if (dtype === "uint8") {
    if (bytes.byteLength < n) throw new RangeError(`tensor data has ${bytes.byteLength} bytes, shape needs ${n}`);
    const scale = payload.scale == null ? 1 : Number(payload.scale);
    const offset = payload.offset == null ? 0 : Number(payload.offset);
    // value = raw * scale + offset in float32 arithmetic, like xai_widgets.wire.decode:
    // raw.astype(float32) * float32(scale) + float32(offset). (Each double-precision op
    // rounded with Math.fround is the correctly rounded float32 op.)
    const fs = Math.fround(scale);
    const fo = Math.fround(offset);
    const lut = new Float32Array(256);
    for (let k = 0; k < 256; k++) lut[k] = Math.fround(k * fs) + fo;
    out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lut[bytes[i]];
  } else {
    throw new TypeError(`unsupported tensor dtype ${dtype}`);
  }
  return { shape, data: out };
}
