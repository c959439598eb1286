import { createOnnxBackend, GraphBuilder, onnxDenoiser, type PredictionType } from '@tessera/backend-onnx';
import { createCpuBackend } from '@tessera/core';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr, normal, rng } from './ref64.ts';

const seed = Date.now() % 1e9;
const u = rng(seed);
const B = createOnnxBackend({
  ort: ort as never,
  executionProviders: ['cpu'],
  sessionOptions: { intraOpNumThreads: 1 },
});
afterAll(() => B.dispose());

/**
 * A toy "UNet" with diffusers' export names: out_sample = 0.5·sample + 0.01·timestep + mean(encoder_hidden_states)
 * per batch row (timestep int64 or float32, shape [batch]).
 */
function toyUnet(timestepType: 'int64' | 'float', withEhs = true): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('float', ['batch', 2, 3, 3], 'sample');
  const t = g.input(timestepType, ['batch'], 'timestep');
  let out = g.op('Add', [
    g.op('Mul', [x, g.f(0.5)]),
    g.op('Reshape', [g.op('Mul', [g.cast(t, 'float'), g.f(0.01)]), g.i64([-1, 1, 1, 1])]),
  ]);
  if (withEhs) {
    const e = g.input('float', ['batch', 4, 8], 'encoder_hidden_states');
    out = g.op('Add', [
      out,
      g.op('Reshape', [g.op('ReduceMean', [e, g.i64([1, 2])], { keepdims: 0 }), g.i64([-1, 1, 1, 1])]),
    ]);
  }
  g.output(out, 'float', 'out_sample', ['batch', 2, 3, 3]);
  return g.encode('toy_unet');
}

/** diffusers' scaled_linear betas (SD 1.x: 0.00085 … 0.012, 1000 steps) → alphas_cumprod, in float64. */
function alphasCumprod(n = 1000): number[] {
  const a = Math.sqrt(0.00085);
  const b = Math.sqrt(0.012);
  let prod = 1;
  return Array.from({ length: n }, (_, i) => {
    const beta = (a + (i / (n - 1)) * (b - a)) ** 2;
    prod *= 1 - beta;
    return prod;
  });
}

/** k-diffusion DiscreteSchedule.sigma_to_t (k_diffusion/external.py): interpolation in log σ. */
function sigmaToT(sigma: number, sigmas: number[]): number {
  const ls = sigmas.map(Math.log);
  const l = Math.log(sigma);
  let low = 0;
  for (let i = 0; i < ls.length; i++) if (l - ls[i]! >= 0) low = i; // argmax of the cumsum of (dists ≥ 0)
  low = Math.min(low, ls.length - 2);
  const w = Math.min(Math.max((ls[low]! - l) / (ls[low]! - ls[low + 1]!), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

describe(`onnxDenoiser conversions (seed ${seed})`, () => {
  const N = 2;
  const x = Float32Array.from({ length: N * 18 }, () => 3 * normal(u));
  const ehs = Float32Array.from({ length: N * 32 }, () => normal(u));
  const unc = Float32Array.from({ length: N * 32 }, () => normal(u));
  const rowMean = (e: Float32Array, n: number) =>
    e.subarray(n * 32, n * 32 + 32).reduce((a, b) => a + b, 0) / 32;
  const ac = alphasCumprod();
  const sched = ac.map((a) => Math.sqrt((1 - a) / a));
  // the toy model in float64: 0.5·x_in + 0.01·t + mean(e)
  const toy = (xin: number, t: number, e: number) => 0.5 * xin + 0.01 * t + e;

  for (const pt of ['epsilon', 'v_prediction', 'sample'] as PredictionType[]) {
    it(`${pt}, discrete VP schedule, int64 timestep, CFG batching, per-row σ`, async () => {
      const D = await onnxDenoiser(toyUnet('int64'), {
        backend: B,
        predictionType: pt,
        schedule: { alphasCumprod: ac },
        guidanceScale: 3,
      });
      const sig = [0.3 + 5 * u(), 0.1 + u()];
      const got = await (
        await D(B.tensor(x, [N, 2, 3, 3]), sig, {
          encoderHiddenStates: B.tensor(ehs, [N, 4, 8]),
          uncond: B.tensor(unc, [N, 4, 8]),
        })
      ).data();
      const want = Array.from(x, (xi, j) => {
        const n = Math.floor(j / 18);
        const s = sig[n]!;
        const cIn = 1 / Math.sqrt(s * s + 1);
        const t = Math.round(sigmaToT(s, sched));
        const c = toy(xi * cIn, t, rowMean(ehs, n));
        const un = toy(xi * cIn, t, rowMean(unc, n));
        const out = un + 3 * (c - un);
        if (pt === 'epsilon') return xi - s * out;
        if (pt === 'v_prediction') return xi / (s * s + 1) - (s / Math.sqrt(s * s + 1)) * out;
        return out;
      });
      expect(maxRelErr(got, want), `seed ${seed}`).toBeLessThan(1e-5);
      await D.dispose();
    });
  }

  it('per-row σ as a 1-D tensor (read back once) equals the float64 formula; marked perRowSigma', async () => {
    const D = await onnxDenoiser(toyUnet('int64'), {
      backend: B,
      predictionType: 'epsilon',
      schedule: { alphasCumprod: ac },
    });
    expect(D.perRowSigma).toBe(true);
    const sig = [0.3 + 5 * u(), 0.1 + u()];
    const sigT = B.tensor(Float32Array.from(sig), [N]);
    const sig32 = Array.from(Float32Array.from(sig));
    const got = await (await D(B.tensor(x, [N, 2, 3, 3]), sigT, B.tensor(ehs, [N, 4, 8]))).data();
    const want = Array.from(x, (xi, j) => {
      const n = Math.floor(j / 18);
      const s = sig32[n]!;
      const cIn = 1 / Math.sqrt(s * s + 1);
      return xi - s * toy(xi * cIn, Math.round(sigmaToT(s, sched)), rowMean(ehs, n));
    });
    expect(maxRelErr(got, want), `seed ${seed}`).toBeLessThan(1e-5);
    expect(() => D(B.tensor(x, [N, 2, 3, 3]), B.tensor(Float32Array.of(1, 2, 3), [3]))).toThrow(
      /one value per row/,
    );
    sigT.dispose();
    await D.dispose();
  });

  it('flow: t = σ/(1+σ) fed as t·1000 (float), x₀ = x/(1+σ) − t·v; ehs broadcast from one row', async () => {
    const D = await onnxDenoiser(toyUnet('float'), { backend: B, predictionType: 'flow' });
    const s = 0.2 + 3 * u();
    const got = await (
      await D(B.tensor(x, [N, 2, 3, 3]), s, B.tensor(ehs.subarray(0, 32), [1, 4, 8]))
    ).data();
    const t = s / (1 + s);
    const want = Array.from(x, (xi) => {
      const xt = xi / (1 + s);
      return xt - t * toy(xt, t * 1000, rowMean(ehs, 0));
    });
    expect(maxRelErr(got, want), `seed ${seed}`).toBeLessThan(1e-5);
    await D.dispose();
  });

  it('x on another backend (CPU) goes over and comes back on that backend', async () => {
    const D = await onnxDenoiser(toyUnet('float', false), {
      backend: B,
      predictionType: 'epsilon',
      timestep: 'sigma',
    });
    const C = createCpuBackend();
    const s = 0.5 + u();
    const out = await D(C.tensor(x, [N, 2, 3, 3]), s);
    expect(out.backend).toBe(C);
    // 'sigma' mode: the model sees x and σ as they are; x₀ = x − σ·ε̂
    const want = Array.from(x, (xi) => xi - s * (0.5 * xi + 0.01 * s));
    expect(maxRelErr(await out.data(), want), `seed ${seed}`).toBeLessThan(1e-5);
    await D.dispose();
  });

  it('a model that takes encoder_hidden_states rejects a call without cond', async () => {
    const D = await onnxDenoiser(toyUnet('float'), {
      backend: B,
      predictionType: 'epsilon',
      timestep: 'sigma',
    });
    expect(() => D(B.tensor(x, [N, 2, 3, 3]), 1)).toThrow(/encoder_hidden_states/);
    await D.dispose();
  });
});
