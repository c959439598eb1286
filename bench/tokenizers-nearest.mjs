#!/usr/bin/env node
// Tessera bench: nearest-code search throughput of @tessera/tokenizers (vectors/s) and the same backend's
// bare matmul of the same shapes, measured side by side (interleaved) in one run. Needs a prior build
// (`npx turbo run build --filter=@tessera/tokenizers...` or `npm run build`).
//
// Environment:
//   TESSERA_BENCH_K     codebook size (default 16384, LlamaGen's)
//   TESSERA_BENCH_D     code dimension (default 8, LlamaGen's codebook_embed_dim)
//   TESSERA_BENCH_ROWS  query vectors per search (default 4096 = a 64×64 token grid)
//   TESSERA_BENCH_REPS  timed repetitions (default 3; the median is reported)
//   TESSERA_BENCH_ONLY  comma list of backends (cpu,webgpu)
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@tessera/core';
import { NearestCodeSearch } from '@tessera/tokenizers';

const K = Number(process.env.TESSERA_BENCH_K ?? 16384);
const D = Number(process.env.TESSERA_BENCH_D ?? 8);
const N = Number(process.env.TESSERA_BENCH_ROWS ?? 4096);
const REPS = Math.max(1, Number(process.env.TESSERA_BENCH_REPS ?? 3));
const ONLY = process.env.TESSERA_BENCH_ONLY?.split(',').map((s) => s.trim());

if (!process.env.XDG_RUNTIME_DIR) {
  const dir = join(tmpdir(), `xdg-tessera-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

function lcg(n, seed) {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}

async function backends() {
  const want = (name) => !ONLY || ONLY.includes(name);
  const list = [];
  if (want('cpu')) list.push(['cpu', async () => createCpuBackend()]);
  if (want('webgpu')) {
    list.push([
      'webgpu',
      async () => {
        const m = await import('@tessera/backend-webgpu');
        return m.createWebGPUBackend();
      },
    ]);
  }
  return list;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(B, run) {
  const t0 = performance.now();
  const out = run();
  await B.sync();
  const ms = performance.now() - t0;
  out.dispose();
  return ms;
}

async function bench(name, B, codes, queries) {
  const cb = B.tensor(codes, [K, D]);
  const z = B.tensor(queries, [N, D]);
  const search = new NearestCodeSearch(cb);
  // the search's own matmul: [N, D+1] × [K, D+1]ᵀ (the bias ‖e‖² rides in the extra column)
  const zAug = B.concat([z, B.fill([N, 1], 1)], 1);
  const eAug = B.tensor(lcg(K * (D + 1), 7), [K, D + 1]);
  await B.sync();
  const ops = {
    search: () => search.search(z),
    matmul: () => B.matmul(zAug, eAug, { transposeB: true }),
  };
  const times = { search: [], matmul: [] };
  for (const run of Object.values(ops)) await timed(B, run); // warm-up
  for (let r = 0; r < REPS; r++)
    for (const [k, run] of Object.entries(ops)) times[k].push(await timed(B, run));
  // sanity: a few rows against a float64 brute-force search
  const idx = search.search(z);
  const got = await idx.data();
  for (const i of [0, N >> 1, N - 1]) {
    let best = 0;
    let bd = Number.POSITIVE_INFINITY;
    for (let k = 0; k < K; k++) {
      let d = 0;
      for (let c = 0; c < D; c++) d += (queries[i * D + c] - codes[k * D + c]) ** 2;
      if (d < bd) [bd, best] = [d, k];
    }
    let dg = 0;
    for (let c = 0; c < D; c++) dg += (queries[i * D + c] - codes[got[i] * D + c]) ** 2;
    if (got[i] !== best && dg - bd > 1e-4 * (1 + bd))
      throw new Error(`${name}: row ${i} got ${got[i]}, want ${best}`);
  }
  for (const t of [idx, cb, z, zAug, eAug]) t.dispose();
  search.dispose();
  const ms = { search: median(times.search), matmul: median(times.matmul) };
  const flops = 2 * N * K * (D + 1);
  return {
    name,
    ms,
    vps: N / (ms.search / 1e3),
    gflops: flops / (ms.matmul * 1e6),
    fraction: ms.matmul / ms.search,
  };
}

async function main() {
  console.log(
    `Tessera bench: nearest code of ${N} vectors in a ${K} × ${D} codebook, median of ${REPS} reps`,
  );
  console.log(`node ${process.version}, ${new Date().toISOString()}\n`);
  const codes = lcg(K * D, 1);
  const queries = lcg(N * D, 2);
  const results = [];
  for (const [name, make] of await backends()) {
    let B;
    try {
      B = await make();
    } catch (err) {
      console.log(`[skip] ${name}: ${err?.message ?? err}`);
      continue;
    }
    try {
      results.push(await bench(name, B, codes, queries));
    } catch (err) {
      console.log(`[fail] ${name}: ${err?.stack ?? err}`);
      process.exitCode = 1;
    } finally {
      B.destroy?.();
    }
  }
  console.log('backend | search ms | vectors/s   | matmul ms | matmul GFLOP/s | search ÷ matmul rate');
  console.log('--------|-----------|-------------|-----------|----------------|---------------------');
  for (const r of results) {
    console.log(
      `${r.name.padEnd(7)} | ${r.ms.search.toFixed(1).padStart(9)} | ${r.vps.toExponential(3).padStart(11)} | ${r.ms.matmul.toFixed(1).padStart(9)} | ${r.gflops.toFixed(3).padStart(14)} | ${r.fraction.toFixed(3).padStart(8)}`,
    );
  }
  console.log('\nsearch = NearestCodeSearch.search (blocked [z, 1]·[−2E, ‖E‖²]ᵀ matmul + argmin per block).');
  console.log('matmul = one [N, D+1] × [K, D+1]ᵀ matmul, the FLOPs the search cannot avoid.');
  console.log(
    'search ÷ matmul rate = matmul time / search time: 1 means the argmin and blocking cost nothing.',
  );
}

await main();
