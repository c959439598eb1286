// diffusion-onnx: export the default digits model as an ONNX file, load it back with ONNX Runtime for
// Node as a denoiser, sample with DPM-Solver++(2M), and compare with the TypeScript model.
//
//   npm start -w @tessera/example-diffusion-onnx
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createOnnxBackend, onnxDenoiser } from '@tessera/backend-onnx';
import { currentBackend } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel, encodePng, imageGrid } from '@tessera/reference';
import { exportGaussianMixtureDenoiser } from '@tessera/reference-onnx';
import { karrasSigmas } from '@tessera/schedules';
import * as ort from 'onnxruntime-node';

const here = dirname(fileURLToPath(import.meta.url));

/** Draws `count` samples with `denoiser` on `backend`, returning host data. */
async function draw(backend, denoiser, sigmas, count, seed) {
  const noise = backend.randn([count, 1, 16, 16], { seed });
  const x = backend.lincomb([sigmas[0]], [noise]);
  const images = await sample('dpmpp_2m', { denoiser, x, sigmas, seed });
  const data = await images.data(); // the one readback of the run
  for (const t of [noise, x, images]) t.dispose();
  return data;
}

export async function main({ steps = 20, count = 16, seed = 1, dir = join(here, 'out') } = {}) {
  mkdirSync(dir, { recursive: true });
  const model = defaultDigitsModel();

  // 1. Export: inputs x [N, 1, 16, 16] and sigma, output x0 (float64 arithmetic inside the graph).
  const file = join(dir, 'default-digits.onnx');
  writeFileSync(
    file,
    exportGaussianMixtureDenoiser(model.canonical, { sampleShape: [1, 16, 16], precision: 'float64' }),
  );

  // 2. Load it on an ONNX Runtime backend: every op of the sampler runs there too.
  const onnx = createOnnxBackend({ ort, executionProviders: ['cpu'] });
  const denoiser = await onnxDenoiser(file, {
    backend: onnx,
    predictionType: 'sample', // the model predicts x0 directly
    inputNames: { sample: 'x', timestep: 'sigma' },
    outputName: 'x0',
  });

  // 3. Sample with both the ONNX model and the TypeScript model (CPU backend), same seed.
  const sigmas = [...karrasSigmas(steps, 0.002, 80, 7), 0];
  const fromOnnx = await draw(onnx, denoiser, sigmas, count, seed);
  const cpu = currentBackend();
  const tsDenoiser = model.denoiser(cpu);
  const fromTs = await draw(cpu, tsDenoiser, sigmas, count, seed);
  tsDenoiser.dispose();
  let maxDiff = 0;
  for (let i = 0; i < fromTs.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fromOnnx[i] - fromTs[i]));

  const grid = imageGrid(fromOnnx, [count, 1, 16, 16], { scale: 4 });
  const png = join(dir, 'digits-onnx.png');
  writeFileSync(png, encodePng(grid.pixels, grid.width, grid.height));
  await denoiser.dispose();
  await onnx.dispose();
  return { file, png, fromOnnx, fromTs, maxDiff };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await main();
  console.log(`wrote ${r.file} and ${r.png}; max |ONNX − TypeScript| = ${r.maxDiff.toExponential(2)}`);
}
