// Bundle every widget entry into ../xai_widgets/static/<name>.js as one
// self-contained, minified ES module (what anywidget's `_esm` loads).
// To add a widget, add one line to ENTRIES. `node build.mjs similarity path_morph` builds
// only the entries named.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
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
  tensor: "lib/tensor.js", // exports decode/bytesOf; used by browser tests
};

const named = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const unknown = named.filter((n) => !(n in ENTRIES));
if (unknown.length) throw new Error(`unknown entries ${unknown}; known: ${Object.keys(ENTRIES)}`);
const options = {
  entryPoints: Object.fromEntries(
    Object.entries(ENTRIES)
      .filter(([name]) => !named.length || named.includes(name))
      .map(([name, file]) => [name, path.join(here, file)]),
  ),
  outdir,
  bundle: true,
  format: "esm",
  minify: true,
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
