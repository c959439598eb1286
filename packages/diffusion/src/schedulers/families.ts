import type { Tensor } from '@tessera/core';
import { alphaAddNoise, alphaSigmas } from './alpha-common.js';
import type { ConfigInput } from './base.js';
import { SchedulerBase } from './base.js';
import { checkStepCount, descendingTimesteps, trainTables } from './common.js';
import { sigmaTable } from './sigma-table.js';
import {
  lambdaClippedEnd,
  lambdaTable,
  solverAddNoise,
  solverSigmas,
  solverTimesteps,
} from './solver-common.js';

/** The β schedules most diffusers schedulers accept. */
const BETAS = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/**
 * The tables every β-schedule scheduler starts from: the float32 β and ᾱ of the config (diffusers'
 * torch tensors), and the timesteps N − 1 … 0 until `setTimesteps`.
 */
export abstract class TrainedScheduler extends SchedulerBase {
  readonly order: number = 1;
  readonly initNoiseSigma: number = 1;
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** Inference timesteps, descending (before `setTimesteps`: N−1 … 0). */
  timesteps: Int32Array;

  protected constructor(
    config: ConfigInput,
    className: string,
    betas: readonly string[],
    zeroSnrClamp: boolean,
  ) {
    super(config, className);
    const t = trainTables(this.config, betas, zeroSnrClamp);
    this.betas = t.betas;
    this.alphasCumprod = t.alphasCumprod;
    this.timesteps = descendingTimesteps(this.alphasCumprod.length);
  }
}

/**
 * The base of the schedulers that step on the ᾱ table by integer timestep (DDIM, DDPM, LCM, TCD,
 * PNDM): ᾱ after the last step (1 with `set_alpha_to_one`, else ᾱ₀), no input scaling, and
 * `add_noise` √ᾱ_t·x₀ + √(1−ᾱ_t)·noise.
 */
export abstract class AlphaTableScheduler extends TrainedScheduler {
  /** ᾱ used after the last step: 1 with `set_alpha_to_one`, else ᾱ₀. */
  readonly finalAlphaCumprod: number;

  protected constructor(config: ConfigInput, className: string, betas: readonly string[] = BETAS) {
    super(config, className, betas, false);
    this.finalAlphaCumprod = this.config.get('set_alpha_to_one') ? 1 : this.alphasCumprod[0]!;
  }

  /** σ = √((1−ᾱ)/ᾱ) of each timestep, for inspection. */
  get sigmas(): Float64Array {
    return alphaSigmas(this.timesteps, this.alphasCumprod);
  }

  /** No input scaling: returns `sample`. */
  scaleModelInput(sample: Tensor, _t?: number): Tensor {
    return sample;
  }

  /** q(x_t | x₀) = √ᾱ_t·x₀ + √(1−ᾱ_t)·noise, one timestep for all rows or one per batch row. */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor {
    const op = `${this.config.className}.addNoise`;
    return alphaAddNoise(x0, noise, t, this.alphasCumprod, (ti) => `${op}: timestep ${ti} out of range`);
  }
}

/**
 * The base of diffusers' λ-space multistep solvers (DPM-Solver multistep / singlestep, UniPC, DEIS):
 * the β/ᾱ/σ tables, integer timesteps and σ's (n + 1) once `setTimesteps` ran, no input scaling, and
 * `add_noise` α_t·x₀ + σ_t·noise at each timestep's σ (VP, or flow with {@link SolverScheduler.flowSigmas}).
 */
export abstract class SolverScheduler extends TrainedScheduler {
  /** σ_t = √((1−ᾱ_t)/ᾱ_t) of every training timestep, ascending in t. */
  readonly sigmaTable: Float64Array;
  /** float32 log σ_t, for `_sigma_to_t`. */
  protected readonly logSigmaTable: Float64Array;
  sigmas: Float64Array;

  protected constructor(config: ConfigInput, className: string) {
    // diffusers' solvers: ᾱ_T = 2⁻²⁴ with rescale_betas_zero_snr, so that σ_T stays finite
    super(config, className, BETAS, true);
    const { table, logTable } = sigmaTable(this.alphasCumprod);
    this.sigmaTable = table;
    this.logSigmaTable = logTable;
    this.sigmas = Float64Array.from(table);
  }

  /**
   * The last timestep of the grid under `lambda_min_clipped` (diffusers' DPM-Solvers): N less the
   * number of training timesteps whose float32 λ is below it.
   */
  protected clippedLastTimestep(): number {
    const N = this.config.get('num_train_timesteps');
    this.#lambdaT ??= lambdaTable(this.alphasCumprod);
    return lambdaClippedEnd(this.#lambdaT, this.config.get('lambda_min_clipped'), N);
  }

  #lambdaT: Float64Array | undefined;

  /** True when σ's are flow-matching times (α = 1 − σ). */
  protected get flowSigmas(): boolean {
    return false;
  }

  /**
   * The σ grid of `n` steps by the config's spacing (or `spacing`) up to `lastTimestep` (default N), or
   * by the config's σ conversion, before the final σ.
   */
  protected spacedGrid(n: number, spacing?: string, lastTimestep?: number): ReturnType<typeof solverSigmas> {
    const N = this.config.get('num_train_timesteps');
    checkStepCount(`${this.config.className}.setTimesteps`, n, N);
    const cfg = spacing === undefined ? this.config : this.config.with({ timestep_spacing: spacing });
    const ts = Float64Array.from(solverTimesteps(cfg, n, lastTimestep ?? N));
    return solverSigmas(this.config, this.sigmaTable, this.logSigmaTable, ts);
  }

  /** No input scaling: returns `sample`. */
  scaleModelInput(sample: Tensor, _t?: number): Tensor {
    return sample;
  }

  /** α_t·x₀ + σ_t·noise at each timestep's σ (diffusers `add_noise`). */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor {
    return solverAddNoise(x0, noise, t, this, this.addNoiseIndex(), this.flowSigmas);
  }
}
