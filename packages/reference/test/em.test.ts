import { TesseraError, tensor } from '@tessera/core';
import { digitsDataset, fitGaussianMixture, gaussianMixtureDenoiser } from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { freshSeed, gaussPosterior, normal, rng } from './helpers';

const seed = freshSeed();
const ctx = `seed ${seed}`;

function monotone(ll: number[]): void {
  for (let i = 1; i < ll.length; i++)
    expect(ll[i]!, `${ctx} iteration ${i}: ${ll[i - 1]} → ${ll[i]}`).toBeGreaterThanOrEqual(
      ll[i - 1]! - 1e-9 * Math.abs(ll[i - 1]!),
    );
}

describe('fitGaussianMixture', () => {
  it('never decreases the log-likelihood (diagonal and low-rank) on procedural digits', () => {
    const ds = digitsDataset({ count: 120, size: 8, seed: seed % 1000 });
    const diag = fitGaussianMixture(ds, { components: 4, iterations: 15, seed });
    expect(diag.logLikelihood.length).toBe(16);
    monotone(diag.logLikelihood);
    expect(diag.logLikelihood.at(-1)!).toBeGreaterThan(diag.logLikelihood[0]!);
    const low = fitGaussianMixture(ds, {
      components: 3,
      iterations: 15,
      seed,
      covariance: 'lowrank',
      rank: 3,
    });
    monotone(low.logLikelihood);
    expect(low.covs[0]).toHaveProperty('lowRank');
    expect(low.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('recovers a known two-component diagonal mixture from its samples', () => {
    const u = rng(seed);
    const truth = {
      weights: [0.35, 0.65],
      means: [
        [-3, 1],
        [2, -1.5],
      ],
      vars: [
        [0.5, 1.2],
        [0.8, 0.3],
      ],
    };
    const N = 16000;
    const data = new Float64Array(N * 2);
    for (let n = 0; n < N; n++) {
      const k = u() < truth.weights[0]! ? 0 : 1;
      for (let i = 0; i < 2; i++)
        data[2 * n + i] = truth.means[k]![i]! + Math.sqrt(truth.vars[k]![i]!) * normal(u);
    }
    const fit = fitGaussianMixture({ data, shape: [N, 2] }, { components: 2, iterations: 60, seed });
    monotone(fit.logLikelihood);
    const order = fit.means[0]![0]! < fit.means[1]![0]! ? [0, 1] : [1, 0];
    // Standard errors of the estimates had the labels been known: weight √(w(1 − w)/N), mean √(v/(wN)),
    // relative variance √(2/(wN)). Unknown labels cost little information here (the components overlap
    // in ~1e-4 of the mass), so 1.2× that. 9 distinct checks at 5.3 SE (two-sided 1.2e-7 each): the test
    // fails by chance about once in 10⁶ runs. (At N = 4000 the fixed bounds were 4 SE for the first
    // component's second mean and its variances, about one failure in 5000 runs.)
    const Z = 5.3 * 1.2;
    order.forEach((k, t) => {
      const w = truth.weights[t]!;
      const note = `${ctx} component ${t}`;
      expect(Math.abs(fit.weights[k]! - w), note).toBeLessThan(Z * Math.sqrt((w * (1 - w)) / N));
      for (let i = 0; i < 2; i++) {
        const tv = truth.vars[t]![i]!;
        expect(Math.abs(fit.means[k]![i]! - truth.means[t]![i]!), `${note} mean ${i}`).toBeLessThan(
          Z * Math.sqrt(tv / (w * N)),
        );
        const v = (fit.covs[k] as { diag: Float64Array }).diag[i]!;
        expect(Math.abs(v / tv - 1), `${note} variance ${i}`).toBeLessThan(Z * Math.sqrt(2 / (w * N)));
      }
    });
  });

  it('recovers a low-rank-plus-noise covariance (probabilistic PCA)', () => {
    const u = rng(seed + 7);
    const d = 5;
    const W = Array.from({ length: d * 2 }, () => normal(u));
    const noise = 0.1;
    const N = 12000;
    const data = new Float64Array(N * d);
    for (let n = 0; n < N; n++) {
      const z = [normal(u), normal(u)];
      for (let i = 0; i < d; i++)
        data[n * d + i] = 1 + W[i * 2]! * z[0]! + W[i * 2 + 1]! * z[1]! + Math.sqrt(noise) * normal(u);
    }
    const fit = fitGaussianMixture(
      { data, shape: [N, d] },
      { components: 1, iterations: 200, seed, covariance: 'lowrank', rank: 2 },
    );
    monotone(fit.logLikelihood);
    const { U, diag } = (fit.covs[0] as { lowRank: { U: Float64Array; diag: number } }).lowRank;
    expect(Math.abs(diag / noise - 1), ctx).toBeLessThan(0.1);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const est = U[i * 2]! * U[j * 2]! + U[i * 2 + 1]! * U[j * 2 + 1]! + (i === j ? diag : 0);
        const tru = W[i * 2]! * W[j * 2]! + W[i * 2 + 1]! * W[j * 2 + 1]! + (i === j ? noise : 0);
        const scale = Math.sqrt(
          (W[i * 2]! ** 2 + W[i * 2 + 1]! ** 2 + noise) * (W[j * 2]! ** 2 + W[j * 2 + 1]! ** 2 + noise),
        );
        // a sample covariance entry has SE √((ΣᵢᵢΣⱼⱼ + Σᵢⱼ²)/N) ≤ scale·√(2/N), and the MLE of the (true)
        // low-rank model does no worse; 15 distinct entries at 5.3 SE fail by chance about once in 10⁶
        // runs (0.08 at N = 6000 was 4.4 SE, about one failure in 10⁴ runs)
        expect(Math.abs(est - tru) / scale, `${ctx} (${i},${j})`).toBeLessThan(5.3 * Math.sqrt(2 / N));
      }
    }
  });

  it('recovers a low-rank-plus-general-diagonal covariance (factor analysis) and feeds the denoiser', async () => {
    const u = rng(seed + 11);
    const d = 4;
    // rank 1, every loading at least 0.5 in size: ψᵢ is identified through the other entries
    // (ψᵢ = Σᵢᵢ − ΣᵢⱼΣᵢₖ/Σⱼₖ), so loadings near 0 leave it undetermined; with W = (0.85, 0.10, −0.06,
    // −0.13) ψ₀ came out 12% off (seed 698319585)
    const W = Array.from({ length: d }, () => {
      const z = normal(u);
      return Math.sign(z) * (0.5 + Math.abs(z) / 2);
    });
    const psi = [0.05, 0.2, 0.5, 0.1];
    const N = 12000;
    const data = new Float64Array(N * d);
    for (let n = 0; n < N; n++) {
      const z = normal(u);
      for (let i = 0; i < d; i++) data[n * d + i] = W[i]! * z + Math.sqrt(psi[i]!) * normal(u);
    }
    const fit = fitGaussianMixture(
      { data, shape: [N, d] },
      { components: 1, iterations: 300, seed, covariance: 'factor', rank: 1 },
    );
    monotone(fit.logLikelihood);
    const { U, diag } = (fit.covs[0] as { lowRank: { U: Float64Array; diag: Float64Array } }).lowRank;
    for (let i = 0; i < d; i++) {
      // ψᵢ is only determined up to the sampling error of the total variance Wᵢ² + ψᵢ; measured over 20
      // seeds its error is ~0.6·√(2/N) relative, so 0.06 (4.6·√(2/N) at N = 12000) is ~7 SE
      expect(Math.abs(diag[i]! - psi[i]!) / (W[i]! ** 2 + psi[i]!), `${ctx} ψ${i}`).toBeLessThan(0.06);
      for (let j = 0; j < d; j++) {
        const est = U[i]! * U[j]! + (i === j ? diag[i]! : 0);
        const tru = W[i]! * W[j]! + (i === j ? psi[i]! : 0);
        const scale = Math.sqrt((W[i]! ** 2 + psi[i]!) * (W[j]! ** 2 + psi[j]!));
        // as in the PPCA test: 5.3 standard errors of a covariance entry (10 distinct entries)
        expect(Math.abs(est - tru) / scale, `${ctx} (${i},${j})`).toBeLessThan(5.3 * Math.sqrt(2 / N));
      }
    }
    // the fitted spec plugs into the exact denoiser (full eigen form of UUᵀ + diag ψ)
    const D = gaussianMixtureDenoiser(fit);
    const x = [1, -2, 0.5, 3];
    const out = await D(tensor(x, [1, d]), 0.7).data();
    const full = Array.from(
      { length: d * d },
      (_, e) => U[Math.floor(e / d)]! * U[e % d]! + (Math.floor(e / d) === e % d ? diag[e % d]! : 0),
    );
    const expected = gaussPosterior(Array.from(fit.means[0]!), full, x, 0.7).m;
    for (let i = 0; i < d; i++) expect(out[i]!).toBeCloseTo(expected[i]!, 4);
    D.dispose();
  });

  it('is deterministic in its seed and rejects bad options', () => {
    const ds = digitsDataset({ count: 40, size: 8, seed: 3 });
    const a = fitGaussianMixture(ds, { components: 3, iterations: 3, seed: 11 });
    const b = fitGaussianMixture(ds, { components: 3, iterations: 3, seed: 11 });
    expect(a.logLikelihood).toEqual(b.logLikelihood);
    expect(() => fitGaussianMixture(ds, { components: 0 })).toThrow(TesseraError);
    expect(() => fitGaussianMixture(ds, { components: 2, covariance: 'full' as 'diag' })).toThrow(
      /'diag', 'lowrank' or 'factor'/,
    );
    expect(() => fitGaussianMixture({ data: [1, 2, 3], shape: [2, 2] }, { components: 1 })).toThrow(
      /does not match shape/,
    );
  });
});
