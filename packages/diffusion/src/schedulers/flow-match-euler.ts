import { type Tensor, TesseraError } from '@tessera/core';
import { flowMatchSigmas } from '@tessera/schedules';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { SchedulerBase } from './base.js';
import { drawNoise, tidyStep } from './common.js';

const f32 = Math.fround;

/** Options of {@link FlowMatchEulerDiscreteScheduler.setTimesteps}. */
export interface FlowMatchSetTimestepsOptions {
  /** μ of dynamic shifting (required when `use_dynamic_shifting`); see `calculateShift` of @tessera/schedules. */
  mu?: number;
  /** Custom sigmas (the FLUX pipeline passes `linspace(1, 1/n, n)`). */
  sigmas?: readonly number[];
  /** Custom timesteps (σ = t/N before shifting). */
  timesteps?: readonly number[];
}

/**
 * diffusers' `FlowMatchEulerDiscreteScheduler` (SD3, FLUX): x_σ = (1 − σ)·x₀ + σ·ε, the model predicts
 * the velocity ε − x₀, and an Euler step moves by (σ_next − σ)·v. Static `shift`, dynamic shifting
 * with μ, `shift_terminal`, Karras / exponential / beta sigmas, `invert_sigmas`, `stochastic_sampling`.
 * Timesteps are floats (σ·N).
 */
export class FlowMatchEulerDiscreteScheduler extends SchedulerBase implements Scheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  timesteps: Float64Array;
  sigmas: Float64Array;
  #shift: number;

  constructor(config: ConfigInput) {
    super(config, 'FlowMatchEulerDiscreteScheduler');
    this.#shift = this.config.get('shift');
    const N = this.config.get('num_train_timesteps');
    const dyn = this.config.get('use_dynamic_shifting');
    const s = this.#shift;
    const table = Float64Array.from({ length: N }, (_, i) => {
      const sigma = f32(f32(N - i) / N);
      return dyn ? sigma : f32(f32(f32(s) * sigma) / f32(1 + f32(f32(s - 1) * sigma)));
    });
    this.timesteps = table.map((x) => f32(x * N));
    this.sigmas = table;
  }

  /** The static shift in use (diffusers `shift` property). */
  get shift(): number {
    return this.#shift;
  }

  /** Changes the static shift for the next `setTimesteps` (diffusers `set_shift`). */
  setShift(shift: number): void {
    if (!(shift > 0 && Number.isFinite(shift)))
      throw new TesseraError('INVALID_ARGUMENT', `setShift: shift must be positive, got ${shift}`);
    this.#shift = shift;
  }

  /** Sets `n` inference steps (or custom sigmas / timesteps); `mu` for dynamic shifting. */
  setTimesteps(n?: number, opts: FlowMatchSetTimestepsOptions = {}): void {
    const cfg = this.config;
    const op = 'FlowMatchEulerDiscreteScheduler.setTimesteps';
    const N = cfg.get('num_train_timesteps');
    if (cfg.get('use_dynamic_shifting') && opts.mu === undefined)
      throw new TesseraError('INVALID_ARGUMENT', `${op}: mu must be passed when use_dynamic_shifting is set`);
    if (opts.sigmas && opts.timesteps && opts.sigmas.length !== opts.timesteps.length) {
      throw new TesseraError('INVALID_ARGUMENT', `${op}: sigmas and timesteps must have the same length`);
    }
    const custom = opts.sigmas ?? (opts.timesteps ? opts.timesteps.map((t) => f32(f32(t) / N)) : undefined);
    if (n !== undefined && custom && custom.length !== n)
      throw new TesseraError('INVALID_ARGUMENT', `${op}: n must equal the length of custom sigmas/timesteps`);
    const steps = n ?? custom?.length;
    if (steps === undefined) throw new TesseraError('INVALID_ARGUMENT', `${op}: pass n, sigmas or timesteps`);
    const schedule = cfg.get('use_karras_sigmas')
      ? 'karras'
      : cfg.get('use_exponential_sigmas')
        ? 'exponential'
        : cfg.get('use_beta_sigmas')
          ? 'beta'
          : undefined;
    let s = flowMatchSigmas(steps, {
      numTrainTimesteps: N,
      shift: this.#shift,
      useDynamicShifting: cfg.get('use_dynamic_shifting'),
      mu: opts.mu,
      timeShiftType: cfg.get('time_shift_type'),
      shiftTerminal: cfg.get('shift_terminal'),
      sigmaSchedule: schedule,
      sigmas: custom,
    });
    const invert = cfg.get('invert_sigmas');
    if (invert) s = s.map((x) => f32(1 - x));
    this.timesteps = s.map((x) => f32(x * N));
    this.sigmas = new Float64Array(s.length + 1);
    this.sigmas.set(s);
    this.sigmas[s.length] = invert ? 1 : 0;
    this.numInferenceSteps = steps;
    this.resetStepIndex();
  }

  /** Flow models take the sample unscaled. */
  scaleModelInput(sample: Tensor, _t?: number): Tensor {
    return sample;
  }

  /** One Euler step: x + (σ_next − σ)·v, or with `stochastic_sampling` a re-noising of x₀ = x − σ·v. */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const i = this.beginStep('FlowMatchEulerDiscreteScheduler.step', modelOutput, sample, t);
    const sigma = this.sigmas[i]!;
    const next = this.sigmas[i + 1]!;
    const B = sample.backend;
    const out = tidyStep(() => {
      if (this.config.get('stochastic_sampling')) {
        const noise = opts.varianceNoise ?? drawNoise(sample, opts.generator ?? this.generator);
        // (1 − σ_next)(x − σ v) + σ_next·noise
        return { prevSample: B.lincomb([1 - next, -(1 - next) * sigma, next], [sample, modelOutput, noise]) };
      }
      return { prevSample: B.lincomb([1, next - sigma], [sample, modelOutput]) };
    });
    this.setStepIndex(i + 1);
    return out;
  }

  /** σ·noise + (1 − σ)·x₀ at the timestep's σ (diffusers `scale_noise`). */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor {
    return this.sigmaAddNoise(x0, noise, t, this.sigmas, (s) => [1 - s, s]);
  }

  /** diffusers' name for {@link addNoise}. */
  scaleNoise(sample: Tensor, t: number | readonly number[], noise: Tensor): Tensor {
    return this.addNoise(sample, noise, t);
  }
}
