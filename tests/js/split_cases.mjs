// Runs the channel-split hover (js/lib/dot_parts.js, js/lib/dot_worker.js) on the cases in the
// JSON file argv[2] ({C, n, tokens, levels, scales, q: {source, index}, v: [values of n + tokens
// vectors]}[]; levels 0: v holds float16 bits, else 8-bit codes with their scales): part A here,
// part B through the worker's message handler (a stand-in scope, as a Web Worker would run it),
// added as the widget adds them; and the same with both parts here in the plain-JS fallback.
// Prints both results per case.
import { readFileSync } from "node:fs";
import { DotArena } from "../../js/lib/simdot.js";
import { addParts, allocPart, fillPart, partDots, partShape, partsBytes, plainVectors, splitPoint }
  from "../../js/lib/dot_parts.js";
import { serve } from "../../js/lib/dot_worker.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));

/** Part `which` of the case's vectors in a fresh arena (plain JS when useWasm is false). */
function part(c, which, useWasm) {
  const shape = partShape({ C: c.C, cells: c.n, tokens: c.tokens, levels: c.levels }, which);
  const arena = new DotArena(partsBytes([shape]), { useWasm });
  const p = allocPart(arena, shape);
  const values = plainVectors(shape, c.v.length);
  values.set(c.v);
  const from = which === "A" ? 0 : splitPoint(c.C);
  fillPart(p.cells, values, c.C, from, shape.C, 0, c.n);
  fillPart(p.tokens, values.subarray(c.n * c.C), c.C, from, shape.C, 0, c.tokens);
  return { arena, p };
}

/** Part B answered by the worker's handler: init, then one dots request. */
function viaWorker(c) {
  const { p } = part(c, "B", true);
  const said = [];
  const scope = { postMessage: (m) => said.push(m) };
  serve(scope);
  scope.onmessage({ data: { type: "init", layers: [{ C: p.C, cells: c.n, tokens: c.tokens, levels: c.levels,
    cellBytes: p.cells.slice().buffer, tokenBytes: p.tokens.slice().buffer }] } });
  scope.onmessage({ data: { type: "dots", id: 7, queries: [c.q] } });
  const answer = said[1];
  if (said[0].type !== "ready" || answer.id !== 7) throw new Error(`unexpected messages ${JSON.stringify(said)}`);
  return { answer: answer.outs[0], simd: said[0].simd };
}

function run(c, worker) {
  const A = part(c, "A", worker);
  partDots(A.arena, A.p, c.q);
  let B;
  let simd = A.arena.simd;
  if (worker) {
    const w = viaWorker(c);
    B = w.answer;
    simd = simd && w.simd;
  } else {
    const local = part(c, "B", false);
    partDots(local.arena, local.p, c.q);
    B = local.p;
  }
  const scales = c.levels ? Float32Array.from(c.scales) : null;
  const cellScales = scales && scales.subarray(0, c.n);
  const tokenScales = scales && scales.subarray(c.n);
  const sq = scales ? (c.q.source === "tokens" ? tokenScales : cellScales)[c.q.index] : 1;
  const out = new Float32Array(c.n);
  const tokenOut = new Float32Array(c.tokens);
  const range = addParts(out, A.p.out, B.out, cellScales, sq);
  addParts(tokenOut, A.p.tokenOut, B.tokenOut, tokenScales, sq);
  return { simd, range, out: Array.from(out), tokenOut: Array.from(tokenOut) };
}

console.log(JSON.stringify(cases.map((c) => ({ worker: run(c, true), js: run(c, false) }))));
