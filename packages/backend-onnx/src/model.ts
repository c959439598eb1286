import { fmtShape, isTensor, type Shape, type Tensor, TesseraError } from '@tessera/core';
import type { OnnxBackend } from './backend.js';
import { createOnnxBackend } from './create.js';
import type { Feed, Slot } from './engine.js';
import {
  checkFeeds,
  type IOSpec,
  ioFromSession,
  type ModelExpectation,
  toTesseraDtype,
  validateExpectation,
} from './model-io.js';
import { readModelHeader } from './proto-read.js';
import type { ExecutionProvider, InferenceSession, OrtRuntime, OrtTensor } from './runtime.js';

/** An ONNX model: a file path (Node), a URL (browser), or the bytes. */
export type ModelSource = string | Uint8Array | ArrayBuffer;

/** Options of {@link onnxModel}. */
export interface OnnxModelOptions {
  /** The backend whose tensors the model consumes and returns (shares its runtime, providers and queue). */
  backend?: OnnxBackend;
  /** Without `backend`: the ONNX Runtime module to create one with. */
  ort?: OrtRuntime;
  /** Without `backend`: execution providers (default `['cpu']`). */
  executionProviders?: readonly ExecutionProvider[];
  /** Extra session options for this model. */
  sessionOptions?: InferenceSession.SessionOptions;
  /** Inputs and outputs the model must declare; a mismatch rejects with MODEL_MISMATCH. */
  expect?: ModelExpectation;
  /** Name used in error messages (default: the path, or `<N bytes>`). */
  name?: string;
}

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

async function loadBytes(source: ModelSource, label: string): Promise<Uint8Array | string> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof source !== 'string') {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `onnxModel: expected a path, URL, Uint8Array or ArrayBuffer, got ${typeof source}`,
    );
  }
  if (!isNode() || /^[a-z]+:\/\//i.test(source)) return source;
  // a variable specifier: browser bundlers leave the Node-only import alone instead of failing on it
  const nodeFs = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ nodeFs)) as typeof import('node:fs/promises');
  try {
    return new Uint8Array(await fs.readFile(source));
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new TesseraError(
      code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'INVALID_ARGUMENT',
      `onnxModel: cannot read model file '${label}': ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function classifyLoadError(err: unknown, label: string, bytes: Uint8Array | string): TesseraError {
  const msg = String((err as Error)?.message ?? err);
  const header = typeof bytes === 'string' ? undefined : readModelHeader(bytes);
  if (typeof bytes !== 'string' && !header) {
    return new TesseraError(
      'CORRUPT_FILE',
      `onnxModel: '${label}' is not a valid ONNX model (${bytes.length} bytes; protobuf parsing failed)`,
      { cause: err },
    );
  }
  if (/opset/i.test(msg)) {
    const ops = header?.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ') ?? 'unknown';
    return new TesseraError(
      'UNSUPPORTED',
      `onnxModel: '${label}' imports an operator set this ONNX Runtime does not support (model opsets: ${ops}): ${msg
        .slice(msg.lastIndexOf(']') + 1)
        .trim()
        .slice(0, 300)}`,
      { cause: err },
    );
  }
  if (/doesn't exist|not found|no such file/i.test(msg))
    return new TesseraError('FILE_NOT_FOUND', `onnxModel: model file '${label}' not found`, { cause: err });
  return new TesseraError(
    'CORRUPT_FILE',
    `onnxModel: ONNX Runtime could not load '${label}': ${msg.slice(0, 400)}`,
    { cause: err },
  );
}

/**
 * A loaded ONNX model whose inputs and outputs are Tessera tensors of one {@link OnnxBackend}. Runs are
 * queued behind the backend's ops, and outputs stay where the session put them (the GPU with WebGPU).
 */
export class OnnxModel {
  /** File path or name, for messages. */
  readonly source: string;
  /** Declared inputs (names, ONNX Runtime type names, shapes with symbolic dims as strings). */
  readonly inputs: readonly IOSpec[];
  /** Declared outputs. */
  readonly outputs: readonly IOSpec[];
  /** The backend the model's tensors live on. */
  readonly backend: OnnxBackend;
  #session: InferenceSession | undefined;
  readonly #ownsBackend: boolean;

  /** @internal use {@link onnxModel}. */
  constructor(source: string, session: InferenceSession, backend: OnnxBackend, ownsBackend: boolean) {
    this.source = source;
    this.#session = session;
    this.backend = backend;
    this.#ownsBackend = ownsBackend;
    [this.inputs, this.outputs] = ioFromSession(session);
  }

  /** The declared input of `name`. */
  input(name: string): IOSpec | undefined {
    return this.inputs.find((v) => v.name === name);
  }

  /** The declared output of `name`. */
  output(name: string): IOSpec | undefined {
    return this.outputs.find((v) => v.name === name);
  }

  #live(): InferenceSession {
    if (!this.#session) throw new TesseraError('DISPOSED', `onnxModel '${this.source}' was disposed`);
    return this.#session;
  }

  #feeds(feeds: Record<string, Tensor | OrtTensor>): Record<string, Feed> {
    this.#live();
    checkFeeds(this.source, this.inputs, feeds, this.backend.name);
    const out: Record<string, Feed> = {};
    for (const [name, v] of Object.entries(feeds)) {
      const spec = this.input(name)!;
      if (isTensor(v)) {
        const slot = v.storage as Slot;
        const want = spec.type;
        out[name] =
          want === v.dtype ? slot : this.backend.engine.convert(slot, elemName(v.dtype), elemName(want));
      } else out[name] = v;
    }
    return out;
  }

  /**
   * Queues a run and returns its outputs (all declared outputs unless `outputs` names some) as tensors
   * of {@link backend} once it finished, with the shapes the model produced. No host readback.
   * int64 outputs become int32, float16 become float32.
   */
  async run(
    feeds: Record<string, Tensor | OrtTensor>,
    outputs?: readonly string[],
  ): Promise<Record<string, Tensor>> {
    const names = this.#fetch(outputs);
    const slots = this.backend.engine.runModel(
      this.#live(),
      this.#feeds(feeds),
      names,
      `onnxModel '${this.source}'`,
    );
    const values = await Promise.all(slots.map((s) => s.ready));
    const result: Record<string, Tensor> = {};
    names.forEach((n, i) => {
      result[n] = this.#wrap(slots[i]!, values[i]!.dims, values[i]!.type);
    });
    return result;
  }

  /**
   * Queues a run and returns its outputs at once, as future tensors of the given shapes (for loops that
   * must not wait on the device). A model that produces another shape makes reading the tensor fail.
   */
  runSync(
    feeds: Record<string, Tensor | OrtTensor>,
    outputShapes: Record<string, Shape>,
  ): Record<string, Tensor> {
    const names = Object.keys(outputShapes);
    this.#fetch(names);
    const slots = this.backend.engine.runModel(
      this.#live(),
      this.#feeds(feeds),
      names,
      `onnxModel '${this.source}'`,
    );
    const result: Record<string, Tensor> = {};
    names.forEach((n, i) => {
      const want = outputShapes[n]!;
      const slot = slots[i]!;
      const checked: Slot = {
        ready: slot.ready.then((v) => {
          if (v.dims.length !== want.length || v.dims.some((d, j) => d !== want[j])) {
            throw new TesseraError(
              'SHAPE_MISMATCH',
              `onnxModel '${this.source}': output '${n}' has shape ${fmtShape(v.dims)}, expected ${fmtShape(want)}`,
            );
          }
          checked.value = v;
          return v;
        }),
      };
      checked.ready.catch(() => {});
      result[n] = this.#wrap(checked, want, this.output(n)!.type);
    });
    return result;
  }

  #fetch(outputs?: readonly string[]): string[] {
    const names = outputs ? [...outputs] : this.outputs.map((o) => o.name);
    const unknown = names.filter((n) => !this.output(n));
    if (unknown.length) {
      throw new TesseraError(
        'MODEL_MISMATCH',
        `onnxModel '${this.source}': unknown output(s) ${unknown.join(', ')}; the model declares ${this.outputs.map((o) => o.name).join(', ')}`,
      );
    }
    return names;
  }

  #wrap(slot: Slot, dims: readonly number[], type: string): Tensor {
    const dt = toTesseraDtype(type);
    const s = dt === type ? slot : this.backend.engine.convert(slot, elemName(type), elemName(dt));
    return this.backend.wrapSlot(s, dims, dt);
  }

  /** Releases the session (and the backend when the model created it). Safe to call twice. */
  async dispose(): Promise<void> {
    const s = this.#session;
    this.#session = undefined;
    if (!s) return;
    await this.backend.sync().catch(() => {});
    await s.release();
    if (this.#ownsBackend) await this.backend.dispose();
  }
}

function elemName(type: string) {
  const map: Record<
    string,
    'float' | 'float16' | 'int32' | 'int64' | 'uint32' | 'bool' | 'double' | 'uint8' | 'int8'
  > = {
    float32: 'float',
    float16: 'float16',
    int32: 'int32',
    int64: 'int64',
    uint32: 'uint32',
    bool: 'bool',
    float64: 'double',
    uint8: 'uint8',
    int8: 'int8',
  };
  const e = map[type];
  if (!e) throw new TesseraError('UNSUPPORTED', `onnxModel: element type '${type}' is not supported`);
  return e;
}

/**
 * Loads an ONNX model for use with Tessera tensors. Checks the declared inputs and outputs against
 * `options.expect`, and maps load failures to TesseraError: FILE_NOT_FOUND (missing file),
 * CORRUPT_FILE (not an ONNX protobuf), UNSUPPORTED (operator set too new), MODEL_MISMATCH (I/O).
 *
 * @example
 * const model = await onnxModel('vq-decoder.onnx', { backend: B, expect: { inputs: { codes: { dtype: 'int64' } } } });
 * const { image } = await model.run({ codes });
 */
export async function onnxModel(source: ModelSource, options: OnnxModelOptions): Promise<OnnxModel> {
  const label =
    options.name ??
    (typeof source === 'string' ? source : `<${(source as Uint8Array).byteLength ?? '?'} bytes>`);
  const owns = !options.backend;
  const backend =
    options.backend ??
    createOnnxBackend({
      ort: options.ort!,
      executionProviders: options.executionProviders ?? ['cpu'],
      sessionOptions: options.sessionOptions,
    });
  const bytes = await loadBytes(source, label);
  if (typeof bytes !== 'string' && bytes.length === 0)
    throw new TesseraError('CORRUPT_FILE', `onnxModel: '${label}' is empty (0 bytes)`);
  let session: InferenceSession;
  try {
    session = await backend.engine.createSession(bytes, options.sessionOptions);
  } catch (err) {
    if (owns) await backend.dispose();
    throw classifyLoadError(err, label, bytes);
  }
  const model = new OnnxModel(label, session, backend, owns);
  try {
    if (options.expect) validateExpectation(label, model.inputs, model.outputs, options.expect);
  } catch (err) {
    await model.dispose();
    throw err;
  }
  return model;
}
