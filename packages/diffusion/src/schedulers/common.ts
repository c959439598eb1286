import { keep, type RandomOptions, scope, type Tensor, TesseraError } from '@tessera/core';
import {
  alphasCumprod,
  betas as betaSchedule,
  fromDiffusersConfig,
  rescaleZeroTerminalSnr,
  SchedulerConfig,
} from '@tessera/schedules';
import { dynamicThreshold } from '../guidance.js';

/**
 * Shared pieces of the diffusers-compatible stateful schedulers: config loading, the float32 β/ᾱ
 * tables exactly as diffusers builds them, noise drawing from a Philox generator, and small tensor
 * helpers that only use the input's backend (no host readback).
 */

/** A Philox stream position. Schedulers advance `offset` by the words they draw, like a torch.Generator. */
export interface Generator {
  seed: number;
  offset?: number;
}

/** Options of `step()`. */
export interface StepOptions {
  /** Noise source for stochastic steps; its `offset` advances by the words drawn. */
  generator?: Generator;
  /** Noise to use instead of drawing (diffusers `variance_noise`). */
  varianceNoise?: Tensor;
}

/** What `step()` returns (diffusers `*SchedulerOutput`). */
export interface SchedulerOutput {
  /** x at the next (less noisy) timestep. */
  prevSample: Tensor;
  /** The model's x₀ estimate at this step, where the scheduler computes it. */
  predOriginalSample?: Tensor;
}

/** A diffusers config given as JSON text, a parsed object, or a {@link SchedulerConfig}. */
export type ConfigInput = string | Record<string, unknown> | SchedulerConfig;

/** Loads a config, filling absent keys with the defaults of `className`, and checks its class name. */
export function loadConfig(input: ConfigInput, className: string): SchedulerConfig {
  if (input instanceof SchedulerConfig) return new SchedulerConfig(input.toDiffusersConfig(), className);
  return fromDiffusersConfig(input, { className });
}

/** β, ᾱ tables of a config (float32 values in float64 arrays, as diffusers' torch tensors). */
export function trainTables(cfg: SchedulerConfig, allowed: readonly string[], zeroSnrClamp: boolean) {
  const N = cfg.get('num_train_timesteps');
  const trained = cfg.get('trained_betas');
  const kind = cfg.get('beta_schedule');
  if (!trained && !allowed.includes(kind)) {
    throw new TesseraError(
      'UNSUPPORTED',
      `${cfg.className}: beta_schedule "${kind}" is not implemented for this scheduler (diffusers accepts ${allowed.join(', ')})`,
    );
  }
  let b = trained
    ? betaSchedule(trained)
    : betaSchedule(kind, {
        numTrainTimesteps: N,
        betaStart: cfg.get('beta_start'),
        betaEnd: cfg.get('beta_end'),
      });
  if (cfg.get('rescale_betas_zero_snr')) b = rescaleZeroTerminalSnr(b);
  const ac = alphasCumprod(b);
  // diffusers (Euler, EulerAncestral, DPM-Solver, UniPC): ᾱ_T = 2⁻²⁴ so that σ_T stays finite.
  if (zeroSnrClamp && cfg.get('rescale_betas_zero_snr')) ac[ac.length - 1] = 2 ** -24;
  return { betas: b, alphasCumprod: ac };
}

/** Throws UNSUPPORTED for config options we do not implement. */
export function rejectUnsupported(cfg: SchedulerConfig, keys: Record<string, unknown>): void {
  for (const [key, bad] of Object.entries(keys)) {
    if (cfg.get(key) === bad) {
      throw new TesseraError(
        'UNSUPPORTED',
        `${cfg.className}: ${key} = ${JSON.stringify(bad)} is not supported by Tessera's port`,
      );
    }
  }
}

/**
 * diffusers' `_threshold_sample` (Imagen dynamic thresholding) with the config's
 * `dynamic_thresholding_ratio` p and `sample_max_value` m: per batch row,
 * s = clamp(quantile(|x₀|, p), min = 1, max = m) and x₀ ← clamp(x₀, −s, s)/s. All on the device.
 * With m < 1, torch.clamp(min = 1, max = m) gives s = m for every row, and so do we.
 */
export function thresholdSample(x0: Tensor, cfg: SchedulerConfig, op: string): Tensor {
  if (x0.rank < 1) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: thresholding needs a batch axis (axis 0), got a sample of shape [${x0.shape}]`,
    );
  }
  const ratio = cfg.get('dynamic_thresholding_ratio');
  const maxValue = cfg.get('sample_max_value');
  if (maxValue >= 1) return dynamicThreshold(x0, ratio, maxValue);
  const B = x0.backend;
  const clamped = B.clamp(x0, -maxValue, maxValue);
  const out = B.binary('div', clamped, maxValue);
  clamped.dispose();
  return out;
}

/** Draws standard normal noise shaped like `like` on its backend, advancing the generator. */
export function drawNoise(like: Tensor, gen: Generator): Tensor {
  const offset = gen.offset ?? 0;
  const random: RandomOptions = { seed: gen.seed, offset };
  const noise = like.backend.randn(like.shape, random);
  gen.offset = offset + 2 * like.size;
  return noise;
}

/** A generator for calls that pass none: random seed, fresh per scheduler. */
export function defaultGenerator(): Generator {
  return { seed: Math.floor(Math.random() * 2 ** 32), offset: 0 };
}

/** Checks that model output and sample are float32 tensors of one shape on one backend. */
export function checkStepInputs(op: string, modelOutput: Tensor, sample: Tensor): void {
  if (!modelOutput || !sample || typeof modelOutput !== 'object' || typeof sample !== 'object') {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: modelOutput and sample must be Tensors`);
  }
  if (modelOutput.backend !== sample.backend) {
    throw new TesseraError(
      'BACKEND_MISMATCH',
      `${op}: modelOutput is on '${modelOutput.backend.name}', sample on '${sample.backend.name}'`,
    );
  }
  if (modelOutput.shape.join(',') !== sample.shape.join(',')) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: modelOutput shape [${modelOutput.shape}] must equal sample shape [${sample.shape}]`,
    );
  }
}

/** Index of timestep `t` in `schedule` as diffusers' `index_for_timestep`: the second match if there are two. */
export function indexForTimestep(
  op: string,
  t: number,
  schedule: ArrayLike<number>,
  missing?: number,
): number {
  const hits: number[] = [];
  for (let i = 0; i < schedule.length && hits.length < 2; i++) if (schedule[i] === t) hits.push(i);
  if (hits.length === 0) {
    if (missing !== undefined) return missing;
    throw new TesseraError(
      'OUT_OF_RANGE',
      `${op}: timestep ${t} is not in the scheduler's timesteps (pass one of scheduler.timesteps)`,
    );
  }
  return hits.length > 1 ? hits[1]! : hits[0]!;
}

/** Runs `fn` in a scope and returns its tensors (intermediates freed). */
export function tidyStep<T>(fn: () => T): T {
  return scope(fn);
}

/** A slot that owns one tensor across calls: kept from scopes, disposed when replaced or cleared. */
export class HeldTensors {
  #items: (Tensor | null)[];
  constructor(n: number) {
    this.#items = new Array(n).fill(null);
  }
  get(i: number): Tensor | null {
    return this.#items[i] ?? null;
  }
  get length(): number {
    return this.#items.length;
  }
  /** Shifts left by one (dropping and disposing the first) and stores `t` last. */
  push(t: Tensor): void {
    const dropped = this.#items.shift();
    if (dropped && !this.#items.includes(dropped) && dropped !== t) dropped.dispose();
    this.#items.push(keep(t));
  }
  /** Stores `t` at `i`, disposing what was there. */
  set(i: number, t: Tensor | null): void {
    const old = this.#items[i];
    if (old && old !== t && !this.#items.some((x, j) => j !== i && x === old)) old.dispose();
    this.#items[i] = t ? keep(t) : null;
  }
  /** Disposes everything held. */
  clear(): void {
    const seen = new Set<Tensor>();
    for (const t of this.#items) if (t && !seen.has(t)) seen.add(t);
    for (const t of seen) t.dispose();
    this.#items.fill(null);
  }
}

/**
 * diffusers' x = α·x₀ + σ·ε noising with per-batch coefficients: `coefs(i)` gives [a, b] for batch row
 * i; one timestep for all rows uses a single lincomb.
 */
export function noiseBatch(x0: Tensor, noise: Tensor, coefs: readonly (readonly [number, number])[]): Tensor {
  checkStepInputs('addNoise', noise, x0);
  const B = x0.backend;
  if (coefs.length === 1) return B.lincomb([coefs[0]![0], coefs[0]![1]], [x0, noise]);
  if (x0.rank < 1 || x0.shape[0] !== coefs.length) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `addNoise: ${coefs.length} timesteps for a batch of ${x0.shape[0] ?? 0}`,
    );
  }
  return scope(() => {
    const bshape = [coefs.length, ...x0.shape.slice(1).map(() => 1)];
    const a = B.tensor(new Float32Array(coefs.map((c) => c[0])), bshape);
    const b = B.tensor(new Float32Array(coefs.map((c) => c[1])), bshape);
    return B.binary('add', B.binary('mul', x0, a), B.binary('mul', noise, b));
  });
}

/** Normalises a timestep argument (number or list) to a list. */
export function timestepList(t: number | readonly number[] | ArrayLike<number>): number[] {
  return typeof t === 'number' ? [t] : Array.from(t);
}

/** Training timesteps N − 1 … 0: the `timesteps` of a scheduler before `setTimesteps`. */
export function descendingTimesteps(N: number): Int32Array {
  return Int32Array.from({ length: N }, (_, i) => N - 1 - i);
}

/** Throws INVALID_ARGUMENT unless `n` is an integer step count in [1, N]. */
export function checkStepCount(op: string, n: number | undefined, N: number): void {
  if (!Number.isInteger(n) || n! < 1 || n! > N)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: n must be an integer in [1, ${N}], got ${n}`);
}

/** Throws INVALID_ARGUMENT when `setTimesteps` has not been called (`numInferenceSteps` is null). */
export function checkTimestepsSet(
  op: string,
  numInferenceSteps: number | null,
): asserts numInferenceSteps is number {
  if (numInferenceSteps === null)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: call setTimesteps() first`);
}

/**
 * The noise of a stochastic step: `opts.varianceNoise`, else drawn from `opts.generator` or the
 * scheduler's own `fallback` generator. With `conflict`, passing both is an INVALID_ARGUMENT with that message.
 */
export function stepNoise(sample: Tensor, opts: StepOptions, fallback: Generator, conflict?: string): Tensor {
  if (conflict !== undefined && opts.varianceNoise && opts.generator)
    throw new TesseraError('INVALID_ARGUMENT', conflict);
  return opts.varianceNoise ?? drawNoise(sample, opts.generator ?? fallback);
}

/**
 * x₀ and ε of a model output for a VP sample x = a·x₀ + s·ε, as [coef on sample, coef on output]
 * pairs (diffusers' `epsilon` / `sample` / `v_prediction`); null for any other prediction type.
 */
export function vpCoefs(
  predictionType: string,
  a: number,
  s: number,
): { x0: [number, number]; eps: [number, number] } | null {
  if (predictionType === 'epsilon') return { x0: [1 / a, -s / a], eps: [0, 1] };
  if (predictionType === 'sample') return { x0: [0, 1], eps: [1 / s, -a / s] };
  if (predictionType === 'v_prediction') return { x0: [a, -s], eps: [s, a] };
  return null;
}
