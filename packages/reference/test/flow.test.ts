import { TesseraError } from '@tessera/core';
import {
  gaussianDenoiser,
  gaussianFlowSolution,
  referenceOdeSolve,
  referenceOdeTrajectory,
} from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends';
import { freshSeed, gaussPosterior, mixturePosterior, normal, randomSpd, rng } from './helpers';

const backends = await testBackends();
const seed = freshSeed();
const ctx = `seed ${seed}`;

/**
 * Classic RK4 in t = log σ on dx/dt = x − D(x, eᵗ), written here independently of the package:
 * the probability-flow ODE dx/dσ = (x − D)/σ (Karras et al. 2022, eq. 3 with σ(t) = t).
 */
function rk4(
  D: (x: number[], s: number) => number[],
  x: number[],
  from: number,
  to: number,
  steps: number,
): number[] {
  const f = (t: number, y: number[]) => {
    const den = D(y, Math.exp(t));
    return y.map((v, i) => v - den[i]!);
  };
  const h = (Math.log(to) - Math.log(from)) / steps;
  let t = Math.log(from);
  let y = x;
  for (let s = 0; s < steps; s++) {
    const k1 = f(t, y);
    const k2 = f(
      t + h / 2,
      y.map((v, i) => v + (h / 2) * k1[i]!),
    );
    const k3 = f(
      t + h / 2,
      y.map((v, i) => v + (h / 2) * k2[i]!),
    );
    const k4 = f(
      t + h,
      y.map((v, i) => v + h * k3[i]!),
    );
    y = y.map((v, i) => v + (h / 6) * (k1[i]! + 2 * k2[i]! + 2 * k3[i]! + k4[i]!));
    t += h;
  }
  return y;
}

describe('exact Gaussian probability flow', () => {
  const u = rng(seed);
  const d = 3;
  const mean = Array.from({ length: d }, () => normal(u));
  const cov = randomSpd(u, d);
  const D = (x: number[], s: number) => gaussPosterior(mean, cov, x, s).m;
  const x = Array.from({ length: d }, () => 5 * normal(u));

  it('matches float64 RK4 on the ODE (σ 10 → 0.05)', () => {
    const expected = rk4(D, x, 10, 0.05, 4000);
    const got = gaussianFlowSolution({ mean, cov }, Float64Array.from(x), 10, 0.05);
    for (let i = 0; i < d; i++) expect(got[i]!, ctx).toBeCloseTo(expected[i]!, 8);
  });

  it('is exact for low-rank and diagonal covariances too, and composes', () => {
    const U = Array.from({ length: d * 2 }, () => normal(u));
    const lowFull = Array.from({ length: d * d }, (_, k) => {
      const i = Math.floor(k / d);
      const j = k % d;
      return U[i * 2]! * U[j * 2]! + U[i * 2 + 1]! * U[j * 2 + 1]! + (i === j ? 0.2 : 0);
    });
    const Dl = (y: number[], s: number) => gaussPosterior(mean, lowFull, y, s).m;
    const expected = rk4(Dl, x, 8, 0.3, 3000);
    const got = gaussianFlowSolution({ mean, lowRank: { U, diag: 0.2 } }, Float64Array.from(x), 8, 0.3);
    for (let i = 0; i < d; i++) expect(got[i]!, ctx).toBeCloseTo(expected[i]!, 8);
    const diag = [0.5, 1.5, 0.1];
    const dd = gaussianFlowSolution({ mean, diag }, Float64Array.from(x), 4, 0);
    // σ → 0 in closed form: each coordinate scales by √(v/(v+σ²))
    for (let i = 0; i < d; i++)
      expect(dd[i]!).toBeCloseTo(mean[i]! + (x[i]! - mean[i]!) * Math.sqrt(diag[i]! / (diag[i]! + 16)), 12);
    const a = gaussianFlowSolution(
      { mean, cov },
      gaussianFlowSolution({ mean, cov }, Float64Array.from(x), 9, 2),
      2,
      0.5,
    );
    const b = gaussianFlowSolution({ mean, cov }, Float64Array.from(x), 9, 0.5);
    for (let i = 0; i < d; i++) expect(a[i]!).toBeCloseTo(b[i]!, 12);
  });

  it.each(backends)('tensor path on %s agrees with the float64 RK4', async (_n, B) => {
    const rows = [x, x.map((v) => -v / 2)];
    const t = B.tensor(rows.flat(), [2, d]);
    const out = gaussianFlowSolution({ mean, cov }, t, 6, 0.2);
    const got = await out.data();
    rows.forEach((r, n) => {
      const e = rk4(D, r, 6, 0.2, 3000);
      for (let i = 0; i < d; i++)
        expect(Math.abs(got[n * d + i]! - e[i]!), ctx).toBeLessThan(1e-4 * Math.max(1, Math.abs(e[i]!)));
    });
    out.dispose();
    // the same map through the Gaussian denoiser's own flow()
    const G = gaussianDenoiser({ mean, cov });
    const viaD = await G.flow(t, 6, 0.2).data();
    for (let i = 0; i < 2 * d; i++) expect(viaD[i]!).toBeCloseTo(got[i]!, 5);
    G.dispose();
    t.dispose();
  });
});

describe('reference ODE solver for mixtures', () => {
  const u = rng(seed + 1);
  const weights = [0.3, 0.7];
  const means = [
    [-1.5, 0.5],
    [1, -0.5],
  ];
  const covs = [
    [0.2, 0.05, 0.05, 0.3],
    [0.5, -0.1, -0.1, 0.1],
  ];
  const D = (x: number[], s: number) => mixturePosterior(weights, means, covs, x, s);

  it('agrees with a fine float64 RK4 written in the test', () => {
    const x = [3 * normal(u), 3 * normal(u)];
    const sigmas = [5, 1, 0.1];
    const traj = referenceOdeTrajectory({ weights, means, covs }, x, sigmas);
    expect(traj.length).toBe(3);
    const mid = rk4(D, x, 5, 1, 4000);
    const end = rk4(D, mid, 1, 0.1, 4000);
    for (let i = 0; i < 2; i++) {
      expect(traj[1]![i]!, ctx).toBeCloseTo(mid[i]!, 7);
      expect(traj[2]![i]!, ctx).toBeCloseTo(end[i]!, 7);
    }
    // any host-side float64 denoiser works too (here the test's own mixture formula)
    const viaFn = referenceOdeSolve((y, s) => Float64Array.from(D(Array.from(y), s)), x, sigmas);
    for (let i = 0; i < 2; i++) expect(viaFn[i]!, ctx).toBeCloseTo(end[i]!, 7);
  });

  it('reaches σ = 0 and integrates several rows, each on its own', () => {
    const x = [2 * normal(u), 2 * normal(u), 2 * normal(u), 2 * normal(u)];
    const out = referenceOdeSolve({ weights, means, covs }, x, [3, 0]);
    // RK4 to a tiny σ, then the limit: D(x, σ) → x as σ → 0 for full-rank components
    for (let r = 0; r < 2; r++) {
      const e = rk4(D, x.slice(2 * r, 2 * r + 2), 3, 1e-6, 6000);
      for (let i = 0; i < 2; i++) expect(out[2 * r + i]!, ctx).toBeCloseTo(e[i]!, 5);
    }
  });

  it('a single full-covariance component reproduces the exact Gaussian flow', () => {
    const d = 3;
    const mean = [0.5, -1, 2];
    const cov = randomSpd(u, d);
    const x = Float64Array.from({ length: d }, () => 4 * normal(u));
    const a = referenceOdeSolve({ weights: [1], means: [mean], covs: [cov] }, x, [7, 0.02]);
    // closed form checked against RK4 above; here the two routes must meet
    const b = gaussianFlowSolution({ mean, cov }, x, 7, 0.02);
    for (let i = 0; i < d; i++) expect(a[i]!).toBeCloseTo(b[i]!, 7);
  });

  it('rejects bad input', () => {
    expect(() => referenceOdeSolve({ weights: [1], means: [[0]], covs: [1] }, [1, 2], [1, 0, 0.5])).toThrow(
      TesseraError,
    );
    expect(() => referenceOdeSolve({ weights: [1], means: [[0, 0]], covs: [1] }, [1, 2, 3], [1, 0])).toThrow(
      /multiple of d = 2/,
    );
    expect(() => gaussianFlowSolution({ mean: [0], diag: 1 }, Float64Array.of(1), -1, 0)).toThrow(
      /sigmaFrom/,
    );
  });
});
