// The embedded default model of @tessera/reference, exported to ONNX, sampled with dpmpp_2m through the
// ONNX backend and the denoiser adapter, against the TypeScript model on the CPU backend.
import { createOnnxBackend, onnxDenoiser } from '@tessera/backend-onnx';
import { currentBackend, type Tensor } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel, mixturePosteriorMean64 } from '@tessera/reference';
import { exportGaussianMixtureDenoiser } from '@tessera/reference-onnx';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { maxRelErr } from '../../backend-onnx/test/ref64.ts';
import { tryOnnxBackend } from '../../backend-onnx/test/targets.ts';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 1e9);

/** Karras et al. (2022) eq. 5: σ_i = (σmax^(1/ρ) + i/(n−1)·(σmin^(1/ρ) − σmax^(1/ρ)))^ρ, then 0. */
function karras(n: number, sMin = 0.02, sMax = 20, rho = 7): number[] {
  const a = sMax ** (1 / rho);
  const b = sMin ** (1 / rho);
  return [...Array.from({ length: n }, (_, i) => (a + (i / (n - 1)) * (b - a)) ** rho), 0];
}

/**
 * How far `got` is from the TypeScript model's samples beyond the TypeScript model's own distance from
 * the float64 model: max over i of (|got − ts| − |ts − exact|) / max(1, |ts|). The TypeScript mixture
 * denoiser runs in float32 CPU ops, and on rare trajectories (near-tied component responsibilities at
 * small σ) its samples drift up to ~1e-3 from the float64 model; the ONNX samples should then be as far
 * from it as the float64 model is, not closer or farther.
 */
function beyondTs(got: ArrayLike<number>, ts: ArrayLike<number>, exact: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < ts.length; i++) {
    e = Math.max(
      e,
      (Math.abs(got[i]! - ts[i]!) - Math.abs(ts[i]! - exact[i]!)) / Math.max(1, Math.abs(ts[i]!)),
    );
  }
  return e;
}

async function run(
  B: ReturnType<typeof currentBackend>,
  denoiser: (x: Tensor, s: number) => Tensor | Promise<Tensor>,
  sigmas: number[],
  images = 2,
): Promise<Float32Array> {
  const z = B.randn([images, 1, 16, 16], { seed });
  const x = B.lincomb([sigmas[0]!], [z]);
  const out = await sample('dpmpp_2m', { denoiser, x, sigmas, seed });
  const data = (await out.data()) as Float32Array;
  for (const t of [z, x, out]) t.dispose();
  return data;
}

describe(`default digits model as ONNX (seed ${seed})`, () => {
  const model = defaultDigitsModel();
  const bytes = exportGaussianMixtureDenoiser(model.canonical, {
    sampleShape: [1, 16, 16],
    precision: 'float64',
  });
  const sigmas = karras(20);
  // two references on the CPU backend: the TypeScript model (float32 tensor ops, so ~1e-5 of its own
  // rounding error), and the exact posterior mean in float64 (reference's mixturePosteriorMean64)
  let tsRun: Promise<Float32Array> | undefined;
  let exactRun: Promise<Float32Array> | undefined;
  const ts = () => {
    tsRun ??= run(currentBackend(), model.denoiser(), sigmas);
    return tsRun;
  };
  const exactDenoiser = async (x: Tensor, s: number) =>
    x.backend.tensor(Float32Array.from(mixturePosteriorMean64(model.canonical, await x.data(), s)), x.shape);
  const exact = () => {
    exactRun ??= run(currentBackend(), exactDenoiser, sigmas);
    return exactRun;
  };

  it('onnxruntime-node cpu: dpmpp_2m samples equal the float64 model to 1e-5 (the float32 TypeScript model to 2e-4); one readback', async () => {
    const B = createOnnxBackend({
      ort: ort as never,
      executionProviders: ['cpu'],
      sessionOptions: { intraOpNumThreads: 1 },
    });
    const D = await onnxDenoiser(bytes, {
      backend: B,
      predictionType: 'sample',
      inputNames: { sample: 'x', timestep: 'sigma' },
      outputName: 'x0',
      name: 'default-digits.onnx',
    });
    const before = B.transferStats().readbacks;
    const got = await run(B, D, sigmas);
    expect(B.transferStats().readbacks - before).toBe(1);
    expect(maxRelErr(got, await exact()), `seed ${seed}`).toBeLessThan(1e-5);
    expect(beyondTs(got, await ts(), await exact()), `seed ${seed}`).toBeLessThan(2e-4);
    await D.dispose();
    await B.dispose();
  });

  it('onnxruntime-node webgpu, float64 graph: samples equal the float64 model to 1e-5; one readback, no host outputs', async (ctx) => {
    const B = await tryOnnxBackend('node-webgpu');
    if (!B) return ctx.skip();
    // ONNX Runtime places the graph's double nodes on its CPU provider and moves the data itself; the
    // sampler's tensors stay on the WebGPU provider and the run reads back once, at the end
    const D = await onnxDenoiser(bytes, {
      backend: B,
      predictionType: 'sample',
      inputNames: { sample: 'x', timestep: 'sigma' },
      outputName: 'x0',
    });
    const before = B.transferStats();
    const got = await run(B, D, sigmas);
    const after = B.transferStats();
    expect(after.readbacks - before.readbacks).toBe(1);
    expect(after.hostOutputs - before.hostOutputs, 'run outputs that landed in host memory').toBe(0);
    expect(maxRelErr(got, await exact()), `seed ${seed}`).toBeLessThan(1e-5);
    expect(beyondTs(got, await ts(), await exact()), `seed ${seed}`).toBeLessThan(2e-4);
    await D.dispose();
  });

  it('onnxruntime-node webgpu (float32 graph): samples to 2e-4; outputs stay on the GPU, one readback', async (ctx) => {
    const B = await tryOnnxBackend('node-webgpu');
    if (!B) return ctx.skip();
    // float32 graph: float64 nodes would run on the CPU provider and leave the GPU
    const bytes32 = exportGaussianMixtureDenoiser(model.canonical, { sampleShape: [1, 16, 16] });
    const D = await onnxDenoiser(bytes32, {
      backend: B,
      predictionType: 'sample',
      inputNames: { sample: 'x', timestep: 'sigma' },
      outputName: 'x0',
    });
    const images = 16;
    const before = B.transferStats();
    const got = await run(B, D, sigmas, images);
    const after = B.transferStats();
    expect(after.readbacks - before.readbacks).toBe(1);
    expect(after.hostOutputs - before.hostOutputs, 'run outputs that landed in host memory').toBe(0);
    // float32 log-densities (quadratic forms ~1e4 at small σ) bound the agreement: 4e-6 … 7e-5 measured
    // typically, but a trajectory that passes near-tied component responsibilities amplifies float32
    // rounding: ~2e-3 for one image of seed 743105040, and in the diffusion-onnx example 1.6% of 3,840
    // images were beyond 1e-4 of the TypeScript model (one by 0.12); here 3 of 112 images (7 seeds) were
    // beyond 2e-4. So no bound holds for every image. At least 8 of 16 within 2e-4 fails with
    // probability < 1e-6 at a 7% rate per image (the 95% upper bound on 3/112), while a wrong graph or a
    // dropped step moves every image.
    const ex = await run(currentBackend(), exactDenoiser, sigmas, images);
    const perImage = Array.from({ length: images }, (_, n) =>
      maxRelErr(got.subarray(n * 256, (n + 1) * 256), ex.subarray(n * 256, (n + 1) * 256)),
    );
    const note = `per-image max rel. error vs float64 model ${perImage.map((e) => e.toExponential(1))}, seed ${seed}`;
    console.log(`[onnx webgpu] ${note}`);
    expect(perImage.filter((e) => e < 2e-4).length, note).toBeGreaterThanOrEqual(8);
    await D.dispose();
  });
});
