import { type Tensor, TesseraError } from '@tessera/core';
import { checkTrainTimestep, spacedAlphaTimesteps, thresholdOrClip, vpPredictions } from './alpha-common.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { checkStepCount, checkStepInputs, checkTimestepsSet, stepNoise, tidyStep } from './common.js';
import { AlphaTableScheduler } from './families.js';

/** Options of {@link DDIMScheduler.step}. */
export interface DDIMStepOptions extends StepOptions {
  /** η: 0 is deterministic DDIM, 1 is DDPM-like ancestral sampling. Default 0. */
  eta?: number;
  /** Recompute ε from the clipped x₀ (diffusers `use_clipped_model_output`). */
  useClippedModelOutput?: boolean;
}

/**
 * diffusers' `DDIMScheduler` (Song et al. 2021): deterministic (η = 0) or stochastic DDIM steps over
 * integer timesteps. Quirk kept from diffusers: the previous timestep is `t − N // n` whatever the spacing.
 * The x₀ estimate is dynamically thresholded (`thresholding`, `dynamic_thresholding_ratio`,
 * `sample_max_value`) or else clipped (`clip_sample`); ε stays the model's unless `useClippedModelOutput`.
 *
 * @example
 * const s = DDIMScheduler.fromConfig(json); s.setTimesteps(50);
 * for (const t of s.timesteps) x = s.step(await unet(x, t), t, x).prevSample;
 */
export class DDIMScheduler extends AlphaTableScheduler implements Scheduler {
  constructor(config: ConfigInput) {
    super(config, 'DDIMScheduler');
  }

  /** Sets `n` inference timesteps with the config's `timestep_spacing` and `steps_offset`. */
  setTimesteps(n: number): void {
    checkStepCount('DDIMScheduler.setTimesteps', n, this.config.get('num_train_timesteps'));
    this.numInferenceSteps = n;
    this.timesteps = spacedAlphaTimesteps(this.config, n);
  }

  /** One DDIM step from timestep `t` to `t − N // n`. */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: DDIMStepOptions = {}): SchedulerOutput {
    const op = 'DDIMScheduler.step';
    checkStepInputs(op, modelOutput, sample);
    checkTimestepsSet(op, this.numInferenceSteps);
    const N = this.config.get('num_train_timesteps');
    checkTrainTimestep(op, t, N);
    const eta = opts.eta ?? 0;
    if (!(Number.isFinite(eta) && eta >= 0))
      throw new TesseraError('INVALID_ARGUMENT', `${op}: eta must be a finite number ≥ 0, got ${eta}`);
    const prev = t - Math.floor(N / this.numInferenceSteps);
    const aT = this.alphasCumprod[t]!;
    const aPrev = prev >= 0 ? this.alphasCumprod[prev]! : this.finalAlphaCumprod;
    const variance = ((1 - aPrev) / (1 - aT)) * (1 - aT / aPrev);
    const std = eta * Math.sqrt(variance);
    const { x0, eps } = vpPredictions(this.config.get('prediction_type'), aT, op);
    const dirCoef = Math.sqrt(Math.max(1 - aPrev - std * std, 0));
    const B = sample.backend;
    return tidyStep(() => {
      const pred = thresholdOrClip(B.lincomb(x0, [sample, modelOutput]), this.config, op);
      let prevSample: Tensor;
      if (opts.useClippedModelOutput) {
        // ε from the (clipped) x₀: (x − √ᾱ x₀)/√(1−ᾱ)
        const s = Math.sqrt(1 - aT);
        prevSample = B.lincomb(
          [dirCoef / s, Math.sqrt(aPrev) - (dirCoef * Math.sqrt(aT)) / s],
          [sample, pred],
        );
      } else if (eps[0] === 0 && eps[1] === 1) {
        prevSample = B.lincomb([Math.sqrt(aPrev), dirCoef], [pred, modelOutput]);
      } else {
        prevSample = B.lincomb(
          [Math.sqrt(aPrev), dirCoef * eps[0], dirCoef * eps[1]],
          [pred, sample, modelOutput],
        );
      }
      if (eta > 0) {
        const conflict = `${op}: pass either generator or varianceNoise, not both`;
        const noise = stepNoise(sample, opts, this.generator, conflict);
        prevSample = B.lincomb([1, std], [prevSample, noise]);
      }
      return { prevSample, predOriginalSample: pred };
    });
  }
}
