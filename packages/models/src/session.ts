import type { ExecutionProvider, OnnxBackend, OnnxModelOptions } from '@tessera/backend-onnx';
import { TesseraError } from '@tessera/core';
import type { ModelCard } from './card-types.js';
import { defaultModelsDir, type ModelsLocation, readVerified } from './files.js';

/** ONNX Runtime session options of one network (`onnxruntime-common`'s `InferenceSession.SessionOptions`). */
export type ModelSessionOptions = NonNullable<OnnxModelOptions['sessionOptions']>;

/**
 * Where a loaded network runs inside ONNX Runtime. By default it runs on the backend's execution
 * providers (`createOnnxBackend({ executionProviders })`); these options choose others for this network
 * alone, e.g. the U-Net on `['webgpu']` while the backend's small op graphs stay on `['cpu']`.
 */
export interface ModelRuntimeOptions {
  /**
   * Execution providers of this network's session, in preference order (`['webgpu']`, `['cpu']`,
   * `[{ name: 'webgpu', device }]`, …), overriding the backend's. On a backend that keeps its values on
   * the GPU (`executionProviders: ['webgpu']`) the first one must be `webgpu`.
   */
  executionProviders?: readonly ExecutionProvider[];
  /** Extra ONNX Runtime session options of this network (threads, graph optimisation, logging, …). */
  sessionOptions?: ModelSessionOptions;
}

function epName(ep: ExecutionProvider): unknown {
  return typeof ep === 'string' ? ep : (ep as { name?: unknown } | undefined)?.name;
}

/**
 * The session options a loader passes to `onnxModel`: `options.sessionOptions` with
 * `options.executionProviders` (checked: a non-empty list of providers this ONNX Runtime offers, `webgpu`
 * first on a GPU-resident backend). Undefined when neither is given (the backend's own providers).
 */
export function modelSessionOptions(
  op: string,
  backend: OnnxBackend,
  options: ModelRuntimeOptions,
): ModelSessionOptions | undefined {
  const eps = options.executionProviders;
  const extra = options.sessionOptions;
  if (extra !== undefined && (typeof extra !== 'object' || extra === null)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: options.sessionOptions must be an object of ONNX Runtime session options, got ${typeof extra}`,
    );
  }
  if (eps === undefined) return extra;
  if (!Array.isArray(eps) || eps.length === 0) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: options.executionProviders must be a non-empty list such as ['webgpu'], got ${JSON.stringify(eps)}`,
    );
  }
  const names = eps.map(epName);
  const bad = names.findIndex((n) => typeof n !== 'string' || n === '');
  if (bad >= 0) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: an execution provider must be a name or { name }, got ${JSON.stringify(eps[bad])} at index ${bad}`,
    );
  }
  const ort = backend.engine.runtime;
  const listed =
    typeof ort.listSupportedBackends === 'function'
      ? ort.listSupportedBackends().map((b) => b.name)
      : undefined;
  const missing = listed ? names.find((n) => !listed.includes(n as string)) : undefined;
  if (missing !== undefined) {
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      `${op}: execution provider '${String(missing)}' is not offered by this ONNX Runtime; available: ${listed!.join(', ')}`,
    );
  }
  if (backend.engine.gpuResident && names[0] !== 'webgpu') {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: the backend keeps its values in GPU buffers (webgpu provider), so this network's first execution provider must be 'webgpu', got '${String(names[0])}'`,
    );
  }
  return { ...extra, executionProviders: [...eps] };
}

/** Checks that `backend` is an ONNX backend (has an engine). */
export function checkOnnxBackend(op: string, backend: unknown): asserts backend is OnnxBackend {
  if (!backend || typeof (backend as Partial<OnnxBackend>).engine !== 'object') {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: options.backend must be an OnnxBackend (createOnnxBackend from @tessera/backend-onnx)`,
    );
  }
}

/** What every loader starts with: its backend and runtime options checked, one file of its card read. */
export interface CardFile {
  /** The file's bytes, SHA-256 verified against the card. */
  bytes: Uint8Array;
  /** `<card name>/<file>`, the model's name in messages. */
  name: string;
  /** The network's session options (see {@link modelSessionOptions}). */
  sessionOptions: ModelSessionOptions | undefined;
}

/**
 * Checks loader `op`'s backend and runtime options, then reads `file` of `card` from `options.dir` (default:
 * the repository's `models/`), verifying its size and SHA-256 against the card.
 */
export async function readCardFile(
  op: string,
  card: ModelCard,
  file: string,
  options: ModelRuntimeOptions & { backend: unknown; dir?: ModelsLocation },
): Promise<CardFile> {
  checkOnnxBackend(op, options.backend);
  const sessionOptions = modelSessionOptions(op, options.backend, options);
  const entry = card.files[file];
  if (!entry)
    throw new TesseraError('INVALID_ARGUMENT', `${op}: the card of '${card.name}' lists no file '${file}'`);
  const name = `${card.name}/${file}`;
  const bytes = await readVerified(options.dir ?? defaultModelsDir(), name, entry.sha256, entry.bytes);
  return { bytes, name, sessionOptions };
}
