import { TesseraError } from '@tessera/core';
import {
  alphasCumprod,
  appendZero,
  betaCdf,
  betaPpf,
  betaSigmas,
  betas,
  exponentialSigmas,
  karrasSigmas,
  polyexponentialSigmas,
  sigmasFromAlphasCumprod,
  sigmaToT,
  tToSigma,
  vpSigmas,
} from '@tessera/schedules';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClose, REF, SEED } from './helpers.js';

const sd15Table = () =>
  sigmasFromAlphasCumprod(
    alphasCumprod(betas('scaled_linear', { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012 })),
  );

describe('sigma schedules', () => {
  it('Karras on the SD-1.5 range: n values, descending, no trailing zero, float64 formula', () => {
    const table = sd15Table();
    const [smin, smax] = [table[0]!, table[999]!];
    for (const n of [1, 2, 10, 20, 50]) {
      const s = karrasSigmas(n, smin, smax, 7);
      expect(s.length).toBe(n);
      for (let i = 0; i < n; i++) {
        // σᵢ = (σ_max^{1/7} + i/(n−1)(σ_min^{1/7} − σ_max^{1/7}))^7 (Karras et al. 2022, eq. 5)
        const r = n === 1 ? 0 : i / (n - 1);
        const want = (smax ** (1 / 7) + r * (smin ** (1 / 7) - smax ** (1 / 7))) ** 7;
        expect(Math.abs(s[i]! - want) / want).toBeLessThan(1e-13);
      }
      expect(s[0]).toBeCloseTo(smax, 12);
      if (n > 1) expect(s[n - 1]).toBeCloseTo(smin, 12);
    }
  });

  it('exponential, polyexponential, VP: float64 formulas (k-diffusion sampling.py get_sigmas_*)', () => {
    const e = exponentialSigmas(12, 0.03, 14.6);
    const ratio = (0.03 / 14.6) ** (1 / 11);
    for (let i = 0; i < 12; i++) expect(e[i]! / (14.6 * ratio ** i)).toBeCloseTo(1, 13);
    // rho = 1 polyexponential is the exponential schedule; rho = 2 bends it toward σ_min
    expectClose(polyexponentialSigmas(12, 0.03, 14.6, 1), e, 1e-13);
    const p2 = polyexponentialSigmas(12, 0.03, 14.6, 2);
    for (let i = 0; i < 12; i++) {
      const r = 1 - i / 11;
      expect(p2[i]! / Math.exp(r * r * (Math.log(14.6) - Math.log(0.03)) + Math.log(0.03))).toBeCloseTo(
        1,
        13,
      );
    }
    const vp = vpSigmas(7);
    for (let i = 0; i < 7; i++) {
      const t = 1 + (i / 6) * (1e-3 - 1);
      expect(vp[i]! / Math.sqrt(Math.exp((19.9 * t * t) / 2 + 0.1 * t) - 1)).toBeCloseTo(1, 12);
    }
    expect(Array.from(appendZero([3, 2]))).toEqual([3, 2, 0]);
  });

  it('properties: length n, strictly descending, within [σ_min, σ_max]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 300 }),
        fc.double({ min: 1e-3, max: 1, noNaN: true }),
        fc.double({ min: 1.5, max: 200, noNaN: true }),
        fc.double({ min: 0.5, max: 10, noNaN: true }),
        (n, smin, smax, rho) => {
          // Polyexponential with a large ρ flattens to σ_min in float64 (r^ρ underflows): ties allowed there.
          for (const [s, strict] of [
            [karrasSigmas(n, smin, smax, rho), true],
            [exponentialSigmas(n, smin, smax), true],
            [polyexponentialSigmas(n, smin, smax, rho), false],
            [betaSigmas(n, smin, smax), true],
          ] as const) {
            expect(s.length).toBe(n);
            // Endpoints to float64 rounding. k-diffusion's (σ_max^{1/ρ} + r(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ loses
            // about ε·σ_max^{1/ρ} in the bracket at r = 1, i.e. a relative ρ·ε·(σ_max/σ_min)^{1/ρ} at σ_min.
            const endTol = 1e-12 + 8 * rho * 2.22e-16 * (smax / smin) ** (1 / rho);
            expect(Math.abs(s[0]! / smax - 1)).toBeLessThan(1e-12);
            expect(Math.abs(s[n - 1]! / smin - 1)).toBeLessThan(endTol);
            for (let i = 1; i < n; i++) {
              if (strict) expect(s[i]!).toBeLessThan(s[i - 1]!);
              else expect(s[i]!).toBeLessThanOrEqual(s[i - 1]!);
              // (σ^{1/ρ})^ρ round trip: the same rounding as at the endpoint. A fixed 1e-6 failed for ρ near
              // 0.5 with σ_max/σ_min ≈ 1.6e5 (error ≈ 2.8e-6; counterexample [2, 0.00114767, 181.02, 0.5],
              // about once in 2,000 property runs, i.e. ~2% of test runs of 40)
              expect(s[i]!, `TEST_SEED=${SEED} n ${n} σ ${smin}–${smax} ρ ${rho}`).toBeGreaterThanOrEqual(
                smin * (1 - endTol),
              );
            }
          }
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('bad ranges throw TesseraError', () => {
    expect(() => karrasSigmas(0, 0.1, 1)).toThrow(TesseraError);
    expect(() => karrasSigmas(5, 2, 1)).toThrow(/must not exceed/);
    expect(() => exponentialSigmas(5, 0, 1)).toThrow(/sigmaMin/);
  });
});

describe('beta distribution (scipy.stats.beta replacement)', () => {
  it('ppf equals scipy.stats.beta.ppf (values in fixtures/reference.json) to 1e-11', () => {
    for (const [p, a, b, want] of REF.betaPpf as [number, number, number, number][]) {
      const got = betaPpf(p, a, b);
      expect(Math.abs(got - want), `ppf(${p}; ${a}, ${b})`).toBeLessThanOrEqual(
        1e-11 * Math.max(want, 1e-300) + 1e-300,
      );
    }
  });

  it('closed forms: Beta(1, b) and the arcsine law Beta(½, ½)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-9, max: 1 - 1e-9, noNaN: true }),
        fc.double({ min: 0.2, max: 8, noNaN: true }),
        (x, b) => {
          expect(betaCdf(x, 1, b)).toBeCloseTo(1 - (1 - x) ** b, 12);
          expect(betaCdf(x, 0.5, 0.5)).toBeCloseTo((2 / Math.PI) * Math.asin(Math.sqrt(x)), 11);
          // ppf(p; 1, b) = 1 − (1 − p)^{1/b}
          expect(betaPpf(x, 1, b)).toBeCloseTo(1 - (1 - x) ** (1 / b), 10);
          // Round trip on the lower half (above ½ the quantile sits within a few ulps of 1, where a double
          // cannot resolve it; the upper half is covered by the symmetry check below).
          const lo = Math.min(x, 1 - x);
          const q = betaPpf(lo, 0.6, 0.6);
          expect(Math.abs(betaCdf(q, 0.6, 0.6) - lo) / lo).toBeLessThan(1e-9);
          expect(betaPpf(x, 0.6, 0.6) + betaPpf(1 - x, 0.6, 0.6)).toBeCloseTo(1, 12); // symmetry of Beta(a, a)
        },
      ),
      { seed: SEED, numRuns: 200 },
    );
    expect(betaPpf(0, 0.6, 0.6)).toBe(0);
    expect(betaPpf(1, 0.6, 0.6)).toBe(1);
    expect(() => betaPpf(1.2, 0.6, 0.6)).toThrow(TesseraError);
  });

  it('betaSigmas equals diffusers _convert_to_beta with scipy (10 steps, 0.0292–14.6146)', () => {
    expectClose(betaSigmas(10, 0.0292, 14.6146), REF.betaSigmas10, 1e-12);
  });
});

describe('σ ↔ t', () => {
  const table = sd15Table();
  const logSigmas = table.map(Math.log);

  it('table sigmas map to their own integer timestep, and tToSigma inverts sigmaToT', () => {
    for (const t of [0, 1, 17, 500, 998, 999]) expect(sigmaToT(table[t]!, logSigmas)).toBeCloseTo(t, 9);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 999, noNaN: true }), (t) => {
        const s = tToSigma(t, logSigmas);
        // log-linear interpolation between the table entries around t
        const lo = Math.floor(t);
        const w = t - lo;
        const want = Math.exp((1 - w) * logSigmas[lo]! + w * logSigmas[Math.min(lo + 1, 999)]!);
        expect(s / want).toBeCloseTo(1, 12);
        expect(sigmaToT(s, logSigmas)).toBeCloseTo(t, 7);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('σ outside the table clamps to 0 and N − 1 (diffusers _sigma_to_t)', () => {
    expect(sigmaToT(1e-6, logSigmas)).toBe(0);
    expect(sigmaToT(0, logSigmas)).toBe(0);
    expect(sigmaToT(1000, logSigmas)).toBe(999);
    expect(() => tToSigma(1000, logSigmas)).toThrow(/\[0, 999\]/);
  });
});
