// The Gaussian data problem of the scheduler tests: every element x₀ ~ N(μ, s²), for which the exact
// model outputs and the probability-flow ODE solution are closed forms (independent of the code under
// test):
//   VP:  x_t = √ᾱ x₀ + √(1−ᾱ) ε,  E[x₀|x_t] = μ + √ᾱ s²/(ᾱ s² + 1 − ᾱ)·(x_t − √ᾱ μ),  ε̂ = (x_t − √ᾱ x̂₀)/√(1−ᾱ)
//   VE coordinates y = x/√ᾱ, σ² = (1−ᾱ)/ᾱ:  PF-ODE  y(σ) = μ + (y(σ_T) − μ)·√(s² + σ²)/√(s² + σ_T²)
import type { Backend, Tensor } from '@tessera/core';

export const MU = 0.3;
export const S = 0.5;
/** Elements per sample ([1, 4, 32, 32]). */
export const D = 4096;

/** Exact ε-prediction at cumulative alpha ᾱ, as a backend op on x (VP coordinates). */
export function epsModel(x: Tensor, abar: number): Tensor {
  const a = Math.sqrt(abar);
  const k = (a * S * S) / (abar * S * S + 1 - abar);
  const q = Math.sqrt(1 - abar);
  // ε̂ = x(1 − a k)/q − a μ (1 − a k)/q
  return x.backend.binary('add', x.backend.lincomb([(1 - a * k) / q], [x]), (-a * MU * (1 - a * k)) / q);
}

/** y_T ~ N(μ, s² + σ_T²): the exact marginal at σ_T, so the ODE maps it onto N(μ, s²). */
export async function yT(B: Backend, sigmaT: number, seed: number): Promise<Float64Array> {
  const t = B.randn([D], { seed });
  const z = await t.data();
  t.dispose();
  return Float64Array.from(z, (v) => MU + Math.sqrt(S * S + sigmaT * sigmaT) * v);
}

/** The PF-ODE solution at σ from y at σ_T (VE coordinates). */
export const pf = (y: number, sT: number, s: number) =>
  MU + (y - MU) * (Math.sqrt(S * S + s * s) / Math.sqrt(S * S + sT * sT));

/**
 * What a sampler whose last step goes to σ = 0 returns: the PF-ODE solution to its last σ > 0, then the
 * posterior mean μ + s²/(s² + σ²)·(y − μ) there.
 */
export const pfThenDenoise = (y: number, sT: number, sLast: number) =>
  MU + (pf(y, sT, sLast) - MU) * ((S * S) / (S * S + sLast * sLast));

/** Max |got − want| over the elements. */
export async function maxErr(got: Tensor, want: Float64Array): Promise<number> {
  const g = await got.data();
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(g[i]! - want[i]!));
  return e;
}
