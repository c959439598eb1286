import { createCpuBackend, MAX_TENSOR_ELEMENTS, TesseraError, tensor } from '@tessera/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 2 ** 31);

/** Runs `fn` and returns what it threw (undefined when it returned). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('tensor() and fill() reject bad input with a TesseraError (issue 13, item 6)', () => {
  it('the four reported cases: a code and a message with what was expected and what came', async () => {
    const B = createCpuBackend();
    const cases: Array<[() => unknown, string, string[]]> = [
      // was TypeError "Cannot read properties of undefined (reading 'set')"
      [
        () => tensor([1, 2], [2], 'float64' as never),
        'INVALID_ARGUMENT',
        ['float32, int32, uint32', "'float64'"],
      ],
      // was RangeError "Invalid typed array length"
      [() => B.fill([1e10], 0), 'OUT_OF_RANGE', ['[10000000000]', String(MAX_TENSOR_ELEMENTS)]],
      // was a tensor holding NaN
      [() => tensor(['a'] as never, [1]), 'INVALID_ARGUMENT', ['numbers', "'a'", 'index 0']],
      [() => tensor(null as never, [1]), 'INVALID_ARGUMENT', ['typed array', 'null']],
      [() => B.fill([2], 1.5, 'int32'), 'INVALID_ARGUMENT', ['int32', '1.5']],
      [() => B.fill([2], -1, 'uint32'), 'INVALID_ARGUMENT', ['uint32', '-1']],
      [() => B.fill([2], '3' as never), 'INVALID_ARGUMENT', ['number', "'3'"]],
      [() => B.fill([2], 0, 'bool' as never), 'INVALID_ARGUMENT', ["'bool'"]],
      [() => B.fill([2 ** 15, 2 ** 15, 2], 0), 'OUT_OF_RANGE', ['2147483648']],
    ];
    for (const [i, [fn, code, parts]] of cases.entries()) {
      const e = thrown(fn);
      expect(e, `case ${i}`).toBeInstanceOf(TesseraError);
      expect((e as TesseraError).code, `case ${i}: ${(e as Error).message}`).toBe(code);
      for (const p of parts) expect((e as Error).message, `case ${i}`).toContain(p);
    }
    // allowed: float fill with NaN and ±Infinity (masks), the largest uint32, an int32 fill
    const ok = [B.fill([1], Number.NaN), B.fill([1], -Infinity), B.fill([1], 2 ** 32 - 1, 'uint32')];
    const got = await Promise.all(ok.map(async (t) => (await t.data())[0]));
    expect(got).toEqual([Number.NaN, -Infinity, 2 ** 32 - 1]);
    for (const t of ok) t.dispose();
    expect(B.memory().tensors).toBe(0);
  });

  it(`fuzz (seed ${seed}): any shape, value, dtype and data either work or throw a TesseraError`, () => {
    const B = createCpuBackend();
    const junk = fc.oneof(
      fc.string({ maxLength: 3 }),
      fc.constantFrom(null, undefined, true, {}, [], 2 ** 53, -0, Number.NaN, Infinity, -1, 1.5),
    );
    const anyValue = fc.oneof(fc.double(), fc.integer(), junk);
    // extents stay small or go past the limit (an allowed extent near 2^30 would really allocate 4 GiB)
    const dim = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(1e10, 2 ** 31, 2 ** 53), junk);
    const shape = fc.oneof(fc.array(dim, { maxLength: 4 }), junk);
    const dtype = fc.oneof(
      fc.constantFrom('float32', 'int32', 'uint32', undefined, 'float64', 'int8'),
      anyValue,
    );
    const data = fc.oneof(
      fc.array(anyValue, { maxLength: 6 }),
      fc.array(fc.double(), { maxLength: 6 }),
      fc.float32Array({ maxLength: 6 }),
      fc.int32Array({ maxLength: 6 }),
      anyValue,
    );
    fc.assert(
      fc.property(shape, anyValue, dtype, data, (s, v, dt, d) => {
        for (const fn of [
          () => B.fill(s as never, v as never, dt as never),
          () => B.tensor(d as never, s as never, dt as never),
        ]) {
          const e = thrown(() => (fn() as { dispose(): void }).dispose());
          if (e !== undefined) expect(e, `seed ${seed}: ${String(e)}`).toBeInstanceOf(TesseraError);
        }
      }),
      { seed, numRuns: 2000 },
    );
    expect(B.memory().tensors).toBe(0);
  });

  it('a tensor from number data keeps the values exactly (float64 → float32 rounding, Math.fround)', () => {
    const vals = Array.from({ length: 7 }, (_, i) => Math.sin(seed + i) * 10 ** (i - 3));
    const t = tensor(vals, [7]);
    return t.data().then((d) => {
      expect(Array.from(d)).toEqual(vals.map(Math.fround));
      t.dispose();
    });
  });
});
