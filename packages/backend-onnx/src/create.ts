import { registerBackend, TesseraError } from '@tessera/core';
import { OnnxBackend } from './backend.js';
import { Engine } from './engine.js';
import {
  type ExecutionProvider,
  type InferenceSession,
  type OrtRuntime,
  WEB_EXECUTION_PROVIDERS,
} from './runtime.js';

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
  return typeof ep === 'string' ? ep : ep?.name;
}

/**
 * Throws BACKEND_UNAVAILABLE unless every execution provider is one this runtime offers: the runtime's
 * `listSupportedBackends()` where it has one (onnxruntime-node), else onnxruntime-web's known names.
 */
function checkProviders(ort: OrtRuntime, eps: readonly ExecutionProvider[]): void {
  const listed = typeof ort.listSupportedBackends === 'function' ? ort.listSupportedBackends() : undefined;
  const known = listed ? listed.map((b) => b.name) : WEB_EXECUTION_PROVIDERS;
  for (const ep of eps) {
    const name = epName(ep);
    if (typeof name !== 'string' || name === '') {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `createOnnxBackend: an execution provider must be a name or { name }, got ${JSON.stringify(ep)}`,
      );
    }
    if (!known.includes(name)) {
      throw new TesseraError(
        'BACKEND_UNAVAILABLE',
        `createOnnxBackend: execution provider '${name}' is not offered by this ONNX Runtime; available: ${known.join(', ')}`,
      );
    }
  }
}

/**
 * Creates a Tessera backend that runs every op as a small ONNX graph on the given ONNX Runtime. The
 * runtime is injected, so neither `onnxruntime-node` nor `onnxruntime-web` is a dependency. An execution
 * provider the runtime does not offer (say `cuda` where onnxruntime-node lists cpu, webgpu) throws
 * `BACKEND_UNAVAILABLE` here, not at the first op. Free it with `await backend.dispose()`.
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
  checkProviders(ort, eps);
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
 * {@link createOnnxBackend}, then runs one tiny op graph, so that an execution provider that is listed
 * but cannot run here (no CUDA libraries, no WebGPU adapter) rejects with `BACKEND_UNAVAILABLE` now,
 * not at the first op of a run. The probe's tensors are freed.
 *
 * @example
 * const B = await openOnnxBackend({ ort: await import('onnxruntime-node'), executionProviders: ['cpu'] });
 */
export async function openOnnxBackend(options: OnnxBackendOptions): Promise<OnnxBackend> {
  const B = createOnnxBackend(options);
  const names = (options.executionProviders ?? ['cpu']).map(epName).join(', ');
  try {
    const x = B.tensor([1, 2], [2]);
    const y = B.binary('add', x, 1);
    try {
      const v = await y.data();
      if (v[0] !== 2 || v[1] !== 3) throw new Error(`1 + [1, 2] gave [${Array.from(v).join(', ')}]`);
    } finally {
      x.dispose();
      y.dispose();
    }
  } catch (err) {
    await B.dispose();
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      `openOnnxBackend: execution providers [${names}] cannot run a graph here: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return B;
}

/**
 * Registers an ONNX Runtime backend under `options.name` (default `onnx`) in core's registry, so that
 * `getBackend('onnx')` / `setBackend('onnx')` create it on first use (with {@link openOnnxBackend}'s
 * probe: a provider that cannot run here fails there, and `getBackend()` falls through to the next).
 *
 * @example
 * registerOnnxBackend({ ort: await import('onnxruntime-node'), executionProviders: ['cpu'] });
 * await setBackend('onnx');
 */
export function registerOnnxBackend(options: OnnxBackendOptions, priority = 0): void {
  registerBackend(options.name ?? 'onnx', () => openOnnxBackend(options), priority);
}
