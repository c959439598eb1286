import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OnnxBackend } from '@tessera/backend-onnx';
import type { Backend } from '@tessera/core';
import { loadOrt } from './backends.js';
import { UsageError } from './errors.js';

/**
 * Built-in models of `generate diffusion --model`: the trained class-conditional U-Net (`digits-unet`,
 * from `@tessera/models`, on ONNX Runtime) and the embedded exact Gaussian-mixture digits model
 * (`reference`, whose posterior mean is computed in closed form).
 */
export const DIFFUSION_MODELS = ['digits-unet', 'reference'] as const;
export type DiffusionModelName = (typeof DIFFUSION_MODELS)[number];

/**
 * Built-in models of `generate ar --model`: the trained VQ + GPT (`digits-gpt`, raster decoder), the
 * trained multi-scale VQ + VAR transformer (`digits-var`, next-scale decoder), the trained VQ + masked
 * transformer (`digits-maskgit`, masked decoder), all from `@tessera/models` on ONNX Runtime, and the
 * count-based shape models fitted on the fly (`reference`).
 */
export const AR_MODELS = ['digits-gpt', 'digits-var', 'digits-maskgit', 'reference'] as const;
export type ArModelName = (typeof AR_MODELS)[number];

/** The decoder each trained token model runs with. */
export const TRAINED_AR_DECODER = {
  'digits-gpt': 'raster',
  'digits-var': 'next-scale',
  'digits-maskgit': 'masked',
} as const;
/** The name of a trained token model of `generate ar --model`. */
export type TrainedArModel = keyof typeof TRAINED_AR_DECODER;
/** Whether `name` is one of the trained token models. */
export function isTrainedArModel(name: string | undefined): name is TrainedArModel {
  return name !== undefined && Object.hasOwn(TRAINED_AR_DECODER, name);
}

/** The ONNX files (under the models folder) a trained model needs. */
const FILES: Record<string, string[]> = {
  'digits-unet': ['unet-digits16/model.onnx'],
  'digits-gpt': ['gpt-digits16/model.onnx', 'vq-digits16/decoder.onnx'],
  'digits-var': ['var-digits16/model.onnx', 'msvq-digits16/decoder.onnx'],
  'digits-maskgit': ['maskgit-digits16/model.onnx', 'vq-digits16/decoder.onnx'],
};

/**
 * Reads a `--model` value: one of `names` (a built-in model), or a path to an ONNX file (it ends in
 * `.onnx` or holds a path separator). Anything else is a UsageError that lists the known names.
 */
export function parseModelFlag<N extends string>(
  value: string,
  names: readonly N[],
): { name: N; file?: undefined } | { name?: undefined; file: string } {
  const known = names.find((n) => n === value);
  if (known) return { name: known };
  if (/\.onnx$/i.test(value) || /[\\/]/.test(value)) return { file: value };
  throw new UsageError(
    `--model must be one of ${names.join(', ')} or a path to an .onnx file, got '${value}'`,
  );
}

/**
 * The folder holding the trained networks: `$TESSERA_MODELS_DIR` when set, else `@tessera/models`'
 * default (the repository's `models/`).
 */
export async function modelsDir(): Promise<string> {
  const env = process.env.TESSERA_MODELS_DIR;
  if (env) return env;
  const { defaultModelsDir } = await import('@tessera/models');
  return fileURLToPath(defaultModelsDir());
}

/**
 * Whether a trained model can run here: onnxruntime-node loads and its files are in {@link modelsDir}.
 * The CLI's default `--model` is the trained network where this holds, the reference model elsewhere.
 */
export async function trainedAvailable(name: keyof typeof FILES): Promise<boolean> {
  try {
    await loadOrt();
  } catch {
    return false;
  }
  const dir = await modelsDir();
  return (FILES[name] ?? []).every((f) => existsSync(join(dir, f)));
}

/**
 * An ONNX backend for a trained network: `backend` itself when it is one (nothing to free), else a new
 * one on ONNX Runtime's CPU provider that `release` disposes.
 */
export async function onnxBackendFor(
  backend: Backend,
): Promise<{ backend: OnnxBackend; release(): Promise<void> }> {
  const { createOnnxBackend, OnnxBackend: Onnx } = await import('@tessera/backend-onnx');
  if (backend instanceof Onnx) return { backend, release: async () => {} };
  const ort = await loadOrt();
  const own = createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
  return { backend: own, release: async () => own.dispose() };
}
