#!/usr/bin/env node
// Start-up cost of `tessera generate diffusion` on the CPU backend (one image, one step, so nearly all
// of the time is starting: loading the packages and the default digits model), against a bare `node`
// start measured interleaved in the same run. The default model ships as data (@tessera/reference's
// default-model-data.ts); before that, an EM fit at every start took ~1 s here.
//
//   npx turbo run build --filter=@tessera/cli... && node bench/cli-startup.mjs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './common.mjs';

const REPS = Math.max(1, Number(process.env.REPS ?? 5));
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'packages/cli/dist/bin.js');
const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-cli-'));
const args = ['generate', 'diffusion', '--backend', 'cpu', '--steps', '1', '--count', '1'];

function wall(argv) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, { cwd: dir, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

try {
  const t = { node: [], cli: [] };
  wall([bin, ...args, '--out', join(dir, 'warm.png')]); // warm the file cache
  for (let r = 0; r < REPS; r++) {
    t.node.push(wall(['-e', '']));
    t.cli.push(wall([bin, ...args, '--out', join(dir, `o${r}.png`)]));
  }
  const [n, c] = [median(t.node), median(t.cli)];
  console.log(`tessera ${args.join(' ')} (median of ${REPS}, interleaved with a bare node start):`);
  console.log(`  bare node start  ${n.toFixed(0).padStart(6)} ms`);
  console.log(
    `  tessera          ${c.toFixed(0).padStart(6)} ms   (${(c - n).toFixed(0)} ms above node; goal: well under 1 s)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
