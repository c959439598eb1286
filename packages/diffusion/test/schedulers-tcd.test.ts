// TCDScheduler against a float64 re-derivation of diffusers' scheduling_tcd.py (set_timesteps, step;
// read, not copied), Zheng et al. 2024's strategic stochastic sampling:
//   x₀ = (x − √(1−ᾱ_t)·ε)/√ᾱ_t (ε-prediction; v: x₀ = √ᾱ x − √(1−ᾱ) v, ε = √ᾱ v + √(1−ᾱ) x),
//   s = ⌊(1 − η)·t_prev⌋ (t_prev = 0 after the last step), x_s = √ᾱ_s·x₀ + √(1−ᾱ_s)·ε,
//   x' = √(ᾱ_prev/ᾱ_s)·x_s + √(1 − ᾱ_prev/ᾱ_s)·z, except x' = x_s on the last step or with η = 0.
// Tolerance 1e-4 relative (float32 device and ᾱ tables, float64 reference; observed ≲ 1e-6).
import { createCpuBackend, TesseraError } from '@tessera/core';
import { TCDScheduler } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { alphasCumprod64, compareSteps, lc64, type RefStep } from './step-harness.ts';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();
const ABAR = alphasCumprod64('scaled_linear', 0.00085, 0.012);

function tcdRef(ts: number[], eta: number, v: boolean): RefStep {
  return (i, t, x, out, noise) => {
    const prevT = i + 1 < ts.length ? ts[i + 1]! : 0;
    const s = Math.floor((1 - eta) * prevT);
    const a = ABAR[t]!;
    const [x0, eps] = v
      ? [
          lc64([
            [Math.sqrt(a), x],
            [-Math.sqrt(1 - a), out],
          ]),
          lc64([
            [Math.sqrt(a), out],
            [Math.sqrt(1 - a), x],
          ]),
        ]
      : [
          lc64([
            [1 / Math.sqrt(a), x],
            [-Math.sqrt(1 - a) / Math.sqrt(a), out],
          ]),
          out,
        ];
    const aS = ABAR[s]!;
    const xs = lc64([
      [Math.sqrt(aS), x0],
      [Math.sqrt(1 - aS), eps],
    ]);
    if (eta === 0 || i === ts.length - 1) return xs;
    const ap = ABAR[prevT]!;
    return lc64([
      [Math.sqrt(ap / aS), xs],
      [Math.sqrt(1 - ap / aS), noise!],
    ]);
  };
}

describe('TCDScheduler', () => {
  it("timesteps: LCM's distillation grid, and every training timestep with an explicit originalInferenceSteps", () => {
    const s = TCDScheduler.fromConfig({});
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([999, 759, 499, 259]);
    // diffusers' quirk: original_inference_steps passed → tcd_origin_timesteps = range(0, N·strength)
    s.setTimesteps(4, { originalInferenceSteps: 50 });
    expect(Array.from(s.timesteps)).toEqual([999, 749, 499, 249]);
    s.setTimesteps(2, { strength: 0.5 });
    // k = 20, origin 19, 39, …, 499 (25 entries), every 12th from the top
    expect(Array.from(s.timesteps)).toEqual([499, 259]);
  });

  for (const [eta, v, n] of [
    [0.3, false, 4],
    [0, false, 6],
    [1, true, 5],
  ] as const) {
    const label = `TCD η ${eta} ${v ? 'v' : 'ε'} n ${n}`;
    it(`every step equals the float64 re-derivation: ${label}`, async () => {
      const s = TCDScheduler.fromConfig({ prediction_type: v ? 'v_prediction' : 'epsilon' });
      s.setTimesteps(n);
      const worst = await compareSteps(B, {
        label,
        scheduler: s,
        ref: tcdRef(Array.from(s.timesteps), eta, v),
        model: (i) => [0.2 + 0.05 * (i % 2), 0.8],
        seed: SEED,
        noise: true,
        stepOpts: { eta },
      });
      console.log(`[tcd] ${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  it('η outside [0, 1] is a TesseraError', () => {
    const s = TCDScheduler.fromConfig({});
    s.setTimesteps(2);
    const x = B.tensor(new Float32Array([1, 2]), [2]);
    expect(() => s.step(x, 999, x, { eta: 1.5 })).toThrow(TesseraError);
    expect(() => s.step(x, 999, x, { eta: -0.1 })).toThrow(/eta must be in \[0, 1\]/);
    x.dispose();
  });
});
