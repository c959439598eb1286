// Euler-family, DPM-2, LMS, DDIM, DDPM and LCM samplers in the variance-exploding (k-diffusion)
// parameterisation: x = x0 + σ·ε, d = (x − D(x, σ))/σ = dx/dσ of the probability-flow ODE.
// Algorithms follow k-diffusion's sampling.py (sample_euler … sample_lms) and ComfyUI's additions
// (sample_ddpm, sample_lcm); every update is one fused lincomb.
import { check } from '@tessera/core';
import type { SampleContext } from '../context.js';
import { lin, toD } from '../linear-form.js';
import { integratePoly, lagrangeBasis } from '../poly.js';
import { History } from './history.js';

/**
 * A sampler: runs the loop of a {@link SampleContext} and returns the final sample. `plan` is what the
 * sampler's registry entry prepared from the options (dpm_fast's order list), if anything.
 */
export type SamplerFn = (c: SampleContext, plan?: unknown) => Promise<ReturnType<SampleContext['lc']>>;

/**
 * k-diffusion's `get_ancestral_step`: the σ_down to step to deterministically and the σ_up of fresh
 * noise, so that σ_down² + σ_up² = σ_next². `eta` scales the noise (0 = deterministic).
 */
export function ancestralStep(
  sigma: number,
  sigmaNext: number,
  eta = 1,
): [sigmaDown: number, sigmaUp: number] {
  if (!eta) return [sigmaNext, 0];
  const up = Math.min(
    sigmaNext,
    eta * Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2),
  );
  return [Math.sqrt(sigmaNext ** 2 - up ** 2), up];
}

/** [σ, σ_next] of step `i`. */
export function levels(c: SampleContext, i: number): [sigma: number, sigmaNext: number] {
  return [c.sigmas[i]!, c.sigmas[i + 1]!];
}

/** Euler steps (Karras et al. 2022, Algorithm 2), with optional churn. */
export const euler: SamplerFn = (c) =>
  c.loop(async (i, x0) => {
    const { x, sigmaHat: sh } = c.churn(i, x0);
    const den = await c.model(x, c.sigmas[i]!, sh);
    const dt = c.sigmas[i + 1]! - sh;
    return c.lc([1 + dt / sh, -dt / sh], [x, den]);
  });

/** Ancestral Euler: step to σ_down, then add σ_up of fresh noise. `ddim` is this with `eta` = 0 by default. */
function ancestralEuler(defaultEta: number): SamplerFn {
  return (c) =>
    c.loop(async (i, x) => {
      const [s, sn] = levels(c, i);
      const { eta = defaultEta, s_noise = 1 } = c.opts;
      const den = await c.model(x, s);
      const [sd, su] = ancestralStep(s, sn, eta);
      if (sn > 0 && su > 0) return c.lc([sd / s, 1 - sd / s, s_noise * su], [x, den, c.noise(s, sn)]);
      return c.lc([sd / s, 1 - sd / s], [x, den]);
    });
}

/** k-diffusion `sample_euler_ancestral` (eta default 1). */
export const eulerAncestral: SamplerFn = ancestralEuler(1);

/**
 * DDIM with η (default 0). In σ-space DDIM's update x_{t−1} = √ᾱ' x̂0 + √(1−ᾱ'−σ_t²) ε̂ + σ_t z becomes
 * exactly the ancestral Euler step with k-diffusion's σ_up = η·σ'·√(σ²−σ'²)/σ, so η = 0 is Euler.
 */
export const ddim: SamplerFn = ancestralEuler(0);

/** Heun steps (Karras et al. 2022, Algorithm 2), with optional churn; Euler on the step to σ = 0. */
export const heun: SamplerFn = (c) =>
  c.loop(async (i, x0) => {
    const { x, sigmaHat: sh } = c.churn(i, x0);
    const sn = c.sigmas[i + 1]!;
    const den = await c.model(x, c.sigmas[i]!, sh);
    const dt = sn - sh;
    if (sn === 0) return c.lc([1 + dt / sh, -dt / sh], [x, den]);
    const x2 = c.lc([1 + dt / sh, -dt / sh], [x, den]);
    const den2 = await c.model(x2, sn);
    const h = dt / 2;
    return c.lc([1 + h / sh, -h / sh, h / sn, -h / sn], [x, den, x2, den2]);
  });

/** DPM-Solver-2 inspired midpoint steps (σ_mid = geometric mean), with optional churn. */
export const dpm2: SamplerFn = (c) =>
  c.loop(async (i, x0) => {
    const { x, sigmaHat: sh } = c.churn(i, x0);
    const sn = c.sigmas[i + 1]!;
    const den = await c.model(x, c.sigmas[i]!, sh);
    if (sn === 0) return c.lc([0, 1], [x, den]);
    const sm = Math.exp(0.5 * (Math.log(sh) + Math.log(sn)));
    const x2 = c.lc([sm / sh, 1 - sm / sh], [x, den]);
    const den2 = await c.model(x2, sm);
    const k = (sn - sh) / sm;
    return c.lc([1, k, -k], [x, x2, den2]);
  });

/** Ancestral DPM-2: a midpoint step to σ_down, then σ_up of fresh noise. */
export const dpm2Ancestral: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const { eta = 1, s_noise = 1 } = c.opts;
    const den = await c.model(x, s);
    const [sd, su] = ancestralStep(s, sn, eta);
    if (sd === 0) return c.lc([0, 1], [x, den]);
    const sm = Math.exp(0.5 * (Math.log(s) + Math.log(sd)));
    const x2 = c.lc([sm / s, 1 - sm / s], [x, den]);
    const den2 = await c.model(x2, sm);
    const k = (sd - s) / sm;
    if (su > 0) return c.lc([1, k, -k, s_noise * su], [x, x2, den2, c.noise(s, sn)]);
    return c.lc([1, k, -k], [x, x2, den2]);
  });

/**
 * Linear multistep (Adams–Bashforth in σ over the last `order` derivatives, default 4). The
 * coefficients ∫ Lⱼ(σ) dσ of the Lagrange basis are integrated exactly (k-diffusion uses quadrature).
 */
export const lms: SamplerFn = (c) => {
  const order = c.opts.order ?? 4;
  check(
    Number.isInteger(order) && order >= 1 && order <= 6,
    'INVALID_ARGUMENT',
    `lms: order must be an integer in [1, 6], got ${order}`,
  );
  const ds = new History(c, order, 'd'); // the last `order` derivatives, newest first
  return c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const den = await c.model(x, s);
    ds.push(toD(x, den, s).emit(c));
    const nodes = Array.from({ length: ds.length }, (_, j) => c.sigmas[i - j]!);
    // x' = x + Σⱼ dⱼ·∫_σ^σ' Lⱼ(τ) dτ
    const terms = ds.items.map((d, j) =>
      lin(d, integratePoly(lagrangeBasis(nodes, j, s), 0, c.sigmas[i + 1]! - s)),
    );
    return lin(x)
      .plus(...terms)
      .emit(c);
  });
};

/**
 * DDPM ancestral sampling (ComfyUI's `sample_ddpm`): the posterior mean
 * μ = (x_t − (1−α)/√(1−ᾱ)·ε̂)/√α plus √β̃ noise, computed in the VP frame (x/√(1+σ²)) and mapped back.
 */
export const ddpm: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const { s_noise = 1 } = c.opts;
    const den = await c.model(x, s);
    const ab = 1 / (s * s + 1);
    const abPrev = 1 / (sn * sn + 1);
    const alpha = ab / abPrev;
    const scale = Math.sqrt(1 + sn * sn);
    const kEps = (1 - alpha) / Math.sqrt(1 - ab) / s; // coefficient of (x − den) inside μ·√α
    const cx = (Math.sqrt(ab) - kEps) / Math.sqrt(alpha);
    const cd = kEps / Math.sqrt(alpha);
    if (sn === 0) return c.lc([cx, cd], [x, den]);
    const std = Math.sqrt(((1 - alpha) * (1 - abPrev)) / (1 - ab));
    return c.lc([cx * scale, cd * scale, s_noise * std * scale], [x, den, c.noise(s, sn)]);
  });

/** Latent-consistency sampling: jump to the denoised estimate, then re-noise to σ_next. */
export const lcm: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const den = await c.model(x, s);
    if (sn === 0) return den;
    return c.lc([1, sn], [den, c.noise(s, sn)]);
  });
