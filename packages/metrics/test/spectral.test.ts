import { TesseraError, tensor } from '@tessera/core';
import { cutoffFrequency, type Rapsd, rapsd, spectralRecorder } from '@tessera/metrics';
import { describe, expect, it } from 'vitest';
import { freshSeed, mulberry, normals } from './helpers';

const seed = freshSeed();
const tag = `(TESSERA_TEST_SEED=${seed})`;

describe('RAPSD', () => {
  it('a single frequency puts A²HW/2 into its ring and nothing elsewhere (power-of-two and odd sizes)', () => {
    const rand = mulberry(seed);
    for (const [h, w] of [
      [16, 16],
      [12, 12],
      [8, 12],
    ] as const) {
      const a = 1 + Math.floor(rand() * (h / 2 - 1));
      const b = Math.floor(rand() * (w / 2 - 1));
      const amp = 0.5 + rand();
      const phi = rand() * 2 * Math.PI;
      const x = new Float64Array(h * w);
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++)
          x[i * w + j] = amp * Math.cos(2 * Math.PI * ((a * i) / h + (b * j) / w) + phi);
      }
      const r = rapsd(x, [h, w]);
      const n = Math.min(h, w);
      const ring = Math.round(Math.hypot(a / h, b / w) * n);
      const total = (amp * amp * h * w) / 2;
      const msg = `${h}×${w} a=${a} b=${b} ${tag}`;
      expect(
        r.counts.reduce((s, c) => s + c, 0),
        msg,
      ).toBe(h * w);
      for (let k = 0; k < r.power.length; k++) {
        const e = r.power[k]! * r.counts[k]!;
        expect(Math.abs(e - (k === ring ? total : 0)), `${msg} ring ${k}`).toBeLessThan(1e-9 * total);
      }
      expect(r.frequencies[ring]).toBe(ring / n);
      expect(r.frequencies[r.nyquist]! <= 0.5 && r.frequencies[r.nyquist + 1]! > 0.5, msg).toBe(true);
    }
  });

  it('white noise: Parseval exactly, and flat at σ² within sampling error', () => {
    const rand = mulberry(seed + 1);
    const sigma = 0.3 + rand();
    const planes = 48;
    const hw = 16;
    const x = normals(rand, planes * hw * hw).map((v) => v * sigma);
    const r = rapsd(x, [planes / 3, 3, hw, hw]);
    let energy = 0;
    for (const v of x) energy += v * v;
    let fromSpectrum = 0;
    for (let k = 0; k < r.power.length; k++) fromSpectrum += r.power[k]! * r.counts[k]! * planes;
    expect(Math.abs(fromSpectrum - energy) / energy, tag).toBeLessThan(1e-12);
    // Each ring averages planes·counts/2 independent Exp(σ²) values (F(−u) = conj F(u)): relative
    // standard error ≤ 1/√(planes·counts/2); 6 of them bounds a per-run failure well under 1e-5.
    for (let k = 1; k <= r.nyquist; k++) {
      const m = (planes * r.counts[k]!) / 2;
      const dev = Math.abs(r.power[k]! / (sigma * sigma) - 1);
      expect(dev, `ring ${k} ${tag}`).toBeLessThan(6 / Math.sqrt(m));
    }
  });

  it('cut-off frequency of a power law S(f) = c·f⁻² is √(c)/σ', () => {
    const rand = mulberry(seed + 2);
    const n = 32;
    const c = 1e-3 * (1 + rand());
    const bins = n / 2 + 1;
    const s: Rapsd = {
      frequencies: Float64Array.from({ length: bins }, (_, k) => k / n),
      power: Float64Array.from({ length: bins }, (_, k) => (k === 0 ? 1e9 : c * (k / n) ** -2)),
      counts: new Int32Array(bins).fill(1),
      nyquist: n / 2,
    };
    // σ so that f_c = √c/σ lies strictly inside (1/n, 1/2).
    const fc = (1.5 + rand() * (n / 2 - 3)) / n;
    const sigma = Math.sqrt(c) / fc;
    expect(Math.abs(cutoffFrequency(s, sigma) - fc) / fc, tag).toBeLessThan(1e-12);
    expect(cutoffFrequency(s, 1e-9)).toBe(0.5);
    expect(cutoffFrequency(s, 1e3)).toBe(0);
    expect(() => cutoffFrequency(s, Number.NaN)).toThrow(TesseraError);
  });

  it('spectralRecorder records x_t and x̂₀ spectra at the chosen steps', async () => {
    const rand = mulberry(seed + 3);
    const a = Float32Array.from(normals(rand, 2 * 8 * 8));
    const b = Float32Array.from(normals(rand, 2 * 8 * 8));
    const x = tensor(a, [2, 1, 8, 8]);
    const d = tensor(b, [2, 1, 8, 8]);
    const rec = spectralRecorder({ every: 2 });
    for (let step = 0; step < 5; step++) await rec.callback({ step, sigma: 10 - step, x, denoised: d });
    x.dispose();
    d.dispose();
    expect(rec.steps.map((s) => s.step)).toEqual([0, 2, 4]);
    expect(rec.steps[1]!.sigma).toBe(8);
    expect(Array.from(rec.steps[2]!.x.power)).toEqual(Array.from(rapsd(a, [2, 1, 8, 8]).power));
    expect(Array.from(rec.steps[0]!.denoised.power)).toEqual(Array.from(rapsd(b, [2, 1, 8, 8]).power));
  });

  it('bad input is a TesseraError', () => {
    expect(() => rapsd(new Float64Array(10), [3, 4])).toThrow(/needs 12 values/);
    expect(() => rapsd(new Float64Array(4), [4])).toThrow(TesseraError);
    expect(() => rapsd(Float64Array.of(1, Number.NaN, 0, 0), [2, 2])).toThrow(/finite/);
    expect(() => spectralRecorder({ every: 0 })).toThrow(TesseraError);
  });
});
