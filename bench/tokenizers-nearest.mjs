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
import { NearestCodeSearch } from '@tessera/tokenizers';
import { failedRow, lcg, median, onEachBackend, timed } from './common.mjs';

const K = Number(process.env.TESSERA_BENCH_K ?? 16384);
const D = Number(process.env.TESSERA_BENCH_D ?? 8);
const N_WANTED = Number(process.env.TESSERA_BENCH_ROWS ?? 4096);
const REPS = Math.max(1, Number(process.env.TESSERA_BENCH_REPS ?? 3));

async function bench(name, B, codes, allQueries) {
  // the bare matmul's [N, K] output must fit one binding of this device: fewer rows where it would not
  const cap = B.device?.limits?.maxStorageBufferBindingSize ?? Number.POSITIVE_INFINITY;
  const N = Math.min(N_WANTED, Math.floor(cap / (4 * K)));
  const queries = allQueries.subarray(0, N * D);
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
    rows: N,
    ms,
    vps: N / (ms.search / 1e3),
    gflops: flops / (ms.matmul * 1e6),
    fraction: ms.matmul / ms.search,
  };
}

async function main() {
  console.log(
    `Tessera bench: nearest code of ${N_WANTED} vectors (fewer where the device binds less) in a ${K} × ${D} codebook, median of ${REPS} reps`,
  );
  console.log(`node ${process.version}, ${new Date().toISOString()}\n`);
  const codes = lcg(K * D, 1);
  const queries = lcg(N_WANTED * D, 2);
  const results = await onEachBackend(['cpu', 'webgpu'], (name, B) => bench(name, B, codes, queries));
  console.log('backend | rows | search ms | vectors/s   | matmul ms | matmul GFLOP/s | search ÷ matmul rate');
  console.log('--------|------|-----------|-------------|-----------|----------------|---------------------');
  for (const r of results) {
    if (r.failed) {
      console.log(failedRow(r));
      continue;
    }
    console.log(
      `${r.name.padEnd(7)} | ${String(r.rows).padStart(4)} | ${r.ms.search.toFixed(1).padStart(9)} | ${r.vps.toExponential(3).padStart(11)} | ${r.ms.matmul.toFixed(1).padStart(9)} | ${r.gflops.toFixed(3).padStart(14)} | ${r.fraction.toFixed(3).padStart(8)}`,
    );
  }
  console.log('\nsearch = NearestCodeSearch.search (blocked [z, 1]·[−2E, ‖E‖²]ᵀ matmul + argmin per block).');
  console.log('matmul = one [N, D+1] × [K, D+1]ᵀ matmul, the FLOPs the search cannot avoid.');
  console.log(
    'search ÷ matmul rate = matmul time / search time: 1 means the argmin and blocking cost nothing.',
  );
}

await main();
