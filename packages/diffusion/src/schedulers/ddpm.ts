import { type Tensor, TesseraError } from '@tessera/core';
import { customTimesteps } from '@tessera/schedules';
import { checkTrainTimestep, spacedAlphaTimesteps, thresholdOrClip, vpPredictions } from './alpha-common.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { checkStepInputs, rejectUnsupported, stepNoise, tidyStep } from './common.js';
import { AlphaTableScheduler } from './families.js';

const BETAS = ['linear', 'scaled_linear', 'squaredcos_cap_v2', 'sigmoid', 'laplace'];

/**
 * diffusers' `DDPMScheduler` (Ho et al. 2020): ancestral sampling with the posterior mean of
 * q(x_{t−1} | x_t, x₀) and variance `fixed_small` / `fixed_small_log` / `fixed_large` /
 * `fixed_large_log` / `learned` / `learned_range` (learned ones take a model output with twice the
 * channels, the second half being the variance prediction). The x₀ estimate is dynamically thresholded
 * (`thresholding`, `dynamic_thresholding_ratio`, `sample_max_value`) or else clipped (`clip_sample`).
 */
export class DDPMScheduler extends AlphaTableScheduler implements Scheduler {
  #custom = false;

  constructor(config: ConfigInput) {
    super(config, 'DDPMScheduler', BETAS);
    // fixed_large_log: diffusers takes √(log β) there, which is NaN; we refuse it instead.
    rejectUnsupported(this.config, { variance_type: 'fixed_large_log' });
  }

  /** Sets `n` inference timesteps by the config's spacing, or a custom descending list. */
  setTimesteps(n?: number, opts: { timesteps?: readonly number[] } = {}): void {
    const N = this.config.get('num_train_timesteps');
    if ((n === undefined) === (opts.timesteps === undefined))
      throw new TesseraError(
        'INVALID_ARGUMENT',
        'DDPMScheduler.setTimesteps: pass exactly one of n or timesteps',
      );
    if (opts.timesteps) {
      this.timesteps = customTimesteps(opts.timesteps, N);
      this.#custom = true;
      this.numInferenceSteps = null;
      return;
    }
    this.timesteps = spacedAlphaTimesteps(this.config, n!);
    this.numInferenceSteps = n!;
    this.#custom = false;
  }

  /** The timestep after `t` in the schedule (−1 at the end); t − 1 before `setTimesteps`. */
  previousTimestep(t: number): number {
    if (!this.#custom && this.numInferenceSteps === null) return t - 1;
    const i = this.timesteps.indexOf(t);
    if (i < 0) throw new TesseraError('OUT_OF_RANGE', `DDPMScheduler: timestep ${t} is not in the schedule`);
    return i === this.timesteps.length - 1 ? -1 : this.timesteps[i + 1]!;
  }

  /** One ancestral step from `t` to the previous timestep. */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const op = 'DDPMScheduler.step';
    const vt = this.config.get('variance_type') ?? 'fixed_small';
    const learned = vt === 'learned' || vt === 'learned_range';
    const B = sample.backend;
    checkTrainTimestep(op, t, this.config.get('num_train_timesteps'));
    const split =
      learned && modelOutput.rank >= 2 && sample.rank >= 2 && modelOutput.shape[1] === 2 * sample.shape[1]!;
    const prevT = this.previousTimestep(t);
    const aT = this.alphasCumprod[t]!;
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : 1;
    const curAlpha = aT / aPrev;
    const curBeta = 1 - curAlpha;
    const { x0 } = vpPredictions(this.config.get('prediction_type'), aT, op);
    const predCoef = (Math.sqrt(aPrev) * curBeta) / (1 - aT);
    const curCoef = (Math.sqrt(curAlpha) * (1 - aPrev)) / (1 - aT);
    const variance = Math.max(((1 - aPrev) / (1 - aT)) * curBeta, 1e-20);
    return tidyStep(() => {
      let out = modelOutput;
      let predVar: Tensor | null = null;
      if (split) {
        const c = sample.shape[1]!;
        const size = [...modelOutput.shape];
        size[1] = c;
        out = B.slice(
          modelOutput,
          modelOutput.shape.map(() => 0),
          size,
        );
        predVar = B.slice(
          modelOutput,
          modelOutput.shape.map((_, j) => (j === 1 ? c : 0)),
          size,
        );
      } else if (learned) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${op}: variance_type "${vt}" needs a model output with 2× the sample's channels, got [${modelOutput.shape}] for [${sample.shape}]`,
        );
      }
      checkStepInputs(op, out, sample);
      const pred = thresholdOrClip(B.lincomb(x0, [sample, out]), this.config, op);
      let prev = B.lincomb([predCoef, curCoef], [pred, sample]);
      if (t > 0) {
        const conflict = `${op}: pass either generator or varianceNoise`;
        const noise = stepNoise(sample, opts, this.generator, conflict);
        if (vt === 'learned') {
          prev = B.binary('add', prev, B.binary('mul', B.unary('sqrt', predVar!), noise));
        } else if (vt === 'learned_range') {
          // log variance = frac·log β_t + (1 − frac)·log var, frac = (v + 1)/2; noise · exp(½ log variance)
          const minLog = Math.log(variance);
          const maxLog = Math.log(curBeta);
          const half = B.binary(
            'add',
            B.lincomb([0.25 * (maxLog - minLog)], [predVar!]),
            0.25 * (maxLog + minLog),
          );
          prev = B.binary('add', prev, B.binary('mul', B.unary('exp', half), noise));
        } else {
          // fixed_small_log: diffusers multiplies the noise by exp(½ log var) = √var; fixed_large: √β_t
          const std = vt === 'fixed_large' ? Math.sqrt(curBeta) : Math.sqrt(variance);
          prev = B.lincomb([1, std], [prev, noise]);
        }
      }
      return { prevSample: prev, predOriginalSample: pred };
    });
  }
}
