// wasm-bindgen 0.2.108's `bundler` output re-exports, from mesh_wasm.js, classes that
// mesh_wasm_bg.js declares without `export` (wasm-streams' IntoUnderlying* helpers, private to
// the module): strict ESM linkers (Rollup, Node) then refuse the module with "does not provide
// an export named ...". This drops the names mesh_wasm_bg.js does not export, and fails loudly
// if the generated shape changes.
//
//   node scripts/npm/fix-bundler-exports.mjs <dir with mesh_wasm.js and mesh_wasm_bg.js>
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const entry = join(dir, 'mesh_wasm.js');
const glue = readFileSync(join(dir, 'mesh_wasm_bg.js'), 'utf8');
const text = readFileSync(entry, 'utf8');
const reexport = /export \{([^}]*)\} from "\.\/mesh_wasm_bg\.js";/;
const m = reexport.exec(text);
if (!m) {
  console.error(`${entry}: no re-export from ./mesh_wasm_bg.js found; has wasm-bindgen's output changed?`);
  process.exit(1);
}
const exported = new Set([...glue.matchAll(/^export (?:class|function|const|let|var) ([\w$]+)/gm)].map((x) => x[1]));
const names = m[1].split(',').map((s) => s.trim()).filter(Boolean);
const kept = names.filter((n) => exported.has(n.split(/\s+as\s+/)[0]));
const dropped = names.filter((n) => !kept.includes(n));
if (!kept.includes('MeshNode')) {
  console.error(`${entry}: MeshNode is not exported by mesh_wasm_bg.js`);
  process.exit(1);
}
writeFileSync(entry, text.replace(reexport, `export {\n    ${kept.join(', ')}\n} from "./mesh_wasm_bg.js";`));
if (dropped.length) console.log(`${entry}: dropped re-exports of private classes: ${dropped.join(', ')}`);
