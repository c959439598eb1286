// The trained networks of @tessera/models as job models: "model": "digits-unet" for diffusion jobs.
import type { Backend, Tensor } from '@tessera/core';
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

/** Trained autoregressive networks a job may name in `generator.model`, with the decoder each runs. */
export const TRAINED_AR_MODELS = {
  'digits-gpt': 'raster',
  'digits-var': 'next-scale',
  'digits-maskgit': 'masked',
} as const;
/** A key of {@link TRAINED_AR_MODELS}. */
export type TrainedArModel = keyof typeof TRAINED_AR_MODELS;

/** Samples one class-conditional image: `[1, 1, 16, 16]` values on the host. */
export type TrainedArSampler = (o: {
  label: number;
  seed: number;
  sampling: { temperature: number; topK: number; topP: number };
  guidance: number;
  /** Masked decoder iterations (`digits-maskgit` only). */
  numIter?: number;
  signal?: AbortSignal;
}) => Promise<Float32Array>;

/**
 * Loads `digits-gpt` (the GPT over VQ codes, decoded by `rasterDecode` then the VQ decoder:
 * @tessera/models' `sampleDigitsRaster`) or `digits-var` (the VAR transformer, `nextScaleDecode`, then
 * the multi-scale VQ decoder: `sampleDigitsNextScale`) or `digits-maskgit` (the masked transformer over
 * VQ codes, `maskedDecode`, then the VQ decoder: `sampleDigitsMasked`), on `backend` when it is an ONNX
 * backend, else on an ONNX CPU backend of its own.
 */
export async function loadTrainedAr(
  backend: Backend,
  name: TrainedArModel,
  dir?: string,
): Promise<{ sample: TrainedArSampler; dispose(): Promise<void> }> {
  const models = await import('@tessera/models');
  const { onnx, own } = await onnxBackendFor(backend, `generator.model '${name}'`);
  const loaded: { dispose(): Promise<void> }[] = [];
  const where = { backend: onnx, ...(dir !== undefined ? { dir } : {}) };
  const dispose = async () => {
    for (const m of loaded) await m.dispose();
    if (own) await onnx.dispose();
  };
  try {
    /** The options both samplers share for one image, and its pixels read back once. */
    const common = (o: Parameters<TrainedArSampler>[0]) => ({
      classes: [o.label],
      sampling: o.sampling,
      seed: o.seed,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const pixels = async (t: Tensor): Promise<Float32Array> => {
      try {
        return Float32Array.from(await t.data());
      } finally {
        t.dispose();
      }
    };
    let sample: TrainedArSampler;
    if (name === 'digits-gpt') {
      const gpt = await models.loadDigitsGPT(where);
      loaded.push(gpt);
      const vq = await models.loadDigitsVQ(where);
      loaded.push(vq);
      sample = async (o) =>
        pixels(await models.sampleDigitsRaster({ gpt, vq, guidanceScale: o.guidance, ...common(o) }));
    } else if (name === 'digits-maskgit') {
      const model = await models.loadDigitsMaskGIT(where);
      loaded.push(model);
      const vq = await models.loadDigitsVQ(where);
      loaded.push(vq);
      sample = async (o) =>
        pixels(
          await models.sampleDigitsMasked({
            model,
            vq,
            guidanceScale: o.guidance,
            numIter: o.numIter ?? 16,
            ...common(o),
          }),
        );
    } else {
      const model = await models.loadDigitsVAR(where);
      loaded.push(model);
      const msvq = await models.loadDigitsMSVQ(where);
      loaded.push(msvq);
      sample = async (o) =>
        pixels(await models.sampleDigitsNextScale({ model, msvq, guidance: o.guidance, ...common(o) }));
    }
    return { sample, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
