import { registerBackend, TesseraError } from '@tessera/core';
import { OnnxBackend } from './backend.js';
import { Engine } from './engine.js';
import type { ExecutionProvider, InferenceSession, OrtRuntime } from './runtime.js';

/** Options of {@link createOnnxBackend}. */
export interface OnnxBackendOptions {
  /** The ONNX Runtime module: `await import('onnxruntime-node')` or `await import('onnxruntime-web')`. */
  ort: OrtRuntime;
  /** Execution providers, in preference order, e.g. `['cpu']`, `['webgpu']`, `['wasm']`. Default `['cpu']`. */
  executionProviders?: readonly ExecutionProvider[];
  /** Extra session options for the op graphs (thread counts, logging, graph optimisation level). */
  sessionOptions?: InferenceSession.SessionOptions;
  /**
   * Keep op outputs on the GPU (`preferredOutputLocation: 'gpu-buffer'`), so that chains of ops never
   * round-trip through host memory. Default: true when the first execution provider is `webgpu`.
   */
  gpuResident?: boolean;
  /** Registry name of the backend. Default `'onnx'`. */
  name?: string;
}

function epName(ep: ExecutionProvider): string {
  return typeof ep === 'string' ? ep : ep.name;
}

/**
 * Creates a Tessera backend that runs every op as a small ONNX graph on the given ONNX Runtime. The
 * runtime is injected, so neither `onnxruntime-node` nor `onnxruntime-web` is a dependency.
 *
 * @example
 * import * as ort from 'onnxruntime-node';
 * import { createOnnxBackend } from '@tessera/backend-onnx';
 * const B = createOnnxBackend({ ort, executionProviders: ['cpu'] });
 * const y = B.unary('exp', B.tensor([0, 1, 2], [3]));
 * console.log(await y.data()); // Float32Array [1, 2.718…, 7.389…]
 */
export function createOnnxBackend(options: OnnxBackendOptions): OnnxBackend {
  const ort = options?.ort;
  if (!ort || typeof ort.InferenceSession?.create !== 'function' || typeof ort.Tensor !== 'function') {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      'createOnnxBackend: options.ort must be an ONNX Runtime module (onnxruntime-node or onnxruntime-web) with InferenceSession and Tensor',
    );
  }
  const eps = options.executionProviders ?? ['cpu'];
  if (!Array.isArray(eps) || eps.length === 0) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `createOnnxBackend: executionProviders must be a non-empty list, got ${JSON.stringify(eps)}`,
    );
  }
  const gpu = options.gpuResident ?? epName(eps[0]!) === 'webgpu';
  const sessionOptions: InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'basic',
    logSeverityLevel: 3,
    ...options.sessionOptions,
    executionProviders: [...eps],
  };
  return new OnnxBackend(new Engine(ort, sessionOptions, gpu), options.name ?? 'onnx');
}

/**
 * Registers an ONNX Runtime backend under `options.name` (default `onnx`) in core's registry, so that
 * `getBackend('onnx')` / `setBackend('onnx')` create it on first use.
 *
 * @example
 * registerOnnxBackend({ ort: await import('onnxruntime-node'), executionProviders: ['cpu'] });
 * await setBackend('onnx');
 */
export function registerOnnxBackend(options: OnnxBackendOptions, priority = 0): void {
  registerBackend(options.name ?? 'onnx', () => createOnnxBackend(options), priority);
}
