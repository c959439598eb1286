// Forward process, prediction conversions and model wrappers, against float64 closed forms.
import { currentBackend, type Tensor } from '@tessera/core';
import {
  addNoise,
  convertPrediction,
  discreteDenoiser,
  epsDenoiser,
  flowDenoiser,
  logSigmasFromAlphasCumprod,
  type Prediction,
  sigmaToTimestep,
  timestepToSigma,
  vDenoiser,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { normals, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const why = `TEST_SEED=${SEED}`;
const B = currentBackend();
const r = rng(SEED);

// SD-1.5 training schedule ("scaled_linear", β from 0.00085 to 0.012 over 1000 steps), diffusers
// scheduling_ddpm.py: betas = linspace(√β₀, √β₁, T)²; ᾱ = cumprod(1 − β). Computed here in float64.
const T = 1000;
const alphasCumprod = (() => {
  const out = new Float64Array(T);
  let p = 1;
  for (let i = 0; i < T; i++) {
    const b = (Math.sqrt(0.00085) + (i / (T - 1)) * (Math.sqrt(0.012) - Math.sqrt(0.00085))) ** 2;
    p *= 1 - b;
    out[i] = p;
  }
  return out;
})();
const trainSigma = (i: number) => Math.sqrt((1 - alphasCumprod[i]!) / alphasCumprod[i]!);

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, msg: string) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i]! - want[i]!), `${msg} [${i}]: ${got[i]} vs ${want[i]} (${why})`).toBeLessThan(
      tol * (1 + Math.abs(want[i]!)),
    );
  }
}

const rows = 3;
const cols = 5;
const x0v = Float32Array.from(normals(r, rows * cols));
const epsv = Float32Array.from(normals(r, rows * cols));
const x0 = B.tensor(x0v, [rows, cols]);
const eps = B.tensor(epsv, [rows, cols]);

describe('addNoise', () => {
  it('VE: x0 + σε, with one σ per row', async () => {
    const sig = [0.1 + r(), 3 * r(), 20 * r()];
    const got = await addNoise(x0, eps, { sigma: sig }).data();
    expectClose(
      got,
      Array.from(x0v, (v, i) => v + sig[Math.floor(i / cols)]! * epsv[i]!),
      1e-6,
      'VE',
    );
  });
  it('VP: √ᾱ_t x0 + √(1−ᾱ_t) ε (diffusers add_noise)', async () => {
    const t = Math.floor(r() * T);
    const a = alphasCumprod[t]!;
    const got = await addNoise(x0, eps, { t, alphasCumprod }).data();
    expectClose(
      got,
      Array.from(x0v, (v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * epsv[i]!),
      1e-6,
      `VP t=${t}`,
    );
  });
  it('flow matching: (1−t) x0 + t ε', async () => {
    const t = r();
    const got = await addNoise(x0, eps, { t, flow: true }).data();
    expectClose(
      got,
      Array.from(x0v, (v, i) => (1 - t) * v + t * epsv[i]!),
      1e-6,
      `flow t=${t}`,
    );
  });
  it('rejects bad levels and shapes', () => {
    expect(() => addNoise(x0, eps, { t: 1000, alphasCumprod })).toThrow(/OUT_OF_RANGE|integer in \[0, 999\]/);
    expect(() => addNoise(x0, eps, { t: 1.5, flow: true })).toThrow(/flow time/);
    expect(() => addNoise(x0, eps, { sigma: [1, 2] })).toThrow(/batch of 3/);
    const small = B.fill([2, 2], 1);
    expect(() => addNoise(x0, small, { sigma: 1 })).toThrow(/same shape/);
    small.dispose();
  });
});

describe('convertPrediction', () => {
  const levels = [
    { name: 'VE σ=2.7', level: { sigma: 2.7 }, alpha: 1, sigma: 2.7 },
    {
      name: 'VP t=600',
      level: { t: 600, alphasCumprod },
      alpha: Math.sqrt(alphasCumprod[600]!),
      sigma: Math.sqrt(1 - alphasCumprod[600]!),
    },
    { name: 'flow t=0.35', level: { t: 0.35, flow: true as const }, alpha: 0.65, sigma: 0.35 },
  ];
  it.each(levels)('every pair of x0, eps, v, score, flow at $name', async ({ level, alpha, sigma }) => {
    // Definitions: x = αx0 + σε, v = αε − σx0 (Salimans & Ho 2022), score = −ε/σ, flow = ε − x0.
    const want: Record<Prediction, Float64Array> = {
      x0: Float64Array.from(x0v),
      eps: Float64Array.from(epsv),
      v: Float64Array.from(x0v, (v, i) => alpha * epsv[i]! - sigma * v),
      score: Float64Array.from(epsv, (e) => -e / sigma),
      flow: Float64Array.from(x0v, (v, i) => epsv[i]! - v),
    };
    const x = B.tensor(
      Float32Array.from(x0v, (v, i) => alpha * v + sigma * epsv[i]!),
      [rows, cols],
    );
    const kinds = Object.keys(want) as Prediction[];
    for (const from of kinds) {
      const pred = B.tensor(Float32Array.from(want[from]), [rows, cols]);
      for (const to of kinds) {
        const out = convertPrediction(x, pred, { from, to, level });
        expectClose(await out.data(), want[to], 2e-5, `${from} → ${to}`);
        out.dispose();
      }
      pred.dispose();
    }
    x.dispose();
  });
  it('rejects unknown names', () => {
    expect(() =>
      convertPrediction(x0, eps, { from: 'noise' as Prediction, to: 'x0', level: { sigma: 1 } }),
    ).toThrow(/one of x0, eps, v, score, flow/);
  });
});

describe('σ ↔ t (log-σ interpolation over the training schedule)', () => {
  const ls = logSigmasFromAlphasCumprod(alphasCumprod);
  it('training sigmas map to their indices; geometric midpoints to half indices', () => {
    for (const i of [0, 1, 250, 500, 998, 999]) expect(sigmaToTimestep(trainSigma(i), ls)).toBeCloseTo(i, 9);
    for (const i of [10, 400, 900]) {
      expect(sigmaToTimestep(Math.sqrt(trainSigma(i) * trainSigma(i + 1)), ls)).toBeCloseTo(i + 0.5, 9);
      expect(timestepToSigma(i + 0.5, ls)).toBeCloseTo(Math.sqrt(trainSigma(i) * trainSigma(i + 1)), 9);
    }
    expect(sigmaToTimestep(trainSigma(999) * 2, ls)).toBe(999);
    expect(sigmaToTimestep(trainSigma(0) / 2, ls)).toBe(0);
  });
  it('quantize picks the nearest training σ in log space', () => {
    const s = Math.exp(0.3 * Math.log(trainSigma(300)) + 0.7 * Math.log(trainSigma(301)));
    expect(sigmaToTimestep(s, ls, true)).toBe(301);
    expect(sigmaToTimestep(s, ls, false)).toBeCloseTo(300.7, 9);
  });
  it('round-trips t → σ → t', () => {
    for (let k = 0; k < 20; k++) {
      const t = r() * 999;
      expect(sigmaToTimestep(timestepToSigma(t, ls), ls)).toBeCloseTo(t, 7);
    }
  });
});

describe('model wrappers', () => {
  const e = B.tensor(epsv, [rows, cols]);
  const recorder = () => {
    const seen: { t: number; xin: Float32Array | undefined; xinT?: Tensor } = {
      t: Number.NaN,
      xin: undefined,
    };
    const model = (xin: Tensor, t: number) => {
      seen.t = t;
      seen.xinT = B.lincomb([1], [xin]);
      return B.lincomb([1], [e]);
    };
    return { seen, model };
  };

  it('epsDenoiser: feeds x/√(σ²+1) at t(σ), returns x − σ·ε̂', async () => {
    const { seen, model } = recorder();
    const sigma = trainSigma(500);
    const x = B.tensor(x0v, [rows, cols]);
    const d = await epsDenoiser(model, { alphasCumprod })(x, sigma);
    expect(seen.t).toBeCloseTo(500, 9);
    expectClose(
      await seen.xinT!.data(),
      Array.from(x0v, (v) => v / Math.sqrt(sigma * sigma + 1)),
      1e-6,
      'c_in',
    );
    expectClose(
      await d.data(),
      Array.from(x0v, (v, i) => v - sigma * epsv[i]!),
      1e-5,
      'D',
    );
    const dq = await epsDenoiser(model, { alphasCumprod, quantize: true })(
      x,
      Math.sqrt(trainSigma(40) * trainSigma(41)) * 1.01,
    );
    expect(seen.t).toBe(41);
    for (const t of [d, dq, x, seen.xinT!]) t.dispose();
  });

  it('vDenoiser: x/(σ²+1) − σ/√(σ²+1)·v̂ (k-diffusion CompVisVDenoiser scalings)', async () => {
    const { model } = recorder();
    const sigma = 1.7;
    const x = B.tensor(x0v, [rows, cols]);
    const d = await vDenoiser(model, { alphasCumprod })(x, sigma);
    const want = Array.from(
      x0v,
      (v, i) => v / (sigma * sigma + 1) - (sigma / Math.sqrt(sigma * sigma + 1)) * epsv[i]!,
    );
    expectClose(await d.data(), want, 1e-5, 'D');
    d.dispose();
    x.dispose();
  });

  it('an exact ε-model of Gaussian data wrapped by epsDenoiser is the exact denoiser', async () => {
    const mu = 0.3;
    const s2 = 0.49;
    const ls = logSigmasFromAlphasCumprod(alphasCumprod);
    // ε̂(x_vp, t) = (x − D(x, σ))/σ with σ = σ(t), x = x_vp·√(σ²+1), D(x, σ) = μ + s²/(s²+σ²)(x − μ).
    const model = async (xin: Tensor, t: number) => {
      const s = timestepToSigma(t, ls);
      const xv = await xin.data(); // test-only model: host math is fine here
      return B.tensor(
        Float32Array.from(xv, (v) => {
          const xve = v * Math.sqrt(s * s + 1);
          return (xve - (mu + (s2 / (s2 + s * s)) * (xve - mu))) / s;
        }),
        xin.shape,
      );
    };
    for (const i of [20, 300, 700]) {
      const sigma = trainSigma(i);
      const x = B.tensor(
        Float32Array.from(x0v, (v) => mu + Math.sqrt(s2 + sigma * sigma) * v),
        [rows, cols],
      );
      const d = await discreteDenoiser(model, { alphasCumprod, prediction: 'eps' })(x, sigma);
      const xv = await x.data();
      expectClose(
        await d.data(),
        Array.from(xv, (v) => mu + (s2 / (s2 + sigma * sigma)) * (v - mu)),
        2e-5,
        `σ=${sigma}`,
      );
      d.dispose();
      x.dispose();
    }
  });

  it('flowDenoiser: VE space (t = σ/(1+σ), input /(1+σ)) and flow space (σ is t)', async () => {
    const { seen, model } = recorder();
    const x = B.tensor(x0v, [rows, cols]);
    const sigma = 2.5;
    const t = sigma / (1 + sigma);
    const d = await flowDenoiser(model)(x, sigma);
    expect(seen.t).toBeCloseTo(1000 * t, 9);
    expectClose(
      await seen.xinT!.data(),
      Array.from(x0v, (v) => v / (1 + sigma)),
      1e-6,
      'input scale',
    );
    expectClose(
      await d.data(),
      Array.from(x0v, (v, i) => v / (1 + sigma) - t * epsv[i]!),
      1e-5,
      'D (ve)',
    );
    seen.xinT!.dispose();
    const d2 = await flowDenoiser(model, { space: 'flow', timestepScale: 1 })(x, 0.3);
    expect(seen.t).toBeCloseTo(0.3, 12);
    expectClose(
      await d2.data(),
      Array.from(x0v, (v, i) => v - 0.3 * epsv[i]!),
      1e-5,
      'D (flow)',
    );
    seen.xinT!.dispose();
    await expect(flowDenoiser(model, { space: 'flow' })(x, 2)).rejects.toThrow(/\[0, 1\]/);
    for (const u of [d, d2, x]) u.dispose();
  });
});
