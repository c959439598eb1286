import {
  allocArray,
  type Backend,
  type BinaryOp,
  type DType,
  fmtShape,
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
import { elemOf, type GraphBuilder } from './graph.js';
import * as L from './methods-layout.js';
import * as P from './methods-prob.js';
import * as R from './methods-reduce.js';
import { binaryFloat, binaryInt, COMPARE, load, store, unaryFloat, unaryInt } from './ops-elementwise.js';
import * as host from './ops-host.js';
import * as layout from './ops-layout.js';
import { ORT_TYPE } from './runtime.js';

/** A scalar operand of `binary`/`where`, stored in `dtype` like the CPU backend does. */
function scalarArray(v: number, dtype: DType): TypedArray {
  const a = allocArray(dtype, 1);
  a[0] = v;
  return a;
}

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

  destroy(): void {
    void this.#engine.destroy();
  }

  /** Releases every cached session (awaitable form of `destroy`). */
  dispose(): Promise<void> {
    return this.#engine.destroy();
  }

  // ---- elementwise ----
  lincomb(coefs: readonly number[], xs: readonly Tensor[]): Tensor {
    if (coefs.length !== xs.length || xs.length === 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `lincomb: need one coefficient per tensor, got ${coefs.length} coefficients and ${xs.length} tensors`,
      );
    }
    xs.forEach((x, i) => {
      this.#slot(x, 'lincomb', `xs[${i}]`);
      shapes.checkDtype('lincomb', x, ['float32'], `xs[${i}]`);
      if (x.rank !== xs[0]!.rank || x.shape.some((d, j) => d !== xs[0]!.shape[j])) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `lincomb: xs[${i}] has shape ${fmtShape(x.shape)}, expected ${fmtShape(xs[0]!.shape)}`,
        );
      }
    });
    const n = xs.length;
    // one graph per term count: the coefficients are an input, so every coefficient set reuses it
    // CPU-side providers compute in float64 (as the CPU backend does); the WebGPU provider in float32
    if (this.#engine.gpuResident) {
      const c = this.#engine.tensor('float32', Float32Array.from(coefs), [n]);
      return this.#op(`lincomb:${n}`, (g) => layout.lincomb(g, n), [c, ...xs], xs[0]!.shape, 'float32');
    }
    const hi = Float32Array.from(coefs);
    const lo = Float32Array.from(coefs, (v, i) => (Number.isFinite(hi[i]!) ? v - hi[i]! : 0));
    const pair = new Float32Array(2 * n);
    pair.set(hi);
    pair.set(lo, n);
    const c = this.#engine.tensor('float32', pair, [2, n]);
    return this.#op(`lincomb64:${n}`, (g) => layout.lincomb(g, n, true), [c, ...xs], xs[0]!.shape, 'float32');
  }

  unary(op: UnaryOp, x: Tensor): Tensor {
    this.#slot(x, op);
    shapes.checkUnaryName(op);
    shapes.checkUnaryDtype(op, x);
    const dt = x.dtype;
    return this.#op(
      `unary:${op}:${dt}`,
      (g) => {
        const v = load(g, dt);
        // the WebGPU provider's native Sin/Cos may be only 2⁻¹¹-accurate: build them from exact ops there
        const trig = this.#engine.gpuResident;
        store(g, dt === 'float32' ? unaryFloat(g, op, v, trig) : unaryInt(g, op, v), dt);
      },
      [x],
      x.shape,
      dt,
    );
  }

  #operand(
    op: string,
    v: Tensor | number,
    other: Tensor | number,
    name: string,
  ): { feed: Tensor | Feed; shape: Shape; dtype: DType } {
    if (typeof v === 'number') {
      const dt: DType = typeof other === 'number' ? 'float32' : other.dtype;
      return { feed: this.#engine.tensor(ORT_TYPE[dt], scalarArray(v, dt), []), shape: [], dtype: dt };
    }
    this.#slot(v, op, name);
    return { feed: v, shape: v.shape, dtype: v.dtype };
  }

  binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
    const A = this.#operand(op, a, b, 'a');
    const B = this.#operand(op, b, a, 'b');
    if (A.dtype !== B.dtype) {
      throw new TesseraError(
        'DTYPE_MISMATCH',
        `${op}: operand dtypes differ: ${A.dtype} ${fmtShape(A.shape)} vs ${B.dtype} ${fmtShape(B.shape)}`,
      );
    }
    if ((op === 'pow' || op === 'atan2') && A.dtype !== 'float32') {
      throw new TesseraError('DTYPE_MISMATCH', `${op}: needs float32, got ${A.dtype}`);
    }
    shapes.checkBinaryName(op);
    const shape = shapes.broadcastShapes(op, A.shape, B.shape);
    const dt = A.dtype;
    const outDt: DType = COMPARE.has(op) ? 'uint32' : dt;
    return this.#op(
      `binary:${op}:${dt}`,
      (g) => {
        const x = load(g, dt);
        const y = load(g, dt);
        const v = dt === 'float32' ? binaryFloat(g, op, x, y) : binaryInt(g, op, x, y);
        if (COMPARE.has(op)) g.output(g.cast(v, 'uint32'), 'uint32');
        else store(g, v, dt);
      },
      [A.feed, B.feed],
      shape,
      outDt,
    );
  }

  clamp(x: Tensor, min: number, max: number): Tensor {
    this.#slot(x, 'clamp');
    if (!(min <= max)) throw new TesseraError('INVALID_ARGUMENT', `clamp: min ${min} exceeds max ${max}`);
    const dt = x.dtype;
    const [lo, hi] = host.clampBounds(min, max, dt);
    const bound = (v: number) =>
      dt === 'float32'
        ? this.#engine.tensor('float32', Float32Array.of(v), [])
        : this.#engine.tensor('int64', BigInt64Array.of(BigInt(v)), []);
    return this.#op(
      `clamp:${dt}`,
      (g) => {
        const v = load(g, dt);
        const w = dt === 'float32' ? 'float' : 'int64';
        const l = g.input(w);
        const h = g.input(w);
        store(g, g.op('Min', [g.op('Max', [v, l]), h]), dt);
      },
      [x, bound(lo), bound(hi)],
      x.shape,
      dt,
    );
  }

  cast(x: Tensor, dtype: DType): Tensor {
    this.#slot(x, 'cast');
    if (!(dtype in ORT_TYPE)) throw new TesseraError('INVALID_ARGUMENT', `cast: unknown dtype '${dtype}'`);
    const from = x.dtype;
    return this.#op(
      `cast:${from}:${dtype}`,
      (g) => {
        let v = g.input(elemOf(from));
        // float → int truncates toward zero; going through int64 makes uint32 wrap like the CPU backend
        if (from === 'float32' && dtype !== 'float32') v = g.cast(v, 'int64');
        g.output(g.cast(v, elemOf(dtype)), elemOf(dtype));
      },
      [x],
      x.shape,
      dtype,
    );
  }

  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    this.#slot(cond, 'where', 'cond');
    const A = this.#operand('where', a, b, 'a');
    const B = this.#operand('where', b, a, 'b');
    if (A.dtype !== B.dtype)
      throw new TesseraError('DTYPE_MISMATCH', `where: a is ${A.dtype}, b is ${B.dtype}`);
    const shape = shapes.broadcastShapes(
      'where',
      shapes.broadcastShapes('where', cond.shape, A.shape),
      B.shape,
    );
    const cdt = cond.dtype;
    const dt = A.dtype;
    return this.#op(
      `where:${cdt}:${dt}`,
      (g) => {
        const c = g.input(elemOf(cdt));
        // non-zero and not NaN is true (NaN is falsy on the CPU backend)
        let m = g.op('Not', [g.op('Equal', [c, cdt === 'float32' ? g.f(0) : g.const(elemOf(cdt), [0])])]);
        if (cdt === 'float32') m = g.op('And', [m, g.op('Not', [g.op('IsNaN', [c])])]);
        const x = load(g, dt);
        const y = load(g, dt);
        store(g, g.op('Where', [m, x, y]), dt);
      },
      [cond, A.feed, B.feed],
      shape,
      dt,
    );
  }

  // ---- reductions, linear algebra (methods-reduce.ts) ----
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

  // ---- indexing and layout (methods-layout.ts) ----
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

  // ---- probability and images (methods-prob.ts) ----
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
