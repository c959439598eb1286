import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  FlowMatchEulerDiscreteScheduler,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { SD15 } from './step-harness.ts';

// Tables computed once by fixtures/gen_schedulers_reference.py: numpy following diffusers' set_timesteps.
const REF = JSON.parse(
  readFileSync(
    join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'schedulers-reference.json'),
    'utf8',
  ),
);

function expectClose(actual: ArrayLike<number>, expected: number[], rtol: number, label: string): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= rtol * Math.abs(e) || a === e))
      expect.fail(`${label}[${i}]: got ${a}, expected ${e}`);
  }
}

describe('scheduler tables for the SD-1.5 config equal diffusers (integers exactly, floats 1e-5 relative)', () => {
  it('DDIM and DDPM timesteps, every spacing', () => {
    for (const [key, expected] of Object.entries(REF.ddim as Record<string, number[]>)) {
      const [spacing, n] = key.split('_') as [string, string];
      for (const S of [DDIMScheduler, DDPMScheduler]) {
        const s = S.fromConfig({ ...SD15, timestep_spacing: spacing });
        s.setTimesteps(Number(n));
        expect(s.timesteps).toBeInstanceOf(Int32Array);
        expect(Array.from(s.timesteps), `${S.name} ${key}`).toEqual(expected);
      }
    }
    // DDIM's class default spacing is leading: 50 steps → 981, 961, …, 1
    const d = DDIMScheduler.fromConfig(SD15);
    d.setTimesteps(50);
    expect([d.timesteps[0], d.timesteps[49]]).toEqual([981, 1]);
  });

  it('Euler and Euler ancestral: float timesteps and interpolated sigmas in each spacing', () => {
    for (const sp of ['linspace', 'leading', 'trailing']) {
      for (const n of [10, 20, 25]) {
        const ref = REF.euler[`${sp}_${n}`];
        for (const S of [EulerDiscreteScheduler, EulerAncestralDiscreteScheduler]) {
          const s = S.fromConfig({ ...SD15, timestep_spacing: sp });
          s.setTimesteps(n);
          expect(s.timesteps).toBeInstanceOf(Float64Array);
          expectClose(s.timesteps, ref.timesteps, 1e-5, `${S.name} ${sp} ${n} timesteps`);
          expectClose(s.sigmas, ref.sigmas, 1e-5, `${S.name} ${sp} ${n} sigmas`);
          const max = ref.sigmas[0];
          expect(s.initNoiseSigma).toBeCloseTo(sp === 'leading' ? Math.sqrt(max * max + 1) : max, 4);
        }
      }
    }
  });

  it('Euler with Karras / exponential / beta sigmas, and leading + Karras + final sigma_min', () => {
    for (const n of [10, 20, 25]) {
      for (const conv of ['karras', 'exponential', 'beta']) {
        const s = EulerDiscreteScheduler.fromConfig({ ...SD15, [`use_${conv}_sigmas`]: true });
        s.setTimesteps(n);
        const ref = REF.euler[`${conv}_${n}`];
        expectClose(s.timesteps, ref.timesteps, 1e-5, `euler ${conv} ${n} timesteps`);
        expectClose(s.sigmas, ref.sigmas, 1e-5, `euler ${conv} ${n} sigmas`);
      }
      const s = EulerDiscreteScheduler.fromConfig({
        ...SD15,
        timestep_spacing: 'leading',
        use_karras_sigmas: true,
        final_sigmas_type: 'sigma_min',
      });
      s.setTimesteps(n);
      const ref = REF.euler[`leading_karras_sigma_min_${n}`];
      expectClose(s.timesteps, ref.timesteps, 1e-5, `euler leading karras ${n} timesteps`);
      expectClose(s.sigmas, ref.sigmas, 1e-5, `euler leading karras ${n} sigmas`);
    }
  });

  it('DPM-Solver multistep: linspace drops a point, Karras timesteps round, exponential truncate', () => {
    for (const key of Object.keys(REF.dpm)) {
      const ref = REF.dpm[key];
      const n = Number(key.split('_').at(-1));
      const name = key.slice(0, key.lastIndexOf('_'));
      const cfg: Record<string, unknown> = { ...SD15 };
      if (['linspace', 'leading', 'trailing'].includes(name)) cfg.timestep_spacing = name;
      if (name.startsWith('karras')) cfg.use_karras_sigmas = true;
      if (name === 'exponential') cfg.use_exponential_sigmas = true;
      if (name === 'beta') cfg.use_beta_sigmas = true;
      if (name === 'lu') cfg.use_lu_lambdas = true;
      if (name.endsWith('sigma_min')) cfg.final_sigmas_type = 'sigma_min';
      const s = DPMSolverMultistepScheduler.fromConfig(cfg);
      s.setTimesteps(n);
      expect(s.timesteps).toBeInstanceOf(Int32Array);
      if (ref.timestepsRaw) {
        // exponential/beta timesteps are truncated floats; where the float sits within 1e-5 of an integer
        // (σ_max maps to 998.99999…), one float32 ulp of the table (torch's own linspace differs by an ulp
        // between CPUs) decides the integer, so either neighbour is diffusers' answer.
        ref.timestepsRaw.forEach((raw: number, j: number) => {
          const near = Math.abs(raw - Math.round(raw)) < 1e-5;
          const ok = near ? [Math.round(raw) - 1, Math.round(raw)] : [ref.timesteps[j]];
          expect(ok, `dpm ${key} timestep ${j} (raw ${raw})`).toContain(s.timesteps[j]);
        });
      } else expect(Array.from(s.timesteps), `dpm ${key} timesteps`).toEqual(ref.timesteps);
      expectClose(s.sigmas, ref.sigmas, 1e-5, `dpm ${key} sigmas`);
    }
    // the linspace quirk, by hand: linspace(0, 999, 11) rounded, reversed, last dropped
    const s = DPMSolverMultistepScheduler.fromConfig(SD15);
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  });

  it('zero terminal SNR sets ᾱ_T = 2⁻²⁴ (Euler, DPM-Solver) and keeps 0 in DDIM', () => {
    const cfg = { ...SD15, rescale_betas_zero_snr: true, timestep_spacing: 'trailing' };
    const e = EulerDiscreteScheduler.fromConfig(cfg);
    expect(e.alphasCumprod[999]).toBe(2 ** -24);
    e.setTimesteps(10);
    expect(e.sigmas[0]).toBeCloseTo(Math.sqrt((1 - 2 ** -24) / 2 ** -24), 0); // ≈ 4096
    expect(DPMSolverMultistepScheduler.fromConfig(cfg).alphasCumprod[999]).toBe(2 ** -24);
    expect(DDIMScheduler.fromConfig(cfg).alphasCumprod[999]).toBe(0);
  });

  it('FlowMatchEuler (SD3, shift 3): float timesteps σ·N and sigmas ending in 0', () => {
    for (const n of [28, 10]) {
      const s = FlowMatchEulerDiscreteScheduler.fromConfig({
        _class_name: 'FlowMatchEulerDiscreteScheduler',
        num_train_timesteps: 1000,
        shift: 3.0,
      });
      s.setTimesteps(n);
      const ref = REF.flow[`sd3_${n}`];
      expectClose(s.timesteps, ref.timesteps, 1e-6, `flow ${n} timesteps`);
      expectClose(s.sigmas, ref.sigmas, 1e-6, `flow ${n} sigmas`);
    }
  });
});
