/** Smallest array worth recycling: below this, allocation is cheaper than bookkeeping. */
const MIN_LENGTH = 1 << 14;

/**
 * Recycles the Float32Arrays of disposed tensors for outputs of the same length, so that a loop of
 * same-shaped ops does not pay for fresh, page-faulting memory each step. Arrays taken from it hold
 * stale values: only kernels that write every element use it. At most `capBytes` are kept.
 */
export class Float32Pool {
  readonly #free = new Map<number, Float32Array[]>();
  #bytes = 0;

  constructor(readonly capBytes = 256 * 2 ** 20) {}

  /** An array of `n` elements, recycled when one is free (its contents are stale), else fresh. */
  take(n: number): Float32Array {
    const list = this.#free.get(n);
    const a = list?.pop();
    if (!a) return new Float32Array(n);
    this.#bytes -= a.byteLength;
    return a;
  }

  /** Offers a released array for reuse (kept unless small, a view, or over the cap). */
  give(a: unknown): void {
    if (!(a instanceof Float32Array) || a.length < MIN_LENGTH) return;
    if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) return;
    if (this.#bytes + a.byteLength > this.capBytes) return;
    const list = this.#free.get(a.length);
    if (list) list.push(a);
    else this.#free.set(a.length, [a]);
    this.#bytes += a.byteLength;
  }

  /** Bytes held for reuse. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Drops every held array. */
  clear(): void {
    this.#free.clear();
    this.#bytes = 0;
  }
}
