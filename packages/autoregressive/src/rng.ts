import { type RandomOptions, TesseraError } from '@tessera/core';

/**
 * A position in core's Philox stream that advances deterministically: every draw takes the next
 * `words` words, so a decoder's n-th step always uses the same slice of the stream of `seed` on any
 * backend, whatever happened before it. Its `seed` and `offset` make it a core `RngPosition` (the one
 * RNG-position type), so it can be passed wherever a `{ seed, offset }` is taken.
 */
export class RngStream {
  readonly seed: number;
  #offset: number;

  constructor(seed: number, offset = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `RngStream: seed must be a non-negative safe integer, got ${seed}`,
      );
    }
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `RngStream: offset must be a non-negative safe integer, got ${offset}`,
      );
    }
    this.seed = seed;
    this.#offset = offset;
  }

  /** Current word offset. */
  get offset(): number {
    return this.#offset;
  }

  /** Returns the position of the next `words` words and advances past them. */
  take(words: number): RandomOptions & { offset: number } {
    const r = { seed: this.seed, offset: this.#offset };
    this.#offset += words;
    return r;
  }
}
