// Deterministic samplers on the exact Gaussian problem: empirical order of convergence against the
// closed-form probability-flow solution, and agreement with float64 re-derivations of k-diffusion.
import { currentBackend, type Tensor } from '@tessera/core';
import { type SampleOptions, type SamplerName, sample } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.js';
import { exactFlow, gaussianProblem, karras, normals, rms, rng } from './gaussian.js';
import { kDpm2, kDpmpp2m, kDpmpp3m, kEuler, kHeun } from './kdiffusion64.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const why = `TEST_SEED=${SEED}`;

function problem(seed: number, d: number) {
  const r = rng(seed);
  const mu = Float64Array.from({ length: d }, () => 2 * r() - 1);
  const s2 = Float64Array.from({ length: d }, () => (0.3 + r()) ** 2);
  return { r, mu, s2 };
}

// [name, options, expected order, label]
const CASES: Array<[SamplerName, Partial<SampleOptions>, number, string]> = [
  ['euler', {}, 1, 'euler'],
  ['ddim', {}, 1, 'ddim (η=0)'],
  ['heun', {}, 2, 'heun'],
  ['dpm_2', {}, 2, 'dpm_2'],
  ['dpmpp_2m', {}, 2, 'dpmpp_2m'],
  ['dpmpp_2m_sde', { eta: 0 }, 2, 'dpmpp_2m_sde η=0 midpoint'],
  ['dpmpp_2m_sde', { eta: 0, solver_type: 'heun' }, 2, 'dpmpp_2m_sde η=0 heun'],
  ['dpmpp_2s_ancestral', { eta: 0 }, 2, 'dpmpp_2s_ancestral η=0'],
  ['dpmpp_sde', { eta: 0 }, 2, 'dpmpp_sde η=0'],
  ['dpm_2_ancestral', { eta: 0 }, 2, 'dpm_2_ancestral η=0'],
  ['deis', { order: 2 }, 2, 'deis order 2'],
  ['lms', { order: 3 }, 3, 'lms order 3'],
  ['deis', {}, 3, 'deis order 3'],
  ['unipc', { order: 2 }, 3, 'unipc-2 bh1 (UniP-2 + UniC: order 3)'],
  ['unipc', { order: 2, variant: 'bh2' }, 3, 'unipc-2 bh2'],
  ['unipc', {}, 4, 'unipc-3 bh1 (UniP-3 + UniC: order 4)'],
  // k-diffusion's DPM-Solver++(3M) is second order on this problem: see kDpmpp3m in kdiffusion64.ts.
  ['dpmpp_3m_sde', { eta: 0 }, 2, 'dpmpp_3m_sde η=0 (k-diffusion formula)'],
];

describe('empirical order of convergence (exact Gaussian PF-ODE, CPU)', () => {
  const B = currentBackend();
  const d = 8;
  const N = 16;
  const smax = 20;
  const smin = 0.05;
  const { r, mu, s2 } = problem(SEED, d);
  const g = gaussianProblem(B, mu, s2);
  const start = normals(r, N * d).map((v, i) => mu[i % d]! + smax * v);
  const ref = exactFlow(start, mu, s2, smax, smin);
  const errorAt = async (name: SamplerName, o: Partial<SampleOptions>, n: number, x: Tensor) => {
    const out = await sample(name, {
      denoiser: g.denoiser,
      x,
      sigmas: karras(n + 1, smin, smax),
      seed: 1,
      ...o,
    });
    const e = rms(await out.data(), ref);
    out.dispose();
    return e;
  };

  it.each(CASES)('%s %j has order ≈ %d', async (name, o, order, label) => {
    const x = B.tensor(Float32Array.from(start), [N, d]);
    // Sequential on purpose: scopes are a global stack, so sampling runs must not interleave.
    const errs: number[] = [];
    for (const n of [10, 20, 40, 80]) errs.push(await errorAt(name, o, n, x));
    const [e10, e20, e40, e80] = errs;
    x.dispose();
    const p = Math.log2(e40! / e80!);
    console.log(
      `${label.padEnd(42)} RMS error  10 steps ${e10!.toExponential(2)}  20 steps ${e20!.toExponential(2)}  ` +
        `order (40→80) ${p.toFixed(2)}`,
    );
    expect(Math.abs(p - order), `${label}: measured order ${p} (${why})`).toBeLessThan(0.3);
  });

  it('the 3M formula with its D2 term doubled is third order (float64, explains dpmpp_3m_sde above)', () => {
    const D = (x: Float64Array, s: number) =>
      x.map((v, i) => mu[i % d]! + (s2[i % d]! / (s2[i % d]! + s * s)) * (v - mu[i % d]!));
    const err = (n: number, k: number) => rms(kDpmpp3m(D, start, karras(n + 1, smin, smax), k), ref);
    const p1 = Math.log2(err(40, 1) / err(80, 1));
    const p2 = Math.log2(err(40, 2) / err(80, 2));
    expect(Math.abs(p1 - 2), why).toBeLessThan(0.3);
    expect(Math.abs(p2 - 3), why).toBeLessThan(0.3);
  });
});

describe('agreement with k-diffusion (float64 re-derivation, 1e-5 relative)', async () => {
  const backends = await testBackends();
  const d = 6;
  const N = 8;
  it.each(backends)(
    '%s: euler, heun, dpm_2, dpmpp_2m and dpmpp_3m_sde(η=0) on Karras sigmas ending in 0',
    async (_, B) => {
      const { r, mu, s2 } = problem(SEED + 1, d);
      const g = gaussianProblem(B, mu, s2);
      const D = (x: Float64Array, s: number) =>
        x.map((v, i) => mu[i % d]! + (s2[i % d]! / (s2[i % d]! + s * s)) * (v - mu[i % d]!));
      const start = Float32Array.from(normals(r, N * d).map((v) => 14.6 * v));
      const x = B.tensor(start, [N, d]);
      for (const steps of [10, 25]) {
        const sigmas = [...karras(steps, 0.0292, 14.6), 0];
        const refs: Array<[SamplerName, Float64Array]> = [
          ['euler', kEuler(D, Float64Array.from(start), sigmas)],
          ['heun', kHeun(D, Float64Array.from(start), sigmas)],
          ['dpm_2', kDpm2(D, Float64Array.from(start), sigmas)],
          ['dpmpp_2m', kDpmpp2m(D, Float64Array.from(start), sigmas)],
        ];
        refs.push(['dpmpp_3m_sde', kDpmpp3m(D, Float64Array.from(start), sigmas)]);
        for (const [name, ref] of refs) {
          const out = await sample(name, { denoiser: g.denoiser, x, sigmas, seed: 0, eta: 0 });
          const got = await out.data();
          out.dispose();
          const rel = rms(got, ref) / rms(ref, new Float64Array(ref.length));
          expect(rel, `${name} ${steps} steps (${why})`).toBeLessThan(1e-5);
        }
      }
      x.dispose();
    },
  );
});
