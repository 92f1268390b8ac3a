// Channel-grid normalisation (DeepVis, Yosinski et al. 2015): the same formulas as
// xai_widgets/units/grid.py `normalise`, which browser tests compare the drawn pixels with.
//
// Non-negative layers: u = clip((x - lo) / (hi - lo), 0, 1) with [lo, hi] the layer's
// range ("layer"), each channel's ("channel") or `vrange` ("fixed"). Signed layers:
// a = clip(|x| / m, 0, 1) with m the max |x| of the layer, channel or vrange, and
// t = 0.5 + 0.5 sign(x) a^gamma, so zero is the diverging map's neutral middle. Between
// the two, DeepVis's per-channel boost (divide by the channel's max ** boost) and gamma
// (u ** gamma). The colour index is floor(t * 255 + 0.5).
//
// Speed: Math.pow per cell costs ~20 ms for a 512 x 28 x 28 layer, more than a frame.
// The index is a monotone step function of the boosted value v, so the 255 values of v
// where it steps are found once per gamma (by bisection down to adjacent doubles,
// evaluating the exact per-cell formula), and each cell counts the steps below it from a
// bucket table's guess: the same index as evaluating the formula per cell, bit for bit.

/** Colour index of boosted magnitude v in [0, 1]: the formula, as grid.normalise applies it. */
function indexOf(v, gamma, signed, negative) {
  const u = gamma === 1 ? v : Math.pow(v, gamma);
  const t = signed ? (negative ? 0.5 - 0.5 * u : 0.5 + 0.5 * u) : u;
  return Math.floor(t * 255 + 0.5);
}

/** Smallest v in [0, 1] with pred(v) true (pred monotone: false ... false true ... true). */
function firstTrue(pred) {
  if (pred(0)) return 0;
  let lo = 0;
  let hi = 1;
  // Halve until lo and hi are adjacent doubles: the midpoint then rounds to one of them.
  for (let mid = 0.5; mid !== lo && mid !== hi; mid = lo + (hi - lo) / 2) {
    if (pred(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

const STEPS = new Map(); // the steps depend only on gamma and the sign: computed once each

/** Steps of the index over v in [0, 1]: {base, steps (ascending v), dir}: index = base + dir * #(steps <= v). */
function indexSteps(gamma, signed, negative) {
  const key = `${gamma}/${signed}/${negative}`;
  if (STEPS.has(key)) return STEPS.get(key);
  const base = indexOf(0, gamma, signed, negative);
  const end = indexOf(1, gamma, signed, negative);
  const dir = end >= base ? 1 : -1;
  const steps = new Float64Array(Math.abs(end - base));
  for (let j = 1; j <= steps.length; j++) {
    const target = base + dir * j;
    steps[j - 1] = firstTrue((v) => dir * (indexOf(v, gamma, signed, negative) - target) >= 0);
  }
  const S = { base, steps, dir, first: bucketStarts(steps) };
  STEPS.set(key, S);
  return S;
}

const BUCKETS = 4096;

/** For bucket b = floor(v * BUCKETS), the number of steps below b / BUCKETS: a start near the answer. */
function bucketStarts(steps) {
  const first = new Int32Array(BUCKETS + 1);
  for (let b = 0, j = 0; b <= BUCKETS; b++) {
    while (j < steps.length && steps[j] < b / BUCKETS) j++;
    first[b] = j;
  }
  return first;
}

/** The index of v: count the steps <= v, starting from its bucket's guess (a binary search mispredicts too often). */
function lookup(S, v) {
  const { steps } = S;
  let j = S.first[Math.min(BUCKETS, Math.floor(v * BUCKETS))];
  while (j > 0 && steps[j - 1] > v) j--;
  while (j < steps.length && steps[j] <= v) j++;
  return S.base + S.dir * j;
}

function range(x, from, to) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = from; i < to; i++) {
    const v = x[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return { lo, hi, m: Math.max(-lo, hi, 0) };
}

/**
 * Colour indices (Uint8Array `out`, length C*HW) of C channels of HW values of `x` from
 * `offset`; `scratch` is a Float64Array of length >= HW. Returns the layer's {lo, hi, m}.
 */
export function normaliseInto(out, scratch, x, offset, C, HW, { mode, vrange, boost, gamma, signed }) {
  const layer = range(x, offset, offset + C * HW);
  const vm = Math.max(Math.abs(vrange[0]), Math.abs(vrange[1]));
  const pos = indexSteps(gamma, signed, false);
  const neg = signed ? indexSteps(gamma, true, true) : pos;
  for (let c = 0; c < C; c++) {
    const from = offset + c * HW;
    const r = mode === "channel" ? range(x, from, from + HW) : layer;
    let peak = 0; // the channel's max of the first-stage value, for boost
    if (signed) {
      const m = mode === "fixed" ? vm : r.m;
      for (let i = 0; i < HW; i++) {
        const v = x[from + i];
        let a = m > 0 ? (v < 0 ? -v : v) / m : 0;
        if (a > 1) a = 1;
        scratch[i] = a;
        if (a > peak) peak = a;
      }
    } else {
      const lo = mode === "fixed" ? vrange[0] : r.lo;
      const hi = mode === "fixed" ? vrange[1] : r.hi;
      const span = hi > lo ? hi - lo : 1;
      for (let i = 0; i < HW; i++) {
        let u = (x[from + i] - lo) / span;
        if (u < 0) u = 0;
        else if (u > 1) u = 1;
        scratch[i] = u;
        if (u > peak) peak = u;
      }
    }
    const div = boost > 0 && peak > 0 ? Math.pow(peak, boost) : 1;
    const o = c * HW;
    for (let i = 0; i < HW; i++) {
      let v = scratch[i];
      if (div !== 1) v /= div;
      if (v > 1) v = 1;
      const s = signed ? x[from + i] : 1;
      out[o + i] = s > 0 ? lookup(pos, v) : s < 0 ? lookup(neg, v) : 128; // zero: t = 0.5 -> 128
    }
  }
  return layer;
}

/** Max, mean and (row, col) of the first max of channel c (as grid.channel_stats). */
export function channelStats(x, offset, c, H, W) {
  const from = offset + c * H * W;
  let max = -Infinity;
  let at = 0;
  let sum = 0;
  for (let i = 0; i < H * W; i++) {
    const v = x[from + i];
    sum += v;
    if (v > max) {
      max = v;
      at = i;
    }
  }
  return { max, mean: sum / (H * W), row: Math.floor(at / W), col: at % W };
}
