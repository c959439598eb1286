import type {
  Backend,
  BinaryOp,
  MatmulOptions,
  MemoryInfo,
  RandomOptions,
  ReduceOp,
  ResizeMode,
  UnaryOp,
} from '../backend.js';
import { allocArray, type DType, type Shape, sizeOf, type TypedArray } from '../dtype.js';
import { TesseraError } from '../errors.js';
import { checkFill, checkShape, checkTensor, hostArray } from '../shape.js';
import { Tensor } from '../tensor.js';
import type { CpuContext } from './context.js';
import * as el from './ops/elementwise.js';
import * as lay from './ops/layout.js';
import * as lin from './ops/linalg.js';
import * as prob from './ops/probability.js';
import * as red from './ops/reduce.js';
import * as img from './ops/resize.js';
import { Float32Pool } from './pool.js';

/**
 * The CPU reference backend: plain typed arrays, float64 arithmetic rounded to float32 on store. No
 * dependencies; the default backend and the reference every other backend is tested against.
 */
export class CpuBackend implements Backend {
  readonly name: string = 'cpu';
  #tensors = 0;
  #bytes = 0;
  /** Float32 arrays of disposed tensors, recycled by kernels that write every output element. */
  readonly #pool = new Float32Pool();
  /** What the op files see of this instance (a subclass may rename it, so the name is read live). */
  readonly #ctx: CpuContext = ((self: CpuBackend): CpuContext => ({
    get name() {
      return self.name;
    },
    arr: (t, op, name) => self.#arr(t, op, name),
    make: (data, shape, dtype) => self.#make(data, shape, dtype),
    pool: self.#pool,
  }))(this);

  // ---- storage ----
  #make(data: TypedArray, shape: Shape, dtype: DType): Tensor {
    this.#tensors++;
    this.#bytes += data.byteLength;
    return new Tensor(this, data, shape, dtype);
  }

  #arr(t: Tensor, op: string, name = 'input'): TypedArray {
    checkTensor(op, t, this.name, name);
    return t.storage as TypedArray;
  }

  tensor(data: TypedArray | readonly number[], shape: Shape, dtype?: DType): Tensor {
    const { arr, dtype: dt } = hostArray(data, shape, dtype);
    return this.#make(arr, shape, dt);
  }

  fill(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    checkFill(shape, value, dtype);
    const out = allocArray(dtype, sizeOf(shape));
    out.fill(value);
    return this.#make(out, shape, dtype);
  }

  arange(start: number, stop: number, step = 1, dtype: DType = 'int32'): Tensor {
    if (step === 0 || !Number.isFinite(start) || !Number.isFinite(stop)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `arange: need finite start/stop and non-zero step, got ${start}, ${stop}, ${step}`,
      );
    }
    const n = Math.max(0, Math.ceil((stop - start) / step));
    const out = allocArray(dtype, n);
    for (let i = 0; i < n; i++) out[i] = start + i * step;
    return this.#make(out, [n], dtype);
  }

  async read(t: Tensor): Promise<TypedArray> {
    return this.#arr(t, 'read').slice();
  }

  release(storage: unknown): void {
    this.#tensors--;
    this.#bytes -= (storage as TypedArray).byteLength;
    this.#pool.give(storage);
  }

  /** Drops the recycled arrays (the backend stays usable). */
  destroy(): void {
    this.#pool.clear();
  }

  memory(): MemoryInfo {
    return { tensors: this.#tensors, bytes: this.#bytes, buffers: this.#tensors };
  }

  async sync(): Promise<void> {}

  /** Nothing to free on the CPU (typed arrays are garbage-collected); present for one lifetime API. */
  async dispose(): Promise<void> {}

  // ---- ops: one file per family in ./ops ----
  lincomb(coefs: readonly number[], xs: readonly Tensor[]): Tensor {
    return el.lincomb(this.#ctx, coefs, xs);
  }

  unary(op: UnaryOp, x: Tensor): Tensor {
    return el.unary(this.#ctx, op, x);
  }

  binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
    return el.binary(this.#ctx, op, a, b);
  }

  clamp(x: Tensor, min: number, max: number): Tensor {
    return el.clamp(this.#ctx, x, min, max);
  }

  cast(x: Tensor, dtype: DType): Tensor {
    return el.cast(this.#ctx, x, dtype);
  }

  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    return el.where(this.#ctx, cond, a, b);
  }

  reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    return red.reduce(this.#ctx, op, x, axes, keepDims);
  }

  argmax(x: Tensor, axis?: number, keepDims = false): Tensor {
    return red.argmax(this.#ctx, x, axis, keepDims);
  }

  argmin(x: Tensor, axis?: number, keepDims = false): Tensor {
    return red.argmin(this.#ctx, x, axis, keepDims);
  }

  cumsum(x: Tensor, axis: number, options: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
    return red.cumsum(this.#ctx, x, axis, options);
  }

  matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
    return lin.matmul(this.#ctx, a, b, options);
  }

  gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
    return lay.gather(this.#ctx, x, indices, axis);
  }

  takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
    return lay.takeAlongAxis(this.#ctx, x, indices, axis);
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    return lay.concat(this.#ctx, xs, axis);
  }

  slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
    return lay.slice(this.#ctx, x, begin, size);
  }

  reshape(x: Tensor, shape: Shape): Tensor {
    return lay.reshape(this.#ctx, x, shape);
  }

  transpose(x: Tensor, perm?: readonly number[]): Tensor {
    return lay.transpose(this.#ctx, x, perm);
  }

  broadcastTo(x: Tensor, shape: Shape): Tensor {
    return lay.broadcastTo(this.#ctx, x, shape);
  }

  softmax(x: Tensor, axis = -1): Tensor {
    return prob.softmax(this.#ctx, x, axis);
  }

  logSoftmax(x: Tensor, axis = -1): Tensor {
    return prob.logSoftmax(this.#ctx, x, axis);
  }

  topK(logits: Tensor, k: number): Tensor {
    return prob.topK(this.#ctx, logits, k);
  }

  topP(logits: Tensor, p: number): Tensor {
    return prob.topP(this.#ctx, logits, p);
  }

  minP(logits: Tensor, p: number): Tensor {
    return prob.minP(this.#ctx, logits, p);
  }

  sampleCategorical(logits: Tensor, random: RandomOptions): Tensor {
    return prob.sampleCategorical(this.#ctx, logits, random);
  }

  rand(shape: Shape, random: RandomOptions): Tensor {
    return prob.rand(this.#ctx, shape, random);
  }

  randn(shape: Shape, random: RandomOptions): Tensor {
    return prob.randn(this.#ctx, shape, random);
  }

  resize(x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor {
    return img.resize(this.#ctx, x, size, mode);
  }
}

/** Creates a CPU backend instance. */
export function createCpuBackend(): CpuBackend {
  return new CpuBackend();
}
