import {
  allocArray,
  type Backend,
  type BinaryOp,
  type DType,
  dtypeOf,
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
import type { Engine, Feed, Slot } from './engine.js';
import { elemOf, type GraphBuilder } from './graph.js';
import {
  binaryFloat,
  binaryInt,
  COMPARE,
  FLOAT_ONLY_UNARY,
  load,
  store,
  unaryFloat,
  unaryInt,
} from './ops-elementwise.js';
import * as host from './ops-host.js';
import * as layout from './ops-layout.js';
import * as prob from './ops-prob.js';
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
  constructor(engine: Engine, name = 'onnx') {
    this.#engine = engine;
    this.name = name;
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
    shapes.checkShape('tensor', shape);
    const dt = dtype ?? dtypeOf(data) ?? 'float32';
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `tensor: ${data.length} values do not fill shape ${fmtShape(shape)} (${size} elements)`,
      );
    }
    const arr = allocArray(dt, size);
    arr.set(data as ArrayLike<number>);
    return this.#host(arr, shape, dt);
  }

  fill(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    shapes.checkShape('fill', shape);
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
    const c = this.#engine.tensor('float32', Float32Array.from(coefs), [n]);
    return this.#op(`lincomb:${n}`, (g) => layout.lincomb(g, n), [c, ...xs], xs[0]!.shape, 'float32');
  }

  unary(op: UnaryOp, x: Tensor): Tensor {
    this.#slot(x, op);
    if (!(op in { neg: 1, abs: 1, sign: 1, square: 1 }) && !FLOAT_ONLY_UNARY.has(op)) {
      throw new TesseraError('UNKNOWN_NAME', `unary: unknown op '${op}'`);
    }
    if (x.dtype !== 'float32' && FLOAT_ONLY_UNARY.has(op)) {
      throw new TesseraError('DTYPE_MISMATCH', `${op}: needs float32, got ${x.dtype} ${fmtShape(x.shape)}`);
    }
    const dt = x.dtype;
    return this.#op(
      `unary:${op}:${dt}`,
      (g) => {
        const v = load(g, dt);
        store(g, dt === 'float32' ? unaryFloat(g, op, v) : unaryInt(g, op, v), dt);
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
    if (!host.BINARY_OPS.has(op)) throw new TesseraError('UNKNOWN_NAME', `binary: unknown op '${op}'`);
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

  // ---- reductions ----
  reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    this.#slot(x, op);
    if (!host.REDUCE_OPS.has(op))
      throw new TesseraError('UNKNOWN_NAME', `reduce: unknown op '${op as string}'`);
    const ax = shapes.normAxes(op, axes, x.rank);
    const len = ax.reduce((p, i) => p * x.shape[i]!, 1);
    if ((op === 'max' || op === 'min') && len === 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: cannot reduce an empty axis of ${fmtShape(x.shape)}`,
      );
    }
    const intOk = op === 'sum' || op === 'max' || op === 'min' || op === 'prod';
    const outDt: DType = x.dtype !== 'float32' && intOk ? x.dtype : 'float32';
    const shape = shapes.reducedShape(x.shape, ax, keepDims);
    if (len === 0 && sizeOf(shape) > 0)
      return this.fill(
        shape,
        op === 'prod' ? 1 : op === 'mean' ? Number.NaN : op === 'logsumexp' ? -Infinity : 0,
        outDt,
      );
    return this.#op(
      `reduce:${op}:${x.dtype}:${ax.join(',')}:${keepDims}`,
      (g) => layout.reduce(g, op, x.dtype, outDt, ax, keepDims),
      [x],
      shape,
      outDt,
    );
  }

  #argExt(x: Tensor, axis: number | undefined, keepDims: boolean, op: 'argmax' | 'argmin'): Tensor {
    this.#slot(x, op);
    const flat = axis === undefined;
    const ax = flat ? shapes.normAxes(op, undefined, x.rank) : [shapes.normAxis(op, axis, x.rank)];
    const len = ax.reduce((p, i) => p * x.shape[i]!, 1);
    if (len === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: empty axis in ${fmtShape(x.shape)}`);
    const shape = shapes.reducedShape(x.shape, ax, keepDims);
    const dt = x.dtype;
    if (flat) {
      return this.#op(
        `${op}:flat:${dt}`,
        (g) => layout.argFlat(g, op, dt),
        [x, this.#engine.i64(shape)],
        shape,
        'int32',
      );
    }
    return this.#op(
      `${op}:${dt}:${ax[0]}:${keepDims}`,
      (g) => layout.argAxis(g, op, dt, ax[0]!, keepDims),
      [x],
      shape,
      'int32',
    );
  }

  argmax(x: Tensor, axis?: number, keepDims = false): Tensor {
    return this.#argExt(x, axis, keepDims, 'argmax');
  }

  argmin(x: Tensor, axis?: number, keepDims = false): Tensor {
    return this.#argExt(x, axis, keepDims, 'argmin');
  }

  cumsum(x: Tensor, axis: number, options: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
    this.#slot(x, 'cumsum');
    const ax = shapes.normAxis('cumsum', axis, x.rank);
    const ex = options.exclusive ? 1 : 0;
    const rev = options.reverse ? 1 : 0;
    const dt = x.dtype;
    if (x.rank === 0) return this.#op(`cumsum0:${dt}:${ex}`, (g) => layout.cumsum0(g, dt, ex), [x], [], dt);
    return this.#op(
      `cumsum:${dt}:${ex}:${rev}`,
      (g) => {
        const v = load(g, dt);
        store(g, g.op('CumSum', [v, g.input('int64', [])], { exclusive: ex, reverse: rev }), dt);
      },
      [x, this.#engine.tensor('int64', BigInt64Array.of(BigInt(ax)), [])],
      x.shape,
      dt,
    );
  }

  // ---- linear algebra ----
  matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
    this.#slot(a, 'matmul', 'a');
    this.#slot(b, 'matmul', 'b');
    shapes.checkDtype('matmul', a, ['float32'], 'a');
    shapes.checkDtype('matmul', b, ['float32'], 'b');
    const ta = !!options.transposeA;
    const tb = !!options.transposeB;
    const { shape } = shapes.matmulShape(a.shape, b.shape, ta, tb);
    return this.#op(
      `matmul:${a.rank}:${b.rank}:${ta}:${tb}`,
      (g) => layout.matmul(g, a.rank, b.rank, ta, tb),
      [a, b],
      shape,
      'float32',
    );
  }

  // ---- indexing and layout ----
  gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
    this.#slot(x, 'gather');
    this.#slot(indices, 'gather', 'indices');
    shapes.checkDtype('gather', indices, ['int32', 'uint32'], 'indices');
    const ax = shapes.normAxis('gather', axis, x.rank);
    const shape = shapes.gatherShape(x.shape, indices.shape, ax);
    if (x.rank === 0)
      throw new TesseraError('SHAPE_MISMATCH', `gather: x must have rank ≥ 1, got ${fmtShape(x.shape)}`);
    const hi = this.#engine.tensor('int64', BigInt64Array.of(BigInt(Math.max(x.shape[ax]! - 1, 0))), []);
    return this.#op(
      `gather:${x.dtype}:${indices.dtype}:${ax}`,
      (g) => layout.gather(g, x.dtype, indices.dtype, ax),
      [x, indices, hi],
      shape,
      x.dtype,
    );
  }

  takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
    this.#slot(x, 'takeAlongAxis');
    this.#slot(indices, 'takeAlongAxis', 'indices');
    shapes.checkDtype('takeAlongAxis', indices, ['int32', 'uint32'], 'indices');
    if (indices.rank !== x.rank) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `takeAlongAxis: indices ${fmtShape(indices.shape)} must have the rank of x ${fmtShape(x.shape)}`,
      );
    }
    const ax = shapes.normAxis('takeAlongAxis', axis, x.rank);
    const bx = x.shape.map((d, i) => (i === ax ? indices.shape[i]! : d));
    const shape = shapes.broadcastShapes('takeAlongAxis', bx, indices.shape);
    const xShape = shape.map((d, i) => (i === ax ? x.shape[ax]! : d));
    const hi = this.#engine.tensor('int64', BigInt64Array.of(BigInt(Math.max(x.shape[ax]! - 1, 0))), []);
    return this.#op(
      `takeAlongAxis:${x.dtype}:${indices.dtype}:${ax}`,
      (g) => layout.takeAlong(g, x.dtype, indices.dtype, ax),
      [x, indices, this.#engine.i64(xShape), this.#engine.i64(shape), hi],
      shape,
      x.dtype,
    );
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    for (const [i, t] of xs.entries()) this.#slot(t, 'concat', `xs[${i}]`);
    const { shape, axis: ax } = shapes.concatShape('concat', xs, axis);
    const parts = xs.filter((t) => t.size > 0);
    const dt = xs[0]!.dtype;
    if (parts.length === 0) return this.#host(allocArray(dt, 0), shape, dt);
    return this.#op(
      `concat:${dt}:${parts.length}:${ax}`,
      (g) => {
        const ins = parts.map(() => g.input(elemOf(dt)));
        g.output(ins.length === 1 ? ins[0]! : g.op('Concat', ins, { axis: ax }), elemOf(dt));
      },
      parts,
      shape,
      dt,
    );
  }

  slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
    this.#slot(x, 'slice');
    const shape = shapes.resolveSlice('slice', x.shape, begin, size);
    const dt = x.dtype;
    if (x.rank === 0)
      return this.#op(`copy:${dt}`, (g) => g.output(g.input(elemOf(dt)), elemOf(dt)), [x], shape, dt);
    const ends = begin.map((b, i) => b + shape[i]!);
    return this.#op(
      `slice:${dt}`,
      (g) => {
        g.output(
          g.op('Slice', [g.input(elemOf(dt)), g.input('int64', ['r']), g.input('int64', ['r'])]),
          elemOf(dt),
        );
      },
      [x, this.#engine.i64(begin), this.#engine.i64(ends)],
      shape,
      dt,
    );
  }

  reshape(x: Tensor, shape: Shape): Tensor {
    this.#slot(x, 'reshape');
    const out = shapes.resolveReshape('reshape', x.shape, shape);
    const dt = x.dtype;
    return this.#op(
      `reshape:${dt}`,
      (g) => {
        g.output(
          g.op('Reshape', [g.input(elemOf(dt)), g.input('int64', ['r'])], { allowzero: 1 }),
          elemOf(dt),
        );
      },
      [x, this.#engine.i64(out)],
      out,
      dt,
    );
  }

  transpose(x: Tensor, perm?: readonly number[]): Tensor {
    this.#slot(x, 'transpose');
    const p = shapes.resolvePerm('transpose', x.rank, perm);
    const dt = x.dtype;
    return this.#op(
      `transpose:${dt}:${p.join(',')}`,
      (g) => {
        g.output(g.op('Transpose', [g.input(elemOf(dt))], { perm: { ints: p } }), elemOf(dt));
      },
      [x],
      p.map((i) => x.shape[i]!),
      dt,
    );
  }

  broadcastTo(x: Tensor, shape: Shape): Tensor {
    this.#slot(x, 'broadcastTo');
    const target = shapes.broadcastShapes('broadcastTo', x.shape, shape);
    if (target.length !== shape.length || target.some((d, i) => d !== shape[i])) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `broadcastTo: ${fmtShape(x.shape)} does not broadcast to ${fmtShape(shape)}`,
      );
    }
    const dt = x.dtype;
    return this.#op(
      `expand:${dt}`,
      (g) => {
        g.output(g.op('Expand', [g.input(elemOf(dt)), g.input('int64', ['r'])]), elemOf(dt));
      },
      [x, this.#engine.i64(target)],
      target,
      dt,
    );
  }

  // ---- probability ----
  #rowOp(op: string, x: Tensor, axis: number): number {
    this.#slot(x, op);
    shapes.checkDtype(op, x, ['float32']);
    return shapes.normAxis(op, axis, x.rank);
  }

  softmax(x: Tensor, axis = -1): Tensor {
    const ax = this.#rowOp('softmax', x, axis);
    if (x.rank === 0) return this.fill([], 1);
    return this.#op(
      `softmax:${ax}`,
      (g) => g.output(prob.softmax(g, g.input('float'), ax), 'float'),
      [x],
      x.shape,
      'float32',
    );
  }

  logSoftmax(x: Tensor, axis = -1): Tensor {
    const ax = this.#rowOp('logSoftmax', x, axis);
    if (x.rank === 0) return this.fill([], 0);
    return this.#op(
      `logSoftmax:${ax}`,
      (g) => g.output(g.op('LogSoftmax', [g.input('float')], { axis: ax }), 'float'),
      [x],
      x.shape,
      'float32',
    );
  }

  #filter(op: 'topK' | 'topP' | 'minP', logits: Tensor): void {
    this.#slot(logits, op);
    shapes.checkDtype(op, logits, ['float32']);
    if (logits.rank < 1)
      throw new TesseraError('SHAPE_MISMATCH', `${op}: logits need rank ≥ 1, got ${fmtShape(logits.shape)}`);
  }

  #copy(x: Tensor): Tensor {
    return this.#op(
      `copy:${x.dtype}`,
      (g) => g.output(g.input(elemOf(x.dtype)), elemOf(x.dtype)),
      [x],
      x.shape,
      x.dtype,
    );
  }

  topK(logits: Tensor, k: number): Tensor {
    if (!Number.isInteger(k))
      throw new TesseraError('INVALID_ARGUMENT', `topK: k must be an integer, got ${k}`);
    this.#filter('topK', logits);
    if (k <= 0 || k >= logits.shape[logits.rank - 1]!) return this.#copy(logits);
    return this.#op('topK', prob.topK, [logits, this.#engine.i64([k])], logits.shape, 'float32');
  }

  topP(logits: Tensor, p: number): Tensor {
    if (!(p >= 0)) throw new TesseraError('INVALID_ARGUMENT', `topP: p must be a number ≥ 0, got ${p}`);
    this.#filter('topP', logits);
    if (p >= 1) return this.#copy(logits);
    const len = logits.shape[logits.rank - 1]!;
    return this.#op(
      'topP',
      prob.topP,
      [logits, this.#engine.i64([len]), this.#engine.tensor('float32', Float32Array.of(p), [])],
      logits.shape,
      'float32',
    );
  }

  minP(logits: Tensor, p: number): Tensor {
    if (!(p >= 0 && p <= 1))
      throw new TesseraError('INVALID_ARGUMENT', `minP: p must be in [0, 1], got ${p}`);
    this.#filter('minP', logits);
    return this.#op(
      'minP',
      prob.minP,
      [logits, this.#engine.tensor('float32', Float32Array.of(Math.log(p)), [])],
      logits.shape,
      'float32',
    );
  }

  sampleCategorical(logits: Tensor, random: RandomOptions): Tensor {
    this.#slot(logits, 'sampleCategorical');
    shapes.checkDtype('sampleCategorical', logits, ['float32']);
    const { seed, offset } = shapes.checkRandom('sampleCategorical', random);
    if (logits.rank < 1 || logits.shape[logits.rank - 1] === 0) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `sampleCategorical: logits need a non-empty last axis, got ${fmtShape(logits.shape)}`,
      );
    }
    const outShape = logits.shape.slice(0, -1);
    const u = this.#engine.tensor('float32', host.uniforms(seed, offset, sizeOf(outShape)), [...outShape, 1]);
    return this.#op('sampleCategorical', prob.sampleCategorical, [logits, u], outShape, 'int32');
  }

  rand(shape: Shape, random: RandomOptions): Tensor {
    shapes.checkShape('rand', shape);
    const { seed, offset } = shapes.checkRandom('rand', random);
    return this.#host(host.rand(seed, offset, sizeOf(shape)), shape, 'float32');
  }

  randn(shape: Shape, random: RandomOptions): Tensor {
    shapes.checkShape('randn', shape);
    const { seed, offset } = shapes.checkRandom('randn', random);
    return this.#host(host.randn(seed, offset, sizeOf(shape)), shape, 'float32');
  }

  // ---- images ----
  resize(x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor {
    this.#slot(x, 'resize');
    shapes.checkDtype('resize', x, ['float32']);
    if (x.rank < 2)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `resize: needs rank ≥ 2 ([N, C, H, W]), got ${fmtShape(x.shape)}`,
      );
    if (!['nearest', 'bilinear', 'bicubic', 'area'].includes(mode)) {
      throw new TesseraError(
        'UNKNOWN_NAME',
        `resize: unknown mode '${mode}' (nearest, bilinear, bicubic, area)`,
      );
    }
    const [h, w] = size;
    if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `resize: size must be two positive integers, got [${size.join(', ')}]`,
      );
    }
    const H = x.shape[x.rank - 2]!;
    const W = x.shape[x.rank - 1]!;
    // separable resampling as two matmuls with PyTorch's taps: out = Ry · x · Rxᵀ
    const ry = this.#engine.tensor('float32', host.resizeMatrix(H, h, mode), [h, H]);
    const rx = this.#engine.tensor('float32', host.resizeMatrix(W, w, mode), [w, W]);
    return this.#op('resize', layout.resize, [x, ry, rx], [...x.shape.slice(0, -2), h, w], 'float32');
  }
}
