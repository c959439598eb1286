import { type Backend, type Tensor, TesseraError } from '@tessera/core';
import { type SamplerName, sample } from '@tessera/diffusion';
import { timesteps } from '@tessera/schedules';
import { UNET_DIGITS16_SCHEDULER_CONFIG } from './cards.js';
import { type ClassDenoiser, digitsUNetSigmas } from './unet.js';

/**
 * The σ of diffusers' DDIM (and DDPM) inference timesteps for the digit U-Net: `steps` timesteps with the
 * config's `leading` spacing (t = k·⌊1000/steps⌋, descending), their training σ, then 0 (DDIM's
 * `set_alpha_to_one`). Feeding these to k-diffusion's `ddim` (η = 0) reproduces diffusers' DDIM steps.
 */
export function digitsDdimSigmas(steps: number): number[] {
  const c = UNET_DIGITS16_SCHEDULER_CONFIG;
  if (!Number.isInteger(steps) || steps < 1 || steps > c.num_train_timesteps) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `digitsDdimSigmas: steps must be an integer in 1–${c.num_train_timesteps}, got ${steps}`,
    );
  }
  const sig = digitsUNetSigmas();
  const ts = timesteps(steps, {
    spacing: c.timestep_spacing,
    numTrainTimesteps: c.num_train_timesteps,
    stepsOffset: c.steps_offset,
  });
  return [...Array.from(ts, (t) => sig[t]!), 0];
}

/** Options of {@link sampleDigits}. */
export interface SampleDigitsOptions {
  /** The loaded digit U-Net. */
  denoiser: ClassDenoiser;
  /** The digit of each image (0–9; the null class 10 for "any digit"). */
  classes: readonly number[];
  /** Backend the sample lives on (default: the U-Net's ONNX backend). */
  backend?: Backend;
  /** Sampler (k-diffusion name). Default `ddim`. */
  sampler?: SamplerName;
  /** Inference steps on diffusers' leading DDIM timesteps. Default 50. */
  steps?: number;
  /** Classifier-free guidance scale. Default 1. */
  guidanceScale?: number;
  /** Philox seed of the starting noise (and of a stochastic sampler). Default 0. */
  seed?: number;
  /** Checked between steps. */
  signal?: AbortSignal;
}

/**
 * Class-conditional digits from the trained U-Net through `@tessera/diffusion`: Philox noise times σ_max,
 * then `sampler` over {@link digitsDdimSigmas}. Returns `[N, 1, 16, 16]` images in about [-1, 1] (a
 * fresh tensor the caller owns).
 *
 * @example
 * const D = await loadDigitsUNet({ backend: B });
 * const images = await sampleDigits({ denoiser: D, classes: [0, 1, 2, 3], seed: 7 });
 */
export async function sampleDigits(options: SampleDigitsOptions): Promise<Tensor> {
  const { denoiser, classes } = options;
  if (!Array.isArray(classes) || classes.length < 1) {
    throw new TesseraError('INVALID_ARGUMENT', 'sampleDigits: classes must be a non-empty array of digits');
  }
  const B = options.backend ?? denoiser.model.backend;
  const sigmas = digitsDdimSigmas(options.steps ?? 50);
  const seed = options.seed ?? 0;
  const noise = B.randn([classes.length, 1, 16, 16], { seed });
  const x = B.lincomb([sigmas[0]!], [noise]);
  noise.dispose();
  try {
    return await sample(options.sampler ?? 'ddim', {
      denoiser,
      x,
      sigmas,
      seed,
      cond: { classLabels: classes, guidanceScale: options.guidanceScale ?? 1 },
      signal: options.signal,
    });
  } finally {
    x.dispose();
  }
}
