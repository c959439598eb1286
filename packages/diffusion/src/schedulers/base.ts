import { type Tensor, TesseraError } from '@tessera/core';
import type { SchedulerConfig } from '@tessera/schedules';
import {
  type ConfigInput,
  checkStepInputs,
  checkTimestepsSet,
  defaultGenerator,
  type Generator,
  indexForTimestep,
  loadConfig,
  noiseBatch,
  type SchedulerOutput,
  type StepOptions,
  timestepList,
} from './common.js';

export type { ConfigInput, SchedulerOutput, StepOptions } from './common.js';

/**
 * The surface every diffusers-compatible scheduler of this package has (diffusers' `SchedulerMixin`
 * as the pipelines use it). Drive it as a diffusers pipeline does:
 *
 * @example
 * const s = schedulerFromConfig(json); s.setTimesteps(30);
 * let x = lincomb([s.initNoiseSigma], [noise]);
 * for (const t of s.timesteps) x = s.step(await unet(s.scaleModelInput(x, t), t), t, x).prevSample;
 * s.dispose();
 */
export interface Scheduler {
  /** The config (class defaults fill absent keys; see `toConfig` for the keys as read). */
  readonly config: SchedulerConfig;
  /** diffusers `order`: model calls per step of the inference grid (2 for Heun and KDPM2). */
  readonly order: number;
  /** The standard deviation of the initial noise (σ_max, √(σ_max² + 1) or 1). */
  readonly initNoiseSigma: number;
  /** Timesteps of the grid, descending; pass each one to `step` in turn. */
  readonly timesteps: ArrayLike<number>;
  /** Noise level σ of each timestep (VP: √((1 − ᾱ)/ᾱ); flow: t/N), for inspection and tables. */
  readonly sigmas: ArrayLike<number>;
  /** Steps set by the last `setTimesteps` (null before). */
  readonly numInferenceSteps: number | null;
  /** Sets the inference grid of `n` steps (the config's spacing). */
  setTimesteps(n: number): void;
  /** The model input at timestep `t` (a fresh tensor, or `sample` itself where no scaling applies). */
  scaleModelInput(sample: Tensor, t: number): Tensor;
  /**
   * One step from timestep `t`; a timestep not in `timesteps` is a TesseraError. The returned tensors are
   * fresh: the caller owns (and disposes) them, and the scheduler keeps its own copies of what it needs.
   */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts?: StepOptions): SchedulerOutput;
  /** The forward process at timestep(s) `t` (diffusers `add_noise`). */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor;
  /** Start at step `i` of the grid instead of looking the first timestep up (img2img). */
  setBeginIndex(i?: number): void;
  /** The config as read (unknown keys kept), as diffusers' `save_config` would write it. */
  toConfig(): Record<string, unknown>;
  /** Frees the tensors a multistep scheduler holds between steps (nothing for the others). */
  dispose(): void;
}

/**
 * The shared base of the schedulers: the config (read with the class's defaults, written back as
 * read), `fromConfig`, and the one step-index mechanism (diffusers' `_step_index` / `_begin_index`):
 * the first `step` takes the begin index, or else looks its timestep up in `timesteps`; each `step`
 * then advances the index by one; `setTimesteps` forgets both.
 */
export abstract class SchedulerBase {
  /** The config (class defaults fill absent keys; {@link SchedulerBase.toConfig} gives the keys as read). */
  config: SchedulerConfig;
  /** Steps set by the last `setTimesteps` (null before). */
  numInferenceSteps: number | null = null;
  /** The fallback noise source of stochastic steps that get no generator (a random seed per scheduler). */
  protected generator: Generator = defaultGenerator();
  #step: number | null = null;
  #begin: number | null = null;

  protected constructor(config: ConfigInput, className: string) {
    this.config = loadConfig(config, className);
  }

  /** Reads a diffusers `scheduler_config.json` (text, object or SchedulerConfig) into this class. */
  static fromConfig<C extends new (config: ConfigInput) => SchedulerBase>(
    this: C,
    config: ConfigInput,
  ): InstanceType<C> {
    return new this(config) as InstanceType<C>;
  }

  /** The config as read (unknown keys kept; keys diffusers rewrites, rewritten as it does). */
  toConfig(): Record<string, unknown> {
    return this.config.toDiffusersConfig();
  }

  /** Index of the next step (null before the first `step`/`scaleModelInput`). */
  get currentStepIndex(): number | null {
    return this.#step;
  }

  /** The begin index of `setBeginIndex` (null when the first timestep is looked up). */
  get beginIndex(): number | null {
    return this.#begin;
  }

  /** Start at step `i` instead of looking the first timestep up (img2img; diffusers `set_begin_index`). */
  setBeginIndex(i = 0): void {
    if (!Number.isInteger(i) || i < 0)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${this.config.className}.setBeginIndex: i must be a non-negative integer, got ${i}`,
      );
    this.#begin = i;
  }

  /** Frees tensors held between steps; the base holds none. */
  dispose(): void {}

  /**
   * The index of the current step: on the first call the begin index, or else the index of `t` in
   * `timesteps` (diffusers' `index_for_timestep`; a `t` not in the schedule is an OUT_OF_RANGE error).
   */
  protected stepIndexFor(op: string, t: number, timesteps: ArrayLike<number>): number {
    this.#step ??= this.#begin ?? indexForTimestep(op, t, timesteps);
    return this.#step;
  }

  /**
   * The checks that start a step and its index: model output and sample must match, `setTimesteps`
   * must have run, the index ({@link SchedulerBase.stepIndexFor}) must have steps left.
   */
  protected beginStep(op: string, modelOutput: Tensor, sample: Tensor, t: number): number {
    checkStepInputs(op, modelOutput, sample);
    checkTimestepsSet(op, this.numInferenceSteps);
    const ts = this.timesteps;
    if (!Array.prototype.includes.call(ts, t))
      throw new TesseraError(
        'OUT_OF_RANGE',
        `${op}: timestep ${t} is not in the scheduler's timesteps (pass one of scheduler.timesteps)`,
      );
    const i = this.stepIndexFor(op, t, ts);
    if (i >= ts.length)
      throw new TesseraError('OUT_OF_RANGE', `${op}: no steps left (call setTimesteps again)`);
    return i;
  }

  /** Timesteps of the grid (descending). */
  abstract timesteps: ArrayLike<number>;

  /** Moves the step index to `i` (after a step: the index of the step taken plus one). */
  protected setStepIndex(i: number): void {
    this.#step = i;
  }

  /** Forgets the step and begin indices (what `setTimesteps` does). */
  protected resetStepIndex(): void {
    this.#step = null;
    this.#begin = null;
  }

  /**
   * diffusers' `add_noise` of the σ-indexed schedulers: row i gets `coefs(σ)` = [a, b] (x = a·x₀ + b·noise)
   * of its timestep's σ, the σ at the begin/step index once `setBeginIndex` was called, else each
   * timestep looked up in `timesteps` (a timestep not there is an OUT_OF_RANGE error).
   */
  protected sigmaAddNoise(
    x0: Tensor,
    noise: Tensor,
    t: number | readonly number[],
    sigmas: ArrayLike<number>,
    coefs: (sigma: number) => readonly [number, number],
  ): Tensor {
    const at = this.addNoiseIndex();
    const op = `${this.config.className}.addNoise`;
    return noiseBatch(
      x0,
      noise,
      timestepList(t).map((ti) => coefs(sigmas[at ?? indexForTimestep(op, ti, this.timesteps)]!)),
    );
  }

  /**
   * The step index `add_noise` uses for every row: null before `setBeginIndex` (each timestep is then
   * looked up), else the current step index or, before the first step, the begin index.
   */
  protected addNoiseIndex(): number | null {
    return this.#begin === null ? null : (this.#step ?? this.#begin);
  }
}
