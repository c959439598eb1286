// The pipeline of the page, without the page: digits from the embedded default model, DPM-Solver++(2M)
// on Karras noise levels. Runs on any backend (the page passes WebGPU; the test also runs it on the CPU).
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';

let model;

/** Samples `count` 16×16 digits; returns a Float32Array `[count, 1, 16, 16]` in [-1, 1]. */
export async function sampleDigits(backend, { seed = 0, steps = 20, count = 16 } = {}) {
  model ??= defaultDigitsModel(); // fitted once per page (about a second)
  const sigmas = [...karrasSigmas(steps, 0.002, 80, 7), 0];
  const noise = backend.randn([count, 1, 16, 16], { seed });
  const x = backend.lincomb([sigmas[0]], [noise]);
  noise.dispose();
  // every step stays on the backend; one readback at the end
  const denoiser = model.denoiser(backend);
  const images = await sample('dpmpp_2m', { denoiser, x, sigmas, seed });
  const data = await images.data();
  x.dispose();
  images.dispose();
  denoiser.dispose(); // the model's parameters uploaded to this backend
  return data;
}
