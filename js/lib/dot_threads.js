// Hover dot products on two threads: part A of every vector (dot_parts.js) stays on the main
// thread, part B goes to a Web Worker (dot_worker.js) when the vectors are big enough to be
// worth it, the machine has a core to spare and the page allows workers; each pointer move then
// reads half the bytes per thread. Otherwise (small data, two cores or fewer, a page whose
// policy refuses blob: workers) the main thread holds and computes both parts: the same
// numbers, one thread.
import { DotArena } from "./simdot.js";
import { addParts, allocPart, fillPart, partDots, partShape, partsBytes, plainVectors, splitPoint }
  from "./dot_parts.js";
import workerSource from "xw-worker-source";

/** Below this many bytes of vectors one thread is fast enough (a hover under about a millisecond). */
export const WORKER_MIN_BYTES = 4 * 2 ** 20;

/**
 * Four logical cores or more. With two, the browser's own threads (compositing, raster, input)
 * already hold the second core, and a worker made the hover slower, not faster.
 */
const spareCore = () => typeof navigator === "object" && navigator.hardwareConcurrency >= 4;

/** Copy a layer's vectors (per source, a list of {values, count}) into part `which` of it. */
function fillLayer(part, layer, which) {
  const from = which === "A" ? 0 : splitPoint(layer.C);
  for (const source of ["cells", "tokens"]) {
    let at = 0;
    for (const { values, count } of layer[source]) {
      fillPart(part[source], values, layer.C, from, part.C, at, count);
      at += count;
    }
  }
}

const shapeOf = (L) => ({ C: L.C, cells: L.cellCount, tokens: L.tokenCount, levels: L.levels });

/** Part B of each layer in plain buffers, for the worker: {C, cells, tokens, cellBytes, tokenBytes}. */
function plainPartB(layers) {
  return layers.map((layer) => {
    const shape = partShape(shapeOf(layer), "B");
    const part = { C: shape.C, cells: plainVectors(shape, shape.cells * shape.C),
      tokens: plainVectors(shape, shape.tokens * shape.C) };
    fillLayer(part, layer, "B");
    return { ...shape, cellBytes: part.cells.buffer, tokenBytes: part.tokens.buffer };
  });
}

function startWorker() {
  const url = URL.createObjectURL(new Blob([workerSource], { type: "text/javascript" }));
  try {
    return { worker: new Worker(url), url };
  } catch (err) {
    URL.revokeObjectURL(url);
    return null; // e.g. a content security policy without blob: workers
  }
}

export class SplitDots {
  /**
   * @param layers [{C, cellCount, tokenCount, levels, scales, cells: [{values, count}], tokens: [..]}]:
   *   per layer its channel count, cell and token counts and its vectors as shipped, in order
   *   (cells of every image, then tokens of every image): float16 words (levels 0, scales null)
   *   or 8-bit codes (levels 127 for int8, 255 for uint8) with every vector's scale
   *   ({cells, tokens}: Float32Arrays).
   */
  constructor(layers, { useWorker = true } = {}) {
    this.scales = layers.map((L) => L.scales);
    const shapes = layers.map(shapeOf);
    const A = shapes.map((s) => partShape(s, "A"));
    // arena A also holds the combined results (a part of width 0 is just two result buffers)
    this.arena = new DotArena(partsBytes([...A, ...shapes.map((s) => ({ ...s, C: 0, levels: 0 }))]));
    this.partsA = A.map((s, j) => {
      const part = allocPart(this.arena, s);
      fillLayer(part, layers[j], "A");
      return part;
    });
    this.results = shapes.map((s) => allocPart(this.arena, { ...s, C: 0, levels: 0 }));
    this.partsB = null;
    this.plainB = null; // part B's vectors while a worker is starting (a copy went to it)
    this.worker = null;
    this.pending = null; // the request the worker is computing: {id, queries, done}
    this.nextId = 0;
    this.onChange = null; // called when the worker is ready or has failed (threads and bytes change)
    const bytes = shapes.reduce((sum, s) => sum + (s.levels ? 1 : 2) * s.C * (s.cells + s.tokens), 0);
    if (useWorker && bytes >= WORKER_MIN_BYTES && spareCore() && typeof Worker === "function") {
      this.plainB = plainPartB(layers);
      this.worker = this.startHelper();
    }
    if (this.worker) return;
    if (this.plainB) this.keepB(this.plainB);
    else {
      this.arenaB = new DotArena(partsBytes(shapes.map((s) => partShape(s, "B"))));
      this.partsB = shapes.map((s, j) => {
        const part = allocPart(this.arenaB, partShape(s, "B"));
        fillLayer(part, layers[j], "B");
        return part;
      });
    }
    this.plainB = null;
  }

  /** Threads computing a hover: 2 once the worker holds part B, else 1. */
  get threads() {
    return this.worker && !this.plainB ? 2 : 1;
  }

  /** Bytes the hover works on, both threads together (vectors, queries, results, the codes' scales). */
  get bytes() {
    const b = this.partsB ? this.arenaB.used : this.workerBytes || 0;
    const scales = this.scales.reduce((sum, s) => sum + (s ? s.cells.byteLength + s.tokens.byteLength : 0), 0);
    return this.arena.used + b + scales;
  }

  startHelper() {
    const started = startWorker();
    if (!started) return null;
    const { worker, url } = started;
    worker.onmessage = ({ data }) => this.onWorker(data);
    worker.onerror = (ev) => {
      if (ev && ev.preventDefault) ev.preventDefault();
      this.workerFailed();
    };
    worker.postMessage({ type: "init", layers: this.plainB }); // copied: kept until the worker is ready
    this.url = url;
    return worker;
  }

  onWorker(data) {
    if (data.type === "ready") {
      this.workerBytes = data.bytes;
      this.plainB = null;
      URL.revokeObjectURL(this.url);
      if (this.onChange) this.onChange();
    } else if (data.type === "dots" && this.pending && data.id === this.pending.id) {
      const { done, queries } = this.pending;
      this.pending = null;
      data.outs.forEach((o, j) => o && this.combine(j, o, queries[j]));
      done();
    }
  }

  /** Refused or crashed: compute part B here from the copy kept for this, answering what was asked. */
  workerFailed() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    URL.revokeObjectURL(this.url);
    if (!this.plainB) return; // failed after taking the vectors: nothing to fall back on (not seen)
    this.keepB(this.plainB);
    this.plainB = null;
    if (this.onChange) this.onChange();
    if (this.pending) {
      const { queries, done } = this.pending;
      this.pending = null;
      this.request(queries, done);
    }
  }

  keepB(plain) {
    this.arenaB = new DotArena(partsBytes(plain));
    this.partsB = plain.map((L) => {
      const part = allocPart(this.arenaB, L);
      part.cells.set(new part.cells.constructor(L.cellBytes));
      part.tokens.set(new part.tokens.constructor(L.tokenBytes));
      return part;
    });
  }

  /** Layer j's similarities to query q: part A's and part B's (`b`) dot products added (and scaled, for codes). */
  combine(j, b, q) {
    const a = this.partsA[j];
    const s = this.scales[j];
    const sq = s ? s[q.source][q.index] : 1;
    const result = this.results[j];
    result.range = addParts(result.out, a.out, b.out, s && s.cells, sq);
    addParts(result.tokenOut, a.tokenOut, b.tokenOut, s && s.tokens, sq);
  }

  /**
   * Similarities of each layer j to queries[j] ({source: "cells" | "tokens", index} or null:
   * layer not computed) into results[j].out / .tokenOut, with results[j].range the cells' [min,
   * max]. Returns true when they are there now;
   * false when the worker has part B: done() is called when it answers (unless a newer request
   * came first, whose done() is called instead).
   */
  request(queries, done) {
    queries.forEach((q, j) => q && partDots(this.arena, this.partsA[j], q));
    if (this.partsB) {
      queries.forEach((q, j) => q && (partDots(this.arenaB, this.partsB[j], q), this.combine(j, this.partsB[j], q)));
      return true;
    }
    const id = ++this.nextId;
    this.pending = { id, queries, done };
    this.worker.postMessage({ type: "dots", id, queries });
    return false;
  }

  dispose() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.pending = null;
  }
}
