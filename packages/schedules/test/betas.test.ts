import { TesseraError } from '@tessera/core';
import {
  alphas,
  alphasCumprod,
  betas,
  logSNR,
  rescaleZeroTerminalSnr,
  sigmasFromAlphasCumprod,
} from '@tessera/schedules';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClose, REF, SEED } from './helpers.js';

const SD15 = { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012 } as const;

describe('beta schedules', () => {
  it('SD-1.5 scaled_linear betas, ᾱ and σ equal diffusers (numpy reference) to 1e-6 relative', () => {
    const b = betas('scaled_linear', SD15);
    expect(b).toBeInstanceOf(Float64Array);
    expect(b.length).toBe(1000);
    const ac = alphasCumprod(b);
    const s = sigmasFromAlphasCumprod(ac);
    const idx: number[] = REF.sd15.idx;
    expectClose(
      idx.map((i) => b[i]!),
      REF.sd15.betas,
      1e-6,
      0,
      'betas',
    );
    expectClose(
      idx.map((i) => ac[i]!),
      REF.sd15.alphasCumprod,
      1e-6,
      0,
      'alphasCumprod',
    );
    expectClose(
      idx.map((i) => s[i]!),
      REF.sd15.sigmas,
      1e-6,
      0,
      'sigmas',
    );
    const sum = ac.reduce((x, y) => x + y, 0);
    expect(Math.abs(sum - REF.sd15.sum_ac) / REF.sd15.sum_ac).toBeLessThan(1e-7);
    // Well-known SD-1.5 end points: σ_max ≈ 14.6146, σ_min ≈ 0.0292 (k-diffusion/A1111 tables).
    expect(s[999]).toBeCloseTo(14.6146, 3);
    expect(s[0]).toBeCloseTo(0.0292, 4);
  });

  it('float64 formulas: linear, scaled_linear, sigmoid, squaredcos_cap_v2, laplace, exp', () => {
    const n = 1000;
    const opt = { numTrainTimesteps: n, betaStart: 0.0001, betaEnd: 0.02, precision: 'float64' as const };
    const lin = betas('linear', opt);
    const sl = betas('scaled_linear', opt);
    const sg = betas('sigmoid', opt);
    const cos = betas('squaredcos_cap_v2', opt);
    const lap = betas('laplace', opt);
    const ex = betas('exp', opt);
    const abarCos = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    const abarLap = (t: number) => {
      // λ(t) = −½·sign(½ − t)·log(1 − 2|½ − t| + 1e−6), ᾱ = √(e^λ/(1+e^λ)) (diffusers' laplace transform)
      const l = -0.5 * (t <= 0.5 ? 1 : -1) * Math.log(1 - 2 * Math.abs(0.5 - t) + 1e-6);
      return Math.sqrt(1 / (1 + Math.exp(-l)));
    };
    for (let i = 0; i < n; i++) {
      const u = i / (n - 1);
      expect(lin[i]).toBeCloseTo(0.0001 + u * (0.02 - 0.0001), 15);
      expect(
        Math.abs(sl[i]! - (Math.sqrt(0.0001) + u * (Math.sqrt(0.02) - Math.sqrt(0.0001))) ** 2),
      ).toBeLessThan(1e-16);
      const x = -6 + 12 * u;
      expect(sg[i]).toBeCloseTo(0.0001 + (0.02 - 0.0001) / (1 + Math.exp(-x)), 15);
      const c = Math.min(1 - abarCos((i + 1) / n) / abarCos(i / n), 0.999);
      expect(Math.abs(cos[i]! - c)).toBeLessThan(1e-15);
      expect(Math.abs(lap[i]! - Math.min(1 - abarLap((i + 1) / n) / abarLap(i / n), 0.999))).toBeLessThan(
        1e-12,
      );
      expect(ex[i]).toBeCloseTo(1 - Math.exp(-12 / n), 14);
    }
    expect(cos[n - 1]).toBe(0.999); // the cap
  });

  it('float32 mode rounds every beta to a float32 value and stays within 3e-7 of float64', () => {
    for (const kind of ['linear', 'scaled_linear', 'sigmoid', 'squaredcos_cap_v2'] as const) {
      const b32 = betas(kind, SD15);
      const b64 = betas(kind, { ...SD15, precision: 'float64' });
      for (let i = 0; i < b32.length; i++) {
        expect(Math.fround(b32[i]!)).toBe(b32[i]);
        expect(Math.abs(b32[i]! - b64[i]!) / b64[i]!).toBeLessThan(3e-7);
      }
    }
  });

  it('trained betas are taken as given (rounded to float32) and validated', () => {
    const tb = [0.001, 0.002, 0.5];
    expect(Array.from(betas(tb, { precision: 'float64' }))).toEqual(tb);
    expect(Array.from(betas(tb))).toEqual(tb.map(Math.fround));
    expect(() => betas([0.1, 1.5])).toThrow(TesseraError);
    expect(() => betas([])).toThrow(/non-empty/);
    expect(() => betas('cosine' as never)).toThrow(/unknown beta schedule 'cosine'/);
    expect(() => betas('linear', { numTrainTimesteps: 0 })).toThrow(/numTrainTimesteps/);
  });

  it('alphasCumprod is the running product; σ and log-SNR follow from it (float64 formulas)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 1e-5, max: 0.5, noNaN: true }), { minLength: 2, maxLength: 60 }),
        (b) => {
          const ac = alphasCumprod(b, { precision: 'float64' });
          let p = 1;
          b.forEach((x, i) => {
            p *= 1 - x;
            expect(Math.abs(ac[i]! - p)).toBeLessThanOrEqual(1e-15 * (i + 1));
          });
          const s = sigmasFromAlphasCumprod(ac, { precision: 'float64' });
          const l = logSNR(ac);
          for (let i = 0; i < b.length; i++) {
            expect(s[i]! ** 2 * ac[i]!).toBeCloseTo(1 - ac[i]!, 12);
            expect(l[i]).toBeCloseTo(-2 * Math.log(s[i]!), 9);
            if (i > 0) {
              expect(ac[i]!).toBeLessThan(ac[i - 1]!); // monotone
              expect(s[i]!).toBeGreaterThan(s[i - 1]!);
            }
          }
          const a = alphas(b, { precision: 'float64' });
          for (let i = 0; i < a.length; i++) expect(a[i]).toBe(1 - b[i]!);
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('float32 ᾱ matters: the pure float64 ᾱ of SD-1.5 differs from diffusers by more than 1e-7', () => {
    const b = betas('scaled_linear', SD15);
    const ac32 = alphasCumprod(b);
    const ac64 = alphasCumprod(betas('scaled_linear', { ...SD15, precision: 'float64' }), {
      precision: 'float64',
    });
    let worst = 0;
    for (let i = 0; i < 1000; i++) worst = Math.max(worst, Math.abs(ac32[i]! / ac64[i]! - 1));
    expect(worst).toBeGreaterThan(1e-7);
    expect(worst).toBeLessThan(3e-6);
  });
});

describe('rescaleZeroTerminalSnr', () => {
  it('keeps ᾱ₀, makes ᾱ_T = 0, and maps √ᾱ affinely (Lin et al. 2023, Algorithm 1), float64', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 1000 }),
        fc.double({ min: 1e-4, max: 1e-3, noNaN: true }),
        fc.double({ min: 0.005, max: 0.03, noNaN: true }),
        (n, b0, b1) => {
          const opts = { numTrainTimesteps: n, betaStart: b0, betaEnd: b1, precision: 'float64' as const };
          const b = betas('scaled_linear', opts);
          const r = rescaleZeroTerminalSnr(b, { precision: 'float64' });
          expect(r.length).toBe(n);
          expect(r[n - 1]).toBeCloseTo(1, 12);
          const ac = alphasCumprod(b, { precision: 'float64' });
          const acR = alphasCumprod(r, { precision: 'float64' });
          expect(acR[0]).toBeCloseTo(ac[0]!, 12);
          expect(acR[n - 1]).toBeCloseTo(0, 12);
          // √ᾱ'ᵢ = (√ᾱᵢ − √ᾱ_T)·√ᾱ₀/(√ᾱ₀ − √ᾱ_T)
          const s0 = Math.sqrt(ac[0]!);
          const sT = Math.sqrt(ac[n - 1]!);
          for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 37))) {
            const want = ((Math.sqrt(ac[i]!) - sT) * s0) / (s0 - sT);
            expect(Math.sqrt(Math.max(acR[i]!, 0))).toBeCloseTo(want, 10);
          }
        },
      ),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('float32 mode equals diffusers (numpy float32 reference) on the SD-1.5 schedule', () => {
    const r = rescaleZeroTerminalSnr(betas('scaled_linear', SD15));
    const ac = alphasCumprod(r);
    const idx: number[] = REF.sd15.idx;
    expect(r[999]).toBe(1);
    expect(ac[999]).toBe(0);
    // The rescaled betas are 1 − ᾱᵢ/ᾱᵢ₋₁ of float32 values: one float32 ulp in a beta (torch's own
    // linspace differs by an ulp between its scalar and SIMD paths, i.e. between CPUs; the numpy
    // reference rounds differently again) moves them by up to 5e-5 relative; ᾱ stays within 1e-6
    // relative except ᾱ₉₉₈ ≈ 2e-7, the difference of two nearly equal float32 square roots (1e-11 absolute).
    expectClose(
      idx.map((i) => r[i]!),
      REF.sd15.zsnrBetas,
      1e-4,
      0,
      'zero-SNR betas',
    );
    expectClose(
      idx.map((i) => ac[i]!),
      REF.sd15.zsnrAlphasCumprod,
      1e-6,
      1e-11,
      'zero-SNR alphasCumprod',
    );
  });
});
