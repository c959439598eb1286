// Parallel-in-time sampling for diffusion jobs (ParaDiGMS / ParaTAA of @tessera/parallel-sampling):
// the job's option, its validation, the noise seeds and the per-group solve.
import { type Tensor, TesseraError } from '@tessera/core';
import type { Denoiser } from '@tessera/diffusion';
import { PARALLEL_SAMPLERS, type ParallelSamplerName, paradigms, parataa } from '@tessera/parallel-sampling';
import { splitmix64 } from './seeds.js';

/** Parallel solvers a job may name. */
export const PARALLEL_METHODS = ['paradigms', 'parataa'] as const;
/** One of {@link PARALLEL_METHODS}. */
export type ParallelMethod = (typeof PARALLEL_METHODS)[number];

/** Most rows (window × images solved together) one parallel denoiser call may hold. */
export const MAX_PARALLEL_ROWS = 16_384;

/**
 * Parallel sampling of a diffusion job: the sampler's trajectory is solved in rounds of `window` steps
 * at once (one batched denoiser call per round) instead of step by step. The result is the sequential
 * sampler's for the same noise, to the tolerance.
 */
export interface ParallelConfig {
  /** `paradigms` (Picard iteration, Shih et al. 2023) or `parataa` (triangular Anderson, Tang et al. 2024). */
  method: ParallelMethod;
  /** Steps per round, 1 … steps (1 is the sequential sampler). Default min(steps, 32). */
  window?: number;
  /** Relative tolerance (> 0, ≤ 10). Default 0.1 (paradigms), 1e-3 (parataa). */
  tol?: number;
  /** Absolute tolerance (≥ 0, ≤ 10). Default 0 (paradigms), 1e-3 (parataa). */
  atol?: number;
  /** Round budget, 1 … steps; past it the current estimate is kept. Default: the step count. */
  maxRounds?: number;
  /** parataa: Anderson memory, 1 … 16. Default 4. */
  memory?: number;
  /** parataa: Gram regulariser, 0 … 100. Default 1e-2. */
  lambda?: number;
  /** parataa: order of the step equations, 1 … steps. Default unbounded. */
  order?: number;
  /**
   * `image` (default): each image is solved alone, so its bits depend only on (config, seed, index);
   * `batch`: the images of one batch (a fixed group `[k·batchSize, (k+1)·batchSize)`, whatever the
   * sharding) are solved together, `window × batch` rows per call; an image then also depends on
   * `batchSize` (the rounds stop when every image of its batch is within tolerance).
   */
  group?: 'image' | 'batch';
}

function bad(path: string, expected: string, got: unknown): never {
  let shown = String(got);
  try {
    shown = JSON.stringify(got) ?? shown;
  } catch {}
  if (shown.length > 80) shown = `${shown.slice(0, 77)}...`;
  throw new TesseraError('INVALID_CONFIG', `job config: ${path} must be ${expected}, got ${shown}`);
}

function intIn(o: Record<string, unknown>, k: string, lo: number, hi: number): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)
    bad(`generator.parallel.${k}`, `an integer in [${lo}, ${hi}]`, v);
  return v;
}

function numIn(
  o: Record<string, unknown>,
  k: string,
  lo: number,
  hi: number,
  open = false,
): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (open && v === lo))
    bad(`generator.parallel.${k}`, `a number in ${open ? '(' : '['}${lo}, ${hi}]`, v);
  return v;
}

const KEYS = ['method', 'window', 'tol', 'atol', 'maxRounds', 'memory', 'lambda', 'order', 'group'];

/**
 * Checks `generator.parallel` of a diffusion job (types, ranges, unknown keys; the sampler must be one
 * the parallel solvers run; window × rows solved together ≤ {@link MAX_PARALLEL_ROWS}) and returns it
 * with only the keys given plus `group`. Throws TesseraError `INVALID_CONFIG`.
 */
export function checkParallelConfig(
  raw: unknown,
  ctx: { sampler: string; steps: number; batchSize: number },
): ParallelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    bad('generator.parallel', "an object { method: 'paradigms' | 'parataa', window?, tol?, … }", raw);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!KEYS.includes(k)) bad(`generator.parallel.${k}`, `absent (known keys: ${KEYS.join(', ')})`, o[k]);
  if (typeof o.method !== 'string' || !PARALLEL_METHODS.includes(o.method as ParallelMethod))
    bad('generator.parallel.method', `one of ${PARALLEL_METHODS.join(', ')}`, o.method);
  const method = o.method as ParallelMethod;
  if (!(PARALLEL_SAMPLERS as readonly string[]).includes(ctx.sampler))
    bad('generator.sampler', `one of ${PARALLEL_SAMPLERS.join(', ')} with generator.parallel`, ctx.sampler);
  if (o.group !== undefined && o.group !== 'image' && o.group !== 'batch')
    bad('generator.parallel.group', "'image' or 'batch'", o.group);
  const group = (o.group ?? 'image') as 'image' | 'batch';
  const out: ParallelConfig = { method, group };
  const window = intIn(o, 'window', 1, ctx.steps);
  const rows = group === 'batch' ? ctx.batchSize : 1;
  if (Math.min(window ?? 32, ctx.steps) * rows > MAX_PARALLEL_ROWS)
    bad(
      'generator.parallel.window',
      `at most ${Math.floor(MAX_PARALLEL_ROWS / rows)} with ${rows} images solved together (${MAX_PARALLEL_ROWS} rows per call)`,
      window ?? 32,
    );
  if (window !== undefined) out.window = window;
  const tol = numIn(o, 'tol', 0, 10, true);
  if (tol !== undefined) out.tol = tol;
  const atol = numIn(o, 'atol', 0, 10);
  if (atol !== undefined) out.atol = atol;
  const maxRounds = intIn(o, 'maxRounds', 1, ctx.steps);
  if (maxRounds !== undefined) out.maxRounds = maxRounds;
  const only = (k: 'memory' | 'lambda' | 'order') => {
    if (o[k] !== undefined && method !== 'parataa')
      bad(`generator.parallel.${k}`, "absent unless method is 'parataa'", o[k]);
  };
  for (const k of ['memory', 'lambda', 'order'] as const) only(k);
  const memory = intIn(o, 'memory', 1, 16);
  if (memory !== undefined) out.memory = memory;
  const lambda = numIn(o, 'lambda', 0, 100);
  if (lambda !== undefined) out.lambda = lambda;
  const order = intIn(o, 'order', 1, ctx.steps);
  if (order !== undefined) out.order = order;
  return out;
}

/**
 * Philox seed of the sampler noise of the parallel solve whose first image is `index` (the image itself
 * with `group: 'image'`, the batch's first image with `'batch'`): SplitMix64 output 0 of image `index`'s
 * 64-bit SplitMix64 value, top 53 bits. Distinct from the image's start-noise seed, whose stream starts
 * at word 0 as the steps' noise would.
 */
export function parallelNoiseSeed(baseSeed: number, index: number): number {
  return Number(splitmix64(splitmix64(BigInt(baseSeed), index), 0) >> 11n);
}

/** What a parallel solve reports. */
export interface ParallelTally {
  /** Solves run. */
  solves: number;
  /** Rounds over all solves. */
  rounds: number;
  /** Solves that ran out of `maxRounds` before every step was within tolerance. */
  unconverged: number;
}

/**
 * Solves one group: x (the group's start samples, `[n, 1, H, W]`, not disposed) through `sigmas` with the
 * job's sampler, the method's options and the steps' noise from `seed`. Returns the final sample (the
 * caller disposes it).
 */
export async function solveParallel(
  p: ParallelConfig,
  o: {
    denoiser: Denoiser;
    x: Tensor;
    sigmas: Float64Array;
    sampler: string;
    seed: number;
    eta?: number;
    signal?: AbortSignal;
    callback?: () => void | Promise<void>;
    tally?: ParallelTally;
  },
): Promise<Tensor> {
  const common = {
    denoiser: o.denoiser,
    x: o.x,
    sigmas: o.sigmas,
    sampler: o.sampler as ParallelSamplerName,
    seed: o.seed,
    ...(p.window !== undefined ? { window: p.window } : {}),
    ...(p.tol !== undefined ? { tol: p.tol } : {}),
    ...(p.atol !== undefined ? { atol: p.atol } : {}),
    ...(p.maxRounds !== undefined ? { maxRounds: p.maxRounds } : {}),
    ...(o.eta !== undefined ? { eta: o.eta } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.callback ? { callback: o.callback } : {}),
  };
  const run =
    p.method === 'paradigms'
      ? await paradigms(common)
      : await parataa({
          ...common,
          ...(p.memory !== undefined ? { memory: p.memory } : {}),
          ...(p.lambda !== undefined ? { lambda: p.lambda } : {}),
          ...(p.order !== undefined ? { order: p.order } : {}),
        });
  if (o.tally) {
    o.tally.solves++;
    o.tally.rounds += run.rounds;
    if (!run.converged) o.tally.unconverged++;
  }
  return run.x;
}
