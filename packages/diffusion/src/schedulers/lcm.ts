import { type Tensor, TesseraError } from '@tessera/core';
import { thresholdOrClip } from './alpha-common.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { checkStepInputs, checkTimestepsSet, stepNoise, tidyStep, vpCoefs } from './common.js';
import { AlphaTableScheduler } from './families.js';

/** Options of {@link LCMScheduler.setTimesteps}. */
export interface LCMSetTimestepsOptions {
  /** The distillation schedule's step count (default: config `original_inference_steps`). */
  originalInferenceSteps?: number;
  /** Custom descending integer timesteps instead of `n`. */
  timesteps?: readonly number[];
  /** img2img strength in (0, 1]: keeps the lower part of the schedule. */
  strength?: number;
}

/**
 * diffusers' `LCMScheduler` (Latent Consistency Models, Luo et al. 2023): timesteps picked evenly from
 * the distillation schedule `k·i − 1` (k = N // original_inference_steps), the consistency boundary
 * condition x̂ = c_skip(t)·x + c_out(t)·x̂₀ with c_skip = σ_d²/((st)² + σ_d²), c_out = st/√((st)² + σ_d²)
 * (σ_d = 0.5, s = `timestep_scaling`), then fresh noise to the next timestep (none after the last).
 * x̂₀ is dynamically thresholded (`thresholding`) or else clipped (`clip_sample`) before the boundary condition.
 */
export class LCMScheduler extends AlphaTableScheduler implements Scheduler {
  constructor(config: ConfigInput, className = 'LCMScheduler') {
    super(config, className);
  }

  /** Sets `n` inference steps picked from the distillation schedule (or custom timesteps). */
  setTimesteps(n?: number, opts: LCMSetTimestepsOptions = {}): void {
    const op = `${this.config.className}.setTimesteps`;
    const N = this.config.get('num_train_timesteps') as number;
    const strength = opts.strength ?? 1;
    if (!(strength > 0 && strength <= 1))
      throw new TesseraError('INVALID_ARGUMENT', `${op}: strength must be in (0, 1], got ${strength}`);
    if ((n === undefined) === (opts.timesteps === undefined))
      throw new TesseraError('INVALID_ARGUMENT', `${op}: pass exactly one of n or timesteps`);
    const orig = opts.originalInferenceSteps ?? (this.config.get('original_inference_steps') as number);
    if (!Number.isInteger(orig) || orig < 1 || orig > N)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: original_inference_steps must be in [1, ${N}], got ${orig}`,
      );
    const origin = this.originTimesteps(N, orig, strength, opts.originalInferenceSteps !== undefined);
    if (opts.timesteps) {
      const ts = opts.timesteps;
      for (let i = 1; i < ts.length; i++)
        if (ts[i]! >= ts[i - 1]!)
          throw new TesseraError('INVALID_ARGUMENT', `${op}: custom timesteps must be descending`);
      if (ts[0]! >= N)
        throw new TesseraError('INVALID_ARGUMENT', `${op}: timesteps must be below num_train_timesteps ${N}`);
      const m = ts.length;
      const init = Math.min(Math.floor(m * strength), m);
      this.timesteps = Int32Array.from(ts.slice(Math.max(m - init, 0)));
      this.numInferenceSteps = m;
    } else {
      if (!Number.isInteger(n) || n! < 1)
        throw new TesseraError('INVALID_ARGUMENT', `${op}: n must be a positive integer, got ${n}`);
      if (n! > orig)
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `${op}: n = ${n} exceeds original_inference_steps ${orig}`,
        );
      if (Math.floor(origin.length / n!) < 1)
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `${op}: n = ${n} is more than the ${origin.length} timesteps left at strength ${strength}`,
        );
      origin.reverse();
      // np.floor(np.linspace(0, len, n, endpoint=False))
      const step = origin.length / n!;
      this.timesteps = Int32Array.from({ length: n! }, (_, i) => origin[Math.floor(i * step)]!);
      this.numInferenceSteps = n!;
    }
    this.resetStepIndex();
  }

  /**
   * The distillation schedule the inference timesteps are picked from, ascending: k·i − 1 for
   * i = 1 … ⌊orig·strength⌋, k = N // orig.
   */
  protected originTimesteps(N: number, orig: number, strength: number, _explicitOrig: boolean): number[] {
    const k = Math.floor(N / orig);
    return Array.from({ length: Math.floor(orig * strength) }, (_, i) => (i + 1) * k - 1);
  }

  /** The consistency-model boundary scalings [c_skip, c_out] at timestep `t`. */
  boundaryScalings(t: number): [number, number] {
    const sd = 0.5;
    const st = t * (this.config.get('timestep_scaling') as number);
    return [(sd * sd) / (st * st + sd * sd), st / Math.sqrt(st * st + sd * sd)];
  }

  /**
   * One LCM step: `predOriginalSample` is the boundary-conditioned `denoised`; `prevSample` re-noises it
   * to the next timestep with noise from `generator` (or `varianceNoise`), or is `denoised` at the last step.
   */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const op = 'LCMScheduler.step';
    checkStepInputs(op, modelOutput, sample);
    checkTimestepsSet(op, this.numInferenceSteps);
    if (!Number.isInteger(t) || t < 0 || t >= this.alphasCumprod.length)
      throw new TesseraError('OUT_OF_RANGE', `${op}: timestep ${t} is not a training timestep`);
    const i = this.stepIndexFor(op, t, this.timesteps);
    const prevT = i + 1 < this.timesteps.length ? this.timesteps[i + 1]! : t;
    const a = this.alphasCumprod[t]!;
    const ap = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const [cSkip, cOut] = this.boundaryScalings(t);
    const pt = this.config.get('prediction_type');
    const coefs = vpCoefs(pt, Math.sqrt(a), Math.sqrt(1 - a));
    if (!coefs)
      throw new TesseraError(
        'UNSUPPORTED',
        `${op}: prediction_type "${pt}" must be epsilon, sample or v_prediction`,
      );
    const B = sample.backend;
    const last = i === this.numInferenceSteps - 1;
    const out = tidyStep(() => {
      // x̂₀ thresholded or clipped before the boundary condition
      const pred = thresholdOrClip(B.lincomb(coefs.x0, [sample, modelOutput]), this.config, op);
      const denoised = B.lincomb([cOut, cSkip], [pred, sample]);
      if (last) return { prevSample: B.lincomb([1], [denoised]), predOriginalSample: denoised };
      const noise = stepNoise(sample, opts, this.generator);
      const prevSample = B.lincomb([Math.sqrt(ap), Math.sqrt(1 - ap)], [denoised, noise]);
      return { prevSample, predOriginalSample: denoised };
    });
    this.setStepIndex(i + 1);
    return out;
  }
}
