// The trained networks of @tessera/models as job models: "model": "digits-unet" for diffusion jobs.
import type { Backend } from '@tessera/core';
import { TesseraError } from '@tessera/core';
import { type Denoiser, rowDenoiser, rowSigmas } from '@tessera/diffusion';
import type { DiffusionGenerator } from './config.js';

/** Trained diffusion networks a job may name in `generator.model` (instead of an `.onnx` path). */
export const TRAINED_DIFFUSION_MODELS = ['digits-unet'] as const;
/** One of {@link TRAINED_DIFFUSION_MODELS}. */
export type TrainedDiffusionModel = (typeof TRAINED_DIFFUSION_MODELS)[number];

/** Whether `name` names a trained network rather than a model file. */
export function isTrainedDiffusionModel(name: unknown): name is TrainedDiffusionModel {
  return (TRAINED_DIFFUSION_MODELS as readonly unknown[]).includes(name);
}

/** A trained network bound to a backend: its denoiser, its noise levels and how to release it. */
export interface TrainedDenoiser {
  denoiser: Denoiser;
  sigmas: Float64Array;
  dispose(): Promise<void>;
}

/** An ONNX backend for `backend`: itself when it is one, else a new CPU one (`own`: the caller disposes it). */
export async function onnxBackendFor(
  backend: Backend | undefined,
  what: string,
): Promise<{ onnx: import('@tessera/backend-onnx').OnnxBackend; own: boolean }> {
  let ort: unknown;
  try {
    ort = await import('onnxruntime-node');
  } catch (err) {
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      `${what} needs onnxruntime-node on the worker (npm install onnxruntime-node): ${(err as Error).message}`,
    );
  }
  const m = await import('@tessera/backend-onnx');
  if (backend instanceof m.OnnxBackend) return { onnx: backend, own: false };
  return { onnx: m.createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] }), own: true };
}

/**
 * Loads `generator.model` = `digits-unet`: @tessera/models' class-conditional DDPM U-Net on 16×16 digits
 * (SHA-256-checked, from `dir` or the repository's `models/`), as a per-row-σ denoiser of class
 * `generator.digit` (absent: the null class, any digit) with classifier-free guidance
 * `generator.guidance`, on σ = `digitsDdimSigmas(steps)` (diffusers' leading DDIM timesteps, then 0).
 * On a backend other than ONNX it runs on its own ONNX CPU backend (x moves there and back each call).
 */
export async function loadTrainedDenoiser(
  B: Backend,
  g: DiffusionGenerator,
  dir?: string,
): Promise<TrainedDenoiser> {
  const models = await import('@tessera/models');
  const { onnx, own } = await onnxBackendFor(B, `generator.model '${g.model}'`);
  try {
    const unet = await models.loadDigitsUNet({ backend: onnx, ...(dir !== undefined ? { dir } : {}) });
    const cond = { classLabels: [g.digit ?? unet.nullClass], guidanceScale: g.guidance ?? 1 };
    const denoiser = rowDenoiser(async (x, sigma) => {
      const s = await rowSigmas('digits-unet', sigma, x);
      return unet(x, typeof s === 'number' ? s : Array.from(s), cond);
    });
    return {
      denoiser,
      sigmas: Float64Array.from(models.digitsDdimSigmas(g.steps)),
      dispose: async () => {
        await unet.dispose();
        if (own) await onnx.dispose();
      },
    };
  } catch (err) {
    if (own) await onnx.dispose();
    throw err;
  }
}
