import { type Backend } from '@tessera/core';
import type { Denoiser } from '@tessera/diffusion';
import { loadOrt } from './backends.js';

/** Loads a user's ONNX x0-denoiser (inputs `x`, `sigma`) with ONNX Runtime for Node. */
export async function loadOnnxDigitsDenoiser(path: string, backend: Backend): Promise<Denoiser> {
  const ort = await loadOrt();
  const onnx = (await import('@tessera/backend-onnx')) as unknown as {
    onnxDenoiser(model: string, options: Record<string, unknown>): Promise<Denoiser>;
  };
  return onnx.onnxDenoiser(path, { ort, predictionType: 'sample', backend });
}
