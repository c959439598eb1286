// Raster versus next-scale decoding on the same 16×16 token grid with the same reference model family
// (count-based models learned from the same procedural token images), with top-k and top-p on, on every
// backend; then per-token decode cost with a static cache versus no cache (the selected backend only).
//
//   npm run build && node bench/ar-decoding.mjs              (cpu, webgpu, onnx: whichever start here)
//   TESSERA_BENCH_ONLY=webgpu REPS=5 node bench/ar-decoding.mjs
//   TESSERA_BACKEND=webgpu node bench/ar-decoding.mjs        (backend of the per-token section)
//
// Two vocabularies: the models' own 6 tokens (selection rows of 6, a thread per row on WebGPU) and 1,024
// (each model's logits replicated along the vocabulary by a gather, token t read back as t mod 6: the
// same distribution over rows of 1,024, a workgroup per row on WebGPU). Raster and next-scale runs are
// interleaved (raster, next-scale, raster, …) after one warm-up pair; the table gives min and median.

import { nextScaleDecode, rasterDecode } from '@tessera/autoregressive';
import { currentBackend } from '@tessera/core';
import { proceduralTokenGrids, RasterCountModel, ScaleCountModel, VAR_PATCH_NUMS } from '@tessera/reference';
import { failedRow, median, onEachBackend } from './common.mjs';

const batch = Number(process.env.BATCH ?? 8);
const reps = Number(process.env.REPS ?? 3);
const BIG_V = Number(process.env.TESSERA_BENCH_VOCAB ?? 1024);
const data = proceduralTokenGrids({ count: 200, height: 16, width: 16, vocabSize: 6, seed: 1 });
const sampling = { topK: 4, topP: 0.95 };

/**
 * The model seen through a vocabulary of `V` ≥ its own: logits[…, j] = own[…, j mod v] (a gather), tokens
 * read back modulo v. With V = v it is the model itself. Counts sequential model calls in `c.calls`.
 */
function widened(B, model, V) {
  const c = { calls: 0 };
  const v = model.vocabSize;
  const idx =
    V === v
      ? null
      : B.tensor(
          Int32Array.from({ length: V }, (_, j) => j % v),
          [V],
          'int32',
        );
  const wide = (step) => {
    if (!idx) return step;
    const logits = B.gather(step.logits, idx, step.logits.rank - 1);
    step.logits.dispose();
    return { logits, state: step.state };
  };
  const narrow = (t) => (idx ? B.binary('mod', t, v) : t);
  const w = { vocabSize: V };
  for (const k of ['numClasses', 'patchNums']) if (model[k] !== undefined) w[k] = model[k];
  if (model.prefill) {
    w.prefill = (prefix, o) => {
      c.calls++;
      return wide(model.prefill(prefix ? narrow(prefix) : prefix, o));
    };
    w.step = (tok, st) => {
      c.calls++;
      const t = narrow(tok);
      const out = wide(model.step(t, st));
      if (t !== tok) t.dispose();
      return out;
    };
  } else {
    w.begin = (o) => {
      c.calls++;
      return wide(model.begin(o));
    };
    w.next = (k, prev, st) => {
      c.calls++;
      const t = narrow(prev.tokens);
      const out = wide(model.next(k, { tokens: t }, st));
      if (t !== prev.tokens) t.dispose();
      return out;
    };
  }
  for (const k of ['sliceState', 'disposeState']) if (model[k]) w[k] = model[k].bind(model);
  return [w, c, () => idx?.dispose()];
}

async function pair(name, B) {
  const raster = RasterCountModel.fit(data, { backend: B });
  const scale = ScaleCountModel.fit(data, { patchNums: VAR_PATCH_NUMS, backend: B });
  const labels = B.tensor(
    Int32Array.from({ length: batch }, (_, i) => i % 3),
    [batch],
    'int32',
  );
  const rows = [];
  try {
    for (const V of [6, BIG_V]) {
      const [rw, rc, rFree] = widened(B, raster, V);
      const [sw, sc, sFree] = widened(B, scale, V);
      const opts = { batch, cond: { labels }, sampling, backend: B };
      const runRaster = async () => {
        rc.calls = 0;
        const out = await rasterDecode(rw, { ...opts, guidance: { scale: 1.5 }, length: 256, seed: 3 });
        await out.data(); // one readback at the end
        out.dispose();
      };
      const runScale = async () => {
        sc.calls = 0;
        const outs = await nextScaleDecode(sw, {
          ...opts,
          guidance: { scale: 2.5, schedule: 'linear' },
          seed: 3,
        });
        await outs.at(-1).data();
        for (const o of outs) o.dispose();
      };
      const t = { raster: [], scale: [] };
      for (let r = -1; r < reps; r++) {
        for (const [k, f] of [
          ['raster', runRaster],
          ['scale', runScale],
        ]) {
          const t0 = performance.now();
          await f();
          await B.sync();
          if (r >= 0) t[k].push(performance.now() - t0); // r = −1: warm-up
        }
      }
      rFree();
      sFree();
      rows.push({ name, V, calls: [rc.calls, sc.calls], t });
    }
  } finally {
    raster.dispose();
    scale.dispose();
    labels.dispose();
  }
  return rows;
}

console.log(
  `raster vs next-scale decoding, 16×16, batch ${batch} guided (${2 * batch} rows per call), top-k ${sampling.topK} + top-p ${sampling.topP}, ${reps} interleaved pairs`,
);
const results = (await onEachBackend(['cpu', 'webgpu', 'onnx'], pair)).flat();
console.log(
  '\nbackend | vocab | calls     | raster ms min / median | next-scale ms min / median | wall ratio (median) | goal ≤ 0.1',
);
console.log(
  '--------|-------|-----------|------------------------|----------------------------|---------------------|-----------',
);
for (const r of results) {
  if (r.failed) {
    console.log(failedRow(r));
    continue;
  }
  const [rm, rmed] = [Math.min(...r.t.raster), median(r.t.raster)];
  const [sm, smed] = [Math.min(...r.t.scale), median(r.t.scale)];
  const ratio = smed / rmed;
  console.log(
    `${r.name.padEnd(7)} | ${String(r.V).padStart(5)} | ${r.calls[0]} vs ${String(r.calls[1]).padEnd(2)} | ${rm.toFixed(1).padStart(9)} / ${rmed.toFixed(1).padStart(9)} | ${sm.toFixed(1).padStart(11)} / ${smed.toFixed(1).padStart(11)}  | ${ratio.toFixed(3).padStart(19)} | ${ratio <= 0.1 ? 'met' : 'not met'}`,
  );
}

const B = await (async () => {
  if (process.env.TESSERA_BACKEND !== 'webgpu') return currentBackend();
  const m = await import('@tessera/backend-webgpu');
  return m.createWebGPUBackend();
})();
const labels = B.tensor(
  Int32Array.from({ length: batch }, (_, i) => i % 3),
  [batch],
  'int32',
);

// Per-token decode cost with a static pre-allocated cache, a concatenation cache, and no cache (every
// step recomputes all positions so far, like a transformer without a KV cache).
const L = 256;
const buckets = [
  [0, 32],
  [96, 128],
  [224, 256],
];
console.log(`\nper-token decode cost on ${B.name} (ms/token) at sequence positions:`);
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
labels.dispose();
B.destroy?.();
