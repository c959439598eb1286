// Raster versus next-scale decoding on the same 16×16 token grid with the same reference model family
// (count-based models learned from the same procedural token images), and per-token decode cost with a
// static cache versus no cache.
//
//   npm run build && node bench/ar-decoding.mjs            (CPU)
//   TESSERA_BACKEND=webgpu node bench/ar-decoding.mjs      (WebGPU, if an adapter exists)
//
// Prints sequential model calls (256 vs 10 for VAR's patch numbers) and wall times measured side by side.

import { nextScaleDecode, rasterDecode } from '@tessera/autoregressive';
import { currentBackend } from '@tessera/core';
import { proceduralTokenGrids, RasterCountModel, ScaleCountModel, VAR_PATCH_NUMS } from '@tessera/reference';
import { median } from './common.mjs';

async function pickBackend() {
  if (process.env.TESSERA_BACKEND !== 'webgpu') return currentBackend();
  const m = await import('@tessera/backend-webgpu');
  return m.createWebGPUBackend();
}

const B = await pickBackend();
const batch = Number(process.env.BATCH ?? 8);
const reps = Number(process.env.REPS ?? 5);
const data = proceduralTokenGrids({ count: 200, height: 16, width: 16, vocabSize: 6, seed: 1 });
const raster = RasterCountModel.fit(data, { backend: B });
const scale = ScaleCountModel.fit(data, { patchNums: VAR_PATCH_NUMS, backend: B });
const labels = B.tensor(
  Int32Array.from({ length: batch }, (_, i) => i % 3),
  [batch],
  'int32',
);

/** Wraps a model so that every call is counted. */
function counted(model, names) {
  const c = { calls: 0 };
  const w = Object.create(null);
  for (const k of ['vocabSize', 'numClasses', 'patchNums']) if (model[k] !== undefined) w[k] = model[k];
  for (const k of ['prefill', 'step', 'begin', 'next', 'sliceState', 'disposeState']) {
    if (typeof model[k] !== 'function') continue;
    w[k] = (...a) => {
      if (names.includes(k)) c.calls++;
      return model[k](...a);
    };
  }
  return [w, c];
}

async function time(fn) {
  await fn(); // warm-up
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    await B.sync();
    t.push(performance.now() - t0);
  }
  return median(t);
}

const [rw, rc] = counted(raster, ['prefill', 'step']);
const [sw, sc] = counted(scale, ['begin', 'next']);
const opts = { batch, cond: { labels }, guidance: { scale: 1.5 }, sampling: { topK: 4 }, backend: B };
const tRaster = await time(async () => {
  rc.calls = 0;
  const out = await rasterDecode(rw, { ...opts, length: 256, seed: 3 });
  await out.data(); // one readback at the end
  out.dispose();
});
const tScale = await time(async () => {
  sc.calls = 0;
  const outs = await nextScaleDecode(sw, { ...opts, guidance: { scale: 2.5, schedule: 'linear' }, seed: 3 });
  await outs.at(-1).data();
  for (const o of outs) o.dispose();
});

console.log(`backend ${B.name}, batch ${batch} (guided: ${2 * batch} rows per call), median of ${reps}`);
console.log(`raster decoding 16×16:      ${rc.calls} sequential model calls, ${tRaster.toFixed(1)} ms`);
console.log(
  `next-scale decoding (${VAR_PATCH_NUMS.join(',')}): ${sc.calls} sequential model calls, ${tScale.toFixed(1)} ms`,
);
console.log(
  `calls ratio raster/next-scale: ${(rc.calls / sc.calls).toFixed(1)}×; wall-time ratio next-scale/raster: ${(tScale / tRaster).toFixed(3)}`,
);

// Per-token decode cost with a static pre-allocated cache, a concatenation cache, and no cache (every
// step recomputes all positions so far, like a transformer without a KV cache).
const L = 256;
const buckets = [
  [0, 32],
  [96, 128],
  [224, 256],
];
console.log('\nper-token decode cost (ms/token) at sequence positions:');
for (const cache of ['static', 'concat', 'none']) {
  const m = RasterCountModel.fit(data, { backend: B, cache });
  const per = buckets.map(() => 0);
  for (let rep = 0; rep < reps; rep++) {
    let { logits, state } = m.prefill(null, { batch, cond: { labels } });
    let tok = B.argmax(logits, -1);
    logits.dispose();
    let t0 = performance.now();
    for (let t = 1; t < L; t++) {
      ({ logits, state } = m.step(tok, state));
      tok.dispose();
      tok = B.argmax(logits, -1);
      logits.dispose();
      const bi = buckets.findIndex(([, b]) => t === b - 1);
      if (bi >= 0) {
        await B.sync();
        per[bi] += (performance.now() - t0) / (buckets[bi][1] - Math.max(1, buckets[bi][0]));
      }
      if (buckets.some(([a]) => t === a - 1) || t === 0) {
        await B.sync();
        t0 = performance.now();
      }
    }
    tok.dispose();
    m.disposeState(state);
  }
  const line = buckets.map(([a, b], i) => `t∈[${a},${b}): ${(per[i] / reps).toFixed(3)}`).join('  ');
  console.log(`${cache.padEnd(7)} ${line}  (last/first ${(per[2] / per[0]).toFixed(2)}×)`);
  m.dispose();
}
raster.dispose();
scale.dispose();
labels.dispose();
B.destroy?.();
