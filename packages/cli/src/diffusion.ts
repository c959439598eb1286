import type { Backend, Tensor } from '@tessera/core';
import {
  cfgDenoiser,
  type Denoiser,
  SAMPLER_NAMES,
  type SamplerName,
  type StepInfo,
  sample,
} from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';
import { readConfig } from './config.js';
import { UsageError } from './errors.js';
import { checkInt, checkNum, LIMITS, MAX_SEED } from './limits.js';
import {
  DIFFUSION_MODELS,
  type DiffusionModelName,
  modelsDir,
  onnxBackendFor,
  parseModelFlag,
} from './models.js';
import { sigmasFromSchedulerConfig } from './schedule.js';

/** Options of {@link generateDiffusion}. */
export interface DiffusionJob {
  backend: Backend;
  sampler: SamplerName;
  steps: number;
  seed: number;
  count: number;
  /**
   * Restrict to one digit class (0–9); with `guidance` ≠ 1 the unconditional model is the full mixture
   * (`reference`) or the U-Net's null class (`digits-unet`). Without it the U-Net's images cycle through
   * the digits (image i is digit i mod 10) and the reference model samples its full mixture.
   */
  digit?: number;
  guidance: number;
  /**
   * The model: `reference` (default: the embedded Gaussian-mixture digits model, exact posterior mean),
   * `digits-unet` (the trained class-conditional U-Net of `@tessera/models`, on ONNX Runtime), or the
   * path of a user's ONNX x0-denoiser (inputs x and sigma, as `tessera export-model` writes).
   */
  model?: string;
  /** A diffusers scheduler_config.json to take the noise levels from. */
  schedulerConfig?: string;
  /** Called after each step (for progress bars and denoising strips). */
  onStep?: (info: StepInfo) => void | Promise<void>;
}

/** Result of a diffusion run: images `[N, 1, 16, 16]` in [-1, 1] (caller disposes) and counts. */
export interface DiffusionResult {
  images: Tensor;
  sigmas: Float64Array;
  modelCalls: number;
}

/** Most steps the trained U-Net takes (one per training timestep). */
export const DIGITS_UNET_MAX_STEPS = 1000;

/** Karras noise levels spanning the default model's data (σ from 80 down to 0.002), ending in 0. */
export function defaultSigmas(steps: number): Float64Array {
  const s = karrasSigmas(steps, 0.002, 80, 7);
  const out = new Float64Array(steps + 1);
  out.set(s);
  return out;
}

/** What a job's `model` names: a built-in model or a file. */
function modelOf(
  job: DiffusionJob,
): { name: DiffusionModelName; file?: undefined } | { file: string; name?: undefined } {
  return job.model === undefined ? { name: 'reference' } : parseModelFlag(job.model, DIFFUSION_MODELS);
}

/**
 * The trained U-Net on an ONNX backend (the job's, or its own), with the job's class and guidance as
 * the conditioning of every call: `digit` for all rows, or the digits 0–9 in turn.
 */
async function loadUNet(job: DiffusionJob): Promise<{ denoiser: Denoiser; dispose(): Promise<void> }> {
  const { loadDigitsUNet } = await import('@tessera/models');
  const onnx = await onnxBackendFor(job.backend);
  let unet: Awaited<ReturnType<typeof loadDigitsUNet>>;
  try {
    unet = await loadDigitsUNet({ backend: onnx.backend, dir: await modelsDir() });
  } catch (err) {
    await onnx.release();
    throw err;
  }
  const classLabels =
    job.digit === undefined ? Array.from({ length: job.count }, (_, i) => i % 10) : [job.digit];
  const cond = { classLabels, guidanceScale: job.guidance };
  return {
    denoiser: (x, sigma) => unet(x, sigma, cond),
    async dispose() {
      await unet.dispose();
      await onnx.release();
    },
  };
}

/** The run's denoiser and how to free what this run made (the shared full-mixture denoiser stays cached). */
async function loadDenoiser(
  job: DiffusionJob,
): Promise<{ denoiser: Denoiser; dispose(): void | Promise<void> }> {
  const which = modelOf(job);
  if (which.file !== undefined) {
    const { loadOnnxDigitsDenoiser } = await import('./onnx-model.js');
    return { denoiser: await loadOnnxDigitsDenoiser(which.file, job.backend), dispose() {} };
  }
  if (which.name === 'digits-unet') return loadUNet(job);
  const model = defaultDigitsModel();
  const full = model.denoiser(job.backend);
  if (job.digit === undefined) return { denoiser: full, dispose() {} };
  // this run's own class-conditional mixture: its parameters are freed when the run ends
  const conditional = model.denoiser(job.backend, { digits: [job.digit] });
  const dispose = () => conditional.dispose();
  if (job.guidance === 1) return { denoiser: conditional, dispose };
  // One doubled batch: the first half goes through the class-conditional mixture, the second through the
  // full (unconditional) mixture; cfgDenoiser combines D_u + w·(D_c − D_u).
  const both: Denoiser = async (xx, sigma) => {
    const B = xx.backend;
    const n = xx.shape[0]! / 2;
    const rest = xx.shape.slice(1);
    const xc = B.slice(xx, [0, 0, 0, 0], [n, ...rest]);
    const xu = B.slice(xx, [n, 0, 0, 0], [n, ...rest]);
    const dc = await conditional(xc, sigma);
    const du = await full(xu, sigma);
    const out = B.concat([dc, du], 0);
    for (const t of [xc, xu, dc, du]) t.dispose();
    return out;
  };
  return { denoiser: cfgDenoiser(both, { scale: job.guidance, uncond: null, combine: () => null }), dispose };
}

/**
 * Samples `count` digit images from the embedded reference model (default), the trained U-Net
 * (`model: 'digits-unet'`: noise levels from its DDIM timesteps, as `sampleDigits` of `@tessera/models`
 * uses) or a user's ONNX denoiser.
 */
export async function generateDiffusion(job: DiffusionJob): Promise<DiffusionResult> {
  // the CLI's limits hold for library callers too (nothing is allocated for a job that breaks them)
  checkInt('steps', job.steps, 1, LIMITS.steps);
  checkInt('count', job.count, 1, LIMITS.count);
  checkInt('seed', job.seed, 0, MAX_SEED);
  checkNum('guidance', job.guidance, 0);
  if (!SAMPLER_NAMES.includes(job.sampler)) {
    throw new UsageError(`--sampler must be one of ${SAMPLER_NAMES.join(', ')}, got '${job.sampler}'`);
  }
  if (job.digit !== undefined && !(Number.isInteger(job.digit) && job.digit >= 0 && job.digit <= 9)) {
    throw new UsageError(`--digit must be an integer 0–9, got '${job.digit}'`);
  }
  const which = modelOf(job);
  if (which.file !== undefined && (job.digit !== undefined || job.guidance !== 1)) {
    throw new UsageError(
      `--digit and --guidance steer the digits models' classes; a --model file denoiser has none: leave them out`,
    );
  }
  const unet = which.name === 'digits-unet';
  if (unet && job.steps > DIGITS_UNET_MAX_STEPS) {
    throw new UsageError(
      `--steps must be at most ${DIGITS_UNET_MAX_STEPS} with --model digits-unet (its training timesteps), got '${job.steps}'`,
    );
  }
  if (job.digit === undefined && job.guidance !== 1 && which.name !== 'digits-unet') {
    throw new UsageError(`--guidance needs --digit (it guides the samples toward that digit class)`);
  }
  const sigmas = job.schedulerConfig
    ? await sigmasFromSchedulerConfig(await readConfig(job.schedulerConfig), job.steps)
    : unet
      ? Float64Array.from((await import('@tessera/models')).digitsDdimSigmas(job.steps))
      : defaultSigmas(job.steps);
  const inner = await loadDenoiser(job);
  let modelCalls = 0;
  const denoiser: Denoiser = (x, sigma, cond) => {
    modelCalls++;
    return inner.denoiser(x, sigma, cond);
  };
  const B = job.backend;
  try {
    const noise = B.randn([job.count, 1, 16, 16], { seed: job.seed });
    const x = B.lincomb([sigmas[0]!], [noise]);
    noise.dispose();
    try {
      const images = await sample(job.sampler, { denoiser, x, sigmas, seed: job.seed, callback: job.onStep });
      return { images, sigmas, modelCalls };
    } finally {
      x.dispose();
    }
  } finally {
    await inner.dispose();
  }
}
