// ar-next-scale: VAR-style next-scale prediction. A count-based model predicts every token of scale k
// (1×1, 2×2, … 16×16) in one call given the coarser scales: 10 sequential model calls instead of 256.
//
//   npm start -w @tessera/example-ar-next-scale
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nextScaleDecode } from '@tessera/autoregressive';
import { currentBackend } from '@tessera/core';
import {
  encodePng,
  imageGrid,
  proceduralTokenGrids,
  ScaleCountModel,
  VAR_PATCH_NUMS,
} from '@tessera/reference';

const here = dirname(fileURLToPath(import.meta.url));
const PALETTE = [
  [-0.8, -0.8, -0.7],
  [0.8, -0.45, -0.5],
  [0.95, 0.5, -0.55],
];

/** Paints a `p×p` token map, upsampled (nearest) to 16×16, as an RGB image in [-1, 1]. */
function paint(map, p, into, at) {
  for (let y = 0; y < 16; y++) {
    for (let x = 0; x < 16; x++) {
      const t = map[Math.floor((y * p) / 16) * p + Math.floor((x * p) / 16)];
      for (let c = 0; c < 3; c++) into[(at * 3 + c) * 256 + y * 16 + x] = PALETTE[t][c];
    }
  }
}

/** Wraps a model so that every call of the methods in `names` (the sequential model evaluations) is counted. */
function counting(model, names, counter) {
  return new Proxy(model, {
    get(target, key) {
      const v = target[key];
      if (typeof v !== 'function') return v;
      if (!names.includes(key)) return v.bind(target);
      return (...args) => {
        counter.calls++;
        return v.apply(target, args);
      };
    },
  });
}

export async function main({
  backend = currentBackend(),
  count = 12,
  seed = 5,
  guidance = 2,
  dir = join(here, 'out'),
} = {}) {
  const data = proceduralTokenGrids({ count: 600, height: 16, width: 16, vocabSize: 3, seed: 11 });
  const model = ScaleCountModel.fit(data, { patchNums: VAR_PATCH_NUMS, backend });
  const counter = { calls: 0 };
  const counted = counting(model, ['begin', 'next'], counter);

  // Classifier-free guidance in one doubled batch, ramped over the scales as in VAR.
  const labels = backend.tensor(
    Int32Array.from({ length: count }, (_, i) => i % 3),
    [count],
    'int32',
  );
  const scales = await nextScaleDecode(counted, {
    batch: count,
    cond: { labels },
    guidance: { scale: guidance, schedule: 'linear' },
    seed,
    backend,
  });
  const maps = [];
  for (const s of scales) {
    maps.push(await s.data());
    s.dispose();
  }
  labels.dispose();

  // The final images, and the first image at every scale (coarse to fine).
  const K = VAR_PATCH_NUMS.length;
  const finals = new Float32Array(count * 768);
  for (let n = 0; n < count; n++) paint(maps[K - 1].subarray(n * 256, (n + 1) * 256), 16, finals, n);
  const strip = new Float32Array(K * 768);
  for (const [k, p] of VAR_PATCH_NUMS.entries()) paint(maps[k].subarray(0, p * p), p, strip, k);
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'ar-next-scale.png'), join(dir, 'ar-next-scale-strip.png')];
  for (const [file, img, n, cols] of [
    [files[0], finals, count, 6],
    [files[1], strip, K, K],
  ]) {
    const grid = imageGrid(img, [n, 3, 16, 16], { scale: 4, cols });
    writeFileSync(file, encodePng(grid.pixels, grid.width, grid.height));
  }
  return { maps, calls: counter.calls, files, vocabSize: model.vocabSize };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await main();
  console.log(`wrote ${r.files.join(' and ')}: ${r.calls} sequential model calls`);
}
