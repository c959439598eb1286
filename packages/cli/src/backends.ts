import { type Backend, setBackend } from '@tessera/core';
import { UsageError } from './errors.js';

/** Backend names the CLI accepts. `auto` picks WebGPU when an adapter exists, else CPU. */
export const BACKEND_NAMES = ['auto', 'cpu', 'webgpu', 'onnx'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * Creates and activates the backend named on the command line. `onnx` runs ops through ONNX Runtime
 * (onnxruntime-node, cpu execution provider).
 */
export async function selectBackend(name: BackendName): Promise<Backend> {
  if (name === 'cpu') return setBackend('cpu');
  if (name === 'webgpu' || name === 'auto') {
    try {
      const { createWebGPUBackend } = await import('@tessera/backend-webgpu');
      return setBackend(await createWebGPUBackend());
    } catch (err) {
      if (name === 'webgpu')
        throw new UsageError(`--backend webgpu: no WebGPU adapter here (${(err as Error).message})`);
      return setBackend('cpu');
    }
  }
  const ort = await loadOrt();
  const { createOnnxBackend } = await import('@tessera/backend-onnx');
  return setBackend(createOnnxBackend({ ort, executionProviders: ['cpu'] }) as Backend);
}

/** Loads onnxruntime-node, with a clear error when it is not installed. */
export async function loadOrt(): Promise<typeof import('onnxruntime-node')> {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    throw new UsageError(
      `onnxruntime-node is not installed (npm install onnxruntime-node; --model reference runs without it): ${(err as Error).message}`,
    );
  }
}
