// diffusion-basic: sample handwritten-style digits from the embedded default model with
// DPM-Solver++(2M) in 20 steps on Karras noise levels.
//
//   npm start -w @tessera/example-diffusion-basic              (CPU)
//   npm start -w @tessera/example-diffusion-basic -- webgpu    (WebGPU, if an adapter exists)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { currentBackend } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel, encodePng, imageGrid } from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';

const here = dirname(fileURLToPath(import.meta.url));

/** Samples `count` digits; returns the images as a Float32Array `[count, 1, 16, 16]` in [-1, 1]. */
export async function main({
  backend = currentBackend(),
  steps = 20,
  count = 16,
  seed = 0,
  out = join(here, 'out', 'digits.png'),
} = {}) {
  // 1. The model: a Gaussian mixture fitted to procedural digits, with its exact denoiser D(x, σ) → x₀.
  const model = defaultDigitsModel();
  const denoiser = model.denoiser(backend);

  // 2. Noise levels: Karras et al.'s schedule from σ = 80 down to 0.002, then a final 0.
  const sigmas = [...karrasSigmas(steps, 0.002, 80, 7), 0];

  // 3. Start from pure noise at σ₀ (Philox normals: the same seed gives the same image on any backend).
  const noise = backend.randn([count, 1, 16, 16], { seed });
  const x = backend.lincomb([sigmas[0]], [noise]);
  noise.dispose();

  // 4. Solve the probability-flow ODE. No value is read back to the host until the end.
  const images = await sample('dpmpp_2m', { denoiser, x, sigmas, seed });
  const data = await images.data();
  x.dispose();
  images.dispose();
  denoiser.dispose(); // the model's parameters uploaded to this backend

  // 5. Save a grid.
  const grid = imageGrid(data, [count, 1, 16, 16], { scale: 4 });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, encodePng(grid.pixels, grid.width, grid.height));
  return { data, out, backend: backend.name };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  let backend;
  if (process.argv[2] === 'webgpu') {
    const { createWebGPUBackend } = await import('@tessera/backend-webgpu');
    backend = await createWebGPUBackend();
  }
  const r = await main({ backend });
  console.log(`wrote ${r.out} (dpmpp_2m, 20 steps, ${r.backend})`);
}
