import { type DType, TesseraError, type TypedArray } from '@tessera/core';
import { elemOf, GraphBuilder } from './graph.js';
import type { OnnxElem } from './proto.js';
import type { InferenceSession, OrtRuntime, OrtTensor } from './runtime.js';

/** Where a tensor's value will be: an ort.Tensor once every op before it in the queue has run. */
export interface Slot {
  ready: Promise<OrtTensor>;
  /** Set once `ready` resolves. */
  value?: OrtTensor;
}

/** What an op feeds: another tensor's slot or a host-made ort.Tensor. */
export type Feed = Slot | OrtTensor;

const noop = () => {};

function isSlot(f: Feed): f is Slot {
  return 'ready' in f;
}

/**
 * Runs small ONNX graphs in order. ONNX Runtime's `run` is asynchronous while Tessera ops are
 * synchronous, so every op is a step in one FIFO queue: when a step starts, all steps enqueued before it
 * (in particular the ops that produce its inputs) have finished. Sessions are cached per graph key.
 */
export class Engine {
  readonly #ort: OrtRuntime;
  readonly #options: InferenceSession.SessionOptions;
  readonly #gpuOutputs: boolean;
  readonly #sessions = new Map<string, Promise<InferenceSession>>();
  #tail: Promise<unknown> = Promise.resolve();
  /** Counters: graph and model runs, outputs that landed in host memory, and host readbacks. */
  readonly stats = { runs: 0, hostOutputs: 0, readbacks: 0 };

  constructor(ort: OrtRuntime, options: InferenceSession.SessionOptions, gpuOutputs: boolean) {
    this.#ort = ort;
    this.#options = options;
    this.#gpuOutputs = gpuOutputs;
  }

  /** The `device` of a `{ name: 'webgpu', device }` execution provider entry, if one was given. */
  get webgpuDevice(): unknown {
    for (const ep of this.#options.executionProviders ?? []) {
      if (typeof ep === 'object' && ep.name === 'webgpu' && 'device' in ep) return ep.device;
    }
    return undefined;
  }

  /** The injected ONNX Runtime module. */
  get runtime(): OrtRuntime {
    return this.#ort;
  }

  /** True when outputs stay on the GPU (the WebGPU execution provider). */
  get gpuResident(): boolean {
    return this.#gpuOutputs;
  }

  /** Number of cached sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Appends a step to the queue. */
  enqueue<T>(step: () => Promise<T> | T): Promise<T> {
    const p = this.#tail.then(step);
    this.#tail = p.then(noop, noop);
    return p;
  }

  /** Resolves when every queued step has finished. */
  async idle(): Promise<void> {
    await this.#tail;
  }

  /** The cached session of graph `key`, built by `build` on first use. */
  session(key: string, build: (g: GraphBuilder) => void, cpuOutput = false): Promise<InferenceSession> {
    const k = cpuOutput ? `${key}|cpu` : key;
    let s = this.#sessions.get(k);
    if (!s) {
      const g = new GraphBuilder();
      build(g);
      const bytes = g.encode(key);
      const opts: InferenceSession.SessionOptions = { ...this.#options };
      if (this.#gpuOutputs && !cpuOutput) opts.preferredOutputLocation = 'gpu-buffer';
      s = this.#ort.InferenceSession.create(bytes, opts).catch((err: unknown) => {
        this.#sessions.delete(k);
        throw new TesseraError(
          'BACKEND_UNAVAILABLE',
          `onnx: ONNX Runtime rejected the graph for '${key}': ${(err as Error).message}`,
          { cause: err },
        );
      });
      this.#sessions.set(k, s);
    }
    return s;
  }

  /** Enqueues one run of graph `key` on `feeds` (in input order); resolves to its output. */
  run(key: string, build: (g: GraphBuilder) => void, feeds: readonly Feed[]): Slot {
    const session = this.session(key, build);
    const slot: Slot = {
      ready: this.enqueue(async () => {
        const s = await session;
        const inputs: Record<string, OrtTensor> = {};
        for (let i = 0; i < feeds.length; i++) {
          const f = feeds[i]!;
          inputs[`in${i}`] = isSlot(f) ? (f.value ?? (await f.ready)) : f;
        }
        let out: InferenceSession.ReturnType;
        try {
          out = await s.run(inputs);
        } catch (err) {
          throw new TesseraError(
            'BACKEND_UNAVAILABLE',
            `onnx: running '${key}' failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        const v = out.out as OrtTensor;
        this.#count(v);
        slot.value = v;
        return v;
      }),
    };
    slot.ready.catch(noop);
    return slot;
  }

  /**
   * Enqueues one run of a user model with named feeds and returns one slot per fetched output. Nothing
   * is read back: outputs stay where the session put them (GPU buffers with `gpuResident`).
   */
  runModel(
    session: InferenceSession,
    feeds: Record<string, Feed>,
    fetch: readonly string[],
    what: string,
  ): Slot[] {
    const step = this.enqueue(async () => {
      const inputs: Record<string, OrtTensor> = {};
      for (const [name, f] of Object.entries(feeds))
        inputs[name] = isSlot(f) ? (f.value ?? (await f.ready)) : f;
      try {
        // onnxruntime-node (1.30) with outputs kept on the GPU fails a run that fetches only some of the
        // outputs ("Output count mismatch"): fetch them all there and free the ones not asked for
        const all = this.#gpuOutputs && fetch.length < session.outputNames.length;
        const o = await session.run(inputs, all ? [...session.outputNames] : [...fetch]);
        const kept: Record<string, OrtTensor> = {};
        for (const [name, v] of Object.entries(o)) {
          if (fetch.includes(name)) kept[name] = v as OrtTensor;
          else (v as OrtTensor).dispose();
        }
        for (const v of Object.values(kept)) this.#count(v);
        return kept;
      } catch (err) {
        throw new TesseraError('MODEL_MISMATCH', `${what}: ONNX Runtime failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    });
    step.catch(noop);
    return fetch.map((name) => {
      const slot: Slot = {
        ready: step.then((o) => {
          slot.value = o[name] as OrtTensor;
          return slot.value;
        }),
      };
      slot.ready.catch(noop);
      return slot;
    });
  }

  /** Creates a session for a user model with this engine's providers and output placement. */
  createSession(
    model: Uint8Array | string,
    extra?: InferenceSession.SessionOptions,
  ): Promise<InferenceSession> {
    // user models get full graph optimisation (op graphs are tiny and use 'basic' to load fast)
    const opts: InferenceSession.SessionOptions = {
      ...this.#options,
      graphOptimizationLevel: 'all',
      ...extra,
    };
    if (this.#gpuOutputs) opts.preferredOutputLocation = 'gpu-buffer';
    return this.#ort.InferenceSession.create(model, opts);
  }

  /** Converts a slot's element type with a cast graph (e.g. int32 → int64 for token ids). */
  convert(slot: Feed, from: OnnxElem, to: OnnxElem): Slot {
    return this.run(`convert:${from}:${to}`, (g) => g.output(g.cast(g.input(from), to), to), [slot]);
  }

  /** A slot that holds a host tensor already. */
  host(v: OrtTensor): Slot {
    return { ready: Promise.resolve(v), value: v };
  }

  /** A host ort.Tensor. */
  tensor(
    type: 'float32' | 'int32' | 'uint32' | 'int64' | 'bool',
    data: TypedArray | BigInt64Array | Uint8Array,
    dims: readonly number[],
  ): OrtTensor {
    return new this.#ort.Tensor(type as 'float32', data as Float32Array, dims);
  }

  /** An int64 host vector. */
  i64(values: readonly number[]): OrtTensor {
    return this.tensor(
      'int64',
      BigInt64Array.from(values, (v) => BigInt(v)),
      [values.length],
    );
  }

  #count(v: OrtTensor): void {
    this.stats.runs++;
    if (v.location === 'cpu' || v.location === 'cpu-pinned') this.stats.hostOutputs++;
  }

  /** Copies the value of `slot` to the host (queued after every op enqueued so far). */
  read(slot: Slot, dtype: DType): Promise<TypedArray> {
    this.stats.readbacks++;
    return this.enqueue(async () => {
      const v = slot.value ?? (await slot.ready);
      let data: unknown;
      if (v.location === 'cpu' || v.location === 'cpu-pinned') data = v.data;
      else {
        // GPU-resident: pass it through an identity graph whose output lands on the host. (Node's
        // WebGPU provider cannot map buffers itself: Tensor.getData() aborts the process there.)
        const elem = elemOf(dtype);
        const s = await this.session(`download:${dtype}`, (g) => g.output(g.input(elem), elem), true);
        data = (await s.run({ in0: v })).out!.data;
      }
      return (data as TypedArray).slice();
    });
  }

  /** Frees the device memory of a slot once every op enqueued before has run. */
  release(slot: Slot): void {
    this.enqueue(async () => {
      const v = slot.value ?? (await slot.ready.catch(() => undefined));
      if (v && v.location !== 'cpu' && v.location !== 'cpu-pinned') v.dispose();
      slot.value = undefined;
    }).catch(noop);
  }

  /** Releases every cached session. */
  async destroy(): Promise<void> {
    await this.idle();
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
  }
}
