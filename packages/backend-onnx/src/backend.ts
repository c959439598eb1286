import {
  allocArray,
  type Backend,
  type BinaryOp,
  type DType,
  type MatmulOptions,
  type MemoryInfo,
  type RandomOptions,
  type ReduceOp,
  type ResizeMode,
  type Shape,
  shapes,
  sizeOf,
  Tensor,
  TesseraError,
  type TypedArray,
  type UnaryOp,
} from '@tessera/core';
import type { OpContext } from './context.js';
import type { Engine, Feed, Slot } from './engine.js';
import type { GraphBuilder } from './graph.js';
import * as host from './host.js';
import * as E from './ops/elementwise.js';
import * as L from './ops/layout.js';
import * as P from './ops/probability.js';
import * as R from './ops/reduce.js';
import { ORT_TYPE } from './runtime.js';

/**
 * The Tessera {@link Backend} on ONNX Runtime. Every op validates synchronously with core's shape
 * helpers (so errors match the CPU backend), then enqueues a run of a small cached ONNX graph; tensors
 * are futures of `ort.Tensor`s and `read` waits for them. Create with {@link createOnnxBackend}.
 */
export class OnnxBackend implements Backend {
  readonly name: string;
  readonly #engine: Engine;
  #tensors = 0;
  #bytes = 0;

  /** @internal use {@link createOnnxBackend}. */
  readonly #ctx: OpContext;

  constructor(engine: Engine, name = 'onnx') {
    this.#engine = engine;
    this.name = name;
    this.#ctx = {
      name,
      engine,
      slot: (t, op, n) => this.#slot(t, op, n),
      op: (key, build, feeds, shape, dtype) => this.#op(key, build, feeds, shape, dtype),
      host: (data, shape, dtype) => this.#host(data, shape, dtype),
      fill: (shape, value, dtype) => this.fill(shape, value, dtype),
    };
  }

  /**
   * Transfer counters since creation: `runs` (graph and model runs), `hostOutputs` (run outputs that
   * landed in host memory; 0 when everything stays on the GPU) and `readbacks` (calls of `read`).
   */
  transferStats(): { runs: number; hostOutputs: number; readbacks: number } {
    return { ...this.#engine.stats };
  }

  /** The graph runner (for the model adapters of this package). */
  get engine(): Engine {
    return this.#engine;
  }

  // ---- storage ----
  #make(slot: Slot, shape: Shape, dtype: DType): Tensor {
    this.#tensors++;
    this.#bytes += sizeOf(shape) * 4;
    return new Tensor(this, slot, shape, dtype);
  }

  #slot(t: unknown, op: string, name = 'input'): Slot {
    shapes.checkTensor(op, t, this.name, name);
    return t.storage as Slot;
  }

  /** Wraps an ort.Tensor (host or device) as a Tessera tensor of this backend; it takes ownership. */
  wrap(value: import('./runtime.js').OrtTensor, dtype?: DType): Tensor {
    const dt = dtype ?? (value.type === 'int32' ? 'int32' : value.type === 'uint32' ? 'uint32' : 'float32');
    if (ORT_TYPE[dt] !== value.type)
      throw new TesseraError('DTYPE_MISMATCH', `wrap: ort tensor is ${value.type}, expected ${ORT_TYPE[dt]}`);
    return this.#make(this.#engine.host(value), value.dims, dt);
  }

  /** Wraps a pending ort.Tensor (e.g. a model output still being computed). */
  wrapSlot(slot: Slot, shape: Shape, dtype: DType): Tensor {
    return this.#make(slot, shape, dtype);
  }

  #host(data: TypedArray, shape: Shape, dtype: DType): Tensor {
    return this.#make(this.#engine.host(this.#engine.tensor(ORT_TYPE[dtype], data, shape)), shape, dtype);
  }

  /**
   * Runs graph `key` (built by `build`) on `feeds` and returns a tensor of `shape`/`dtype`. An empty
   * output never reaches ONNX Runtime.
   */
  #op(
    key: string,
    build: (g: GraphBuilder) => void,
    feeds: ReadonlyArray<Tensor | Feed>,
    shape: Shape,
    dtype: DType,
  ): Tensor {
    if (sizeOf(shape) === 0) return this.#host(allocArray(dtype, 0), shape, dtype);
    const fs = feeds.map((f) => (f instanceof Tensor ? (f.storage as Slot) : f));
    return this.#make(this.#engine.run(key, build, fs), shape, dtype);
  }

  tensor(data: TypedArray | readonly number[], shape: Shape, dtype?: DType): Tensor {
    const { arr, dtype: dt } = shapes.hostArray(data, shape, dtype);
    return this.#host(arr, shape, dt);
  }

  fill(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    shapes.checkFill(shape, value, dtype);
    return this.#host(allocArray(dtype, sizeOf(shape)).fill(value), shape, dtype);
  }

  arange(start: number, stop: number, step = 1, dtype: DType = 'int32'): Tensor {
    const a = host.arange(start, stop, step, dtype);
    return this.#host(a, [a.length], dtype);
  }

  read(t: Tensor): Promise<TypedArray> {
    let slot: Slot;
    try {
      slot = this.#slot(t, 'read');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#engine.read(slot, t.dtype);
  }

  release(storage: unknown, t: Tensor): void {
    this.#tensors--;
    this.#bytes -= t.size * 4;
    this.#engine.release(storage as Slot);
  }

  memory(): MemoryInfo {
    return { tensors: this.#tensors, bytes: this.#bytes, buffers: this.#tensors };
  }

  sync(): Promise<void> {
    return this.#engine.idle();
  }

  /** @deprecated Use `await backend.dispose()` (the same name on every backend). */
  destroy(): void {
    void this.#engine.destroy();
  }

  /** Releases every cached session. The one lifetime call on every backend. */
  dispose(): Promise<void> {
    return this.#engine.destroy();
  }

  // ---- ops: one file per family in ./ops (graph builders in ./graphs) ----
  lincomb(coefs: readonly number[], xs: readonly Tensor[]): Tensor {
    return E.lincomb(this.#ctx, coefs, xs);
  }

  unary(op: UnaryOp, x: Tensor): Tensor {
    return E.unary(this.#ctx, op, x);
  }

  binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
    return E.binary(this.#ctx, op, a, b);
  }

  clamp(x: Tensor, min: number, max: number): Tensor {
    return E.clamp(this.#ctx, x, min, max);
  }

  cast(x: Tensor, dtype: DType): Tensor {
    return E.cast(this.#ctx, x, dtype);
  }

  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    return E.where(this.#ctx, cond, a, b);
  }

  // reductions, linear algebra
  reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    return R.reduce(this.#ctx, op, x, axes, keepDims);
  }

  argmax(x: Tensor, axis?: number, keepDims = false): Tensor {
    return R.argmax(this.#ctx, x, axis, keepDims);
  }

  argmin(x: Tensor, axis?: number, keepDims = false): Tensor {
    return R.argmin(this.#ctx, x, axis, keepDims);
  }

  cumsum(x: Tensor, axis: number, options?: { exclusive?: boolean; reverse?: boolean }): Tensor {
    return R.cumsum(this.#ctx, x, axis, options);
  }

  matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor {
    return R.matmul(this.#ctx, a, b, options);
  }

  // indexing and layout
  gather(x: Tensor, indices: Tensor, axis?: number): Tensor {
    return L.gather(this.#ctx, x, indices, axis);
  }

  takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
    return L.takeAlongAxis(this.#ctx, x, indices, axis);
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    return L.concat(this.#ctx, xs, axis);
  }

  slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
    return L.slice(this.#ctx, x, begin, size);
  }

  reshape(x: Tensor, shape: Shape): Tensor {
    return L.reshape(this.#ctx, x, shape);
  }

  transpose(x: Tensor, perm?: readonly number[]): Tensor {
    return L.transpose(this.#ctx, x, perm);
  }

  broadcastTo(x: Tensor, shape: Shape): Tensor {
    return L.broadcastTo(this.#ctx, x, shape);
  }

  // probability and images
  softmax(x: Tensor, axis?: number): Tensor {
    return P.softmax(this.#ctx, x, axis);
  }

  logSoftmax(x: Tensor, axis?: number): Tensor {
    return P.logSoftmax(this.#ctx, x, axis);
  }

  topK(logits: Tensor, k: number): Tensor {
    return P.topK(this.#ctx, logits, k);
  }

  topP(logits: Tensor, p: number): Tensor {
    return P.topP(this.#ctx, logits, p);
  }

  minP(logits: Tensor, p: number): Tensor {
    return P.minP(this.#ctx, logits, p);
  }

  sampleCategorical(logits: Tensor, random: RandomOptions): Tensor {
    return P.sampleCategorical(this.#ctx, logits, random);
  }

  rand(shape: Shape, random: RandomOptions): Tensor {
    return P.rand(this.#ctx, shape, random);
  }

  randn(shape: Shape, random: RandomOptions): Tensor {
    return P.randn(this.#ctx, shape, random);
  }

  resize(x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor {
    return P.resize(this.#ctx, x, size, mode);
  }
}
