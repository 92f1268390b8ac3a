// The second thread of a hover: a Web Worker holding part B of every layer's vectors
// (dot_parts.js) and answering "dots" requests with its part's results, so the main thread
// reads only half the bytes per pointer move. `serve(self)` runs in the worker; it is plain
// message handling, so tests run it in Node with a stand-in scope.
//
// Messages in:  {type: "init", layers: [{C, cells, tokens, levels, cellBytes, tokenBytes}]} (C: the
//               part's channels; levels: 0 for float16, else the codes' range; the vectors'
//               bytes, part B only, as ArrayBuffers)
//               {type: "dots", id, queries: [{source, index} | null per layer]}
// Messages out: {type: "ready", bytes, simd}
//               {type: "dots", id, outs: [{out, tokenOut} | null per layer]} (Float32Arrays,
//               or Int32Arrays of exact dot products of codes)
import { DotArena } from "./simdot.js";
import { allocPart, partDots, partsBytes } from "./dot_parts.js";

function load(layers) {
  const arena = new DotArena(partsBytes(layers));
  const parts = layers.map((L) => {
    const part = allocPart(arena, L);
    part.cells.set(new part.cells.constructor(L.cellBytes));
    part.tokens.set(new part.tokens.constructor(L.tokenBytes));
    return part;
  });
  return { arena, parts };
}

export function serve(scope) {
  let held = null;
  scope.onmessage = ({ data }) => {
    if (data.type === "init") {
      held = load(data.layers);
      scope.postMessage({ type: "ready", bytes: held.arena.used, simd: held.arena.simd });
    } else if (data.type === "dots" && held) {
      const transfer = [];
      const outs = data.queries.map((query, j) => {
        if (!query) return null;
        const part = held.parts[j];
        partDots(held.arena, part, query);
        const result = { out: part.out.slice(), tokenOut: part.tokenOut.slice() };
        transfer.push(result.out.buffer, result.tokenOut.buffer);
        return result;
      });
      scope.postMessage({ type: "dots", id: data.id, outs }, transfer);
    }
  };
}
