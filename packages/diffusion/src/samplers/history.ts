import type { Tensor } from '@tessera/core';
import type { SampleContext } from '../context.js';

/**
 * The last `size` tensors a multistep sampler keeps across steps, as a plain list (newest first:
 * `items[0]` is the latest, `items[1]` the one before, …). The run owns them: each is carried by the
 * {@link SampleContext} while it is in the list and freed once it falls off the end (after the step
 * that dropped it) or when the run ends.
 */
export class History {
  readonly #c: SampleContext;
  readonly #size: number;
  readonly #name: string;
  #items: Tensor[] = [];

  constructor(c: SampleContext, size: number, name = 'history') {
    this.#c = c;
    this.#size = size;
    this.#name = name;
  }

  /** Newest first. */
  get items(): readonly Tensor[] {
    return this.#items;
  }

  /** The k-th newest (0: the latest), or undefined when fewer are kept. */
  at(k: number): Tensor | undefined {
    return this.#items[k];
  }

  /** How many are kept. */
  get length(): number {
    return this.#items.length;
  }

  /** Adds `t` as the newest; the oldest beyond `size` is dropped. */
  push(t: Tensor): void {
    this.#items = [t, ...this.#items].slice(0, this.#size);
    for (let k = 0; k < this.#size; k++) this.#c.carry(`${this.#name}${k}`, this.#items[k]);
  }
}
