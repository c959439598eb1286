import { type Tensor, TesseraError } from '@tessera/core';
import { SampleContext } from './context.js';
import {
  ddim,
  ddpm,
  dpm2,
  dpm2Ancestral,
  euler,
  eulerAncestral,
  heun,
  lcm,
  lms,
  type SamplerFn,
} from './samplers/basic.js';
import { dpmAdaptive, dpmFast, dpmFastGrid, dpmSolverRange } from './samplers/dpm-solver.js';
import { dpmpp2m, dpmpp2mSde, dpmpp2sAncestral, dpmpp3mSde, dpmppSde } from './samplers/dpmpp.js';
import { deis, unipc } from './samplers/multistep.js';
import { didYouMean } from './samplers/nearest.js';
import { checkSampleOptions } from './samplers/options.js';
import type { SampleOptions } from './types.js';

interface Entry {
  fn: SamplerFn;
  noise: 'philox' | 'brownian';
  defaults?: Partial<SampleOptions>;
  /** Rewrites the options before the run (its own σ grid) and hands the sampler a plan. */
  prepare?: (opts: SampleOptions) => { opts: SampleOptions; plan?: unknown };
}

/** dpm_fast runs on its own grid, evenly spaced in log σ between the given σ_max and σ_min. */
function prepareDpmFast(opts: SampleOptions) {
  const g = dpmFastGrid(opts.sigmas);
  return { opts: { ...opts, sigmas: g.sigmas }, plan: { orders: g.orders } };
}

/** dpm_adaptive picks its own steps between the given σ_max and σ_min. */
function prepareDpmAdaptive(opts: SampleOptions) {
  const { sigmaMax, sigmaMin } = dpmSolverRange(opts.sigmas);
  return { opts: { ...opts, sigmas: [sigmaMax, sigmaMin] } };
}

const REGISTRY = {
  euler: { fn: euler, noise: 'philox' },
  euler_ancestral: { fn: eulerAncestral, noise: 'philox' },
  heun: { fn: heun, noise: 'philox' },
  dpm_2: { fn: dpm2, noise: 'philox' },
  dpm_2_ancestral: { fn: dpm2Ancestral, noise: 'philox' },
  lms: { fn: lms, noise: 'philox' },
  dpmpp_2s_ancestral: { fn: dpmpp2sAncestral, noise: 'philox' },
  dpmpp_sde: { fn: dpmppSde, noise: 'brownian' },
  dpmpp_2m: { fn: dpmpp2m, noise: 'philox' },
  dpmpp_2m_sde: { fn: dpmpp2mSde, noise: 'brownian' },
  dpmpp_2m_sde_heun: { fn: dpmpp2mSde, noise: 'brownian', defaults: { solver_type: 'heun' } },
  dpmpp_3m_sde: { fn: dpmpp3mSde, noise: 'brownian' },
  ddim: { fn: ddim, noise: 'philox' },
  ddpm: { fn: ddpm, noise: 'philox' },
  unipc: { fn: unipc, noise: 'philox' },
  unipc_bh2: { fn: unipc, noise: 'philox', defaults: { variant: 'bh2' } },
  deis: { fn: deis, noise: 'philox' },
  lcm: { fn: lcm, noise: 'philox' },
  dpm_fast: { fn: dpmFast, noise: 'philox', prepare: prepareDpmFast },
  dpm_adaptive: { fn: dpmAdaptive, noise: 'brownian', prepare: prepareDpmAdaptive },
} satisfies Record<string, Entry>;

/** Names accepted by {@link sample} (k-diffusion's, plus ComfyUI-style aliases for variants). */
export type SamplerName = keyof typeof REGISTRY;

/** Every sampler name, in registry order. */
export const SAMPLER_NAMES = Object.keys(REGISTRY) as SamplerName[];

/** Samplers whose result does not depend on the seed (with their default options). */
export const DETERMINISTIC_SAMPLERS: readonly SamplerName[] = [
  'euler',
  'heun',
  'dpm_2',
  'lms',
  'dpmpp_2m',
  'ddim',
  'unipc',
  'unipc_bh2',
  'deis',
  'dpm_fast',
  'dpm_adaptive',
];

/**
 * Runs the sampler `name` (k-diffusion names and semantics) from `x` at `sigmas[0]` down the noise levels
 * `sigmas`, calling `denoiser(x, σ, cond)` for x0 estimates. The run owns the tensors it makes (each
 * step's intermediates are freed when the step ends), so any number of runs may interleave on one
 * backend; no value is read back to the host between steps. The loop yields to the event loop every
 * ~25 ms and checks `signal` before each step. Returns a fresh tensor (the caller disposes it); `x`
 * itself is left untouched.
 *
 * @example
 * const x0 = await sample('dpmpp_2m', { denoiser, x, sigmas, seed: 0 });
 */
export async function sample(name: SamplerName, options: SampleOptions): Promise<Tensor> {
  const entry: Entry | undefined = (REGISTRY as Record<string, Entry>)[name];
  if (!entry) {
    throw new TesseraError(
      'UNKNOWN_NAME',
      `sample: unknown sampler '${String(name)}'${didYouMean(String(name), SAMPLER_NAMES)}, expected one of ${SAMPLER_NAMES.join(', ')}`,
    );
  }
  checkSampleOptions(name, options);
  const merged = entry.defaults ? { ...entry.defaults, ...options } : options;
  const { opts, plan } = entry.prepare ? entry.prepare(merged) : { opts: merged, plan: undefined };
  return entry.fn(new SampleContext(opts, entry.noise), plan);
}
