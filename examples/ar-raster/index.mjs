// ar-raster: learn a count-based autoregressive model from procedural token images (rectangles, disks,
// bars), then generate new images token by token in raster order, 256 sequential model calls for 16×16.
//
//   npm start -w @tessera/example-ar-raster
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rasterDecode } from '@tessera/autoregressive';
import { currentBackend } from '@tessera/core';
import { encodePng, imageGrid, proceduralTokenGrids, RasterCountModel } from '@tessera/reference';

const here = dirname(fileURLToPath(import.meta.url));
const PALETTE = [
  [-0.8, -0.8, -0.7],
  [0.8, -0.45, -0.5],
  [0.95, 0.5, -0.55],
]; // background, red, yellow

/** Paints token grids `[n, 16·16]` as RGB images in [-1, 1]. */
export function paint(tokens, n) {
  const rgb = new Float32Array(n * 3 * 256);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < 256; p++)
      for (let c = 0; c < 3; c++) rgb[(b * 3 + c) * 256 + p] = PALETTE[tokens[b * 256 + p]][c];
  return rgb;
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
  seed = 3,
  topK = 0,
  out = join(here, 'out', 'ar-raster.png'),
} = {}) {
  // 1. Training data: 600 token grids of 16×16 with 3 token values and a class label each.
  const data = proceduralTokenGrids({ count: 600, height: 16, width: 16, vocabSize: 3, seed: 11 });

  // 2. The model: next-token counts given the class and the causal neighbours (left, up, up-left, up-right).
  const model = RasterCountModel.fit(data, { backend });
  const counter = { calls: 0 };
  const counted = counting(model, ['prefill', 'step'], counter);

  // 3. Decode: one token per model call in raster order, drawn from Philox with the seed.
  const labels = backend.tensor(
    Int32Array.from({ length: count }, (_, i) => i % 3),
    [count],
    'int32',
  );
  const tokensT = await rasterDecode(counted, {
    batch: count,
    length: 256,
    cond: { labels },
    sampling: { topK },
    seed,
    backend,
  });
  const tokens = await tokensT.data();
  tokensT.dispose();
  labels.dispose();

  const grid = imageGrid(paint(tokens, count), [count, 3, 16, 16], { scale: 4, cols: 6 });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height));
  return { tokens, calls: counter.calls, out, vocabSize: model.vocabSize };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await main();
  console.log(`wrote ${r.out}: ${r.calls} sequential model calls`);
}
