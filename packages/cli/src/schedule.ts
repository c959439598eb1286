import { TesseraError } from '@tessera/core';
import type { Scheduler } from '@tessera/diffusion';
import * as diffusion from '@tessera/diffusion';

/** SD-1.5's scheduler_config.json (PNDM in the original release; its keys drive every scheduler). */
export const SD15_CONFIG: Record<string, unknown> = {
  _class_name: 'EulerDiscreteScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'leading',
  trained_betas: null,
};

/**
 * Instantiates the scheduler class a diffusers config names (`_class_name`; Euler when absent), or
 * `className` (the `--class` flag). An unknown class is a TesseraError that says to pass `--class`.
 */
export function schedulerFromConfig(json: Record<string, unknown>, className?: string): Scheduler {
  const name =
    className ?? (typeof json._class_name === 'string' ? json._class_name : 'EulerDiscreteScheduler');
  try {
    return diffusion.schedulerFromConfig(json, { className: name });
  } catch (e) {
    if (e instanceof TesseraError && e.code === 'UNKNOWN_NAME') {
      const how = className
        ? 'pass --class with one of the known classes'
        : `pass --class NAME to read this config's keys with a known class`;
      throw new TesseraError('UNKNOWN_NAME', `${e.message}; ${how}`, { cause: e });
    }
    throw e;
  }
}

/** The timesteps and noise levels (descending, ending in 0) a scheduler config gives for `steps` steps. */
export function scheduleTable(
  json: Record<string, unknown>,
  steps: number,
  className?: string,
): { timesteps: number[]; sigmas: number[] } {
  const s = schedulerFromConfig(json, className);
  s.setTimesteps(steps);
  const timesteps = Array.from(s.timesteps);
  const sigmas = Array.from(s.sigmas);
  if (sigmas[sigmas.length - 1] !== 0) sigmas.push(0);
  return { timesteps, sigmas };
}

/**
 * Noise levels for the functional samplers from a diffusers config: the scheduler's σ's with repeats
 * dropped (PNDM repeats a timestep, Heun and KDPM2 list every σ twice), so strictly descending.
 */
export async function sigmasFromSchedulerConfig(
  json: Record<string, unknown>,
  steps: number,
): Promise<Float64Array> {
  const all = scheduleTable(json, steps).sigmas;
  return Float64Array.from(all.filter((v, i) => i === 0 || v < all[i - 1]!));
}
