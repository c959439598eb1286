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

  /**
   * Offers a released array for reuse (not when small, a view, or larger than the cap). Over the cap,
   * the arrays of the least recently released sizes go first, so sizes a program stopped using do not
   * pin the memory.
   */
  give(a: unknown): void {
    if (!(a instanceof Float32Array) || a.length < MIN_LENGTH) return;
    if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.byteLength > this.capBytes) return;
    const list = this.#free.get(a.length) ?? [];
    this.#free.delete(a.length); // re-inserted last: the Map's order is least recently released first
    list.push(a);
    this.#free.set(a.length, list);
    this.#bytes += a.byteLength;
    for (const [n, old] of this.#free) {
      if (this.#bytes <= this.capBytes) break;
      while (old.length && this.#bytes > this.capBytes) this.#bytes -= old.pop()!.byteLength;
      if (!old.length) this.#free.delete(n);
    }
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
