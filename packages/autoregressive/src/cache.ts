import { fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';

/**
 * Two ways to keep per-step model state (a KV cache, or the token buffer of the reference count models):
 *
 * - {@link ConcatCache}: starts empty and grows by concatenation along the sequence axis; simple, and a
 *   step copies the whole cache (cost grows with t on backends without in-place writes).
 * - {@link StaticCache}: allocated once at its full length and written at position t with a one-hot
 *   `where`; every step costs the same whatever t is, and the shape never changes (what a compiled
 *   graph or a WebGPU pipeline wants).
 *
 * Both hold `[B, T, ...]` tensors (axis 1 is the sequence axis) and are consumed by `append`/`write`
 * (the old tensor is disposed).
 */
export class ConcatCache {
  #data: Tensor | null;
  constructor(initial?: Tensor) {
    this.#data = initial ?? null;
  }
  /** The cached `[B, t, ...]` tensor, or null when empty. */
  get data(): Tensor | null {
    return this.#data;
  }
  /** Length t along the sequence axis. */
  get length(): number {
    return this.#data ? this.#data.shape[1]! : 0;
  }
  /** Appends `x` `[B, n, ...]` along axis 1. */
  append(x: Tensor): void {
    if (!this.#data) {
      this.#data = x.backend.reshape(x, x.shape);
      return;
    }
    const old = this.#data;
    this.#data = old.backend.concat([old, x], 1);
    old.dispose();
  }
  /** Keeps batch rows [begin, begin + size). */
  sliceRows(begin: number, size: number): void {
    if (!this.#data) return;
    const old = this.#data;
    this.#data = old.backend.slice(
      old,
      old.shape.map((_, i) => (i === 0 ? begin : 0)),
      old.shape.map((d, i) => (i === 0 ? size : d)),
    );
    old.dispose();
  }
  dispose(): void {
    this.#data?.dispose();
    this.#data = null;
  }
}

/** A pre-allocated `[B, T, ...]` cache written at one position per step. See {@link ConcatCache}. */
export class StaticCache {
  #data: Tensor;
  #positions: Tensor;
  constructor(buffer: Tensor) {
    if (buffer.rank < 2)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `StaticCache: buffer must be [B, T, ...], got ${fmtShape(buffer.shape)}`,
      );
    this.#data = buffer;
    const B = buffer.backend;
    const T = buffer.shape[1]!;
    this.#positions = tidy(() =>
      B.reshape(B.arange(0, T, 1, 'int32'), [1, T, ...buffer.shape.slice(2).map(() => 1)]),
    );
  }
  /** The whole `[B, T, ...]` buffer. */
  get data(): Tensor {
    return this.#data;
  }
  /** Capacity T. */
  get capacity(): number {
    return this.#data.shape[1]!;
  }
  /** Writes `x` `[B, ...]` (one position's entries) at position `t`. */
  write(t: number, x: Tensor): void {
    if (!(Number.isInteger(t) && t >= 0 && t < this.capacity)) {
      throw new TesseraError(
        'OUT_OF_RANGE',
        `StaticCache.write: position ${t} is outside [0, ${this.capacity})`,
      );
    }
    const B = this.#data.backend;
    const old = this.#data;
    this.#data = tidy(() =>
      B.where(B.binary('eq', this.#positions, t), B.reshape(x, [x.shape[0]!, 1, ...x.shape.slice(1)]), old),
    );
    old.dispose();
  }
  /** Keeps batch rows [begin, begin + size). */
  sliceRows(begin: number, size: number): void {
    const old = this.#data;
    this.#data = old.backend.slice(
      old,
      old.shape.map((_, i) => (i === 0 ? begin : 0)),
      old.shape.map((d, i) => (i === 0 ? size : d)),
    );
    old.dispose();
  }
  dispose(): void {
    this.#data.dispose();
    this.#positions.dispose();
  }
}
