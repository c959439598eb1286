#!/usr/bin/env node
// CPU backend kernels against machine baselines, measured side by side (interleaved) in one run:
//   lincomb×3 (16 B/element) against Float32Array.prototype.set (8 B/element) on the same element count,
//     as GB/s; goal ≥ 0.5× (the op allocates its output, as every op does; `set` writes a reused one);
//   matmul against numpy single-thread (OPENBLAS/OMP/MKL_NUM_THREADS=1) on the same shapes, as GFLOP/s,
//     when /usr/bin/python3 has numpy (else the row says so); goal ≥ 0.1×;
//   nearest-code search (@tessera/tokenizers) against the same backend's matmul of the search's shape.
//
//   node bench/cpu-kernels.mjs           (needs a prior build)
//   REPS=7 TESSERA_BENCH_N=4194304 node bench/cpu-kernels.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createCpuBackend } from '@tessera/core';
import { NearestCodeSearch } from '@tessera/tokenizers';
import { lcg, median, timed } from './common.mjs';

const REPS = Math.max(1, Number(process.env.REPS ?? 5));
const N = Number(process.env.TESSERA_BENCH_N ?? 4 * 1024 * 1024);
const B = createCpuBackend();

/** Runs the named timers interleaved, REPS times after one warm-up round; returns medians in ms. */
async function interleaved(ops) {
  const t = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
  for (const f of Object.values(ops)) await f();
  for (let r = 0; r < REPS; r++) for (const [k, f] of Object.entries(ops)) t[k].push(await f());
  return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
}

const hostMs = (f) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

// ---- lincomb ----
{
  const xs = [1, 2, 3].map((s) => B.tensor(lcg(N, s), [N]));
  const src = lcg(N, 4);
  const dst = new Float32Array(N);
  const ms = await interleaved({
    lincomb3: () => timed(B, () => B.lincomb([0.5, -1.25, 2], xs)),
    lincomb1: () => timed(B, () => B.lincomb([0.5], [xs[0]])),
    set: () => hostMs(() => dst.set(src)),
  });
  const gb = (bytes, t) => bytes / (t * 1e6);
  const [g3, g1, gs] = [gb(16 * N, ms.lincomb3), gb(8 * N, ms.lincomb1), gb(8 * N, ms.set)];
  console.log(`lincomb over ${N} float32 (median of ${REPS}):`);
  console.log(`  Float32Array.set   ${gs.toFixed(2).padStart(7)} GB/s (${ms.set.toFixed(1)} ms)`);
  console.log(
    `  lincomb×1          ${g1.toFixed(2).padStart(7)} GB/s (${ms.lincomb1.toFixed(1)} ms)  ratio ${(g1 / gs).toFixed(2)}`,
  );
  console.log(
    `  lincomb×3          ${g3.toFixed(2).padStart(7)} GB/s (${ms.lincomb3.toFixed(1)} ms)  ratio ${(g3 / gs).toFixed(2)} (goal ≥ 0.5)`,
  );
  for (const x of xs) x.dispose();
}

// ---- matmul vs numpy ----
const shapes = [
  [256, 256, 256],
  [512, 512, 512],
  [4096, 9, 4096], // the nearest-code search's [N, D+1] × [K, D+1]ᵀ at D = 8
];
function numpyGflops(m, k, n) {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return { why: 'no /usr/bin/python3' };
  const code = `
import time, numpy as np
m,k,n,reps = ${m},${k},${n},${REPS}
rng = np.random.default_rng(0)
a = rng.standard_normal((m,k), dtype=np.float32); b = rng.standard_normal((n,k), dtype=np.float32)
a @ b.T
t = []
for _ in range(reps):
    t0 = time.perf_counter(); a @ b.T; t.append(time.perf_counter() - t0)
print(2*m*k*n / sorted(t)[len(t)//2] / 1e9)
`;
  const one = { OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const r = spawnSync(py, ['-c', code], { env: { ...process.env, ...one }, encoding: 'utf8' });
  if (r.status !== 0) return { why: `numpy unavailable (${(r.stderr || '').trim().split('\n').at(-1)})` };
  return { gflops: Number(r.stdout.trim()) };
}
console.log('\nmatmul a·bᵀ, float32 (ours accumulates in float64), median of', REPS);
for (const [m, k, n] of shapes) {
  const a = B.tensor(lcg(m * k, 5), [m, k]);
  const b = B.tensor(lcg(n * k, 6), [n, k]);
  const ms = (await interleaved({ mm: () => timed(B, () => B.matmul(a, b, { transposeB: true })) })).mm;
  const ours = (2 * m * k * n) / (ms * 1e6);
  const np = numpyGflops(m, k, n);
  const cmp = np.gflops
    ? `numpy 1-thread ${np.gflops.toFixed(2)} GFLOP/s, ratio ${(ours / np.gflops).toFixed(3)} (goal ≥ 0.1)`
    : np.why;
  console.log(
    `  [${m}×${k}]·[${n}×${k}]ᵀ  ours ${ours.toFixed(2).padStart(6)} GFLOP/s (${ms.toFixed(1)} ms); ${cmp}`,
  );
  a.dispose();
  b.dispose();
}

// ---- nearest-code search vs the backend's matmul ----
{
  const [K, D, Q] = [4096, 8, 4096];
  const cb = B.tensor(lcg(K * D, 1), [K, D]);
  const z = B.tensor(lcg(Q * D, 2), [Q, D]);
  const za = B.tensor(lcg(Q * (D + 1), 3), [Q, D + 1]);
  const ea = B.tensor(lcg(K * (D + 1), 4), [K, D + 1]);
  const search = new NearestCodeSearch(cb);
  const ms = await interleaved({
    search: () => timed(B, () => search.search(z)),
    matmul: () => timed(B, () => B.matmul(za, ea, { transposeB: true })),
  });
  console.log(
    `\nnearest code of ${Q} vectors in ${K}×${D}: search ${ms.search.toFixed(1)} ms, matmul [${Q}×${D + 1}]·[${K}×${D + 1}]ᵀ ${ms.matmul.toFixed(1)} ms; search ÷ matmul rate ${(ms.matmul / ms.search).toFixed(2)} (goal ≥ 0.8)`,
  );
  search.dispose();
  for (const t of [cb, z, za, ea]) t.dispose();
}
