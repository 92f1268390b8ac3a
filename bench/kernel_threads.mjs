// The hover kernel on one thread against two (Node's worker_threads standing in for the
// browser's Web Worker): 32 x 28 x 28 cells x 512 channels, as float16 vectors (25.7 MB) and
// as 8-bit codes (12.8 MB), the channels split in two parts as the widget splits them
// (js/lib/dot_parts.js), part B served by the widget's own worker code (js/lib/dot_worker.js).
// Prints one JSON line of medians and 95th percentiles in ms.     node bench/kernel_threads.mjs [rounds]
import { Worker, isMainThread, parentPort } from "node:worker_threads";
import { DotArena } from "../js/lib/simdot.js";
import { addParts, allocPart, partDots, partShape, partsBytes } from "../js/lib/dot_parts.js";
import { serve } from "../js/lib/dot_worker.js";

const C = 512;
const CELLS = 32 * 28 * 28;
const QUERY = { source: "cells", index: 12345 };

/**
 * A part of the layer filled with normal float16 values (no subnormals, as the widget ships), or
 * with unsigned codes (levels 255).
 */
function filled(which, levels) {
  const shape = partShape({ C, cells: CELLS, tokens: 0, levels }, which);
  const arena = new DotArena(partsBytes([shape]));
  const part = allocPart(arena, shape);
  const value = levels ? (i) => (i * 2654435761) >>> 24 : (i) => 0x3000 + ((i * 2654435761) % 0x0fff);
  for (let i = 0; i < part.cells.length; i++) part.cells[i] = value(i);
  return { arena, part, shape };
}

const stats = (t) => {
  t.sort((a, b) => a - b);
  return { median: +t[t.length >> 1].toFixed(3), p95: +t[Math.floor(0.95 * (t.length - 1))].toFixed(3) };
};

/** One thread, then two, on vectors of `levels` (0: float16). */
async function measure(rounds, levels) {
  const A = filled("A", levels);
  const B = filled("B", levels);
  const out = new Float32Array(CELLS);
  const scales = levels ? new Float32Array(CELLS).fill(1 / levels) : null;
  const one = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    partDots(A.arena, A.part, QUERY);
    partDots(B.arena, B.part, QUERY);
    addParts(out, A.part.out, B.part.out, scales, 1 / (levels || 1));
    one.push(performance.now() - t0);
  }
  const worker = new Worker(new URL(import.meta.url));
  const reply = () => new Promise((resolve) => worker.once("message", resolve));
  const ready = reply();
  worker.postMessage({ type: "init", layers: [{ ...B.shape, cellBytes: B.part.cells.slice().buffer,
    tokenBytes: new ArrayBuffer(0) }] });
  await ready;
  const two = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const answered = reply();
    worker.postMessage({ type: "dots", id: r, queries: [QUERY] });
    partDots(A.arena, A.part, QUERY);
    const { outs } = await answered;
    addParts(out, A.part.out, outs[0].out, scales, 1 / (levels || 1));
    two.push(performance.now() - t0);
  }
  await worker.terminate();
  return { bytes: (levels ? 1 : 2) * C * CELLS, one: stats(one), two: stats(two) };
}

if (isMainThread) {
  const rounds = Number(process.argv[2] || 200);
  console.log(JSON.stringify({ half: await measure(rounds, 0), codes: await measure(rounds, 255) }));
} else {
  serve({ set onmessage(fn) { parentPort.on("message", (data) => fn({ data })); },
    postMessage: (m, transfer) => parentPort.postMessage(m, transfer) });
}
