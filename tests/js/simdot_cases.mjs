// Runs js/lib/simdot.js on the cases in the JSON file argv[2] ({C, n, q: [halves], v: [halves]}[])
// through both paths (WebAssembly SIMD and the plain-JS fallback) and prints their outputs.
import { readFileSync } from "node:fs";
import { DotArena, arenaBytes } from "../../js/lib/simdot.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const run = (c, useWasm) => {
  const arena = new DotArena(arenaBytes([c.C, c.n * c.C], [c.C, c.n]), { useWasm });
  const src = arena.allocHalf(c.C);
  const v = arena.allocHalf(c.n * c.C);
  const q = arena.allocF32(c.C);
  const out = arena.allocF32(c.n);
  src.set(c.q);
  v.set(c.v);
  arena.loadQuery(q, src, 0, c.C);
  arena.dots(q, v, c.C, c.n, out);
  return { simd: arena.simd, out: Array.from(out) };
};
console.log(JSON.stringify(cases.map((c) => ({ wasm: run(c, true), js: run(c, false) }))));
