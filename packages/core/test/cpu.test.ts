import { createCpuBackend } from '@tessera/core';
import { describeConformance } from '@tessera/core/testing';
import { describe, expect, it } from 'vitest';

// The CPU backend computes in float64 and rounds once to float32, so it is held to a tighter tolerance
// than the suite's default (1e-5).
describeConformance('cpu', async () => createCpuBackend(), { tolerance: { float32: 1e-6 } });

/** CPU-specific behaviour beyond the shared suite (regressions of bugs found while writing it). */
describe('cpu backend specifics', () => {
  const B = createCpuBackend();

  it('matmul follows IEEE: 0·∞ and 0·NaN give NaN (no zero skipping)', async () => {
    const a = B.tensor([0, 1, 0, 2], [2, 2]);
    const b = B.tensor([Number.POSITIVE_INFINITY, 1, Number.NaN, 1], [2, 2]);
    // row 0: [0·∞ + 1·NaN, 0·1 + 1·1]; row 1: [0·∞ + 2·NaN, 0·1 + 2·1]
    const out = Array.from(await B.matmul(a, b).data());
    expect(out.map(Number.isNaN)).toEqual([true, false, true, false]);
    expect([out[1], out[3]]).toEqual([1, 2]);
    const z = B.tensor([0, 0], [1, 2]);
    const inf = B.tensor([Number.POSITIVE_INFINITY, 1], [2, 1]);
    expect(Number.isNaN((await B.matmul(z, inf).data())[0]!)).toBe(true);
  });

  it('int32 square wraps modulo 2³² exactly, like mul', async () => {
    const x = new Int32Array([100000, -123457, 46341, 3]);
    // reference: the exact square in BigInt, reduced to a signed 32-bit integer
    const want = Array.from(x, (v) => Number(BigInt.asIntN(32, BigInt(v) * BigInt(v))));
    expect(want[0]).toBe(1410065408);
    const t = B.tensor(x, [4]);
    expect(Array.from(await B.unary('square', t).data())).toEqual(want);
    expect(Array.from(await B.binary('mul', t, t).data())).toEqual(want);
  });
});

// A backend that is not available on this machine: the whole suite is skipped with a console notice.
describeConformance('absent', async () => undefined);
