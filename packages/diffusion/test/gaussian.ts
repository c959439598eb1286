// Test-only exact reference problem, independent of the code under test: data x0 ~ N(μ, diag(s²)).
// The optimal denoiser is E[x0 | x_σ] = μ + s²/(s²+σ²)·(x − μ), and the probability-flow ODE
// dx/dσ = (x − D(x, σ))/σ has the exact solution x(σ) = μ + √((s²+σ²)/(s²+σ₀²))·(x(σ₀) − μ).
import type { Backend, Tensor } from '@tessera/core';

export interface GaussianProblem {
  mu: Float64Array;
  s2: Float64Array;
  /** The exact denoiser on backend B (x: [N, d]). */
  denoiser: (x: Tensor, sigma: number) => Tensor;
  /** The exact consistency function: the ODE solution carried to σ = 0. */
  consistency: (x: Tensor, sigma: number) => Tensor;
  /** Number of denoiser calls so far. */
  calls: { n: number };
}

export { mulberry32 as rng } from '../../../test-utils/random.ts';

/** Standard normals by Box–Muller from `rng`. */
export function normals(r: () => number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
  return out;
}

export function gaussianProblem(B: Backend, mu: Float64Array, s2: Float64Array): GaussianProblem {
  const d = mu.length;
  const muT = B.tensor(Float32Array.from(mu), [d]);
  const calls = { n: 0 };
  const affine = (x: Tensor, k: Float64Array) => {
    const kT = B.tensor(Float32Array.from(k), [d]);
    const diff = B.binary('sub', x, muT);
    const scaled = B.binary('mul', diff, kT);
    const out = B.binary('add', scaled, muT);
    kT.dispose();
    diff.dispose();
    scaled.dispose();
    return out;
  };
  return {
    mu,
    s2,
    calls,
    denoiser: (x, sigma) => {
      calls.n++;
      return affine(
        x,
        s2.map((v) => v / (v + sigma * sigma)),
      );
    },
    consistency: (x, sigma) =>
      affine(
        x,
        s2.map((v) => Math.sqrt(v / (v + sigma * sigma))),
      ),
  };
}

/** Exact ODE solution from (x0 at sigma0) to sigma, per element of rows of length d, in float64. */
export function exactFlow(
  x0: ArrayLike<number>,
  mu: Float64Array,
  s2: Float64Array,
  sigma0: number,
  sigma: number,
): Float64Array {
  const d = mu.length;
  const out = new Float64Array(x0.length);
  for (let i = 0; i < x0.length; i++) {
    const j = i % d;
    out[i] = mu[j]! + Math.sqrt((s2[j]! + sigma * sigma) / (s2[j]! + sigma0 * sigma0)) * (x0[i]! - mu[j]!);
  }
  return out;
}

/** Karras et al. (2022) σ schedule, eq. (5): (σmax^(1/ρ) + i/(n−1)·(σmin^(1/ρ) − σmax^(1/ρ)))^ρ, n values. */
export function karras(n: number, sigmaMin: number, sigmaMax: number, rho = 7): number[] {
  const a = sigmaMax ** (1 / rho);
  const b = sigmaMin ** (1 / rho);
  return Array.from({ length: n }, (_, i) => (a + (i / (n - 1)) * (b - a)) ** rho);
}

/** RMS of a − b. */
export function rms(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
}
