// The one Scheduler interface: every class loads through schedulerFromConfig by `_class_name`, keeps its
// config as read, drives a step through the shared index mechanism, and reports bad input as a
// TesseraError. Also: the root `alphaSigma` is forward.ts's (no longer shadowed), and the Euler
// scheduler's churn takes k-diffusion's names (the camel-case ones are deprecated aliases).
import { createCpuBackend, TesseraError } from '@tessera/core';
import * as diffusion from '@tessera/diffusion';
import {
  alphaSigma,
  EulerDiscreteScheduler,
  PNDMScheduler,
  SCHEDULER_CLASS_NAMES,
  type Scheduler,
  schedulerFromConfig,
  solverAlphaSigma,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { normals, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();

describe('Scheduler interface', () => {
  it('lists every exported *Scheduler class that has a diffusers name', () => {
    const exported = Object.keys(diffusion).filter(
      (k) =>
        k.endsWith('Scheduler') &&
        !['DiscreteSigmaScheduler', 'AlphaTableScheduler', 'SolverScheduler', 'TrainedScheduler'].includes(k),
    );
    expect([...SCHEDULER_CLASS_NAMES].sort()).toEqual(exported.sort());
    expect(SCHEDULER_CLASS_NAMES.length).toBe(18);
  });

  for (const name of SCHEDULER_CLASS_NAMES) {
    it(`${name}: from _class_name, config kept as read, one step by the shared index, no leak`, async () => {
      const json = { _class_name: name, num_train_timesteps: 1000, some_future_key: [1, 'a'] };
      const s: Scheduler = schedulerFromConfig(JSON.stringify(json));
      expect(s.constructor.name).toBe(name);
      expect(s.config.className).toBe(name);
      expect(s.toConfig()).toEqual(json);
      s.setTimesteps(name === 'LCMScheduler' || name === 'TCDScheduler' ? 4 : 6);
      expect(s.numInferenceSteps).toBeGreaterThan(0);
      expect(Number.isFinite(s.initNoiseSigma) && s.initNoiseSigma >= 1).toBe(true);
      expect(s.sigmas.length).toBeGreaterThanOrEqual(s.timesteps.length);
      const before = B.memory().tensors;
      const x = B.tensor(
        Float32Array.from(normals(rng(SEED), 16), (v) => v * s.initNoiseSigma),
        [16],
      );
      const t0 = s.timesteps[0]!;
      const xin = s.scaleModelInput(x, t0);
      const m = B.lincomb([0.1], [xin]);
      const out = s.step(m, t0, x);
      const got = await out.prevSample.data();
      expect(got.every(Number.isFinite)).toBe(true);
      for (const tt of [x, m, out.prevSample, out.predOriginalSample]) tt?.dispose();
      if (xin !== x) xin.dispose();
      s.dispose();
      expect(B.memory().tensors).toBe(before);
      expect(() => s.setBeginIndex(-1)).toThrow(TesseraError);
    });
  }

  it('a config without _class_name needs className; className overrides _class_name (diffusers from_config)', () => {
    expect(() => schedulerFromConfig({ num_train_timesteps: 1000 })).toThrow(
      /has no _class_name.*pass className/,
    );
    const sd15 = {
      _class_name: 'PNDMScheduler',
      beta_schedule: 'scaled_linear',
      steps_offset: 1,
      skip_prk_steps: true,
    };
    const e = schedulerFromConfig(sd15, { className: 'EulerDiscreteScheduler' });
    expect(e).toBeInstanceOf(EulerDiscreteScheduler);
    expect(e.config.get('timestep_spacing')).toBe('linspace'); // Euler's default, not PNDM's leading
    expect(schedulerFromConfig(sd15)).toBeInstanceOf(PNDMScheduler);
    expect(() => schedulerFromConfig({ _class_name: 'PNDMSchedular' })).toThrow(
      /did you mean 'PNDMScheduler'/,
    );
  });

  it("the root alphaSigma is forward.ts's (VE for a σ level); the solvers' VP one is solverAlphaSigma", () => {
    // forward.ts: a bare σ is the variance-exploding x = x₀ + σ·ε, so (α, σ) = (1, σ)
    expect(alphaSigma({ sigma: 0.75 })).toEqual({ alpha: 1, sigma: 0.75 });
    const [a, s] = solverAlphaSigma(0.75, false); // VP: α = 1/√(1 + σ²), σ_vp = σ·α
    expect(a).toBeCloseTo(1 / Math.sqrt(1 + 0.75 ** 2), 14);
    expect(s).toBeCloseTo(0.75 / Math.sqrt(1 + 0.75 ** 2), 14);
    expect(solverAlphaSigma(0.25, true)).toEqual([0.75, 0.25]);
  });
});

describe('EulerDiscreteScheduler churn names', () => {
  it('s_churn/s_noise follow Karras et al. Algorithm 2; sChurn/sNoise are aliases with the same result', async () => {
    const cfg = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };
    const n = 5;
    const r = rng(SEED);
    const x64 = Float64Array.from(normals(r, 32), (v) => Math.fround(10 * v));
    const z64 = Float64Array.from(normals(r, 32), Math.fround);
    const e64 = Float64Array.from(normals(r, 32), Math.fround);
    const run = async (opts: Record<string, number>) => {
      const s = EulerDiscreteScheduler.fromConfig(cfg);
      s.setTimesteps(n);
      const x = B.tensor(Float32Array.from(x64), [32]);
      const z = B.tensor(Float32Array.from(z64), [32]);
      const e = B.tensor(Float32Array.from(e64), [32]);
      const out = s.step(e, s.timesteps[0]!, x, { ...opts, varianceNoise: z });
      const d = await out.prevSample.data();
      for (const tt of [x, z, e, out.prevSample, out.predOriginalSample]) tt?.dispose();
      return { d, sigma: s.sigmas[0]!, next: s.sigmas[1]! };
    };
    const a = await run({ s_churn: 2, s_noise: 1.01 });
    const b = await run({ sChurn: 2, sNoise: 1.01 });
    expect(Array.from(a.d)).toEqual(Array.from(b.d));
    // γ = min(s_churn/n, √2 − 1) = 0.4 → capped to √2 − 1; σ̂ = σ(1 + γ); x̂ = x + s_noise·√(σ̂² − σ²)·z;
    // x₀ = x̂ − σ̂·ε; x' = x̂ + (x̂ − x₀)/σ̂·(σ_next − σ̂)
    const g = Math.min(2 / n, Math.SQRT2 - 1);
    const sh = a.sigma * (1 + g);
    for (let j = 0; j < 32; j++) {
      const xh = x64[j]! + 1.01 * Math.sqrt(sh * sh - a.sigma ** 2) * z64[j]!;
      const want = xh + e64[j]! * (a.next - sh);
      expect(Math.abs(a.d[j]! - want), `[${j}] seed ${SEED}`).toBeLessThan(1e-4 * (1 + Math.abs(want)));
    }
  });
});
