import { check, fmtShape, TesseraError, tensor } from '@tessera/core';
import { describe, expect, it } from 'vitest';

describe('TesseraError', () => {
  it('is an Error with a name, a code, a message and an optional cause', () => {
    const cause = new Error('root');
    const e = new TesseraError('SHAPE_MISMATCH', 'add: shapes [2] and [3] do not broadcast', { cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('TesseraError');
    expect(e.code).toBe('SHAPE_MISMATCH');
    expect(e.message).toBe('add: shapes [2] and [3] do not broadcast');
    expect(e.cause).toBe(cause);
  });

  it('check() throws only when the condition fails, building a lazy message then', () => {
    let built = 0;
    const msg = () => {
      built++;
      return 'lazy';
    };
    expect(() => check(true, 'INVALID_ARGUMENT', msg)).not.toThrow();
    expect(built).toBe(0);
    expect(() => check(0, 'OUT_OF_RANGE', msg)).toThrow(
      expect.objectContaining({ code: 'OUT_OF_RANGE', message: 'lazy' }),
    );
    expect(built).toBe(1);
  });

  it('fmtShape prints shapes as in the messages', () => {
    expect(fmtShape([])).toBe('[]');
    expect(fmtShape([2, 3, 4])).toBe('[2, 3, 4]');
  });

  it('bad input to the default backend throws TesseraError, never a plain TypeError', () => {
    const t = tensor([1, 2, 3], [3]);
    const cases: Array<() => unknown> = [
      () => tensor([1, 2], [3]),
      () => tensor([1], [-1]),
      () => t.backend.reshape(t, [2, -1]),
      () => t.backend.slice(t, [0], [5]),
      () => t.backend.transpose(t, [1]),
      () => t.backend.gather(t, t),
      () => t.backend.lincomb([], []),
      () => t.backend.topK(t, 1.5),
      () => t.backend.topP(t, Number.NaN),
      () => t.backend.minP(t, 2),
      () => t.backend.clamp(t, 2, 1),
      () => t.backend.arange(0, 5, 0),
      () => t.backend.rand([2], { seed: 2 ** 53 }),
      () => t.backend.sampleCategorical(t, { seed: 1, offset: -1 }),
      () => t.backend.resize(t, [2, 2], 'bilinear'),
    ];
    for (const [i, fn] of cases.entries()) expect(fn, `case ${i}`).toThrow(TesseraError);
    t.dispose();
  });
});
