import { type Tensor, TesseraError } from '@tessera/core';
import { type SchedulerConfig, timesteps as spacedTimesteps } from '@tessera/schedules';
import { noiseBatch, thresholdSample, timestepList, vpCoefs } from './common.js';

/**
 * Shared pieces of the schedulers that index the ᾱ table by integer timestep (DDPM, DDIM, LCM):
 * prediction conversion, the spaced timestep grid, the training-timestep check, x₀ thresholding or
 * clipping, the σ view and `add_noise`.
 */

/** x₀ and ε estimates of a VP model output at ᾱ = `alphaProd` as [coef on sample, coef on output] pairs. */
export function vpPredictions(
  predictionType: string,
  alphaProd: number,
  op: string,
): { x0: [number, number]; eps: [number, number] } {
  const coefs = vpCoefs(predictionType, Math.sqrt(alphaProd), Math.sqrt(1 - alphaProd));
  if (coefs) return coefs;
  throw new TesseraError(
    'UNSUPPORTED',
    `${op}: prediction_type "${predictionType}" must be one of epsilon, sample, v_prediction`,
  );
}

/** `n` integer inference timesteps by the config's `timestep_spacing` and `steps_offset`. */
export function spacedAlphaTimesteps(cfg: SchedulerConfig, n: number): Int32Array {
  return spacedTimesteps(n, {
    spacing: cfg.get('timestep_spacing'),
    numTrainTimesteps: cfg.get('num_train_timesteps'),
    stepsOffset: cfg.get('steps_offset'),
  });
}

/** Throws OUT_OF_RANGE unless `t` is an integer training timestep in [0, N). */
export function checkTrainTimestep(op: string, t: number, N: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= N)
    throw new TesseraError('OUT_OF_RANGE', `${op}: t must be an integer in [0, ${N}), got ${t}`);
}

/**
 * diffusers' `if thresholding: … elif clip_sample: …` on an x₀ estimate: dynamic thresholding
 * ({@link thresholdSample}), else clamping to ±`clip_sample_range`, else `pred` unchanged.
 */
export function thresholdOrClip(pred: Tensor, cfg: SchedulerConfig, op: string): Tensor {
  if (cfg.get('thresholding')) return thresholdSample(pred, cfg, op);
  if (cfg.get('clip_sample')) {
    const range = cfg.get('clip_sample_range') as number;
    return pred.backend.clamp(pred, -range, range);
  }
  return pred;
}

/** σ = √((1−ᾱ)/ᾱ) of each of `timesteps`, for inspection. */
export function alphaSigmas(timesteps: ArrayLike<number>, alphasCumprod: Float64Array): Float64Array {
  return Float64Array.from(timesteps, (t) => Math.sqrt((1 - alphasCumprod[t]!) / alphasCumprod[t]!));
}

/**
 * q(x_t | x₀) = √ᾱ_t·x₀ + √(1−ᾱ_t)·noise, one timestep for all rows or one per batch row; a timestep
 * outside the table is an OUT_OF_RANGE error with the message `outOfRange(t)`.
 */
export function alphaAddNoise(
  x0: Tensor,
  noise: Tensor,
  t: number | readonly number[],
  alphasCumprod: Float64Array,
  outOfRange: (t: number) => string,
): Tensor {
  return noiseBatch(
    x0,
    noise,
    timestepList(t).map((ti) => {
      const a = alphasCumprod[ti];
      if (a === undefined) throw new TesseraError('OUT_OF_RANGE', outOfRange(ti));
      return [Math.sqrt(a), Math.sqrt(1 - a)] as const;
    }),
  );
}
