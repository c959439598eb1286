// KDPM2DiscreteScheduler and KDPM2AncestralDiscreteScheduler against float64 re-derivations of
// diffusers' scheduling_k_dpm_2_discrete.py / scheduling_k_dpm_2_ancestral_discrete.py (set_timesteps
// and step; read, not copied), i.e. k-diffusion's sample_dpm_2 / sample_dpm_2_ancestral on the grid:
//   σ_j = interp(t_j, arange(N), √((1−ᾱ)/ᾱ)) with t_j = linspace(0, N−1, n) reversed (or Karras σ, ρ = 7,
//   between the table's ends), σ_n = 0;
//   DPM2:  σ_mid = √(σ_j σ_{j+1}) (0 on the last step), x_mid = x + (x − x₀)/σ_j·(σ_mid − σ_j),
//          x' = x + (x_mid − x₀(x_mid))/σ_mid·(σ_{j+1} − σ_j);
//   ancestral: σ_up = √(σ'²(σ² − σ'²)/σ²), σ_down = √(σ'² − σ_up²), σ_mid = √(σ_j σ_down) (0 on the last
//          step), target σ_down, plus σ_up·noise.
// x₀ = x − σ·ε (ε-prediction) or x/(σ²+1) − σ/√(σ²+1)·v (v-prediction), at σ_j on the first half and
// σ_mid on the second. Tolerance 1e-4 relative: float32 device steps on diffusers' float32 σ table, σ up
// to 14.6 (the float32 σ table itself carries ≲ 1e-6 relative error).
import { createCpuBackend } from '@tessera/core';
import {
  KDPM2AncestralDiscreteScheduler,
  KDPM2DiscreteScheduler,
  schedulerFromConfig,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { alphasCumprod64, compareSteps, lc64, type RefStep, type Vec } from './step-harness.ts';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();
const N = 1000;
const SD = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };
const ABAR = alphasCumprod64('scaled_linear', 0.00085, 0.012);
const SIG = ABAR.map((a) => Math.sqrt((1 - a) / a));

function gridSigmas(n: number, karras: boolean): number[] {
  if (karras) {
    const lo = SIG[0]! ** (1 / 7);
    const hi = SIG[N - 1]! ** (1 / 7);
    return Array.from({ length: n }, (_, i) => (hi + (i / (n - 1)) * (lo - hi)) ** 7);
  }
  return Array.from({ length: n }, (_, j) => {
    const t = (N - 1) * (1 - j / (n - 1));
    const i = Math.min(Math.floor(t), N - 2);
    return SIG[i]! + (t - i) * (SIG[i + 1]! - SIG[i]!);
  });
}

function x0Of(v: boolean, x: Vec, out: Vec, s: number): Vec {
  return v
    ? lc64([
        [1 / (s * s + 1), x],
        [-s / Math.sqrt(s * s + 1), out],
      ])
    : lc64([
        [1, x],
        [-s, out],
      ]);
}

function kdpm2Ref(sig: number[], ancestral: boolean, v: boolean): RefStep {
  const n = sig.length;
  const at = (j: number) => (j < n ? sig[j]! : 0);
  let held: Vec | null = null;
  return (i, _t, x, out, noise) => {
    const j = Math.floor(i / 2);
    const s = at(j);
    const sn = at(j + 1);
    const up = ancestral ? Math.sqrt((sn * sn * (s * s - sn * sn)) / (s * s)) : 0;
    const target = ancestral ? Math.sqrt(sn * sn - up * up) : sn;
    const mid = j === n - 1 ? 0 : Math.sqrt(s * target);
    if (i % 2 === 0) {
      held = x;
      const x0 = x0Of(v, x, out, s);
      return lc64([
        [1 + (mid - s) / s, x],
        [-(mid - s) / s, x0],
      ]);
    }
    const x0 = x0Of(v, x, out, mid);
    const terms: [number, Vec][] = [
      [1, held!],
      [(target - s) / mid, x],
      [-(target - s) / mid, x0],
    ];
    if (up > 0) terms.push([up, noise!]);
    return lc64(terms);
  };
}

describe('KDPM2DiscreteScheduler / KDPM2AncestralDiscreteScheduler', () => {
  for (const [ancestral, karras, v, n] of [
    [false, false, false, 8],
    [false, true, true, 6],
    [true, false, false, 8],
    [true, true, false, 6],
  ] as const) {
    const name = ancestral ? 'KDPM2AncestralDiscreteScheduler' : 'KDPM2DiscreteScheduler';
    const label = `${name} ${karras ? 'Karras' : 'linspace'} ${v ? 'v' : 'ε'} n ${n}`;
    it(`every call equals the float64 DPM-2 re-derivation: ${label}`, async () => {
      const s = schedulerFromConfig({
        _class_name: name,
        ...SD,
        use_karras_sigmas: karras,
        prediction_type: v ? 'v_prediction' : 'epsilon',
      });
      s.setTimesteps(n);
      const sig = gridSigmas(n, karras);
      expect(s.timesteps.length).toBe(2 * n - 1);
      // the σ's of the grid, every first-half call (diffusers' expanded `sigmas`: [σ0, σ1, σ1, …]); the
      // float32 ᾱ₀ gives σ_min a relative error up to u/(2(1 − ᾱ₀)) ≈ 3.5e-5 (1.3e-5 observed)
      for (let j = 0; j < n; j++)
        expect(Math.abs(s.sigmas[2 * j]! / sig[j]! - 1), `${label} σ_${j}`).toBeLessThan(5e-5);
      const worst = await compareSteps(B, {
        label,
        scheduler: s,
        ref: kdpm2Ref(sig, ancestral, v),
        // ε-like outputs: x/√(σ²+1)·0.3 + 0.8 z, scaled per call (any linear model tests the algebra)
        model: (i) => [0.05 + 0.01 * (i % 3), 0.8],
        seed: SEED,
        noise: ancestral,
      });
      console.log(`[kdpm2] ${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  it('timesteps interleave each σ with its midpoint (by _sigma_to_t) and scaleModelInput follows them', () => {
    const s = KDPM2DiscreteScheduler.fromConfig({ ...SD });
    s.setTimesteps(4);
    const sig = gridSigmas(4, false);
    // linspace: t_j = 999·(1 − j/3); midpoints √(σ_j σ_{j+1}) lie strictly between their neighbours
    expect(s.timesteps[0]).toBe(999);
    expect(s.timesteps[2]).toBeCloseTo(666, 3);
    for (const k of [1, 3, 5]) {
      expect(s.timesteps[k]!).toBeLessThan(s.timesteps[k - 1]!);
      expect(s.timesteps[k]!).toBeGreaterThan(s.timesteps[k + 1]!);
    }
    const x = B.tensor(new Float32Array([2, -4]), [2]);
    const scaled = s.scaleModelInput(x, s.timesteps[0]!);
    return scaled.data().then((d) => {
      expect(d[0]).toBeCloseTo(2 / Math.sqrt(sig[0]! ** 2 + 1), 5);
      scaled.dispose();
      x.dispose();
      const a = KDPM2AncestralDiscreteScheduler.fromConfig(SD);
      a.setTimesteps(4);
      expect(a.timesteps.length).toBe(7);
      expect(a.sigmasDown.length).toBe(10);
    });
  });
});
