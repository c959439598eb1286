import type { Backend, DType, Tensor, TesseraErrorCode } from '@tessera/core';
import { captureTensors, TesseraError } from '@tessera/core';
import { expect, it } from 'vitest';
import { type Rng, rngFor } from './reference.js';

/** What every section of the conformance suite receives. */
export interface Ctx {
  /** The backend under test. */
  B: Backend;
  /** The run seed (printed in the suite's name). */
  seed: number;
  /** float32 tolerance: |got − want| ≤ tol · max(1, |want|) unless a test says otherwise. */
  tol: number;
  /** A fresh generator for one test, derived from the run seed and the test's name. */
  rng(name: string): Rng;
}

export function makeCtx(B: Backend, seed: number, tol: number): Ctx {
  return { B, seed, tol, rng: (name) => rngFor(seed, name) };
}

/** Reads a tensor back as a plain array and disposes it. */
export async function take(t: Tensor): Promise<number[]> {
  const v = Array.from(await t.data());
  t.dispose();
  return v;
}

/** Uploads and returns a tensor; shorthand for `B.tensor`. */
export function up(B: Backend, data: ArrayLike<number>, shape: readonly number[], dtype?: DType): Tensor {
  return B.tensor(data as Float32Array, shape, dtype);
}

/** Asserts that `fn` throws a TesseraError with `code` whose message mentions every word in `mentions`. */
export function expectTesseraError(
  fn: () => unknown,
  code: TesseraErrorCode,
  mentions: readonly string[],
): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a TesseraError ${code}`).toBeInstanceOf(TesseraError);
  const err = caught as TesseraError;
  expect(err.code, err.message).toBe(code);
  for (const m of mentions) expect(err.message).toContain(m);
}

/**
 * `it`, with every tensor the body creates (before or after its awaits) recorded and disposed when it
 * ends, so a test never leaves tensors behind. Scopes would record only the synchronous part.
 */
export function test(name: string, fn: () => Promise<void> | void): void {
  it(name, async () => {
    const cap = captureTensors();
    try {
      await fn();
    } finally {
      for (const t of cap.stop()) t.dispose();
    }
  });
}
