// One step of each supported sampler as data: the σ of its denoiser calls and the coefficients of its
// fused linear combinations, computed on the host exactly as packages/diffusion/src/samplers/basic.ts
// computes them (same expressions, same term order), so a step evaluated here matches the sequential
// sampler bitwise on the CPU backend.
import { check, TesseraError } from '@tessera/core';
import { ancestralStep } from '@tessera/diffusion';

/** Samplers the parallel solvers run (k-diffusion names; each step is a function of x, D, σ, σ', noise). */
export const PARALLEL_SAMPLERS = [
  'euler',
  'euler_ancestral',
  'ddim',
  'ddpm',
  'heun',
  'dpm_2',
  'lcm',
  'dpmpp_2m',
] as const;

/** A sampler name accepted by `paradigms` and `parataa`. */
export type ParallelSamplerName = (typeof PARALLEL_SAMPLERS)[number];

/** Sampler options the parallel solvers honour (k-diffusion names, defaults as in `sample`). */
export interface ParallelSamplerOptions {
  /** Ancestral noise fraction: euler_ancestral (default 1) and ddim (default 0). */
  eta?: number;
  /** Noise multiplier for churn and ancestral/DDPM/LCM noise. Default 1. */
  s_noise?: number;
  /** Churn amount (euler, heun, dpm_2). Default 0. */
  s_churn?: number;
  /** Lowest σ that gets churn. Default 0. */
  s_tmin?: number;
  /** Highest σ that gets churn. Default Infinity. */
  s_tmax?: number;
}

/**
 * A term of a step's final combination: x̂ (x after churn), the denoised estimates, the midpoint, noise,
 * and `prev`: the previous step's denoised estimate (multistep history, part of the fixed point).
 */
export type Term = 'x' | 'den' | 'x2' | 'den2' | 'noise' | 'prev';

/** One step as data. */
export interface StepSpec {
  /** Churn: x̂ = x + churn·z (z = Philox draw 0 of the step); 0 = no churn (x̂ = x). */
  churn: number;
  /** σ̂ of the first denoiser call. */
  sigma1: number;
  /** Second stage: x2 = coefs·[x̂, den], den2 = D(x2, sigma). */
  mid?: { coefs: [number, number]; sigma: number };
  /** The step's result: Σ coef·term, in this order. */
  out: [Term, number][];
  /** Philox draw index of the 'noise' term (1 after a churn draw, else 0). */
  noiseDraw: number;
}

/** Validates the sampler name and returns its step builder. */
export function stepBuilder(
  name: string,
  sigmas: Float64Array,
  o: ParallelSamplerOptions,
): (i: number) => StepSpec {
  if (!(PARALLEL_SAMPLERS as readonly string[]).includes(name)) {
    throw new TesseraError(
      'UNKNOWN_NAME',
      `parallel sampling: unknown sampler '${String(name)}', expected one of ${PARALLEL_SAMPLERS.join(', ')}`,
    );
  }
  const steps = sigmas.length - 1;
  const { s_churn = 0, s_tmin = 0, s_tmax = Number.POSITIVE_INFINITY, s_noise = 1 } = o;
  for (const [k, v] of Object.entries({ s_churn, s_tmin, s_noise, eta: o.eta ?? 0 })) {
    check(
      Number.isFinite(v) && v >= 0,
      'INVALID_ARGUMENT',
      () => `parallel sampling: ${k} must be finite and ≥ 0, got ${v}`,
    );
  }
  const churn = (i: number): { c: number; sh: number } => {
    const s = sigmas[i]!;
    const gamma = s_tmin <= s && s <= s_tmax ? Math.min(s_churn / steps, Math.SQRT2 - 1) : 0;
    if (!(gamma > 0)) return { c: 0, sh: s };
    const sh = s * (gamma + 1);
    return { c: s_noise * Math.sqrt(sh * sh - s * s), sh };
  };
  switch (name as ParallelSamplerName) {
    case 'euler':
      return (i) => {
        const { c, sh } = churn(i);
        const dt = sigmas[i + 1]! - sh;
        return {
          churn: c,
          sigma1: sh,
          out: [
            ['x', 1 + dt / sh],
            ['den', -dt / sh],
          ],
          noiseDraw: 0,
        };
      };
    case 'euler_ancestral':
    case 'ddim': {
      const eta = o.eta ?? (name === 'ddim' ? 0 : 1);
      return (i) => {
        const s = sigmas[i]!;
        const sn = sigmas[i + 1]!;
        const [sd, su] = ancestralStep(s, sn, eta);
        const out: [Term, number][] = [
          ['x', sd / s],
          ['den', 1 - sd / s],
        ];
        if (sn > 0 && su > 0) out.push(['noise', s_noise * su]);
        return { churn: 0, sigma1: s, out, noiseDraw: 0 };
      };
    }
    case 'heun':
      return (i) => {
        const { c, sh } = churn(i);
        const sn = sigmas[i + 1]!;
        const dt = sn - sh;
        if (sn === 0)
          return {
            churn: c,
            sigma1: sh,
            out: [
              ['x', 1 + dt / sh],
              ['den', -dt / sh],
            ],
            noiseDraw: 0,
          };
        const h = dt / 2;
        return {
          churn: c,
          sigma1: sh,
          mid: { coefs: [1 + dt / sh, -dt / sh], sigma: sn },
          out: [
            ['x', 1 + h / sh],
            ['den', -h / sh],
            ['x2', h / sn],
            ['den2', -h / sn],
          ],
          noiseDraw: 0,
        };
      };
    case 'dpm_2':
      return (i) => {
        const { c, sh } = churn(i);
        const sn = sigmas[i + 1]!;
        if (sn === 0)
          return {
            churn: c,
            sigma1: sh,
            out: [
              ['x', 0],
              ['den', 1],
            ],
            noiseDraw: 0,
          };
        const sm = Math.exp(0.5 * (Math.log(sh) + Math.log(sn)));
        const k = (sn - sh) / sm;
        return {
          churn: c,
          sigma1: sh,
          mid: { coefs: [sm / sh, 1 - sm / sh], sigma: sm },
          out: [
            ['x', 1],
            ['x2', k],
            ['den2', -k],
          ],
          noiseDraw: 0,
        };
      };
    case 'ddpm':
      return (i) => {
        const s = sigmas[i]!;
        const sn = sigmas[i + 1]!;
        const ab = 1 / (s * s + 1);
        const abPrev = 1 / (sn * sn + 1);
        const alpha = ab / abPrev;
        const scale = Math.sqrt(1 + sn * sn);
        const kEps = (1 - alpha) / Math.sqrt(1 - ab) / s;
        const cx = (Math.sqrt(ab) - kEps) / Math.sqrt(alpha);
        const cd = kEps / Math.sqrt(alpha);
        if (sn === 0)
          return {
            churn: 0,
            sigma1: s,
            out: [
              ['x', cx],
              ['den', cd],
            ],
            noiseDraw: 0,
          };
        const std = Math.sqrt(((1 - alpha) * (1 - abPrev)) / (1 - ab));
        return {
          churn: 0,
          sigma1: s,
          out: [
            ['x', cx * scale],
            ['den', cd * scale],
            ['noise', s_noise * std * scale],
          ],
          noiseDraw: 0,
        };
      };
    case 'dpmpp_2m':
      return (i) => {
        const s = sigmas[i]!;
        const sn = sigmas[i + 1]!;
        const k = 1 - sn / s; // −expm1(−h)
        if (i === 0 || sn === 0)
          return {
            churn: 0,
            sigma1: s,
            out: [
              ['x', sn / s],
              ['den', k],
            ],
            noiseDraw: 0,
          };
        const r = Math.log(sigmas[i - 1]! / s) / Math.log(s / sn); // h_last / h
        return {
          churn: 0,
          sigma1: s,
          out: [
            ['x', sn / s],
            ['den', k * (1 + 1 / (2 * r))],
            ['prev', -k / (2 * r)],
          ],
          noiseDraw: 0,
        };
      };
    case 'lcm':
      return (i) => {
        const s = sigmas[i]!;
        const sn = sigmas[i + 1]!;
        if (sn === 0) return { churn: 0, sigma1: s, out: [['den', 1]], noiseDraw: 0 };
        return {
          churn: 0,
          sigma1: s,
          out: [
            ['den', 1],
            ['noise', sn],
          ],
          noiseDraw: 0,
        };
      };
  }
  throw new TesseraError('UNKNOWN_NAME', `parallel sampling: unknown sampler '${name}'`);
}

/**
 * The variance that scales the convergence test of step i (the step from σᵢ to σᵢ₊₁): DDPM's posterior
 * variance β̃ in the VE frame, σ'²(σ² − σ'²)/σ² (= k-diffusion's σ_up² at η = 1), as ParaDiGMS scales
 * its tolerance by the scheduler's `_get_variance`. For the noiseless last step to σ = 0 the previous
 * step's value is used (σ₀² when there is only one step).
 */
export function stepVariances(sigmas: Float64Array): Float64Array {
  const T = sigmas.length - 1;
  const v = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    const s = sigmas[i]!;
    const sn = sigmas[i + 1]!;
    const [, up] = ancestralStep(s, sn, 1);
    v[i] = up * up;
  }
  for (let i = 0; i < T; i++) {
    if (!(v[i]! > 0)) v[i] = i > 0 ? v[i - 1]! : sigmas[0]! ** 2;
  }
  return v;
}
