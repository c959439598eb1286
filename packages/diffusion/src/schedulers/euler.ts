import { type Tensor, TesseraError } from '@tessera/core';
import { ancestralStep } from '../samplers/basic.js';
import { type ChurnOptions, churn } from '../samplers/churn.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { SchedulerBase } from './base.js';
import { drawNoise, rejectUnsupported, tidyStep, trainTables } from './common.js';
import { eulerGrid, type SetTimestepsOptions, sigmaTable } from './sigma-table.js';

const BETAS = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/** x₀ = cs·sample + co·output for a k-diffusion-style (VE-scaled) sample at noise level σ. */
export function veX0(predictionType: string, sigma: number, sigmaHat: number, op: string): [number, number] {
  if (predictionType === 'epsilon') return [1, -sigmaHat];
  if (predictionType === 'v_prediction')
    return [1 / (sigma * sigma + 1), -sigma / Math.sqrt(sigma * sigma + 1)];
  if (predictionType === 'sample' || predictionType === 'original_sample') return [0, 1];
  throw new TesseraError(
    'UNSUPPORTED',
    `${op}: prediction_type "${predictionType}" must be epsilon, v_prediction or sample`,
  );
}

/**
 * Common state of diffusers' σ-space discrete schedulers: the σ table, `timesteps` (float32 values)
 * and `sigmas` (n + 1, ending in 0 or σ_min), the step index that advances with each `step()`.
 */
export abstract class DiscreteSigmaScheduler extends SchedulerBase {
  abstract readonly order: number;
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  /** σ_t = √((1−ᾱ_t)/ᾱ_t) for every training timestep (ascending in t). */
  readonly sigmaTable: Float64Array;
  protected readonly logSigmaTable: Float64Array;
  timesteps: Float64Array;
  sigmas: Float64Array;

  protected constructor(config: ConfigInput, className: string, zeroSnrClamp: boolean) {
    super(config, className);
    const t = trainTables(this.config, BETAS, zeroSnrClamp);
    this.betas = t.betas;
    this.alphasCumprod = t.alphasCumprod;
    const { table, logTable } = sigmaTable(this.alphasCumprod);
    this.sigmaTable = table;
    this.logSigmaTable = logTable;
    const N = this.alphasCumprod.length;
    this.timesteps = Float64Array.from({ length: N }, (_, i) => N - 1 - i);
    this.sigmas = new Float64Array(N + 1);
    for (let i = 0; i < N; i++) this.sigmas[i] = table[N - 1 - i]!;
  }

  /** σ of the initial noise: σ_max for linspace/trailing spacing, √(σ_max² + 1) for leading. */
  get initNoiseSigma(): number {
    let max = 0;
    for (const s of this.sigmas) max = Math.max(max, s);
    const spacing = this.config.get('timestep_spacing');
    return spacing === 'linspace' || spacing === 'trailing' ? max : Math.sqrt(max * max + 1);
  }

  /** Scales the model input by 1/√(σ² + 1) of the current step (what an ε-model trained on VP inputs expects). */
  scaleModelInput(sample: Tensor, t: number): Tensor {
    const i = this.stepIndexFor(`${this.config.className}.scaleModelInput`, t, this.timesteps);
    const s = this.sigmas[i]!;
    return sample.backend.lincomb([1 / Math.sqrt(s * s + 1)], [sample]);
  }

  /** x₀ + σ·noise with σ of the timestep's step (diffusers `add_noise` of the σ schedulers). */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor {
    return this.sigmaAddNoise(x0, noise, t, this.sigmas, (s) => [1, s]);
  }
}

/**
 * Options of {@link EulerDiscreteScheduler.step}: Karras et al. "churn", spelled as in `sample` and
 * k-diffusion (`s_churn`, `s_tmin`, `s_tmax`, `s_noise`).
 */
export interface EulerStepOptions extends StepOptions, ChurnOptions {
  /** @deprecated Use `s_churn`. */
  sChurn?: number;
  /** @deprecated Use `s_tmin`. */
  sTmin?: number;
  /** @deprecated Use `s_tmax`. */
  sTmax?: number;
  /** @deprecated Use `s_noise`. */
  sNoise?: number;
}

/** The churn options of `opts`, the deprecated camel-case spellings mapped to k-diffusion's. */
function churnOptions(opts: EulerStepOptions): ChurnOptions {
  return {
    s_churn: opts.s_churn ?? opts.sChurn,
    s_tmin: opts.s_tmin ?? opts.sTmin,
    s_tmax: opts.s_tmax ?? opts.sTmax,
    s_noise: opts.s_noise ?? opts.sNoise,
  };
}

/**
 * diffusers' `EulerDiscreteScheduler` (Karras et al. 2022, Algorithm 2): float32 timesteps, σ by
 * linear interpolation of the table (or Karras / exponential / beta σ with timesteps from `_sigma_to_t`),
 * optional churn. Pass `scheduler.timesteps[i]` as `t`.
 */
export class EulerDiscreteScheduler extends DiscreteSigmaScheduler implements Scheduler {
  readonly order = 1;

  constructor(config: ConfigInput) {
    super(config, 'EulerDiscreteScheduler', true);
    if (
      this.config.get('timestep_type') === 'continuous' &&
      this.config.get('prediction_type') === 'v_prediction'
    ) {
      this.timesteps = this.sigmas
        .subarray(0, this.sigmas.length - 1)
        .map((s) => Math.fround(0.25 * Math.fround(Math.log(s))));
    }
  }

  /** Sets the inference grid: `n` steps by the config's spacing, or custom timesteps / sigmas. */
  setTimesteps(n?: number, opts: SetTimestepsOptions = {}): void {
    const g = eulerGrid(this.config, this.sigmaTable, this.logSigmaTable, n, opts);
    this.sigmas = g.sigmas;
    if (
      this.config.get('timestep_type') === 'continuous' &&
      this.config.get('prediction_type') === 'v_prediction'
    ) {
      if (opts.timesteps)
        throw new TesseraError(
          'INVALID_ARGUMENT',
          'EulerDiscreteScheduler.setTimesteps: custom timesteps conflict with continuous v-prediction timesteps',
        );
      this.timesteps = g.sigmas
        .subarray(0, g.sigmas.length - 1)
        .map((s) => Math.fround(0.25 * Math.fround(Math.log(s))));
    } else this.timesteps = g.timesteps;
    this.numInferenceSteps = this.timesteps.length;
    this.resetStepIndex();
  }

  /** One Euler step (with churn when `s_churn` > 0). */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: EulerStepOptions = {}): SchedulerOutput {
    const i = this.beginStep('EulerDiscreteScheduler.step', modelOutput, sample, t);
    const sigma = this.sigmas[i]!;
    const next = this.sigmas[i + 1]!;
    const { sigmaHat, noiseStd } = churn(sigma, this.sigmas.length - 1, churnOptions(opts));
    const [cs, co] = veX0(this.config.get('prediction_type'), sigma, sigmaHat, 'EulerDiscreteScheduler.step');
    const B = sample.backend;
    const out = tidyStep(() => {
      let x = sample;
      if (noiseStd > 0) {
        const noise = opts.varianceNoise ?? drawNoise(sample, opts.generator ?? this.generator);
        x = B.lincomb([1, noiseStd], [sample, noise]);
      }
      const pred = B.lincomb([cs, co], [x, modelOutput]);
      // prev = x + (x − x₀)/σ̂ · (σ_next − σ̂)
      const r = (next - sigmaHat) / sigmaHat;
      const prevSample = B.lincomb([1 + r - r * cs, -r * co], [x, modelOutput]);
      return { prevSample, predOriginalSample: pred };
    });
    this.setStepIndex(i + 1);
    return out;
  }
}

/**
 * diffusers' `EulerAncestralDiscreteScheduler`: Euler to σ_down, then fresh noise of σ_up
 * (k-diffusion `get_ancestral_step` with η = 1).
 */
export class EulerAncestralDiscreteScheduler extends DiscreteSigmaScheduler implements Scheduler {
  readonly order = 1;

  constructor(config: ConfigInput) {
    super(config, 'EulerAncestralDiscreteScheduler', true);
    rejectUnsupported(this.config, { prediction_type: 'sample' });
  }

  /** Sets `n` inference steps by the config's spacing (σ by linear interpolation, final σ = 0). */
  setTimesteps(n: number): void {
    const g = eulerGrid(
      this.config,
      this.sigmaTable,
      this.logSigmaTable,
      n,
      {},
      {
        conversions: false,
        finalSigmaType: false,
        interpolationType: false,
      },
    );
    this.timesteps = g.timesteps;
    this.sigmas = g.sigmas;
    this.numInferenceSteps = n;
    this.resetStepIndex();
  }

  /** One ancestral Euler step. */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const i = this.beginStep('EulerAncestralDiscreteScheduler.step', modelOutput, sample, t);
    const sigma = this.sigmas[i]!;
    const next = this.sigmas[i + 1]!;
    const [cs, co] = veX0(
      this.config.get('prediction_type'),
      sigma,
      sigma,
      'EulerAncestralDiscreteScheduler.step',
    );
    const [down, up] = ancestralStep(sigma, next); // diffusers' σ_up, σ_down (η = 1)
    const B = sample.backend;
    const out = tidyStep(() => {
      const pred = B.lincomb([cs, co], [sample, modelOutput]);
      const r = (down - sigma) / sigma;
      let prevSample = B.lincomb([1 + r - r * cs, -r * co], [sample, modelOutput]);
      if (up > 0) {
        const noise = opts.varianceNoise ?? drawNoise(sample, opts.generator ?? this.generator);
        prevSample = B.lincomb([1, up], [prevSample, noise]);
      }
      return { prevSample, predOriginalSample: pred };
    });
    this.setStepIndex(i + 1);
    return out;
  }
}
