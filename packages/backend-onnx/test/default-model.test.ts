// The embedded default model of @tessera/reference, exported to ONNX, sampled with dpmpp_2m through the
// ONNX backend and the denoiser adapter, against the TypeScript model on the CPU backend.
import { createOnnxBackend, exportGaussianMixtureDenoiser, onnxDenoiser } from '@tessera/backend-onnx';
import { currentBackend, type Tensor } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { maxRelErr } from './ref64.ts';
import { tryOnnxBackend } from './targets.ts';

const seed = Date.now() % 1e9;

/** Karras et al. (2022) eq. 5: σ_i = (σmax^(1/ρ) + i/(n−1)·(σmin^(1/ρ) − σmax^(1/ρ)))^ρ, then 0. */
function karras(n: number, sMin = 0.02, sMax = 20, rho = 7): number[] {
  const a = sMax ** (1 / rho);
  const b = sMin ** (1 / rho);
  return [...Array.from({ length: n }, (_, i) => (a + (i / (n - 1)) * (b - a)) ** rho), 0];
}

async function run(
  B: ReturnType<typeof currentBackend>,
  denoiser: (x: Tensor, s: number) => Tensor | Promise<Tensor>,
  sigmas: number[],
): Promise<Float32Array> {
  const z = B.randn([2, 1, 16, 16], { seed });
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
  let reference: Promise<Float32Array> | undefined;
  const ts = () => {
    reference ??= run(currentBackend(), model.denoiser(), sigmas);
    return reference;
  };

  it('onnxruntime-node cpu: dpmpp_2m samples equal the TypeScript model to 1e-5; one readback', async () => {
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
    expect(maxRelErr(got, await ts()), `seed ${seed}`).toBeLessThan(1e-5);
    await D.dispose();
    await B.dispose();
  });

  it('onnxruntime-node webgpu: same samples; outputs stay on the GPU, one readback', async (ctx) => {
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
    const before = B.transferStats();
    const got = await run(B, D, sigmas);
    const after = B.transferStats();
    expect(after.readbacks - before.readbacks).toBe(1);
    expect(after.hostOutputs - before.hostOutputs, 'run outputs that landed in host memory').toBe(0);
    expect(maxRelErr(got, await ts()), `seed ${seed}`).toBeLessThan(1e-4);
    await D.dispose();
  });
});
