// browser-webgpu: the page. Creates a WebGPU backend from navigator.gpu (falling back to the CPU
// backend when the browser has no WebGPU), samples digits and draws them on a canvas.
import { createWebGPUBackend } from '@tessera/backend-webgpu';
import { currentBackend } from '@tessera/core';
import { imageGrid } from '@tessera/reference';
import { sampleDigits } from './pipeline.mjs';

const where = document.getElementById('where');
const status = document.getElementById('status');
const canvas = document.getElementById('digits');

// Where the steps run, said once and kept: `status` changes with every run, `where` never does, so the
// reason for a CPU fallback stays on the page.
let backend;
let fallback;
try {
  backend = await createWebGPUBackend();
  where.textContent = 'Every step runs on the GPU (WebGPU), with one readback at the end.';
} catch (err) {
  fallback = err instanceof Error ? err.message : String(err);
  backend = currentBackend();
  where.textContent = `No WebGPU here, so every step runs on the CPU backend instead (slower). Reason: ${fallback}`;
  where.className = 'fallback';
}

/** Samples and draws; returns the images and the time taken. */
async function run({ seed = 0, steps = 20, count = 16 } = {}) {
  status.textContent = `sampling ${count} digits, ${steps} steps on ${backend.name}…`;
  const t0 = performance.now();
  const data = await sampleDigits(backend, { seed, steps, count });
  const ms = performance.now() - t0;
  const grid = imageGrid(data, [count, 1, 16, 16], { scale: 4 });
  canvas.width = grid.width;
  canvas.height = grid.height;
  const rgba = new Uint8ClampedArray(grid.width * grid.height * 4);
  for (let i = 0; i < grid.width * grid.height; i++) {
    rgba.fill(grid.pixels[i], 4 * i, 4 * i + 3);
    rgba[4 * i + 3] = 255;
  }
  canvas.getContext('2d').putImageData(new ImageData(rgba, grid.width, grid.height), 0, 0);
  status.textContent = `${count} digits, dpmpp_2m ${steps} steps on ${backend.name}: ${ms.toFixed(0)} ms (seed ${seed})`;
  return { data: Array.from(data), ms, backend: backend.name };
}

document
  .getElementById('again')
  .addEventListener('click', () => run({ seed: Math.floor(Math.random() * 1e6) }));

/** The page's state for tests: the backend's name and, after a fallback, why WebGPU was not used. */
globalThis.demo = { run, backend: backend.name, fallback };
await run();
globalThis.__ready = true;
