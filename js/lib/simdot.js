// Batched dot products over activation vectors: out[i] = dot(q, v[i]) for n contiguous vectors.
//
// The hover path of the similarity widgets (e.g. 32 images x 28x28 cells x 512 channels =
// 12.8 M multiply-adds per pointer move), so it is written for speed: a tiny hand-assembled
// WebAssembly SIMD module with two kernels, each with a plain-JS fallback that gives the same
// numbers for browsers without WebAssembly SIMD.
//
// dots reads float16 vectors exactly as shipped (no float32 copy: the arena holds as many
// bytes as the payload) and works in float32, four lanes at a time.
// float16 -> float32 without a conversion instruction: the half's bits h, moved to the top
// of a 32-bit lane (h << 16) and shifted right arithmetically by 3 with the three bits under
// the sign cleared, are the float32 sign | (exponent, mantissa) << 13: the float32 whose value
// is the half's times 2^-112 (exponent bias 127 against 15). The query is stored times 2^112,
// so each product is exactly the float32 product of the half values. Subnormal halves become
// float32 subnormals, which x86 multiplies slowly: the similarity widgets send none.
// Numerics (identical in both paths): every product is rounded to float32; the sum keeps
// sixteen float32 partial sums over k mod 16 (lanes of four four-lane accumulators a, b, c,
// d), combined as t = (a + b) + (c + d) lane-wise, then (t0 + t1) + (t2 + t3), then the
// C mod 16 tail terms in order, each addition rounded to float32. Against the exact sum the
// error is at most (C / 16 + 19) * 2^-24 * sum_k |q_k v_k| (Higham 2002, eq. 3.4: a
// recursive sum of m terms errs by at most (m - 1) u sum |terms|, each product adding u).
//
// codeDots reads 8-bit codes (one byte per value, half the bytes; made in Python by
// xai_widgets.similarity.codes) against a query of 16-bit integers and sums exactly in 32-bit
// integers: sixteen codes are widened in two instructions and multiplied-and-paired in two
// more (i32x4.dot_i16x8_s), a third of the float16 kernel's instructions per value.
//
// Memory: a DotArena owns one buffer (a WebAssembly.Memory when the kernel is available,
// else an ArrayBuffer). Callers allocate regions once (allocHalf, allocCodes, allocF32, ...),
// fill them, and call dots(q, v, C, n, out) or codeDots with regions of the same arena.
// Nothing is allocated per call.

import { asBytes } from "./tensor.js";

// ---------------------------------------------------------------- assembler
const uleb = (n) => {
  const o = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
};
const sleb = (n) => {
  const o = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      o.push(b);
      return o;
    }
    o.push(b | 0x80);
  }
};
const vec = (items) => [...uleb(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...uleb(bytes.length), ...bytes];
const name = (s) => vec([...s].map((c) => c.charCodeAt(0)));

const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
const get = (i) => [0x20, i], set = (i) => [0x21, i];
const i32 = (n) => [0x41, ...sleb(n)];
const simd = (op, ...rest) => [0xfd, ...uleb(op), ...rest];
const mem = (align, off) => [...uleb(align), ...uleb(off)];
const add = (l, n) => [...get(l), ...i32(n), 0x6a, ...set(l)];
const loop = (...breakIf) => [0x02, 0x40, 0x03, 0x40, ...breakIf, 0x0d, 1]; // block { loop { br_if 1 (exit) ...
const next = [0x0c, 0, 0x0b, 0x0b]; // ... br 0 (again) } }
const LOAD = 0x00, CONST = 0x0c, zero = simd(CONST, ...new Array(16).fill(0));
// Every function takes (q, v, C, n, out) as its first five locals, then i (the vector) and k
// (the channel); the rest are its own.
const [Q, V, C, N, OUT, I, K] = [0, 1, 2, 3, 4, 5, 6];
/** A kernel's end: the tail loop over k < C (`term` adds one), out[i] = s (`store`), the next vector. */
const tailAndNext = (term, store) => [
  ...loop(...get(K), ...get(C), 0x4f), ...term, ...next,
  ...get(OUT), ...get(I), ...i32(2), 0x74, 0x6a, ...store, // out + 4 i
  ...add(I, 1),
  ...next,
  0x0b,
];

const WORD_MASK = 0x8fff; // of a half shifted right by 3: keeps the sign, clears the three copies the shift made
const QUERY_SCALE = 2 ** 112; // undoes the 2^-112 of the bit-moved halves

/** dots: q (f32*, times 2^112), v (u16* halves), C, n, out (f32*). */
function halfDots() {
  const SHUFFLE = 0x0d, EXTRACT_F32 = 0x1f, AND = 0x4e;
  const I16X8_SHL = 0x8b, I16X8_SHR_S = 0x8c, F32X4_ADD = 0xe4, F32X4_MUL = 0xe6;
  // Interleave the 16-bit lanes of (lo, hi) words: lane j of the result is hi_j << 16 | lo_j.
  const LOW = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
  const HIGH = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];
  // locals i, k, c16, qp; s; the accumulators a b c d (k mod 16 in 0-3, 4-7, 8-11, 12-15), the
  // halves x, their two words lo and hi, and the mask.
  const [C16, QP, S, A, B, Cc, D, X, LO, HI, M] = Array.from({ length: 11 }, (_, j) => j + 7);
  // Eight halves at v + offset into float32 bits (the 2^-112 move above), in two steps each
  // taken on eight lanes at once: hi = (x >> 3) & 0x8fff holds sign, exponent and the top
  // mantissa bits, lo = x << 13 the last three; interleaved they are the float32 bits.
  const eight = (offset, acc1, acc2, q1) => [
    ...get(V), ...simd(LOAD, ...mem(0, offset)), ...set(X),
    ...get(X), ...i32(3), ...simd(I16X8_SHR_S), ...get(M), ...simd(AND), ...set(HI),
    ...get(X), ...i32(13), ...simd(I16X8_SHL), ...set(LO),
    ...get(acc1), ...get(LO), ...get(HI), ...simd(SHUFFLE, ...LOW),
    ...get(QP), ...simd(LOAD, ...mem(0, q1)), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(acc1),
    ...get(acc2), ...get(LO), ...get(HI), ...simd(SHUFFLE, ...HIGH),
    ...get(QP), ...simd(LOAD, ...mem(0, q1 + 16)), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(acc2),
  ];
  const lane = (acc, j) => [...get(acc), ...simd(EXTRACT_F32, j)];
  const body = [
    ...simd(CONST, ...new Array(8).fill([WORD_MASK & 0xff, WORD_MASK >> 8]).flat()), ...set(M),
    ...get(C), ...i32(-16), 0x71, ...set(C16), // c16 = C & ~15
    ...loop(...get(I), ...get(N), 0x4f), // for each vector
    ...zero, ...set(A), ...zero, ...set(B), ...zero, ...set(Cc), ...zero, ...set(D),
    ...i32(0), ...set(K), ...get(Q), ...set(QP),
    ...loop(...get(K), ...get(C16), 0x4f), // sixteen halves per step
    ...eight(0, A, B, 0), ...eight(16, Cc, D, 32),
    ...add(V, 32), ...add(QP, 64), ...add(K, 16),
    ...next,
    // t = (a + b) + (c + d) lane-wise; s = (t0 + t1) + (t2 + t3)
    ...get(A), ...get(B), ...simd(F32X4_ADD), ...get(Cc), ...get(D), ...simd(F32X4_ADD), ...simd(F32X4_ADD), ...set(A),
    ...lane(A, 0), ...lane(A, 1), 0x92, ...lane(A, 2), ...lane(A, 3), 0x92, 0x92, ...set(S),
    ...tailAndNext([ // s += half(v[k]) * q[k], the same bit move in scalar
      ...get(S),
      ...get(V), 0x2f, ...mem(1, 0), ...i32(16), 0x74, ...i32(3), 0x75, ...i32((WORD_MASK << 16) | 0xffff), 0x71, 0xbe,
      ...get(QP), 0x2a, ...mem(2, 0), 0x94, 0x92, ...set(S),
      ...add(V, 2), ...add(QP, 4), ...add(K, 1),
    ], [...get(S), 0x38, ...mem(2, 0)]),
  ];
  return [...vec([[...uleb(4), I32], [...uleb(1), F32], [...uleb(8), V128]]), ...body];
}

/**
 * codeDots: q (i16*, the query's codes), v (8-bit codes, signed or not), C, n, out (i32*):
 * exact integer dot products. Sixteen codes per step are widened to two i16x8 and multiplied
 * pairwise into i32 lanes (i32x4.dot_i16x8_s); integer sums do not depend on their order.
 */
function codeDots(unsigned) {
  const EXT_LO = unsigned ? 0x89 : 0x87, EXT_HI = unsigned ? 0x8a : 0x88; // i16x8.extend_{low,high}_i8x16_{u,s}
  const DOT = 0xba, I32X4_ADD = 0xae, EXTRACT_I32 = 0x1b;
  const LOAD8 = unsigned ? 0x2d : 0x2c; // i32.load8_{u,s}
  const [C32, QP, S, A, B, X] = Array.from({ length: 6 }, (_, j) => j + 7);
  const sixteen = (offset, acc) => [
    ...get(V), ...simd(LOAD, ...mem(0, offset)), ...set(X),
    ...get(acc), ...get(X), ...simd(EXT_LO), ...get(QP), ...simd(LOAD, ...mem(0, 2 * offset)), ...simd(DOT),
    ...simd(I32X4_ADD),
    ...get(X), ...simd(EXT_HI), ...get(QP), ...simd(LOAD, ...mem(0, 2 * offset + 16)), ...simd(DOT),
    ...simd(I32X4_ADD), ...set(acc),
  ];
  const lane = (j) => [...get(A), ...simd(EXTRACT_I32, j)];
  const body = [
    ...get(C), ...i32(-32), 0x71, ...set(C32), // c32 = C & ~31
    ...loop(...get(I), ...get(N), 0x4f), // for each vector
    ...zero, ...set(A), ...zero, ...set(B), ...i32(0), ...set(K), ...get(Q), ...set(QP),
    ...loop(...get(K), ...get(C32), 0x4f), // thirty-two codes per step
    ...sixteen(0, A), ...sixteen(16, B),
    ...add(V, 32), ...add(QP, 64), ...add(K, 32),
    ...next,
    ...get(A), ...get(B), ...simd(I32X4_ADD), ...set(A),
    ...lane(0), ...lane(1), 0x6a, ...lane(2), 0x6a, ...lane(3), 0x6a, ...set(S),
    ...tailAndNext([ // s += v[k] * q[k]
      ...get(S), ...get(V), LOAD8, ...mem(0, 0), ...get(QP), 0x2e, ...mem(1, 0), 0x6c, 0x6a, ...set(S),
      ...add(V, 1), ...add(QP, 2), ...add(K, 1),
    ], [...get(S), 0x36, ...mem(2, 0)]),
  ];
  return [...vec([[...uleb(5), I32], [...uleb(3), V128]]), ...body];
}

const FUNCTIONS = { dots: halfDots, dots8s: () => codeDots(false), dots8u: () => codeDots(true) };

function kernelBytes() {
  const names = Object.keys(FUNCTIONS);
  const bodies = names.map((n) => FUNCTIONS[n]());
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([I32, I32, I32, I32, I32]), ...vec([])]])),
    ...section(2, vec([[...name("e"), ...name("m"), 0x02, 0x00, 0x01]])), // import memory e.m
    ...section(3, vec(names.map(() => [0]))),
    ...section(7, vec(names.map((n, j) => [...name(n), 0x00, j]))),
    ...section(10, vec(bodies.map((f) => [...uleb(f.length), ...f]))),
  ]);
}

let kernelModule; // WebAssembly.Module | null (unsupported), undefined = not tried
function getKernel() {
  if (kernelModule === undefined) {
    kernelModule = null;
    try {
      if (typeof WebAssembly === "object") {
        const bytes = kernelBytes();
        if (WebAssembly.validate(bytes)) kernelModule = new WebAssembly.Module(bytes);
      }
    } catch (err) {
      kernelModule = null;
    }
  }
  return kernelModule;
}

// ------------------------------------------------------------- float16 values
let HALVES = null; // the float32 value of each of the 65536 halves, computed once
export function halfValues() {
  if (HALVES) return HALVES;
  HALVES = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1024 + m) * 2 ** (e - 25);
    HALVES[h] = h & 0x8000 ? -v : v;
  }
  return HALVES;
}

// ------------------------------------------------------------- JS fallback
const f = Math.fround;

/** The kernel's arithmetic in plain JS: q (float32, unscaled), v (halves), same order, same roundings. */
function dotsJS(q, v, vi, C, n, out, oi) {
  const H = halfValues();
  const c16 = C & ~15;
  const part = new Float32Array(16); // partial sums over k mod 16, each addition rounded to float32
  for (let i = 0; i < n; i++) {
    part.fill(0);
    let k = 0;
    for (; k < c16; k += 16) {
      for (let l = 0; l < 16; l++) part[l] += f(H[v[vi + k + l]] * q[k + l]);
    }
    const t = [0, 1, 2, 3].map((l) => f(f(part[l] + part[4 + l]) + f(part[8 + l] + part[12 + l])));
    let s = f(f(t[0] + t[1]) + f(t[2] + t[3]));
    for (; k < C; k++) s = f(s + f(H[v[vi + k]] * q[k]));
    out[oi + i] = s;
    vi += C;
  }
}

/** codeDots in plain JS: integer sums are exact, so the same numbers whatever the order. */
function codeDotsJS(q, v, C, n, out) {
  for (let i = 0, vi = 0; i < n; i++, vi += C) {
    let s = 0;
    for (let k = 0; k < C; k++) s += q[k] * v[vi + k];
    out[i] = s;
  }
}

/**
 * Most channels codeDots takes: 255 * 255 * C must fit an int32 (unsigned codes, and a signed
 * query of the same codes widened to 16 bits).
 */
export const MAX_CODE_CHANNELS = 32768;

const align16 = (n) => (n + 15) & ~15;

export class DotArena {
  /** @param {number} bytes total bytes the caller will allocate (each region is 16-byte aligned). */
  constructor(bytes, { useWasm = true } = {}) {
    this.size = Math.max(16, bytes);
    this.used = 0;
    this.exports = null;
    const mod = useWasm ? getKernel() : null;
    if (mod) {
      try {
        const pages = Math.ceil(this.size / 65536) || 1;
        const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
        const instance = new WebAssembly.Instance(mod, { e: { m: memory } });
        this.buffer = memory.buffer;
        this.exports = instance.exports;
      } catch (err) {
        this.exports = null; // too big or unsupported: plain buffer + JS loop
      }
    }
    if (!this.exports) this.buffer = new ArrayBuffer(this.size);
    this.f32 = new Float32Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
  }

  get simd() {
    return this.exports !== null;
  }

  _take(bytes) {
    const off = this.used;
    this.used = align16(off + bytes);
    if (this.used > this.buffer.byteLength) throw new RangeError("DotArena overflow");
    return off;
  }

  /** A region of n float16 values (their bits). */
  allocHalf(n) {
    return new Uint16Array(this.buffer, this._take(2 * n), n);
  }

  allocF32(n) {
    return new Float32Array(this.buffer, this._take(4 * n), n);
  }

  /** A region of n 8-bit codes: Uint8Array when `unsigned`, else Int8Array. */
  allocCodes(n, unsigned) {
    return new (unsigned ? Uint8Array : Int8Array)(this.buffer, this._take(n), n);
  }

  allocI16(n) {
    return new Int16Array(this.buffer, this._take(2 * n), n);
  }

  allocI32(n) {
    return new Int32Array(this.buffer, this._take(4 * n), n);
  }

  /** Copy the first region.length values of a float16 payload into a half region (bytes as shipped). */
  fillHalves(region, payload) {
    if (payload.dtype !== "float16") throw new TypeError(`activation vectors must be float16, got ${payload.dtype}`);
    const n = 2 * region.length;
    const bytes = asBytes(payload.data);
    if (bytes.byteLength < n) throw new RangeError(`tensor data has ${bytes.byteLength} bytes, shape needs ${n}`);
    new Uint8Array(region.buffer, region.byteOffset, n).set(bytes.subarray(0, n)); // little-endian, as WebAssembly
  }

  /** q (a float32 region of C) = the C halves of v from index `base`, as dots() wants its query. */
  loadQuery(q, v, base, C) {
    const H = halfValues();
    const scale = this.exports ? QUERY_SCALE : 1;
    for (let k = 0; k < C; k++) q[k] = H[v[base + k]] * scale;
  }

  /**
   * out[i] = dot(q, v[i*C .. i*C+C)) for i < n. q: a query from loadQuery (C floats), v: a
   * half region (n*C), out: a float32 region (n), all from this arena.
   */
  dots(q, v, C, n, out) {
    if (this.exports) {
      this.exports.dots(q.byteOffset, v.byteOffset, C, n, out.byteOffset);
    } else {
      dotsJS(q, this.u16, v.byteOffset >> 1, C, n, this.f32, out.byteOffset >> 2);
    }
  }

  /** q (an int16 region of C) = the C codes of v (a code region) from index `base`, as codeDots wants its query. */
  loadCodes(q, v, base, C) {
    q.set(v.subarray(base, base + C));
  }

  /**
   * out[i] = the exact integer dot(q, v[i*C .. i*C+C)) for i < n. q: a query from loadCodes,
   * v: a code region (n*C), out: an int32 region (n), all from this arena.
   */
  codeDots(q, v, C, n, out) {
    if (C > MAX_CODE_CHANNELS) throw new RangeError(`8-bit codes take at most ${MAX_CODE_CHANNELS} channels, got ${C}`);
    if (this.exports) {
      const dots8 = v instanceof Uint8Array ? this.exports.dots8u : this.exports.dots8s;
      dots8(q.byteOffset, v.byteOffset, C, n, out.byteOffset);
    } else {
      codeDotsJS(q, v, C, n, out);
    }
  }
}

/** Bytes an arena needs for regions of the given sizes in bytes. */
export const regionBytes = (sizes) => sizes.reduce((total, n) => total + align16(n), 16);

/** Bytes an arena needs for regions of the given element counts (float16 / float32). */
export const arenaBytes = (halfCounts, f32Counts) =>
  regionBytes([...halfCounts.map((n) => 2 * n), ...f32Counts.map((n) => 4 * n)]);

