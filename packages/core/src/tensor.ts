import type { Backend } from './backend.js';
import { type DType, type Shape, sizeOf, type TypedArray } from './dtype.js';
import { fmtShape, TesseraError } from './errors.js';
import { trackTensor } from './scope.js';

let nextId = 1;

/**
 * An n-dimensional array living on one backend. Tensors are immutable: every op returns a new one.
 * `data()` is the only way to read values back to the host (and the only sync point on a device).
 * Call `dispose()` when done, or create tensors inside {@link scope} / {@link tidy}.
 */
export class Tensor {
  /** Unique id, for debugging and leak reports. */
  readonly id: number;
  /** Extents, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** The backend that owns the storage. */
  readonly backend: Backend;
  /** Number of elements. */
  readonly size: number;
  #storage: unknown;
  #disposed = false;

  /**
   * Backends create tensors; user code calls `backend.tensor(...)` or {@link tensor}.
   * @param storage backend-specific handle (a typed array on CPU, a GPU buffer on WebGPU, ...)
   */
  constructor(backend: Backend, storage: unknown, shape: Shape, dtype: DType) {
    this.id = nextId++;
    this.backend = backend;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.#storage = storage;
    trackTensor(this);
  }

  /** Rank (number of dimensions). */
  get rank(): number {
    return this.shape.length;
  }

  /** True once `dispose()` ran. */
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** The backend's storage handle. Throws `DISPOSED` on a disposed tensor. */
  get storage(): unknown {
    if (this.#disposed)
      throw new TesseraError(
        'DISPOSED',
        `tensor #${this.id} ${fmtShape(this.shape)} ${this.dtype} was used after dispose()`,
      );
    return this.#storage;
  }

  /** Reads the values back to the host as a fresh typed array (Float32Array, Int32Array or Uint32Array). */
  data(): Promise<TypedArray> {
    if (this.#disposed)
      return Promise.reject(
        new TesseraError('DISPOSED', `data(): tensor #${this.id} ${fmtShape(this.shape)} was disposed`),
      );
    return this.backend.read(this);
  }

  /** Reads the values as a plain number array (convenience over `data()`). */
  async array(): Promise<number[]> {
    return Array.from(await this.data());
  }

  /** Frees the storage. Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.backend.release(this.#storage, this);
    this.#storage = undefined;
  }

  toString(): string {
    return `Tensor#${this.id}(${fmtShape(this.shape)}, ${this.dtype}, ${this.backend.name}${this.#disposed ? ', disposed' : ''})`;
  }
}

/** True if `x` is a {@link Tensor}. */
export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
