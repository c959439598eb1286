import { TesseraError } from '@tessera/core';
import { customTimesteps, timesteps } from '@tessera/schedules';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REF, SEED } from './helpers.js';

const SPACINGS = ['linspace', 'leading', 'trailing'] as const;

describe('timesteps', () => {
  it('SD-1.5 config (1000 steps, steps_offset 1): every spacing equals diffusers DDIM/DDPM exactly', () => {
    for (const spacing of SPACINGS) {
      for (const [n, expected] of Object.entries(REF.timesteps[spacing] as Record<string, number[]>)) {
        const t = timesteps(Number(n), { spacing, numTrainTimesteps: 1000, stepsOffset: 1 });
        expect(t).toBeInstanceOf(Int32Array);
        // diffusers' trailing spacing yields n + 1 values ending in −1 for n = 61 (numpy arange
        // rounding); we return the n valid ones.
        if (expected.length > Number(n)) expect(expected.slice(Number(n))).toEqual([-1]);
        expect(Array.from(t), `${spacing} n=${n}`).toEqual(expected.slice(0, Number(n)));
      }
    }
  });

  it('hand-checked values: Table 2 of Lin et al. (2023) for 10 steps of 1000', () => {
    // linspace rounds 0, 111, …, 999; leading is 0, 100, …, 900 (+ offset); trailing is 999, 899, …, 99.
    expect(Array.from(timesteps(10, { spacing: 'linspace' }))).toEqual([
      999, 888, 777, 666, 555, 444, 333, 222, 111, 0,
    ]);
    expect(Array.from(timesteps(10, { spacing: 'leading', stepsOffset: 1 }))).toEqual([
      901, 801, 701, 601, 501, 401, 301, 201, 101, 1,
    ]);
    expect(Array.from(timesteps(10, { spacing: 'trailing' }))).toEqual([
      999, 899, 799, 699, 599, 499, 399, 299, 199, 99,
    ]);
  });

  it('numpy rounding: halves go to even (linspace over 1000 with 3 steps gives 500; trailing 16 gives 937)', () => {
    expect(Array.from(timesteps(3, { spacing: 'linspace' }))).toEqual([999, 500, 0]); // 499.5 → 500
    expect(Array.from(timesteps(5, { spacing: 'linspace', numTrainTimesteps: 998 }))).toEqual([
      997, 748, 498, 249, 0,
    ]); // 498.5 → 498, 249.25 → 249, 747.75 → 748
    expect(timesteps(16, { spacing: 'trailing' })[1]).toBe(937); // 937.5 → 938, − 1
  });

  it('float timesteps (Euler): linspace not rounded, float32 values', () => {
    const t = timesteps(20, { spacing: 'linspace', float: true });
    expect(t).toBeInstanceOf(Float64Array);
    for (let k = 0; k < 20; k++) expect(t[k]).toBe(Math.fround((999 * (19 - k)) / 19));
    expect(Array.from(timesteps(10, { spacing: 'leading', stepsOffset: 1, float: true }))).toEqual([
      901, 801, 701, 601, 501, 401, 301, 201, 101, 1,
    ]);
  });

  it('properties: n values, strictly descending, in range, for every spacing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 3 }),
        (N, u, offset) => {
          const n = 1 + Math.floor(u * (N - 1));
          for (const spacing of SPACINGS) {
            const t = timesteps(n, { spacing, numTrainTimesteps: N, stepsOffset: offset });
            expect(t.length).toBe(n);
            for (let i = 0; i < n; i++) {
              expect(t[i]).toBeGreaterThanOrEqual(spacing === 'trailing' ? 0 : 0);
              expect(t[i]).toBeLessThanOrEqual(spacing === 'leading' ? N - 1 + offset : N - 1);
              if (i > 0) expect(t[i]!).toBeLessThan(t[i - 1]!);
            }
            if (spacing === 'linspace') expect([t[0], t[n - 1]]).toEqual(n === 1 ? [0, 0] : [N - 1, 0]);
            if (spacing === 'trailing') expect(t[0]).toBe(N - 1);
            if (spacing === 'leading') expect(t[n - 1]).toBe(offset);
          }
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('custom lists are validated (descending, integer, in range)', () => {
    expect(Array.from(timesteps([999, 500, 20]))).toEqual([999, 500, 20]);
    expect(Array.from(customTimesteps([10, 5, 0], 11))).toEqual([10, 5, 0]);
    expect(() => timesteps([5, 5])).toThrow(/strictly descending/);
    expect(() => timesteps([1000, 3])).toThrow(/\[0, 1000\)/);
    expect(() => timesteps([3.5])).toThrow(TesseraError);
    expect(() => timesteps(0)).toThrow(/number of steps/);
    expect(() => timesteps(1001)).toThrow(/cannot exceed/);
    expect(() => timesteps(10, { spacing: 'uniform' as never })).toThrow(/unknown spacing 'uniform'/);
  });
});
