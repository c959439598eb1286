// Runs every benchmark script in bench/ (each `*.mjs` but this file and common.mjs) in its own Node
// process, one after another, and always exits 0: a bench that fails is reported in the summary, and
// the ones after it still run. `node bench/all.mjs NAME…` runs only the named ones (file names, no .mjs).
// Dawn's two "maxDynamic… artificially reduced" notices (native stderr, once per process that starts
// WebGPU) are filtered out of each bench's stderr.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const skip = new Set(['all.mjs', 'common.mjs']);
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && !skip.has(f) && !f.startsWith('_'))
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.mjs$/, '')))
  .sort();
const DAWN_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced/;

/** Runs one script; stdout passes through, stderr line by line without Dawn's notices. */
function run(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], {
      stdio: ['inherit', 'inherit', 'pipe'],
      env: process.env,
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (!DAWN_NOTICE.test(line)) process.stderr.write(`${line}\n`);
    });
    child.on('close', (status, signal) => resolve({ status, signal }));
  });
}

const results = [];
for (const f of files) {
  console.log(`\n=== bench/${f}`);
  const t0 = performance.now();
  const r = await run(join(here, f));
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  results.push({ f, ok: r.status === 0, code: r.status ?? r.signal, s });
}
console.log('\n=== summary');
for (const { f, ok, code, s } of results)
  console.log(`${ok ? 'ok    ' : 'FAILED'} bench/${f} (${s} s${ok ? '' : `, exit ${code}`})`);
