// addNoise of the multistep solvers (diffusers `add_noise`): α_t·x₀ + σ_t·ε with α_t = √ᾱ_t and
// σ_t = √(1 − ᾱ_t), ᾱ re-derived here in float64 from SD-1.5's scaled_linear betas.
import { currentBackend } from '@tessera/core';
import {
  DPMSolverMultistepScheduler,
  DPMSolverSinglestepScheduler,
  UniPCMultistepScheduler,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';

const SD15 = {
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000,
  steps_offset: 1,
};
const seed = Date.now() % 1e6;

function alphasCumprod64(): number[] {
  const a = Math.sqrt(0.00085);
  const b = Math.sqrt(0.012);
  const out: number[] = [];
  let p = 1;
  for (let i = 0; i < 1000; i++) {
    p *= 1 - (a + ((b - a) * i) / 999) ** 2;
    out.push(p);
  }
  return out;
}

describe(`multistep solvers' addNoise (seed ${seed})`, () => {
  const B = currentBackend();
  const ac = alphasCumprod64();
  for (const cls of [DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, UniPCMultistepScheduler]) {
    it(`${cls.name}: α_t·x₀ + σ_t·ε at an inference timestep, by lookup and after setBeginIndex`, async () => {
      const s = cls.fromConfig(SD15);
      s.setTimesteps(10);
      const k = 1 + (seed % 8);
      const t = s.timesteps[k]!;
      const x0 = Float32Array.from({ length: 12 }, (_, i) => Math.sin(seed + i));
      const eps = Float32Array.from({ length: 12 }, (_, i) => Math.cos(seed * 3 + i));
      const want = Array.from(x0, (v, i) => Math.sqrt(ac[t]!) * v + Math.sqrt(1 - ac[t]!) * eps[i]!);
      const X = B.tensor(x0, [3, 4]);
      const E = B.tensor(eps, [3, 4]);
      const got = await s.addNoise(X, E, t).data();
      for (let i = 0; i < 12; i++) expect(Math.abs(got[i]! - want[i]!), `t = ${t}`).toBeLessThan(1e-5);
      s.setBeginIndex(k);
      const again = await s.addNoise(X, E, 12345).data(); // after setBeginIndex the index is the begin index
      for (let i = 0; i < 12; i++) expect(Math.abs(again[i]! - want[i]!), `begin ${k}`).toBeLessThan(1e-5);
      X.dispose();
      E.dispose();
    });
  }
});
