// PNDMScheduler against a float64 re-derivation of diffusers' scheduling_pndm.py (set_timesteps,
// step_prk, step_plms, _get_prev_sample; read, not copied), written here on plain arrays:
//   φ(x, t, t', ε) = √(ᾱ'/ᾱ)·x − (ᾱ' − ᾱ)·ε / (ᾱ√(1 − ᾱ') + √(ᾱ(1 − ᾱ)ᾱ')),  ε ← √ᾱ·v + √(1 − ᾱ)·x for v.
// Tolerance 1e-4 relative: the device computes each step as one float32 lincomb from float32 ᾱ tables
// (diffusers' own), the reference in float64; the worst term is (ᾱ' − ᾱ)/denominator ≈ 2 at t = 1
// with ᾱ's relative float32 error ≲ 6e-8/(1 − ᾱ₁) ≈ 3.5e-5, so observed errors stay ≲ 1e-5.
import { createCpuBackend, TesseraError } from '@tessera/core';
import { PNDMScheduler, schedulerFromConfig } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { alphasCumprod64, compareSteps, lc64, type RefStep, SD15, type Vec } from './step-harness.ts';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();

/** diffusers' step()/step_prk()/step_plms() state machine on float64 arrays. */
function pndmRef(o: {
  abar: number[];
  final: number;
  ratio: number;
  prk: number[];
  skipPrk: boolean;
  v: boolean;
}): RefStep {
  let counter = 0;
  let ets: Vec[] = [];
  let curModel: Vec | null = null; // cur_model_output (0 when null)
  let curSample: Vec | null = null;
  const prev = (x: Vec, t: number, tp: number, m: Vec): Vec => {
    const a = o.abar[t]!;
    const ap = tp >= 0 ? o.abar[tp]! : o.final;
    const eps = o.v
      ? lc64([
          [Math.sqrt(a), m],
          [Math.sqrt(1 - a), x],
        ])
      : m;
    const den = a * Math.sqrt(1 - ap) + Math.sqrt(a * (1 - a) * ap);
    return lc64([
      [Math.sqrt(ap / a), x],
      [-(ap - a) / den, eps],
    ]);
  };
  const add = (acc: Vec | null, k: number, m: Vec) =>
    lc64(
      acc
        ? [
            [1, acc],
            [k, m],
          ]
        : [[k, m]],
    );
  return (_i, t, sample, m) => {
    let out: Vec;
    if (counter < o.prk.length && !o.skipPrk) {
      const tp = t - (counter % 2 ? 0 : Math.floor(o.ratio / 2));
      const t0 = o.prk[Math.floor(counter / 4) * 4]!;
      let mo = m;
      if (counter % 4 === 0) {
        curModel = add(curModel, 1 / 6, m);
        ets.push(m);
        curSample = sample;
      } else if (counter % 4 === 1 || counter % 4 === 2) curModel = add(curModel, 1 / 3, m);
      else {
        mo = add(curModel, 1 / 6, m);
        curModel = null;
      }
      out = prev(curSample ?? sample, t0, tp, mo);
    } else {
      let tp = t - o.ratio;
      let t0 = t;
      if (counter !== 1) {
        ets = ets.slice(-3);
        ets.push(m);
      } else {
        tp = t;
        t0 = t + o.ratio;
      }
      let x = sample;
      let mo: Vec;
      const e = (k: number) => ets[ets.length - k]!;
      if (ets.length === 1 && counter === 0) {
        mo = m;
        curSample = sample;
      } else if (ets.length === 1 && counter === 1) {
        mo = lc64([
          [0.5, m],
          [0.5, e(1)],
        ]);
        x = curSample!;
        curSample = null;
      } else if (ets.length === 2)
        mo = lc64([
          [1.5, e(1)],
          [-0.5, e(2)],
        ]);
      else if (ets.length === 3)
        mo = lc64([
          [23 / 12, e(1)],
          [-16 / 12, e(2)],
          [5 / 12, e(3)],
        ]);
      else
        mo = lc64([
          [55 / 24, e(1)],
          [-59 / 24, e(2)],
          [37 / 24, e(3)],
          [-9 / 24, e(4)],
        ]);
      out = prev(x, t0, tp, mo);
    }
    counter++;
    return out;
  };
}

describe('PNDMScheduler', () => {
  it("timesteps: SD-1.5's PLMS list (skip_prk_steps) and the PRK warm-up list, as diffusers' set_timesteps", () => {
    const s = PNDMScheduler.fromConfig(SD15);
    s.setTimesteps(50);
    // leading spacing, ratio 20, offset 1: _timesteps = 1, 21, …, 981; the second-largest repeats
    const asc = Array.from({ length: 50 }, (_, k) => 20 * k + 1);
    expect(Array.from(s.timesteps)).toEqual([981, 961, 961, ...asc.slice(0, 48).reverse()]);
    expect(s.prkTimesteps.length).toBe(0);
    const p = PNDMScheduler.fromConfig({ _class_name: 'PNDMScheduler' }); // linear, leading, offset 0
    p.setTimesteps(10);
    // _ts[-4:] = 600…900, +[0, 50] tiled, [:-1], repeated twice, [1:-1], reversed
    expect(Array.from(p.prkTimesteps)).toEqual([900, 850, 850, 800, 800, 750, 750, 700, 700, 650, 650, 600]);
    expect(Array.from(p.plmsTimesteps)).toEqual([600, 500, 400, 300, 200, 100, 0]);
    expect(p.timesteps.length).toBe(19);
  });

  for (const [label, cfg, n, v] of [
    ['SD-1.5 (skip_prk_steps, PLMS with the improved-Euler start), 12 steps', SD15, 12, false],
    ['PRK warm-up (linear βs, set_alpha_to_one), 8 steps', { set_alpha_to_one: true }, 8, false],
    [
      'PRK warm-up, v_prediction, trailing spacing, 6 steps',
      { prediction_type: 'v_prediction', timestep_spacing: 'trailing' },
      6,
      true,
    ],
  ] as const) {
    it(`every call equals the float64 diffusers state machine: ${label}`, async () => {
      const config = { ...cfg, _class_name: 'PNDMScheduler' };
      const s = PNDMScheduler.fromConfig(config);
      s.setTimesteps(n);
      const sd = 'beta_schedule' in cfg;
      const abar = sd
        ? alphasCumprod64('scaled_linear', 0.00085, 0.012)
        : alphasCumprod64('linear', 0.0001, 0.02);
      const final = (cfg as { set_alpha_to_one?: boolean }).set_alpha_to_one ? 1 : abar[0]!;
      const ref = pndmRef({
        abar,
        final,
        ratio: Math.floor(1000 / n),
        prk: Array.from(s.prkTimesteps),
        skipPrk: sd,
        v,
      });
      const worst = await compareSteps(B, {
        label,
        scheduler: s,
        ref,
        model: (i) => [0.15 + 0.02 * (i % 3), 0.9],
        seed: SEED,
      });
      console.log(`[pndm] ${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  it("SD-1.x's scheduler_config.json loads through schedulerFromConfig and round-trips", () => {
    const s = schedulerFromConfig(JSON.stringify(SD15));
    expect(s).toBeInstanceOf(PNDMScheduler);
    expect(s.toConfig()).toEqual(SD15);
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([751, 501, 501, 251, 1]);
  });

  it('errors: a timestep not in the schedule, PRK with n < 4, sample prediction', () => {
    const s = PNDMScheduler.fromConfig(SD15);
    s.setTimesteps(5);
    const x = B.tensor(new Float32Array([0.5, -1]), [2]);
    try {
      expect(() => s.step(x, 12345, x)).toThrow(TesseraError);
      expect(() => s.step(x, 12345, x)).toThrow(/12345 is not in the scheduler's timesteps/);
    } finally {
      x.dispose();
    }
    expect(() => PNDMScheduler.fromConfig({}).setTimesteps(3)).toThrow(/n ≥ 4/);
    expect(() => PNDMScheduler.fromConfig({ prediction_type: 'sample' })).toThrow(/epsilon or v_prediction/);
  });
});
