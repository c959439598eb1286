import { TesseraError } from '@tessera/core';
import { betaPpf } from './beta-distribution.js';
import { checkCount, checkNumber, linspace } from './numeric.js';

/**
 * Noise-level (σ) schedules for k-diffusion-style samplers, in float64. Each returns `n` values,
 * descending, without the trailing zero (use {@link appendZero} for k-diffusion's convention).
 * The formulas are k-diffusion's `get_sigmas_*` (sampling.py) and diffusers' `_convert_to_*`; the
 * ramps use numpy's `linspace` in float64 as diffusers does (k-diffusion's torch ramps are float32).
 */

function checkRange(op: string, n: number, sigmaMin: number, sigmaMax: number): void {
  checkCount(op, n, 1, 'n');
  checkNumber(op, sigmaMin, 'sigmaMin', true);
  checkNumber(op, sigmaMax, 'sigmaMax', true);
  if (sigmaMin > sigmaMax) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: sigmaMin ${sigmaMin} must not exceed sigmaMax ${sigmaMax}`,
    );
  }
}

/**
 * Karras et al. (2022) schedule: σᵢ = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ.
 *
 * @example
 * karrasSigmas(10, 0.0292, 14.6146, 7); // 10 values from 14.6146 down to 0.0292
 */
export function karrasSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 7): Float64Array {
  checkRange('karrasSigmas', n, sigmaMin, sigmaMax);
  checkNumber('karrasSigmas', rho, 'rho', true);
  const ramp = linspace(0, 1, n);
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return ramp.map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** Geometric schedule: exp(linspace(log σ_max, log σ_min, n)). */
export function exponentialSigmas(n: number, sigmaMin: number, sigmaMax: number): Float64Array {
  checkRange('exponentialSigmas', n, sigmaMin, sigmaMax);
  return linspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
}

/** Polyexponential schedule: exp(rᵖ·(log σ_max − log σ_min) + log σ_min), r = linspace(1, 0, n), p = ρ. */
export function polyexponentialSigmas(n: number, sigmaMin: number, sigmaMax: number, rho = 1): Float64Array {
  checkRange('polyexponentialSigmas', n, sigmaMin, sigmaMax);
  checkNumber('polyexponentialSigmas', rho, 'rho', true);
  const lmin = Math.log(sigmaMin);
  const lmax = Math.log(sigmaMax);
  return linspace(1, 0, n).map((r) => Math.exp(r ** rho * (lmax - lmin) + lmin));
}

/** Options of {@link vpSigmas} (k-diffusion `get_sigmas_vp` defaults). */
export interface VpOptions {
  /** β_d. Default 19.9. */
  betaD?: number;
  /** β_min. Default 0.1. */
  betaMin?: number;
  /** Smallest time ε_s. Default 1e-3. */
  epsS?: number;
}

/** Continuous VP-SDE schedule: σ(t) = √(exp(β_d t²/2 + β_min t) − 1), t = linspace(1, ε_s, n). */
export function vpSigmas(n: number, opts: VpOptions = {}): Float64Array {
  checkCount('vpSigmas', n, 1, 'n');
  const betaD = opts.betaD ?? 19.9;
  const betaMin = opts.betaMin ?? 0.1;
  const epsS = opts.epsS ?? 1e-3;
  checkNumber('vpSigmas', betaD, 'betaD', true);
  checkNumber('vpSigmas', betaMin, 'betaMin');
  checkNumber('vpSigmas', epsS, 'epsS', true);
  return linspace(1, epsS, n).map((t) => Math.sqrt(Math.expm1((betaD * t * t) / 2 + betaMin * t)));
}

/**
 * Beta-distribution schedule (Lee et al. 2024, "Beta sampling is all you need"; diffusers
 * `_convert_to_beta`): σᵢ = σ_min + ppf(1 − i/(n−1); α, β)·(σ_max − σ_min), with the Beta(α, β)
 * quantile computed here (no scipy). Defaults α = β = 0.6.
 */
export function betaSigmas(
  n: number,
  sigmaMin: number,
  sigmaMax: number,
  alpha = 0.6,
  beta = 0.6,
): Float64Array {
  checkRange('betaSigmas', n, sigmaMin, sigmaMax);
  const ramp = linspace(0, 1, n);
  return ramp.map((r) => sigmaMin + betaPpf(1 - r, alpha, beta) * (sigmaMax - sigmaMin));
}

/**
 * Linearly spaced λ = log σ between the ends of `logSigmas` (DPM-Solver's `use_lu_lambdas`, Lu et al.):
 * returns σ = exp(linspace(λ_max, λ_min, n)) where λ_max/λ_min are the first/last of `lambdas`.
 */
export function luLambdaSigmas(n: number, lambdaMax: number, lambdaMin: number): Float64Array {
  checkCount('luLambdaSigmas', n, 1, 'n');
  return linspace(lambdaMax, lambdaMin, n).map(Math.exp);
}

/**
 * Continuous timestep of σ by linear interpolation in log σ over a table `logSigmas` (ascending,
 * indexed by training timestep), exactly as diffusers' `_sigma_to_t` / k-diffusion's `sigma_to_t`:
 * σ below the table gives 0, above it gives N − 1.
 */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const L = logSigmas.length;
  if (L < 2)
    throw new TesseraError('INVALID_ARGUMENT', `sigmaToT: logSigmas needs at least 2 entries, got ${L}`);
  const ls = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < L; i++) if (ls - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, L - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  let w = (lo - ls) / (lo - hi);
  w = Math.min(Math.max(w, 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/** {@link sigmaToT} over many σ. */
export function sigmasToT(sigmas: ArrayLike<number>, logSigmas: ArrayLike<number>): Float64Array {
  const out = new Float64Array(sigmas.length);
  for (let i = 0; i < sigmas.length; i++) out[i] = sigmaToT(sigmas[i]!, logSigmas);
  return out;
}

/** σ at a continuous timestep t ∈ [0, N−1]: exp of the linear interpolation of `logSigmas` (k-diffusion `t_to_sigma`). */
export function tToSigma(t: number, logSigmas: ArrayLike<number>): number {
  const L = logSigmas.length;
  if (!(t >= 0 && t <= L - 1))
    throw new TesseraError('OUT_OF_RANGE', `tToSigma: t must be in [0, ${L - 1}], got ${t}`);
  const low = Math.floor(t);
  const high = Math.ceil(t);
  const w = t - low;
  return Math.exp((1 - w) * logSigmas[low]! + w * logSigmas[high]!);
}

/** numpy `interp(x, arange(len(table)), table)` for x in [0, len − 1] (diffusers' σ-table lookup). */
export function interpTable(x: number, table: ArrayLike<number>): number {
  const L = table.length;
  if (x <= 0) return table[0]!;
  if (x >= L - 1) return table[L - 1]!;
  const j = Math.floor(x);
  if (x === j) return table[j]!;
  const slope = table[j + 1]! - table[j]!;
  return slope * (x - j) + table[j]!;
}
