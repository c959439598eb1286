// inpainting: take a procedural digit, hide its right half, and let the default digits model fill it in.
// At every step the known half is re-noised to the current σ, so the model only invents the hidden half.
//
//   npm start -w @tessera/example-inpainting
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { currentBackend } from '@tessera/core';
import { inpaint } from '@tessera/diffusion';
import { defaultDigitsModel, digitsDataset, encodePng, imageGrid } from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';

const here = dirname(fileURLToPath(import.meta.url));

export async function main({
  backend = currentBackend(),
  count = 6,
  steps = 30,
  seed = 4,
  out = join(here, 'out', 'inpainting.png'),
} = {}) {
  // 1. Some clean digits (values in [-1, 1]) and a mask: 1 = generate (right half), 0 = keep.
  const digits = digitsDataset({ count, size: 16, seed });
  const mask = new Float32Array(256).map((_, i) => (i % 16 >= 8 ? 1 : 0));
  const known = backend.tensor(digits.data, [count, 1, 16, 16]);
  const maskT = backend.tensor(mask, [1, 1, 16, 16]);

  // 2. Start from noise at σ₀ and run an inpainting sampler with the model's exact denoiser.
  const sigmas = [...karrasSigmas(steps, 0.002, 80, 7), 0];
  const noise = backend.randn([count, 1, 16, 16], { seed });
  const x = backend.lincomb([sigmas[0]], [noise]);
  const denoiser = defaultDigitsModel().denoiser(backend);
  const result = await inpaint('euler_ancestral', {
    denoiser,
    x,
    sigmas,
    seed,
    known,
    mask: maskT,
  });
  const filled = await result.data();
  for (const t of [noise, x, result, known, maskT]) t.dispose();
  denoiser.dispose(); // the model's parameters uploaded to this backend

  // 3. Rows of original | masked (hidden half grey) | inpainted.
  const rows = new Float32Array(count * 3 * 256);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < 256; i++) {
      rows[3 * n * 256 + i] = digits.data[n * 256 + i];
      rows[(3 * n + 1) * 256 + i] = mask[i] ? 0 : digits.data[n * 256 + i];
      rows[(3 * n + 2) * 256 + i] = filled[n * 256 + i];
    }
  }
  const grid = imageGrid(rows, [3 * count, 1, 16, 16], { cols: 3, scale: 4 });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height));
  return { original: digits.data, mask, filled, out };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await main();
  console.log(`wrote ${r.out} (original | masked | inpainted)`);
}
