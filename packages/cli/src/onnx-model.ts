import { readFile } from 'node:fs/promises';
import type { Backend } from '@tessera/core';
import type { Denoiser } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { loadOrt } from './backends.js';

/**
 * Loads a user's ONNX x0-denoiser with ONNX Runtime for Node: inputs `x` `[N, 1, 16, 16]` and `sigma`,
 * output `x0` (the layout `tessera export-model` writes). On the `onnx` backend the model runs in place;
 * on another backend each call moves x to ONNX Runtime and the result back.
 */
export async function loadOnnxDigitsDenoiser(path: string, backend: Backend): Promise<Denoiser> {
  const ort = await loadOrt();
  const { createOnnxBackend, onnxDenoiser, OnnxBackend } = await import('@tessera/backend-onnx');
  const B =
    backend instanceof OnnxBackend
      ? backend
      : createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
  return onnxDenoiser(path, {
    backend: B,
    predictionType: 'sample',
    inputNames: { sample: 'x', timestep: 'sigma' },
    outputName: 'x0',
  }) as Promise<Denoiser>;
}

/** Writes the embedded default digits model as an ONNX x0-denoiser (float64 arithmetic inside). */
export async function exportDefaultModel(): Promise<Uint8Array> {
  const { exportGaussianMixtureDenoiser } = await import('@tessera/backend-onnx');
  return exportGaussianMixtureDenoiser(defaultDigitsModel().canonical, {
    sampleShape: [1, 16, 16],
    precision: 'float64',
  });
}

/** Reads a file for error messages that name it (used by tests). */
export async function fileBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(path));
}
