import { calculateShift, flowMatchSigmas, linspace, shiftSigma, timeShift } from '@tessera/schedules';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClose, REF, SEED } from './helpers.js';

describe('flow-matching sigmas', () => {
  it('SD3 (shift 3, 28 steps) equals diffusers FlowMatchEulerDiscreteScheduler (numpy reference)', () => {
    const s = flowMatchSigmas(28, { shift: 3 });
    expect(s.length).toBe(28);
    expectClose(s, REF.flow.sd3_28, 1e-6, 0, 'sd3');
    expectClose(flowMatchSigmas(10), REF.flow.shift1_10, 1e-6, 0, 'shift 1');
  });

  it('FLUX (dynamic shifting, μ for 4096 tokens, pipeline sigmas linspace(1, 1/n, n)) equals diffusers', () => {
    const mu = calculateShift(4096);
    expect(mu).toBeCloseTo(REF.flow.flux_mu, 14);
    expect(mu).toBeCloseTo(1.15, 14); // max_shift at max_image_seq_len
    expect(calculateShift(256)).toBeCloseTo(0.5, 14);
    const s = flowMatchSigmas(28, { useDynamicShifting: true, mu, sigmas: linspace(1, 1 / 28, 28) });
    expectClose(s, REF.flow.flux_28, 1e-6, 0, 'flux');
  });

  it('shift maps [0, 1] onto itself monotonically; shift 1 and μ = 0 are the identity', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-6, max: 1 - 1e-6, noNaN: true }),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        (t, s) => {
          const y = shiftSigma(t, s);
          expect(y).toBeGreaterThan(0);
          expect(y).toBeLessThan(1);
          expect(shiftSigma(t + 1e-7, s)).toBeGreaterThan(y);
          expect(shiftSigma(t, 1)).toBeCloseTo(t, 15);
          expect(timeShift(0, 1, t)).toBeCloseTo(t, 14);
          // exponential time shift with σ = 1 is the static shift with s = e^μ
          expect(timeShift(Math.log(s), 1, t)).toBeCloseTo(shiftSigma(t, s), 14);
          expect(timeShift(s, 1, t, 'linear')).toBeCloseTo(shiftSigma(t, s), 14);
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
    expect(shiftSigma(1, 3)).toBe(1);
    expect(shiftSigma(0, 3)).toBe(0);
  });

  it('properties: n values, strictly descending, within (0, 1] up to float32 rounding', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 200 }),
        fc.double({ min: 0.5, max: 8, noNaN: true }),
        (n, shift) => {
          for (const s of [
            flowMatchSigmas(n, { shift }),
            flowMatchSigmas(n, { useDynamicShifting: true, mu: Math.log(shift) }),
          ]) {
            expect(s.length).toBe(n);
            // diffusers shifts σ = 1 in float32 at construction; s·1/(1 + (s − 1)·1) can round one ulp above 1
            expect(Math.abs(s[0]! - 1)).toBeLessThanOrEqual(2 ** -22);
            for (let i = 1; i < n; i++) {
              expect(s[i]!).toBeLessThan(s[i - 1]!);
              expect(s[i]!).toBeGreaterThan(0);
            }
          }
        },
      ),
      { seed: SEED, numRuns: 50 },
    );
  });

  it('shift_terminal stretches the last sigma to the requested value', () => {
    const s = flowMatchSigmas(20, { shift: 3, shiftTerminal: 0.02, precision: 'float64' });
    expect(s[19]).toBeCloseTo(0.02, 14);
    expect(s[0]).toBeCloseTo(1, 14);
    expect(() => flowMatchSigmas(10, { useDynamicShifting: true })).toThrow(/mu/);
  });
});
