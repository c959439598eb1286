// Runs every benchmark script in bench/ (each `*.mjs` but this file and common.mjs) in its own Node
// process, one after another, and always exits 0: a bench that fails is reported in the summary, and
// the ones after it still run. `node bench/all.mjs NAME…` runs only the named ones (file names, no .mjs).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const skip = new Set(['all.mjs', 'common.mjs']);
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && !skip.has(f) && !f.startsWith('_'))
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.mjs$/, '')))
  .sort();
const results = [];
for (const f of files) {
  console.log(`\n=== bench/${f}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit', env: process.env });
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  results.push({ f, ok: r.status === 0, code: r.status ?? r.signal, s });
}
console.log('\n=== summary');
for (const { f, ok, code, s } of results)
  console.log(`${ok ? 'ok    ' : 'FAILED'} bench/${f} (${s} s${ok ? '' : `, exit ${code}`})`);
