// Bundle every widget entry into ../xai_widgets/static/<name>.js as one
// self-contained, minified ES module (what anywidget's `_esm` loads), and its stylesheet
// js/<name>.css (with its @imports) into static/<name>.css (the widget's `_css`).
// To add a widget, add one line to ENTRIES. `node build.mjs similarity path_morph` builds
// only the entries named; `--watch` rebuilds on every change (see CONTRIBUTING.md).
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, "..", "xai_widgets", "static");

const ENTRIES = {
  similarity: "similarity.js",
  transform_sweep: "transform_sweep.js",
  channel_grid: "channel_grid.js",
  path_morph: "path_morph.js",
  attribution: "attribution.js",
  occlusion: "occlusion.js",
  metrics_chart: "metrics_chart.js",
  concept_explorer: "concept_explorer.js",
  inversion: "inversion.js",
  adversarial: "adversarial.js",
  class_bias: "class_bias.js",
  decoder: "decoder.js",
  tensor: "lib/tensor.js", // exports decode/bytesOf; used by browser tests
};

const named = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const unknown = named.filter((n) => !(n in ENTRIES));
if (unknown.length) throw new Error(`unknown entries ${unknown}; known: ${Object.keys(ENTRIES)}`);
const chosen = Object.entries(ENTRIES).filter(([name]) => !named.length || named.includes(name));
const entryPoints = [];
for (const [name, file] of chosen) {
  entryPoints.push({ in: path.join(here, file), out: name });
  const css = path.join(here, file.replace(/\.js$/, ".css"));
  if (fs.existsSync(css)) entryPoints.push({ in: css, out: name });
}
// `import source from "xw-worker-source"`: the hover's Web Worker script (lib/dot_worker_entry.js),
// bundled on its own and inlined as a string, so a widget starts it from a blob: URL and ships
// as one file.
const workerSource = {
  name: "xw-worker-source",
  setup(build) {
    build.onResolve({ filter: /^xw-worker-source$/ }, () => ({ path: "dot_worker_entry", namespace: "xw-worker" }));
    build.onLoad({ filter: /.*/, namespace: "xw-worker" }, async () => {
      const entry = path.join(here, "lib", "dot_worker_entry.js");
      const built = await esbuild.build({
        entryPoints: [entry], bundle: true, format: "iife", minify: true, write: false, target: ["es2020"],
        legalComments: "none",
      });
      return { contents: built.outputFiles[0].text, loader: "text", watchFiles: [entry, path.join(here, "lib", "dot_worker.js"),
        path.join(here, "lib", "dot_parts.js"), path.join(here, "lib", "simdot.js")] };
    });
  },
};

const options = {
  entryPoints,
  plugins: [workerSource],
  outdir,
  bundle: true,
  format: "esm",
  minify: !process.env.XW_NO_MINIFY, // XW_NO_MINIFY=1: readable names in browser profiles
  splitting: false,
  target: ["es2020"],
  legalComments: "none",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
