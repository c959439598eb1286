import { TesseraError } from '@tessera/core';
import * as diffusion from '@tessera/diffusion';

/** The stateful-scheduler surface the CLI uses (the diffusers API as @tessera/diffusion implements it). */
interface SchedulerLike {
  setTimesteps(n: number): void;
  timesteps: ArrayLike<number>;
  sigmas?: ArrayLike<number>;
  alphasCumprod?: ArrayLike<number>;
}

type SchedulerClass = { fromConfig(json: Record<string, unknown>): SchedulerLike };

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

/** Instantiates the scheduler class a diffusers config names (`_class_name`; Euler when absent). */
export function schedulerFromConfig(json: Record<string, unknown>, className?: string): SchedulerLike {
  const name =
    className ?? (typeof json._class_name === 'string' ? json._class_name : 'EulerDiscreteScheduler');
  const cls = (diffusion as unknown as Record<string, SchedulerClass | undefined>)[name];
  if (!cls || typeof cls.fromConfig !== 'function') {
    const known = Object.keys(diffusion).filter((k) => k.endsWith('Scheduler'));
    throw new TesseraError('UNKNOWN_NAME', `unknown scheduler class '${name}'; known: ${known.join(', ')}`);
  }
  return cls.fromConfig(json);
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
  let sigmas: number[];
  if (s.sigmas && s.sigmas.length >= timesteps.length) sigmas = Array.from(s.sigmas);
  else if (s.alphasCumprod) {
    const ac = s.alphasCumprod;
    sigmas = timesteps.map((t) => Math.sqrt((1 - ac[Math.round(t)]!) / ac[Math.round(t)]!));
  } else
    throw new TesseraError(
      'UNSUPPORTED',
      `scheduler ${String(json._class_name)} exposes neither sigmas nor alphasCumprod`,
    );
  if (sigmas[sigmas.length - 1] !== 0) sigmas.push(0);
  return { timesteps, sigmas };
}

/** Noise levels for the functional samplers from a diffusers config. */
export async function sigmasFromSchedulerConfig(
  json: Record<string, unknown>,
  steps: number,
): Promise<Float64Array> {
  return Float64Array.from(scheduleTable(json, steps).sigmas);
}
