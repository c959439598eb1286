import { type Tensor, TesseraError } from '@tessera/core';
import { type LinearForm, lin } from '../linear-form.js';
import { vpPredictions } from './alpha-common.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { stepNoise, tidyStep } from './common.js';
import { LCMScheduler } from './lcm.js';

/** Options of {@link TCDScheduler.step}. */
export interface TCDStepOptions extends StepOptions {
  /** γ of Trajectory Consistency Distillation's strategic stochastic sampling, in [0, 1]. Default 0.3. */
  eta?: number;
}

/**
 * diffusers' `TCDScheduler` (Trajectory Consistency Distillation, Zheng et al. 2024): the timestep grid
 * of {@link LCMScheduler} (with diffusers' quirk: an explicit `originalInferenceSteps` picks from every
 * training timestep below N·strength), and strategic stochastic sampling: from t, predict x₀ and ε,
 * move deterministically to s = ⌊(1 − η)·t_prev⌋, x_s = √ᾱ_s·x₀ + √(1 − ᾱ_s)·ε, then re-noise to t_prev,
 * x' = √(ᾱ_prev/ᾱ_s)·x_s + √(1 − ᾱ_prev/ᾱ_s)·z (not on the last step, nor with η = 0). As in
 * diffusers, the config's `clip_sample` / `thresholding` keys are accepted but not applied.
 *
 * @example
 * const s = TCDScheduler.fromConfig(json); s.setTimesteps(4);
 * for (const t of s.timesteps) x = s.step(await unet(x, t), t, x, { eta: 0.3, generator }).prevSample;
 */
export class TCDScheduler extends LCMScheduler implements Scheduler {
  constructor(config: ConfigInput) {
    super(config, 'TCDScheduler');
  }

  /** diffusers' `tcd_origin_timesteps`: LCM's k·i − 1, or 0 … ⌊N·strength⌋ − 1 when `originalInferenceSteps` is given. */
  protected override originTimesteps(
    N: number,
    orig: number,
    strength: number,
    explicitOrig: boolean,
  ): number[] {
    if (!explicitOrig) return super.originTimesteps(N, orig, strength, false);
    return Array.from({ length: Math.floor(N * strength) }, (_, i) => i);
  }

  /** One TCD step (see the class); `predOriginalSample` is the x₀ estimate. */
  override step(modelOutput: Tensor, t: number, sample: Tensor, opts: TCDStepOptions = {}): SchedulerOutput {
    const op = 'TCDScheduler.step';
    const eta = opts.eta ?? 0.3;
    if (!(eta >= 0 && eta <= 1))
      throw new TesseraError('INVALID_ARGUMENT', `${op}: eta must be in [0, 1], got ${eta}`);
    const i = this.beginStep(op, modelOutput, sample, t);
    const n = this.timesteps.length;
    const prevT = i + 1 < n ? this.timesteps[i + 1]! : 0;
    const s = Math.floor((1 - eta) * prevT);
    const ac = this.alphasCumprod;
    const aPrev = ac[prevT]!; // prev_timestep ≥ 0 always (0 after the last step), so never final_alpha_cumprod
    const aS = ac[s]!;
    const { x0, eps } = vpPredictions(this.config.get('prediction_type'), ac[t]!, op);
    const B = sample.backend;
    const last = i === (this.numInferenceSteps ?? n) - 1;
    const out = tidyStep(() => {
      const pred = B.lincomb(x0, [sample, modelOutput]);
      const epsForm = lin(sample, eps[0]).plus(lin(modelOutput, eps[1]));
      const noised: LinearForm = lin(pred, Math.sqrt(aS)).plus(epsForm.times(Math.sqrt(1 - aS)));
      let next = noised;
      if (eta > 0 && !last) {
        const z = stepNoise(sample, opts, this.generator);
        next = noised.times(Math.sqrt(aPrev / aS)).plus(lin(z, Math.sqrt(1 - aPrev / aS)));
      }
      return { prevSample: next.emit(B), predOriginalSample: pred };
    });
    this.setStepIndex(i + 1);
    return out;
  }
}
