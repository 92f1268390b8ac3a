// List the functions of the front-end sources longer than a limit (default 80 lines), one
// "file:line name length" per line, longest first. `node tools/long_functions.mjs [limit]`;
// tests/test_architecture.py runs it. A function's length counts its own lines, nested
// functions included (a 60-line function holding a 30-line one is 60 long, not 90).
import * as acorn from "acorn";
import * as walk from "acorn-walk";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const limit = Number(process.argv[2] ?? 80);

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const full = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === "node_modules" || d.name === "tools" ? [] : sources(full);
    return d.name.endsWith(".js") || d.name.endsWith(".mjs") ? [full] : [];
  });
}

const found = [];
for (const file of sources(root)) {
  const ast = acorn.parse(fs.readFileSync(file, "utf8"), { ecmaVersion: "latest", sourceType: "module", locations: true });
  const visit = (node, name) => {
    const lines = node.loc.end.line - node.loc.start.line + 1;
    if (lines > limit) found.push({ where: `${path.relative(root, file)}:${node.loc.start.line}`, name, lines });
  };
  walk.fullAncestor(ast, (node, _state, ancestors) => {
    if (!/Function/.test(node.type)) return;
    const parent = ancestors[ancestors.length - 2] || {};
    const name = node.id?.name || parent.id?.name || parent.key?.name || "(anonymous)";
    visit(node, name);
  });
}
found.sort((a, b) => b.lines - a.lines);
for (const f of found) console.log(`${f.where} ${f.name} ${f.lines}`);
