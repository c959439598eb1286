// Test helpers: schedules, inputs and comparisons, independent of the code under test.
import type { Backend, Tensor } from '@tessera/core';
import { alphasCumprod, betas, sigmasFromAlphasCumprod } from '@tessera/schedules';

export const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
export const why = `TEST_SEED=${SEED}`;

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Karras et al. σ schedule of n values from σ_max down to σ_min, then 0. */
export function karras(n: number, sMin: number, sMax: number, rho = 7): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? 0 : i / (n - 1);
    out.push((sMax ** (1 / rho) + t * (sMin ** (1 / rho) - sMax ** (1 / rho))) ** rho);
  }
  return [...out, 0];
}

/**
 * DDPM's linear-β (1e-4 … 0.02, 1000 steps) σ at `steps` evenly spaced training timesteps (diffusers
 * 'leading' spacing: 0, k, 2k, …), descending, then 0: DDPM-1000 with steps = 1000, DDIM-200 with 200.
 */
export function ddpmSigmas(steps: number): number[] {
  const s = sigmasFromAlphasCumprod(alphasCumprod(betas('linear', { precision: 'float64' })));
  const k = 1000 / steps;
  const out: number[] = [];
  for (let i = steps - 1; i >= 0; i--) out.push(s[i * k]!);
  return [...out, 0];
}

/** x = σ₀·z with z standard normal drawn from Philox (seed), shape [n, ...dims]. */
export function startNoise(B: Backend, shape: number[], sigma0: number, seed: number): Tensor {
  const z = B.randn(shape, { seed: seed + 12345 });
  const x = B.lincomb([sigma0], [z]);
  z.dispose();
  return x;
}

/** max|a − b| / max(max|b|, 1e-30). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / Math.max(den, 1e-30);
}

/** Whether two float arrays hold the same bits. */
export function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}
