import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/** Reference values computed once by fixtures/gen_reference.py (numpy following diffusers; see there). */
// biome-ignore lint/suspicious/noExplicitAny: JSON fixture
export const REF: any = JSON.parse(readFileSync(join(here, 'fixtures', 'reference.json'), 'utf8'));

/** Asserts |a − e| ≤ rtol·|e| + atol elementwise, naming the first failing index. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol = 0,
  label = '',
): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = Math.abs(a - e) <= rtol * Math.abs(e) + atol || a === e;
    if (!ok)
      expect.fail(
        `${label}[${i}]: got ${a}, expected ${e} (rel err ${Math.abs(a - e) / Math.abs(e)}, rtol ${rtol})`,
      );
  }
}

/** A seed that changes every run; printed so a failure can be replayed with fast-check's `seed`. */
export const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
console.log(`[schedules tests] fast-check seed ${SEED} (set TEST_SEED to replay)`);
