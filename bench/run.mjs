#!/usr/bin/env node
// Tessera benchmark: fused lincomb of three float32 tensors versus the same backend's plain copy,
// measured side by side (interleaved) in one run. `npm run bench` builds first, then runs this file.
//
// Environment:
//   TESSERA_BENCH_N     elements per tensor (default 16777216 = 16M floats = 64 MiB)
//   TESSERA_BENCH_REPS  timed repetitions per op (default 5; the median is reported)
//   TESSERA_BENCH_ONLY  comma list of backends to run (cpu,webgpu,onnx)
import { failedRow, lcg, median, onEachBackend, timed } from './common.mjs';

const N = Number(process.env.TESSERA_BENCH_N ?? 16 * 1024 * 1024);
const REPS = Math.max(1, Number(process.env.TESSERA_BENCH_REPS ?? 5));
const COEFS = [0.5, -1.25, 2];

async function bench(name, B, inputs) {
  const xs = inputs.map((a) => B.tensor(a, [N]));
  await B.sync();
  const ops = {
    // the same kernel path with one term: reads N floats, writes N floats
    copyKernel: { bytes: 8 * N, run: () => B.lincomb([1], [xs[0]]) },
    // reshape materialises a new tensor with the same data (a memcpy on CPU; a buffer copy on devices)
    copyReshape: { bytes: 8 * N, run: () => B.reshape(xs[0], [N]) },
    // the workload: reads 3N floats, writes N floats
    lincomb3: { bytes: 16 * N, run: () => B.lincomb(COEFS, xs) },
  };
  const times = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
  for (const op of Object.values(ops)) await timed(B, op.run); // warm-up: pipelines, pools, JIT
  for (let r = 0; r < REPS; r++) {
    for (const [k, op] of Object.entries(ops)) times[k].push(await timed(B, op.run)); // interleaved
  }
  // sanity: the fused result is right at a few positions (a benchmark of a wrong kernel is worthless)
  const check = B.lincomb(COEFS, xs);
  const got = await check.data();
  for (const i of [0, 1, N >> 1, N - 1]) {
    const want = COEFS.reduce((s, c, k) => s + c * inputs[k][i], 0);
    if (Math.abs(got[i] - want) > 1e-5 * (1 + Math.abs(want)))
      throw new Error(`${name}: lincomb wrong at ${i}: ${got[i]} vs ${want}`);
  }
  check.dispose();
  for (const x of xs) x.dispose();
  const gbps = (k) => ops[k].bytes / (median(times[k]) * 1e6);
  return {
    name,
    ms: Object.fromEntries(Object.keys(ops).map((k) => [k, median(times[k])])),
    gbps: Object.fromEntries(Object.keys(ops).map((k) => [k, gbps(k)])),
  };
}

const fmt = (x, d = 2) => x.toFixed(d).padStart(8);

async function main() {
  console.log(
    `Tessera bench: lincomb of 3 × ${N} float32 (${((N * 4) / 2 ** 20).toFixed(0)} MiB each), median of ${REPS} reps`,
  );
  console.log(`node ${process.version}, ${new Date().toISOString()}\n`);
  // host inputs shared by every backend: three arrays of uniform values in [-1, 1)
  const inputs = [12345, 23456, 34567].map((seed) => lcg(N, seed));
  const results = await onEachBackend(['cpu', 'webgpu', 'onnx'], (name, B) => bench(name, B, inputs));
  console.log('\nbackend  | copy GB/s (ms)      | lincomb×3 GB/s (ms) | lincomb/copy | reshape GB/s (ms)');
  console.log('---------|--------------------|---------------------|--------------|-------------------');
  for (const r of results) {
    if (r.failed) {
      console.log(failedRow(r));
      continue;
    }
    const g = r.gbps;
    // a reshape far faster than the copy kernel is a view (no data moved): report it as such
    const view = r.ms.copyReshape < 0.05 * r.ms.copyKernel;
    const reshape = view
      ? `view (${r.ms.copyReshape.toFixed(2)} ms)`
      : `${fmt(g.copyReshape)} (${r.ms.copyReshape.toFixed(1)})`;
    console.log(
      `${r.name.padEnd(8)} | ${fmt(g.copyKernel)} (${fmt(r.ms.copyKernel, 1)}) | ${fmt(g.lincomb3)} (${fmt(r.ms.lincomb3, 1)})  | ${fmt(g.lincomb3 / g.copyKernel)}     | ${reshape}`,
    );
  }
  console.log('\ncopy = lincomb([1], [x]): the same kernel path with one input (8 B/element: read + write).');
  console.log(
    'lincomb×3 = 0.5·x₁ − 1.25·x₂ + 2·x₃ (16 B/element: 3 reads + 1 write). GB/s counts bytes moved.',
  );
  console.log(
    "lincomb/copy near 1: the fused op streams at the copy's bandwidth (one pass, no temporaries).",
  );
}

await main();
