// The trained networks end to end: DDIM-50 class-conditional samples drawn through @tessera/diffusion
// (not the Python sampler) are classified as their class by the trained classifier.
import { createCpuBackend, type Tensor } from '@tessera/core';
import { DDIMScheduler } from '@tessera/diffusion';
import {
  digitsDdimSigmas,
  loadDigitClassifier,
  loadDigitsUNet,
  sampleDigits,
  UNET_DIGITS16_SCHEDULER_CONFIG,
} from '@tessera/models';
import { digitsDataset } from '@tessera/reference';
import { afterAll, describe, expect, it } from 'vitest';
import { tryWebGPU } from '../../../test-utils/backends';
import { freshSeed, onnxBackend, relErr } from './helpers.ts';

const seed = freshSeed();
const B = onnxBackend();
afterAll(() => B.dispose());

/** Guidance scale and batch of the accuracy check (see models/README.md for the measured rates). */
const GUIDANCE = 2;
const PER_CLASS = 4;

describe('classifier on fresh procedural digits', () => {
  it('classifies held-out digits from the TypeScript generator at ≥ 98%', async () => {
    const C = await loadDigitClassifier({ backend: B });
    const d = digitsDataset({ count: 400, size: 16, seed: seed + 7 }); // training used seed 1, held-out 2
    const x = B.tensor(d.data, d.shape);
    const pred = await C.predict(x);
    let ok = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === d.labels[i]) ok++;
    expect(ok / pred.length, `data seed ${seed + 7}`).toBeGreaterThanOrEqual(0.98);
    x.dispose();
    await C.dispose();
  });
});

describe('DDIM-50 class-conditional digits', () => {
  it(`are classified as their class at ≥ 90% (${PER_CLASS} per digit, guidance ${GUIDANCE}); no tensor leaks`, async () => {
    const D = await loadDigitsUNet({ backend: B });
    const C = await loadDigitClassifier({ backend: B });
    const classes = Array.from({ length: 10 * PER_CLASS }, (_, i) => i % 10);
    const before = B.memory().tensors;
    const images = await sampleDigits({ denoiser: D, classes, seed, guidanceScale: GUIDANCE });
    const pred = await C.predict(images);
    const v = await images.data();
    images.dispose();
    let ok = 0;
    for (let i = 0; i < classes.length; i++) if (pred[i] === classes[i]) ok++;
    const acc = ok / classes.length;
    console.log(`DDIM-50 samples classified as their class: ${(100 * acc).toFixed(1)}% (seed ${seed})`);
    expect(
      acc,
      `asked ${classes.join('')}, got ${Array.from(pred).join('')}, seed ${seed}`,
    ).toBeGreaterThanOrEqual(0.9);
    // images look like the data: mostly background (−1) with some ink, values near [-1, 1]
    let lo = 0;
    for (const p of v) if (p < -0.5) lo++;
    expect(lo / v.length).toBeGreaterThan(0.5);
    expect(Math.max(...v)).toBeGreaterThan(0.5);
    expect(B.memory().tensors).toBe(before);
    await D.dispose();
    await C.dispose();
  });

  it("equals diffusers' DDIMScheduler loop on the raw network, and the same run on CPU tensors", async () => {
    const D = await loadDigitsUNet({ backend: B });
    const classes = [seed % 10, (seed + 3) % 10, 10];
    const n = classes.length;
    const steps = 50;
    const k = await sampleDigits({ denoiser: D, classes, seed, steps });
    // diffusers' loop: x_T = √ᾱ_T·(σ_T·z) (the VP image of k-diffusion's start), ε from the raw model
    const sigmas = digitsDdimSigmas(steps);
    const s0 = sigmas[0]!;
    const z = B.randn([n, 1, 16, 16], { seed });
    let x: Tensor = B.lincomb([s0 / Math.sqrt(1 + s0 * s0)], [z]);
    z.dispose();
    const sched = DDIMScheduler.fromConfig(
      UNET_DIGITS16_SCHEDULER_CONFIG as unknown as Record<string, unknown>,
    );
    sched.setTimesteps(steps);
    for (const t of sched.timesteps) {
      const { out_sample: eps } = await D.model.run({
        sample: x,
        timestep: B.tensor(new Float32Array(n).fill(t), [n]),
        class_labels: B.tensor(Int32Array.from(classes), [n], 'int32'),
      });
      const out = sched.step(eps!, t, x);
      eps!.dispose();
      out.predOriginalSample?.dispose();
      x.dispose();
      x = out.prevSample;
    }
    const ref = await x.data();
    x.dispose();
    // float32 rounding over 50 steps (and the fractional timestep of float32 σ) stays well below 1e-3
    expect(relErr(await k.data(), ref), `seed ${seed}`).toBeLessThan(1e-3);
    // the same sampling with the sample on the CPU backend (network on ONNX Runtime)
    const cpu = createCpuBackend();
    const kc = await sampleDigits({ denoiser: D, classes, seed, steps, backend: cpu });
    expect(kc.backend).toBe(cpu);
    expect(relErr(await kc.data(), await k.data()), `seed ${seed}`).toBeLessThan(1e-3);
    kc.dispose();
    k.dispose();
    await D.dispose();
  });

  it('runs with the sample on WebGPU (network on ONNX Runtime) and gives the ONNX-backend result', async () => {
    const gpu = await tryWebGPU();
    if (!gpu) return; // tryWebGPU printed why (CI sets TESSERA_REQUIRE_WEBGPU=1, which fails instead)
    const D = await loadDigitsUNet({ backend: B });
    const C = await loadDigitClassifier({ backend: B });
    const classes = [seed % 10, (seed + 5) % 10];
    const before = gpu.memory().tensors;
    const ref = await sampleDigits({ denoiser: D, classes, seed, steps: 20, guidanceScale: GUIDANCE });
    const g = await sampleDigits({
      denoiser: D,
      classes,
      seed,
      steps: 20,
      guidanceScale: GUIDANCE,
      backend: gpu,
    });
    expect(g.backend).toBe(gpu);
    expect(relErr(await g.data(), await ref.data()), `seed ${seed}`).toBeLessThan(1e-3);
    // the classifier takes the WebGPU tensor too and agrees with its ONNX-backend reading
    expect(Array.from(await C.predict(g))).toEqual(Array.from(await C.predict(ref)));
    g.dispose();
    ref.dispose();
    expect(gpu.memory().tensors).toBe(before);
    await D.dispose();
    await C.dispose();
  });
});
